//! Switchboard's routing engine.
//!
//! A pure, deterministic state machine: [`Engine::apply`] takes an [`Event`] and the current time and
//! returns [`Effect`]s; [`Engine::advance`] fires the timers (offer timeout, skills timeout, close after
//! solve) that fall due; [`Engine::next_deadline`] tells a driver when to call it. The engine has no
//! clock, no I/O, no randomness and no threads, so the same events at the same times always give the
//! same effects. Everything else in Switchboard (replay, the daemon, durability, the bus) drives it.

mod account;
pub mod bitset;
mod check;
mod chunked;
pub mod config;
pub mod effect;
mod engine;
pub mod error;
pub mod event;
mod idmap;
mod index;
mod intern;
mod queue;
pub mod snapshot;
mod state;
mod timers;
pub mod types;
pub mod view;

pub use config::{AssignmentMethod, AssignmentMode, Config, Policy};
pub use effect::{Effect, EffectKind};
pub use engine::Engine;
pub use error::{EngineError, ErrorClass};
pub use event::{CustomerMessage, Event, NewTicket, TicketAttrs, TransferTarget};
pub use types::{AgentStatus, Millis, Priority, StatusReason, TicketStatus, UnassignReason, WithdrawReason};

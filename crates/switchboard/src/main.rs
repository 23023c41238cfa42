//! The `switchboard` command: the daemon, its clients and the replay tool in one binary.

mod client;
mod demo;
mod generate;
mod replay;
mod serve;
mod token;
mod wal;

// mimalloc: the engine allocates small strings and tree nodes on every event; against glibc's
// allocator it routes about 1.6 times as many events per second (benches/README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "switchboard", version, about = "Omnichannel routing engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: gRPC API, HTTP metrics and health (embedded defaults, no broker needed).
    Serve(serve::Args),
    /// Replay JSON Lines events through the engine and print the effects (see routing.md).
    Replay(replay::Args),
    /// Run the daemon with a simulated contact centre feeding it, and print what happens.
    Demo(demo::Args),
    /// Write a realistic event file from a simulated contact centre (for replay and benchmarks).
    Gen(generate::Args),
    /// Check or mend a data directory's log and snapshots (operators).
    #[command(subcommand)]
    Wal(wal::Command),
    /// Make API tokens for the daemon's tokens file, or hash one (operators).
    #[command(subcommand)]
    Token(token::Command),
    #[command(flatten)]
    Client(client::Command),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<ExitCode> = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Gen(args) => generate::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Wal(c) => wal::run(c),
        Command::Token(c) => token::run(c),
        Command::Client(c) => client::run(c),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("switchboard: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Loads `--config FILE`, or the shipped defaults without one.
fn load_settings(path: Option<&PathBuf>) -> Result<switchboard_config::Settings> {
    Ok(match path {
        Some(p) => switchboard_config::load(p)?,
        None => switchboard_config::shipped(),
    })
}

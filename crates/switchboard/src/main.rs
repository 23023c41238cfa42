//! The `switchboard` command: the daemon, its clients and the replay tool in one binary.

mod client;
mod replay;
mod serve;

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
    #[command(flatten)]
    Client(client::Command),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<ExitCode> = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Replay(args) => replay::run(args),
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

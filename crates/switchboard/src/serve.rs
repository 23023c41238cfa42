//! `switchboard serve`: the daemon.

use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use switchboard_bus::Bus;
use switchboard_config::{LogFormat, LogSettings};
use switchboard_server::Daemon;
use tracing_subscriber::EnvFilter;

/// Arguments of `switchboard serve`.
#[derive(clap::Args)]
pub struct Args {
    /// Configuration file (default: the shipped configuration, no broker needed).
    #[arg(long)]
    config: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let settings = crate::load_settings(args.config.as_ref())?;
    init_logging(&settings.log);
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting tokio")?;
    runtime.block_on(async {
        let daemon = Daemon::start_from(&settings, args.config.clone()).await?;
        let mut bus = None;
        if settings.bus.nats.enabled {
            match Bus::start(daemon.runtime().clone(), &settings.bus.nats).await {
                Ok(b) => bus = Some(b),
                Err(e) => {
                    daemon.shutdown().await;
                    return Err(e.into());
                }
            }
        }
        daemon.wait_for_signal().await;
        tracing::info!("signal received: shutting down");
        // The bus first stops taking events (those taken are acknowledged), the daemon then
        // drains, and the bus publishes the last effects.
        let grace = Duration::from_millis(settings.server.shutdown_grace_ms);
        if let Some(bus) = &mut bus {
            bus.stop_ingest(grace).await;
        }
        daemon.shutdown().await;
        if let Some(bus) = bus {
            bus.finish(grace).await;
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Structured logs on stderr: human text or JSON lines; `RUST_LOG` overrides the configured level.
pub fn init_logging(log: &LogSettings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(log.level.as_str()));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    // A second initialisation (tests, demo) keeps the first subscriber.
    let _ = match log.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

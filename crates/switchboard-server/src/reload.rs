//! Reloading the configuration of a running daemon (SIGHUP, or the `Reload` RPC).
//!
//! The routing settings (`engine`) change live: every shard switches between two events and, with
//! storage, snapshots at once (`Runtime::reconfigure`). The tokens and TLS files named at start
//! are read again. Everything is read and checked before anything is put in force, so an invalid
//! file changes nothing. Other sections (addresses, storage, runtime, bus, limits, logging, the
//! security settings themselves) are built into listeners and threads at start: a difference is
//! reported as needing a restart rather than half applied.

use crate::security::Security;
use std::path::PathBuf;
use std::sync::Arc;
use switchboard_config::Settings;
use switchboard_runtime::Runtime;

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadReport {
    /// The configuration file read; `None` for the embedded default (nothing to read again).
    pub source: Option<PathBuf>,
    /// Whether the routing settings changed.
    pub engine_changed: bool,
    /// API tokens in force afterwards.
    pub tokens: usize,
    /// Sections that differ from the running daemon's and apply only after a restart.
    pub restart_needed: Vec<&'static str>,
}

/// Reloads a running daemon's configuration; cheap to clone.
#[derive(Clone)]
pub struct Reloader {
    source: Option<PathBuf>,
    /// The settings the daemon started with: the sections that cannot change live are compared
    /// with these.
    started: Arc<Settings>,
    runtime: Runtime,
    security: Arc<Security>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader").field("source", &self.source).finish_non_exhaustive()
    }
}

impl Reloader {
    pub(crate) fn new(
        source: Option<PathBuf>,
        started: Settings,
        runtime: Runtime,
        security: Arc<Security>,
    ) -> Reloader {
        Reloader { source, started: Arc::new(started), runtime, security }
    }

    /// Reads the configuration file and the security files again and puts them in force, or,
    /// when any of them is invalid or the running state does not fit, changes nothing and says
    /// why. The outcome is logged.
    pub async fn reload(&self) -> Result<ReloadReport, String> {
        let result = self.try_reload().await;
        self.security.count_reload(result.is_ok());
        match &result {
            Ok(r) => {
                tracing::info!(
                    source = %r.source.as_deref().map_or("(embedded default)".into(), |p| p.display().to_string()),
                    engine_changed = r.engine_changed,
                    tokens = r.tokens,
                    "configuration reloaded"
                );
                if !r.restart_needed.is_empty() {
                    tracing::warn!(
                        sections = r.restart_needed.join(", "),
                        "these sections changed but apply only after a restart"
                    );
                }
            }
            Err(e) => tracing::error!(error = %e, "configuration not reloaded: the one in force is kept"),
        }
        result
    }

    async fn try_reload(&self) -> Result<ReloadReport, String> {
        let settings = match &self.source {
            Some(path) => switchboard_config::load(path).map_err(|e| e.to_string())?,
            None => (*self.started).clone(),
        };
        let files = self.security.prepare()?;
        let engine_changed = self
            .runtime
            .reconfigure(settings.engine.clone())
            .await
            .map_err(|e| format!("the routing configuration was refused: {e}"))?;
        self.security.install(files);
        Ok(ReloadReport {
            source: self.source.clone(),
            engine_changed,
            tokens: self.security.token_count(),
            restart_needed: restart_needed(&self.started, &settings),
        })
    }
}

/// The sections of `new` that differ from `running` and cannot change without a restart.
fn restart_needed(running: &Settings, new: &Settings) -> Vec<&'static str> {
    let Settings { engine: _, server, security, log, metrics, runtime, limits, storage, bus } = new;
    [
        ("server", *server != running.server),
        ("security", *security != running.security),
        ("log", *log != running.log),
        ("metrics", *metrics != running.metrics),
        ("runtime", *runtime != running.runtime),
        ("limits", *limits != running.limits),
        ("storage", *storage != running.storage),
        ("bus", *bus != running.bus),
    ]
    .into_iter()
    .filter_map(|(name, differs)| differs.then_some(name))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_that_need_a_restart_are_named() {
        let running = switchboard_config::shipped();
        let mut new = running.clone();
        assert!(restart_needed(&running, &new).is_empty());
        new.limits.max_watchers += 1;
        new.server.shutdown_grace_ms += 1;
        std::sync::Arc::make_mut(&mut new.engine.defaults).channels[0].offer_timeout_ms += 1;
        assert_eq!(restart_needed(&running, &new), vec!["server", "limits"]);
    }
}

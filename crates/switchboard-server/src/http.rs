//! The HTTP endpoints: `/metrics` for Prometheus, `/healthz` (the process answers) and `/readyz`
//! (it can take work: every shard runs and shutdown has not begun).
//!
//! `/healthz` and `/readyz` are always open: probes carry no credentials. When tokens are
//! configured, `/metrics` requires `Authorization: Bearer <token>` with the role `metrics` (or
//! `admin`) and every account (`accounts = ["*"]`: metrics cover all accounts); under mutual TLS
//! it also requires a client certificate.

use crate::security::Security;
use crate::tls::ConnInfo;
use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;
use switchboard_config::{Accounts, Role};
use switchboard_runtime::Runtime;
use tokio::sync::watch;

#[derive(Clone)]
struct AppState {
    runtime: Runtime,
    shutdown: watch::Receiver<bool>,
    security: Arc<Security>,
}

/// The HTTP routes.
pub(crate) fn router(runtime: Runtime, shutdown: watch::Receiver<bool>, security: Arc<Security>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(AppState { runtime, shutdown, security })
}

async fn metrics(
    State(s): State<AppState>,
    ConnectInfo(conn): ConnectInfo<ConnInfo>,
    headers: HeaderMap,
) -> Response {
    if let Err((status, message)) = allowed(&s.security, &conn, &headers) {
        let mut response = (status, format!("{message}\n")).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        return response;
    }
    let mut text = s.runtime.render_metrics();
    text.push_str(&s.security.metrics.encode());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

/// Whether this request may read `/metrics`; the status and message of the refusal otherwise.
fn allowed(security: &Security, conn: &ConnInfo, headers: &HeaderMap) -> Result<(), (StatusCode, String)> {
    if security.tls.as_ref().is_some_and(|t| t.mutual()) && !conn.client_cert {
        security.denied("client_certificate");
        return Err((
            StatusCode::FORBIDDEN,
            "a client certificate is required for /metrics (security.tls.client_ca_file is set)".into(),
        ));
    }
    let value = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
    let token = match security.authenticate(value) {
        Ok(None) => return Ok(()),
        Ok(Some(token)) => token,
        Err(e) => return Err((StatusCode::UNAUTHORIZED, e.message)),
    };
    if !token.spec.has_role(Role::Metrics) {
        security.denied("role");
        return Err((
            StatusCode::FORBIDDEN,
            format!("token '{}' lacks the role 'metrics' (or 'admin') that /metrics needs", token.spec.name),
        ));
    }
    if token.spec.accounts != Accounts::All {
        security.denied("account");
        return Err((
            StatusCode::FORBIDDEN,
            format!(
                "token '{}' is limited to some accounts; /metrics covers every account and needs \
                 accounts = [\"*\"]",
                token.spec.name
            ),
        ));
    }
    Ok(())
}

async fn readyz(State(s): State<AppState>) -> Response {
    if *s.shutdown.borrow() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
    } else if !s.runtime.is_ready() {
        (StatusCode::SERVICE_UNAVAILABLE, "a shard has stopped or cannot write its log\n").into_response()
    } else {
        (StatusCode::OK, "ready\n").into_response()
    }
}

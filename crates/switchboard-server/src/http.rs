//! The HTTP endpoints: `/metrics` for Prometheus, `/healthz` (the process answers) and `/readyz`
//! (it can take work: every shard runs and shutdown has not begun).

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use switchboard_runtime::Runtime;
use tokio::sync::watch;

#[derive(Clone)]
struct AppState {
    runtime: Runtime,
    shutdown: watch::Receiver<bool>,
}

/// The HTTP routes.
pub(crate) fn router(runtime: Runtime, shutdown: watch::Receiver<bool>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(AppState { runtime, shutdown })
}

async fn metrics(State(s): State<AppState>) -> Response {
    let text = s.runtime.render_metrics();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
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

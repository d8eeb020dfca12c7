//! The HTTP endpoints: `/metrics` (Prometheus text), `/healthz` (the
//! process answers) and `/readyz` (store readable, intake running, outbox
//! not stuck; 503 with the reason otherwise).

use super::Monitor;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use tokio::sync::watch;

pub async fn serve(
    listener: tokio::net::TcpListener,
    monitor: Arc<Monitor>,
    mut shutdown: watch::Receiver<bool>,
) {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(monitor);
    let stop = async move {
        let _ = shutdown.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::error!("the metrics endpoint stopped: {e}");
    }
}

async fn metrics(State(m): State<Arc<Monitor>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, super::metrics::CONTENT_TYPE)],
        m.expose().await,
    )
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(m): State<Arc<Monitor>>) -> (StatusCode, String) {
    match m.ready().await {
        Ok(()) => (StatusCode::OK, "ready\n".into()),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")),
    }
}

//! `seq2seq serve`: models behind an HTTP API that existing clients already speak.
//!
//! This first version serves translation models with LibreTranslate's API (`POST /translate`,
//! `GET /languages`: what Mastodon, SearXNG, deep-translator and Discourse call), plus
//! `GET /health` and `GET /v1/models`. Requests to one model are batched together
//! ([`queue`]), decoded off the I/O threads, with the same decoding as `infer` (the model's
//! saved settings; paragraphs cut into sentences as `infer --split-sentences` does).
//!
//! Limits: a body limit (413), a bounded queue per model (503 with `Retry-After` when full).
//! Malformed JSON, wrong types, an unknown language or format: 400 with LibreTranslate's
//! error shape `{"error": "..."}`; a panic inside one decode fails only its request (500).

pub mod libretranslate;
pub mod queue;
pub mod translator;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use queue::{ModelQueue, Outcome, QueueError};
use std::sync::Arc;

/// A translation model being served: its name, languages and queue.
#[derive(Clone)]
pub struct Served {
    pub name: String,
    pub source: String,
    pub target: String,
    pub queue: ModelQueue,
}

/// What the routes share.
#[derive(Clone)]
pub struct AppState {
    pub models: Arc<Vec<Served>>,
}

/// The languages of a model named `SRC-TGT` (`en-de`), or `None`.
pub fn language_pair(name: &str) -> Option<(String, String)> {
    let (src, tgt) = name.split_once('-')?;
    let code = |c: &str| (2..=3).contains(&c.len()) && c.chars().all(|ch| ch.is_ascii_lowercase());
    (code(src) && code(tgt) && src != tgt).then(|| (src.to_string(), tgt.to_string()))
}

/// An API error in LibreTranslate's shape.
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("1"));
        }
        response
    }
}

/// Decode `texts` with `model`: queued with the other requests, one outcome per text.
pub async fn decode(model: &Served, texts: Vec<String>) -> Result<Vec<Outcome>, ApiError> {
    let results = model.queue.submit(texts).map_err(|err| match err {
        QueueError::Full(_) => ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: err.to_string(),
        },
        QueueError::Stopped(_) => ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: err.to_string(),
        },
    })?;
    results.await.map_err(|_| ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: format!("decoding failed inside model {}", model.name),
    })
}

/// The routes.
pub fn router(state: AppState, body_limit: usize) -> axum::Router {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/translate", post(libretranslate::translate))
        .route("/languages", get(libretranslate::languages))
        .route(
            "/health",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/v1/models", get(models))
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

async fn models(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    let data: Vec<_> = state
        .models
        .iter()
        .map(|m| {
            serde_json::json!({
                "id": m.name, "object": "model", "owned_by": "seq2seq",
                "task": "translation", "source": m.source, "target": m.target,
            })
        })
        .collect();
    Json(serde_json::json!({ "object": "list", "data": data })).into_response()
}

/// Serve `state` on `listener` until Ctrl-C or SIGTERM; then stop accepting, finish the
/// requests in flight and return.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    body_limit: usize,
) -> std::io::Result<()> {
    axum::serve(listener, router(state, body_limit))
        .with_graceful_shutdown(shutdown())
        .await
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_give_language_pairs() {
        assert_eq!(
            language_pair("en-de"),
            Some(("en".to_string(), "de".to_string()))
        );
        assert_eq!(language_pair("g2p"), None);
        assert_eq!(language_pair("en-en"), None);
        assert_eq!(language_pair("EN-de"), None);
        assert_eq!(language_pair("english-de"), None);
    }
}

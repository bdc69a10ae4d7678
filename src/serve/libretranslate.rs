//! LibreTranslate's API (its `app.py`, v1.6): `POST /translate` and `GET /languages`, with its
//! request fields, response and error shapes, so that its client libraries work unchanged.

use super::{decode, ApiError, AppState, Served};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// English names of the language codes a Multi30k or opus-mt model is likely to have.
fn language_name(code: &str) -> String {
    let name = match code {
        "en" => "English",
        "de" => "German",
        "fr" => "French",
        "cs" => "Czech",
        "nl" => "Dutch",
        "es" => "Spanish",
        "it" => "Italian",
        "pt" => "Portuguese",
        "ru" => "Russian",
        "zh" => "Chinese",
        "ja" => "Japanese",
        _ => return code.to_string(),
    };
    name.to_string()
}

/// `GET /languages`: every source language with the targets it can be translated into.
pub async fn languages(State(state): State<AppState>) -> Response {
    let mut codes: Vec<&str> = state.models.iter().map(|m| m.source.as_str()).collect();
    codes.sort_unstable();
    codes.dedup();
    let list: Vec<Value> = codes
        .iter()
        .map(|&code| {
            let mut targets: Vec<&str> = state
                .models
                .iter()
                .filter(|m| m.source == code)
                .map(|m| m.target.as_str())
                .collect();
            targets.sort_unstable();
            json!({ "code": code, "name": language_name(code), "targets": targets })
        })
        .collect();
    Json(Value::Array(list)).into_response()
}

/// A `/translate` request's fields, from JSON or a form.
struct Request {
    /// The texts, and whether `q` was a list (the response mirrors it).
    texts: Vec<String>,
    listed: bool,
    source: String,
    target: String,
}

fn field(map: &serde_json::Map<String, Value>, name: &str) -> Result<String, ApiError> {
    match map.get(name) {
        None | Some(Value::Null) => Err(ApiError::bad_request(format!(
            "Invalid request: missing {name} parameter"
        ))),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid request: {name} must be a string, got {other}"
        ))),
    }
}

fn parse(headers: &HeaderMap, body: &Bytes) -> Result<Request, ApiError> {
    let form = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let map: serde_json::Map<String, Value> = if form {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|e| ApiError::bad_request(format!("Invalid request: {e}")))?;
        pairs
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect()
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => map,
            Ok(other) => {
                return Err(ApiError::bad_request(format!(
                    "Invalid request: expected a JSON object, got {other}"
                )))
            }
            Err(e) => return Err(ApiError::bad_request(format!("Invalid JSON: {e}"))),
        }
    };
    let (texts, listed) = match map.get("q") {
        None | Some(Value::Null) => {
            return Err(ApiError::bad_request(
                "Invalid request: missing q parameter",
            ))
        }
        Some(Value::String(s)) => (vec![s.clone()], false),
        Some(Value::Array(items)) => {
            let texts = items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(ApiError::bad_request(format!(
                        "Invalid request: q[{i}] must be a string, got {other}"
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            (texts, true)
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid request: q must be a string or a list of strings, got {other}"
            )))
        }
    };
    if let Some(format) = map.get("format").and_then(Value::as_str) {
        if format != "text" {
            return Err(ApiError::bad_request(format!(
                "format {format:?} is not supported (only \"text\")"
            )));
        }
    }
    Ok(Request {
        texts,
        listed,
        source: field(&map, "source")?,
        target: field(&map, "target")?,
    })
}

/// The model for `source` -> `target`; `auto` is accepted when one source language leads to
/// `target`.
fn pick<'a>(models: &'a [Served], source: &str, target: &str) -> Result<&'a Served, ApiError> {
    let to_target: Vec<&Served> = models.iter().filter(|m| m.target == target).collect();
    if to_target.is_empty() {
        return Err(ApiError::bad_request(format!(
            "{target} is not supported as a target language"
        )));
    }
    if source == "auto" {
        return match to_target.as_slice() {
            [one] => Ok(one),
            many => Err(ApiError::bad_request(format!(
                "source \"auto\" needs language detection, which this server does not do: {} source languages translate into {target}; name one",
                many.len()
            ))),
        };
    }
    to_target
        .into_iter()
        .find(|m| m.source == source)
        .ok_or_else(|| ApiError::bad_request(format!("{source} is not supported")))
}

/// `POST /translate`.
pub async fn translate(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = parse(&headers, &body)?;
    let model = pick(&state.models, &request.source, &request.target)?;
    let outcomes = decode(model, request.texts).await?;
    let texts = outcomes
        .into_iter()
        .enumerate()
        .map(|(i, outcome)| {
            outcome.map_err(|err| {
                ApiError::bad_request(if request.listed {
                    format!("q[{i}]: {err}")
                } else {
                    err
                })
            })
        })
        .collect::<Result<Vec<String>, ApiError>>()?;
    let detected = json!({ "confidence": 100.0, "language": model.source });
    let mut response = if request.listed {
        json!({ "translatedText": texts })
    } else {
        json!({ "translatedText": texts.into_iter().next().unwrap_or_default() })
    };
    if request.source == "auto" {
        response["detectedLanguage"] = detected;
    }
    Ok(Json(response).into_response())
}

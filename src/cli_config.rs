//! Building the experiment config from a preset, an optional JSON file and command-line flags.

use crate::config::{ExperimentConfig, Preset};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// Why a config file could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error("{origin}: not valid JSON: {message}")]
    Json { origin: String, message: String },
    #[error("{origin}: unknown field `{path}` (known fields here: {known})")]
    UnknownField {
        origin: String,
        path: String,
        known: String,
    },
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
}

/// Merge `overlay` into `base`, refusing keys that `base` does not have.
fn merge(base: &mut Value, overlay: Value, path: &str, origin: &str) -> Result<(), OverlayError> {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => {
            for (key, value) in overlay {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match base.get_mut(&key) {
                    Some(slot) => merge(slot, value, &child, origin)?,
                    None => {
                        let mut known: Vec<&String> = base.keys().collect();
                        known.sort();
                        return Err(OverlayError::UnknownField {
                            origin: origin.to_string(),
                            path: child,
                            known: known
                                .iter()
                                .map(|k| k.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                        });
                    }
                }
            }
            Ok(())
        }
        (slot, value) => {
            *slot = value;
            Ok(())
        }
    }
}

/// The preset's config with the JSON text `overlay` laid over it (only the fields it names).
pub fn overlay(
    preset: Preset,
    overlay: &str,
    origin: &str,
) -> Result<ExperimentConfig, OverlayError> {
    overlay_on(&ExperimentConfig::preset(preset), overlay, origin)
}

/// `base` with the JSON text `overlay` laid over it: fields it names replace `base`'s, fields it
/// leaves out keep `base`'s values (Burn's `Config` deserialiser would reject them as missing),
/// fields `base` does not have are errors.
pub fn overlay_on<T: Serialize + DeserializeOwned>(
    base: &T,
    overlay: &str,
    origin: &str,
) -> Result<T, OverlayError> {
    let mut value = serde_json::to_value(base).expect("configs serialize");
    let overlay: Value = serde_json::from_str(overlay).map_err(|err| OverlayError::Json {
        origin: origin.to_string(),
        message: err.to_string(),
    })?;
    if !overlay.is_object() {
        return Err(OverlayError::Invalid {
            origin: origin.to_string(),
            message: "the config must be a JSON object".into(),
        });
    }
    merge(&mut value, overlay, "", origin)?;
    serde_json::from_value(value).map_err(|err| OverlayError::Invalid {
        origin: origin.to_string(),
        message: err.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_keeps_preset_values_it_does_not_name() {
        let config = overlay(
            Preset::Tiny,
            r#"{"model": {"n_heads": 4}, "training": {"epochs": 3}}"#,
            "c.json",
        )
        .unwrap();
        assert_eq!(config.model.n_heads, 4);
        assert_eq!(config.model.d_model, 64, "from the tiny preset");
        assert_eq!(config.training.epochs, 3);
    }

    #[test]
    fn unknown_fields_and_bad_values_are_named() {
        let err = overlay(Preset::Tiny, r#"{"model": {"d_modle": 4}}"#, "c.json")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown field `model.d_modle`") && err.contains("d_model"),
            "{err}"
        );
        let err = overlay(Preset::Tiny, r#"{"model": {"d_model": "big"}}"#, "c.json")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.json: "), "{err}");
        let err = overlay(Preset::Tiny, "[1]", "c.json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("JSON object"), "{err}");
        let err = overlay(Preset::Tiny, "{", "c.json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not valid JSON"), "{err}");
    }
}

//! Whisper imported from a Hugging Face transformers directory, against transformers itself:
//! `tests/fixtures/whisper/transformers/` (`scripts/whisper_transformers_reference.py`) holds a
//! tiny random `WhisperForConditionalGeneration` saved by transformers 5.25 (d_model 24, 2
//! heads, 2+2 layers, 535 tokens, 3 languages; float32 safetensors), and what transformers
//! computed from it on the same 3 s of jfk.wav: the encoder output, every step's logits and
//! `generate()`'s greedy and beam-5 tokens for two prompts.

use crate::common::TempDir;
use crate::speech::{fixture, ids, jfk_3s, max_diff, tensor, tensor_in, transcribe};
use burn::prelude::*;
use seq2seq::speech::{TranscribeOptions, WhisperModel};
use serde_json::Value;
use std::path::{Path, PathBuf};

type B = seq2seq::backend::NdArray;

fn hf(name: &str) -> PathBuf {
    fixture("transformers").join(name)
}

fn reference() -> Value {
    serde_json::from_str(&std::fs::read_to_string(hf("reference.json")).unwrap()).unwrap()
}

fn reference_tensor(key: &str) -> (Vec<usize>, Vec<f32>) {
    tensor_in(&hf("reference.safetensors"), key)
}

fn imported(name: &str) -> (TempDir, WhisperModel<B>) {
    let dir = TempDir::new("whisper-hf", name);
    seq2seq::speech::whisper::import(&[hf("model")], &dir.join("model")).unwrap();
    let model = WhisperModel::<B>::load(&dir.join("model"), &Default::default()).unwrap();
    (dir, model)
}

fn features(device: &burn::tensor::Device<B>) -> Tensor<B, 3> {
    let (_, features) = tensor("features");
    Tensor::from_data(TensorData::new(features, [1, 80, 3000]), device)
}

/// The sizes and decoding tokens come from config.json and generation_config.json (not
/// config.json's English-only `begin_suppress_tokens` default, which transformers writes too).
#[test]
fn transformers_config_and_generation_config_are_read() {
    let (_dir, model) = imported("settings");
    let s = &model.settings;
    let m = &s.model;
    assert_eq!(
        (
            m.d_model,
            m.n_heads,
            m.d_ff,
            m.n_encoder_layers,
            m.n_decoder_layers
        ),
        (24, 2, 96, 2, 2)
    );
    assert_eq!(
        (m.tgt_vocab_size, m.audio_mels, m.max_len, m.decoder_max_len),
        (535, Some(80), 1500, Some(448))
    );
    let generation: Value =
        serde_json::from_str(&std::fs::read_to_string(hf("model/generation_config.json")).unwrap())
            .unwrap();
    assert_eq!(s.suppress_ids, ids(&generation["suppress_tokens"]));
    assert_eq!(s.suppress_ids_begin, vec![220, 513]);
    assert_eq!((s.sot, s.eot, s.no_timestamps), (514, 513, 523));
    assert_eq!((s.transcribe, s.translate), (Some(519), Some(518)));
    let languages: Vec<(&str, usize)> = s.languages.iter().map(|(k, &v)| (k.as_str(), v)).collect();
    assert_eq!(languages, [("cs", 517), ("de", 516), ("en", 515)]);
}

/// transformers' encoder (`model.model.encoder`) on the same features: float32 both sides.
#[test]
fn encoder_output_equals_transformers() {
    let (_dir, model) = imported("encoder");
    let memory = model
        .model
        .encode_audio(features(&Default::default()))
        .memory;
    assert_eq!(memory.dims(), [1, 1500, 24]);
    let (shape, expected) = reference_tensor("encoder_output");
    assert_eq!(shape, [1500, 24]);
    let d = max_diff(&memory.into_data().to_vec::<f32>().unwrap(), &expected);
    eprintln!("encoder output vs transformers: max abs error {d:.2e}");
    assert!(d < 1e-4, "encoder outputs differ by {d}");
}

/// The logits of every step, teacher-forced over `generate()`'s greedy output, against
/// transformers' forward pass on the same tokens (raw logits, before any suppression).
#[test]
fn every_steps_logits_equal_transformers() {
    let (_dir, model) = imported("logits");
    let device = Default::default();
    let memory = model.model.encode_audio(features(&device)).memory;
    for run in reference()["runs"].as_array().unwrap() {
        let prompt = ids(&run["prompt"]);
        let greedy = ids(&run["beam1"]);
        let tokens: Vec<i64> = prompt.iter().chain(&greedy).map(|&t| t as i64).collect();
        let len = tokens.len();
        let tgt = Tensor::<B, 2, Int>::from_data(TensorData::new(tokens, [1, len]), &device);
        let hidden = model.model.decode(tgt, &memory, None, None, None).hidden;
        let logits = model.model.generate(hidden);
        let key = run["logits"].as_str().unwrap();
        let (shape, expected) = reference_tensor(key);
        assert_eq!(shape, [greedy.len() + 1, 535], "{key}");
        let ours = logits
            .narrow(1, prompt.len() - 1, greedy.len() + 1)
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        let d = max_diff(&ours, &expected);
        eprintln!("{key} vs transformers: max abs error {d:.2e}");
        assert!(d < 1e-3, "{key}: logits differ by {d}");
    }
}

/// Greedy decoding through the crate's decoder equals `generate(num_beams=1)`, for
/// transcription in English and translation from Czech (language and task forced).
#[test]
fn greedy_equals_transformers_generate() {
    let (_dir, model) = imported("greedy");
    for run in reference()["runs"].as_array().unwrap() {
        let options = TranscribeOptions {
            language: Some(run["language"].as_str().unwrap().to_string()),
            translate: run["task"] == "translate",
            ..Default::default()
        };
        assert_eq!(
            model
                .settings
                .prompt(options.language.as_deref(), options.translate)
                .unwrap(),
            ids(&run["prompt"])
        );
        let got = transcribe(&model, vec![jfk_3s()], &options);
        assert_eq!(got[0], ids(&run["beam1"]), "{}", run["name"]);
    }
}

/// A copy of the fixture's model directory with one JSON file edited.
fn edited(dir: &Path, name: &str, file: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let out = dir.join(name);
    std::fs::create_dir_all(&out).unwrap();
    for f in std::fs::read_dir(hf("model")).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, out.join(f.file_name().unwrap())).unwrap();
    }
    let mut json: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join(file)).unwrap()).unwrap();
    edit(&mut json);
    std::fs::write(out.join(file), json.to_string()).unwrap();
    out
}

fn import_error(dir: &TempDir, source: PathBuf) -> String {
    seq2seq::speech::whisper::import(&[source], &dir.join("out"))
        .unwrap_err()
        .to_string()
}

/// What does not fit is an error naming the file and the setting or tensor.
#[test]
fn transformers_directories_that_do_not_fit_are_clear_errors() {
    let dir = TempDir::new("whisper-hf", "errors");
    let not_whisper = edited(&dir, "bert", "config.json", |c| {
        c["model_type"] = "bert".into()
    });
    let err = import_error(&dir, not_whisper);
    assert!(
        err.contains("not a Whisper model") && err.contains("bert"),
        "{err}"
    );

    let relu = edited(&dir, "relu", "config.json", |c| {
        c["activation_function"] = "relu".into()
    });
    let err = import_error(&dir, relu);
    assert!(
        err.contains("config.json") && err.contains("\"relu\""),
        "{err}"
    );

    let wrong_size = edited(&dir, "size", "config.json", |c| c["d_model"] = 32.into());
    let err = import_error(&dir, wrong_size);
    assert!(
        err.contains("model.decoder.embed_tokens.weight") && err.contains("[535, 24]"),
        "{err}"
    );

    let fewer_layers = edited(&dir, "layers", "config.json", |c| {
        c["encoder_layers"] = 1.into()
    });
    let err = import_error(&dir, fewer_layers);
    assert!(
        err.contains("model.encoder.layers.1") && err.contains("not a tensor"),
        "{err}"
    );

    let wrong_start = edited(&dir, "start", "generation_config.json", |g| {
        g["decoder_start_token_id"] = 7.into()
    });
    let err = import_error(&dir, wrong_start);
    assert!(
        err.contains("generation_config.json") && err.contains("<|startoftranscript|>"),
        "{err}"
    );

    let bad_suppress = edited(&dir, "suppress", "generation_config.json", |g| {
        g["suppress_tokens"] = serde_json::json!([1, 9999])
    });
    let err = import_error(&dir, bad_suppress);
    assert!(err.contains("9999") && err.contains("vocabulary"), "{err}");

    let corrupt = edited(&dir, "corrupt", "config.json", |_| {});
    std::fs::write(corrupt.join("model.safetensors"), b"\x08\0\0\0\0\0\0\0{}").unwrap();
    let err = import_error(&dir, corrupt);
    assert!(err.contains("model.safetensors"), "{err}");
}

/// Beam 5 equals transformers' `generate(num_beams=5)` once the suppressed tokens are masked
/// where CTranslate2 and this crate mask them, in the logits before the log-softmax
/// (`beam5_masked_logits`). transformers masks after it, leaving each beam's log-probabilities
/// unrenormalised: on the English prompt that changes its choice at the 12th token; on the
/// Czech-to-English one both orders agree.
#[test]
fn beam_equals_transformers_generate_with_ctranslate2s_masking() {
    let (_dir, model) = imported("beam");
    let mut plain_equal = 0;
    for run in reference()["runs"].as_array().unwrap() {
        let options = TranscribeOptions {
            language: Some(run["language"].as_str().unwrap().to_string()),
            translate: run["task"] == "translate",
            beam: 5,
            ..Default::default()
        };
        let got = transcribe(&model, vec![jfk_3s()], &options);
        assert_eq!(got[0], ids(&run["beam5_masked_logits"]), "{}", run["name"]);
        plain_equal += usize::from(got[0] == ids(&run["beam5"]));
    }
    assert_eq!(
        plain_equal, 1,
        "the English prompt is where the two orders differ"
    );
}

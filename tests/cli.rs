//! The `seq2seq` binary end to end: import, infer, errors a user sees.

mod common;

use common::{assert_close, fixture_path, Io};
use std::path::PathBuf;
use std::process::{Command, Output};

type B = seq2seq::backend::NdArray;

fn seq2seq(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_seq2seq"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("seq2seq-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn fixture(file: &str) -> String {
    fixture_path(file).display().to_string()
}

fn import(out: &std::path::Path) -> Output {
    seq2seq(&[
        "import-pytorch",
        "--weights",
        &fixture("seq2seq_post.weights.safetensors"),
        "--config",
        &fixture("seq2seq_post.json"),
        "--src-vocab",
        &fixture("seq2seq_post.src_vocab.txt"),
        "--tgt-vocab",
        &fixture("seq2seq_post.tgt_vocab.txt"),
        "--out",
        &out.display().to_string(),
    ])
}

#[test]
fn imported_pytorch_model_reproduces_pytorch_logits_and_decodes() {
    let dir = temp_dir("import");
    let model_dir = dir.join("model");
    let out = import(&model_dir);
    assert!(out.status.success(), "{}", stderr(&out));

    // The model directory written by the CLI still computes PyTorch's logits.
    let device = Default::default();
    let loaded = seq2seq::artifact::load::<B>(&model_dir, &device).unwrap();
    let io = Io::load("seq2seq_post");
    let logits = loaded.model.forward(
        io.int("input.src", &device),
        Some(io.mask("input.src_key_padding_mask", &device)),
        io.int("input.tgt", &device),
        Some(io.mask("input.tgt_key_padding_mask", &device)),
    );
    assert_close(
        "imported logits",
        logits,
        io.float("output.logits", &device),
        1e-5,
    );

    // Our own save is PyTorch's layout again: the same keys as the state dict we imported.
    let ours = std::fs::read(model_dir.join("model.safetensors")).unwrap();
    let theirs = std::fs::read(fixture_path("seq2seq_post.weights.safetensors")).unwrap();
    let keys = |bytes: &[u8]| {
        let mut k: Vec<String> = safetensors::SafeTensors::deserialize(bytes)
            .unwrap()
            .names()
            .into_iter()
            .map(String::from)
            .collect();
        k.sort();
        k
    };
    assert_eq!(keys(&ours), keys(&theirs));

    // The random fixture model still decodes: one output line per input, exit 0.
    let model = model_dir.display().to_string();
    let out = seq2seq(&["infer", "--model", &model, "abc", "bad"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
    let out = seq2seq(&[
        "infer", "--model", &model, "--beam", "3", "--nbest", "2", "abc",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unknown_symbols_and_empty_input_are_named() {
    let dir = temp_dir("unknown");
    let model_dir = dir.join("model");
    assert!(import(&model_dir).status.success());
    let model = model_dir.display().to_string();
    let out = seq2seq(&["infer", "--model", &model, "abz", ""]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("unknown symbol(s) \"z\""), "{err}");
    assert!(err.contains("empty input"), "{err}");
    // With --unk the unknown symbol becomes <unk> and the input decodes.
    let out = seq2seq(&["infer", "--model", &model, "--unk", "abz"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let long = "a".repeat(65);
    let out = seq2seq(&["infer", "--model", &model, &long]);
    assert!(
        stderr(&out).contains("longer than the model's maximum of 64"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn mismatched_imports_are_refused_with_the_reason() {
    let dir = temp_dir("mismatch");
    // Vocabulary of the wrong size.
    let out = seq2seq(&[
        "import-pytorch",
        "--weights",
        &fixture("seq2seq_post.weights.safetensors"),
        "--config",
        &fixture("seq2seq_post.json"),
        "--src-vocab",
        &fixture("seq2seq_post.tgt_vocab.txt"),
        "--tgt-vocab",
        &fixture("seq2seq_post.tgt_vocab.txt"),
        "--out",
        &dir.join("m").display().to_string(),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("source vocabulary has 13 symbols but the model config expects 11"),
        "{}",
        stderr(&out)
    );
    // Weights of another architecture (a pre-norm state dict has the same keys; a single
    // layer's does not).
    let out = seq2seq(&[
        "import-pytorch",
        "--weights",
        &fixture("encoder_layer_post.weights.safetensors"),
        "--config",
        &fixture("seq2seq_post.json"),
        "--src-vocab",
        &fixture("seq2seq_post.src_vocab.txt"),
        "--tgt-vocab",
        &fixture("seq2seq_post.tgt_vocab.txt"),
        "--out",
        &dir.join("m").display().to_string(),
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("do not match the model config") && err.contains("missing"),
        "{err}"
    );
    assert!(
        err.contains("src_embed.weight") || err.contains("transformer."),
        "{err}"
    );
    // No model directory was left behind by the failures.
    assert!(!dir.join("m").join("config.json").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_model_and_bad_config_give_one_line_errors() {
    let out = seq2seq(&["infer", "--model", "/nonexistent/model", "abc"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("/nonexistent/model is not a model directory"),
        "{err}"
    );

    let dir = temp_dir("badcfg");
    let cfg = dir.join("c.json");
    std::fs::write(&cfg, r#"{"model": {"d_model": 30, "n_heads": 4}}"#).unwrap();
    let out = seq2seq(&[
        "train",
        "--task",
        "copy",
        "--preset",
        "tiny",
        "--config",
        &cfg.display().to_string(),
        "--out",
        &dir.join("m").display().to_string(),
        "--plain",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("d_model (30) must be divisible by n_heads (4)"),
        "{}",
        stderr(&out)
    );
    std::fs::write(&cfg, r#"{"training": {"epoch": 3}}"#).unwrap();
    let out = seq2seq(&[
        "train",
        "--task",
        "copy",
        "--config",
        &cfg.display().to_string(),
        "--out",
        &dir.join("m").display().to_string(),
    ]);
    assert!(
        stderr(&out).contains("unknown field `training.epoch`"),
        "{}",
        stderr(&out)
    );
    let out = seq2seq(&[
        "train",
        "--task",
        "tsv",
        "--out",
        &dir.join("m").display().to_string(),
    ]);
    assert!(
        stderr(&out).contains("needs --data FILE"),
        "{}",
        stderr(&out)
    );
    let out = seq2seq(&[
        "train",
        "--task",
        "copy",
        "--resume",
        "--out",
        &dir.join("m").display().to_string(),
    ]);
    assert!(
        stderr(&out).contains("nothing to resume"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn version_names_the_backends() {
    let out = seq2seq(&["--version"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("burn 0.21.0") && text.contains("ndarray"),
        "{text}"
    );
}

#[test]
fn bench_runs_its_smoke_configuration() {
    let dir = temp_dir("bench");
    let json = dir.join("bench.json");
    let out = seq2seq(&[
        "bench",
        "--quick",
        "--no-pytorch",
        "--json",
        &json.display().to_string(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert!(report["seq2seq"]["train_tokens_per_s"].as_f64().unwrap() > 0.0);
    assert!(report["seq2seq"]["greedy_ms_b1"].as_f64().unwrap() > 0.0);
    assert!(report["pytorch"].is_null());
    std::fs::remove_dir_all(&dir).unwrap();
}

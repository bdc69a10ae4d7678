//! The `seq2seq` binary end to end: import, infer, errors a user sees.

use crate::common;

use common::{assert_close, assert_fails_with, fixture_path, stderr, Io, TempDir};
use std::path::PathBuf;
use std::process::{Command, Output};

type B = seq2seq::backend::NdArray;

fn seq2seq(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_seq2seq"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn temp_dir(name: &str) -> TempDir {
    TempDir::new("cli", name)
}

/// `seq2seq train --task TASK --config CONFIG --out OUT` (tiny preset for the synthetic tasks).
fn train_with_config(task: &str, config: &std::path::Path, out: &std::path::Path) -> Output {
    seq2seq(&[
        "train",
        "--task",
        task,
        "--preset",
        "tiny",
        "--config",
        &config.display().to_string(),
        "--out",
        &out.display().to_string(),
    ])
}

fn fixture(file: &str) -> String {
    fixture_path(file).display().to_string()
}

/// `import-pytorch` of the post-norm fixture into `out`, and any `extra` arguments.
fn import_args(out: &std::path::Path, extra: &[&str]) -> Output {
    let out = out.display().to_string();
    let (weights, config, src, tgt) = (
        fixture("seq2seq_post.weights.safetensors"),
        fixture("seq2seq_post.json"),
        fixture("seq2seq_post.src_vocab.txt"),
        fixture("seq2seq_post.tgt_vocab.txt"),
    );
    let mut args = vec![
        "import-pytorch",
        "--weights",
        &weights,
        "--config",
        &config,
        "--src-vocab",
        &src,
        "--tgt-vocab",
        &tgt,
        "--out",
        &out,
    ];
    args.extend_from_slice(extra);
    seq2seq(&args)
}

fn import(out: &std::path::Path) -> Output {
    import_args(out, &[])
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
    assert!(
        err.contains("1 of 2 inputs"),
        "the empty input is no error: {err}"
    );
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
    assert_fails_with(
        &out,
        "source vocabulary has 13 symbols but the model config expects 11",
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
    let out = train_with_config("copy", &cfg, &dir.join("m"));
    assert_fails_with(&out, "d_model (30) must be divisible by n_heads (4)");
    std::fs::write(&cfg, r#"{"training": {"epoch": 3}}"#).unwrap();
    let out = train_with_config("copy", &cfg, &dir.join("m"));
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
}

/// A small pronouncing dictionary: `count` distinct words of 3-9 letters, one phone per letter.
fn tiny_dictionary(path: &std::path::Path, count: usize) {
    let mut state = 7u64;
    let mut text = String::new();
    for i in 0..count {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let len = 3 + (state >> 33) as usize % 7;
        let word: String = (0..len)
            .map(|j| (b'A' + ((state >> (j * 5)) % 26) as u8) as char)
            .chain(
                format!("{i}")
                    .chars()
                    .map(|d| (b'A' + d as u8 - b'0') as char),
            )
            .collect();
        let phones: Vec<String> = word.chars().map(|c| format!("P{c}")).collect();
        text.push_str(&format!("{word}\t{}\n", phones.join(" ")));
    }
    std::fs::write(path, text).unwrap();
}

/// The G2P workload times real length buckets of a recipe on our side and, when PyTorch is
/// installed, on PyTorch's from the same batches.
#[test]
fn bench_times_the_g2p_workload_on_the_recipe_batches() {
    let dir = temp_dir("bench-g2p");
    let dict = dir.join("dict.tsv");
    tiny_dictionary(&dict, 400);
    let recipe = dir.join("recipe.json");
    std::fs::write(
        &recipe,
        r#"{"model": {"d_model": 32, "n_heads": 2, "d_ff": 48, "n_encoder_layers": 1,
            "n_decoder_layers": 1},
            "data": {"dev_fraction": 0.05, "test_fraction": 0.0},
            "training": {"batch_tokens": 200}}"#,
    )
    .unwrap();
    let json = dir.join("bench.json");
    let torch = Command::new("python3")
        .args(["-c", "import torch"])
        .output()
        .is_ok_and(|o| o.status.success());
    let mut args = vec![
        "bench",
        "--g2p-only",
        "--g2p-batches",
        "3",
        "--g2p-config",
        recipe.to_str().unwrap(),
        "--g2p-data",
        dict.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ];
    if !torch {
        println!("PyTorch (python3 -c 'import torch') is not installed: our side only");
        args.push("--no-pytorch");
    }
    let out = seq2seq(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let g2p = &report["g2p_workload"];
    assert_eq!(g2p["timed_batches"], 3);
    // 400 words, 5% dev: about 380 training pairs of 4-11 target positions in 200-token batches.
    let batches = g2p["epoch_batches"].as_u64().unwrap();
    assert!((10..=40).contains(&batches), "{batches} batches");
    assert!(g2p["seq2seq_train_tokens_per_s"].as_f64().unwrap() > 0.0);
    if torch {
        assert!(g2p["pytorch_train_tokens_per_s"].as_f64().unwrap() > 0.0);
        assert!(g2p["ratio"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn average_names_what_is_missing() {
    let dir = temp_dir("average-missing");
    let run = dir.join("runs/none");
    let out = seq2seq(&[
        "average",
        "--run",
        run.to_str().unwrap(),
        "--last",
        "3",
        "--out",
        dir.join("model").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("holds no checkpoint"), "{err}");
}

#[test]
fn truncated_or_corrupt_weights_are_named() {
    let dir = temp_dir("corrupt");
    let model_dir = dir.join("model");
    assert!(import(&model_dir).status.success());
    let weights = model_dir.join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    let model = model_dir.display().to_string();
    let out = seq2seq(&["infer", "--model", &model, "abc"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("model.safetensors") && err.contains("cannot read weights"),
        "{err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error")).count(),
        1,
        "{err}"
    );
    std::fs::write(&weights, b"not a safetensors file at all").unwrap();
    let out = seq2seq(&["infer", "--model", &model, "abc"]);
    assert!(
        stderr(&out).contains("cannot read weights"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn ctrl_c_stops_training_and_still_writes_a_resumable_model() {
    let dir = temp_dir("sigint");
    let cfg = dir.join("c.json");
    std::fs::write(&cfg, r#"{"data": {"synthetic_size": 3000}, "training": {"epochs": 50, "eval_examples": 0, "patience": 0}}"#).unwrap();
    let out_dir = dir.join("m");
    let child = Command::new(env!("CARGO_BIN_EXE_seq2seq"))
        .args([
            "train", "--task", "copy", "--preset", "tiny", "--plain", "--config",
        ])
        .arg(&cfg)
        .arg("--out")
        .arg(&out_dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Let it finish a few epochs, then send SIGINT.
    let run_dir = dir.join("runs/m");
    let started = std::time::Instant::now();
    while seq2seq::train::last_checkpoint(&run_dir).unwrap_or(0) < 2
        && started.elapsed().as_secs() < 120
    {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout.contains("training interrupted"), "{stdout}");
    assert!(stdout.contains("model written to"), "{stdout}");
    let last = seq2seq::train::last_checkpoint(&run_dir).unwrap();
    assert!((2..50).contains(&last), "stopped at {last}");
    // The interrupted run resumes.
    let resumed = seq2seq(&[
        "train",
        "--task",
        "copy",
        "--preset",
        "tiny",
        "--plain",
        "--config",
        &cfg.display().to_string(),
        "--out",
        &out_dir.display().to_string(),
        "--resume",
        "--epochs",
        &(last + 1).to_string(),
    ]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert_eq!(seq2seq::train::last_checkpoint(&run_dir), Some(last + 1));
}

/// Rough edge (a): an output path that is a file is refused before any data is read, not after
/// a whole run.
#[test]
fn train_refuses_an_output_that_is_a_file_before_reading_data() {
    let dir = temp_dir("out-file");
    let file = dir.join("afile");
    std::fs::write(&file, "not a model").unwrap();
    let out = seq2seq(&[
        "train",
        "--task",
        "reverse",
        "--preset",
        "tiny",
        "--plain",
        "--out",
        &file.display().to_string(),
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("afile exists and is not a directory"), "{err}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("data:"), "data was loaded first: {stdout}");
    // The run directory (<parent>/runs/<name>) is checked the same way.
    std::fs::create_dir_all(dir.join("runs")).unwrap();
    std::fs::write(dir.join("runs/m"), "").unwrap();
    let out = seq2seq(&[
        "train",
        "--task",
        "reverse",
        "--preset",
        "tiny",
        "--plain",
        "--out",
        &dir.join("m").display().to_string(),
    ]);
    assert_fails_with(&out, "is not a directory");
}

/// `seq2seq infer` over standard input `input` (bytes) with the shipped G2P model.
fn infer_stdin(input: &[u8]) -> Output {
    infer_stdin_args(input, &[])
}

/// [`infer_stdin`] with more flags.
fn infer_stdin_args(input: &[u8], args: &[&str]) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_seq2seq"))
        .args(["infer", "--model"])
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("artifacts/g014b2b"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// Rough edges (b) and (c): one output line per input line whatever happens to a line; a line
/// that is not UTF-8 gets an empty output line and an error naming it, the good lines around it
/// are decoded, and the exit status says something failed. An empty or blank line is no error:
/// an empty output line (as Marian and CTranslate2 give), marked `"empty": true` in `--json`.
#[test]
fn infer_keeps_one_output_line_per_input_line() {
    let out = infer_stdin(b"cat\n\ndog\n\xff\xfeab\nsee\n");
    assert!(!out.status.success());
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{stdout:?}");
    assert_eq!(lines[0], "K AE T");
    assert!(lines[1].is_empty() && lines[3].is_empty(), "{lines:?}");
    assert!(!lines[2].is_empty() && !lines[4].is_empty(), "{lines:?}");
    let err = stderr(&out);
    assert!(!err.contains("line 2"), "{err}");
    assert!(err.contains("line 4: not valid UTF-8"), "{err}");
    assert!(err.contains("1 of 5 inputs could not be decoded"), "{err}");
    // Blank lines between paragraphs: success, same count, empty lines where they were.
    let out = infer_stdin(b"cat\n\n  \ndog\n");
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout:?}");
    assert!(lines[1].is_empty() && lines[2].is_empty() && !lines[3].is_empty());
    let out = infer_stdin_args(b"cat\n\n", &["--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let records: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[1]["empty"], true);
    assert_eq!(records[1]["answers"].as_array().unwrap().len(), 0);
    assert!(records[0].get("empty").is_none());
}

/// Rough edge (e): an error names its cause once.
#[test]
fn errors_name_their_cause_once() {
    let dir = temp_dir("cause-once");
    let out = seq2seq(&[
        "train",
        "--data",
        &dir.display().to_string(),
        "--out",
        &dir.join("m").display().to_string(),
    ]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert_eq!(err.matches("Is a directory").count(), 1, "{err}");
    let config = dir.join("bad.json");
    std::fs::write(&config, r#"{"model": {"d_model": 0}}"#).unwrap();
    let out = train_with_config("reverse", &config, &dir.join("m"));
    let err = stderr(&out);
    assert!(!out.status.success());
    assert_eq!(err.matches("must be greater than 0").count(), 1, "{err}");
}

/// Rough edge (f): a model directory never needs its training data to load or to be scored on
/// a file; only re-creating its own split does, and that error names the path.
#[test]
fn a_model_loads_and_evaluates_without_its_training_data() {
    let dir = temp_dir("no-data");
    let model = dir.join("model");
    std::fs::create_dir_all(&model).unwrap();
    let shipped = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("artifacts/g014b2b");
    for file in ["model.safetensors", "src_vocab.json", "tgt_vocab.json"] {
        std::fs::copy(shipped.join(file), model.join(file)).unwrap();
    }
    let config = std::fs::read_to_string(shipped.join("config.json")).unwrap();
    let mut config: serde_json::Value = serde_json::from_str(&config).unwrap();
    config["data"]["path"] = serde_json::json!("/nonexistent/train.dict");
    std::fs::write(model.join("config.json"), config.to_string()).unwrap();
    let data = dir.join("words.dict");
    std::fs::write(&data, "cat K AE1 T\ndog D AO1 G\n").unwrap();
    let model = model.display().to_string();
    let out = seq2seq(&["infer", "--model", &model, "cat"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = seq2seq(&[
        "eval",
        "--model",
        &model,
        "--data",
        &data.display().to_string(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 items"));
    let out = seq2seq(&["eval", "--model", &model, "--split", "dev"]);
    assert_fails_with(&out, "/nonexistent/train.dict");
}

/// `seq2seq infer ARGS` run from the repository root, as the README's commands are: its output
/// lines.
fn infer_from_root(args: &[&str]) -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_seq2seq"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("infer")
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// A shipped ensemble's README flags: they are in the README (on one line), its members decode
/// left to right and its rescorers right to left, the rescorers are independent (from scratch,
/// different seeds), and `infer` with the flags and `infer_args` prints the lines `want`.
fn check_shipped_system(
    flags: &str,
    members: &[&str],
    rescorers: &[&str],
    infer_args: &[&str],
    want: &[&str],
) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(readme.contains(flags), "README gives {flags}");
    let config = |dir: &str| -> serde_json::Value {
        let text = std::fs::read_to_string(root.join(dir).join("config.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    };
    let right_left =
        |config: &serde_json::Value| config["data"]["right_left"].as_bool().unwrap_or(false);
    for dir in members {
        assert!(!right_left(&config(dir)), "{dir} decodes left to right");
    }
    let mut seeds = Vec::new();
    for dir in rescorers {
        let config = config(dir);
        assert!(right_left(&config), "{dir} decodes right to left");
        seeds.push(config["training"]["seed"].as_u64().unwrap());
    }
    seeds.sort_unstable();
    seeds.dedup();
    assert_eq!(seeds.len(), rescorers.len(), "rescorers of different seeds");
    let args: Vec<&str> = flags.split(' ').chain(infer_args.iter().copied()).collect();
    assert_eq!(infer_from_root(&args), want);
}

/// The shipped g014b2b system (issue 27): `artifacts/g014b2b` with a second left-to-right
/// member and two independent right-to-left rescorers.
#[test]
fn the_shipped_g014b2b_ensemble_decodes_with_the_readmes_flags() {
    // One line in the README: the string continues across its line break.
    check_shipped_system(
        "--model artifacts/g014b2b --model artifacts/g014b2b-ensemble/f9 \
--rescore artifacts/g014b2b-ensemble/r2l --rescore artifacts/g014b2b-ensemble/r2l2 --rescore-weight 0.45",
        &["artifacts/g014b2b", "artifacts/g014b2b-ensemble/f9"],
        &["artifacts/g014b2b-ensemble/r2l", "artifacts/g014b2b-ensemble/r2l2"],
        &["--beam", "4", "cat", "dog", "phonetic"],
        &["K AE T", "D AO G", "F AH N EH T IH K"],
    );
}

/// The default model's system: `artifacts/g2p` rescored by a right-to-left model. On dev words
/// the model alone gets wrong (`agile` as AH0 JH IY1 L, `appalachian` with SH, `alm` without
/// its L), the rescored system gives CMUdict's pronunciations (the dictionary kept out of it).
#[test]
fn the_shipped_g2p_ensemble_decodes_with_the_readmes_flags() {
    let words = ["agile", "appalachian", "alm"];
    let args: Vec<&str> = ["--no-lexicon", "--beam", "4", "--lenpen", "0.6"]
        .into_iter()
        .chain(words)
        .collect();
    check_shipped_system(
        "--model artifacts/g2p --rescore artifacts/g2p-ensemble/r2l --rescore-weight 0.4",
        &["artifacts/g2p"],
        &["artifacts/g2p-ensemble/r2l"],
        &args,
        &["AE1 JH AH0 L", "AE2 P AH0 L EY1 CH AH0 N", "AA1 L M"],
    );
    // The model alone: what the rescorer changed.
    assert_eq!(
        infer_from_root(&[&["--model", "artifacts/g2p"][..], &args].concat()),
        ["AH0 JH IY1 L", "AE2 P AH0 L EY1 SH AH0 N", "AA1 M"]
    );
}

/// Rough edge (h): the README says how to get the PyTorch that `bench` compares with.
#[test]
fn readme_says_how_to_install_pytorch_for_bench() {
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    let line = readme
        .lines()
        .find(|l| l.contains("pip install torch=="))
        .expect("README names the PyTorch package and version");
    let script = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/bench_pytorch.py"),
    )
    .unwrap();
    assert!(script.contains("import torch"), "{line}");
}

/// G2P as a tool: the dictionary answers the words it lists (its variants first in N-best
/// lists), the model the others, and the output says which answered.
#[test]
fn infer_looks_words_up_in_the_lexicon_first() {
    let model = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("artifacts/g2p");
    let model = model.display().to_string();
    // artifacts/g2p was trained on the vendored CMUdict: that is its default lexicon.
    let out = seq2seq(&["infer", "--model", &model, "--json", "Either", "zorblaxt"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let records: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["answers"][0]["text"], "IY1 DH ER0");
    assert_eq!(records[0]["answers"][0]["source"], "lexicon");
    assert!(records[0]["answers"][0]["score"].is_null());
    assert_eq!(records[1]["answers"][0]["source"], "model");
    assert!(records[1]["answers"][0]["score"].as_f64().unwrap() < 0.0);

    // N-best: both dictionary variants, then the model's best different answer.
    let out = seq2seq(&[
        "infer", "--model", &model, "--beam", "4", "--nbest", "3", "either",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<Vec<&str>> = stdout.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 3, "{stdout}");
    assert_eq!(rows[0][3], "IY1 DH ER0");
    assert_eq!(rows[1][3], "AY1 DH ER0");
    assert_eq!(
        (rows[0][4], rows[1][4], rows[2][4]),
        ("lexicon", "lexicon", "model")
    );
    assert!(rows[2][3] != rows[0][3] && rows[2][3] != rows[1][3]);

    // --no-lexicon asks the model; --lexicon FILE replaces the dictionary.
    let out = seq2seq(&[
        "infer",
        "--model",
        &model,
        "--no-lexicon",
        "--json",
        "either",
    ]);
    let record: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record["answers"][0]["source"], "model");
    let dir = temp_dir("lexicon");
    let file = dir.join("mine.dict");
    std::fs::write(&file, "either EH1 DH ER0\n").unwrap();
    let out = seq2seq(&[
        "infer",
        "--model",
        &model,
        "--lexicon",
        &file.display().to_string(),
        "either",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "EH1 DH ER0");
    let out = seq2seq(&[
        "infer",
        "--model",
        &model,
        "--lexicon",
        "/nonexistent.dict",
        "x",
    ]);
    assert_fails_with(&out, "/nonexistent.dict");
}

/// `import-pytorch --check`: the imported model reproduces the logits PyTorch saved with it,
/// and a model checked against another model's outputs is refused, naming the difference.
#[test]
fn import_check_compares_logits_with_pytorch() {
    let dir = temp_dir("import-check");
    let check = |out: &str, io: &str| import_args(&dir.join(out), &["--check", &fixture(io)]);
    let out = check("same", "seq2seq_post.io.safetensors");
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("check: logits [3, 5, 13] match PyTorch's"),
        "{stdout}"
    );
    // The pre-norm model's outputs are not the post-norm model's.
    let out = check("other", "seq2seq_pre.io.safetensors");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("the logits differ from PyTorch's by up to"),
        "{err}"
    );
    // Not a fixture at all.
    let out = check("bad", "seq2seq_post.json");
    assert_fails_with(&out, "is not a safetensors file");
}

/// A G2P model with stress marks is also scored without them: references that differ from the
/// model's own outputs only in stress digits are all wrong with stress and all right without.
#[test]
fn eval_scores_stressed_g2p_with_and_without_stress() {
    let dir = temp_dir("stressless");
    let model = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("artifacts/g2p");
    let model = model.display().to_string();
    let words = ["cat", "dog", "transformer"];
    let mut args = vec!["infer", "--model", &model, "--no-lexicon"];
    args.extend(words);
    let out = seq2seq(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let outputs: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(outputs.len(), words.len());
    let mut dict = String::new();
    for (word, phones) in words.iter().zip(&outputs) {
        // Every stress digit moved to the next one (0 -> 1 -> 2 -> 0).
        let shifted: String = phones
            .chars()
            .map(|c| match c.to_digit(10) {
                Some(d) => char::from_digit((d + 1) % 3, 10).unwrap(),
                None => c,
            })
            .collect();
        assert_ne!(
            &shifted, phones,
            "{word}: the model's output carries stress"
        );
        dict.push_str(&format!("{word} {shifted}\n"));
    }
    let data = dir.join("shifted.dict");
    std::fs::write(&data, dict).unwrap();
    let json = dir.join("report.json");
    let out = seq2seq(&[
        "eval",
        "--model",
        &model,
        "--data",
        &data.display().to_string(),
        "--json",
        &json.display().to_string(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("WER 100.00%"), "{stdout}");
    assert!(
        stdout.contains("without stress: WER 0.00%  PER 0.00%"),
        "{stdout}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["counts"]["item_errors"], words.len());
    assert_eq!(report["stressless"]["item_errors"], 0);

    // A stressless model (g014b2b) has no second score.
    let g014b2b = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("artifacts/g014b2b");
    let out = seq2seq(&[
        "eval",
        "--model",
        &g014b2b.display().to_string(),
        "--data",
        &data.display().to_string(),
        "--json",
        &json.display().to_string(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("without stress"));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(report["stressless"].is_null());
}

/// The default preset batches by tokens; `--batch-size` asks for pair-count batches instead
/// (it must not be silently ignored), `--batch-tokens` changes the budget.
#[test]
fn batch_flags_override_the_presets_token_budget() {
    let dir = temp_dir("batch-flags");
    let cfg = dir.join("small.json");
    std::fs::write(
        &cfg,
        r#"{"model": {"d_model": 16, "n_heads": 2, "d_ff": 32, "n_encoder_layers": 1,
            "n_decoder_layers": 1},
            "data": {"synthetic_size": 200},
            "training": {"epochs": 1, "eval_examples": 0, "average_last": 0}}"#,
    )
    .unwrap();
    for (i, (flags, expected)) in [
        (vec![], serde_json::json!(2500)),
        (vec!["--batch-size", "16"], serde_json::Value::Null),
        (vec!["--batch-tokens", "300"], serde_json::json!(300)),
    ]
    .into_iter()
    .enumerate()
    {
        let out_dir = dir.join(format!("m{i}"));
        let cfg = cfg.display().to_string();
        let out = out_dir.display().to_string();
        let mut args = vec![
            "train", "--task", "copy", "--plain", "--config", &cfg, "--out", &out,
        ];
        args.extend(&flags);
        let run = seq2seq(&args);
        assert!(run.status.success(), "{flags:?}: {}", stderr(&run));
        let saved: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out_dir.join("config.json")).unwrap())
                .unwrap();
        assert_eq!(saved["training"]["batch_tokens"], expected, "{flags:?}");
        if flags.first() == Some(&"--batch-size") {
            assert_eq!(saved["training"]["batch_size"], 16);
        }
    }
    let out = seq2seq(&[
        "train",
        "--batch-size",
        "16",
        "--batch-tokens",
        "300",
        "--out",
        &dir.join("x").display().to_string(),
    ]);
    assert_fails_with(&out, "cannot be used with");
}

/// `attention` on a speech model draws the cross attention over an audio file; on a text-only
/// kind of attention it says what a speech model can draw.
#[test]
fn attention_on_a_speech_model_writes_the_picture() {
    let dir = temp_dir("speech-attention");
    let whisper = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/whisper");
    let model = dir.join("model");
    let out = seq2seq(&[
        "import-whisper",
        whisper.join("tiny-random").to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = dir.join("jfk.png");
    let audio = whisper.join("jfk_3s.wav");
    let out = seq2seq(&[
        "attention",
        "--model",
        model.to_str().unwrap(),
        audio.to_str().unwrap(),
        "--out",
        png.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("over 3.0 s of audio"));
    let img = image::open(&png).unwrap();
    assert!(img.width() > 300 && img.height() > 160);
    let out = seq2seq(&[
        "attention",
        "--model",
        model.to_str().unwrap(),
        audio.to_str().unwrap(),
        "--out",
        png.to_str().unwrap(),
        "--kind",
        "encoder",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--kind cross or all"));
}

/// `bench --speech-only` without a reference engine: ours timed per beam size through
/// `transcribe --stats` child processes, the table printed and the JSON written.
#[test]
fn bench_speech_row_times_transcription() {
    let dir = temp_dir("bench-speech");
    let whisper = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/whisper");
    let model = dir.join("model");
    let out = seq2seq(&[
        "import-whisper",
        whisper.join("tiny-random").to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = dir.join("bench.json");
    let out = seq2seq(&[
        "bench",
        "--speech-only",
        "--speech-model",
        model.to_str().unwrap(),
        "--speech-files",
        whisper.join("jfk_3s.wav").to_str().unwrap(),
        "--no-ctranslate2",
        "--speech-rounds",
        "1",
        "--speech-beams",
        "1,2",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("beam 1, 1 files") && stdout.contains("beam 2, 1 files"),
        "{stdout}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = report["speech"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        assert!(row["seq2seq_seconds"].as_f64().unwrap() > 0.0);
        assert!(row["seq2seq_peak_mib"].as_f64().unwrap() > 1.0);
        assert!((row["audio_seconds"].as_f64().unwrap() - 3.0).abs() < 1e-6);
        assert!(row["identical"].is_null() && row["reference"].is_null());
    }
}

/// `--split-sentences`: a paragraph is translated sentence by sentence and joined back on its
/// line, equal to translating its sentences as lines of their own; a blank line between
/// paragraphs stays an empty line; --nbest is refused with it.
#[test]
fn split_sentences_translates_paragraphs_as_their_sentences() {
    use std::io::Write;
    let model = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("artifacts/multi30k-en-de");
    let run = |input: &str, extra: &[&str]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_seq2seq"))
            .args(["infer", "--model"])
            .arg(&model)
            .args(extra)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let alone = run(
        "A man is riding a bicycle.\nTwo dogs play in the snow.\nA woman is singing.\n",
        &["--beam", "1"],
    );
    assert!(alone.status.success(), "{}", stderr(&alone));
    let alone: Vec<String> = String::from_utf8_lossy(&alone.stdout)
        .lines()
        .map(String::from)
        .collect();
    let split = run(
        "A man is riding a bicycle. Two dogs play in the snow.\n\nA woman is singing.\n",
        &["--beam", "1", "--split-sentences"],
    );
    assert!(split.status.success(), "{}", stderr(&split));
    let stdout = String::from_utf8_lossy(&split.stdout).to_string();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout:?}");
    assert_eq!(lines[0], format!("{} {}", alone[0], alone[1]));
    assert!(lines[1].is_empty());
    assert_eq!(lines[2], alone[2]);
    let refused = run(
        "A man.\n",
        &["--split-sentences", "--beam", "4", "--nbest", "2"],
    );
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("--split-sentences"),
        "{}",
        stderr(&refused)
    );
}

/// The shipped translation model's length limit from the command line: `--max-len-a 0
/// --max-len-b 3` cuts every output at 3 pieces (`--json` says it did not finish), the saved
/// limit (1.5 n + 10) leaves a short caption alone, and bad values are errors naming the rule.
#[test]
fn the_length_limit_flags_cut_translations_and_bad_values_are_named() {
    let model = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("artifacts/multi30k-en-de");
    let model = model.display().to_string();
    let caption = "A little girl in a pink dress is climbing the stairs of a big house.";
    let full = seq2seq(&["infer", "--model", &model, "--json", caption]);
    assert!(full.status.success(), "{}", stderr(&full));
    let full: serde_json::Value = serde_json::from_slice(&full.stdout).unwrap();
    let cut = seq2seq(&[
        "infer",
        "--model",
        &model,
        "--json",
        "--max-len-a",
        "0",
        "--max-len-b",
        "3",
        caption,
    ]);
    assert!(cut.status.success(), "{}", stderr(&cut));
    let cut: serde_json::Value = serde_json::from_slice(&cut.stdout).unwrap();
    let (full_text, cut_text) = (
        full["answers"][0]["text"].as_str().unwrap(),
        cut["answers"][0]["text"].as_str().unwrap(),
    );
    assert!(full_text.split(' ').count() > 6, "{full_text}");
    // 3 pieces: at most 3 words, and unfinished.
    assert!(cut_text.split(' ').count() <= 3, "{cut_text}");
    assert!(!cut_text.is_empty());
    assert_eq!(
        cut["answers"][0]["finished"],
        serde_json::json!(false),
        "{cut}"
    );
    for (flag, needle) in [
        ("--max-len-a=-1", "length limit's factor"),
        ("--repetition-penalty=0", "repetition penalty"),
    ] {
        let out = seq2seq(&["infer", "--model", &model, flag, caption]);
        assert!(!out.status.success());
        assert!(stderr(&out).contains(needle), "{flag}: {}", stderr(&out));
    }
}

//! Translation end to end: subword vocabularies learned from parallel files, a tiny model that
//! learns a toy corpus, fine-tuning with `--init`, the errors of real corpora, streaming
//! `infer`, and the shipped Multi30k model.

use crate::common;

use burn::backend::{Autodiff, NdArray};
use common::{assert_fails_with, plain_options, TempDir};
use seq2seq::config::{ExperimentConfig, Preset};
use seq2seq::data::subword::{Subword, SubwordKind};
use seq2seq::data::{TaskKind, Tokenization};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

type B = NdArray;
type AD = Autodiff<B>;

fn seq2seq(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_seq2seq"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run seq2seq")
}

/// A toy English -> German corpus with a German word order of its own (the verb moves to the
/// end after "heute"): every combination of 3 x 8 x 8 x 6 words, one sentence a line.
fn toy_corpus(dir: &Path) -> (PathBuf, PathBuf) {
    let dets = [("the", "der"), ("a", "ein"), ("one", "ein")];
    let adjs = [
        ("red", "rote"),
        ("small", "kleine"),
        ("old", "alte"),
        ("big", "große"),
        ("young", "junge"),
        ("happy", "fröhliche"),
        ("tired", "müde"),
        ("brown", "braune"),
    ];
    let nouns = [
        ("dog", "Hund"),
        ("man", "Mann"),
        ("cat", "Kater"),
        ("boy", "Junge"),
        ("horse", "Hengst"),
        ("bird", "Vogel"),
        ("farmer", "Bauer"),
        ("teacher", "Lehrer"),
    ];
    let verbs = [
        ("runs", "läuft"),
        ("sleeps", "schläft"),
        ("sings", "singt"),
        ("eats", "isst"),
        ("waits", "wartet"),
        ("swims", "schwimmt"),
    ];
    let (mut en, mut de) = (String::new(), String::new());
    for (d, dd) in dets {
        for (a, aa) in adjs {
            for (n, nn) in nouns {
                for (v, vv) in verbs {
                    en.push_str(&format!("today {d} {a} {n} {v} .\n"));
                    de.push_str(&format!("heute {vv} {dd} {aa} {nn} .\n"));
                }
            }
        }
    }
    let (src, tgt) = (dir.join("toy.en"), dir.join("toy.de"));
    std::fs::write(&src, en).unwrap();
    std::fs::write(&tgt, de).unwrap();
    (src, tgt)
}

/// The tiny preset on the toy corpus with a joint unigram vocabulary.
fn toy_config(src: &Path, tgt: &Path, epochs: usize) -> ExperimentConfig {
    let mut config = ExperimentConfig::preset(Preset::Tiny);
    config.data.task = TaskKind::Tsv;
    config.data.src_path = Some(src.to_path_buf());
    config.data.tgt_path = Some(tgt.to_path_buf());
    config.data.src_tokens = Tokenization::Unigram;
    config.data.tgt_tokens = Tokenization::Unigram;
    config.data.vocab_size = 120;
    config.data.dev_fraction = 0.1;
    config.data.test_fraction = 0.0;
    config.model.share_embeddings = true;
    config.model.tie_generator = true;
    config.training.epochs = epochs;
    config.training.patience = 0;
    config.training.eval_examples = 200;
    config
}

#[test]
fn a_tiny_subword_model_learns_a_toy_corpus_and_translates_unseen_sentences() {
    let dir = TempDir::new("translation", "toy");
    let (src, tgt) = toy_corpus(&dir);
    let report = seq2seq::train::run::<AD>(
        toy_config(&src, &tgt, 16),
        &plain_options(&dir, false),
        Default::default(),
    )
    .unwrap();
    // Dev sentences are word combinations never seen in training.
    let exact = report.dev_exact_match.unwrap();
    assert!(exact >= 0.85, "dev exact match {exact}");
    let model = dir.join("model");
    assert!(model.join("tokenizer.json").is_file());
    let out = seq2seq(&[
        "--backend",
        "ndarray",
        "infer",
        "--model",
        model.to_str().unwrap(),
        "today the happy farmer swims .",
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("heute ") && text.contains("fröhliche Bauer"),
        "{text}"
    );

    // Fine-tuning starts from the model's weights: with a learning rate of ~0 the weights
    // stay the model's, where a fresh start would be far from them.
    let mut config = toy_config(&src, &tgt, 1);
    config.optimizer.noam_factor = 1e-12;
    let config = seq2seq::train::init_config(config, &model, None).unwrap();
    let mut options = plain_options(&dir.join("tuned"), false);
    options.init = Some(model.clone());
    let tuned = seq2seq::train::run::<AD>(config, &options, Default::default()).unwrap();
    assert!(
        (tuned.dev_exact_match.unwrap() - exact).abs() < 1e-9,
        "{tuned:?}"
    );
    let weights = |dir: &Path| std::fs::read(dir.join("model.safetensors")).unwrap();
    let (a, b) = (weights(&model), weights(&dir.join("tuned/model")));
    let a = safetensors::SafeTensors::deserialize(&a).unwrap();
    let b = safetensors::SafeTensors::deserialize(&b).unwrap();
    let mut largest = 0f32;
    for (name, view) in a.tensors() {
        let other = b.tensor(&name).unwrap();
        let floats = |d: &[u8]| -> Vec<f32> {
            d.chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect()
        };
        for (x, y) in floats(view.data()).iter().zip(floats(other.data())) {
            largest = largest.max((x - y).abs());
        }
    }
    assert!(largest < 1e-5, "weights moved by {largest}");

    // A config whose model does not fit the directory's is refused, naming the field.
    let overrides = serde_json::json!({ "d_model": 32 });
    let err = seq2seq::train::init_config(toy_config(&src, &tgt, 1), &model, Some(&overrides))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("model.d_model = 32") && err.contains("has 64"),
        "{err}"
    );
    let err = seq2seq::train::init_config(toy_config(&src, &tgt, 1), &dir, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a model directory"), "{err}");
    let cli = seq2seq(&[
        "train",
        "--src",
        src.to_str().unwrap(),
        "--tgt",
        tgt.to_str().unwrap(),
        "--init",
        dir.to_str().unwrap(),
        "--out",
        dir.join("x").to_str().unwrap(),
    ]);
    assert_fails_with(&cli, "not a model directory");
}

#[test]
fn parallel_file_faults_are_one_clear_line() {
    let dir = TempDir::new("translation", "faults");
    let write = |name: &str, text: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let train = |src: &str, tgt: &str, extra: &[&str]| {
        let out_dir = dir.join("out");
        let mut args = vec![
            "--backend",
            "ndarray",
            "train",
            "--preset",
            "tiny",
            "--epochs",
            "1",
            "--plain",
            "--src",
            src,
            "--tgt",
            tgt,
            "--out",
            out_dir.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        seq2seq(&args)
    };
    let src = write("a.en", b"a b\nc d\ne f\n");
    let tgt = write("a.de", b"x y\nz w\n");
    let out = train(&src, &tgt, &[]);
    assert_fails_with(&out, "a.en has 3 lines but");
    assert_fails_with(&out, "a.de has 2");
    let errors = common::stderr(&out);
    assert_eq!(
        errors.lines().filter(|l| l.starts_with("error")).count(),
        1,
        "{errors}"
    );
    assert!(!errors.contains("panicked"), "{errors}");

    let tgt = write("b.de", b"x y\n\nv u\n");
    assert_fails_with(&train(&src, &tgt, &[]), "b.de:2: empty line");
    let tgt = write("c.de", b"x y\nz \xff\nv u\n");
    assert_fails_with(&train(&src, &tgt, &[]), "c.de:2: not valid UTF-8");
}

/// Where the Multi30k files are on a development machine (not in CI).
fn multi30k() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/multi30k");
    dir.join("train.de").is_file().then_some(dir)
}

#[test]
fn multi30k_round_trips_through_its_learned_vocabulary() {
    let Some(dir) = multi30k() else {
        eprintln!("skipped: ../shared/data/multi30k is not on this machine");
        return;
    };
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    let train: Vec<String> = read("train.en")
        .lines()
        .chain(read("train.de").lines())
        .map(|l| l.trim().to_string())
        .collect();
    let sub = Subword::train(SubwordKind::Unigram, 8000, &train, false).unwrap();
    let again = Subword::train(SubwordKind::Unigram, 8000, &train, false).unwrap();
    let (a, b) = (sub.vocab().symbols(), again.vocab().symbols());
    let differ: Vec<_> = (0..a.len().max(b.len()))
        .filter(|&i| a.get(i) != b.get(i))
        .map(|i| (i, a.get(i), b.get(i)))
        .take(10)
        .collect();
    assert!(
        differ.is_empty(),
        "learning is not deterministic: {differ:?}"
    );
    let mut lines = 0;
    for file in ["train.en", "train.de", "val.en", "val.de"] {
        for line in read(file).lines().map(str::trim).filter(|l| !l.is_empty()) {
            let pieces = sub.pieces(line);
            assert_eq!(pieces, again.pieces(line));
            assert_eq!(sub.decode(&pieces), sub.normalize(line), "{file}: {line}");
            lines += 1;
        }
    }
    assert!(lines > 60_000, "{lines}");
}

/// Wait for `child` and return its peak resident memory in KiB (its own, from `wait4`).
fn wait_for_peak_kib(child: std::process::Child) -> i64 {
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    assert_eq!(unsafe { libc::wait4(pid, &mut status, 0, &mut usage) }, pid);
    assert!(libc::WIFEXITED(status), "infer did not exit normally");
    usage.ru_maxrss
}

#[test]
fn infer_streams_a_million_lines_in_order_with_flat_memory() {
    let dir = TempDir::new("translation", "stream");
    let mut config = common::tiny_copy_run(2000);
    config.training.epochs = 1;
    seq2seq::train::run::<AD>(config, &plain_options(&dir, false), Default::default()).unwrap();
    let model = dir.join("model");
    // Distinct short lines (letters of the copy task's alphabet), some not decodable.
    let run = |lines: usize| -> (Vec<u8>, i64) {
        let input = dir.join(format!("in-{lines}.txt"));
        let mut text = String::with_capacity(lines * 6);
        for i in 0..lines {
            let line = match i % 1000 {
                999 => "z".to_string(), // not in the vocabulary: an empty output line
                _ => format!(
                    "{}{}",
                    ["a", "b", "c"][i % 3],
                    ["d", "e", "f", "ab"][i / 3 % 4]
                ),
            };
            text.push_str(&line);
            text.push('\n');
        }
        std::fs::write(&input, text).unwrap();
        let output = dir.join(format!("out-{lines}.txt"));
        let child = Command::new(env!("CARGO_BIN_EXE_seq2seq"))
            .args(["infer", "--model"])
            .arg(&model)
            .stdin(std::fs::File::open(&input).unwrap())
            .stdout(std::fs::File::create(&output).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let peak = wait_for_peak_kib(child);
        (std::fs::read(&output).unwrap(), peak)
    };
    let (small, small_peak) = run(20_000);
    let (big, big_peak) = run(1_000_000);
    let big_lines: Vec<&[u8]> = big.split(|&b| b == b'\n').collect();
    assert_eq!(big_lines.len(), 1_000_001, "one output line per input line");
    assert_eq!(
        &big[..small.len()],
        &small[..],
        "the same lines come out the same, in order"
    );
    assert_eq!(big_lines[999], b"");
    assert_eq!(big_lines[999_999], b"");
    assert!(!big_lines[999_998].is_empty());
    eprintln!("peak RSS: {small_peak} KiB for 20,000 lines, {big_peak} KiB for 1,000,000");
    assert!(
        big_peak < small_peak + 64 * 1024,
        "peak memory grew from {small_peak} KiB to {big_peak} KiB"
    );
}

#[test]
fn the_shipped_multi30k_model_translates() {
    let model = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("artifacts/multi30k-en-de");
    let out =
        Command::new(env!("CARGO_BIN_EXE_seq2seq"))
            .args(["infer", "--model"])
            .arg(&model)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(
                    b"A man is riding a bicycle.\nTwo dogs are playing in the snow.\n",
                )?;
                child.wait_with_output()
            })
            .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].contains("Mann") && lines[0].contains("Fahrrad"),
        "{text}"
    );
    assert!(
        lines[1].contains("Hunde") && lines[1].contains("Schnee"),
        "{text}"
    );
}

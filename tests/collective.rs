//! Training across machines (`train --nodes`), as processes on 127.0.0.1: an orchestrator and
//! node processes of the binary, each on a free port, each bounded in time.

mod common;

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use burn::train::{ExecutionStrategy, TrainingStrategy};
use common::TempDir;
use seq2seq::config::{ExperimentConfig, Preset};
use seq2seq::data::batcher::EncodedPair;
use seq2seq::data::TaskKind;
use seq2seq::train::strategy::Components;
use seq2seq::train::{Strategy, TrainOptions};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

type B = seq2seq::backend::Flex;
type AB = burn::backend::Autodiff<B>;

/// A child process killed when dropped (also when a test fails).
struct Proc(Option<Child>);

impl Proc {
    /// Waits at most `limit` for the process to end; kills it and fails the test past that.
    fn wait(mut self, what: &str, limit: Duration) -> Output {
        let mut child = self.0.take().expect("running");
        let start = Instant::now();
        while child.try_wait().expect("wait").is_none() {
            if start.elapsed() > limit {
                let _ = child.kill();
                let out = child.wait_with_output().expect("output");
                panic!(
                    "{what} still running after {limit:?}; stdout:\n{}\nstderr:\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        child.wait_with_output().expect("output")
    }

    fn kill(mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// `seq2seq orchestrator` on a free port, once it accepts connections.
fn orchestrator() -> (Proc, u16) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_seq2seq"))
        .args(["orchestrator", "--port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("orchestrator starts");
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the orchestrator did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (Proc(Some(child)), port)
}

/// What every node of a test is given.
struct Group<'a> {
    config: &'a Path,
    nodes: u32,
    orchestrator: u16,
    timeout_s: u32,
}

impl Group<'_> {
    /// `train` as node `rank` of the group, writing to `out`, on its own free port.
    fn node(&self, rank: u32, out: &Path, extra: &[&str]) -> Proc {
        let child = Command::new(env!("CARGO_BIN_EXE_seq2seq"))
            .args(["train", "--task", "reverse", "--preset", "tiny", "--plain"])
            .arg("--config")
            .arg(self.config)
            .arg("--out")
            .arg(out)
            .args([
                "--nodes",
                &self.nodes.to_string(),
                "--rank",
                &rank.to_string(),
            ])
            .args([
                "--orchestrator",
                &format!("ws://127.0.0.1:{}", self.orchestrator),
                "--node-address",
                &format!("ws://127.0.0.1:{}", free_port()),
                "--node-timeout",
                &self.timeout_s.to_string(),
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node starts");
        Proc(Some(child))
    }

    /// Nodes 0 and 1 writing to `out`, run to the end (node 0 within `limit`, node 1 within a
    /// minute after it); both must succeed.
    fn run_both(&self, out: &Path, extra: &[&str], limit: Duration) -> (Output, Output) {
        let n0 = self.node(0, out, extra);
        let n1 = self.node(1, out, extra);
        let (o0, o1) = (
            n0.wait("node 0", limit),
            n1.wait("node 1", Duration::from_secs(60)),
        );
        // Both nodes' output on a failure: one node's error is often the other's doing.
        assert!(
            o0.status.success() && o1.status.success(),
            "node 0 ({}):\n{}\nnode 1 ({}):\n{}",
            o0.status,
            text(&o0),
            o1.status,
            text(&o1)
        );
        (o0, o1)
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The weight hashes a node printed after each epoch.
fn hashes(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("weights agree across"))
        .map(|l| {
            l.rsplit("hash ")
                .next()
                .unwrap()
                .trim_end_matches(')')
                .to_string()
        })
        .collect()
}

fn write_config(dir: &Path, json: &str) -> PathBuf {
    let path = dir.join("c.json");
    std::fs::write(&path, json).unwrap();
    path
}

/// The config the binary builds from `--task reverse --preset tiny --config FILE`.
fn resolved_config(json: &str) -> ExperimentConfig {
    let mut config = seq2seq::cli_config::overlay(Preset::Tiny, json, "test").unwrap();
    config.data.task = TaskKind::Reverse;
    config
}

/// A one-device strategy that trains on a rearrangement of the batches.
struct Rearranged {
    arrange: fn(Vec<Vec<EncodedPair>>) -> Vec<Vec<EncodedPair>>,
}

impl Strategy<AB> for Rearranged {
    fn main_device(&self) -> burn::tensor::Device<AB> {
        Default::default()
    }
    fn describe(&self) -> Option<String> {
        None
    }
    fn training_strategy(&self) -> TrainingStrategy<Components<AB>> {
        TrainingStrategy::Default(ExecutionStrategy::SingleDevice(Default::default()))
    }
    fn shard(&self, batches: Vec<Vec<EncodedPair>>) -> Vec<Vec<EncodedPair>> {
        (self.arrange)(batches)
    }
}

/// Batches 2j and 2j+1 as one: what the two nodes train on together at each step.
fn concatenated_pairs(batches: Vec<Vec<EncodedPair>>) -> Vec<Vec<EncodedPair>> {
    batches.chunks_exact(2).map(|c| c.concat()).collect()
}

/// Node 0's shard alone (no all-reduce).
fn even_batches(batches: Vec<Vec<EncodedPair>>) -> Vec<Vec<EncodedPair>> {
    let n = batches.len() / 2;
    batches.into_iter().step_by(2).take(n).collect()
}

fn train_in_process(json: &str, dir: &Path, name: &str, strategy: &Rearranged) -> PathBuf {
    let out = dir.join(name);
    let options = TrainOptions {
        out: out.clone(),
        run_dir: dir.join("runs").join(name),
        resume: false,
        restart: true,
        plain: true,
        interrupter: None,
        init: None,
        distill: None,
    };
    seq2seq::train::run_with::<AB>(resolved_config(json), &options, strategy).unwrap();
    out
}

struct Collect(Vec<f32>);

impl<Bk: Backend> ModuleVisitor<Bk> for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<Bk, D>>) {
        self.0
            .extend(param.val().into_data().to_vec::<f32>().unwrap());
    }
}

fn weights(model_dir: &Path) -> Vec<f32> {
    let loaded = seq2seq::artifact::load::<B>(model_dir, &Default::default()).unwrap();
    let mut c = Collect(Vec::new());
    loaded.model.visit(&mut c);
    c.0
}

fn mean_diff(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from((x - y).abs()))
        .sum::<f64>()
        / a.len() as f64
}

#[test]
fn two_nodes_keep_equal_weights_and_step_as_one_node_on_both_batches() {
    let dir = TempDir::new("collective", "equal");
    // 1,600 training pairs: 25 batches, 12 steps per node per epoch; no dropout, so that the
    // one-node run can be compared step for step.
    // Strings of one length: every batch has the same target length, so concatenated
    // batches need no extra padding.
    let json = r#"{"model": {"dropout": 0.0},
                   "data": {"synthetic_size": 2000, "synthetic_min_len": 8, "synthetic_max_len": 8},
                   "training": {"epochs": 2, "patience": 0, "eval_examples": 0}}"#;
    let config = write_config(&dir, json);
    let (_orch, port) = orchestrator();
    let group = Group {
        config: &config,
        nodes: 2,
        orchestrator: port,
        timeout_s: 60,
    };
    let out = dir.join("two");
    let (o0, o1) = group.run_both(&out, &[], Duration::from_secs(180));
    // Bitwise equal weights on both nodes after each epoch (FNV hash of every f32's bits).
    let (h0, h1) = (hashes(&o0), hashes(&o1));
    assert_eq!(h0.len(), 2, "{}", text(&o0));
    assert_eq!(h0, h1);
    // Only rank 0 wrote the model and checkpoints; node 1 logged beside them.
    assert!(out.join("config.json").is_file());
    assert!(dir.join("runs/two/node-1").is_dir());

    // One node whose every batch is the two nodes' batches of that step concatenated: the
    // position-weighted mean gradient is its gradient up to float32 summation order (other
    // batch shapes, other reduction orders: ~1e-7 relative). Adam divides each step by the
    // gradient's running RMS, so where a gradient is near zero that noise can move a weight by
    // up to the learning rate (<= 2.6e-4 here) per step: the largest difference may reach
    // ~1e-3 over 24 steps, while the typical one stays at float32 noise.
    let together = train_in_process(
        json,
        &dir,
        "together",
        &Rearranged {
            arrange: concatenated_pairs,
        },
    );
    let alone = train_in_process(
        json,
        &dir,
        "alone",
        &Rearranged {
            arrange: even_batches,
        },
    );
    let (two, together, alone) = (weights(&out), weights(&together), weights(&alone));
    let (close, close_mean) = (
        common::max_diff(&two, &together),
        mean_diff(&two, &together),
    );
    let (apart, apart_mean) = (common::max_diff(&two, &alone), mean_diff(&two, &alone));
    let report = format!(
        "vs one node on both batches: max {close:e}, mean {close_mean:e}; vs node 0's batches alone: max {apart:e}, mean {apart_mean:e}"
    );
    assert!(close < 1e-3 && close_mean < 1e-6, "{report}");
    // Without the all-reduce (node 0's batches alone) the weights are far apart: the
    // comparison above can fail.
    assert!(apart_mean > 1000.0 * close_mean, "{report}");
}

#[test]
fn two_nodes_learn_the_reverse_task_as_one_node_does() {
    let dir = TempDir::new("collective", "reverse");
    // The README's quick check (`train --task reverse --preset tiny`: one node, batches of 64,
    // >= 99% exact match with any seed, tests/training.rs) on two nodes with 32 pairs each:
    // the same global batch, so the same number of steps and the same schedule.
    let config = write_config(&dir, r#"{"training": {"batch_size": 32}}"#);
    let (_orch, port) = orchestrator();
    let group = Group {
        config: &config,
        nodes: 2,
        orchestrator: port,
        timeout_s: 120,
    };
    let out = dir.join("m");
    let (o0, o1) = group.run_both(&out, &[], Duration::from_secs(600));
    let said = text(&o0);
    let line = said
        .lines()
        .find(|l| l.starts_with("dev exact match"))
        .unwrap_or_else(|| panic!("no dev line:\n{said}"));
    let pct: f64 = line
        .split(": ")
        .nth(1)
        .and_then(|v| v.split('%').next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(pct >= 99.0, "two nodes: {line}");
    assert_eq!(hashes(&o0), hashes(&o1));
}

#[test]
fn a_lost_node_stops_the_other_with_an_error_and_the_group_resumes() {
    let dir = TempDir::new("collective", "kill");
    let json = r#"{"data": {"synthetic_size": 3000}, "training": {"epochs": 3, "patience": 0, "eval_examples": 0}}"#;
    let config = write_config(&dir, json);
    let out = dir.join("m");
    let checkpoint = dir.join("runs/m/checkpoint/model-1.mpk");
    // The epoch-1 checkpoint's three files, the last written last.
    let epoch_1 = ["model", "optim", "scheduler"]
        .map(|kind| dir.join(format!("runs/m/checkpoint/{kind}-1.mpk")));
    {
        let (_orch, port) = orchestrator();
        // 20 s for every wait: node 1 may start seconds after node 0 while the rest of the
        // suite loads the machine; a lost peer is seen within a second (a reset connection),
        // or at the latest by the watchdog after these 20 s.
        let group = Group {
            config: &config,
            nodes: 2,
            orchestrator: port,
            timeout_s: 20,
        };
        let n0 = group.node(0, &out, &[]);
        let n1 = group.node(1, &out, &[]);
        let start = Instant::now();
        // Node 1 dies as soon as the epoch-1 checkpoint is there, in epoch 2: a fixed delay
        // after it would, on a fast enough machine, let the run finish first.
        while !epoch_1.iter().all(|f| f.is_file()) {
            assert!(start.elapsed() < Duration::from_secs(120), "no checkpoint");
            std::thread::sleep(Duration::from_millis(20));
        }
        n1.kill();
        let killed = Instant::now();
        let o0 = n0.wait("node 0 after node 1 was killed", Duration::from_secs(60));
        assert!(!o0.status.success(), "{}", text(&o0));
        assert!(killed.elapsed() < Duration::from_secs(40));
        let said = text(&o0);
        assert!(
            said.contains("no answer from the other nodes") || said.contains("lost the connection"),
            "{said}"
        );
    }
    // Rank 0's checkpoint of epoch 1 is intact: the whole group resumes from it and finishes.
    assert!(checkpoint.is_file());
    let (_orch, port) = orchestrator();
    let group = Group {
        config: &config,
        nodes: 2,
        orchestrator: port,
        timeout_s: 60,
    };
    let (o0, o1) = group.run_both(&out, &["--resume"], Duration::from_secs(180));
    assert!(text(&o0).contains("resuming from the checkpoint of epoch"));
    let (h0, h1) = (hashes(&o0), hashes(&o1));
    assert!(!h0.is_empty());
    assert_eq!(h0, h1);
    assert!(dir.join("runs/m/checkpoint/model-3.mpk").is_file());
    assert!(out.join("config.json").is_file());
}

#[test]
fn misconfigured_nodes_get_clear_errors() {
    let dir = TempDir::new("collective", "errors");
    let config = write_config(
        &dir,
        r#"{"data": {"synthetic_size": 600}, "training": {"epochs": 1, "eval_examples": 0}}"#,
    );
    let limit = Duration::from_secs(60);

    // No orchestrator at that port.
    let group = Group {
        config: &config,
        nodes: 2,
        orchestrator: free_port(),
        timeout_s: 10,
    };
    let o = group
        .node(0, &dir.join("a"), &[])
        .wait("node, no orchestrator", limit);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("cannot reach the orchestrator"),
        "{}",
        text(&o)
    );

    let (_orch, port) = orchestrator();
    // A rank outside 0..nodes.
    let group = Group {
        config: &config,
        nodes: 2,
        orchestrator: port,
        timeout_s: 10,
    };
    let o = group
        .node(2, &dir.join("b"), &[])
        .wait("node, rank 2 of 2", limit);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("--rank 2 is out of range for --nodes 2"),
        "{}",
        text(&o)
    );

    // Two nodes claiming rank 0.
    let a = group.node(0, &dir.join("c"), &[]);
    let b = group.node(0, &dir.join("d"), &[]);
    let (oa, ob) = (a.wait("node a", limit), b.wait("node b", limit));
    for o in [&oa, &ob] {
        assert!(!o.status.success());
        assert!(
            text(o).contains("two nodes claim the same rank"),
            "{}",
            text(o)
        );
    }
    drop(_orch);

    // Nodes that disagree on the number of nodes.
    let (_orch, port) = orchestrator();
    let two = Group {
        config: &config,
        nodes: 2,
        orchestrator: port,
        timeout_s: 10,
    };
    let three = Group { nodes: 3, ..two };
    let a = two.node(0, &dir.join("e"), &[]);
    std::thread::sleep(Duration::from_millis(500));
    let b = three.node(1, &dir.join("f"), &[]);
    let (oa, ob) = (a.wait("node of 2", limit), b.wait("node of 3", limit));
    assert!(!oa.status.success() && !ob.status.success());
    // The node that registers second is refused; the first waits for its group until its
    // timeout (usually the node of 2, started first).
    let (ta, tb) = (text(&oa), text(&ob));
    let refused = "is --nodes the same on every node?";
    let waited = "no answer from the other nodes";
    assert!(
        (tb.contains(refused) && ta.contains(waited))
            || (ta.contains(refused) && tb.contains(waited)),
        "node of 2:\n{ta}\nnode of 3:\n{tb}"
    );
}

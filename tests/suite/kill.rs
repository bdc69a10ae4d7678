//! Kill training with SIGKILL at random moments, many times: every time, what is on disk
//! still resumes, and the run finally completes with a model that loads.

use crate::common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

type B = seq2seq::backend::NdArray;

#[test]
fn sigkill_at_random_moments_never_loses_the_run() {
    let dir = common::TempDir::new("kill", "run");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("c.json");
    // Short epochs (about a second) so kills land in training, validation and checkpointing.
    std::fs::write(
        &config,
        r#"{"data": {"synthetic_size": 1500}, "training": {"epochs": 12, "patience": 0, "eval_examples": 0}}"#,
    )
    .unwrap();
    let out: PathBuf = dir.join("model");
    let run_dir = dir.join("runs/model");
    let train = |resume: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_seq2seq"));
        cmd.args([
            "train", "--task", "copy", "--preset", "tiny", "--plain", "--config",
        ])
        .arg(&config)
        .arg("--out")
        .arg(&out)
        .arg(if resume { "--resume" } else { "--restart" })
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        cmd
    };

    // A fixed sequence of pseudo-random delays (SplitMix64), so a failure can be replayed.
    // Killing goes on until enough kills and resumes happened, whatever the machine's speed:
    // on a fast machine a run may finish before its kill, and the next one starts over.
    let mut rng = seq2seq::rng::SplitMix64(2024);
    let mut kills = 0;
    let mut resumed = 0;
    let mut attempts = 0;
    while (kills < 5 || resumed < 3) && attempts < 60 {
        attempts += 1;
        let last = seq2seq::train::last_checkpoint(&run_dir);
        let resume = last.is_some() && last < Some(12);
        let mut child = train(resume).spawn().unwrap();
        let delay = Duration::from_millis(300 + rng.below(2500) as u64);
        let started = Instant::now();
        while started.elapsed() < delay {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        let status = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&status.stderr);
        assert!(!stderr.contains("panicked"), "a run panicked:\n{stderr}");
        resumed += usize::from(resume);
    }
    assert!(
        kills >= 5,
        "only {kills} runs were killed in {attempts} attempts"
    );
    assert!(
        resumed >= 3,
        "only {resumed} runs resumed in {attempts} attempts"
    );

    // Finish the run: it resumes from whatever the kills left and writes a model that loads.
    let resume = seq2seq::train::last_checkpoint(&run_dir).is_some();
    let done = train(resume).output().unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert_eq!(seq2seq::train::last_checkpoint(&run_dir), Some(12));
    assert!(seq2seq::train::checkpoint_is_complete(&run_dir, 12));
    seq2seq::artifact::load::<B>(&out, &Default::default()).unwrap();
}

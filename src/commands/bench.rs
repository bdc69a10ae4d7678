//! `seq2seq bench`: the reference configuration, the G2P workload and the inference section
//! against PyTorch and CTranslate2, printed as one table (and JSON).

use super::describe;
use anyhow::{Context, Result};
use seq2seq::backend::BackendChoice;
use seq2seq::infer::Predictor;
use seq2seq::with_backend;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// A tiny configuration (smoke test) instead of the reference one.
    #[arg(long)]
    pub quick: bool,
    /// Python interpreter with torch installed.
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// Threads for PyTorch (`torch.set_num_threads`); OMP_WAIT_POLICY=PASSIVE is set so idle
    /// threads do not spin on a busy machine.
    #[arg(long, default_value_t = 2)]
    pub torch_threads: usize,
    /// PyTorch's device: `cpu`, or `cuda` to compare a GPU backend with PyTorch on CUDA.
    #[arg(long, default_value = "cpu")]
    pub torch_device: String,
    /// Skip the PyTorch side.
    #[arg(long)]
    pub no_pytorch: bool,
    /// Skip the anchor (Burn's built-in `burn::nn::transformer` at the same sizes).
    #[arg(long)]
    pub no_builtin: bool,
    /// Also write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Training batches timed to estimate the G2P epoch time of the `compact` and `small`
    /// presets on the vendored CMUdict (0 = skip; skipped with --quick).
    #[arg(long, default_value_t = 24)]
    pub epoch_batches: usize,
    /// The G2P workload: the training recipe (a config file over the compact preset) whose
    /// model and batches are timed on both sides.
    #[arg(long, default_value = "examples/g014b2b.json")]
    pub g2p_config: PathBuf,
    /// The G2P workload's data (default: the recipe's own, else the g014b2b training half in
    /// ../shared when present, else the vendored CMUdict).
    #[arg(long)]
    pub g2p_data: Option<PathBuf>,
    /// Batches of the G2P workload, spread over the length buckets (0 = skip it).
    #[arg(long, default_value_t = 32)]
    pub g2p_batches: usize,
    /// Only the G2P workload (no reference configuration, no epoch estimates).
    #[arg(long)]
    pub g2p_only: bool,
    /// The translation workload: the MT recipe whose model and batches (joint subword
    /// vocabulary learned from the data) are timed on both sides.
    #[arg(long, default_value = "examples/multi30k.json")]
    pub mt_config: PathBuf,
    /// The translation workload's parallel files (default: Multi30k En->De in ../shared when
    /// present; without them the row is skipped).
    #[arg(long, requires = "mt_tgt")]
    pub mt_src: Option<PathBuf>,
    #[arg(long, requires = "mt_src")]
    pub mt_tgt: Option<PathBuf>,
    /// Batches of the translation workload (0 = skip it).
    #[arg(long, default_value_t = 32)]
    pub mt_batches: usize,
    /// Only the G2P and translation workloads.
    #[arg(long)]
    pub workloads_only: bool,
    /// Inference section: the trained model whose decoding is timed against CTranslate2 on
    /// the same weights (converted by scripts/ctranslate2_convert.py), or against transformers
    /// with --infer-hf.
    /// Repeat it for an ensemble (timed alone: no reference engine runs ensembles here).
    #[arg(long, default_value = "artifacts/g014b2b")]
    pub infer_model: Vec<PathBuf>,
    /// Ensemble weights, one per --infer-model (default: uniform).
    #[arg(long, value_delimiter = ',')]
    pub infer_weights: Option<Vec<f32>>,
    /// The Hugging Face Marian repository --infer-model was imported from (`import-marian`):
    /// the reference is then transformers' generate() on it (scripts/bench_transformers.py),
    /// and ours decodes with the model's saved generation settings.
    #[arg(long)]
    pub infer_hf: Option<PathBuf>,
    /// Inputs of the inference section, one a line (default: the model's dev split, then its
    /// training pairs; an imported model has none, so give one).
    #[arg(long)]
    pub infer_src: Option<PathBuf>,
    /// Inputs decoded in the inference section: the first of --infer-src, or of the model's
    /// dev split then training pairs (0 = skip the section; skipped with --quick unless
    /// --infer-only).
    #[arg(long, default_value_t = 1000)]
    pub infer_words: usize,
    /// Batch sizes of the inference section (0 = all words in one batch).
    #[arg(long, value_delimiter = ',', default_value = "1,64,0")]
    pub infer_batches: Vec<usize>,
    /// Beam sizes of the inference section (1 = greedy).
    #[arg(long, value_delimiter = ',', default_value = "1,5")]
    pub infer_beams: Vec<usize>,
    /// Only the inference section.
    #[arg(long)]
    pub infer_only: bool,
    /// Skip the reference engine in the inference section (ours only).
    #[arg(long, alias = "no-reference")]
    pub no_ctranslate2: bool,
    /// Threads on each side of the inference section: ours decodes this many batches at once,
    /// one thread each, CTranslate2 the same (inter_threads, one intra thread each),
    /// transformers gets them as torch's threads.
    #[arg(long, default_value_t = 2)]
    pub infer_threads: usize,
    /// Speech row: an imported Whisper model (`seq2seq import-whisper`) whose transcription is
    /// timed against CTranslate2 on the faster-whisper directory it came from (its
    /// `whisper.json` source, or --speech-reference). Without it the row is skipped.
    #[arg(long)]
    pub speech_model: Option<PathBuf>,
    /// The faster-whisper (CTranslate2) directory for the speech row's reference side.
    #[arg(long)]
    pub speech_reference: Option<PathBuf>,
    /// Audio files of the speech row (default: data/speech/jfk.wav and the LibriVox
    /// sentences, from scripts/fetch_whisper.sh).
    #[arg(long, num_args = 1..)]
    pub speech_files: Vec<PathBuf>,
    /// Beam sizes of the speech row.
    #[arg(long, value_delimiter = ',', default_value = "1,5")]
    pub speech_beams: Vec<usize>,
    /// Windows decoded together on both sides.
    #[arg(long, default_value_t = 4)]
    pub speech_batch: usize,
    /// Measurements per side and beam, alternating; the medians are reported.
    #[arg(long, default_value_t = 3)]
    pub speech_rounds: usize,
    /// Only the speech row.
    #[arg(long)]
    pub speech_only: bool,
    /// Skip the inference section's peak memory (each row decoded again by a child
    /// `seq2seq infer --stats`, so that the figure is the row's alone).
    #[arg(long)]
    pub no_peak_memory: bool,
}

/// How the inference section measures ours' peak memory per row: this binary's `infer` on the
/// same model (or ensemble) and backend.
fn peak_probe(
    backend: BackendChoice,
    args: &BenchArgs,
) -> Result<Option<seq2seq::bench::inference::PeakProbe>> {
    use clap::ValueEnum;
    if args.no_peak_memory {
        return Ok(None);
    }
    let program = std::env::current_exe().context("cannot find this binary for --stats")?;
    let backend = backend
        .to_possible_value()
        .context("the backend has no command-line name")?;
    let mut probe_args: Vec<std::ffi::OsString> = vec![
        "--backend".into(),
        backend.get_name().into(),
        "infer".into(),
    ];
    for model in &args.infer_model {
        probe_args.push("--model".into());
        probe_args.push(model.into());
    }
    if let Some(weights) = &args.infer_weights {
        let weights: Vec<String> = weights.iter().map(f32::to_string).collect();
        probe_args.push("--weights".into());
        probe_args.push(weights.join(",").into());
    }
    Ok(Some(seq2seq::bench::inference::PeakProbe {
        program,
        args: probe_args,
        threads: args.infer_threads.max(1),
    }))
}

/// A workload's recipe: a config file laid over the compact preset (`flag` names the option in
/// errors).
fn read_recipe(path: &std::path::Path, flag: &str) -> Result<seq2seq::config::ExperimentConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {flag} {}", path.display()))?;
    Ok(seq2seq::cli_config::overlay(
        seq2seq::config::Preset::Compact,
        &text,
        &path.display().to_string(),
    )?)
}

/// The G2P workload's recipe and data, as `bench` options say.
fn g2p_workload(args: &BenchArgs) -> Result<seq2seq::bench::g2p::G2pWorkload> {
    let mut config = read_recipe(&args.g2p_config, "--g2p-config")?;
    config.data.task = seq2seq::data::TaskKind::G2p;
    if let Some(path) = &args.g2p_data {
        config.data.path = Some(path.clone());
    } else if config.data.path.is_none() {
        let shared = PathBuf::from("../shared/data/g014b2b/g014b2b.train");
        if shared.exists() {
            config.data.path = Some(shared);
        } else {
            config.data.strip_stress = true;
        }
    }
    eprintln!(
        "G2P workload: {} on {}",
        args.g2p_config.display(),
        config
            .data
            .path
            .as_ref()
            .map_or("the vendored CMUdict".into(), |p| p.display().to_string())
    );
    seq2seq::bench::g2p::G2pWorkload::load(config, args.g2p_batches)
        .context("cannot load the G2P workload")
}

/// The translation workload's recipe and parallel files, as `bench` options say.
fn mt_workload(args: &BenchArgs) -> Result<seq2seq::bench::g2p::G2pWorkload> {
    let mut config = read_recipe(&args.mt_config, "--mt-config")?;
    config.data.task = seq2seq::data::TaskKind::Tsv;
    let shared = PathBuf::from("../shared/data/multi30k");
    let (src, tgt) = match (&args.mt_src, &args.mt_tgt) {
        (Some(src), Some(tgt)) => (src.clone(), tgt.clone()),
        _ => (shared.join("train.en"), shared.join("train.de")),
    };
    anyhow::ensure!(
        src.is_file() && tgt.is_file(),
        "no parallel files for the translation workload ({} is not here; give --mt-src and --mt-tgt)",
        src.display()
    );
    eprintln!(
        "translation workload: {} on {} / {}",
        args.mt_config.display(),
        src.display(),
        tgt.display()
    );
    (config.data.src_path, config.data.tgt_path) = (Some(src), Some(tgt));
    config.data.path = None;
    seq2seq::bench::g2p::G2pWorkload::load(config, args.mt_batches)
        .context("cannot load the translation workload")
}

/// How `bench` runs the PyTorch side.
fn pytorch_options(args: &BenchArgs) -> seq2seq::bench::pytorch::PytorchOptions {
    seq2seq::bench::pytorch::PytorchOptions {
        python: args.python.clone(),
        threads: args.torch_threads,
        device: args.torch_device.clone(),
    }
}

/// One row of the bench table; the last column is "how many times better": the throughput
/// ratio, or the time and memory ratio inverted.
fn bench_row(name: &str, ours: f64, theirs: Option<f64>, higher_is_better: bool) {
    let (t, ratio) = match theirs {
        Some(t) => {
            let ratio = if higher_is_better { ours / t } else { t / ours };
            (format!("{t:12.1}"), format!("{ratio:8.2}x"))
        }
        None => ("           -".into(), "       -".into()),
    };
    println!("{name:<28} {ours:12.1} {t} {ratio}");
}

fn bench_header() {
    println!(
        "{:<28} {:>12} {:>12} {:>9}",
        "", "seq2seq", "PyTorch", "better by"
    );
}

/// The G2P workload on both sides: prints its row and returns its JSON.
fn bench_g2p(backend: BackendChoice, args: &BenchArgs) -> Result<serde_json::Value> {
    bench_workload(backend, args, "G2P", &args.g2p_config, g2p_workload(args)?)
}

/// The translation workload on both sides: prints its row and returns its JSON.
fn bench_mt(backend: BackendChoice, args: &BenchArgs) -> Result<serde_json::Value> {
    bench_workload(backend, args, "MT", &args.mt_config, mt_workload(args)?)
}

/// A recipe's training steps on both sides: prints the row and returns its JSON.
fn bench_workload(
    backend: BackendChoice,
    args: &BenchArgs,
    name: &str,
    recipe: &std::path::Path,
    workload: seq2seq::bench::g2p::G2pWorkload,
) -> Result<serde_json::Value> {
    let ours = with_backend!(backend, |B, device| {
        workload.train_tokens_per_s::<burn::backend::Autodiff<B>>(1, &device)
    });
    let theirs = if args.no_pytorch {
        None
    } else {
        match seq2seq::bench::pytorch::g2p(&pytorch_options(args), &workload) {
            Ok(rate) => Some(rate),
            Err(err) => {
                eprintln!("warning: no PyTorch comparison on the {name} workload: {err:#}");
                None
            }
        }
    };
    bench_row(&format!("{name} train target tokens/s"), ours, theirs, true);
    println!(
        "  {name} recipe: {} batches/epoch, {} target tokens/epoch: {:.0} s/epoch here{}",
        workload.epoch_batches,
        workload.epoch_tokens,
        workload.epoch_tokens as f64 / ours,
        theirs.map_or(String::new(), |t| format!(
            ", {:.0} s for PyTorch",
            workload.epoch_tokens as f64 / t
        ))
    );
    Ok(serde_json::json!({
        "recipe": recipe,
        "timed_batches": workload.batches.len(),
        "epoch_batches": workload.epoch_batches,
        "epoch_target_tokens": workload.epoch_tokens,
        "seq2seq_train_tokens_per_s": ours,
        "pytorch_train_tokens_per_s": theirs,
        "ratio": theirs.map(|t| ours / t),
    }))
}

/// The first `n` non-blank lines of `path`.
fn read_inputs(path: &std::path::Path, n: usize) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read --infer-src {}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(n)
        .map(String::from)
        .collect())
}

/// The speech row: prints its table and returns its JSON.
fn bench_speech(backend: BackendChoice, args: &BenchArgs) -> Result<serde_json::Value> {
    use clap::ValueEnum;
    let model = args
        .speech_model
        .clone()
        .context("the speech row needs --speech-model (a directory written by import-whisper)")?;
    let settings: seq2seq::speech::WhisperSettings = serde_json::from_str(
        &std::fs::read_to_string(model.join(seq2seq::speech::whisper::SETTINGS_FILE))
            .with_context(|| format!("{} is not a speech model", model.display()))?,
    )
    .with_context(|| format!("cannot read {}'s settings", model.display()))?;
    let reference = match &args.speech_reference {
        Some(dir) => Some(dir.clone()),
        None if args.no_ctranslate2 => None,
        None => {
            let source = PathBuf::from(&settings.source);
            anyhow::ensure!(
                source.join("model.bin").is_file(),
                "no CTranslate2 model for the reference side: {} was imported from {}, which holds no model.bin (give --speech-reference, or --no-ctranslate2)",
                model.display(),
                settings.source
            );
            Some(source)
        }
    };
    let files = if args.speech_files.is_empty() {
        let dir = PathBuf::from("data/speech");
        let mut files = vec![dir.join("jfk.wav")];
        let mut librivox: Vec<PathBuf> = std::fs::read_dir(dir.join("librivox"))
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|e| e == "wav"))
                    .collect()
            })
            .unwrap_or_default();
        librivox.sort();
        files.extend(librivox);
        anyhow::ensure!(
            files[0].is_file(),
            "no audio for the speech row: run scripts/fetch_whisper.sh, or give --speech-files"
        );
        files
    } else {
        args.speech_files.clone()
    };
    anyhow::ensure!(
        args.speech_beams.iter().all(|&b| b >= 1),
        "--speech-beams: beam sizes start at 1 (greedy)"
    );
    let backend_name = backend
        .to_possible_value()
        .context("the backend has no command-line name")?;
    let bench = seq2seq::bench::speech::SpeechBench {
        program: std::env::current_exe().context("cannot find this binary")?,
        program_args: vec!["--backend".into(), backend_name.get_name().into()],
        model,
        reference,
        python: args.python.clone(),
        files,
        beams: args.speech_beams.clone(),
        batch: args.speech_batch.max(1),
        threads: args.infer_threads.max(1),
        rounds: args.speech_rounds.max(1),
    };
    let rows = bench.run().map_err(anyhow::Error::msg)?;
    print!("{}", seq2seq::bench::speech::table(&rows));
    for row in &rows {
        for path in &row.differ {
            println!("  beam {}: {} differs", row.beam, path.display());
        }
    }
    Ok(serde_json::json!({
        "threads": bench.threads,
        "batch": bench.batch,
        "rounds": bench.rounds,
        "rows": rows,
    }))
}

/// The inference section: prints its table and returns its JSON.
fn bench_inference(backend: BackendChoice, args: &BenchArgs) -> Result<serde_json::Value> {
    use seq2seq::bench::inference;
    use seq2seq::bench::reference::Reference;
    anyhow::ensure!(
        args.infer_beams.iter().all(|&b| b >= 1),
        "--infer-beams: beam sizes start at 1 (greedy)"
    );
    let rows = with_backend!(backend, |B, device| {
        let mut predictor =
            Predictor::<B>::load_ensemble(&args.infer_model, args.infer_weights.as_deref(), device)
                .with_context(|| format!("cannot load {}", describe(&args.infer_model)))?;
        predictor.threads = args.infer_threads.max(1);
        let words = match &args.infer_src {
            Some(path) => read_inputs(path, args.infer_words)?,
            None => inference::sample_words(&predictor.loaded.config.data, args.infer_words)
                .context(
                    "cannot read the words to decode (the model's data; --infer-src gives a file)",
                )?,
        };
        anyhow::ensure!(!words.is_empty(), "no words to decode");
        let options = inference::InferenceOptions {
            batches: args
                .infer_batches
                .iter()
                .map(|&b| if b == 0 { words.len() } else { b })
                .collect(),
            beams: args.infer_beams.clone(),
            generation: args
                .infer_hf
                .as_ref()
                .map(|_| predictor.loaded.config.generation.clone()),
            words,
            peak_probe: peak_probe(backend, args)?,
        };
        let threads = args.infer_threads.max(1);
        let reference = if args.no_ctranslate2 {
            None
        } else if args.infer_model.len() > 1 {
            eprintln!("note: an ensemble is timed alone (no reference engine runs it here)");
            None
        } else if predictor.loaded.model.is_ctc() {
            eprintln!("note: a CTC model is timed alone (CTranslate2 has no CTC decoder)");
            None
        } else {
            let prepared = match &args.infer_hf {
                Some(hf) => Reference::transformers(&args.python, threads, hf, &options.words),
                None => {
                    let codec = &predictor.loaded.codec;
                    let sources: Vec<Vec<String>> = options
                        .words
                        .iter()
                        .map(|w| codec.source_tokens(w))
                        .collect();
                    Reference::ctranslate2(&args.python, threads, &args.infer_model[0], &sources)
                }
            };
            match prepared {
                Ok(side) => Some(side),
                Err(err) => {
                    eprintln!(
                        "warning: no reference engine: {:#}",
                        anyhow::Error::new(err)
                    );
                    None
                }
            }
        };
        eprintln!(
            "inference: {} inputs from {}",
            options.words.len(),
            args.infer_src
                .as_ref()
                .map_or_else(|| describe(&args.infer_model), |p| p.display().to_string())
        );
        inference::compare(&predictor, &options, reference.as_ref(), &mut |row| {
            eprintln!(
                "  beam {} batch {}: {:.1} words/s{}",
                row.beam,
                row.batch,
                row.seq2seq_words_per_s,
                row.reference_words_per_s.map_or(String::new(), |t| format!(
                    ", {} {t:.1}",
                    row.reference.unwrap_or("")
                ))
            )
        })
        .context("the inference section failed")?
    });
    print!("{}", inference::table(&rows));
    for row in &rows {
        for (word, ours, theirs) in row.differ.iter().take(5) {
            println!(
                "  differs (beam {}, batch {}): {word}: ours {ours:?}, {} {theirs:?}",
                row.beam,
                row.batch,
                row.reference.unwrap_or("reference")
            );
        }
    }
    Ok(serde_json::json!({
        "model": args.infer_model,
        "hf_dir": args.infer_hf,
        "inputs": args.infer_src,
        "backend": format!("{backend:?}").to_lowercase(),
        "rows": rows,
    }))
}

fn write_json(path: &std::path::Path, report: &serde_json::Value) -> Result<()> {
    seq2seq::fsutil::write_atomic(path, serde_json::to_string_pretty(report)?.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

pub fn bench(backend: BackendChoice, args: BenchArgs) -> Result<()> {
    if args.speech_only {
        let speech = bench_speech(backend, &args)?;
        if let Some(path) = &args.json {
            write_json(path, &serde_json::json!({ "speech": speech }))?;
        }
        return Ok(());
    }
    if args.infer_only {
        let inference = bench_inference(backend, &args)?;
        if let Some(path) = &args.json {
            write_json(path, &serde_json::json!({ "inference": inference }))?;
        }
        return Ok(());
    }
    if args.g2p_only {
        bench_header();
        let g2p = bench_g2p(backend, &args)?;
        if let Some(path) = &args.json {
            write_json(path, &serde_json::json!({ "g2p_workload": g2p }))?;
        }
        return Ok(());
    }
    if args.workloads_only {
        bench_header();
        // A workload with 0 batches is skipped, as in the full run.
        let g2p = (args.g2p_batches > 0)
            .then(|| bench_g2p(backend, &args))
            .transpose()?;
        let mt = (args.mt_batches > 0)
            .then(|| bench_mt(backend, &args))
            .transpose()?;
        if let Some(path) = &args.json {
            write_json(
                path,
                &serde_json::json!({ "g2p_workload": g2p, "mt_workload": mt }),
            )?;
        }
        return Ok(());
    }
    let config = if args.quick {
        seq2seq::bench::BenchConfig::quick()
    } else {
        seq2seq::bench::BenchConfig::reference()
    };
    let config = seq2seq::bench::BenchConfig {
        builtin: !args.no_builtin,
        ..config
    };
    eprintln!("config: {config:?}");
    let ours = with_backend!(backend, |B, device| {
        seq2seq::bench::run::<burn::backend::Autodiff<B>>(&config, &device)
    });
    let theirs = if args.no_pytorch {
        None
    } else {
        match seq2seq::bench::pytorch::reference(&pytorch_options(&args), &config, args.quick) {
            Ok(result) => Some(result),
            Err(err) => {
                eprintln!("warning: no PyTorch comparison: {err:#}");
                None
            }
        }
    };
    let row = bench_row;
    bench_header();
    row(
        "train target tokens/s",
        ours.train_tokens_per_s,
        theirs.as_ref().map(|t| t.train_tokens_per_s),
        true,
    );
    if let Some(builtin) = ours.builtin_train_tokens_per_s {
        row(
            "  burn::nn::transformer",
            builtin,
            theirs.as_ref().map(|t| t.train_tokens_per_s),
            true,
        );
    }
    // (row, the figure, whether higher is better)
    type Pick = fn(&seq2seq::bench::BenchResult) -> f64;
    let rows: [(&str, Pick, bool); 5] = [
        ("greedy 24 tok, batch 1 (ms)", |r| r.greedy_ms_b1, false),
        ("greedy 24 tok, batch 64 (ms)", |r| r.greedy_ms_b64, false),
        ("peak RSS (MiB)", |r| r.peak_rss_mb, false),
        ("matmul 1024^3 GFLOP/s", |r| r.sgemm_gflops, true),
        ("matmul FFN shape GFLOP/s", |r| r.ffn_matmul_gflops, true),
    ];
    for (name, pick, higher_is_better) in rows {
        row(
            name,
            pick(&ours),
            theirs.as_ref().map(pick),
            higher_is_better,
        );
    }
    let epochs = if args.quick || args.epoch_batches == 0 {
        Vec::new()
    } else {
        let mut epochs = Vec::new();
        for preset in [
            seq2seq::config::Preset::Compact,
            seq2seq::config::Preset::Small,
        ] {
            let estimate = with_backend!(backend, |B, device| {
                seq2seq::bench::g2p_epoch::<burn::backend::Autodiff<B>>(
                    preset,
                    args.epoch_batches,
                    &device,
                )
            })
            .context("cannot estimate the G2P epoch time")?;
            println!(
                "G2P epoch, {:<8} preset (s) {:12.0}   ({} batches x {:.3} s/step, {} timed)",
                format!("{preset:?}").to_lowercase(),
                estimate.epoch_s,
                estimate.batches,
                estimate.mean_step_s,
                estimate.timed_batches
            );
            epochs.push(estimate);
        }
        epochs
    };
    let g2p = if args.quick || args.g2p_batches == 0 {
        None
    } else {
        match bench_g2p(backend, &args) {
            Ok(report) => Some(report),
            Err(err) => {
                eprintln!("warning: G2P workload skipped: {err:#}");
                None
            }
        }
    };
    let mt = if args.quick || args.mt_batches == 0 {
        None
    } else {
        match bench_mt(backend, &args) {
            Ok(report) => Some(report),
            Err(err) => {
                eprintln!("warning: translation workload skipped: {err:#}");
                None
            }
        }
    };
    let inference = if args.quick || args.infer_words == 0 {
        None
    } else {
        match bench_inference(backend, &args) {
            Ok(report) => Some(report),
            Err(err) => {
                eprintln!("warning: inference section skipped: {err:#}");
                None
            }
        }
    };
    let speech = if args.quick || args.speech_model.is_none() {
        None
    } else {
        match bench_speech(backend, &args) {
            Ok(report) => Some(report),
            Err(err) => {
                eprintln!("warning: speech row skipped: {err:#}");
                None
            }
        }
    };
    if let Some(path) = &args.json {
        let report = serde_json::json!({
            "speech": speech,
            "config": config,
            "seq2seq": ours,
            "pytorch": theirs,
            "reference_ratio": theirs.as_ref().map(|t| ours.train_tokens_per_s / t.train_tokens_per_s),
            "g2p_workload": g2p,
            "mt_workload": mt,
            "g2p_epoch": epochs,
            "inference": inference,
        });
        write_json(path, &report)?;
    }
    Ok(())
}

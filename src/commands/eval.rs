//! `seq2seq eval`: a model scored on a held-out split of its own data or on a file.

use super::{DecodeArgs, ModelArgs};
use anyhow::{Context, Result};
use clap::ValueEnum;
use seq2seq::backend::BackendChoice;
use seq2seq::config::ExperimentConfig;
use seq2seq::data::{Reference, TextCodec};
use seq2seq::with_backend;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Data file in the model's task format (dictionary for G2P, TSV for translation).
    #[arg(long, conflicts_with_all = ["split", "src"])]
    data: Option<PathBuf>,
    /// Translation: source sentences, one a line (with --tgt: their references, line by line).
    #[arg(long, requires = "tgt", conflicts_with = "split")]
    src: Option<PathBuf>,
    #[arg(long, requires = "src")]
    tgt: Option<PathBuf>,
    /// Held-out split of the model's own training data (re-created from its config).
    #[arg(long, value_enum, default_value_t = SplitArg::Test)]
    split: SplitArg,
    /// Evaluate at most this many items.
    #[arg(long)]
    limit: Option<usize>,
    #[command(flatten)]
    decode: DecodeArgs,
    /// Also write the scores as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SplitArg {
    Dev,
    Test,
}

pub fn eval_references(
    predictor_config: &ExperimentConfig,
    codec: &TextCodec,
    args: &EvalArgs,
) -> Result<Vec<Reference>> {
    let mut data = predictor_config.data.clone();
    // The model's own tokenizers: never learned again from the evaluation text.
    let codec = Some(codec.clone());
    let whole_file = match (&args.data, &args.src, &args.tgt) {
        (Some(path), _, _) => {
            data.path = Some(path.clone());
            (data.src_path, data.tgt_path) = (None, None);
            true
        }
        (None, Some(src), Some(tgt)) => {
            anyhow::ensure!(
                data.task == seq2seq::data::TaskKind::Tsv,
                "--src/--tgt evaluate translation models; this model's task is {:?} (use --data)",
                data.task
            );
            (data.src_path, data.tgt_path) = (Some(src.clone()), Some(tgt.clone()));
            data.path = None;
            true
        }
        _ => false,
    };
    let references = match whole_file {
        true => {
            // The whole file is the evaluation set.
            (data.valid_src_path, data.valid_tgt_path) = (None, None);
            data.dev_fraction = 0.0;
            data.test_fraction = 0.0;
            let corpus = data.load_with(codec, false)?;
            seq2seq::data::group_references(corpus.train)
        }
        false => {
            let corpus = data
                .load_with(codec, false)
                .context("cannot re-create the model's data split")?;
            match args.split {
                SplitArg::Dev => corpus.dev,
                SplitArg::Test => corpus.test,
            }
        }
    };
    Ok(match args.limit {
        Some(limit) => references.into_iter().take(limit).collect(),
        None => references,
    })
}

pub fn eval(backend: BackendChoice, args: EvalArgs) -> Result<()> {
    with_backend!(backend, |B, device| {
        let mut predictor = args.model.load::<B>(device)?;
        if let Some(threads) = args.decode.threads {
            predictor.threads = threads;
        }
        let decoding = args.decode.decoding(&predictor.loaded.config.generation)?;
        let references = eval_references(&predictor.loaded.config, &predictor.loaded.codec, &args)?;
        anyhow::ensure!(
            !references.is_empty(),
            "nothing to evaluate: {}",
            match (args.data.as_ref().or(args.src.as_ref()), args.split) {
                (Some(path), _) => format!("{} has no items", path.display()),
                (None, SplitArg::Test) => "the model's data has no test split (its test_fraction is 0); try --split dev, or --data FILE".to_string(),
                (None, SplitArg::Dev) => "the model's data has no dev split (its dev_fraction is 0); try --data FILE".to_string(),
            }
        );
        let started = Instant::now();
        let mut last = Instant::now();
        let mut progress = |done: usize, total: usize, rates: &seq2seq::eval::ErrorRates| {
            if last.elapsed() > Duration::from_secs(5) {
                last = Instant::now();
                eprintln!(
                    "eval: {done}/{total} ({:.1}%), WER so far {:.2}% [{:.0}s]",
                    100.0 * done as f64 / total as f64,
                    100.0 * rates.wer(),
                    started.elapsed().as_secs_f64()
                );
            }
        };
        let report = seq2seq::eval::evaluate(
            &predictor,
            &references,
            &decoding,
            args.decode.batch_size,
            &mut progress,
        );
        for skipped in &report.skipped {
            eprintln!("skipped {:?}: {}", skipped.source, skipped.reason);
        }
        println!(
            "{} items: WER {:.2}%  PER {:.2}%  exact match {:.2}%  (beam {}, {:.1} items/s{})",
            report.items,
            100.0 * report.wer,
            100.0 * report.per,
            100.0 * report.exact_match,
            decoding.beam_size(),
            report.items_per_second,
            if report.skipped.is_empty() {
                String::new()
            } else {
                format!(", {} skipped", report.skipped.len())
            }
        );
        println!(
            "longest output {} characters; {} stopped by the length limit before END",
            report.longest_output, report.unfinished
        );
        if let Some(stressless) = &report.stressless {
            println!(
                "without stress: WER {:.2}%  PER {:.2}%  (stress digits removed from outputs and references)",
                100.0 * stressless.wer(),
                100.0 * stressless.per()
            );
        }
        if let (Some(bleu), Some(chrf)) = (report.bleu, report.chrf) {
            println!(
                "BLEU {bleu:.2}  chrF {chrf:.2}  (sacreBLEU defaults: 13a, exp smoothing; chrF6, beta 2)"
            );
        }
        if let Some(path) = &args.json {
            let mut json = serde_json::to_value(&report)?;
            json["model"] = serde_json::json!(args.model.models);
            if !args.model.rescorers.is_empty() {
                json["rescore"] = serde_json::json!({
                    "models": args.model.rescorers,
                    "weight": args.model.rescore_weight,
                });
            }
            seq2seq::fsutil::write_atomic(path, serde_json::to_string_pretty(&json)?.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    });
    Ok(())
}

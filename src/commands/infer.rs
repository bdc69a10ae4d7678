//! `seq2seq infer`: one output record per input line, answers from the lexicon and the model,
//! as text, N-best TSV or JSON.

use super::DecodeArgs;
use anyhow::{Context, Result};
use seq2seq::backend::BackendChoice;
use seq2seq::infer::Predictor;
use seq2seq::with_backend;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct InferArgs {
    /// Model directory (from `train` or `import-pytorch`).
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub decode: DecodeArgs,
    /// Map symbols the model has never seen to <unk> instead of refusing the input.
    #[arg(long)]
    pub unk: bool,
    /// G2P: look words up in this pronouncing dictionary first and ask the model only for the
    /// others (default: the vendored CMUdict for models trained on it).
    #[arg(long, conflicts_with = "no_lexicon")]
    pub lexicon: Option<PathBuf>,
    /// G2P: always ask the model, even for words the dictionary lists.
    #[arg(long)]
    pub no_lexicon: bool,
    /// One JSON object per input line: the answers with their source (lexicon or model) and
    /// score, or the error.
    #[arg(long)]
    pub json: bool,
    /// Inputs; without any, lines are read from standard input.
    pub text: Vec<String>,
}

/// Standard input's lines, each decoded on its own: a line that is not UTF-8 is an error for
/// that line only.
fn stdin_lines() -> Result<Vec<Result<String, String>>> {
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes)
        .context("cannot read standard input")?;
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    Ok(body
        .split(|&b| b == b'\n')
        .map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            String::from_utf8(line.to_vec()).map_err(|err| {
                format!(
                    "not valid UTF-8 (first bad byte at column {})",
                    err.utf8_error().valid_up_to() + 1
                )
            })
        })
        .collect())
}

/// One answer of `infer`: text, where it came from, the model's score (none for the lexicon).
struct Answer {
    text: String,
    source: seq2seq::lexicon::Source,
    score: Option<f64>,
}

/// How `infer` prints the answers to one input (or its error) as one output record.
fn infer_record(
    input: &str,
    answers: &Result<Vec<Answer>, String>,
    json: bool,
    nbest: usize,
) -> String {
    match (answers, json) {
        (Err(err), true) => serde_json::json!({ "input": input, "error": err }).to_string(),
        (Err(_), false) => String::new(),
        (Ok(answers), true) => serde_json::json!({
            "input": input,
            "answers": answers
                .iter()
                .map(|a| serde_json::json!({ "text": a.text, "source": a.source, "score": a.score }))
                .collect::<Vec<_>>(),
        })
        .to_string(),
        (Ok(answers), false) if nbest == 1 => answers[0].text.clone(),
        (Ok(answers), false) => answers
            .iter()
            .enumerate()
            .map(|(rank, a)| {
                let score = a.score.map_or("-".to_string(), |s| format!("{s:.4}"));
                format!("{input}\t{}\t{score}\t{}\t{}", rank + 1, a.text, a.source.name())
            })
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

pub fn infer(backend: BackendChoice, args: InferArgs) -> Result<()> {
    use seq2seq::lexicon::{Lexicon, Source};
    let decoding = args.decode.decoding()?;
    let nbest = decoding.nbest();
    let from_stdin = args.text.is_empty();
    let inputs: Vec<Result<String, String>> = if from_stdin {
        stdin_lines()?
    } else {
        args.text.iter().cloned().map(Ok).collect()
    };
    with_backend!(backend, |B, device| {
        let mut predictor = Predictor::<B>::load(&args.model, device)
            .with_context(|| format!("cannot load model {}", args.model.display()))?;
        if let Some(threads) = args.decode.threads {
            predictor.threads = threads;
        }
        let data = &predictor.loaded.config.data;
        let lexicon = match (&args.lexicon, args.no_lexicon) {
            (_, true) => None,
            (Some(path), false) => Some(
                Lexicon::read(path, data.strip_stress)
                    .with_context(|| format!("cannot read --lexicon {}", path.display()))?,
            ),
            (None, false) => Lexicon::default_for(data)?,
        };
        // Per input: its answers so far (lexicon first), or its error.
        let mut answers: Vec<Result<Vec<Answer>, String>> = Vec::with_capacity(inputs.len());
        let mut pending: Vec<(usize, Vec<usize>)> = Vec::new();
        for (i, input) in inputs.iter().enumerate() {
            let listed: Vec<Answer> = input
                .as_ref()
                .ok()
                .and_then(|text| lexicon.as_ref()?.lookup(text))
                .map(|prons| {
                    prons
                        .iter()
                        .take(nbest)
                        .map(|p| Answer {
                            text: data.join_target(p),
                            source: Source::Lexicon,
                            score: None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            if listed.len() >= nbest {
                answers.push(Ok(listed));
                continue;
            }
            let encoded = input
                .as_ref()
                .map_err(|err| err.clone())
                .and_then(|text| predictor.encode(text, args.unk).map_err(|e| e.to_string()));
            match encoded {
                Ok(ids) => pending.push((i, ids)),
                Err(err) if listed.is_empty() => {
                    let place = match input {
                        Ok(text) if !from_stdin => format!("input {text:?}"),
                        _ => format!("line {}", i + 1),
                    };
                    eprintln!("error: {place}: {err}");
                    answers.push(Err(err));
                    continue;
                }
                // Listed, but the model cannot add more variants: the lexicon's stand.
                Err(_) => {}
            }
            answers.push(Ok(listed));
        }
        let ids: Vec<Vec<usize>> = pending.iter().map(|(_, ids)| ids.clone()).collect();
        let decoded =
            predictor.predict_many(&ids, &decoding, args.decode.batch_size, &mut |_, _| {});
        for ((i, _), predictions) in pending.iter().zip(decoded) {
            let list = answers[*i].as_mut().expect("pending inputs have answers");
            for p in predictions {
                if list.len() < nbest && !list.iter().any(|a| a.text == p.text) {
                    list.push(Answer {
                        text: p.text,
                        source: Source::Model,
                        score: Some(p.score),
                    });
                }
            }
        }
        // One output record per input line, so the output lines up with the input (`paste`);
        // an input that cannot be decoded gets an empty line and its error on stderr.
        let mut stdout = std::io::stdout().lock();
        let mut failures = 0;
        for (input, answers) in inputs.iter().zip(&answers) {
            failures += usize::from(answers.is_err());
            let record = infer_record(
                input.as_deref().unwrap_or_default(),
                answers,
                args.json,
                nbest,
            );
            std::io::Write::write_all(&mut stdout, format!("{record}\n").as_bytes())
                .context("cannot write standard output")?;
        }
        anyhow::ensure!(
            failures == 0,
            "{failures} of {} inputs could not be decoded",
            inputs.len()
        );
    });
    Ok(())
}

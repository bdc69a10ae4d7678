//! `seq2seq infer`: one output record per input line, answers from the lexicon and the model,
//! as text, N-best TSV or JSON.

use super::{DecodeArgs, ModelArgs};
use anyhow::{Context, Result};
use seq2seq::backend::BackendChoice;
use seq2seq::infer::Predictor;
use seq2seq::with_backend;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct InferArgs {
    #[command(flatten)]
    pub model: ModelArgs,
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
    /// At the end, print on stderr the lines decoded, the seconds, the rate and the process's
    /// peak resident memory (what `bench` reads to give each decoding row its peak).
    #[arg(long)]
    pub stats: bool,
    /// Cut each line into sentences at Unicode sentence boundaries (UAX #29), decode them with
    /// the other lines' sentences, and join their outputs back on the line's one output line:
    /// paragraphs for a model trained on sentences. One output per line (no --nbest).
    #[arg(long)]
    pub split_sentences: bool,
    /// Inputs; without any, lines are read from standard input.
    pub text: Vec<String>,
}

/// Lines read and decoded at a time from standard input (Marian's maxi-batch): sorted by
/// length within the chunk for batching, written back in input order when the chunk is done.
/// Memory stays bounded by the chunk, whatever the input's size.
const CHUNK_LINES: usize = 8192;

/// Up to `max` more lines of `reader`, each decoded on its own: a line that is not UTF-8 is an
/// error for that line only. An empty result means the input has ended.
fn read_chunk(
    reader: &mut impl std::io::BufRead,
    max: usize,
) -> Result<Vec<Result<String, String>>> {
    let mut lines = Vec::new();
    let mut line = Vec::new();
    while lines.len() < max {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .context("cannot read standard input")?;
        if n == 0 {
            break;
        }
        let body = line.strip_suffix(b"\n").unwrap_or(&line);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        lines.push(String::from_utf8(body.to_vec()).map_err(|err| {
            format!(
                "not valid UTF-8 (first bad byte at column {})",
                err.utf8_error().valid_up_to() + 1
            )
        }));
    }
    Ok(lines)
}

/// One answer of `infer`: text, where it came from, the model's score (none for the lexicon).
struct Answer {
    text: String,
    source: seq2seq::lexicon::Source,
    score: Option<f64>,
    /// `false` when the length limit stopped the model before END (lexicon answers: `true`).
    finished: bool,
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
        // An empty (or blank) line: an empty output line, as Marian and CTranslate2 give.
        (Ok(answers), true) if answers.is_empty() => {
            serde_json::json!({ "input": input, "empty": true, "answers": [] }).to_string()
        }
        (Ok(answers), false) if answers.is_empty() => String::new(),
        (Ok(answers), true) => serde_json::json!({
            "input": input,
            "answers": answers
                .iter()
                .map(|a| serde_json::json!({
                    "text": a.text, "source": a.source, "score": a.score, "finished": a.finished,
                }))
                .collect::<Vec<_>>(),
        })
        .to_string(),
        (Ok(answers), false) if nbest == 1 => answers[0].text.clone(),
        (Ok(answers), false) => answers
            .iter()
            .enumerate()
            .map(|(rank, a)| {
                let score = a.score.map_or("-".to_string(), |s| format!("{s:.4}"));
                format!(
                    "{input}\t{}\t{score}\t{}\t{}",
                    rank + 1,
                    a.text,
                    a.source.name()
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// The answers to `inputs` (`lines[i]`: the input line of input `i`, from 1): the lexicon's first,
/// then the model's; none for an empty or blank line (an empty output line). An input that
/// cannot be decoded gets its error (also printed to stderr).
#[allow(clippy::too_many_arguments)]
fn answer<B: burn::prelude::Backend>(
    predictor: &Predictor<B>,
    lexicon: Option<&seq2seq::lexicon::Lexicon>,
    inputs: &[Result<String, String>],
    lines: &[usize],
    from_stdin: bool,
    args: &InferArgs,
    decoding: &seq2seq::decode::Decoding,
) -> Vec<Result<Vec<Answer>, String>> {
    use seq2seq::lexicon::Source;
    let nbest = decoding.nbest();
    // Per input: its answers so far (lexicon first), or its error.
    let mut answers: Vec<Result<Vec<Answer>, String>> = Vec::with_capacity(inputs.len());
    let mut pending: Vec<(usize, Vec<usize>)> = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        if input.as_ref().is_ok_and(|text| text.trim().is_empty()) {
            answers.push(Ok(Vec::new()));
            continue;
        }
        let listed: Vec<Answer> = input
            .as_ref()
            .ok()
            .and_then(|text| lexicon?.lookup(text))
            .map(|prons| {
                prons
                    .iter()
                    .take(nbest)
                    .map(|p| Answer {
                        text: predictor.loaded.codec.join_target(p),
                        source: Source::Lexicon,
                        score: None,
                        finished: true,
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
                    _ => format!("line {}", lines[i]),
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
    let decoded = predictor.predict_many(&ids, decoding, args.decode.batch_size, &mut |_, _| {});
    for ((i, _), predictions) in pending.iter().zip(decoded) {
        let list = answers[*i].as_mut().expect("pending inputs have answers");
        for p in predictions {
            if list.len() < nbest && !list.iter().any(|a| a.text == p.text) {
                list.push(Answer {
                    text: p.text,
                    source: Source::Model,
                    score: Some(p.score),
                    finished: p.finished,
                });
            }
        }
    }
    answers
}

/// [`answer`] for `--split-sentences`: every line's sentences decoded together, then each
/// line's outputs joined in order (its score the sum of theirs). A line with a sentence that
/// cannot be decoded gets that error; a blank line, no answers (an empty output line).
#[allow(clippy::too_many_arguments)]
fn answer_by_sentence<B: burn::prelude::Backend>(
    predictor: &Predictor<B>,
    lexicon: Option<&seq2seq::lexicon::Lexicon>,
    inputs: &[Result<String, String>],
    first_line: usize,
    from_stdin: bool,
    args: &InferArgs,
    decoding: &seq2seq::decode::Decoding,
) -> Vec<Result<Vec<Answer>, String>> {
    use seq2seq::infer::sentences::{join_sentences, split_sentences};
    // The sentences of every line, and the line each came from.
    let (mut pieces, mut owners) = (Vec::new(), Vec::new());
    for (i, input) in inputs.iter().enumerate() {
        match input {
            Ok(text) => {
                for sentence in split_sentences(text) {
                    pieces.push(Ok(sentence.to_string()));
                    owners.push(i);
                }
            }
            Err(err) => {
                pieces.push(Err(err.clone()));
                owners.push(i);
            }
        }
    }
    let lines: Vec<usize> = owners.iter().map(|&i| first_line + i + 1).collect();
    let decoded = answer(
        predictor, lexicon, &pieces, &lines, from_stdin, args, decoding,
    );
    let mut per_line: Vec<Result<Vec<Answer>, String>> =
        (0..inputs.len()).map(|_| Ok(Vec::new())).collect();
    let mut texts: Vec<Vec<String>> = vec![Vec::new(); inputs.len()];
    for (&i, result) in owners.iter().zip(decoded) {
        match (result, &mut per_line[i]) {
            (Err(err), line @ Ok(_)) => *line = Err(err),
            (Err(err), Err(first)) => *first = format!("{first}; {err}"),
            (Ok(answers), Ok(line)) => {
                if let Some(best) = answers.into_iter().next() {
                    texts[i].push(best.text);
                    match line.first_mut() {
                        None => line.push(Answer {
                            text: String::new(),
                            source: best.source,
                            score: best.score,
                            finished: best.finished,
                        }),
                        Some(joined) => {
                            joined.score = joined.score.zip(best.score).map(|(a, b)| a + b);
                            joined.finished &= best.finished;
                            if best.source != joined.source {
                                joined.source = seq2seq::lexicon::Source::Model;
                            }
                        }
                    }
                }
            }
            (Ok(_), Err(_)) => {}
        }
    }
    for (line, texts) in per_line.iter_mut().zip(texts) {
        if let Ok(answers) = line {
            if let Some(joined) = answers.first_mut() {
                joined.text = join_sentences(&texts);
            }
        }
    }
    per_line
}

pub fn infer(backend: BackendChoice, args: InferArgs) -> Result<()> {
    use seq2seq::lexicon::Lexicon;
    use std::io::Write;
    let from_stdin = args.text.is_empty();
    with_backend!(backend, |B, device| {
        let mut predictor = args.model.load::<B>(device)?;
        if let Some(threads) = args.decode.threads {
            predictor.threads = threads;
        }
        let decoding = args.decode.decoding(&predictor.loaded.config.generation)?;
        let nbest = decoding.nbest();
        anyhow::ensure!(
            nbest == 1 || !args.split_sentences,
            "--split-sentences gives one output per line: it cannot be used with --nbest {nbest}"
        );
        let data = &predictor.loaded.config.data;
        let lexicon = match (&args.lexicon, args.no_lexicon) {
            (_, true) => None,
            (Some(path), false) => Some(
                Lexicon::read(path, data.strip_stress)
                    .with_context(|| format!("cannot read --lexicon {}", path.display()))?,
            ),
            (None, false) => Lexicon::default_for(data)?,
        };
        let mut stdin = std::io::stdin().lock();
        let mut stdout = std::io::stdout().lock();
        let (mut done, mut failures) = (0usize, 0usize);
        let started = std::time::Instant::now();
        let mut reported = started;
        loop {
            let inputs: Vec<Result<String, String>> = if from_stdin {
                read_chunk(&mut stdin, CHUNK_LINES)?
            } else if done == 0 {
                args.text.iter().cloned().map(Ok).collect()
            } else {
                Vec::new()
            };
            if inputs.is_empty() {
                break;
            }
            let answers = if args.split_sentences {
                answer_by_sentence(
                    &predictor,
                    lexicon.as_ref(),
                    &inputs,
                    done,
                    from_stdin,
                    &args,
                    &decoding,
                )
            } else {
                let lines: Vec<usize> = (done + 1..=done + inputs.len()).collect();
                answer(
                    &predictor,
                    lexicon.as_ref(),
                    &inputs,
                    &lines,
                    from_stdin,
                    &args,
                    &decoding,
                )
            };
            // One output record per input line, so the output lines up with the input
            // (`paste`); an input that cannot be decoded gets an empty line and its error on
            // stderr.
            for (input, answers) in inputs.iter().zip(&answers) {
                failures += usize::from(answers.is_err());
                let record = infer_record(
                    input.as_deref().unwrap_or_default(),
                    answers,
                    args.json,
                    nbest,
                );
                stdout
                    .write_all(format!("{record}\n").as_bytes())
                    .context("cannot write standard output")?;
            }
            stdout.flush().context("cannot write standard output")?;
            done += inputs.len();
            if reported.elapsed().as_secs() >= 10 {
                reported = std::time::Instant::now();
                let seconds = started.elapsed().as_secs_f64();
                eprintln!(
                    "infer: {done} lines [{seconds:.0}s, {:.0} lines/s]",
                    done as f64 / seconds
                );
            }
        }
        if args.stats {
            eprintln!(
                "{}",
                seq2seq::bench::inference::stats_line(
                    done,
                    started.elapsed().as_secs_f64(),
                    seq2seq::bench::peak_rss_mb()
                )
            );
        }
        anyhow::ensure!(
            failures == 0,
            "{failures} of {done} inputs could not be decoded"
        );
    });
    Ok(())
}

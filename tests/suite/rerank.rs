//! Right-to-left models and n-best reranking: a right-to-left model writes in reading order,
//! teacher-forced scores equal beam search's, and a reranking ranks the union of the systems'
//! beams by their shares of the forced scores.

use crate::common;

use common::TempDir;
use seq2seq::data::batcher::EncodedPair;
use seq2seq::decode::Decoding;
use seq2seq::infer::RescoreError;
use seq2seq::infer::{EnsembleError, Predictor};
use seq2seq::rerank::forced_log_probs;
use std::path::{Path, PathBuf};

type B = seq2seq::backend::NdArray;

/// A copy-task model trained here (most of its outputs end with END) and the same weights
/// marked right to left; the directories, and a few training sources as text.
fn trained(root: &Path) -> (PathBuf, PathBuf, Vec<String>) {
    let l2r = super::distill::teacher(root);
    let r2l = root.join("teacher-r2l");
    std::fs::create_dir_all(&r2l).unwrap();
    for entry in std::fs::read_dir(&l2r).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, r2l.join(path.file_name().unwrap())).unwrap();
    }
    let config = r2l.join("config.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    json["data"]["right_left"] = serde_json::Value::Bool(true);
    std::fs::write(&config, json.to_string()).unwrap();
    let corpus = super::distill::copy_config().data.load().unwrap();
    let words = corpus
        .train
        .iter()
        .take(24)
        .map(|p| corpus.codec.join_source(&p.src))
        .collect();
    (l2r, r2l, words)
}

/// Beam search's log-probability of each finished output is the teacher-forced sum of the
/// same tokens' log-probabilities (END included), for a model and for weighted members.
#[test]
fn forced_log_probabilities_equal_beam_search_scores() {
    let root = TempDir::new("rerank", "forced");
    let (dir, _, words) = trained(&root);
    let predictor = load(&dir);
    let ids = encode_all(&predictor, &words);
    let decoding = Decoding::new(4, 4, 0.0).unwrap();
    let lists = predictor.predict(&ids, &decoding);
    let mut pairs = Vec::new();
    let mut want = Vec::new();
    for (source, list) in ids.iter().zip(&lists) {
        for p in list.iter().filter(|p| p.finished) {
            pairs.push(EncodedPair {
                src: source.clone(),
                tgt: predictor.loaded.tgt_vocab.encode(&p.tokens, false).unwrap(),
            });
            want.push(p.score);
        }
    }
    assert!(pairs.len() >= 24, "too few finished outputs: {lists:?}");
    // Not a constant: the outputs' scores differ.
    assert!(want.iter().any(|w| (w - want[0]).abs() > 1e-2));
    let m = &predictor.loaded.model;
    let device = Default::default();
    // Weights 0.25 and 0.75 of one model sum to the model's own log-probabilities.
    for members in [vec![(m, 1.0)], vec![(m, 0.25), (m, 0.75)]] {
        let got = forced_log_probs(&members, &device, &pairs);
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-4, "forced {g} vs beam {w}");
        }
    }
}

fn fixture(f: &str) -> PathBuf {
    common::fixture_path(f)
}

/// The PyTorch fixture imported as a model directory; with `right_left`, the same weights
/// marked as a right-to-left model (as `train --right-left` writes it).
fn model_dir(dir: &Path, right_left: bool) {
    seq2seq::artifact::import_pytorch::<B>(
        &fixture("seq2seq_post.weights.safetensors"),
        &fixture("seq2seq_post.json"),
        &fixture("seq2seq_post.src_vocab.txt"),
        &fixture("seq2seq_post.tgt_vocab.txt"),
        seq2seq::data::DataConfig::new()
            .with_task(seq2seq::data::TaskKind::Tsv)
            .with_right_left(right_left),
        dir,
        &Default::default(),
    )
    .unwrap();
}

const WORDS: [&str; 5] = ["gfedcba", "a", "abc", "cafe", "fedcb"];

/// Source ids of `words` for `predictor`.
fn encode_all<S: AsRef<str>>(predictor: &Predictor<B>, words: &[S]) -> Vec<Vec<usize>> {
    words
        .iter()
        .map(|w| predictor.encode(w.as_ref(), false).unwrap())
        .collect()
}

fn load(dir: &Path) -> Predictor<B> {
    Predictor::<B>::load(dir, Default::default()).unwrap()
}

/// The same weights read as a right-to-left model: the decoder's outputs are the
/// left-to-right model's, reversed back into reading order; so the predictions are the
/// left-to-right ones reversed.
#[test]
fn a_right_to_left_model_writes_its_outputs_in_reading_order() {
    let root = TempDir::new("rerank", "direction");
    let (l2r, r2l) = (root.join("l2r"), root.join("r2l"));
    model_dir(&l2r, false);
    model_dir(&r2l, true);
    let (forward, backward) = (load(&l2r), load(&r2l));
    assert!(backward.right_left() && !forward.right_left());
    let ids = encode_all(&forward, &WORDS);
    for decoding in [Decoding::greedy(), Decoding::new(3, 2, 0.6).unwrap()] {
        let a = forward.predict_many(&ids, &decoding, 2, &mut |_, _| {});
        let b = backward.predict(&ids, &decoding);
        let mut nonempty = 0;
        for (x, y) in a.iter().flatten().zip(b.iter().flatten()) {
            let mut reversed = x.tokens.clone();
            reversed.reverse();
            assert_eq!(y.tokens, reversed);
            assert_eq!(y.score, x.score);
            nonempty += usize::from(x.tokens.len() > 1);
        }
        assert!(nonempty > 0, "outputs of one token cannot show the order");
    }
    // The attention maps are the decoder's own: the same weights read right to left draw the
    // same maps over the same tokens, which in reading order are the output reversed.
    for word in WORDS {
        let (f, b) = (
            forward.attention(word, false).unwrap(),
            backward.attention(word, false).unwrap(),
        );
        assert_eq!(b.output, f.output);
        assert_eq!(b.cross, f.cross);
        assert_eq!(b.decoder, f.decoder);
        let mut read = backward.predict(&encode_all(&backward, &[word]), &Decoding::greedy())[0][0]
            .tokens
            .clone();
        read.reverse();
        assert_eq!(read, b.output[..b.output.len() - 1]);
    }
}

/// A model rescored by itself keeps its beam's ranking; rescored by a right-to-left model
/// with all the weight, every output's score is that model's forced log-probability of the
/// reversed tokens, and that model's own beam outputs are among the candidates.
#[test]
fn rescoring_ranks_the_union_of_the_beams_by_the_shared_scores() {
    let root = TempDir::new("rerank", "rescore");
    let (l2r, r2l, words) = trained(&root);
    let alone = load(&l2r);
    let ids = encode_all(&alone, &words);
    let decoding = Decoding::new(3, 3, 0.0).unwrap();

    let mut itself = load(&l2r);
    itself.set_rescore_weight(0.3).unwrap();
    itself.add_rescorer(&l2r, &l2r).unwrap();
    let want = alone.predict(&ids, &decoding);
    let got = itself.predict_many(&ids, &decoding, 5, &mut |_, _| {});
    let mut compared = 0;
    // Beam search scores an output cut at the length limit without END; a reranking
    // scores every candidate with END: compare the inputs whose outputs all ended.
    for (w, g) in want.iter().zip(&got) {
        if w.iter().all(|p| p.finished) {
            assert_eq!(w.len(), g.len());
            for (w, g) in w.iter().zip(g) {
                assert_eq!(w.tokens, g.tokens);
                assert!(
                    (w.score - g.score).abs() < 1e-4,
                    "{} vs {}",
                    w.score,
                    g.score
                );
            }
            compared += 1;
        }
    }
    assert!(
        compared >= 12,
        "only {compared} inputs with finished outputs"
    );

    let mut reranked = load(&l2r);
    reranked.set_rescore_weight(1.0).unwrap();
    reranked.add_rescorer(&r2l, &l2r).unwrap();
    let got = reranked.predict(&ids, &decoding);
    let backward = load(&r2l);
    let own = backward.predict(&ids, &Decoding::new(3, 1, 0.0).unwrap());
    let device = Default::default();
    let r2l_model = &backward.loaded.model;
    let (mut turned, mut seen) = (0, 0);
    for (((source, list), own), alone) in ids.iter().zip(&got).zip(&own).zip(&want) {
        assert!(!list.is_empty() && list.len() <= 3);
        for (hyp, next) in list.iter().zip(list.iter().skip(1)) {
            assert!(hyp.score >= next.score, "best first");
        }
        let pairs: Vec<EncodedPair> = list
            .iter()
            .map(|p| {
                let mut tgt = backward.loaded.tgt_vocab.encode(&p.tokens, false).unwrap();
                tgt.reverse();
                EncodedPair {
                    src: source.clone(),
                    tgt,
                }
            })
            .collect();
        let forced = forced_log_probs(&[(r2l_model, 1.0)], &device, &pairs);
        for (p, f) in list.iter().zip(&forced) {
            assert!((p.score - f).abs() < 1e-4, "{} vs {f}", p.score);
        }
        // The right-to-left beam's best is a candidate, so the winner scores at least as
        // well under that model.
        if own[0].finished {
            assert!(list[0].score >= own[0].score - 1e-4);
        }
        // Here the right-to-left model has the left-to-right one's weights: its best is the
        // left-to-right best read backwards, at the same score, and it wins.
        let mut backwards = alone[0].tokens.clone();
        backwards.reverse();
        if alone[0].finished && backwards != alone[0].tokens {
            turned += usize::from(list[0].tokens == backwards);
            assert!(
                (list[0].score - alone[0].score).abs() < 1e-3 || list[0].score > alone[0].score
            );
            seen += 1;
        }
    }
    assert!(
        seen >= 12 && turned * 4 >= seen * 3,
        "{turned} of {seen} turned"
    );
}

#[test]
fn rescorers_and_members_must_fit() {
    let root = TempDir::new("rerank", "refusals");
    let (l2r, r2l) = (root.join("l2r"), root.join("r2l"));
    model_dir(&l2r, false);
    model_dir(&r2l, true);
    let mut predictor = load(&l2r);
    for weight in [-0.1, 1.5, f64::NAN] {
        assert!(matches!(
            predictor.set_rescore_weight(weight),
            Err(RescoreError::Weight(_))
        ));
    }
    // Another target vocabulary (two symbols swapped): its ids mean other symbols.
    let other = root.join("other");
    let text = std::fs::read_to_string(fixture("seq2seq_post.tgt_vocab.txt")).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.swap(5, 6);
    let swapped = root.join("swapped.txt");
    std::fs::write(&swapped, lines.join("\n") + "\n").unwrap();
    seq2seq::artifact::import_pytorch::<B>(
        &fixture("seq2seq_post.weights.safetensors"),
        &fixture("seq2seq_post.json"),
        &fixture("seq2seq_post.src_vocab.txt"),
        &swapped,
        seq2seq::data::DataConfig::new().with_task(seq2seq::data::TaskKind::Tsv),
        &other,
        &Default::default(),
    )
    .unwrap();
    match predictor.add_rescorer(&other, &l2r) {
        Err(RescoreError::Ensemble(EnsembleError::Mismatch { what, .. })) => {
            assert_eq!(what, "target vocabularies")
        }
        other => panic!("expected a vocabulary mismatch, got {other:?}"),
    }
    assert!(predictor.rescorers.is_empty());
    // An ensemble reads targets one way round: a right-to-left member is refused.
    match Predictor::<B>::load_ensemble(&[l2r.clone(), r2l.clone()], None, Default::default()) {
        Err(EnsembleError::Mismatch { what, .. }) => assert!(what.contains("direction"), "{what}"),
        other => panic!("expected a direction mismatch, got {:?}", other.err()),
    }
}

//! `import-marian` against transformers: the small MarianMTModel of
//! `scripts/marian_reference.py` (tests/fixtures/marian, opus-mt file layout) imported and
//! compared with what transformers 5 and MarianTokenizer made of it: token ids of every val
//! line, teacher-forced logits, greedy `generate()` outputs; and every refusal.

use crate::common;

use burn::backend::NdArray;
use burn::prelude::*;
use common::{chain, fixture_path, TempDir};
use seq2seq::artifact::LoadedModel;
use seq2seq::decode::Decoding;
use seq2seq::infer::Predictor;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

type B = NdArray;

fn hf_dir() -> PathBuf {
    fixture_path("marian")
}

fn reference() -> &'static Value {
    static REFERENCE: OnceLock<Value> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let text = std::fs::read_to_string(hf_dir().join("reference.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    })
}

/// vocab.json: piece -> Marian id.
fn marian_vocab() -> HashMap<String, usize> {
    let text = std::fs::read_to_string(hf_dir().join("vocab.json")).unwrap();
    let map: HashMap<String, usize> = serde_json::from_str(&text).unwrap();
    map
}

fn ids(value: &Value) -> Vec<Vec<usize>> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as usize)
                .collect()
        })
        .collect()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn import(out: &Path) -> LoadedModel<B> {
    seq2seq::marian::import::<B>(&hf_dir(), out, &Default::default())
        .unwrap_or_else(|e| panic!("import failed: {}", chain(&e)))
}

/// Our symbols as Marian ids (vocab.json; our `</s>` is its eos, `<unk>` its unk).
fn to_marian(symbols: &[String], vocab: &HashMap<String, usize>) -> Vec<usize> {
    symbols.iter().map(|s| vocab[s.as_str()]).collect()
}

#[test]
fn token_ids_equal_marian_tokenizer_on_every_val_line() {
    let dir = TempDir::new("marian", "ids");
    let loaded = import(&dir);
    let vocab = marian_vocab();
    let r = reference();
    let eos = vocab["</s>"];
    for (side, texts, expected) in [
        ("source", strings(&r["val_src"]), ids(&r["val_src_ids"])),
        ("target", strings(&r["val_tgt"]), ids(&r["val_tgt_ids"])),
    ] {
        assert!(texts.len() > 1000, "{side}: {} lines", texts.len());
        let mut wrong = Vec::new();
        for (i, (text, want)) in texts.iter().zip(&expected).enumerate() {
            let (tokens, model_vocab) = if side == "source" {
                (loaded.codec.source_tokens(text), &loaded.src_vocab)
            } else {
                let mut t = loaded.codec.target_tokens(text);
                t.push("</s>".into()); // MarianTokenizer ends targets with </s> too
                (t, &loaded.tgt_vocab)
            };
            // Pieces the model's vocabulary lacks are <unk>, as in MarianTokenizer.
            let symbols: Vec<String> = model_vocab
                .encode(&tokens, true)
                .unwrap()
                .into_iter()
                .map(|id| model_vocab.symbol(id).unwrap().to_string())
                .collect();
            let got = to_marian(&symbols, &vocab);
            if &got != want {
                wrong.push(format!(
                    "line {}: {text:?}\n  ours {got:?}\n  hf   {want:?}",
                    i + 1
                ));
            }
        }
        assert!(
            wrong.is_empty(),
            "{side}: {} of {} lines differ, e.g. {}",
            wrong.len(),
            texts.len(),
            wrong[0]
        );
        // The last source token is always </s>.
        if side == "source" {
            assert!(expected.iter().all(|row| row.last() == Some(&eos)));
        }
    }
    // The source pieces left out of vocab.json on purpose: not in the model's vocabulary, so
    // a source that segments into one reads <unk> (as MarianTokenizer maps it).
    let left_out = strings(&r["left_out_pieces"]);
    assert_eq!(left_out.len(), 3);
    for piece in &left_out {
        assert_eq!(loaded.src_vocab.id(piece), None, "{piece}");
        let ids = loaded.src_vocab.encode(&[piece.as_str()], true).unwrap();
        assert_eq!(ids, vec![seq2seq::vocab::UNK]);
    }
}

#[test]
fn teacher_forced_logits_equal_transformers() {
    let dir = TempDir::new("marian", "logits");
    let loaded = import(&dir);
    let vocab = marian_vocab();
    let pad = reference()["pad_id"].as_u64().unwrap() as usize;
    // Marian id -> our id: its pad is our <s> (the decoder's start), the rest by piece.
    let mut ours_of = vec![0usize; vocab.len()];
    for (piece, &m) in &vocab {
        ours_of[m] = if m == pad {
            seq2seq::vocab::BEGIN
        } else {
            loaded.src_vocab.id(piece).unwrap()
        };
    }
    let bytes = std::fs::read(hf_dir().join("logits.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let int = |name: &str| -> (Vec<usize>, Vec<i64>) {
        let view = st.tensor(name).unwrap();
        let values = view
            .data()
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
            .collect();
        (view.shape().to_vec(), values)
    };
    let (src_shape, src_ids) = int("input_ids");
    let (_, mask) = int("attention_mask");
    let (tgt_shape, tgt_ids) = int("decoder_input_ids");
    let logits = st.tensor("logits").unwrap();
    let hf: Vec<f32> = logits
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let (batch, src_len, tgt_len) = (src_shape[0], src_shape[1], tgt_shape[1]);
    let v = vocab.len();
    assert_eq!(logits.shape(), &[batch, tgt_len, v]);
    let device = Default::default();
    let map =
        |ids: &[i64]| -> Vec<i64> { ids.iter().map(|&m| ours_of[m as usize] as i64).collect() };
    let src =
        Tensor::<B, 2, Int>::from_data(TensorData::new(map(&src_ids), [batch, src_len]), &device);
    let src_padding =
        Tensor::<B, 2, Int>::from_data(TensorData::new(mask, [batch, src_len]), &device)
            .equal_elem(0);
    // transformers masks nothing on the decoder side but the future: its padded positions read
    // <pad> (our <s>), so ours read the same and every position compares.
    let tgt =
        Tensor::<B, 2, Int>::from_data(TensorData::new(map(&tgt_ids), [batch, tgt_len]), &device);
    let ours = loaded.model.forward(src, Some(src_padding), tgt, None);
    let ours: Vec<f32> = ours.into_data().to_vec().unwrap();
    let rows = loaded.src_vocab.len();
    let mut max = 0f32;
    for b in 0..batch {
        for t in 0..tgt_len {
            for m in 0..v {
                let theirs = hf[(b * tgt_len + t) * v + m];
                let mine = ours[(b * tgt_len + t) * rows + ours_of[m]];
                max = max.max((theirs - mine).abs());
            }
        }
    }
    eprintln!("logits [{batch}, {tgt_len}, {v}]: max |ours - transformers| = {max:.2e}");
    assert!(max < 1e-4, "logits differ by up to {max}");
}

#[test]
fn greedy_outputs_equal_generate() {
    let dir = TempDir::new("marian", "greedy");
    let loaded = import(&dir);
    let vocab = marian_vocab();
    let r = reference();
    let sentences = strings(&r["sentences"]);
    let expected = ids(&r["greedy_ids"]);
    let eos = vocab["</s>"];
    let predictor = Predictor::new(loaded, Default::default());
    let inputs: Vec<Vec<usize>> = sentences
        .iter()
        .map(|s| predictor.encode(s, false).unwrap())
        .collect();
    // generation_config.json: max_length 64 counts the start token, and forced_eos puts </s>
    // at the last place: at most 62 tokens of our own, then </s>.
    let generation = &predictor.loaded.config.generation;
    assert_eq!(
        (
            generation.num_beams,
            generation.max_length,
            generation.forced_eos
        ),
        (4, Some(64), true)
    );
    let decoding = Decoding::from_generation(generation, Some(1), 1, None).unwrap();
    assert_eq!(decoding.max_steps, 62);
    let predictions = predictor.predict(&inputs, &decoding);
    let mut same = 0;
    let mut first_wrong = None;
    for (i, (pred, want)) in predictions.iter().zip(&expected).enumerate() {
        let mut got = to_marian(&pred[0].tokens, &vocab);
        got.push(eos); // ended by the model, or forced at the length limit
        if &got == want {
            same += 1;
        } else if first_wrong.is_none() {
            first_wrong = Some(format!(
                "{i}: {:?}\n  ours {got:?}\n  hf   {want:?}",
                sentences[i]
            ));
        }
    }
    eprintln!(
        "greedy: {same}/{} equal to transformers' generate()",
        expected.len()
    );
    assert_eq!(
        same,
        expected.len(),
        "first difference: {}",
        first_wrong.unwrap()
    );
    // Sentence-like: the texts match transformers' decoded outputs too.
    let texts = strings(&r["greedy_text"]);
    for (pred, want) in predictions.iter().zip(&texts) {
        assert_eq!(&pred[0].text, want);
    }
}

#[test]
fn beam_search_outputs_equal_generate_with_its_rules() {
    let dir = TempDir::new("marian", "beam");
    let loaded = import(&dir);
    let vocab = marian_vocab();
    let r = reference();
    let sentences = strings(&r["sentences"]);
    let expected = ids(&r["beam4_ids"]);
    let greedy = ids(&r["greedy_ids"]);
    let eos = vocab["</s>"];
    let predictor = Predictor::new(loaded, Default::default());
    let inputs: Vec<Vec<usize>> = sentences
        .iter()
        .map(|s| predictor.encode(s, false).unwrap())
        .collect();
    // The model's defaults: num_beams 4 and transformers' rules, from generation_config.json.
    let decoding =
        Decoding::from_generation(&predictor.loaded.config.generation, None, 1, None).unwrap();
    assert_eq!(decoding.beam_size(), 4);
    let predictions = predictor.predict(&inputs, &decoding);
    let mut same = 0;
    let mut first_wrong = None;
    for (i, (pred, want)) in predictions.iter().zip(&expected).enumerate() {
        let mut got = to_marian(&pred[0].tokens, &vocab);
        if pred[0].finished {
            got.push(eos);
        }
        if &got == want {
            same += 1;
        } else if first_wrong.is_none() {
            first_wrong = Some(format!(
                "{i}: {:?}\n  ours {got:?}\n  hf   {want:?}",
                sentences[i]
            ));
        }
    }
    let differs_from_greedy = expected.iter().zip(&greedy).filter(|(b, g)| b != g).count();
    eprintln!(
        "beam 4: {same}/{} equal to transformers' generate(num_beams=4); {differs_from_greedy} differ from greedy",
        expected.len()
    );
    assert!(
        differs_from_greedy > 10,
        "the fixture must tell beam from greedy"
    );
    assert_eq!(
        same,
        expected.len(),
        "first difference: {}",
        first_wrong.unwrap()
    );
    let texts = strings(&r["beam4_text"]);
    for (pred, want) in predictions.iter().zip(&texts) {
        assert_eq!(&pred[0].text, want);
    }
}

/// transformers' repetition controls (`repetition_penalty`, `no_repeat_ngram_size`), greedy and
/// beam 4, against `generate()` with each set (tests/fixtures/marian/repetition.json, from
/// scripts/marian_repetition_reference.py): imported models that set them decode as there.
#[test]
fn repetition_controls_equal_generate_with_them() {
    let dir = TempDir::new("marian", "repetition");
    let loaded = import(&dir);
    let vocab = marian_vocab();
    let eos = vocab["</s>"];
    let text = std::fs::read_to_string(hf_dir().join("repetition.json")).unwrap();
    let fixture: Value = serde_json::from_str(&text).unwrap();
    let sentences = strings(&reference()["sentences"]);
    let predictor = Predictor::new(loaded, Default::default());
    let inputs: Vec<Vec<usize>> = sentences
        .iter()
        .map(|s| predictor.encode(s, false).unwrap())
        .collect();
    let settings = fixture["settings"].as_object().unwrap();
    assert_eq!(settings.len(), 5);
    for (name, setting) in settings {
        let args = &setting["generate"];
        // A control that changed nothing in transformers would test nothing here.
        assert!(setting["changed"].as_u64().unwrap() > 40, "{name}");
        let mut generation = predictor.loaded.config.generation.clone();
        generation.repetition_penalty = args["repetition_penalty"].as_f64().unwrap_or(1.0);
        generation.no_repeat_ngram_size =
            args["no_repeat_ngram_size"].as_u64().unwrap_or(0) as usize;
        let beam = args["num_beams"].as_u64().unwrap() as usize;
        let decoding = Decoding::from_generation(&generation, Some(beam), 1, None).unwrap();
        let predictions = predictor.predict(&inputs, &decoding);
        let expected = ids(&setting["ids"]);
        let mut same = 0;
        let mut first_wrong = None;
        for (i, (pred, want)) in predictions.iter().zip(&expected).enumerate() {
            let mut got = to_marian(&pred[0].tokens, &vocab);
            // Greedy ends with </s> by the model or forced at the limit; beam search's
            // unfinished outputs carry none.
            if beam == 1 || pred[0].finished {
                got.push(eos);
            }
            if &got == want {
                same += 1;
            } else if first_wrong.is_none() {
                first_wrong = Some(format!("{i}:\n  ours {got:?}\n  hf   {want:?}"));
            }
        }
        eprintln!("{name}: {same}/{} equal to generate()", expected.len());
        assert_eq!(
            same,
            expected.len(),
            "{name}: first difference {}",
            first_wrong.unwrap()
        );
    }
}

/// A copy of the fixture with `config.json` changed by `edit`.
fn edited(name: &str, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> TempDir {
    let dir = TempDir::new("marian-edit", name);
    for entry in std::fs::read_dir(hf_dir()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    let text = std::fs::read_to_string(dir.join("config.json")).unwrap();
    let mut config: serde_json::Map<String, Value> = serde_json::from_str(&text).unwrap();
    edit(&mut config);
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string(&config).unwrap(),
    )
    .unwrap();
    dir
}

fn import_error(hf: &Path) -> String {
    let out = TempDir::new("marian-out", hf.file_name().unwrap().to_str().unwrap());
    let err = seq2seq::marian::import::<B>(hf, &out, &Default::default()).unwrap_err();
    assert!(
        !out.join("config.json").exists(),
        "a refused import wrote a model"
    );
    chain(&err)
}

#[test]
fn unsupported_config_fields_are_refused_by_name() {
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "normalize_before",
            Value::Bool(true),
            "normalize_before = true",
        ),
        (
            "scale_embedding",
            Value::Bool(false),
            "scale_embedding = false",
        ),
        (
            "layernorm_embedding",
            Value::Bool(true),
            "layernorm_embedding = true",
        ),
        (
            "add_final_layer_norm",
            Value::Bool(true),
            "add_final_layer_norm = true",
        ),
        (
            "activation_function",
            "tanh".into(),
            "activation_function = \"tanh\"",
        ),
        (
            "decoder_start_token_id",
            0.into(),
            "decoder_start_token_id = 0",
        ),
        (
            "share_encoder_decoder_embeddings",
            Value::Bool(false),
            "share_encoder_decoder_embeddings",
        ),
        ("decoder_ffn_dim", 512.into(), "decoder_ffn_dim = 512"),
        ("min_length", 3.into(), "min_length = 3"),
        ("repetition_penalty", 0.into(), "repetition_penalty = 0"),
        ("model_type", "bart".into(), "model_type = \"bart\""),
        ("rope_theta", 10000.into(), "unknown field \"rope_theta\""),
    ];
    for (field, value, needle) in cases {
        let dir = edited(field, |c| {
            c.insert(field.to_string(), value.clone());
        });
        let err = import_error(&dir);
        assert!(err.contains(needle), "{field}: {err}");
        assert!(err.contains("config.json"), "{field}: {err}");
    }
    // Left out, scale_embedding takes transformers' default (false): refused too.
    let dir = edited("no-scale", |c| {
        c.remove("scale_embedding");
    });
    assert!(import_error(&dir).contains("scale_embedding = (absent)"));
}

#[test]
fn damaged_or_missing_files_are_clear_errors() {
    // A truncated safetensors file.
    let dir = edited("truncated", |_| {});
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    std::fs::write(dir.join("model.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    let err = import_error(&dir);
    assert!(
        err.contains("model.safetensors") && err.contains("not a complete safetensors file"),
        "{err}"
    );
    // Only pytorch_model.bin: says how to convert it.
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    std::fs::write(dir.join("pytorch_model.bin"), b"pickle").unwrap();
    let err = import_error(&dir);
    assert!(
        err.contains("pytorch_model.bin") && err.contains("safe_serialization=True"),
        "{err}"
    );
    // A tensor of the wrong shape: d_model claimed 32.
    let dir = edited("shape", |c| {
        c.insert("d_model".into(), 32.into());
    });
    let err = import_error(&dir);
    assert!(err.contains("model.shared.weight has shape"), "{err}");
    // No source.spm.
    let dir = edited("nospm", |_| {});
    std::fs::remove_file(dir.join("source.spm")).unwrap();
    assert!(import_error(&dir).contains("has no source.spm"));
    // A .spm that is not one.
    std::fs::write(dir.join("source.spm"), b"{\"not\": \"protobuf\"}").unwrap();
    let err = import_error(&dir);
    assert!(err.contains("source.spm"), "{err}");
}

/// Mean per-token cross-entropy (no smoothing) of the model in `dir` on `pairs`.
fn dev_loss(dir: &Path, pairs: &[(String, String)]) -> f64 {
    use seq2seq::data::batcher::EncodedPair;
    use seq2seq::data::Seq2SeqBatcher;
    let device = Default::default();
    let loaded = seq2seq::artifact::load::<B>(dir, &device).unwrap();
    let encoded: Vec<EncodedPair> = pairs
        .iter()
        .map(|(s, t)| EncodedPair {
            src: loaded
                .src_vocab
                .encode(&loaded.codec.source_tokens(s), true)
                .unwrap(),
            tgt: loaded
                .tgt_vocab
                .encode(&loaded.codec.target_tokens(t), true)
                .unwrap(),
        })
        .collect();
    let trainer = seq2seq::train::step::Seq2SeqTrainer::new(loaded.model, 0.0);
    let (mut total, mut tokens) = (0.0, 0usize);
    for batch in encoded.chunks(64) {
        let n: usize = batch.iter().map(|p| p.tgt.len() + 1).sum();
        let out = trainer.forward_loss(Seq2SeqBatcher.batch_pairs::<B>(batch, &device));
        total += out.loss.into_scalar().elem::<f64>() * n as f64;
        tokens += n;
    }
    total / tokens as f64
}

#[test]
fn fine_tuning_an_imported_model_lowers_its_dev_loss_and_keeps_its_tokenizer() {
    use seq2seq::config::{ExperimentConfig, Preset};
    let dir = TempDir::new("marian", "finetune");
    let imported = dir.join("imported");
    import(&imported);
    let r = reference();
    let pairs: Vec<(String, String)> = strings(&r["val_src"])
        .into_iter()
        .zip(strings(&r["val_tgt"]))
        .collect();
    let (train, dev) = pairs.split_at(800);
    let write = |name: &str, lines: Vec<&str>| {
        let path = dir.join(name);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        path
    };
    let files = [
        write("train.en", train.iter().map(|p| p.0.as_str()).collect()),
        write("train.de", train.iter().map(|p| p.1.as_str()).collect()),
        write("dev.en", dev.iter().map(|p| p.0.as_str()).collect()),
        write("dev.de", dev.iter().map(|p| p.1.as_str()).collect()),
    ];
    let before = dev_loss(&imported, dev);

    let mut config = ExperimentConfig::preset(Preset::Tiny);
    config.data = config
        .data
        .with_task(seq2seq::data::TaskKind::Tsv)
        .with_src_path(Some(files[0].clone()))
        .with_tgt_path(Some(files[1].clone()))
        .with_valid_src_path(Some(files[2].clone()))
        .with_valid_tgt_path(Some(files[3].clone()));
    config.training.epochs = 3;
    config.training.batch_size = 32;
    config.training.patience = 0;
    config.training.eval_examples = 0;
    config.optimizer.warmup_steps = 100;
    config.optimizer.noam_factor = 0.1;
    // The fixture model was trained without label smoothing, and the loss compared is plain
    // cross-entropy: fine-tune the same way.
    config.optimizer.label_smoothing = 0.0;
    let config = seq2seq::train::init_config(config, &imported, None).unwrap();
    assert!(config.data.src_eos && config.model.logits_bias);
    let mut options = common::plain_options(&dir, false);
    options.init = Some(imported.clone());
    seq2seq::train::run::<burn::backend::Autodiff<B>>(config, &options, Default::default())
        .unwrap_or_else(|e| panic!("fine-tuning failed: {}", chain(&e)));
    let tuned = dir.join("model");
    let after = dev_loss(&tuned, dev);
    eprintln!("dev loss of the imported model {before:.4}, after fine-tuning {after:.4}");
    // The best of the epochs by validation loss is kept (800 pairs overfit soon): measured
    // 1.4359 -> 1.4261.
    assert!(after < before - 0.005, "before {before}, after {after}");
    for file in ["src_tokenizer.json", "tgt_tokenizer.json", "src_vocab.json"] {
        assert_eq!(
            std::fs::read(imported.join(file)).unwrap(),
            std::fs::read(tuned.join(file)).unwrap(),
            "{file}"
        );
    }
    // The fine-tuned model still decodes by transformers' rules, beam 4.
    let saved = seq2seq::artifact::read_config(&tuned.join("config.json")).unwrap();
    assert_eq!(saved.generation.num_beams, 4);
}

/// `bench --infer-hf`: the imported model against transformers' `generate()` on the
/// repository it came from, through `scripts/bench_transformers.py`, greedy and beam 4, one
/// sentence a batch and all in one: every output the same, scores equal (greedy: the summed
/// log-probability; beam: transformers' length-normalised score). Skipped, saying so, where
/// Python lacks transformers.
#[test]
fn bench_against_transformers_has_the_same_outputs_and_scores() {
    use seq2seq::bench::inference::{compare, InferenceOptions};
    use seq2seq::bench::reference::Reference;
    let python = std::env::var("SEQ2SEQ_PYTHON").unwrap_or_else(|_| "python3".into());
    let found = std::process::Command::new(&python)
        .args(["-c", "import transformers, torch, sentencepiece"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        eprintln!(
            "SKIPPED bench_against_transformers_has_the_same_outputs_and_scores: {python} cannot \
             import transformers, torch and sentencepiece"
        );
        return;
    }
    let dir = TempDir::new("marian", "bench");
    let loaded = import(&dir);
    let generation = loaded.config.generation.clone();
    let predictor = Predictor::new(loaded, Default::default());
    let words: Vec<String> = strings(&reference()["sentences"])
        .into_iter()
        .take(40)
        .collect();
    let side = Reference::transformers(&python, 2, &hf_dir(), &words).unwrap();
    let options = InferenceOptions {
        words,
        batches: vec![1, 40],
        beams: vec![1, 4],
        generation: Some(generation),
        peak_probe: None,
    };
    let rows = compare(&predictor, &options, Some(&side), &mut |_| {}).unwrap();
    assert_eq!(rows.len(), 4);
    for row in &rows {
        eprintln!(
            "beam {} batch {}: {} same, {} tied, score gap {:.2e}; {:.0} vs {:.0} words/s",
            row.beam,
            row.batch,
            row.same,
            row.tied,
            row.score_gap,
            row.seq2seq_words_per_s,
            row.reference_words_per_s.unwrap()
        );
        assert_eq!(row.reference, Some("transformers"));
        assert!(row.differ.is_empty(), "{:?}", row.differ);
        assert_eq!(row.same, 40, "{} tied", row.tied);
        assert!(row.score_gap < 1e-3, "score gap {}", row.score_gap);
    }
}

/// The python that has transformers (CI installs it: `.ci/run`); `SEQ2SEQ_PYTHON` overrides.
fn transformers_python() -> Option<String> {
    let python = std::env::var("SEQ2SEQ_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = std::process::Command::new(&python)
        .args(["-c", "import transformers, torch, sentencepiece"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(python);
    }
    let why = format!(
        "{python} cannot import transformers, torch and sentencepiece (pip install transformers==5.25.0 torch sentencepiece, as .ci/run does)"
    );
    // CI must run the comparison: a missing transformers there is a failure, not a skip.
    assert!(std::env::var_os("CI").is_none(), "{why}");
    eprintln!("skipped: {why}");
    None
}

/// Our outputs of the model in `hf` (import-marian, `generation_config.json` as it is) against
/// `reference[greedy_key]` / `reference[beam_key]`: (equal greedy, equal beam 4, rows).
fn compare_with_generate(
    hf: &Path,
    reference: &Value,
    greedy_key: &str,
    beam_key: &str,
) -> (usize, usize, usize) {
    let dir = TempDir::new("marian-fresh", greedy_key);
    let loaded = seq2seq::marian::import::<B>(hf, &dir.join("model"), &Default::default())
        .unwrap_or_else(|e| panic!("import of {} failed: {}", hf.display(), chain(&e)));
    let vocab: HashMap<String, usize> =
        serde_json::from_str(&std::fs::read_to_string(hf.join("vocab.json")).unwrap()).unwrap();
    let eos = vocab["</s>"];
    let generation = loaded.config.generation.clone();
    let predictor = Predictor::new(loaded, Default::default());
    let inputs: Vec<Vec<usize>> = strings(&reference["sentences"])
        .iter()
        .map(|s| predictor.encode(s, false).unwrap())
        .collect();
    let mut same = [0usize; 2];
    for (k, (beam, key)) in [(1, greedy_key), (4, beam_key)].into_iter().enumerate() {
        let decoding = Decoding::from_generation(&generation, Some(beam), 1, None).unwrap();
        let expected = ids(&reference[key]);
        for (i, (pred, want)) in predictor
            .predict(&inputs, &decoding)
            .iter()
            .zip(&expected)
            .enumerate()
        {
            let mut got = to_marian(&pred[0].tokens, &vocab);
            // Ended by the model or forced at the length limit (forced_eos_token_id).
            got.push(eos);
            if &got == want {
                same[k] += 1;
            } else {
                eprintln!("{key} {i}: ours {got:?}\n  transformers {want:?}");
            }
        }
    }
    (same[0], same[1], inputs.len())
}

/// A Marian model saved by the *installed* transformers (`scripts/marian_transformers_check.py`
/// builds it at test time, so a new release that writes other fields or changes a rule fails
/// here): its `generation_config.json` (5.25 adds `output_attentions`, `output_hidden_states`,
/// `use_cache`) imports, and greedy and beam-4 outputs equal `generate()`'s, both under the
/// default length rule (no `max_length`: 20 tokens after the start in 5.3-5.25) and with
/// `max_length` written into the file.
#[test]
fn a_model_saved_by_the_installed_transformers_decodes_equal_to_generate() {
    let Some(python) = transformers_python() else {
        return;
    };
    let dir = TempDir::new("marian-fresh", "saved");
    let hf = dir.join("hf");
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/marian_transformers_check.py");
    let out = std::process::Command::new(&python)
        .arg(&script)
        .arg(&hf)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(hf.join("reference.json")).unwrap()).unwrap();
    eprintln!("transformers {}", reference["transformers"]);
    let (greedy, beam, rows) = compare_with_generate(&hf, &reference, "greedy_ids", "beam4_ids");
    eprintln!("no max_length: greedy {greedy}/{rows}, beam 4 {beam}/{rows} equal to generate()");
    // With max_length in generation_config.json, as a repository that sets it.
    let path = hf.join("generation_config.json");
    let mut generation: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    generation.insert("max_length".into(), reference["max_length"].clone());
    std::fs::write(&path, serde_json::to_string(&generation).unwrap()).unwrap();
    let (greedy_l, beam_l, _) = compare_with_generate(
        &hf,
        &reference,
        "greedy_max_length_ids",
        "beam4_max_length_ids",
    );
    eprintln!(
        "max_length {}: greedy {greedy_l}/{rows}, beam 4 {beam_l}/{rows}",
        reference["max_length"]
    );
    assert_eq!((greedy, beam, greedy_l, beam_l), (rows, rows, rows, rows));
}

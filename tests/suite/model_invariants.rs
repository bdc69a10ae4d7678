//! Properties of the model that hold for any weights: shapes, causality, padding invariance,
//! attention weights that are distributions, cached decoding equal to the full forward.

use burn::prelude::*;
use burn::tensor::Distribution;
use seq2seq::model::mask::{attention_mask, padding_mask_from_lengths};
use seq2seq::model::{DecoderCache, MultiHeadAttentionConfig, Positional, TransformerConfig};

type B = seq2seq::backend::NdArray;

fn config(norm_first: bool) -> TransformerConfig {
    TransformerConfig::new()
        .with_src_vocab_size(11)
        .with_tgt_vocab_size(13)
        .with_d_model(16)
        .with_n_heads(2)
        .with_d_ff(40)
        .with_n_encoder_layers(2)
        .with_n_decoder_layers(3)
        .with_dropout(0.0)
        .with_norm_first(norm_first)
        .with_final_norm(norm_first)
        .with_max_len(32)
}

fn tokens(rows: &[&[i64]], device: &burn::tensor::Device<B>) -> Tensor<B, 2, Int> {
    let width = rows[0].len();
    let data: Vec<i64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_data(TensorData::new(data, [rows.len(), width]), device)
}

fn values<const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data().to_vec::<f32>().unwrap()
}

#[test]
fn shapes_with_distinct_sizes() {
    let device = Default::default();
    B::seed(&device, 1);
    let model = config(false).init::<B>(&device);
    // batch 3, src_len 7, tgt_len 5, d_model 16, vocab 13
    let src = Tensor::<B, 2, Int>::random([3, 7], Distribution::Uniform(4.0, 11.0), &device);
    let tgt = Tensor::<B, 2, Int>::random([3, 5], Distribution::Uniform(4.0, 13.0), &device);
    let enc = model.encode(src.clone(), None);
    assert_eq!(enc.memory.dims(), [3, 7, 16]);
    assert_eq!(enc.self_weights.len(), 2);
    assert_eq!(enc.self_weights[0].dims(), [3, 2, 7, 7]);
    let dec = model.decode(tgt.clone(), &enc.memory, None, None, None);
    assert_eq!(dec.hidden.dims(), [3, 5, 16]);
    assert_eq!(dec.cross_weights.len(), 3);
    assert_eq!(dec.cross_weights[2].dims(), [3, 2, 5, 7]);
    assert_eq!(dec.self_weights[1].dims(), [3, 2, 5, 5]);
    assert_eq!(model.forward(src, None, tgt, None).dims(), [3, 5, 13]);
}

#[test]
fn decoder_is_causal() {
    for norm_first in [false, true] {
        let device = Default::default();
        B::seed(&device, 2);
        let model = config(norm_first).init::<B>(&device);
        let src = tokens(&[&[4, 5, 6, 7, 8, 9, 10]], &device);
        let a = model.forward(
            src.clone(),
            None,
            tokens(&[&[1, 4, 5, 6, 7]], &device),
            None,
        );
        let b = model.forward(src, None, tokens(&[&[1, 4, 5, 12, 11]], &device), None);
        // Positions 0..=2 saw identical prefixes: identical logits. Position 3 differs.
        let a = values(a);
        let b = values(b);
        let per_pos = 13;
        assert!(
            crate::common::max_diff(&a[..3 * per_pos], &b[..3 * per_pos]) < 1e-6,
            "future leaked into the past"
        );
        assert!(
            crate::common::max_diff(&a[3 * per_pos..], &b[3 * per_pos..]) > 1e-4,
            "changed tokens changed nothing"
        );
    }
}

#[test]
fn padding_does_not_change_unpadded_outputs() {
    let device = Default::default();
    B::seed(&device, 3);
    let model = config(false).init::<B>(&device);
    let tgt = tokens(&[&[1, 4, 5, 6], &[1, 7, 8, 9]], &device);
    // Row 0 has 4 real source tokens, row 1 has 6; pad slots hold different garbage.
    let src_a = tokens(&[&[4, 5, 6, 7, 0, 0], &[4, 5, 6, 7, 8, 9]], &device);
    let src_b = tokens(&[&[4, 5, 6, 7, 9, 10], &[4, 5, 6, 7, 8, 9]], &device);
    let pad = padding_mask_from_lengths::<B>(&[4, 6], 6, &device);
    let a = model.forward(src_a, Some(pad.clone()), tgt.clone(), None);
    let b = model.forward(src_b, Some(pad), tgt.clone(), None);
    assert!(crate::common::max_diff(&values(a), &values(b)) < 1e-6);
    // The same sequence alone, unpadded, gives the same logits as inside the padded batch.
    let alone = model.forward(
        tokens(&[&[4, 5, 6, 7]], &device),
        None,
        tokens(&[&[1, 4, 5, 6]], &device),
        None,
    );
    let padded = model.forward(
        tokens(&[&[4, 5, 6, 7, 0, 0]], &device),
        Some(padding_mask_from_lengths::<B>(&[4], 6, &device)),
        tgt.slice([0..1, 0..4]),
        None,
    );
    assert!(crate::common::max_diff(&values(alone), &values(padded)) < 1e-5);
}

#[test]
fn attention_weights_are_distributions_over_unmasked_keys() {
    let device = Default::default();
    B::seed(&device, 4);
    let mha = MultiHeadAttentionConfig::new(16, 4)
        .with_dropout(0.0)
        .init::<B>(&device);
    let x = Tensor::<B, 3>::random([2, 5, 16], Distribution::Normal(0.0, 1.0), &device);
    let memory = Tensor::<B, 3>::random([2, 7, 16], Distribution::Normal(0.0, 1.0), &device);
    let mask = attention_mask(
        Some(padding_mask_from_lengths::<B>(&[7, 3], 7, &device)),
        None,
    );
    let out = mha.forward_cross(x, memory, mask);
    assert_eq!(out.context.dims(), [2, 5, 16]);
    assert_eq!(out.weights.dims(), [2, 4, 5, 7]);
    let sums = values(out.weights.clone().sum_dim(3));
    assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-5), "{sums:?}");
    // Row 1 has 3 real keys: the 4 padded keys get exactly zero weight.
    let padded = values(out.weights.slice([1..2, 0..4, 0..5, 3..7]));
    assert!(padded.iter().all(|&w| w == 0.0));
}

#[test]
fn fully_masked_rows_give_no_nan() {
    let device = Default::default();
    let mha = MultiHeadAttentionConfig::new(16, 2)
        .with_dropout(0.0)
        .init::<B>(&device);
    let x = Tensor::<B, 3>::random([1, 3, 16], Distribution::Normal(0.0, 1.0), &device);
    let mask = attention_mask(Some(padding_mask_from_lengths::<B>(&[0], 3, &device)), None);
    let out = mha.forward_self(x, mask);
    assert!(values(out.context).iter().all(|v| v.is_finite()));
    assert!(values(out.weights).iter().all(|v| v.is_finite()));
}

#[test]
fn cached_step_by_step_decoding_equals_the_full_forward() {
    for (norm_first, positional) in [(false, Positional::Sinusoidal), (true, Positional::Learned)] {
        let device = Default::default();
        B::seed(&device, 5);
        let model = config(norm_first)
            .with_positional(positional)
            .init::<B>(&device);
        let src = tokens(&[&[4, 5, 6, 7, 8, 0, 0], &[9, 10, 4, 5, 6, 7, 8]], &device);
        let pad = padding_mask_from_lengths::<B>(&[5, 7], 7, &device);
        let tgt = tokens(&[&[1, 4, 5, 6, 7, 8], &[1, 12, 11, 10, 9, 8]], &device);
        let memory = model.encode(src, Some(pad.clone())).memory;
        let full = model.generate(
            model
                .decode(tgt.clone(), &memory, Some(pad.clone()), None, None)
                .hidden,
        );

        let mut cache = DecoderCache::new(model.n_decoder_layers());
        let mut steps = Vec::new();
        for t in 0..6 {
            let step = tgt.clone().slice([0..2, t..t + 1]);
            let hidden = model
                .decode(step, &memory, Some(pad.clone()), None, Some(&mut cache))
                .hidden;
            steps.push(model.generate(hidden));
        }
        assert_eq!(cache.len, 6);
        let stepped = Tensor::cat(steps, 1);
        let diff = crate::common::max_diff(&values(full), &values(stepped));
        assert!(
            diff < 1e-5,
            "cached decoding differs by {diff} (norm_first {norm_first})"
        );
    }
}

#[test]
fn cache_select_reorders_batch_rows() {
    let device = Default::default();
    B::seed(&device, 6);
    let model = config(false).init::<B>(&device);
    let src = tokens(&[&[4, 5, 6], &[7, 8, 9]], &device);
    let memory = model.encode(src, None).memory;
    let mut cache = DecoderCache::new(model.n_decoder_layers());
    model.decode(
        tokens(&[&[1], &[1]], &device),
        &memory,
        None,
        None,
        Some(&mut cache),
    );
    let swapped_memory = memory
        .clone()
        .select(0, Tensor::from_data([1i64, 0], &device));
    let mut swapped = cache.clone().select(Tensor::from_data([1i64, 0], &device));
    let next = tokens(&[&[4], &[5]], &device);
    let a = model.generate(
        model
            .decode(next.clone(), &memory, None, None, Some(&mut cache))
            .hidden,
    );
    let b = model.generate(
        model
            .decode(
                next.select(0, Tensor::from_data([1i64, 0], &device)),
                &swapped_memory,
                None,
                None,
                Some(&mut swapped),
            )
            .hidden,
    );
    let a = values(a);
    let b = values(b);
    assert!(
        crate::common::max_diff(&a[..13], &b[13..]) < 1e-6
            && crate::common::max_diff(&a[13..], &b[..13]) < 1e-6
    );
}

/// Beam search keeps one cross-attention entry per input and reads it with the input's beams
/// as queries (`DecoderCache::regroup`): the same logits and cross-attention weights as
/// copying the entry to every beam row (`select`), through widening, reordering within
/// inputs, and an input leaving.
#[test]
fn grouped_cross_attention_equals_one_entry_per_row() {
    let device = Default::default();
    B::seed(&device, 7);
    let model = config(false).init::<B>(&device);
    let index = |rows: &[i64]| Tensor::<B, 1, Int>::from_data(rows, &device);
    // 2 inputs, src_len 5 (the second padded after 3), 3 beams each.
    let src = tokens(&[&[4, 5, 6, 7, 8], &[9, 10, 4, 0, 0]], &device);
    let pad = padding_mask_from_lengths::<B>(&[5, 3], 5, &device);
    let memory = model.encode(src, Some(pad.clone())).memory;
    let mut first = DecoderCache::new(model.n_decoder_layers());
    model.decode(
        tokens(&[&[1], &[1]], &device),
        &memory,
        Some(pad.clone()),
        None,
        Some(&mut first),
    );

    /// Rows kept, entries kept by the grouped cache (`None`: all), next tokens.
    type Step<'a> = (&'a [i64], Option<&'a [i64]>, &'a [i64]);
    let steps: [Step; 3] = [
        (&[0, 0, 0, 1, 1, 1], None, &[4, 5, 6, 7, 8, 9]),
        (&[2, 0, 1, 5, 3, 4], None, &[10, 4, 5, 6, 7, 8]),
        (&[3, 4, 5], Some(&[1]), &[9, 10, 4]),
    ];
    let mut per_row = first.clone();
    let mut grouped = first;
    let (mut entry_memory, mut entry_pad) = (memory, pad);
    // Entry of each row of the per-row path, to move its memory and padding.
    let mut row_entry: Vec<i64> = vec![0, 1];
    for (step, (rows, entries, next)) in steps.into_iter().enumerate() {
        row_entry = rows.iter().map(|&r| row_entry[r as usize]).collect();
        let entry_rows = index(&row_entry);
        let row_memory = entry_memory.clone().select(0, entry_rows.clone());
        let row_pad = entry_pad.clone().select(0, entry_rows);
        per_row = per_row.select(index(rows));
        if let Some(entries) = entries {
            entry_memory = entry_memory.select(0, index(entries));
            entry_pad = entry_pad.select(0, index(entries));
            row_entry = row_entry.iter().map(|_| 0).collect();
        }
        grouped = grouped.regroup(Some(index(rows)), entries.map(index), 3);
        assert_eq!(grouped.cross_group(), 3);
        assert_eq!(per_row.cross_group(), 1);
        let next: Vec<&[i64]> = next.chunks(1).collect();
        let a = model.decode(
            tokens(&next, &device),
            &row_memory,
            Some(row_pad.clone()),
            None,
            Some(&mut per_row),
        );
        let b = model.decode(
            tokens(&next, &device),
            &entry_memory,
            Some(entry_pad.clone()),
            None,
            Some(&mut grouped),
        );
        // rows, heads 2, one query, src_len 5
        assert_eq!(b.cross_weights[2].dims(), [rows.len(), 2, 1, 5]);
        let logits = crate::common::max_diff(
            &values(model.generate(a.hidden)),
            &values(model.generate(b.hidden)),
        );
        let weights = crate::common::max_diff(
            &values(a.cross_weights[1].clone()),
            &values(b.cross_weights[1].clone()),
        );
        assert!(
            logits < 1e-5 && weights < 1e-6,
            "step {step}: logits differ by {logits}, cross weights by {weights}"
        );
    }
}

#[test]
fn shared_embeddings_and_tied_generator_have_fewer_parameters() {
    use burn::module::Module;
    let device = Default::default();
    let base = config(false).with_tgt_vocab_size(11);
    let plain = base.clone().init::<B>(&device).num_params();
    let shared = base
        .clone()
        .with_share_embeddings(true)
        .init::<B>(&device)
        .num_params();
    let tied = base
        .with_share_embeddings(true)
        .with_tie_generator(true)
        .init::<B>(&device);
    assert_eq!(plain - shared, 11 * 16);
    assert_eq!(shared - tied.num_params(), 11 * 16 + 11);
    let logits = tied.forward(
        tokens(&[&[4, 5]], &device),
        None,
        tokens(&[&[1, 6, 7]], &device),
        None,
    );
    assert_eq!(logits.dims(), [1, 3, 11]);
}

/// Decoding lays a tied generator out as a linear layer (`with_untied_generator`): the same
/// logits, a `[d_model, tgt_vocab]` weight equal to the embedding's transpose, and a model
/// with its own generator left as it is.
#[test]
fn an_untied_copy_of_a_tied_generator_gives_the_same_logits() {
    let device = Default::default();
    let tied = config(false)
        .with_tgt_vocab_size(11)
        .with_share_embeddings(true)
        .with_tie_generator(true)
        .init::<B>(&device);
    let hidden = Tensor::<B, 3>::random([2, 3, 16], Distribution::Normal(0.0, 1.0), &device);
    let want = tied.generate(hidden.clone());
    let untied = tied.clone().with_untied_generator();
    let generator = untied.generator.as_ref().expect("a generator of its own");
    assert_eq!(generator.weight.dims(), [16, 11]);
    assert!(generator.bias.is_none());
    let embedding = tied.src_embed.as_ref().unwrap().weight.val(); // shared: the target side's too
    assert_eq!(
        generator.weight.val().into_data(),
        embedding.transpose().into_data()
    );
    let got = untied.generate(hidden.clone());
    assert_eq!(got.dims(), [2, 3, 11]);
    let gap = (got - want).abs().max().into_scalar();
    assert!(gap < 1e-6, "logits differ by {gap}");
    let own = config(false).with_tgt_vocab_size(11).init::<B>(&device);
    let before = own.generator.as_ref().unwrap().weight.val().into_data();
    let after = own.with_untied_generator();
    assert_eq!(after.generator.unwrap().weight.val().into_data(), before);
}

#[test]
fn invalid_configs_are_rejected_with_their_values() {
    let err = config(false)
        .with_n_heads(3)
        .validate()
        .unwrap_err()
        .to_string();
    assert_eq!(err, "d_model (16) must be divisible by n_heads (3)");
    let err = config(false)
        .with_n_encoder_layers(0)
        .validate()
        .unwrap_err()
        .to_string();
    assert_eq!(err, "n_encoder_layers must be greater than 0");
    let err = config(false)
        .with_share_embeddings(true)
        .validate()
        .unwrap_err()
        .to_string();
    assert!(err.contains("source 11 and target 13"), "{err}");
}

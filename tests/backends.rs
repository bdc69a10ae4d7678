//! The same graph on another backend: with `--features flex` (Burn's flex CPU backend) or
//! `--features wgpu` (the GPU backend; CI runs it on lavapipe, Mesa's software Vulkan), the
//! PyTorch fixtures pass there too, a few training steps give the losses ndarray gives, and
//! (wgpu) a burn-train run with validation and checkpoints completes.
//! `.ci/run` runs this file once per feature.
#![cfg(any(feature = "flex", feature = "wgpu"))]

mod common;

use burn::backend::Autodiff;
use burn::module::AutodiffModule;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use common::{assert_close, fixture_path, Io};
use seq2seq::artifact::read_model_config;
use seq2seq::data::batcher::EncodedPair;
use seq2seq::data::Seq2SeqBatcher;
use seq2seq::store::load_weights;
use seq2seq::train::Seq2SeqTrainer;

type NdArray = seq2seq::backend::NdArray;

/// Tolerance of the PyTorch fixtures per backend: flex computes like ndarray (f32 on the CPU,
/// errors ~1e-7); GPU kernels sum in other orders (and lavapipe's vectorised math differs), so
/// wgpu gets 1e-4.
fn fixture_logits<B: Backend>(backend: &str, name: &str, tolerance: f32) {
    let device = Default::default();
    let io = Io::load(name);
    let config = read_model_config(&fixture_path(&format!("{name}.json"))).unwrap();
    let model = load_weights(
        config.init::<B>(&device),
        &fixture_path(&format!("{name}.weights.safetensors")),
    )
    .unwrap();
    let logits = model.forward(
        io.int("input.src", &device),
        Some(io.mask("input.src_key_padding_mask", &device)),
        io.int("input.tgt", &device),
        Some(io.mask("input.tgt_key_padding_mask", &device)),
    );
    assert_close(
        &format!("{backend} {name}"),
        logits,
        io.float("output.logits", &device),
        tolerance,
    );
}

#[cfg(feature = "flex")]
#[test]
fn pytorch_fixtures_pass_on_flex() {
    type Flex = seq2seq::backend::Flex;
    fixture_logits::<Flex>("flex", "seq2seq_post", 1e-5);
    fixture_logits::<Flex>("flex", "seq2seq_pre", 1e-5);
}

/// Layouts that the vendored burn-flex copies by blocks (`vendor/README.md`): permuted rank-4
/// tensors made contiguous by `reshape`, with a unit-stride last dim (the head merge) and
/// without (last two dims swapped), small (one thread) and past the 32K-element parallel
/// threshold, and element-wise ops on such layouts. Values must equal ndarray's exactly:
/// these are copies, no arithmetic changes.
#[cfg(feature = "flex")]
#[test]
fn permuted_copies_on_flex_equal_ndarrays() {
    type Flex = seq2seq::backend::Flex;
    fn cases<B: Backend>(dims: [usize; 4]) -> Vec<Vec<f32>> {
        let device = Default::default();
        let n: usize = dims.iter().product();
        let values: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
        let x = Tensor::<B, 4>::from_data(TensorData::new(values, dims), &device);
        let [a, b, c, d] = dims;
        let other = x.clone().mul_scalar(-2.0).add_scalar(0.5);
        [
            // the head merge: [a, b, c, d] -> [a, c, b, d] -> [a, c, b * d]
            x.clone().swap_dims(1, 2).reshape([a, c, b * d]).into_data(),
            // last two dims swapped: rows without a unit stride
            x.clone()
                .swap_dims(2, 3)
                .reshape([a * b, d * c])
                .into_data(),
            // an element-wise op on a permuted tensor, and on two of them
            x.clone().swap_dims(1, 2).mul_scalar(3.0).into_data(),
            (x.clone().swap_dims(1, 2) + other.swap_dims(1, 2)).into_data(),
            // a permutation of three dims
            x.permute([2, 0, 3, 1]).reshape([c * a, d * b]).into_data(),
        ]
        .into_iter()
        .map(|data| data.to_vec::<f32>().unwrap())
        .collect()
    }
    for dims in [[2, 3, 5, 4], [4, 4, 37, 64]] {
        let (flex, ndarray) = (cases::<Flex>(dims), cases::<NdArray>(dims));
        for (i, (f, n)) in flex.iter().zip(&ndarray).enumerate() {
            assert_eq!(f, n, "case {i} of {dims:?}");
        }
    }
}

/// `slice_assign` on flex writes a destination nothing else holds in place (vendor/burn-flex's
/// patch: it used to copy the whole destination first), as the decoder's KV cache relies on,
/// and a shared one is copied, leaving the other holder's values alone. Values as ndarray's.
#[cfg(feature = "flex")]
#[test]
fn slice_assign_on_flex_writes_in_place_unless_shared() {
    type Flex = seq2seq::backend::Flex;
    fn address(t: &Tensor<Flex, 4>) -> usize {
        t.clone().into_primitive().tensor().bytes().as_ptr() as usize
    }
    fn step<B: Backend>(device: &B::Device) -> Tensor<B, 4> {
        let values: Vec<f32> = (0..3 * 2 * 4).map(|i| i as f32 * 0.5 - 3.0).collect();
        Tensor::from_data(TensorData::new(values, [3, 2, 1, 4]), device)
    }
    let at = [0..3, 0..2, 5..6, 0..4];
    let device = Default::default();
    // A cache of [rows 3, heads 2, capacity 8, d_head 4]: position 5 written.
    let cache = Tensor::<Flex, 4>::zeros([3, 2, 8, 4], &device);
    let before = address(&cache);
    let written = cache.slice_assign(at.clone(), step::<Flex>(&device));
    assert_eq!(address(&written), before, "a unique destination was copied");
    let nd = Tensor::<NdArray, 4>::zeros([3, 2, 8, 4], &Default::default())
        .slice_assign(at.clone(), step::<NdArray>(&Default::default()));
    assert_eq!(
        written.to_data().to_vec::<f32>().unwrap(),
        nd.to_data().to_vec::<f32>().unwrap()
    );

    // Shared: the write goes to a copy; the other holder keeps its values.
    let held = written.clone();
    let rewritten = written.slice_assign(at, step::<Flex>(&device).mul_scalar(2.0));
    assert_ne!(address(&rewritten), address(&held));
    assert_eq!(
        held.to_data().to_vec::<f32>().unwrap(),
        nd.to_data().to_vec::<f32>().unwrap()
    );
    let doubled: f32 = rewritten.sum().into_scalar();
    let once: f32 = held.sum().into_scalar();
    assert!(
        (doubled - 2.0 * once).abs() < 1e-4,
        "{doubled} vs 2 x {once}"
    );
}

/// Distance in units in the last place between two f32 of the same sign.
#[cfg(feature = "flex")]
fn ulps(a: f32, b: f32) -> u64 {
    (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
}

/// flex's `exp` on f32 (vendor/burn-flex's vectorized `simd/exp.rs`, not libm per element) is
/// within 2 ulp of libm's `expf` over the whole range where the result is normal (every 1/64
/// of [-87, 88] and 10,000 seeded random points), and gives libm's values for infinities,
/// overflow, underflow and NaN; on a unique tensor (written in place), a shared one and a
/// non-contiguous view alike.
#[cfg(feature = "flex")]
#[test]
fn exp_on_flex_is_within_two_ulp_of_libm() {
    type Flex = seq2seq::backend::Flex;
    let device = Default::default();
    let mut xs: Vec<f32> = (-87 * 64..=88 * 64).map(|i| i as f32 / 64.0).collect();
    let mut seed = 12345u32;
    for _ in 0..10_000 {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        xs.push((seed >> 8) as f32 / (1u32 << 24) as f32 * 175.0 - 87.0);
    }
    let n = xs.len();
    let t = Tensor::<Flex, 1>::from_data(TensorData::new(xs.clone(), [n]), &device);
    let held = t.clone(); // shared: exp must not write into `held`
    let got = t.exp().into_data().to_vec::<f32>().unwrap();
    assert_eq!(held.into_data().to_vec::<f32>().unwrap(), xs);
    for (&x, &e) in xs.iter().zip(&got) {
        assert!(ulps(e, x.exp()) <= 2, "exp({x}) = {e}, libm {}", x.exp());
    }
    let unique = Tensor::<Flex, 1>::from_data(TensorData::new(xs.clone(), [n]), &device).exp();
    assert_eq!(unique.into_data().to_vec::<f32>().unwrap(), got);

    let special = [
        f32::NEG_INFINITY,
        f32::INFINITY,
        -200.0,
        200.0,
        -100.0, // a denormal result
        -88.5,
        88.7,
        89.0,
        0.0,
        -0.0,
        f32::NAN,
    ];
    let t =
        Tensor::<Flex, 1>::from_data(TensorData::new(special.to_vec(), [special.len()]), &device);
    for (&x, e) in special
        .iter()
        .zip(t.exp().into_data().to_vec::<f32>().unwrap())
    {
        let want = x.exp();
        assert!(
            (want.is_nan() && e.is_nan()) || e == want || ulps(e, want) <= 2,
            "exp({x}) = {e}, libm {want}"
        );
    }

    // A transposed, offset view: [3, 5] taken from rows 1.. of a [4, 5], transposed.
    let values: Vec<f32> = (0..20).map(|i| i as f32 * 0.9 - 9.0).collect();
    let base = Tensor::<Flex, 2>::from_data(TensorData::new(values, [4, 5]), &device);
    let view = base.slice([1..4, 0..5]).swap_dims(0, 1); // [5, 3]
    let want: Vec<f32> = view.to_data().to_vec::<f32>().unwrap();
    let got = view.exp().into_data().to_vec::<f32>().unwrap();
    for (&x, &e) in want.iter().zip(&got) {
        assert!(ulps(e, x.exp()) <= 2, "exp({x}) = {e}");
    }
}

/// flex's exact GELU on f32 (vendor/burn-flex's `simd/erf.rs`: libm's `erff` algorithm made
/// branch-free and vectorized, split over threads) is as close to the exact function (f64 erf)
/// as flex's former per-element libm formula, every 1/256 of [-10, 10] and 10,000 random
/// points: its error never exceeds libm's by more than 2 ulp of erf (an erf near 1 has ulps of
/// 6e-8, which `0.5 x (1 + erf)` scales by |x| / 2) and 1 ulp of the result (its last
/// rounding); NaN and infinities as libm gives them; on a unique tensor (in place), a shared one
/// and a non-contiguous view alike.
#[cfg(feature = "flex")]
#[test]
fn gelu_on_flex_is_as_exact_as_libm() {
    type Flex = seq2seq::backend::Flex;
    let device = Default::default();
    let libm_gelu = |x: f32| 0.5 * x * (1.0 + libm::erff(x / std::f32::consts::SQRT_2));
    let exact = |x: f32| {
        let x = x as f64;
        0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))
    };
    let mut xs: Vec<f32> = (-10 * 256..=10 * 256).map(|i| i as f32 / 256.0).collect();
    let mut seed = 777u32;
    for _ in 0..10_000 {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        xs.push((seed >> 8) as f32 / (1u32 << 24) as f32 * 20.0 - 10.0);
    }
    let n = xs.len();
    let t = Tensor::<Flex, 1>::from_data(TensorData::new(xs.clone(), [n]), &device);
    let held = t.clone(); // shared: gelu must not write into `held`
    let got = burn::tensor::activation::gelu(t)
        .into_data()
        .to_vec::<f32>()
        .unwrap();
    assert_eq!(held.into_data().to_vec::<f32>().unwrap(), xs);
    let (mut worst_ours, mut worst_libm) = (0.0f64, 0.0f64);
    for (&x, &g) in xs.iter().zip(&got) {
        let want = exact(x);
        let (ours, theirs) = ((g as f64 - want).abs(), (libm_gelu(x) as f64 - want).abs());
        worst_ours = worst_ours.max(ours);
        worst_libm = worst_libm.max(theirs);
        let erf_ulp = f32::EPSILON as f64 / 2.0;
        assert!(
            ours <= theirs
                + 2.0 * erf_ulp * 0.5 * x.abs() as f64
                + (want.abs() as f32 * f32::EPSILON) as f64
                + 1e-12,
            "gelu({x}) = {g}, exact {want}, libm's formula {}",
            libm_gelu(x)
        );
    }
    eprintln!("gelu: max abs error {worst_ours:.2e} (libm's formula {worst_libm:.2e})");
    let unique = burn::tensor::activation::gelu(Tensor::<Flex, 1>::from_data(
        TensorData::new(xs.clone(), [n]),
        &device,
    ));
    assert_eq!(unique.into_data().to_vec::<f32>().unwrap(), got);

    let special = [
        f32::NEG_INFINITY,
        f32::INFINITY,
        -30.0,
        30.0,
        0.0,
        -0.0,
        f32::NAN,
    ];
    let t =
        Tensor::<Flex, 1>::from_data(TensorData::new(special.to_vec(), [special.len()]), &device);
    let out = burn::tensor::activation::gelu(t)
        .into_data()
        .to_vec::<f32>()
        .unwrap();
    for (&x, g) in special.iter().zip(out) {
        let want = libm_gelu(x);
        assert!(
            (want.is_nan() && g.is_nan()) || g == want,
            "gelu({x}) = {g}, libm's formula {want}"
        );
    }

    // A transposed, offset view: [3, 5] taken from rows 1.. of a [4, 5], transposed.
    let values: Vec<f32> = (0..20).map(|i| i as f32 * 0.7 - 7.0).collect();
    let base = Tensor::<Flex, 2>::from_data(TensorData::new(values, [4, 5]), &device);
    let view = base.slice([1..4, 0..5]).swap_dims(0, 1);
    let want: Vec<f32> = view.to_data().to_vec::<f32>().unwrap();
    let got = burn::tensor::activation::gelu(view)
        .into_data()
        .to_vec::<f32>()
        .unwrap();
    for (&x, &g) in want.iter().zip(&got) {
        assert!((g as f64 - exact(x)).abs() <= 1e-6, "gelu({x}) = {g}");
    }
}

/// flex's fused log-softmax over the last dim (vendor/burn-flex's patch: one pass per row with
/// the vectorized exp, where Burn's default is six tensor ops) and its softmax equal ndarray's
/// to 1e-5, with masked (-inf) entries, an 8,000-wide vocabulary, a row of all -inf (NaN on
/// both), a non-contiguous input and another dim (the default decomposition, kept).
#[cfg(feature = "flex")]
#[test]
fn log_softmax_on_flex_equals_ndarrays() {
    use burn::tensor::activation::{log_softmax, softmax};
    type Flex = seq2seq::backend::Flex;
    fn cases<B: Backend>(rows: usize, width: usize) -> Vec<Vec<f32>> {
        let device = Default::default();
        let mut v: Vec<f32> = (0..2 * rows * width)
            .map(|i| (i as f32 * 0.37).sin() * 6.0 + (i % 7) as f32)
            .collect();
        v[3] = f32::NEG_INFINITY; // masked entries
        v[width + 1] = f32::NEG_INFINITY;
        let x = Tensor::<B, 3>::from_data(TensorData::new(v, [2, rows, width]), &device);
        let masked_row = Tensor::<B, 2>::full([1, width], f32::NEG_INFINITY, &device);
        vec![
            log_softmax(x.clone(), 2).into_data(),
            softmax(x.clone(), 2).into_data(),
            log_softmax(
                x.clone().slice([0..2, 1..rows, 0..width]).swap_dims(0, 1),
                2,
            )
            .into_data(),
            log_softmax(x, 1).into_data(),
            log_softmax(masked_row, 1).into_data(),
        ]
        .into_iter()
        .map(|d| d.to_vec::<f32>().unwrap())
        .collect()
    }
    for (rows, width) in [(3, 8_000), (5, 37), (4, 1)] {
        let (flex, nd) = (cases::<Flex>(rows, width), cases::<NdArray>(rows, width));
        for (case, (f, n)) in flex.iter().zip(&nd).enumerate() {
            assert_eq!(f.len(), n.len());
            for (i, (a, b)) in f.iter().zip(n).enumerate() {
                let same =
                    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-5 * (1.0 + b.abs());
                assert!(
                    same,
                    "case {case} of {rows}x{width}, element {i}: {a} vs {b}"
                );
            }
        }
    }
}

/// flex's softmax, log-softmax and exp write into a unique input's own buffer (the same
/// address comes back) and give, bit for bit, what they give a shared input through a new
/// buffer, leaving the shared input untouched; rows few enough for one task and enough for
/// several, a ragged row length, -inf entries and a row of all -inf.
#[cfg(feature = "flex")]
#[test]
fn in_place_softmaxes_and_exp_equal_their_copying_paths_bit_for_bit() {
    use burn::tensor::ops::{ActivationOps, FloatTensorOps};
    type Flex = seq2seq::backend::Flex;
    type Op = fn(burn::tensor::ops::FloatTensor<Flex>) -> burn::tensor::ops::FloatTensor<Flex>;
    let ops: [(&str, Op); 3] = [
        ("softmax", |t| Flex::softmax(t, 1)),
        ("log_softmax", |t| Flex::log_softmax(t, 1)),
        ("exp", Flex::float_exp),
    ];
    let device = Default::default();
    for (rows, width) in [(3, 8_000), (20, 8_000), (5, 37), (2_000, 12), (4, 1)] {
        let mut v: Vec<f32> = (0..rows * width)
            .map(|i| (i as f32 * 0.37).sin() * 6.0 + (i % 7) as f32 - 3.0)
            .collect();
        v[width / 2] = f32::NEG_INFINITY;
        let last_row = (rows - 1) * width;
        v[last_row..].fill(f32::NEG_INFINITY);
        let fresh = || {
            Tensor::<Flex, 2>::from_data(TensorData::new(v.clone(), [rows, width]), &device)
                .into_primitive()
                .tensor()
        };
        for (name, op) in ops {
            let unique = fresh();
            let address = unique.bytes().as_ptr();
            let in_place = op(unique);
            assert_eq!(
                in_place.bytes().as_ptr(),
                address,
                "{name} {rows}x{width}: not in place"
            );
            let shared = fresh();
            let kept = shared.clone();
            let copied = op(shared);
            assert_ne!(
                copied.bytes().as_ptr(),
                kept.bytes().as_ptr(),
                "{name}: wrote a shared input"
            );
            let bits = |t: &[u8]| -> Vec<u32> {
                t.chunks_exact(4)
                    .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
                    .collect()
            };
            assert_eq!(
                bits(in_place.bytes()),
                bits(copied.bytes()),
                "{name} {rows}x{width}"
            );
            let kept: Vec<u32> = bits(kept.bytes());
            assert_eq!(
                kept,
                v.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                "{name}: input changed"
            );
        }
    }
}

/// Beam search and greedy decoding on flex give ndarray's hypotheses: flex's patched matmul
/// (output buffers not zero-filled first) and select (the KV cache reordered with bulk row
/// copies), and the cache regrouping of beam search (one cross-attention entry per input).
#[cfg(feature = "flex")]
#[test]
fn decoding_on_flex_equals_ndarrays() {
    use seq2seq::decode::{beam, greedy, BeamConfig};
    type Flex = seq2seq::backend::Flex;
    let dir = std::env::temp_dir().join(format!("seq2seq-flex-decoding-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let weights = dir.join("model.safetensors");
    let reference = common::model(11);
    seq2seq::store::save_weights(&reference, &weights).unwrap();
    let device = Default::default();
    let model = load_weights(common::model_config().init::<Flex>(&device), &weights).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let (src, padding) = common::batch();
    let flex_src = Tensor::<Flex, 2, Int>::from_data(src.to_data(), &device);
    let flex_padding = Tensor::<Flex, 2, Bool>::from_data(padding.to_data(), &device);
    let config = BeamConfig {
        beam: 3,
        nbest: 3,
        lenpen: 0.6,
        max_steps: 12,
    };
    let ours = beam(&model, flex_src.clone(), flex_padding.clone(), &config);
    let theirs = beam(&reference, src.clone(), padding.clone(), &config);
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(a.len(), b.len(), "input {i}: n-best sizes");
        for (x, y) in a.iter().zip(b) {
            assert_eq!(x.tokens, y.tokens, "input {i}");
            assert!(
                (x.log_prob - y.log_prob).abs() < 1e-4,
                "input {i}: {x:?} vs {y:?}"
            );
        }
    }
    let ours = greedy(&model, flex_src, flex_padding, 12);
    let theirs = greedy(&reference, src, padding, 12);
    let tokens = |h: &[seq2seq::decode::Hypothesis]| -> Vec<Vec<usize>> {
        h.iter().map(|h| h.tokens.clone()).collect()
    };
    assert_eq!(tokens(&ours), tokens(&theirs));
}

#[cfg(feature = "wgpu")]
#[test]
fn pytorch_fixtures_pass_on_wgpu() {
    type Wgpu = seq2seq::backend::Wgpu;
    fixture_logits::<Wgpu>("wgpu", "seq2seq_post", 1e-4);
    fixture_logits::<Wgpu>("wgpu", "seq2seq_pre", 1e-4);
}

/// Losses of five Adam steps on one fixed batch, starting from the fixture's weights (so both
/// backends start identical without sharing an RNG), dropout off.
fn losses<B: burn::tensor::backend::AutodiffBackend>() -> Vec<f32> {
    let device = Default::default();
    let config = read_model_config(&fixture_path("seq2seq_post.json")).unwrap();
    let model = load_weights(
        config.init::<B>(&device),
        &fixture_path("seq2seq_post.weights.safetensors"),
    )
    .unwrap();
    let mut trainer = Seq2SeqTrainer::new(model, 0.1);
    let mut optimizer = AdamConfig::new()
        .with_beta_2(0.98)
        .with_epsilon(1e-9)
        .init::<B, Seq2SeqTrainer<B>>();
    let pairs = vec![
        EncodedPair {
            src: vec![4, 5, 6, 7, 8],
            tgt: vec![4, 5, 6, 7],
        },
        EncodedPair {
            src: vec![9, 10, 4],
            tgt: vec![8, 9, 10, 11, 12],
        },
    ];
    let batch = Seq2SeqBatcher.batch_pairs::<B>(&pairs, &device);
    let mut losses = Vec::new();
    for _ in 0..5 {
        let output = trainer.forward_loss(batch.clone());
        losses.push(output.loss.clone().into_scalar().elem::<f32>());
        let grads = GradientsParams::from_grads(output.loss.backward(), &trainer);
        trainer = optimizer.step(1e-3, trainer, grads);
    }
    let _ = trainer.valid();
    losses
}

fn assert_same_losses(backend: &str, theirs: &[f32], tolerance: f32) {
    let ndarray = losses::<Autodiff<NdArray>>();
    assert!(theirs[4] < theirs[0] - 0.05, "the steps train: {theirs:?}");
    for (t, n) in theirs.iter().zip(&ndarray) {
        assert!(
            (t - n).abs() < tolerance,
            "{backend} {theirs:?} vs ndarray {ndarray:?}"
        );
    }
}

#[cfg(feature = "flex")]
#[test]
fn training_steps_match_ndarray_on_flex() {
    let flex = losses::<Autodiff<seq2seq::backend::Flex>>();
    assert_same_losses("flex", &flex, 1e-4);
}

#[cfg(feature = "wgpu")]
#[test]
fn training_steps_match_ndarray_on_wgpu() {
    let wgpu = losses::<Autodiff<seq2seq::backend::Wgpu>>();
    assert_same_losses("wgpu", &wgpu, 1e-3);
}

/// A whole burn-train run on wgpu: two epochs of the copy task with validation, the async
/// checkpointer, the best-checkpoint reload and greedy dev decoding. This is what panicked inside
/// burn-fusion on the fused `burn::backend::Wgpu` (tracel-ai/burn#4347); the shipped `Wgpu` type
/// is unfused.
#[cfg(feature = "wgpu")]
#[test]
fn burn_train_run_completes_on_wgpu() {
    use seq2seq::train::run;

    let dir = common::TempDir::new("wgpu", "run");
    let mut config = common::tiny_copy_run(1200);
    config.training.eval_examples = 50;
    let options = common::plain_options(&dir, false);
    let report = run::<Autodiff<seq2seq::backend::Wgpu>>(config, &options, Default::default())
        .expect("a wgpu training run completes");
    assert_eq!(report.epochs, 2);
    assert!(report.dev_evaluated > 0);
    let model = seq2seq::artifact::load::<NdArray>(&dir.join("model"), &Default::default())
        .expect("the model trained on wgpu loads on ndarray");
    assert_eq!(model.config.training.epochs, 2);
}

/// `--devices N` on wgpu goes through burn-train's multi-device strategy. CI has one (software)
/// adapter, so both workers get it: this checks that the GPU backend's per-device gradient
/// transfer and accumulation run and give a model that learns, not the speed-up.
#[cfg(feature = "wgpu")]
#[test]
fn two_device_training_runs_on_wgpu() {
    use seq2seq::train::run_on_devices;

    let dir = common::TempDir::new("wgpu", "2dev");
    let mut config = common::tiny_copy_run(1200);
    config.training.eval_examples = 50;
    // A short run: warm up quickly so that the second epoch is clearly better than the first.
    config.optimizer.warmup_steps = 20;
    let options = common::plain_options(&dir, false);
    let device: burn::backend::wgpu::WgpuDevice = Default::default();
    let report = run_on_devices::<Autodiff<seq2seq::backend::Wgpu>>(
        config,
        &options,
        vec![device.clone(), device],
    )
    .expect("a two-worker wgpu run completes");
    assert_eq!(report.epochs, 2);
    let losses = |epoch: usize| -> f64 {
        let text =
            std::fs::read_to_string(dir.join(format!("runs/model/train/epoch-{epoch}/Loss.log")))
                .unwrap();
        let values: Vec<f64> = text
            .lines()
            .map(|l| l.split(',').next().unwrap().parse().unwrap())
            .collect();
        values.iter().sum::<f64>() / values.len() as f64
    };
    println!("two wgpu workers: mean loss {} -> {}", losses(1), losses(2));
    assert!(
        losses(2) < 0.85 * losses(1),
        "mean loss went from {} to {}",
        losses(1),
        losses(2)
    );
}

/// The widest x86 SIMD level the CPU kernels dispatch to on this machine, printed; with
/// `SEQ2SEQ_EXPECT_SIMD=avx2` (set by `scripts/test_avx2.sh`) it must be AVX2 without AVX-512,
/// so that a run meant for the AVX2 kernels cannot silently run the AVX-512 ones.
#[test]
fn simd_level() {
    #[cfg(target_arch = "x86_64")]
    let level = if std::arch::is_x86_feature_detected!("avx512f") {
        "avx512"
    } else if std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
    {
        "avx2"
    } else {
        "older"
    };
    #[cfg(not(target_arch = "x86_64"))]
    let level = "not-x86";
    eprintln!("SIMD level the kernels pick: {level}");
    if let Ok(expected) = std::env::var("SEQ2SEQ_EXPECT_SIMD") {
        assert_eq!(level, expected, "SEQ2SEQ_EXPECT_SIMD");
    }
}

//! The two-input, two-head example of multi-head self-attention, step by step, with small
//! numbers; then the same computation by `seq2seq::model::MultiHeadAttention`, which must agree.
//!
//! Run: `cargo run --release --example attention_walkthrough`
//!
//! Notation (the seed's): inputs a^i and a^j; q^i = W^q a^i, k^i = W^k a^i, v^i = W^v a^i; each
//! is split into heads 1 and 2 (q^{i,1}, q^{i,2}, ...); head h attends with its own slices,
//! giving b^{i,h}; the heads are concatenated and mixed by W^o into b^i.
//!
//! Two things the seed's formulas leave out are shown where they enter: the scores are divided
//! by sqrt(d_k) (the "scaled" in scaled dot-product, section 3.2.1 of the paper) and passed
//! through a softmax over the keys before weighting the values.
//!
//! Vectors here are rows and matrices multiply from the right (x W), as in Burn and PyTorch.

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use seq2seq::model::MultiHeadAttentionConfig;

type B = seq2seq::backend::NdArray;

const D: usize = 4; // d_model
const H: usize = 2; // heads
const DK: usize = D / H; // d_k = d_v per head

type Mat = [[f32; D]; D];

fn mul(x: &[f32; D], w: &Mat) -> [f32; D] {
    let mut out = [0.0; D];
    for (c, o) in out.iter_mut().enumerate() {
        *o = (0..D).map(|r| x[r] * w[r][c]).sum();
    }
    out
}

fn show(name: &str, v: &[f32]) {
    let cells: Vec<String> = v.iter().map(|x| format!("{x:7.4}")).collect();
    println!("  {name:<12} = [{}]", cells.join(", "));
}

// `h` and `i` are the head and input numbers of the notation; index loops read closer to it.
#[allow(clippy::needless_range_loop)]
fn main() {
    // Two input vectors.
    let a = [[1.0, 0.0, 1.0, 0.0], [0.0, 2.0, 0.0, 1.0]];
    let names = ["i", "j"];
    // Small weights (d_model x d_model each), biases zero.
    let wq: Mat = [
        [1., 0., 0., 1.],
        [0., 1., 1., 0.],
        [1., 1., 0., 0.],
        [0., 0., 1., 1.],
    ];
    let wk: Mat = [
        [0., 1., 1., 0.],
        [1., 0., 0., 1.],
        [0., 0., 1., 1.],
        [1., 1., 0., 0.],
    ];
    let wv: Mat = [
        [1., 2., 0., 0.],
        [0., 1., 0., 1.],
        [0., 0., 1., 2.],
        [0., 0., 2., 1.],
    ];
    let wo: Mat = [
        [0.5, 0., 0., 0.5],
        [0., 0.5, 0.5, 0.],
        [0.5, 0.5, 0., 0.],
        [0., 0., 0.5, 0.5],
    ];

    println!("Step 1: project every input to a query, a key and a value.");
    let q: Vec<[f32; D]> = a.iter().map(|x| mul(x, &wq)).collect();
    let k: Vec<[f32; D]> = a.iter().map(|x| mul(x, &wk)).collect();
    let v: Vec<[f32; D]> = a.iter().map(|x| mul(x, &wv)).collect();
    for (n, name) in names.iter().enumerate() {
        show(&format!("a^{name}"), &a[n]);
        show(&format!("q^{name}"), &q[n]);
        show(&format!("k^{name}"), &k[n]);
        show(&format!("v^{name}"), &v[n]);
    }

    println!("\nStep 2: split each into {H} heads of d_k = {DK}: head h takes dimensions [h*d_k, (h+1)*d_k).");
    println!("  (The seed multiplies q^i by per-head matrices W^{{q,1}}, W^{{q,2}}; taking column blocks");
    println!("   of one W^q is the same thing and is what every implementation does.)");
    let head = |x: &[f32; D], h: usize| x[h * DK..(h + 1) * DK].to_vec();

    let mut b_heads = vec![vec![Vec::new(); H]; 2];
    for h in 0..H {
        println!("\nHead {}:", h + 1);
        for (i, name) in names.iter().enumerate() {
            // alpha_{i,j} = q^{i,h} . k^{j,h}: the seed's score.
            let raw: Vec<f32> = (0..2)
                .map(|j| {
                    head(&q[i], h)
                        .iter()
                        .zip(head(&k[j], h))
                        .map(|(x, y)| x * y)
                        .sum()
                })
                .collect();
            show(&format!("alpha^{name},{}", h + 1), &raw);
            // Paper: divide by sqrt(d_k) so the softmax does not saturate as d_k grows.
            let scaled: Vec<f32> = raw.iter().map(|s| s / (DK as f32).sqrt()).collect();
            show("/ sqrt(d_k)", &scaled);
            // Paper: softmax over the keys turns scores into weights that sum to 1.
            let max = scaled.iter().cloned().fold(f32::MIN, f32::max);
            let exp: Vec<f32> = scaled.iter().map(|s| (s - max).exp()).collect();
            let total: f32 = exp.iter().sum();
            let weights: Vec<f32> = exp.iter().map(|e| e / total).collect();
            show("softmax", &weights);
            // b^{i,h} = sum_j alpha'_{i,j} v^{j,h}
            let mut b = vec![0.0; DK];
            for (j, w) in weights.iter().enumerate() {
                for (d, bd) in b.iter_mut().enumerate() {
                    *bd += w * head(&v[j], h)[d];
                }
            }
            show(&format!("b^{name},{}", h + 1), &b);
            b_heads[i][h] = b;
        }
    }

    println!("\nStep 3: concatenate the heads and mix them with W^o: b^i = [b^(i,1) b^(i,2)] W^o.");
    let mut by_hand = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let concat: Vec<f32> = b_heads[i].concat();
        show(&format!("[b^{name},1 b^{name},2]"), &concat);
        let b = mul(&concat.try_into().unwrap(), &wo);
        show(&format!("b^{name}"), &b);
        by_hand.push(b);
    }

    println!("\nStep 4: the same with seq2seq::model::MultiHeadAttention.");
    let device = Default::default();
    let mut mha = MultiHeadAttentionConfig::new(D, H)
        .with_dropout(0.0)
        .init::<B>(&device);
    // The module packs W^q | W^k | W^v side by side: [d_model, 3 * d_model].
    let packed: Vec<f32> = (0..D)
        .flat_map(|r| {
            wq[r]
                .iter()
                .chain(&wk[r])
                .chain(&wv[r])
                .copied()
                .collect::<Vec<_>>()
        })
        .collect();
    let linear = |weight: Vec<f32>, cols: usize| Linear {
        weight: Param::from_tensor(Tensor::from_data(
            TensorData::new(weight, [D, cols]),
            &device,
        )),
        bias: Some(Param::from_tensor(Tensor::zeros([cols], &device))),
    };
    mha.in_proj = linear(packed, 3 * D);
    mha.out_proj = linear(wo.iter().flatten().copied().collect(), D);
    let input = Tensor::<B, 3>::from_data(
        TensorData::new(a.iter().flatten().copied().collect::<Vec<f32>>(), [1, 2, D]),
        &device,
    );
    let out = mha.forward_self(input, None);
    let module: Vec<f32> = out.context.into_data().to_vec().unwrap();
    show("module b^i", &module[..D]);
    show("module b^j", &module[D..]);
    let hand: Vec<f32> = by_hand.concat();
    let diff = module
        .iter()
        .zip(&hand)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    println!("\nmax |module - by hand| = {diff:.2e}");
    assert!(diff < 1e-5, "the module disagrees with the walkthrough");
    println!("The module computes exactly the steps above.");
}

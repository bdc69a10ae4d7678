//! Position-wise maps (linear layers, the FFN) applied to `[batch * len, d]` matrices.
//!
//! Deviation in form, not in result: a linear layer on a `[batch, len, d_in]` tensor is the same
//! map as on its `[batch * len, d_in]` flattening, but Burn 0.21's backward pass differs.
//! `linear_weight_backward` on a rank-3 input multiplies `x^T` and the output gradient per batch
//! row into a `[batch, d_in, d_out]` tensor and then sums it over the batch: for a 600-word batch
//! and a 256 x 1024 FFN weight that is 630 MB written and read back each step, where the
//! flattened input needs one `[d_in, batch * len] x [batch * len, d_out]` GEMM. Profiled on flex:
//! page faults and copies from those temporaries took a third of a G2P training step.

use burn::prelude::*;

/// Apply `f` to `x` flattened to `[batch * len, d]` and restore the leading dimensions.
///
/// # Shapes
/// - `x`: `[batch, len, d_in]`
/// - `f`: `[batch * len, d_in] -> [batch * len, d_out]`
/// - output: `[batch, len, d_out]`
pub fn tokenwise<B: Backend>(
    x: Tensor<B, 3>,
    f: impl FnOnce(Tensor<B, 2>) -> Tensor<B, 2>,
) -> Tensor<B, 3> {
    let [batch, len, d_in] = x.dims();
    let y = f(x.reshape([batch * len, d_in]));
    let [_, d_out] = y.dims();
    y.reshape([batch, len, d_out])
}

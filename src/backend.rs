//! The backend types, chosen by cargo feature. Everything else is generic over `B: Backend`.

#[cfg(feature = "ndarray")]
/// CPU backend (default feature `ndarray`).
pub type NdArray = burn::backend::NdArray<f32>;

#[cfg(feature = "flex")]
/// Burn's pure-Rust CPU backend (feature `flex`).
pub type Flex = burn::backend::Flex;

#[cfg(feature = "wgpu")]
/// GPU backend through WebGPU (Vulkan, Metal, DX12), feature `wgpu`: Burn's cubecl wgpu backend
/// *without* the burn-fusion wrapper. `burn::backend::Wgpu` wraps it in burn-fusion when burn's
/// `fusion` feature is on (it is by default), and that wrapper panics in burn-train runs on
/// 0.21.0 ("Should have handle for tensor TensorId", burn-ir `handle.rs:97`; upstream
/// tracel-ai/burn#4347, seen on CUDA, Metal and Vulkan, not only on software Vulkan). The unfused
/// backend trains reliably; the fused one stays available as [`WgpuFusion`].
pub type Wgpu = burn::backend::wgpu::CubeBackend<burn::backend::wgpu::WgpuRuntime, f32, i32, u32>;

#[cfg(feature = "wgpu")]
/// The same GPU backend wrapped in burn-fusion (kernel fusion; see [`Wgpu`] for why it is not
/// the default).
pub type WgpuFusion = burn::backend::Wgpu<f32, i32>;

/// The devices that `train --devices N` trains on (data-parallel, burn-train's multi-device
/// strategy).
pub trait DeviceSet: Sized + Clone {
    /// `n` devices; `n == 1` gives `first` alone.
    fn device_set(first: &Self, n: usize) -> Vec<Self>;
}

#[cfg(feature = "ndarray")]
/// The CPU is one device: `n` workers share it, each computing the gradients of its own batches.
impl DeviceSet for burn::backend::ndarray::NdArrayDevice {
    fn device_set(first: &Self, n: usize) -> Vec<Self> {
        vec![*first; n]
    }
}

#[cfg(feature = "flex")]
/// As for ndarray: `n` workers on the one CPU device.
impl DeviceSet for burn::backend::flex::FlexDevice {
    fn device_set(first: &Self, n: usize) -> Vec<Self> {
        vec![*first; n]
    }
}

#[cfg(feature = "wgpu")]
/// The first `n` discrete GPUs (`WgpuDevice::DiscreteGpu(0..n)`).
impl DeviceSet for burn::backend::wgpu::WgpuDevice {
    fn device_set(first: &Self, n: usize) -> Vec<Self> {
        if n <= 1 {
            vec![first.clone()]
        } else {
            (0..n)
                .map(burn::backend::wgpu::WgpuDevice::DiscreteGpu)
                .collect()
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #[cfg(feature = "ndarray")]
    pub type TestBackend = super::NdArray;
    #[cfg(all(not(feature = "ndarray"), feature = "wgpu"))]
    pub type TestBackend = super::Wgpu;
}

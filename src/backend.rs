//! The backend types, chosen by cargo feature. Everything else is generic over `B: Backend`.

#[cfg(feature = "ndarray")]
/// CPU backend (default feature `ndarray`).
pub type NdArray = burn::backend::NdArray<f32>;

#[cfg(feature = "flex")]
/// Burn's pure-Rust CPU backend (feature `flex`).
pub type Flex = burn::backend::Flex;

#[cfg(feature = "wgpu")]
/// GPU backend through WebGPU (Vulkan, Metal, DX12), feature `wgpu`.
pub type Wgpu = burn::backend::Wgpu<f32, i32>;

#[cfg(test)]
pub(crate) mod tests {
    #[cfg(feature = "ndarray")]
    pub type TestBackend = super::NdArray;
    #[cfg(all(not(feature = "ndarray"), feature = "wgpu"))]
    pub type TestBackend = super::Wgpu;
}

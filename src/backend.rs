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

#[cfg(feature = "cuda")]
/// NVIDIA GPUs through CUDA, feature `cuda`: Burn's cubecl CUDA backend, like [`Wgpu`] without
/// the burn-fusion wrapper (the same upstream panic was reported on CUDA).
pub type Cuda = burn_cubecl::CubeBackend<cubecl::cuda::CudaRuntime, f32, i32, u8>;

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

#[cfg(feature = "cuda")]
/// The first `n` CUDA devices.
impl DeviceSet for burn::backend::cuda::CudaDevice {
    fn device_set(first: &Self, n: usize) -> Vec<Self> {
        if n <= 1 {
            vec![first.clone()]
        } else {
            (0..n)
                .map(|index| burn::backend::cuda::CudaDevice { index })
                .collect()
        }
    }
}

/// Why a backend cannot start.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("no CUDA device ({0}); the cuda backend needs an NVIDIA GPU, its driver (libcuda.so) and NVRTC (libnvrtc.so: the CUDA toolkit, or pip install nvidia-cuda-nvrtc-cu12); or choose another --backend")]
    NoCuda(String),
    #[error("no GPU adapter for wgpu ({0}); install a Vulkan, Metal or DX12 driver (on Linux without a GPU: apt install mesa-vulkan-drivers), or choose a CPU backend: --backend flex (the faster one, the default of a plain build) or --backend ndarray")]
    NoAdapter(String),
}

/// A GPU adapter wgpu can see.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Adapter {
    pub name: String,
    /// Vulkan, Metal, Dx12, Gl, ...
    pub api: String,
    /// DiscreteGpu, IntegratedGpu, VirtualGpu, Cpu (a software rasteriser such as lavapipe), ...
    pub device_type: String,
    pub driver: String,
    pub driver_info: String,
}

/// Every adapter wgpu finds on this machine, on every graphics API it was built with.
#[cfg(feature = "wgpu")]
pub fn wgpu_adapters() -> Vec<Adapter> {
    let instance = wgpu::Instance::default();
    let adapters = block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    adapters
        .iter()
        .map(|adapter| {
            let info = adapter.get_info();
            Adapter {
                name: info.name,
                api: format!("{:?}", info.backend),
                device_type: format!("{:?}", info.device_type),
                driver: info.driver,
                driver_info: info.driver_info,
            }
        })
        .collect()
}

/// Run a future to completion on this thread (wgpu's native futures are ready at once or
/// after the driver answers; no executor needed).
#[cfg(feature = "wgpu")]
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut context) {
            return value;
        }
        std::thread::yield_now();
    }
}

/// A backend this binary was built with (the `--backend` choices).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendChoice {
    #[cfg(feature = "ndarray")]
    /// CPU (ndarray).
    Ndarray,
    #[cfg(feature = "flex")]
    /// CPU (Burn's pure-Rust flex backend).
    Flex,
    #[cfg(feature = "wgpu")]
    /// GPU through WebGPU (Vulkan, Metal, DX12), without kernel fusion (reliable).
    Wgpu,
    #[cfg(feature = "wgpu")]
    /// The same with burn-fusion's kernel fusion (burn 0.21.0 can panic with it in training:
    /// tracel-ai/burn#4347).
    WgpuFusion,
    #[cfg(feature = "cuda")]
    /// NVIDIA GPU through CUDA (unfused).
    Cuda,
}

impl Default for BackendChoice {
    fn default() -> Self {
        #[cfg(feature = "wgpu")]
        return BackendChoice::Wgpu;
        #[cfg(all(feature = "flex", not(feature = "wgpu")))]
        return BackendChoice::Flex;
        #[cfg(all(feature = "ndarray", not(feature = "flex"), not(feature = "wgpu")))]
        return BackendChoice::Ndarray;
    }
}

/// The version line: crate version, Burn version, compiled-in backends.
pub fn version() -> &'static str {
    let mut backends = Vec::new();
    if cfg!(feature = "ndarray-openblas") {
        backends.push("ndarray (system OpenBLAS)");
    } else if cfg!(feature = "ndarray") {
        backends.push("ndarray");
    }
    if cfg!(feature = "flex") {
        backends.push("flex");
    }
    if cfg!(feature = "wgpu") {
        backends.push("wgpu");
    }
    if cfg!(feature = "cuda") {
        backends.push("cuda");
    }
    Box::leak(
        format!(
            "{} (burn 0.21.0; backends: {})",
            env!("CARGO_PKG_VERSION"),
            backends.join(", ")
        )
        .into_boxed_str(),
    )
}

/// Run `f`, turning a panic into its message, without printing the panic (cubecl panics when
/// a GPU runtime cannot start; the backends below report that as an error instead).
#[cfg(any(feature = "wgpu", feature = "cuda"))]
fn quietly<T>(f: impl FnOnce() -> T + std::panic::UnwindSafe) -> Result<T, String> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(f);
    std::panic::set_hook(hook);
    result.map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

/// The default wgpu device, set up explicitly so the adapter's name can be printed.
#[cfg(feature = "wgpu")]
pub fn wgpu_device(name: &str) -> Result<burn::backend::wgpu::WgpuDevice, BackendError> {
    use burn::backend::wgpu::{graphics::AutoGraphicsApi, init_setup, RuntimeOptions, WgpuDevice};
    let device = WgpuDevice::default();
    let setup = quietly(|| init_setup::<AutoGraphicsApi>(&device, RuntimeOptions::default()))
        .map_err(BackendError::NoAdapter)?;
    let info = setup.adapter.get_info();
    eprintln!(
        "backend: {name} ({}, {:?}, {:?})",
        info.name, info.backend, info.device_type
    );
    Ok(device)
}

/// The first CUDA device, checked with one small tensor (cubecl panics when the driver or
/// NVRTC is missing; that becomes an error here).
#[cfg(feature = "cuda")]
pub fn cuda_device() -> Result<burn::backend::cuda::CudaDevice, BackendError> {
    use burn::prelude::*;
    let device = burn::backend::cuda::CudaDevice::default();
    let sum = quietly(|| {
        Tensor::<Cuda, 1>::ones([4], &device)
            .sum()
            .into_scalar()
            .elem::<f32>()
    })
    .map_err(BackendError::NoCuda)?;
    if sum != 4.0 {
        return Err(BackendError::NoCuda(format!(
            "a test sum gave {sum} instead of 4"
        )));
    }
    eprintln!("backend: cuda ({device:?})");
    Ok(device)
}

/// Run `$body` with `B` bound to the chosen backend and `device` to its default device.
#[macro_export]
macro_rules! with_backend {
    ($choice:expr, |$B:ident, $device:ident| $body:expr) => {
        match $choice {
            #[cfg(feature = "ndarray")]
            $crate::backend::BackendChoice::Ndarray => {
                type $B = $crate::backend::NdArray;
                let $device = Default::default();
                eprintln!(
                    "backend: ndarray (CPU{})",
                    if cfg!(feature = "ndarray-openblas") {
                        ", system OpenBLAS"
                    } else {
                        ""
                    }
                );
                $body
            }
            #[cfg(feature = "flex")]
            $crate::backend::BackendChoice::Flex => {
                type $B = $crate::backend::Flex;
                let $device = Default::default();
                eprintln!("backend: flex (CPU)");
                $body
            }
            #[cfg(feature = "wgpu")]
            $crate::backend::BackendChoice::Wgpu => {
                type $B = $crate::backend::Wgpu;
                let $device = $crate::backend::wgpu_device("wgpu")?;
                $body
            }
            #[cfg(feature = "wgpu")]
            $crate::backend::BackendChoice::WgpuFusion => {
                type $B = $crate::backend::WgpuFusion;
                let $device = $crate::backend::wgpu_device("wgpu-fusion")?;
                $body
            }
            #[cfg(feature = "cuda")]
            $crate::backend::BackendChoice::Cuda => {
                type $B = $crate::backend::Cuda;
                let $device = $crate::backend::cuda_device()?;
                $body
            }
        }
    };
}

#[cfg(test)]
pub(crate) mod tests {
    #[cfg(feature = "ndarray")]
    pub type TestBackend = super::NdArray;
    #[cfg(all(not(feature = "ndarray"), feature = "wgpu"))]
    pub type TestBackend = super::Wgpu;
}

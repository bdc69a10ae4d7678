//! `seq2seq devices`: the backends built in and the devices they can use.

use anyhow::Result;
use seq2seq::backend::{version, BackendChoice};

#[derive(clap::Args, Debug)]
pub struct DevicesArgs {
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn devices(backend: BackendChoice, args: DevicesArgs) -> Result<()> {
    let cores = seq2seq::infer::default_threads();
    #[cfg(feature = "wgpu")]
    let adapters = Some(seq2seq::backend::wgpu_adapters());
    #[cfg(not(feature = "wgpu"))]
    let adapters: Option<Vec<seq2seq::backend::Adapter>> = None;
    // The adapter the wgpu backend picks by default (it prints its own line).
    #[cfg(feature = "wgpu")]
    let chosen = seq2seq::backend::wgpu_device("wgpu").map_err(|err| err.to_string());
    #[cfg(not(feature = "wgpu"))]
    let chosen: std::result::Result<(), String> = Err("wgpu is not built in".into());
    if args.json {
        let report = serde_json::json!({
            "version": version(),
            "backend": format!("{backend:?}").to_lowercase(),
            "cpu_cores": cores,
            "wgpu_adapters": adapters,
            "wgpu_default_adapter_ok": chosen.is_ok(),
            "wgpu_error": chosen.as_ref().err(),
        });
        println!("{report}");
        return Ok(());
    }
    println!("seq2seq {}", version());
    println!("default backend: {backend:?}; CPU: {cores} cores");
    match &adapters {
        None => println!("wgpu: not built in (cargo build --release --features wgpu)"),
        Some(list) if list.is_empty() => println!("wgpu: no adapter found"),
        Some(list) => {
            println!("wgpu adapters:");
            for (i, a) in list.iter().enumerate() {
                println!(
                    "  {i}: {} ({}, {}; driver {} {})",
                    a.name, a.api, a.device_type, a.driver, a.driver_info
                );
            }
        }
    }
    if let (Some(_), Err(err)) = (&adapters, &chosen) {
        println!("wgpu default device: {err}");
    }
    Ok(())
}

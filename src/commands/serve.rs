//! `seq2seq serve`: translation models behind LibreTranslate's API (`seq2seq::serve`).

use anyhow::{Context, Result};
use burn::prelude::Backend;
use seq2seq::backend::BackendChoice;
use seq2seq::serve::queue::{BatchPolicy, ModelQueue, Outcome};
use seq2seq::serve::{language_pair, AppState, Served};
use seq2seq::with_backend;
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// A model to serve, as NAME=DIR (repeatable). A translation model's NAME is its languages,
    /// SRC-TGT (e.g. en-de=artifacts/multi30k-en-de): what LibreTranslate's `source` and
    /// `target` name.
    #[arg(long = "model", required = true, value_name = "NAME=DIR")]
    models: Vec<String>,
    /// Address to listen on (127.0.0.1: this machine only; 0.0.0.0: every interface).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0: any free one; the address is printed on stderr).
    #[arg(long, default_value_t = 5000)]
    port: u16,
    /// How long a request waits for others to share its batch, in milliseconds.
    #[arg(long, default_value_t = 5)]
    batch_wait_ms: u64,
    /// Texts per batch, at most (a request is never split).
    #[arg(long, default_value_t = 256)]
    max_batch: usize,
    /// Requests that may wait per model; more get 503 with Retry-After.
    #[arg(long, default_value_t = 1024)]
    queue: usize,
    /// The largest request body, in bytes (more: 413).
    #[arg(long, default_value_t = 1 << 20)]
    body_limit: usize,
    /// Decoding threads per model (default: the machine's cores).
    #[arg(long)]
    threads: Option<usize>,
}

/// `NAME=DIR` split, the name checked as a language pair.
fn parse_model(spec: &str) -> Result<(String, String, String, PathBuf)> {
    let (name, dir) = spec.split_once('=').with_context(|| {
        format!("--model {spec:?}: expected NAME=DIR (e.g. en-de=artifacts/multi30k-en-de)")
    })?;
    let (source, target) = language_pair(name).with_context(|| {
        format!("--model {spec:?}: a served model's NAME is its languages, SRC-TGT with 2- or 3-letter lowercase codes (e.g. en-de); only translation models are served in this version")
    })?;
    Ok((name.to_string(), source, target, PathBuf::from(dir)))
}

pub fn serve(backend: BackendChoice, args: ServeArgs) -> Result<()> {
    anyhow::ensure!(args.threads != Some(0), "--threads must be at least 1");
    anyhow::ensure!(args.max_batch >= 1, "--max-batch must be at least 1");
    let specs = args
        .models
        .iter()
        .map(|s| parse_model(s))
        .collect::<Result<Vec<_>>>()?;
    for (i, (name, ..)) in specs.iter().enumerate() {
        anyhow::ensure!(
            !specs[..i].iter().any(|s| &s.0 == name),
            "--model {name} is given twice"
        );
    }
    let policy = BatchPolicy {
        max_wait: Duration::from_millis(args.batch_wait_ms),
        max_texts: args.max_batch,
        queue: args.queue,
    };
    let served;
    with_backend!(backend, |B, device| {
        served = spawn_models::<B>(device, specs, policy, args.threads)?;
    });
    let state = AppState {
        models: std::sync::Arc::new(served),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the server's runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
            .await
            .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
        eprintln!(
            "serve: listening on http://{}",
            listener.local_addr().context("the bound address")?
        );
        seq2seq::serve::run(listener, state, args.body_limit)
            .await
            .context("the server stopped")?;
        eprintln!("serve: stopped");
        anyhow::Ok(())
    })
}

/// Each model loaded on its own thread behind its queue; an error if one cannot be loaded.
fn spawn_models<B: Backend>(
    device: B::Device,
    specs: Vec<(String, String, String, PathBuf)>,
    policy: BatchPolicy,
    threads: Option<usize>,
) -> Result<Vec<Served>> {
    let mut served = Vec::new();
    for (name, source, target, dir) in specs {
        // Loaded on the model's own thread; the result comes back before serving starts.
        let (ready, loaded) = std::sync::mpsc::channel::<Result<(), String>>();
        let device = device.clone();
        let path = dir.clone();
        let queue = ModelQueue::spawn(&name, policy, move || {
            let model = seq2seq::infer::Predictor::<B>::load(&path, device)
                .map_err(|e| e.to_string())
                .and_then(|mut p| {
                    if let Some(t) = threads {
                        p.threads = t;
                    }
                    let decoding = seq2seq::decode::Decoding::from_generation(
                        &p.loaded.config.generation,
                        None,
                        1,
                        None,
                    )
                    .map_err(|e| e.to_string())?;
                    Ok((p, decoding))
                });
            let _ = ready.send(model.as_ref().map(|_| ()).map_err(Clone::clone));
            move |texts: &[String]| -> Vec<Outcome> {
                match &model {
                    Ok((predictor, decoding)) => {
                        seq2seq::serve::translator::translate_texts(predictor, decoding, 64, texts)
                    }
                    Err(err) => texts.iter().map(|_| Err(err.clone())).collect(),
                }
            }
        });
        loaded
            .recv()
            .context("the model thread stopped")?
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("cannot load model {name} from {}", dir.display()))?;
        eprintln!(
            "serve: {name} ({source} -> {target}) from {}",
            dir.display()
        );
        served.push(Served {
            name,
            source,
            target,
            queue,
        });
    }
    Ok(served)
}

//! Data-parallel training across machines on burn-collective: one process per machine (a
//! *node*), a global orchestrator that introduces the nodes to each other, and a gradient
//! all-reduce between each node's training step and its optimizer step.
//!
//! Every node holds the whole model and trains on its own shard of the batches. After the
//! backward pass a node flattens its gradients into one vector, scales it by the number of
//! target positions in its batch and appends that count and a stop flag; one all-reduce (sum)
//! gives every node the same weighted mean gradient, the same stop decision and hence the same
//! Adam update. The loss of a batch is its summed token loss over its `[batch, tgt_len]`
//! positions, so this weighting makes a step of N nodes equal to one step on the N batches
//! concatenated (when their target lengths agree), not merely close to it.
//!
//! What keeps the nodes in step:
//! - at the start, a handshake checks that the ranks are distinct and that every node starts
//!   from the same epoch, then rank 0's weights replace everyone's (sent as a sum in which the
//!   other nodes contribute zeros, which is exact);
//! - every node runs the same number of steps per epoch ([`Collective`]'s shard drops the last
//!   `batches % nodes` batches);
//! - rank 0 alone validates, checkpoints and decides early stopping; its decision and any
//!   node's interruption travel as flags in the all-reduces;
//! - after each epoch the nodes compare a hash of their weights and stop with an error if
//!   they differ.
//!
//! A node that dies leaves the others blocked in an all-reduce that burn-collective cannot
//! cancel: a watchdog ends the process with an error after [`NodeConfig::timeout`] without an
//! answer. Rank 0's checkpoints of finished epochs stay; the group restarts with `--resume`.

use super::{Components, Strategy};
use crate::data::batcher::EncodedPair;
use crate::data::Seq2SeqBatch;
use crate::train::Seq2SeqTrainer;
use burn::data::dataloader::Progress;
use burn::module::{AutodiffModule, Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::TensorPrimitive;
use burn::train::metric::store::EventStoreClient;
use burn::train::{
    CloneEarlyStoppingStrategy, EventProcessorTraining, InferenceStep, Learner, LearnerEvent,
    LearningCheckpointer, SupervisedLearningStrategy, SupervisedTrainingEventProcessor,
    TrainLoader, TrainingComponents, TrainingItem, TrainingStrategy, ValidLoader,
};
use burn_collective::{CollectiveConfig, PeerId, ReduceOperation};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why a node cannot join or stay in the group.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NodeError {
    #[error("--nodes must be at least 1")]
    NoNodes,
    #[error("--rank {rank} is out of range for --nodes {nodes} (ranks are 0 to {})", nodes - 1)]
    RankOutOfRange { rank: u32, nodes: u32 },
    #[error("{what} {url:?} is not of the form ws://HOST:PORT")]
    BadAddress { what: &'static str, url: String },
    #[error("cannot reach the orchestrator at {url}: {reason} (start it first: seq2seq orchestrator --port PORT)")]
    OrchestratorUnreachable { url: String, reason: String },
    #[error("cannot listen on {url} (this node's address): {reason}")]
    PortUnavailable { url: String, reason: String },
    #[error("node {rank}: cannot join the group: {reason}")]
    Register { rank: u32, reason: String },
    #[error("node {rank}: two nodes claim the same rank (ranks seen: {seen:?}); give each node its own --rank from 0 to {}", nodes - 1)]
    DuplicateRank {
        rank: u32,
        nodes: u32,
        seen: Vec<u32>,
    },
    #[error("node {rank}: the nodes would start from different epochs (this one from {mine}, the group's mean {mean}); every node must see rank 0's run directory to --resume")]
    EpochMismatch { rank: u32, mine: usize, mean: f64 },
    #[error("node {rank}: an all-reduce failed: {reason}")]
    AllReduce { rank: u32, reason: String },
    #[error("node {rank}: the weights of the nodes differ after epoch {epoch} (hash {mine:016x} here); training cannot go on in step")]
    WeightsDiffer { rank: u32, epoch: usize, mine: u64 },
}

/// One node's place in the group.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// How many nodes train together.
    pub nodes: u32,
    /// This node's rank, `0..nodes`; rank 0 leads (checkpoints, final model, dashboard).
    pub rank: u32,
    /// The global orchestrator, `ws://HOST:PORT`.
    pub orchestrator: String,
    /// Where the other nodes reach this one, `ws://HOST:PORT` (the port is opened here).
    pub address: String,
    /// How long a node waits for the others (joining, each all-reduce) before giving up.
    pub timeout: Duration,
}

/// `(host, port)` of a `ws://HOST:PORT` address.
fn host_port(what: &'static str, url: &str) -> Result<(String, u16), NodeError> {
    let bad = || NodeError::BadAddress {
        what,
        url: url.to_string(),
    };
    let rest = url.strip_prefix("ws://").ok_or_else(bad)?;
    let rest = rest.trim_end_matches('/');
    let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
    let port = port.parse::<u16>().map_err(|_| bad())?;
    if host.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

impl NodeConfig {
    /// Checks what can be checked alone: rank in range, addresses well formed, this node's
    /// port free, the orchestrator reachable.
    pub fn check(&self) -> Result<(), NodeError> {
        if self.nodes == 0 {
            return Err(NodeError::NoNodes);
        }
        if self.rank >= self.nodes {
            return Err(NodeError::RankOutOfRange {
                rank: self.rank,
                nodes: self.nodes,
            });
        }
        let (_, port) = host_port("--node-address", &self.address)?;
        TcpListener::bind(("0.0.0.0", port)).map_err(|e| NodeError::PortUnavailable {
            url: self.address.clone(),
            reason: e.to_string(),
        })?;
        let (host, port) = host_port("--orchestrator", &self.orchestrator)?;
        let unreachable = |reason: String| NodeError::OrchestratorUnreachable {
            url: self.orchestrator.clone(),
            reason,
        };
        let addr = (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| unreachable(e.to_string()))?
            .next()
            .ok_or_else(|| unreachable("the host name has no address".into()))?;
        TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .map_err(|e| unreachable(e.to_string()))?;
        Ok(())
    }

    fn collective_config(&self) -> Result<CollectiveConfig, NodeError> {
        let (_, port) = host_port("--node-address", &self.address)?;
        let parse = |what, url: &str| {
            burn_communication_address(url).map_err(|_| NodeError::BadAddress {
                what,
                url: url.to_string(),
            })
        };
        Ok(CollectiveConfig::default()
            .with_num_devices(1)
            .with_num_nodes(self.nodes)
            .with_global_address(parse("--orchestrator", &self.orchestrator)?)
            .with_node_address(parse("--node-address", &self.address)?)
            .with_data_service_port(port))
    }
}

/// burn-collective's address type (from burn-communication, re-exported by neither crate
/// under a stable path), built from its `FromStr`.
fn burn_communication_address<A: FromStr>(url: &str) -> Result<A, A::Err> {
    url.parse()
}

/// Data-parallel training as one node of several machines.
pub struct Collective<B: AutodiffBackend> {
    device: B::Device,
    node: NodeConfig,
    state: Arc<NodeState>,
}

/// What the node learned while training, for the run to report.
#[derive(Default)]
struct NodeState {
    /// The last epoch every node finished.
    epochs_done: AtomicUsize,
    /// Why training stopped, if it failed.
    failure: Mutex<Option<NodeError>>,
}

impl<B: AutodiffBackend> Collective<B> {
    /// A node on `device`; [`NodeConfig::check`]s the setup first.
    pub fn new(device: B::Device, node: NodeConfig) -> Result<Self, NodeError> {
        node.check()?;
        Ok(Self {
            device,
            node,
            state: Arc::default(),
        })
    }
}

impl<B: AutodiffBackend> Strategy<B> for Collective<B> {
    fn main_device(&self) -> B::Device {
        self.device.clone()
    }

    fn describe(&self) -> Option<String> {
        Some(format!(
            "node {} of {} (orchestrator {}, this node at {}){}",
            self.node.rank,
            self.node.nodes,
            self.node.orchestrator,
            self.node.address,
            if self.is_leader() {
                ": writes checkpoints and the model"
            } else {
                ": trains only; rank 0 writes checkpoints and the model"
            }
        ))
    }

    fn training_strategy(&self) -> TrainingStrategy<Components<B>> {
        TrainingStrategy::Custom(Arc::new(CollectiveLearning::<B> {
            device: self.device.clone(),
            node: self.node.clone(),
            state: self.state.clone(),
        }))
    }

    fn is_leader(&self) -> bool {
        self.node.rank == 0
    }

    /// Batches `rank`, `rank + nodes`, ...: disjoint shards of equal length (the last
    /// `batches % nodes` batches are left out, so that every node takes as many steps).
    fn shard(&self, batches: Vec<Vec<EncodedPair>>) -> Vec<Vec<EncodedPair>> {
        let nodes = self.node.nodes as usize;
        let per_node = batches.len() / nodes;
        batches
            .into_iter()
            .skip(self.node.rank as usize)
            .step_by(nodes)
            .take(per_node)
            .collect()
    }

    /// The leader logs into the run directory, the others into `node-RANK` below it.
    fn log_dir(&self, run: &std::path::Path) -> std::path::PathBuf {
        if self.is_leader() {
            run.to_path_buf()
        } else {
            run.join(format!("node-{}", self.node.rank))
        }
    }

    fn epochs_done(&self) -> Option<usize> {
        Some(self.state.epochs_done.load(Ordering::SeqCst))
    }

    fn failure(&self) -> Option<String> {
        self.state
            .failure
            .lock()
            .expect("node state")
            .as_ref()
            .map(|e| e.to_string())
    }
}

/// burn-train's learning strategy for one node (see the module docs).
struct CollectiveLearning<B: AutodiffBackend> {
    device: B::Device,
    node: NodeConfig,
    state: Arc<NodeState>,
}

/// Where a node's training steps spend their time, printed when it finishes.
#[derive(Default)]
struct StepTimes {
    steps: usize,
    /// Forward and backward.
    compute: Duration,
    /// Flattening, the gradient all-reduce and putting the gradients back.
    all_reduce: Duration,
    /// Floats all-reduced per step (gradients, count and flag).
    floats: usize,
}

impl StepTimes {
    fn report(&self, rank: u32) -> String {
        let steps = self.steps.max(1) as f64;
        format!(
            "node {rank}: {} steps; per step {:.1} ms forward+backward, {:.1} ms all-reducing {:.2} MB ({} floats)",
            self.steps,
            1e3 * self.compute.as_secs_f64() / steps,
            1e3 * self.all_reduce.as_secs_f64() / steps,
            self.floats as f64 * 4.0 / 1e6,
            self.floats
        )
    }
}

/// Ends the process when a collective operation waits longer than the timeout: a blocked
/// all-reduce cannot be cancelled, and a node that waits forever helps nobody.
struct Watchdog {
    waiting: Arc<Mutex<Option<(Instant, &'static str)>>>,
}

impl Watchdog {
    fn start(rank: u32, timeout: Duration) -> Self {
        let waiting: Arc<Mutex<Option<(Instant, &'static str)>>> = Arc::default();
        let watched = waiting.clone();
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(200));
            let Some((since, what)) = *watched.lock().expect("watchdog") else {
                continue;
            };
            if since.elapsed() > timeout {
                eprintln!(
                    "error: node {rank}: no answer from the other nodes within {} s while {what} \
                     (a node stopped, or the network failed). Rank 0's checkpoints of finished \
                     epochs are kept: restart the orchestrator and every node with --resume.",
                    timeout.as_secs()
                );
                std::process::exit(3);
            }
        });
        Self { waiting }
    }

    /// Runs `op` under the watchdog. burn-collective panics where it loses a peer (its
    /// worker threads and its client `unwrap` broken connections): such a panic comes back as
    /// `Err` with its message.
    fn guard<T>(&self, what: &'static str, op: impl FnOnce() -> T) -> Result<T, String> {
        *self.waiting.lock().expect("watchdog") = Some((Instant::now(), what));
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(op));
        *self.waiting.lock().expect("watchdog") = None;
        out.map_err(|panic| {
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "burn-collective failed".into())
        })
    }
}

/// Panics inside burn-collective and burn-communication (a lost peer) print one line instead
/// of burn-train's banner and a backtrace; the node then reports the loss as its error.
fn quiet_collective_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let inside = info.location().filter(|l| {
                let file = l.file();
                file.contains("burn-collective") || file.contains("burn-communication")
            });
            if let Some(at) = inside {
                let message = info
                    .payload()
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                // Where it panicked tells which connection was lost (a peer's data service,
                // the orchestrator), so the line names the place.
                let file = at.file().rsplit("/src/").next().unwrap_or(at.file());
                eprintln!("burn-collective: {message} (at {file}:{})", at.line());
            } else {
                previous(info);
            }
        }));
    });
}

/// This node's connection to the group.
struct Session<B: AutodiffBackend> {
    rank: u32,
    nodes: u32,
    peer: PeerId,
    watchdog: Watchdog,
    _b: std::marker::PhantomData<B>,
}

type Inner<B> = <B as AutodiffBackend>::InnerBackend;

impl<B: AutodiffBackend> Session<B> {
    fn join(node: &NodeConfig, device: &B::Device) -> Result<Self, NodeError> {
        let watchdog = Watchdog::start(node.rank, node.timeout);
        let peer = PeerId(node.rank);
        let config = node.collective_config()?;
        // The inner backend's device is the autodiff backend's.
        let inner = device.clone();
        quiet_collective_panics();
        watchdog
            .guard("waiting for every node to join", || {
                burn_collective::register::<Inner<B>>(peer, inner, config)
            })
            .and_then(|r| r.map_err(|e| collective_reason(&e)))
            .map_err(|reason| NodeError::Register {
                rank: node.rank,
                reason,
            })?;
        Ok(Self {
            rank: node.rank,
            nodes: node.nodes,
            peer,
            watchdog,
            _b: std::marker::PhantomData,
        })
    }

    /// The element-wise sum over the nodes of `values` (padded so that burn-collective's ring
    /// can split it, then cut back).
    fn sum(
        &self,
        what: &'static str,
        values: Tensor<Inner<B>, 1>,
    ) -> Result<Tensor<Inner<B>, 1>, NodeError> {
        let [len] = values.dims();
        let device = values.device();
        let padded = if len < self.nodes as usize {
            Tensor::cat(
                vec![values, Tensor::zeros([self.nodes as usize - len], &device)],
                0,
            )
        } else {
            values
        };
        let reduced = self
            .watchdog
            .guard(what, || {
                burn_collective::all_reduce::<Inner<B>>(
                    self.peer,
                    padded.into_primitive().tensor(),
                    ReduceOperation::Sum,
                )
            })
            .and_then(|r| r.map_err(|e| collective_reason(&e)))
            .map_err(|reason| NodeError::AllReduce {
                rank: self.rank,
                reason: if reason.contains("closed") || reason.contains("SendError") {
                    format!("lost the connection to another node ({reason})")
                } else {
                    reason
                },
            })?;
        Ok(Tensor::<Inner<B>, 1>::from_primitive(TensorPrimitive::Float(reduced)).slice(0..len))
    }

    fn sum_host(
        &self,
        what: &'static str,
        values: Vec<f32>,
        device: &B::Device,
    ) -> Result<Vec<f32>, NodeError> {
        let len = values.len();
        let tensor = Tensor::<Inner<B>, 1>::from_data(TensorData::new(values, [len]), device);
        Ok(self
            .sum(what, tensor)?
            .into_data()
            .to_vec::<f32>()
            .expect("f32 data"))
    }

    fn finish(self) {
        // Leaving is best effort: the others may already be gone.
        let _ = self.watchdog.guard("leaving the group", || {
            burn_collective::finish_collective::<Inner<B>>(self.peer)
        });
    }
}

fn collective_reason(e: &burn_collective::CollectiveError) -> String {
    // burn-collective does not export the global error type: read its name.
    let debug = format!("{e:?}");
    if debug.contains("RegisterParamsMismatch") {
        "the nodes disagree on the group (is --nodes the same on every node?)".into()
    } else if debug.contains("DoubleRegister") {
        "another node registered with the same --node-address".into()
    } else if debug.contains("LocalServerMissing") {
        "lost the connection to another node (burn-collective's server stopped after a peer failed)"
            .into()
    } else if debug.contains("PeerLost") {
        format!("lost the connection to another node ({debug})")
    } else {
        debug
    }
}

/// The model's float parameters in visiting order, as one flat vector.
struct Flatten<B: AutodiffBackend> {
    parts: Vec<Tensor<Inner<B>, 1>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Flatten<B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let value = param.val().inner();
        let n = value.shape().num_elements();
        self.parts.push(value.reshape([n]));
    }
}

fn flatten<B: AutodiffBackend>(model: &Seq2SeqTrainer<B>) -> Tensor<Inner<B>, 1> {
    let mut v = Flatten::<B> { parts: Vec::new() };
    model.visit(&mut v);
    Tensor::cat(v.parts, 0)
}

/// Replaces the parameters by consecutive slices of `flat` (the inverse of [`flatten`]).
struct Unflatten<B: AutodiffBackend> {
    flat: Tensor<Inner<B>, 1>,
    offset: usize,
}

impl<B: AutodiffBackend> ModuleMapper<B> for Unflatten<B> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        let shape = tensor.shape();
        let n = shape.num_elements();
        let value = self
            .flat
            .clone()
            .slice(self.offset..self.offset + n)
            .reshape(shape);
        self.offset += n;
        let mut value = Tensor::<B, D>::from_inner(value);
        if tensor.is_require_grad() {
            value = value.require_grad();
        }
        Param::from_mapped_value(id, value, mapper)
    }
}

/// Moves each parameter's gradient into a flat vector (zeros where a parameter got none).
struct TakeGrads<'a, B: AutodiffBackend> {
    grads: &'a mut burn::optim::GradientsParams,
    parts: Vec<Tensor<Inner<B>, 1>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for TakeGrads<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let value = param.val();
        let n = value.shape().num_elements();
        let grad = self
            .grads
            .remove::<Inner<B>, D>(param.id)
            .map(|g| g.reshape([n]))
            .unwrap_or_else(|| Tensor::zeros([n], &value.device()));
        self.parts.push(grad);
    }
}

/// Registers consecutive slices of `flat` as the parameters' gradients.
struct PutGrads<'a, B: AutodiffBackend> {
    grads: &'a mut burn::optim::GradientsParams,
    flat: Tensor<Inner<B>, 1>,
    offset: usize,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for PutGrads<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let shape = param.val().shape();
        let n = shape.num_elements();
        let grad = self
            .flat
            .clone()
            .slice(self.offset..self.offset + n)
            .reshape(shape);
        self.offset += n;
        self.grads.register::<Inner<B>, D>(param.id, grad);
    }
}

/// FNV-1a over the bits of every parameter: equal weights, equal hash.
fn weights_hash<B: AutodiffBackend>(model: &Seq2SeqTrainer<B>) -> u64 {
    let values = flatten(model)
        .into_data()
        .to_vec::<f32>()
        .expect("f32 weights");
    values.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, v| {
        v.to_bits()
            .to_le_bytes()
            .iter()
            .fold(h, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3))
    })
}

/// A 64-bit value as eight 8-bit pieces: a sum over up to 65,536 nodes stays below 2^24, so
/// it is exact in f32.
fn pieces(x: u64) -> Vec<f32> {
    (0..8).map(|i| ((x >> (8 * i)) & 0xff) as f32).collect()
}

impl<B: AutodiffBackend> CollectiveLearning<B> {
    fn fail(&self, error: NodeError) {
        *self.state.failure.lock().expect("node state") = Some(error);
    }

    /// Ranks distinct, same starting epoch; then rank 0's weights for everyone.
    fn handshake(
        &self,
        session: &Session<B>,
        learner: &mut Learner<Components<B>>,
        starting_epoch: usize,
    ) -> Result<(), NodeError> {
        let nodes = self.node.nodes as usize;
        let mut values = vec![0.0f32; nodes + 1];
        values[self.node.rank as usize] = 1.0;
        values[nodes] = starting_epoch as f32;
        let sums = session.sum_host("exchanging ranks", values, &self.device)?;
        if sums[..nodes].iter().any(|&c| c != 1.0) {
            let seen = (0..nodes as u32)
                .filter(|&r| sums[r as usize] > 0.0)
                .collect();
            return Err(NodeError::DuplicateRank {
                rank: self.node.rank,
                nodes: self.node.nodes,
                seen,
            });
        }
        if sums[nodes] != (starting_epoch * nodes) as f32 {
            return Err(NodeError::EpochMismatch {
                rank: self.node.rank,
                mine: starting_epoch,
                mean: f64::from(sums[nodes]) / nodes as f64,
            });
        }
        // Rank 0's weights: a sum in which the others contribute zeros (x + 0 = x exactly).
        let model = learner.model();
        let mine = flatten(&model);
        let contribution = if self.node.rank == 0 {
            mine
        } else {
            mine.zeros_like()
        };
        let weights = session.sum("receiving rank 0's weights", contribution)?;
        let model = model.map(&mut Unflatten::<B> {
            flat: weights,
            offset: 0,
        });
        learner.load_model(model.into_record());
        Ok(())
    }

    /// One training epoch; returns whether any node asked to stop.
    fn train_epoch(
        &self,
        session: &Session<B>,
        learner: &mut Learner<Components<B>>,
        epochs: &Epochs<B>,
        global_progress: &Progress,
        processor: &mut SupervisedTrainingEventProcessor<Components<B>>,
        times: &mut StepTimes,
    ) -> Result<bool, NodeError> {
        let interrupter = &epochs.interrupter;
        let mut iterator = epochs.train.iter();
        let mut iteration = 0;
        while let Some(batch) = iterator.next() {
            iteration += 1;
            learner.lr_step();
            let progress = iterator.progress();
            let tokens = target_positions(&batch);
            let started = Instant::now();
            let output = learner.train_step(batch);
            let computed = Instant::now();
            times.compute += computed - started;
            let mut grads = output.grads;
            let model = learner.model();
            let mut take = TakeGrads::<B> {
                grads: &mut grads,
                parts: Vec::new(),
            };
            model.visit(&mut take);
            let flat = Tensor::cat(take.parts, 0);
            let [n] = flat.dims();
            let device = flat.device();
            // [positions * gradient, positions, stop]: summed over the nodes.
            let stop = if interrupter.should_stop() { 1.0 } else { 0.0 };
            let tail = Tensor::<Inner<B>, 1>::from_data(
                TensorData::new(vec![tokens as f32, stop], [2]),
                &device,
            );
            let summed = session.sum(
                "all-reducing the gradients",
                Tensor::cat(vec![flat.mul_scalar(tokens as f32), tail], 0),
            )?;
            let tail = summed
                .clone()
                .slice(n..n + 2)
                .into_data()
                .to_vec::<f32>()
                .expect("f32");
            let (total_tokens, stops) = (tail[0], tail[1]);
            let mean = summed.slice(0..n).div_scalar(total_tokens.max(1.0));
            model.visit(&mut PutGrads::<B> {
                grads: &mut grads,
                flat: mean,
                offset: 0,
            });
            times.all_reduce += computed.elapsed();
            times.steps += 1;
            times.floats = n + 2;
            learner.optimizer_step(grads);
            let item = TrainingItem::new(
                output.item,
                progress,
                global_progress.clone(),
                Some(iteration),
                Some(learner.lr_current()),
            );
            processor.process_train(LearnerEvent::ProcessedItem(item));
            if stops > 0.0 {
                if !interrupter.should_stop() {
                    interrupter.stop(Some("another node stopped"));
                }
                return Ok(true);
            }
        }
        processor.process_train(LearnerEvent::EndEpoch(global_progress.items_processed));
        Ok(false)
    }

    fn valid_epoch(
        &self,
        learner: &Learner<Components<B>>,
        loader: &ValidLoader<Components<B>>,
        global_progress: &Progress,
        processor: &mut SupervisedTrainingEventProcessor<Components<B>>,
    ) {
        let model = learner.model().valid();
        let mut iterator = loader.iter();
        let mut iteration = 0;
        while let Some(batch) = iterator.next() {
            let progress = iterator.progress();
            iteration += 1;
            let item = TrainingItem::new(
                model.step(batch),
                progress,
                global_progress.clone(),
                Some(iteration),
                None,
            );
            processor.process_valid(LearnerEvent::ProcessedItem(item));
        }
        processor.process_valid(LearnerEvent::EndEpoch(global_progress.items_processed));
    }

    fn run(
        &self,
        session: &Session<B>,
        mut epochs: Epochs<B>,
        learner: &mut Learner<Components<B>>,
        processor: &mut SupervisedTrainingEventProcessor<Components<B>>,
    ) -> Result<(), NodeError> {
        self.handshake(session, learner, epochs.starting_epoch)?;
        let mut times = StepTimes::default();
        let result = self.epochs(session, &mut epochs, learner, processor, &mut times);
        println!("{}", times.report(self.node.rank));
        result
    }

    fn epochs(
        &self,
        session: &Session<B>,
        epochs: &mut Epochs<B>,
        learner: &mut Learner<Components<B>>,
        processor: &mut SupervisedTrainingEventProcessor<Components<B>>,
        times: &mut StepTimes,
    ) -> Result<(), NodeError> {
        let leader = self.node.rank == 0;
        for epoch in epochs.starting_epoch..=epochs.num_epochs {
            let progress = Progress {
                items_processed: epoch,
                items_total: epochs.num_epochs,
            };
            if self.train_epoch(session, learner, epochs, &progress, processor, times)? {
                return Ok(());
            }
            let mut stop = false;
            if leader {
                self.valid_epoch(learner, &epochs.valid, &progress, processor);
                if let Some(checkpointer) = epochs.checkpointer.as_mut() {
                    checkpointer.checkpoint(learner, epoch, &epochs.event_store);
                }
                if let Some(early_stopping) = epochs.early_stopping.as_mut() {
                    stop = early_stopping.should_stop(epoch, &epochs.event_store);
                }
            }
            // The leader's decision, any interruption, and the weights' hash: all must agree.
            let hash = weights_hash(&learner.model());
            let mut values = pieces(hash);
            values.push(if stop || epochs.interrupter.should_stop() {
                1.0
            } else {
                0.0
            });
            let sums = session.sum_host("ending the epoch", values, &self.device)?;
            let nodes = self.node.nodes as f32;
            if pieces(hash)
                .iter()
                .zip(&sums)
                .any(|(mine, sum)| mine * nodes != *sum)
            {
                return Err(NodeError::WeightsDiffer {
                    rank: self.node.rank,
                    epoch,
                    mine: hash,
                });
            }
            self.state.epochs_done.store(epoch, Ordering::SeqCst);
            println!(
                "node {}: epoch {epoch} done, weights agree across {} nodes (hash {hash:016x})",
                self.node.rank, self.node.nodes
            );
            if sums[8] > 0.0 {
                break;
            }
        }
        Ok(())
    }
}

/// What the epochs loop needs of burn-train's training components.
struct Epochs<B: AutodiffBackend> {
    train: TrainLoader<Components<B>>,
    valid: ValidLoader<Components<B>>,
    starting_epoch: usize,
    num_epochs: usize,
    checkpointer: Option<LearningCheckpointer<Components<B>>>,
    early_stopping: Option<Box<dyn CloneEarlyStoppingStrategy>>,
    interrupter: burn::train::Interrupter,
    event_store: Arc<EventStoreClient>,
}

/// A batch's weight in the mean gradient: its target positions, padding included, because
/// burn's cross-entropy with pad tokens divides the summed loss of the real tokens by all
/// positions (`[batch, tgt_len]`).
fn target_positions<B: Backend>(batch: &Seq2SeqBatch<B>) -> usize {
    let [batch_size, tgt_len] = batch.tgt_out.dims();
    batch_size * tgt_len
}

impl<B: AutodiffBackend> SupervisedLearningStrategy<Components<B>> for CollectiveLearning<B> {
    fn fit(
        &self,
        components: TrainingComponents<Components<B>>,
        mut learner: Learner<Components<B>>,
        train: TrainLoader<Components<B>>,
        valid: ValidLoader<Components<B>>,
        starting_epoch: usize,
    ) -> (
        Seq2SeqTrainer<B>,
        SupervisedTrainingEventProcessor<Components<B>>,
    ) {
        learner.fork(&self.device);
        let TrainingComponents {
            num_epochs,
            checkpointer,
            interrupter,
            early_stopping,
            event_processor: mut processor,
            event_store,
            ..
        } = components;
        let epochs = Epochs {
            train: train.to_device(&self.device),
            valid: valid.to_device(&self.device),
            starting_epoch,
            num_epochs,
            checkpointer,
            early_stopping,
            interrupter,
            event_store,
        };
        self.state
            .epochs_done
            .store(starting_epoch.saturating_sub(1), Ordering::SeqCst);
        let result = Session::<B>::join(&self.node, &self.device).and_then(|session| {
            let result = self.run(&session, epochs, &mut learner, &mut processor);
            session.finish();
            result
        });
        if let Err(error) = result {
            eprintln!("error: {error}");
            self.fail(error);
        }
        (learner.model(), processor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(nodes: u32, rank: u32) -> NodeConfig {
        NodeConfig {
            nodes,
            rank,
            orchestrator: "ws://127.0.0.1:1".into(),
            address: "ws://127.0.0.1:2".into(),
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn addresses_are_ws_host_port() {
        assert_eq!(
            host_port("x", "ws://10.0.0.2:3001").unwrap(),
            ("10.0.0.2".to_string(), 3001)
        );
        assert_eq!(host_port("x", "ws://node-a:80/").unwrap().1, 80);
        for bad in [
            "10.0.0.2:3001",
            "ws://host",
            "ws://host:0",
            "ws://:3001",
            "ws://h:99999",
        ] {
            assert!(
                matches!(host_port("x", bad), Err(NodeError::BadAddress { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn ranks_outside_the_group_are_refused_before_any_connection() {
        assert!(matches!(node(0, 0).check(), Err(NodeError::NoNodes)));
        let err = node(3, 3).check().unwrap_err();
        assert_eq!(
            err.to_string(),
            "--rank 3 is out of range for --nodes 3 (ranks are 0 to 2)"
        );
    }

    #[test]
    fn shards_are_disjoint_equal_and_cover_all_but_the_remainder() {
        type AB = burn::backend::Autodiff<crate::backend::Flex>;
        // 11 batches, each named by its index in its first source id.
        let batches: Vec<Vec<EncodedPair>> = (0..11)
            .map(|i| {
                vec![EncodedPair {
                    src: vec![i],
                    tgt: vec![],
                }]
            })
            .collect();
        let shards: Vec<Vec<usize>> = (0..3)
            .map(|rank| {
                let c = Collective::<AB> {
                    device: Default::default(),
                    node: node(3, rank),
                    state: Arc::default(),
                };
                c.shard(batches.clone())
                    .iter()
                    .map(|b| b[0].src[0])
                    .collect()
            })
            .collect();
        assert_eq!(shards[0], vec![0, 3, 6]);
        assert_eq!(shards[1], vec![1, 4, 7]);
        assert_eq!(shards[2], vec![2, 5, 8]);
    }

    #[test]
    fn hashes_split_into_pieces_that_sum_exactly_in_f32() {
        let x = 0xfedc_ba98_7654_3210u64;
        let p = pieces(x);
        let back = p
            .iter()
            .enumerate()
            .fold(0u64, |acc, (i, v)| acc | ((*v as u64) << (8 * i)));
        assert_eq!(back, x);
        // The largest group --nodes allows (1,024) sums each piece exactly: below 2^24.
        assert!(p.iter().all(|v| *v * 1024.0 < 16_777_216.0));
        let all_ones = pieces(u64::MAX);
        assert!(all_ones.iter().all(|v| *v == 255.0));
    }
}

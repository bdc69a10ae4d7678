//! This node's connection to the group: joining, the all-reduce, leaving, and what a
//! lost peer looks like (a watchdog for waits that never end, burn-collective's panics and
//! errors turned into one [`NodeError`]).

use super::{NodeConfig, NodeError};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::TensorPrimitive;
use burn_collective::{PeerId, ReduceOperation};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Ends the process when a collective operation waits longer than the timeout: a blocked
/// all-reduce cannot be cancelled, and a node that waits forever helps nobody.
pub(super) struct Watchdog {
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

    /// Runs the collective operation `op` under the watchdog. burn-collective panics where
    /// it loses a peer (its worker threads and its client `unwrap` broken connections): such a
    /// panic comes back as [`Failure::Panicked`], an error it returns as
    /// [`Failure::Returned`].
    fn guard<T>(
        &self,
        what: &'static str,
        op: impl FnOnce() -> Result<T, burn_collective::CollectiveError>,
    ) -> Result<T, Failure> {
        *self.waiting.lock().expect("watchdog") = Some((Instant::now(), what));
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(op));
        *self.waiting.lock().expect("watchdog") = None;
        match out {
            Ok(result) => result.map_err(|e| Failure::Returned(format!("{e:?}"))),
            Err(panic) => Err(Failure::Panicked(
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "burn-collective failed".into()),
            )),
        }
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
pub(super) struct Session<B: AutodiffBackend> {
    rank: u32,
    nodes: u32,
    peer: PeerId,
    watchdog: Watchdog,
    _b: std::marker::PhantomData<B>,
}

pub(super) type Inner<B> = <B as AutodiffBackend>::InnerBackend;

impl<B: AutodiffBackend> Session<B> {
    pub(super) fn join(node: &NodeConfig, device: &B::Device) -> Result<Self, NodeError> {
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
            .map_err(|failure| NodeError::Register {
                rank: node.rank,
                reason: failure.reason(),
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
    pub(super) fn sum(
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
            .map_err(|failure| NodeError::AllReduce {
                rank: self.rank,
                reason: failure.reason(),
            })?;
        Ok(Tensor::<Inner<B>, 1>::from_primitive(TensorPrimitive::Float(reduced)).slice(0..len))
    }

    pub(super) fn sum_host(
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

    pub(super) fn finish(self) {
        // Leaving is best effort: the others may already be gone.
        let _ = self.watchdog.guard("leaving the group", || {
            burn_collective::finish_collective::<Inner<B>>(self.peer)
        });
    }
}

/// How a collective operation failed: burn-collective panicked (its worker threads and its
/// client `unwrap` the sockets and channels a lost peer breaks) or returned an error.
#[derive(Debug, Clone)]
enum Failure {
    /// The panic's message.
    Panicked(String),
    /// The error's `Debug` form (burn-collective does not export its global error type, so
    /// its variants are read by name).
    Returned(String),
}

impl Failure {
    /// What to tell the user. A node loses a peer in many ways, depending on where each
    /// process was when the connection broke (a reset websocket, a closed download, a channel
    /// whose worker thread died, the orchestrator's error): every one of them reads "lost the
    /// connection", with burn-collective's own words after it.
    fn reason(&self) -> String {
        match self {
            Failure::Panicked(message) => {
                format!("lost the connection to another node ({message})")
            }
            Failure::Returned(debug) => {
                let has = |name: &str| debug.contains(name);
                if has("RegisterParamsMismatch") {
                    "the nodes disagree on the group (is --nodes the same on every node?)".into()
                } else if has("DoubleRegister") {
                    "another node registered with the same --node-address".into()
                } else if has("Mismatch") {
                    format!("the nodes disagree on an all-reduce (do they train the same model with the same config?): {debug}")
                } else if has("LocalServerMissing") {
                    "lost the connection to another node (burn-collective's server stopped after a peer failed)".into()
                } else if has("Server(") || has("Orchestrator") {
                    format!("lost the connection to the orchestrator or another node ({debug})")
                } else {
                    format!("lost the connection to another node ({debug})")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Failure;

    #[test]
    fn every_way_of_losing_a_peer_reads_as_a_lost_connection() {
        // What node 0 saw when node 1 was killed, in the order the panics came (a reset
        // websocket, a closed download, the client's channel), and the errors burn-collective
        // returns for a lost peer or orchestrator.
        let lost = [
            Failure::Panicked("called `Result::unwrap()` on an `Err` value: SendError { .. }".into()),
            Failure::Panicked("Peer closed download connection".into()),
            Failure::Panicked("Failed to receive message from websocket: Axum(Error { inner: Protocol(ResetWithoutClosingHandshake) })".into()),
            Failure::Returned("LocalServerMissing".into()),
            Failure::Returned("Global(PeerLost(NodeId(1)))".into()),
            Failure::Returned("Global(Server(\"Io(ConnectionReset)\"))".into()),
            Failure::Returned("Global(OrchestratorUnreachable)".into()),
        ];
        for failure in lost {
            let reason = failure.reason();
            assert!(
                reason.starts_with("lost the connection to "),
                "{failure:?}: {reason}"
            );
        }
        // Misconfiguration is not a lost connection: it says what disagrees.
        let group = Failure::Returned("Global(RegisterParamsMismatch)".into()).reason();
        assert!(group.contains("is --nodes the same"), "{group}");
        let shape = Failure::Returned("AllReduceShapeMismatch".into()).reason();
        assert!(
            shape.starts_with("the nodes disagree on an all-reduce"),
            "{shape}"
        );
        let address = Failure::Returned("Global(DoubleRegister)".into()).reason();
        assert!(address.contains("same --node-address"), "{address}");
    }
}

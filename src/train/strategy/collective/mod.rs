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

mod flat;
mod learning;
mod session;

use super::{Components, Strategy};
use crate::data::batcher::EncodedPair;
use burn::tensor::backend::AutodiffBackend;
use burn::train::TrainingStrategy;
use burn_collective::CollectiveConfig;
use learning::CollectiveLearning;
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
}

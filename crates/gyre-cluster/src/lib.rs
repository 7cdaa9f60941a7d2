//! Gyre's cluster control plane.
pub mod net;
pub mod node;
pub mod raft;
pub mod swim;
pub mod topology;

pub use node::{Cluster, ClusterConfig, Error, RaftView};
pub use swim::Health;
pub use topology::{Endpoint, Member, MemberState, NodeId, NodeTag, Topology, SLOTS};

//! Gyre's cluster control plane: who is in the cluster, who owns each of
//! the 16384 slots, and who is alive.
//!
//! * [`topology`]: the slot map as pure data, changed only by [`Command`]s
//!   applied in order ([`Topology::apply`]); balanced, minimal-movement
//!   placement. Deterministic: no clock, socket or randomness.
//! * [`raft`]: the commands are entries of a Raft log (openraft); its state
//!   machine is the topology, so every node that applied the same prefix
//!   answers with the same map. Log, vote and snapshot live in files.
//! * [`swim`]: liveness with SWIM (foca) over UDP; it reports up, suspect or
//!   down and never moves a slot.
//! * [`net`]: the runtime seam (sockets and randomness behind [`net::Net`],
//!   so a turmoil simulation runs several nodes in one process), the TCP
//!   framing and the secret-keyed link handshake.
//! * [`runtime`]: openraft's async runtime (tokio) with a seedable RNG.
//! * [`node`]: the shell that wires them to one cluster port and the
//!   [`Cluster`] handle the server holds.
//!
//! * [`bus`]: PUBLISH to the subscribers of every member.
//! * [`moves`]: slot moves, driven by each slot's current primary through
//!   the server's [`DataPlane`] (the data half) and `Complete` in the log.
//!
//! * [`replication`]: each slot's primary feeds its replicas; a new
//!   primary catches up from a majority before it serves; the leader fails
//!   over a primary SWIM declares down.
//!
//! Limits: at most [`node::MAX_VOTERS`] Raft voters (the rest learn); node
//! tags are `u16` and never reused, so a cluster admits at most 65534 nodes
//! over its life; cluster frames are at most [`net::FRAME_BYTES_MAX`].

pub mod bus;
pub mod moves;
pub mod net;
pub mod node;
pub mod raft;
pub mod replication;
pub mod runtime;
pub mod swim;
pub mod topology;

pub use moves::DataPlane;
pub use node::{Cluster, ClusterConfig, Error, RaftView};
pub use swim::Health;
pub use topology::{Command, Endpoint, Member, MemberState, NodeId, NodeTag, Outcome, Topology, SLOTS};

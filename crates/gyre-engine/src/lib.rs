//! gyre-engine: the keyspace of Gyre.
//!
//! What it is: 16 logical databases of binary-safe keys, partitioned into the 16384
//! hash slots of Redis Cluster and grouped into independently locked shards; values
//! with absolute expiry, a version (hybrid logical clock) and an access clock; and
//! the [`Mutation`] type, the deterministic effect of every write, which the log
//! and the cluster will carry.
//!
//! What it is not: it knows nothing of sockets, files, threads or the wall clock.
//! Time is handed in (`now_ms`), randomness is handed in (the key hash seed,
//! [`seed_key_hasher`], also seeds the LFU coin), threads are handed in
//! ([`Workers`], for [`Keyspace::apply_all`]), and large detached values are
//! handed back for the caller to free where it likes.
//!
//! Invariants: a key is visible only while unexpired; every change made by a
//! command is recorded as a Mutation before it is applied; applying a Mutation
//! that is not newer than the key's version changes nothing.

pub mod bitmap;
pub mod codec;
pub mod evict;
pub mod expired;
pub mod geo;
pub mod glob;
pub mod hlc;
pub mod hll;
pub mod keyspace;
pub mod lcs;
pub mod mutation;
mod node;
pub mod num;
pub mod rdb;
pub mod slot;
mod table;
pub mod types;
pub mod value;

pub use codec::{DecodeError, Reader};
pub use evict::{EvictConfig, Evicted, EvictionPool, Policy};
pub use hlc::{ClockDrift, Hlc, NodeTag, Version};
pub use keyspace::{
    seed_key_hasher, Db, Detached, Fed, Job, Keyspace, KeyspaceStats, MultiGuard, Now, Sequential, Shard, Workers,
    DB_COUNT, DIGEST_BUCKETS, PREFETCH_KEYS_MAX, PREFETCH_SHARD_KEYS_MIN,
};
pub use mutation::{DbIndex, Mutation, MutationLog, MutationRef};
pub use slot::SlotId;
pub use types::{CollOp, EncodingConfig};
pub use value::{
    access_clock, Entry, InlineStr, LfuParams, StrValue, Value, ValueStr, ACCESS_CLOCK_MS, INLINE_BYTES_MAX,
    LFU_INIT_VAL, NO_EXPIRY, VALUE_INLINE_BYTES_MAX,
};

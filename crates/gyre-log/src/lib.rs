//! gyre-log: durability for Gyre.
//!
//! What it is: the write-ahead log ([`wal`]: segmented files of checksummed
//! records, group commit by the appending threads, fsync policies, poisoning on
//! I/O failure, recovery that truncates a torn tail and stops at corruption),
//! snapshots of the keyspace written shard by shard without stopping writes
//! ([`snapshot`]), and the manifest that ties a snapshot to the first log
//! segment still needed ([`manifest`]).
//!
//! What it is not: it does not decide what a record means. A WAL record is the
//! encoded mutations of one command (gyre-engine's `MutationLog` bytes);
//! recovery hands them back for the caller to apply. Replaying a record twice is
//! harmless because mutations are versioned.

pub mod manifest;
pub mod snapshot;
pub mod wal;

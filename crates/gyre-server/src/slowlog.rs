//! The slow log: commands that ran for at least `slowlog-log-slower-than`
//! microseconds (negative: off; 0: every command), newest first, at most
//! `slowlog-max-len` entries (the oldest go first).
//!
//! Entries are Redis's: id, Unix time in seconds, duration in microseconds,
//! the arguments, the client's `addr:port` and name. Arguments are cut as
//! Redis cuts them so one huge command cannot pin memory: at most
//! [`ARGS_MAX`] arguments (the last slot then says `... (N more arguments)`)
//! and [`ARG_BYTES_MAX`] bytes of each (followed by `... (N more bytes)`). So
//! an entry holds at most about 32 × 150 bytes, and the log at most
//! `slowlog-max-len` entries.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use gyre_resp::Args;
use parking_lot::Mutex;

use crate::client::ClientInfo;

/// Arguments kept per entry (Redis's SLOWLOG_ENTRY_MAX_ARGC).
pub const ARGS_MAX: usize = 32;
/// Bytes kept per argument (Redis's SLOWLOG_ENTRY_MAX_STRING).
pub const ARG_BYTES_MAX: usize = 128;

/// One logged command.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: u64,
    pub unix_secs: u64,
    pub usec: u64,
    pub args: Vec<Vec<u8>>,
    pub addr: String,
    pub name: Vec<u8>,
}

#[derive(Debug, Default)]
pub struct SlowLog {
    next_id: AtomicU64,
    entries: Mutex<VecDeque<Entry>>,
}

impl SlowLog {
    /// Logs a command (the caller checked the threshold), keeping at most
    /// `max_len` entries.
    pub fn push(&self, args: &Args<'_>, usec: u64, client: &ClientInfo, max_len: usize, now_ms: u64) {
        let entry = Entry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            unix_secs: now_ms / 1000,
            usec,
            args: truncated_args(args.len(), args.iter()),
            addr: client.addr.to_string(),
            name: client.name.lock().clone().unwrap_or_default(),
        };
        let mut entries = self.entries.lock();
        entries.push_front(entry);
        entries.truncate(max_len);
    }

    /// The newest `count` entries (all when None), newest first.
    pub fn get(&self, count: Option<usize>) -> Vec<Entry> {
        let entries = self.entries.lock();
        entries.iter().take(count.unwrap_or(usize::MAX)).cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    pub fn reset(&self) {
        self.entries.lock().clear();
    }
}

/// The arguments as the slow log keeps them (see the module doc).
pub fn truncated_args<'a>(argc: usize, args: impl Iterator<Item = &'a [u8]>) -> Vec<Vec<u8>> {
    let kept = if argc > ARGS_MAX { ARGS_MAX - 1 } else { argc };
    let mut out: Vec<Vec<u8>> = args
        .take(kept)
        .map(|a| {
            if a.len() > ARG_BYTES_MAX {
                let mut v = a[..ARG_BYTES_MAX].to_vec();
                v.extend_from_slice(format!("... ({} more bytes)", a.len() - ARG_BYTES_MAX).as_bytes());
                v
            } else {
                a.to_vec()
            }
        })
        .collect();
    if argc > kept {
        out.push(format!("... ({} more arguments)", argc - kept).into_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_commands_are_cut_as_redis_cuts_them() {
        let many: Vec<Vec<u8>> = (0..40).map(|i| i.to_string().into_bytes()).collect();
        let out = truncated_args(40, many.iter().map(Vec::as_slice));
        assert_eq!(out.len(), 32);
        assert_eq!(out[30], b"30");
        assert_eq!(out[31], b"... (9 more arguments)");
        let exactly: Vec<Vec<u8>> = (0..32).map(|i| i.to_string().into_bytes()).collect();
        assert_eq!(truncated_args(32, exactly.iter().map(Vec::as_slice)), exactly);
        let big = [b'x'; 200];
        let out = truncated_args(1, [&big[..]].into_iter());
        assert_eq!(out[0], [&big[..128], b"... (72 more bytes)"].concat());
    }
}

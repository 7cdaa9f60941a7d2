//! Which keys expiry removed, for keyspace notifications (`expired` events).
//!
//! Expiry removes keys without a Mutation (replay removes them again from
//! their absolute expiry time), so nothing else names them. A thread that
//! wants them runs its work inside [`collecting`]; the keyspace notes each key
//! that a lookup or the active expiry cycle removes on that thread. Costs
//! nothing when no one collects but one thread-local check per removed key.

use std::cell::RefCell;

use crate::mutation::DbIndex;

/// Keys removed by expiry, with their database, in order.
pub type ExpiredKeys = Vec<(DbIndex, Vec<u8>)>;

thread_local! {
    static SINK: RefCell<Option<ExpiredKeys>> = const { RefCell::new(None) };
}

/// Runs `f`, returning what it returned and the keys expiry removed on this
/// thread meanwhile, in order. Nested calls leave the keys to the outermost.
pub fn collecting<R>(f: impl FnOnce() -> R) -> (R, ExpiredKeys) {
    let outer = SINK.with(|s| {
        let mut s = s.borrow_mut();
        let outer = s.is_some();
        if !outer {
            *s = Some(Vec::new());
        }
        outer
    });
    if outer {
        return (f(), Vec::new());
    }
    // Restores the sink even if `f` panics.
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            SINK.with(|s| s.borrow_mut().take());
        }
    }
    let reset = Reset;
    let r = f();
    let keys = SINK.with(|s| s.borrow_mut().take()).unwrap_or_default();
    drop(reset);
    (r, keys)
}

/// Notes a key removed by expiry (when someone collects on this thread).
#[inline]
pub(crate) fn note(db: DbIndex, key: &[u8]) {
    SINK.with(|s| {
        if let Some(keys) = s.borrow_mut().as_mut() {
            keys.push((db, key.to_vec()));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_collected_only_inside_and_by_the_outermost_call() {
        note(0, b"outside");
        let ((), keys) = collecting(|| {
            note(1, b"a");
            let ((), inner) = collecting(|| note(2, b"b"));
            assert!(inner.is_empty());
        });
        assert_eq!(keys, vec![(1, b"a".to_vec()), (2, b"b".to_vec())]);
        let ((), keys) = collecting(|| ());
        assert!(keys.is_empty());
    }
}

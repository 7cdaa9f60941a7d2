//! A slot's hash table: open addressing over 8-byte buckets, each a pointer
//! to a [`Node`] with 16 bits of the key's hash in its unused high bits.
//!
//! Why not hashbrown's table of `Box<Node>`: hashbrown keeps its control
//! bytes and its buckets in two regions, so a lookup pays a cache miss for the
//! control group, another for the bucket, and a third for the node. Here the
//! bucket *is* the filter: one line of eight buckets holds the probe, its tags
//! reject other keys without touching their nodes (1 in 65,536 false
//! matches), and the node is the only other line a lookup reads. Same memory
//! as hashbrown (8 bytes a bucket, no control byte; at most 3/4 full).
//!
//! Linear probing with backward-shift deletion (no tombstones: a table that
//! sees constant eviction stays as fast as a fresh one). Capacity is a power
//! of two; the table grows at 3/4 full and never shrinks.
//!
//! Invariants: a bucket is 0 (empty) or `pointer | tag << 48` with `pointer`
//! from `Box::into_raw` of a node this table owns (user-space addresses fit in
//! 48 bits on x86-64 and aarch64; asserted at insert); every key is present
//! at most once; every entry lies in the cluster that starts at its home bucket.

use std::ptr::NonNull;

use crate::node::Node;

const TAG_SHIFT: u32 = 48;
const PTR_MASK: u64 = (1 << TAG_SHIFT) - 1;
/// The first allocation, in buckets.
const MIN_BUCKETS: usize = 8;

#[derive(Default)]
pub(crate) struct SlotTable {
    buckets: Buckets,
}

/// A bucket array as a thin pointer and a 32-bit capacity, with the table's
/// 32-bit count of occupied buckets beside them: the table header is 16
/// bytes, four to a cache line (a `Box<[u64]>` and a `usize` made 24, and one
/// header in four straddled two lines). The headers of a database's 16384
/// slots are the first memory every lookup reads, and they share the cache
/// with everything else.
struct Buckets {
    ptr: NonNull<u64>,
    cap: u32,
    occupied: u32,
}

// SAFETY: `Buckets` owns its array of plain integers, as a `Box<[u64]>` does.
unsafe impl Send for Buckets {}
// SAFETY: as for `Send`; shared access only reads.
unsafe impl Sync for Buckets {}

impl Buckets {
    fn zeroed(cap: usize) -> Buckets {
        let cap32 = u32::try_from(cap).expect("a slot table of at most 2^31 buckets");
        let array: Box<[u64]> = vec![0u64; cap].into_boxed_slice();
        let ptr = NonNull::new(Box::into_raw(array).cast::<u64>()).expect("a box is never null");
        Buckets { ptr, cap: cap32, occupied: 0 }
    }
}

impl Default for Buckets {
    fn default() -> Buckets {
        Buckets::zeroed(0)
    }
}

impl std::ops::Deref for Buckets {
    type Target = [u64];
    #[inline]
    fn deref(&self) -> &[u64] {
        // SAFETY: `ptr` is the start of the `cap` integers allocated in
        // `zeroed` (dangling and 0 long for an empty array), owned by `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.cap as usize) }
    }
}

impl std::ops::DerefMut for Buckets {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u64] {
        // SAFETY: as in `deref`; `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.cap as usize) }
    }
}

impl Drop for Buckets {
    fn drop(&mut self) {
        let array = std::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.cap as usize);
        // SAFETY: the array came from `Box::into_raw` of exactly this slice in
        // `zeroed` and is freed once, here.
        drop(unsafe { Box::from_raw(array) });
    }
}

/// A hint that the memory at `p` will be read soon. It never faults,
/// whatever the address.
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it reads nothing the program sees and
    // never faults.
    #[allow(unused_unsafe)]
    unsafe {
        std::arch::x86_64::_mm_prefetch(p.cast::<i8>(), std::arch::x86_64::_MM_HINT_T0)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[inline]
fn tag_of(hash: u64) -> u64 {
    hash >> TAG_SHIFT
}

impl SlotTable {
    pub(crate) fn len(&self) -> usize {
        self.buckets.occupied as usize
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buckets.occupied == 0
    }

    /// Buckets allocated (MEMORY USAGE).
    pub(crate) fn buckets(&self) -> usize {
        self.buckets.len()
    }

    #[inline]
    fn mask(&self) -> usize {
        self.buckets.len() - 1
    }

    #[inline]
    fn node(bucket: u64) -> *mut Node {
        (bucket & PTR_MASK) as usize as *mut Node
    }

    /// The index of `key`'s bucket, for [`SlotTable::at_mut`] and
    /// [`SlotTable::remove_index`] (one probe for a lookup that may remove).
    #[inline]
    pub(crate) fn find_index(&self, hash: u64, key: &[u8]) -> Option<usize> {
        self.position(hash, key)
    }

    /// The node in occupied bucket `i`.
    #[inline]
    pub(crate) fn at_mut(&mut self, i: usize) -> &mut Node {
        let b = self.buckets[i];
        assert_ne!(b, 0, "bucket {i} is empty");
        // SAFETY: a non-empty bucket points to a live node this table owns;
        // `&mut self` makes the access exclusive.
        unsafe { &mut *Self::node(b) }
    }

    /// Removes the node in occupied bucket `i`.
    pub(crate) fn remove_index(&mut self, i: usize) -> Box<Node> {
        assert_ne!(self.buckets[i], 0, "bucket {i} is empty");
        self.remove_at(i)
    }

    #[inline]
    fn position(&self, hash: u64, key: &[u8]) -> Option<usize> {
        if self.buckets.occupied == 0 {
            return None;
        }
        let (mask, tag) = (self.mask(), tag_of(hash));
        let mut i = hash as usize & mask;
        loop {
            let b = self.buckets[i];
            if b == 0 {
                return None;
            }
            if b >> TAG_SHIFT == tag {
                // SAFETY: a non-empty bucket points to a live node this table owns.
                let node = unsafe { &*Self::node(b) };
                if node.key_prefetching() == key {
                    return Some(i);
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// Asks the CPU for the bucket where a lookup of `hash` starts
    /// (`Keyspace::prefetch` runs this once the table's header is cached).
    #[inline]
    pub(crate) fn prefetch_home(&self, hash: u64) {
        if self.buckets.cap > 0 {
            prefetch(self.buckets.ptr.as_ptr().wrapping_add(hash as usize & self.mask()));
        }
    }

    /// Asks the CPU for the node a lookup of `hash` compares first (the
    /// first bucket of its probe with a matching tag; both of the node's
    /// lines), or, with `key_bytes` (once that node is cached), for the
    /// key's bytes when they live behind a pointer.
    #[inline]
    pub(crate) fn prefetch_node(&self, hash: u64, key_bytes: bool) {
        if self.buckets.occupied == 0 {
            return;
        }
        let (mask, tag) = (self.mask(), tag_of(hash));
        let mut i = hash as usize & mask;
        // A probe is short (the table is at most 3/4 full); a long one
        // gets no hint rather than a long walk.
        for _ in 0..8 {
            let b = self.buckets[i];
            if b == 0 {
                return;
            }
            if b >> TAG_SHIFT == tag {
                let node = Self::node(b);
                if key_bytes {
                    // SAFETY: a non-empty bucket points to a live node this table owns.
                    prefetch(unsafe { &*node }.key().as_ptr());
                } else {
                    prefetch(node);
                    prefetch(node.cast::<u8>().wrapping_add(64));
                }
                return;
            }
            i = (i + 1) & mask;
        }
    }

    #[inline]
    pub(crate) fn find(&self, hash: u64, key: &[u8]) -> Option<&Node> {
        let i = self.position(hash, key)?;
        // SAFETY: as in `position`; the borrow of `self` keeps the node alive.
        Some(unsafe { &*Self::node(self.buckets[i]) })
    }

    #[inline]
    pub(crate) fn find_mut(&mut self, hash: u64, key: &[u8]) -> Option<&mut Node> {
        let i = self.position(hash, key)?;
        // SAFETY: as in `position`; `&mut self` makes the access exclusive.
        Some(unsafe { &mut *Self::node(self.buckets[i]) })
    }

    /// Inserts a node whose key is not in the table.
    pub(crate) fn insert_unique(&mut self, hash: u64, node: Box<Node>) {
        debug_assert!(self.position(hash, node.key()).is_none());
        if (self.len() + 1) * 4 > self.buckets.len() * 3 {
            self.grow();
        }
        let ptr = Box::into_raw(node) as usize as u64;
        assert_eq!(ptr & !PTR_MASK, 0, "node address beyond 48 bits");
        self.place(hash, ptr | tag_of(hash) << TAG_SHIFT);
        self.buckets.occupied += 1;
    }

    /// Stores a bucket value in the first empty bucket of its probe sequence.
    fn place(&mut self, hash: u64, bucket: u64) {
        let mask = self.mask();
        let mut i = hash as usize & mask;
        while self.buckets[i] != 0 {
            i = (i + 1) & mask;
        }
        self.buckets[i] = bucket;
    }

    fn grow(&mut self) {
        let new_len = (self.buckets.len() * 2).max(MIN_BUCKETS);
        let mut grown = Buckets::zeroed(new_len);
        grown.occupied = self.buckets.occupied;
        let old = std::mem::replace(&mut self.buckets, grown);
        for b in old.iter().copied().filter(|&b| b != 0) {
            // SAFETY: a non-empty bucket points to a live node this table owns.
            let hash = crate::keyspace::key_hash(unsafe { &*Self::node(b) }.key());
            self.place(hash, b);
        }
    }

    /// Removes and returns the node for `key`.
    pub(crate) fn remove(&mut self, hash: u64, key: &[u8]) -> Option<Box<Node>> {
        let i = self.position(hash, key)?;
        Some(self.remove_at(i))
    }

    /// Empties bucket `i` and shifts the rest of its cluster back, so that no
    /// entry is ever separated from its home bucket by an empty one.
    fn remove_at(&mut self, i: usize) -> Box<Node> {
        let mask = self.mask();
        // SAFETY: bucket `i` is occupied; the table gives up its ownership here.
        let node = unsafe { Box::from_raw(Self::node(self.buckets[i])) };
        let mut hole = i;
        let mut j = (i + 1) & mask;
        loop {
            let b = self.buckets[j];
            if b == 0 {
                break;
            }
            // SAFETY: a non-empty bucket points to a live node this table owns.
            let home = crate::keyspace::key_hash(unsafe { &*Self::node(b) }.key()) as usize & mask;
            // Move `b` into the hole unless its home lies cyclically in (hole, j].
            let stays = if hole <= j { hole < home && home <= j } else { hole < home || home <= j };
            if !stays {
                self.buckets[hole] = b;
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.buckets[hole] = 0;
        self.buckets.occupied -= 1;
        node
    }

    /// Keeps the nodes for which `keep` returns true; frees the others. Each
    /// node is offered exactly once.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&mut Node) -> bool) {
        if self.buckets.occupied == 0 {
            return;
        }
        let mask = self.mask();
        // Start right after an empty bucket: no cluster wraps past the start,
        // so a backward shift only ever moves an entry into the bucket under
        // examination, which is then examined again.
        let start = (0..self.buckets.len()).find(|&i| self.buckets[i] == 0).expect("never full") + 1;
        let mut step = 0;
        while step < self.buckets.len() {
            let i = (start + step) & mask;
            let b = self.buckets[i];
            // SAFETY: a non-empty bucket points to a live node this table owns.
            if b != 0 && !keep(unsafe { &mut *Self::node(b) }) {
                drop(self.remove_at(i));
                continue;
            }
            step += 1;
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Node> {
        // SAFETY: a non-empty bucket points to a live node this table owns.
        self.buckets.iter().filter(|&&b| b != 0).map(|&b| unsafe { &*Self::node(b) })
    }
}

impl Drop for SlotTable {
    fn drop(&mut self) {
        for &b in self.buckets.iter().filter(|&&b| b != 0) {
            // SAFETY: each node is owned by exactly one bucket and freed once.
            drop(unsafe { Box::from_raw(Self::node(b)) });
        }
    }
}

impl std::fmt::Debug for SlotTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlotTable").field("len", &self.buckets.occupied).field("buckets", &self.buckets.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hlc::Version;
    use crate::keyspace::key_hash;
    use crate::value::{Entry, Value};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_table_header_is_a_quarter_of_a_cache_line() {
        assert_eq!(std::mem::size_of::<SlotTable>(), 16);
    }

    fn node(key: &[u8], v: i64) -> Box<Node> {
        Node::boxed(key, Entry::new(Value::Int(v), 0, Version::from_hlc(1)))
    }

    fn value(n: &Node) -> i64 {
        match n.entry.value {
            Value::Int(i) => i,
            _ => unreachable!(),
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, i64),
        Remove(u8),
        RetainEven,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (any::<u8>(), any::<i64>()).prop_map(|(k, v)| Op::Insert(k, v)),
            3 => any::<u8>().prop_map(Op::Remove),
            1 => Just(Op::RetainEven),
        ]
    }

    proptest! {
        /// The table behaves as a map: inserts, removals (backward shifts) and
        /// retains, checked against a BTreeMap after every step.
        #[test]
        fn behaves_as_a_map(ops in proptest::collection::vec(op(), 1..400)) {
            let mut t = SlotTable::default();
            let mut model: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => {
                        let key = format!("key-{k}").into_bytes();
                        let h = key_hash(&key);
                        match t.find_mut(h, &key) {
                            Some(n) => n.entry.value = Value::Int(v),
                            None => t.insert_unique(h, node(&key, v)),
                        }
                        model.insert(key, v);
                    }
                    Op::Remove(k) => {
                        let key = format!("key-{k}").into_bytes();
                        let got = t.remove(key_hash(&key), &key).map(|n| value(&n));
                        prop_assert_eq!(got, model.remove(&key));
                    }
                    Op::RetainEven => {
                        let mut offered = 0;
                        t.retain(|n| { offered += 1; value(n) % 2 == 0 });
                        prop_assert_eq!(offered, model.len());
                        model.retain(|_, v| *v % 2 == 0);
                    }
                }
                prop_assert_eq!(t.len(), model.len());
                for (k, v) in &model {
                    prop_assert_eq!(t.find(key_hash(k), k).map(value), Some(*v));
                }
                let mut seen: Vec<Vec<u8>> = t.iter().map(|n| n.key().to_vec()).collect();
                seen.sort();
                prop_assert_eq!(seen, model.keys().cloned().collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn grows_at_three_quarters() {
        let mut t = SlotTable::default();
        for i in 0..1000 {
            let key = format!("k{i}").into_bytes();
            t.insert_unique(key_hash(&key), node(&key, i));
            assert!(t.len() * 4 <= t.buckets() * 3);
        }
        assert_eq!(t.buckets(), 2048);
        assert!(t.find(key_hash(b"k999"), b"k999").is_some());
        assert!(t.find(key_hash(b"nope"), b"nope").is_none());
    }
}

//! One key's allocation in a slot table: the key and its [`Entry`], 80 bytes.
//!
//! The slot tables hold only a pointer per bucket (8 bytes plus hashbrown's
//! control byte), so the table's spare capacity (its load factor is between
//! 7/16 and 7/8) costs 9 bytes per empty bucket rather than a whole entry's
//! size. The node is one allocation of exactly a jemalloc size class: a 16-byte
//! key (up to 14 bytes inline) and the 64-byte entry, whose value slot holds
//! strings up to 38 bytes. A typical cache key (`key:000000123`) with a 32-byte
//! value therefore costs one 80-byte allocation and its table bucket; the
//! layout is written down in docs/MEMORY.md.

use crate::value::Entry;

/// Longest key stored inside the node itself.
pub const KEY_INLINE_BYTES_MAX: usize = 14;

/// Key bytes: short keys inline, longer ones behind one pointer (so that the
/// type stays 16 bytes; a fat `Box<[u8]>` would make it 24).
#[derive(Clone)]
pub(crate) enum KeyBytes {
    Inline {
        len: u8,
        buf: [u8; KEY_INLINE_BYTES_MAX],
    },
    #[allow(clippy::box_collection)]
    Heap(Box<Box<[u8]>>),
}

impl KeyBytes {
    pub(crate) fn new(key: &[u8]) -> KeyBytes {
        if key.len() <= KEY_INLINE_BYTES_MAX {
            let mut buf = [0u8; KEY_INLINE_BYTES_MAX];
            buf[..key.len()].copy_from_slice(key);
            KeyBytes::Inline { len: key.len() as u8, buf }
        } else {
            KeyBytes::Heap(Box::new(key.into()))
        }
    }

    #[inline]
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            KeyBytes::Inline { len, buf } => &buf[..usize::from(*len)],
            KeyBytes::Heap(b) => b,
        }
    }

    /// Heap bytes owned beyond the node (0 for an inline key).
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            KeyBytes::Inline { .. } => 0,
            KeyBytes::Heap(b) => std::mem::size_of::<Box<[u8]>>() + b.len(),
        }
    }
}

/// A key and its entry, as stored (boxed) in a slot table. The key first:
/// a lookup compares it, then reads the entry's expiry and access clock.
#[derive(Clone)]
#[repr(C)]
pub(crate) struct Node {
    pub(crate) key: KeyBytes,
    pub(crate) entry: Entry,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").field("key", &String::from_utf8_lossy(self.key())).field("entry", &self.entry).finish()
    }
}

impl Node {
    pub(crate) fn boxed(key: &[u8], entry: Entry) -> Box<Node> {
        Box::new(Node { key: KeyBytes::new(key), entry })
    }

    #[inline]
    pub(crate) fn key(&self) -> &[u8] {
        self.key.as_slice()
    }

    /// The key of a node reached through a table bucket, asking the CPU to
    /// fetch the node's second cache line meanwhile: the 80-byte node spans
    /// two lines, and the lookup needs both (key and expiry, then the value),
    /// so the two misses overlap instead of following each other.
    #[inline]
    pub(crate) fn key_prefetching(&self) -> &[u8] {
        #[cfg(target_arch = "x86_64")]
        {
            let second_line = (self as *const Node).cast::<u8>().wrapping_add(64);
            // SAFETY: a prefetch is a hint: it never faults, whatever the address.
            #[allow(unused_unsafe)]
            unsafe {
                std::arch::x86_64::_mm_prefetch(second_line.cast::<i8>(), std::arch::x86_64::_MM_HINT_T0)
            };
        }
        self.key.as_slice()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_is_one_80_byte_allocation() {
        assert_eq!(std::mem::size_of::<KeyBytes>(), 16);
        assert_eq!(std::mem::size_of::<Node>(), 80, "docs/MEMORY.md describes this layout");
    }

    #[test]
    fn keys_inline_and_on_the_heap_read_back() {
        for len in [0, 1, KEY_INLINE_BYTES_MAX, KEY_INLINE_BYTES_MAX + 1, 300] {
            let key: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let k = KeyBytes::new(&key);
            assert_eq!(k.as_slice(), &key[..]);
            assert_eq!(k.heap_bytes() > 0, len > KEY_INLINE_BYTES_MAX);
        }
    }
}

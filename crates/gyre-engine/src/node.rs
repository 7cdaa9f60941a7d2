//! One key's allocation in a slot table: the key and its [`Entry`], 80 bytes.
//!
//! The slot tables hold only a tagged pointer per bucket (8 bytes, see
//! `table.rs`), so the table's spare capacity (it is 3/8 to 3/4 full) costs
//! 8 bytes per empty bucket rather than a whole entry's size. The node is one allocation of exactly a jemalloc size class: a 16-byte
//! key (up to 14 bytes inline) and the 64-byte entry, whose value slot holds
//! strings up to 38 bytes. A typical cache key (`key:000000123`) with a 32-byte
//! value therefore costs one 80-byte allocation and its table bucket; the
//! layout is written down in docs/MEMORY.md.

use crate::value::Entry;

/// Longest key stored inside the node itself.
pub const KEY_INLINE_BYTES_MAX: usize = 14;

/// Key bytes: short keys inline, longer ones behind one thin pointer with
/// the length beside it in the node (so the type stays 16 bytes: a fat
/// `Box<[u8]>` would make it 24, and the `Box<Box<[u8]>>` this replaced cost
/// a lookup two dependent cache misses before the key's bytes, one of them
/// just to learn the length).
pub(crate) enum KeyBytes {
    Inline { len: u8, buf: [u8; KEY_INLINE_BYTES_MAX] },
    Heap(HeapKey),
}

/// A key longer than [`KEY_INLINE_BYTES_MAX`]: the bytes of a `Box<[u8]>`,
/// taken apart into its pointer and length (keys are bounded by
/// `proto-max-bulk-len`, far below `u32::MAX`).
///
/// Packed to 4-byte alignment, so that it sits at offset 4 of the enum and
/// [`KeyBytes`] stays 16 bytes (with 8-byte alignment it would be 24).
#[repr(C, packed(4))]
pub(crate) struct HeapKey {
    len: u32,
    ptr: std::ptr::NonNull<u8>,
}

// SAFETY: a HeapKey owns its allocation exclusively (as the Box<[u8]> it was
// made from did) and gives out only shared slices of it.
unsafe impl Send for HeapKey {}
// SAFETY: as above; `&HeapKey` only reads.
unsafe impl Sync for HeapKey {}

impl HeapKey {
    fn new(key: &[u8]) -> HeapKey {
        let len = u32::try_from(key.len()).expect("keys are bounded by proto-max-bulk-len");
        let raw = Box::into_raw(Box::<[u8]>::from(key));
        // SAFETY: Box::into_raw never returns null.
        let ptr = unsafe { std::ptr::NonNull::new_unchecked(raw.cast::<u8>()) };
        HeapKey { len, ptr }
    }

    #[inline]
    fn as_slice(&self) -> &[u8] {
        // (Copies out of the packed fields; no reference to them is taken.)
        let (ptr, len) = (self.ptr, self.len);
        // SAFETY: `ptr` and `len` come from a live Box<[u8]> this owns.
        unsafe { std::slice::from_raw_parts(ptr.as_ptr(), len as usize) }
    }
}

impl Drop for HeapKey {
    fn drop(&mut self) {
        let (ptr, len) = (self.ptr, self.len);
        let slice = std::ptr::slice_from_raw_parts_mut(ptr.as_ptr(), len as usize);
        // SAFETY: rebuilds the Box<[u8]> `new` took apart, exactly once.
        drop(unsafe { Box::from_raw(slice) });
    }
}

impl Clone for KeyBytes {
    fn clone(&self) -> KeyBytes {
        match self {
            KeyBytes::Inline { len, buf } => KeyBytes::Inline { len: *len, buf: *buf },
            KeyBytes::Heap(h) => KeyBytes::Heap(HeapKey::new(h.as_slice())),
        }
    }
}

impl KeyBytes {
    pub(crate) fn new(key: &[u8]) -> KeyBytes {
        if key.len() <= KEY_INLINE_BYTES_MAX {
            let mut buf = [0u8; KEY_INLINE_BYTES_MAX];
            buf[..key.len()].copy_from_slice(key);
            KeyBytes::Inline { len: key.len() as u8, buf }
        } else {
            KeyBytes::Heap(HeapKey::new(key))
        }
    }

    #[inline]
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            KeyBytes::Inline { len, buf } => &buf[..usize::from(*len)],
            KeyBytes::Heap(h) => h.as_slice(),
        }
    }

    /// Heap bytes owned beyond the node (0 for an inline key).
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            KeyBytes::Inline { .. } => 0,
            KeyBytes::Heap(h) => {
                let len = h.len;
                len as usize
            }
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
        crate::table::prefetch((self as *const Node).cast::<u8>().wrapping_add(64));
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
            let copy = k.clone();
            drop(k);
            assert_eq!(copy.as_slice(), &key[..], "a clone owns its own bytes");
        }
    }
}

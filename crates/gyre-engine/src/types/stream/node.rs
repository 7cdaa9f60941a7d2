//! A stream node: one packed buffer holding the master entry's field names,
//! then each entry as `flags, varint(ms delta), varint(seq), [fields],
//! values` (an entry with the master's field names stores only its values).
//!
//! Invariants: entries are appended in increasing ID order and never
//! rewritten, but for the deleted flag; `live` and `total` count them. The
//! buffer is written only here, so reading it back never fails.
//!
//! Limits: a delete leaves the entry's bytes until the node goes; the
//! caller bounds a node's entries and bytes (`stream-node-max-*`).

use super::StreamId;

fn put_var(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a varint at `*pos`. Nodes are written only by this module, so a
/// malformed one is a bug: the assertion stays on.
fn get_var(buf: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let b = buf[*pos];
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return v;
        }
        shift += 7;
        assert!(shift < 64, "stream node: varint too long");
    }
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    put_var(out, s.len() as u64);
    out.extend_from_slice(s);
}

fn get_str<'a>(buf: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let len = get_var(buf, pos) as usize;
    let s = &buf[*pos..*pos + len];
    *pos += len;
    s
}

const FLAG_DELETED: u8 = 1;
const FLAG_SAMEFIELDS: u8 = 2;

/// One node: the master field names, then the entries.
#[derive(Clone, Debug)]
pub(super) struct Node {
    pub(super) buf: Vec<u8>,
    /// Offset of the first entry (after the master fields).
    pub(super) entries_at: u32,
    pub(super) live: u32,
    /// Live and deleted entries.
    pub(super) total: u32,
    /// ID of the last entry written (live or deleted).
    pub(super) last: StreamId,
}

/// Where an entry of a node is, its ID, and whether it is deleted.
pub(super) struct Slot {
    /// Offset of the flags byte.
    pub(super) at: usize,
    pub(super) id: StreamId,
    pub(super) deleted: bool,
}

impl Node {
    pub(super) fn new(master: StreamId, fields: &[(&[u8], &[u8])]) -> Node {
        let mut buf = Vec::with_capacity(256);
        put_var(&mut buf, fields.len() as u64);
        for (f, _) in fields {
            put_str(&mut buf, f);
        }
        let entries_at = buf.len() as u32;
        Node { buf, entries_at, live: 0, total: 0, last: master }
    }

    fn master_fields(&self) -> Vec<&[u8]> {
        let mut pos = 0;
        let n = get_var(&self.buf, &mut pos) as usize;
        (0..n).map(|_| get_str(&self.buf, &mut pos)).collect()
    }

    pub(super) fn push(&mut self, master: StreamId, id: StreamId, fields: &[(&[u8], &[u8])]) {
        let same = {
            let m = self.master_fields();
            m.len() == fields.len() && m.iter().zip(fields).all(|(a, (f, _))| *a == *f)
        };
        let buf = &mut self.buf;
        buf.push(if same { FLAG_SAMEFIELDS } else { 0 });
        put_var(buf, id.ms - master.ms);
        // Within the master's millisecond the sequence is stored as a delta.
        put_var(buf, if id.ms == master.ms { id.seq - master.seq } else { id.seq });
        if !same {
            put_var(buf, fields.len() as u64);
        }
        for (f, v) in fields {
            if !same {
                put_str(buf, f);
            }
            put_str(buf, v);
        }
        self.live += 1;
        self.total += 1;
        self.last = id;
    }

    /// Decodes the entry at `pos` into `fields` (cleared first); returns its
    /// ID, whether it is deleted, and where the next entry starts.
    fn decode_at<'a>(
        &'a self,
        master: StreamId,
        master_fields: &[&'a [u8]],
        mut pos: usize,
        fields: &mut Vec<(&'a [u8], &'a [u8])>,
    ) -> (StreamId, bool, usize) {
        let buf = &self.buf[..];
        let flags = buf[pos];
        pos += 1;
        let ms = master.ms + get_var(buf, &mut pos);
        let seq_raw = get_var(buf, &mut pos);
        let seq = if ms == master.ms { master.seq + seq_raw } else { seq_raw };
        fields.clear();
        if flags & FLAG_SAMEFIELDS != 0 {
            for f in master_fields {
                let v = get_str(buf, &mut pos);
                fields.push((*f, v));
            }
        } else {
            let n = get_var(buf, &mut pos);
            for _ in 0..n {
                let f = get_str(buf, &mut pos);
                let v = get_str(buf, &mut pos);
                fields.push((f, v));
            }
        }
        (StreamId::new(ms, seq), flags & FLAG_DELETED != 0, pos)
    }

    /// Visits the entries (deleted ones included) from the first, or from
    /// the last backwards, until `f` returns false; decodes only what it
    /// visits, into one reused buffer.
    pub(super) fn walk<'a>(
        &'a self,
        master: StreamId,
        rev: bool,
        mut f: impl FnMut(usize, StreamId, bool, &[(&'a [u8], &'a [u8])]) -> bool,
    ) -> bool {
        let master_fields = self.master_fields();
        let mut fields = Vec::with_capacity(master_fields.len());
        if !rev {
            let mut pos = self.entries_at as usize;
            while pos < self.buf.len() {
                let (id, deleted, next) = self.decode_at(master, &master_fields, pos, &mut fields);
                if !f(pos, id, deleted, &fields) {
                    return false;
                }
                pos = next;
            }
            return true;
        }
        let mut starts = Vec::with_capacity(self.total as usize);
        let mut pos = self.entries_at as usize;
        while pos < self.buf.len() {
            starts.push(pos);
            pos = self.decode_at(master, &master_fields, pos, &mut fields).2;
        }
        for at in starts.into_iter().rev() {
            let (id, deleted, _) = self.decode_at(master, &master_fields, at, &mut fields);
            if !f(at, id, deleted, &fields) {
                return false;
            }
        }
        true
    }

    /// Every entry, deleted ones included, in order.
    pub(super) fn slots(&self, master: StreamId) -> Vec<Slot> {
        let mut out = Vec::with_capacity(self.total as usize);
        self.walk(master, false, |at, id, deleted, _| {
            out.push(Slot { at, id, deleted });
            true
        });
        out
    }

    pub(super) fn mark_deleted(&mut self, at: usize) {
        self.buf[at] |= FLAG_DELETED;
        self.live -= 1;
    }
}

//! The hashtable encoding: members in a dense `Vec<StrValue>` (short members
//! inline), found through a `hashbrown` index of their `u32` positions, so
//! that a uniform random member is one index away (SPOP, SRANDMEMBER).
//!
//! Invariants: the index holds exactly the positions `0..members.len()`,
//! each under its member's hash; a removal fills the hole from the end;
//! `member_heap` is the heap the members own outside their inline storage.
//!
//! Limits: fewer than 2^32 members (positions are `u32`); members are
//! distinct only because `insert` checks.

use hashbrown::HashTable;

use crate::keyspace::key_hash;
use crate::value::StrValue;

/// Members in a dense vector, found through a hash index of their positions.
#[derive(Clone, Default)]
pub(super) struct Table {
    pub(super) members: Vec<StrValue>,
    pub(super) index: HashTable<u32>,
    /// Heap bytes owned by members too long to be stored inline.
    pub(super) member_heap: usize,
}

impl Table {
    pub(super) fn with_capacity(n: usize) -> Table {
        Table { members: Vec::with_capacity(n), index: HashTable::with_capacity(n), member_heap: 0 }
    }

    pub(super) fn position(&self, m: &[u8]) -> Option<usize> {
        let members = &self.members;
        self.index.find(key_hash(m), |&i| members[i as usize].as_slice() == m).map(|&i| i as usize)
    }

    pub(super) fn insert(&mut self, m: &[u8]) -> bool {
        let Table { members, index, member_heap } = self;
        let entry =
            index.entry(key_hash(m), |&i| members[i as usize].as_slice() == m, |&i| key_hash(&members[i as usize]));
        match entry {
            hashbrown::hash_table::Entry::Occupied(_) => false,
            hashbrown::hash_table::Entry::Vacant(v) => {
                let pos = u32::try_from(members.len()).ok().filter(|&p| p < u32::MAX);
                let pos = pos.expect("a set holds fewer than 2^32 members");
                v.insert(pos);
                let s = StrValue::from_slice(m);
                *member_heap += s.heap_bytes();
                members.push(s);
                true
            }
        }
    }

    pub(super) fn remove(&mut self, m: &[u8]) -> bool {
        let Table { members, index, member_heap } = self;
        let Ok(found) = index.find_entry(key_hash(m), |&i| members[i as usize].as_slice() == m) else {
            return false;
        };
        let pos = found.remove().0 as usize;
        let last = members.len() - 1;
        let removed = members.swap_remove(pos);
        *member_heap -= removed.heap_bytes();
        if pos != last {
            // The last member moved into `pos`: repoint its index entry.
            let moved =
                index.find_mut(key_hash(&members[pos]), |&i| i as usize == last).expect("every member is indexed");
            *moved = pos as u32;
        }
        self.maybe_shrink();
        true
    }

    /// Gives memory back once the table is less than an eighth full (Redis
    /// resizes its dict below a tenth).
    pub(super) fn maybe_shrink(&mut self) {
        let n = self.members.len();
        if self.members.capacity() > 64 && n * 8 < self.members.capacity() {
            let Table { members, index, .. } = self;
            members.shrink_to(n * 2);
            index.shrink_to(n * 2, |&i| key_hash(&members[i as usize]));
        }
    }

    pub(super) fn heap_bytes(&self) -> usize {
        std::mem::size_of::<Table>()
            + self.members.capacity() * std::mem::size_of::<StrValue>()
            + self.index.allocation_size()
            + self.member_heap
    }
}

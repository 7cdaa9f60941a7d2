//! Set commands: membership, random members, moves, the algebra (SINTER,
//! SUNION, SDIFF and their STORE and CARD forms) and SSCAN, with Redis 7.2's
//! replies, errors and encodings.
//!
//! Every write reads the set, decides, and commits deterministic [`SetOp`]s:
//! SADD names its arguments, SPOP and SREM the members that go, SMOVE is a
//! removal from the source and an addition to the destination. The STORE
//! commands build the result here with Redis's encoding rules and replace the
//! destination with it whole (a `Restore` of the serialized set), or delete it
//! when the result is empty.
//!
//! Multi-set commands look every key up first (type errors before anything
//! else, as Redis), then read the sets one at a time: a command holds several
//! shards, but reaches one shard's entry at a time, so the set being combined
//! with the others is an owned copy of the smallest (SINTER) or first (SDIFF).
//!
//! Limits: SRANDMEMBER with a negative count answers at most
//! [`SRANDMEMBER_REPEATS_MAX`] members (Redis has no limit and would exhaust
//! memory building the reply).

use gyre_engine::types::set::{Member, Set, SetOp};
use gyre_engine::{glob, CollOp, Entry, MultiGuard, Mutation, Now, Shard, SlotId, StrValue, Value, NO_EXPIRY};
use gyre_resp::ReplyWriter;
use rand::Rng;

use super::data::Data;
use super::errors::{SYNTAX, WRONGTYPE};
use super::flags::*;
use super::table::{cmd, data, ALLKEYS, KEY1, NOKEYS};
use super::{err, CmdError, CmdResult, CommandSpec, Group};

/// Most members SRANDMEMBER with a negative count (repeats allowed) returns:
/// the reply is built in memory, and 2^24 members already take over 100 MiB.
pub const SRANDMEMBER_REPEATS_MAX: u64 = 1 << 24;

#[rustfmt::skip]
pub static COMMANDS: &[CommandSpec] = &[
    cmd!("sadd", -3, WRITE | DENYOOM | FAST, KEY1, Set, "1.0.0", "Adds one or more members to a set. Creates the key if it doesn't exist.", "key member [member ...]", data!(sadd)),
    cmd!("srem", -3, WRITE | FAST, KEY1, Set, "1.0.0", "Removes one or more members from a set. Deletes the set if the last member was removed.", "key member [member ...]", data!(srem)),
    cmd!("scard", 2, READONLY | FAST, KEY1, Set, "1.0.0", "Returns the number of members in a set.", "key", data!(scard)),
    cmd!("sismember", 3, READONLY | FAST, KEY1, Set, "1.0.0", "Determines whether a member belongs to a set.", "key member", data!(sismember)),
    cmd!("smismember", -3, READONLY | FAST, KEY1, Set, "6.2.0", "Determines whether multiple members belong to a set.", "key member [member ...]", data!(smismember)),
    cmd!("smembers", 2, READONLY, KEY1, Set, "1.0.0", "Returns all members of a set.", "key", data!(smembers)),
    cmd!("spop", -2, WRITE | FAST, KEY1, Set, "1.0.0", "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.", "key [count]", data!(spop)),
    cmd!("srandmember", -2, READONLY, KEY1, Set, "1.0.0", "Get one or multiple random members from a set", "key [count]", data!(srandmember)),
    cmd!("smove", 4, WRITE | FAST, (1, 2, 1), Set, "1.0.0", "Moves a member from one set to another.", "source destination member", data!(smove)),
    cmd!("sinter", -2, READONLY, ALLKEYS, Set, "1.0.0", "Returns the intersect of multiple sets.", "key [key ...]", data!(sinter)),
    CommandSpec { numkeys_at: 1, ..cmd!("sintercard", -3, READONLY, NOKEYS, Set, "7.0.0", "Returns the number of members of the intersect of multiple sets.", "numkeys key [key ...] [LIMIT limit]", data!(sintercard)) },
    cmd!("sinterstore", -3, WRITE | DENYOOM, ALLKEYS, Set, "1.0.0", "Stores the intersect of multiple sets in a key.", "destination key [key ...]", data!(sinterstore)),
    cmd!("sunion", -2, READONLY, ALLKEYS, Set, "1.0.0", "Returns the union of multiple sets.", "key [key ...]", data!(sunion)),
    cmd!("sunionstore", -3, WRITE | DENYOOM, ALLKEYS, Set, "1.0.0", "Stores the union of multiple sets in a key.", "destination key [key ...]", data!(sunionstore)),
    cmd!("sdiff", -2, READONLY, ALLKEYS, Set, "1.0.0", "Returns the difference of multiple sets.", "key [key ...]", data!(sdiff)),
    cmd!("sdiffstore", -3, WRITE | DENYOOM, ALLKEYS, Set, "1.0.0", "Stores the difference of multiple sets in a key.", "destination key [key ...]", data!(sdiffstore)),
    cmd!("sscan", -3, READONLY, KEY1, Set, "2.8.0", "Iterates over members of a set.", "key cursor [MATCH pattern] [COUNT count]", data!(sscan)),
];

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// The set an entry holds, or WRONGTYPE.
fn set_of(e: &Entry) -> Result<&Set, CmdError> {
    match &e.value {
        Value::Set(s) => Ok(s),
        _ => Err(err(WRONGTYPE)),
    }
}

fn reply_member(out: &mut ReplyWriter<'_>, m: Member<'_>) {
    match m {
        Member::Int(i) => out.bulk_int(i),
        Member::Bytes(b) => out.bulk(b),
    }
}

/// Commits one set op on `key` with a fresh version.
fn commit_op(call: &mut Data<'_, '_>, shard: &mut Shard, slot: SlotId, key: &[u8], op: SetOp<&[u8]>) {
    let version = call.version();
    let m = Mutation::Coll { db: call.db(), key, op: CollOp::Set(op), version };
    if let Some(old) = shard.commit(slot, &m, call.log()) {
        call.free(old);
    }
}

/// The arguments from `from` on.
fn args_from<'a>(call: &Data<'_, 'a>, from: usize) -> Vec<&'a [u8]> {
    let args = call.args();
    (from..args.len()).map(|i| args.get(i)).collect()
}

/// A member copied out of a set, so that the set's shard may be used again.
enum Owned {
    Int(i64),
    Str(StrValue),
}

impl Owned {
    fn of(m: Member<'_>) -> Owned {
        match m {
            Member::Int(i) => Owned::Int(i),
            Member::Bytes(b) => Owned::Str(StrValue::from_slice(b)),
        }
    }

    fn member(&self) -> Member<'_> {
        match self {
            Owned::Int(i) => Member::Int(*i),
            Owned::Str(s) => Member::Bytes(s),
        }
    }
}

// ---------------------------------------------------------------------------
// Single-key commands
// ---------------------------------------------------------------------------

pub fn sadd(call: &mut Data<'_, '_>) -> CmdResult {
    let now = call.now();
    let members = args_from(call, 2);
    let (key, slot, mut shard) = call.lock_key(1);
    let added = match shard.get(slot, key, now) {
        None => gyre_engine::types::set::distinct(&members).len(),
        Some(e) => set_of(e)?.count_absent(&members),
    };
    if added > 0 {
        commit_op(call, &mut shard, slot, key, SetOp::Add { members });
        drop(shard);
        call.signal_ready(key);
    }
    call.out().integer(added as i64);
    Ok(())
}

pub fn srem(call: &mut Data<'_, '_>) -> CmdResult {
    let now = call.now();
    let members = args_from(call, 2);
    let (key, slot, mut shard) = call.lock_key(1);
    let removed = match shard.get(slot, key, now) {
        None => Vec::new(),
        Some(e) => set_of(e)?.present(&members),
    };
    let n = removed.len();
    if n > 0 {
        commit_op(call, &mut shard, slot, key, SetOp::Rem { members: removed });
    }
    drop(shard);
    call.out().integer(n as i64);
    Ok(())
}

pub fn scard(call: &mut Data<'_, '_>) -> CmdResult {
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let n = match shard.get_read(slot, key, now) {
        None => 0,
        Some(e) => set_of(e)?.len(),
    };
    drop(shard);
    call.out().integer(n as i64);
    Ok(())
}

pub fn sismember(call: &mut Data<'_, '_>) -> CmdResult {
    let now = call.now();
    let member = call.args().get(2);
    let (key, slot, mut shard) = call.lock_key(1);
    let found = match shard.get_read(slot, key, now) {
        None => false,
        Some(e) => set_of(e)?.contains(member),
    };
    drop(shard);
    call.out().integer(i64::from(found));
    Ok(())
}

pub fn smismember(call: &mut Data<'_, '_>) -> CmdResult {
    let now = call.now();
    let members = args_from(call, 2);
    let (key, slot, mut shard) = call.lock_key(1);
    let set = match shard.get_read(slot, key, now) {
        None => None,
        Some(e) => Some(set_of(e)?),
    };
    call.out().array(members.len());
    for m in &members {
        call.out().integer(i64::from(set.is_some_and(|s| s.contains(m))));
    }
    Ok(())
}

pub fn smembers(call: &mut Data<'_, '_>) -> CmdResult {
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    match shard.get_read(slot, key, now) {
        None => call.out().set(0),
        Some(e) => {
            let set = set_of(e)?;
            call.out().set(set.len());
            for m in set.iter() {
                reply_member(call.out(), m);
            }
        }
    }
    Ok(())
}

pub fn spop(call: &mut Data<'_, '_>) -> CmdResult {
    match call.argc() {
        2 => spop_one(call),
        3 => spop_count(call),
        _ => Err(err(SYNTAX)),
    }
}

fn spop_one(call: &mut Data<'_, '_>) -> CmdResult {
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let Some(e) = shard.get(slot, key, now) else {
        drop(shard);
        call.out().null();
        return Ok(());
    };
    let set = set_of(e)?;
    let i = call.rng().gen_range(0..set.len());
    let chosen = set.get(i).expect("index below the length").to_str_value();
    // An emptied set is deleted by the keyspace.
    commit_op(call, &mut shard, slot, key, SetOp::Rem { members: vec![chosen.as_slice()] });
    drop(shard);
    call.out().bulk(&chosen);
    Ok(())
}

fn spop_count(call: &mut Data<'_, '_>) -> CmdResult {
    // Redis gives the same error for a non-integer.
    let count = gyre_engine::num::parse_i64(call.arg(2)).and_then(|n| u64::try_from(n).ok());
    let count = count.ok_or(err("ERR value is out of range, must be positive"))?;
    let (db, now) = (call.db(), call.now());
    let (key, slot, mut shard) = call.lock_key(1);
    let Some(e) = shard.get(slot, key, now) else {
        drop(shard);
        call.out().set(0);
        return Ok(());
    };
    let set = set_of(e)?;
    let len = set.len();
    if count == 0 {
        drop(shard);
        call.out().set(0);
        return Ok(());
    }
    if count >= len as u64 {
        // Everything goes: reply with the whole set and delete the key.
        call.out().set(len);
        for m in set.iter() {
            reply_member(call.out(), m);
        }
        let version = call.version();
        if let Some(old) = shard.commit(slot, &Mutation::Del { db, key, version }, call.log()) {
            call.free(old);
        }
        return Ok(());
    }
    let picks = rand::seq::index::sample(&mut call.rng(), len, count as usize).into_vec();
    let chosen: Vec<StrValue> = set.members_at(&picks).into_iter().map(|m| m.to_str_value()).collect();
    let members: Vec<&[u8]> = chosen.iter().map(|s| s.as_slice()).collect();
    commit_op(call, &mut shard, slot, key, SetOp::Rem { members });
    drop(shard);
    call.out().set(chosen.len());
    for m in &chosen {
        call.out().bulk(m);
    }
    Ok(())
}

pub fn srandmember(call: &mut Data<'_, '_>) -> CmdResult {
    match call.argc() {
        2 => srandmember_one(call),
        3 => srandmember_count(call),
        _ => Err(err(SYNTAX)),
    }
}

fn srandmember_one(call: &mut Data<'_, '_>) -> CmdResult {
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    match shard.get_read(slot, key, now) {
        None => call.out().null(),
        Some(e) => {
            let set = set_of(e)?;
            let i = call.rng().gen_range(0..set.len());
            reply_member(call.out(), set.get(i).expect("index below the length"));
        }
    }
    Ok(())
}

fn srandmember_count(call: &mut Data<'_, '_>) -> CmdResult {
    let l = call.int_arg(2)?;
    if l == i64::MIN {
        return Err(err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"));
    }
    let (count, unique) = (l.unsigned_abs(), l >= 0);
    if !unique && count > SRANDMEMBER_REPEATS_MAX {
        return Err(CmdError::Msg(format!(
            "ERR value is out of range, value must between -{SRANDMEMBER_REPEATS_MAX} and 9223372036854775807"
        )));
    }
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let Some(e) = shard.get_read(slot, key, now) else {
        drop(shard);
        call.out().array(0);
        return Ok(());
    };
    let set = set_of(e)?;
    let len = set.len();
    let mut rng = call.rng();
    if count == 0 {
        call.out().array(0);
    } else if !unique || count == 1 {
        // Repeats allowed: each pick is uniform over the whole set. A listpack
        // is unpacked once rather than walked per pick.
        call.out().array(count as usize);
        let unpacked: Option<Vec<Member<'_>>> = (set.encoding() == "listpack").then(|| set.iter().collect());
        for _ in 0..count {
            let i = rng.gen_range(0..len);
            let m = match &unpacked {
                Some(all) => all[i],
                None => set.get(i).expect("index below the length"),
            };
            reply_member(call.out(), m);
        }
    } else if count >= len as u64 {
        call.out().array(len);
        for m in set.iter() {
            reply_member(call.out(), m);
        }
    } else {
        let picks = rand::seq::index::sample(&mut rng, len, count as usize).into_vec();
        call.out().array(picks.len());
        for m in set.members_at(&picks) {
            reply_member(call.out(), m);
        }
    }
    Ok(())
}

pub fn smove(call: &mut Data<'_, '_>) -> CmdResult {
    let (src, dst, member) = (call.args().get(1), call.args().get(2), call.args().get(3));
    let (db, now, ks) = (call.db(), call.now(), call.ks());
    let (src_slot, dst_slot) = (SlotId::of(src), SlotId::of(dst));
    let mut g = ks.lock_many([(db, src_slot), (db, dst_slot)]);
    let Some(e) = g.shard(db, src_slot).get(src_slot, src, now) else {
        drop(g);
        call.out().integer(0);
        return Ok(());
    };
    let in_src = set_of(e)?.contains(member);
    let in_dst = match g.shard(db, dst_slot).get(dst_slot, dst, now) {
        None => false,
        Some(e) => set_of(e)?.contains(member),
    };
    if src == dst || !in_src {
        drop(g);
        call.out().integer(i64::from(in_src));
        return Ok(());
    }
    commit_op(call, g.shard(db, src_slot), src_slot, src, SetOp::Rem { members: vec![member] });
    if !in_dst {
        commit_op(call, g.shard(db, dst_slot), dst_slot, dst, SetOp::Add { members: vec![member] });
    }
    drop(g);
    if !in_dst {
        call.signal_ready(dst);
    }
    call.out().integer(1);
    Ok(())
}

pub fn sscan(call: &mut Data<'_, '_>) -> CmdResult {
    let cursor = super::parse_scan_cursor(call.arg(2))?;
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let Some(e) = shard.get_read(slot, key, now) else {
        drop(shard);
        call.out().array(2);
        call.out().bulk(b"0");
        call.out().array(0);
        return Ok(());
    };
    let set = set_of(e)?;
    // Options are parsed only for an existing set, as Redis does.
    let mut count = 10usize;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 3;
    while i < call.argc() {
        if call.arg_is(i, "COUNT") && i + 1 < call.argc() {
            let n = call.int_arg(i + 1)?;
            count = usize::try_from(n).ok().filter(|&n| n >= 1).ok_or(err(SYNTAX))?;
        } else if call.arg_is(i, "MATCH") && i + 1 < call.argc() {
            pattern = Some(call.args().get(i + 1)).filter(|p| *p != b"*");
        } else {
            return Err(err(SYNTAX));
        }
        i += 2;
    }
    let mut found: Vec<Member<'_>> = Vec::new();
    let mut scratch = itoa::Buffer::new();
    let next = set.scan(cursor, count, |m| {
        if pattern.is_none_or(|p| glob::glob_match(p, m.as_bytes(&mut scratch), false)) {
            found.push(m);
        }
    });
    call.out().array(2);
    call.out().bulk(itoa::Buffer::new().format(next).as_bytes());
    call.out().array(found.len());
    for m in found {
        reply_member(call.out(), m);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Set algebra
// ---------------------------------------------------------------------------

/// The sets some keys name, looked up once each (expiring lazily, counting
/// hits and misses) and then read one at a time.
struct Sources<'k> {
    keys: Vec<&'k [u8]>,
    /// Cardinality per key; None for a missing key (an empty set).
    sizes: Vec<Option<usize>>,
}

impl<'k> Sources<'k> {
    /// Fails with WRONGTYPE if any key holds another type, whatever comes
    /// before it, as Redis does.
    fn look_up(g: &mut MultiGuard<'_>, call: &Data<'_, '_>, keys: Vec<&'k [u8]>) -> Result<Sources<'k>, CmdError> {
        let (db, now) = (call.db(), call.now());
        let mut sizes = Vec::with_capacity(keys.len());
        for key in &keys {
            let slot = SlotId::of(key);
            sizes.push(match g.shard(db, slot).get_read(slot, key, now) {
                None => None,
                Some(e) => Some(set_of(e)?.len()),
            });
        }
        Ok(Sources { keys, sizes })
    }

    /// The set of key `i` (present: `sizes[i]` is Some).
    fn get<'g>(&self, g: &'g mut MultiGuard<'_>, db: gyre_engine::DbIndex, i: usize) -> &'g Set {
        let key = self.keys[i];
        let slot = SlotId::of(key);
        let e = g.shard(db, slot).peek(slot, key).expect("looked up under the same locks");
        set_of(e).expect("type checked under the same locks")
    }
}

/// What a combining command does with its result.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Output<'k> {
    Reply,
    Store(&'k [u8]),
}

/// SINTER's members, in the iteration order of the smallest set (the first
/// of the smallest, on ties); None when a key is missing.
fn intersect(g: &mut MultiGuard<'_>, db: gyre_engine::DbIndex, src: &Sources<'_>) -> Option<(Vec<Owned>, usize)> {
    let sizes: Vec<usize> = src.sizes.iter().copied().collect::<Option<_>>()?;
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by_key(|&i| sizes[i]);
    let mut candidates: Vec<Owned> = src.get(g, db, order[0]).iter().map(Owned::of).collect();
    for &j in &order[1..] {
        if candidates.is_empty() {
            break;
        }
        let set = src.get(g, db, j);
        candidates.retain(|m| set.contains_member(m.member()));
    }
    Some((candidates, order[0]))
}

fn sinter_generic(call: &mut Data<'_, '_>, keys: Vec<&[u8]>, output: Output<'_>) -> CmdResult {
    let (db, ks) = (call.db(), call.ks());
    let dst = match output {
        Output::Store(d) => Some(d),
        Output::Reply => None,
    };
    let mut g = ks.lock_many(keys.iter().chain(dst.iter()).map(|k| (db, SlotId::of(k))));
    let src = Sources::look_up(&mut g, call, keys)?;
    let Some((members, smallest)) = intersect(&mut g, db, &src) else {
        return finish(call, g, output, Set::new());
    };
    match output {
        Output::Reply => {
            drop(g);
            call.out().set(members.len());
            for m in &members {
                reply_member(call.out(), m.member());
            }
            Ok(())
        }
        Output::Store(_) => {
            // Redis builds the result as an intset when the smallest set is
            // one, else as a listpack, and makes it an intset at the end if
            // every member is an integer.
            let cfg = call.encoding();
            let mut result =
                if src.get(&mut g, db, smallest).encoding() == "intset" { Set::new() } else { Set::new_listpack() };
            for m in &members {
                result.insert_member(m.member(), &cfg);
            }
            result.maybe_convert_to_intset(&cfg);
            finish(call, g, output, result)
        }
    }
}

fn sunion_generic(call: &mut Data<'_, '_>, keys: Vec<&[u8]>, output: Output<'_>) -> CmdResult {
    let (db, ks) = (call.db(), call.ks());
    let dst = match output {
        Output::Store(d) => Some(d),
        Output::Reply => None,
    };
    let mut g = ks.lock_many(keys.iter().chain(dst.iter()).map(|k| (db, SlotId::of(k))));
    let src = Sources::look_up(&mut g, call, keys)?;
    let cfg = call.encoding();
    let mut result = Set::new();
    for i in (0..src.keys.len()).filter(|&i| src.sizes[i].is_some()) {
        for m in src.get(&mut g, db, i).iter() {
            result.insert_member(m, &cfg);
        }
    }
    finish(call, g, output, result)
}

fn sdiff_generic(call: &mut Data<'_, '_>, keys: Vec<&[u8]>, output: Output<'_>) -> CmdResult {
    let (db, ks) = (call.db(), call.ks());
    let dst = match output {
        Output::Store(d) => Some(d),
        Output::Reply => None,
    };
    let mut g = ks.lock_many(keys.iter().chain(dst.iter()).map(|k| (db, SlotId::of(k))));
    let src = Sources::look_up(&mut g, call, keys)?;
    let cfg = call.encoding();
    let mut result = Set::new();
    let Some(first_len) = src.sizes[0] else {
        return finish(call, g, output, result);
    };
    if src.keys[1..].contains(&src.keys[0]) {
        // A set minus itself.
        return finish(call, g, output, result);
    }
    let others: Vec<usize> = (1..src.keys.len()).filter(|&i| src.sizes[i].is_some()).collect();
    // Redis's choice of algorithm, which decides the order members are added
    // in and so the result's encoding: test each member of the first set
    // against the others, or add them all and remove the others'.
    let test_each_work = first_len * (others.len() + 1) / 2;
    let remove_work = first_len + others.iter().map(|&i| src.sizes[i].unwrap_or(0)).sum::<usize>();
    if test_each_work <= remove_work {
        let mut candidates: Vec<Owned> = src.get(&mut g, db, 0).iter().map(Owned::of).collect();
        let mut by_size = others;
        by_size.sort_by_key(|&i| std::cmp::Reverse(src.sizes[i]));
        for j in by_size {
            let set = src.get(&mut g, db, j);
            candidates.retain(|m| !set.contains_member(m.member()));
        }
        for m in &candidates {
            result.insert_member(m.member(), &cfg);
        }
    } else {
        for m in src.get(&mut g, db, 0).iter() {
            result.insert_member(m, &cfg);
        }
        let mut scratch = itoa::Buffer::new();
        for j in others {
            if result.is_empty() {
                break;
            }
            for m in src.get(&mut g, db, j).iter() {
                result.remove(m.as_bytes(&mut scratch));
            }
        }
    }
    finish(call, g, output, result)
}

/// Replies with the result, or stores it: replaces the destination whatever
/// its type (or deletes it when the result is empty) and replies with the
/// cardinality.
fn finish(call: &mut Data<'_, '_>, mut g: MultiGuard<'_>, output: Output<'_>, result: Set) -> CmdResult {
    let Output::Store(dst) = output else {
        drop(g);
        call.out().set(result.len());
        for m in result.iter() {
            reply_member(call.out(), m);
        }
        return Ok(());
    };
    let (db, now) = (call.db(), call.now());
    let slot = SlotId::of(dst);
    let n = result.len();
    let shard = g.shard(db, slot);
    let version = call.version();
    let old = if n == 0 {
        match shard.get(slot, dst, Now { touch: false, ..now }) {
            Some(_) => shard.commit(slot, &Mutation::Del { db, key: dst, version }, call.log()),
            None => None,
        }
    } else {
        let mut bytes = Vec::new();
        Value::Set(Box::new(result)).serialize(&mut bytes);
        let m = Mutation::Restore { db, key: dst, value: &bytes, expire_at_ms: NO_EXPIRY, version };
        shard.commit(slot, &m, call.log())
    };
    drop(g);
    if let Some(old) = old {
        call.free(old);
    }
    if n > 0 {
        call.signal_ready(dst);
    }
    call.out().integer(n as i64);
    Ok(())
}

pub fn sinter(call: &mut Data<'_, '_>) -> CmdResult {
    let keys = call.keys().collect();
    sinter_generic(call, keys, Output::Reply)
}

pub fn sinterstore(call: &mut Data<'_, '_>) -> CmdResult {
    let (keys, dst) = (args_from(call, 2), call.args().get(1));
    sinter_generic(call, keys, Output::Store(dst))
}

pub fn sunion(call: &mut Data<'_, '_>) -> CmdResult {
    let keys = call.keys().collect();
    sunion_generic(call, keys, Output::Reply)
}

pub fn sunionstore(call: &mut Data<'_, '_>) -> CmdResult {
    let (keys, dst) = (args_from(call, 2), call.args().get(1));
    sunion_generic(call, keys, Output::Store(dst))
}

pub fn sdiff(call: &mut Data<'_, '_>) -> CmdResult {
    let keys = call.keys().collect();
    sdiff_generic(call, keys, Output::Reply)
}

pub fn sdiffstore(call: &mut Data<'_, '_>) -> CmdResult {
    let (keys, dst) = (args_from(call, 2), call.args().get(1));
    sdiff_generic(call, keys, Output::Store(dst))
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]
pub fn sintercard(call: &mut Data<'_, '_>) -> CmdResult {
    let numkeys = gyre_engine::num::parse_i64(call.arg(1))
        .filter(|&n| n >= 1)
        .ok_or(err("ERR numkeys should be greater than 0"))?;
    if numkeys > call.argc() as i64 - 2 {
        return Err(err("ERR Number of keys can't be greater than number of args"));
    }
    let numkeys = numkeys as usize;
    let mut limit = 0usize;
    let mut i = 2 + numkeys;
    while i < call.argc() {
        if call.arg_is(i, "LIMIT") && i + 1 < call.argc() {
            let l = gyre_engine::num::parse_i64(call.arg(i + 1))
                .filter(|&l| l >= 0)
                .ok_or(err("ERR LIMIT can't be negative"))?;
            limit = usize::try_from(l).unwrap_or(usize::MAX);
            i += 2;
        } else {
            return Err(err(SYNTAX));
        }
    }
    let keys: Vec<&[u8]> = (2..2 + numkeys).map(|i| call.args().get(i)).collect();
    let (db, ks) = (call.db(), call.ks());
    let mut g = ks.lock_many(keys.iter().map(|k| (db, SlotId::of(k))));
    let src = Sources::look_up(&mut g, call, keys)?;
    let n = intersect(&mut g, db, &src).map_or(0, |(members, _)| members.len());
    drop(g);
    let n = if limit > 0 { n.min(limit) } else { n };
    call.out().integer(n as i64);
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The mutations each command records: deterministic effects that replay
    //! to the same sets.
    use std::net::SocketAddr;
    use std::sync::Arc;

    use bytes::{Bytes, BytesMut};
    use gyre_engine::{Keyspace, MutationLog};
    use gyre_resp::{encode_command, Limits, RequestParser};

    use super::*;
    use crate::client::{ClientInfo, ClientState};
    use crate::config::Config;
    use crate::shared::Shared;

    struct Harness {
        shared: Arc<Shared>,
        client: ClientState,
        now_ms: u64,
    }

    impl Harness {
        fn new() -> Harness {
            let shared = Shared::start(Config::for_test()).expect("start");
            let addr: SocketAddr = "127.0.0.1:1".parse().expect("addr");
            let client = ClientState::new(Arc::new(ClientInfo::new(1, addr, addr)));
            Harness { shared, client, now_ms: crate::runtime::unix_ms() }
        }

        /// Runs one command; returns the reply and the mutations recorded.
        fn run(&mut self, args: &[&str]) -> (String, Vec<Mutation<Bytes>>) {
            let mut buf = BytesMut::new();
            encode_command(args, &mut buf);
            let mut parser = RequestParser::new(Limits::default());
            parser.parse(&buf).expect("valid").expect("complete");
            let (mut out, mut log) = (BytesMut::new(), MutationLog::new());
            crate::dispatch::execute_now(
                parser.args(&buf),
                &self.shared,
                &mut self.client,
                &mut out,
                &mut log,
                self.now_ms,
            );
            (String::from_utf8_lossy(&out).into_owned(), log.decode_all())
        }

        fn mutations(&mut self, args: &[&str]) -> Vec<Mutation<Bytes>> {
            self.run(args).1
        }

        /// Every key of database 0 with its value's debug form.
        fn dump(ks: &Keyspace, now_ms: u64) -> Vec<(Vec<u8>, String)> {
            let mut all = Vec::new();
            let mut cursor = 0;
            loop {
                cursor = ks.db(0).scan(cursor, 100, now_ms, |k, e| all.push((k.to_vec(), format!("{:?}", e.value))));
                if cursor == 0 {
                    break;
                }
            }
            all.sort();
            all
        }
    }

    fn set_op(m: &Mutation<Bytes>) -> (&[u8], &SetOp<Bytes>) {
        match m {
            Mutation::Coll { key, op: CollOp::Set(op), .. } => (key, op),
            other => panic!("expected a set op, got {other:?}"),
        }
    }

    fn bytes(items: &[&str]) -> Vec<Bytes> {
        items.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect()
    }

    #[test]
    fn sadd_records_its_arguments_only_when_something_is_added() {
        let mut h = Harness::new();
        let ms = h.mutations(&["SADD", "s", "a", "b", "a"]);
        assert_eq!(ms.len(), 1);
        assert_eq!(set_op(&ms[0]), (&b"s"[..], &SetOp::Add { members: bytes(&["a", "b", "a"]) }));
        assert!(h.mutations(&["SADD", "s", "a", "b"]).is_empty());
        for read in [&["SCARD", "s"][..], &["SMEMBERS", "s"], &["SRANDMEMBER", "s", "-3"], &["SSCAN", "s", "0"]] {
            assert!(h.mutations(read).is_empty(), "{read:?}");
        }
        assert!(h.mutations(&["SREM", "s", "x"]).is_empty());
        let ms = h.mutations(&["SREM", "s", "x", "b", "b"]);
        assert_eq!(set_op(&ms[0]).1, &SetOp::Rem { members: bytes(&["b"]) });
    }

    #[test]
    fn spop_records_the_members_it_chose() {
        let mut h = Harness::new();
        h.run(&["SADD", "s", "a", "b", "c", "d"]);
        let (reply, ms) = h.run(&["SPOP", "s"]);
        let SetOp::Rem { members } = set_op(&ms[0]).1 else { panic!() };
        assert_eq!(members.len(), 1);
        assert_eq!(reply, format!("$1\r\n{}\r\n", String::from_utf8_lossy(&members[0])));
        let ms = h.mutations(&["SPOP", "s", "2"]);
        let SetOp::Rem { members } = set_op(&ms[0]).1 else { panic!() };
        assert_eq!(members.len(), 2);
        // Taking everything is a deletion.
        assert!(matches!(&h.mutations(&["SPOP", "s", "5"])[..], [Mutation::Del { .. }]));
        assert!(h.mutations(&["SPOP", "s"]).is_empty());
    }

    #[test]
    fn smove_is_a_removal_and_an_addition() {
        let mut h = Harness::new();
        h.run(&["SADD", "a", "x", "y"]);
        h.run(&["SADD", "b", "y"]);
        let ms = h.mutations(&["SMOVE", "a", "b", "x"]);
        assert_eq!(ms.len(), 2);
        assert_eq!(set_op(&ms[0]), (&b"a"[..], &SetOp::Rem { members: bytes(&["x"]) }));
        assert_eq!(set_op(&ms[1]), (&b"b"[..], &SetOp::Add { members: bytes(&["x"]) }));
        assert!(ms[0].version() < ms[1].version());
        // Already in the destination: only the removal.
        let ms = h.mutations(&["SMOVE", "a", "b", "y"]);
        assert_eq!(ms.len(), 1);
        assert!(h.mutations(&["SMOVE", "b", "b", "x"]).is_empty());
    }

    #[test]
    fn stores_record_the_whole_result_or_a_deletion() {
        let mut h = Harness::new();
        h.run(&["SADD", "a", "1", "2"]);
        h.run(&["SADD", "b", "2", "3"]);
        assert!(matches!(&h.mutations(&["SUNIONSTORE", "d", "a", "b"])[..], [Mutation::Restore { .. }]));
        assert!(matches!(&h.mutations(&["SINTERSTORE", "d", "a", "missing"])[..], [Mutation::Del { .. }]));
        assert!(h.mutations(&["SDIFFSTORE", "d", "a", "a"]).is_empty());
    }

    #[test]
    fn recorded_mutations_replay_to_the_same_sets() {
        let mut h = Harness::new();
        let mut all = Vec::new();
        let big: Vec<String> = (0..300).map(|i| format!("m{i}")).collect();
        let mut sadd_big = vec!["SADD", "big"];
        sadd_big.extend(big.iter().map(|s| s.as_str()));
        for cmd in [
            &["SADD", "ints", "5", "1", "3"][..],
            &["SADD", "ints", "x"],
            &["SADD", "pack", "a", "b", "c", "d"],
            &sadd_big,
            &["SREM", "big", "m1", "m2", "m3"],
            &["SPOP", "big"],
            &["SPOP", "big", "100"],
            &["SPOP", "pack", "2"],
            &["SMOVE", "ints", "pack", "x"],
            &["SMOVE", "ints", "fresh", "1"],
            &["SINTERSTORE", "inter", "ints", "pack"],
            &["SUNIONSTORE", "union", "ints", "pack", "big"],
            &["SDIFFSTORE", "diff", "big", "pack"],
            &["SPOP", "ints", "10"],
        ] {
            all.extend(h.mutations(cmd));
        }
        let replica = Keyspace::new();
        for m in &all {
            replica.apply(m);
        }
        let now = h.now_ms;
        let want = Harness::dump(&h.shared.ks, now);
        assert!(want.len() >= 5, "{want:?}");
        assert_eq!(Harness::dump(&replica, now), want);
    }
}

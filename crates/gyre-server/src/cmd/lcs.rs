//! LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]: the longest
//! common subsequence of two strings, with Redis 7's replies and errors. The
//! algorithm (and so which subsequence and which match ranges) is
//! `gyre_engine::lcs`'s; its table is bounded by `proto-max-bulk-len`, as in
//! Redis.

use std::sync::atomic::Ordering;

use gyre_engine::SlotId;

use super::data::Data;
use super::errors::SYNTAX;
use super::flags::*;
use super::table::{cmd, data};
use super::{err, CmdError, CmdResult, CommandSpec, Group};

pub fn lcs(call: &mut Data<'_, '_>) -> CmdResult {
    let (db, now, ks) = (call.db(), call.now(), call.ks());
    let (ka, kb) = (call.args().get(1), call.args().get(2));
    let (sa, sb) = (SlotId::of(ka), SlotId::of(kb));
    let mut g = ks.lock_many([(db, sa), (db, sb)]);
    let mut read = |slot: SlotId, key: &[u8]| -> Result<Vec<u8>, CmdError> {
        match g.shard(db, slot).get_read(slot, key, now) {
            None => Ok(Vec::new()),
            Some(e) if e.value.is_string() => Ok(e.value.as_bytes(&mut itoa::Buffer::new()).to_vec()),
            Some(_) => Err(err("ERR The specified keys must contain string values")),
        }
    };
    let a = read(sa, ka)?;
    let b = read(sb, kb)?;
    drop(g);
    let (mut get_len, mut get_idx, mut with_len, mut min_len) = (false, false, false, 0i64);
    let mut j = 3;
    while j < call.argc() {
        let more = call.argc() - 1 - j;
        if call.arg_is(j, "IDX") {
            get_idx = true;
        } else if call.arg_is(j, "LEN") {
            get_len = true;
        } else if call.arg_is(j, "WITHMATCHLEN") {
            with_len = true;
        } else if call.arg_is(j, "MINMATCHLEN") && more > 0 {
            min_len = call.int_arg(j + 1)?.max(0);
            j += 1;
        } else {
            return Err(err(SYNTAX));
        }
        j += 1;
    }
    if get_len && get_idx {
        return Err(err("ERR If you want both the length and indexes, please just use IDX."));
    }
    if a.len() >= u32::MAX as usize - 1 || b.len() >= u32::MAX as usize - 1 {
        return Err(err("ERR String too long for LCS"));
    }
    let max = call.hot().proto_max_bulk_len.load(Ordering::Relaxed);
    match gyre_engine::lcs::table_bytes(a.len(), b.len()) {
        Some(n) if n <= max => {}
        Some(_) => return Err(err("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")),
        None => return Err(err("ERR Insufficient memory, failed allocating transient memory for LCS")),
    }
    let r = gyre_engine::lcs::lcs(&a, &b);
    if get_idx {
        let shown: Vec<_> = r.matches.iter().filter(|m| min_len == 0 || i64::from(m.len()) >= min_len).collect();
        call.out().map(2);
        call.out().bulk(b"matches");
        call.out().array(shown.len());
        for m in shown {
            call.out().array(2 + usize::from(with_len));
            call.out().array(2);
            call.out().integer(i64::from(m.a_start));
            call.out().integer(i64::from(m.a_end));
            call.out().array(2);
            call.out().integer(i64::from(m.b_start));
            call.out().integer(i64::from(m.b_end));
            if with_len {
                call.out().integer(i64::from(m.len()));
            }
        }
        call.out().bulk(b"len");
        call.out().integer(i64::from(r.len));
    } else if get_len {
        call.out().integer(i64::from(r.len));
    } else {
        call.out().bulk(&r.string);
    }
    Ok(())
}

pub static COMMANDS: &[CommandSpec] = &[cmd!(
    "lcs",
    -3,
    READONLY,
    (1, 2, 1),
    String,
    "7.0.0",
    "Finds the longest common substring.",
    "key1 key2 [LEN] [IDX] [MINMATCHLEN min-match-len] [WITHMATCHLEN]",
    data!(lcs)
)];

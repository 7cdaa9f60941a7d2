//! The commands that walk or sample a whole set: ZRANDMEMBER and ZSCAN.
//!
//! Read-only. Limits: a ZRANDMEMBER reply with repeats (a negative count) is
//! at most `RANDMEMBER_REPLY_MAX` members; a larger count is an error rather
//! than an unbounded reply.

use gyre_engine::num::parse_i64;
use rand::Rng;

use super::{as_zset, resp3};
use crate::cmd::data::Data;
use crate::cmd::errors::{NOT_INTEGER, SYNTAX};
use crate::cmd::{err, CmdResult};

/// Longest reply ZRANDMEMBER builds for a negative count (repeats allowed):
/// Redis has no bound and would grow its output buffer until the client is
/// dropped; a bounded reply is an error instead.
const RANDMEMBER_REPLY_MAX: u64 = 1 << 24;
// ---------------------------------------------------------------------------
// ZRANDMEMBER, ZSCAN
// ---------------------------------------------------------------------------

pub fn zrandmember(call: &mut Data<'_, '_>) -> CmdResult {
    if call.argc() == 2 {
        let now = call.now();
        let (key, slot, mut shard) = call.lock_key(1);
        match as_zset(shard.get_read(slot, key, now))? {
            Some(z) => {
                let (m, _) = z.get(call.rng().gen_range(0..z.len())).expect("in range");
                call.out().bulk(m);
            }
            None => call.out().null(),
        }
        return Ok(());
    }
    let count = match parse_i64(call.arg(2)) {
        None => return Err(err(NOT_INTEGER)),
        Some(i64::MIN) => {
            return Err(err(
                "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
            ))
        }
        Some(c) => c,
    };
    if call.argc() > 4 || (call.argc() == 4 && !call.arg_is(3, "WITHSCORES")) {
        return Err(err(SYNTAX));
    }
    let withscores = call.argc() == 4;
    if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(err("ERR value is out of range"));
    }
    if count < 0 && count.unsigned_abs() > RANDMEMBER_REPLY_MAX {
        return Err(err("ERR value is out of range"));
    }
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let Some(z) = as_zset(shard.get_read(slot, key, now))? else {
        drop(shard);
        call.out().array(0);
        return Ok(());
    };
    let ranks: Vec<usize> = if count < 0 {
        {
            let mut rng = call.rng();
            (0..count.unsigned_abs()).map(|_| rng.gen_range(0..z.len())).collect()
        }
    } else if count as u64 >= z.len() as u64 {
        (0..z.len()).collect()
    } else {
        rand::seq::index::sample(&mut call.rng(), z.len(), count as usize).into_vec()
    };
    let nested = withscores && resp3(call);
    call.out().array(if withscores && !nested { ranks.len() * 2 } else { ranks.len() });
    for r in ranks {
        let (m, s) = z.get(r).expect("in range");
        if nested {
            call.out().array(2);
        }
        call.out().bulk(m);
        if withscores {
            call.out().double(s);
        }
    }
    Ok(())
}

/// Redis's `%.17g`, which ZSCAN uses for scores of skiplist-encoded sets.
fn format_17g(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let sci = format!("{v:.16e}");
    let (mantissa, exp) = sci.split_once('e').expect("exponent");
    let exp: i32 = exp.parse().expect("integer exponent");
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if (-4..17).contains(&exp) {
        trim(&format!("{:.*}", (16 - exp) as usize, v))
    } else {
        format!("{}e{}{:02}", trim(mantissa), if exp < 0 { '-' } else { '+' }, exp.abs())
    }
}

pub fn zscan(call: &mut Data<'_, '_>) -> CmdResult {
    let cursor = crate::cmd::parse_scan_cursor(call.arg(2))?;
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let Some(z) = as_zset(shard.get_read(slot, key, now))? else {
        drop(shard);
        call.out().array(2);
        call.out().bulk(b"0");
        call.out().array(0);
        return Ok(());
    };
    let args = call.args();
    let (mut count, mut pattern) = (10usize, None);
    let mut i = 3;
    while i < args.len() {
        if i + 1 >= args.len() {
            return Err(err(SYNTAX));
        }
        if call.arg_is(i, "COUNT") {
            count = match call.int_arg(i + 1)? {
                n if n < 1 => return Err(err(SYNTAX)),
                n => n as usize,
            };
        } else if call.arg_is(i, "MATCH") {
            pattern = Some(args.get(i + 1)).filter(|p| *p != b"*");
        } else {
            return Err(err(SYNTAX));
        }
        i += 2;
    }
    // A listpack is returned whole (as Redis does). A skiplist is walked in the
    // order of a stable hash of the members, the cursor being the next hash:
    // unlike a rank, that order does not shift when members are added or
    // removed, so every member present for the whole scan is returned. A step
    // covers at least 1/32 of the set, so a full scan stays linear.
    let packed = z.encoding() == "listpack";
    let mut batch: Vec<(u64, Vec<u8>, f64)> = Vec::new();
    z.for_range(0, z.len(), false, |m, s| {
        let h = gyre_engine::keyspace::key_hash(m) >> 1;
        if packed || h >= cursor {
            batch.push((h, m.to_vec(), s));
        }
    });
    let mut next = 0;
    let budget = count.max(z.len() / 32).max(1);
    if !packed && batch.len() > budget {
        batch.sort_unstable_by_key(|e| e.0);
        let last = batch[budget - 1].0;
        batch.truncate(batch.partition_point(|e| e.0 <= last));
        next = last + 1;
    }
    drop(shard);
    let mut found: Vec<(Vec<u8>, String)> = Vec::new();
    for (_, m, s) in batch {
        if pattern.is_none_or(|p| gyre_engine::glob::glob_match(p, &m, false)) {
            let text = if packed {
                let mut b = Vec::new();
                gyre_resp::format_double(s, &mut b);
                String::from_utf8(b).expect("ascii")
            } else {
                format_17g(s)
            };
            found.push((m, text));
        }
    }
    call.out().array(2);
    call.out().bulk(itoa::Buffer::new().format(next).as_bytes());
    call.out().array(found.len() * 2);
    for (m, s) in &found {
        call.out().bulk(m);
        call.out().bulk(s.as_bytes());
    }
    Ok(())
}

//! SORT and SORT_RO with Redis 7.2's options, order and errors: BY (a
//! pattern with `*`, `->field` for hash fields, or one without `*` meaning
//! "do not sort"), LIMIT, GET (`#` for the element itself, patterns, hash
//! fields), ASC/DESC, ALPHA and STORE.
//!
//! The elements of the list, set or sorted set are read under that key's
//! lock; keys the patterns reach are then read one at a time under their
//! own locks (Redis reads them all in one step of its single thread).
//! ALPHA compares bytes (Redis with the C locale). STORE replaces the
//! destination with a list (one Restore mutation), or deletes it when the
//! result is empty.
//!
//! Not here: Redis refuses BY and GET patterns in cluster mode and for users
//! whose ACL does not reach every key; Gyre has no cluster mode yet and its
//! ACL key patterns are checked on the named keys only.

use gyre_engine::types::ListOp;
use gyre_engine::{CollOp, Mutation, SlotId, Value, NO_EXPIRY};

use super::data::Data;
use super::errors::{SYNTAX, WRONGTYPE};
use super::flags::*;
use super::table::{cmd, data, KEY1};
use super::{err, CmdError, CmdResult, CommandSpec, Group};

struct Options<'a> {
    desc: bool,
    alpha: bool,
    limit: Option<(i64, i64)>,
    by: Option<&'a [u8]>,
    dont_sort: bool,
    gets: Vec<&'a [u8]>,
    store: Option<&'a [u8]>,
}

fn parse_options<'a>(call: &Data<'_, 'a>, read_only: bool) -> Result<Options<'a>, CmdError> {
    let args = call.args();
    let mut o =
        Options { desc: false, alpha: false, limit: None, by: None, dont_sort: false, gets: Vec::new(), store: None };
    let mut j = 2;
    while j < call.argc() {
        let left = call.argc() - j - 1;
        if call.arg_is(j, "ASC") {
            o.desc = false;
        } else if call.arg_is(j, "DESC") {
            o.desc = true;
        } else if call.arg_is(j, "ALPHA") {
            o.alpha = true;
        } else if call.arg_is(j, "LIMIT") && left >= 2 {
            o.limit = Some((call.int_arg(j + 1)?, call.int_arg(j + 2)?));
            j += 2;
        } else if !read_only && call.arg_is(j, "STORE") && left >= 1 {
            o.store = Some(args.get(j + 1));
            j += 1;
        } else if call.arg_is(j, "BY") && left >= 1 {
            let p = args.get(j + 1);
            o.by = Some(p);
            o.dont_sort = !p.contains(&b'*');
            // A real pattern reaches keys in other slots, and keys the
            // user's key patterns may not cover: Redis 7.2 refuses both.
            if !o.dont_sort {
                pattern_allowed(call, "BY")?;
            }
            j += 1;
        } else if call.arg_is(j, "GET") && left >= 1 {
            pattern_allowed(call, "GET")?;
            o.gets.push(args.get(j + 1));
            j += 1;
        } else {
            return Err(err(SYNTAX));
        }
        j += 1;
    }
    Ok(o)
}

/// SORT's BY and GET patterns, refused in cluster mode and to users who may
/// not read every key, with Redis 7.2's errors.
fn pattern_allowed(call: &Data<'_, '_>, option: &str) -> Result<(), CmdError> {
    if call.cluster_enabled() {
        return Err(CmdError::Msg(format!("ERR {option} option of SORT denied in Cluster mode.")));
    }
    if !call.reads_all_keys() {
        return Err(CmdError::Msg(format!("ERR {option} option of SORT denied due to insufficient ACL permissions.")));
    }
    Ok(())
}

/// The value a pattern reaches for `element` (Redis's `lookupKeyByPattern`):
/// `#` is the element; `*` is replaced by it (first `*` only); `->field`
/// after the `*` reads a hash field. A missing key, a wrong type or a
/// pattern without `*` gives None.
fn lookup_pattern(call: &Data<'_, '_>, pattern: &[u8], element: &[u8]) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(element.to_vec());
    }
    let star = pattern.iter().position(|&b| b == b'*')?;
    let after = &pattern[star + 1..];
    let arrow = after.windows(2).position(|w| w == b"->").filter(|&i| i + 2 < after.len());
    let (postfix, field) = match arrow {
        Some(i) => (&after[..i], Some(&after[i + 2..])),
        None => (after, None),
    };
    let mut key = Vec::with_capacity(pattern.len() + element.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(element);
    key.extend_from_slice(postfix);
    let slot = SlotId::of(&key);
    let mut shard = call.ks().db(call.db()).lock(slot);
    let e = shard.get_read(slot, &key, call.now())?;
    match (field, &e.value) {
        (Some(f), Value::Hash(h)) => h.get(f).map(|v| v.to_vec()),
        (None, v) if v.is_string() => Some(v.as_bytes(&mut itoa::Buffer::new()).to_vec()),
        _ => None,
    }
}

/// C's `strtod` where the whole string must be consumed, without ERANGE and
/// not NaN (Redis's test for a sortable score).
fn strtod_whole(b: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(b).ok()?;
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    if t.is_empty() {
        // No conversion: strtod leaves the end at the start, which is the
        // string's end only when it is empty (or all spaces).
        return Some(0.0);
    }
    if let Some(v) = hex_float(t) {
        return v;
    }
    let v: f64 = t.parse().ok()?;
    if v.is_nan() {
        return None;
    }
    // The checks below allocate nothing and run only for the rare values
    // they concern.
    let body = t.trim_start_matches(['+', '-']);
    if v.is_infinite() && !(body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity")) {
        return None; // overflow: ERANGE
    }
    if v == 0.0 || v.is_subnormal() {
        let mantissa = body.split(['e', 'E']).next().unwrap_or("");
        if mantissa.bytes().any(|c| (b'1'..=b'9').contains(&c)) {
            return None; // underflow: ERANGE
        }
    }
    Some(v)
}

/// strtod's hexadecimal form (`0x1A`, `-0x1.8p3`): None when `t` is not
/// one, Some(None) when it is malformed.
fn hex_float(t: &str) -> Option<Option<f64>> {
    let (negative, rest) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits = rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X"))?;
    let (mantissa, exp) = match digits.find(['p', 'P']) {
        Some(i) => (&digits[..i], Some(&digits[i + 1..])),
        None => (digits, None),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return Some(None);
    }
    let mut v = 0f64;
    for c in int_part.chars().chain(frac_part.chars()) {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut e: i32 = -4 * frac_part.len() as i32;
    if let Some(x) = exp {
        e += x.parse::<i32>().ok()?;
    }
    let v = v * 2f64.powi(e);
    Some(v.is_finite().then_some(if negative { -v } else { v }))
}

/// One element being sorted.
struct Item {
    element: Vec<u8>,
    score: f64,
    by: Option<Vec<u8>>,
}

/// The elements of the value at argument 1 in the order SORT loads them:
/// None when it is of a type SORT refuses.
fn load_elements(call: &Data<'_, '_>, o: &Options<'_>) -> Result<(Vec<Vec<u8>>, &'static str), CmdError> {
    let (key, slot) = (call.args().get(1), SlotId::of(call.args().get(1)));
    let mut shard = call.ks().db(call.db()).lock(slot);
    let Some(e) = shard.get_read(slot, key, call.now()) else { return Ok((Vec::new(), "list")) };
    let mut scratch = itoa::Buffer::new();
    Ok(match &e.value {
        Value::List(l) => (l.iter().map(|v| v.to_vec()).collect(), "list"),
        Value::Set(s) => (s.iter().map(|m| m.as_bytes(&mut scratch).to_vec()).collect(), "set"),
        Value::ZSet(z) => {
            let mut v = Vec::with_capacity(z.len());
            z.for_range(0, z.len(), o.dont_sort && o.desc, |m, _| v.push(m.to_vec()));
            (v, "zset")
        }
        _ => return Err(err(WRONGTYPE)),
    })
}

fn sort_generic(call: &mut Data<'_, '_>, read_only: bool) -> CmdResult {
    let mut o = parse_options(call, read_only)?;
    let (mut elements, kind) = load_elements(call, &o)?;
    // A set has no order of its own: stored results are sorted (ALPHA).
    if o.dont_sort && kind == "set" && o.store.is_some() {
        o.dont_sort = false;
        o.alpha = true;
        o.by = None;
    }
    let n = elements.len() as i64;
    let (limit_start, limit_count) = o.limit.unwrap_or((0, -1));
    let mut start = limit_start.max(0).min(n);
    let count = limit_count.max(-1).min(n);
    let mut end = if count < 0 { n - 1 } else { start + count - 1 };
    if start >= n {
        start = n - 1;
        end = n - 2;
    }
    if end >= n {
        end = n - 1;
    }
    if o.dont_sort && kind == "list" && o.desc {
        elements.reverse();
    }
    let mut items: Vec<Item> = elements.into_iter().map(|element| Item { element, score: 0.0, by: None }).collect();
    if !o.dont_sort {
        let mut conversion_error = false;
        for it in &mut items {
            let by = match o.by {
                Some(p) => match lookup_pattern(call, p, &it.element) {
                    Some(v) => v,
                    None => continue,
                },
                None => it.element.clone(),
            };
            if o.alpha {
                if o.by.is_some() {
                    it.by = Some(by);
                }
            } else {
                match strtod_whole(&by) {
                    Some(s) => it.score = s,
                    None => conversion_error = true,
                }
            }
        }
        if conversion_error {
            return Err(err("ERR One or more scores can't be converted into double"));
        }
        let (alpha, by, desc) = (o.alpha, o.by.is_some(), o.desc);
        let compare = |a: &Item, b: &Item| {
            let cmp = if !alpha {
                a.score
                    .partial_cmp(&b.score)
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then_with(|| a.element.cmp(&b.element))
            } else if by {
                match (&a.by, &b.by) {
                    (None, None) => std::cmp::Ordering::Equal,
                    (None, Some(_)) => std::cmp::Ordering::Less,
                    (Some(_), None) => std::cmp::Ordering::Greater,
                    (Some(x), Some(y)) => x.cmp(y),
                }
            } else {
                a.element.cmp(&b.element)
            };
            if desc {
                cmp.reverse()
            } else {
                cmp
            }
        };
        // Only ALPHA with BY can tie distinct elements (equal BY values):
        // keep their order then; otherwise any sort gives the same result.
        if alpha && by {
            items.sort_by(compare);
        } else {
            items.sort_unstable_by(compare);
        }
    }
    let chosen: &[Item] = if end >= start { &items[start as usize..=end as usize] } else { &[] };
    match o.store {
        None if o.gets.is_empty() => {
            call.out().array(chosen.len());
            for it in chosen {
                call.out().bulk(&it.element);
            }
        }
        None => {
            let per = o.gets.len().max(1);
            let values: Vec<Option<Vec<u8>>> = chosen
                .iter()
                .flat_map(|it| -> Vec<Option<Vec<u8>>> {
                    if o.gets.is_empty() {
                        vec![Some(it.element.clone())]
                    } else {
                        o.gets.iter().map(|g| lookup_pattern(call, g, &it.element)).collect()
                    }
                })
                .collect();
            call.out().array(chosen.len() * per);
            for v in values {
                match v {
                    Some(v) => call.out().bulk(&v),
                    None => call.out().null(),
                }
            }
        }
        Some(dst) => {
            let values: Vec<Vec<u8>> = chosen
                .iter()
                .flat_map(|it| -> Vec<Vec<u8>> {
                    if o.gets.is_empty() {
                        vec![it.element.clone()]
                    } else {
                        o.gets.iter().map(|g| lookup_pattern(call, g, &it.element).unwrap_or_default()).collect()
                    }
                })
                .collect();
            store(call, dst, &values);
            call.out().integer(values.len() as i64);
        }
    }
    Ok(())
}

/// Replaces `dst` with a list of `values` (deletes it when empty).
fn store(call: &mut Data<'_, '_>, dst: &[u8], values: &[Vec<u8>]) {
    let (db, now, slot) = (call.db(), call.now(), SlotId::of(dst));
    let ks = call.ks();
    let mut shard = ks.db(db).lock(slot);
    if values.is_empty() {
        if shard.get(slot, dst, now).is_some() {
            let version = call.version();
            if let Some(old) = shard.commit(slot, &Mutation::Del { db, key: dst, version }, call.log()) {
                call.free(old);
            }
        }
        return;
    }
    let op = CollOp::List(ListOp::Push { left: false, values: values.iter().map(|v| v.as_slice()).collect() });
    let mut list = Value::empty_for(&op);
    list.apply_op(&op, &call.encoding());
    let mut value = Vec::new();
    list.serialize(&mut value);
    let version = call.version();
    let m = Mutation::Restore { db, key: dst, value: &value, expire_at_ms: NO_EXPIRY, version };
    if let Some(old) = shard.commit(slot, &m, call.log()) {
        call.free(old);
    }
    drop(shard);
    call.signal_ready(dst);
}

pub fn sort(call: &mut Data<'_, '_>) -> CmdResult {
    sort_generic(call, false)
}

pub fn sort_ro(call: &mut Data<'_, '_>) -> CmdResult {
    sort_generic(call, true)
}

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("sort", -2, WRITE | DENYOOM, KEY1, Generic, "1.0.0", "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.", "key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC | DESC] [ALPHA] [STORE destination]", data!(sort)),
    cmd!("sort_ro", -2, READONLY, KEY1, Generic, "7.0.0", "Returns the sorted elements of a list, a set, or a sorted set.", "key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC | DESC] [ALPHA]", data!(sort_ro)),
];

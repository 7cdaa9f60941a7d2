//! Hostile script values, shared by the proptest `tests/hostile_values.rs`
//! and the cargo-fuzz target `fuzz/fuzz_targets/script_values.rs` (which
//! includes this file with `#[path]`).
//!
//! Every case is a fixed script body (so the script cache stays small) fed
//! its hostile data through KEYS and ARGV: deep tables, reference cycles,
//! deep command replies, huge strings, arbitrary bytes (invalid UTF-8, NUL,
//! CR/LF), the special reply fields, `cjson` and `cmsgpack` input, holes,
//! and extreme numbers. [`check`] asserts what must hold for any of them
//! (a well-formed reply for the caller's protocol), and the case's
//! [`Expect`] what must hold for that shape. Both panic on a violation.

#![allow(dead_code)]

use bytes::{Bytes, BytesMut};
use gyre_resp::{parse_frame, Limits};
use gyre_script::{Frame, Host, RunOpts, ScriptConfig, Scripting};

/// The converters' nesting limit (`convert::NESTING_DEPTH_MAX`).
pub const NESTING_LIMIT: usize = 1000;

/// Deepest nesting a case asks for: well past the limit.
pub const DEPTH_MAX: usize = 1300;

/// What a case must produce, beyond [`check`]'s invariants.
#[derive(Debug, Clone)]
pub enum Expect {
    /// Only the invariants.
    Any,
    /// Exactly this reply.
    Exact(Frame),
    /// `depth` single-child aggregates around `leaf`, or, from
    /// [`NESTING_LIMIT`] on, around "ERR reached lua stack limit".
    Nested { depth: usize, leaf: Bytes },
    /// Somewhere in the reply (possibly the reply itself), an error containing this.
    ContainsError(&'static str),
    /// The reply is an error.
    Error,
}

/// One script run.
#[derive(Debug, Clone)]
pub struct Case {
    pub body: String,
    pub keys: Vec<Vec<u8>>,
    pub args: Vec<Vec<u8>>,
    pub opts: RunOpts,
    pub expect: Expect,
}

/// A host with three commands: `ECHO x` answers `x`, `NEST n leaf` answers
/// `n` nested one-element arrays around the bulk `leaf`, `PING` answers PONG.
pub struct HostileHost;

impl Host for HostileHost {
    fn call(&mut self, args: &[&[u8]], _resp: u8) -> Frame {
        let name = args.first().map(|a| a.to_ascii_uppercase()).unwrap_or_default();
        match (name.as_slice(), args.len()) {
            (b"ECHO", 2) => Frame::Bulk(Bytes::copy_from_slice(args[1])),
            (b"NEST", 3) => {
                let depth = std::str::from_utf8(args[1]).ok().and_then(|d| d.parse::<usize>().ok());
                match depth {
                    Some(depth) if depth <= DEPTH_MAX => nested(depth, Bytes::copy_from_slice(args[2])),
                    _ => Frame::Error(Bytes::from_static(b"ERR bad depth")),
                }
            }
            (b"PING", 1) => Frame::Simple(Bytes::from_static(b"PONG")),
            _ => Frame::Error(Bytes::from_static(b"ERR unknown command")),
        }
    }

    fn log(&mut self, _level: u8, _msg: &str) {}
}

/// `depth` one-element arrays around a bulk `leaf`.
pub fn nested(depth: usize, leaf: Bytes) -> Frame {
    let mut frame = Frame::Bulk(leaf);
    for _ in 0..depth {
        frame = Frame::Array(vec![frame]);
    }
    frame
}

/// A `Scripting` whose VMs are capped at 64 MiB, so huge values also reach
/// the out-of-memory paths.
pub fn scripting() -> Scripting {
    Scripting::new(ScriptConfig { lua_memory_bytes_max: 64 << 20, ..ScriptConfig::default() })
}

/// Runs `case`, checks the invariants and its expectation, returns the reply.
pub fn run_case(s: &Scripting, case: &Case) -> Frame {
    let keys: Vec<&[u8]> = case.keys.iter().map(Vec::as_slice).collect();
    let args: Vec<&[u8]> = case.args.iter().map(Vec::as_slice).collect();
    let reply = s.eval(&mut HostileHost, case.body.as_bytes(), &keys, &args, case.opts);
    check(&reply, case.opts.resp);
    check_expect(&reply, &case.expect, case);
    reply
}

fn opts(flags: u8) -> RunOpts {
    RunOpts { read_only: false, resp: if flags & 1 == 0 { 2 } else { 3 } }
}

/// `redis.setresp(3)` first when bit 1 of `flags` is set (booleans and the
/// script's view of replies change).
fn body(flags: u8, text: &str) -> String {
    if flags & 2 == 0 {
        text.to_string()
    } else {
        format!("redis.setresp(3)\n{text}")
    }
}

fn case(flags: u8, text: &str, args: Vec<Vec<u8>>, expect: Expect) -> Case {
    Case { body: body(flags, text), keys: Vec::new(), args, opts: opts(flags), expect }
}

/// `depth` levels of tables around the string `leaf`; byte `i` of `kinds`
/// (cycled) picks the wrapper of level `i`: an array `{t}`, a map
/// `{map={k=t}}` or a set `{set={[t]=true}}`. Every wrapper is one level of
/// conversion, so from [`NESTING_LIMIT`] levels on the reply carries the
/// stack-limit error instead of the leaf.
pub fn deep_tables(flags: u8, depth: usize, kinds: &[u8], leaf: &[u8]) -> Case {
    const BODY: &str = "local d, kinds, t = tonumber(ARGV[1]), ARGV[2], ARGV[3]
for i = 1, d do
  local k = string.byte(kinds, (i - 1) % #kinds + 1) % 3
  if k == 0 then t = {t} elseif k == 1 then t = {map = {k = t}} else t = {set = {[t] = true}} end
end
return t";
    let kinds = if kinds.is_empty() { vec![0] } else { kinds.to_vec() };
    let depth = depth.min(DEPTH_MAX);
    let args = vec![depth.to_string().into_bytes(), kinds, leaf.to_vec()];
    case(flags, BODY, args, Expect::Nested { depth, leaf: Bytes::copy_from_slice(leaf) })
}

/// A table that contains itself, through an array slot, a map or a set
/// member; the conversion must stop at the nesting limit.
pub fn cycle(flags: u8, kind: u8) -> Case {
    const BODIES: [&str; 4] = [
        "local t = {} t[1] = t return t",
        "local t = {} t.map = {k = t} return t",
        "local t = {} t.map = t return t",
        "local t = {} t.set = {} t.set[t] = true return t",
    ];
    case(flags, BODIES[usize::from(kind) % BODIES.len()], Vec::new(), Expect::ContainsError("reached lua stack limit"))
}

/// A command reply nested `depth` arrays deep, converted to Lua and back:
/// equal below the limit, an error from it on.
pub fn deep_reply(flags: u8, depth: usize, leaf: &[u8]) -> Case {
    let depth = depth.min(DEPTH_MAX);
    let expect =
        if depth < NESTING_LIMIT { Expect::Exact(nested(depth, Bytes::copy_from_slice(leaf))) } else { Expect::Error };
    let args = vec![depth.to_string().into_bytes(), leaf.to_vec()];
    case(flags, "return redis.call('NEST', ARGV[1], ARGV[2])", args, expect)
}

/// `string.rep(piece, times)`, returned alone or with its length.
pub fn huge_string(flags: u8, piece: &[u8], times: usize) -> Case {
    let whole = piece.repeat(times);
    let args = vec![piece.to_vec(), times.to_string().into_bytes()];
    if flags & 4 == 0 {
        case(flags, "return string.rep(ARGV[1], tonumber(ARGV[2]))", args, Expect::Exact(Frame::Bulk(whole.into())))
    } else {
        let expect = Expect::Exact(Frame::Array(vec![
            Frame::Integer(whole.len() as i64),
            Frame::Bulk(whole.clone().into()),
            Frame::Bulk(whole.into()),
        ]));
        case(
            flags,
            "local s = string.rep(ARGV[1], tonumber(ARGV[2])) return {#s, s, redis.call('ECHO', s)}",
            args,
            expect,
        )
    }
}

/// Arbitrary bytes as KEYS and ARGV come back byte-exact, directly and
/// through `redis.call('ECHO', ...)`.
pub fn raw_args(flags: u8, keys: Vec<Vec<u8>>, args: Vec<Vec<u8>>) -> Case {
    const BODY: &str = "local echoed = {}
for i, a in ipairs(ARGV) do echoed[i] = redis.call('ECHO', a) end
return {KEYS, ARGV, echoed}";
    let bulks = |items: &[Vec<u8>]| Frame::Array(items.iter().map(|i| Frame::Bulk(i.clone().into())).collect());
    let expect = Expect::Exact(Frame::Array(vec![bulks(&keys), bulks(&args), bulks(&args)]));
    Case { body: body(flags, BODY), keys, args, opts: opts(flags), expect }
}

/// The reply-shaping fields (and raised errors) with an arbitrary value.
pub fn special_field(flags: u8, field: u8, value: &[u8]) -> Case {
    const BODIES: [&str; 12] = [
        "return {err = ARGV[1]}",
        "return {ok = ARGV[1]}",
        "return {double = tonumber(ARGV[1])}",
        "return {big_number = ARGV[1]}",
        "return {verbatim_string = {format = ARGV[1], string = ARGV[1]}}",
        "return {map = {[ARGV[1]] = ARGV[1], [1] = true, [2.5] = false}}",
        "return {set = {[ARGV[1]] = true, [0] = true}}",
        "error(ARGV[1])",
        "error({err = ARGV[1]})",
        "return redis.error_reply(ARGV[1])",
        "return redis.status_reply(ARGV[1])",
        "return redis.pcall('ECHO', ARGV[1], ARGV[1])",
    ];
    case(flags, BODIES[usize::from(field) % BODIES.len()], vec![value.to_vec()], Expect::Any)
}

/// `cjson.decode` of arbitrary input, returned as is or re-encoded.
pub fn cjson(flags: u8, variant: u8, input: &[u8]) -> Case {
    const BODIES: [&str; 3] = [
        "return cjson.decode(ARGV[1])",
        "return cjson.encode(cjson.decode(ARGV[1]))",
        "return {pcall(cjson.decode, ARGV[1])}",
    ];
    case(flags, BODIES[usize::from(variant) % BODIES.len()], vec![input.to_vec()], Expect::Any)
}

/// `cmsgpack.unpack` of arbitrary input, returned as is or re-packed.
pub fn cmsgpack(flags: u8, variant: u8, input: &[u8]) -> Case {
    const BODIES: [&str; 4] = [
        "return {cmsgpack.unpack(ARGV[1])}",
        "return cmsgpack.pack(cmsgpack.unpack(ARGV[1]))",
        "return {cmsgpack.unpack_one(ARGV[1])}",
        "return {cmsgpack.unpack_limit(ARGV[1], 3)}",
    ];
    case(flags, BODIES[usize::from(variant) % BODIES.len()], vec![input.to_vec()], Expect::Any)
}

/// Extreme numbers: whatever `tonumber` makes of the text, plus the
/// infinities, NaN, ±2^63 and friends, as integers and as doubles.
pub fn numbers(flags: u8, text: &[u8]) -> Case {
    const BODY: &str = "local n = tonumber(ARGV[1])
return {1/0, -1/0, 0/0, 2^63, -2^63, 2^64, 2^53 + 1, -0.0, 1e308 * 10, -2^1023 * 2,
  {double = 0/0}, {double = 1/0}, {double = -1/0}, {double = 2^63}, {double = -0.0},
  tostring(n), {double = n}, n}";
    case(flags, BODY, vec![text.to_vec()], Expect::Any)
}

/// Tables with holes, odd keys (0, negative, fractional, 2^31, NaN-free)
/// and metatables (which conversion must not run).
pub fn holes(flags: u8, bytes: &[u8]) -> Case {
    const BODY: &str = "local t = {}
for i = 1, #ARGV[1] do
  local b = string.byte(ARGV[1], i)
  if b % 3 ~= 0 then t[b % 40] = ARGV[1] end
end
t[2^31] = 1 t[-1] = 2 t[0] = 3 t[1.5] = 4 t[2^53] = 5
setmetatable(t, {__index = function() error('metamethod ran') end, __len = function() return 1e9 end})
return {t, {1, nil, 3}, {nil, 2}, {map = t}, {set = t}, {err = t}, {ok = 1}, {double = 'x'}}";
    case(flags, BODY, vec![bytes.to_vec()], Expect::Any)
}

/// Builds a case from raw fuzz input: byte 0 picks the shape, byte 1 the
/// flags (caller protocol, `redis.setresp(3)`, variants), bytes 2..4 a
/// number (depth, repetitions), the rest is the payload.
pub fn case_from(data: &[u8]) -> Case {
    let shape = data.first().copied().unwrap_or(0);
    let flags = data.get(1).copied().unwrap_or(0);
    let number =
        usize::from(u16::from_le_bytes([data.get(2).copied().unwrap_or(0), data.get(3).copied().unwrap_or(0)]));
    let payload = data.get(4..).unwrap_or_default();
    match shape % 10 {
        0 => {
            let (kinds, leaf) = payload.split_at(payload.len() / 2);
            deep_tables(flags, number % (DEPTH_MAX + 1), kinds, leaf)
        }
        1 => cycle(flags, flags >> 3),
        2 => deep_reply(flags, number % (DEPTH_MAX + 1), payload),
        // At most 64 KiB of piece times 256: 16 MiB, under the VM's 64 MiB.
        3 => huge_string(flags, payload, number % 257),
        4 => {
            let separator = flags >> 3;
            let mut parts: Vec<Vec<u8>> = payload.split(|&b| b == separator).map(<[u8]>::to_vec).collect();
            let keys = parts.split_off(parts.len() / 2);
            raw_args(flags, keys, parts)
        }
        5 => special_field(flags, flags >> 3, payload),
        6 => cjson(flags, flags >> 3, payload),
        7 => cmsgpack(flags, flags >> 3, payload),
        8 => numbers(flags, payload),
        _ => holes(flags, payload),
    }
}

/// The invariants of any reply: it encodes and parses back to itself (NaN
/// doubles and big numbers aside, see below), nests no deeper than the converter allows, has no
/// RESP3-only frame for a RESP2 caller and no push or attribute at all,
/// and its status and error lines hold no CR or LF.
pub fn check(reply: &Frame, caller_resp: u8) {
    let mut has_nan = false;
    let mut has_big_number = false;
    let mut stack = vec![(reply, 0usize)];
    while let Some((frame, depth)) = stack.pop() {
        assert!(depth <= NESTING_LIMIT, "reply nested {depth} deep");
        if caller_resp == 2 {
            assert!(
                matches!(
                    frame,
                    Frame::Simple(_)
                        | Frame::Error(_)
                        | Frame::Integer(_)
                        | Frame::Bulk(_)
                        | Frame::Null
                        | Frame::Array(_)
                ),
                "RESP3 frame for a RESP2 caller: {frame:?}"
            );
        }
        match frame {
            Frame::Push(_) | Frame::Attribute(_) => panic!("script reply holds {frame:?}"),
            Frame::Simple(text) | Frame::Error(text) => {
                assert!(!text.contains(&b'\r') && !text.contains(&b'\n'), "CR or LF in a line reply: {frame:?}")
            }
            Frame::Double(v) => has_nan |= v.is_nan(),
            Frame::BigNumber(_) => has_big_number = true,
            Frame::Array(items) | Frame::Set(items) => stack.extend(items.iter().map(|i| (i, depth + 1))),
            Frame::Map(pairs) => stack.extend(pairs.iter().flat_map(|(k, v)| [(k, depth + 1), (v, depth + 1)])),
            _ => {}
        }
    }
    // `{big_number = s}` sends `s` as it is, as Redis does (only CR/LF are
    // mapped to blanks): "(\r\n" or "(abc\r\n" reach a RESP3 caller, which
    // `parse_frame` rightly refuses. Such replies are not parsed back.
    if has_big_number {
        return;
    }
    let mut out = BytesMut::new();
    reply.encode(&mut out);
    let limits = Limits { nesting_depth_max: NESTING_LIMIT + 8, ..Limits::default() };
    let (parsed, used) = parse_frame(&out, &limits)
        .unwrap_or_else(|e| panic!("reply does not parse back: {e:?}: {reply:?}"))
        .expect("encoded reply is complete");
    assert_eq!(used, out.len(), "reply parses back with bytes left over");
    if !has_nan {
        assert!(parsed == *reply, "reply parses back different");
    }
}

fn contains_error(reply: &Frame, needle: &str) -> bool {
    let mut stack = vec![reply];
    while let Some(frame) = stack.pop() {
        match frame {
            Frame::Error(text) if String::from_utf8_lossy(text).contains(needle) => return true,
            Frame::Array(items) | Frame::Set(items) => stack.extend(items),
            Frame::Map(pairs) => stack.extend(pairs.iter().flat_map(|(k, v)| [k, v])),
            _ => {}
        }
    }
    false
}

fn check_expect(reply: &Frame, expect: &Expect, case: &Case) {
    match expect {
        Expect::Any => {}
        Expect::Exact(frame) => assert!(reply == frame, "{case:?}: got {reply:?}"),
        Expect::Error => assert!(matches!(reply, Frame::Error(_)), "{case:?}: got {reply:?}"),
        Expect::ContainsError(needle) => {
            assert!(contains_error(reply, needle), "{case:?}: no error with {needle:?} in {reply:?}")
        }
        Expect::Nested { depth, leaf } => {
            // Each level is one aggregate whose last element is the next
            // level: [t], [k, t] / {k: t} for maps, [t] / ~[t] for sets.
            let mut frame = reply;
            for level in 0..(*depth).min(NESTING_LIMIT) {
                frame = match frame {
                    Frame::Array(items) | Frame::Set(items) if !items.is_empty() => items.last().unwrap(),
                    Frame::Map(pairs) if pairs.len() == 1 => &pairs[0].1,
                    other => panic!("level {level} of {depth}: {other:?}"),
                };
            }
            if *depth < NESTING_LIMIT {
                assert_eq!(frame, &Frame::Bulk(leaf.clone()), "leaf of {depth} levels");
            } else {
                assert_eq!(frame, &Frame::Error(Bytes::from_static(b"ERR reached lua stack limit")));
            }
        }
    }
}

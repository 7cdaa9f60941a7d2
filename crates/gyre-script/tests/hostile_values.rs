//! Hostile values through the Lua-to-RESP conversion (issue 19), with random
//! inputs: the same shapes as the fuzz target `fuzz/fuzz_targets/script_values.rs`
//! (`hostile/shapes.rs` is shared), for CI, which does not run cargo-fuzz.
//!
//! Every run must return a reply that encodes and parses back with
//! `gyre_resp::parse_frame` (see `shapes::check` for the invariants), never
//! panic, turn nesting past the converter's limit into an error reply, and
//! return KEYS / ARGV bytes (invalid UTF-8 included) exactly.

#[path = "hostile/shapes.rs"]
mod shapes;

use std::sync::OnceLock;

use gyre_script::{Frame, Scripting};
use proptest::collection::vec;
use proptest::prelude::*;
use shapes::*;

/// One `Scripting` for all cases, as a server has: state left by one run
/// (cache, VM garbage) must not break the next.
fn shared() -> &'static Scripting {
    static SCRIPTING: OnceLock<Scripting> = OnceLock::new();
    SCRIPTING.get_or_init(scripting)
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..max)
}

/// Bytes that are never valid UTF-8 (a lone continuation byte inside).
fn invalid_utf8() -> impl Strategy<Value = Vec<u8>> {
    (bytes(32), prop::sample::select(vec![0x80u8, 0xbf, 0xc0, 0xc1, 0xf5, 0xff]), bytes(32)).prop_map(
        |(mut a, bad, b)| {
            a.push(bad);
            a.extend(b);
            a
        },
    )
}

/// JSON-ish text: deep brackets, then arbitrary bytes.
fn jsonish() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (0usize..1300, prop::sample::select(vec![b'[', b'{']), bytes(16)).prop_map(|(depth, open, tail)| {
            let mut text = vec![open; depth];
            text.extend(tail);
            text
        }),
        (0usize..1300).prop_map(|depth| {
            let mut text = "[".repeat(depth).into_bytes();
            text.extend(b"1");
            text.extend("]".repeat(depth).into_bytes());
            text
        }),
        prop::sample::select(vec![
            &b"{\"a\":[1,2,{\"b\":null}],\"c\":\"\\ud800\\u0000\"}"[..],
            b"1e400",
            b"-1e400",
            b"[1,2,3",
            b"\"\xff\xfe\"",
            b"{\"a\":1,\"a\":2}",
            b"[NaN, Infinity, -Infinity, 0x10]",
        ])
        .prop_map(<[u8]>::to_vec),
        bytes(64),
    ]
}

/// Msgpack-ish bytes: deep fixarrays/fixmaps, big declared lengths, garbage.
fn msgpackish() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (0usize..1300, prop::sample::select(vec![0x91u8, 0x81, 0xdc])).prop_map(|(depth, head)| {
            let mut data = Vec::new();
            for _ in 0..depth {
                data.push(head);
                if head == 0xdc {
                    data.extend([0, 1]);
                }
                if head == 0x81 {
                    data.push(0x01);
                }
            }
            data.push(0xc0);
            data
        }),
        prop::sample::select(vec![
            &b"\xdd\xff\xff\xff\xff"[..],
            b"\xdb\xff\xff\xff\xff",
            b"\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00",
            b"\xcf\xff\xff\xff\xff\xff\xff\xff\xff",
            b"\xd3\x80\x00\x00\x00\x00\x00\x00\x00",
            b"\xc4\x03\xff\xfe\x00",
            b"\xc1",
        ])
        .prop_map(<[u8]>::to_vec),
        // Many top-level values: unpack returns them all at once.
        (0usize..20_000).prop_map(|count| vec![0x01; count]),
        bytes(64),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    /// Nested tables convert level by level below the limit; from the limit
    /// on, the reply holds "ERR reached lua stack limit" where the level
    /// past it would be (checked by `Expect::Nested`), never a crash.
    #[test]
    fn deep_tables_stop_at_the_limit(
        flags in any::<u8>(),
        depth in prop_oneof![0usize..DEPTH_MAX, (NESTING_LIMIT - 3)..(NESTING_LIMIT + 3)],
        kinds in bytes(8),
        leaf in bytes(32),
    ) {
        run_case(shared(), &deep_tables(flags, depth, &kinds, &leaf));
    }

    /// Self-referencing tables end in the stack-limit error.
    #[test]
    fn cycles_end_in_an_error(flags in any::<u8>(), kind in any::<u8>()) {
        run_case(shared(), &cycle(flags, kind));
    }

    /// Command replies nested past the limit make the script fail with an
    /// error reply; below it they come back unchanged.
    #[test]
    fn deep_command_replies(flags in any::<u8>(), depth in 0usize..DEPTH_MAX, leaf in bytes(16)) {
        run_case(shared(), &deep_reply(flags, depth, &leaf));
    }

    /// Long strings come back whole (up to 1 MiB here).
    #[test]
    fn huge_strings(flags in any::<u8>(), piece in bytes(4096), times in 0usize..256) {
        run_case(shared(), &huge_string(flags, &piece, times));
    }

    /// Arbitrary bytes, invalid UTF-8 among them, round-trip byte-exact
    /// from KEYS / ARGV to the reply, also through `redis.call`.
    #[test]
    fn arbitrary_bytes_round_trip(
        flags in any::<u8>(),
        keys in vec(prop_oneof![bytes(40), invalid_utf8()], 0..4),
        args in vec(prop_oneof![bytes(40), invalid_utf8()], 0..4),
    ) {
        run_case(shared(), &raw_args(flags, keys, args));
    }

    /// `err`, `ok`, `double`, `big_number`, `verbatim_string`, `map`, `set`
    /// and raised errors with arbitrary (CR/LF, NUL, invalid UTF-8) values.
    #[test]
    fn special_fields(
        flags in any::<u8>(),
        field in any::<u8>(),
        value in prop_oneof![bytes(40), invalid_utf8(), Just(b"a\r\nb\r\n".to_vec()), Just(b"-ERR\n".to_vec())],
    ) {
        run_case(shared(), &special_field(flags, field, &value));
    }

    /// `cjson.decode` of deep, malformed or odd JSON never crashes.
    #[test]
    fn cjson_input(flags in any::<u8>(), variant in any::<u8>(), input in jsonish()) {
        run_case(shared(), &cjson(flags, variant, &input));
    }

    /// `cmsgpack.unpack` of deep, truncated or odd msgpack never crashes.
    /// On a 16 MiB stack: see `cmsgpack_deep_input_on_a_default_thread_stack`.
    #[test]
    fn cmsgpack_input(flags in any::<u8>(), variant in any::<u8>(), input in msgpackish()) {
        on_big_stack(move || run_case(shared(), &cmsgpack(flags, variant, &input)));
    }

    /// Infinities, NaN, ±2^63 and whatever `tonumber` reads from the text.
    #[test]
    fn extreme_numbers(
        flags in any::<u8>(),
        text in prop_oneof![
            any::<f64>().prop_map(|v| format!("{v:e}").into_bytes()),
            prop::sample::select(vec!["nan", "-nan", "inf", "-inf", "0x7fffffffffffffff", "1e999", "-0"])
                .prop_map(|t| t.as_bytes().to_vec()),
            bytes(24),
        ],
    ) {
        run_case(shared(), &numbers(flags, &text));
    }

    /// Holes, odd keys and metatables.
    #[test]
    fn tables_with_holes(flags in any::<u8>(), input in bytes(64)) {
        run_case(shared(), &holes(flags, &input));
    }

    /// Raw input, exactly as the fuzz target reads it.
    #[test]
    fn raw_fuzz_input(data in bytes(300)) {
        run_case(shared(), &case_from(&data));
    }
}

/// Runs `f` on a thread with a 16 MiB stack.
fn on_big_stack(f: impl FnOnce() -> Frame + Send + 'static) -> Frame {
    let thread = std::thread::Builder::new().stack_size(16 << 20).spawn(f).expect("spawn");
    thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Known problem: `cmsgpack.unpack` recurses once per nesting level and
/// allows 1000 levels, which in a debug build takes more than the 2 MiB
/// stack of a default thread (test threads, tokio workers): about 600
/// nested fixarrays abort the process with a stack overflow. Ignored until
/// the decoder's depth limit or frame size is reduced; run with `--ignored`.
#[test]
#[ignore = "stack overflow in cmsgpack.unpack on a 2 MiB stack (debug build)"]
fn cmsgpack_deep_input_on_a_default_thread_stack() {
    let mut input = vec![0x91u8; NESTING_LIMIT];
    input.push(0xc0);
    let thread = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || run_case(&scripting(), &cmsgpack(0, 0, &input)))
        .expect("spawn");
    thread.join().expect("no panic");
}

/// The exact boundary: 999 levels convert, 1000 do not, for a RESP2 and a
/// RESP3 caller.
#[test]
fn nesting_limit_boundary() {
    for flags in [0, 1, 3] {
        let below = run_case(shared(), &deep_tables(flags, NESTING_LIMIT - 1, &[0], b"leaf"));
        assert!(!format!("{below:?}").contains("stack limit"));
        run_case(shared(), &deep_tables(flags, NESTING_LIMIT, &[0], b"leaf"));
        assert!(matches!(run_case(shared(), &deep_reply(flags, NESTING_LIMIT, b"x")), Frame::Error(_)));
    }
}

/// Invalid UTF-8 in ARGV comes back byte for byte.
#[test]
fn invalid_utf8_round_trips() {
    let args = vec![b"\xff\xfe\xfd".to_vec(), b"\xc0\x80".to_vec(), b"a\0\xed\xa0\x80z".to_vec(), Vec::new()];
    let reply = run_case(shared(), &raw_args(0, vec![b"\x80".to_vec()], args));
    let Frame::Array(parts) = reply else { panic!("not an array") };
    assert_eq!(
        parts[1],
        Frame::Array(vec![
            Frame::Bulk(b"\xff\xfe\xfd".to_vec().into()),
            Frame::Bulk(b"\xc0\x80".to_vec().into()),
            Frame::Bulk(b"a\0\xed\xa0\x80z".to_vec().into()),
            Frame::Bulk(Vec::new().into()),
        ])
    );
}

/// Every shape once, with a fresh `Scripting`, over a fixed set of inputs
/// (quick smoke test of `case_from`).
#[test]
fn every_shape_once() {
    let s = scripting();
    for shape in 0u8..10 {
        for flags in [0u8, 1, 2, 3, 0xff] {
            let mut data = vec![shape, flags, 0xe8, 0x03];
            data.extend(b"[1,{\"a\":\xff}]\r\n\x93\x01\x02\xc0");
            run_case(&s, &case_from(&data));
        }
    }
}

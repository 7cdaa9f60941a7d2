//! Fuzz target for the Lua-to-RESP conversion with hostile values (issue 19):
//! deep tables and command replies, reference cycles, huge strings, arbitrary
//! bytes (invalid UTF-8) as KEYS/ARGV, the special reply fields, `cjson.decode`
//! and `cmsgpack.unpack` of the raw input, tables with holes, extreme numbers.
//!
//! Byte 0 of the input picks the shape, byte 1 the flags (caller protocol,
//! `redis.setresp(3)`, variants), bytes 2..4 a depth or count, the rest is the
//! payload; see `case_from` in the shared shapes module (also driven by the
//! proptest `crates/gyre-script/tests/hostile_values.rs`). A run must never
//! panic or crash; error replies are fine. Every reply must encode and parse
//! back, fit the caller's protocol, and match what its shape expects.

#![no_main]

#[path = "../../crates/gyre-script/tests/hostile/shapes.rs"]
mod shapes;

use std::sync::OnceLock;

use gyre_script::Scripting;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // One Scripting for every input, as a server has one: what a run leaves
    // behind (cache entries, garbage) must not break the next.
    static SCRIPTING: OnceLock<Scripting> = OnceLock::new();
    let scripting = SCRIPTING.get_or_init(shapes::scripting);
    shapes::run_case(scripting, &shapes::case_from(data));
});

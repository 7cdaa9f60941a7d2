//! Fuzz target for `RequestParser`: arbitrary bytes delivered in arbitrary
//! chunks, as a server would see them from a socket.
//!
//! Input layout: the first byte seeds the chunk sizes (1..=64 bytes, varying
//! per chunk); the rest is the stream. Checks: no panic; every `Some(n)` has
//! `0 < n <= buffered bytes`; every argument lies within what the parser may
//! point at; the result for a whole command does not depend on chunking
//! (compared against a parser fed everything at once).
//! Small limits are used so that limit paths are reachable.

#![no_main]

use gyre_resp::{Limits, ProtocolError, RequestParser};
use libfuzzer_sys::fuzz_target;

const LIMITS: Limits =
    Limits { bulk_bytes_max: 1024, multibulk_len_max: 64, inline_bytes_max: 128, nesting_depth_max: 8 };

/// Every command's arguments and the final error, if any.
type Outcome = (Vec<Vec<Vec<u8>>>, Option<ProtocolError>);

fn run(stream: &[u8], mut chunk_bytes: impl FnMut() -> usize) -> Outcome {
    let mut parser = RequestParser::new(LIMITS);
    let mut commands = Vec::new();
    let mut consumed = 0;
    let mut received = 0;
    while received < stream.len() {
        received = (received + chunk_bytes()).min(stream.len());
        loop {
            let buf = &stream[consumed..received];
            match parser.parse(buf) {
                Ok(Some(n)) => {
                    assert!(n > 0 && n <= buf.len(), "consumed {n} of {}", buf.len());
                    commands.push(parser.args(buf).iter().map(<[u8]>::to_vec).collect());
                    consumed += n;
                }
                Ok(None) => break,
                Err(err) => return (commands, Some(err)),
            }
        }
    }
    (commands, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    let mut state = u32::from(seed) | 1;
    let chunked = run(stream, || {
        // xorshift: cheap, deterministic chunk sizes from the seed byte.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state % 64) as usize + 1
    });
    let whole = run(stream, || stream.len().max(1));
    assert_eq!(chunked, whole, "chunking changed the result");
});

//! What a script costs beyond the command it runs: EVALSHA / EVAL / FCALL of
//! `return redis.call('INCR', KEYS[1])` against a fake host whose INCR is a
//! counter bump, next to calling that host directly.
//!
//! Run: `cargo bench -p gyre-script --bench eval`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use gyre_script::{Frame, Host, RunOpts, ScriptConfig, Scripting};

/// INCR on a single counter; everything else is OK.
struct CounterHost {
    counter: i64,
}

impl Host for CounterHost {
    fn call(&mut self, args: &[&[u8]], _resp: u8) -> Frame {
        if args[0].eq_ignore_ascii_case(b"INCR") {
            self.counter += 1;
            Frame::Integer(self.counter)
        } else {
            Frame::Simple(bytes::Bytes::from_static(b"OK"))
        }
    }

    fn log(&mut self, _level: u8, _msg: &str) {}
}

const BODY: &[u8] = b"return redis.call('INCR', KEYS[1])";

fn bench(c: &mut Criterion) {
    let scripting = Scripting::new(ScriptConfig::default());
    let sha = scripting.script_load(BODY).expect("compiles");
    scripting
        .function_load(
            b"#!lua name=bench\nredis.register_function('incr', function(keys) return redis.call('INCR', keys[1]) end)",
            false,
        )
        .expect("loads");
    let opts = RunOpts { read_only: false, resp: 2 };
    let keys: [&[u8]; 1] = [b"counter"];
    let mut host = CounterHost { counter: 0 };

    c.bench_function("host INCR alone (baseline)", |b| {
        b.iter(|| black_box(host.call(black_box(&[b"INCR", b"counter"]), 2)))
    });
    c.bench_function("EVALSHA return redis.call('INCR', KEYS[1])", |b| {
        b.iter(|| black_box(scripting.evalsha(&mut host, sha.as_bytes(), &keys, &[], opts)))
    });
    c.bench_function("EVAL return redis.call('INCR', KEYS[1]) (cached)", |b| {
        b.iter(|| black_box(scripting.eval(&mut host, BODY, &keys, &[], opts)))
    });
    c.bench_function("FCALL incr 1 counter", |b| {
        b.iter(|| black_box(scripting.fcall(&mut host, b"incr", &keys, &[], opts)))
    });
    let noop = scripting.script_load(b"return 1").expect("compiles");
    c.bench_function("EVALSHA return 1", |b| {
        b.iter(|| black_box(scripting.evalsha(&mut host, noop.as_bytes(), &[], &[], opts)))
    });
    assert!(host.counter > 0);
}

criterion_group!(benches, bench);
criterion_main!(benches);

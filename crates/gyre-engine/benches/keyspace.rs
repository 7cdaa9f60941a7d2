//! The keyspace alone: mixed GET/SET (80/20) over 1M keys, one thread.
//! Target (issue 2): at least 2.5 million operations per second per core.
//!
//! Run: `cargo bench -p gyre-engine --bench keyspace`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gyre_engine::{Keyspace, Mutation, MutationLog, Now, SlotId, Value, NO_EXPIRY};

const KEYS: u64 = 1_000_000;
const BATCH: u64 = 10_000;

fn key(i: u64, buf: &mut Vec<u8>) {
    buf.clear();
    buf.extend_from_slice(b"key:");
    buf.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
}

fn mixed(c: &mut Criterion) {
    let ks = Keyspace::new();
    let mut log = MutationLog::new();
    let mut k = Vec::new();
    let value = [b'x'; 32];
    for i in 0..KEYS {
        key(i, &mut k);
        let slot = SlotId::of(&k);
        let version = ks.next_version(1);
        ks.db(0).lock(slot).commit(
            slot,
            &Mutation::Set { db: 0, key: &k, value: &value, expire_at_ms: NO_EXPIRY, version },
            &mut log,
        );
        log.clear();
    }
    let mut group = c.benchmark_group("keyspace");
    group.throughput(Throughput::Elements(BATCH));
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    group.bench_function("mixed_80get_20set_1M_keys", |b| {
        b.iter(|| {
            let mut found = 0usize;
            for _ in 0..BATCH {
                // xorshift: cheap, and keeps the access pattern random over 1M keys.
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                key(x % KEYS, &mut k);
                let slot = SlotId::of(&k);
                let mut shard = ks.db(0).lock(slot);
                if x.is_multiple_of(5) {
                    let version = ks.next_version(2);
                    shard.commit(
                        slot,
                        &Mutation::Set { db: 0, key: &k, value: &value, expire_at_ms: NO_EXPIRY, version },
                        &mut log,
                    );
                    log.clear();
                } else if let Some(e) = shard.get_read(slot, &k, Now::at(2)) {
                    if let Value::Str(s) = &e.value {
                        found += s.len();
                    }
                }
            }
            found
        })
    });
    group.finish();
}

criterion_group!(benches, mixed);
criterion_main!(benches);

//! One large sorted set (the "skiplist" encoding), one thread: random score
//! updates as `redis-benchmark -t zadd -r 100000` sends them (a random member
//! among 100k, a random integer score), removes and re-adds, and a mix of
//! rank and range queries.
//!
//! Run: `cargo bench -p gyre-engine --bench zset`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gyre_engine::types::zset::{LexBound, LexRange, ScoreRange};
use gyre_engine::types::{EncodingConfig, ZSet, ZSetOp};

const MEMBERS: u64 = 100_000;
const BATCH: u64 = 10_000;

/// xorshift64: cheap, deterministic, random enough to defeat the caches.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// redis-benchmark's `element:__rand_int__` (12 digits, zero padded).
fn member(i: u64) -> Vec<u8> {
    format!("element:{i:012}").into_bytes()
}

/// A set of all `MEMBERS` members with random integer scores below `MEMBERS`
/// (or all 0 for lex ranges), built by random ZADDs.
fn big_set(cfg: &EncodingConfig, rng: &mut Rng, lex: bool) -> ZSet {
    let mut z = ZSet::new();
    let mut ids: Vec<u64> = (0..MEMBERS).collect();
    for i in (1..ids.len()).rev() {
        ids.swap(i, (rng.next() % (i as u64 + 1)) as usize);
    }
    for id in ids {
        let score = if lex { 0.0 } else { (rng.next() % MEMBERS) as f64 };
        z.apply(&ZSetOp::Add(vec![(score, &member(id)[..])]), cfg);
    }
    z
}

fn writes(c: &mut Criterion) {
    let cfg = EncodingConfig::default();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut z = big_set(&cfg, &mut rng, false);
    let members: Vec<Vec<u8>> = (0..MEMBERS).map(member).collect();
    let mut group = c.benchmark_group("zset_100k");
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("zadd_random_score", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                let r = rng.next();
                let m = &members[(r % MEMBERS) as usize];
                z.apply(&ZSetOp::Add(vec![(((r >> 20) % MEMBERS) as f64, &m[..])]), &cfg);
            }
        })
    });
    group.bench_function("zrem_then_zadd", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                let r = rng.next();
                let m = &members[(r % MEMBERS) as usize];
                z.apply(&ZSetOp::Rem(vec![&m[..]]), &cfg);
                z.apply(&ZSetOp::Add(vec![(((r >> 20) % MEMBERS) as f64, &m[..])]), &cfg);
            }
        })
    });
    group.finish();
}

fn queries(c: &mut Criterion) {
    let cfg = EncodingConfig::default();
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let z = big_set(&cfg, &mut rng, false);
    let lz = big_set(&cfg, &mut rng, true);
    let members: Vec<Vec<u8>> = (0..MEMBERS).map(member).collect();
    let mut group = c.benchmark_group("zset_100k");
    group.throughput(Throughput::Elements(BATCH));
    // Per op, one of: ZRANK, ZRANGE i i+9, ZREVRANGE i i+9,
    // ZRANGEBYSCORE s s+100 LIMIT 0 10.
    group.bench_function("rank_range_mix", |b| {
        b.iter(|| {
            let mut sum = 0.0f64;
            for _ in 0..BATCH {
                let r = rng.next();
                let i = (r >> 8) as usize % z.len();
                match r % 4 {
                    0 => sum += z.rank(&members[i]).map_or(0.0, |(rank, _)| rank as f64),
                    1 => z.for_range(i, i + 10, false, |_, s| sum += s),
                    2 => z.for_range(i, i + 10, true, |_, s| sum += s),
                    _ => {
                        let min = i as f64;
                        let r = ScoreRange { min, max: min + 100.0, min_exclusive: false, max_exclusive: false };
                        let (first, end) = z.score_rank_range(&r);
                        z.for_range(first, end.min(first + 10), false, |_, s| sum += s);
                    }
                }
            }
            sum
        })
    });
    // ZRANGEBYLEX [a [b LIMIT 0 10 on a set of equal scores.
    group.bench_function("range_by_lex", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for _ in 0..BATCH {
                let i = rng.next() % MEMBERS;
                let (lo, hi) = (member(i), member(i + 50));
                let r = LexRange { min: LexBound::Inclusive(&lo), max: LexBound::Inclusive(&hi) };
                let (first, end) = lz.lex_rank_range(&r);
                lz.for_range(first, end.min(first + 10), false, |m, _| n += m.len());
            }
            n
        })
    });
    group.finish();
}

criterion_group!(benches, writes, queries);
criterion_main!(benches);

//! What a benchmark sends: pre-encoded request templates, the key
//! distribution that fills their `__rand_int__` placeholders, and the small
//! deterministic RNG behind it.
//!
//! Invariants:
//! * A [`Template`] is encoded once; producing a request is one copy plus an
//!   in-place overwrite of each 12-byte `__rand_int__` with 12 digits (as
//!   redis-benchmark does), so RESP lengths never change.
//! * Without a keyspace (`-r`) placeholders stay literal, as in
//!   redis-benchmark: every request then hits the same key.
//! * [`Zipf`] draws ranks `1..=n` with P(k) proportional to k^-s by
//!   rejection-inversion (Hörmann and Derflinger 1996): constant time per
//!   draw, no table, any `n`.
//! * Everything random comes from [`Rng`], seeded per client, so a run's
//!   request stream replays from `--seed`.
//! * A template may know which argument is its key (the first argument for
//!   the built-in workloads, what `COMMAND GETKEYS` says for a custom
//!   command); writing a request then also says where its key is, so that
//!   `--cluster` can route it by slot. Placeholders keep lengths, so that
//!   place is the same in every request of the template.

use std::ops::Range;

use bytes::BytesMut;
use gyre_resp::encode_command;

pub use crate::rng::Rng;

/// The placeholder replaced by a key number.
pub const RAND_INT: &[u8] = b"__rand_int__";

/// Digits written for a key number; `RAND_INT` has the same length.
const KEY_DIGITS: usize = 12;

/// A built-in workload (`-t`) or a custom command.
#[derive(Debug, Clone, PartialEq)]
pub enum Workload {
    /// `PING` as a multi-bulk request.
    Ping,
    /// `SET key:__rand_int__ <data>`.
    Set,
    /// `GET key:__rand_int__`.
    Get,
    /// `GET` with probability `read_ratio`, else `SET`, on the same keys.
    Mixed {
        /// Fraction of requests that are reads, in `[0, 1]`.
        read_ratio: f64,
    },
    /// `INCR counter:__rand_int__`.
    Incr,
    /// `LPUSH mylist <data>`.
    Lpush,
    /// `HSET myhash:__rand_int__ element:__rand_int__ <data>`.
    Hset,
    /// Any command given after `--`.
    Custom(Vec<Vec<u8>>),
}

impl Workload {
    /// Parses one `-t` name.
    pub fn from_name(name: &str, read_ratio: f64) -> Option<Workload> {
        Some(match name.to_ascii_lowercase().as_str() {
            "ping" | "ping_mbulk" => Workload::Ping,
            "set" => Workload::Set,
            "get" => Workload::Get,
            "mixed" => Workload::Mixed { read_ratio },
            "incr" => Workload::Incr,
            "lpush" => Workload::Lpush,
            "hset" => Workload::Hset,
            _ => return None,
        })
    }

    /// The name printed in results.
    pub fn title(&self) -> String {
        match self {
            Workload::Ping => "PING_MBULK".into(),
            Workload::Set => "SET".into(),
            Workload::Get => "GET".into(),
            Workload::Mixed { read_ratio } => format!("MIXED({:.0}% GET)", read_ratio * 100.0),
            Workload::Incr => "INCR".into(),
            Workload::Lpush => "LPUSH".into(),
            Workload::Hset => "HSET".into(),
            Workload::Custom(args) => {
                let words: Vec<String> = args.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
                words.join(" ")
            }
        }
    }

    /// The request generator for this workload.
    pub fn generator(&self, data_size: usize, keys: KeyDist) -> RequestGen {
        let data = vec![b'x'; data_size];
        let randomize = !matches!(keys, KeyDist::Fixed);
        // The built-in commands' key is their first argument.
        let t = |args: &[&[u8]]| Template::new(args, randomize).with_key_arg(Some(1));
        let (main, alt, read_ratio) = match self {
            Workload::Ping => (t(&[b"PING"]).with_key_arg(None), None, 1.0),
            Workload::Set => (t(&[b"SET", b"key:__rand_int__", &data]), None, 1.0),
            Workload::Get => (t(&[b"GET", b"key:__rand_int__"]), None, 1.0),
            Workload::Mixed { read_ratio } => {
                (t(&[b"GET", b"key:__rand_int__"]), Some(t(&[b"SET", b"key:__rand_int__", &data])), *read_ratio)
            }
            Workload::Incr => (t(&[b"INCR", b"counter:__rand_int__"]), None, 1.0),
            Workload::Lpush => (t(&[b"LPUSH", b"mylist", &data]), None, 1.0),
            Workload::Hset => (t(&[b"HSET", b"myhash:__rand_int__", b"element:__rand_int__", &data]), None, 1.0),
            Workload::Custom(args) => {
                let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
                (Template::new(&args, randomize), None, 1.0)
            }
        };
        RequestGen { main, alt, read_ratio, keys }
    }
}

/// One encoded request and where its placeholders are.
#[derive(Debug, Clone)]
pub struct Template {
    wire: Vec<u8>,
    /// Offsets of each `__rand_int__` in `wire` (empty when not randomized).
    slots: Vec<usize>,
    /// Where the key's bytes are in `wire`, when the key is known.
    key: Option<Range<usize>>,
}

impl Template {
    /// Encodes `args`; with `randomize`, records the placeholders to fill.
    pub fn new<A: AsRef<[u8]>>(args: &[A], randomize: bool) -> Template {
        let mut out = BytesMut::new();
        encode_command(args, &mut out);
        let wire = out.to_vec();
        let mut slots = Vec::new();
        if randomize {
            let mut at = 0;
            while let Some(i) = wire[at..].windows(RAND_INT.len()).position(|w| w == RAND_INT) {
                slots.push(at + i);
                at += i + RAND_INT.len();
            }
        }
        Template { wire, slots, key: None }
    }

    /// Names argument `index` (0 is the command) as the key; `None`, or an
    /// index past the last argument, means no key.
    pub fn with_key_arg(mut self, index: Option<usize>) -> Template {
        self.key = index.and_then(|i| arg_range(&self.wire, i));
        self
    }

    /// Appends one request to `out`, each placeholder filled by `keys`;
    /// returns where its key is in `out`, if the template knows its key.
    fn write(&self, out: &mut Vec<u8>, keys: &KeyDist, rng: &mut Rng) -> Option<Range<usize>> {
        let start = out.len();
        out.extend_from_slice(&self.wire);
        for &slot in &self.slots {
            let at = start + slot;
            write_key_digits(keys.sample(rng), &mut out[at..at + KEY_DIGITS]);
        }
        self.key.as_ref().map(|key| start + key.start..start + key.end)
    }

    /// The encoded request (placeholders as they are).
    #[cfg(test)]
    pub fn wire(&self) -> &[u8] {
        &self.wire
    }
}

/// Where argument `index` of an encoded command (`*N` then `$len` bulks)
/// lies in `wire`.
fn arg_range(wire: &[u8], index: usize) -> Option<Range<usize>> {
    let line_end = |from: usize| wire[from..].windows(2).position(|w| w == b"\r\n").map(|i| from + i);
    let mut at = line_end(0)? + 2;
    for i in 0.. {
        let header_end = line_end(at)?;
        let len: usize = std::str::from_utf8(wire.get(at + 1..header_end)?).ok()?.parse().ok()?;
        let data = header_end + 2..header_end + 2 + len;
        if i == index {
            return (data.end <= wire.len()).then_some(data);
        }
        at = data.end + 2;
    }
    None
}

/// Writes `n` as exactly 12 zero-padded digits (`%012llu`), modulo 10^12.
fn write_key_digits(mut n: u64, out: &mut [u8]) {
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// Produces requests for one client.
#[derive(Debug, Clone)]
pub struct RequestGen {
    main: Template,
    /// The write half of a mixed workload.
    alt: Option<Template>,
    /// Probability of `main` when `alt` is set.
    read_ratio: f64,
    keys: KeyDist,
}

impl RequestGen {
    /// Appends one request to `out`; returns where its key is in `out`,
    /// when known.
    pub fn write(&self, out: &mut Vec<u8>, rng: &mut Rng) -> Option<Range<usize>> {
        match &self.alt {
            Some(alt) if rng.next_f64() >= self.read_ratio => alt.write(out, &self.keys, rng),
            _ => self.main.write(out, &self.keys, rng),
        }
    }

    /// Names argument `index` of every template as the key (a custom
    /// command's, found with `COMMAND GETKEYS`).
    pub fn with_key_arg(mut self, index: Option<usize>) -> RequestGen {
        self.main = self.main.with_key_arg(index);
        self.alt = self.alt.map(|alt| alt.with_key_arg(index));
        self
    }
}

/// How key numbers are drawn.
#[derive(Debug, Clone)]
pub enum KeyDist {
    /// No keyspace: placeholders stay literal.
    Fixed,
    /// Uniform over `0..n`.
    Uniform(u64),
    /// Zipfian over `0..n` (key 0 the hottest).
    Zipf(Zipf),
}

impl KeyDist {
    fn sample(&self, rng: &mut Rng) -> u64 {
        match self {
            KeyDist::Fixed => 0,
            KeyDist::Uniform(n) => rng.below(*n),
            KeyDist::Zipf(z) => z.sample(rng) - 1,
        }
    }
}

/// Zipf distribution over ranks `1..=n` with exponent `s >= 0`.
#[derive(Debug, Clone)]
pub struct Zipf {
    n: f64,
    s: f64,
    h_integral_x1: f64,
    h_integral_n: f64,
    threshold: f64,
}

impl Zipf {
    /// `n >= 1` ranks, exponent `s >= 0` (0 is uniform).
    pub fn new(n: u64, s: f64) -> Zipf {
        assert!(n >= 1 && s >= 0.0 && s.is_finite(), "zipf needs n >= 1 and a finite s >= 0");
        let mut z = Zipf { n: n as f64, s, h_integral_x1: 0.0, h_integral_n: 0.0, threshold: 0.0 };
        z.h_integral_x1 = z.h_integral(1.5) - 1.0;
        z.h_integral_n = z.h_integral(z.n + 0.5);
        z.threshold = 2.0 - z.h_integral_inv(z.h_integral(2.5) - z.h(2.0));
        z
    }

    /// A rank in `1..=n`.
    pub fn sample(&self, rng: &mut Rng) -> u64 {
        loop {
            let u = self.h_integral_n + rng.next_f64() * (self.h_integral_x1 - self.h_integral_n);
            let x = self.h_integral_inv(u);
            let k = (x + 0.5).floor().clamp(1.0, self.n);
            if k - x <= self.threshold || u >= self.h_integral(k + 0.5) - self.h(k) {
                return k as u64;
            }
        }
    }

    fn h(&self, x: f64) -> f64 {
        (-self.s * x.ln()).exp()
    }

    fn h_integral(&self, x: f64) -> f64 {
        let log_x = x.ln();
        expm1_over_x((1.0 - self.s) * log_x) * log_x
    }

    fn h_integral_inv(&self, x: f64) -> f64 {
        let t = (x * (1.0 - self.s)).max(-1.0);
        (log1p_over_x(t) * x).exp()
    }
}

/// `expm1(x) / x`, continuous at 0.
fn expm1_over_x(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x / 2.0 * (1.0 + x / 3.0 * (1.0 + x / 4.0))
    }
}

/// `ln(1 + x) / x`, continuous at 0.
fn log1p_over_x(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_in_place() {
        let gen = Workload::Hset.generator(4, KeyDist::Uniform(1000));
        let mut out = Vec::new();
        let mut rng = Rng::new(7);
        gen.write(&mut out, &mut rng);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("*4\r\n$4\r\nHSET\r\n$19\r\nmyhash:000000000"), "{text}");
        assert!(text.contains("$20\r\nelement:000000000"), "{text}");
        assert!(text.ends_with("$4\r\nxxxx\r\n"));
        assert!(!text.contains("__rand_int__"));
    }

    #[test]
    fn requests_say_where_their_key_is() {
        let mut out = b"earlier bytes".to_vec();
        let gen = Workload::Hset.generator(4, KeyDist::Uniform(1000));
        let key = gen.write(&mut out, &mut Rng::new(7)).expect("HSET has a key");
        assert_eq!(key.len(), b"myhash:000000000000".len());
        assert!(out[key].starts_with(b"myhash:000000000"));
        let ping = Workload::Ping.generator(3, KeyDist::Fixed);
        assert_eq!(ping.write(&mut Vec::new(), &mut Rng::new(1)), None);
        // A custom command's key is what the caller names.
        let custom = Workload::Custom(vec![b"ZADD".to_vec(), b"z:__rand_int__".to_vec(), b"1".to_vec()]);
        let gen = custom.generator(3, KeyDist::Uniform(10));
        assert_eq!(gen.write(&mut Vec::new(), &mut Rng::new(1)), None);
        let mut out = Vec::new();
        let key = gen.with_key_arg(Some(1)).write(&mut out, &mut Rng::new(1)).unwrap();
        assert!(out[key].starts_with(b"z:0000000000"));
    }

    #[test]
    fn argument_ranges() {
        let t = Template::new(&[&b"SET"[..], b"key", b"a longer value"], false);
        let arg = |i| arg_range(t.wire(), i).map(|r| &t.wire()[r]);
        assert_eq!(arg(0), Some(&b"SET"[..]));
        assert_eq!(arg(1), Some(&b"key"[..]));
        assert_eq!(arg(2), Some(&b"a longer value"[..]));
        assert_eq!(arg(3), None);
        assert_eq!(arg_range(b"*1\r\n$5\r\nab", 0), None, "truncated");
    }

    #[test]
    fn without_keyspace_placeholders_stay() {
        let gen = Workload::Get.generator(3, KeyDist::Fixed);
        let mut out = Vec::new();
        gen.write(&mut out, &mut Rng::new(1));
        assert_eq!(out, b"*2\r\n$3\r\nGET\r\n$16\r\nkey:__rand_int__\r\n");
    }

    #[test]
    fn key_digits_are_zero_padded() {
        let mut digits = [0u8; 12];
        write_key_digits(42, &mut digits);
        assert_eq!(&digits, b"000000000042");
        write_key_digits(1_000_000_000_007, &mut digits);
        assert_eq!(&digits, b"000000000007");
    }

    #[test]
    fn custom_commands_keep_every_placeholder() {
        let args = vec![b"SET".to_vec(), b"k:__rand_int__".to_vec(), b"__rand_int__".to_vec()];
        let t = Template::new(&args, true);
        assert_eq!(t.slots.len(), 2);
        assert_eq!(Template::new(&args, false).wire(), t.wire());
    }

    #[test]
    fn mixed_respects_the_read_ratio() {
        let gen = Workload::Mixed { read_ratio: 0.8 }.generator(3, KeyDist::Uniform(10));
        let mut rng = Rng::new(3);
        let mut gets = 0;
        for _ in 0..10_000 {
            let mut out = Vec::new();
            gen.write(&mut out, &mut rng);
            gets += usize::from(out.starts_with(b"*2\r\n$3\r\nGET"));
        }
        assert!((7_700..8_300).contains(&gets), "{gets} GETs of 10000");
    }

    #[test]
    fn uniform_covers_the_range() {
        let mut rng = Rng::new(11);
        let mut seen = [0u32; 10];
        for _ in 0..10_000 {
            seen[rng.below(10) as usize] += 1;
        }
        assert!(seen.iter().all(|&c| (800..1200).contains(&c)), "{seen:?}");
    }

    #[test]
    fn zipf_matches_its_probabilities() {
        // P(k) = k^-s / H(n, s); check the first ranks and the tail mass.
        for s in [0.5, 0.99, 1.0, 1.2] {
            let n = 1000u64;
            let norm: f64 = (1..=n).map(|k| (k as f64).powf(-s)).sum();
            let zipf = Zipf::new(n, s);
            let mut rng = Rng::new(5);
            let draws = 200_000;
            let mut counts = vec![0u32; n as usize + 1];
            for _ in 0..draws {
                let k = zipf.sample(&mut rng);
                assert!((1..=n).contains(&k));
                counts[k as usize] += 1;
            }
            for k in [1usize, 2, 10] {
                let want = (k as f64).powf(-s) / norm;
                let got = f64::from(counts[k]) / f64::from(draws);
                assert!((got - want).abs() < 0.1 * want + 0.002, "s={s} k={k}: got {got}, want {want}");
            }
        }
    }

    #[test]
    fn zipf_with_zero_exponent_is_uniform_and_one_rank_is_constant() {
        let zipf = Zipf::new(4, 0.0);
        let mut rng = Rng::new(9);
        let mut counts = [0u32; 5];
        for _ in 0..40_000 {
            counts[zipf.sample(&mut rng) as usize] += 1;
        }
        assert!(counts[1..].iter().all(|&c| (9_000..11_000).contains(&c)), "{counts:?}");
        let one = Zipf::new(1, 1.3);
        assert!((0..100).all(|_| one.sample(&mut rng) == 1));
    }
}

//! The runtime seam: where a server's time and randomness come from.
//!
//! A server reads the wall clock, times its commands and draws its random
//! seeds through the [`Runtime`] it was started with (`Shared::runtime`), so
//! that a deterministic simulation can run several servers in one process
//! from one seed (the cluster issues plan the `turmoil` crate) by handing in
//! its own. [`OsRuntime`], the default, is the real clock and the operating
//! system's randomness.
//!
//! What goes through it: the commands' time (`now_ms` per batch), command
//! timings and uptime, TIME, MONITOR, the slow log, the latency monitor, the
//! ACL LOG, CLIENT PAUSE, save points, tombstone collection, active expiry's
//! time, eviction's sampling and the data commands' random picks
//! ([`XorShift`] from a seed), the run id and the key hash seed (which also
//! seeds the engine's LFU coin).
//!
//! Invariants: `now_ms` is wall-clock time and may step backwards (NTP);
//! command durations are measured on [`Runtime::clock`], which is monotonic.
//! A seed is drawn per use (run id, key hash seed, one eviction run), never
//! per ordinary command (a command that picks at random draws one).
//!
//! Limits, as built: inter-node I/O is not behind the seam yet (there is no
//! cluster); waits and timers still run on tokio's and std's clocks
//! (blocked-client deadlines, the background worker's period and budgets,
//! client idle timeouts, script time limits); LOLWUT and Lua's
//! `math.random` draw their own; the persistent node id is drawn by
//! `persistence`; start-up before the server exists (logging, --import-rdb,
//! recovery) reads the OS clock ([`unix_ms`]).

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// Time and randomness, as one server sees them.
pub trait Runtime: Send + Sync + std::fmt::Debug {
    /// Wall-clock time: milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;

    /// Wall-clock time in microseconds (TIME, MONITOR's timestamps).
    fn now_us(&self) -> u64;

    /// The monotonic clock that times commands (INFO commandstats, the slow
    /// log, the latency monitor). A `quanta` clock: a simulation hands in
    /// `quanta::Clock::mock()`'s and moves it itself.
    fn clock(&self) -> quanta::Clock;

    /// A new random 64-bit seed.
    fn seed(&self) -> u64;
}

/// The real clock and the operating system's randomness.
#[derive(Debug)]
pub struct OsRuntime {
    /// Made at the first [`Runtime::clock`]: making one calibrates it (up to
    /// 200 ms), which start-up does beside recovery ([`warm_up_clock`]).
    clock: OnceLock<quanta::Clock>,
    /// Added to the wall clock (`clock-offset-ms`: a skewed node, for fault
    /// tests; 0 otherwise).
    offset_ms: i64,
}

impl OsRuntime {
    pub fn new() -> OsRuntime {
        OsRuntime::with_offset(0)
    }

    /// A runtime whose wall clock runs `offset_ms` ahead (behind, if
    /// negative) of the operating system's.
    pub fn with_offset(offset_ms: i64) -> OsRuntime {
        OsRuntime { clock: OnceLock::new(), offset_ms }
    }
}

/// Calibrates the command clock on a thread of its own, so that the server's
/// first [`Runtime::clock`] finds it done. The CPU's time-stamp counter where
/// it is invariant (quanta falls back to the OS clock elsewhere): two
/// `clock_gettime` calls per command cost about a tenth of a pipelined GET's
/// instructions; two counter reads cost a few.
pub fn warm_up_clock() {
    std::thread::spawn(|| drop(quanta::Clock::new()));
}

impl Default for OsRuntime {
    fn default() -> OsRuntime {
        OsRuntime::new()
    }
}

impl Runtime for OsRuntime {
    fn now_ms(&self) -> u64 {
        unix_ms().saturating_add_signed(self.offset_ms)
    }

    fn now_us(&self) -> u64 {
        let us = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0);
        us.saturating_add_signed(self.offset_ms.saturating_mul(1000))
    }

    fn clock(&self) -> quanta::Clock {
        self.clock.get_or_init(quanta::Clock::new).clone()
    }

    fn seed(&self) -> u64 {
        rand::random()
    }
}

/// The threads the server lends the engine for bulk work
/// ([`gyre_engine::Keyspace::apply_all`] at recovery): up to this many scoped
/// threads, all joined before `run` returns.
#[derive(Clone, Copy, Debug)]
pub struct ScopedThreads(pub usize);

impl gyre_engine::Workers for ScopedThreads {
    fn count(&self) -> usize {
        self.0
    }

    fn run<'a>(&self, jobs: Vec<gyre_engine::Job<'a>>) {
        std::thread::scope(|s| {
            for job in jobs {
                s.spawn(job);
            }
        });
    }
}

/// The operating system's wall clock in milliseconds since the Unix epoch
/// ([`OsRuntime::now_ms`]); for code that runs before a server exists.
pub fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// A small, fast random stream (xorshift64*) from a runtime's seed, for
/// sampling where the quality needed is modest (eviction, the random picks of
/// SPOP, SRANDMEMBER, HRANDFIELD, ZRANDMEMBER and RANDOMKEY).
#[derive(Clone, Debug)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed | 1)
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// So that `rand`'s samplers (`gen_range`, `seq::index::sample`) draw from it.
impl rand::RngCore for XorShift {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        XorShift::next_u64(self)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let bytes = XorShift::next_u64(self).to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

/// A 40-hex-character id (Redis's run_id) from `seed`.
pub fn hex_id(seed: u64) -> String {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..40).map(|_| char::from_digit(rng.gen_range(0..16), 16).expect("a hex digit")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A runtime whose time and seeds the test sets.
    #[derive(Debug)]
    struct Fixed {
        now_ms: u64,
        clock: quanta::Clock,
        seed: u64,
    }

    impl Runtime for Fixed {
        fn now_ms(&self) -> u64 {
            self.now_ms
        }
        fn now_us(&self) -> u64 {
            self.now_ms * 1000
        }
        fn clock(&self) -> quanta::Clock {
            self.clock.clone()
        }
        fn seed(&self) -> u64 {
            self.seed
        }
    }

    #[test]
    fn a_seed_replays_its_random_picks() {
        use rand::Rng;
        let picks = |seed| {
            let mut rng = XorShift::new(seed);
            (0..64).map(|_| rng.gen_range(0..10u32)).collect::<Vec<_>>()
        };
        assert_eq!(picks(7), picks(7));
        assert_ne!(picks(7), picks(8));
        assert!(picks(7).iter().all(|&p| p < 10));
        let sample = rand::seq::index::sample(&mut XorShift::new(1), 100, 10).into_vec();
        assert_eq!(sample, rand::seq::index::sample(&mut XorShift::new(1), 100, 10).into_vec());
    }

    #[test]
    fn a_seeded_runtime_gives_the_same_ids_and_times() {
        let (clock, mock) = quanta::Clock::mock();
        let rt = Fixed { now_ms: 1_700_000_000_000, clock, seed: 42 };
        assert_eq!(hex_id(rt.seed()), hex_id(42));
        assert_eq!(hex_id(rt.seed()).len(), 40);
        let c = rt.clock();
        let t0 = c.raw();
        mock.increment(std::time::Duration::from_micros(250));
        assert_eq!(c.delta_as_nanos(t0, c.raw()), 250_000);
        assert_eq!(rt.now_ms(), 1_700_000_000_000);
    }
}

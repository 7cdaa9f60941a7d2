//! The execution gate: what makes a transaction or a script atomic on a
//! multi-threaded server, without a process-wide lock on ordinary commands.
//!
//! The gate is striped like the keyspace: stripe `i` covers shard `i` of every
//! database (so MOVE and COPY between databases stay in one stripe). A command
//! enters the stripes of its keys *shared*; EXEC enters the stripes of its
//! queued commands' (and watched) keys *exclusively*; a script enters every
//! stripe exclusively and raises the *world* count, which also holds back the
//! keyless commands (PING, INFO, ...), as a running script holds back
//! everything in Redis. A keyless command that reads or writes data (KEYS,
//! SCAN, DBSIZE, FLUSHALL, ...) enters every stripe shared.
//!
//! * **Nobody waits on a thread.** A shared entry is all-or-nothing and never
//!   waits: when a stripe is held or claimed by a writer, the command undoes
//!   what it took and the caller awaits [`Gate::changed`] (the connection's
//!   task yields its worker), then tries again. A writer claims stripes in
//!   ascending order; on a stripe with readers it sets the *pending* bit (new
//!   readers stay out) and awaits the last reader's release. Readers hold a
//!   stripe only while one command runs on a thread, never across an `.await`.
//! * **No deadlock.** Readers never hold a stripe while they wait. Writers take
//!   stripes in one global (ascending) order and hold lower ones while they
//!   wait for higher ones, which is the classic ordered-locking argument.
//! * **Cost.** A command on one key does one atomic add and one atomic sub on
//!   its stripe's own cache line (plus one load of the world count, a line
//!   written only when a script starts or ends). Two commands on different
//!   shards share no written cache line.
//!
//! Shard locks are always taken after the gate, and threads that do not take
//! the gate (active expiry, snapshots) take only shard locks, so the order is
//! fixed. Eviction takes shared entries on the stripes it can get at once and
//! evicts only there (see `evict`).

use std::pin::pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use gyre_engine::keyspace::{SHARD_COUNT, SLOTS_PER_SHARD};
use gyre_engine::SlotId;

/// How long a waiter sleeps between looks at the busy condition (a script
/// past `busy-reply-threshold`) when no release wakes it first.
pub const BUSY_POLL: Duration = Duration::from_millis(5);

/// Stripes, one per shard index.
pub const STRIPES: usize = SHARD_COUNT;
const _: () = assert!(STRIPES == 64, "a stripe set is one u64");

/// A writer holds the stripe.
const HELD: u32 = 1 << 31;
/// A writer waits for the stripe's readers to leave; new readers stay out.
const PENDING: u32 = 1 << 30;
const READERS: u32 = PENDING - 1;

/// A set of stripes, one bit each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stripes(pub u64);

impl Stripes {
    pub const NONE: Stripes = Stripes(0);
    pub const ALL: Stripes = Stripes(u64::MAX);

    /// The stripe of a key's slot.
    #[inline]
    pub fn of_slot(slot: SlotId) -> Stripes {
        Stripes(1 << (slot.index() / SLOTS_PER_SHARD))
    }

    #[inline]
    pub fn of_key(key: &[u8]) -> Stripes {
        Stripes::of_slot(SlotId::of(key))
    }

    #[inline]
    pub fn add(&mut self, other: Stripes) {
        self.0 |= other.0;
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Shard indexes in the set, ascending.
    fn iter(self) -> impl Iterator<Item = usize> {
        let mut bits = self.0;
        std::iter::from_fn(move || {
            (bits != 0).then(|| {
                let i = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                i
            })
        })
    }
}

#[repr(align(128))]
#[derive(Default)]
struct Stripe(AtomicU32);

pub struct Gate {
    stripes: [Stripe; STRIPES],
    /// Writers holding (or claiming) every stripe: scripts, shutdown.
    world: Stripe,
    /// Moves on every release that may let a waiter in.
    epoch: AtomicU64,
    released: tokio::sync::Notify,
}

impl Default for Gate {
    fn default() -> Gate {
        Gate {
            stripes: std::array::from_fn(|_| Stripe::default()),
            world: Stripe::default(),
            epoch: AtomicU64::new(0),
            released: tokio::sync::Notify::new(),
        }
    }
}

/// Why a shared entry failed: a writer holds or claims a stripe (or the
/// world). Carries the release epoch seen before the attempt, for
/// [`Gate::changed`].
#[derive(Clone, Copy, Debug)]
pub struct Contended(u64);

/// Shared entries on a set of stripes; released on drop.
pub struct SharedGuard<'a> {
    gate: &'a Gate,
    stripes: Stripes,
}

impl SharedGuard<'_> {
    pub fn stripes(&self) -> Stripes {
        self.stripes
    }
}

impl Drop for SharedGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.stripes.0.is_power_of_two() {
            self.gate.leave_shared(self.stripes.0.trailing_zeros() as usize);
            return;
        }
        for i in self.stripes.iter() {
            self.gate.leave_shared(i);
        }
    }
}

/// Exclusive entries (a writer's claim in progress, or complete); released
/// on drop, also when the claim is abandoned half way (a client that left).
pub struct ExclusiveGuard<'a> {
    gate: &'a Gate,
    held: Stripes,
    /// A stripe whose pending bit this claim set.
    pending: Option<usize>,
    world: bool,
}

impl Drop for ExclusiveGuard<'_> {
    fn drop(&mut self) {
        for i in self.held.iter() {
            self.gate.stripes[i].0.fetch_and(!HELD, Ordering::Release);
        }
        if let Some(i) = self.pending.take() {
            self.gate.stripes[i].0.fetch_and(!PENDING, Ordering::Release);
        }
        if self.world {
            self.gate.world.0.fetch_sub(1, Ordering::Release);
        }
        self.gate.wake();
    }
}

/// What a command holds while it runs.
pub enum GateGuard<'a> {
    Shared(#[allow(dead_code)] SharedGuard<'a>),
    Exclusive(#[allow(dead_code)] ExclusiveGuard<'a>),
}

impl Gate {
    fn wake(&self) {
        self.epoch.fetch_add(1, Ordering::Release);
        self.released.notify_waiters();
    }

    /// One shared entry, unless a writer holds or claims the stripe. A
    /// stripe a writer waits on is not touched at all (only looked at), so
    /// retrying readers cannot keep its reader count from reaching zero.
    #[inline]
    fn enter_shared(&self, i: usize) -> bool {
        let stripe = &self.stripes[i].0;
        if stripe.load(Ordering::Relaxed) & (HELD | PENDING) != 0 {
            return false;
        }
        let before = stripe.fetch_add(1, Ordering::Acquire);
        if before & (HELD | PENDING) != 0 {
            // A writer came first after all: out again (waking it if it
            // waits for exactly this entry to leave).
            self.leave_shared(i);
            return false;
        }
        true
    }

    #[inline]
    fn leave_shared(&self, i: usize) {
        let before = self.stripes[i].0.fetch_sub(1, Ordering::Release);
        // The last reader out of a stripe a writer waits for lets it in.
        if before & PENDING != 0 && before & READERS == 1 {
            self.wake();
        }
    }

    /// True while a script (or shutdown) holds or claims everything.
    #[inline]
    pub fn world_stopped(&self) -> bool {
        self.world.0.load(Ordering::Acquire) != 0
    }

    /// Enters `stripes` shared, all or nothing, without waiting. `keyless`
    /// commands (no stripes) are held back only while the world is stopped,
    /// unless `ignore_world` (commands Redis serves during a busy script).
    #[inline]
    pub fn try_shared(&self, stripes: Stripes, ignore_world: bool) -> Result<SharedGuard<'_>, Contended> {
        if let Some(guard) = self.try_shared_once(stripes, ignore_world) {
            return Ok(guard);
        }
        // The epoch is read after the failure (the fast path reads none), so
        // one more try covers a release between the two: a release after the
        // read moves the epoch, and `changed` sees it.
        let epoch = self.epoch.load(Ordering::Acquire);
        match self.try_shared_once(stripes, ignore_world) {
            Some(guard) => Ok(guard),
            None => Err(Contended(epoch)),
        }
    }

    #[inline]
    fn try_shared_once(&self, stripes: Stripes, ignore_world: bool) -> Option<SharedGuard<'_>> {
        if !ignore_world && self.world_stopped() {
            return None;
        }
        if stripes.0.is_power_of_two() {
            // One stripe (a one-key command): no loop.
            let i = stripes.0.trailing_zeros() as usize;
            // (`then`, not `then_some`: a guard built for nothing would leave
            // a stripe it never entered when dropped.)
            return self.enter_shared(i).then(|| SharedGuard { gate: self, stripes });
        }
        let mut taken = Stripes::NONE;
        for i in stripes.iter() {
            if !self.enter_shared(i) {
                drop(SharedGuard { gate: self, stripes: taken });
                return None;
            }
            taken.0 |= 1 << i;
        }
        Some(SharedGuard { gate: self, stripes: taken })
    }

    /// Shared entries on every stripe no writer holds or claims right now
    /// (possibly none): what eviction may touch.
    pub fn try_shared_where_free(&self) -> SharedGuard<'_> {
        let mut taken = Stripes::NONE;
        for i in 0..STRIPES {
            if self.enter_shared(i) {
                taken.0 |= 1 << i;
            }
        }
        SharedGuard { gate: self, stripes: taken }
    }

    /// Waits until a release may let a contended entry in, or [`BUSY_POLL`]
    /// has passed (the caller then looks at the busy condition again).
    pub async fn changed(&self, seen: Contended) {
        let notified = self.released.notified();
        let mut notified = pin!(notified);
        notified.as_mut().enable();
        if self.epoch.load(Ordering::Acquire) != seen.0 {
            // Released meanwhile: try again, after letting others run.
            tokio::task::yield_now().await;
            return;
        }
        let _ = tokio::time::timeout(BUSY_POLL, notified).await;
    }

    /// Enters `stripes` exclusively (and, with `world`, holds back keyless
    /// commands too), awaiting readers and other writers. Every
    /// [`BUSY_POLL`], `give_up` may end the wait with its error (`-BUSY`);
    /// what was claimed is then released.
    pub async fn exclusive<E>(
        &self,
        stripes: Stripes,
        world: bool,
        give_up: impl Fn() -> Option<E>,
    ) -> Result<ExclusiveGuard<'_>, E> {
        let mut guard = ExclusiveGuard { gate: self, held: Stripes::NONE, pending: None, world };
        if world {
            self.world.0.fetch_add(1, Ordering::AcqRel);
        }
        for i in stripes.iter() {
            loop {
                let seen = Contended(self.epoch.load(Ordering::Acquire));
                if self.claim(&mut guard, i) {
                    break;
                }
                if let Some(e) = give_up() {
                    return Err(e);
                }
                self.changed(seen).await;
            }
        }
        Ok(guard)
    }

    /// [`Gate::exclusive`] for a thread that may block (shutdown, on its own
    /// thread or with its worker handed off): polls until in, or until
    /// `give_up` says so (None then, with what was claimed released).
    pub fn exclusive_blocking(
        &self,
        stripes: Stripes,
        world: bool,
        mut give_up: impl FnMut() -> bool,
    ) -> Option<ExclusiveGuard<'_>> {
        let mut guard = ExclusiveGuard { gate: self, held: Stripes::NONE, pending: None, world };
        if world {
            self.world.0.fetch_add(1, Ordering::AcqRel);
        }
        for i in stripes.iter() {
            while !self.claim(&mut guard, i) {
                if give_up() {
                    return None;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        Some(guard)
    }

    /// One step of a writer's claim on stripe `i`: true once it holds it.
    fn claim(&self, guard: &mut ExclusiveGuard<'_>, i: usize) -> bool {
        let stripe = &self.stripes[i].0;
        if guard.pending == Some(i) {
            // Ours is the pending bit: in once the readers have left.
            if stripe.compare_exchange(PENDING, HELD, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                guard.pending = None;
                guard.held.0 |= 1 << i;
                return true;
            }
            return false;
        }
        let mut s = stripe.load(Ordering::Relaxed);
        loop {
            if s & (HELD | PENDING) != 0 {
                return false;
            }
            let (next, held) = if s & READERS == 0 { (HELD, true) } else { (s | PENDING, false) };
            match stripe.compare_exchange_weak(s, next, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) if held => {
                    guard.held.0 |= 1 << i;
                    return true;
                }
                Ok(_) => {
                    guard.pending = Some(i);
                    return false;
                }
                Err(now) => s = now,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_entries_coexist_and_a_writer_waits_for_them() {
        let gate = Gate::default();
        let a = gate.try_shared(Stripes(0b11), false).expect("free");
        let b = gate.try_shared(Stripes(0b10), false).expect("shared with a");
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("rt");
        rt.block_on(async {
            let mut claim = pin!(gate.exclusive(Stripes(0b110), false, || None::<()>));
            // Stripe 1 has readers: the writer claims it and waits.
            assert!(futures_poll(claim.as_mut()).is_none());
            // A new reader of stripe 1 stays out while the writer waits...
            assert!(gate.try_shared(Stripes(0b10), false).is_err());
            // ...but stripe 0 is not the writer's.
            drop(gate.try_shared(Stripes(0b1), false).expect("other stripe"));
            drop(a);
            assert!(futures_poll(claim.as_mut()).is_none());
            drop(b);
            let held = claim.await.expect("in");
            assert!(gate.try_shared(Stripes(0b100), false).is_err());
            assert!(gate.try_shared(Stripes(0b1), false).is_ok());
            drop(held);
            assert!(gate.try_shared(Stripes(0b110), false).is_ok());
        });
    }

    #[test]
    fn the_world_holds_back_keyless_commands_unless_told_otherwise() {
        let gate = Gate::default();
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("rt");
        rt.block_on(async {
            let world = gate.exclusive(Stripes::ALL, true, || None::<()>).await.expect("free");
            assert!(gate.try_shared(Stripes::NONE, false).is_err());
            assert!(gate.try_shared(Stripes::NONE, true).is_ok());
            assert!(gate.try_shared_where_free().stripes.is_empty());
            drop(world);
            assert!(gate.try_shared(Stripes::NONE, false).is_ok());
            assert_eq!(gate.try_shared_where_free().stripes, Stripes::ALL);
        });
    }

    #[test]
    fn an_abandoned_claim_releases_what_it_took() {
        let gate = Gate::default();
        let reader = gate.try_shared(Stripes(0b100), false).expect("free");
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("rt");
        rt.block_on(async {
            let calls = std::cell::Cell::new(0);
            let r = gate
                .exclusive(Stripes(0b101), true, || {
                    calls.set(calls.get() + 1);
                    (calls.get() > 2).then_some("BUSY")
                })
                .await;
            assert_eq!(r.err(), Some("BUSY"));
        });
        drop(reader);
        assert!(!gate.world_stopped());
        assert!(gate.try_shared(Stripes(0b101), false).is_ok());
    }

    #[test]
    fn writers_in_ascending_order_do_not_deadlock() {
        let gate = std::sync::Arc::new(Gate::default());
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build().expect("rt");
        rt.block_on(async {
            let mut tasks = Vec::new();
            for t in 0..8u64 {
                let gate = gate.clone();
                tasks.push(tokio::spawn(async move {
                    for n in 0..200u64 {
                        let set = Stripes((t * 7 + n * 13) | 1 << ((t + n) % 64));
                        let g = gate.exclusive(set, n % 50 == 0, || None::<()>).await.expect("no give-up");
                        tokio::task::yield_now().await;
                        drop(g);
                        loop {
                            match gate.try_shared(Stripes(1 << (n % 64) | 1 << ((n * 3) % 64)), false) {
                                Ok(g) => break drop(g),
                                Err(seen) => gate.changed(seen).await,
                            }
                        }
                    }
                }));
            }
            let all = futures_join(tasks);
            tokio::time::timeout(Duration::from_secs(20), all).await.expect("no deadlock");
        });
    }

    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: std::sync::Arc<Self>) {}
    }

    fn futures_poll<F: std::future::Future>(f: std::pin::Pin<&mut F>) -> Option<F::Output> {
        let waker = std::task::Waker::from(std::sync::Arc::new(Noop));
        let mut cx = std::task::Context::from_waker(&waker);
        match f.poll(&mut cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        }
    }

    async fn futures_join(tasks: Vec<tokio::task::JoinHandle<()>>) {
        for t in tasks {
            t.await.expect("task");
        }
    }
}

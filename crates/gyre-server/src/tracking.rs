//! Client-side caching: `CLIENT TRACKING`, as Redis 7.2 does it.
//!
//! Default mode: the keys a tracking client reads (commands flagged
//! `readonly`) go into the *tracking table*, key -> ids of the clients that
//! read it. When a key changes (a command's mutation, a flush, expiry,
//! eviction), every client in its entry is sent an invalidation and the entry
//! goes: the client reads the key again before it is told again. OPTIN tracks
//! only reads right after `CLIENT CACHING yes`, OPTOUT all reads but those
//! right after `CLIENT CACHING no`; as in Redis the flag covers one command,
//! a whole MULTI..EXEC or script counting as one, CLIENT commands and a
//! blocked wait not using it up. A blocked read served later is remembered
//! then too (Redis 7.2 runs it again). BCAST mode keeps no table: a change
//! of a key matching one of the client's prefixes (any key, without
//! prefixes) is sent to it, one message per prefix naming that prefix's keys
//! (sorted) of one command, or of a whole transaction or script.
//!
//! Messages: RESP3 push `invalidate [keys]` (a null for a flush); with
//! `REDIRECT id` they go to that client instead, as a push when it speaks
//! RESP3, or as a `message` on the `__redis__:invalidate` channel when it is
//! a RESP2 client subscribed to it. A redirect to a client that has gone is
//! reported to the tracking client (`tracking-redir-broken`, RESP3). NOLOOP:
//! no messages for a client's own writes. Messages are queued in the target
//! connection's outbox (see `pubsub`) and written after its pending replies,
//! so a client's own invalidation follows the reply of the write.
//!
//! Limits: the table holds at most `tracking-table-max-keys` keys (0 = no
//! limit); past it the oldest keys are invalidated, so memory is bounded.
//! Outboxes are bounded by the pubsub output limit. A RESP3 redirect target
//! must be tracking or subscribed itself (it needs an outbox to be reached).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use gyre_engine::Mutation;
use gyre_resp::{Protocol, ReplyWriter};
use parking_lot::Mutex;

use crate::client::{ClientInfo, ClientState};
use crate::cmd::CommandSpec;
use crate::pubsub::{Kind, Subscriber};
use crate::shared::Shared;

/// The RESP2 channel of redirected invalidations.
pub const CHANNEL: &[u8] = b"__redis__:invalidate";

/// A client's tracking settings.
struct Client {
    info: Arc<ClientInfo>,
    sub: Arc<Subscriber>,
    /// 0: none.
    redirect: u64,
    bcast: bool,
    optin: bool,
    optout: bool,
    noloop: bool,
    /// CLIENT CACHING was given for the next command.
    caching: bool,
    broken: bool,
    prefixes: Vec<Vec<u8>>,
}

#[derive(Default)]
struct Inner {
    clients: HashMap<u64, Client>,
    /// Key -> ids of the clients that read it.
    table: HashMap<Vec<u8>, Vec<u64>>,
    /// Keys in the order they entered the table (may hold keys since
    /// invalidated; compacted when it outgrows the table).
    order: VecDeque<Vec<u8>>,
    /// Client ids across the table (INFO tracking_total_items).
    items: u64,
    /// BCAST prefix -> clients.
    prefixes: BTreeMap<Vec<u8>, Vec<u64>>,
    /// Keys changed by the commands of a transaction or script still
    /// running, by the writing client: BCAST clients hear of them in one
    /// message per prefix when it ends (Redis sends a prefix's keys of one
    /// event-loop turn together).
    bcast_pending: HashMap<u64, Vec<Vec<u8>>>,
}

/// The server's tracking state.
#[derive(Default)]
pub struct Tracking {
    /// Clients with tracking on: everything is skipped while it is zero.
    clients: Arc<AtomicUsize>,
    inner: Arc<Mutex<Inner>>,
}

/// Held in the connection's state while it tracks: dropping it (the
/// connection ends, RESET, CLIENT TRACKING off) ends the tracking.
pub struct Guard {
    clients: Arc<AtomicUsize>,
    inner: Arc<Mutex<Inner>>,
    id: u64,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let mut inner = self.inner.lock();
        if let Some(c) = inner.clients.remove(&self.id) {
            self.clients.fetch_sub(1, Ordering::Relaxed);
            for p in &c.prefixes {
                if let Some(ids) = inner.prefixes.get_mut(p) {
                    ids.retain(|i| *i != self.id);
                    if ids.is_empty() {
                        inner.prefixes.remove(p);
                    }
                }
            }
            c.info.tracking_redirect.store(-1, Ordering::Relaxed);
        }
    }
}

/// CLIENT TRACKING on's options.
#[derive(Default)]
pub struct Options {
    pub redirect: u64,
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    pub prefixes: Vec<Vec<u8>>,
}

/// What an invalidation names.
enum Payload<'a> {
    Keys(&'a [&'a [u8]]),
    /// A flush: every key.
    All,
}

/// Where a client's messages go.
enum Dest {
    /// An outbox, and whether it is a RESP2 subscriber of [`CHANNEL`].
    Outbox(Arc<Subscriber>, bool),
    /// Nowhere (a RESP2 client without a redirect, or an unreachable target).
    None,
    /// The redirect target is gone.
    Broken,
}

impl Tracking {
    #[inline]
    pub fn active(&self) -> bool {
        self.clients.load(Ordering::Relaxed) > 0
    }

    /// Clients with tracking on (INFO tracking_clients).
    pub fn client_count(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }

    /// (keys, items, prefixes) for INFO.
    pub fn totals(&self) -> (usize, u64, usize) {
        let inner = self.inner.lock();
        (inner.table.len(), inner.items, inner.prefixes.len())
    }

    /// The keyspace-notification bits the dispatcher must honour for
    /// tracking: expired keys are collected while anyone tracks.
    #[inline]
    pub fn notify_bits(&self) -> u32 {
        if self.active() {
            crate::notify::EXPIRED
        } else {
            0
        }
    }

    /// Turns tracking on (or changes its options) for `client`.
    pub fn enable(&self, shared: &Shared, client: &mut ClientState, o: Options) {
        let (info, proto) = (client.info.clone(), client.proto);
        let sub = client.pubsub.get_or_insert_with(|| shared.pubsub.subscriber(info.clone(), proto)).sub.clone();
        let id = info.id;
        let mut inner = self.inner.lock();
        let old_prefixes = inner.clients.get(&id).map(|c| c.prefixes.clone()).unwrap_or_default();
        let mut prefixes = old_prefixes.clone();
        if o.bcast {
            let wanted = if o.prefixes.is_empty() { vec![Vec::new()] } else { o.prefixes };
            for p in wanted {
                if !prefixes.contains(&p) {
                    inner.prefixes.entry(p.clone()).or_default().push(id);
                    prefixes.push(p);
                }
            }
        }
        let c = Client {
            info: info.clone(),
            sub,
            redirect: o.redirect,
            bcast: o.bcast,
            optin: o.optin,
            optout: o.optout,
            noloop: o.noloop,
            caching: false,
            broken: false,
            prefixes,
        };
        info.tracking_redirect.store(o.redirect as i64, Ordering::Relaxed);
        info.tracking_bcast.store(o.bcast, Ordering::Relaxed);
        if inner.clients.insert(id, c).is_none() {
            self.clients.fetch_add(1, Ordering::Relaxed);
        }
        drop(inner);
        if client.tracking.is_none() {
            client.tracking = Some(Guard { clients: self.clients.clone(), inner: self.inner.clone(), id });
        }
    }

    /// The tracking settings of client `id`, as CLIENT TRACKINGINFO and the
    /// mode checks of CLIENT TRACKING need them: (bcast, optin, optout,
    /// noloop, caching, broken, redirect, prefixes); None when off.
    #[allow(clippy::type_complexity)]
    pub fn info(&self, id: u64) -> Option<(bool, bool, bool, bool, bool, bool, u64, Vec<Vec<u8>>)> {
        let inner = self.inner.lock();
        let c = inner.clients.get(&id)?;
        Some((c.bcast, c.optin, c.optout, c.noloop, c.caching, c.broken, c.redirect, c.prefixes.clone()))
    }

    /// CLIENT CACHING: applies to the next command.
    pub fn set_caching(&self, id: u64) {
        if let Some(c) = self.inner.lock().clients.get_mut(&id) {
            c.caching = true;
        }
    }

    /// After a command ran: remembers the keys a read-only command read and
    /// invalidates the keys its mutations changed (`mutations`, encoded).
    /// `blocked`: the command is waiting (it runs again when served).
    pub fn after_command(
        &self,
        shared: &Shared,
        client: &ClientState,
        spec: &CommandSpec,
        args: &gyre_resp::Args<'_>,
        mutations: &[u8],
        blocked: bool,
    ) {
        let id = client.info.id;
        // EXEC and scripts: the commands they run are handled one by one;
        // their BCAST messages wait for the end of the whole (`top_level`).
        let nested_runner = spec.has_flag(crate::cmd::flags::EXCLUSIVE);
        let top_level = !client.in_exec;
        if !mutations.is_empty() && !nested_runner {
            self.invalidate_mutations(shared, mutations, Some(id), !top_level);
        }
        if top_level && nested_runner {
            let mut inner = self.inner.lock();
            if let Some(keys) = inner.bcast_pending.remove(&id) {
                let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
                broadcast(shared, &mut inner, &refs, Some(id));
            }
        }
        // A blocked client being served runs in a state of its own (no
        // guard): whether it tracks is in its shared info.
        if client.tracking.is_none() && client.info.tracking_redirect.load(Ordering::Relaxed) < 0 {
            return;
        }
        let mut inner = self.inner.lock();
        let Some(c) = inner.clients.get_mut(&id) else { return };
        let caching = c.caching;
        // The CACHING flag lasts one command, as Redis's resetClient keeps
        // it: through MULTI to the end of EXEC, through a script, across
        // CLIENT commands, and while the command waits blocked. KEEPS_CACHING
        // marks CLIENT CACHING and, on the connection's command, CLIENT.
        let keeps = |s: &CommandSpec| s.has_flag(crate::cmd::flags::KEEPS_CACHING);
        let connection_cmd = || match client.current_cmd {
            crate::client::CmdName::Known { top, .. } => crate::cmd::lookup(top.as_bytes()),
            crate::client::CmdName::Unknown => None,
        };
        let client_cmd = keeps(spec) || (!nested_runner && connection_cmd().is_some_and(keeps));
        if !(client.multi.is_some() || !top_level || blocked || client_cmd) {
            c.caching = false;
        }
        let wanted = !c.bcast && if c.optin { caching } else { !(c.optout && caching) };
        if !wanted
            || !spec.has_flag(crate::cmd::flags::READONLY)
            || spec.has_flag(crate::cmd::flags::PUBSUB)
            || nested_runner
        {
            return;
        }
        for i in spec.key_indexes(args.len(), |i| args.get(i)) {
            remember(&mut inner, args.get(i), id);
        }
        let max = shared.config.hot.tracking_table_max_keys.load(Ordering::Relaxed) as usize;
        if max > 0 {
            while inner.table.len() > max {
                let Some(oldest) = inner.order.pop_front() else { break };
                if inner.table.contains_key(&oldest) {
                    invalidate_keys(shared, &mut inner, &[&oldest[..]], None);
                }
            }
        }
    }

    /// Invalidates the keys named by encoded mutations; `writer` is the
    /// client whose command made them (for NOLOOP). With `defer_bcast` the
    /// BCAST part waits for the writer's top-level command to end.
    fn invalidate_mutations(&self, shared: &Shared, encoded: &[u8], writer: Option<u64>, defer_bcast: bool) {
        if !self.active() {
            return;
        }
        let all = Bytes::copy_from_slice(encoded);
        let mut keys: Vec<Vec<u8>> = Vec::new();
        let mut flush = false;
        let mut pos = 0;
        while pos < all.len() {
            let Ok((m, used)) = gyre_engine::mutation::decode(&all.slice(pos..)) else { break };
            pos += used;
            match &m {
                Mutation::FlushDb { .. } | Mutation::FlushAll { .. } | Mutation::DropSlot { .. } => flush = true,
                _ => {
                    if let Some((_, key)) = m.key() {
                        if !keys.iter().any(|k| k == key) {
                            keys.push(key.to_vec());
                        }
                    }
                }
            }
        }
        let mut inner = self.inner.lock();
        if flush {
            flush_all(shared, &mut inner);
        }
        let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        match writer {
            Some(id) if defer_bcast && !inner.prefixes.is_empty() => {
                invalidate_table(shared, &mut inner, &refs, writer);
                let pending = inner.bcast_pending.entry(id).or_default();
                for k in keys {
                    if !pending.contains(&k) {
                        pending.push(k);
                    }
                }
            }
            _ => invalidate_keys(shared, &mut inner, &refs, writer),
        }
    }

    /// Invalidates keys removed by expiry or eviction.
    pub fn invalidate_removed(&self, shared: &Shared, keys: &[(gyre_engine::DbIndex, Vec<u8>)]) {
        if !self.active() || keys.is_empty() {
            return;
        }
        let refs: Vec<&[u8]> = keys.iter().map(|(_, k)| k.as_slice()).collect();
        invalidate_keys(shared, &mut self.inner.lock(), &refs, None);
    }
}

fn remember(inner: &mut Inner, key: &[u8], id: u64) {
    let Inner { table, order, items, .. } = inner;
    let ids = table.entry(key.to_vec()).or_insert_with(|| {
        order.push_back(key.to_vec());
        Vec::new()
    });
    if !ids.contains(&id) {
        ids.push(id);
        *items += 1;
    }
    // Keys invalidated and read again leave stale places behind.
    if order.len() > 2 * table.len() + 1024 {
        let mut seen = std::collections::HashSet::new();
        order.retain(|k| table.contains_key(k) && seen.insert(k.clone()));
    }
}

/// Sends the invalidation of `keys` to the clients that read them and to
/// the BCAST clients whose prefixes match.
fn invalidate_keys(shared: &Shared, inner: &mut Inner, keys: &[&[u8]], writer: Option<u64>) {
    invalidate_table(shared, inner, keys, writer);
    broadcast(shared, inner, keys, writer);
}

/// Default mode: one message per key and client, the key leaves the table
/// (as Redis's trackingInvalidateKey sends them, at once).
fn invalidate_table(shared: &Shared, inner: &mut Inner, keys: &[&[u8]], writer: Option<u64>) {
    for key in keys {
        let Some(ids) = inner.table.remove(*key) else { continue };
        inner.items -= ids.len() as u64;
        for id in ids {
            let skip = match inner.clients.get(&id) {
                None => true,
                Some(c) => c.bcast || (c.noloop && writer == Some(id)),
            };
            if !skip {
                send(shared, inner, id, Payload::Keys(&[key]));
            }
        }
    }
}

/// BCAST: as Redis's trackingBroadcastInvalidationMessages, one message per
/// prefix and client, naming the keys of this change under that prefix (a
/// client with two prefixes hears of `MSET a:1 .. b:1 ..` twice); a NOLOOP
/// client does not hear of its own writes.
fn broadcast(shared: &Shared, inner: &mut Inner, keys: &[&[u8]], writer: Option<u64>) {
    if inner.prefixes.is_empty() || keys.is_empty() {
        return;
    }
    let mut messages: Vec<(u64, Vec<&[u8]>)> = Vec::new();
    for (prefix, ids) in &inner.prefixes {
        // Sorted, as Redis's per-prefix radix tree of keys gives them.
        let mut matching: Vec<&[u8]> = keys.iter().copied().filter(|k| k.starts_with(prefix)).collect();
        matching.sort_unstable();
        matching.dedup();
        if matching.is_empty() {
            continue;
        }
        for id in ids {
            let noloop = inner.clients.get(id).is_some_and(|c| c.noloop);
            if !(noloop && writer == Some(*id)) {
                messages.push((*id, matching.clone()));
            }
        }
    }
    for (id, keys) in messages {
        send(shared, inner, id, Payload::Keys(&keys));
    }
}

/// A flush: a null invalidation to every tracking client; the table empties.
fn flush_all(shared: &Shared, inner: &mut Inner) {
    inner.table.clear();
    inner.order.clear();
    inner.items = 0;
    let ids: Vec<u64> = inner.clients.keys().copied().collect();
    for id in ids {
        send(shared, inner, id, Payload::All);
    }
}

/// Finds where client `id`'s messages go.
fn destination(shared: &Shared, inner: &mut Inner, id: u64) -> Dest {
    let Some(c) = inner.clients.get(&id) else { return Dest::None };
    if c.redirect == 0 {
        return if c.sub.is_resp3() { Dest::Outbox(c.sub.clone(), false) } else { Dest::None };
    }
    let target = c.redirect;
    if let Some(sub) = shared.pubsub.subscriber_of(Kind::Channel, CHANNEL, target) {
        return Dest::Outbox(sub, true);
    }
    if let Some(t) = inner.clients.get(&target) {
        return Dest::Outbox(t.sub.clone(), false);
    }
    if shared.clients.all().iter().any(|i| i.id == target) {
        return Dest::None;
    }
    Dest::Broken
}

fn send(shared: &Shared, inner: &mut Inner, id: u64, payload: Payload<'_>) {
    let limit = *shared.config.hot.pubsub_limit.read();
    match destination(shared, inner, id) {
        Dest::None => {}
        Dest::Broken => {
            let Some(c) = inner.clients.get_mut(&id) else { return };
            c.broken = true;
            c.info.tracking_broken.store(true, Ordering::Relaxed);
            if c.sub.is_resp3() {
                let redirect = c.redirect as i64;
                c.sub.deliver_with(limit, |buf, proto| {
                    let mut w = ReplyWriter::new(buf, proto);
                    w.push(2);
                    w.bulk(b"tracking-redir-broken");
                    w.integer(redirect);
                });
            }
        }
        Dest::Outbox(sub, channel) => sub.deliver_with(limit, |buf, proto| {
            let mut w = ReplyWriter::new(buf, proto);
            if proto == Protocol::Resp3 {
                w.push(2);
                w.bulk(b"invalidate");
            } else if channel {
                w.array(3);
                w.bulk(b"message");
                w.bulk(CHANNEL);
            } else {
                return;
            }
            match payload {
                Payload::Keys(keys) => {
                    w.array(keys.len());
                    for k in keys {
                        w.bulk(k);
                    }
                }
                Payload::All => w.null(),
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use crate::cmd::flags::KEEPS_CACHING;

    /// The CACHING flag survives CLIENT commands: the `client` container
    /// carries KEEPS_CACHING (checked on the connection's command), as does
    /// CLIENT CACHING (checked on the command that ran); nothing else does.
    #[test]
    fn client_commands_keep_caching_by_flag() {
        let tops: Vec<&str> = crate::cmd::table::all().filter(|c| c.has_flag(KEEPS_CACHING)).map(|c| c.name).collect();
        assert_eq!(tops, ["client"]);
        let client = crate::cmd::lookup(b"client").expect("declared");
        let subs: Vec<&str> = client.subcommands.iter().filter(|c| c.has_flag(KEEPS_CACHING)).map(|c| c.name).collect();
        assert_eq!(subs, ["caching"]);
    }
}

//! Dispatch: how one command runs, whoever sent it (a connection, EXEC, a
//! script, the HTTP API, a blocked client being served).
//!
//! A short pipeline of named steps, each a small function:
//!
//! 1. **resolve**: the command table row (arity, subcommand);
//! 2. **authorise**: ACL rules (`acl::check`);
//! 3. **route**: which node serves the keys (the cluster's step, in
//!    `cluster`: MOVED, CROSSSLOT, CLUSTERDOWN; a single node serves
//!    everything);
//! 4. **mode**: what the connection's mode allows (RESP2 subscriber; MULTI
//!    queues the command instead of running it);
//! 5. **admit**: the execution gate (`gate`): the stripes of the command's
//!    keys, shared; EXEC's and scripts' stripes, exclusively;
//! 6. **refuse**: MISCONF (the log failed), OOM (after eviction);
//! 7. **run**: the handler, with MONITOR, keyspace notifications and timing;
//! 8. **account**: statistics, the reply or the block.
//!
//! Nothing here waits. When the gate cannot admit the command at once,
//! dispatch returns before anything ran ([`Exec::Wait`], [`Exec::Exclusive`])
//! and the async caller ([`finish`]) awaits the gate and dispatches again: a
//! tokio worker never blocks on another client's work.

use std::sync::atomic::Ordering;

use bytes::BytesMut;
use gyre_engine::MutationLog;
use gyre_resp::{Args, Limits, ReplyWriter};

use crate::client::{ClientState, CmdName, ReplyMode};
use crate::cluster::Refusal;
use crate::cmd::{self, flags, BlockSpec, Call, CmdError, CommandSpec};
use crate::gate::{Contended, ExclusiveGuard, GateGuard, Stripes};
use crate::scripting;
use crate::shared::Shared;

/// How a dispatch ended.
pub enum Exec {
    /// The command ran or was answered (its reply is in `out`).
    Done,
    /// A blocking command found nothing to serve; no reply was written.
    Blocked(BlockSpec),
    /// Nothing ran: a writer holds a stripe the command needs. Await
    /// `gate.changed(seen)` and dispatch again.
    Wait(Contended),
    /// Nothing ran: the command (EXEC, a script) needs `stripes` exclusively
    /// (and the world, for scripts). Claim them and dispatch again with
    /// [`Admission::Held`].
    Exclusive { stripes: Stripes, world: bool },
    /// Nothing ran: the command's slot is served by node `to`; relay it
    /// there and write its reply (or, if that fails, `moved`).
    Relay { to: gyre_cluster::NodeTag, moved: String },
}

/// What the caller brings to the gate.
pub enum Admission<'a> {
    /// Enter shared if possible (the normal case).
    Try,
    /// The exclusive entries [`Exec::Exclusive`] asked for.
    Held(ExclusiveGuard<'a>),
    /// The exclusive wait gave up with this error (`-BUSY`).
    Refused(String),
}

/// Runs one command and writes its reply (unless CLIENT REPLY says otherwise),
/// entering the gate without waiting.
#[inline]
pub fn execute(
    args: Args<'_>,
    shared: &Shared,
    client: &mut ClientState,
    out: &mut BytesMut,
    log: &mut MutationLog,
    now_ms: u64,
) -> Exec {
    execute_with(args, shared, client, out, log, now_ms, Admission::Try)
}

/// Dispatches until the command ran or blocked, awaiting the gate when it
/// is held: the async callers' way (connections, HTTP, blocked clients).
pub async fn execute_async(
    args: Args<'_>,
    shared: &Shared,
    client: &mut ClientState,
    out: &mut BytesMut,
    log: &mut MutationLog,
    now_ms: u64,
) -> Option<BlockSpec> {
    let first = execute(args, shared, client, out, log, now_ms);
    finish(first, args, shared, client, out, log, now_ms).await
}

/// Completes a dispatch that could not be admitted at once.
pub async fn finish(
    mut exec: Exec,
    args: Args<'_>,
    shared: &Shared,
    client: &mut ClientState,
    out: &mut BytesMut,
    log: &mut MutationLog,
    now_ms: u64,
) -> Option<BlockSpec> {
    loop {
        let admission = match exec {
            Exec::Done => return None,
            Exec::Blocked(spec) => return Some(spec),
            Exec::Wait(seen) => {
                shared.gate.changed(seen).await;
                Admission::Try
            }
            Exec::Exclusive { stripes, world } => {
                match shared.gate.exclusive(stripes, world, || scripting::busy_error(shared)).await {
                    Ok(held) => Admission::Held(held),
                    Err(busy) => Admission::Refused(busy),
                }
            }
            Exec::Relay { to, moved } => {
                match crate::relay::forward(shared, to, client, args).await {
                    Ok(reply) if client.reply == ReplyMode::On => out.extend_from_slice(&reply),
                    Ok(_) => {
                        if client.reply == ReplyMode::Skipping {
                            client.reply = ReplyMode::On;
                        }
                    }
                    Err(e) => {
                        tracing::debug!(to = %to, error = %e, "relaying a command failed; answering MOVED");
                        answer_error(shared, client, out, moved);
                    }
                }
                return None;
            }
        };
        exec = execute_with(args, shared, client, out, log, now_ms, admission);
    }
}

/// Dispatches on a thread that may block (unit tests without a runtime):
/// polls the gate instead of awaiting it.
#[cfg(test)]
pub fn execute_now(
    args: Args<'_>,
    shared: &Shared,
    client: &mut ClientState,
    out: &mut BytesMut,
    log: &mut MutationLog,
    now_ms: u64,
) -> Option<BlockSpec> {
    let mut admission = Admission::Try;
    loop {
        admission = match execute_with(args, shared, client, out, log, now_ms, admission) {
            Exec::Done => return None,
            Exec::Blocked(spec) => return Some(spec),
            Exec::Wait(_) => {
                std::thread::yield_now();
                Admission::Try
            }
            Exec::Exclusive { stripes, world } => match shared.gate.exclusive_blocking(stripes, world, || false) {
                Some(held) => Admission::Held(held),
                None => unreachable!("never gives up"),
            },
            Exec::Relay { moved, .. } => {
                answer_error(shared, client, out, moved);
                return None;
            }
        };
    }
}

/// Runs one command inside EXEC or a script, which hold the gate
/// (`client.in_exec` is set).
pub fn execute_nested(
    args: Args<'_>,
    shared: &Shared,
    client: &mut ClientState,
    out: &mut BytesMut,
    log: &mut MutationLog,
    now_ms: u64,
) {
    debug_assert!(client.in_exec);
    let exec = execute(args, shared, client, out, log, now_ms);
    debug_assert!(matches!(exec, Exec::Done), "nothing waits or blocks inside EXEC or a script");
}

/// The pipeline (see the module doc). Returns before anything ran, and
/// before the reply mode is applied, when the gate asks the caller to wait.
pub fn execute_with<'s>(
    args: Args<'_>,
    shared: &'s Shared,
    client: &mut ClientState,
    out: &mut BytesMut,
    log: &mut MutationLog,
    now_ms: u64,
    admission: Admission<'s>,
) -> Exec {
    let mark = out.len();
    if client.reply == ReplyMode::SkipNext {
        client.reply = ReplyMode::Skipping;
    }
    // The command that called this one, if any (a script runner for a script's commands).
    let caller = client.current_cmd;
    let exec = match resolve(&args, client) {
        Err(e) => {
            // A command that cannot be queued dooms the transaction.
            doom_transaction(client);
            crate::stats::rejected_while_resolving(shared, &args, &e);
            answer_error(shared, client, out, e.to_string());
            Exec::Done
        }
        Ok((top, spec)) => dispatch(Dispatch { args, top, spec, now_ms, caller }, shared, client, out, log, admission),
    };
    if matches!(exec, Exec::Wait(_) | Exec::Exclusive { .. } | Exec::Relay { .. }) {
        return exec;
    }
    // RESP3 push messages (subscription confirmations) go out even with
    // replies off, as in Redis.
    match client.reply {
        ReplyMode::On | ReplyMode::SkipNext => {}
        ReplyMode::Off => {
            if !cmd::pubsub::reply_is_push(client, &out[mark..]) {
                out.truncate(mark)
            }
        }
        ReplyMode::Skipping => {
            if !cmd::pubsub::reply_is_push(client, &out[mark..]) {
                out.truncate(mark);
            }
            client.reply = ReplyMode::On;
        }
    }
    exec
}

/// One resolved command on its way through the pipeline.
#[derive(Clone, Copy)]
struct Dispatch<'a> {
    args: Args<'a>,
    top: &'static CommandSpec,
    spec: &'static CommandSpec,
    now_ms: u64,
    caller: CmdName,
}

/// Step 1: the command table row.
#[inline]
fn resolve(
    args: &Args<'_>,
    client: &mut ClientState,
) -> Result<(&'static CommandSpec, &'static CommandSpec), CmdError> {
    match cmd::resolve(args, &mut client.last_spec) {
        Ok((top, spec)) => {
            client.current_cmd = CmdName::Known { top: top.name, sub: (!std::ptr::eq(top, spec)).then_some(spec.name) };
            Ok((top, spec))
        }
        Err(e) => {
            client.current_cmd = CmdName::Unknown;
            Err(e)
        }
    }
}

fn dispatch<'s>(
    d: Dispatch<'_>,
    shared: &'s Shared,
    client: &mut ClientState,
    out: &mut BytesMut,
    log: &mut MutationLog,
    admission: Admission<'s>,
) -> Exec {
    if let Err(msg) = authorise(d, shared, client) {
        crate::stats::rejected_call(shared, d.spec);
        answer_error(shared, client, out, msg);
        return Exec::Done;
    }
    // Step 4, route (before mode, as in Redis, so a command queued in MULTI
    // is checked too): in a cluster, keys this node does not serve are
    // redirected (MOVED, CROSSSLOT, CLUSTERDOWN); a single node serves all.
    match crate::cluster::route(shared, d.top, d.spec, &d.args, client) {
        None => {}
        Some(Refusal::Relay { to, moved }) => return Exec::Relay { to, moved },
        Some(Refusal::Error(msg)) => {
            crate::stats::rejected_call(shared, d.spec);
            answer_error(shared, client, out, msg);
            return Exec::Done;
        }
    }
    match mode(d, shared, client, out) {
        Mode::Run => {}
        Mode::Answered => return Exec::Done,
    }
    let (guard, admitted) = match admit(d, shared, client, admission) {
        Admit::In(guard, admitted) => (guard, admitted),
        Admit::Wait(exec) => return exec,
        Admit::Busy(msg) => {
            let msg = rejection(d.spec, client, msg);
            let e = crate::stats::rejected(shared, d.spec, CmdError::Msg(msg));
            ReplyWriter::new(out, client.proto).error(e.to_string().as_bytes());
            return Exec::Done;
        }
    };
    match crate::cluster::recheck(shared, d.top, d.spec, &d.args, client) {
        None => {}
        Some(Refusal::Relay { to, moved }) => return Exec::Relay { to, moved },
        Some(Refusal::Error(msg)) => {
            drop(guard);
            crate::stats::rejected_call(shared, d.spec);
            answer_error(shared, client, out, msg);
            return Exec::Done;
        }
    }
    // EXEC and scripts: their mutations reach the log as one piece, committed
    // before their shards are released (see `commit`).
    let atomic = d.spec.has_flag(flags::EXCLUSIVE) && log.begin_atomic();
    let result = match refuse(d, shared, log) {
        Some(e) => Err(crate::stats::rejected(shared, d.spec, e)),
        None => run(d, admitted, shared, client, out, log),
    };
    if atomic {
        crate::commit::commit_atomic(&shared.persistence, &shared.ks, log);
    }
    drop(guard);
    account(result, client, out)
}

/// Step 2: ACL. A denied command dooms the transaction it was sent in.
#[inline]
fn authorise(d: Dispatch<'_>, shared: &Shared, client: &mut ClientState) -> Result<(), String> {
    match crate::acl::check(shared, client, d.top, d.spec, &d.args) {
        None => Ok(()),
        Some(denied) => {
            doom_transaction(client);
            Err(denied.to_string())
        }
    }
}

enum Mode {
    Run,
    Answered,
}

/// Step 3: a RESP2 subscriber may only (un)subscribe; in MULTI the command
/// is queued (or, while a script is busy, refused with `-BUSY` as Redis
/// does, which dooms the transaction).
#[inline]
fn mode(d: Dispatch<'_>, shared: &Shared, client: &mut ClientState, out: &mut BytesMut) -> Mode {
    let (top, spec) = (d.top, d.spec);
    if client.proto == gyre_resp::Protocol::Resp2 && client.subscribed() && !cmd::pubsub::allowed_while_subscribed(top)
    {
        let msg = format!("ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context", full_name(top, spec));
        crate::stats::rejected_call(shared, spec);
        answer_error(shared, client, out, msg);
        return Mode::Answered;
    }
    if client.multi.is_some() && !controls_transaction(top) {
        if !spec.has_flag(flags::ALLOW_BUSY) && shared.gate.world_stopped() {
            if let Some(busy) = scripting::busy_error(shared) {
                doom_transaction(client);
                crate::stats::rejected_call(shared, spec);
                answer_error(shared, client, out, busy);
                return Mode::Answered;
            }
        }
        queue(d.args, spec, client, out, shared);
        return Mode::Answered;
    }
    Mode::Run
}

/// What admission learnt on the way that later steps reuse.
#[derive(Clone, Copy, Default)]
struct Admitted {
    /// The slot of the first key (the gate computed it for the stripe).
    first_slot: Option<gyre_engine::SlotId>,
}

enum Admit<'s> {
    In(Option<GateGuard<'s>>, Admitted),
    Wait(Exec),
    Busy(String),
}

/// Step 5: the gate. Inside EXEC or a script it is already held.
#[inline]
fn admit<'s>(d: Dispatch<'_>, shared: &'s Shared, client: &ClientState, admission: Admission<'s>) -> Admit<'s> {
    let spec = d.spec;
    if client.in_exec || spec.has_flag(flags::NO_GATE) {
        return Admit::In(None, Admitted::default());
    }
    match admission {
        Admission::Held(held) => return Admit::In(Some(GateGuard::Exclusive(held)), Admitted::default()),
        Admission::Refused(msg) => return Admit::Busy(msg),
        Admission::Try => {}
    }
    if spec.has_flag(flags::EXCLUSIVE) {
        // Held back by a running script like everything else, even with
        // nothing to claim (EXEC without MULTI answers -BUSY, as in Redis).
        if let Err(seen) = shared.gate.try_shared(Stripes::NONE, false) {
            return match scripting::busy_error(shared) {
                Some(busy) => Admit::Busy(busy),
                None => Admit::Wait(Exec::Wait(seen)),
            };
        }
        let (stripes, world) = exclusive_stripes(spec, client);
        return Admit::Wait(Exec::Exclusive { stripes, world });
    }
    let allow_busy = spec.has_flag(flags::ALLOW_BUSY);
    let (stripes, first_slot) = stripes_of(spec, &d.args);
    let admitted = Admitted { first_slot };
    match shared.gate.try_shared(stripes, allow_busy) {
        Ok(guard) => Admit::In(Some(GateGuard::Shared(guard)), admitted),
        Err(seen) => match scripting::busy_error(shared) {
            // Redis serves these during a busy script (WATCH reads the keys
            // as the script left them so far).
            Some(_) if allow_busy => Admit::In(None, admitted),
            Some(busy) => Admit::Busy(busy),
            None => Admit::Wait(Exec::Wait(seen)),
        },
    }
}

/// The stripes a command's keys fall in, shared, and the slot of its first
/// key. A keyless command that reads or writes data (KEYS, SCAN, DBSIZE,
/// FLUSHALL, SWAPDB) takes them all.
#[inline]
pub fn stripes_of(spec: &CommandSpec, args: &Args<'_>) -> (Stripes, Option<gyre_engine::SlotId>) {
    // The common case, one key (GET, SET, ...), without the iterators.
    if spec.first_key > 0 && spec.first_key == spec.last_key && spec.numkeys_at == 0 {
        let i = spec.first_key as usize;
        if i < args.len() {
            let slot = gyre_engine::SlotId::of(args.get(i));
            return (Stripes::of_slot(slot), Some(slot));
        }
    }
    let mut stripes = Stripes::NONE;
    let mut first_slot = None;
    for i in spec.key_positions(args.len()) {
        let slot = gyre_engine::SlotId::of(args.get(i));
        first_slot.get_or_insert(slot);
        stripes.add(Stripes::of_slot(slot));
    }
    if spec.numkeys_at > 0 {
        for i in spec.key_indexes(args.len(), |i| args.get(i)) {
            stripes.add(Stripes::of_key(args.get(i)));
        }
    }
    if stripes.is_empty() && spec.has_flag(flags::READONLY | flags::WRITE) {
        return (Stripes::ALL, None);
    }
    (stripes, first_slot)
}

/// What EXEC or a script holds exclusively: a script everything (its keys
/// need not be declared) and the world; EXEC the stripes of its queued
/// commands and watched keys (everything, when it queued a script).
fn exclusive_stripes(spec: &CommandSpec, client: &ClientState) -> (Stripes, bool) {
    if !spec.has_flag(flags::EXCLUSIVE_KEYS) {
        return (Stripes::ALL, true);
    }
    let mut stripes = Stripes::NONE;
    for (_, key) in client.watched.keys() {
        stripes.add(Stripes::of_key(key));
    }
    let Some(tx) = &client.multi else { return (stripes, false) };
    let mut last = None;
    for queued in &tx.queued {
        let args = queued.args();
        let Ok((_, qspec)) = cmd::resolve(&args, &mut last) else { continue };
        if qspec.has_flag(flags::EXCLUSIVE) {
            return (Stripes::ALL, true);
        }
        stripes.add(stripes_of(qspec, &args).0);
    }
    (stripes, false)
}

/// Step 6: writes refused while the log is failed (MISCONF) or memory is
/// over `maxmemory` and nothing could be evicted (OOM).
#[inline]
fn refuse(d: Dispatch<'_>, shared: &Shared, log: &mut MutationLog) -> Option<CmdError> {
    let spec = d.spec;
    if spec.has_flag(flags::WRITE) {
        if let Some(msg) = shared.persistence.write_refusal() {
            return Some(CmdError::Msg(msg));
        }
    }
    if spec.has_flag(flags::WRITE | flags::DENYOOM | flags::MAY_REPLICATE)
        && crate::evict::make_room(shared, log, d.now_ms).is_err()
        && spec.has_flag(flags::DENYOOM)
    {
        return Some(cmd::err("OOM command not allowed when used memory > 'maxmemory'."));
    }
    None
}

/// Step 7: the handler, with MONITOR, keyspace notifications and timing.
fn run(
    d: Dispatch<'_>,
    admitted: Admitted,
    shared: &Shared,
    client: &mut ClientState,
    out: &mut BytesMut,
    log: &mut MutationLog,
) -> Result<(), CmdError> {
    let Dispatch { args, top, spec, now_ms, caller } = d;
    let first_slot = admitted.first_slot;
    let mark = out.len();
    let proto = client.proto;
    // Introspection: one clock read before and one after the handler, one
    // load to learn whether anyone monitors.
    let monitored = shared.diag.monitors.active();
    if monitored && crate::monitor::runs_scripts(top) {
        crate::monitor::feed_before(shared, client, &args);
    }
    let started = shared.clock.raw();
    let log_mark = log.bytes().len();
    // (Tracking asks for expired keys too; see `tracking`.)
    let notify = shared.config.hot.notify_flags.load(Ordering::Relaxed) as u32 | shared.tracking.notify_bits();
    // EXEC and scripts: the commands they run notify for themselves.
    let result = if notify == 0 || spec.has_flag(flags::EXCLUSIVE) {
        let mut call = Call { args, spec, out: ReplyWriter::new(out, proto), shared, client, log, now_ms, first_slot };
        (spec.handler)(&mut call)
    } else {
        let before = crate::notify::before(shared, notify, spec, &args, client.db, now_ms);
        let mut run = || {
            let mut call =
                Call { args, spec, out: ReplyWriter::new(out, proto), shared, client, log, now_ms, first_slot };
            (spec.handler)(&mut call)
        };
        let (result, expired) = if notify & crate::notify::EXPIRED != 0 {
            gyre_engine::expired::collecting(run)
        } else {
            (run(), Vec::new())
        };
        let ran = crate::notify::Ran { name: top.name, spec, args: &args, mutations: &log.bytes()[log_mark..] };
        crate::notify::after(shared, notify, ran, before, expired, now_ms);
        result
    };
    // A handler may answer an error itself (a script returning one).
    let error_reply = crate::stats::error_line(&out[mark..]);
    let ran = crate::stats::Run { top, spec, args: &args, started, db: client.db, monitored, caller, error_reply };
    crate::stats::ran(shared, client, ran, &result);
    if shared.tracking.active() {
        let blocked = matches!(result, Err(CmdError::Block(_))) && !client.in_exec;
        shared.tracking.after_command(shared, client, spec, &args, &log.bytes()[log_mark..], blocked);
    }
    if log.bytes().len() > log_mark {
        if !client.info.aof_unsynced.load(Ordering::Relaxed) {
            client.info.aof_unsynced.store(true, Ordering::Relaxed);
        }
        if shared.blocking.anyone_blocked() {
            cmd::streams::signal_deleted(shared, client, &log.bytes()[log_mark..]);
        }
    }
    result
}

/// Step 8: the reply or the block (statistics were counted by `run`).
#[inline]
fn account(result: Result<(), CmdError>, client: &mut ClientState, out: &mut BytesMut) -> Exec {
    let proto = client.proto;
    match result {
        Ok(()) => Exec::Done,
        // Inside a transaction or a script nothing waits: as if it timed out.
        Err(CmdError::Block(b)) if client.in_exec => {
            match b.timeout_reply {
                cmd::TimeoutReply::NullArray => ReplyWriter::new(out, proto).null_array(),
                cmd::TimeoutReply::Integer(n) => ReplyWriter::new(out, proto).integer(n),
                cmd::TimeoutReply::WaitReplicas { .. } => ReplyWriter::new(out, proto).integer(0),
                cmd::TimeoutReply::WaitAof { .. } => {
                    let mut w = ReplyWriter::new(out, proto);
                    w.array(2);
                    w.integer(0);
                    w.integer(0);
                }
            }
            Exec::Done
        }
        Err(CmdError::Block(spec)) => Exec::Blocked(spec),
        Err(e) => {
            ReplyWriter::new(out, proto).error(e.to_string().as_bytes());
            Exec::Done
        }
    }
}

/// The error for a command refused before it ran (`-BUSY`), as Redis's
/// rejectCommand words it: a refused EXEC discards its transaction
/// (`-EXECABORT Transaction discarded because of: ...`); any other refused
/// command dooms the transaction it was sent in.
fn rejection(spec: &CommandSpec, client: &mut ClientState, msg: String) -> String {
    if spec.has_flag(flags::EXCLUSIVE_KEYS) {
        client.multi = None;
        client.watched.clear();
        return format!("EXECABORT Transaction discarded because of: {msg}");
    }
    doom_transaction(client);
    msg
}

fn doom_transaction(client: &mut ClientState) {
    if let Some(tx) = &mut client.multi {
        tx.aborted = true;
    }
}

fn answer_error(shared: &Shared, client: &ClientState, out: &mut BytesMut, msg: String) {
    shared.diag.errors.record(msg.as_bytes());
    ReplyWriter::new(out, client.proto).error(msg.as_bytes());
}

/// `get`, or `config|get` for a subcommand.
fn full_name(top: &CommandSpec, spec: &CommandSpec) -> String {
    if std::ptr::eq(top, spec) {
        top.name.to_string()
    } else {
        format!("{}|{}", top.name, spec.name)
    }
}

/// The commands that run at once between MULTI and EXEC instead of queueing.
fn controls_transaction(top: &CommandSpec) -> bool {
    top.has_flag(flags::CONTROLS_TRANSACTION)
}

/// Queues a command between MULTI and EXEC, or refuses one that may not run
/// in a transaction (which then fails EXEC).
fn queue(args: Args<'_>, spec: &CommandSpec, client: &mut ClientState, out: &mut BytesMut, shared: &Shared) {
    let mut w = ReplyWriter::new(out, client.proto);
    let tx = client.multi.as_mut().expect("in MULTI");
    if spec.has_flag(flags::NO_MULTI) {
        tx.aborted = true;
        let msg = b"ERR Command not allowed inside a transaction";
        crate::stats::rejected_call(shared, spec);
        shared.diag.errors.record(msg);
        w.error(msg);
        return;
    }
    tx.queued.push(gyre_resp::OwnedArgs::from_args(&args));
    w.simple(b"QUEUED");
}

/// The reply a command wrote into a buffer of its own, as a frame: how
/// scripts (`redis.call`) and the HTTP API read what dispatch answered.
pub fn reply_frame(out: &[u8]) -> gyre_resp::Frame {
    let limits = Limits { nesting_depth_max: usize::MAX, ..Limits::default() };
    match gyre_resp::parse_frame(out, &limits) {
        Ok(Some((frame, _))) => frame,
        // Every command writes exactly one well-formed reply.
        _ => gyre_resp::Frame::Error(bytes::Bytes::from_static(
            b"ERR internal error: the command's reply could not be read",
        )),
    }
}

/// True when a memory limit is set and memory is over it, once what is
/// queued for lazy freeing is left out (see `evict`). Scripts check it before
/// commands that may add data; eviction itself runs before a command starts.
#[inline]
pub fn over_maxmemory(shared: &Shared) -> bool {
    let limit = shared.config.hot.maxmemory.load(Ordering::Relaxed) as usize;
    limit != 0 && crate::evict::used_for_limit(shared) > limit
}

#[cfg(test)]
mod tests {
    //! The write path's contract: each command records exactly the mutations
    //! that reproduce its effect, with absolute values (INCR sets the result,
    //! EXPIRE names a time, SETRANGE on a missing key sets the padded value).
    use std::net::SocketAddr;

    use bytes::Bytes;
    use gyre_engine::{Keyspace, Mutation, NO_EXPIRY};
    use gyre_resp::encode_command;

    use gyre_resp::RequestParser;

    use super::*;
    use crate::client::ClientInfo;
    use crate::config::Config;
    use crate::runtime::unix_ms;
    use std::sync::Arc;

    /// The commands' clock: real time, because the server's background expiry
    /// cycle runs on real time too.
    fn now_ms() -> u64 {
        use std::sync::OnceLock;
        static NOW: OnceLock<u64> = OnceLock::new();
        *NOW.get_or_init(unix_ms)
    }

    struct Harness {
        shared: Arc<Shared>,
        client: ClientState,
    }

    impl Harness {
        fn new() -> Harness {
            let shared = Shared::start(Config::for_test()).expect("start");
            let addr: SocketAddr = "127.0.0.1:1".parse().expect("addr");
            let client = ClientState::new(Arc::new(ClientInfo::new(1, addr, addr)));
            Harness { shared, client }
        }

        /// Runs one command; returns the reply bytes and the mutations recorded.
        fn run(&mut self, args: &[&str]) -> (String, Vec<Mutation<Bytes>>) {
            let mut buf = BytesMut::new();
            encode_command(args, &mut buf);
            let mut parser = RequestParser::new(Limits::default());
            parser.parse(&buf).expect("valid").expect("complete");
            let mut out = BytesMut::new();
            let mut log = MutationLog::new();
            execute_now(parser.args(&buf), &self.shared, &mut self.client, &mut out, &mut log, now_ms());
            (String::from_utf8_lossy(&out).into_owned(), log.decode_all())
        }

        fn mutations(&mut self, args: &[&str]) -> Vec<Mutation<Bytes>> {
            self.run(args).1
        }
    }

    fn set_of(m: &Mutation<Bytes>) -> (&[u8], &[u8], u64) {
        match m {
            Mutation::Set { key, value, expire_at_ms, .. } => (key, value, *expire_at_ms),
            other => panic!("expected Set, got {other:?}"),
        }
    }

    #[test]
    fn reads_and_failed_writes_record_nothing() {
        let mut h = Harness::new();
        h.run(&["SET", "k", "v"]);
        for cmd in [
            &["GET", "k"][..],
            &["EXISTS", "k"],
            &["TTL", "k"],
            &["SET", "k", "x", "NX"],
            &["INCR", "k"],
            &["DEL", "nope"],
        ] {
            assert!(h.mutations(cmd).is_empty(), "{cmd:?}");
        }
    }

    #[test]
    fn counters_record_their_result_and_keep_the_expiry() {
        let mut h = Harness::new();
        h.run(&["SET", "n", "10", "PX", "5000"]);
        let ms = h.mutations(&["INCRBY", "n", "5"]);
        assert_eq!(ms.len(), 1);
        assert_eq!(set_of(&ms[0]), (&b"n"[..], &b"15"[..], now_ms() + 5000));
        let ms = h.mutations(&["INCRBYFLOAT", "n", "0.5"]);
        assert_eq!(set_of(&ms[0]), (&b"n"[..], &b"15.5"[..], now_ms() + 5000));
    }

    #[test]
    fn relative_expiry_becomes_absolute() {
        let mut h = Harness::new();
        h.run(&["SET", "k", "v"]);
        match &h.mutations(&["EXPIRE", "k", "100"])[..] {
            [Mutation::Expire { expire_at_ms, .. }] => assert_eq!(*expire_at_ms, now_ms() + 100_000),
            other => panic!("{other:?}"),
        }
        match &h.mutations(&["PERSIST", "k"])[..] {
            [Mutation::Expire { expire_at_ms, .. }] => assert_eq!(*expire_at_ms, NO_EXPIRY),
            other => panic!("{other:?}"),
        }
        // An expiry in the past deletes the key.
        assert!(matches!(&h.mutations(&["PEXPIREAT", "k", "1"])[..], [Mutation::Del { .. }]));
        let (_, ms) = h.run(&["SETEX", "s", "10", "v"]);
        assert_eq!(set_of(&ms[0]).2, now_ms() + 10_000);
    }

    #[test]
    fn setrange_and_append_on_missing_keys_record_the_whole_value() {
        let mut h = Harness::new();
        let ms = h.mutations(&["SETRANGE", "k", "3", "ab"]);
        assert_eq!(set_of(&ms[0]).1, b"\0\0\0ab");
        assert!(
            matches!(&h.mutations(&["APPEND", "k", "c"])[..], [Mutation::Append { data, .. }] if &data[..] == b"c")
        );
        let ms = h.mutations(&["APPEND", "fresh", "xyz"]);
        assert_eq!(set_of(&ms[0]), (&b"fresh"[..], &b"xyz"[..], NO_EXPIRY));
    }

    #[test]
    fn a_key_written_twice_in_one_command_gets_increasing_versions() {
        let mut h = Harness::new();
        let ms = h.mutations(&["MSET", "d", "x", "d", "y"]);
        assert_eq!(ms.len(), 2);
        assert!(ms[0].version() < ms[1].version());
        assert_eq!(h.run(&["GET", "d"]).0, "$1\r\ny\r\n");
    }

    #[test]
    fn rename_is_a_delete_and_a_set_with_the_expiry() {
        let mut h = Harness::new();
        h.run(&["SET", "a", "v", "PX", "9000"]);
        let ms = h.mutations(&["RENAME", "a", "b"]);
        assert!(matches!(&ms[0], Mutation::Del { key, .. } if &key[..] == b"a"));
        assert_eq!(set_of(&ms[1]), (&b"b"[..], &b"v"[..], now_ms() + 9000));
    }

    /// Replaying what the commands recorded on a fresh keyspace gives the same data.
    #[test]
    fn recorded_mutations_replay_to_the_same_state() {
        let mut h = Harness::new();
        let mut all = Vec::new();
        for cmd in [
            &["MSET", "a", "1", "b", "2", "c", "3"][..],
            &["INCR", "a"],
            &["APPEND", "b", "xyz"],
            &["SETRANGE", "c", "5", "!"],
            &["EXPIRE", "c", "60"],
            &["RENAME", "b", "bb"],
            &["DEL", "a"],
            &["SET", "a", "again"],
            &["COPY", "a", "a2", "DB", "3"],
            &["SWAPDB", "0", "1"],
            &["MOVE", "a", "2"],
            &["RPUSH", "l", "a", "b", "c", "d", "e"],
            &["LPUSH", "l", "z"],
            &["LMOVE", "l", "l", "LEFT", "RIGHT"],
            &["LMOVE", "l", "l2", "RIGHT", "LEFT"],
            &["LREM", "l", "1", "b"],
            &["LSET", "l", "0", "x"],
            &["LINSERT", "l", "BEFORE", "c", "y"],
            &["LTRIM", "l", "0", "2"],
            &["LPOP", "l2"],
            &["COPY", "l", "l3"],
            &["HSET", "h", "f1", "1", "f2", "two", "f3", "3"],
            &["HINCRBY", "h", "f1", "41"],
            &["HINCRBYFLOAT", "h", "f3", "0.5"],
            &["HSETNX", "h", "f4", "x"],
            &["HDEL", "h", "f2"],
            &["RENAME", "h", "h2"],
            &["SADD", "s", "1", "2", "3", "x"],
            &["SADD", "s2", "2", "3", "y"],
            &["SPOP", "s"],
            &["SMOVE", "s2", "s", "y"],
            &["SINTERSTORE", "s3", "s", "s2"],
            &["SUNIONSTORE", "s4", "s", "s2"],
            &["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"],
            &["ZINCRBY", "z", "2.5", "a"],
            &["ZADD", "z", "GT", "CH", "1", "b", "10", "c"],
            &["ZPOPMIN", "z"],
            &["ZREMRANGEBYSCORE", "z", "9", "+inf"],
            &["ZUNIONSTORE", "z2", "2", "z", "s", "WEIGHTS", "2", "1"],
            &["ZRANGESTORE", "z3", "z2", "0", "1"],
        ] {
            all.extend(h.mutations(cmd));
        }
        let replica = Keyspace::new();
        for m in &all {
            replica.apply(m);
        }
        for db in 0..16u16 {
            let mut want = Vec::new();
            let mut got = Vec::new();
            let mut cursor = 0;
            loop {
                cursor = h.shared.ks.db(db).scan(cursor, 100, now_ms(), |k, e| {
                    want.push((k.to_vec(), format!("{:?}", e.value), e.expire_at_ms))
                });
                if cursor == 0 {
                    break;
                }
            }
            loop {
                cursor = replica.db(db).scan(cursor, 100, now_ms(), |k, e| {
                    got.push((k.to_vec(), format!("{:?}", e.value), e.expire_at_ms))
                });
                if cursor == 0 {
                    break;
                }
            }
            want.sort();
            got.sort();
            assert_eq!(want, got, "db {db}");
        }
    }
}

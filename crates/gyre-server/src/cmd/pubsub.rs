//! SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE and their UNSUBSCRIBEs, PUBLISH,
//! SPUBLISH and PUBSUB. The registry and the subscribers' outboxes are in
//! `crate::pubsub`; confirmations are written here as replies (RESP3 push
//! frames, RESP2 arrays), one per channel, as Redis does.

use super::flags::*;
use super::introspect::help_reply;
use super::table::{cmd, NOKEYS};
use super::{Call, CmdResult, CommandSpec, Group};
use crate::pubsub::Kind;

macro_rules! ps {
    ($name:literal, $arity:expr, $flags:expr, $since:literal, $summary:literal, $syntax:literal, $handler:expr) => {
        cmd!($name, $arity, $flags, NOKEYS, PubSub, $since, $summary, $syntax, $handler)
    };
}

pub static COMMANDS: &[CommandSpec] = &[
    ps!(
        "subscribe",
        -2,
        PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIPTION | CHANNEL_ARGS,
        "2.0.0",
        "Listens for messages published to channels.",
        "channel [channel ...]",
        subscribe
    ),
    ps!(
        "unsubscribe",
        -1,
        PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIPTION,
        "2.0.0",
        "Stops listening to messages posted to channels.",
        "[channel [channel ...]]",
        unsubscribe
    ),
    ps!(
        "psubscribe",
        -2,
        PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIPTION | PATTERN_ARGS,
        "2.0.0",
        "Listens for messages published to channels that match one or more patterns.",
        "pattern [pattern ...]",
        psubscribe
    ),
    ps!(
        "punsubscribe",
        -1,
        PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIPTION,
        "2.0.0",
        "Stops listening to messages published to channels that match one or more patterns.",
        "[pattern [pattern ...]]",
        punsubscribe
    ),
    ps!(
        "ssubscribe",
        -2,
        PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIPTION | CHANNEL_ARGS,
        "7.0.0",
        "Listens for messages published to shard channels.",
        "shardchannel [shardchannel ...]",
        ssubscribe
    ),
    ps!(
        "sunsubscribe",
        -1,
        PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIPTION,
        "7.0.0",
        "Stops listening to messages posted to shard channels.",
        "[shardchannel [shardchannel ...]]",
        sunsubscribe
    ),
    ps!(
        "publish",
        3,
        PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE | CHANNEL_ARG,
        "2.0.0",
        "Posts a message to a channel.",
        "channel message",
        publish
    ),
    ps!(
        "spublish",
        3,
        PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE | CHANNEL_ARG,
        "7.0.0",
        "Post a message to a shard channel",
        "shardchannel message",
        spublish
    ),
    cmd!(
        "pubsub",
        -2,
        NOKEYS_FLAGS,
        NOKEYS,
        PubSub,
        "2.8.0",
        "A container for Pub/Sub commands.",
        "",
        pubsub_help,
        PUBSUB_SUBS
    ),
];

const NOKEYS_FLAGS: u64 = 0;

static PUBSUB_SUBS: &[CommandSpec] = &[
    ps!("channels", -2, PUBSUB | LOADING | STALE, "2.8.0", "Returns the active channels.", "[pattern]", channels),
    ps!(
        "numsub",
        -2,
        PUBSUB | LOADING | STALE,
        "2.8.0",
        "Returns a count of subscribers to channels.",
        "[channel [channel ...]]",
        numsub
    ),
    ps!("numpat", 2, PUBSUB | LOADING | STALE, "2.8.0", "Returns a count of unique pattern subscriptions.", "", numpat),
    ps!(
        "shardchannels",
        -2,
        PUBSUB | LOADING | STALE,
        "7.0.0",
        "Returns the active shard channels.",
        "[pattern]",
        shardchannels
    ),
    ps!(
        "shardnumsub",
        -2,
        PUBSUB | LOADING | STALE,
        "7.0.0",
        "Returns the count of subscribers of shard channels.",
        "[shardchannel [shardchannel ...]]",
        shardnumsub
    ),
    ps!("help", 2, LOADING | STALE, "6.2.0", "Returns helpful text about the different subcommands.", "", pubsub_help),
];

fn subscribe_kind(call: &mut Call<'_>, kind: Kind) -> CmdResult {
    let (shared, info, proto) = (call.shared, call.client.info.clone(), call.client.proto);
    let sub = call.client.pubsub.get_or_insert_with(|| shared.pubsub.subscriber(info, proto));
    for i in 1..call.args.len() {
        let name = call.args.get(i);
        sub.subscribe(kind, name);
        let count = if kind == Kind::Shard { sub.sub.shard_count() } else { sub.sub.count() };
        call.out.push(3);
        call.out.bulk(kind.subscribe_word());
        call.out.bulk(name);
        call.out.integer(count as i64);
    }
    Ok(())
}

fn unsubscribe_kind(call: &mut Call<'_>, kind: Kind) -> CmdResult {
    let count_of = |sub: &crate::pubsub::Subscription| {
        if kind == Kind::Shard {
            sub.sub.shard_count()
        } else {
            sub.sub.count()
        }
    };
    let names: Vec<Vec<u8>> = if call.args.len() > 1 {
        call.args.iter().skip(1).map(<[u8]>::to_vec).collect()
    } else {
        call.client.pubsub.as_ref().map(|s| s.names(kind)).unwrap_or_default()
    };
    if names.is_empty() {
        let count = call.client.pubsub.as_ref().map_or(0, count_of);
        call.out.push(3);
        call.out.bulk(kind.unsubscribe_word());
        call.out.null();
        call.out.integer(count as i64);
        return Ok(());
    }
    for name in names {
        let count = match &call.client.pubsub {
            Some(sub) => {
                sub.unsubscribe(kind, &name);
                count_of(sub)
            }
            None => 0,
        };
        call.out.push(3);
        call.out.bulk(kind.unsubscribe_word());
        call.out.bulk(&name);
        call.out.integer(count as i64);
    }
    Ok(())
}

fn subscribe(call: &mut Call<'_>) -> CmdResult {
    subscribe_kind(call, Kind::Channel)
}
fn psubscribe(call: &mut Call<'_>) -> CmdResult {
    subscribe_kind(call, Kind::Pattern)
}
fn ssubscribe(call: &mut Call<'_>) -> CmdResult {
    subscribe_kind(call, Kind::Shard)
}
fn unsubscribe(call: &mut Call<'_>) -> CmdResult {
    unsubscribe_kind(call, Kind::Channel)
}
fn punsubscribe(call: &mut Call<'_>) -> CmdResult {
    unsubscribe_kind(call, Kind::Pattern)
}
fn sunsubscribe(call: &mut Call<'_>) -> CmdResult {
    unsubscribe_kind(call, Kind::Shard)
}

fn publish(call: &mut Call<'_>) -> CmdResult {
    let limit = *call.shared.config.hot.pubsub_limit.read();
    let n = call.shared.pubsub.publish(call.args.get(1), call.args.get(2), limit);
    // In a cluster, every node's subscribers get it (the count is this
    // node's, as in Redis Cluster).
    if let Some(face) = call.shared.cluster.get() {
        face.cluster.publish(call.args.get(1), call.args.get(2));
    }
    call.out.integer(n as i64);
    Ok(())
}

fn spublish(call: &mut Call<'_>) -> CmdResult {
    let limit = *call.shared.config.hot.pubsub_limit.read();
    let n = call.shared.pubsub.spublish(call.args.get(1), call.args.get(2), limit);
    call.out.integer(n as i64);
    Ok(())
}

fn list_channels(call: &mut Call<'_>, kind: Kind) -> CmdResult {
    if call.args.len() > 3 {
        return Err(super::arity_error(if kind == Kind::Shard { "pubsub|shardchannels" } else { "pubsub|channels" }));
    }
    let pattern = (call.args.len() == 3).then(|| call.args.get(2));
    let names = call.shared.pubsub.channels(kind, pattern);
    call.out.array(names.len());
    for n in &names {
        call.out.bulk(n);
    }
    Ok(())
}

fn channels(call: &mut Call<'_>) -> CmdResult {
    list_channels(call, Kind::Channel)
}
fn shardchannels(call: &mut Call<'_>) -> CmdResult {
    list_channels(call, Kind::Shard)
}

/// A flat array of channel, count pairs in both protocols, as Redis answers
/// (not a RESP3 map: clients compare against the flat form).
fn count_subs(call: &mut Call<'_>, kind: Kind) -> CmdResult {
    call.out.array(2 * (call.args.len() - 2));
    for i in 2..call.args.len() {
        let ch = call.args.get(i);
        call.out.bulk(ch);
        call.out.integer(call.shared.pubsub.numsub(kind, ch) as i64);
    }
    Ok(())
}

fn numsub(call: &mut Call<'_>) -> CmdResult {
    count_subs(call, Kind::Channel)
}
fn shardnumsub(call: &mut Call<'_>) -> CmdResult {
    count_subs(call, Kind::Shard)
}

fn numpat(call: &mut Call<'_>) -> CmdResult {
    call.out.integer(call.shared.pubsub.numpat() as i64);
    Ok(())
}

fn pubsub_help(call: &mut Call<'_>) -> CmdResult {
    help_reply(call, "PUBSUB", PUBSUB_SUBS);
    Ok(())
}

/// True when `reply` (what the command just run wrote) is subscription
/// confirmations: RESP3 push frames, or under RESP2 the arrays that stand for
/// them. Redis (7.0 and 7.2) flags these as pushes in both protocols and
/// delivers them even under CLIENT REPLY OFF or SKIP, so they survive the
/// reply being dropped; an error reply (NOPERM) does not.
pub fn reply_is_push(client: &crate::client::ClientState, reply: &[u8]) -> bool {
    let push_type = match client.proto {
        gyre_resp::Protocol::Resp3 => b'>',
        _ => b'*',
    };
    reply.first() == Some(&push_type)
        && match client.current_cmd {
            crate::client::CmdName::Known { top, sub: None } => {
                super::lookup(top.as_bytes()).is_some_and(|spec| spec.has_flag(SUBSCRIPTION))
            }
            _ => false,
        }
}

/// Commands a RESP2 connection may run while subscribed.
pub fn allowed_while_subscribed(top: &CommandSpec) -> bool {
    top.has_flag(SUBSCRIPTION | WHILE_SUBSCRIBED)
}

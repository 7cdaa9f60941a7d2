//! Running a command for someone who is not a connection of this node, and
//! relaying a command to the node that serves its slot.
//!
//! * [`run_one`]: one command as a fresh client of a given ACL user, through
//!   `dispatch` (the HTTP API's requests, and commands relayed here), its
//!   reply waiting for the write to be durable, as a RESP reply does.
//! * [`forward`]: with `cluster-redirect forward` (and always for the HTTP
//!   API), a command for a slot another node serves is relayed to it over
//!   the cluster port, as the client's ACL user, and its reply passed back,
//!   so a plain client can send any command to any node. Links are kept per
//!   (node, user, protocol) and used for one command at a time.
//! * [`serve`]: the other end, a relay link: RESP requests answered in order.
//!
//! The cluster port authenticates links with `cluster-secret`; a node
//! trusts the user name a relay link names, as it trusts the topology
//! changes such a link proposes (docs/CLUSTER.md: keep the port private or
//! set the secret). The user's command rules are checked on both nodes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use gyre_cluster::net::BoxStream;
use gyre_cluster::NodeTag;
use gyre_engine::MutationLog;
use gyre_resp::{Args, Limits, OwnedArgs, Protocol, RequestParser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::acl::ClientAuth;
use crate::client::{ClientInfo, ClientState};
use crate::shared::Shared;

/// How long a relayed command may take before the client gets the MOVED
/// it would have had.
pub const RELAY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Idle relay links kept per (node, user, protocol).
const IDLE_LINKS_MAX: usize = 8;

/// Runs one command as a fresh client authenticated as `auth` (see the
/// module doc). `relays`: a command for a slot served elsewhere is relayed
/// there rather than answered with MOVED. A blocking command that would
/// block answers an error: there is no connection to block.
pub async fn run_one(shared: &Shared, auth: ClientAuth, proto: Protocol, argv: Args<'_>, relays: bool) -> BytesMut {
    let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
    let info = Arc::new(ClientInfo::new(shared.clients.next_id(), unspecified, unspecified));
    *info.user.lock() = auth.user_name().to_string();
    let mut client = ClientState::new(info);
    client.proto = proto;
    client.auth = auth;
    client.relays = relays;
    let (mut out, mut log) = (BytesMut::new(), MutationLog::new());
    let now_ms = shared.now_ms();
    if crate::dispatch::execute_async(argv, shared, &mut client, &mut out, &mut log, now_ms).await.is_some() {
        out.clear();
        gyre_resp::ReplyWriter::new(&mut out, proto).error(b"ERR blocking commands need a connection of their own");
        return out;
    }
    shared.stats.commands_processed.fetch_add(1, Ordering::Relaxed);
    let mut waits = Vec::new();
    if log.recorded() > 0 {
        // A write: its reply waits for its replicas, as a connection's does.
        waits.push(crate::replication::WriteReply::of(&client, 0..out.len()));
    } else {
        crate::replication::note_read(shared, &client, &mut log, &mut waits, 0..out.len());
    }
    let mut ticket = crate::commit::commit(&shared.persistence, &shared.ks, &mut log);
    let mut deliveries = Vec::new();
    if !client.ready_keys.is_empty() {
        let served = crate::blocking::serve(shared, std::mem::take(&mut client.ready_keys), now_ms).await;
        ticket = ticket.and(served.ticket);
        deliveries = served.deliveries;
    }
    if let Err(reason) = ticket.durable(&shared.persistence).await {
        out.clear();
        let msg = format!("MISCONF the write could not be made durable: {reason}");
        gyre_resp::ReplyWriter::new(&mut out, proto).error(msg.as_bytes());
        return out;
    }
    crate::replication::settle_replies(shared, ticket.feed(), &mut waits, &mut out, proto).await;
    for d in deliveries {
        d.send();
    }
    out
}

/// Idle relay links, by (node, user, RESP3).
#[derive(Default)]
pub struct Relays {
    idle: parking_lot::Mutex<HashMap<(NodeTag, String, bool), Vec<BoxStream>>>,
}

/// Relays `args` to `to` as `client`'s user and returns the raw reply.
pub async fn forward(shared: &Shared, to: NodeTag, client: &ClientState, args: Args<'_>) -> Result<Bytes, String> {
    let face = shared.cluster.get().ok_or("not in cluster mode")?;
    let key = (to, client.auth.user_name().to_string(), client.proto == Protocol::Resp3);
    let reused = face.relays.idle.lock().get_mut(&key).and_then(Vec::pop);
    let mut link = match reused {
        Some(link) => link,
        None => face.cluster.open_relay(to, &key.1, key.2).await.map_err(|e| e.to_string())?,
    };
    let mut request = BytesMut::new();
    let argv: Vec<&[u8]> = (0..args.len()).map(|i| args.get(i)).collect();
    gyre_resp::encode_command(&argv, &mut request);
    let reply = tokio::time::timeout(RELAY_TIMEOUT, exchange(&mut link, &request))
        .await
        .map_err(|_| "the relayed command timed out".to_string())??;
    let mut idle = face.relays.idle.lock();
    let links = idle.entry(key).or_default();
    if links.len() < IDLE_LINKS_MAX {
        links.push(link);
    }
    Ok(reply)
}

/// Writes one request and reads its one reply.
pub async fn exchange(link: &mut BoxStream, request: &[u8]) -> Result<Bytes, String> {
    link.write_all(request).await.map_err(|e| e.to_string())?;
    let limits = Limits::default();
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        match gyre_resp::parse_frame(&buf, &limits) {
            Ok(Some((_, used))) => return Ok(buf.split_to(used).freeze()),
            Ok(None) => {}
            Err(e) => return Err(format!("a relayed reply did not parse: {e}")),
        }
        if link.read_buf(&mut buf).await.map_err(|e| e.to_string())? == 0 {
            return Err("the relay link closed".into());
        }
    }
}

/// Answers the RESP requests of a relay link, in order, as ACL user
/// `user`, until the link closes.
pub async fn serve(shared: Arc<Shared>, user: String, resp3: bool, mut link: BoxStream) {
    let auth = match shared.acl.get(&user) {
        Some(u) if u.enabled => {
            let mut auth = ClientAuth::connection(&shared.acl);
            auth.user = Some(u);
            auth.authenticated = true;
            auth
        }
        _ => {
            tracing::warn!(user = %user, "refused a relay link for an unknown or disabled user");
            return;
        }
    };
    let proto = if resp3 { Protocol::Resp3 } else { Protocol::Resp2 };
    let mut parser = RequestParser::new(Limits::default());
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        match parser.parse(&buf) {
            Ok(Some(used)) => {
                let request = buf.split_to(used).freeze();
                let owned = OwnedArgs::from_slices(parser.args(&request).iter());
                let reply = run_one(&shared, auth.clone(), proto, owned.args(), false).await;
                if link.write_all(&reply).await.is_err() {
                    return;
                }
                continue;
            }
            Ok(None) => {}
            Err(_) => return,
        }
        match link.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

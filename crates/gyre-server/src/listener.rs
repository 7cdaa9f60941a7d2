//! The RESP listeners: one per `bind` address on `port`, and on `tls-port`
//! when it is set (TLS, see `tls`); each accepted connection is served in its
//! own task.
//!
//! On accept, before a connection is served: `maxclients` (the next client
//! gets `-ERR max number of clients reached` and is closed), protected mode
//! (see `limits`), TCP_NODELAY and `tcp-keepalive`, then the TLS handshake on
//! the TLS port. A failed handshake ends that connection only. Listeners stop
//! when the server shuts down (see `shutdown`).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::Context;
use bytes::BytesMut;
use gyre_resp::{Protocol, ReplyWriter};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use crate::client::{ClientInfo, Registration};
use crate::config::Config;
use crate::conn;
use crate::http::HttpBackend;
use crate::shared::Shared;

pub async fn run(config: Config, runtime: Arc<dyn crate::runtime::Runtime>) -> anyhow::Result<()> {
    let settings = config.settings();
    let binds = settings.bind.clone();
    anyhow::ensure!(!binds.is_empty(), "bind is empty: give at least one address");
    let (port, tls_port, backlog) = (settings.port, settings.tls_port, settings.tcp_backlog);
    let dir = settings.dir.display().to_string();
    // TLS files are checked before anything is opened: nothing half-started.
    let acceptor = match tls_port {
        0 => None,
        _ => Some(TlsAcceptor::from(crate::tls::server_config(&config)?)),
    };
    // The HTTP API listens before recovery, so /health answers while data
    // loads. Its stop signal is held until the server exits.
    let http = HttpBackend::default().into();
    let (_http_stop, _http_task) = start_http(&config, &binds[0], &http).await?;
    let shared =
        tokio::task::spawn_blocking(move || Shared::start_with(config, runtime)).await.context("recovery")??;
    http.set_ready(shared.clone());
    let mut listeners = Vec::new();
    for addr in &binds {
        listeners.push((bind(addr, port, backlog)?, None));
        if let Some(a) = &acceptor {
            listeners.push((bind(addr, tls_port, backlog)?, Some(a.clone())));
        }
    }
    let first = listeners[0].0.local_addr()?;
    shared.tcp_port.store(u64::from(first.port()), Ordering::Relaxed);
    // Cluster membership (cluster mode only): the cluster port binds now, the
    // cluster forms in the background; keyed commands answer CLUSTERDOWN
    // until this node has the agreed slot map.
    crate::cluster::start(&shared, first.port()).await?;
    for (listener, tls) in listeners {
        let address = listener.local_addr()?;
        info!(address = %address, tls = tls.is_some(), data_dir = %dir, "ready to accept connections");
        tokio::spawn(accept_loop(listener, tls, shared.clone()));
    }
    crate::shutdown::on_signals(shared).await
}

/// A listening socket with `tcp-backlog`.
fn bind(addr: &str, port: u16, backlog: u32) -> anyhow::Result<TcpListener> {
    let ip: std::net::IpAddr = addr.parse().with_context(|| format!("bind address '{addr}' is not an IP address"))?;
    let at = SocketAddr::new(ip, port);
    let socket = if ip.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }
        .with_context(|| format!("creating a socket for {at}"))?;
    socket.set_reuseaddr(true)?;
    socket.bind(at).with_context(|| format!("binding {at}"))?;
    socket.listen(backlog).with_context(|| format!("listening on {at}"))
}

async fn accept_loop(listener: TcpListener, tls: Option<TlsAcceptor>, shared: Arc<Shared>) {
    let local = listener.local_addr().expect("bound");
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = shared.shutdown.stopping() => return,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and similar: keep serving the others.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        shared.stats.connections_received.fetch_add(1, Ordering::Relaxed);
        let maxclients = shared.config.hot.maxclients.load(Ordering::Relaxed) as usize;
        if shared.clients.len() >= maxclients {
            shared.stats.rejected_connections.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(reject(stream, tls.clone(), "ERR max number of clients reached"));
            continue;
        }
        if crate::limits::refuses(&shared, peer.ip()) {
            shared.stats.rejected_connections.fetch_add(1, Ordering::Relaxed);
            debug!(peer = %peer, "protected mode: refusing a client that is not on loopback");
            tokio::spawn(reject(stream, tls.clone(), crate::limits::PROTECTED_MODE_ERROR));
            continue;
        }
        let _ = stream.set_nodelay(true);
        crate::limits::set_keepalive(&stream, shared.config.hot.tcp_keepalive_secs.load(Ordering::Relaxed));
        let laddr = stream.local_addr().unwrap_or(local);
        let info = Arc::new(ClientInfo::new(shared.clients.next_id(), peer, laddr));
        shared.clients.add(info.clone());
        let task_shared = shared.clone();
        let task_info = info.clone();
        let tls = tls.clone();
        let handle = tokio::spawn(async move {
            let _registration = Registration { registry: &task_shared.clients, id: task_info.id };
            match tls {
                None => conn::serve(stream, task_shared.clone(), task_info).await,
                // Boxed: the handshake and TLS stream state are kilobytes that an
                // idle plain connection's task must not carry (docs/MEMORY.md).
                Some(acceptor) => {
                    Box::pin(async {
                        match crate::tls::accept(&acceptor, stream).await {
                            Ok(tls_stream) => conn::serve(tls_stream, task_shared.clone(), task_info).await,
                            Err(e) => debug!(peer = %peer, error = %e, "TLS handshake failed"),
                        }
                    })
                    .await
                }
            }
        });
        *info.abort.lock() = Some(handle.abort_handle());
        if info.killed.load(Ordering::Relaxed) {
            handle.abort();
        }
    }
}

/// Binds and serves the HTTP API when `http-port` is set. Returns the sender
/// that stops it and its task.
async fn start_http(
    config: &Config,
    bind: &str,
    backend: &Arc<HttpBackend>,
) -> anyhow::Result<(tokio::sync::oneshot::Sender<()>, Option<tokio::task::JoinHandle<std::io::Result<()>>>)> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let settings = config.settings();
    let port = settings.http_port;
    if port == 0 {
        return Ok((stop, None));
    }
    let listener =
        TcpListener::bind((bind, port)).await.with_context(|| format!("binding the HTTP API to {bind}:{port}"))?;
    let limits = gyre_http::HttpLimits {
        body_bytes_max: config.hot.proto_max_bulk_len.load(Ordering::Relaxed) as usize,
        ..Default::default()
    };
    let tls = if settings.http_tls {
        Some(crate::tls::server_config(config).context("the HTTP API's TLS settings")?)
    } else {
        None
    };
    let task = tokio::spawn(gyre_http::serve(listener, tls, backend.clone(), limits, async {
        let _ = stopped.await;
    }));
    Ok((stop, Some(task)))
}

/// Answers a refused client with one error and closes (over TLS on the TLS
/// port, so the client can read why).
async fn reject(stream: TcpStream, tls: Option<TlsAcceptor>, msg: &str) {
    let mut out = BytesMut::new();
    ReplyWriter::new(&mut out, Protocol::Resp2).error(msg.as_bytes());
    match tls {
        None => {
            let mut stream = stream;
            let _ = stream.write_all(&out).await;
        }
        Some(acceptor) => {
            if let Ok(mut s) = crate::tls::accept(&acceptor, stream).await {
                let _ = s.write_all(&out).await;
                let _ = s.shutdown().await;
            }
        }
    }
}

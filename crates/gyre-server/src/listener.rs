//! The RESP listener: accepts connections and hands each to its own task.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::Context;
use bytes::BytesMut;
use gyre_resp::{Protocol, ReplyWriter};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tracing::{info, warn};

use crate::client::{ClientInfo, ClientState, Registration};
use crate::config::Config;
use crate::conn;
use crate::http::HttpBackend;
use crate::shared::Shared;

pub async fn run(config: Config) -> anyhow::Result<()> {
    let bind = config.get("bind").expect("declared");
    let port: u16 = config.get("port").expect("declared").parse().expect("validated port");
    let dir = config.get("dir").expect("declared");
    // The HTTP API listens before recovery, so /health answers while data loads.
    let http = HttpBackend::default().into();
    let (http_stop, http_task) = start_http(&config, &bind, &http).await?;
    let shared = tokio::task::spawn_blocking(move || Shared::start(config)).await.context("recovery")??;
    http.set_ready(shared.clone());
    let listener = TcpListener::bind((bind.as_str(), port)).await.with_context(|| format!("binding {bind}:{port}"))?;
    let local = listener.local_addr()?;
    shared.tcp_port.store(u64::from(local.port()), Ordering::Relaxed);
    info!(address = %local, data_dir = %dir, "ready to accept connections");
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = tokio::signal::ctrl_c() => break,
            _ = sigterm.recv() => break,
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
            tokio::spawn(reject(stream, "ERR max number of clients reached"));
            continue;
        }
        let laddr = stream.local_addr().unwrap_or(local);
        let info = Arc::new(ClientInfo::new(shared.clients.next_id(), peer, laddr));
        shared.clients.add(info.clone());
        let task_shared = shared.clone();
        let task_info = info.clone();
        let handle = tokio::spawn(async move {
            let _registration = Registration { registry: &task_shared.clients, id: task_info.id };
            conn::serve(stream, task_shared.clone(), ClientState::new(task_info)).await;
        });
        *info.abort.lock() = Some(handle.abort_handle());
        if info.killed.load(Ordering::Relaxed) {
            handle.abort();
        }
    }
    // Graceful stop (the fuller version, with in-flight commands and a final
    // snapshot, belongs to the operations work): stop accepting, make the log
    // durable, leave. The data-directory lock goes with the process.
    info!("shutting down: signal received");
    let _ = http_stop.send(());
    if let Some(task) = http_task {
        let _ = task.await;
    }
    shared.persistence.close();
    info!("bye");
    Ok(())
}

/// Binds and serves the HTTP API when `http-port` is set. Returns the sender
/// that stops it and its task.
async fn start_http(
    config: &Config,
    bind: &str,
    backend: &Arc<HttpBackend>,
) -> anyhow::Result<(tokio::sync::oneshot::Sender<()>, Option<tokio::task::JoinHandle<std::io::Result<()>>>)> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let port: u16 = config.get("http-port").expect("declared").parse().expect("validated port");
    if port == 0 {
        return Ok((stop, None));
    }
    let listener =
        TcpListener::bind((bind, port)).await.with_context(|| format!("binding the HTTP API to {bind}:{port}"))?;
    let limits = gyre_http::HttpLimits {
        body_bytes_max: config.hot.proto_max_bulk_len.load(Ordering::Relaxed) as usize,
        ..Default::default()
    };
    let task = tokio::spawn(gyre_http::serve(listener, None, backend.clone(), limits, async {
        let _ = stopped.await;
    }));
    Ok((stop, Some(task)))
}

async fn reject(mut stream: TcpStream, msg: &str) {
    let mut out = BytesMut::new();
    ReplyWriter::new(&mut out, Protocol::Resp2).error(msg.as_bytes());
    let _ = stream.write_all(&out).await;
}

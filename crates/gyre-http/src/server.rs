//! [`serve`]: the accept loop, one task per connection (HTTP/1.1 through
//! hyper, optionally inside TLS), the connection limit, and graceful shutdown.
//!
//! Limits ([`HttpLimits`]), each with a default constant:
//! * `connections_max`: connections beyond it get a plain `503` (TLS ones are
//!   just closed: answering would cost a handshake) and are counted in
//!   `gyre_http_rejected_connections_total`.
//! * `header_read_timeout`: time to send a request's headers, counted from
//!   the moment the connection waits for them, so it also closes idle
//!   keep-alive connections and clients that connect and never send. The TLS
//!   handshake has the same bound.
//! * `body_bytes_max` and `body_read_timeout`: see the routes (413 / 408).
//! * `shutdown_grace`: after the shutdown future completes, requests in
//!   flight get this long to finish; connections still open then are dropped.

use std::future::Future;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use crate::backend::Backend;
use crate::metrics::HttpStats;
use crate::routes::{router, AppState};

/// Default largest request body: 512 MiB, Redis's `proto-max-bulk-len`.
pub const BODY_BYTES_MAX_DEFAULT: usize = 512 * 1024 * 1024;
/// Default time a client has to send request headers (and a TLS handshake).
pub const HEADER_READ_TIMEOUT_DEFAULT: Duration = Duration::from_secs(30);
/// Default time a client has to send a request body.
pub const BODY_READ_TIMEOUT_DEFAULT: Duration = Duration::from_secs(120);
/// Default most HTTP connections open at once.
pub const CONNECTIONS_MAX_DEFAULT: usize = 1024;
/// Default time requests in flight get to finish at shutdown.
pub const SHUTDOWN_GRACE_DEFAULT: Duration = Duration::from_secs(5);

/// Pause after a failed accept (e.g. out of file descriptors) before trying
/// again, so the loop does not spin.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(100);

/// The answer to a connection over `connections_max`.
const TOO_MANY_CONNECTIONS: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
content-length: 32\r\nconnection: close\r\n\r\n{\"error\":\"too many connections\"}";

/// Bounds on what one client can make the server hold or wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// Largest request body in bytes; larger ones get 413. Must be > 0.
    pub body_bytes_max: usize,
    /// Time to send request headers (also the idle keep-alive timeout and the
    /// TLS handshake timeout). Must be > 0.
    pub header_read_timeout: Duration,
    /// Time to send a request body, from the handler's first read; 408 beyond.
    pub body_read_timeout: Duration,
    /// Most connections open at once. Must be > 0.
    pub connections_max: usize,
    /// Time requests in flight get to finish once shutdown starts.
    pub shutdown_grace: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            body_bytes_max: BODY_BYTES_MAX_DEFAULT,
            header_read_timeout: HEADER_READ_TIMEOUT_DEFAULT,
            body_read_timeout: BODY_READ_TIMEOUT_DEFAULT,
            connections_max: CONNECTIONS_MAX_DEFAULT,
            shutdown_grace: SHUTDOWN_GRACE_DEFAULT,
        }
    }
}

/// Serves the HTTP API on `listener` until `shutdown` completes, then lets
/// requests in flight finish (at most `limits.shutdown_grace`) and returns.
///
/// With `tls`, every connection is TLS (HTTPS); its ALPN list is replaced by
/// `http/1.1`. Errors of single connections are logged at debug level and
/// never end the loop; the `Result` is for the caller's `?` and is `Ok`.
///
/// # Panics
/// When a limit documented as "must be > 0" is 0 (a configuration bug the
/// caller must catch first).
pub async fn serve<B: Backend>(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    backend: Arc<B>,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    assert!(limits.body_bytes_max > 0, "body_bytes_max must be > 0");
    assert!(limits.connections_max > 0, "connections_max must be > 0");
    assert!(!limits.header_read_timeout.is_zero(), "header_read_timeout must be > 0");
    let acceptor = tls.map(|config| {
        let mut config = (*config).clone();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        TlsAcceptor::from(Arc::new(config))
    });
    let stats = Arc::new(HttpStats::new());
    let app = router(AppState { backend, limits: limits.clone(), stats: stats.clone() });
    let permits = Arc::new(Semaphore::new(limits.connections_max));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let addr = listener.local_addr()?;
    info!(%addr, tls = acceptor.is_some(), "HTTP API listening");
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _peer)) => stream,
                    Err(e) => {
                        warn!(error = %e, "HTTP accept failed; retrying");
                        tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
                        continue;
                    }
                };
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    refuse(stream, acceptor.is_some(), &stats);
                    continue;
                };
                let conn = Connection::new(app.clone(), limits.clone(), stop_rx.clone(), stats.clone());
                tasks.spawn(conn.run(stream, acceptor.clone(), permit));
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let open = tasks.len();
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(limits.shutdown_grace, drain).await.is_err() {
        warn!(open = tasks.len(), "HTTP connections still open after the shutdown grace period; dropping them");
        tasks.shutdown().await;
    }
    info!(%addr, connections_closed = open, "HTTP API stopped");
    Ok(())
}

/// Answers a connection over the limit without waiting on it, and closes it.
fn refuse(stream: TcpStream, tls: bool, stats: &HttpStats) {
    stats.rejected_connections.fetch_add(1, Ordering::Relaxed);
    debug!("HTTP connection refused: connections_max reached");
    if !tls {
        // A fresh socket's send buffer takes these bytes whole; if not, the
        // client sees a close, which says the same.
        let _ = stream.try_write(TOO_MANY_CONNECTIONS);
    }
}

/// What one connection's task needs.
struct Connection {
    app: Router,
    limits: HttpLimits,
    stop: watch::Receiver<bool>,
    stats: Arc<HttpStats>,
}

impl Connection {
    /// Counts the connection open until this value is dropped.
    fn new(app: Router, limits: HttpLimits, stop: watch::Receiver<bool>, stats: Arc<HttpStats>) -> Self {
        stats.open_connections.fetch_add(1, Ordering::Relaxed);
        Connection { app, limits, stop, stats }
    }

    async fn run(self, stream: TcpStream, acceptor: Option<TlsAcceptor>, _permit: OwnedSemaphorePermit) {
        let _ = stream.set_nodelay(true);
        match acceptor {
            None => self.http(stream).await,
            Some(acceptor) => {
                match tokio::time::timeout(self.limits.header_read_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => self.http(tls).await,
                    Ok(Err(e)) => debug!(error = %e, "TLS handshake failed"),
                    Err(_) => debug!("TLS handshake timed out"),
                }
            }
        }
    }

    /// HTTP/1.1 on `io` until the client leaves, a timeout, or shutdown.
    async fn http<I>(mut self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut builder = http1::Builder::new();
        builder.timer(TokioTimer::new()).header_read_timeout(self.limits.header_read_timeout).keep_alive(true);
        let service = TowerToHyperService::new(self.app.clone());
        let conn = builder.serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);
        let result = tokio::select! {
            r = conn.as_mut() => r,
            () = stopped(&mut self.stop) => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = result {
            debug!(error = %e, "HTTP connection ended with an error");
        }
    }
}

/// Completes when shutdown starts (or the accept loop is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An Err means the sender is gone, which only happens after shutdown.
    let _ = stop.wait_for(|stop| *stop).await.map(|_| ());
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.stats.open_connections.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_a_complete_http_response() {
        let text = std::str::from_utf8(TOO_MANY_CONNECTIONS).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let parsed: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(parsed["error"], "too many connections");
    }
}

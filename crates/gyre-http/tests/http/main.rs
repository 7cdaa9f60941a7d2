//! The HTTP API over real sockets: `gyre_http::serve` on a loopback port in
//! front of an in-memory [`fake::Fake`] backend, driven by `reqwest` (and raw
//! TCP where a test needs to misbehave at the byte level).

mod auth;
mod commands;
mod fake;
mod keys;
mod limits;
mod metrics;
mod service;
mod tls;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gyre_http::{rustls, HttpLimits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use fake::Fake;

/// A running API server on 127.0.0.1.
pub struct TestServer {
    pub addr: SocketAddr,
    pub backend: Arc<Fake>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<io::Result<()>>,
}

pub async fn start(fake: Fake) -> TestServer {
    start_with(fake, HttpLimits::default(), None).await
}

pub async fn start_with(fake: Fake, limits: HttpLimits, tls: Option<Arc<rustls::ServerConfig>>) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let backend = Arc::new(fake);
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let task = tokio::spawn(gyre_http::serve(listener, tls, backend.clone(), limits, shutdown));
    TestServer { addr, backend, stop: Some(stop), task }
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Starts shutdown and waits for `serve` to return.
    pub async fn shutdown(mut self) -> io::Result<()> {
        let _ = self.stop.take().expect("not stopped yet").send(());
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("serve returns after shutdown")
            .expect("serve did not panic")
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap()
}

/// Sends `request` on a new connection and reads until the server closes it
/// (or 5 s pass).
pub async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    read_to_close(&mut stream).await
}

/// Everything the server sends until it closes the connection (5 s at most).
pub async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The JSON body of a response, asserting its content type.
pub async fn json_body(response: reqwest::Response) -> serde_json::Value {
    let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(content_type.as_deref(), Some("application/json"));
    response.json().await.unwrap()
}

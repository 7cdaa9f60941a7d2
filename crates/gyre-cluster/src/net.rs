//! The runtime seam: every socket the cluster opens, and its randomness, come
//! through [`Net`], so a simulation (turmoil) can run several nodes in one
//! process from one seed, and production uses [`TokioNet`]. Time is tokio's
//! clock, which turmoil simulates.
//!
//! Also the TCP framing (`u32` big-endian length, then the payload; at most
//! [`FRAME_BYTES_MAX`], and [`HANDSHAKE_FRAME_BYTES_MAX`] before a peer is
//! authenticated) and the link handshake: with a cluster secret each
//! side proves it holds it by an HMAC-SHA256 over the other side's fresh
//! nonce (mutual challenge-response); without one the handshake still runs,
//! with empty proofs, so both kinds of nodes refuse each other plainly.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use rand::{Rng, SeedableRng};
use serde::{de::DeserializeOwned, Serialize};
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A byte stream (a TCP connection, real or simulated).
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Stream for T {}
pub type BoxStream = Box<dyn Stream>;

/// Sockets and randomness, real or simulated.
pub trait Net: Send + Sync + 'static {
    fn listen(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<Box<dyn Listener>>>;
    fn bind_udp(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<Arc<dyn Datagrams>>>;
    /// `addr` is `host:port`.
    fn connect(&self, addr: String) -> BoxFuture<'static, io::Result<BoxStream>>;
    /// Seeds this node's generators (SWIM's choices, nonces).
    fn seed(&self) -> u64;
}

pub trait Listener: Send {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<BoxStream>>;
}

pub trait Datagrams: Send + Sync {
    fn send_to<'a>(&'a self, buf: &'a [u8], to: SocketAddr) -> BoxFuture<'a, io::Result<usize>>;
    fn recv_from<'a>(&'a self, buf: &'a mut [u8]) -> BoxFuture<'a, io::Result<(usize, SocketAddr)>>;
}

/// The operating system's sockets; randomness from the OS.
pub struct TokioNet;

impl Net for TokioNet {
    fn listen(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<Box<dyn Listener>>> {
        Box::pin(async move {
            let l = tokio::net::TcpListener::bind(addr).await?;
            Ok(Box::new(l) as Box<dyn Listener>)
        })
    }

    fn bind_udp(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<Arc<dyn Datagrams>>> {
        Box::pin(async move {
            let s = tokio::net::UdpSocket::bind(addr).await?;
            Ok(Arc::new(s) as Arc<dyn Datagrams>)
        })
    }

    fn connect(&self, addr: String) -> BoxFuture<'static, io::Result<BoxStream>> {
        Box::pin(async move {
            let s = tokio::net::TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            Ok(Box::new(s) as BoxStream)
        })
    }

    fn seed(&self) -> u64 {
        rand::rngs::StdRng::from_os_rng().random()
    }
}

impl Listener for tokio::net::TcpListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<BoxStream>> {
        Box::pin(async move {
            let (s, _) = tokio::net::TcpListener::accept(self).await?;
            s.set_nodelay(true)?;
            Ok(Box::new(s) as BoxStream)
        })
    }
}

impl Datagrams for tokio::net::UdpSocket {
    fn send_to<'a>(&'a self, buf: &'a [u8], to: SocketAddr) -> BoxFuture<'a, io::Result<usize>> {
        Box::pin(tokio::net::UdpSocket::send_to(self, buf, to))
    }

    fn recv_from<'a>(&'a self, buf: &'a mut [u8]) -> BoxFuture<'a, io::Result<(usize, SocketAddr)>> {
        Box::pin(tokio::net::UdpSocket::recv_from(self, buf))
    }
}

/// The largest frame on a cluster link (a topology snapshot is well under).
pub const FRAME_BYTES_MAX: usize = 16 << 20;

pub async fn write_frame<T: Serialize>(s: &mut BoxStream, msg: &T) -> io::Result<()> {
    let body = serde_json::to_vec(msg).map_err(io::Error::other)?;
    if body.len() > FRAME_BYTES_MAX {
        return Err(io::Error::other(format!("frame of {} bytes over the limit", body.len())));
    }
    let mut buf = Vec::with_capacity(4 + body.len());
    buf.extend_from_slice(&(body.len() as u32).to_be_bytes());
    buf.extend_from_slice(&body);
    s.write_all(&buf).await?;
    s.flush().await
}

pub async fn read_frame<T: DeserializeOwned>(s: &mut BoxStream) -> io::Result<T> {
    read_frame_max(s, FRAME_BYTES_MAX).await
}

/// Handshake frames are tiny; an unauthenticated peer gets no more.
pub const HANDSHAKE_FRAME_BYTES_MAX: usize = 1024;

async fn read_frame_max<T: DeserializeOwned>(s: &mut BoxStream, max: usize) -> io::Result<T> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("frame of {len} bytes over the limit")));
    }
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await?;
    serde_json::from_slice(&body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// The shared cluster secret (`--cluster-secret`).
#[derive(Clone)]
pub struct Secret(Arc<Vec<u8>>);

/// Bytes an HMAC-SHA256 adds to a datagram.
pub const MAC_BYTES: usize = 32;

impl Secret {
    pub fn new(bytes: &[u8]) -> Secret {
        Secret(Arc::new(bytes.to_vec()))
    }

    pub fn mac(&self, parts: &[&[u8]]) -> [u8; MAC_BYTES] {
        let mut m = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }

    pub fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        let mut m = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        for p in parts {
            m.update(p);
        }
        m.verify_slice(tag).is_ok()
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Challenge {
    nonce: [u8; 16],
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Proof {
    nonce: [u8; 16],
    mac: Vec<u8>,
}

fn proof(secret: Option<&Secret>, role: &[u8], nonce: &[u8]) -> Vec<u8> {
    secret.map_or_else(Vec::new, |s| s.mac(&[b"gyre-cluster-link-v1", role, nonce]).to_vec())
}

fn check(secret: Option<&Secret>, role: &[u8], nonce: &[u8], mac: &[u8]) -> io::Result<()> {
    let ok = match secret {
        Some(s) => s.verify(&[b"gyre-cluster-link-v1", role, nonce], mac),
        None => mac.is_empty(),
    };
    if ok {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "cluster link refused: the peer does not hold the cluster secret",
        ))
    }
}

/// The connecting side: send a nonce, check the acceptor's proof over it,
/// prove ours over the acceptor's nonce.
pub async fn handshake_connect(s: &mut BoxStream, secret: Option<&Secret>, nonce: [u8; 16]) -> io::Result<()> {
    write_frame(s, &Challenge { nonce }).await?;
    let theirs: Proof = read_frame_max(s, HANDSHAKE_FRAME_BYTES_MAX).await?;
    check(secret, b"acceptor", &nonce, &theirs.mac)?;
    write_frame(s, &Proof { nonce: [0; 16], mac: proof(secret, b"connector", &theirs.nonce) }).await
}

/// The accepting side of [`handshake_connect`].
pub async fn handshake_accept(s: &mut BoxStream, secret: Option<&Secret>, nonce: [u8; 16]) -> io::Result<()> {
    let c: Challenge = read_frame_max(s, HANDSHAKE_FRAME_BYTES_MAX).await?;
    write_frame(s, &Proof { nonce, mac: proof(secret, b"acceptor", &c.nonce) }).await?;
    let theirs: Proof = read_frame_max(s, HANDSHAKE_FRAME_BYTES_MAX).await?;
    check(secret, b"connector", &nonce, &theirs.mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pair() -> (BoxStream, BoxStream) {
        let (a, b) = tokio::io::duplex(1 << 16);
        (Box::new(a), Box::new(b))
    }

    #[tokio::test]
    async fn handshake_accepts_the_same_secret_and_refuses_others() {
        for (x, y, ok) in
            [(Some("s"), Some("s"), true), (Some("s"), Some("t"), false), (None, Some("s"), false), (None, None, true)]
        {
            let (mut a, mut b) = pair().await;
            let sx = x.map(|s| Secret::new(s.as_bytes()));
            let sy = y.map(|s| Secret::new(s.as_bytes()));
            let acc = tokio::spawn(async move { handshake_accept(&mut b, sy.as_ref(), [2; 16]).await });
            let con = handshake_connect(&mut a, sx.as_ref(), [1; 16]).await;
            drop(a);
            let acc = acc.await.unwrap();
            assert_eq!(con.is_ok() && acc.is_ok(), ok, "{x:?} vs {y:?}: {con:?} {acc:?}");
        }
    }

    #[test]
    fn frames_over_the_limit_are_refused() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let (mut a, mut b) = pair().await;
            a.write_all(&((FRAME_BYTES_MAX as u32 + 1).to_be_bytes())).await.unwrap();
            let r: io::Result<u8> = read_frame(&mut b).await;
            assert_eq!(r.unwrap_err().kind(), io::ErrorKind::InvalidData);
            // Before the handshake, a peer may send a kilobyte at most.
            let (mut a, mut b) = pair().await;
            a.write_all(&((HANDSHAKE_FRAME_BYTES_MAX as u32 + 1).to_be_bytes())).await.unwrap();
            assert!(handshake_accept(&mut b, None, [0; 16]).await.is_err());
        });
    }
}

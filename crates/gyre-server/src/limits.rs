//! Connection limits: idle `timeout`, `tcp-keepalive`, protected mode, and
//! the normal class of `client-output-buffer-limit`.
//!
//! Output: a connection writes its replies before it reads more requests, so
//! a client that sends requests and never reads stops being read (TCP
//! backpressure) and costs at most its pending replies. With a normal-class
//! limit set, a client is disconnected as in Redis when its output buffer is
//! above the hard limit, or above the soft limit for longer than its seconds.
//! The output buffer is what the client has not taken: the replies the
//! kernel did not accept yet plus the kernel's send queue for the socket
//! (SIOCOUTQ), checked whenever a write cannot complete at once. (Subscribers'
//! messages have the pubsub class, enforced in `pubsub`.)
//!
//! Protected mode (`protected-mode yes`, the default): while the default user
//! needs no password, only loopback clients are served; others get Redis's
//! explanatory `-DENIED` error and are closed.

use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::pubsub::OutputLimit;
use crate::shared::Shared;

/// Redis's protected-mode refusal, naming Gyre.
pub const PROTECTED_MODE_ERROR: &str = "DENIED Gyre is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Gyre you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Gyre from the same host the server is running, however MAKE SURE Gyre is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Gyre configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.";

/// Whether protected mode refuses a client from `peer`.
pub fn protected_mode_refuses(protected_mode: bool, default_user_nopass: bool, peer: IpAddr) -> bool {
    let loopback = match peer {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    };
    protected_mode && default_user_nopass && !loopback
}

/// Whether protected mode refuses `peer` now.
pub fn refuses(shared: &Shared, peer: IpAddr) -> bool {
    let on = shared.config.hot.protected_mode.load(Ordering::Relaxed);
    on && protected_mode_refuses(on, shared.acl.default_user().nopass, peer)
}

/// Turns on TCP keepalive as Redis does: probes after `secs` idle, then every
/// `secs / 3`, giving up after 3 unanswered probes. 0 leaves it off.
pub fn set_keepalive(stream: &TcpStream, secs: u64) {
    if secs == 0 {
        return;
    }
    let fd = stream.as_raw_fd();
    let set = |level: i32, name: i32, value: i32| {
        // SAFETY: setsockopt on a socket we own, with a pointer to a live i32
        // and its size.
        unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                (&value as *const i32).cast(),
                std::mem::size_of::<i32>() as libc::socklen_t,
            )
        }
    };
    let idle = secs.min(i32::MAX as u64) as i32;
    let ok = set(libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1) == 0
        && set(libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, idle) == 0
        && set(libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, (idle / 3).max(1)) == 0
        && set(libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 3) == 0;
    if !ok {
        tracing::debug!(error = %std::io::Error::last_os_error(), "setting TCP keepalive failed");
    }
}

/// Reads more of the request, or None when the client stayed idle past
/// `timeout` (then the connection is closed, as Redis does).
pub async fn read_or_idle<S: AsyncReadExt + Unpin>(
    stream: &mut S,
    input: &mut BytesMut,
    shared: &Shared,
    client_id: u64,
) -> Option<std::io::Result<usize>> {
    let secs = shared.config.hot.timeout_secs.load(Ordering::Relaxed);
    if secs == 0 {
        return Some(stream.read_buf(input).await);
    }
    match tokio::time::timeout(Duration::from_secs(secs), stream.read_buf(input)).await {
        Ok(r) => Some(r),
        Err(_) => {
            tracing::debug!(client = client_id, "closing idle client");
            None
        }
    }
}

/// How often a blocked write re-checks the soft limit's clock.
const SOFT_LIMIT_CHECK: Duration = Duration::from_millis(250);

/// Writes `out` (then flushes: a TLS stream may hold written bytes) under
/// the normal class of `client-output-buffer-limit`: fails (the caller closes
/// the connection) when the bytes the client has not taken exceed the hard
/// limit, or the soft limit for its seconds.
pub async fn write_limited<S: crate::tls::ClientStream>(
    stream: &mut S,
    out: &[u8],
    shared: &Shared,
) -> std::io::Result<()> {
    let limit: OutputLimit = *shared.config.hot.normal_limit.read();
    if limit.hard == 0 && limit.soft == 0 {
        stream.write_all(out).await?;
        return stream.flush().await;
    }
    let mut sent = 0;
    let mut over_soft_since: Option<Instant> = None;
    // The limits apply to the replies waiting to be sent (as to Redis's reply
    // buffers, checked when a reply is added), so a reply larger than the
    // hard limit is never sent, however fast the client reads; then to what
    // is left while the client takes it.
    let mut wait = Duration::ZERO;
    loop {
        let pending = (out.len() - sent) as u64 + kernel_send_queue_bytes(stream.tcp());
        if limit.hard > 0 && pending > limit.hard {
            return Err(over_limit(pending, "hard"));
        }
        if limit.soft > 0 && pending > limit.soft {
            let since = *over_soft_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= Duration::from_secs(limit.soft_secs) {
                return Err(over_limit(pending, "soft"));
            }
        } else {
            over_soft_since = None;
        }
        match tokio::time::timeout(wait, stream.write(&out[sent..])).await {
            Ok(Ok(0)) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(Ok(n)) => sent += n,
            Ok(Err(e)) => return Err(e),
            Err(_) => {}
        }
        if sent == out.len() {
            return stream.flush().await;
        }
        wait = SOFT_LIMIT_CHECK;
    }
}

/// Bytes in the socket's send queue that the peer has not acknowledged.
fn kernel_send_queue_bytes(stream: &TcpStream) -> u64 {
    let mut queued: libc::c_int = 0;
    // SAFETY: TIOCOUTQ (SIOCOUTQ) on a socket we own writes one c_int.
    let rc = unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
    if rc == 0 {
        queued.max(0) as u64
    } else {
        0
    }
}

fn over_limit(pending: u64, which: &str) -> std::io::Error {
    tracing::warn!(
        pending_bytes = pending,
        limit = which,
        "client scheduled to be closed ASAP for overcoming of output buffer limits (class normal)"
    );
    std::io::Error::other("client-output-buffer-limit reached")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_mode_refuses_only_remote_clients_without_a_password() {
        let remote: IpAddr = "192.0.2.7".parse().unwrap();
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let local6: IpAddr = "::1".parse().unwrap();
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert!(protected_mode_refuses(true, true, remote));
        assert!(!protected_mode_refuses(true, true, local));
        assert!(!protected_mode_refuses(true, true, local6));
        assert!(!protected_mode_refuses(true, true, mapped));
        assert!(!protected_mode_refuses(false, true, remote), "protected-mode no");
        assert!(!protected_mode_refuses(true, false, remote), "a password is set");
    }
}

//! Connection limits: maxclients, the idle timeout, clients that send and
//! never read (client-output-buffer-limit normal class), the query buffer
//! limit, and the listener settings (tcp-keepalive, tcp-backlog).

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn maxclients_refuses_the_next_client_with_an_error() {
    let s = Server::start();
    let mut admin = s.raw();
    assert_eq!(admin.call(&["CONFIG", "SET", "maxclients", "2"]), Reply::simple("OK"));
    // The start-up probes' connections may not be gone yet on a busy machine:
    // wait until the admin connection is the only client.
    let alone = wait_for(Duration::from_secs(5), || {
        info_field(&admin.call(&["INFO", "clients"]).text(), "connected_clients").as_deref() == Some("1")
    });
    assert!(alone, "the start-up probes' connections closed");
    let mut second = s.raw();
    assert_eq!(second.call(&["PING"]), Reply::simple("PONG"));
    let mut third = s.raw();
    assert_eq!(third.read_reply(), Reply::error("ERR max number of clients reached"));
    third.expect_closed();
    assert_eq!(admin.call(&["PING"]), Reply::simple("PONG"), "the others are unaffected");
    drop(second);
    // Room again once a client leaves.
    let ok = wait_for(Duration::from_secs(5), || {
        let mut c = s.raw();
        c.send_cmd(&["PING"]);
        c.read_reply() == Reply::simple("PONG")
    });
    assert!(ok, "a slot frees when a client disconnects");
    let info = admin.call(&["INFO", "stats"]).text();
    let rejected: u64 = info_field(&info, "rejected_connections").unwrap().parse().unwrap();
    assert!(rejected >= 1, "{info}");
}

#[test]
fn idle_clients_are_closed_after_timeout_but_subscribers_are_not() {
    let s = Server::start();
    let mut admin = s.raw();
    assert_eq!(admin.call(&["CONFIG", "SET", "timeout", "1"]), Reply::simple("OK"));
    let mut idle = s.raw();
    assert_eq!(idle.call(&["PING"]), Reply::simple("PONG"));
    let mut sub = s.raw();
    sub.call(&["SUBSCRIBE", "ch"]);
    let started = Instant::now();
    // An active client stays while the idle one goes.
    let mut busy = s.raw();
    while started.elapsed() < Duration::from_millis(2500) {
        assert_eq!(busy.call(&["PING"]), Reply::simple("PONG"));
        std::thread::sleep(Duration::from_millis(200));
    }
    idle.expect_closed();
    let mut publisher = s.raw();
    assert_eq!(publisher.call(&["PUBLISH", "ch", "still-here"]), Reply::Int(1));
    assert_eq!(sub.read_reply().items()[2], Reply::bulk("still-here"));
}

#[test]
fn a_client_that_never_reads_is_disconnected_by_the_soft_limit() {
    let s = Server::start();
    let mut admin = s.raw();
    assert_eq!(admin.call(&["CONFIG", "SET", "client-output-buffer-limit", "normal 0 64kb 1"]), Reply::simple("OK"));
    let value = "x".repeat(256 * 1024);
    assert_eq!(admin.call(&["SET", "big", &value]), Reply::simple("OK"));
    let mut greedy = s.raw();
    let get = encode_str(&["GET", "big"]);
    // Sends requests and never reads: replies pile up in the kernel, then in
    // the server, until the soft limit's second is over. Partial writes
    // continue where they stopped, so the request stream stays well formed.
    let deadline = Instant::now() + Duration::from_secs(30);
    greedy.stream.set_write_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut pos = 0;
    let mut closed = false;
    while Instant::now() < deadline {
        match greedy.stream.write(&get[pos..]) {
            Ok(n) => pos = (pos + n) % get.len(),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                if admin.call(&["CLIENT", "LIST"]).text().lines().count() == 1 {
                    closed = true;
                    break;
                }
            }
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    assert!(closed, "the client that never reads was not disconnected");
    let ok = wait_for(Duration::from_secs(5), || admin.call(&["CLIENT", "LIST"]).text().lines().count() == 1);
    assert!(ok, "only the admin connection is left");
    assert_eq!(admin.call(&["GET", "big"]).text().len(), value.len(), "the server serves the others");
}

#[test]
fn a_reply_over_the_hard_limit_disconnects() {
    let s = Server::start();
    let mut admin = s.raw();
    assert_eq!(admin.call(&["CONFIG", "SET", "client-output-buffer-limit", "normal 1mb 0 0"]), Reply::simple("OK"));
    let value = "y".repeat(32 << 20);
    admin.send_cmd(&["SET", "huge", &value]);
    assert_eq!(admin.read_reply(), Reply::simple("OK"));
    let mut c = s.raw();
    c.send_cmd(&["GET", "huge"]);
    // The server closes the connection: the read ends before the whole reply.
    c.set_read_timeout(Duration::from_secs(10));
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match std::io::Read::read(&mut c.stream, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    assert!(got < value.len(), "got the whole {got}-byte reply despite the 1mb hard limit");
    assert_eq!(admin.call(&["STRLEN", "huge"]), Reply::Int(value.len() as i64));
    // Small replies are unaffected.
    assert_eq!(s.raw().call(&["PING"]), Reply::simple("PONG"));
}

#[test]
fn the_query_buffer_limit_closes_the_client() {
    let s = Server::start();
    let mut admin = s.raw();
    assert_eq!(admin.call(&["CONFIG", "SET", "client-query-buffer-limit", "1mb"]), Reply::simple("OK"));
    let mut c = s.raw();
    // One bulk argument longer than the query buffer limit, sent slowly.
    let header = format!("*2\r\n$3\r\nGET\r\n${}\r\n", 4 << 20);
    c.send(header.as_bytes());
    let chunk = vec![b'z'; 64 * 1024];
    let mut refused = false;
    for _ in 0..64 {
        if c.try_send(&chunk).is_err() {
            refused = true;
            break;
        }
    }
    if !refused {
        c.expect_closed();
    }
    assert_eq!(admin.call(&["PING"]), Reply::simple("PONG"));
}

#[test]
fn listener_settings_are_reported() {
    let s = Server::start_with(&["--tcp-keepalive", "60", "--tcp-backlog", "128"]);
    let mut r = s.raw();
    assert_eq!(r.call(&["CONFIG", "GET", "tcp-keepalive"]).items()[1], Reply::bulk("60"));
    assert_eq!(r.call(&["CONFIG", "GET", "tcp-backlog"]).items()[1], Reply::bulk("128"));
    assert!(r.call(&["CONFIG", "SET", "tcp-backlog", "5"]).text().contains("can't set immutable config"));
    assert_eq!(r.call(&["CONFIG", "GET", "protected-mode"]).items()[1], Reply::bulk("yes"));
}

//! Every limit of `HttpLimits`, and bad input that must be a clear 4xx.

use std::time::{Duration, Instant};

use gyre_http::{
    HttpLimits, BODY_BYTES_MAX_DEFAULT, BODY_READ_TIMEOUT_DEFAULT, CONNECTIONS_MAX_DEFAULT, HEADER_READ_TIMEOUT_DEFAULT,
};
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::fake::Fake;
use crate::{client, json_body, raw, read_to_close, start, start_with};

#[test]
fn defaults() {
    let limits = HttpLimits::default();
    assert_eq!(limits.body_bytes_max, 512 * 1024 * 1024, "proto-max-bulk-len");
    assert_eq!(limits.body_bytes_max, BODY_BYTES_MAX_DEFAULT);
    assert_eq!(limits.header_read_timeout, HEADER_READ_TIMEOUT_DEFAULT);
    assert_eq!(limits.body_read_timeout, BODY_READ_TIMEOUT_DEFAULT);
    assert_eq!(limits.connections_max, CONNECTIONS_MAX_DEFAULT);
}

fn small_body_limits() -> HttpLimits {
    HttpLimits { body_bytes_max: 1024, ..HttpLimits::default() }
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let server = start_with(Fake::new(), small_body_limits(), None).await;
    let c = client();
    let url = server.url("/v1/keys/big");
    assert_eq!(c.put(&url).body(vec![b'x'; 1024]).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let r = c.put(&url).body(vec![b'x'; 1025]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json_body(r).await, json!({"error": "the request body is larger than 1024 bytes"}));
    let big_command = json!(["SET", "k", "y".repeat(1100)]);
    let r = c.post(server.url("/v1/commands")).json(&big_command).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(server.backend.commands(), ["SET big ".to_owned() + &"x".repeat(1024)]);
}

#[tokio::test]
async fn chunked_bodies_over_the_limit_are_413_too() {
    let server = start_with(Fake::new(), small_body_limits(), None).await;
    let mut request =
        b"PUT /v1/keys/k HTTP/1.1\r\nhost: x\r\nconnection: close\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..3 {
        request.extend_from_slice(b"200\r\n"); // 512 bytes a chunk
        request.extend_from_slice(&[b'z'; 512]);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let response = raw(server.addr, &request).await;
    assert!(response.starts_with("HTTP/1.1 413 "), "{response}");
    assert!(server.backend.commands().is_empty());
}

#[tokio::test]
async fn a_client_that_never_sends_headers_is_closed() {
    let limits = HttpLimits { header_read_timeout: Duration::from_millis(300), ..HttpLimits::default() };
    let server = start_with(Fake::new(), limits, None).await;
    for sent in [&b""[..], b"GET /health HTTP/1.1\r\nhost: x\r\n"] {
        let start = Instant::now();
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(sent).await.unwrap();
        let received = read_to_close(&mut stream).await;
        let waited = start.elapsed();
        assert!(!received.contains("200 OK"), "{received}");
        assert!(waited >= Duration::from_millis(250) && waited < Duration::from_secs(3), "{waited:?}");
    }
    // An idle keep-alive connection is closed the same way after a request.
    let start = Instant::now();
    let response = raw(server.addr, b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_408() {
    let limits = HttpLimits { body_read_timeout: Duration::from_millis(300), ..HttpLimits::default() };
    let server = start_with(Fake::new(), limits, None).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"PUT /v1/keys/k HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nonly ten b").await.unwrap();
    let start = Instant::now();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await.unwrap().unwrap();
    let response = String::from_utf8_lossy(&buf[..n]);
    assert!(response.starts_with("HTTP/1.1 408 "), "{response}");
    assert!(start.elapsed() >= Duration::from_millis(250));
    assert!(server.backend.commands().is_empty());
}

#[tokio::test]
async fn connections_over_the_limit_get_503() {
    let limits = HttpLimits { connections_max: 1, ..HttpLimits::default() };
    let server = start_with(Fake::new(), limits, None).await;
    // The first connection does a request and stays open (keep-alive).
    let mut first = TcpStream::connect(server.addr).await.unwrap();
    first.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = first.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200 "));
    let refused = raw(server.addr, b"").await;
    assert!(refused.starts_with("HTTP/1.1 503 "), "{refused}");
    assert!(refused.ends_with(r#"{"error":"too many connections"}"#), "{refused}");
    // Once the first leaves, its slot is free again.
    drop(first);
    let c = client();
    let mut ok = false;
    for _ in 0..50 {
        if c.get(server.url("/health")).send().await.is_ok_and(|r| r.status() == StatusCode::OK) {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ok, "a connection is accepted again after the first closed");
    let metrics = c.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("\ngyre_http_rejected_connections_total "), "{metrics}");
    assert!(!metrics.contains("\ngyre_http_rejected_connections_total 0\n"), "{metrics}");
}

#[tokio::test]
async fn oversized_request_headers_are_431() {
    let server = start(Fake::new()).await;
    let mut request = b"GET /health HTTP/1.1\r\nhost: x\r\nx-filler: ".to_vec();
    request.extend(std::iter::repeat_n(b'a', 512 * 1024));
    request.extend_from_slice(b"\r\n\r\n");
    let response = raw(server.addr, &request).await;
    assert!(response.starts_with("HTTP/1.1 431 "), "{response}");
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json_404_and_405() {
    let server = start(Fake::new()).await;
    let c = client();
    for path in ["/", "/v2/keys/k", "/v1/keys/", "/v1/key/k", "/metrics/x"] {
        let r = c.get(server.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(json_body(r).await["error"].as_str().unwrap().starts_with("no route for GET"));
    }
    let r = c.post(server.url("/v1/keys/k")).body("v").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    let allow = r.headers().get("allow").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    assert!(allow.contains("GET") && allow.contains("PUT") && allow.contains("DELETE"), "allow: {allow}");
    assert!(json_body(r).await["error"].is_string());
    assert_eq!(c.delete(server.url("/metrics")).send().await.unwrap().status(), StatusCode::METHOD_NOT_ALLOWED);
    // Garbage instead of HTTP gets a 400 from the HTTP layer, not a crash.
    let response = raw(server.addr, b"\x00\x01 not http at all\r\n\r\n").await;
    assert!(response.is_empty() || response.starts_with("HTTP/1.1 400 "), "{response}");
    assert_eq!(c.get(server.url("/health")).send().await.unwrap().status(), StatusCode::OK, "still serving");
}

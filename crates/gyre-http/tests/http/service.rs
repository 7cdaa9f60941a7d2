//! `/health`, `/ready`, `/openapi.json`, and graceful shutdown.

use std::time::{Duration, Instant};

use gyre_http::{HttpLimits, OPENAPI_JSON};
use reqwest::StatusCode;
use serde_json::json;
use tokio::net::TcpStream;

use crate::fake::Fake;
use crate::{client, json_body, start, start_with};

#[tokio::test]
async fn health_and_readiness() {
    let server = start(Fake::new()).await;
    let c = client();
    let r = c.get(server.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_body(r).await, json!({"status": "ok"}));
    server.backend.set_ready(false);
    let r = c.get(server.url("/ready")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json_body(r).await, json!({"status": "loading"}));
    assert_eq!(c.get(server.url("/health")).send().await.unwrap().status(), StatusCode::OK, "alive while loading");
    server.backend.set_ready(true);
    let r = c.get(server.url("/ready")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_body(r).await, json!({"status": "ready"}));
    // HEAD works on GET routes.
    assert_eq!(c.head(server.url("/health")).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn the_openapi_document_is_served_as_kept_in_the_repository() {
    let server = start(Fake::new()).await;
    let r = client().get(server.url("/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let served = r.text().await.unwrap();
    let in_repo = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json")).unwrap();
    assert_eq!(served, in_repo);
    assert_eq!(served, OPENAPI_JSON);
    let doc: serde_json::Value = serde_json::from_str(&served).unwrap();
    assert!(doc["paths"]["/v1/keys/{key}"]["put"].is_object());
}

#[tokio::test]
async fn shutdown_lets_requests_in_flight_finish_then_stops_listening() {
    let server = start(Fake::new()).await;
    let addr = server.addr;
    let url = server.url("/v1/commands");
    let slow = tokio::spawn(async move { client().post(url).json(&json!(["SLEEP", 300])).send().await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let start = Instant::now();
    server.shutdown().await.unwrap();
    assert!(start.elapsed() >= Duration::from_millis(150), "serve waited for the request in flight");
    let r = slow.await.unwrap().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(TcpStream::connect(addr).await.is_err(), "the listener is closed");
}

#[tokio::test]
async fn shutdown_drops_requests_still_running_after_the_grace_period() {
    let limits = HttpLimits { shutdown_grace: Duration::from_millis(200), ..HttpLimits::default() };
    let server = start_with(Fake::new(), limits, None).await;
    let url = server.url("/v1/commands");
    let slow = tokio::spawn(async move { client().post(url).json(&json!(["SLEEP", 20_000])).send().await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let start = Instant::now();
    server.shutdown().await.unwrap();
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(150) && took < Duration::from_secs(3), "{took:?}");
    assert!(slow.await.unwrap().is_err(), "the request was cut off");
}

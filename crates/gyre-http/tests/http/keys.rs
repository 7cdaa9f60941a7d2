//! `GET/PUT/DELETE /v1/keys/{key}` and `GET /v1/keys`.

use reqwest::StatusCode;
use serde_json::json;

use crate::fake::Fake;
use crate::{client, json_body, raw, start};

#[tokio::test]
async fn put_get_delete_raw_bytes() {
    let server = start(Fake::new()).await;
    let c = client();
    let url = server.url("/v1/keys/greeting");
    let r = c.put(&url).body(&b"hello \xff\x00 world"[..]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    assert_eq!(&r.bytes().await.unwrap()[..], b"hello \xff\x00 world");
    assert_eq!(c.delete(&url).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let r = c.delete(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(json_body(r).await, json!({"error": "no such key"}));
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // The endpoints are ordinary commands.
    let cmds = server.backend.commands();
    assert_eq!(
        cmds,
        ["SET greeting hello \u{fffd}\0 world", "GET greeting", "DEL greeting", "DEL greeting", "GET greeting"]
    );
}

#[tokio::test]
async fn json_get_shows_the_value_and_its_ttl() {
    let server = start(Fake::new()).await;
    let c = client();
    let url = server.url("/v1/keys/session");
    let r = c.put(format!("{url}?ttl=10")).body("token").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(server.backend.commands()[0], "SET session token PX 10000");
    let get = || c.get(&url).header("accept", "application/json").send();
    assert_eq!(json_body(get().await.unwrap()).await, json!({"value": "token", "ttl_ms": 10000}));
    server.backend.advance_ms(4_000);
    assert_eq!(json_body(get().await.unwrap()).await, json!({"value": "token", "ttl_ms": 6000}));
    server.backend.advance_ms(6_000);
    assert_eq!(get().await.unwrap().status(), StatusCode::NOT_FOUND, "expired");
    // Without expiry ttl_ms is null; bytes that are not UTF-8 come as base64.
    c.put(&url).body(&b"\xff\x00"[..]).send().await.unwrap();
    assert_eq!(json_body(get().await.unwrap()).await, json!({"value": {"base64": "/wA="}, "ttl_ms": null}));
}

#[tokio::test]
async fn json_put_body_with_text_or_base64_and_ttl() {
    let server = start(Fake::new()).await;
    let c = client();
    let url = server.url("/v1/keys/k");
    let r = c.put(&url).json(&json!({"value": "héllo", "ttl": 1.5})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(server.backend.commands()[0], "SET k héllo PX 1500");
    let r = c.put(&url).json(&json!({"value": {"base64": "AAEC"}})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(&c.get(&url).send().await.unwrap().bytes().await.unwrap()[..], b"\x00\x01\x02");
    // Without a JSON content type the JSON text is the value itself.
    c.put(&url).body(r#"{"value":"x"}"#).send().await.unwrap();
    assert_eq!(c.get(&url).send().await.unwrap().text().await.unwrap(), r#"{"value":"x"}"#);
}

#[tokio::test]
async fn bad_put_input_is_a_400_that_runs_nothing() {
    let server = start(Fake::new()).await;
    let c = client();
    let url = server.url("/v1/keys/k");
    let bad_json_bodies = [
        r#"{"value": "v""#,
        r#"{"value": "v", "tll": 3}"#,
        r#"{"ttl": 3}"#,
        r#"{"value": true}"#,
        r#"{"value": {"base64": "***"}}"#,
        r#"{"value": "v", "ttl": 0}"#,
        r#"{"value": "v", "ttl": -5}"#,
        r#"["v"]"#,
    ];
    for body in bad_json_bodies {
        let r = c.put(&url).header("content-type", "application/json").body(body).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        assert!(json_body(r).await["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    for query in ["?nx=true&xx=true", "?nx=maybe", "?ttl=abc", "?ttl=0", "?colour=blue"] {
        let r = c.put(format!("{url}{query}")).body("v").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query}");
    }
    let r = c.put(format!("{url}?ttl=5")).json(&json!({"value": "v", "ttl": 5})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "ttl given twice");
    assert!(server.backend.commands().is_empty());
}

#[tokio::test]
async fn nx_and_xx_conditions_fail_with_412() {
    let server = start(Fake::new()).await;
    let c = client();
    let url = server.url("/v1/keys/lock");
    let r = c.put(format!("{url}?xx=true")).body("a").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(json_body(r).await, json!({"error": "xx: the key does not exist"}));
    assert_eq!(c.put(format!("{url}?nx=true")).body("a").send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let r = c.put(format!("{url}?nx=true")).body("b").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(c.put(format!("{url}?xx=true&ttl=2")).body("c").send().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(c.get(&url).send().await.unwrap().text().await.unwrap(), "c");
    assert_eq!(server.backend.commands()[3], "SET lock c PX 2000 XX");
}

#[tokio::test]
async fn another_type_is_409_wrongtype() {
    let server = start(Fake::new()).await;
    let c = client();
    let r = c.post(server.url("/v1/commands")).json(&json!(["HSET", "h", "f", "v"])).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    for accept in ["*/*", "application/json"] {
        let r = c.get(server.url("/v1/keys/h")).header("accept", accept).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CONFLICT);
        let body = json_body(r).await;
        assert!(body["error"].as_str().unwrap().starts_with("WRONGTYPE "), "{body}");
    }
    // DELETE works on any type.
    assert_eq!(c.delete(server.url("/v1/keys/h")).send().await.unwrap().status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn keys_are_percent_decoded_bytes_and_may_hold_slashes() {
    let server = start(Fake::new()).await;
    let c = client();
    c.put(server.url("/v1/keys/users/42")).body("ada").send().await.unwrap();
    let r = c.get(server.url("/v1/keys/users%2F42")).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "ada", "a slash as-is and as %2F name the same key");
    c.put(server.url("/v1/keys/a%20b%FF")).body("x").send().await.unwrap();
    assert_eq!(server.backend.commands()[2], "SET a b\u{fffd} x");
    let r = c.get(server.url("/v1/keys?match=a*")).send().await.unwrap();
    assert_eq!(json_body(r).await, json!({"keys": [{"base64": "YSBi/w=="}], "cursor": "0"}));
    // Bad percent-encoding (sent raw: a client library might repair it).
    let response = raw(server.addr, b"GET /v1/keys/a%zz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await;
    assert!(response.starts_with("HTTP/1.1 400 "), "{response}");
    assert!(response.contains("bad percent-encoding"), "{response}");
}

#[tokio::test]
async fn listing_pages_through_scan_with_match_count_and_type() {
    let server = start(Fake::new()).await;
    let c = client();
    for i in 0..25 {
        c.put(server.url(&format!("/v1/keys/item:{i:02}"))).body("v").send().await.unwrap();
    }
    c.put(server.url("/v1/keys/other")).body("v").send().await.unwrap();
    c.post(server.url("/v1/commands")).json(&json!(["HSET", "item:hash", "f", "v"])).send().await.unwrap();
    let mut cursor = "0".to_owned();
    let mut keys = Vec::new();
    let mut pages = 0;
    loop {
        let url = server.url(&format!("/v1/keys?match=item:*&count=10&type=string&cursor={cursor}"));
        let body = json_body(c.get(url).send().await.unwrap()).await;
        keys.extend(body["keys"].as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_owned()));
        cursor = body["cursor"].as_str().unwrap().to_owned();
        pages += 1;
        if cursor == "0" {
            break;
        }
        assert!(pages < 10, "the iteration ends");
    }
    let expected: Vec<String> = (0..25).map(|i| format!("item:{i:02}")).collect();
    assert_eq!(keys, expected);
    assert_eq!(pages, 3);
    assert!(server.backend.commands().contains(&"SCAN 0 MATCH item:* COUNT 10 TYPE string".to_owned()));
    // Defaults: cursor 0, no MATCH or COUNT.
    let body = json_body(c.get(server.url("/v1/keys")).send().await.unwrap()).await;
    assert_eq!(body["keys"].as_array().unwrap().len(), 10);
    assert_eq!(server.backend.commands().last().unwrap(), "SCAN 0");
}

#[tokio::test]
async fn bad_listing_queries_are_400() {
    let server = start(Fake::new()).await;
    let c = client();
    for query in ["count=0", "count=10001", "count=-1", "count=x", "cursor=abc", "limit=5"] {
        let r = c.get(server.url(&format!("/v1/keys?{query}"))).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query}");
        assert!(json_body(r).await["error"].is_string());
    }
    // Only the bad cursor reached the backend (which refused it).
    assert_eq!(server.backend.commands(), ["SCAN abc"]);
}

//! `POST /v1/commands` and the JSON mapping of replies.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::fake::Fake;
use crate::{client, json_body, start, TestServer};

async fn run(server: &TestServer, body: Value) -> (StatusCode, Value) {
    let r = client().post(server.url("/v1/commands")).json(&body).send().await.unwrap();
    let status = r.status();
    (status, json_body(r).await)
}

#[tokio::test]
async fn replies_map_to_json() {
    let server = start(Fake::new()).await;
    assert_eq!(run(&server, json!(["HSET", "h", "zeta", "1", "alpha", "2"])).await, (StatusCode::OK, json!(2)));
    let (status, body) = run(&server, json!(["HGETALL", "h"])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"zeta": "1", "alpha": "2"}));
    assert_eq!(body.as_object().unwrap().keys().collect::<Vec<_>>(), ["zeta", "alpha"], "the server's order");
    assert_eq!(run(&server, json!(["SET", "k", "v"])).await, (StatusCode::OK, json!("OK")));
    assert_eq!(run(&server, json!(["GET", "missing"])).await, (StatusCode::OK, json!(null)));
    let expected = json!([
        "OK",
        {"base64": "//4="},
        -42,
        2.5,
        "inf",
        false,
        "3492890328409238509324850943850943825024385",
        null,
        "some text",
        ["m"],
        [[1, "one"]],
        {"error": "ERR nested"}
    ]);
    assert_eq!(run(&server, json!(["FRAMES"])).await, (StatusCode::OK, expected));
}

#[tokio::test]
async fn arguments_may_be_numbers_or_base64_bytes() {
    let server = start(Fake::new()).await;
    assert_eq!(run(&server, json!(["SET", "n", 12])).await.0, StatusCode::OK);
    assert_eq!(run(&server, json!(["GET", "n"])).await.1, json!("12"));
    let (status, body) = run(&server, json!(["ECHO", {"base64": "3q2+7w=="}])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"base64": "3q2+7w=="}), "bytes round-trip");
    assert_eq!(server.backend.commands()[0], "SET n 12");
}

#[tokio::test]
async fn command_errors_map_to_statuses() {
    let server = start(Fake::new()).await;
    let (status, body) = run(&server, json!(["NOSUCH", "x"])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"error": "ERR unknown command 'NOSUCH'"}));
    assert_eq!(run(&server, json!(["GET"])).await.0, StatusCode::BAD_REQUEST);
    run(&server, json!(["HSET", "h", "f", "v"])).await;
    let (status, body) = run(&server, json!(["GET", "h"])).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body["error"].as_str().unwrap().starts_with("WRONGTYPE"));
}

#[tokio::test]
async fn a_reply_too_deep_for_json_is_a_500() {
    let server = start(Fake::new()).await;
    let (status, body) = run(&server, json!(["DEEP"])).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body["error"].as_str().unwrap().contains("deeper than"));
}

#[tokio::test]
async fn bad_bodies_are_400_and_run_nothing() {
    let server = start(Fake::new()).await;
    let cases = [
        json!([]),
        json!({"cmd": "GET"}),
        json!("GET k"),
        json!(["GET", true]),
        json!(["GET", null]),
        json!(["GET", ["k"]]),
        json!(["GET", {"base64": "%%%"}]),
        json!(["GET", {"hex": "00"}]),
    ];
    for body in cases {
        let (status, reply) = run(&server, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(reply["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
    }
    let (_, reply) = run(&server, json!(["GET", true])).await;
    assert!(reply["error"].as_str().unwrap().starts_with("element 1: "), "{reply}");
    let c = client();
    let r = c.post(server.url("/v1/commands")).header("content-type", "application/json").body("[\"GET\"").send();
    let r = r.await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(json_body(r).await["error"].as_str().unwrap().starts_with("bad JSON"));
    assert!(server.backend.commands().is_empty());
}

#[tokio::test]
async fn commands_need_a_json_content_type() {
    let server = start(Fake::new()).await;
    let c = client();
    // What a cross-origin HTML form could send without a CORS preflight.
    for content_type in [None, Some("text/plain"), Some("application/x-www-form-urlencoded")] {
        let mut request = c.post(server.url("/v1/commands")).body(r#"["SET","k","v"]"#);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type:?}");
    }
    assert!(server.backend.commands().is_empty());
    let r = c
        .post(server.url("/v1/commands"))
        .header("content-type", "application/json; charset=utf-8")
        .body(r#"["SET","k","v"]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

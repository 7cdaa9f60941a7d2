//! Authentication: Bearer (the default user), Basic (ACL users), wrong and
//! missing credentials, ACL refusals, and which endpoints need none.

use reqwest::StatusCode;
use serde_json::json;

use crate::fake::{Fake, ALICE_PASSWORD, PASSWORD, READER_PASSWORD};
use crate::{client, json_body, start};

#[tokio::test]
async fn missing_or_wrong_credentials_are_401_with_challenges() {
    let server = start(Fake::with_password()).await;
    let c = client();
    let url = server.url("/v1/keys/k");
    let attempts = [
        c.get(&url),
        c.get(&url).bearer_auth("wrong"),
        c.get(&url).bearer_auth(&PASSWORD[..4]),
        c.get(&url).basic_auth("alice", Some("wrong")),
        c.get(&url).basic_auth("nobody", Some(ALICE_PASSWORD)),
        c.get(&url).basic_auth("alice", None::<&str>),
        c.get(&url).header("authorization", "Digest username=alice"),
        c.get(&url).header("authorization", "Basic not-base64!"),
        c.put(&url).body("v"),
        c.post(server.url("/v1/commands")).json(&json!(["GET", "k"])),
        c.get(server.url("/v1/keys")),
        c.get(server.url("/metrics")),
    ];
    for attempt in attempts {
        let r = attempt.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let challenges: Vec<_> = r.headers().get_all("www-authenticate").iter().map(|v| v.to_str().unwrap()).collect();
        assert_eq!(challenges, ["Bearer realm=\"gyre\"", "Basic realm=\"gyre\", charset=\"UTF-8\""]);
        let body = json_body(r).await.to_string();
        assert!(!body.contains(PASSWORD) && !body.contains(ALICE_PASSWORD), "no password echoed: {body}");
    }
    assert!(server.backend.commands().is_empty(), "nothing ran");
}

#[tokio::test]
async fn bearer_is_the_default_user_and_basic_an_acl_user() {
    let server = start(Fake::with_password()).await;
    let c = client();
    let url = server.url("/v1/keys/k");
    let r = c.put(&url).bearer_auth(PASSWORD).body("v1").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "the password holds a colon and a space");
    let r = c.put(&url).basic_auth("alice", Some(ALICE_PASSWORD)).body("v2").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = c.get(&url).basic_auth("default", Some(PASSWORD)).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "v2");
    let r = c.get(server.url("/metrics")).bearer_auth(PASSWORD).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn acl_refusals_are_403_noperm() {
    let server = start(Fake::with_password()).await;
    let c = client();
    let url = server.url("/v1/keys/k");
    c.put(&url).bearer_auth(PASSWORD).body("v").send().await.unwrap();
    let reader = |r: reqwest::RequestBuilder| r.basic_auth("reader", Some(READER_PASSWORD));
    assert_eq!(reader(c.get(&url)).send().await.unwrap().status(), StatusCode::OK, "reads are allowed");
    for request in [
        reader(c.put(&url).body("x")),
        reader(c.delete(&url)),
        reader(c.post(server.url("/v1/commands")).json(&json!(["HSET", "h", "f", "v"]))),
    ] {
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(json_body(r).await["error"].as_str().unwrap().starts_with("NOPERM User reader"));
    }
}

#[tokio::test]
async fn probes_and_the_document_need_no_credentials() {
    let server = start(Fake::with_password()).await;
    let c = client();
    for path in ["/health", "/ready", "/openapi.json"] {
        assert_eq!(c.get(server.url(path)).send().await.unwrap().status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn without_requirepass_requests_are_anonymous_but_given_credentials_are_checked() {
    let server = start(Fake::new()).await;
    let c = client();
    let url = server.url("/v1/keys/k");
    assert_eq!(c.put(&url).body("v").send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let r = c.get(&url).basic_auth("alice", Some("wrong")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "wrong credentials are refused even when none are needed");
    let r = c.put(&url).basic_auth("reader", Some(READER_PASSWORD)).body("x").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a named user keeps its ACL");
}

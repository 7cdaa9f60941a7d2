//! The HTTP API of the real server (`--http-port`): the same data as RESP,
//! writes as durable as RESP's, metrics from the running server. The API's
//! own behaviour (every endpoint, auth, TLS, limits) is tested in gyre-http
//! against a fake backend; this is the integration.

mod common;

use common::*;

fn start() -> (Server, String) {
    let port = free_port();
    let s = Server::start_with(&["--http-port", &port.to_string()]);
    (s, format!("http://127.0.0.1:{port}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_and_resp_see_the_same_data_and_http_writes_survive_a_crash() {
    if is_redis() {
        return;
    }
    let (mut s, base) = start();
    let http = reqwest::Client::new();
    let put = http.put(format!("{base}/v1/keys/greeting")).body("hello").send().await.unwrap();
    assert_eq!(put.status(), 204);
    let mut r = s.raw();
    assert_eq!(r.call(&["GET", "greeting"]), Reply::bulk("hello"));
    r.call(&["SET", "n", "41"]);
    let got = http.get(format!("{base}/v1/keys/n")).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.text().await.unwrap(), "41");
    let incr = http
        .post(format!("{base}/v1/commands"))
        .header("content-type", "application/json")
        .body(r#"["INCR","n"]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(incr.status(), 200);
    assert_eq!(incr.text().await.unwrap(), "42");
    let blocking = http
        .post(format!("{base}/v1/commands"))
        .header("content-type", "application/json")
        .body(r#"["BLPOP","list","0"]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(blocking.status(), 400, "a command that would wait is refused");
    assert_eq!(http.get(format!("{base}/v1/keys/missing")).send().await.unwrap().status(), 404);
    assert_eq!(http.get(format!("{base}/ready")).send().await.unwrap().status(), 200);
    assert_eq!(http.get(format!("{base}/health")).send().await.unwrap().status(), 200);

    // An acknowledged HTTP write is in the log: a crash keeps it.
    let put = http.put(format!("{base}/v1/keys/durable")).body("yes").send().await.unwrap();
    assert_eq!(put.status(), 204);
    let port = free_port();
    s.restart(Stop::Kill, &["--http-port", &port.to_string()]);
    let base = format!("http://127.0.0.1:{port}");
    let got = http.get(format!("{base}/v1/keys/durable")).send().await.unwrap();
    assert_eq!(got.text().await.unwrap(), "yes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_describe_the_running_server() {
    if is_redis() {
        return;
    }
    let (s, base) = start();
    let mut r = s.raw();
    r.call(&["SET", "a", "1"]);
    r.call(&["SET", "b", "2", "EX", "100"]);
    r.call(&["GET", "a"]);
    r.call(&["GET", "nope"]);
    // The harness's own start-up probe connection may not be unregistered
    // yet on a loaded machine: wait (bounded) until only `r` is connected.
    let mut text = String::new();
    for _ in 0..100 {
        text = reqwest::get(format!("{base}/metrics")).await.unwrap().text().await.unwrap();
        if text.lines().any(|l| l == "gyre_connected_clients 1") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("valid text format");
    let value = |name: &str, label: Option<(&str, &str)>| -> f64 {
        let sample = scrape
            .samples
            .iter()
            .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .unwrap_or_else(|| panic!("{name} missing from\n{text}"));
        match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => panic!("{name} is not a number"),
        }
    };
    assert_eq!(value("gyre_db_keys", Some(("db", "0"))), 2.0);
    assert_eq!(value("gyre_db_expiring_keys", Some(("db", "0"))), 1.0);
    assert!(value("gyre_keyspace_hits_total", None) >= 1.0);
    assert!(value("gyre_keyspace_misses_total", None) >= 1.0);
    assert_eq!(value("gyre_connected_clients", None), 1.0);
    assert!(value("gyre_wal_size_bytes", None) > 0.0, "the writes are in the log");
    assert!(value("gyre_memory_used_bytes", None) > 0.0);
}

/// The same users as RESP: requirepass for Bearer, ACL users for Basic, their
/// permissions applied; and HTTPS with the tls-* certificates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_uses_the_acl_users_and_the_tls_certificates() {
    if is_redis() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("gyre-http-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap().self_signed(&key).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    let port = free_port();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    let s = Server::start_with(&[
        "--http-port",
        &port.to_string(),
        "--http-tls",
        "yes",
        "--tls-cert-file",
        cert_path.to_str().unwrap(),
        "--tls-key-file",
        key_path.to_str().unwrap(),
        "--tls-auth-clients",
        "no",
    ]);
    let mut admin = s.raw();
    admin.call(&["CONFIG", "SET", "requirepass", "s3cret"]);
    admin.call(&["ACL", "SETUSER", "app", "on", ">apppass", "~app:*", "+get", "+set"]);
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let base = format!("https://localhost:{port}");
    let url = |key: &str| format!("{base}/v1/keys/{key}");
    assert_eq!(http.put(url("app:1")).body("x").send().await.unwrap().status(), 401, "credentials needed");
    let put = http.put(url("app:1")).bearer_auth("s3cret").body("x").send().await.unwrap();
    assert_eq!(put.status(), 204, "the default user's password");
    assert_eq!(http.get(url("app:1")).bearer_auth("wrong").send().await.unwrap().status(), 401);
    let got = http.get(url("app:1")).basic_auth("app", Some("apppass")).send().await.unwrap();
    assert_eq!(got.text().await.unwrap(), "x");
    let denied = http.get(url("other")).basic_auth("app", Some("apppass")).send().await.unwrap();
    assert_eq!(denied.status(), 403, "the user's key patterns apply");
    assert_eq!(http.get(format!("{base}/health")).send().await.unwrap().status(), 200);
    // Plain HTTP on the TLS port gets nowhere.
    assert!(reqwest::get(format!("http://127.0.0.1:{port}/health")).await.map(|r| r.status() != 200).unwrap_or(true));
    let _ = std::fs::remove_dir_all(&dir);
}

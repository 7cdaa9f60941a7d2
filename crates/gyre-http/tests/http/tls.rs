//! HTTPS with a certificate made for the test (rcgen), the ring provider,
//! and a client that trusts only that certificate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gyre_http::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use gyre_http::{rustls, HttpLimits};
use reqwest::StatusCode;
use tokio::net::TcpStream;

use crate::fake::{Fake, PASSWORD};
use crate::{read_to_close, start_with, TestServer};

const HOST: &str = "gyre.test";

struct Tls {
    server: Arc<rustls::ServerConfig>,
    cert_der: Vec<u8>,
}

fn tls_config() -> Tls {
    let certified = rcgen::generate_simple_self_signed(vec![HOST.to_owned()]).unwrap();
    let cert_der = certified.cert.der().to_vec();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
    // serve() must replace this: it speaks HTTP/1.1 only.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Tls { server: Arc::new(config), cert_der }
}

/// A client that trusts only `cert_der` and sends `gyre.test` to the server.
fn https_client(server: &TestServer, cert_der: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_der(cert_der).unwrap())
        .resolve(HOST, server.addr)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn https_url(server: &TestServer, path: &str) -> String {
    format!("https://{HOST}:{}{path}", server.addr.port())
}

#[tokio::test]
async fn https_serves_the_api_with_auth() {
    let tls = tls_config();
    let server = start_with(Fake::with_password(), HttpLimits::default(), Some(tls.server)).await;
    let c = https_client(&server, &tls.cert_der);
    let url = https_url(&server, "/v1/keys/secure");
    let r = c.put(&url).bearer_auth(PASSWORD).body("over tls").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(r.version(), reqwest::Version::HTTP_11);
    let r = c.get(&url).bearer_auth(PASSWORD).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "over tls");
    assert_eq!(c.get(&url).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(c.get(https_url(&server, "/health")).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn plain_http_and_untrusted_clients_get_nothing() {
    let tls = tls_config();
    let server = start_with(Fake::new(), HttpLimits::default(), Some(tls.server)).await;
    let plain = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    assert!(plain.get(server.url("/health")).send().await.is_err(), "plain HTTP to the TLS port");
    let other = tls_config();
    let untrusting = https_client(&server, &other.cert_der);
    let err = untrusting.get(https_url(&server, "/health")).send().await.unwrap_err();
    assert!(err.is_connect() || err.is_request(), "{err:?}");
    assert!(server.backend.commands().is_empty());
}

#[tokio::test]
async fn a_silent_client_is_dropped_after_the_handshake_timeout() {
    let tls = tls_config();
    let limits = HttpLimits { header_read_timeout: Duration::from_millis(300), ..HttpLimits::default() };
    let server = start_with(Fake::new(), limits, Some(tls.server)).await;
    let start = Instant::now();
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let received = read_to_close(&mut stream).await;
    let waited = start.elapsed();
    assert!(received.is_empty());
    assert!(waited >= Duration::from_millis(250) && waited < Duration::from_secs(3), "{waited:?}");
}

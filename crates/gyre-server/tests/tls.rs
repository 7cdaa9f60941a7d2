//! TLS: the TLS port beside the plain one, with certificates generated here
//! (rcgen): the `redis` crate's TLS client, a rustls client for the failure
//! cases, and real `redis-cli --tls` (installed by `.ci/run`). Wrong CA,
//! expired certificate and a missing client certificate are refused, and the
//! server keeps serving.

mod common;
mod ops;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use common::{RawConn, Reply};
use ops::{free_port, start_failure, Gyre, TempDir};
use rcgen::{date_time_ymd, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// A CA that signs server and client certificates.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    /// (certificate PEM, key PEM) for `names`, for server or client use.
    fn issue(&self, names: &[&str], client: bool, expired: bool) -> (String, String) {
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        p.distinguished_name.push(DnType::CommonName, names[0]);
        p.extended_key_usages =
            vec![if client { ExtendedKeyUsagePurpose::ClientAuth } else { ExtendedKeyUsagePurpose::ServerAuth }];
        if expired {
            p.not_before = date_time_ymd(2001, 1, 1);
            p.not_after = date_time_ymd(2002, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// Files of one test: CA, server and client certificates.
struct Pki {
    dir: TempDir,
    ca: Ca,
}

impl Pki {
    fn new(tag: &str) -> Pki {
        let dir = TempDir::new(tag);
        let ca = Ca::new("Gyre test CA");
        let (cert, key) = ca.issue(&["localhost", "127.0.0.1"], false, false);
        dir.write("ca.pem", &ca.cert.pem());
        dir.write("server.pem", &cert);
        dir.write("server.key", &key);
        let (cert, key) = ca.issue(&["client"], true, false);
        dir.write("client.pem", &cert);
        dir.write("client.key", &key);
        Pki { dir, ca }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path(name).to_string_lossy().into_owned()
    }

    /// A server with a TLS port and `tls-auth-clients` as given; returns it
    /// and its TLS port.
    fn server(&self, auth_clients: &str) -> (Gyre, u16) {
        let tls_port = free_port();
        let p = tls_port.to_string();
        let (ca, cert, key) = (self.path("ca.pem"), self.path("server.pem"), self.path("server.key"));
        let args = [
            "--tls-port",
            &p,
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &ca,
            "--tls-auth-clients",
            auth_clients,
            "--appendonly",
            "no",
        ];
        (Gyre::start(&self.dir.0, &args, &[], None), tls_port)
    }
}

/// PING over TLS with a rustls client trusting `ca_pem`, presenting the
/// client certificate when given. Ok(reply bytes) or the error.
fn tls_ping(port: u16, ca_pem: &str, client: Option<(&str, &str)>) -> Result<Vec<u8>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let certs = CertificateDer::pem_slice_iter(cert.as_bytes()).map(|c| c.unwrap()).collect();
            builder.with_client_auth_cert(certs, PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap()).unwrap()
        }
    };
    let conn = rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("127.0.0.1").unwrap()).unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut s = rustls::StreamOwned::new(conn, tcp);
    s.write_all(b"*1\r\n$4\r\nPING\r\n").map_err(|e| e.to_string())?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).map_err(|e| e.to_string())?;
    if n == 0 {
        return Err("closed".into());
    }
    Ok(buf[..n].to_vec())
}

fn assert_plain_and_tls_still_serve(g: &Gyre, tls_port: u16, pki: &Pki, client: Option<(&str, &str)>) {
    assert_eq!(RawConn::connect(&g.addr()).call(&["PING"]), Reply::simple("PONG"));
    let ca = std::fs::read_to_string(pki.path("ca.pem")).unwrap();
    assert_eq!(tls_ping(tls_port, &ca, client).unwrap(), b"+PONG\r\n");
}

#[test]
fn tls_beside_plain_with_the_redis_crate() {
    let pki = Pki::new("tls-plain");
    let (g, tls_port) = pki.server("no");
    let root = std::fs::read(pki.path("ca.pem")).unwrap();
    let certs = redis::TlsCertificates { client_tls: None, root_cert: Some(root) };
    let client = redis::Client::build_with_tls(format!("rediss://127.0.0.1:{tls_port}/"), certs).unwrap();
    let mut con = client.get_connection_with_timeout(Duration::from_secs(5)).unwrap();
    let () = redis::cmd("SET").arg("k").arg("over-tls").query(&mut con).unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let () = redis::cmd("SET").arg("big").arg(&big).query(&mut con).unwrap();
    let got: Vec<u8> = redis::cmd("GET").arg("big").query(&mut con).unwrap();
    assert!(got == big, "a large value round-trips over TLS");
    // The plain port serves the same data.
    assert_eq!(RawConn::connect(&g.addr()).call(&["GET", "k"]), Reply::bulk("over-tls"));
    // A plain-text client on the TLS port gets nowhere, and breaks nothing.
    let mut raw = TcpStream::connect(("127.0.0.1", tls_port)).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    raw.write_all(b"PING\r\n").unwrap();
    let mut buf = [0u8; 64];
    let n = raw.read(&mut buf).unwrap_or(0);
    assert!(!buf[..n].starts_with(b"+PONG"), "plain text is not served on the TLS port");
    let v: String = redis::cmd("GET").arg("k").query(&mut con).unwrap();
    assert_eq!(v, "over-tls");
}

#[test]
fn mutual_tls_refuses_missing_wrong_ca_and_expired_client_certificates() {
    let pki = Pki::new("tls-mutual");
    let (g, tls_port) = pki.server("yes");
    let ca = std::fs::read_to_string(pki.path("ca.pem")).unwrap();
    let cert = std::fs::read_to_string(pki.path("client.pem")).unwrap();
    let key = std::fs::read_to_string(pki.path("client.key")).unwrap();
    assert_eq!(tls_ping(tls_port, &ca, Some((&cert, &key))).unwrap(), b"+PONG\r\n");

    assert!(tls_ping(tls_port, &ca, None).is_err(), "no client certificate");
    let other = Ca::new("Some other CA");
    let (wrong_cert, wrong_key) = other.issue(&["client"], true, false);
    assert!(tls_ping(tls_port, &ca, Some((&wrong_cert, &wrong_key))).is_err(), "client certificate from another CA");
    let (old_cert, old_key) = pki.ca.issue(&["client"], true, true);
    assert!(tls_ping(tls_port, &ca, Some((&old_cert, &old_key))).is_err(), "expired client certificate");
    // A client that trusts another CA refuses the server.
    assert!(tls_ping(tls_port, &other.cert.pem(), Some((&cert, &key))).is_err(), "server from an unknown CA");
    assert_plain_and_tls_still_serve(&g, tls_port, &pki, Some((&cert, &key)));

    // With the redis crate and a client certificate.
    let certs = redis::TlsCertificates {
        client_tls: Some(redis::ClientTlsConfig { client_cert: cert.into_bytes(), client_key: key.into_bytes() }),
        root_cert: Some(ca.into_bytes()),
    };
    let client = redis::Client::build_with_tls(format!("rediss://127.0.0.1:{tls_port}/"), certs).unwrap();
    let mut con = client.get_connection_with_timeout(Duration::from_secs(5)).unwrap();
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn optional_client_certificates_and_an_expired_server_certificate() {
    let pki = Pki::new("tls-optional");
    let (g, tls_port) = pki.server("optional");
    let ca = std::fs::read_to_string(pki.path("ca.pem")).unwrap();
    assert_eq!(tls_ping(tls_port, &ca, None).unwrap(), b"+PONG\r\n", "no certificate is fine");
    let other = Ca::new("Some other CA");
    let (wrong_cert, wrong_key) = other.issue(&["client"], true, false);
    assert!(tls_ping(tls_port, &ca, Some((&wrong_cert, &wrong_key))).is_err(), "a certificate sent is verified");
    assert_plain_and_tls_still_serve(&g, tls_port, &pki, None);
    drop(g);

    // A server whose own certificate expired is refused by clients.
    let (cert, key) = pki.ca.issue(&["127.0.0.1"], false, true);
    pki.dir.write("server.pem", &cert);
    pki.dir.write("server.key", &key);
    let (_g, tls_port) = pki.server("no");
    let e = tls_ping(tls_port, &ca, None).unwrap_err();
    assert!(e.to_lowercase().contains("expired"), "{e}");
}

#[test]
fn redis_cli_over_tls() {
    if std::process::Command::new("redis-cli").arg("--version").output().is_err() {
        eprintln!("skipped: redis-cli is not installed (.ci/run installs redis-tools)");
        return;
    }
    let pki = Pki::new("tls-cli");
    let (_g, tls_port) = pki.server("yes");
    let port = tls_port.to_string();
    let ca = pki.path("ca.pem");
    let cli = |extra: &[&str]| {
        let mut args = vec!["--tls", "--cacert", ca.as_str()];
        let (cert, key) = (pki.path("client.pem"), pki.path("client.key"));
        let mut owned = vec![];
        if !extra.contains(&"--nocert") {
            owned = vec!["--cert".to_string(), cert, "--key".to_string(), key];
        }
        args.extend(owned.iter().map(String::as_str));
        args.extend(["-h", "127.0.0.1", "-p", &port]);
        args.extend(extra.iter().filter(|a| **a != "--nocert"));
        std::process::Command::new("redis-cli").args(&args).output().unwrap()
    };
    let out = cli(&["SET", "k", "from-redis-cli"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK", "{}", String::from_utf8_lossy(&out.stderr));
    let out = cli(&["GET", "k"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "from-redis-cli");
    let out = cli(&["--nocert", "PING"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!text.contains("PONG"), "no client certificate: {text}");
}

#[test]
fn tls_settings_are_checked_at_start_up() {
    let pki = Pki::new("tls-bad");
    let port = free_port().to_string();
    let (st, err) = start_failure(&pki.dir.0, &["--tls-port", &port, "--tls-key-file", &pki.path("server.key")], &[]);
    assert!(!st.success() && err.contains("tls-cert-file"), "{err}");
    let missing = pki.path("missing.pem");
    let args = ["--tls-port", &port, "--tls-cert-file", &missing, "--tls-key-file", &pki.path("server.key")];
    let (st, err) = start_failure(&pki.dir.0, &args, &[]);
    assert!(!st.success() && err.contains("missing.pem"), "{err}");
    let (cert, key) = (pki.path("server.pem"), pki.path("server.key"));
    let args = ["--tls-port", &port, "--tls-cert-file", &cert, "--tls-key-file", &key];
    let (st, err) = start_failure(&pki.dir.0, &args, &[]);
    assert!(!st.success() && err.contains("tls-ca-cert-file"), "tls-auth-clients yes needs a CA: {err}");
    let other_key = pki.path("client.key");
    let args =
        ["--tls-port", &port, "--tls-cert-file", &cert, "--tls-key-file", &other_key, "--tls-auth-clients", "no"];
    let (st, err) = start_failure(&pki.dir.0, &args, &[]);
    assert!(!st.success() && err.contains("does not fit"), "{err}");
}

//! End-to-end TLS tests: gyre-cli with `--tls` / `rediss://` talks through a
//! rustls TLS-terminating proxy (started by the test, in front of a real
//! plain-text server) using the certificates in `tests/tls/` (a test CA, a
//! server certificate for 127.0.0.1 and localhost, a client certificate; all
//! valid until 2126).

mod common;

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use common::{run, start_server};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/tls").join(name).to_string_lossy().into_owned()
}

fn server_config(client_auth: bool) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(fixture("server.pem")).unwrap().collect::<Result<_, _>>().unwrap();
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap();
    let builder =
        ServerConfig::builder_with_provider(Arc::clone(&provider)).with_safe_default_protocol_versions().unwrap();
    let builder = if client_auth {
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from_pem_file(fixture("ca.pem")).unwrap()).unwrap();
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build().unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    Arc::new(builder.with_single_cert(certs, key).unwrap())
}

/// A TLS-terminating proxy to a plain backend, stopped on drop.
struct Proxy {
    port: u16,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.acceptor.take() {
            let _ = handle.join();
        }
    }
}

fn start_proxy(backend_port: u16, client_auth: bool) -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = server_config(client_auth);
    let stop = Arc::new(AtomicBool::new(false));
    let acceptor = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((sock, _)) => {
                        let (config, stop) = (Arc::clone(&config), Arc::clone(&stop));
                        std::thread::spawn(move || {
                            let _ = relay(sock, config, backend_port, &stop);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        })
    };
    Proxy { port, stop, acceptor: Some(acceptor) }
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// Moves bytes between a TLS client and the plain backend until either
/// side closes, polling both non-blocking sockets.
fn relay(mut sock: TcpStream, config: Arc<ServerConfig>, backend_port: u16, stop: &AtomicBool) -> io::Result<()> {
    let mut tls = ServerConnection::new(config).map_err(io::Error::other)?;
    let mut backend = TcpStream::connect(("127.0.0.1", backend_port))?;
    sock.set_nonblocking(true)?;
    backend.set_nonblocking(true)?;
    let mut buf = vec![0u8; 16 * 1024];
    while !stop.load(Ordering::Relaxed) {
        let mut busy = false;
        match tls.read_tls(&mut sock) {
            Ok(0) => return Ok(()),
            Ok(_) => {
                busy = true;
                if let Err(e) = tls.process_new_packets() {
                    // Send the alert (e.g. a missing client certificate), then close.
                    let _ = tls.write_tls(&mut sock);
                    return Err(io::Error::other(e));
                }
            }
            Err(e) if would_block(&e) => {}
            Err(e) => return Err(e),
        }
        match tls.reader().read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                busy = true;
                backend.set_nonblocking(false)?;
                backend.write_all(&buf[..n])?;
                backend.set_nonblocking(true)?;
            }
            Err(e) if would_block(&e) => {}
            Err(e) => return Err(e),
        }
        match backend.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                busy = true;
                tls.writer().write_all(&buf[..n])?;
            }
            Err(e) if would_block(&e) => {}
            Err(e) => return Err(e),
        }
        while tls.wants_write() {
            match tls.write_tls(&mut sock) {
                Ok(_) => busy = true,
                Err(e) if would_block(&e) => break,
                Err(e) => return Err(e),
            }
        }
        if !busy {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    Ok(())
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn tls_with_a_ca_file_and_with_rediss_uris() {
    let Some((_server, port)) = start_server() else { return };
    let proxy = start_proxy(port, false);
    let (tls_port, ca) = (proxy.port.to_string(), fixture("ca.pem"));
    let out = common::cli(&["--tls", "--cacert", &ca, "-p", &tls_port, "SET", "k", "over-tls"], None);
    assert_eq!(text(&out.stdout), "OK\n", "{}", text(&out.stderr));
    assert_eq!(run(port, &["GET", "k"]), "over-tls\n");
    // Piped lines share the one TLS connection.
    let out = common::cli(&["--tls", "--cacert", &ca, "-p", &tls_port], Some("INCR n\nINCR n\nGET k\n"));
    assert_eq!(text(&out.stdout), "1\n2\nover-tls\n", "{}", text(&out.stderr));
    let uri = format!("rediss://127.0.0.1:{tls_port}/2");
    let out = common::cli(&["-u", &uri, "--cacert", &ca, "SET", "k", "db2"], None);
    assert_eq!(text(&out.stdout), "OK\n", "{}", text(&out.stderr));
    assert_eq!(run(port, &["-n", "2", "GET", "k"]), "db2\n");
    // `localhost` is in the certificate too.
    let out = common::cli(&["--tls", "--cacert", &ca, "-h", "localhost", "-p", &tls_port, "PING"], None);
    assert_eq!(text(&out.stdout), "PONG\n", "{}", text(&out.stderr));
}

#[test]
fn untrusted_or_misnamed_certificates_are_refused() {
    let Some((_server, port)) = start_server() else { return };
    let proxy = start_proxy(port, false);
    let tls_port = proxy.port.to_string();
    // Trusting only an unrelated certificate: the server's chain does not verify.
    let out = common::cli(&["--tls", "--cacert", &fixture("client.pem"), "-p", &tls_port, "PING"], None);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("TLS handshake failed") && stderr.contains("UnknownIssuer"), "{stderr}");
    let out = common::cli(
        &["--tls", "--cacert", &fixture("ca.pem"), "--sni", "other.example", "-p", &tls_port, "PING"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not valid for name \"other.example\""), "{}", text(&out.stderr));
    // --insecure skips verification.
    let out = common::cli(&["--tls", "--insecure", "-p", &tls_port, "PING"], None);
    assert_eq!(text(&out.stdout), "PONG\n", "{}", text(&out.stderr));
    // Plain text to a TLS port is not mistaken for a reply.
    let out = common::cli(&["-p", &tls_port, "PING"], None);
    assert_ne!(text(&out.stdout), "PONG\n");
}

#[test]
fn client_certificates() {
    let Some((_server, port)) = start_server() else { return };
    let proxy = start_proxy(port, true);
    let (tls_port, ca) = (proxy.port.to_string(), fixture("ca.pem"));
    let (cert, key) = (fixture("client.pem"), fixture("client.key"));
    let out = common::cli(&["--tls", "--cacert", &ca, "--cert", &cert, "--key", &key, "-p", &tls_port, "PING"], None);
    assert_eq!(text(&out.stdout), "PONG\n", "{}", text(&out.stderr));
    let out = common::cli(&["--tls", "--cacert", &ca, "-p", &tls_port, "PING"], None);
    assert_eq!(out.status.code(), Some(1), "no client certificate: {}", text(&out.stdout));
    assert!(out.stdout.is_empty());
    // bench and --pipe say they cannot do TLS.
    let out = common::cli(&["--tls", "--cacert", &ca, "-p", &tls_port, "bench", "-n", "1"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not for bench or --pipe"), "{}", text(&out.stderr));
}

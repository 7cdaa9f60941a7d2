//! TLS for the client port (`tls-port`), on rustls with the ring provider.
//!
//! [`server_config`] builds the `rustls::ServerConfig` from the settings
//! (`tls-cert-file`, `tls-key-file`, `tls-ca-cert-file`, `tls-auth-clients`);
//! any listener that speaks TLS (the RESP TLS port, an HTTP port) uses it.
//! Files are read once at start-up; a missing or unreadable file, a file with
//! no certificate or key, or a key that does not match the certificate stops
//! start-up with a message naming the file.
//!
//! `tls-auth-clients`: `yes` requires a client certificate that chains to
//! `tls-ca-cert-file`, `optional` verifies one when the client sends it, `no`
//! does not ask. A handshake that fails (wrong CA, expired certificate, no
//! certificate when one is required) ends that connection only, after rustls
//! has sent its alert; the handshake has a deadline ([`HANDSHAKE_TIMEOUT`]) so
//! a client that connects and says nothing cannot hold a task forever.
//!
//! [`ClientStream`] is what a connection is served over: a plain TCP stream or
//! a TLS stream over one.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::config::Config;

/// How long a client has to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A stream a client connection is served over.
pub trait ClientStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// The TCP socket underneath (to watch for a disconnect while blocked).
    fn tcp(&self) -> &TcpStream;
}

impl ClientStream for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl ClientStream for tokio_rustls::server::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

fn read_certs(path: &str, what: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("reading {what} '{path}'"))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing {what} '{path}'"))?;
    anyhow::ensure!(!certs.is_empty(), "{what} '{path}' holds no PEM certificate");
    Ok(certs)
}

/// The rustls server configuration the TLS settings describe.
pub fn server_config(config: &Config) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let settings = config.settings();
    let (cert_file, key_file) = (&settings.tls_cert_file, &settings.tls_key_file);
    anyhow::ensure!(!cert_file.is_empty(), "tls-port is set but tls-cert-file is not");
    anyhow::ensure!(!key_file.is_empty(), "tls-port is set but tls-key-file is not");
    let certs = read_certs(cert_file, "tls-cert-file")?;
    let key = PrivateKeyDer::from_pem_file(key_file).with_context(|| format!("reading tls-key-file '{key_file}'"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let auth = &settings.tls_auth_clients;
    let builder = if auth == "no" {
        builder.with_no_client_auth()
    } else {
        let ca_file = &settings.tls_ca_cert_file;
        anyhow::ensure!(
            !ca_file.is_empty(),
            "tls-auth-clients is '{auth}' but tls-ca-cert-file is not set (set it, or tls-auth-clients no)"
        );
        let mut roots = rustls::RootCertStore::empty();
        for c in read_certs(ca_file, "tls-ca-cert-file")? {
            roots.add(c).with_context(|| format!("adding a CA certificate from '{ca_file}'"))?;
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
        let verifier = if auth == "optional" { verifier.allow_unauthenticated() } else { verifier };
        builder.with_client_cert_verifier(verifier.build().context("building the client certificate verifier")?)
    };
    let server = builder
        .with_single_cert(certs, key)
        .with_context(|| format!("the key in '{key_file}' does not fit the certificate in '{cert_file}'"))?;
    Ok(Arc::new(server))
}

/// Completes the server side of a TLS handshake within [`HANDSHAKE_TIMEOUT`].
pub async fn accept(
    acceptor: &tokio_rustls::TlsAcceptor,
    stream: TcpStream,
) -> std::io::Result<tokio_rustls::server::TlsStream<TcpStream>> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out")),
    }
}

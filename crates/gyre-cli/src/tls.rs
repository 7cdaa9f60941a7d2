//! `--tls`: the client side of TLS with rustls (ring provider), for servers
//! or proxies that speak TLS in front of RESP. Gyre's server has no TLS yet.
//!
//! Trust: the CA certificates in `--cacert` (PEM), else the system bundle
//! (`$SSL_CERT_FILE`, else the usual Debian / Red Hat paths). `--insecure`
//! skips certificate verification but still checks the handshake
//! signatures. `--cert` and `--key` (PEM) present a client certificate. The
//! server name checked is `--sni`, else the host connected to (a host name
//! or an IP address, which the certificate must name).
//!
//! Limits: TLS applies to the line-driven modes and one-shot commands;
//! `--pipe` and `bench` refuse it (their socket handling is plain TCP).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme, StreamOwned};

/// System CA bundles tried when `--cacert` is absent.
const SYSTEM_BUNDLES: [&str; 3] =
    ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"];

/// The TLS flags.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// CA certificates to trust (PEM).
    pub cacert: Option<PathBuf>,
    /// Client certificate chain (PEM).
    pub cert: Option<PathBuf>,
    /// Client private key (PEM).
    pub key: Option<PathBuf>,
    /// Accept any server certificate.
    pub insecure: bool,
    /// Server name to verify instead of the host.
    pub sni: Option<String>,
}

/// A ready client configuration and the name to verify.
#[derive(Debug, Clone)]
pub struct TlsSetup {
    /// rustls configuration built from the flags.
    pub config: Arc<ClientConfig>,
    /// `--sni`, else the host connected to is verified.
    pub server_name: Option<String>,
}

impl TlsSetup {
    /// Builds the setup from the flags.
    pub fn new(opts: &TlsOptions) -> Result<TlsSetup, TlsError> {
        Ok(TlsSetup { config: client_config(opts)?, server_name: opts.sni.clone() })
    }
}

/// Why TLS could not be set up or established.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// No `--cacert` and no system bundle.
    #[error("no CA certificates: pass --cacert FILE (or --insecure)")]
    NoRoots,
    /// `--cert` without `--key` or the other way round.
    #[error("--cert and --key go together")]
    HalfClientAuth,
    /// The name to verify is not a valid DNS name or IP address.
    #[error("invalid TLS server name '{0}'")]
    BadName(String),
    /// rustls refused the configuration or the handshake failed.
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
}

/// A connected TLS client stream.
pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn file_error(path: &Path, reason: impl ToString) -> TlsError {
    TlsError::File { path: path.to_path_buf(), reason: reason.to_string() }
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, e))?;
    if certs.is_empty() {
        return Err(file_error(path, "no certificate found"));
    }
    Ok(certs)
}

fn roots(opts: &TlsOptions) -> Result<RootCertStore, TlsError> {
    let env_bundle = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
    let path = match (&opts.cacert, env_bundle) {
        (Some(path), _) => path.clone(),
        (None, Some(path)) => path,
        (None, None) => SYSTEM_BUNDLES.iter().map(PathBuf::from).find(|p| p.exists()).ok_or(TlsError::NoRoots)?,
    };
    let mut store = RootCertStore::empty();
    let (added, _ignored) = store.add_parsable_certificates(load_certs(&path)?);
    if added == 0 {
        return Err(file_error(&path, "no usable CA certificate"));
    }
    Ok(store)
}

/// Builds the client configuration from the flags.
pub fn client_config(opts: &TlsOptions) -> Result<Arc<ClientConfig>, TlsError> {
    let builder = ClientConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let builder = if opts.insecure {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider())))
    } else {
        builder.with_root_certificates(roots(opts)?)
    };
    let config = match (&opts.cert, &opts.key) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert), Some(key)) => {
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| file_error(key, e))?;
            builder.with_client_auth_cert(load_certs(cert)?, key)?
        }
        _ => return Err(TlsError::HalfClientAuth),
    };
    Ok(Arc::new(config))
}

/// Runs the handshake over `sock`, verifying `name`.
pub fn connect(config: &Arc<ClientConfig>, name: &str, mut sock: TcpStream) -> Result<TlsStream, TlsError> {
    let server_name = ServerName::try_from(name.to_string()).map_err(|_| TlsError::BadName(name.to_string()))?;
    let mut conn = ClientConnection::new(Arc::clone(config), server_name)?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).map_err(handshake_error)?;
    }
    Ok(StreamOwned::new(conn, sock))
}

/// rustls reports handshake failures through `io::Error`; unwrap them.
fn handshake_error(err: io::Error) -> TlsError {
    match err.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(tls) => TlsError::Rustls(tls.clone()),
        None => TlsError::Rustls(rustls::Error::General(crate::conn::describe_io(&err))),
    }
}

/// `--insecure`: any certificate is accepted; handshake signatures are still
/// verified, so the peer must hold the key of the certificate it shows.
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A client socket, plain or TLS.
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<TlsStream>),
}

impl Stream {
    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls").join(name)
    }

    #[test]
    fn configs_from_the_test_fixtures() {
        let opts = TlsOptions { cacert: Some(fixture("ca.pem")), ..Default::default() };
        assert!(client_config(&opts).is_ok());
        let mutual = TlsOptions { cert: Some(fixture("client.pem")), key: Some(fixture("client.key")), ..opts.clone() };
        assert!(client_config(&mutual).is_ok());
        let half = TlsOptions { cert: Some(fixture("client.pem")), ..opts };
        assert!(matches!(client_config(&half), Err(TlsError::HalfClientAuth)));
        let insecure = TlsOptions { insecure: true, ..Default::default() };
        assert!(client_config(&insecure).is_ok());
    }

    #[test]
    fn bad_files_name_the_file() {
        let opts = TlsOptions { cacert: Some(fixture("missing.pem")), ..Default::default() };
        let err = client_config(&opts).unwrap_err().to_string();
        assert!(err.contains("missing.pem"), "{err}");
        let not_a_cert = TlsOptions { cacert: Some(fixture("client.key")), ..Default::default() };
        assert!(client_config(&not_a_cert).unwrap_err().to_string().contains("no certificate found"));
    }
}

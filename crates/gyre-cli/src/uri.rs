//! `-u` server URIs: `redis://[[USER][:PASSWORD]@]HOST[:PORT][/DB]`, as
//! redis-cli reads them (user and password percent-decoded, `[v6]` hosts);
//! `rediss://` is the same over TLS.

/// What a URI sets; absent parts keep the other flags' values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerUri {
    /// Host name or address.
    pub host: Option<String>,
    /// TCP port.
    pub port: Option<u16>,
    /// ACL user.
    pub user: Option<Vec<u8>>,
    /// Password.
    pub password: Option<Vec<u8>>,
    /// Database number.
    pub db: Option<i64>,
    /// `rediss://`: connect with TLS.
    pub tls: bool,
}

/// Why a URI was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// Not `redis://` or `rediss://`.
    #[error("Invalid URI scheme (use redis:// or rediss://)")]
    Scheme,
    /// A port or database that is not a number.
    #[error("Invalid URI: {0}")]
    Invalid(&'static str),
}

/// Parses a `-u` URI.
pub fn parse(uri: &str) -> Result<ServerUri, UriError> {
    let (rest, tls) = match (uri.strip_prefix("redis://"), uri.strip_prefix("rediss://")) {
        (Some(rest), _) => (rest, false),
        (_, Some(rest)) => (rest, true),
        _ => return Err(UriError::Scheme),
    };
    let mut out = ServerUri { tls, ..ServerUri::default() };
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], Some(&rest[slash + 1..])),
        None => (rest, None),
    };
    let host_port = match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let (user, password) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            out.user = (!user.is_empty()).then(|| percent_decode(user));
            out.password = password.map(percent_decode);
            &authority[at + 1..]
        }
        None => authority,
    };
    let (host, port) = split_host_port(host_port)?;
    out.host = (!host.is_empty()).then(|| host.to_string());
    out.port = port;
    if let Some(db) = path.filter(|p| !p.is_empty()) {
        out.db = Some(db.parse().map_err(|_| UriError::Invalid("database is not a number"))?);
    }
    Ok(out)
}

fn split_host_port(text: &str) -> Result<(&str, Option<u16>), UriError> {
    let (host, port) = if let Some(v6) = text.strip_prefix('[') {
        let end = v6.find(']').ok_or(UriError::Invalid("unclosed '[' in host"))?;
        (&v6[..end], v6[end + 1..].strip_prefix(':'))
    } else {
        match text.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (text, None),
        }
    };
    let port = match port.filter(|p| !p.is_empty()) {
        Some(p) => Some(p.parse().map_err(|_| UriError::Invalid("port is not a number"))?),
        None => None,
    };
    Ok((host, port))
}

/// `%XX` escapes decoded; a malformed escape stays as it is.
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_and_partial_uris() {
        let uri = parse("redis://alice:p%40ss@db.example:7000/3").unwrap();
        assert_eq!(uri.host.as_deref(), Some("db.example"));
        assert_eq!(uri.port, Some(7000));
        assert_eq!(uri.user.as_deref(), Some(&b"alice"[..]));
        assert_eq!(uri.password.as_deref(), Some(&b"p@ss"[..]));
        assert_eq!(uri.db, Some(3));
        let uri = parse("redis://:secret@127.0.0.1").unwrap();
        assert_eq!((uri.user, uri.password.as_deref(), uri.port), (None, Some(&b"secret"[..]), None));
        assert_eq!(parse("redis://[::1]:6380/").unwrap().host.as_deref(), Some("::1"));
        assert_eq!(parse("redis://[::1]:6380/").unwrap().port, Some(6380));
        assert_eq!(
            parse("redis://localhost").unwrap(),
            ServerUri { host: Some("localhost".into()), ..Default::default() }
        );
    }

    #[test]
    fn bad_uris() {
        assert!(parse("rediss://h").unwrap().tls);
        assert!(!parse("redis://h").unwrap().tls);
        assert_eq!(parse("http://h"), Err(UriError::Scheme));
        assert!(parse("redis://h:port").is_err());
        assert!(parse("redis://h/x").is_err());
        assert_eq!(percent_decode("%zz%4"), b"%zz%4");
    }
}

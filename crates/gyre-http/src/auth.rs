//! Authentication of one request from its `Authorization` header.
//!
//! `Bearer <password>` is `AUTH password` (the default user); `Basic
//! base64(user:password)` is `AUTH user password` (the password is
//! everything after the first colon, so it may hold colons). Credentials are
//! checked whenever they are present; without them a request is anonymous
//! when the backend allows it and refused (401) otherwise. Scheme names are
//! case-insensitive (RFC 9110). Credentials are never logged.

use axum::http::{header, HeaderMap, StatusCode};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

use crate::backend::Backend;
use crate::error::ApiError;

/// Credentials found in a request.
#[derive(Debug, PartialEq, Eq)]
enum Credentials {
    Bearer(Vec<u8>),
    Basic { user: String, password: Vec<u8> },
}

/// The session the request runs as, or a 401.
pub(crate) fn session<B: Backend>(backend: &B, headers: &HeaderMap) -> Result<B::Session, ApiError> {
    let credentials = match headers.get(header::AUTHORIZATION) {
        None if backend.auth_required() => {
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "authentication required"));
        }
        None => return Ok(backend.anonymous()),
        Some(value) => parse(value.as_bytes())?,
    };
    let result = match &credentials {
        Credentials::Bearer(password) => backend.authenticate(None, password),
        Credentials::Basic { user, password } => backend.authenticate(Some(user), password),
    };
    result.map_err(|e| {
        tracing::debug!("HTTP request refused: wrong credentials");
        ApiError::new(StatusCode::UNAUTHORIZED, e.to_string())
    })
}

fn parse(value: &[u8]) -> Result<Credentials, ApiError> {
    let malformed =
        |why: &str| ApiError::new(StatusCode::UNAUTHORIZED, format!("malformed Authorization header: {why}"));
    let (scheme, rest) = match value.iter().position(|&b| b == b' ') {
        Some(i) => (&value[..i], value[i + 1..].trim_ascii()),
        None => (value, &b""[..]),
    };
    if scheme.eq_ignore_ascii_case(b"bearer") {
        if rest.is_empty() {
            return Err(malformed("empty bearer token"));
        }
        return Ok(Credentials::Bearer(rest.to_vec()));
    }
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return Err(malformed("the scheme must be Bearer or Basic"));
    }
    let decoded = BASE64.decode(rest).map_err(|_| malformed("Basic credentials are not base64"))?;
    let colon = decoded.iter().position(|&b| b == b':').ok_or_else(|| malformed("Basic credentials lack ':'"))?;
    let user = std::str::from_utf8(&decoded[..colon]).map_err(|_| malformed("the user name is not UTF-8"))?;
    Ok(Credentials::Basic { user: user.to_owned(), password: decoded[colon + 1..].to_vec() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_and_basic() {
        assert_eq!(parse(b"Bearer s3cret").unwrap(), Credentials::Bearer(b"s3cret".to_vec()));
        assert_eq!(parse(b"bearer  s3cret ").unwrap(), Credentials::Bearer(b"s3cret".to_vec()));
        // alice:pa:ss
        let basic = format!("Basic {}", BASE64.encode("alice:pa:ss"));
        let expected = Credentials::Basic { user: "alice".into(), password: b"pa:ss".to_vec() };
        assert_eq!(parse(basic.as_bytes()).unwrap(), expected);
    }

    #[test]
    fn malformed_headers_are_401s() {
        for bad in [&b"Bearer"[..], b"Bearer ", b"Digest x", b"Basic !!!", b"Basic YWxpY2U=", b""] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.status, StatusCode::UNAUTHORIZED, "{}", String::from_utf8_lossy(bad));
        }
        let not_utf8_user = format!("Basic {}", BASE64.encode(b"\xff:pw"));
        assert!(parse(not_utf8_user.as_bytes()).unwrap_err().message.contains("UTF-8"));
    }
}

//! [`ApiError`]: every failed request is answered with a status and a JSON
//! body `{"error": "message"}`, and [`command_error_status`] maps command
//! errors to statuses by their prefix.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// `WWW-Authenticate` challenges sent with a 401: both schemes we accept.
pub(crate) const AUTH_CHALLENGES: [&str; 2] = ["Bearer realm=\"gyre\"", "Basic realm=\"gyre\", charset=\"UTF-8\""];

/// A request that failed: status and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into() }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// A command's error reply, with the status its prefix maps to.
    pub(crate) fn command(message: &[u8]) -> Self {
        ApiError::new(command_error_status(message), String::from_utf8_lossy(message))
    }

    /// A reply of a shape the endpoint did not expect (a server bug).
    pub(crate) fn unexpected_reply(command: &str) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("unexpected reply to {command}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message }).to_string();
        let mut response = (self.status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            let headers = response.headers_mut();
            for challenge in AUTH_CHALLENGES {
                headers.append(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
            }
        }
        response
    }
}

/// The status for a command error, by its first word:
///
/// | prefix | status |
/// | --- | --- |
/// | `NOPERM` | 403 Forbidden |
/// | `NOAUTH`, `WRONGPASS` | 401 Unauthorized |
/// | `WRONGTYPE` | 409 Conflict |
/// | `OOM` | 507 Insufficient Storage |
/// | `LOADING`, `BUSY`, `MISCONF`, `READONLY`, `TRYAGAIN`, `CLUSTERDOWN`, `MASTERDOWN` | 503 Service Unavailable |
/// | `MOVED`, `ASK` | 421 Misdirected Request |
/// | anything else (`ERR`, `EXECABORT`, `NOSCRIPT`, ...) | 400 Bad Request |
pub(crate) fn command_error_status(message: &[u8]) -> StatusCode {
    let prefix = message.split(|&b| b == b' ').next().unwrap_or_default();
    match prefix {
        b"NOPERM" => StatusCode::FORBIDDEN,
        b"NOAUTH" | b"WRONGPASS" => StatusCode::UNAUTHORIZED,
        b"WRONGTYPE" => StatusCode::CONFLICT,
        b"OOM" => StatusCode::INSUFFICIENT_STORAGE,
        b"LOADING" | b"BUSY" | b"MISCONF" | b"READONLY" | b"TRYAGAIN" | b"CLUSTERDOWN" | b"MASTERDOWN" => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        b"MOVED" | b"ASK" => StatusCode::MISDIRECTED_REQUEST,
        _ => StatusCode::BAD_REQUEST,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_prefix() {
        let cases: [(&[u8], u16); 9] = [
            (b"ERR unknown command 'x'", 400),
            (b"NOPERM User alice has no permissions to run the 'set' command", 403),
            (b"WRONGTYPE Operation against a key holding the wrong kind of value", 409),
            (b"OOM command not allowed when used memory > 'maxmemory'.", 507),
            (b"LOADING Gyre is loading the dataset in memory", 503),
            (b"MISCONF Errors writing to the WAL", 503),
            (b"MOVED 3999 127.0.0.1:6381", 421),
            (b"NOAUTH Authentication required.", 401),
            (b"", 400),
        ];
        for (message, status) in cases {
            assert_eq!(command_error_status(message).as_u16(), status, "{}", String::from_utf8_lossy(message));
        }
    }

    #[test]
    fn the_body_is_json_and_401_carries_both_challenges() {
        let response = ApiError::new(StatusCode::UNAUTHORIZED, "authentication required").into_response();
        let challenges: Vec<_> = response.headers().get_all(header::WWW_AUTHENTICATE).iter().collect();
        assert_eq!(challenges.len(), 2);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let response = ApiError::bad_request("x").into_response();
        assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
    }
}

//! The router: the route table [`ROUTES`] (the router is built from it, and a
//! test checks it against `docs/openapi.json`), the handlers, and the
//! middleware that counts and times every request.
//!
//! Every key endpoint runs ordinary commands through [`Backend::execute`]:
//! GET and PTTL, SET with PX/NX/XX, DEL, SCAN. Keys come from the raw request
//! path, percent-decoded strictly (`%` must start two hex digits), so a key
//! may hold any byte and `/` may be written as-is or as `%2F`.
//!
//! Requests that may change data (`PUT`, `DELETE`, `POST /v1/commands` with a
//! JSON content type) cannot be sent cross-origin by a browser without a CORS
//! preflight, which this API never grants: a web page cannot drive a Gyre on
//! the visitor's machine. That is why `POST /v1/commands` insists on
//! `Content-Type: application/json` (415 otherwise).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{MatchedPath, Query, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;
use bytes::Bytes;
use gyre_resp::Frame;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth;
use crate::backend::Backend;
use crate::error::ApiError;
use crate::json::{bytes_to_json, frame_to_json, json_to_arg};
use crate::metrics::{render_metrics, HttpStats, PROMETHEUS_CONTENT_TYPE};
use crate::server::HttpLimits;

/// The OpenAPI 3 document (`docs/openapi.json`), served at `/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("../../../docs/openapi.json");

/// Largest `count` a `GET /v1/keys` page may ask for (400 beyond): one page is
/// one SCAN call, and this bounds the work and the reply of one request.
pub const SCAN_COUNT_MAX: u32 = 10_000;

/// Most arguments one `POST /v1/commands` may carry (400 beyond), as Redis's
/// multibulk length limit.
const COMMAND_ARGS_MAX: usize = 1024 * 1024;

/// Prefix of the key routes in a request path.
const KEYS_PREFIX: &str = "/v1/keys/";

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    GetKey,
    PutKey,
    DeleteKey,
    ListKeys,
    Command,
    Metrics,
    Health,
    Ready,
    OpenApi,
}

/// One route: its path as the OpenAPI document writes it, its method (GET
/// routes answer HEAD too) and what it does.
#[derive(Debug)]
pub(crate) struct Route {
    pub(crate) path: &'static str,
    pub(crate) method: Method,
    pub(crate) endpoint: Endpoint,
}

const fn route(path: &'static str, method: Method, endpoint: Endpoint) -> Route {
    Route { path, method, endpoint }
}

/// Every route served, and nothing else is.
pub(crate) const ROUTES: &[Route] = &[
    route("/v1/keys/{key}", Method::GET, Endpoint::GetKey),
    route("/v1/keys/{key}", Method::PUT, Endpoint::PutKey),
    route("/v1/keys/{key}", Method::DELETE, Endpoint::DeleteKey),
    route("/v1/keys", Method::GET, Endpoint::ListKeys),
    route("/v1/commands", Method::POST, Endpoint::Command),
    route("/metrics", Method::GET, Endpoint::Metrics),
    route("/health", Method::GET, Endpoint::Health),
    route("/ready", Method::GET, Endpoint::Ready),
    route("/openapi.json", Method::GET, Endpoint::OpenApi),
];

/// The router's form of a documented path: `{key}` takes the rest of the
/// path, slashes included (`/v1/keys/users/42` names the key `users/42`).
fn router_path(path: &str) -> String {
    path.replace("{key}", "{*key}")
}

/// What every handler sees.
pub(crate) struct AppState<B: Backend> {
    pub(crate) backend: Arc<B>,
    pub(crate) limits: HttpLimits,
    pub(crate) stats: Arc<HttpStats>,
}

impl<B: Backend> Clone for AppState<B> {
    fn clone(&self) -> Self {
        AppState { backend: self.backend.clone(), limits: self.limits.clone(), stats: self.stats.clone() }
    }
}

/// The application: every route of [`ROUTES`], JSON 404/405 fallbacks, and
/// request accounting.
pub(crate) fn router<B: Backend>(state: AppState<B>) -> Router {
    let mut router = Router::new();
    for r in ROUTES {
        let filter = MethodFilter::try_from(r.method.clone()).expect("the route table names standard methods");
        router = router.route(&router_path(r.path), method_router::<B>(r.endpoint, filter));
    }
    router
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.stats.clone(), observe))
        .with_state(state)
}

fn method_router<B: Backend>(endpoint: Endpoint, method: MethodFilter) -> MethodRouter<AppState<B>> {
    match endpoint {
        Endpoint::GetKey => on(method, get_key::<B>),
        Endpoint::PutKey => on(method, put_key::<B>),
        Endpoint::DeleteKey => on(method, delete_key::<B>),
        Endpoint::ListKeys => on(method, list_keys::<B>),
        Endpoint::Command => on(method, command::<B>),
        Endpoint::Metrics => on(method, metrics::<B>),
        Endpoint::Health => on(method, health),
        Endpoint::Ready => on(method, ready::<B>),
        Endpoint::OpenApi => on(method, openapi),
    }
}

/// Counts and times every request, and logs it at debug level with its route
/// template (never the path: it holds the key).
async fn observe(State(stats): State<Arc<HttpStats>>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    let elapsed = start.elapsed();
    let status = response.status().as_u16();
    stats.latency.observe(elapsed);
    stats.count_response(status);
    let route = route.as_ref().map_or("-", MatchedPath::as_str);
    tracing::debug!(%method, route, status, elapsed_us = elapsed.as_micros() as u64, "HTTP request");
    response
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("no route for {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, format!("method {method} is not allowed here"))
}

fn cmd(name: &'static str) -> Bytes {
    Bytes::from_static(name.as_bytes())
}

/// `GET /v1/keys/{key}`: the value, raw or as JSON with its TTL.
async fn get_key<B: Backend>(
    State(st): State<AppState<B>>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let session = auth::session(&*st.backend, &headers)?;
    let key = key_from_path(uri.path())?;
    let value = match st.backend.execute(&session, &[cmd("GET"), key.clone()]).await {
        Frame::Bulk(value) => value,
        Frame::Null => return Err(ApiError::new(StatusCode::NOT_FOUND, "no such key")),
        Frame::Error(e) => return Err(ApiError::command(&e)),
        _ => return Err(ApiError::unexpected_reply("GET")),
    };
    if !accepts_json(&headers) {
        return Ok(([(header::CONTENT_TYPE, "application/octet-stream")], value).into_response());
    }
    // A second command: a key deleted or expired in between shows ttl_ms 0.
    let ttl_ms = match st.backend.execute(&session, &[cmd("PTTL"), key]).await {
        Frame::Integer(-1) => None,
        Frame::Integer(ms) => Some(ms.max(0)),
        Frame::Error(e) => return Err(ApiError::command(&e)),
        _ => return Err(ApiError::unexpected_reply("PTTL")),
    };
    Ok(json_response(StatusCode::OK, &json!({ "value": bytes_to_json(&value), "ttl_ms": ttl_ms })))
}

/// Query of `PUT /v1/keys/{key}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PutQuery {
    #[serde(default)]
    nx: bool,
    #[serde(default)]
    xx: bool,
    /// Seconds, may be fractional.
    ttl: Option<f64>,
}

/// JSON body of `PUT /v1/keys/{key}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PutJson {
    value: Value,
    ttl: Option<f64>,
}

/// `PUT /v1/keys/{key}`: SET, with PX from `ttl`, NX / XX from the query.
async fn put_key<B: Backend>(
    State(st): State<AppState<B>>,
    uri: Uri,
    headers: HeaderMap,
    query: Result<Query<PutQuery>, QueryRejection>,
    body: Body,
) -> Result<StatusCode, ApiError> {
    // Authenticate before reading the body: strangers cannot make us buffer it.
    let session = auth::session(&*st.backend, &headers)?;
    let key = key_from_path(uri.path())?;
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if q.nx && q.xx {
        return Err(ApiError::bad_request("nx and xx exclude each other"));
    }
    let body = read_body(body, &headers, &st.limits).await?;
    let (value, body_ttl) = if is_json(&headers) {
        let put: PutJson =
            serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("bad JSON: {e}")))?;
        let value = json_to_arg(&put.value).map_err(|e| ApiError::bad_request(format!("value: {e}")))?;
        (value, put.ttl)
    } else {
        (body, None)
    };
    let ttl = match (q.ttl, body_ttl) {
        (Some(_), Some(_)) => return Err(ApiError::bad_request("ttl is given both in the query and in the body")),
        (ttl, body_ttl) => ttl.or(body_ttl),
    };
    let mut args = vec![cmd("SET"), key, value];
    if let Some(ttl) = ttl {
        args.extend([cmd("PX"), Bytes::from(ttl_ms(ttl)?.to_string())]);
    }
    if q.nx {
        args.push(cmd("NX"));
    }
    if q.xx {
        args.push(cmd("XX"));
    }
    match st.backend.execute(&session, &args).await {
        Frame::Simple(_) => Ok(StatusCode::NO_CONTENT),
        Frame::Null if q.nx => Err(ApiError::new(StatusCode::PRECONDITION_FAILED, "nx: the key exists")),
        Frame::Null if q.xx => Err(ApiError::new(StatusCode::PRECONDITION_FAILED, "xx: the key does not exist")),
        Frame::Error(e) => Err(ApiError::command(&e)),
        _ => Err(ApiError::unexpected_reply("SET")),
    }
}

/// Seconds (maybe fractional) as whole milliseconds, at least 1.
fn ttl_ms(ttl_seconds: f64) -> Result<u64, ApiError> {
    let ms = (ttl_seconds * 1000.0).round();
    // i64::MAX / 2 ms is far beyond any date; SET refuses more anyway.
    if !ms.is_finite() || ms < 1.0 || ms > (i64::MAX / 2) as f64 {
        return Err(ApiError::bad_request("ttl must be a positive number of seconds (at least 0.001)"));
    }
    Ok(ms as u64)
}

/// `DELETE /v1/keys/{key}`: DEL.
async fn delete_key<B: Backend>(
    State(st): State<AppState<B>>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let session = auth::session(&*st.backend, &headers)?;
    let key = key_from_path(uri.path())?;
    match st.backend.execute(&session, &[cmd("DEL"), key]).await {
        Frame::Integer(0) => Err(ApiError::new(StatusCode::NOT_FOUND, "no such key")),
        Frame::Integer(_) => Ok(StatusCode::NO_CONTENT),
        Frame::Error(e) => Err(ApiError::command(&e)),
        _ => Err(ApiError::unexpected_reply("DEL")),
    }
}

/// Query of `GET /v1/keys`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    #[serde(rename = "match")]
    pattern: Option<String>,
    cursor: Option<String>,
    count: Option<u32>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// `GET /v1/keys`: one SCAN call.
async fn list_keys<B: Backend>(
    State(st): State<AppState<B>>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let session = auth::session(&*st.backend, &headers)?;
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let cursor = q.cursor.unwrap_or_else(|| "0".to_owned());
    let mut args = vec![cmd("SCAN"), Bytes::from(cursor)];
    if let Some(pattern) = q.pattern {
        args.extend([cmd("MATCH"), Bytes::from(pattern)]);
    }
    if let Some(count) = q.count {
        if count == 0 || count > SCAN_COUNT_MAX {
            return Err(ApiError::bad_request(format!("count must be between 1 and {SCAN_COUNT_MAX}")));
        }
        args.extend([cmd("COUNT"), Bytes::from(count.to_string())]);
    }
    if let Some(kind) = q.kind {
        args.extend([cmd("TYPE"), Bytes::from(kind)]);
    }
    let reply = st.backend.execute(&session, &args).await;
    let (next, keys) = match reply {
        Frame::Array(mut parts) if parts.len() == 2 => match (parts.remove(0), parts.remove(0)) {
            (Frame::Bulk(next), Frame::Array(keys)) => (next, keys),
            _ => return Err(ApiError::unexpected_reply("SCAN")),
        },
        Frame::Error(e) => return Err(ApiError::command(&e)),
        _ => return Err(ApiError::unexpected_reply("SCAN")),
    };
    let mut names = Vec::with_capacity(keys.len());
    for key in keys {
        match key {
            Frame::Bulk(k) => names.push(bytes_to_json(&k)),
            _ => return Err(ApiError::unexpected_reply("SCAN")),
        }
    }
    let next = String::from_utf8_lossy(&next);
    Ok(json_response(StatusCode::OK, &json!({ "keys": names, "cursor": next })))
}

/// `POST /v1/commands`: one command from a JSON array, its reply as JSON.
async fn command<B: Backend>(
    State(st): State<AppState<B>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let session = auth::session(&*st.backend, &headers)?;
    if !is_json(&headers) {
        let message = "the body must be a JSON array sent with Content-Type: application/json";
        return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, message));
    }
    let body = read_body(body, &headers, &st.limits).await?;
    let parsed: Value = serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("bad JSON: {e}")))?;
    let Value::Array(items) = parsed else {
        return Err(ApiError::bad_request("the body must be a JSON array: [\"COMMAND\", \"arg\", ...]"));
    };
    if items.is_empty() || items.len() > COMMAND_ARGS_MAX {
        return Err(ApiError::bad_request(format!("a command has 1 to {COMMAND_ARGS_MAX} elements")));
    }
    let mut args = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        args.push(json_to_arg(item).map_err(|e| ApiError::bad_request(format!("element {i}: {e}")))?);
    }
    match st.backend.execute(&session, &args).await {
        Frame::Error(e) => Err(ApiError::command(&e)),
        reply => {
            let value =
                frame_to_json(&reply).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
            Ok(json_response(StatusCode::OK, &value))
        }
    }
}

/// `GET /metrics`: Prometheus text format. Needs credentials when data does.
async fn metrics<B: Backend>(State(st): State<AppState<B>>, headers: HeaderMap) -> Result<Response, ApiError> {
    auth::session(&*st.backend, &headers)?;
    let text = render_metrics(&st.backend.metrics(), &st.stats);
    Ok(([(header::CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)], text).into_response())
}

/// `GET /health`: 200 while the process serves.
async fn health() -> Response {
    json_response(StatusCode::OK, &json!({ "status": "ok" }))
}

/// `GET /ready`: 200 once recovery is over, 503 before.
async fn ready<B: Backend>(State(st): State<AppState<B>>) -> Response {
    if st.backend.ready() {
        json_response(StatusCode::OK, &json!({ "status": "ready" }))
    } else {
        json_response(StatusCode::SERVICE_UNAVAILABLE, &json!({ "status": "loading" }))
    }
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON).into_response()
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], value.to_string()).into_response()
}

/// Reads the whole body: 413 beyond the limit (at once when Content-Length
/// says so), 408 when it takes longer than the body timeout.
async fn read_body(body: Body, headers: &HeaderMap, limits: &HttpLimits) -> Result<Bytes, ApiError> {
    let too_large = || {
        let message = format!("the request body is larger than {} bytes", limits.body_bytes_max);
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, message)
    };
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.body_bytes_max as u64) {
        return Err(too_large());
    }
    let collect = Limited::new(body, limits.body_bytes_max).collect();
    match tokio::time::timeout(limits.body_read_timeout, collect).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(_)) => Err(ApiError::bad_request("could not read the request body")),
        Err(_) => Err(ApiError::new(StatusCode::REQUEST_TIMEOUT, "the request body took too long to arrive")),
    }
}

/// The key named by a `/v1/keys/...` path, percent-decoded.
fn key_from_path(path: &str) -> Result<Bytes, ApiError> {
    let encoded = path.strip_prefix(KEYS_PREFIX).ok_or_else(|| ApiError::bad_request("not a key path"))?;
    percent_decode(encoded).map(Bytes::from)
}

/// Strict percent-decoding: every `%` must start two hex digits.
fn percent_decode(s: &str) -> Result<Vec<u8>, ApiError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let digit = |at: usize| bytes.get(at).and_then(|&b| char::from(b).to_digit(16));
        let (Some(high), Some(low)) = (digit(i + 1), digit(i + 2)) else {
            return Err(ApiError::bad_request(format!("bad percent-encoding at byte {i} of the key")));
        };
        out.push((high * 16 + low) as u8);
        i += 3;
    }
    Ok(out)
}

/// True when `Content-Type` is `application/json` (parameters allowed).
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    media_type(value).eq_ignore_ascii_case("application/json")
}

/// True when `Accept` lists `application/json`.
fn accepts_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| media_type(range).eq_ignore_ascii_case("application/json"))
}

fn media_type(value: &str) -> &str {
    value.split(';').next().unwrap_or_default().trim()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashSet};

    use super::*;

    #[test]
    fn percent_decoding_is_strict() {
        assert_eq!(percent_decode("a%20b%2Fc%ff").unwrap(), b"a b/c\xff");
        assert_eq!(percent_decode("plain/with/slashes").unwrap(), b"plain/with/slashes");
        for bad in ["%", "%4", "%zz", "a%g0", "%+1"] {
            let err = percent_decode(bad).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{bad}");
        }
    }

    #[test]
    fn ttl_seconds_become_milliseconds() {
        assert_eq!(ttl_ms(10.0).unwrap(), 10_000);
        assert_eq!(ttl_ms(0.0015).unwrap(), 2);
        for bad in [0.0, -1.0, 0.0001, f64::NAN, f64::INFINITY, 1e300] {
            assert!(ttl_ms(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn content_negotiation() {
        let mut h = HeaderMap::new();
        assert!(!accepts_json(&h));
        h.insert(header::ACCEPT, "text/html, application/json;q=0.9".parse().unwrap());
        assert!(accepts_json(&h));
        h.insert(header::CONTENT_TYPE, "Application/JSON; charset=utf-8".parse().unwrap());
        assert!(is_json(&h));
        h.insert(header::CONTENT_TYPE, "application/octet-stream".parse().unwrap());
        assert!(!is_json(&h));
    }

    const HTTP_METHODS: [&str; 8] = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

    /// Every `$ref` of the document points at something in it.
    #[test]
    fn openapi_references_resolve() {
        let doc: Value = serde_json::from_str(OPENAPI_JSON).unwrap();
        let mut stack = vec![&doc];
        let mut refs = 0;
        while let Some(v) = stack.pop() {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(r)) = m.get("$ref") {
                        let pointer = r.strip_prefix('#').expect("local reference");
                        assert!(doc.pointer(pointer).is_some(), "dangling {r}");
                        refs += 1;
                    }
                    stack.extend(m.values());
                }
                Value::Array(a) => stack.extend(a),
                _ => {}
            }
        }
        assert!(refs > 10);
    }

    /// Every route the router serves is in `docs/openapi.json` and every
    /// operation of the document is served; the document is OpenAPI 3.
    #[test]
    fn openapi_document_matches_the_route_table() {
        let doc: Value = serde_json::from_str(OPENAPI_JSON).expect("docs/openapi.json parses");
        assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "an OpenAPI 3 document");
        let paths = doc["paths"].as_object().expect("paths");
        let documented: BTreeSet<(String, String)> = paths
            .iter()
            .flat_map(|(path, ops)| {
                let ops = ops.as_object().expect("path item");
                for key in ops.keys() {
                    assert!(HTTP_METHODS.contains(&key.as_str()) || key == "parameters", "{path}: unexpected {key}");
                }
                ops.keys().filter(|k| *k != "parameters").map(move |m| (path.clone(), m.to_uppercase()))
            })
            .collect();
        let served: BTreeSet<(String, String)> =
            ROUTES.iter().map(|r| (r.path.to_owned(), r.method.as_str().to_owned())).collect();
        assert_eq!(served, documented);
        assert_eq!(router_path("/v1/keys/{key}"), "/v1/keys/{*key}");
        let endpoints: HashSet<_> = ROUTES.iter().map(|r| format!("{:?}", r.endpoint)).collect();
        assert_eq!(endpoints.len(), ROUTES.len(), "each endpoint is routed once");
    }
}

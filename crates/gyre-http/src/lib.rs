//! `gyre-http`: Gyre's HTTP/JSON API, its Prometheus `/metrics` endpoint and
//! its OpenAPI document, served by [`serve`] over plain TCP or TLS (rustls).
//!
//! What it is: a thin HTTP shell over a [`Backend`], which the server
//! implements. Every key endpoint is translated into ordinary commands run
//! through [`Backend::execute`] (GET + PTTL, SET with PX/NX/XX, DEL, SCAN), so
//! HTTP clients see exactly what RESP clients see: the same ACLs, the same
//! durability rule, the same errors. The crate never touches the keyspace.
//!
//! What it is not: a second command path, a session store or a cache. Each
//! request authenticates on its own (no cookies) and runs its commands as a
//! fresh client of the server: nothing (SELECT, MULTI, CLIENT SETNAME, ...)
//! carries over from one request to the next.
//!
//! # The contract with the server ([`Backend`])
//! * `auth_required()`: when true, a request without credentials gets 401.
//!   Credentials, when given, are always checked (as `AUTH` would be), so a
//!   client can act as a named ACL user even when the default user needs no
//!   password. `Authorization: Bearer <password>` authenticates the default
//!   user (`user = None`); `Basic base64(user:password)` a named user.
//! * `execute(session, args)` runs one command (`args[0]` is its name) and
//!   returns the RESP3-shaped reply as a [`gyre_resp::Frame`]; a command error
//!   is a [`Frame::Error`](gyre_resp::Frame::Error) (`ERR ...`, `WRONGTYPE ...`,
//!   `NOPERM ...`). The returned future resolves when the reply may be sent,
//!   i.e. after the write is durable under the server's fsync policy. It must
//!   not block the thread (await instead), and it must answer: commands that
//!   would block (BLPOP ...) or need connection state (SUBSCRIBE, MONITOR,
//!   MULTI/EXEC, WATCH) must be refused with an error reply.
//! * `ready()`: `/ready` answers 200 only while it is true.
//! * `metrics()`: a [`MetricsSnapshot`], rendered by `/metrics`. Latencies
//!   are recorded with [`Histogram`], cheap enough for the command path.
//!
//! # Limits ([`HttpLimits`])
//! Body size (413 beyond), time to send the request headers (also the idle
//! keep-alive timeout and the TLS handshake timeout), time to send the body
//! (408 beyond), concurrent connections (a 503 and a close beyond), the SCAN
//! page size ([`SCAN_COUNT_MAX`]) and the nesting depth of JSON replies
//! ([`JSON_DEPTH_MAX`]). HTTP/1.1 only (no HTTP/2): TLS advertises
//! `http/1.1` through ALPN whatever the given configuration says.
//!
//! Passwords and values are never logged; requests are logged at `debug!`
//! with their route template, never their path (which holds the key).
//!
//! `docs/HTTP.md` is the user guide; `docs/openapi.json` (served at
//! `/openapi.json`) describes every route.

mod auth;
mod backend;
mod error;
mod histogram;
mod json;
mod metrics;
mod routes;
mod server;

pub use backend::{AuthError, Backend};
pub use histogram::{Histogram, HistogramSnapshot, LATENCY_BOUNDS_NS};
pub use json::{frame_to_json, ReplyTooDeep, JSON_DEPTH_MAX};
pub use metrics::{
    CommandMetrics, DbMetrics, MetricsSnapshot, ReplicaMetrics, ReplicationMetrics, PROMETHEUS_CONTENT_TYPE,
};
pub use routes::{OPENAPI_JSON, SCAN_COUNT_MAX};
pub use server::{
    serve, HttpLimits, BODY_BYTES_MAX_DEFAULT, BODY_READ_TIMEOUT_DEFAULT, CONNECTIONS_MAX_DEFAULT,
    HEADER_READ_TIMEOUT_DEFAULT, SHUTDOWN_GRACE_DEFAULT,
};

/// The rustls this crate serves TLS with: build the `ServerConfig` given to
/// [`serve`] with this one, so the versions agree.
pub use rustls;

//! [`Backend`]: what the server provides to the HTTP API. See the crate
//! documentation for the contract.

use std::future::Future;

use bytes::Bytes;
use gyre_resp::Frame;

use crate::metrics::MetricsSnapshot;

/// Why credentials were refused. Every variant answers 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Unknown user, wrong password or disabled user (one answer for all
    /// three, as `AUTH` gives, so a caller cannot probe for user names).
    #[error("WRONGPASS invalid username-password pair or user is disabled.")]
    WrongPass,
}

/// The server side of the HTTP API.
///
/// One value serves every connection (it is shared behind an `Arc`), so all
/// methods take `&self` and must be safe to call from many tasks at once.
pub trait Backend: Send + Sync + 'static {
    /// Who a request runs as: the authenticated (or anonymous default) user.
    /// Created per request and dropped after it.
    type Session: Send + Sync + 'static;

    /// Whether a request without credentials must be refused (401): true when
    /// `requirepass` is set or the default user needs a password.
    fn auth_required(&self) -> bool;

    /// Checks credentials: `user` is `None` for `Authorization: Bearer
    /// <password>` (the default user, like `AUTH password`) and `Some` for
    /// `Basic user:password` (like `AUTH user password`). Called for every
    /// request that carries credentials, whatever `auth_required` says.
    fn authenticate(&self, user: Option<&str>, password: &[u8]) -> Result<Self::Session, AuthError>;

    /// The session of a request without credentials when `auth_required` is
    /// false: the default user.
    fn anonymous(&self) -> Self::Session;

    /// Runs one command (`args[0]` is its name, never empty) as `session` and
    /// resolves to its reply, shaped for RESP3 (maps as [`Frame::Map`], ...).
    /// Errors are [`Frame::Error`] with their usual prefix (`ERR`,
    /// `WRONGTYPE`, `NOPERM`, `OOM`, `LOADING`, ...).
    ///
    /// The future resolves when the reply may be sent (after the fsync that
    /// covers a write, under `appendfsync always`). It must not block the
    /// thread, and it must resolve: blocking commands and commands that need
    /// connection state (SUBSCRIBE, MONITOR, MULTI, WATCH, ...) are to be
    /// refused with an error reply.
    fn execute(&self, session: &Self::Session, args: &[Bytes]) -> impl Future<Output = Frame> + Send;

    /// Whether the server serves data yet (recovery finished): `/ready`.
    fn ready(&self) -> bool;

    /// The numbers `/metrics` shows, read now.
    fn metrics(&self) -> MetricsSnapshot;
}

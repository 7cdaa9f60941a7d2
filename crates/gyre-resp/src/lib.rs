//! `gyre-resp`: the Redis wire protocol (RESP2, RESP3 and inline commands)
//! for Gyre, as pure functions over byte slices, with no I/O.
//!
//! What it is:
//! * [`RequestParser`]: the server's request parser, matching Redis 7's
//!   multibulk and inline parsing byte for byte, including its error messages
//!   ([`ProtocolError`]); zero-copy, allocation-free per request once warm,
//!   resumable in linear time.
//! * [`ReplyWriter`]: writes replies straight into an output buffer in the
//!   client's [`Protocol`], formatting numbers without allocating
//!   ([`format_double`] spells doubles as Redis 7.2 does).
//! * [`Frame`], [`parse_frame`], [`encode_command`]: the client side (tests,
//!   CLI, replication links): any RESP2/RESP3 value.
//!
//! What it is not: a connection handler or a command dispatcher; it never
//! reads sockets, never logs and never interprets command names.
//!
//! Limits: every parser enforces [`Limits`] (bulk size, element count, header
//! line length, nesting depth) on declared sizes, before buffering payloads.
//! Nothing recurses on untrusted input.

mod double;
mod error;
mod frame;
mod inline;
mod limits;
mod num;
mod reply;
mod request;

pub use double::format_double;
pub use error::ProtocolError;
pub use frame::{encode_command, parse_frame, Frame, FRAME_RESERVE_MAX};
pub use limits::{
    Limits, BULK_BYTES_MAX_DEFAULT, INLINE_BYTES_MAX_DEFAULT, MULTIBULK_LEN_MAX_DEFAULT, NESTING_DEPTH_MAX_DEFAULT,
};
pub use reply::{Protocol, ReplyWriter};
pub use request::{Args, OwnedArgs, RequestParser, SPANS_RESERVE_MAX};

#[cfg(test)]
mod proptests;

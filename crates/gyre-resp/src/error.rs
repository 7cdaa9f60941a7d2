//! The crate's one error type, [`ProtocolError`].
//!
//! Every variant renders as the exact text Redis 7 puts in its `-ERR` reply
//! (minus the `ERR ` prefix, which the server adds), so clients that match on
//! Redis's wording keep working. A protocol error is fatal for the connection:
//! the server replies with it and closes, as Redis does.
//!
//! Bytes quoted in a message are escaped (`\r`, `\x00`, ...) so that the message
//! is always printable and never contains CR or LF.

use std::fmt;

/// A malformed or over-limit request or frame.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// An inline command line longer than `Limits::inline_bytes_max` without a newline.
    #[error("Protocol error: too big inline request")]
    TooBigInlineRequest,
    /// An inline command with an unterminated quote, or a closing quote not followed by space.
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    /// A `*<count>` header line longer than `Limits::inline_bytes_max` without CR.
    #[error("Protocol error: too big mbulk count string")]
    TooBigMultibulkCount,
    /// A `*<count>` that is not an integer or exceeds `Limits::multibulk_len_max`.
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    /// A `$<len>` header line longer than `Limits::inline_bytes_max` without CR.
    #[error("Protocol error: too big bulk count string")]
    TooBigBulkCount,
    /// A multibulk element that does not start with `$`.
    #[error("Protocol error: expected '$', got '{}'", EscapedByte(*got))]
    ExpectedDollar {
        /// The byte found where `$` was expected.
        got: u8,
    },
    /// A `$<len>` that is not an integer, is negative, or exceeds `Limits::bulk_bytes_max`.
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
    /// Frames nested deeper than `Limits::nesting_depth_max` (client-side parser).
    #[error("Protocol error: nesting too deep")]
    NestingTooDeep,
    /// A frame starting with a byte that is not a RESP2/RESP3 type marker.
    #[error("Protocol error: invalid type byte '{}'", EscapedByte(*got))]
    InvalidTypeByte {
        /// The unexpected type byte.
        got: u8,
    },
    /// A line or payload not terminated by CRLF where the protocol requires it.
    #[error("Protocol error: expected CRLF")]
    ExpectedCrlf,
    /// A frame line (simple string, error, number) longer than the configured limit.
    #[error("Protocol error: too big line")]
    LineTooLong,
    /// An integer frame (`:`) that is not a valid signed 64-bit integer.
    #[error("Protocol error: invalid integer")]
    InvalidInteger,
    /// A double frame (`,`) that does not parse as a floating point number.
    #[error("Protocol error: invalid double")]
    InvalidDouble,
    /// A boolean frame (`#`) other than `t` or `f`.
    #[error("Protocol error: invalid boolean")]
    InvalidBoolean,
    /// A big number frame (`(`) that is not an optionally signed run of digits.
    #[error("Protocol error: invalid big number")]
    InvalidBigNumber,
    /// A verbatim string (`=`) shorter than 4 bytes or without `:` after its format.
    #[error("Protocol error: invalid verbatim string")]
    InvalidVerbatim,
    /// A null frame (`_`) with content before its CRLF.
    #[error("Protocol error: invalid null")]
    InvalidNull,
}

/// Displays a byte as a printable character, escaping anything that is not
/// printable ASCII (so an error message never carries CR/LF into a reply).
struct EscapedByte(u8);

impl fmt::Display for EscapedByte {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // escape_default also escapes quotes and backslash, which keeps the
        // quoted byte unambiguous inside the '...' of the message.
        write!(f, "{}", self.0.escape_ascii())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_match_redis_wording() {
        let cases = [
            (ProtocolError::TooBigInlineRequest, "Protocol error: too big inline request"),
            (ProtocolError::UnbalancedQuotes, "Protocol error: unbalanced quotes in request"),
            (ProtocolError::TooBigMultibulkCount, "Protocol error: too big mbulk count string"),
            (ProtocolError::InvalidMultibulkLength, "Protocol error: invalid multibulk length"),
            (ProtocolError::TooBigBulkCount, "Protocol error: too big bulk count string"),
            (ProtocolError::ExpectedDollar { got: b'x' }, "Protocol error: expected '$', got 'x'"),
            (ProtocolError::InvalidBulkLength, "Protocol error: invalid bulk length"),
            (ProtocolError::NestingTooDeep, "Protocol error: nesting too deep"),
            (ProtocolError::InvalidTypeByte { got: b'@' }, "Protocol error: invalid type byte '@'"),
        ];
        for (err, text) in cases {
            assert_eq!(err.to_string(), text);
        }
    }

    #[test]
    fn non_printable_bytes_are_escaped() {
        let err = ProtocolError::ExpectedDollar { got: b'\r' };
        assert_eq!(err.to_string(), "Protocol error: expected '$', got '\\r'");
        let err = ProtocolError::InvalidTypeByte { got: 0 };
        assert_eq!(err.to_string(), "Protocol error: invalid type byte '\\x00'");
        assert!(!err.to_string().contains('\n'));
    }
}

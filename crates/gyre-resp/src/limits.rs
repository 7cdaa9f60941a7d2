//! [`Limits`]: the bounds every parser in this crate enforces.
//!
//! Each bound is checked on the *declared* size as soon as a header is read, so
//! an over-limit request is rejected before any of its payload is buffered.
//! Defaults are Redis 7's. All limits are plain counts; a limit of 0 is legal
//! and rejects everything it governs (useful in tests, useless in production).

/// Protocol limits shared by the request parser and the frame parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted bulk string payload, in bytes (Redis `proto-max-bulk-len`).
    pub bulk_bytes_max: usize,
    /// Largest accepted element count of one multibulk request or aggregate frame.
    pub multibulk_len_max: usize,
    /// Longest inline command line or `*`/`$` header line, in bytes, excluding
    /// its terminator (Redis `PROTO_INLINE_MAX_SIZE`).
    pub inline_bytes_max: usize,
    /// Deepest accepted nesting of aggregate frames in [`crate::parse_frame`];
    /// a top-level array is depth 1.
    pub nesting_depth_max: usize,
}

/// Redis's default `proto-max-bulk-len`: 512 MiB.
pub const BULK_BYTES_MAX_DEFAULT: usize = 512 * 1024 * 1024;
/// Redis's multibulk count bound (`INT_MAX`).
pub const MULTIBULK_LEN_MAX_DEFAULT: usize = i32::MAX as usize;
/// Redis's `PROTO_INLINE_MAX_SIZE`: 64 KiB.
pub const INLINE_BYTES_MAX_DEFAULT: usize = 64 * 1024;
/// Default aggregate nesting bound for the frame parser.
pub const NESTING_DEPTH_MAX_DEFAULT: usize = 128;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            bulk_bytes_max: BULK_BYTES_MAX_DEFAULT,
            multibulk_len_max: MULTIBULK_LEN_MAX_DEFAULT,
            inline_bytes_max: INLINE_BYTES_MAX_DEFAULT,
            nesting_depth_max: NESTING_DEPTH_MAX_DEFAULT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_redis_values() {
        let limits = Limits::default();
        assert_eq!(limits.bulk_bytes_max, 536_870_912);
        assert_eq!(limits.multibulk_len_max, 2_147_483_647);
        assert_eq!(limits.inline_bytes_max, 65_536);
        assert_eq!(limits.nesting_depth_max, 128);
    }
}

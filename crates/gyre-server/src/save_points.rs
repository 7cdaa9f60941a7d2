//! Redis's `save` setting: "seconds changes" pairs that schedule snapshots.
//!
//! A save point `S C` is due when at least `C` logged writes happened since the
//! last snapshot and more than `S` seconds have passed since it (Redis's
//! `serverCron` rule; `C` may be 0: a snapshot every `S` seconds). `save ""`
//! turns save points off. After a failed snapshot the next automatic try waits
//! [`RETRY_DELAY_MS`], as Redis's `CONFIG_BGSAVE_RETRY_DELAY` does, so a
//! failing disk is not hammered every tick.
//!
//! The write-ahead log already makes every acknowledged write durable; save
//! points only bound how much log a restart replays (and how old the newest
//! snapshot may be), so Gyre's default is `""`.

use std::sync::atomic::Ordering;

/// Wait after a failed automatic snapshot before the next try (Redis: 5 s).
pub const RETRY_DELAY_MS: u64 = 5_000;
/// Save points one setting may hold: a bound on the per-tick check.
pub const POINTS_MAX: usize = 64;

/// One save point: snapshot after `seconds` if `changes` writes happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SavePoint {
    pub seconds: u64,
    pub changes: u64,
}

/// Parses the setting's text with Redis 7's rules: the text split at every
/// single space (so a doubled space makes an empty word), an even number of
/// words, each read as C's `strtoll` reads it (leading whitespace and a sign
/// allowed, nothing after the digits, an empty word is 0, overflow clamps),
/// seconds >= 1 and changes >= 0. `""` is no save points.
pub fn parse(text: &str) -> Result<Vec<SavePoint>, String> {
    let invalid = || "Invalid save parameters".to_string();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let words: Vec<&str> = text.split(' ').collect();
    if words.len() % 2 == 1 || words.len() / 2 > POINTS_MAX {
        return Err(invalid());
    }
    let mut points = Vec::with_capacity(words.len() / 2);
    for pair in words.chunks(2) {
        let (seconds, changes) = (strtoll(pair[0]).ok_or_else(invalid)?, strtoll(pair[1]).ok_or_else(invalid)?);
        if seconds < 1 || changes < 0 {
            return Err(invalid());
        }
        points.push(SavePoint { seconds: seconds as u64, changes: changes as u64 });
    }
    Ok(points)
}

/// C's `strtoll(s, &end, 10)` where the caller demands `*end == '\0'`.
fn strtoll(s: &str) -> Option<i64> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    if t.is_empty() {
        // No digits at all: strtoll leaves `end` at the start, which is the
        // end of an empty word only.
        return s.is_empty().then_some(0);
    }
    let (negative, digits) = match t.as_bytes()[0] {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut v: i64 = 0;
    for b in digits.bytes() {
        let d = i64::from(b - b'0');
        v = if negative { v.saturating_mul(10).saturating_sub(d) } else { v.saturating_mul(10).saturating_add(d) };
    }
    Some(v)
}

/// The canonical text CONFIG GET answers: "3600 1 300 100", or "" for none.
pub fn normalize(text: &str) -> Result<String, String> {
    let points = parse(text)?;
    Ok(points.iter().map(|p| format!("{} {}", p.seconds, p.changes)).collect::<Vec<_>>().join(" "))
}

/// Whether one of `points` is due, `changes` writes and `since_ms` after the
/// last snapshot.
pub fn due(points: &[SavePoint], changes: u64, since_ms: u64) -> bool {
    points.iter().any(|p| changes >= p.changes && since_ms / 1000 > p.seconds)
}

/// Decides, once per background tick, whether a save point calls for a
/// snapshot now; records the attempt when it does.
pub fn snapshot_due(shared: &crate::shared::Shared, now_ms: u64) -> bool {
    let p = &shared.persistence;
    if p.wal.is_none() || p.snapshot_running.load(Ordering::Relaxed) {
        return false;
    }
    let settings = shared.config.settings();
    if settings.save.is_empty() {
        return false;
    }
    let Ok(points) = parse(&settings.save) else { return false };
    let (last_ms, last_ok) = {
        let st = p.snapshot.lock();
        (st.last_save_unix_ms, st.last_status_ok)
    };
    if !last_ok && now_ms.saturating_sub(shared.save_last_try_ms.load(Ordering::Relaxed)) <= RETRY_DELAY_MS {
        return false;
    }
    let changes = p.changes_since_snapshot.load(Ordering::Relaxed);
    if !due(&points, changes, now_ms.saturating_sub(last_ms)) {
        return false;
    }
    shared.save_last_try_ms.store(now_ms, Ordering::Relaxed);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_as_redis_does() {
        assert_eq!(normalize("").unwrap(), "");
        assert_eq!(normalize("3600 1 300 100").unwrap(), "3600 1 300 100");
        assert_eq!(normalize("900 0").unwrap(), "900 0");
        // What Redis 7.0 answers (checked with redis-server).
        assert_eq!(normalize("10 ").unwrap(), "10 0");
        assert_eq!(normalize("+5 1").unwrap(), "5 1");
        assert_eq!(normalize("05 -0").unwrap(), "5 0");
        assert_eq!(normalize("99999999999999999999 1").unwrap(), "9223372036854775807 1");
        for bad in ["1", "0 1", "10 -1", "x 1", "1 1 2", "1.5 2", " 10 1", "5 +", "5\t1", "3600 1  300 100", "  "] {
            assert_eq!(normalize(bad).unwrap_err(), "Invalid save parameters", "{bad}");
        }
    }

    #[test]
    fn due_needs_enough_changes_and_strictly_more_seconds() {
        let pts = parse("60 10 5 1000").unwrap();
        assert!(!due(&pts, 9, 61_000));
        assert!(due(&pts, 10, 61_000));
        assert!(!due(&pts, 10, 60_999));
        assert!(due(&pts, 1000, 6_000));
        assert!(!due(&pts, 1000, 5_999));
        assert!(due(&parse("1 0").unwrap(), 0, 2_000));
        assert!(!due(&[], 1_000_000, u64::MAX));
    }
}

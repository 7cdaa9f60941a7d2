//! The latency monitor: for each event (`command`, `fast-command`,
//! `expire-cycle`), the latency spikes of at least `latency-monitor-threshold`
//! milliseconds (0 = off), as Redis's LATENCY commands report them.
//!
//! Each event keeps [`HISTORY_LEN`] samples (a ring): one per second at most,
//! the worst of that second, plus the all-time maximum. The set of events is
//! fixed by the server's code, so the table is bounded.

use std::collections::BTreeMap;

use parking_lot::Mutex;

/// Samples kept per event (Redis's LATENCY_TS_LEN).
pub const HISTORY_LEN: usize = 160;

/// One sample: Unix time in seconds and latency in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub unix_secs: u64,
    pub ms: u64,
}

/// The history of one event.
#[derive(Debug, Clone, Default)]
pub struct Series {
    /// Oldest first; at most [`HISTORY_LEN`].
    pub samples: std::collections::VecDeque<Sample>,
    /// Worst latency ever seen (survives the ring's turnover).
    pub max_ms: u64,
}

#[derive(Debug, Default)]
pub struct LatencyMonitor {
    events: Mutex<BTreeMap<&'static str, Series>>,
}

impl LatencyMonitor {
    /// Records a spike of `ms` for `event` at `now_ms` (the caller checked
    /// the threshold).
    pub fn add_sample(&self, event: &'static str, ms: u64, now_ms: u64) {
        self.add_sample_at(event, ms, now_ms / 1000);
    }

    fn add_sample_at(&self, event: &'static str, ms: u64, unix_secs: u64) {
        let mut events = self.events.lock();
        let series = events.entry(event).or_default();
        series.max_ms = series.max_ms.max(ms);
        if let Some(last) = series.samples.back_mut() {
            if last.unix_secs == unix_secs {
                last.ms = last.ms.max(ms);
                return;
            }
        }
        if series.samples.len() == HISTORY_LEN {
            series.samples.pop_front();
        }
        series.samples.push_back(Sample { unix_secs, ms });
    }

    /// Every event with its series, by name.
    pub fn all(&self) -> Vec<(&'static str, Series)> {
        self.events.lock().iter().map(|(k, v)| (*k, v.clone())).collect()
    }

    pub fn history(&self, event: &[u8]) -> Option<Series> {
        self.events.lock().iter().find(|(k, _)| k.as_bytes().eq_ignore_ascii_case(event)).map(|(_, v)| v.clone())
    }

    /// Forgets the named events (all when `events` is empty); returns how many
    /// were forgotten.
    pub fn reset(&self, events: &[&[u8]]) -> usize {
        let mut map = self.events.lock();
        if events.is_empty() {
            let n = map.len();
            map.clear();
            return n;
        }
        let before = map.len();
        map.retain(|k, _| !events.iter().any(|e| k.as_bytes().eq_ignore_ascii_case(e)));
        before - map.len()
    }
}

/// LATENCY DOCTOR's report, in the spirit of Redis's: what was seen per
/// event, and advice that follows from it.
pub fn doctor(threshold_ms: u64, events: &[(&'static str, Series)]) -> String {
    if threshold_ms == 0 && events.is_empty() {
        return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Gyre instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it.\n".to_string();
    }
    if events.is_empty() {
        return "Dave, no latency spike was observed during the lifetime of this Gyre instance, not in the slightest bit. I honestly think you ought to sleep tonight.\n".to_string();
    }
    let mut t = String::from(
        "Dave, I have observed latency spikes in this Gyre instance. You don't mind talking about it, do you Dave?\n\n",
    );
    let (mut slow_commands, mut expire) = (false, false);
    for (i, (name, s)) in events.iter().enumerate() {
        let n = s.samples.len() as u64;
        let avg = s.samples.iter().map(|x| x.ms).sum::<u64>() / n.max(1);
        let dev = s.samples.iter().map(|x| x.ms.abs_diff(avg)).sum::<u64>() / n.max(1);
        let period = match (s.samples.front(), s.samples.back()) {
            (Some(a), Some(b)) if n > 1 => (b.unix_secs - a.unix_secs) / (n - 1),
            _ => 0,
        };
        t.push_str(&format!(
            "{}. {name}: {n} latency spikes (average {avg}ms, mean deviation {dev}ms, period {period} sec). Worst all time event {}ms.\n",
            i + 1,
            s.max_ms
        ));
        slow_commands |= name.ends_with("command");
        expire |= *name == "expire-cycle";
    }
    t.push_str("\nI have a few advices for you:\n\n");
    if slow_commands {
        t.push_str("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
        t.push_str("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
    }
    if expire {
        t.push_str("- Many keys expiring at the same time make the active expiry cycle work for longer. Spread the expiry times (add some randomness) or lower `hz`.\n");
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_per_second_and_a_bounded_history() {
        let m = LatencyMonitor::default();
        m.add_sample_at("command", 5, 100);
        m.add_sample_at("command", 9, 100);
        m.add_sample_at("command", 3, 100);
        let s = m.history(b"COMMAND").unwrap();
        assert_eq!(s.samples.iter().copied().collect::<Vec<_>>(), vec![Sample { unix_secs: 100, ms: 9 }]);
        for t in 0..(HISTORY_LEN as u64 + 20) {
            m.add_sample_at("command", 1, 200 + t);
        }
        let s = m.history(b"command").unwrap();
        assert_eq!(s.samples.len(), HISTORY_LEN);
        assert_eq!(s.max_ms, 9);
        assert_eq!(s.samples.back().unwrap().unix_secs, 200 + HISTORY_LEN as u64 + 19);
        m.add_sample_at("expire-cycle", 1, 1);
        assert_eq!(m.reset(&[b"nosuch", b"expire-cycle"]), 1);
        assert_eq!(m.reset(&[]), 1);
        assert!(m.all().is_empty());
    }
}

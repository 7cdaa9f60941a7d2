//! Durable hints: per replica, how far into this node's write-ahead log
//! the replica holds the slots it is fed, kept in `<dir>/hints/` while the
//! feed runs. A primary that restarts (or whose in-memory hints are gone)
//! resumes a replica's feed by reading back from its log what came after
//! that mark (`slot_transfer::from_log`) instead of sending a fresh copy.
//!
//! A mark only ever understates what the replica holds (it comes from the
//! replica's acknowledgements, durable there), so resuming from an older
//! mark re-sends records the replica already holds, which it ignores by
//! version. A mark that is lost, unreadable or for other slots costs a
//! copy, never data.
//!
//! A mark names this node's persistent id: LSNs only grow for as long as
//! the data directory keeps its manifest (which holds the id), so a mark
//! left beside a log that started over is not used.
//!
//! Format (text, one file per replica tag, replaced whole through a
//! temporary file and a rename): `gyre-hint 1`, `node <id>`, `held <lsn>`,
//! `at <unix ms>`, `slots <a>-<b>,<c>,...`.

use std::path::{Path, PathBuf};

use gyre_cluster::NodeTag;

/// Where a replica stands in this node's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// This node's persistent id, whose log the mark is about.
    pub node: String,
    /// The slots its feed carries, ascending.
    pub slots: Vec<u16>,
    /// It holds every record of those slots up to this LSN.
    pub held: u64,
    /// When this was last known (ms since the Unix epoch).
    pub at_ms: u64,
}

fn path(dir: &Path, to: NodeTag) -> PathBuf {
    dir.join("hints").join(format!("{}", to.0))
}

/// Keeps `mark` for replica `to`.
pub fn save(dir: &Path, to: NodeTag, mark: &Mark) -> std::io::Result<()> {
    let file = path(dir, to);
    std::fs::create_dir_all(file.parent().expect("a hints directory"))?;
    let mut ranges: Vec<String> = Vec::new();
    let mut i = 0;
    while i < mark.slots.len() {
        let start = mark.slots[i];
        while i + 1 < mark.slots.len() && mark.slots[i + 1] == mark.slots[i] + 1 {
            i += 1;
        }
        let end = mark.slots[i];
        ranges.push(if start == end { start.to_string() } else { format!("{start}-{end}") });
        i += 1;
    }
    let text =
        format!("gyre-hint 1\nnode {}\nheld {}\nat {}\nslots {}\n", mark.node, mark.held, mark.at_ms, ranges.join(","));
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &file)
}

/// The mark kept for replica `to`, if one is there and reads whole.
pub fn load(dir: &Path, to: NodeTag) -> Option<Mark> {
    parse(&std::fs::read_to_string(path(dir, to)).ok()?)
}

fn parse(text: &str) -> Option<Mark> {
    let mut lines = text.lines();
    if lines.next()? != "gyre-hint 1" {
        return None;
    }
    let mut field = |name: &str| lines.next()?.strip_prefix(name)?.strip_prefix(' ').map(str::to_owned);
    let node = field("node")?;
    let held = field("held")?.parse().ok()?;
    let at_ms = field("at")?.parse().ok()?;
    let mut slots = Vec::new();
    for range in field("slots")?.split(',').filter(|r| !r.is_empty()) {
        let (a, b) = range.split_once('-').unwrap_or((range, range));
        let (a, b): (u16, u16) = (a.parse().ok()?, b.parse().ok()?);
        if a > b || b as usize >= gyre_cluster::SLOTS || slots.last().is_some_and(|l| *l >= a) {
            return None;
        }
        slots.extend(a..=b);
    }
    Some(Mark { node, slots, held, at_ms })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_reads_back_and_a_damaged_one_is_refused() {
        let dir = std::env::temp_dir().join(format!("gyre-hints-{}", std::process::id()));
        let node = "ab".repeat(20);
        let mark =
            Mark { node: node.clone(), slots: vec![0, 1, 2, 7, 100, 101, 16383], held: 42, at_ms: 1_700_000_000_000 };
        save(&dir, NodeTag(3), &mark).unwrap();
        assert_eq!(load(&dir, NodeTag(3)), Some(mark));
        assert_eq!(
            std::fs::read_to_string(path(&dir, NodeTag(3))).unwrap(),
            format!("gyre-hint 1\nnode {node}\nheld 42\nat 1700000000000\nslots 0-2,7,100-101,16383\n")
        );
        assert_eq!(load(&dir, NodeTag(4)), None, "none kept");
        for bad in [
            "gyre-hint 2\nnode n\nheld 1\nat 1\nslots 1\n",
            "gyre-hint 1\nnode n\nheld x\nat 1\nslots 1\n",
            "gyre-hint 1\nnode n\nheld 1\nat 1\nslots 5-2\n",
            "gyre-hint 1\nnode n\nheld 1\nat 1\nslots 16384\n",
            "gyre-hint 1\nnode n\nheld 1\nat 1\nslots 3,2\n",
            "gyre-hint 1\nnode n\nheld 1\n",
            "gyre-hint 1\nheld 1\nat 1\nslots 1\n",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! Durability through the real binary: what was acknowledged survives a clean
//! stop, a crash (SIGKILL) and a snapshot; the data directory is locked; a torn
//! log tail is repaired and corruption before the tail stops start-up unless
//! the operator asks to truncate. Gyre only (Redis persists differently).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

fn gyre_only() -> bool {
    if is_redis() {
        eprintln!("skipped: Gyre's persistence");
        return false;
    }
    true
}

/// Keys of every type, in two databases, some with a TTL.
fn write_dataset(c: &mut redis::Connection) {
    ok(c, &["SET", "s", "string"]);
    ok(c, &["SET", "n", "41"]);
    q(c, &["INCR", "n"]);
    ok(c, &["SET", "ttl", "v", "EX", "1000"]);
    q(c, &["RPUSH", "l", "a", "b", "c"]);
    q(c, &["HSET", "h", "f1", "v1", "f2", "v2"]);
    q(c, &["SADD", "set", "x", "y"]);
    q(c, &["ZADD", "z", "1", "one", "2", "two"]);
    ok(c, &["SELECT", "3"]);
    ok(c, &["SET", "in-db-3", "yes"]);
    ok(c, &["SELECT", "0"]);
    q(c, &["DEL", "s"]);
    ok(c, &["SET", "s", "again"]);
}

fn check_dataset(c: &mut redis::Connection) {
    assert_eq!(q(c, &["GET", "s"]), bulk("again"));
    assert_eq!(q(c, &["GET", "n"]), bulk("42"));
    let ttl = as_int(&q(c, &["TTL", "ttl"]));
    assert!((900..=1000).contains(&ttl), "ttl {ttl}");
    assert_eq!(q(c, &["LRANGE", "l", "0", "-1"]), bulks(&["a", "b", "c"]));
    assert_eq!(q(c, &["HGET", "h", "f2"]), bulk("v2"));
    assert_eq!(sorted_strings(&q(c, &["SMEMBERS", "set"])), vec!["x", "y"]);
    assert_eq!(q(c, &["ZSCORE", "z", "two"]), bulk("2"));
    ok(c, &["SELECT", "3"]);
    assert_eq!(q(c, &["GET", "in-db-3"]), bulk("yes"));
    ok(c, &["SELECT", "0"]);
}

#[test]
fn data_survives_a_clean_restart() {
    if !gyre_only() {
        return;
    }
    let mut s = Server::start();
    write_dataset(&mut s.client());
    let status = s.stop(Stop::Term);
    assert!(status.success(), "SIGTERM should exit cleanly: {status}");
    s.restart(Stop::Term, &[]);
    check_dataset(&mut s.client());
}

#[test]
fn data_survives_a_crash() {
    if !gyre_only() {
        return;
    }
    let mut s = Server::start_with(&["--appendfsync", "always"]);
    write_dataset(&mut s.client());
    s.restart(Stop::Kill, &["--appendfsync", "always"]);
    check_dataset(&mut s.client());
}

#[test]
fn data_survives_snapshots_and_later_writes() {
    if !gyre_only() {
        return;
    }
    let mut s = Server::start();
    let mut c = s.client();
    write_dataset(&mut c);
    let before = as_int(&q(&mut c, &["LASTSAVE"]));
    ok(&mut c, &["SAVE"]);
    assert_eq!(
        info_field(&as_str(&q(&mut c, &["INFO", "persistence"])), "rdb_changes_since_last_save").as_deref(),
        Some("0")
    );
    // Writes after the snapshot live in the log.
    ok(&mut c, &["SET", "after", "snapshot"]);
    assert_eq!(as_str(&q(&mut c, &["BGSAVE"])), "Background saving started");
    assert!(wait_for(Duration::from_secs(10), || {
        info_field(&as_str(&q(&mut c, &["INFO", "persistence"])), "rdb_bgsave_in_progress").as_deref() == Some("0")
            && info_field(&as_str(&q(&mut c, &["INFO", "persistence"])), "rdb_changes_since_last_save").as_deref()
                == Some("0")
    }));
    ok(&mut c, &["SET", "after2", "bgsave"]);
    assert!(as_int(&q(&mut c, &["LASTSAVE"])) >= before);
    s.restart(Stop::Kill, &[]);
    let mut c = s.client();
    check_dataset(&mut c);
    assert_eq!(q(&mut c, &["GET", "after"]), bulk("snapshot"));
    assert_eq!(q(&mut c, &["GET", "after2"]), bulk("bgsave"));
    // Compaction kept the newest snapshots only.
    let snaps = std::fs::read_dir(s.dir())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".gsnap"))
        .count();
    assert!((1..=2).contains(&snaps), "{snaps} snapshots kept");
}

/// Zero loss under SIGKILL with appendfsync always: concurrent clients write
/// unique keys; every write that was acknowledged before the kill is there
/// after the restart.
#[test]
fn no_acknowledged_write_is_lost_when_killed() {
    if !gyre_only() {
        return;
    }
    for fsync in ["always", "everysec"] {
        let mut s = Server::start_with(&["--appendfsync", fsync]);
        let acked: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let written = Arc::new(AtomicU64::new(0));
        let mut workers = Vec::new();
        for w in 0..8 {
            let (acked, stop, written, url) = (acked.clone(), stop.clone(), written.clone(), s.url());
            workers.push(std::thread::spawn(move || {
                let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let key = format!("w{w}:{i}");
                    match redis::cmd("SET").arg(&key).arg("v").query::<String>(&mut c) {
                        Ok(_) => {
                            acked.lock().unwrap().push(key);
                            written.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => return, // the kill
                    }
                }
            }));
        }
        assert!(wait_for(Duration::from_secs(10), || written.load(Ordering::Relaxed) > 2_000));
        s.stop(Stop::Kill);
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            w.join().unwrap();
        }
        s.restart(Stop::Kill, &["--appendfsync", fsync]);
        let mut c = s.client();
        let acked = acked.lock().unwrap();
        let mut pipe = redis::pipe();
        for k in acked.iter() {
            pipe.cmd("EXISTS").arg(k);
        }
        let present: Vec<i64> = pipe.query(&mut c).unwrap();
        let lost = present.iter().filter(|&&p| p == 0).count();
        assert_eq!(lost, 0, "appendfsync {fsync}: {lost} of {} acknowledged writes lost", acked.len());
    }
}

#[test]
fn a_second_server_on_the_same_directory_is_refused() {
    if !gyre_only() {
        return;
    }
    let s = Server::start();
    let (status, stderr) = s.start_second_on_same_dir();
    assert!(!status.success());
    assert!(stderr.contains("in use by another gyre-server"), "{stderr}");
    assert_eq!(q(&mut s.client(), &["PING"]), status_reply("PONG"));
}

fn status_reply(s: &str) -> Value {
    status(s)
}

fn wal_segments(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("wal-"))
        .collect();
    v.sort();
    v
}

#[test]
fn a_torn_log_tail_is_truncated_at_start_up() {
    if !gyre_only() {
        return;
    }
    let mut s = Server::start();
    ok(&mut s.client(), &["SET", "kept", "yes"]);
    s.stop(Stop::Term);
    // A crash mid-append: half a record at the end of the newest segment.
    let last = wal_segments(s.dir()).pop().expect("a segment");
    let mut bytes = std::fs::read(&last).unwrap();
    bytes.extend_from_slice(&[200, 0, 0, 0, 1, 2, 3]);
    std::fs::write(&last, &bytes).unwrap();
    s.restart(Stop::Term, &[]);
    assert_eq!(q(&mut s.client(), &["GET", "kept"]), bulk("yes"));
    assert!(s.logs().contains("torn"), "the truncation is logged:\n{}", s.logs());
}

#[test]
fn corruption_before_the_tail_stops_start_up_unless_truncating() {
    if !gyre_only() {
        return;
    }
    let mut s = Server::start_with(&["--wal-segment-bytes", "1mb"]);
    let mut c = s.client();
    for i in 0..300 {
        ok(&mut c, &["SET", &format!("k{i}"), &"x".repeat(100)]);
    }
    s.stop(Stop::Term);
    let first = wal_segments(s.dir()).into_iter().next().expect("a segment");
    let mut bytes = std::fs::read(&first).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&first, &bytes).unwrap();
    match Server::try_start_on(s.dir(), &[]) {
        Ok(mut child) => {
            let _ = child.kill();
            panic!("started on a corrupt log");
        }
        Err((status, stderr)) => {
            assert!(!status.success());
            assert!(
                stderr.contains(&first.file_name().unwrap().to_string_lossy().to_string()),
                "names the file: {stderr}"
            );
        }
    }
    s.restart(Stop::Term, &["--wal-recovery", "truncate"]);
    let mut c = s.client();
    assert_eq!(q(&mut c, &["GET", "k0"]), bulk("x".repeat(100)), "records before the corruption are kept");
}

#[test]
fn appendonly_no_keeps_nothing() {
    if !gyre_only() {
        return;
    }
    let mut s = Server::start_with(&["--appendonly", "no"]);
    let mut c = s.client();
    ok(&mut c, &["SET", "k", "v"]);
    assert_eq!(info_field(&as_str(&q(&mut c, &["INFO", "persistence"])), "aof_enabled").as_deref(), Some("0"));
    assert!(err(&mut c, &["BGSAVE"]).contains("persistence is off"));
    s.restart(Stop::Term, &["--appendonly", "no"]);
    assert_eq!(q(&mut s.client(), &["EXISTS", "k"]), int(0));
}

/// Concurrent batches hit the log in the order connections finish them, not
/// the order their writes hit a key; recovery must still rebuild order-
/// sensitive values (lists, appended strings) exactly.
#[test]
fn concurrent_writes_to_one_key_recover_in_their_live_order() {
    if !gyre_only() {
        return;
    }
    let mut s = Server::start();
    let mut workers = Vec::new();
    for w in 0..8 {
        let url = s.url();
        workers.push(std::thread::spawn(move || {
            let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
            for batch in 0..40 {
                let mut p = redis::pipe();
                for i in 0..10 {
                    let v = format!("{w}:{batch}:{i}");
                    p.cmd("RPUSH").arg("l").arg(&v).ignore();
                    p.cmd("APPEND").arg("s").arg(format!("{v},")).ignore();
                }
                p.query::<()>(&mut c).unwrap();
            }
        }));
    }
    for w in workers {
        w.join().unwrap();
    }
    let mut c = s.client();
    let list = q(&mut c, &["LRANGE", "l", "0", "-1"]);
    let text = q(&mut c, &["GET", "s"]);
    assert_eq!(as_int(&q(&mut c, &["LLEN", "l"])), 8 * 40 * 10);
    s.restart(Stop::Kill, &[]);
    let mut c = s.client();
    assert!(q(&mut c, &["LRANGE", "l", "0", "-1"]) == list, "the list came back in another order or incomplete");
    assert!(q(&mut c, &["GET", "s"]) == text, "the appended string came back different");
}

/// A small tmpfs mounted over a directory for the length of a test; unmounted
/// (lazily, so a process still inside cannot block it) on drop.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    /// None (with a message) where the machine forbids mounting.
    fn mount(dir: &std::path::Path, size: &str) -> Option<Tmpfs> {
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs(dir.to_path_buf())),
            Ok(o) => {
                eprintln!("skipped: cannot mount a tmpfs here: {}", String::from_utf8_lossy(&o.stderr).trim());
                None
            }
            Err(e) => {
                eprintln!("skipped: cannot run mount: {e}");
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system holding `path` (a filler file written until ENOSPC),
/// then gives back `spare` bytes.
fn fill_disk(path: &std::path::Path, spare: u64) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0xAAu8; 64 << 10];
    let mut len = 0u64;
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(n) => len += n as u64,
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
    f.set_len(len.saturating_sub(spare)).unwrap();
    f.sync_all().unwrap();
}

/// Disk full: writes are refused with a clear error, reads keep working,
/// nothing already written is damaged, and writes resume by themselves when
/// space returns. Needs a small tmpfs (skipped where mounting is forbidden).
#[test]
fn a_full_disk_refuses_writes_and_they_resume_when_space_returns() {
    if !gyre_only() {
        return;
    }
    let mut s = Server::start();
    s.stop(Stop::Term);
    let Some(_tmpfs) = Tmpfs::mount(s.dir(), "2m") else { return };
    s.restart(Stop::Term, &[]);
    let filler = s.dir().join("filler");
    fill_disk(&filler, 256 << 10);

    let value = "v".repeat(1000);
    let mut c = s.client();
    let mut acked = Vec::new();
    let mut refusal = None;
    for i in 0..2000 {
        let key = format!("key:{i}");
        match redis::cmd("SET").arg(&key).arg(&value).query::<Value>(&mut c) {
            Ok(_) => acked.push(key),
            // The write that met the full disk: its client is closed without
            // a reply (it was not made durable).
            Err(e) if e.is_io_error() || e.is_connection_dropped() => c = s.client(),
            Err(e) => {
                refusal = Some(err_text(&e));
                break;
            }
        }
    }
    let refusal = refusal.expect("writes were never refused on a full disk");
    assert!(refusal.starts_with("MISCONF"), "{refusal}");
    assert!(refusal.contains("No space left on device"), "{refusal}");
    assert!(acked.len() > 50, "only {} writes fit in 256 KB", acked.len());
    // Reads (and the persistence report) keep working while the disk is full.
    assert_eq!(q(&mut c, &["GET", &acked[0]]), bulk(&value));
    let info = as_str(&q(&mut c, &["INFO", "persistence"]));
    assert_eq!(info_field(&info, "aof_last_write_status").as_deref(), Some("err"), "{info}");
    assert!(err(&mut c, &["SET", "still", "full"]).starts_with("MISCONF"));

    std::fs::remove_file(&filler).unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || redis::cmd("SET").arg("after").arg("space").query::<()>(&mut c).is_ok()),
        "writes did not resume after space returned"
    );
    let info = as_str(&q(&mut c, &["INFO", "persistence"]));
    assert_eq!(info_field(&info, "aof_last_write_status").as_deref(), Some("ok"), "{info}");
    assert!(s.logs().contains("disk full"), "the stall was not logged");

    s.restart(Stop::Kill, &[]);
    let mut c = s.client();
    for key in &acked {
        assert_eq!(q(&mut c, &["GET", key]), bulk(&value), "{key} was acknowledged but is gone");
    }
    assert_eq!(q(&mut c, &["GET", "after"]), bulk("space"));
}

fn snapshot_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "gsnap"))
        .collect();
    v.sort();
    v
}

fn flip_middle_byte(path: &std::path::Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(path, &bytes).unwrap();
}

/// A damaged newest snapshot falls back to the previous one plus the log
/// after it (compaction keeps the log the oldest retained snapshot needs);
/// with every snapshot damaged, start-up stops and names them.
#[test]
fn a_corrupt_snapshot_falls_back_to_the_previous_one_and_the_log() {
    if !gyre_only() {
        return;
    }
    let mut s = Server::start();
    let mut c = s.client();
    write_dataset(&mut c);
    ok(&mut c, &["SAVE"]);
    ok(&mut c, &["SET", "between", "snapshots"]);
    q(&mut c, &["RPUSH", "l", "d"]);
    ok(&mut c, &["SAVE"]);
    ok(&mut c, &["SET", "after", "both"]);
    s.stop(Stop::Kill);

    let snaps = snapshot_files(s.dir());
    assert_eq!(snaps.len(), 2, "two snapshots retained: {snaps:?}");
    flip_middle_byte(&snaps[1]);
    s.restart(Stop::Term, &[]);
    let mut c = s.client();
    assert_eq!(q(&mut c, &["GET", "between"]), bulk("snapshots"));
    assert_eq!(q(&mut c, &["GET", "after"]), bulk("both"));
    assert_eq!(q(&mut c, &["LRANGE", "l", "0", "-1"]), bulks(&["a", "b", "c", "d"]));
    assert_eq!(q(&mut c, &["GET", "s"]), bulk("again"));
    let logs = s.logs();
    assert!(logs.contains("unusable") && logs.contains(&*snaps[1].file_name().unwrap().to_string_lossy()), "{logs}");
    s.stop(Stop::Term);

    // The newest is still damaged; damage the older one too.
    flip_middle_byte(&snaps[0]);
    match Server::try_start_on(s.dir(), &[]) {
        Ok(mut child) => {
            let _ = child.kill();
            panic!("started with every snapshot damaged");
        }
        Err((status, stderr)) => {
            assert!(!status.success());
            assert!(stderr.contains("no usable snapshot"), "{stderr}");
        }
    }
}

/// LSNs never repeat: after a snapshot compacts the log away and the server
/// restarts, new records continue above every LSN written before.
#[test]
fn lsns_continue_above_compacted_records_after_a_restart() {
    if !gyre_only() {
        return;
    }
    let mut s = Server::start();
    let mut c = s.client();
    for i in 0..5 {
        ok(&mut c, &["SET", &format!("k{i}"), "v"]);
    }
    ok(&mut c, &["SAVE"]);
    s.restart(Stop::Kill, &[]);
    ok(&mut s.client(), &["SET", "after", "restart"]);
    s.stop(Stop::Term);
    let mut lsns = Vec::new();
    gyre_log::wal::replay(s.dir(), 0, false, |lsn, _| lsns.push(lsn.0)).unwrap();
    assert!(!lsns.is_empty());
    assert!(lsns.iter().all(|&l| l > 5), "an LSN was handed out again: {lsns:?}");
}

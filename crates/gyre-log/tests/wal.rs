//! WAL scenarios: write, close (or crash, or corrupt), reopen, replay, assert.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gyre_log::wal::{
    list_segments, read_range, replay, segment_path, FaultInjector, FsyncPolicy, Lsn, ReplayReport, Wal, WalError,
    WalOptions, RECORD_PAYLOAD_BYTES_MAX, SEGMENT_HEADER_BYTES,
};
use proptest::prelude::*;

/// A fresh directory under the target's tmp dir, removed on drop.
struct TestDir(PathBuf);

impl TestDir {
    fn new(name: &str) -> TestDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("wal-{name}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        TestDir(path)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn opts(fsync: FsyncPolicy) -> WalOptions {
    WalOptions { fsync, ..WalOptions::default() }
}

fn payload(i: u64) -> Vec<u8> {
    let len = (i * 7 % 50) as usize;
    (0..len).map(|j| (i as usize + j) as u8).collect()
}

type Records = Vec<(Lsn, Vec<u8>)>;

fn replay_all(dir: &Path, first: u64, cut: bool) -> Result<(Records, ReplayReport), WalError> {
    let mut seen = Vec::new();
    let report = replay(dir, first, cut, |lsn, p| seen.push((lsn, p.to_vec())))?;
    Ok((seen, report))
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

fn write_records(dir: &Path, options: WalOptions, next: Lsn, n: u64) -> Records {
    let wal = Wal::open(dir, options, next).unwrap();
    let mut written = Vec::new();
    for i in 0..n {
        let p = payload(next.0 + i);
        written.push((wal.append(&p).unwrap(), p));
    }
    wal.close().unwrap();
    written
}

#[test]
fn append_close_replay_returns_the_same_records_in_order() {
    let dir = TestDir::new("roundtrip");
    let written = write_records(dir.path(), opts(FsyncPolicy::Always), Lsn(1), 100);
    let lsns: Vec<u64> = written.iter().map(|(l, _)| l.0).collect();
    assert_eq!(lsns, (1..=100).collect::<Vec<_>>());

    let (seen, report) = replay_all(dir.path(), 0, false).unwrap();
    assert_eq!(seen, written);
    assert_eq!(report.records, 100);
    assert_eq!(report.last_lsn, Lsn(100));
    assert_eq!(report.segments, 1);
    assert_eq!(report.torn_bytes_truncated, 0);
    let payload_bytes: u64 = written.iter().map(|(_, p)| p.len() as u64).sum();
    assert_eq!(report.bytes, payload_bytes + 16 * 100);
}

/// Segments reserve their space up front; a crash (here: the log is never
/// closed) leaves the reserved zeros after the last record. Recovery replays
/// every record and trims the zeros as the end of the log, not as damage;
/// rotation and close trim them themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_leaves_reserved_space_that_recovery_trims_as_the_end_of_the_log() {
    let dir = TestDir::new("prealloc");
    let options = WalOptions { segment_bytes_max: 1 << 20, ..opts(FsyncPolicy::Always) };
    let wal = Wal::open(dir.path(), options.clone(), Lsn(1)).unwrap();
    let mut written = Vec::new();
    for i in 0..20 {
        let p = payload(i);
        let lsn = wal.append(&p).unwrap();
        wal.wait_durable(lsn).await.unwrap();
        written.push((lsn, p));
    }
    let seg1 = segment_path(dir.path(), 1);
    let reserved = fs::metadata(&seg1).unwrap().len();
    assert_eq!(reserved, 1 << 20, "the segment's space is reserved");
    assert_eq!(wal.rotate().unwrap(), 2);
    assert_eq!(fs::metadata(&seg1).unwrap().len(), wal.size_bytes() - 12, "rotation trims");
    let lsn = wal.append(b"last").unwrap();
    wal.wait_durable(lsn).await.unwrap();
    written.push((lsn, b"last".to_vec()));
    // The crash: no close, no trim.
    std::mem::forget(wal);
    let (seen, report) = replay_all(dir.path(), 0, false).unwrap();
    assert_eq!(seen, written);
    assert_eq!(report.torn_bytes_truncated, 0, "zeros are not damage");
    assert_eq!(report.preallocated_bytes_trimmed, (1 << 20) - 12 - 16 - 4);
    assert_eq!(fs::metadata(segment_path(dir.path(), 2)).unwrap().len(), 12 + 16 + 4);
    // A clean close trims too: nothing left to trim on the next start.
    let wal = Wal::open(dir.path(), options, Lsn(report.last_lsn.0 + 1)).unwrap();
    wal.append(b"after").unwrap();
    wal.close().unwrap();
    let (_, report) = replay_all(dir.path(), 0, false).unwrap();
    assert_eq!((report.records, report.preallocated_bytes_trimmed), (22, 0));
}

/// On tmpfs (where an fsync is free) segments do not reserve their space:
/// it would be memory. Skipped where /dev/shm is not a tmpfs.
#[test]
fn segments_on_tmpfs_are_not_preallocated() {
    let shm = Path::new("/dev/shm");
    let is_tmpfs = fs::read_to_string("/proc/mounts")
        .is_ok_and(|m| m.lines().any(|l| l.split_whitespace().nth(1) == Some("/dev/shm") && l.contains(" tmpfs ")));
    if !is_tmpfs {
        eprintln!("skipped: /dev/shm is not a tmpfs here");
        return;
    }
    let dir = shm.join(format!("gyre-wal-tmpfs-{}", std::process::id()));
    let _cleanup = TestDir(dir.clone());
    let wal = Wal::open(&dir, opts(FsyncPolicy::Always), Lsn(1)).unwrap();
    assert_eq!(fs::metadata(segment_path(&dir, 1)).unwrap().len(), SEGMENT_HEADER_BYTES);
    let lsn = wal.append(b"x").unwrap();
    block_on(wal.wait_durable(lsn)).unwrap();
    wal.close().unwrap();
    let (seen, report) = replay_all(&dir, 0, false).unwrap();
    assert_eq!((seen.len(), report.preallocated_bytes_trimmed), (1, 0));
}

/// A last segment of nothing but zeros (reserved, but its header never
/// reached the disk before a crash) holds no records: it is removed, as a
/// segment torn while being created is. Zeros anywhere else stay corruption.
#[test]
fn an_all_zero_last_segment_is_removed_not_corruption() {
    let dir = TestDir::new("zeroseg");
    let written = write_records(dir.path(), opts(FsyncPolicy::No), Lsn(1), 3);
    write_raw_segment(dir.path(), 2, &vec![0u8; 4096]);
    let (seen, report) = replay_all(dir.path(), 0, false).unwrap();
    assert_eq!(seen, written);
    assert_eq!((report.torn_bytes_truncated, report.preallocated_bytes_trimmed), (0, 4096));
    assert_eq!(list_segments(dir.path()).unwrap(), vec![1]);
    // Not the last one: a zeroed segment followed by another is damage.
    write_raw_segment(dir.path(), 2, &vec![0u8; 4096]);
    write_raw_segment(dir.path(), 3, &vec![0u8; 4096]);
    assert!(matches!(replay_all(dir.path(), 0, false), Err(WalError::Corrupt { .. })));
}

#[test]
fn reopen_continues_lsns_in_a_new_segment() {
    let dir = TestDir::new("reopen");
    let mut all = write_records(dir.path(), opts(FsyncPolicy::No), Lsn(1), 10);
    let (_, report) = replay_all(dir.path(), 0, false).unwrap();

    let wal = Wal::open(dir.path(), opts(FsyncPolicy::No), Lsn(report.last_lsn.0 + 1)).unwrap();
    assert_eq!(wal.current_segment(), 2);
    assert_eq!(wal.written_lsn(), Lsn(10));
    let lsn = wal.append(b"after reopen").unwrap();
    assert_eq!(lsn, Lsn(11));
    all.push((lsn, b"after reopen".to_vec()));
    wal.close().unwrap();

    assert_eq!(list_segments(dir.path()).unwrap(), vec![1, 2]);
    let (seen, report) = replay_all(dir.path(), 0, false).unwrap();
    assert_eq!(seen, all);
    assert_eq!(report.segments, 2);
    // Only the new segment.
    let (seen, _) = replay_all(dir.path(), 2, false).unwrap();
    assert_eq!(seen, vec![(Lsn(11), b"after reopen".to_vec())]);
}

/// Hinted handoff reads a range of a live log back: the records after a
/// position up to one written out, across segments, leaving the log as it
/// was (appends go on after), and says when the range is no longer whole.
#[test]
fn a_range_of_a_live_log_reads_back_and_a_removed_start_is_reported() {
    let dir = TestDir::new("range");
    let options = WalOptions { segment_bytes_max: 256, ..opts(FsyncPolicy::No) };
    let wal = Wal::open(dir.path(), options, Lsn(1)).unwrap();
    let written: Records = (1..=100).map(|i| (wal.append(&payload(i)).unwrap(), payload(i))).collect();
    let upto = wal.last_lsn();
    assert_eq!(upto, Lsn(100));
    block_on(wal.wait_durable(upto)).unwrap();
    // Appended but not written out: past `upto`, never read.
    wal.append(&payload(101)).unwrap();
    let mut seen = Vec::new();
    assert!(read_range(dir.path(), Lsn(40), upto, |lsn, p| seen.push((lsn, p.to_vec()))).unwrap());
    assert_eq!(seen, written[40..].to_vec());
    assert!(read_range(dir.path(), Lsn(0), upto, |_, _| {}).unwrap(), "the whole log");
    assert!(!read_range(dir.path(), Lsn(90), Lsn(500), |_, _| {}).unwrap(), "the log ends before 500");
    // Segments removed (after a snapshot): the start of the range is gone.
    let segments = list_segments(dir.path()).unwrap();
    wal.remove_segments_before(segments[3]).unwrap();
    assert!(!read_range(dir.path(), Lsn(2), upto, |_, _| {}).unwrap());
    wal.append(&payload(102)).unwrap();
    wal.close().unwrap();
    let (all, _) = replay_all(dir.path(), segments[3], false).unwrap();
    assert_eq!(all.last().map(|(l, _)| *l), Some(Lsn(102)), "the log was left as it was");
}

#[test]
fn rotation_by_size_spreads_records_over_segments() {
    let dir = TestDir::new("rotation");
    let options = WalOptions { segment_bytes_max: 256, ..opts(FsyncPolicy::No) };
    let written = write_records(dir.path(), options, Lsn(1), 200);
    let segments = list_segments(dir.path()).unwrap();
    assert!(segments.len() > 5, "only {} segments", segments.len());
    assert_eq!(segments, (1..=segments.len() as u64).collect::<Vec<_>>());
    for &n in &segments {
        let len = fs::metadata(segment_path(dir.path(), n)).unwrap().len();
        assert!(len <= 256, "segment {n} is {len} bytes");
    }
    let (seen, report) = replay_all(dir.path(), 0, false).unwrap();
    assert_eq!(seen, written);
    assert_eq!(report.segments, segments.len() as u64);
}

#[test]
fn a_record_larger_than_a_segment_gets_a_segment_of_its_own() {
    let dir = TestDir::new("bigrecord");
    let options = WalOptions { segment_bytes_max: 64, ..opts(FsyncPolicy::Always) };
    let wal = Wal::open(dir.path(), options, Lsn(1)).unwrap();
    wal.append(b"small").unwrap();
    wal.append(&[9u8; 500]).unwrap();
    wal.append(b"small again").unwrap();
    wal.close().unwrap();
    assert_eq!(list_segments(dir.path()).unwrap(), vec![1, 2, 3]);
    let (seen, _) = replay_all(dir.path(), 0, false).unwrap();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[1].1, vec![9u8; 500]);
}

#[test]
fn records_above_the_size_limit_are_refused() {
    let dir = TestDir::new("toolarge");
    let wal = Wal::open(dir.path(), opts(FsyncPolicy::No), Lsn(1)).unwrap();
    // calloc'd: the pages are never touched.
    let huge = vec![0u8; RECORD_PAYLOAD_BYTES_MAX as usize + 1];
    match wal.append(&huge) {
        Err(WalError::RecordTooLarge { size_bytes, max_bytes }) => {
            assert_eq!(size_bytes, RECORD_PAYLOAD_BYTES_MAX + 1);
            assert_eq!(max_bytes, RECORD_PAYLOAD_BYTES_MAX);
        }
        other => panic!("expected RecordTooLarge, got {other:?}"),
    }
    assert_eq!(wal.append(b"fine").unwrap(), Lsn(1));
}

/// `append_with` builds records under the log's lock from pieces: one record
/// for pieces that fit, none for no pieces; a piece over the limit poisons
/// the log. (The cut before a piece that would take a record past the limit
/// needs a GiB of payload: not tested here.)
#[test]
fn records_built_from_pieces_replay_as_appended() {
    let dir = TestDir::new("pieces");
    let wal = Wal::open(dir.path(), opts(FsyncPolicy::No), Lsn(1)).unwrap();
    assert_eq!(wal.append(b"plain").unwrap(), Lsn(1));
    let lsn = wal.append_with(|rec| {
        rec.extend(b"ab");
        rec.extend(b"");
        rec.extend(b"cd");
    });
    assert_eq!(lsn.unwrap(), Some(Lsn(2)));
    assert_eq!(wal.append_with(|_| {}).unwrap(), None, "no pieces, no record");
    assert_eq!(wal.append(b"after").unwrap(), Lsn(3));
    wal.close().unwrap();
    let (seen, _) = replay_all(dir.path(), 0, false).unwrap();
    let lens: Vec<(u64, usize)> = seen.iter().map(|(l, p)| (l.0, p.len())).collect();
    assert_eq!(lens, vec![(1, 5), (2, 4), (3, 5)]);
    assert_eq!(seen[1].1, b"abcd");

    let dir = TestDir::new("pieces-over");
    let wal = Wal::open(dir.path(), opts(FsyncPolicy::No), Lsn(1)).unwrap();
    let huge = vec![0u8; RECORD_PAYLOAD_BYTES_MAX as usize + 1];
    assert!(matches!(wal.append_with(|rec| rec.extend(&huge)), Err(WalError::Poisoned(_))));
    assert!(wal.append(b"x").is_err(), "the log is poisoned");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_resolves_only_after_an_fsync() {
    let dir = TestDir::new("always");
    let wal = Wal::open(dir.path(), opts(FsyncPolicy::Always), Lsn(1)).unwrap();
    assert_eq!(wal.fsync_policy(), FsyncPolicy::Always);
    for _ in 0..20 {
        let lsn = wal.append(b"x").unwrap();
        wal.wait_durable(lsn).await.unwrap();
        assert!(wal.synced_lsn() >= lsn);
        assert!(wal.written_lsn() >= lsn);
    }
    assert!(wal.fsync_count() >= 1);
    wal.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everysec_resolves_when_written_and_syncs_within_about_a_second() {
    let dir = TestDir::new("everysec");
    let wal = Wal::open(dir.path(), opts(FsyncPolicy::EverySec), Lsn(1)).unwrap();
    let lsn = wal.append(b"x").unwrap();
    wal.wait_durable(lsn).await.unwrap();
    assert!(wal.written_lsn() >= lsn);
    // No more appends: the timer alone must bring the fsync.
    let start = Instant::now();
    while wal.synced_lsn() < lsn {
        assert!(start.elapsed() < Duration::from_secs(3), "no fsync after 3 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(wal.fsync_count(), 1);
    wal.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_policy_never_fsyncs_except_at_rotate_and_close() {
    let dir = TestDir::new("nosync");
    let wal = Wal::open(dir.path(), opts(FsyncPolicy::No), Lsn(1)).unwrap();
    let lsn = wal.append(b"x").unwrap();
    wal.wait_durable(lsn).await.unwrap();
    assert_eq!(wal.written_lsn(), lsn);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(wal.synced_lsn(), Lsn(0));
    assert_eq!(wal.fsync_count(), 0);
    wal.rotate().unwrap();
    assert_eq!(wal.synced_lsn(), lsn);
    let lsn2 = wal.append(b"y").unwrap();
    wal.close().unwrap();
    assert_eq!(wal.synced_lsn(), lsn2);
    assert_eq!(wal.fsync_count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everysec_and_no_write_when_waited_for() {
    for policy in [FsyncPolicy::EverySec, FsyncPolicy::No] {
        let dir = TestDir::new("inline");
        let wal = Wal::open(dir.path(), opts(policy), Lsn(7)).unwrap();
        for i in 0..20u64 {
            let lsn = wal.append(&payload(i)).unwrap();
            assert_eq!(lsn, Lsn(7 + i));
            if i % 5 == 4 {
                assert!(!wal.is_durable(lsn));
                wal.wait_durable(lsn).await.unwrap();
                assert!(wal.is_durable(lsn));
                assert_eq!(wal.written_lsn(), lsn);
            }
        }
        // The bytes are in the OS before any fsync or close.
        let (seen, _) = replay_all(dir.path(), 0, false).unwrap();
        assert_eq!(seen.len(), 20);
        assert_eq!(seen[19].0, Lsn(26));
        wal.close().unwrap();
        assert_eq!(wal.synced_lsn(), Lsn(26));
    }
}

/// Records appended by many callers before any of them waits go out in one
/// `write` (and under `Always` one fsync): the group the server makes by
/// letting every ready connection append before the first one waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_appended_before_a_wait_share_one_write_and_one_fsync() {
    for policy in [FsyncPolicy::Always, FsyncPolicy::EverySec, FsyncPolicy::No] {
        let dir = TestDir::new("group");
        let wal = Wal::open(dir.path(), opts(policy), Lsn(1)).unwrap();
        let lsns: Vec<Lsn> = (0..50).map(|i| wal.append(&payload(i)).unwrap()).collect();
        assert_eq!(wal.written_lsn(), Lsn(0), "{policy:?}: nothing written before a wait");
        let size_before = wal.size_bytes();
        wal.wait_durable(lsns[0]).await.unwrap();
        assert_eq!(wal.written_lsn(), Lsn(50), "{policy:?}: the first wait wrote everyone's records");
        assert!(wal.size_bytes() > size_before);
        for &lsn in &lsns {
            assert!(wal.is_durable(lsn), "{policy:?}");
            wal.wait_durable(lsn).await.unwrap();
        }
        let expected_fsyncs = u64::from(policy == FsyncPolicy::Always);
        assert_eq!(wal.fsync_count(), expected_fsyncs, "{policy:?}");
        wal.close().unwrap();
        let (seen, _) = replay_all(dir.path(), 0, false).unwrap();
        assert_eq!(seen.len(), 50);
    }
}

/// A large record (written straight from the caller's buffer) that meets a
/// full disk after the records before it were written is kept, in its place,
/// and is not durable until it is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_record_that_meets_a_full_disk_is_not_durable_until_written() {
    let dir = TestDir::new("largefull");
    let faults = FaultInjector::new();
    let wal = Wal::open_with_faults(dir.path(), opts(FsyncPolicy::EverySec), Lsn(1), faults.clone()).unwrap();
    let small = wal.append(b"small").unwrap();
    // Room for the small record, not for the large one.
    faults.set_room_bytes(1024);
    let big = vec![9u8; 100 << 10];
    let large = wal.append(&big).unwrap();
    assert!(wal.is_durable(small), "the records before it were written first");
    assert!(!wal.is_durable(large), "not written: not durable");
    assert!(matches!(wal.wait_durable(large).await, Err(WalError::DiskFull(_))));
    faults.set_room_bytes(0);
    let deadline = Instant::now() + Duration::from_secs(5);
    while wal.writable().is_err() {
        assert!(Instant::now() < deadline, "writes did not resume");
        std::thread::sleep(Duration::from_millis(20));
    }
    wal.wait_durable(large).await.unwrap();
    let after = wal.append(b"after").unwrap();
    wal.wait_durable(after).await.unwrap();
    wal.close().unwrap();
    let (seen, _) = replay_all(dir.path(), 0, false).unwrap();
    assert_eq!(seen, vec![(small, b"small".to_vec()), (large, big), (after, b"after".to_vec())]);
}

/// A record nobody waits for is still written within about an interval by
/// the background thread (a client that disconnected before its reply).
#[test]
fn a_record_nobody_waits_for_is_written_within_an_interval() {
    for policy in [FsyncPolicy::Always, FsyncPolicy::EverySec, FsyncPolicy::No] {
        let dir = TestDir::new("orphan");
        let wal = Wal::open(dir.path(), opts(policy), Lsn(1)).unwrap();
        let lsn = wal.append(b"orphan").unwrap();
        let start = Instant::now();
        while wal.written_lsn() < lsn {
            assert!(start.elapsed() < Duration::from_secs(3), "{policy:?}: not written after 3 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        let (seen, _) = replay_all(dir.path(), 0, false).unwrap();
        assert_eq!(seen, vec![(lsn, b"orphan".to_vec())], "{policy:?}");
        wal.close().unwrap();
    }
}

/// A large payload is written from the caller's buffer, after (and in LSN
/// order with) the small records buffered before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_records_keep_their_place_among_buffered_ones() {
    let dir = TestDir::new("large");
    let wal = Wal::open(dir.path(), opts(FsyncPolicy::EverySec), Lsn(1)).unwrap();
    let big = vec![7u8; 200 << 10];
    let a = wal.append(b"small before").unwrap();
    let b = wal.append(&big).unwrap();
    assert_eq!(wal.written_lsn(), b, "the large record and what preceded it are written at once");
    let c = wal.append(b"small after").unwrap();
    wal.wait_durable(c).await.unwrap();
    wal.close().unwrap();
    let (seen, _) = replay_all(dir.path(), 0, false).unwrap();
    assert_eq!(seen, vec![(a, b"small before".to_vec()), (b, big), (c, b"small after".to_vec())]);
}

#[test]
fn concurrent_inline_appends_are_gapless_and_in_file_order() {
    let dir = TestDir::new("inlinethreads");
    let options = WalOptions { segment_bytes_max: 4096, ..opts(FsyncPolicy::EverySec) };
    let wal = Arc::new(Wal::open(dir.path(), options, Lsn(1)).unwrap());
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let wal = wal.clone();
            std::thread::spawn(move || {
                let mut lsns = Vec::new();
                for i in 0..200 {
                    lsns.push(wal.append(format!("{t}:{i}").as_bytes()).unwrap());
                    if i % 50 == 0 {
                        wal.rotate().unwrap();
                    }
                }
                lsns
            })
        })
        .collect();
    let mut all: Vec<Lsn> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    all.sort();
    assert_eq!(all, (1..=1600).map(Lsn).collect::<Vec<_>>());
    wal.close().unwrap();
    assert_eq!(wal.synced_lsn(), Lsn(1600));
    let (seen, _) = replay_all(dir.path(), 0, false).unwrap();
    assert_eq!(seen.iter().map(|(l, _)| *l).collect::<Vec<_>>(), (1..=1600).map(Lsn).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_everysec_fsync_poisons_the_log_and_is_not_retried() {
    let dir = TestDir::new("poisonsyncsec");
    let faults = FaultInjector::new();
    faults.fail_syncs(true);
    let wal = Wal::open_with_faults(dir.path(), opts(FsyncPolicy::EverySec), Lsn(1), faults.clone()).unwrap();
    let lsn = wal.append(b"x").unwrap();
    let start = Instant::now();
    while wal.poisoned().is_none() {
        assert!(start.elapsed() < Duration::from_secs(3), "no fsync after 3 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(wal.poisoned().unwrap().contains("fsync"));
    assert_eq!(wal.written_lsn(), lsn);
    assert_eq!(wal.synced_lsn(), Lsn(0));
    faults.fail_syncs(false);
    assert!(matches!(wal.append(b"y"), Err(WalError::Poisoned(_))));
    assert!(matches!(wal.wait_durable(Lsn(2)).await, Err(WalError::Poisoned(_))));
    assert!(matches!(wal.rotate(), Err(WalError::Poisoned(_))));
    assert!(matches!(wal.close(), Err(WalError::Poisoned(_))));
    assert_eq!(wal.fsync_count(), 1, "a failed fsync must not be retried");
    assert_eq!(wal.synced_lsn(), Lsn(0));
}

#[test]
fn concurrent_threads_share_fsyncs() {
    let dir = TestDir::new("groupthreads");
    let faults = FaultInjector::new();
    // A slow disk: appenders queue up behind each fsync.
    faults.set_sync_delay_ms(2);
    let wal = Arc::new(Wal::open_with_faults(dir.path(), opts(FsyncPolicy::Always), Lsn(1), faults).unwrap());
    let threads = 16;
    let per_thread = 50;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let wal = wal.clone();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
                for i in 0..per_thread {
                    let lsn = wal.append(format!("{t}:{i}").as_bytes()).unwrap();
                    rt.block_on(wal.wait_durable(lsn)).unwrap();
                    assert!(wal.synced_lsn() >= lsn);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let records = (threads * per_thread) as u64;
    assert_eq!(wal.synced_lsn(), Lsn(records));
    let fsyncs = wal.fsync_count();
    assert!(fsyncs * 4 <= records, "{fsyncs} fsyncs for {records} records");
    wal.close().unwrap();
    let (seen, _) = replay_all(dir.path(), 0, false).unwrap();
    assert_eq!(seen.len() as u64, records);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_tasks_share_fsyncs() {
    let dir = TestDir::new("grouptasks");
    let faults = FaultInjector::new();
    faults.set_sync_delay_ms(2);
    let wal = Arc::new(Wal::open_with_faults(dir.path(), opts(FsyncPolicy::Always), Lsn(1), faults).unwrap());
    let tasks = 200;
    let per_task = 5;
    let mut set = tokio::task::JoinSet::new();
    for t in 0..tasks {
        let wal = wal.clone();
        set.spawn(async move {
            for i in 0..per_task {
                let lsn = wal.append(format!("{t}:{i}").as_bytes()).unwrap();
                // As the server does: let the other ready tasks append first.
                tokio::task::yield_now().await;
                wal.wait_durable(lsn).await.unwrap();
                assert!(wal.synced_lsn() >= lsn);
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    let records = (tasks * per_task) as u64;
    let fsyncs = wal.fsync_count();
    assert!(fsyncs * 10 <= records, "{fsyncs} fsyncs for {records} records");
    wal.close().unwrap();
}

/// Records written while an fsync runs share the next one: a caller that
/// finds an fsync running waits for it instead of starting its own.
#[test]
fn records_written_during_one_fsync_share_the_next() {
    let dir = TestDir::new("groupexact");
    let faults = FaultInjector::new();
    faults.set_sync_delay_ms(300);
    let wal = Arc::new(Wal::open_with_faults(dir.path(), opts(FsyncPolicy::Always), Lsn(1), faults.clone()).unwrap());
    let first = wal.append(b"first").unwrap();
    let slow = {
        let wal = wal.clone();
        std::thread::spawn(move || block_on(wal.wait_durable(first)))
    };
    std::thread::sleep(Duration::from_millis(100));
    let during: Vec<_> = (0..20)
        .map(|i| {
            let wal = wal.clone();
            std::thread::spawn(move || {
                let lsn = wal.append(&payload(i)).unwrap();
                block_on(wal.wait_durable(lsn))
            })
        })
        .collect();
    slow.join().unwrap().unwrap();
    for t in during {
        t.join().unwrap().unwrap();
    }
    // The first fsync, then at most one more: every record written while it
    // ran was written before the second started. A caller that arrived after
    // the second one started may need a third.
    assert!(wal.fsync_count() <= 3, "{} fsyncs for 21 records", wal.fsync_count());
    wal.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_poisons_the_log() {
    for policy in [FsyncPolicy::Always, FsyncPolicy::EverySec, FsyncPolicy::No] {
        let dir = TestDir::new("poisonwrite");
        let faults = FaultInjector::new();
        faults.stall_writes(true);
        let wal = Arc::new(Wal::open_with_faults(dir.path(), opts(policy), Lsn(1), faults.clone()).unwrap());
        // Appending only buffers; the waiter writes, and it is the one that
        // stalls and then meets the failure.
        let lsn = wal.append(b"doomed").unwrap();
        let waiter = {
            let wal = wal.clone();
            std::thread::spawn(move || block_on(wal.wait_durable(lsn)))
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        faults.fail_writes(true);
        faults.stall_writes(false);
        match waiter.join().unwrap() {
            Err(WalError::Poisoned(reason)) => {
                assert!(reason.contains("injected write failure"), "{reason}");
                assert!(reason.contains("wal-0000000000000001.log"), "{reason}");
            }
            other => panic!("expected Poisoned, got {other:?}"),
        }
        assert!(wal.poisoned().is_some());
        assert!(matches!(wal.append(b"more"), Err(WalError::Poisoned(_))));
        assert!(matches!(wal.rotate(), Err(WalError::Poisoned(_))));
        assert!(matches!(wal.wait_durable(lsn).await, Err(WalError::Poisoned(_))));
        assert!(wal.written_lsn() < lsn);
        assert!(matches!(wal.close(), Err(WalError::Poisoned(_))));
    }
}

/// A full disk stalls the log instead of poisoning it: the record that hit it
/// and everything after waits in memory, writes are refused while it lasts,
/// and once space returns the waiting records are written in LSN order and
/// the log carries on as if nothing happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stalls_the_log_and_writes_resume_when_space_returns() {
    for policy in [FsyncPolicy::Always, FsyncPolicy::EverySec, FsyncPolicy::No] {
        let dir = TestDir::new("diskfull");
        let faults = FaultInjector::new();
        // Small segments, so rotations (segment creation) meet the full disk too.
        let options = WalOptions { segment_bytes_max: 200, ..opts(policy) };
        let wal = Arc::new(Wal::open_with_faults(dir.path(), options, Lsn(1), faults.clone()).unwrap());
        for i in 1..=5 {
            let lsn = wal.append(&payload(i)).unwrap();
            wal.wait_durable(lsn).await.unwrap();
        }
        faults.disk_full(true);
        // The record that meets the full disk: its waiter hears of it.
        let doomed = wal.append(&payload(6)).unwrap();
        match wal.wait_durable(doomed).await {
            Err(WalError::DiskFull(reason)) => assert!(reason.contains("No space left"), "{reason}"),
            other => panic!("{policy:?}: expected DiskFull, got {other:?}"),
        }
        assert!(matches!(wal.writable(), Err(WalError::DiskFull(_))), "{policy:?}");
        assert!(wal.write_error().is_some_and(|r| r.contains("No space left")));
        assert!(wal.poisoned().is_none(), "a full disk must not poison the log");
        assert!(matches!(wal.rotate(), Err(WalError::DiskFull(_))), "{policy:?}");
        // A write already in flight when the disk filled joins the wait.
        let straggler = wal.append(&payload(7)).unwrap();
        assert!(matches!(wal.wait_durable(straggler).await, Err(WalError::DiskFull(_))), "{policy:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(matches!(wal.writable(), Err(WalError::DiskFull(_))), "{policy:?}: still full after a retry");

        faults.disk_full(false);
        let deadline = Instant::now() + Duration::from_secs(5);
        while wal.writable().is_err() {
            assert!(Instant::now() < deadline, "{policy:?}: writes did not resume after space returned");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(wal.write_error().is_none());
        for i in 8..=12 {
            let lsn = wal.append(&payload(i)).unwrap();
            wal.wait_durable(lsn).await.unwrap();
        }
        assert!(wal.written_lsn() >= Lsn(12));
        assert_eq!((doomed, straggler), (Lsn(6), Lsn(7)));
        wal.close().unwrap();
        // Nothing already written was damaged, and the waiting records were
        // written in order: the log replays whole, with no torn tail.
        let (records, report) = replay_all(dir.path(), 0, false).unwrap();
        assert_eq!(report.torn_bytes_truncated, 0, "{policy:?}");
        let want: Records = (1..=12).map(|i| (Lsn(i), payload(i))).collect();
        assert_eq!(records, want, "{policy:?}");
    }
}

/// Closing while the disk is still full reports it; what was written before
/// replays intact.
#[test]
fn closing_while_the_disk_is_full_reports_the_unwritten_records() {
    for policy in [FsyncPolicy::Always, FsyncPolicy::EverySec] {
        let dir = TestDir::new("diskfullclose");
        let faults = FaultInjector::new();
        let wal = Wal::open_with_faults(dir.path(), opts(policy), Lsn(1), faults.clone()).unwrap();
        let lsn = wal.append(b"kept").unwrap();
        block_on(wal.wait_durable(lsn)).unwrap();
        faults.disk_full(true);
        let _ = wal.append(b"never written");
        assert!(wal.close().is_err(), "{policy:?}");
        let (records, _) = replay_all(dir.path(), 0, false).unwrap();
        assert_eq!(records, vec![(Lsn(1), b"kept".to_vec())], "{policy:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fsync_poisons_the_log_and_is_not_retried() {
    let dir = TestDir::new("poisonsync");
    let faults = FaultInjector::new();
    faults.fail_syncs(true);
    let wal = Wal::open_with_faults(dir.path(), opts(FsyncPolicy::Always), Lsn(1), faults.clone()).unwrap();
    let lsn = wal.append(b"x").unwrap();
    let err = wal.wait_durable(lsn).await.unwrap_err();
    assert!(err.to_string().contains("fsync"), "{err}");
    // Written to the OS but never reported synced.
    assert_eq!(wal.written_lsn(), lsn);
    assert_eq!(wal.synced_lsn(), Lsn(0));
    faults.fail_syncs(false);
    assert!(matches!(wal.append(b"y"), Err(WalError::Poisoned(_))));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(wal.fsync_count(), 1, "a failed fsync must not be retried");
    assert_eq!(wal.synced_lsn(), Lsn(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_refuses_appends_and_fails_waits_for_lsns_never_issued() {
    let dir = TestDir::new("closed");
    let wal = Wal::open(dir.path(), opts(FsyncPolicy::No), Lsn(1)).unwrap();
    let lsn = wal.append(b"x").unwrap();
    wal.close().unwrap();
    wal.close().unwrap();
    assert_eq!(wal.synced_lsn(), lsn);
    wal.wait_durable(lsn).await.unwrap();
    assert!(matches!(wal.append(b"y"), Err(WalError::Closed)));
    assert!(matches!(wal.rotate(), Err(WalError::Closed)));
    assert!(matches!(wal.wait_durable(Lsn(2)).await, Err(WalError::Closed)));
}

#[test]
fn dropping_the_log_writes_what_was_queued() {
    let dir = TestDir::new("drop");
    let wal = Wal::open(dir.path(), opts(FsyncPolicy::No), Lsn(1)).unwrap();
    for i in 0..10 {
        wal.append(&payload(i)).unwrap();
    }
    drop(wal);
    let (seen, _) = replay_all(dir.path(), 0, false).unwrap();
    assert_eq!(seen.len(), 10);
}

#[test]
fn rotate_and_remove_segments_before() {
    let dir = TestDir::new("compaction");
    let wal = Wal::open(dir.path(), opts(FsyncPolicy::No), Lsn(1)).unwrap();
    for i in 0..3 {
        wal.append(&payload(i)).unwrap();
    }
    assert_eq!(wal.rotate().unwrap(), 2);
    // Nothing appended since: no empty segment pile-up.
    assert_eq!(wal.rotate().unwrap(), 2);
    wal.append(b"in two").unwrap();
    assert_eq!(wal.rotate().unwrap(), 3);
    wal.append(b"in three").unwrap();
    assert_eq!(wal.current_segment(), 3);
    assert_eq!(list_segments(dir.path()).unwrap(), vec![1, 2, 3]);

    let size_before = wal.size_bytes();
    let seg1 = fs::metadata(segment_path(dir.path(), 1)).unwrap().len();
    let seg2 = fs::metadata(segment_path(dir.path(), 2)).unwrap().len();
    assert!(matches!(wal.remove_segments_before(4), Err(WalError::ActiveSegment { requested: 4, active: 3 })));
    assert_eq!(wal.remove_segments_before(3).unwrap(), seg1 + seg2);
    assert_eq!(list_segments(dir.path()).unwrap(), vec![3]);
    assert_eq!(wal.remove_segments_before(3).unwrap(), 0);
    wal.close().unwrap();
    assert!(wal.size_bytes() <= size_before - seg1 - seg2 + 64);
    let on_disk = fs::metadata(segment_path(dir.path(), 3)).unwrap().len();
    assert_eq!(wal.size_bytes(), on_disk);
    let (seen, _) = replay_all(dir.path(), 0, false).unwrap();
    assert_eq!(seen, vec![(Lsn(5), b"in three".to_vec())]);
}

fn write_raw_segment(dir: &Path, number: u64, bytes: &[u8]) {
    fs::create_dir_all(dir).unwrap();
    fs::write(segment_path(dir, number), bytes).unwrap();
}

fn expect_corrupt(result: Result<ReplayReport, WalError>, path: &Path, offset: u64, words: &str) {
    match result {
        Err(WalError::Corrupt { path: p, offset: o, reason }) => {
            assert_eq!((p.as_path(), o), (path, offset), "{reason}");
            assert!(reason.contains(words), "{reason:?} lacks {words:?}");
            let message = WalError::Corrupt { path: p, offset: o, reason }.to_string();
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert!(message.contains(&format!("offset {offset}")), "{message}");
        }
        other => panic!("expected Corrupt at {}:{offset}, got {other:?}", path.display()),
    }
}

#[test]
fn bad_magic_and_unknown_versions_are_clear_errors() {
    let dir = TestDir::new("badheader");
    write_raw_segment(dir.path(), 1, b"NOTAWAL\0\x01\0\0\0");
    let path = segment_path(dir.path(), 1);
    expect_corrupt(replay(dir.path(), 0, false, |_, _| {}), &path, 0, "magic");

    write_raw_segment(dir.path(), 1, b"GYREWAL\0\x02\0\0\0");
    expect_corrupt(replay(dir.path(), 0, false, |_, _| {}), &path, 8, "version 2");

    // With truncate_corrupt the unreadable segment is cut away entirely.
    let report = replay(dir.path(), 0, true, |_, _| {}).unwrap();
    assert_eq!(report.records, 0);
    assert!(list_segments(dir.path()).unwrap().is_empty());
}

#[test]
fn a_declared_length_above_the_limit_is_corruption_not_an_allocation() {
    let dir = TestDir::new("hugelen");
    write_records(dir.path(), opts(FsyncPolicy::No), Lsn(1), 3);
    let path = segment_path(dir.path(), 1);
    let end = fs::metadata(&path).unwrap().len();
    let mut bogus = Vec::new();
    bogus.extend_from_slice(&u32::MAX.to_le_bytes());
    bogus.extend_from_slice(&[0u8; 12]);
    bogus.extend_from_slice(&[0u8; 100]);
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    std::io::Write::write_all(&mut file, &bogus).unwrap();
    drop(file);
    // Followed by a later segment, so not a torn tail.
    write_records(dir.path(), opts(FsyncPolicy::No), Lsn(4), 2);
    expect_corrupt(replay(dir.path(), 0, false, |_, _| {}), &path, end, "exceeds the limit");
}

#[test]
fn a_missing_segment_is_corruption() {
    let dir = TestDir::new("gap");
    write_records(dir.path(), opts(FsyncPolicy::No), Lsn(1), 2);
    write_records(dir.path(), opts(FsyncPolicy::No), Lsn(3), 2);
    write_records(dir.path(), opts(FsyncPolicy::No), Lsn(5), 2);
    fs::remove_file(segment_path(dir.path(), 2)).unwrap();
    let path3 = segment_path(dir.path(), 3);
    expect_corrupt(replay(dir.path(), 0, false, |_, _| {}), &path3, 0, "segment 2 is missing");
    // Starting after the gap is fine.
    let (seen, _) = replay_all(dir.path(), 3, false).unwrap();
    assert_eq!(seen.len(), 2);
    let (seen, report) = replay_all(dir.path(), 0, true).unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(report.dropped_records, 2);
    assert_eq!(list_segments(dir.path()).unwrap(), vec![1]);
}

#[test]
fn a_last_segment_torn_while_being_created_is_removed() {
    let dir = TestDir::new("tornheader");
    let written = write_records(dir.path(), opts(FsyncPolicy::No), Lsn(1), 5);
    write_raw_segment(dir.path(), 2, b"GYRE");
    let (seen, report) = replay_all(dir.path(), 0, false).unwrap();
    assert_eq!(seen, written);
    assert_eq!(report.torn_bytes_truncated, 4);
    assert_eq!(list_segments(dir.path()).unwrap(), vec![1]);
}

/// Where each record lies: (segment, start offset, length with header).
fn record_positions(dir: &Path) -> Vec<(u64, u64, u64)> {
    let mut positions = Vec::new();
    for n in list_segments(dir).unwrap() {
        let bytes = fs::read(segment_path(dir, n)).unwrap();
        let mut pos = SEGMENT_HEADER_BYTES as usize;
        while pos < bytes.len() {
            let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as u64;
            positions.push((n, pos as u64, 16 + len));
            pos += 16 + len as usize;
        }
    }
    positions
}

fn crash_options(segment_bytes_max: u64) -> WalOptions {
    WalOptions { segment_bytes_max, ..opts(FsyncPolicy::No) }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// A crash mid-append leaves a prefix of the last segment: replay keeps
    /// exactly the records wholly before the cut and truncates the rest once.
    #[test]
    fn a_torn_tail_is_truncated_to_the_last_whole_record(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..120), 1..40),
        segment_bytes_max in 64u64..1024,
        cut_fraction in 0.0f64..1.0,
    ) {
        let dir = TestDir::new("torn");
        let wal = Wal::open(dir.path(), crash_options(segment_bytes_max), Lsn(1)).unwrap();
        for p in &payloads {
            wal.append(p).unwrap();
        }
        wal.close().unwrap();

        let positions = record_positions(dir.path());
        let last = *list_segments(dir.path()).unwrap().last().unwrap();
        let path = segment_path(dir.path(), last);
        let len = fs::metadata(&path).unwrap().len();
        let cut = (len as f64 * cut_fraction) as u64;
        OpenOptions::new().write(true).open(&path).unwrap().set_len(cut).unwrap();

        let kept = positions
            .iter()
            .filter(|&&(seg, start, rec_len)| seg < last || start + rec_len <= cut)
            .count();
        let kept_end = positions
            .iter()
            .filter(|&&(seg, start, rec_len)| seg == last && start + rec_len <= cut)
            .map(|&(_, start, rec_len)| start + rec_len)
            .max()
            .unwrap_or(SEGMENT_HEADER_BYTES);
        let expected_torn = if cut < SEGMENT_HEADER_BYTES { cut } else { cut - kept_end };

        let (seen, report) = replay_all(dir.path(), 0, false).unwrap();
        prop_assert_eq!(seen.len(), kept);
        for (i, (lsn, p)) in seen.iter().enumerate() {
            prop_assert_eq!(*lsn, Lsn(i as u64 + 1));
            prop_assert_eq!(p, &payloads[i]);
        }
        // A torn prefix of zeros (an empty record's length field) cannot be
        // told from reserved space; either way it is cut.
        prop_assert_eq!(report.torn_bytes_truncated + report.preallocated_bytes_trimmed, expected_torn);
        prop_assert_eq!(report.dropped_records, 0);

        let (again, report) = replay_all(dir.path(), 0, false).unwrap();
        prop_assert_eq!(again.len(), kept);
        prop_assert_eq!(report.torn_bytes_truncated, 0);
    }

    /// Damage anywhere but the final record is corruption, never silently
    /// truncated; cutting on request keeps the prefix and counts the rest.
    #[test]
    fn damage_before_the_tail_is_an_error_naming_file_and_offset(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..120), 2..40),
        segment_bytes_max in 64u64..1024,
        record_pick in any::<prop::sample::Index>(),
        byte_pick in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let dir = TestDir::new("flip");
        let wal = Wal::open(dir.path(), crash_options(segment_bytes_max), Lsn(1)).unwrap();
        for p in &payloads {
            wal.append(p).unwrap();
        }
        wal.close().unwrap();

        let positions = record_positions(dir.path());
        let k = record_pick.index(positions.len() - 1); // never the final record
        let (seg, start, rec_len) = positions[k];
        let path = segment_path(dir.path(), seg);
        let mut bytes = fs::read(&path).unwrap();
        bytes[(start + byte_pick.index(rec_len as usize) as u64) as usize] ^= flip;
        fs::write(&path, &bytes).unwrap();

        let result = replay(dir.path(), 0, false, |_, _| {});
        match result {
            Err(WalError::Corrupt { path: p, offset, .. }) => {
                prop_assert_eq!(p, path.clone());
                prop_assert_eq!(offset, start);
            }
            other => prop_assert!(false, "expected Corrupt, got {:?}", other),
        }

        let (seen, report) = replay_all(dir.path(), 0, true).unwrap();
        prop_assert_eq!(seen.len(), k);
        for (i, (_, p)) in seen.iter().enumerate() {
            prop_assert_eq!(p, &payloads[i]);
        }
        prop_assert_eq!(report.dropped_records, (positions.len() - k - 1) as u64);
        let (again, report) = replay_all(dir.path(), 0, false).unwrap();
        prop_assert_eq!(again.len(), k);
        prop_assert_eq!(report.torn_bytes_truncated, 0);
        // The damaged segment is cut at the record, later ones deleted.
        prop_assert_eq!(list_segments(dir.path()).unwrap().last().copied(), Some(seg));
        prop_assert_eq!(fs::metadata(&path).unwrap().len(), start);
    }
}

/// One step of a writer for the crash property below.
#[derive(Clone, Debug)]
enum Step {
    Append(Vec<u8>),
    /// A payload above the copy threshold (written from the caller's buffer).
    AppendLarge(u8),
    /// Wait for the newest record so far (an acknowledged write).
    WaitNewest,
    Rotate,
}

fn arb_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => proptest::collection::vec(any::<u8>(), 0..200).prop_map(Step::Append),
        1 => any::<u8>().prop_map(Step::AppendLarge),
        3 => Just(Step::WaitNewest),
        1 => Just(Step::Rotate),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// The buffered log's promise: after a crash (the log is never closed,
    /// so nothing is written or trimmed on the way out), every record up to
    /// the newest one a wait returned for is there, whole and in order, and
    /// whatever else is there is a gapless continuation of the records
    /// appended; never a record that was not appended, never a hole.
    #[test]
    fn a_crash_keeps_every_waited_record_and_nothing_else(
        steps in proptest::collection::vec(arb_step(), 1..60),
        segment_bytes_max in 256u64..4096,
        policy in prop_oneof![Just(FsyncPolicy::Always), Just(FsyncPolicy::EverySec), Just(FsyncPolicy::No)],
    ) {
        let dir = TestDir::new("crashprop");
        let options = WalOptions { segment_bytes_max, ..opts(policy) };
        // Only what the steps do reaches the disk (the leaked log's thread
        // must not write behind the replay).
        let faults = FaultInjector::new();
        faults.pause_flusher(true);
        let wal = Wal::open_with_faults(dir.path(), options, Lsn(1), faults).unwrap();
        let mut appended: Vec<Vec<u8>> = Vec::new();
        let mut acked = 0u64;
        for step in &steps {
            match step {
                Step::Append(p) => {
                    prop_assert_eq!(wal.append(p).unwrap(), Lsn(appended.len() as u64 + 1));
                    appended.push(p.clone());
                }
                Step::AppendLarge(b) => {
                    let p = vec![*b; (64 << 10) + 1];
                    prop_assert_eq!(wal.append(&p).unwrap(), Lsn(appended.len() as u64 + 1));
                    appended.push(p);
                }
                Step::WaitNewest if !appended.is_empty() => {
                    block_on(wal.wait_durable(Lsn(appended.len() as u64))).unwrap();
                    acked = appended.len() as u64;
                }
                Step::WaitNewest => {}
                Step::Rotate => {
                    wal.rotate().unwrap();
                }
            }
        }
        // The crash: no close, no final write, no trim.
        std::mem::forget(wal);
        let (seen, report) = replay_all(dir.path(), 0, false).unwrap();
        prop_assert!(seen.len() as u64 >= acked, "{} records survived, {} were acknowledged", seen.len(), acked);
        prop_assert!(seen.len() <= appended.len());
        for (i, (lsn, p)) in seen.iter().enumerate() {
            prop_assert_eq!(*lsn, Lsn(i as u64 + 1));
            prop_assert_eq!(p, &appended[i]);
        }
        prop_assert_eq!(report.torn_bytes_truncated, 0);
    }
}

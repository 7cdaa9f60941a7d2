//! `CONFIG SET save`: Redis's save points schedule snapshots ("seconds
//! changes" pairs), `save ""` turns them off, invalid pairs are refused with
//! Redis's error. Validated against Redis 7 (`GYRE_TEST_REDIS=1`), where the
//! snapshot is an RDB BGSAVE.

mod common;

use std::time::Duration;

use common::*;

fn changes_since_save(c: &mut redis::Connection) -> i64 {
    let info = as_str(&q(c, &["INFO", "persistence"]));
    info_field(&info, "rdb_changes_since_last_save").and_then(|v| v.parse().ok()).expect("rdb_changes_since_last_save")
}

#[test]
fn save_points_are_set_read_and_validated() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    assert_eq!(q(c, &["CONFIG", "GET", "save"]), bulks(&["save", ""]));
    ok(c, &["CONFIG", "SET", "save", "3600 1 300 100"]);
    assert_eq!(q(c, &["CONFIG", "GET", "save"]), bulks(&["save", "3600 1 300 100"]));
    for bad in ["1", "0 1", "10 -1", "x 1", "1 1 2", "1  1", " 10 1", "5\t1"] {
        assert_eq!(
            err(c, &["CONFIG", "SET", "save", bad]),
            "ERR CONFIG SET failed (possibly related to argument 'save') - Invalid save parameters",
            "{bad}"
        );
    }
    assert_eq!(q(c, &["CONFIG", "GET", "save"]), bulks(&["save", "3600 1 300 100"]));
    ok(c, &["CONFIG", "SET", "save", "10 "]);
    assert_eq!(q(c, &["CONFIG", "GET", "save"]), bulks(&["save", "10 0"]));
    ok(c, &["CONFIG", "SET", "save", ""]);
    assert_eq!(q(c, &["CONFIG", "GET", "save"]), bulks(&["save", ""]));
}

#[test]
fn a_due_save_point_takes_a_snapshot_and_save_off_takes_none() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    ok(c, &["SET", "a", "1"]);
    assert!(changes_since_save(c) >= 1);
    // Not enough changes for the point: nothing happens.
    ok(c, &["CONFIG", "SET", "save", "1 1000"]);
    std::thread::sleep(Duration::from_millis(2200));
    assert!(changes_since_save(c) >= 1);
    let before = as_int(&q(c, &["LASTSAVE"]));
    // One change and more than a second since the last snapshot: due.
    ok(c, &["CONFIG", "SET", "save", "1 1"]);
    assert!(wait_for(Duration::from_secs(10), || changes_since_save(c) == 0), "no snapshot was taken");
    assert!(wait_for(Duration::from_secs(5), || as_int(&q(c, &["LASTSAVE"])) > before), "LASTSAVE did not move");
    // Off: writes accumulate.
    ok(c, &["CONFIG", "SET", "save", ""]);
    std::thread::sleep(Duration::from_millis(200));
    ok(c, &["SET", "b", "2"]);
    std::thread::sleep(Duration::from_millis(2200));
    assert!(changes_since_save(c) >= 1);
}

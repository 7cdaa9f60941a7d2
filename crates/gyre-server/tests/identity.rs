//! A node's identity: a persistent 40-hex-character id made at the first
//! start and kept in the data directory, unlike `run_id`, which is per process.

mod common;

use common::*;

fn info_server(s: &Server) -> String {
    let mut c = s.client();
    cmd(&["INFO", "server"]).query(&mut c).unwrap()
}

#[test]
fn the_node_id_survives_restarts_and_the_run_id_does_not() {
    if is_redis() {
        return;
    }
    let mut s = Server::start();
    let info = info_server(&s);
    let node_id = info_field(&info, "node_id").expect("node_id in INFO server");
    assert_eq!(node_id.len(), 40);
    assert!(node_id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{node_id}");
    let run_id = info_field(&info, "run_id").unwrap();
    s.restart(Stop::Kill, &[]);
    let info = info_server(&s);
    assert_eq!(info_field(&info, "node_id").as_deref(), Some(node_id.as_str()), "kept across a crash");
    assert_ne!(info_field(&info, "run_id").unwrap(), run_id, "run_id is per process");
    s.restart(Stop::Term, &[]);
    assert_eq!(info_field(&info_server(&s), "node_id").as_deref(), Some(node_id.as_str()), "and a clean restart");
}

#[test]
fn two_data_directories_are_two_nodes() {
    if is_redis() {
        return;
    }
    let a = Server::start();
    let b = Server::start();
    let id = |s: &Server| info_field(&info_server(s), "node_id").unwrap();
    assert_ne!(id(&a), id(&b));
}

/// The clock-drift bound on versions from other nodes: a setting with a
/// default of 500 ms, and its refusals, both in INFO.
#[test]
fn the_clock_drift_bound_is_a_setting_shown_in_info() {
    if is_redis() {
        return;
    }
    let s = Server::start();
    let mut c = s.client();
    let stats = |c: &mut redis::Connection| -> String { cmd(&["INFO", "stats"]).query(c).unwrap() };
    assert_eq!(info_field(&stats(&mut c), "max_clock_drift_ms").as_deref(), Some("500"));
    assert_eq!(info_field(&stats(&mut c), "clock_drift_refused").as_deref(), Some("0"));
    ok(&mut c, &["CONFIG", "SET", "max-clock-drift-ms", "2000"]);
    assert_eq!(info_field(&stats(&mut c), "max_clock_drift_ms").as_deref(), Some("2000"));
    assert!(err(&mut c, &["CONFIG", "SET", "max-clock-drift-ms", "0"]).contains("max-clock-drift-ms"));
}

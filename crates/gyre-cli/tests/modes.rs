//! End-to-end tests of the modes beyond redis-cli's basics: `--csv` and
//! `--json`, `-x`, `-u`, `--pipe`, and the friendly verbs (TLS is in `tls.rs`), each against a
//! real server started by the test (see `common`).

mod common;

use common::{run, run_any, start_server};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn csv_output_matches_redis_cli() {
    let Some((_server, port)) = start_server() else { return };
    run(port, &["RPUSH", "l", "a", "b c", "d\"e"]);
    assert_eq!(run(port, &["--csv", "LRANGE", "l", "0", "-1"]), "\"a\",\"b c\",\"d\\\"e\"\n");
    assert_eq!(run(port, &["--csv", "GET", "missing"]), "NULL\n");
    assert_eq!(run(port, &["--csv", "LLEN", "l"]), "3\n");
    assert_eq!(run(port, &["--csv", "LRANGE", "nolist", "0", "-1"]), "\n");
    assert_eq!(run(port, &["--csv", "SET", "k"]), "ERROR,\"ERR wrong number of arguments for 'set' command\"\n");
    // RESP3 maps flatten.
    run(port, &["HSET", "h", "f1", "v1"]);
    assert_eq!(run(port, &["--csv", "-3", "HGETALL", "h"]), "\"f1\",\"v1\"\n");
}

#[test]
fn json_output_matches_redis_cli() {
    let Some((_server, port)) = start_server() else { return };
    run(port, &["HSET", "h", "f1", "v1", "f2", "2"]);
    // --json speaks RESP3 unless -2: a hash is an object.
    assert_eq!(run(port, &["--json", "HGETALL", "h"]), "{\"f1\":\"v1\",\"f2\":\"2\"}\n");
    assert_eq!(run(port, &["--json", "-2", "HGETALL", "h"]), "[\"f1\",\"v1\",\"f2\",\"2\"]\n");
    assert_eq!(run(port, &["--json", "GET", "missing"]), "null\n");
    assert_eq!(run(port, &["--json", "HLEN", "h"]), "2\n");
    run(port, &["SET", "s", "é\u{1}\n"]);
    assert_eq!(run(port, &["--json", "GET", "s"]), "\"é\\u0001\\n\"\n");
    assert_eq!(run(port, &["--json", "SET", "k"]), "error:\"ERR wrong number of arguments for 'set' command\"\n");
    // Piped lines use the same format.
    let out = run_any(port, &["--json"], b"HGET h f1\nEXISTS h\n");
    assert_eq!(text(&out.stdout), "\"v1\"\n1\n");
}

#[test]
fn x_reads_the_last_argument_from_stdin() {
    let Some((_server, port)) = start_server() else { return };
    let out = run_any(port, &["-x", "SET", "from-stdin"], b"line one\nline two\n");
    assert_eq!(text(&out.stdout), "OK\n");
    assert_eq!(run(port, &["--no-raw", "GET", "from-stdin"]), "\"line one\\nline two\\n\"\n");
}

#[test]
fn uri_sets_host_port_and_db() {
    let Some((_server, port)) = start_server() else { return };
    let uri = format!("redis://127.0.0.1:{port}/3");
    assert_eq!(text(&common::cli(&["-u", &uri, "SET", "k", "in-db-3"], None).stdout), "OK\n");
    assert_eq!(run(port, &["-n", "3", "GET", "k"]), "in-db-3\n");
    let out = common::cli(&["-u", "http://127.0.0.1:1", "PING"], None);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("Invalid URI scheme"), "{}", text(&out.stderr));
}

/// A RESP stream of `n` SETs with an INCR on a non-number in the middle.
fn pipe_input(n: usize) -> Vec<u8> {
    let mut input = Vec::new();
    for i in 0..n {
        let (key, value) = (format!("pipe:{i}"), format!("value-{i}"));
        input.extend_from_slice(
            format!("*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n{value}\r\n", key.len(), value.len()).as_bytes(),
        );
        if i == n / 2 {
            input.extend_from_slice(b"*2\r\n$4\r\nINCR\r\n$6\r\npipe:0\r\n");
        }
    }
    input
}

#[test]
fn pipe_mode_counts_replies_and_errors() {
    let Some((_server, port)) = start_server() else { return };
    let out = run_any(port, &["--pipe"], &pipe_input(20_000));
    assert_eq!(
        text(&out.stdout),
        "All data transferred. Waiting for the last reply...\nLast reply received from server.\n\
         errors: 1, replies: 20001\n"
    );
    assert_eq!(text(&out.stderr), "ERR value is not an integer or out of range\n");
    assert_eq!(out.status.code(), Some(1), "errors make the exit code 1, as redis-cli");
    assert_eq!(run(port, &["DBSIZE"]), "20000\n");
    assert_eq!(run(port, &["GET", "pipe:19999"]), "value-19999\n");
    // A clean stream exits 0.
    let out = run_any(port, &["--pipe"], b"*1\r\n$4\r\nPING\r\n");
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).ends_with("errors: 0, replies: 1\n"));
}

#[test]
fn put_get_delete() {
    let Some((_server, port)) = start_server() else { return };
    assert_eq!(run(port, &["put", "greeting", "hello"]), "OK\n");
    assert_eq!(run(port, &["get", "greeting"]), "hello\n");
    assert_eq!(run(port, &["--no-raw", "TTL", "greeting"]), "(integer) -1\n");
    assert_eq!(run(port, &["put", "temp", "x", "--ttl", "100"]), "OK\n");
    let ttl: i64 = run(port, &["TTL", "temp"]).trim().parse().unwrap();
    assert!((1..=100).contains(&ttl), "ttl {ttl}");
    assert_eq!(run(port, &["delete", "greeting"]), "deleted\n");
    assert_eq!(run(port, &["delete", "greeting"]), "not found\n");
    assert_eq!(run(port, &["delete", "temp", "nothing"]), "deleted 1 of 2 keys\n");
    // Usage errors exit 2; an error reply exits 1.
    let out = run_any(port, &["put", "only-key"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("usage: gyre-cli put"));
    let out = run_any(port, &["put", "k", "v", "--ttl", "soon"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with("(error) ERR"), "{}", text(&out.stderr));
}

#[test]
fn keys_scans_and_capitals_or_double_dash_send_keys() {
    let Some((_server, port)) = start_server() else { return };
    for chunk in 0..5 {
        let mut args = vec!["MSET".to_string()];
        for j in chunk * 500..(chunk + 1) * 500 {
            args.extend([format!("user:{j}"), "x".into()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(port, &args);
    }
    run(port, &["SET", "other", "y"]);
    let mut users: Vec<String> = run(port, &["keys", "user:*"]).lines().map(String::from).collect();
    users.sort();
    users.dedup();
    assert_eq!(users.len(), 2500, "every key, across several SCAN pages");
    assert_eq!(run(port, &["keys"]).lines().count(), 2501);
    // Capitals and `--` mean the real KEYS.
    assert_eq!(run(port, &["KEYS", "oth*"]), "other\n");
    assert_eq!(run(port, &["--", "keys", "oth*"]), "other\n");
    let out = run_any(port, &["keys", "a", "b"], b"");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn stats_summarizes_info() {
    let Some((_server, port)) = start_server() else { return };
    run(port, &["SET", "a", "1"]);
    run(port, &["-n", "2", "SET", "b", "1"]);
    run(port, &["GET", "a"]);
    let out = run(port, &["stats"]);
    let lines: Vec<&str> = out.lines().collect();
    let labels: Vec<&str> = lines.iter().map(|l| l.split(':').next().unwrap_or_default()).collect();
    assert_eq!(labels, ["server", "clients", "memory", "keys", "ops/s", "hit ratio", "persistence"], "{out}");
    assert!(out.contains("db0: 1 key (0 with TTL), db2: 1 key (0 with TTL)"), "{out}");
    assert!(out.contains("1 hits"), "{out}");
}

/// `import-rdb`: an RDB file saved by Debian's redis-server 7.0 loads into the
/// server with RESTORE (every key, database and expiry; the expired key is
/// skipped); a damaged file is refused with its offset, nothing sent.
#[test]
fn import_rdb_loads_a_redis_file() {
    let Some((_server, port)) = start_server() else { return };
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../gyre-engine/src/testdata/redis7.rdb");
    let out = run_any(port, &["import-rdb", fixture], b"");
    assert_eq!(text(&out.stderr), "import-rdb: 12 keys restored, 1 expired keys skipped, 0 refused\n");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(run(port, &["DBSIZE"]), "11\n");
    assert_eq!(run(port, &["LRANGE", "l1", "0", "-1"]), "a\nb\nc\n1\n2\n3\n");
    assert_eq!(run(port, &["-n", "3", "GET", "other"]), "db3\n");
    let mut bad = std::fs::read(fixture).unwrap();
    bad[40] ^= 0x55;
    let path = std::env::temp_dir().join(format!("gyre-cli-bad-{}.rdb", std::process::id()));
    std::fs::write(&path, &bad).unwrap();
    let out = run_any(port, &["import-rdb", path.to_str().unwrap()], b"");
    let _ = std::fs::remove_file(&path);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("checksum mismatch (the file is corrupt or truncated) at byte offset"),
        "{}",
        text(&out.stderr)
    );
    let out = run_any(port, &["import-rdb"], b"");
    assert_eq!(out.status.code(), Some(2));
}

/// `import-rdb` of streams with consumer groups (a file saved by Debian's
/// redis-server 7.0, as gyre-engine/src/testdata/redis_stream_dumps.txt says).
#[test]
fn import_rdb_loads_streams() {
    let Some((_server, port)) = start_server() else { return };
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../gyre-engine/src/testdata/redis7_stream.rdb");
    let out = run_any(port, &["import-rdb", fixture], b"");
    assert_eq!(text(&out.stderr), "import-rdb: 3 keys restored, 0 expired keys skipped, 0 refused\n");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(run(port, &["XLEN", "long"]), "200\n");
    assert_eq!(run(port, &["XRANGE", "s", "4-0", "4-0"]), "4-0\nname\ndave\nage\n99999999999\n");
    assert_eq!(run(port, &["XPENDING", "s", "g1"]), "2\n2-0\n3-5\nc1\n1\nc2\n1\n");
}

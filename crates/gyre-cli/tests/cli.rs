//! End-to-end tests: run the built `gyre-cli` binary against a real server
//! and assert the exact text redis-cli 7 would print.
//!
//! Each test starts its own server on a free port and kills it when done
//! (see `common`).
//!
//! stdout is a pipe here, so the default output is raw; `--no-raw` gives
//! the terminal form. Interactive mode, which needs a terminal, is driven
//! through a pty in `interactive.rs`; piped stdin exercises the same line
//! handling here.

mod common;

use common::{cli, free_port, run, start_server};

#[test]
fn one_shot_set_and_get() {
    let Some((_server, port)) = start_server() else { return };
    assert_eq!(run(port, &["SET", "foo", "bar"]), "OK\n");
    assert_eq!(run(port, &["GET", "foo"]), "bar\n");
    assert_eq!(run(port, &["--no-raw", "GET", "foo"]), "\"bar\"\n");
    assert_eq!(run(port, &["--no-raw", "SET", "foo", "baz"]), "OK\n");
}

#[test]
fn nil_and_integer_replies() {
    let Some((_server, port)) = start_server() else { return };
    assert_eq!(run(port, &["--no-raw", "GET", "missing"]), "(nil)\n");
    assert_eq!(run(port, &["GET", "missing"]), "\n");
    assert_eq!(run(port, &["--no-raw", "INCR", "n"]), "(integer) 1\n");
    assert_eq!(run(port, &["INCR", "n"]), "2\n");
    assert_eq!(run(port, &["--no-raw", "INCRBY", "n", "-5"]), "(integer) -3\n");
}

#[test]
fn error_replies_exit_zero() {
    let Some((_server, port)) = start_server() else { return };
    let tty = run(port, &["--no-raw", "SET", "k"]);
    assert_eq!(tty, "(error) ERR wrong number of arguments for 'set' command\n");
    // Raw mode: the error text, its newline, then the reply terminator.
    let raw = run(port, &["--raw", "SET", "k"]);
    assert_eq!(raw, "ERR wrong number of arguments for 'set' command\n\n");
}

#[test]
fn arrays_raw_and_formatted() {
    let Some((_server, port)) = start_server() else { return };
    run(port, &["MSET", "k1", "a", "k2", "b c", "k3", "x\ny", "k4", "é"]);
    let tty = run(port, &["--no-raw", "MGET", "k1", "k2", "k3", "k4", "missing"]);
    assert_eq!(tty, "1) \"a\"\n2) \"b c\"\n3) \"x\\ny\"\n4) \"\\xc3\\xa9\"\n5) (nil)\n");
    let raw = run(port, &["MGET", "k1", "k2", "k3", "k4"]);
    assert_eq!(raw, "a\nb c\nx\ny\né\n");
    // The last of --raw / --no-raw wins, as in redis-cli.
    assert_eq!(run(port, &["--no-raw", "--raw", "MGET", "k1"]), "a\n");
    assert_eq!(run(port, &["--no-raw", "KEYS", "nomatch*"]), "(empty array)\n");
}

#[test]
fn resp3_map_replies() {
    let Some((_server, port)) = start_server() else { return };
    assert_eq!(run(port, &["-3", "--no-raw", "CONFIG", "GET", "hz"]), "1# \"hz\" => \"10\"\n");
    assert_eq!(run(port, &["-3", "--raw", "CONFIG", "GET", "hz"]), "hz 10\n");
    assert_eq!(run(port, &["--no-raw", "CONFIG", "GET", "hz"]), "1) \"hz\"\n2) \"10\"\n");
}

#[test]
fn stdin_runs_each_line() {
    let Some((_server, port)) = start_server() else { return };
    let port = port.to_string();
    let input = "SET greeting \"hello\\tworld\"\n\nGET greeting\nINCR counter\nGET nothing\nSET \"unbalanced\nNOSUCHCOMMAND\n2 INCR counter\nQUIT\nINCR counter\n";
    let output = cli(&["-p", &port], Some(input));
    assert!(output.status.success());
    let want = "OK\nhello\tworld\n1\n\nInvalid argument(s)\n\
                ERR unknown command 'NOSUCHCOMMAND', with args beginning with: \n\n2\n3\n";
    assert_eq!(String::from_utf8_lossy(&output.stdout), want);
    // QUIT ended the session: the last INCR never ran.
    let output = cli(&["-p", &port, "--no-raw"], Some("GET counter\n'quoted key' x\n"));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "\"3\"\n(error) ERR unknown command 'quoted key', with args beginning with: 'x' \n"
    );
}

#[test]
fn db_flag_selects_database() {
    let Some((_server, port)) = start_server() else { return };
    assert_eq!(run(port, &["-n", "2", "SET", "k", "in-db-2"]), "OK\n");
    assert_eq!(run(port, &["--no-raw", "GET", "k"]), "(nil)\n");
    assert_eq!(run(port, &["-n", "2", "GET", "k"]), "in-db-2\n");
    // SELECT typed in stdin mode applies to the lines after it.
    let port = port.to_string();
    let output = cli(&["-p", &port], Some("GET k\nSELECT 2\nGET k\n"));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "\nOK\nin-db-2\n");
}

#[test]
fn unreachable_server_exits_nonzero() {
    let port = free_port().to_string();
    let output = cli(&["-p", &port, "PING"], None);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!("Could not connect to Redis at 127.0.0.1:{port}: Connection refused\n")
    );
    assert!(output.stdout.is_empty());
    // Piped mode reports it (once at start, once per command) and exits 0.
    let output = cli(&["-p", &port], Some("PING\n"));
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&output.stderr).matches("Could not connect").count(), 2);
}

#[test]
fn help_is_long_only_and_h_is_host() {
    let output = cli(&["--help"], None);
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("-h, --host <HOSTNAME>"), "{help}");
    let output = cli(&["-h"], None);
    assert!(!output.status.success(), "-h without a value is an error, not help");
}

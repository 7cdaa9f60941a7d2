//! Every command in the table, called with assorted argument shapes (none,
//! too few, odd types, huge numbers, negative numbers, binary), must answer
//! with a reply (often an error) and leave the server serving. Guards against
//! handler panics reachable from client input.

mod common;

use common::*;

/// Argument values that have found bugs in servers before.
const SHAPES: &[&str] =
    &["", "0", "-1", "1", "9223372036854775807", "-9223372036854775808", "k", "*", "x y", "1.5", "NX"];

/// (name, blocks) of every command and subcommand.
fn command_names(c: &mut redis::Connection) -> Vec<(String, bool)> {
    let mut names = Vec::new();
    let Value::Array(all) = q(c, &["COMMAND"]) else { panic!("COMMAND is not an array") };
    for entry in all {
        let Value::Array(items) = entry else { panic!("entry is not an array") };
        let name = as_str(&items[0]);
        // WAIT and WAITAOF block without the flag (Redis 7.2 declares them so).
        let blocking =
            sorted_strings(&items[2]).iter().any(|f| f == "blocking") || matches!(name.as_str(), "wait" | "waitaof");
        names.push((name, blocking));
        if let Some(Value::Array(subs)) = items.get(9) {
            for sub in subs {
                let Value::Array(sub_items) = sub else { continue };
                names.push((as_str(&sub_items[0]), false));
            }
        }
    }
    names
}

/// Sends a blocking command; if it blocks (timeout 0 waits forever), releases
/// it with CLIENT UNBLOCK from `other`; then reads its reply.
fn call_releasing(raw: &mut RawConn, other: &mut redis::Connection, raw_id: &str, args: &[&str]) {
    raw.send_cmd(args);
    loop {
        raw.stream.set_nonblocking(true).unwrap();
        let peeked = raw.stream.peek(&mut [0u8; 1]);
        raw.stream.set_nonblocking(false).unwrap();
        assert!(!matches!(peeked, Ok(0)), "the server closed the connection after {args:?}");
        let replied = peeked.is_ok_and(|n| n > 0);
        if replied || as_int(&q(other, &["CLIENT", "UNBLOCK", raw_id])) == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let _ = raw.read_reply();
}

#[test]
fn every_command_survives_odd_arguments() {
    let s = Server::start();
    let mut c = s.client();
    let names = command_names(&mut c);
    assert!(names.len() > 50, "{names:?}");
    let mut raw = s.raw();
    let raw_id = raw.call(&["CLIENT", "ID"]).int().to_string();
    for (name, blocking) in &names {
        // Skip commands that end the connection (or the server) or alter it
        // for the others.
        let parts: Vec<&str> = name.split('|').collect();
        if matches!(parts[0], "quit" | "reset" | "shutdown")
            || (parts[0] == "client" && matches!(parts.get(1), Some(&"kill") | Some(&"reply") | Some(&"pause")))
        {
            continue;
        }
        for argc in 0..4 {
            for shape in SHAPES {
                let mut args: Vec<&str> = parts.clone();
                args.extend(std::iter::repeat_n(*shape, argc));
                // Any reply is fine; a closed connection is not.
                if *blocking {
                    call_releasing(&mut raw, &mut c, &raw_id, &args);
                } else {
                    let _ = raw.call(&args);
                }
                // Leave whatever state the command entered (a transaction,
                // subscriber mode); skip replies still due (SUBSCRIBE answers
                // once per channel).
                raw.send_cmd(&["RESET"]);
                while raw.read_reply() != Reply::simple("RESET") {}
                assert_eq!(raw.call(&["PING"]).text(), "PONG", "after {args:?}");
                // Stay in RESP2 and db 0 for the next command.
                raw.call(&["HELLO", "2"]);
                raw.call(&["SELECT", "0"]);
            }
        }
    }
    assert!(!s.logs().contains("panicked"), "a handler panicked:\n{}", s.logs());
}

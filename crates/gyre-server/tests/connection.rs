//! Connection commands: PING ECHO QUIT RESET HELLO AUTH CLIENT.

mod common;

use common::*;
use std::time::Duration;

#[test]
fn ping_and_echo() {
    let s = Server::start();
    let mut c = s.client();
    assert_eq!(q(&mut c, &["PING"]), status("PONG"));
    assert_eq!(q(&mut c, &["PING", "hello world"]), bulk("hello world"));
    assert_eq!(q(&mut c, &["ping", ""]), bulk(""));
    assert_eq!(err(&mut c, &["PING", "a", "b"]), "ERR wrong number of arguments for 'ping' command");
    assert_eq!(q(&mut c, &["ECHO", "hi"]), bulk("hi"));
    let bin: Vec<u8> = (0..=255u8).collect();
    let r: Value = redis::cmd("ECHO").arg(&bin).query(&mut c).unwrap();
    assert_eq!(r, Value::BulkString(bin));
    assert_eq!(err(&mut c, &["ECHO"]), "ERR wrong number of arguments for 'echo' command");
    assert_eq!(err(&mut c, &["ECHO", "a", "b"]), "ERR wrong number of arguments for 'echo' command");
}

#[test]
fn ping_exact_bytes() {
    let s = Server::start();
    let mut r = s.raw();
    r.send_cmd(&["PING"]);
    assert_eq!(r.read_frame_bytes(), b"+PONG\r\n");
    r.send_cmd(&["PING", "x y"]);
    assert_eq!(r.read_frame_bytes(), b"$3\r\nx y\r\n");
}

#[test]
fn quit_replies_ok_and_closes() {
    let s = Server::start();
    let mut r = s.raw();
    // Commands pipelined after QUIT are not executed.
    let mut bytes = encode_str(&["QUIT"]);
    bytes.extend(encode_str(&["SET", "after-quit", "1"]));
    r.send(&bytes);
    assert_eq!(r.read_frame_bytes(), b"+OK\r\n");
    r.expect_closed();
    let mut c = s.client();
    assert_eq!(q(&mut c, &["EXISTS", "after-quit"]), int(0));
}

#[test]
fn reset_restores_connection_state() {
    let s = Server::start();
    let mut r = s.raw();
    let id = r.call(&["CLIENT", "ID"]).int();
    assert_eq!(r.call(&["SELECT", "3"]), Reply::simple("OK"));
    assert_eq!(r.call(&["SET", "k", "in3"]), Reply::simple("OK"));
    assert_eq!(r.call(&["CLIENT", "SETNAME", "me"]), Reply::simple("OK"));
    let hello = r.call(&["HELLO", "3"]);
    assert!(matches!(hello, Reply::Map(_)), "{:?}", hello);
    r.send_cmd(&["RESET"]);
    assert_eq!(r.read_frame_bytes(), b"+RESET\r\n");
    // Back to RESP2, DB 0, no name, same connection id.
    r.send_cmd(&["GET", "k"]);
    assert_eq!(r.read_frame_bytes(), b"$-1\r\n");
    r.send_cmd(&["CLIENT", "GETNAME"]);
    assert_eq!(r.read_frame_bytes(), b"$-1\r\n");
    assert_eq!(r.call(&["CLIENT", "ID"]).int(), id);
    let info = r.call(&["CLIENT", "INFO"]).text();
    assert!(info.contains(" db=0 "), "{}", info);
    assert!(info.contains(" flags=N "), "{}", info);
    assert!(info.contains(" resp=2"), "{}", info);
    // CLIENT REPLY OFF is undone too.
    r.send_cmd(&["CLIENT", "REPLY", "OFF"]);
    r.send_cmd(&["RESET"]);
    assert_eq!(r.read_frame_bytes(), b"+RESET\r\n");
    assert_eq!(r.call(&["PING"]), Reply::simple("PONG"));
    assert_eq!(r.call(&["RESET", "x"]), Reply::error("ERR wrong number of arguments for 'reset' command"));
}

#[test]
fn reset_clears_no_evict_and_no_touch() {
    // Redis 7.2 (which added NO-TOUCH) also clears both modes on RESET;
    // 7.0 kept NO-EVICT.
    let s = Server::start();
    if skip_before_72(&s) {
        return;
    }
    let mut r = s.raw();
    assert_eq!(r.call(&["CLIENT", "NO-EVICT", "on"]), Reply::simple("OK"));
    assert_eq!(r.call(&["CLIENT", "NO-TOUCH", "on"]), Reply::simple("OK"));
    r.send_cmd(&["RESET"]);
    assert_eq!(r.read_frame_bytes(), b"+RESET\r\n");
    let info = r.call(&["CLIENT", "INFO"]).text();
    assert!(info.contains(" flags=N "), "{}", info);
}

fn map_keys(r: &Reply) -> Vec<String> {
    match r {
        Reply::Map(pairs) => pairs.iter().map(|(k, _)| k.text()).collect(),
        Reply::Array(items) => items.iter().step_by(2).map(|k| k.text()).collect(),
        other => panic!("expected map, got {:?}", other),
    }
}

const HELLO_FIELDS: [&str; 7] = ["server", "version", "proto", "id", "mode", "role", "modules"];

#[test]
fn hello_resp2() {
    let s = Server::start();
    let mut r = s.raw();
    let id = r.call(&["CLIENT", "ID"]).int();
    let reply = r.call(&["HELLO", "2"]);
    // RESP2: a flat array of 14 elements.
    assert!(matches!(&reply, Reply::Array(items) if items.len() == 14), "{:?}", reply);
    assert_eq!(map_keys(&reply), HELLO_FIELDS);
    // The server name is identity rather than behaviour: Redis says "redis".
    assert!(!reply.field("server").unwrap().text().is_empty());
    let version = reply.field("version").unwrap().text();
    assert!(version.split('.').count() == 3, "version {:?} is x.y.z", version);
    assert_eq!(reply.field("proto"), Some(&Reply::Int(2)));
    assert_eq!(reply.field("id"), Some(&Reply::Int(id)));
    assert_eq!(reply.field("mode"), Some(&Reply::bulk("standalone")));
    assert_eq!(reply.field("role"), Some(&Reply::bulk("master")));
    assert_eq!(reply.field("modules"), Some(&Reply::Array(vec![])));
    // HELLO without a version reports the current protocol.
    let reply = r.call(&["HELLO"]);
    assert_eq!(reply.field("proto"), Some(&Reply::Int(2)));
}

#[test]
fn hello_resp3() {
    let s = Server::start();
    let mut r = s.raw();
    let id = r.call(&["CLIENT", "ID"]).int();
    let reply = r.call(&["HELLO", "3"]);
    assert!(matches!(&reply, Reply::Map(p) if p.len() == 7), "{:?}", reply);
    assert_eq!(map_keys(&reply), HELLO_FIELDS);
    assert_eq!(reply.field("proto"), Some(&Reply::Int(3)));
    assert_eq!(reply.field("id"), Some(&Reply::Int(id)));
    assert_eq!(reply.field("mode"), Some(&Reply::bulk("standalone")));
    assert_eq!(reply.field("role"), Some(&Reply::bulk("master")));
    assert_eq!(reply.field("modules"), Some(&Reply::Array(vec![])));
    // Now in RESP3.
    r.send_cmd(&["GET", "missing"]);
    assert_eq!(r.read_frame_bytes(), b"_\r\n");
    let reply = r.call(&["HELLO"]);
    assert_eq!(reply.field("proto"), Some(&Reply::Int(3)));
    // And back.
    let reply = r.call(&["HELLO", "2"]);
    assert!(matches!(reply, Reply::Array(_)));
    r.send_cmd(&["GET", "missing"]);
    assert_eq!(r.read_frame_bytes(), b"$-1\r\n");
}

#[test]
fn hello_options_and_errors() {
    let s = Server::start();
    let mut r = s.raw();
    for v in ["4", "1", "0", "-1"] {
        r.send_cmd(&["HELLO", v]);
        assert_eq!(r.read_frame_bytes(), b"-NOPROTO unsupported protocol version\r\n", "HELLO {}", v);
    }
    assert_eq!(r.call(&["HELLO", "abc"]), Reply::error("ERR Protocol version is not an integer or out of range"));
    assert_eq!(r.call(&["HELLO", "3", "FOO"]), Reply::error("ERR Syntax error in HELLO option 'FOO'"));
    assert_eq!(r.call(&["HELLO", "3", "SETNAME"]), Reply::error("ERR Syntax error in HELLO option 'SETNAME'"));
    // A failed HELLO changes nothing.
    r.send_cmd(&["GET", "missing"]);
    assert_eq!(r.read_frame_bytes(), b"$-1\r\n");
    // SETNAME option.
    let reply = r.call(&["HELLO", "3", "SETNAME", "via-hello"]);
    assert!(matches!(reply, Reply::Map(_)));
    assert_eq!(r.call(&["CLIENT", "GETNAME"]), Reply::bulk("via-hello"));
    assert_eq!(
        r.call(&["HELLO", "2", "SETNAME", "bad name"]),
        Reply::error("ERR Client names cannot contain spaces, newlines or special characters.")
    );
    assert_eq!(r.call(&["CLIENT", "GETNAME"]), Reply::bulk("via-hello"));
}

#[test]
fn auth_without_password() {
    let s = Server::start();
    let mut c = s.client();
    assert_eq!(
        err(&mut c, &["AUTH", "secret"]),
        "ERR AUTH <password> called without any password configured for the default user. \
         Are you sure your configuration is correct?"
    );
    assert_eq!(err(&mut c, &["AUTH"]), "ERR wrong number of arguments for 'auth' command");
    assert_eq!(err(&mut c, &["AUTH", "a", "b", "c"]), "ERR syntax error");
    // The connection still works.
    assert_eq!(q(&mut c, &["PING"]), status("PONG"));
}

#[test]
fn client_id_and_names() {
    let s = Server::start();
    let mut a = s.client();
    let mut b = s.client();
    let ida = as_int(&q(&mut a, &["CLIENT", "ID"]));
    let idb = as_int(&q(&mut b, &["CLIENT", "ID"]));
    assert!(ida > 0 && idb > ida, "{} {}", ida, idb);
    assert_eq!(q(&mut a, &["CLIENT", "ID"]), int(ida));

    assert_eq!(q(&mut a, &["CLIENT", "GETNAME"]), nil());
    ok(&mut a, &["CLIENT", "SETNAME", "alpha"]);
    assert_eq!(q(&mut a, &["CLIENT", "GETNAME"]), bulk("alpha"));
    assert_eq!(q(&mut b, &["CLIENT", "GETNAME"]), nil());
    for bad in ["has space", "new\nline", "tab\there", "\x7f", "é"] {
        assert_eq!(
            err(&mut a, &["CLIENT", "SETNAME", bad]),
            "ERR Client names cannot contain spaces, newlines or special characters.",
            "{:?}",
            bad
        );
    }
    assert_eq!(q(&mut a, &["CLIENT", "GETNAME"]), bulk("alpha"));
    // An empty name removes the name.
    ok(&mut a, &["CLIENT", "SETNAME", ""]);
    assert_eq!(q(&mut a, &["CLIENT", "GETNAME"]), nil());
    assert_eq!(err(&mut a, &["CLIENT", "SETNAME"]), "ERR wrong number of arguments for 'client|setname' command");
    assert_eq!(err(&mut a, &["CLIENT", "ID", "x"]), "ERR wrong number of arguments for 'client|id' command");
    assert_eq!(err(&mut a, &["CLIENT", "FOO"]), "ERR unknown subcommand 'FOO'. Try CLIENT HELP.");
    assert_eq!(err(&mut a, &["CLIENT"]), "ERR wrong number of arguments for 'client' command");
}

/// Parses one CLIENT LIST / CLIENT INFO line into (field, value) pairs.
fn parse_client_line(line: &str) -> Vec<(String, String)> {
    line.split(' ')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or_else(|| panic!("field {:?} in {:?}", kv, line));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {} in {:?}", name, fields))
}

/// Fields that Redis 7.0 and 7.2 both print, in this order.
const CLIENT_FIELDS: [&str; 28] = [
    "id",
    "addr",
    "laddr",
    "fd",
    "name",
    "age",
    "idle",
    "flags",
    "db",
    "sub",
    "psub",
    "ssub",
    "multi",
    "qbuf",
    "qbuf-free",
    "argv-mem",
    "multi-mem",
    "rbs",
    "rbp",
    "obl",
    "oll",
    "omem",
    "tot-mem",
    "events",
    "cmd",
    "user",
    "redir",
    "resp",
];

#[test]
fn client_info_and_list() {
    let s = Server::start();
    let mut a = s.client();
    let mut b = s.client();
    ok(&mut a, &["CLIENT", "SETNAME", "alpha"]);
    ok(&mut a, &["SELECT", "2"]);
    let ida = as_int(&q(&mut a, &["CLIENT", "ID"]));
    let idb = as_int(&q(&mut b, &["CLIENT", "ID"]));
    // Wait until only these two connections remain (the harness's
    // readiness probe may take a moment to be reaped).
    let two = wait_for(Duration::from_secs(2), || as_str(&q(&mut b, &["CLIENT", "LIST"])).lines().count() == 2);
    assert!(two, "{}", as_str(&q(&mut b, &["CLIENT", "LIST"])));

    let info = as_str(&q(&mut a, &["CLIENT", "INFO"]));
    assert!(info.ends_with('\n'), "{:?}", info);
    assert_eq!(info.matches('\n').count(), 1);
    let fields = parse_client_line(info.trim_end_matches('\n'));
    let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(&names[..CLIENT_FIELDS.len()], &CLIENT_FIELDS[..]);
    assert_eq!(field(&fields, "id"), ida.to_string());
    assert_eq!(field(&fields, "name"), "alpha");
    assert_eq!(field(&fields, "db"), "2");
    assert_eq!(field(&fields, "flags"), "N");
    assert_eq!(field(&fields, "cmd"), "client|info");
    assert_eq!(field(&fields, "user"), "default");
    assert_eq!(field(&fields, "resp"), "2");
    assert_eq!(field(&fields, "laddr"), s.addr());
    assert!(field(&fields, "addr").starts_with("127.0.0.1:"));

    let list = as_str(&q(&mut b, &["CLIENT", "LIST"]));
    assert!(list.ends_with('\n'));
    let lines: Vec<Vec<(String, String)>> = list.lines().map(parse_client_line).collect();
    assert_eq!(lines.len(), 2, "{}", list);
    let la = lines.iter().find(|f| field(f, "id") == ida.to_string()).unwrap();
    assert_eq!(field(la, "name"), "alpha");
    assert_eq!(field(la, "cmd"), "client|info");
    let lb = lines.iter().find(|f| field(f, "id") == idb.to_string()).unwrap();
    assert_eq!(field(lb, "name"), "");
    assert_eq!(field(lb, "cmd"), "client|list");

    // Filters.
    let only = as_str(&q(&mut b, &["CLIENT", "LIST", "ID", &ida.to_string()]));
    assert_eq!(only.lines().count(), 1);
    assert!(only.starts_with(&format!("id={} ", ida)));
    let both = as_str(&q(&mut b, &["CLIENT", "LIST", "ID", &ida.to_string(), &idb.to_string(), "999999"]));
    assert_eq!(both.lines().count(), 2);
    let normal = as_str(&q(&mut b, &["CLIENT", "LIST", "TYPE", "normal"]));
    assert_eq!(normal.lines().count(), 2);
    assert_eq!(q(&mut b, &["CLIENT", "LIST", "TYPE", "pubsub"]), bulk(""));
    assert_eq!(err(&mut b, &["CLIENT", "LIST", "TYPE", "foo"]), "ERR Unknown client type 'foo'");
    assert_eq!(err(&mut b, &["CLIENT", "LIST", "ID", "abc"]), "ERR Invalid client ID");
    assert_eq!(err(&mut b, &["CLIENT", "LIST", "FOO"]), "ERR syntax error");
}

#[test]
fn client_info_lib_fields() {
    // Redis 7.2 added lib-name / lib-ver to CLIENT LIST / INFO and
    // CLIENT SETINFO. (redis-rs sends SETINFO on connect; the raw socket doesn't.)
    let s = Server::start();
    if skip_before_72(&s) {
        return;
    }
    let mut r = s.raw();
    let info = r.call(&["CLIENT", "INFO"]).text();
    assert!(info.trim_end().ends_with(" resp=2 lib-name= lib-ver="), "{}", info);
    assert_eq!(r.call(&["CLIENT", "SETINFO", "LIB-NAME", "mylib"]), Reply::simple("OK"));
    assert_eq!(r.call(&["CLIENT", "SETINFO", "lib-ver", "1.2.3"]), Reply::simple("OK"));
    let info = r.call(&["CLIENT", "INFO"]).text();
    assert!(info.trim_end().ends_with(" lib-name=mylib lib-ver=1.2.3"), "{}", info);
    assert_eq!(r.call(&["CLIENT", "SETINFO", "FOO", "x"]), Reply::error("ERR Unrecognized option 'FOO'"));
    assert_eq!(
        r.call(&["CLIENT", "SETINFO", "lib-name", "a b"]),
        Reply::error("ERR lib-name cannot contain spaces, newlines or special characters.")
    );
}

#[test]
fn client_kill() {
    let s = Server::start();
    let mut c = s.client();
    let mut victim = s.raw();
    let vid = victim.call(&["CLIENT", "ID"]).int();
    assert_eq!(q(&mut c, &["CLIENT", "KILL", "ID", &vid.to_string()]), int(1));
    victim.expect_closed();
    assert_eq!(q(&mut c, &["CLIENT", "KILL", "ID", &vid.to_string()]), int(0));

    // Old form: CLIENT KILL addr:port.
    let mut victim = s.raw();
    assert_eq!(victim.call(&["PING"]), Reply::simple("PONG"));
    let addr = victim.stream.local_addr().unwrap().to_string();
    ok(&mut c, &["CLIENT", "KILL", &addr]);
    victim.expect_closed();
    assert_eq!(err(&mut c, &["CLIENT", "KILL", &addr]), "ERR No such client");

    // New form with ADDR, and SKIPME (default yes) protecting the caller.
    let mut victim = s.raw();
    assert_eq!(victim.call(&["PING"]), Reply::simple("PONG"));
    let addr = victim.stream.local_addr().unwrap().to_string();
    assert_eq!(q(&mut c, &["CLIENT", "KILL", "ADDR", &addr]), int(1));
    victim.expect_closed();
    let me = as_int(&q(&mut c, &["CLIENT", "ID"])).to_string();
    assert_eq!(q(&mut c, &["CLIENT", "KILL", "ID", &me]), int(0));
    assert_eq!(q(&mut c, &["CLIENT", "KILL", "ID", &me, "SKIPME", "yes"]), int(0));
    assert_eq!(q(&mut c, &["PING"]), status("PONG"));
    assert_eq!(err(&mut c, &["CLIENT", "KILL", "ID", "abc"]), "ERR client-id should be greater than 0");
    assert_eq!(err(&mut c, &["CLIENT", "KILL", "FOO", "bar"]), "ERR syntax error");
    assert_eq!(err(&mut c, &["CLIENT", "KILL", "ID", &me, "SKIPME", "maybe"]), "ERR syntax error");
}

#[test]
fn client_kill_self_closes_after_reply() {
    let s = Server::start();
    let mut r = s.raw();
    let id = r.call(&["CLIENT", "ID"]).int();
    r.send_cmd(&["CLIENT", "KILL", "ID", &id.to_string(), "SKIPME", "no"]);
    assert_eq!(r.read_frame_bytes(), b":1\r\n");
    r.expect_closed();
}

#[test]
fn client_no_evict() {
    let s = Server::start();
    let mut c = s.client();
    ok(&mut c, &["CLIENT", "NO-EVICT", "ON"]);
    let info = as_str(&q(&mut c, &["CLIENT", "INFO"]));
    assert!(info.contains(" flags=e "), "{}", info);
    ok(&mut c, &["CLIENT", "NO-EVICT", "off"]);
    let info = as_str(&q(&mut c, &["CLIENT", "INFO"]));
    assert!(info.contains(" flags=N "), "{}", info);
    assert_eq!(err(&mut c, &["CLIENT", "NO-EVICT", "maybe"]), "ERR syntax error");
}

#[test]
fn client_no_touch() {
    // CLIENT NO-TOUCH is new in Redis 7.2.
    let s = Server::start();
    if skip_before_72(&s) {
        return;
    }
    let mut c = s.client();
    ok(&mut c, &["CLIENT", "NO-TOUCH", "ON"]);
    let info = as_str(&q(&mut c, &["CLIENT", "INFO"]));
    assert!(info.contains(" flags=T "), "{}", info);
    ok(&mut c, &["CLIENT", "NO-TOUCH", "OFF"]);
    let info = as_str(&q(&mut c, &["CLIENT", "INFO"]));
    assert!(info.contains(" flags=N "), "{}", info);
    assert_eq!(err(&mut c, &["CLIENT", "NO-TOUCH", "maybe"]), "ERR syntax error");
}

#[test]
fn client_reply_on_off_skip() {
    let s = Server::start();
    let mut r = s.raw();
    let mut batch = Vec::new();
    batch.extend(encode_str(&["CLIENT", "REPLY", "OFF"]));
    batch.extend(encode_str(&["SET", "a", "1"]));
    batch.extend(encode_str(&["GET", "a"]));
    batch.extend(encode_str(&["NOSUCHCOMMAND"]));
    batch.extend(encode_str(&["CLIENT", "REPLY", "ON"]));
    batch.extend(encode_str(&["GET", "a"]));
    r.send(&batch);
    assert_eq!(r.read_frame_bytes(), b"+OK\r\n");
    assert_eq!(r.read_frame_bytes(), b"$1\r\n1\r\n");
    r.expect_silence(Duration::from_millis(100));

    let mut batch = Vec::new();
    batch.extend(encode_str(&["CLIENT", "REPLY", "SKIP"]));
    batch.extend(encode_str(&["SET", "b", "2"]));
    batch.extend(encode_str(&["GET", "b"]));
    r.send(&batch);
    assert_eq!(r.read_frame_bytes(), b"$1\r\n2\r\n");
    r.expect_silence(Duration::from_millis(100));

    assert_eq!(r.call(&["CLIENT", "REPLY", "MAYBE"]), Reply::error("ERR syntax error"));
    assert_eq!(r.call(&["CLIENT", "REPLY", "ON"]), Reply::simple("OK"));
}

#[test]
fn select_is_per_connection_and_survives_errors() {
    let s = Server::start();
    let mut r = s.raw();
    assert_eq!(r.call(&["SELECT", "7"]), Reply::simple("OK"));
    assert_eq!(r.call(&["SET", "k", "v"]), Reply::simple("OK"));
    assert_eq!(r.call(&["SELECT", "16"]), Reply::error("ERR DB index is out of range"));
    assert_eq!(r.call(&["GET", "k"]), Reply::bulk("v"));
    let mut other = s.raw();
    other.send_cmd(&["GET", "k"]);
    assert_eq!(other.read_frame_bytes(), b"$-1\r\n");
}

/// CLIENT PAUSE WRITE holds writes only, ALL holds everything, CLIENT UNPAUSE
/// lifts a pause early.
#[test]
fn client_pause_holds_writes_or_everything_until_unpause() {
    let s = Server::start();
    let mut admin = s.raw();
    let mut c = s.raw();
    assert_eq!(admin.call(&["CLIENT", "PAUSE", "-1"]), Reply::error("ERR timeout is negative"));
    assert_eq!(admin.call(&["CLIENT", "PAUSE", "x"]), Reply::error("ERR timeout is not an integer or out of range"));
    assert_eq!(
        admin.call(&["CLIENT", "PAUSE", "10", "MAYBE"]),
        Reply::error("ERR CLIENT PAUSE mode must be WRITE or ALL")
    );
    assert_eq!(admin.call(&["CLIENT", "PAUSE", "400", "WRITE"]), Reply::simple("OK"));
    let t = std::time::Instant::now();
    assert_eq!(c.call(&["GET", "k"]), Reply::NilBulk);
    assert!(t.elapsed() < std::time::Duration::from_millis(250), "reads are not held");
    assert_eq!(c.call(&["SET", "k", "v"]), Reply::simple("OK"));
    assert!(t.elapsed() >= std::time::Duration::from_millis(300), "writes wait for the pause to end");
    assert_eq!(admin.call(&["CLIENT", "PAUSE", "20000", "WRITE"]), Reply::simple("OK"));
    c.send_cmd(&["DEL", "k"]);
    c.expect_silence(std::time::Duration::from_millis(200));
    assert_eq!(admin.call(&["CLIENT", "UNPAUSE"]), Reply::simple("OK"));
    assert_eq!(c.read_reply(), Reply::Int(1));
    assert_eq!(c.call(&["PING"]), Reply::simple("PONG"));
    assert_eq!(admin.call(&["CLIENT", "PAUSE", "300"]), Reply::simple("OK"));
    let t = std::time::Instant::now();
    assert_eq!(c.call(&["PING"]), Reply::simple("PONG"));
    assert!(t.elapsed() >= std::time::Duration::from_millis(200), "ALL (the default) holds every command");
}

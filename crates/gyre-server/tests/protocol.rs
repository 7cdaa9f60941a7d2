//! The wire protocol: inline commands, pipelining, many connections,
//! malformed input, binary safety, RESP3.

mod common;

use common::*;
use std::io::Write;
use std::time::{Duration, Instant};

#[test]
fn inline_commands() {
    let s = Server::start();
    let mut r = s.raw();
    r.send(b"PING\r\n");
    assert_eq!(r.read_frame_bytes(), b"+PONG\r\n");
    // A bare LF also ends an inline command.
    r.send(b"PING\n");
    assert_eq!(r.read_frame_bytes(), b"+PONG\r\n");
    r.send(b"set a \"b c\"\r\n");
    assert_eq!(r.read_frame_bytes(), b"+OK\r\n");
    r.send(b"GET a\r\n");
    assert_eq!(r.read_frame_bytes(), b"$3\r\nb c\r\n");
    // Extra spaces, single quotes, escapes in double quotes.
    r.send(b"   PING    hello   \r\n");
    assert_eq!(r.read_frame_bytes(), b"$5\r\nhello\r\n");
    r.send(b"SET s 'it''s'\r\n");
    // 'it''s' is not valid: a closing quote must be followed by a space.
    assert_eq!(r.read_frame_bytes(), b"-ERR Protocol error: unbalanced quotes in request\r\n");
    r.expect_closed();

    let mut r = s.raw();
    r.send(b"SET e \"\\x41\\n\\t\\\\z\"\r\n");
    assert_eq!(r.read_frame_bytes(), b"+OK\r\n");
    r.send(b"GET e\r\n");
    assert_eq!(r.read_frame_bytes(), b"$5\r\nA\n\t\\z\r\n");
    r.send(b"SET q 'single \"quoted\"'\r\n");
    assert_eq!(r.read_frame_bytes(), b"+OK\r\n");
    r.send(b"GET q\r\n");
    assert_eq!(r.read_frame_bytes(), b"$15\r\nsingle \"quoted\"\r\n");
    r.send(b"SET empty \"\"\r\nSTRLEN empty\r\n");
    assert_eq!(r.read_frame_bytes(), b"+OK\r\n");
    assert_eq!(r.read_frame_bytes(), b":0\r\n");
    // Empty lines are ignored; inline and RESP commands can be mixed.
    let mut bytes = b"\r\n\r\n  \r\nPING\r\n".to_vec();
    bytes.extend(encode_str(&["ECHO", "x"]));
    bytes.extend(b"ECHO y\r\n");
    r.send(&bytes);
    assert_eq!(r.read_frame_bytes(), b"+PONG\r\n");
    assert_eq!(r.read_frame_bytes(), b"$1\r\nx\r\n");
    assert_eq!(r.read_frame_bytes(), b"$1\r\ny\r\n");
    // Errors for inline commands are the same as for RESP ones.
    r.send(b"nosuch a\r\n");
    assert_eq!(r.read_frame_bytes(), b"-ERR unknown command 'nosuch', with args beginning with: 'a' \r\n");
    r.send(b"GET\r\n");
    assert_eq!(r.read_frame_bytes(), b"-ERR wrong number of arguments for 'get' command\r\n");
}

#[test]
fn inline_unbalanced_quotes_closes_connection() {
    let s = Server::start();
    let mut r = s.raw();
    r.send(b"SET a \"b\r\n");
    assert_eq!(r.read_frame_bytes(), b"-ERR Protocol error: unbalanced quotes in request\r\n");
    r.expect_closed();
    let mut c = s.client();
    assert_eq!(q(&mut c, &["EXISTS", "a"]), int(0));
}

#[test]
fn pipeline_10000_commands_in_one_write() {
    let s = Server::start();
    let r = s.raw();
    let n = 10_000;
    let mut batch = Vec::new();
    for i in 0..n {
        match i % 4 {
            0 => batch.extend(encode_str(&["SET", &format!("k{}", i), &format!("v{}", i)])),
            1 => batch.extend(encode_str(&["GET", &format!("k{}", i - 1)])),
            2 => batch.extend(encode_str(&["INCR", "counter"])),
            _ => batch.extend(b"PING\r\n"),
        }
    }
    // Write from another thread so neither side can block the other.
    let mut writer = r.stream.try_clone().unwrap();
    let t = std::thread::spawn(move || {
        writer.write_all(&batch).unwrap();
    });
    let mut r = r;
    let mut counter = 0;
    for i in 0..n {
        let got = r.read_frame_bytes();
        let want = match i % 4 {
            0 => b"+OK\r\n".to_vec(),
            1 => {
                let v = format!("v{}", i - 1);
                format!("${}\r\n{}\r\n", v.len(), v).into_bytes()
            }
            2 => {
                counter += 1;
                format!(":{}\r\n", counter).into_bytes()
            }
            _ => b"+PONG\r\n".to_vec(),
        };
        assert_eq!(got, want, "reply #{}: {:?}", i, String::from_utf8_lossy(&got));
    }
    t.join().unwrap();
    r.expect_silence(Duration::from_millis(50));
    let mut c = s.client();
    assert_eq!(q(&mut c, &["DBSIZE"]), int(2501));
}

#[test]
fn redis_rs_pipeline() {
    let s = Server::start();
    let mut c = s.client();
    let mut p = redis::pipe();
    for i in 0..1000 {
        p.cmd("SET").arg(format!("k{}", i)).arg(i);
    }
    for i in 0..1000 {
        p.cmd("GET").arg(format!("k{}", i));
    }
    let out: Vec<Value> = p.query(&mut c).unwrap();
    assert_eq!(out.len(), 2000);
    for i in 0..1000 {
        assert_eq!(out[i], Value::Okay);
        assert_eq!(out[1000 + i], bulk(i.to_string()));
    }
}

#[test]
fn thousand_concurrent_connections() {
    raise_fd_limit();
    let s = Server::start();
    let client = s.redis_client();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
    rt.block_on(async move {
        let n = 1000usize;
        // Open all connections first (one after the other, so the listen
        // backlog is never the bottleneck), then use them all at once.
        let mut conns = Vec::with_capacity(n);
        for i in 0..n {
            let con = tokio::time::timeout(Duration::from_secs(10), client.get_multiplexed_async_connection())
                .await
                .unwrap_or_else(|_| panic!("connection {} timed out", i))
                .unwrap_or_else(|e| panic!("connection {}: {}", i, e));
            conns.push(con);
        }
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
        let mut tasks = Vec::with_capacity(n);
        for (i, mut con) in conns.into_iter().enumerate() {
            let barrier = barrier.clone();
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let key = format!("conn:{}", i);
                let val = format!("value-{}", i);
                let r: Value = redis::cmd("SET").arg(&key).arg(&val).query_async(&mut con).await.unwrap();
                assert_eq!(r, Value::Okay);
                let r: Value = redis::cmd("GET").arg(&key).query_async(&mut con).await.unwrap();
                assert_eq!(r, Value::BulkString(val.into_bytes()));
                let r: Value = redis::cmd("INCR").arg("shared").query_async(&mut con).await.unwrap();
                assert!(matches!(r, Value::Int(_)));
                con
            }));
        }
        let mut still_open = Vec::with_capacity(n);
        for t in tasks {
            still_open.push(tokio::time::timeout(Duration::from_secs(30), t).await.unwrap().unwrap());
        }
        let mut con = still_open.pop().unwrap();
        let info: Value = redis::cmd("INFO").arg("clients").query_async(&mut con).await.unwrap();
        let clients: usize = info_field(&as_str(&info), "connected_clients").unwrap().parse().unwrap();
        assert!(clients >= n, "connected_clients {}", clients);
        let r: Value = redis::cmd("GET").arg("shared").query_async(&mut con).await.unwrap();
        assert_eq!(r, bulk(n.to_string()));
        let r: Value = redis::cmd("DBSIZE").query_async(&mut con).await.unwrap();
        assert_eq!(r, Value::Int(n as i64 + 1));
    });
}

/// After one connection gets a protocol error, another keeps working.
fn assert_server_healthy(s: &Server) {
    let mut c = s.client();
    ok(&mut c, &["SET", "health", "ok"]);
    assert_eq!(q(&mut c, &["GET", "health"]), bulk("ok"));
}

#[test]
fn invalid_multibulk_length() {
    let s = Server::start();
    let mut other = s.client();
    let mut r = s.raw();
    r.send(b"*abc\r\n");
    assert_eq!(r.read_frame_bytes(), b"-ERR Protocol error: invalid multibulk length\r\n");
    r.expect_closed();
    assert_eq!(q(&mut other, &["PING"]), status("PONG"));
    assert_server_healthy(&s);

    // Too large a count is refused the same way.
    let mut r = s.raw();
    r.send(b"*3000000000\r\n");
    assert_eq!(r.read_frame_bytes(), b"-ERR Protocol error: invalid multibulk length\r\n");
    r.expect_closed();
}

#[test]
fn invalid_bulk_length() {
    let s = Server::start();
    // Larger than proto-max-bulk-len (512 MB): refused at once, no payload sent.
    let mut r = s.raw();
    r.set_read_timeout(Duration::from_secs(2));
    r.send(b"*1\r\n$600000000\r\n");
    assert_eq!(r.read_frame_bytes(), b"-ERR Protocol error: invalid bulk length\r\n");
    r.expect_closed();

    for bad in [&b"*1\r\n$abc\r\n"[..], b"*2\r\n$3\r\nGET\r\n$-1\r\n"] {
        let mut r = s.raw();
        r.send(bad);
        assert_eq!(
            r.read_frame_bytes(),
            b"-ERR Protocol error: invalid bulk length\r\n",
            "{:?}",
            String::from_utf8_lossy(bad)
        );
        r.expect_closed();
    }
    assert_server_healthy(&s);
}

#[test]
fn expected_dollar() {
    let s = Server::start();
    let mut r = s.raw();
    r.send(b"*1\r\nPING\r\n");
    assert_eq!(r.read_frame_bytes(), b"-ERR Protocol error: expected '$', got 'P'\r\n");
    r.expect_closed();
    let mut r = s.raw();
    r.send(b"*2\r\n$3\r\nGET\r\n:1\r\n");
    assert_eq!(r.read_frame_bytes(), b"-ERR Protocol error: expected '$', got ':'\r\n");
    r.expect_closed();
    assert_server_healthy(&s);
}

#[test]
fn too_big_inline_request() {
    let s = Server::start();
    let mut r = s.raw();
    let junk = vec![b'a'; 65 * 1024];
    // Redis has read all 65 KB when it answers (it checks after each read),
    // so it closes with nothing unread; a server that closed with bytes still
    // unread in its socket would send a RST that can swallow the error reply.
    // The server may close while we are still writing.
    let _ = r.stream.write_all(&junk);
    assert_eq!(r.read_frame_bytes(), b"-ERR Protocol error: too big inline request\r\n");
    r.expect_closed();
    assert_server_healthy(&s);
}

#[test]
fn too_big_multibulk_count_line() {
    // A "*" line that never ends is limited like an inline request.
    let s = Server::start();
    let mut r = s.raw();
    let mut junk = b"*".to_vec();
    junk.extend(vec![b'1'; 65 * 1024]);
    let _ = r.stream.write_all(&junk);
    assert_eq!(r.read_frame_bytes(), b"-ERR Protocol error: too big mbulk count string\r\n");
    r.expect_closed();
    assert_server_healthy(&s);
}

#[test]
fn empty_and_negative_multibulk_are_ignored() {
    let s = Server::start();
    let mut r = s.raw();
    r.send(b"*0\r\n*-1\r\n*-10\r\nPING\r\n");
    assert_eq!(r.read_frame_bytes(), b"+PONG\r\n");
    r.expect_silence(Duration::from_millis(50));
}

#[test]
fn disconnect_mid_command_does_not_affect_others() {
    let s = Server::start();
    let mut other = s.client();
    ok(&mut other, &["SET", "before", "1"]);
    {
        let mut r = s.raw();
        r.send(b"*3\r\n$3\r\nSET\r\n$1\r\na");
        r.shutdown_write();
        // Dropped here: closed mid-command.
    }
    {
        let mut r = s.raw();
        r.send(b"*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$100\r\nonly-part");
    }
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(q(&mut other, &["GET", "before"]), bulk("1"));
    assert_eq!(q(&mut other, &["EXISTS", "a", "b"]), int(0));
    assert_eq!(q(&mut other, &["DBSIZE"]), int(1));
    assert_server_healthy(&s);
}

#[test]
fn commands_split_across_writes() {
    let s = Server::start();
    let mut r = s.raw();
    // One byte at a time.
    for b in encode_str(&["SET", "split", "value"]) {
        r.send(&[b]);
    }
    assert_eq!(r.read_frame_bytes(), b"+OK\r\n");
    // A big value in chunks, with pauses.
    let value: Vec<u8> = (0..300_000u32).map(|i| (i % 256) as u8).collect();
    let cmd = encode(&[b"SET", b"big", &value]);
    for chunk in cmd.chunks(65_000) {
        r.send(chunk);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(r.read_frame_bytes(), b"+OK\r\n");
    let reply = r.call_bin(&[b"GET", b"big"]);
    assert!(reply == Reply::Bulk(value), "big value differs");
    // Several commands in one packet, the last one incomplete.
    let mut bytes = encode_str(&["INCR", "n"]);
    bytes.extend(encode_str(&["INCR", "n"]));
    let third = encode_str(&["INCR", "n"]);
    bytes.extend(&third[..5]);
    r.send(&bytes);
    assert_eq!(r.read_frame_bytes(), b":1\r\n");
    assert_eq!(r.read_frame_bytes(), b":2\r\n");
    r.expect_silence(Duration::from_millis(50));
    r.send(&third[5..]);
    assert_eq!(r.read_frame_bytes(), b":3\r\n");
}

#[test]
fn binary_safe_keys_and_values() {
    let s = Server::start();
    let mut r = s.raw();
    let all: Vec<u8> = (0..=255u8).collect();
    let crlf_key = b"key\r\nwith\r\ncrlf\r\n".to_vec();
    let value = b"$5\r\nhello\r\n*1\r\n\0\xff".to_vec();
    assert_eq!(r.call_bin(&[b"SET", &all, &value]), Reply::simple("OK"));
    assert_eq!(r.call_bin(&[b"SET", &crlf_key, &all]), Reply::simple("OK"));
    r.send(&encode(&[b"GET", &all]));
    let mut want = format!("${}\r\n", value.len()).into_bytes();
    want.extend(&value);
    want.extend(b"\r\n");
    assert_eq!(r.read_frame_bytes(), want);
    assert_eq!(r.call_bin(&[b"GET", &crlf_key]), Reply::Bulk(all.clone()));
    assert_eq!(r.call_bin(&[b"EXISTS", &all, &crlf_key]), Reply::Int(2));
    assert_eq!(r.call_bin(&[b"STRLEN", &crlf_key]), Reply::Int(256));
    let keys = r.call(&["KEYS", "*"]);
    let mut got: Vec<Vec<u8>> = keys
        .items()
        .iter()
        .map(|k| match k {
            Reply::Bulk(b) => b.clone(),
            other => panic!("{:?}", other),
        })
        .collect();
    got.sort();
    let mut want = vec![all.clone(), crlf_key.clone()];
    want.sort();
    assert_eq!(got, want);
    // Glob matching on binary keys.
    assert_eq!(r.call_bin(&[b"KEYS", b"key\r\n*"]), Reply::Array(vec![Reply::Bulk(crlf_key.clone())]));
    assert_eq!(r.call_bin(&[b"DEL", &all, &crlf_key]), Reply::Int(2));
    // A zero-length key and value.
    assert_eq!(r.call_bin(&[b"SET", b"", b""]), Reply::simple("OK"));
    r.send(&encode(&[b"GET", b""]));
    assert_eq!(r.read_frame_bytes(), b"$0\r\n\r\n");
}

#[test]
fn resp2_exact_encodings() {
    let s = Server::start();
    let mut r = s.raw();
    let cases: &[(&[&str], &[u8])] = &[
        (&["SET", "k", "v"], b"+OK\r\n"),
        (&["GET", "k"], b"$1\r\nv\r\n"),
        (&["GET", "missing"], b"$-1\r\n"),
        (&["SET", "k", "w", "NX"], b"$-1\r\n"),
        (&["MGET", "k", "missing"], b"*2\r\n$1\r\nv\r\n$-1\r\n"),
        (&["EXISTS", "k"], b":1\r\n"),
        (&["TTL", "k"], b":-1\r\n"),
        (&["INCRBYFLOAT", "f", "1.5"], b"$3\r\n1.5\r\n"),
        (&["KEYS", "nomatch"], b"*0\r\n"),
        (&["TYPE", "k"], b"+string\r\n"),
        (&["OBJECT", "ENCODING", "missing"], b"$-1\r\n"),
        (&["SCAN", "0", "MATCH", "nomatch"], b"*2\r\n$1\r\n0\r\n*0\r\n"),
        (&["CONFIG", "GET", "maxmemory-policy"], b"*2\r\n$16\r\nmaxmemory-policy\r\n$10\r\nnoeviction\r\n"),
        (&["GET"], b"-ERR wrong number of arguments for 'get' command\r\n"),
    ];
    for (args, want) in cases {
        r.send_cmd(args);
        let got = r.read_frame_bytes();
        assert_eq!(got, want.to_vec(), "{:?} -> {:?}", args, String::from_utf8_lossy(&got));
    }
}

#[test]
fn resp3_exact_encodings() {
    let s = Server::start();
    let mut r = s.raw();
    let hello = r.call(&["HELLO", "3"]);
    assert!(matches!(hello, Reply::Map(_)), "{:?}", hello);
    let cases: &[(&[&str], &[u8])] = &[
        (&["GET", "missing"], b"_\r\n"),
        (&["SET", "k", "v"], b"+OK\r\n"),
        (&["GET", "k"], b"$1\r\nv\r\n"),
        (&["SET", "k", "w", "NX"], b"_\r\n"),
        (&["MGET", "k", "missing"], b"*2\r\n$1\r\nv\r\n_\r\n"),
        (&["EXISTS", "k"], b":1\r\n"),
        (&["RANDOMKEY"], b"$1\r\nk\r\n"),
        // INCRBYFLOAT stays a bulk string in RESP3.
        (&["INCRBYFLOAT", "f", "1.5"], b"$3\r\n1.5\r\n"),
        (&["OBJECT", "ENCODING", "missing"], b"_\r\n"),
        (&["SCAN", "0", "MATCH", "nomatch"], b"*2\r\n$1\r\n0\r\n*0\r\n"),
        // CONFIG GET is a map.
        (&["CONFIG", "GET", "maxmemory-policy"], b"%1\r\n$16\r\nmaxmemory-policy\r\n$10\r\nnoeviction\r\n"),
        (&["CONFIG", "GET", "no-such-option"], b"%0\r\n"),
        (&["GET"], b"-ERR wrong number of arguments for 'get' command\r\n"),
    ];
    for (args, want) in cases {
        r.send_cmd(args);
        let got = r.read_frame_bytes();
        assert_eq!(got, want.to_vec(), "{:?} -> {:?}", args, String::from_utf8_lossy(&got));
    }
    assert_eq!(r.call(&["FLUSHALL"]), Reply::simple("OK"));
    r.send_cmd(&["RANDOMKEY"]);
    assert_eq!(r.read_frame_bytes(), b"_\r\n");
}

#[test]
fn resp3_verbatim_and_sets() {
    let s = Server::start();
    let mut r = s.raw();
    r.call(&["HELLO", "3"]);
    // INFO and CLIENT INFO / LIST are verbatim strings ("txt").
    for cmd in [&["INFO", "server"][..], &["CLIENT", "INFO"][..], &["CLIENT", "LIST"][..]] {
        match r.call(cmd) {
            Reply::Verbatim(fmt, text) => {
                assert_eq!(fmt, "txt");
                assert!(!text.is_empty());
            }
            other => panic!("{:?}: {:?}", cmd, other),
        }
    }
    let info = r.call(&["CLIENT", "INFO"]).text();
    assert!(info.contains(" resp=3"), "{}", info);
    // COMMAND INFO flags and ACL categories are sets.
    let v = r.call(&["COMMAND", "INFO", "get"]);
    let entry = &v.items()[0];
    let items = entry.items();
    assert_eq!(items[0], Reply::bulk("get"));
    assert_eq!(items[1], Reply::Int(2));
    assert_eq!(items[2], Reply::Set(vec![Reply::simple("readonly"), Reply::simple("fast")]));
    assert_eq!(items[6], Reply::Set(vec![Reply::simple("@read"), Reply::simple("@string"), Reply::simple("@fast")]));
    // COMMAND DOCS is a map of maps.
    let docs = r.call(&["COMMAND", "DOCS", "get"]);
    let get = docs.field("get").expect("get docs");
    assert!(matches!(get, Reply::Map(_)), "{:?}", get);
    assert_eq!(get.field("group"), Some(&Reply::bulk("string")));
}

#[test]
fn resp3_via_redis_rs() {
    let s = Server::start();
    let mut c = s.client_resp3();
    assert_eq!(q(&mut c, &["GET", "missing"]), nil());
    match q(&mut c, &["CONFIG", "GET", "maxmemory-policy"]) {
        Value::Map(pairs) => {
            assert_eq!(pairs, vec![(bulk("maxmemory-policy"), bulk("noeviction"))]);
        }
        other => panic!("CONFIG GET in RESP3 should be a map: {:?}", other),
    }
    match q(&mut c, &["HELLO", "3"]) {
        Value::Map(pairs) => {
            let proto = pairs.iter().find(|(k, _)| *k == bulk("proto")).unwrap();
            assert_eq!(proto.1, int(3));
        }
        other => panic!("HELLO 3 should be a map: {:?}", other),
    }
    ok(&mut c, &["SET", "f", "10.5"]);
    assert_eq!(q(&mut c, &["INCRBYFLOAT", "f", "0.1"]), bulk("10.6"));
    assert_eq!(err(&mut c, &["INCR", "f"]), "ERR value is not an integer or out of range");
}

#[test]
fn server_answers_quickly() {
    // Sanity check for the harness and the server's latency: 200 round trips.
    let s = Server::start();
    let mut r = s.raw();
    let start = Instant::now();
    for _ in 0..200 {
        r.send(b"PING\r\n");
        assert_eq!(r.read_frame_bytes(), b"+PONG\r\n");
    }
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn query_buffer_limit_closes_the_client_and_spares_others() {
    let s = Server::start();
    let mut c = s.client();
    ok(&mut c, &["CONFIG", "SET", "client-query-buffer-limit", "1mb"]);
    let mut r = s.raw();
    // A 4 MB bulk is within proto-max-bulk-len, so the server buffers it; past
    // 1 MB of query buffer it gives up on the client.
    r.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4194304\r\n");
    let chunk = vec![b'x'; 64 * 1024];
    let mut closed = false;
    for _ in 0..64 {
        if r.try_send(&chunk).is_err() {
            closed = true;
            break;
        }
    }
    if !closed {
        r.expect_closed();
    }
    assert_eq!(q(&mut c, &["PING"]), status("PONG"));
    assert_eq!(q(&mut c, &["EXISTS", "k"]), int(0));
}

#[test]
fn lowered_bulk_limit_applies_to_the_next_header() {
    let s = Server::start();
    let mut c = s.client();
    ok(&mut c, &["CONFIG", "SET", "proto-max-bulk-len", "1mb"]);
    let mut r = s.raw();
    r.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048577\r\n");
    assert_eq!(r.read_frame_bytes(), b"-ERR Protocol error: invalid bulk length\r\n");
    r.expect_closed();
    // Exactly at the limit is fine.
    let big = "x".repeat(1024 * 1024);
    ok(&mut c, &["SET", "k", &big]);
    assert_eq!(q(&mut c, &["STRLEN", "k"]), int(1024 * 1024));
}

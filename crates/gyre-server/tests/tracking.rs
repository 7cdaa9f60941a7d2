//! Client-side caching (CLIENT TRACKING): invalidations in RESP3 and through
//! a RESP2 redirect, BCAST prefixes, OPTIN/OPTOUT, NOLOOP, flushes, expiry,
//! transactions and scripts, the table limit, and the introspection
//! commands. Validated against Redis 7 with `GYRE_TEST_REDIS=1`.

mod common;

use std::time::Duration;

use common::*;

fn invalidate(keys: &[&str]) -> Reply {
    Reply::Push(vec![Reply::bulk("invalidate"), Reply::Array(keys.iter().map(Reply::bulk).collect())])
}

/// A RESP3 connection with tracking on (and the given options).
fn tracking(s: &Server, opts: &[&str]) -> RawConn {
    let mut c = raw3(s);
    let mut args = vec!["CLIENT", "TRACKING", "ON"];
    args.extend_from_slice(opts);
    assert_eq!(c.call(&args), Reply::simple("OK"));
    c
}

#[test]
fn a_read_key_is_invalidated_once_on_its_next_change() {
    let s = Server::start();
    let mut w = s.client();
    let mut t = tracking(&s, &[]);
    assert_eq!(t.call(&["GET", "k"]), Reply::Null);
    ok(&mut w, &["SET", "k", "v"]);
    assert_eq!(t.read_reply(), invalidate(&["k"]));
    // Not read again: no second message.
    ok(&mut w, &["SET", "k", "v2"]);
    t.expect_silence(Duration::from_millis(100));
    // Read again, then deleted; a collection type too.
    assert_eq!(t.call(&["GET", "k"]), Reply::bulk("v2"));
    q(&mut w, &["DEL", "k"]);
    assert_eq!(t.read_reply(), invalidate(&["k"]));
    assert_eq!(t.call(&["HGETALL", "h"]), Reply::Map(vec![]));
    q(&mut w, &["HSET", "h", "f", "v"]);
    assert_eq!(t.read_reply(), invalidate(&["h"]));
    // The client's own write: the reply, then the invalidation.
    t.call(&["GET", "own"]);
    assert_eq!(t.call(&["SET", "own", "1"]), Reply::simple("OK"));
    assert_eq!(t.read_reply(), invalidate(&["own"]));
    // Writes inside a transaction and a script invalidate too.
    t.call(&["MGET", "a", "b"]);
    q(&mut w, &["MULTI"]);
    q(&mut w, &["SET", "a", "1"]);
    q(&mut w, &["EXEC"]);
    assert_eq!(t.read_reply(), invalidate(&["a"]));
    q(&mut w, &["EVAL", "redis.call('SET', KEYS[1], 'x') return 1", "1", "b"]);
    assert_eq!(t.read_reply(), invalidate(&["b"]));
    let info = as_str(&q(&mut w, &["INFO", "clients"]));
    assert_eq!(info_field(&info, "tracking_clients").as_deref(), Some("1"));
}

#[test]
fn noloop_skips_the_clients_own_writes() {
    let s = Server::start();
    let mut w = s.client();
    let mut t = tracking(&s, &["NOLOOP"]);
    t.call(&["GET", "k"]);
    assert_eq!(t.call(&["SET", "k", "mine"]), Reply::simple("OK"));
    t.expect_silence(Duration::from_millis(100));
    t.call(&["GET", "k"]);
    ok(&mut w, &["SET", "k", "theirs"]);
    assert_eq!(t.read_reply(), invalidate(&["k"]));
}

#[test]
fn redirect_to_a_resp2_subscriber_and_a_broken_redirect() {
    let s = Server::start();
    let mut w = s.client();
    let mut target = s.raw();
    let target_id = target.call(&["CLIENT", "ID"]).int();
    target.send_cmd(&["SUBSCRIBE", "__redis__:invalidate"]);
    target.read_reply();
    let mut t = s.raw();
    let id = target_id.to_string();
    assert_eq!(t.call(&["CLIENT", "TRACKING", "ON", "REDIRECT", &id]), Reply::simple("OK"));
    assert_eq!(t.call(&["CLIENT", "GETREDIR"]).int(), target_id);
    t.call(&["GET", "k"]);
    ok(&mut w, &["SET", "k", "v"]);
    assert_eq!(
        target.read_reply(),
        Reply::Array(vec![
            Reply::bulk("message"),
            Reply::bulk("__redis__:invalidate"),
            Reply::Array(vec![Reply::bulk("k")])
        ])
    );
    // A flush is a null invalidation.
    t.call(&["GET", "k"]);
    ok(&mut w, &["FLUSHALL"]);
    assert_eq!(
        target.read_reply(),
        Reply::Array(vec![Reply::bulk("message"), Reply::bulk("__redis__:invalidate"), Reply::NilBulk])
    );
    // The target goes away: a RESP3 tracking client is told.
    let mut t3 = raw3(&s);
    assert_eq!(t3.call(&["CLIENT", "TRACKING", "ON", "REDIRECT", &id]), Reply::simple("OK"));
    t3.call(&["GET", "x"]);
    drop(target);
    assert!(wait_for(Duration::from_secs(5), || {
        !as_str(&q(&mut w, &["CLIENT", "LIST"])).contains(&format!("id={id} "))
    }));
    ok(&mut w, &["SET", "x", "1"]);
    assert_eq!(t3.read_reply(), Reply::Push(vec![Reply::bulk("tracking-redir-broken"), Reply::Int(target_id)]));
    let info = t3.call(&["CLIENT", "TRACKINGINFO"]);
    let flags: Vec<String> = info.field("flags").unwrap().items().iter().map(Reply::text).collect();
    assert_eq!(flags, vec!["on", "broken_redirect"]);
    assert_eq!(
        t.call(&["CLIENT", "TRACKING", "ON", "REDIRECT", "999999"]),
        Reply::error("ERR The client ID you want redirect to does not exist")
    );
}

#[test]
fn bcast_prefixes_send_every_matching_change() {
    let s = Server::start();
    let mut w = s.client();
    let mut t = tracking(&s, &["BCAST", "PREFIX", "user:", "PREFIX", "cart:"]);
    ok(&mut w, &["SET", "other", "1"]);
    ok(&mut w, &["SET", "user:1", "1"]);
    assert_eq!(t.read_reply(), invalidate(&["user:1"]));
    ok(&mut w, &["MSET", "cart:9", "1", "zzz", "2"]);
    assert_eq!(t.read_reply(), invalidate(&["cart:9"]));
    let info = t.call(&["CLIENT", "TRACKINGINFO"]);
    let flags: Vec<String> = info.field("flags").unwrap().items().iter().map(Reply::text).collect();
    assert_eq!(flags, vec!["on", "bcast"]);
    let mut prefixes: Vec<String> = info.field("prefixes").unwrap().items().iter().map(Reply::text).collect();
    prefixes.sort();
    assert_eq!(prefixes, vec!["cart:", "user:"]);
    // BCAST without prefixes: every key.
    let mut all = tracking(&s, &["BCAST"]);
    ok(&mut w, &["SET", "anything", "1"]);
    assert_eq!(all.read_reply(), invalidate(&["anything"]));
    let list = as_str(&q(&mut w, &["CLIENT", "LIST"]));
    assert!(list.lines().any(|l| l.contains(" flags=tB ") && l.contains(" redir=0 ")), "{list}");
    // Errors.
    let mut e = raw3(&s);
    assert_eq!(
        e.call(&["CLIENT", "TRACKING", "ON", "PREFIX", "a"]),
        Reply::error("ERR PREFIX option requires BCAST mode to be enabled")
    );
    assert_eq!(
        e.call(&["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "ab", "PREFIX", "a"]),
        Reply::error(
            "ERR Prefix 'ab' overlaps with another provided prefix 'a'. Prefixes for a single client must not overlap."
        )
    );
    assert_eq!(
        e.call(&["CLIENT", "TRACKING", "ON", "BCAST", "OPTIN"]),
        Reply::error("ERR OPTIN and OPTOUT are not compatible with BCAST")
    );
    assert_eq!(
        t.call(&["CLIENT", "TRACKING", "ON"]),
        Reply::error("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.")
    );
}

#[test]
fn optin_and_optout_follow_client_caching() {
    let s = Server::start();
    let mut w = s.client();
    let mut t = tracking(&s, &["OPTIN"]);
    t.call(&["GET", "a"]);
    assert_eq!(t.call(&["CLIENT", "CACHING", "YES"]), Reply::simple("OK"));
    t.call(&["GET", "b"]);
    t.call(&["GET", "c"]);
    ok(&mut w, &["MSET", "a", "1", "b", "1", "c", "1"]);
    assert_eq!(t.read_reply(), invalidate(&["b"]));
    t.expect_silence(Duration::from_millis(100));
    assert_eq!(
        t.call(&["CLIENT", "CACHING", "NO"]),
        Reply::error("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.")
    );

    let mut o = tracking(&s, &["OPTOUT"]);
    assert_eq!(o.call(&["CLIENT", "CACHING", "NO"]), Reply::simple("OK"));
    o.call(&["GET", "x"]);
    o.call(&["GET", "y"]);
    ok(&mut w, &["MSET", "x", "1", "y", "1"]);
    assert_eq!(o.read_reply(), invalidate(&["y"]));
    o.expect_silence(Duration::from_millis(100));

    let mut plain = raw3(&s);
    assert_eq!(
        plain.call(&["CLIENT", "CACHING", "YES"]),
        Reply::error(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"
        )
    );
    assert_eq!(
        plain.call(&["CLIENT", "TRACKING", "ON", "OPTIN", "OPTOUT"]),
        Reply::error("ERR You can't specify both OPTIN mode and OPTOUT mode")
    );
    assert_eq!(plain.call(&["CLIENT", "TRACKING", "MAYBE"]), Reply::error("ERR syntax error"));
}

#[test]
fn expiry_and_the_table_limit_invalidate() {
    let s = Server::start();
    let mut w = s.client();
    let mut t = tracking(&s, &[]);
    ok(&mut w, &["SET", "short", "1", "PX", "50"]);
    t.call(&["GET", "short"]);
    t.set_read_timeout(Duration::from_secs(5));
    assert_eq!(t.read_reply(), invalidate(&["short"]));

    ok(&mut w, &["CONFIG", "SET", "tracking-table-max-keys", "2"]);
    t.call(&["GET", "k1"]);
    t.call(&["GET", "k2"]);
    t.call(&["GET", "k3"]);
    // The table holds two keys: one of the first ones went, with a message.
    let r = t.read_reply();
    let Reply::Push(items) = &r else { panic!("{r:?}") };
    assert_eq!(items[0], Reply::bulk("invalidate"));
    assert_eq!(items[1].items().len(), 1);
    let stats = as_str(&q(&mut w, &["INFO", "stats"]));
    assert_eq!(info_field(&stats, "tracking_total_keys").as_deref(), Some("2"));
    ok(&mut w, &["CONFIG", "SET", "tracking-table-max-keys", "1000000"]);
}

#[test]
fn tracking_info_getredir_off_and_reset() {
    let s = Server::start();
    let mut c = raw3(&s);
    assert_eq!(c.call(&["CLIENT", "GETREDIR"]), Reply::Int(-1));
    let info = c.call(&["CLIENT", "TRACKINGINFO"]);
    assert_eq!(
        info,
        Reply::Map(vec![
            (Reply::bulk("flags"), Reply::Set(vec![Reply::bulk("off")])),
            (Reply::bulk("redirect"), Reply::Int(-1)),
            (Reply::bulk("prefixes"), Reply::Array(vec![])),
        ])
    );
    c.call(&["CLIENT", "TRACKING", "ON", "OPTOUT", "NOLOOP"]);
    assert_eq!(c.call(&["CLIENT", "GETREDIR"]), Reply::Int(0));
    let flags: Vec<String> =
        c.call(&["CLIENT", "TRACKINGINFO"]).field("flags").unwrap().items().iter().map(Reply::text).collect();
    assert_eq!(flags, vec!["on", "optout", "noloop"]);
    let me = c.call(&["CLIENT", "INFO"]).text();
    assert!(me.contains(" flags=t ") && me.contains(" redir=0 "), "{me}");
    assert_eq!(c.call(&["CLIENT", "TRACKING", "OFF"]), Reply::simple("OK"));
    assert_eq!(c.call(&["CLIENT", "GETREDIR"]), Reply::Int(-1));
    c.call(&["CLIENT", "TRACKING", "ON"]);
    c.call(&["RESET"]);
    assert_eq!(c.call(&["CLIENT", "GETREDIR"]), Reply::Int(-1));
}

/// redis-py's client-side cache (RESP3, `cache_config`) against the server:
/// a cached read, then an invalidation after another client's write
/// (`scripts/redis-py-cache.py`). Runs when a Python with redis-py >= 5.1 is
/// found: `GYRE_TEST_PYTHON` names the interpreter (default `python3`).
#[test]
fn redis_py_client_side_cache_works() {
    let python = std::env::var("GYRE_TEST_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let has_cache = std::process::Command::new(&python)
        .args(["-c", "import redis.cache"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_cache {
        eprintln!("skipped: no redis-py with client-side caching for {python} (set GYRE_TEST_PYTHON)");
        return;
    }
    let s = Server::start();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/redis-py-cache.py");
    let mut child = std::process::Command::new(&python)
        .arg(&script)
        .arg(s.port().to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run python");
    // Bounded: the script's own waits are 5 s.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("redis-py script timed out");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().expect("output");
    assert!(status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

/// OPTIN's `CLIENT CACHING yes` lasts one command as Redis's resetClient
/// keeps it: a whole MULTI..EXEC (given before MULTI, or inside it for the
/// commands after it), a whole script, and across CLIENT commands.
#[test]
fn optin_caching_covers_transactions_scripts_and_client_commands() {
    let s = Server::start();
    let mut w = s.client();
    let mut t = tracking(&s, &["OPTIN"]);
    assert_eq!(t.call(&["CLIENT", "CACHING", "YES"]), Reply::simple("OK"));
    assert_eq!(t.call(&["MULTI"]), Reply::simple("OK"));
    t.call(&["GET", "a"]);
    t.call(&["GET", "b"]);
    assert_eq!(t.call(&["EXEC"]), Reply::Array(vec![Reply::Null, Reply::Null]));
    // Used up by the transaction.
    t.call(&["GET", "c"]);
    ok(&mut w, &["MSET", "a", "1", "b", "1", "c", "1"]);
    assert_eq!(t.read_reply(), invalidate(&["a"]));
    assert_eq!(t.read_reply(), invalidate(&["b"]));
    t.expect_silence(Duration::from_millis(100));

    // Inside the transaction: the reads after it.
    assert_eq!(t.call(&["MULTI"]), Reply::simple("OK"));
    t.call(&["GET", "c"]);
    t.call(&["CLIENT", "CACHING", "YES"]);
    t.call(&["GET", "d"]);
    t.call(&["GET", "e"]);
    t.call(&["EXEC"]);
    ok(&mut w, &["MSET", "c", "2", "d", "2", "e", "2"]);
    assert_eq!(t.read_reply(), invalidate(&["d"]));
    assert_eq!(t.read_reply(), invalidate(&["e"]));
    t.expect_silence(Duration::from_millis(100));

    // A CLIENT command in between keeps it; the next read uses it.
    assert_eq!(t.call(&["CLIENT", "CACHING", "YES"]), Reply::simple("OK"));
    assert!(matches!(t.call(&["CLIENT", "ID"]), Reply::Int(_)));
    t.call(&["GET", "f"]);
    t.call(&["GET", "g"]);
    ok(&mut w, &["MSET", "f", "1", "g", "1"]);
    assert_eq!(t.read_reply(), invalidate(&["f"]));
    t.expect_silence(Duration::from_millis(100));

    // A script's reads, all of them.
    assert_eq!(t.call(&["CLIENT", "CACHING", "YES"]), Reply::simple("OK"));
    t.call(&["EVAL", "redis.call('GET', KEYS[1]) redis.call('GET', KEYS[2]) return 1", "2", "h", "i"]);
    t.call(&["GET", "j"]);
    ok(&mut w, &["MSET", "h", "1", "i", "1", "j", "1"]);
    assert_eq!(t.read_reply(), invalidate(&["h"]));
    assert_eq!(t.read_reply(), invalidate(&["i"]));
    t.expect_silence(Duration::from_millis(100));
}

/// A blocked XREAD that is served reads the stream again, and that read is
/// tracked: the next change is invalidated too (Redis 7.2). BLPOP is a write (Redis
/// tracks only read-only commands): nothing of it is remembered.
#[test]
fn a_served_blocked_read_is_tracked() {
    let s = Server::start();
    let mut w = s.client();
    let mut t = tracking(&s, &[]);
    t.send_cmd(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    wait_blocked(&mut w, 1);
    assert_eq!(q(&mut w, &["XADD", "s", "1-1", "a", "1"]), bulk("1-1"));
    // The invalidation of the read it blocked with, and the reply.
    let mut got = [t.read_reply(), t.read_reply()];
    got.sort_by_key(|r| matches!(r, Reply::Push(_)));
    assert!(matches!(&got[0], Reply::Map(m) if m.len() == 1), "{got:?}");
    assert_eq!(got[1], invalidate(&["s"]));
    assert_eq!(q(&mut w, &["XADD", "s", "2-2", "b", "2"]), bulk("2-2"));
    // Redis 7.2 serves a blocked client by running its command again, so
    // the read is remembered; 7.0 served it without that.
    if s.at_least_redis(7, 2) {
        assert_eq!(t.read_reply(), invalidate(&["s"]));
    } else {
        t.expect_silence(Duration::from_millis(100));
    }

    // OPTIN: CLIENT CACHING yes before a read that blocks covers the read
    // it makes when served.
    if s.at_least_redis(7, 2) {
        let mut o = tracking(&s, &["OPTIN"]);
        assert_eq!(o.call(&["CLIENT", "CACHING", "YES"]), Reply::simple("OK"));
        o.send_cmd(&["XREAD", "BLOCK", "0", "STREAMS", "s2", "$"]);
        wait_blocked(&mut w, 1);
        assert_eq!(q(&mut w, &["XADD", "s2", "1-1", "a", "1"]), bulk("1-1"));
        let mut got = [o.read_reply(), o.read_reply()];
        got.sort_by_key(|r| matches!(r, Reply::Push(_)));
        assert_eq!(got[1], invalidate(&["s2"]));
        assert_eq!(q(&mut w, &["XADD", "s2", "2-2", "a", "1"]), bulk("2-2"));
        assert_eq!(o.read_reply(), invalidate(&["s2"]));
    }

    t.send_cmd(&["BLPOP", "l", "0"]);
    wait_blocked(&mut w, 1);
    assert_eq!(q(&mut w, &["RPUSH", "l", "x"]), int(1));
    assert_eq!(t.read_reply(), Reply::Array(vec![Reply::bulk("l"), Reply::bulk("x")]));
    assert_eq!(q(&mut w, &["RPUSH", "l", "y"]), int(1));
    t.expect_silence(Duration::from_millis(100));
}

/// BCAST, as Redis sends it: one message per prefix, with that prefix's
/// keys (sorted) of a command, a whole transaction or a whole script.
#[test]
fn bcast_sends_one_message_per_prefix_and_transaction() {
    let s = Server::start();
    let mut w = s.client();
    let mut t = tracking(&s, &["BCAST", "PREFIX", "a:", "PREFIX", "b:"]);
    ok(&mut w, &["MULTI"]);
    for k in ["b:2", "a:1", "b:1", "a:2", "zz"] {
        q(&mut w, &["INCR", k]);
    }
    q(&mut w, &["EXEC"]);
    assert_eq!(t.read_reply(), invalidate(&["a:1", "a:2"]));
    assert_eq!(t.read_reply(), invalidate(&["b:1", "b:2"]));
    t.expect_silence(Duration::from_millis(100));
    ok(&mut w, &["MSET", "b:3", "1", "a:3", "1"]);
    assert_eq!(t.read_reply(), invalidate(&["a:3"]));
    assert_eq!(t.read_reply(), invalidate(&["b:3"]));
    q(&mut w, &["EVAL", "redis.call('SET', KEYS[1], 1) redis.call('SET', KEYS[2], 1) return 1", "2", "a:5", "a:4"]);
    assert_eq!(t.read_reply(), invalidate(&["a:4", "a:5"]));
    t.expect_silence(Duration::from_millis(100));
}

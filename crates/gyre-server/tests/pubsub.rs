//! Pub/Sub: confirmations and messages in RESP2 and RESP3, patterns, shard
//! channels, subscriber mode, PUBSUB introspection, clean-up on disconnect,
//! fan-out to 1,000 subscribers and the output limit that disconnects a
//! subscriber that never reads. Validated against Redis 7.

mod common;

use std::io::Write;
use std::time::Duration;

use common::*;

fn push3(word: &str, name: &str, n: i64) -> Reply {
    Reply::Array(vec![Reply::bulk(word), Reply::bulk(name), Reply::Int(n)])
}

fn message(channel: &str, payload: &str) -> Reply {
    Reply::Array(vec![Reply::bulk("message"), Reply::bulk(channel), Reply::bulk(payload)])
}

#[test]
fn subscribe_publish_and_unsubscribe_in_resp2() {
    let s = Server::start();
    let mut sub = s.raw();
    let mut publisher = s.raw();
    sub.send_cmd(&["SUBSCRIBE", "a", "b"]);
    assert_eq!(sub.read_reply(), push3("subscribe", "a", 1));
    assert_eq!(sub.read_reply(), push3("subscribe", "b", 2));
    assert_eq!(publisher.call(&["PUBLISH", "a", "hello"]), Reply::Int(1));
    assert_eq!(publisher.call(&["PUBLISH", "nobody", "x"]), Reply::Int(0));
    assert_eq!(sub.read_reply(), message("a", "hello"));

    // Subscriber mode: only the pub/sub commands, PING, QUIT and RESET.
    let e = sub.call(&["GET", "k"]);
    assert_eq!(
        e,
        Reply::error("ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
    );
    assert_eq!(sub.call(&["PING"]), Reply::Array(vec![Reply::bulk("pong"), Reply::bulk("")]));
    assert_eq!(sub.call(&["PING", "hi"]), Reply::Array(vec![Reply::bulk("pong"), Reply::bulk("hi")]));

    // UNSUBSCRIBE with no argument leaves every channel.
    sub.send_cmd(&["UNSUBSCRIBE"]);
    // One confirmation per channel, in any order, counting down.
    let (first, second) = (sub.read_reply(), sub.read_reply());
    assert_eq!((first.items()[2].clone(), second.items()[2].clone()), (Reply::Int(1), Reply::Int(0)));
    let mut names = vec![first.items()[1].text(), second.items()[1].text()];
    names.sort();
    assert_eq!(names, vec!["a", "b"]);
    assert_eq!(
        sub.call(&["UNSUBSCRIBE"]),
        Reply::Array(vec![Reply::bulk("unsubscribe"), Reply::NilBulk, Reply::Int(0)])
    );
    // Out of subscriber mode again.
    assert_eq!(sub.call(&["PING"]), Reply::simple("PONG"));
    assert_eq!(publisher.call(&["PUBLISH", "a", "x"]), Reply::Int(0));
}

#[test]
fn patterns_deliver_pmessages_and_count_alongside_channels() {
    let s = Server::start();
    let mut sub = s.raw();
    let mut publisher = s.raw();
    sub.send_cmd(&["PSUBSCRIBE", "news.*"]);
    assert_eq!(sub.read_reply(), push3("psubscribe", "news.*", 1));
    sub.send_cmd(&["SUBSCRIBE", "news.tech"]);
    assert_eq!(sub.read_reply(), push3("subscribe", "news.tech", 2));
    assert_eq!(publisher.call(&["PUBLISH", "news.tech", "rust"]), Reply::Int(2), "channel + pattern");
    let mut got = vec![sub.read_reply(), sub.read_reply()];
    got.sort_by_key(|r| format!("{r:?}"));
    assert!(got.contains(&message("news.tech", "rust")), "{got:?}");
    assert!(
        got.contains(&Reply::Array(vec![
            Reply::bulk("pmessage"),
            Reply::bulk("news.*"),
            Reply::bulk("news.tech"),
            Reply::bulk("rust")
        ])),
        "{got:?}"
    );
    assert_eq!(publisher.call(&["PUBSUB", "NUMPAT"]), Reply::Int(1));
    assert_eq!(sub.call(&["PUNSUBSCRIBE", "news.*"]), push3("punsubscribe", "news.*", 1));
    assert_eq!(publisher.call(&["PUBSUB", "NUMPAT"]), Reply::Int(0));
}

#[test]
fn shard_channels_are_separate() {
    let s = Server::start();
    if !s.at_least_redis(7, 0) {
        return;
    }
    let mut sub = s.raw();
    let mut publisher = s.raw();
    assert_eq!(sub.call(&["SSUBSCRIBE", "orders"]), push3("ssubscribe", "orders", 1));
    assert_eq!(publisher.call(&["PUBLISH", "orders", "x"]), Reply::Int(0), "PUBLISH does not reach shard channels");
    assert_eq!(publisher.call(&["SPUBLISH", "orders", "y"]), Reply::Int(1));
    assert_eq!(sub.read_reply(), Reply::Array(vec![Reply::bulk("smessage"), Reply::bulk("orders"), Reply::bulk("y")]));
    assert_eq!(publisher.call(&["PUBSUB", "SHARDCHANNELS"]), Reply::Array(vec![Reply::bulk("orders")]));
    assert_eq!(
        publisher.call(&["PUBSUB", "SHARDNUMSUB", "orders", "none"]),
        Reply::Array(vec![Reply::bulk("orders"), Reply::Int(1), Reply::bulk("none"), Reply::Int(0)])
    );
    assert_eq!(sub.call(&["SUNSUBSCRIBE"]), push3("sunsubscribe", "orders", 0));
}

#[test]
fn resp3_clients_get_push_frames_and_may_run_other_commands() {
    let s = Server::start();
    let mut sub = raw3(&s);
    let mut publisher = s.raw();
    let confirm = sub.call(&["SUBSCRIBE", "ch"]);
    assert_eq!(confirm, Reply::Push(vec![Reply::bulk("subscribe"), Reply::bulk("ch"), Reply::Int(1)]));
    assert_eq!(sub.call(&["SET", "k", "v"]), Reply::simple("OK"), "RESP3 has no subscriber mode");
    assert_eq!(publisher.call(&["PUBLISH", "ch", "m"]), Reply::Int(1));
    assert_eq!(sub.read_reply(), Reply::Push(vec![Reply::bulk("message"), Reply::bulk("ch"), Reply::bulk("m")]));
    assert_eq!(sub.call(&["GET", "k"]), Reply::bulk("v"));
}

#[test]
fn introspection_and_clean_up_on_disconnect() {
    let s = Server::start();
    let mut publisher = s.raw();
    {
        let mut sub = s.raw();
        sub.send_cmd(&["SUBSCRIBE", "x1", "x2", "y"]);
        for _ in 0..3 {
            sub.read_reply();
        }
        let mut chans: Vec<String> =
            publisher.call(&["PUBSUB", "CHANNELS", "x*"]).items().iter().map(Reply::text).collect();
        chans.sort();
        assert_eq!(chans, vec!["x1", "x2"]);
        assert_eq!(
            publisher.call(&["PUBSUB", "NUMSUB", "x1", "zz"]),
            Reply::Array(vec![Reply::bulk("x1"), Reply::Int(1), Reply::bulk("zz"), Reply::Int(0)])
        );
    }
    // The subscriber's connection closed: its subscriptions go with it.
    assert!(wait_for(Duration::from_secs(5), || publisher.call(&["PUBLISH", "x1", "m"]) == Reply::Int(0)));
    assert_eq!(publisher.call(&["PUBSUB", "CHANNELS"]), Reply::Array(vec![]));
    // RESET leaves every channel too.
    let mut sub = s.raw();
    sub.call(&["SUBSCRIBE", "r"]);
    assert_eq!(sub.call(&["RESET"]), Reply::simple("RESET"));
    assert_eq!(publisher.call(&["PUBLISH", "r", "m"]), Reply::Int(0));
}

#[test]
fn one_message_fans_out_to_a_thousand_subscribers() {
    raise_fd_limit();
    let s = Server::start();
    let mut subs: Vec<RawConn> = (0..1000).map(|_| s.raw()).collect();
    for sub in &mut subs {
        sub.send_cmd(&["SUBSCRIBE", "fan"]);
    }
    for sub in &mut subs {
        assert_eq!(sub.read_reply(), push3("subscribe", "fan", 1));
    }
    let mut publisher = s.raw();
    assert_eq!(publisher.call(&["PUBLISH", "fan", "all"]), Reply::Int(1000));
    for sub in &mut subs {
        assert_eq!(sub.read_reply(), message("fan", "all"));
    }
}

/// A subscriber that never reads is disconnected once its pending messages
/// pass the pubsub output limit, instead of growing server memory.
#[test]
fn a_subscriber_that_never_reads_is_disconnected_at_the_output_limit() {
    let s = Server::start();
    let mut admin = s.client();
    ok(&mut admin, &["CONFIG", "SET", "client-output-buffer-limit", "pubsub 1mb 256kb 60"]);
    let mut sub = s.raw();
    sub.call(&["SUBSCRIBE", "firehose"]);
    let mut publisher = s.client();
    let before = info_field(&as_str(&q(&mut admin, &["INFO", "clients"])), "connected_clients").unwrap();
    // The subscriber never reads again; publish far more than the limit plus
    // what the sockets can buffer.
    let payload = "p".repeat(4096);
    let mut disconnected = false;
    for i in 0..20_000 {
        let n: i64 = cmd(&["PUBLISH", "firehose", &payload]).query(&mut publisher).unwrap();
        if n == 0 {
            disconnected = true;
            eprintln!("subscriber dropped after {i} messages");
            break;
        }
    }
    assert!(disconnected, "the subscriber was never disconnected");
    let after = info_field(&as_str(&q(&mut admin, &["INFO", "clients"])), "connected_clients").unwrap();
    assert!(after.parse::<i64>().unwrap() < before.parse::<i64>().unwrap(), "{before} -> {after}");
    // Its socket was closed by the server.
    let _ = sub.stream.write_all(b"PING\r\n");
    assert!(wait_for(Duration::from_secs(5), || {
        let mut buf = [0u8; 1 << 16];
        use std::io::Read;
        sub.stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        loop {
            match sub.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                    return false
                }
                Err(_) => return true,
            }
        }
    }));
}

/// Keyspace notifications: the events of ordinary writes, in order, on both
/// the keyspace and the keyevent channels.
#[test]
fn keyspace_notifications_name_the_event_and_the_key() {
    let s = Server::start();
    let mut admin = s.raw();
    assert_eq!(admin.call(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]), Reply::simple("OK"));
    assert_eq!(admin.call(&["CONFIG", "GET", "notify-keyspace-events"]).items()[1], Reply::bulk("AKE"));
    let mut sub = s.raw();
    sub.call(&["PSUBSCRIBE", "__keyevent@0__:*"]);
    let mut w = s.raw();
    for c in [
        &["SET", "k", "v", "EX", "100"][..],
        &["INCR", "n"],
        &["RPUSH", "l", "a"],
        &["LPOP", "l"],
        &["HSET", "h", "f", "1"],
        &["ZINCRBY", "z", "1", "m"],
        &["RENAME", "k", "k2"],
        &["PERSIST", "k2"],
        &["DEL", "k2"],
        &["GET", "n"],
    ] {
        w.call(c);
    }
    let want = [
        ("set", "k"),
        ("expire", "k"),
        ("incrby", "n"),
        ("rpush", "l"),
        ("lpop", "l"),
        ("del", "l"),
        ("hset", "h"),
        ("zincr", "z"),
        ("rename_from", "k"),
        ("rename_to", "k2"),
        ("persist", "k2"),
        ("del", "k2"),
    ];
    for (event, key) in want {
        let m = sub.read_reply();
        let items = m.items();
        assert_eq!(items[0], Reply::bulk("pmessage"));
        assert_eq!((items[2].text(), items[3].text()), (format!("__keyevent@0__:{event}"), key.to_string()));
    }
    // The keyspace channel carries the event name.
    let mut ks = s.raw();
    ks.call(&["SUBSCRIBE", "__keyspace@0__:q"]);
    w.call(&["SADD", "q", "x"]);
    assert_eq!(
        ks.read_reply(),
        Reply::Array(vec![Reply::bulk("message"), Reply::bulk("__keyspace@0__:q"), Reply::bulk("sadd")])
    );
    assert!(admin.call(&["CONFIG", "SET", "notify-keyspace-events", "Kq"]).text().starts_with("ERR"));
}

/// `expired` (by a lookup and by the active cycle), `keymiss` and `new`.
#[test]
fn expired_keymiss_and_new_events() {
    let s = Server::start();
    let mut admin = s.raw();
    assert_eq!(admin.call(&["CONFIG", "SET", "notify-keyspace-events", "Exmn$"]), Reply::simple("OK"));
    let mut sub = s.raw();
    sub.call(&["PSUBSCRIBE", "__keyevent@0__:*"]);
    let mut next = || {
        let m = sub.read_reply();
        let items = m.items().to_vec();
        (items[2].text().trim_start_matches("__keyevent@0__:").to_string(), items[3].text())
    };
    let mut w = s.raw();
    w.call(&["GET", "missing"]);
    assert_eq!(next(), ("keymiss".to_string(), "missing".to_string()));
    w.call(&["SET", "fresh", "1"]);
    assert_eq!(next(), ("new".to_string(), "fresh".to_string()));
    assert_eq!(next(), ("set".to_string(), "fresh".to_string()));
    w.call(&["SET", "fresh", "2"]);
    assert_eq!(next(), ("set".to_string(), "fresh".to_string()), "an overwrite is not new");
    // A lookup finds a key expired: expired, then the miss.
    w.call(&["SET", "short", "1", "PX", "30"]);
    assert_eq!(next(), ("new".to_string(), "short".to_string()));
    assert_eq!(next(), ("set".to_string(), "short".to_string()));
    std::thread::sleep(Duration::from_millis(60));
    w.call(&["GET", "short"]);
    assert_eq!(next(), ("expired".to_string(), "short".to_string()));
    assert_eq!(next(), ("keymiss".to_string(), "short".to_string()));
    // Nobody looks: the active expiry cycle removes it and says so.
    w.call(&["SET", "idle", "1", "PX", "30"]);
    assert_eq!(next(), ("new".to_string(), "idle".to_string()));
    assert_eq!(next(), ("set".to_string(), "idle".to_string()));
    assert_eq!(next(), ("expired".to_string(), "idle".to_string()));
    // Transactions and scripts: each command's events once.
    w.call(&["MULTI"]);
    w.call(&["SET", "tx", "1"]);
    w.call(&["DEL", "tx"]);
    w.call(&["EXEC"]);
    w.call(&["EVAL", "redis.call('SET', KEYS[1], 1)", "1", "lua"]);
    for want in [("new", "tx"), ("set", "tx"), ("new", "lua"), ("set", "lua")] {
        assert_eq!(next(), (want.0.to_string(), want.1.to_string()));
    }
}

#[test]
fn client_list_shows_subscriptions_and_transactions() {
    let s = Server::start();
    let mut sub = s.raw();
    sub.call(&["CLIENT", "SETNAME", "watcher"]);
    sub.send_cmd(&["SUBSCRIBE", "a", "b"]);
    sub.read_reply();
    sub.read_reply();
    sub.send_cmd(&["PSUBSCRIBE", "p*"]);
    sub.read_reply();
    let mut tx = s.raw();
    tx.call(&["CLIENT", "SETNAME", "txn"]);
    tx.call(&["MULTI"]);
    tx.call(&["SET", "k", "v"]);
    let mut admin = s.raw();
    let list = admin.call(&["CLIENT", "LIST"]).text();
    let line = |name: &str| list.lines().find(|l| l.contains(&format!(" name={name} "))).unwrap().to_string();
    let w = line("watcher");
    assert!(w.contains(" sub=2 psub=1 ssub=0 ") && w.contains(" flags=P "), "{w}");
    let t = line("txn");
    assert!(t.contains(" multi=1 ") && t.contains(" flags=x "), "{t}");
}

/// Regression (issue 17): PUNSUBSCRIBE with no arguments left the client's
/// patterns in place, so a later PUBLISH still counted them.
#[test]
fn punsubscribe_without_arguments_leaves_every_pattern() {
    let s = Server::start();
    let mut sub = s.raw();
    let mut publisher = s.raw();
    sub.send_cmd(&["PSUBSCRIBE", "a*", "b*"]);
    assert_eq!(sub.read_reply(), push3("psubscribe", "a*", 1));
    assert_eq!(sub.read_reply(), push3("psubscribe", "b*", 2));
    assert_eq!(publisher.call(&["PUBLISH", "abc", "x"]), Reply::Int(1));
    assert_eq!(sub.read_reply().items()[0], Reply::bulk("pmessage"));
    sub.send_cmd(&["PUNSUBSCRIBE"]);
    let (first, second) = (sub.read_reply(), sub.read_reply());
    assert_eq!(first.items()[0], Reply::bulk("punsubscribe"));
    assert_eq!((first.items()[2].clone(), second.items()[2].clone()), (Reply::Int(1), Reply::Int(0)));
    assert_eq!(publisher.call(&["PUBLISH", "abc", "x"]), Reply::Int(0));
    assert_eq!(publisher.call(&["PUBSUB", "NUMPAT"]), Reply::Int(0));
    assert_eq!(sub.call(&["PING"]), Reply::simple("PONG"), "out of subscriber mode");
    // The same in RESP3, where the confirmations are pushes.
    let mut sub3 = raw3(&s);
    sub3.send_cmd(&["PSUBSCRIBE", "c*"]);
    assert_eq!(sub3.read_reply(), Reply::Push(vec![Reply::bulk("psubscribe"), Reply::bulk("c*"), Reply::Int(1)]));
    sub3.send_cmd(&["PUNSUBSCRIBE"]);
    assert_eq!(sub3.read_reply(), Reply::Push(vec![Reply::bulk("punsubscribe"), Reply::bulk("c*"), Reply::Int(0)]));
    assert_eq!(publisher.call(&["PUBLISH", "cd", "x"]), Reply::Int(0));
}

/// Regression (issue 17): under CLIENT REPLY OFF, subscription confirmations
/// and messages are pushes, and Redis still delivers them (RESP3 and RESP2).
#[test]
fn resp3_pushes_are_delivered_under_client_reply_off() {
    let s = Server::start();
    if skip_before_72(&s) {
        return;
    }
    let mut sub = raw3(&s);
    let mut publisher = s.raw();
    sub.send_cmd(&["CLIENT", "REPLY", "OFF"]);
    sub.send_cmd(&["SUBSCRIBE", "ch"]);
    assert_eq!(sub.read_reply(), Reply::Push(vec![Reply::bulk("subscribe"), Reply::bulk("ch"), Reply::Int(1)]));
    assert_eq!(publisher.call(&["PUBLISH", "ch", "hello"]), Reply::Int(1));
    assert_eq!(sub.read_reply(), Reply::Push(vec![Reply::bulk("message"), Reply::bulk("ch"), Reply::bulk("hello")]));
    // Ordinary replies stay suppressed.
    sub.send_cmd(&["PING"]);
    sub.send_cmd(&["UNSUBSCRIBE", "ch"]);
    assert_eq!(sub.read_reply(), Reply::Push(vec![Reply::bulk("unsubscribe"), Reply::bulk("ch"), Reply::Int(0)]));
    // CLIENT REPLY SKIP: the same for the one skipped command.
    sub.send_cmd(&["CLIENT", "REPLY", "ON"]);
    assert_eq!(sub.read_reply(), Reply::simple("OK"));
    sub.send_cmd(&["CLIENT", "REPLY", "SKIP"]);
    sub.send_cmd(&["SUBSCRIBE", "other"]);
    assert_eq!(sub.read_reply(), Reply::Push(vec![Reply::bulk("subscribe"), Reply::bulk("other"), Reply::Int(1)]));
    // Under RESP2 too, confirmations and messages are delivered (Redis
    // flags them as pushes in both protocols); other replies are not.
    let mut sub2 = s.raw();
    sub2.send_cmd(&["CLIENT", "REPLY", "OFF"]);
    sub2.send_cmd(&["SUBSCRIBE", "ch2"]);
    assert_eq!(sub2.read_reply(), Reply::Array(vec![Reply::bulk("subscribe"), Reply::bulk("ch2"), Reply::Int(1)]));
    assert_eq!(publisher.call(&["PUBLISH", "ch2", "hi"]), Reply::Int(1));
    assert_eq!(sub2.read_reply(), Reply::Array(vec![Reply::bulk("message"), Reply::bulk("ch2"), Reply::bulk("hi")]));
    sub2.send_cmd(&["PING"]);
    sub2.send_cmd(&["UNSUBSCRIBE", "ch2"]);
    assert_eq!(sub2.read_reply(), Reply::Array(vec![Reply::bulk("unsubscribe"), Reply::bulk("ch2"), Reply::Int(0)]));
    sub2.expect_silence(Duration::from_millis(200));
}

/// Regression (issue 17): PUBSUB NUMSUB and SHARDNUMSUB answer a flat array
/// in both protocols (Redis does; ioredis's tests compare against it).
#[test]
fn numsub_and_shardnumsub_answer_a_flat_array_in_resp3() {
    let s = Server::start();
    let mut sub = s.raw();
    sub.send_cmd(&["SUBSCRIBE", "a"]);
    sub.read_reply();
    sub.send_cmd(&["SSUBSCRIBE", "s"]);
    sub.read_reply();
    for mut c in [s.raw(), raw3(&s)] {
        assert_eq!(
            c.call(&["PUBSUB", "NUMSUB", "a", "b"]),
            Reply::Array(vec![Reply::bulk("a"), Reply::Int(1), Reply::bulk("b"), Reply::Int(0)])
        );
        assert_eq!(c.call(&["PUBSUB", "SHARDNUMSUB", "s"]), Reply::Array(vec![Reply::bulk("s"), Reply::Int(1)]));
        assert_eq!(c.call(&["PUBSUB", "NUMSUB"]), Reply::Array(vec![]));
    }
}

//! Keyspace events of issue 18's write commands, in Redis's names and order
//! (validated against Redis 7 with `GYRE_TEST_REDIS=1`): SETBIT/BITFIELD
//! `setbit`, BITOP `set` (or `del` when every source is empty), PFADD/PFMERGE
//! `pfadd`, GEOADD `zadd`, GEORADIUS STORE `georadiusstore`, GEOSEARCHSTORE
//! `geosearchstore`, SORT STORE `sortstore`, RESTORE `restore`; PFCOUNT
//! (which writes the cached cardinality) raises none.

mod common;

use common::*;

#[test]
fn write_commands_raise_redis_events() {
    let s = Server::start();
    let mut c = s.client();
    ok(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    ok(&mut c, &["SET", "src", "val"]);
    let payload = match q(&mut c, &["DUMP", "src"]) {
        Value::BulkString(b) => b,
        other => panic!("{other:?}"),
    };
    let mut sub = s.raw();
    sub.call(&["PSUBSCRIBE", "__keyevent@0__:*"]);
    let commands: &[&[&str]] = &[
        &["SETBIT", "b", "7", "1"],
        &["SETBIT", "b", "7", "1"],
        &["BITFIELD", "bf", "SET", "u8", "0", "1"],
        &["BITOP", "OR", "d", "b"],
        &["BITOP", "AND", "d", "nx1"],
        &["PFADD", "h", "a"],
        &["PFCOUNT", "h"],
        &["PFMERGE", "h2", "h"],
        &["GEOADD", "g", "1", "1", "m"],
        &["GEORADIUS", "g", "1", "1", "10", "km", "STORE", "gs"],
        &["GEOSEARCHSTORE", "gs2", "g", "FROMLONLAT", "1", "1", "BYRADIUS", "10", "km"],
        &["GEOSEARCHSTORE", "gs2", "nog", "FROMLONLAT", "1", "1", "BYRADIUS", "10", "km"],
        &["RPUSH", "l", "2", "1"],
        &["SORT", "l", "STORE", "sl"],
        &["SORT", "nol", "STORE", "sl"],
    ];
    for cmd in commands {
        q(&mut c, cmd);
    }
    let r: Value = redis::cmd("RESTORE").arg("r").arg(0).arg(&payload[..]).query(&mut c).unwrap();
    assert_eq!(r, Value::Okay);
    let want = [
        ("setbit", "b"),
        ("setbit", "bf"),
        ("set", "d"),
        ("del", "d"),
        ("pfadd", "h"),
        ("pfadd", "h2"),
        ("zadd", "g"),
        ("georadiusstore", "gs"),
        ("geosearchstore", "gs2"),
        ("del", "gs2"),
        ("rpush", "l"),
        ("sortstore", "sl"),
        ("del", "sl"),
        ("restore", "r"),
    ];
    for (event, key) in want {
        match sub.read_reply() {
            Reply::Array(items) | Reply::Push(items) => {
                assert_eq!(items[2], Reply::bulk(format!("__keyevent@0__:{event}")), "{event} {key}");
                assert_eq!(items[3], Reply::bulk(key), "{event}");
            }
            other => panic!("expected an event, got {other:?}"),
        }
    }
    sub.expect_silence(std::time::Duration::from_millis(100));
}

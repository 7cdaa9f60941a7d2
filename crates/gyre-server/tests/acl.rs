//! Authentication and ACLs: requirepass, AUTH, HELLO AUTH, NOAUTH, ACL rules
//! for commands, categories, subcommands, keys (%R~ / %W~) and channels, the
//! ACL LOG, and the aclfile (ACL SAVE / LOAD, loading at start-up).
//!
//! Servers are started without a password and given one with CONFIG SET, as
//! the harness identifies its server with INFO (which a password would refuse).

mod common;

use common::*;

/// The exact NOPERM wording is Redis 7.2's; Debian's 7.0 words it otherwise.
fn noperm_command(s: &Server, user: &str, cmd: &str) -> String {
    if s.at_least_redis(7, 2) {
        format!("NOPERM User {user} has no permissions to run the '{cmd}' command")
    } else {
        format!("NOPERM this user has no permissions to run the '{cmd}' command")
    }
}

fn noperm_key(s: &Server) -> &'static str {
    if s.at_least_redis(7, 2) {
        "NOPERM No permissions to access a key"
    } else {
        "NOPERM this user has no permissions to access one of the keys used as arguments"
    }
}

fn noperm_channel(s: &Server) -> &'static str {
    if s.at_least_redis(7, 2) {
        "NOPERM No permissions to access a channel"
    } else {
        "NOPERM this user has no permissions to access one of the channels used as arguments"
    }
}

/// The payload flag a user gets without `reset`: Redis 7.2 gives every user
/// `sanitize-payload` (ACL LIST, ACL GETUSER flags); 7.0 showed none.
fn payload_flag(s: &Server) -> Option<&'static str> {
    s.at_least_redis(7, 2).then_some("sanitize-payload")
}

/// `on`/`off` and the other words of an ACL LIST line, with the payload
/// flag where the server shows one.
fn with_payload(s: &Server, head: &str, rest: &str) -> String {
    match payload_flag(s) {
        Some(f) => format!("{head} {f} {rest}"),
        None => format!("{head} {rest}"),
    }
}

/// A raw connection authenticated as `user`.
fn login(s: &Server, user: &str, pass: &str) -> RawConn {
    let mut r = s.raw();
    assert_eq!(r.call(&["AUTH", user, pass]), Reply::simple("OK"), "AUTH {user}");
    r
}

#[test]
fn requirepass_gates_everything_but_auth_hello_quit_reset() {
    let s = Server::start();
    let mut admin = s.raw();
    assert_eq!(admin.call(&["CONFIG", "SET", "requirepass", "s3cret"]), Reply::simple("OK"));
    // The connection that set it stays authenticated, as in Redis.
    assert_eq!(admin.call(&["PING"]), Reply::simple("PONG"));

    let mut r = s.raw();
    for cmd in [&["GET", "k"][..], &["PING"], &["CONFIG", "GET", "port"], &["NOSUCH"]] {
        if cmd == ["NOSUCH"] {
            // Unknown commands are reported as unknown first, as Redis does.
            assert!(r.call(cmd).text().starts_with("ERR unknown command"), "{cmd:?}");
            continue;
        }
        assert_eq!(r.call(cmd), Reply::error("NOAUTH Authentication required."), "{cmd:?}");
    }
    assert_eq!(
        r.call(&["AUTH", "wrong"]),
        Reply::error("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert_eq!(r.call(&["AUTH", "a", "b", "c"]), Reply::error("ERR syntax error"));
    let hello = r.call(&["HELLO", "3"]);
    assert!(hello.text().starts_with("NOAUTH HELLO must be called with the client already authenticated"), "{hello:?}");
    assert_eq!(r.call(&["RESET"]), Reply::simple("RESET"));
    assert_eq!(r.call(&["AUTH", "s3cret"]), Reply::simple("OK"));
    assert_eq!(r.call(&["SET", "k", "v"]), Reply::simple("OK"));
    assert_eq!(r.call(&["ACL", "WHOAMI"]), Reply::bulk("default"));
    // RESET logs the connection out again.
    assert_eq!(r.call(&["RESET"]), Reply::simple("RESET"));
    assert_eq!(r.call(&["GET", "k"]), Reply::error("NOAUTH Authentication required."));
    assert_eq!(r.call(&["AUTH", "default", "s3cret"]), Reply::simple("OK"));
    assert_eq!(r.call(&["GET", "k"]), Reply::bulk("v"));

    let mut q = s.raw();
    assert_eq!(q.call(&["QUIT"]), Reply::simple("OK"));
    q.expect_closed();

    // HELLO 3 AUTH authenticates and switches protocol in one step; a wrong
    // password leaves the connection in RESP2, unauthenticated.
    let mut h = s.raw();
    assert_eq!(
        h.call(&["HELLO", "3", "AUTH", "default", "nope"]),
        Reply::error("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert_eq!(h.call(&["GET", "k"]), Reply::error("NOAUTH Authentication required."));
    let hello = h.call(&["HELLO", "3", "AUTH", "default", "s3cret", "SETNAME", "me"]);
    assert_eq!(hello.field("proto"), Some(&Reply::Int(3)), "{hello:?}");
    assert_eq!(h.call(&["GET", "k"]), Reply::bulk("v"));
    assert_eq!(h.call(&["CLIENT", "GETNAME"]), Reply::bulk("me"));

    // Clearing the password lets new connections in without AUTH.
    assert_eq!(admin.call(&["CONFIG", "SET", "requirepass", ""]), Reply::simple("OK"));
    assert_eq!(s.raw().call(&["GET", "k"]), Reply::bulk("v"));
    assert_eq!(
        s.raw().call(&["AUTH", "x"]),
        Reply::error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
    );
}

#[test]
fn command_category_and_subcommand_rules() {
    let s = Server::start();
    let mut admin = s.raw();
    let setuser = |admin: &mut RawConn, rules: &[&str]| {
        let mut args = vec!["ACL", "SETUSER"];
        args.extend_from_slice(rules);
        assert_eq!(admin.call(&args), Reply::simple("OK"), "{rules:?}");
    };
    setuser(&mut admin, &["alice", "on", ">pa", "allkeys", "+@read", "+set", "-strlen", "+config|get"]);
    let mut a = login(&s, "alice", "pa");
    assert_eq!(a.call(&["SET", "k", "hello"]), Reply::simple("OK"));
    assert_eq!(a.call(&["GET", "k"]), Reply::bulk("hello"));
    assert_eq!(a.call(&["STRLEN", "k"]), Reply::error(&noperm_command(&s, "alice", "strlen")));
    assert_eq!(a.call(&["DEL", "k"]), Reply::error(&noperm_command(&s, "alice", "del")));
    assert_eq!(a.call(&["INCR", "n"]), Reply::error(&noperm_command(&s, "alice", "incr")));
    assert_eq!(a.call(&["CONFIG", "GET", "maxclients"]).items().len(), 2);
    assert_eq!(a.call(&["CONFIG", "SET", "hz", "5"]), Reply::error(&noperm_command(&s, "alice", "config|set")));
    assert_eq!(a.call(&["ACL", "WHOAMI"]), Reply::error(&noperm_command(&s, "alice", "acl|whoami")));
    // Changes apply to connected clients at once.
    setuser(&mut admin, &["alice", "+del", "+acl|whoami"]);
    assert_eq!(a.call(&["DEL", "k"]), Reply::Int(1));
    assert_eq!(a.call(&["ACL", "WHOAMI"]), Reply::bulk("alice"));
    setuser(&mut admin, &["alice", "-@all"]);
    assert_eq!(a.call(&["GET", "k"]), Reply::error(&noperm_command(&s, "alice", "get")));
    // A denied command inside MULTI fails the transaction.
    setuser(&mut admin, &["alice", "+multi", "+exec", "+set"]);
    assert_eq!(a.call(&["MULTI"]), Reply::simple("OK"));
    assert_eq!(a.call(&["SET", "k", "1"]), Reply::simple("QUEUED"));
    assert_eq!(a.call(&["GET", "k"]), Reply::error(&noperm_command(&s, "alice", "get")));
    assert!(a.call(&["EXEC"]).text().starts_with("EXECABORT"));
    // A disabled user cannot log in.
    setuser(&mut admin, &["alice", "off"]);
    assert_eq!(
        s.raw().call(&["AUTH", "alice", "pa"]),
        Reply::error("WRONGPASS invalid username-password pair or user is disabled.")
    );
    // CLIENT KILL USER closes that user's connections only.
    setuser(&mut admin, &["alice", "on"]);
    let mut a2 = login(&s, "alice", "pa");
    assert_eq!(admin.call(&["CLIENT", "KILL", "USER", "alice"]), Reply::Int(2));
    a2.expect_closed();
    assert_eq!(admin.call(&["PING"]), Reply::simple("PONG"));
    setuser(&mut admin, &["alice", "off"]);
    // Invalid rules change nothing.
    assert_eq!(
        admin.call(&["ACL", "SETUSER", "alice", "on", "+@nosuch"]),
        Reply::error("ERR Error in ACL SETUSER modifier '+@nosuch': Unknown command or category name in ACL")
    );
    assert_eq!(
        admin.call(&["ACL", "SETUSER", "alice", "bogus"]),
        Reply::error("ERR Error in ACL SETUSER modifier 'bogus': Syntax error")
    );
    let flags = admin.call(&["ACL", "GETUSER", "alice"]);
    let expected: Vec<Reply> = ["off"].into_iter().chain(payload_flag(&s)).map(Reply::bulk).collect();
    assert_eq!(flags.field("flags").unwrap().items(), &expected[..]);
    // `skip-sanitize-payload` replaces it, `reset` brings it back (both versions).
    setuser(&mut admin, &["alice", "skip-sanitize-payload"]);
    let flags = admin.call(&["ACL", "GETUSER", "alice"]);
    assert_eq!(flags.field("flags").unwrap().items(), &[Reply::bulk("off"), Reply::bulk("skip-sanitize-payload")]);
    setuser(&mut admin, &["alice", "reset"]);
    let flags = admin.call(&["ACL", "GETUSER", "alice"]);
    assert_eq!(flags.field("flags").unwrap().items(), &[Reply::bulk("off"), Reply::bulk("sanitize-payload")]);
}

#[test]
fn key_patterns_for_read_and_write() {
    let s = Server::start();
    let mut admin = s.raw();
    admin.call(&["MSET", "cache:1", "a", "ro:1", "b", "wo:1", "c", "other", "d"]);
    let r = admin.call(&["ACL", "SETUSER", "bob", "on", ">pb", "+@all", "~cache:*", "%R~ro:*", "%W~wo:*"]);
    assert_eq!(r, Reply::simple("OK"));
    let mut b = login(&s, "bob", "pb");
    assert_eq!(b.call(&["GET", "cache:1"]), Reply::bulk("a"));
    assert_eq!(b.call(&["SET", "cache:2", "x"]), Reply::simple("OK"));
    assert_eq!(b.call(&["GET", "other"]), Reply::error(noperm_key(&s)));
    assert_eq!(b.call(&["GET", "ro:1"]), Reply::bulk("b"));
    assert_eq!(b.call(&["SET", "ro:1", "x"]), Reply::error(noperm_key(&s)));
    assert_eq!(b.call(&["SET", "wo:1", "x"]), Reply::simple("OK"));
    assert_eq!(b.call(&["GET", "wo:1"]), Reply::error(noperm_key(&s)));
    // Every key of a multi-key command is checked.
    assert_eq!(b.call(&["MGET", "cache:1", "ro:1"]).items().len(), 2);
    assert_eq!(b.call(&["MGET", "cache:1", "other"]), Reply::error(noperm_key(&s)));
    assert_eq!(b.call(&["DEL", "wo:1", "cache:2"]), Reply::Int(2));
    // resetkeys: no key at all; allkeys: every key.
    admin.call(&["ACL", "SETUSER", "bob", "resetkeys"]);
    assert_eq!(b.call(&["GET", "cache:1"]), Reply::error(noperm_key(&s)));
    assert_eq!(b.call(&["PING"]), Reply::simple("PONG"));
    admin.call(&["ACL", "SETUSER", "bob", "allkeys"]);
    assert_eq!(b.call(&["GET", "other"]), Reply::bulk("d"));
}

#[test]
fn channel_patterns() {
    let s = Server::start();
    let mut admin = s.raw();
    let r = admin.call(&["ACL", "SETUSER", "carol", "on", ">pc", "+@all", "allkeys", "resetchannels", "&news.*"]);
    assert_eq!(r, Reply::simple("OK"));
    let mut c = login(&s, "carol", "pc");
    assert_eq!(c.call(&["PUBLISH", "news.sport", "goal"]), Reply::Int(0));
    assert_eq!(c.call(&["PUBLISH", "gossip", "x"]), Reply::error(noperm_channel(&s)));
    let mut sub = login(&s, "carol", "pc");
    assert_eq!(sub.call(&["SUBSCRIBE", "gossip"]), Reply::error(noperm_channel(&s)));
    // A pattern subscription must name one of the user's patterns literally.
    assert_eq!(sub.call(&["PSUBSCRIBE", "news.s*"]), Reply::error(noperm_channel(&s)));
    let r = sub.call(&["PSUBSCRIBE", "news.*"]);
    assert_eq!(r.items()[0], Reply::bulk("psubscribe"));
    let r = sub.call(&["SUBSCRIBE", "news.sport"]);
    assert_eq!(r.items()[0], Reply::bulk("subscribe"));
    assert_eq!(c.call(&["PUBLISH", "news.sport", "goal"]), Reply::Int(2));
}

#[test]
fn acl_log_records_denials_and_failed_auth() {
    let s = Server::start();
    if !s.at_least_redis(7, 2) {
        return; // entry-id and timestamps are 7.2 fields
    }
    let mut admin = s.raw();
    admin.call(&["ACL", "SETUSER", "dave", "on", ">pd", "~k*", "+get"]);
    let mut d = login(&s, "dave", "pd");
    d.call(&["SET", "k1", "v"]);
    d.call(&["SET", "k1", "v"]);
    d.call(&["GET", "zzz"]);
    s.raw().call(&["AUTH", "dave", "wrong"]);
    let log = admin.call(&["ACL", "LOG"]);
    let entries = log.items();
    assert_eq!(entries.len(), 3, "{log:?}");
    let field = |e: &Reply, f: &str| e.field(f).unwrap().clone();
    assert_eq!(field(&entries[0], "reason"), Reply::bulk("auth"));
    assert_eq!(field(&entries[0], "object"), Reply::bulk("AUTH"));
    assert_eq!(field(&entries[0], "username"), Reply::bulk("dave"));
    assert_eq!(field(&entries[1], "reason"), Reply::bulk("key"));
    assert_eq!(field(&entries[1], "object"), Reply::bulk("zzz"));
    assert_eq!(field(&entries[2], "reason"), Reply::bulk("command"));
    assert_eq!(field(&entries[2], "object"), Reply::bulk("set"));
    assert_eq!(field(&entries[2], "count"), Reply::Int(2), "similar denials are counted in one entry");
    assert_eq!(field(&entries[2], "context"), Reply::bulk("toplevel"));
    assert!(field(&entries[2], "client-info").text().contains("user=dave"));
    let log_text = format!("{log:?}");
    assert!(!log_text.contains("wrong"), "the password never appears in the log");
    assert_eq!(admin.call(&["ACL", "LOG", "1"]).items().len(), 1);
    assert_eq!(admin.call(&["ACL", "LOG", "RESET"]), Reply::simple("OK"));
    assert_eq!(admin.call(&["ACL", "LOG"]).items().len(), 0);
}

#[test]
fn user_management_commands() {
    let s = Server::start();
    let mut admin = s.raw();
    let default = with_payload(&s, "user default on nopass", "~* &* +@all");
    assert_eq!(admin.call(&["ACL", "LIST"]).items(), &[Reply::bulk(default)]);
    admin.call(&["ACL", "SETUSER", "erin", "on", ">pe", "~a:*", "&ch", "+get"]);
    let hash = "1a8f9cf5b0d4ad2a0e4d2b7d6b2d3e3b4f3d1fb2d4c4c5d6e6f7a8b9c0d1e2f3"; // any 64 hex digits
    admin.call(&["ACL", "SETUSER", "frank", &format!("#{hash}")]);
    assert_eq!(
        admin.call(&["ACL", "USERS"]),
        Reply::Array(vec![Reply::bulk("default"), Reply::bulk("erin"), Reply::bulk("frank")])
    );
    let u = admin.call(&["ACL", "GETUSER", "erin"]);
    let expected: Vec<Reply> = ["on"].into_iter().chain(payload_flag(&s)).map(Reply::bulk).collect();
    assert_eq!(u.field("flags").unwrap().items(), &expected[..]);
    assert_eq!(u.field("passwords").unwrap().items().len(), 1);
    assert_eq!(u.field("commands").unwrap(), &Reply::bulk("-@all +get"));
    assert_eq!(u.field("keys").unwrap(), &Reply::bulk("~a:*"));
    assert_eq!(u.field("channels").unwrap(), &Reply::bulk("&ch"));
    assert_eq!(admin.call(&["ACL", "GETUSER", "nobody"]), Reply::NilBulk);
    let list = admin.call(&["ACL", "LIST"]);
    assert_eq!(
        list.items()[2],
        Reply::bulk(with_payload(&s, "user frank off", &format!("#{hash} resetchannels -@all")))
    );
    assert!(admin.call(&["ACL", "CAT"]).items().contains(&Reply::bulk("sortedset")));
    let read = admin.call(&["ACL", "CAT", "read"]);
    assert!(read.items().contains(&Reply::bulk("get")) && !read.items().contains(&Reply::bulk("set")));
    assert_eq!(admin.call(&["ACL", "GENPASS"]).text().len(), 64);
    assert_eq!(admin.call(&["ACL", "GENPASS", "5"]).text().len(), 2);
    assert!(admin.call(&["ACL", "GENPASS", "0"]).text().starts_with("ERR ACL GENPASS argument"));
    assert_eq!(admin.call(&["ACL", "DELUSER", "default"]), Reply::error("ERR The 'default' user cannot be removed"));
    // Deleting a user closes its connections.
    let mut e = login(&s, "erin", "pe");
    assert_eq!(admin.call(&["ACL", "DELUSER", "erin", "nobody"]), Reply::Int(1));
    e.expect_closed();
    if s.at_least_redis(7, 2) {
        let verdict = admin.call(&["ACL", "DRYRUN", "frank", "GET", "x"]).text();
        assert_eq!(verdict, "User frank has no permissions to run the 'get' command");
    }
}

#[test]
fn aclfile_save_load_and_start_up() {
    if is_redis() {
        return; // Redis refuses to start with an aclfile it cannot read here
    }
    let dir = std::env::temp_dir().join(format!("gyre-aclfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("users.acl");
    std::fs::write(&file, "user gina on >pg ~g:* +@all\n").unwrap();
    let path = file.to_str().unwrap();
    let s = Server::start_with(&["--aclfile", path]);
    let mut g = login(&s, "gina", "pg");
    assert_eq!(g.call(&["SET", "g:1", "x"]), Reply::simple("OK"));
    let mut admin = s.raw();
    admin.call(&["ACL", "SETUSER", "hank", "on", ">ph", "+ping"]);
    assert_eq!(admin.call(&["ACL", "SAVE"]), Reply::simple("OK"));
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(saved.contains("user hank on sanitize-payload #") && !saved.contains("ph "), "{saved}");
    assert!(saved.contains("user default on nopass sanitize-payload ~* &* +@all"), "{saved}");
    // LOAD replaces the users with the file's; a bad file changes nothing.
    admin.call(&["ACL", "DELUSER", "hank"]);
    assert_eq!(admin.call(&["ACL", "LOAD"]), Reply::simple("OK"));
    login(&s, "hank", "ph");
    std::fs::write(&file, "user ivy on +@nosuch\n").unwrap();
    let e = admin.call(&["ACL", "LOAD"]).text();
    assert!(e.contains("users.acl:1") && e.contains("+@nosuch"), "{e}");
    login(&s, "hank", "ph");
    drop(s);
    // A bad aclfile stops start-up.
    let (status, stderr) = Server::try_start_on(&dir.join("data"), &["--aclfile", path]).map(|_| ()).unwrap_err();
    assert!(!status.success());
    assert!(stderr.contains("users.acl:1"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Regression: AUTH and HELLO were refused (`NOPERM ... 'auth'`) to a user
/// without +auth, so a connection logged in as such a user could never
/// switch back. Redis always allows them.
#[test]
fn auth_and_hello_are_allowed_to_users_without_auth_permission() {
    let s = Server::start();
    let mut admin = s.raw();
    assert_eq!(admin.call(&["ACL", "SETUSER", "u", "on", ">p", "+acl"]), Reply::simple("OK"));
    let mut c = login(&s, "u", "p");
    assert_eq!(c.call(&["ACL", "WHOAMI"]), Reply::bulk("u"));
    assert!(c.call(&["GET", "k"]).text().starts_with("NOPERM"), "the rules still apply to other commands");
    let hello = c.call(&["HELLO", "2", "AUTH", "u", "p"]);
    assert!(!matches!(hello, Reply::Error(_)), "HELLO is allowed: {hello:?}");
    assert_eq!(c.call(&["AUTH", "u", "wrong"]).text(), "WRONGPASS invalid username-password pair or user is disabled.");
    assert_eq!(c.call(&["AUTH", "default", "anything"]), Reply::simple("OK"));
    assert_eq!(c.call(&["ACL", "WHOAMI"]), Reply::bulk("default"));
    assert_eq!(c.call(&["SET", "k", "v"]), Reply::simple("OK"));
    admin.call(&["ACL", "DELUSER", "u"]);
}

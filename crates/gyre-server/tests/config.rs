//! Configuration: the TOML file, environment variables and flags with their
//! precedence, invalid values at start-up, CONFIG SET/GET/REWRITE/RESETSTAT,
//! `--help` and `gyre.example.toml`. Gyre only (Redis has no TOML file).

mod common;
mod ops;

use common::{info_field, RawConn, Reply};
use ops::{start_failure, Gyre, TempDir};

fn get(r: &mut RawConn, name: &str) -> String {
    let reply = r.call(&["CONFIG", "GET", name]);
    assert_eq!(reply.items().len(), 2, "CONFIG GET {name}: {reply:?}");
    reply.items()[1].text()
}

#[test]
fn precedence_is_flags_then_environment_then_file_then_defaults() {
    let t = TempDir::new("cfg-prec");
    let file = t.write("g.toml", "hz = 20\nmaxclients = 500\ntimeout = 7\nmaxmemory = \"1mb\"\nappendonly = false\n");
    let g = Gyre::start(
        &t.0,
        &["--config", &file, "--timeout", "9"],
        &[("GYRE_MAXCLIENTS", "600"), ("GYRE_TIMEOUT", "8")],
        None,
    );
    let mut r = RawConn::connect(&g.addr());
    assert_eq!(get(&mut r, "hz"), "20", "file over default");
    assert_eq!(get(&mut r, "maxclients"), "600", "environment over file");
    assert_eq!(get(&mut r, "timeout"), "9", "flag over environment");
    assert_eq!(get(&mut r, "maxmemory"), "1048576", "memory units in the file");
    assert_eq!(get(&mut r, "appendonly"), "no", "booleans as yes/no");
    assert_eq!(get(&mut r, "lfu-log-factor"), "10", "default");
    assert!(g.logs().contains("config file"), "start-up names the configuration source:\n{}", g.logs());

    // GYRE_CONFIG names the file too.
    let t2 = TempDir::new("cfg-env");
    let file2 = t2.write("g.toml", "hz = 33\n");
    let g2 = Gyre::start(&t2.0, &[], &[("GYRE_CONFIG", &file2)], None);
    assert_eq!(get(&mut RawConn::connect(&g2.addr()), "hz"), "33");
}

#[test]
fn invalid_settings_stop_start_up_naming_setting_value_and_what_is_allowed() {
    let t = TempDir::new("cfg-bad");
    let (st, err) = start_failure(&t.0, &["--hz", "0"], &[]);
    assert!(!st.success());
    assert!(err.contains("'hz'") && err.contains("'0'") && err.contains("between 1 and 500"), "{err}");
    assert!(err.contains("flag --hz"), "{err}");

    let (st, err) = start_failure(&t.0, &[], &[("GYRE_APPENDFSYNC", "sometimes")]);
    assert!(!st.success());
    assert!(err.contains("'appendfsync'") && err.contains("'sometimes'") && err.contains("GYRE_APPENDFSYNC"), "{err}");
    assert!(err.contains("always, everysec, no"), "{err}");

    let file = t.write("unknown.toml", "hz = 10\nmax-clients = 5\n");
    let (st, err) = start_failure(&t.0, &["--config", &file], &[]);
    assert!(!st.success());
    assert!(err.contains("line 2") && err.contains("unknown setting 'max-clients'"), "{err}");

    let file = t.write("badvalue.toml", "maxmemory-policy = \"sometimes-lru\"\n");
    let (st, err) = start_failure(&t.0, &["--config", &file], &[]);
    assert!(!st.success() && err.contains("'maxmemory-policy'") && err.contains("allkeys-lru"), "{err}");

    let (st, err) = start_failure(&t.0, &["--config", &t.path("missing.toml").to_string_lossy()], &[]);
    assert!(!st.success() && err.contains("missing.toml"), "{err}");

    let (st, err) = start_failure(&t.0, &["--tls-port", "0", "--bind", "not-an-ip"], &[]);
    assert!(!st.success() && err.contains("not-an-ip"), "{err}");
    // Nothing was half-started: no data directory lock was left behind that
    // would stop the next server.
    let g = Gyre::start(&t.0, &[], &[], None);
    drop(g);
}

#[test]
fn config_set_is_atomic_and_rewrite_writes_the_start_up_file() {
    let t = TempDir::new("cfg-rw");
    let file = t.write("g.toml", "# the operator's note\nhz = 15 # why fifteen\nappendonly = false\n");
    let g = Gyre::start(&t.0, &["--config", &file], &[], None);
    let mut r = RawConn::connect(&g.addr());
    let e = r.call(&["CONFIG", "SET", "hz", "40", "maxclients", "lots"]).text();
    assert!(e.starts_with("ERR CONFIG SET failed (possibly related to argument 'maxclients')"), "{e}");
    assert_eq!(get(&mut r, "hz"), "15", "nothing applied when one value is invalid");
    assert_eq!(r.call(&["CONFIG", "SET", "hz", "40", "maxclients", "900"]), Reply::simple("OK"));
    assert_eq!(get(&mut r, "hz"), "40");
    assert_eq!(r.call(&["CONFIG", "REWRITE"]), Reply::simple("OK"));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("# the operator's note\nhz = 40 # why fifteen\nappendonly = \"no\"\n"), "{text}");
    assert!(text.contains("maxclients = 900\n"), "{text}");
    drop(g);
    // The rewritten file starts a server with the same values.
    let g = Gyre::start(&t.0, &["--config", &file], &[], None);
    let mut r = RawConn::connect(&g.addr());
    assert_eq!(get(&mut r, "maxclients"), "900");
    assert_eq!(get(&mut r, "hz"), "40");
}

#[test]
fn rewrite_without_a_file_and_resetstat() {
    let t = TempDir::new("cfg-nofile");
    let g = Gyre::start(&t.0, &["--appendonly", "no"], &[], None);
    let mut r = RawConn::connect(&g.addr());
    assert_eq!(r.call(&["CONFIG", "REWRITE"]), Reply::error("ERR The server is running without a config file"));
    r.call(&["SET", "k", "v"]);
    let before = r.call(&["INFO", "stats"]).text();
    assert_ne!(info_field(&before, "total_commands_processed").as_deref(), Some("0"));
    assert_eq!(r.call(&["CONFIG", "RESETSTAT"]), Reply::simple("OK"));
    let after = r.call(&["INFO", "stats"]).text();
    let n: u64 = info_field(&after, "total_commands_processed").unwrap().parse().unwrap();
    assert!(n <= 1, "counters reset: {n}");
}

#[test]
fn help_lists_every_setting_with_its_default_and_the_example_starts() {
    let t = TempDir::new("cfg-help");
    let out = Gyre::command(&t.0, &["--help"], &[]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for (name, default) in [("maxclients", "10000"), ("tls-port", "0"), ("requirepass", ""), ("timeout", "0")] {
        assert!(help.contains(&format!("--{name}")), "--{name} in help");
        assert!(help.contains(&format!("[default: \"{default}\"]")), "default of {name}");
    }
    assert!(help.contains("GYRE_MAXCLIENTS") && help.contains("--config"), "{help}");

    // The example file is a valid configuration of defaults.
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../gyre.example.toml");
    let g = Gyre::start(&t.0, &["--config", example, "--appendonly", "no"], &[], None);
    let mut r = RawConn::connect(&g.addr());
    assert_eq!(get(&mut r, "maxclients"), "10000");
    assert_eq!(
        get(&mut r, "client-output-buffer-limit"),
        "normal 0 0 0 replica 268435456 67108864 60 pubsub 33554432 8388608 60"
    );
}

#[test]
fn requirepass_from_the_file_and_logging_settings() {
    let t = TempDir::new("cfg-pass");
    let log = t.path("gyre.log").to_string_lossy().into_owned();
    let file = t.write("g.toml", &format!("requirepass = \"from-file\"\nlogfile = \"{log}\"\nlog-format = \"json\"\n"));
    let g = Gyre::start(&t.0, &["--config", &file], &[], None);
    let mut r = RawConn::connect(&g.addr());
    assert_eq!(r.call(&["GET", "k"]), Reply::error("NOAUTH Authentication required."));
    assert_eq!(r.call(&["AUTH", "from-file"]), Reply::simple("OK"));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.lines().any(|l| l.starts_with('{') && l.contains("ready to accept connections")), "{text}");
    assert!(!text.contains("from-file"), "the password is never logged");
}

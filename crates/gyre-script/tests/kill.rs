//! SCRIPT KILL / FUNCTION KILL from another thread, UNKILLABLE after a
//! write, and the running-script state other threads see.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use gyre_script::{sha1_hex, Frame, Host, KillCommand, RunOpts, ScriptConfig, ScriptKind, Scripting};

/// A host that reports writes to the Scripting and answers STOP? from a flag.
struct KillHost {
    scripting: Arc<Scripting>,
    stop: Arc<AtomicBool>,
}

impl Host for KillHost {
    fn call(&mut self, args: &[&[u8]], _resp: u8) -> Frame {
        match args[0] {
            b"SET" => {
                self.scripting.mark_write();
                simple("OK")
            }
            b"STOP?" => Frame::Integer(i64::from(self.stop.load(Ordering::SeqCst))),
            _ => Frame::Null,
        }
    }

    fn log(&mut self, _level: u8, _msg: &str) {}
}

const BUSY_EVAL: &str = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
const BUSY_FUNCTION: &str = "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

/// Starts `body` on another thread; returns once it is running.
fn start(s: &Arc<Scripting>, stop: &Arc<AtomicBool>, body: &'static str) -> thread::JoinHandle<Frame> {
    let (scripting, stop) = (s.clone(), stop.clone());
    let handle = thread::spawn(move || {
        let mut host = KillHost { scripting: scripting.clone(), stop };
        scripting.eval(&mut host, body.as_bytes(), &[], &[], RunOpts::default())
    });
    wait_running(s);
    handle
}

fn wait_running(s: &Scripting) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.running().is_none() {
        assert!(Instant::now() < deadline, "the script never started");
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn kill_a_looping_script() {
    let s = Arc::new(scripting());
    let stop = Arc::new(AtomicBool::new(false));
    assert_eq!(s.kill(KillCommand::Script), Err(error("NOTBUSY No scripts in execution right now.")));
    let body = "local i = 0\nwhile true do i = i + 1 end";
    let handle = start(&s, &stop, body);
    let info = s.running().expect("running");
    assert_eq!(info.kind, ScriptKind::Eval);
    assert_eq!(info.name, sha1_hex(body.as_bytes()));
    assert!(!info.wrote);
    assert_eq!(s.kill(KillCommand::Function), Err(error(BUSY_EVAL)));
    assert_eq!(s.function_stats(2), error(BUSY_EVAL));
    assert_eq!(s.kill(KillCommand::Script), Ok(()));
    let reply = handle.join().unwrap();
    assert_eq!(
        error_text(&reply),
        format!(
            "ERR Script killed by user with SCRIPT KILL... script: {}, on @user_script:2.",
            sha1_hex(body.as_bytes())
        )
    );
    assert!(s.running().is_none());
    assert_eq!(s.kill(KillCommand::Script), Err(error("NOTBUSY No scripts in execution right now.")));
    // The VM is usable afterwards, and a new run is not killed by the old flag.
    assert_eq!(run(&s, "local n = 0 for i = 1, 300000 do n = n + 1 end return n"), Frame::Integer(300000));
}

#[test]
fn pcall_cannot_swallow_a_kill() {
    let s = Arc::new(scripting());
    let stop = Arc::new(AtomicBool::new(false));
    let handle = start(&s, &stop, "while true do pcall(function() while true do end end) end");
    s.kill(KillCommand::Script).unwrap();
    let reply = handle.join().unwrap();
    assert!(error_text(&reply).starts_with("ERR Script killed by user with SCRIPT KILL..."), "{reply:?}");
    assert_eq!(run(&s, "return 'ok'"), bulk("ok"));
}

#[test]
fn unkillable_after_a_write() {
    let s = Arc::new(scripting());
    let stop = Arc::new(AtomicBool::new(false));
    let handle = start(&s, &stop, "redis.call('SET', 'k', 'v') while redis.call('STOP?') == 0 do end return 'done'");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !s.running().is_some_and(|info| info.wrote) {
        assert!(Instant::now() < deadline);
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        s.kill(KillCommand::Script),
        Err(error(
            "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the \
             script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command."
        ))
    );
    stop.store(true, Ordering::SeqCst);
    assert_eq!(handle.join().unwrap(), bulk("done"));
    // The next script starts clean.
    let handle = start(&s, &stop, "while true do end");
    assert!(!s.running().unwrap().wrote);
    s.kill(KillCommand::Script).unwrap();
    assert!(matches!(handle.join().unwrap(), Frame::Error(_)));
}

#[test]
fn busy_error_after_the_threshold() {
    let s = Arc::new(Scripting::new(ScriptConfig { busy_reply_threshold: Duration::ZERO, ..Default::default() }));
    assert_eq!(s.busy_error(), None);
    let stop = Arc::new(AtomicBool::new(false));
    let handle = start(&s, &stop, "while redis.call('STOP?') == 0 do end return 1");
    assert_eq!(s.busy_error(), Some(error(BUSY_EVAL)));
    stop.store(true, Ordering::SeqCst);
    assert_eq!(handle.join().unwrap(), Frame::Integer(1));
    assert_eq!(s.busy_error(), None);
    // The default threshold is 5 s: a short script never makes others busy.
    let s = scripting();
    assert_eq!(s.busy_error(), None);
}

#[test]
fn kill_a_function() {
    let s = Arc::new(scripting());
    s.function_load(
        b"#!lua name=spinlib\n\nredis.register_function('spin', function(keys, args)\n  while true do end\nend)",
        false,
    )
    .unwrap();
    let scripting = s.clone();
    let handle = thread::spawn(move || {
        let mut host = KillHost { scripting: scripting.clone(), stop: Arc::new(AtomicBool::new(false)) };
        scripting.fcall(&mut host, b"spin", &[b"key1"], &[b"arg1"], RunOpts::default())
    });
    wait_running(&s);
    let info = s.running().unwrap();
    assert_eq!((info.kind, info.name.as_str()), (ScriptKind::Function, "spin"));
    let stats = s.function_stats(3);
    let Frame::Map(pairs) = &stats else { panic!("{stats:?}") };
    let Frame::Map(running) = &pairs[0].1 else { panic!("{stats:?}") };
    assert_eq!(running[0], (bulk("name"), bulk("spin")));
    assert_eq!(
        running[1],
        (bulk("command"), Frame::Array(vec![bulk("FCALL"), bulk("spin"), bulk("1"), bulk("key1"), bulk("arg1")]))
    );
    assert_eq!(s.kill(KillCommand::Script), Err(error(BUSY_FUNCTION)));
    assert_eq!(s.busy_error(), None, "not past the 5 s threshold");
    s.kill(KillCommand::Function).unwrap();
    let reply = handle.join().unwrap();
    assert_eq!(error_text(&reply), "ERR Script killed by user with SCRIPT KILL... script: spin, on @user_function:4.");
    assert!(s.running().is_none());
}

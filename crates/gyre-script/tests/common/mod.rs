//! A fake [`Host`] for the tests: a tiny string keyspace (GET, SET, INCR,
//! DEL), canned replies by command name, and a record of every call.

#![allow(dead_code)]

use std::collections::HashMap;

use bytes::Bytes;
use gyre_script::{Frame, Host, RunOpts, ScriptConfig, ScriptFlags, Scripting};

#[derive(Default)]
pub struct FakeHost {
    pub data: HashMap<Vec<u8>, Vec<u8>>,
    /// Replies by uppercase command name, returned as they are.
    pub canned: HashMap<String, Frame>,
    /// Every call: the arguments and the protocol asked for.
    pub calls: Vec<(Vec<Vec<u8>>, u8)>,
    pub logs: Vec<(u8, String)>,
    /// Every check_run: flags and read_only.
    pub checks: Vec<(ScriptFlags, bool)>,
    /// Refuse the run with this reply in check_run.
    pub refuse: Option<Frame>,
}

pub fn bulk(text: &str) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(text.as_bytes()))
}

pub fn simple(text: &str) -> Frame {
    Frame::Simple(Bytes::copy_from_slice(text.as_bytes()))
}

pub fn error(text: &str) -> Frame {
    Frame::Error(Bytes::copy_from_slice(text.as_bytes()))
}

/// The text of an error frame (panics otherwise).
pub fn error_text(frame: &Frame) -> String {
    match frame {
        Frame::Error(text) => String::from_utf8_lossy(text).into_owned(),
        other => panic!("expected an error, got {other:?}"),
    }
}

impl FakeHost {
    pub fn new() -> FakeHost {
        FakeHost::default()
    }

    pub fn with(mut self, command: &str, reply: Frame) -> FakeHost {
        self.canned.insert(command.to_string(), reply);
        self
    }
}

impl Host for FakeHost {
    fn call(&mut self, args: &[&[u8]], resp: u8) -> Frame {
        self.calls.push((args.iter().map(|a| a.to_vec()).collect(), resp));
        let name = String::from_utf8_lossy(args[0]).to_ascii_uppercase();
        if let Some(reply) = self.canned.get(&name) {
            return reply.clone();
        }
        match (name.as_str(), args.len()) {
            ("GET", 2) => match self.data.get(args[1]) {
                Some(value) => Frame::Bulk(Bytes::copy_from_slice(value)),
                None => Frame::Null,
            },
            ("SET", 3) => {
                self.data.insert(args[1].to_vec(), args[2].to_vec());
                simple("OK")
            }
            ("INCR", 2) => {
                let current = self.data.get(args[1]).map(|v| String::from_utf8_lossy(v).parse::<i64>());
                match current {
                    Some(Err(_)) => error("ERR value is not an integer or out of range"),
                    other => {
                        let next = other.map(|v| v.unwrap()).unwrap_or(0) + 1;
                        self.data.insert(args[1].to_vec(), next.to_string().into_bytes());
                        Frame::Integer(next)
                    }
                }
            }
            ("DEL", _) => Frame::Integer(args[1..].iter().filter(|k| self.data.remove(**k).is_some()).count() as i64),
            ("PING", 1) => simple("PONG"),
            ("ECHO", 2) => Frame::Bulk(Bytes::copy_from_slice(args[1])),
            _ => error(&format!(
                "ERR unknown command '{}', with args beginning with: ",
                String::from_utf8_lossy(args[0])
            )),
        }
    }

    fn log(&mut self, level: u8, msg: &str) {
        self.logs.push((level, msg.to_string()));
    }

    fn check_run(&mut self, flags: ScriptFlags, read_only: bool) -> Result<(), Frame> {
        self.checks.push((flags, read_only));
        match self.refuse.clone() {
            Some(reply) => Err(reply),
            None => Ok(()),
        }
    }
}

pub fn scripting() -> Scripting {
    Scripting::new(ScriptConfig::default())
}

pub const RESP2: RunOpts = RunOpts { read_only: false, resp: 2 };
pub const RESP3: RunOpts = RunOpts { read_only: false, resp: 3 };

/// Runs `body` with no keys or args under RESP2.
pub fn eval(s: &Scripting, host: &mut FakeHost, body: &str) -> Frame {
    s.eval(host, body.as_bytes(), &[], &[], RESP2)
}

/// Runs `body` on a fresh host under RESP2.
pub fn run(s: &Scripting, body: &str) -> Frame {
    eval(s, &mut FakeHost::new(), body)
}

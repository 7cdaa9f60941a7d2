//! Redis 7 functions: FUNCTION LOAD / DELETE / LIST / FLUSH / DUMP /
//! RESTORE / STATS, FCALL / FCALL_RO.
//!
//! Libraries live in their own VM. A library is its source code plus the
//! functions its top level registered (`redis.register_function`); function
//! names are unique across libraries and looked up ignoring case, library
//! names are exact. FUNCTION LIST orders libraries and functions by name.
//!
//! FUNCTION DUMP produces Gyre's own payload — not Redis's RDB encoding:
//! `"GYREFUNC"`, a little-endian u16 format version (1), a u32 library
//! count, each library's code as u32 length + bytes, then the SHA1 of all
//! preceding bytes. RESTORE checks all of it and refuses anything else
//! (a Redis payload included) with "DUMP payload version or checksum are
//! wrong"; it recompiles every library from its code.

use std::collections::{BTreeMap, HashMap};
use std::os::raw::c_int;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use gyre_resp::Frame;

use crate::api::{Host, RestorePolicy, RunOpts, ScriptConfig, ScriptKind};
use crate::convert::err;
use crate::flags::{is_valid_name, lossy, parse_library_meta, LibraryMeta, ScriptFlags};
use crate::scripting::{check_flags, RunName, Scripting, Shared, BUSY_EVAL};
use crate::vm::{Registered, RunSpec, Vm, VmKind};

/// A registered function.
pub(crate) struct FunctionDef {
    name: Arc<str>,
    library: String,
    description: Option<Bytes>,
    flags: ScriptFlags,
    func_ref: c_int,
}

/// A loaded library.
struct Library {
    name: String,
    code: Bytes,
    /// Sorted by name.
    functions: Vec<Arc<FunctionDef>>,
}

pub(crate) struct FunctionState {
    vm: Vm,
    libraries: BTreeMap<String, Library>,
    /// Lowercased function name → function.
    index: HashMap<String, Arc<FunctionDef>>,
}

const DUMP_MAGIC: &[u8; 8] = b"GYREFUNC";
const DUMP_VERSION: u16 = 1;
const DUMP_CHECKSUM_BYTES: usize = 20;
const DUMP_WRONG: &str = "ERR DUMP payload version or checksum are wrong";

impl FunctionState {
    pub(crate) fn new(shared: &Shared, config: &ScriptConfig) -> FunctionState {
        FunctionState {
            vm: Vm::new(VmKind::Functions, shared.kill.clone(), config),
            libraries: BTreeMap::new(),
            index: HashMap::new(),
        }
    }

    fn lookup(&self, name: &[u8]) -> Option<Arc<FunctionDef>> {
        if !is_valid_name(name) {
            return None;
        }
        let key = std::str::from_utf8(name).ok()?.to_ascii_lowercase();
        self.index.get(&key).cloned()
    }

    /// Checks a library's metadata line; returns it with the library name.
    fn check_meta(code: &[u8]) -> Result<(LibraryMeta, String), String> {
        let meta = parse_library_meta(code)?;
        if !is_valid_name(&meta.name) {
            return Err(
                "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"
                    .to_string(),
            );
        }
        if !meta.engine.eq_ignore_ascii_case(b"lua") {
            return Err(format!("Engine '{}' not found", lossy(&meta.engine)));
        }
        let name = lossy(&meta.name);
        Ok((meta, name))
    }

    /// Runs a library's top level and builds it (not yet linked).
    fn compile(
        &mut self,
        name: &str,
        meta: &LibraryMeta,
        code: &[u8],
        config: &ScriptConfig,
    ) -> Result<Library, String> {
        let registered = self.vm.load_library(&code[meta.code_start..], config.function_load_timeout)?;
        if registered.is_empty() {
            return Err("No functions registered".to_string());
        }
        let mut functions: Vec<Arc<FunctionDef>> = registered
            .into_iter()
            .map(|Registered { name: fn_name, description, flags, func_ref }| {
                Arc::new(FunctionDef { name: fn_name.into(), library: name.to_string(), description, flags, func_ref })
            })
            .collect();
        functions.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Library { name: name.to_string(), code: Bytes::copy_from_slice(code), functions })
    }

    fn release(&mut self, library: Library) {
        for function in &library.functions {
            self.vm.unref(function.func_ref);
        }
    }

    /// A function of `library` whose name another library (not in
    /// `replaced`) already uses.
    fn collision(&self, library: &Library, replaced: &[&str]) -> Option<Arc<str>> {
        library.functions.iter().find_map(|function| {
            let existing = self.index.get(&function.name.to_ascii_lowercase())?;
            (!replaced.contains(&existing.library.as_str())).then(|| function.name.clone())
        })
    }

    fn unlink(&mut self, name: &str) -> Option<Library> {
        let library = self.libraries.remove(name)?;
        for function in &library.functions {
            self.index.remove(&function.name.to_ascii_lowercase());
        }
        Some(library)
    }

    fn link(&mut self, library: Library) {
        for function in &library.functions {
            self.index.insert(function.name.to_ascii_lowercase(), function.clone());
        }
        self.libraries.insert(library.name.clone(), library);
    }
}

impl Scripting {
    pub(crate) fn publish_function_stats(&self, state: &FunctionState) {
        self.shared.libraries.store(state.libraries.len(), Ordering::Relaxed);
        self.shared.functions.store(state.index.len(), Ordering::Relaxed);
        self.shared.functions_memory_bytes.store(state.vm.memory_bytes(), Ordering::Relaxed);
    }

    /// `FUNCTION LOAD [REPLACE]`: loads a library; returns its name.
    pub fn function_load(&self, code: &[u8], replace: bool) -> Result<String, Frame> {
        let mut state = self.functions.lock();
        let outcome = self.load_locked(&mut state, code, replace);
        self.publish_function_stats(&state);
        outcome.map_err(|msg| err(format!("ERR {msg}")))
    }

    fn load_locked(&self, state: &mut FunctionState, code: &[u8], replace: bool) -> Result<String, String> {
        let (meta, name) = FunctionState::check_meta(code)?;
        if state.libraries.contains_key(&name) && !replace {
            return Err(format!("Library '{name}' already exists"));
        }
        let library = state.compile(&name, &meta, code, &self.config)?;
        if let Some(function) = state.collision(&library, &[&name]) {
            state.release(library);
            return Err(format!("Function {function} already exists"));
        }
        if let Some(old) = state.unlink(&name) {
            state.release(old);
        }
        state.link(library);
        Ok(name)
    }

    /// FUNCTION DELETE: removes a library (`-ERR Library not found`).
    pub fn function_delete(&self, library: &[u8]) -> Result<(), Frame> {
        let mut state = self.functions.lock();
        let removed = std::str::from_utf8(library).ok().and_then(|name| state.unlink(name));
        let Some(removed) = removed else {
            return Err(err("ERR Library not found"));
        };
        state.release(removed);
        self.publish_function_stats(&state);
        Ok(())
    }

    /// `FUNCTION FLUSH [ASYNC|SYNC]`: removes every library (and starts a
    /// fresh functions VM).
    pub fn function_flush(&self) {
        let mut state = self.functions.lock();
        *state = FunctionState::new(&self.shared, &self.config);
        self.publish_function_stats(&state);
    }

    /// `FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE]`, shaped for a client
    /// speaking `resp` (maps and sets become arrays under RESP2): the
    /// libraries whose name `listed` accepts (the server matches
    /// LIBRARYNAME's glob, ignoring case, with its one glob matcher).
    pub fn function_list(&self, listed: &dyn Fn(&str) -> bool, with_code: bool, resp: u8) -> Frame {
        let state = self.functions.lock();
        let libraries = state
            .libraries
            .values()
            .filter(|library| listed(&library.name))
            .map(|library| {
                let functions = library
                    .functions
                    .iter()
                    .map(|function| {
                        let description = match &function.description {
                            Some(text) => Frame::Bulk(text.clone()),
                            None => Frame::Null,
                        };
                        let flags =
                            function.flags.names().map(|n| Frame::Simple(Bytes::from_static(n.as_bytes()))).collect();
                        map(
                            vec![
                                (bulk("name"), Frame::Bulk(Bytes::copy_from_slice(function.name.as_bytes()))),
                                (bulk("description"), description),
                                (bulk("flags"), set(flags, resp)),
                            ],
                            resp,
                        )
                    })
                    .collect();
                let mut fields = vec![
                    (bulk("library_name"), Frame::Bulk(Bytes::copy_from_slice(library.name.as_bytes()))),
                    (bulk("engine"), bulk("LUA")),
                    (bulk("functions"), Frame::Array(functions)),
                ];
                if with_code {
                    fields.push((bulk("library_code"), Frame::Bulk(library.code.clone())));
                }
                map(fields, resp)
            })
            .collect();
        Frame::Array(libraries)
    }

    /// FUNCTION DUMP: every library, in Gyre's own versioned format.
    pub fn function_dump(&self) -> Bytes {
        let state = self.functions.lock();
        let mut out = BytesMut::new();
        out.put_slice(DUMP_MAGIC);
        out.put_u16_le(DUMP_VERSION);
        out.put_u32_le(state.libraries.len() as u32);
        for library in state.libraries.values() {
            out.put_u32_le(library.code.len() as u32);
            out.put_slice(&library.code);
        }
        let checksum = sha1_smol::Sha1::from(&out[..]).digest().bytes();
        out.put_slice(&checksum);
        out.freeze()
    }

    /// `FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE]`.
    pub fn function_restore(&self, payload: &[u8], policy: RestorePolicy) -> Result<(), Frame> {
        let codes = parse_dump(payload).map_err(err)?;
        let mut state = self.functions.lock();
        let outcome = self.restore_locked(&mut state, &codes, policy);
        self.publish_function_stats(&state);
        outcome.map_err(|msg| err(format!("ERR {msg}")))
    }

    fn restore_locked(&self, state: &mut FunctionState, codes: &[&[u8]], policy: RestorePolicy) -> Result<(), String> {
        let mut fresh: Vec<Library> = Vec::new();
        let compiled = (|| {
            for code in codes {
                let (meta, name) = FunctionState::check_meta(code)?;
                if fresh.iter().any(|library| library.name == name) {
                    return Err(format!("Library '{name}' already exists"));
                }
                let library = state.compile(&name, &meta, code, &self.config)?;
                let clash = library.functions.iter().find(|function| {
                    fresh
                        .iter()
                        .flat_map(|other| &other.functions)
                        .any(|other| other.name.eq_ignore_ascii_case(&function.name))
                });
                if let Some(function) = clash {
                    let msg = format!("Function {} already exists", function.name);
                    state.release(library);
                    return Err(msg);
                }
                fresh.push(library);
            }
            Ok(())
        })();
        let joined = compiled.and_then(|()| Self::check_join(state, &fresh, policy));
        if let Err(msg) = joined {
            for library in fresh {
                state.release(library);
            }
            return Err(msg);
        }
        let replaced: Vec<String> = match policy {
            RestorePolicy::Flush => state.libraries.keys().cloned().collect(),
            _ => fresh.iter().map(|library| library.name.clone()).collect(),
        };
        for name in replaced {
            if let Some(old) = state.unlink(&name) {
                state.release(old);
            }
        }
        for library in fresh {
            state.link(library);
        }
        Ok(())
    }

    /// `libraryJoin`'s checks, before anything changes.
    fn check_join(state: &FunctionState, fresh: &[Library], policy: RestorePolicy) -> Result<(), String> {
        if policy == RestorePolicy::Flush {
            return Ok(());
        }
        if policy == RestorePolicy::Append {
            if let Some(library) = fresh.iter().find(|library| state.libraries.contains_key(&library.name)) {
                return Err(format!("Library {} already exists", library.name));
            }
        }
        let replaced: Vec<&str> = fresh.iter().map(|library| library.name.as_str()).collect();
        for library in fresh {
            if let Some(function) = state.collision(library, &replaced) {
                return Err(format!("Function {function} already exists"));
            }
        }
        Ok(())
    }

    /// FUNCTION STATS, shaped for a client speaking `resp`. While an EVAL
    /// script runs this is Redis's `-BUSY` error. Never waits for a running
    /// function.
    pub fn function_stats(&self, resp: u8) -> Frame {
        let running = self.running();
        if running.as_ref().is_some_and(|run| run.kind == ScriptKind::Eval) {
            return err(BUSY_EVAL);
        }
        let running_script = match running {
            None => Frame::Null,
            Some(run) => map(
                vec![
                    (bulk("name"), Frame::Bulk(Bytes::from(run.name))),
                    (bulk("command"), Frame::Array(run.command.into_iter().map(Frame::Bulk).collect())),
                    (bulk("duration_ms"), Frame::Integer(run.elapsed.as_millis().min(i64::MAX as u128) as i64)),
                ],
                resp,
            ),
        };
        let lua = map(
            vec![
                (bulk("libraries_count"), Frame::Integer(self.shared.libraries.load(Ordering::Relaxed) as i64)),
                (bulk("functions_count"), Frame::Integer(self.shared.functions.load(Ordering::Relaxed) as i64)),
            ],
            resp,
        );
        map(
            vec![(bulk("running_script"), running_script), (bulk("engines"), map(vec![(bulk("LUA"), lua)], resp))],
            resp,
        )
    }

    /// The flags of a function, for the server's checks before FCALL.
    pub fn function_flags(&self, name: &[u8]) -> Option<ScriptFlags> {
        self.functions.lock().lookup(name).map(|function| function.flags)
    }

    /// FCALL / FCALL_RO (`-ERR Function not found`).
    pub fn fcall(&self, host: &mut dyn Host, name: &[u8], keys: &[&[u8]], args: &[&[u8]], opts: RunOpts) -> Frame {
        let mut state = self.functions.lock();
        let Some(function) = state.lookup(name) else {
            return err("ERR Function not found");
        };
        if let Err(reply) = check_flags(host, function.flags, opts.read_only) {
            return reply;
        }
        let sent = host.command();
        let command = if sent.is_empty() { fcall_command(name, keys, args, opts.read_only) } else { sent };
        let reply = {
            let _running = self.shared.begin(ScriptKind::Function, RunName::Function(function.name.clone()), command);
            state.vm.run(
                host,
                RunSpec { func_ref: function.func_ref, keys, args, name: &function.name, caller_resp: opts.resp },
            )
        };
        self.shared.functions_memory_bytes.store(state.vm.memory_bytes(), Ordering::Relaxed);
        reply
    }
}

/// The command FUNCTION STATS shows for a running function.
fn fcall_command(name: &[u8], keys: &[&[u8]], args: &[&[u8]], read_only: bool) -> Vec<Bytes> {
    let mut command = Vec::with_capacity(3 + keys.len() + args.len());
    command.push(Bytes::from_static(if read_only { b"FCALL_RO" } else { b"FCALL" }));
    command.push(Bytes::copy_from_slice(name));
    command.push(Bytes::from(keys.len().to_string()));
    command.extend(keys.iter().chain(args).map(|arg| Bytes::copy_from_slice(arg)));
    command
}

fn bulk(text: &'static str) -> Frame {
    Frame::Bulk(Bytes::from_static(text.as_bytes()))
}

/// A map, or its flattened array under RESP2.
fn map(pairs: Vec<(Frame, Frame)>, resp: u8) -> Frame {
    if resp == 3 {
        Frame::Map(pairs)
    } else {
        Frame::Array(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect())
    }
}

/// A set, or an array under RESP2.
fn set(members: Vec<Frame>, resp: u8) -> Frame {
    if resp == 3 {
        Frame::Set(members)
    } else {
        Frame::Array(members)
    }
}

/// Splits a FUNCTION DUMP payload into library codes, verifying it.
fn parse_dump(payload: &[u8]) -> Result<Vec<&[u8]>, String> {
    let header = DUMP_MAGIC.len() + 2 + 4;
    if payload.len() < header + DUMP_CHECKSUM_BYTES || &payload[..DUMP_MAGIC.len()] != DUMP_MAGIC {
        return Err(format!("{DUMP_WRONG} (not a Gyre FUNCTION DUMP payload)"));
    }
    let (body, checksum) = payload.split_at(payload.len() - DUMP_CHECKSUM_BYTES);
    let version = u16::from_le_bytes([body[8], body[9]]);
    if version != DUMP_VERSION || sha1_smol::Sha1::from(body).digest().bytes() != checksum {
        return Err(DUMP_WRONG.to_string());
    }
    let count = u32::from_le_bytes(body[10..14].try_into().expect("4 bytes")) as usize;
    let mut rest = &body[header..];
    let mut codes = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        if rest.len() < 4 {
            return Err(DUMP_WRONG.to_string());
        }
        let len = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        rest = &rest[4..];
        if rest.len() < len {
            return Err(DUMP_WRONG.to_string());
        }
        codes.push(&rest[..len]);
        rest = &rest[len..];
    }
    if !rest.is_empty() {
        return Err(DUMP_WRONG.to_string());
    }
    Ok(codes)
}

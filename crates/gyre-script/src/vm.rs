//! One sandboxed Lua 5.1 VM and the per-run context its Rust functions see.
//!
//! A [`Vm`] owns a `lua_State` (Lua compiled from mlua's vendored sources),
//! a heap-pinned [`RunCtx`] and a heap-pinned memory account. The account is
//! the allocator's user data and points at the run context, so any Rust
//! function reaches both from the state with one cheap `lua_getallocf`
//! call; C closures also carry the context as an upvalue. The two live in
//! separate allocations so the allocator never aliases a `&mut RunCtx`.
//!
//! Invariants:
//! * Between operations the Lua stack is empty and no host is installed.
//! * The memory limit is enforced only while user code runs inside a
//!   protected call; Rust-side pushes are exempt, so they never fail, and
//!   Rust functions called from Lua check the limit once they return.
//! * The kill hook is always installed (every `kill_check_instructions`
//!   instructions); once it fires it switches to every line so `pcall` cannot
//!   swallow the kill, and the next run switches it back.

use std::any::Any;
use std::cell::Cell;
use std::ffi::CStr;
use std::os::raw::{c_int, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gyre_resp::Frame;
use mlua::ffi;

use crate::api::{Host, ScriptConfig};
use crate::convert;
use crate::flags::ScriptFlags;
use crate::lua::{abs_index, push_bytes, push_error_table, raw_get_str, string_at, to_bytes, State, GLOBALS, REGISTRY};
use crate::sandbox::{self, Refs};

/// Which API a VM exposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VmKind {
    /// EVAL scripts: `KEYS`/`ARGV` globals, `redis.breakpoint` & co.
    Eval,
    /// Function libraries: a load-time API with only `register_function`.
    Functions,
}

/// A function registered by a library during FUNCTION LOAD.
#[derive(Debug, Clone)]
pub(crate) struct Registered {
    pub(crate) name: String,
    pub(crate) description: Option<Bytes>,
    pub(crate) flags: ScriptFlags,
    /// Registry reference of the callback.
    pub(crate) func_ref: c_int,
}

/// State of a FUNCTION LOAD in progress.
pub(crate) struct LoadCtx {
    pub(crate) deadline: Instant,
    pub(crate) functions: Vec<Registered>,
}

/// Bytes a VM has allocated, and its limit; the allocator's user data.
pub(crate) struct MemAccount {
    used: Cell<usize>,
    limit: usize,
    enforce: Cell<bool>,
    /// The VM's run context.
    ctx: *mut RunCtx,
}

impl MemAccount {
    fn over_limit(&self) -> bool {
        self.limit != 0 && self.used.get() > self.limit
    }
}

/// Lua's `lrand48` as Redis ships it (`rand.c`), for `math.random`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rand48(u64);

impl Rand48 {
    const MASK: u64 = (1 << 48) - 1;

    /// The generator's initial state (`X0, X1, X2`).
    pub(crate) fn new() -> Rand48 {
        Rand48(0x1234_ABCD_330E)
    }

    pub(crate) fn seed(&mut self, seed: i32) {
        self.0 = (u64::from(seed as u32) << 16) | 0x330E;
    }

    pub(crate) fn next(&mut self) -> i32 {
        self.0 = (self.0.wrapping_mul(0x5_DEEC_E66D).wrapping_add(0xB)) & Rand48::MASK;
        (self.0 >> 17) as i32
    }
}

/// What the Rust functions of one VM share; pinned on the heap.
pub(crate) struct RunCtx {
    /// The host of the run in progress (None between runs and during
    /// FUNCTION LOAD). The lifetime is erased; [`HostGuard`] clears it.
    host: Option<*mut (dyn Host + 'static)>,
    /// The protocol selected with `redis.setresp`.
    pub(crate) resp: u8,
    pub(crate) rng: Rand48,
    pub(crate) kind: VmKind,
    kill: Arc<AtomicBool>,
    pub(crate) load: Option<LoadCtx>,
    panic: Option<Box<dyn Any + Send>>,
    line_hook: bool,
    hook_count: c_int,
    pub(crate) version: &'static str,
}

impl RunCtx {
    /// The installed host, if a run is in progress.
    pub(crate) fn host(&self) -> Option<*mut (dyn Host + 'static)> {
        self.host
    }

    /// Keeps a panic payload to resume once Lua is back at rest.
    pub(crate) fn stash(&mut self, payload: Box<dyn Any + Send>) {
        if self.panic.is_none() {
            self.panic = Some(payload);
        }
    }
}

/// The memory account of the VM `l` belongs to.
///
/// # Safety
///
/// `l` is a live state (see `lua`'s safety vocabulary): its allocator user
/// data is then the VM's `MemAccount`, which lives as long as the state. The
/// caller must not hold a `&mut MemAccount` (none is ever made: its mutable
/// fields are `Cell`s).
#[inline]
unsafe fn mem_of(l: State) -> *mut MemAccount {
    let mut ud: *mut c_void = std::ptr::null_mut();
    ffi::lua_getallocf(l, &mut ud);
    ud.cast::<MemAccount>()
}

/// The run context of the VM `l` belongs to.
///
/// # Safety
///
/// `l` is a live state. The pointer is the VM's `RunCtx`, valid until the `Vm`
/// drops; a reference made from it must not overlap another live reference to
/// the context (Rust functions called from Lua each take one at a time).
#[inline]
pub(crate) unsafe fn ctx_of(l: State) -> *mut RunCtx {
    (*mem_of(l)).ctx
}

/// Records a panic caught in a Rust function called from Lua.
///
/// # Safety
///
/// `l` is a live state, and no reference to its `RunCtx` is live (the
/// [`lua_fn!`] wrapper calls this after the body's closure has returned).
pub(crate) unsafe fn stash_panic(l: State, payload: Box<dyn Any + Send>) {
    (*ctx_of(l)).stash(payload);
}

/// Stops enforcing the memory limit while a Rust function runs; returns
/// whether it was enforced (pass it to [`resume_memory_limit`]).
///
/// # Safety
///
/// `l` is a live state.
#[inline]
pub(crate) unsafe fn pause_memory_limit(l: State) -> bool {
    (*mem_of(l)).enforce.replace(false)
}

/// Restores enforcement; true if the limit is now exceeded (the Rust
/// function then fails with "not enough memory").
///
/// # Safety
///
/// `l` is a live state; `enforced` is what the matching
/// [`pause_memory_limit`] returned.
#[inline]
pub(crate) unsafe fn resume_memory_limit(l: State, enforced: bool) -> bool {
    let mem = &*mem_of(l);
    mem.enforce.set(enforced);
    enforced && mem.over_limit()
}

const LUA_ALIGN: usize = 16;
/// Largest block [`lua_alloc`] hands out: a `Layout` must fit an isize once
/// rounded up to [`LUA_ALIGN`].
const LUA_ALLOC_BYTES_MAX: usize = isize::MAX as usize - LUA_ALIGN;

/// # Safety
///
/// Lua calls this as its allocator (`lua_Alloc` contract): `ud` is the VM's
/// `MemAccount`; when `ptr` is not null it came from this function and
/// `osize` is the size it was last given for it.
unsafe extern "C" fn lua_alloc(ud: *mut c_void, ptr: *mut c_void, osize: usize, nsize: usize) -> *mut c_void {
    let mem = &*ud.cast::<MemAccount>();
    let old = if ptr.is_null() { 0 } else { osize };
    if nsize == 0 {
        if !ptr.is_null() {
            // `osize` is the block's size (Lua's contract), so this is the
            // layout it was allocated with.
            std::alloc::dealloc(ptr.cast(), std::alloc::Layout::from_size_align_unchecked(osize, LUA_ALIGN));
            mem.used.set(mem.used.get() - osize);
        }
        return std::ptr::null_mut();
    }
    if nsize > LUA_ALLOC_BYTES_MAX {
        // `Layout::from_size_align_unchecked` requires the size rounded up
        // to the alignment to fit an isize; Lua answers null with an error.
        return std::ptr::null_mut();
    }
    if mem.enforce.get() && mem.limit != 0 && nsize > old && mem.used.get() - old + nsize > mem.limit {
        return std::ptr::null_mut();
    }
    let new_ptr = if ptr.is_null() {
        std::alloc::alloc(std::alloc::Layout::from_size_align_unchecked(nsize, LUA_ALIGN))
    } else {
        std::alloc::realloc(ptr.cast(), std::alloc::Layout::from_size_align_unchecked(osize, LUA_ALIGN), nsize)
    };
    if !new_ptr.is_null() {
        mem.used.set(mem.used.get() - old + nsize);
    }
    new_ptr.cast()
}

/// # Safety
///
/// Lua calls this as the panic handler of a live state, with the error on top.
unsafe extern "C-unwind" fn at_panic(l: State) -> c_int {
    let msg = to_bytes(l, -1).map(String::from_utf8_lossy).unwrap_or_default();
    // An error outside any protected call: the VM's invariants are broken.
    eprintln!("gyre-script: unprotected Lua error: {msg}");
    std::process::abort()
}

/// The kill / load-timeout hook.
///
/// # Safety
///
/// Lua calls this as the debug hook of a live state, from inside a running
/// protected call (the hook fires only while Lua code runs), so raising is
/// sound; no reference to the `RunCtx` is live while Lua code runs, and its
/// host, when set, is valid ([`HostGuard`] clears it before the borrow
/// ends). A panic in [`Host::tick`] is caught here: unwinding into Lua's C
/// frames would be undefined behaviour.
unsafe extern "C-unwind" fn hook(l: State, _ar: *mut ffi::lua_Debug) {
    let ctx = ctx_of(l);
    if let Some(host) = (*ctx).host.filter(|_| (*ctx).panic.is_none()) {
        // A panic must not unwind into Lua's C frames: stash it for the
        // caller (who resumes it once the run ends) and fail the script.
        if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (*host).tick())) {
            (*ctx).stash(payload);
        }
    }
    let reason: Option<&'static [u8]> = if (*ctx).panic.is_some() {
        // The run's outcome is the resumed panic; stop the script promptly.
        Some(b"internal error while running the script (a Rust panic; see the server log)")
    } else if (*ctx).host.is_some() && (*ctx).kill.load(Ordering::Relaxed) {
        Some(b"Script killed by user with SCRIPT KILL...")
    } else if (*ctx).load.as_ref().is_some_and(|load| Instant::now() > load.deadline) {
        Some(b"FUNCTION LOAD timeout")
    } else {
        None
    };
    if let Some(msg) = reason {
        // From now on check every line, so pcall cannot swallow the error.
        ffi::lua_sethook(l, Some(hook), ffi::LUA_MASKLINE, 0);
        (*ctx).line_hook = true;
        push_error_table(l, false, msg);
        ffi::lua_error(l);
    }
}

/// What one run executes.
pub(crate) struct RunSpec<'a> {
    pub(crate) func_ref: c_int,
    pub(crate) keys: &'a [&'a [u8]],
    pub(crate) args: &'a [&'a [u8]],
    /// The name error messages report: the SHA1 or the function name.
    pub(crate) name: &'a str,
    pub(crate) caller_resp: u8,
}

/// A sandboxed Lua VM.
pub(crate) struct Vm {
    l: State,
    ctx: *mut RunCtx,
    mem: *mut MemAccount,
    refs: Refs,
}

// SAFETY: the state and its context are only reached through `&mut Vm`
// (the owner keeps it behind a mutex); Lua states are not tied to the thread
// that created them, and no Lua value escapes the Vm.
unsafe impl Send for Vm {}

impl Vm {
    pub(crate) fn new(kind: VmKind, kill: Arc<AtomicBool>, config: &ScriptConfig) -> Vm {
        let hook_count = config.kill_check_instructions.clamp(1, c_int::MAX as u32) as c_int;
        let ctx = Box::into_raw(Box::new(RunCtx {
            host: None,
            resp: 2,
            rng: Rand48::new(),
            kind,
            kill,
            load: None,
            panic: None,
            line_hook: false,
            hook_count,
            version: config.redis_version,
        }));
        let mem = Box::into_raw(Box::new(MemAccount {
            used: Cell::new(0),
            limit: config.lua_memory_bytes_max,
            enforce: Cell::new(false),
            ctx,
        }));
        // SAFETY: `mem` and `ctx` are fresh heap allocations that live until
        // `drop` frees them after `lua_close`; the state is new, so its stack
        // is empty with 20 free slots, and no protected call is running: the
        // sandbox only allocates (with the limit off), and a failure there
        // aborts through `at_panic`.
        unsafe {
            let l = ffi::lua_newstate(lua_alloc, mem.cast());
            assert!(!l.is_null(), "cannot allocate a Lua state");
            ffi::lua_atpanic(l, at_panic);
            let refs = sandbox::install(l, ctx, kind);
            ffi::lua_sethook(l, Some(hook), ffi::LUA_MASKCOUNT, hook_count);
            ffi::lua_settop(l, 0);
            Vm { l, ctx, mem, refs }
        }
    }

    /// Bytes the VM has allocated.
    pub(crate) fn memory_bytes(&self) -> usize {
        // SAFETY: `mem` lives as long as `self`; only `Cell`s are read.
        unsafe { (*self.mem).used.get() }
    }

    /// Compiles `code` (text only) under `chunkname`, with the sandbox's
    /// environment, and keeps it in the registry. Err carries Lua's message.
    pub(crate) fn compile(&mut self, code: &[u8], chunkname: &CStr) -> Result<c_int, String> {
        let l = self.l;
        // SAFETY: `&mut self` makes the state ours and between operations
        // (empty stack, 20 free slots; this uses at most 3);
        // `luaL_loadbuffer` is protected, and the rest only allocates with
        // the limit off.
        unsafe {
            if code.first() == Some(&0x1b) {
                let name = chunkname.to_string_lossy();
                return Err(format!("{}: bytecode loading is not allowed", name.trim_start_matches('@')));
            }
            let ptr: *const u8 = if code.is_empty() { c"".as_ptr().cast() } else { code.as_ptr() };
            if ffi::luaL_loadbuffer(l, ptr.cast(), code.len(), chunkname.as_ptr()) != 0 {
                let msg = to_bytes(l, -1).map(|m| String::from_utf8_lossy(m).into_owned()).unwrap_or_default();
                ffi::lua_settop(l, 0);
                return Err(msg);
            }
            ffi::lua_rawgeti_(l, REGISTRY, self.refs.env);
            ffi::lua_setfenv(l, -2);
            let func_ref = ffi::luaL_ref(l, REGISTRY);
            ffi::lua_settop(l, 0);
            Ok(func_ref)
        }
    }

    /// Releases a compiled function or callback.
    pub(crate) fn unref(&mut self, func_ref: c_int) {
        // SAFETY: `&mut self` makes the state ours; unref never raises (it
        // stores into an existing registry slot).
        unsafe { ffi::luaL_unref(self.l, REGISTRY, func_ref) }
    }

    /// Runs an EVAL script (`KEYS`/`ARGV` globals) or a function (`keys`,
    /// `args` parameters) and converts its result or error into a reply.
    pub(crate) fn run(&mut self, host: &mut dyn Host, spec: RunSpec<'_>) -> Frame {
        let l = self.l;
        let ctx = self.ctx;
        // SAFETY: `ctx` lives as long as `self`; nothing else uses it now.
        let as_function = unsafe { (*ctx).kind } == VmKind::Functions;
        let guard = HostGuard::install(ctx, host);
        // SAFETY: `&mut self` makes the state ours, between operations: at
        // most 6 of its 20 free slots are used before the call; user code runs
        // inside `lua_pcall` (handler at 1); conversion afterwards reads raw
        // and checks the stack as it nests; `mem` lives as long as `self`.
        let reply = unsafe {
            ffi::lua_settop(l, 0);
            ffi::lua_rawgeti_(l, REGISTRY, self.refs.handler);
            ffi::lua_rawgeti_(l, REGISTRY, spec.func_ref);
            // A script may have changed its own environment with setfenv.
            ffi::lua_rawgeti_(l, REGISTRY, self.refs.env);
            ffi::lua_setfenv(l, 2);
            let nargs = if as_function {
                push_array(l, spec.keys);
                push_array(l, spec.args);
                2
            } else {
                set_global_array(l, c"KEYS", spec.keys);
                set_global_array(l, c"ARGV", spec.args);
                0
            };
            (*self.mem).enforce.set(true);
            let status = ffi::lua_pcall(l, nargs, 1, 1);
            (*self.mem).enforce.set(false);
            let reply = if status == 0 {
                convert::reply_from_lua(l, -1, spec.caller_resp, (*ctx).resp)
            } else {
                error_reply(l, spec.name)
            };
            ffi::lua_settop(l, 0);
            reply
        };
        drop(guard);
        self.after_run();
        reply
    }

    /// Runs a library's top level with the load-time API; returns the
    /// functions it registered. Err is the reply text without `ERR `.
    pub(crate) fn load_library(&mut self, code: &[u8], timeout: Duration) -> Result<Vec<Registered>, String> {
        let l = self.l;
        let ctx = self.ctx;
        let func_ref =
            self.compile(code, c"@user_function").map_err(|msg| format!("Error compiling function: {msg}"))?;
        // SAFETY: as in `run`: the state is ours and between operations,
        // user code runs inside `lua_pcall`, and `ctx`/`mem` live as long as
        // `self` with no other reference to them held here.
        let outcome = unsafe {
            ffi::lua_rawgeti_(l, REGISTRY, func_ref);
            self.unref(func_ref);
            self.set_env_globals(self.refs.load_globals);
            (*ctx).load = Some(LoadCtx { deadline: Instant::now() + timeout, functions: Vec::new() });
            (*self.mem).enforce.set(true);
            let status = ffi::lua_pcall(l, 0, 0, 0);
            (*self.mem).enforce.set(false);
            self.set_env_globals(self.refs.globals);
            let registered = (*ctx).load.take().map(|load| load.functions).unwrap_or_default();
            if status == 0 {
                Ok(registered)
            } else {
                for function in &registered {
                    ffi::luaL_unref(l, REGISTRY, function.func_ref);
                }
                Err(format!("Error registering functions: {}", load_error_message(l)))
            }
        };
        // SAFETY: the state is ours; clearing the stack cannot fail.
        unsafe { ffi::lua_settop(l, 0) };
        self.reset_hook();
        self.resume_panic();
        outcome
    }

    /// Points the functions environment's `__index` at a globals table.
    ///
    /// # Safety
    ///
    /// `self.l` is between operations or inside one with room for 3 slots, and
    /// `globals_ref` is a registry reference of a table. It allocates.
    unsafe fn set_env_globals(&self, globals_ref: c_int) {
        let l = self.l;
        ffi::lua_rawgeti_(l, REGISTRY, self.refs.env_meta);
        ffi::lua_rawgeti_(l, REGISTRY, globals_ref);
        crate::lua::raw_set_str(l, abs_index(l, -2), c"__index");
        ffi::lua_settop(l, -2);
    }

    fn after_run(&mut self) {
        self.reset_hook();
        self.resume_panic();
    }

    fn reset_hook(&mut self) {
        // SAFETY: `&mut self` makes the state and `ctx` ours; no run is in
        // progress, and `lua_sethook` neither allocates nor raises.
        unsafe {
            if (*self.ctx).line_hook {
                (*self.ctx).line_hook = false;
                ffi::lua_sethook(self.l, Some(hook), ffi::LUA_MASKCOUNT, (*self.ctx).hook_count);
            }
        }
    }

    /// Re-raises, on the caller's thread, a panic a Rust function caught.
    fn resume_panic(&mut self) {
        // SAFETY: `ctx` lives as long as `self`; no run is in progress.
        if let Some(payload) = unsafe { (*self.ctx).panic.take() } {
            std::panic::resume_unwind(payload);
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        // SAFETY: the state is ours and closed exactly once, before the two
        // boxes its allocator and closures point at (made by `Box::into_raw`
        // in `new`, freed only here).
        unsafe {
            ffi::lua_close(self.l);
            drop(Box::from_raw(self.ctx));
            drop(Box::from_raw(self.mem));
        }
    }
}

/// Installs the host for a run and removes it however the run ends.
struct HostGuard {
    ctx: *mut RunCtx,
}

impl HostGuard {
    fn install(ctx: *mut RunCtx, host: &mut dyn Host) -> HostGuard {
        let host: *mut (dyn Host + '_) = host;
        // SAFETY: the pointer is only dereferenced while the run is in
        // progress; the guard clears it before `host`'s borrow ends.
        let host: *mut (dyn Host + 'static) = unsafe { std::mem::transmute(host) };
        // SAFETY: `ctx` is the `Vm`'s live context, and the caller (`Vm::run`
        // through `&mut Vm`) holds no other reference to it.
        unsafe {
            (*ctx).host = Some(host);
            (*ctx).resp = 2;
            (*ctx).rng = Rand48::new();
        }
        HostGuard { ctx }
    }
}

impl Drop for HostGuard {
    fn drop(&mut self) {
        // SAFETY: the guard never outlives the `Vm::run` call that owns `ctx`.
        unsafe { (*self.ctx).host = None };
    }
}

/// Pushes a table `{items...}`.
///
/// # Safety
///
/// `l` is a live state with room for 2 slots. It allocates.
unsafe fn push_array(l: State, items: &[&[u8]]) {
    ffi::lua_createtable(l, items.len().min(c_int::MAX as usize) as c_int, 0);
    for (i, item) in items.iter().enumerate() {
        push_bytes(l, item);
        ffi::lua_rawseti_(l, -2, (i + 1) as c_int);
    }
}

/// Sets the global `name` to a table of `items` (raw: globals have a
/// metatable that refuses reads of missing names).
///
/// # Safety
///
/// `l` is a live state with room for 3 slots. It allocates.
unsafe fn set_global_array(l: State, name: &CStr, items: &[&[u8]]) {
    crate::lua::push_cstr(l, name);
    push_array(l, items);
    ffi::lua_rawset(l, GLOBALS);
}

/// The reply for a failed run, from the error value on top of the stack
/// (Redis's `luaCallFunction` error path).
///
/// # Safety
///
/// `l` is a live state with the error value of a failed `lua_pcall` on top and
/// room for 1 slot; it reads the table raw, so it runs no metamethod. The
/// error value stays on the stack.
unsafe fn error_reply(l: State, name: &str) -> Frame {
    if ffi::lua_type(l, -1) != ffi::LUA_TTABLE {
        // Only when the error handler itself failed (or memory ran out).
        let msg = to_bytes(l, -1).map(|m| String::from_utf8_lossy(m).into_owned());
        let msg = msg.unwrap_or_else(|| "execution failure".to_string());
        let msg: String = msg.chars().take(100).collect();
        let text = format!("ERR Error running script {name}, {msg}");
        return convert::error_frame(text.as_bytes());
    }
    let table = abs_index(l, -1);
    let msg = string_field(l, table, c"err").unwrap_or_else(|| b"ERR unknown error".to_vec());
    let source = string_field(l, table, c"source");
    let line = string_field(l, table, c"line");
    let mut text = msg;
    if let (Some(source), Some(line)) = (source, line) {
        text.extend_from_slice(b" script: ");
        text.extend_from_slice(name.as_bytes());
        text.extend_from_slice(b", on ");
        text.extend_from_slice(&source);
        text.push(b':');
        text.extend_from_slice(&line);
        text.push(b'.');
    }
    Frame::Error(Bytes::from(convert::map_crlf(&text)))
}

/// A string-or-number field of a table, as bytes (raw access, converting a
/// copy so the table is untouched).
///
/// # Safety
///
/// `l` is a live state with room for 1 slot, and `table` an absolute index (or
/// pseudo-index) of a table. It allocates (the key is interned; a number is
/// converted on a copy).
unsafe fn string_field(l: State, table: c_int, key: &CStr) -> Option<Vec<u8>> {
    raw_get_str(l, table, key);
    let value = if crate::lua::is_string(l, -1) { to_bytes(l, -1).map(<[u8]>::to_vec) } else { None };
    ffi::lua_settop(l, -2);
    value
}

/// FUNCTION LOAD's error text (`luaExtractErrorInformation` after a plain
/// `lua_pcall`): strings get `ERR `, tables give their `err` field.
///
/// # Safety
///
/// `l` is a live state with the error value of a failed `lua_pcall` on top and
/// room for 1 slot. It allocates (a number error is converted in place, which
/// is fine: the value is dropped afterwards).
unsafe fn load_error_message(l: State) -> String {
    let bytes = if ffi::lua_type(l, -1) == ffi::LUA_TTABLE {
        string_field(l, abs_index(l, -1), c"err").unwrap_or_else(|| b"(null)".to_vec())
    } else if let Some(text) = string_at(l, -1).or_else(|| to_bytes(l, -1)) {
        [b"ERR ".as_slice(), text].concat()
    } else {
        b"(null)".to_vec()
    };
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::Rand48;

    #[test]
    fn rand48_matches_lrand48() {
        // glibc: srand48(0); lrand48() x3
        let mut rng = Rand48::new();
        rng.seed(0);
        assert_eq!([rng.next(), rng.next(), rng.next()], [366850414, 1610402240, 206956554]);
    }
}

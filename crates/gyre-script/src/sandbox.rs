//! Builds a VM's globals: Redis's allow-list of Lua builtins and libraries,
//! the `redis` API, and the protections Redis 7 gets from its patched
//! "read-only tables" Lua, emulated on stock Lua 5.1.
//!
//! How the protection works:
//! * Scripts run with a private, always-empty environment table `env`
//!   whose metatable reads through to the real globals and refuses writes
//!   (`Script attempted to create global variable 'x'`, or "Attempt to modify
//!   a readonly table" for an existing name). `_G` is `env`.
//! * The real globals table has a metatable whose `__index` raises
//!   `Script attempted to access nonexistent global variable 'x'`.
//! * Library tables (`string`, `redis`, `cjson`, ...) are replaced by empty
//!   read-only proxies; the string metatable is hidden behind a proxy too.
//! * The Lua functions that write raw (`rawset`, `setmetatable`,
//!   `table.insert`/`remove`/`sort`) refuse read-only tables; those that
//!   read raw (`rawget`, `next`, `pairs`) read through a proxy to its real
//!   table without ever handing that table out; `getfenv` never reveals
//!   the real globals; `setfenv(0, ...)` is refused; `loadstring`/`load`
//!   refuse bytecode and give chunks the sandbox env.
//! * Removed: `print`, `dofile`, `loadfile`, `newproxy` (its `__gc`
//!   finalizers could run, and fail, outside any protected call), `io`,
//!   `package`/`require`, `debug` (kept privately for the error handler),
//!   and all of `os` but `os.clock`.
//!
//! Known gaps: `#t`, `ipairs` and `unpack` on a proxy see an empty table
//! (Lua 5.1 has no `__len`); library and global tables have no array part,
//! so this only matters for code that measures them.

use std::ffi::CStr;
use std::os::raw::{c_int, c_void};

use mlua::ffi;

use crate::lua::{
    abs_index, push_bytes, push_cstr, raw_get_str, raw_set_str, set_closure, set_fn, set_number, State, GLOBALS,
    REGISTRY,
};
use crate::redis_api as api;
use crate::vm::{RunCtx, VmKind};

/// Registry references a VM keeps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refs {
    /// Redis's error handler (adds `source` and `line` to error tables).
    pub(crate) handler: c_int,
    /// The environment scripts and function libraries run in.
    pub(crate) env: c_int,
    /// `env`'s metatable (functions switch its `__index` during loads).
    pub(crate) env_meta: c_int,
    /// The real globals table.
    pub(crate) globals: c_int,
    /// The load-time globals of function libraries (`redis` with only
    /// `register_function`, `log` and the version); LUA_NOREF for EVAL.
    pub(crate) load_globals: c_int,
}

/// Marks the metatables of read-only tables (a light userdata key).
static READONLY_MARK: u8 = 0;

fn readonly_key() -> *mut c_void {
    std::ptr::addr_of!(READONLY_MARK).cast_mut().cast()
}

/// Whether the value at absolute index `idx` is a read-only table.
///
/// # Safety
///
/// `l` is a live state (see `lua`'s safety vocabulary) with room for 2
/// slots, and `idx` a valid absolute index (or pseudo-index). Raw reads only:
/// it neither allocates nor raises.
unsafe fn is_readonly(l: State, idx: c_int) -> bool {
    if ffi::lua_type(l, idx) != ffi::LUA_TTABLE || ffi::lua_getmetatable(l, idx) == 0 {
        return false;
    }
    ffi::lua_pushlightuserdata(l, readonly_key());
    ffi::lua_rawget_(l, -2);
    let readonly = ffi::lua_toboolean(l, -1) != 0;
    ffi::lua_settop(l, -3);
    readonly
}

/// Raises `msg` prefixed with the calling Lua code's position (luaL_error).
///
/// # Safety
///
/// `l` is a live state running a C function called by Lua, with room for 2
/// slots; this raises (see the vocabulary), so the caller's frames own nothing
/// with a destructor.
unsafe fn raise_here(l: State, msg: &'static CStr) -> ! {
    ffi::luaL_where(l, 1);
    push_cstr(l, msg);
    ffi::lua_concat(l, 2);
    ffi::lua_error(l)
}

/// `__index` of the real globals (Redis's `luaProtectedTableError`).
///
/// # Safety
///
/// Lua calls this as the `__index` metamethod of the real globals, on a live
/// state; it raises.
unsafe extern "C-unwind" fn nonexistent_global(l: State) -> c_int {
    if ffi::lua_gettop(l) != 2 {
        raise_here(l, c"Wrong number of arguments to luaProtectedTableError");
    }
    if ffi::lua_isstring(l, -1) == 0 {
        raise_here(l, c"Second argument to luaProtectedTableError must be a string or number");
    }
    ffi::luaL_where(l, 1);
    push_cstr(l, c"Script attempted to access nonexistent global variable '");
    ffi::lua_pushvalue(l, 2);
    push_cstr(l, c"'");
    ffi::lua_concat(l, 4);
    ffi::lua_error(l)
}

/// `__newindex` of the script environment; upvalue 1 is the real globals.
///
/// # Safety
///
/// Lua calls this as the `__newindex` metamethod of the script environment, a
/// closure whose upvalue 1 is the real globals table; it raises.
unsafe extern "C-unwind" fn env_newindex(l: State) -> c_int {
    ffi::lua_pushvalue(l, 2);
    ffi::lua_rawget_(l, ffi::lua_upvalueindex(1));
    if ffi::lua_type(l, -1) != ffi::LUA_TNIL {
        raise_here(l, c"Attempt to modify a readonly table");
    }
    ffi::luaL_where(l, 1);
    push_cstr(l, c"Script attempted to create global variable '");
    ffi::lua_pushvalue(l, 2);
    if ffi::lua_isstring(l, -1) == 0 {
        ffi::lua_settop(l, -2);
        push_cstr(l, c"?");
    }
    push_cstr(l, c"'");
    ffi::lua_concat(l, 4);
    ffi::lua_error(l)
}

/// `__newindex` of read-only library proxies.
///
/// # Safety
///
/// Lua calls this as a `__newindex` metamethod on a live state; it raises.
unsafe extern "C-unwind" fn readonly_newindex(l: State) -> c_int {
    raise_here(l, c"Attempt to modify a readonly table")
}

/// The original C function stored as upvalue 1 of a wrapper.
///
/// # Safety
///
/// `l` is a live state running a wrapper closure made by [`wrap`], whose
/// upvalue 1 is a light userdata holding a `lua_CFunction` (never null: a
/// null pointer would make an invalid function pointer, so `load_wrapper`,
/// whose upvalue 1 is null, must never call this). The wrapper calls the
/// result on its own frame, so the original must not read upvalues of its own.
unsafe fn original(l: State) -> ffi::lua_CFunction {
    let ptr = ffi::lua_touserdata(l, ffi::lua_upvalueindex(1));
    // SAFETY: `wrap` stored a lua_CFunction there.
    std::mem::transmute::<*mut c_void, ffi::lua_CFunction>(ptr)
}

/// Wraps `rawset`, `setmetatable`, `table.insert/remove/sort`: refuses a
/// read-only first argument, else runs the original on the same frame.
///
/// # Safety
///
/// Lua calls this as a closure made by [`wrap`] around `rawset`,
/// `setmetatable`, `table.insert`, `table.remove` or `table.sort` (C functions
/// that read no upvalues).
unsafe extern "C-unwind" fn guard_first_arg(l: State) -> c_int {
    if is_readonly(l, 1) {
        push_cstr(l, c"Attempt to modify a readonly table");
        ffi::lua_error(l);
    }
    original(l)(l)
}

/// Wraps `rawget` and `next`: on a read-only proxy they read the real
/// table behind it (the real table itself never reaches the script).
///
/// # Safety
///
/// Lua calls this as a closure made by [`wrap`] around `rawget` or `next`
/// (C functions that read no upvalues).
unsafe extern "C-unwind" fn through_proxy(l: State) -> c_int {
    if is_readonly(l, 1) {
        ffi::lua_getmetatable(l, 1);
        push_cstr(l, c"__index");
        ffi::lua_rawget_(l, -2);
        ffi::lua_replace(l, 1);
        ffi::lua_settop(l, -2);
    }
    original(l)(l)
}

/// `pairs`: iterates with the wrapped `next` (upvalue 2), which reads a
/// read-only proxy's real table while the proxy stays the loop state.
/// Never `original(l)(l)`: `luaB_pairs` returns its own upvalue 1 (`next`),
/// which on this frame is the wrapper's light userdata.
///
/// # Safety
///
/// Lua calls this as a closure made by [`wrap`] with the wrapped `next` as
/// upvalue 2.
unsafe extern "C-unwind" fn pairs_wrapper(l: State) -> c_int {
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    ffi::lua_pushvalue(l, ffi::lua_upvalueindex(2));
    ffi::lua_pushvalue(l, 1);
    ffi::lua_pushnil(l);
    3
}

/// `getfenv`: the real globals show as the sandbox env (upvalue 2).
///
/// # Safety
///
/// Lua calls this as a closure made by [`wrap`] around `getfenv` (one result,
/// no upvalues read), with the sandbox env as upvalue 2.
unsafe extern "C-unwind" fn getfenv_wrapper(l: State) -> c_int {
    let results = original(l)(l);
    ffi::lua_pushvalue(l, GLOBALS);
    let is_globals = ffi::lua_rawequal(l, -1, -2) != 0;
    ffi::lua_settop(l, -2);
    if is_globals {
        ffi::lua_settop(l, -2);
        ffi::lua_pushvalue(l, ffi::lua_upvalueindex(2));
    }
    results
}

/// `setfenv`: refuses to replace the thread's globals.
///
/// # Safety
///
/// Lua calls this as a closure made by [`wrap`] around `setfenv` (no upvalues
/// read).
unsafe extern "C-unwind" fn setfenv_wrapper(l: State) -> c_int {
    if ffi::lua_type(l, 1) == ffi::LUA_TNUMBER && ffi::lua_tonumber(l, 1) == 0.0 {
        raise_here(l, c"setfenv cannot change the environment of the running thread");
    }
    original(l)(l)
}

/// Sets the sandbox env (upvalue 2) on the function on top, if it is one.
///
/// # Safety
///
/// `l` is a live state running a closure whose upvalue 2 is the sandbox env,
/// with room for 1 slot; `results` values were just pushed.
unsafe fn sandbox_loaded(l: State, results: c_int) -> c_int {
    if results == 1 && ffi::lua_type(l, -1) == ffi::LUA_TFUNCTION {
        ffi::lua_pushvalue(l, ffi::lua_upvalueindex(2));
        ffi::lua_setfenv(l, -2);
    }
    results
}

/// # Safety
///
/// `l` is a live state with room for 2 slots. It allocates.
unsafe fn refuse_bytecode(l: State) -> c_int {
    ffi::lua_pushnil(l);
    push_cstr(l, c"bytecode loading is not allowed");
    2
}

/// `loadstring`: no bytecode; chunks get the sandbox env.
///
/// # Safety
///
/// Lua calls this as a closure made by [`wrap`] around `loadstring` (no
/// upvalues read), with the sandbox env as upvalue 2.
unsafe extern "C-unwind" fn loadstring_wrapper(l: State) -> c_int {
    if ffi::lua_type(l, 1) == ffi::LUA_TSTRING
        && crate::lua::to_bytes(l, 1).and_then(|s| s.first().copied()) == Some(0x1b)
    {
        return refuse_bytecode(l);
    }
    let results = original(l)(l);
    sandbox_loaded(l, results)
}

/// `load(reader [, chunkname])`: reads every piece first, then loads the
/// text like `loadstring`.
///
/// # Safety
///
/// Lua calls this as a closure whose upvalue 2 is the sandbox env. It calls
/// the reader unprotected and raises; no Rust value with a destructor is live
/// here.
unsafe extern "C-unwind" fn load_wrapper(l: State) -> c_int {
    ffi::luaL_checktype(l, 1, ffi::LUA_TFUNCTION);
    let chunkname = ffi::luaL_optlstring(l, 2, c"=(load)".as_ptr(), std::ptr::null_mut());
    ffi::lua_settop(l, 2);
    let mut pieces = 0;
    loop {
        ffi::luaL_checkstack_(l, 2, c"too many nested functions".as_ptr());
        ffi::lua_pushvalue(l, 1);
        ffi::lua_call(l, 0, 1);
        if ffi::lua_type(l, -1) == ffi::LUA_TNIL {
            ffi::lua_settop(l, -2);
            break;
        }
        if ffi::lua_isstring(l, -1) == 0 {
            raise_here(l, c"reader function must return a string");
        }
        if ffi::lua_objlen(l, -1) == 0 {
            ffi::lua_settop(l, -2);
            break;
        }
        pieces += 1;
        if pieces == 32 {
            ffi::lua_concat(l, pieces);
            pieces = 1;
        }
    }
    if pieces == 0 {
        push_cstr(l, c"");
    } else {
        ffi::lua_concat(l, pieces);
    }
    let mut len = 0usize;
    let code = ffi::lua_tolstring(l, -1, &mut len);
    if len > 0 && *code.cast::<u8>() == 0x1b {
        return refuse_bytecode(l);
    }
    if ffi::luaL_loadbuffer(l, code, len, chunkname) != 0 {
        ffi::lua_pushnil(l);
        ffi::lua_insert(l, -2);
        return 2;
    }
    sandbox_loaded(l, 1)
}

/// Redis's `pcall` (`luaRedisPcall`): an error table caught by pcall is
/// returned as its `err` string.
///
/// # Safety
///
/// Lua calls this as a C function on a live state. The inner `lua_pcall`
/// catches the callee's errors; `lua_getfield` may run an `__index` and raise,
/// which is sound here (nothing with a destructor is live).
unsafe extern "C-unwind" fn pcall_wrapper(l: State) -> c_int {
    ffi::luaL_checkany(l, 1);
    let argc = ffi::lua_gettop(l);
    ffi::lua_pushboolean(l, 1);
    ffi::lua_insert(l, 1);
    if ffi::lua_pcall(l, argc - 1, ffi::LUA_MULTRET, 0) != 0 {
        ffi::lua_remove(l, 1);
        if ffi::lua_type(l, -1) == ffi::LUA_TTABLE {
            ffi::lua_getfield_(l, -1, c"err".as_ptr());
            if ffi::lua_isstring(l, -1) != 0 {
                ffi::lua_replace(l, -2);
            }
        }
        ffi::lua_pushboolean(l, 0);
        ffi::lua_insert(l, 1);
    }
    ffi::lua_gettop(l)
}

/// Replaces `table[name]` (a C function) by `wrapper` closing over the
/// original and, with `env`, the sandbox env.
///
/// # Safety
///
/// `l` is a live state with room for 2 slots, `table` an absolute index (or
/// pseudo-index) of a table whose `name` is a C function, `env` (if any) a
/// valid absolute index, and `wrapper` sound to call with the upvalues made
/// here (the original as upvalue 1, `env` as upvalue 2). It allocates, and
/// panics if `name` is not a C function.
unsafe fn wrap(l: State, table: c_int, name: &CStr, wrapper: ffi::lua_CFunction, env: Option<c_int>) {
    raw_get_str(l, table, name);
    let original = ffi::lua_tocfunction(l, -1).expect("a C function to wrap");
    ffi::lua_settop(l, -2);
    ffi::lua_pushlightuserdata(l, original as *mut c_void);
    let mut upvalues = 1;
    if let Some(env) = env {
        ffi::lua_pushvalue(l, env);
        upvalues = 2;
    }
    ffi::lua_pushcclosure(l, wrapper, upvalues);
    raw_set_str(l, table, name);
}

/// Opens Lua's standard libraries the way Redis does (`luaLoadLib`).
///
/// # Safety
///
/// `l` is a live state with room for 2 slots, outside any protected call: the
/// `luaopen_*` functions only allocate (a failure aborts through the panic
/// handler).
unsafe fn open_libraries(l: State) {
    let libs: [(&CStr, ffi::lua_CFunction); 6] = [
        (c"", ffi::luaopen_base),
        (c"table", ffi::luaopen_table),
        (c"string", ffi::luaopen_string),
        (c"math", ffi::luaopen_math),
        (c"debug", ffi::luaopen_debug),
        (c"os", ffi::luaopen_os),
    ];
    for (name, open) in libs {
        ffi::lua_pushcclosure(l, open, 0);
        push_cstr(l, name);
        ffi::lua_call(l, 1, 0);
    }
}

/// `REDIS_VERSION_NUM` for "major.minor.patch": 0x00MMmmpp.
fn version_num(version: &str) -> f64 {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor, patch) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    f64::from((major.min(255) << 16) | (minor.min(255) << 8) | patch.min(255))
}

/// # Safety
///
/// `l` is a live state with room for 2 slots, `table` an absolute index of a
/// table, and `ctx` the VM's `RunCtx` (the upvalue [`api::redis_log`] reads),
/// valid as long as the state. It allocates.
unsafe fn set_log_and_version(l: State, table: c_int, ctx: *mut c_void, version: &str) {
    set_closure(l, table, c"log", api::redis_log, ctx);
    set_number(l, table, c"LOG_DEBUG", 0.0);
    set_number(l, table, c"LOG_VERBOSE", 1.0);
    set_number(l, table, c"LOG_NOTICE", 2.0);
    set_number(l, table, c"LOG_WARNING", 3.0);
    set_number(l, table, c"REDIS_VERSION_NUM", version_num(version));
    push_bytes(l, version.as_bytes());
    raw_set_str(l, table, c"REDIS_VERSION");
}

/// Builds the runtime `redis` table and leaves it on the stack.
///
/// # Safety
///
/// `l` is a live state with room for 3 slots, and `ctx` the VM's `RunCtx`
/// (the upvalue the `redis` closures read), valid as long as the state. It
/// allocates.
unsafe fn push_redis_api(l: State, ctx: *mut c_void, kind: VmKind, version: &str) {
    ffi::lua_createtable(l, 0, 32);
    let t = abs_index(l, -1);
    set_closure(l, t, c"call", api::redis_call, ctx);
    set_closure(l, t, c"pcall", api::redis_pcall, ctx);
    set_log_and_version(l, t, ctx, version);
    set_closure(l, t, c"setresp", api::redis_setresp, ctx);
    set_fn(l, t, c"sha1hex", api::redis_sha1hex);
    set_fn(l, t, c"error_reply", api::redis_error_reply);
    set_fn(l, t, c"status_reply", api::redis_status_reply);
    set_closure(l, t, c"set_repl", api::redis_set_repl, ctx);
    set_number(l, t, c"REPL_NONE", 0.0);
    set_number(l, t, c"REPL_AOF", 1.0);
    set_number(l, t, c"REPL_SLAVE", 2.0);
    set_number(l, t, c"REPL_REPLICA", 2.0);
    set_number(l, t, c"REPL_ALL", 3.0);
    set_closure(l, t, c"acl_check_cmd", api::redis_acl_check_cmd, ctx);
    if kind == VmKind::Eval {
        set_fn(l, t, c"breakpoint", api::redis_breakpoint);
        set_fn(l, t, c"debug", api::redis_debug);
        set_fn(l, t, c"replicate_commands", api::redis_replicate_commands);
    }
}

/// Pushes a read-only proxy of the table at absolute index `real`.
///
/// # Safety
///
/// `l` is a live state with room for 4 slots, `real` a valid absolute index
/// (or pseudo-index), and `newindex` sound as a `__newindex` metamethod. It
/// allocates.
unsafe fn push_readonly(l: State, real: c_int, newindex: ffi::lua_CFunction) {
    ffi::lua_createtable(l, 0, 0);
    push_readonly_meta(l, real, newindex);
    ffi::lua_setmetatable(l, -2);
}

/// Pushes `{__index = real, __newindex = newindex, __metatable = false, [mark] = true}`.
///
/// # Safety
///
/// `l` is a live state with room for 3 slots, `real` a valid absolute index
/// (or pseudo-index), and `newindex` sound as a `__newindex` metamethod. It
/// allocates.
unsafe fn push_readonly_meta(l: State, real: c_int, newindex: ffi::lua_CFunction) {
    ffi::lua_createtable(l, 0, 4);
    let meta = abs_index(l, -1);
    ffi::lua_pushvalue(l, real);
    raw_set_str(l, meta, c"__index");
    set_fn(l, meta, c"__newindex", newindex);
    ffi::lua_pushboolean(l, 0);
    raw_set_str(l, meta, c"__metatable");
    ffi::lua_pushlightuserdata(l, readonly_key());
    ffi::lua_pushboolean(l, 1);
    ffi::lua_rawset(l, meta);
}

/// Replaces global `name` by a read-only proxy of it.
///
/// # Safety
///
/// `l` is a live state with room for 5 slots. It allocates.
unsafe fn protect_global(l: State, name: &CStr) {
    if raw_get_str(l, GLOBALS, name) == ffi::LUA_TTABLE {
        push_readonly(l, abs_index(l, -1), readonly_newindex);
        raw_set_str(l, GLOBALS, name);
    }
    ffi::lua_settop(l, -2);
}

const ERROR_HANDLER: &str = "local dbg = debug
debug = nil
local error_handler = function (err)
  local i = dbg.getinfo(2,'nSl')
  if i and i.what == 'C' then
    i = dbg.getinfo(3,'nSl')
  end
  if type(err) ~= 'table' then
    err = {err='ERR ' .. tostring(err)}
  end
  if i then
    err['source'] = i.source
    err['line'] = i.currentline
  end
  return err
end
return error_handler
";

/// Builds the globals of a fresh state; returns the registry references.
///
/// # Safety
///
/// `l` is a fresh live state with an empty stack (so 20 free slots; this uses
/// fewer), not inside a protected call, and `ctx` its `RunCtx`, valid as long
/// as the state: every closure that reads it as upvalue 1 keeps the pointer.
/// It only allocates, with the memory limit off; a failure aborts through the
/// panic handler.
pub(crate) unsafe fn install(l: State, ctx: *mut RunCtx, kind: VmKind) -> Refs {
    let ctx_ptr = ctx.cast::<c_void>();
    let version = (*ctx).version;
    open_libraries(l);
    for name in [c"print", c"dofile", c"loadfile", c"newproxy"] {
        ffi::lua_pushnil(l);
        raw_set_str(l, GLOBALS, name);
    }
    // os: only os.clock, as Redis 7 allows.
    raw_get_str(l, GLOBALS, c"os");
    ffi::lua_createtable(l, 0, 1);
    raw_get_str(l, abs_index(l, -2), c"clock");
    raw_set_str(l, abs_index(l, -2), c"clock");
    raw_set_str(l, GLOBALS, c"os");
    ffi::lua_settop(l, 0);

    crate::libs::install(l);

    raw_get_str(l, GLOBALS, c"math");
    set_closure(l, 1, c"random", api::math_random, ctx_ptr);
    set_closure(l, 1, c"randomseed", api::math_randomseed, ctx_ptr);
    ffi::lua_settop(l, 0);

    push_redis_api(l, ctx_ptr, kind, version);
    raw_set_str(l, GLOBALS, c"redis");

    // The error handler needs debug.getinfo; it then removes `debug`.
    assert_eq!(
        ffi::luaL_loadbuffer(l, ERROR_HANDLER.as_ptr().cast(), ERROR_HANDLER.len(), c"@err_handler_def".as_ptr()),
        0
    );
    ffi::lua_call(l, 0, 1);
    let handler = ffi::luaL_ref(l, REGISTRY);

    // The script environment.
    ffi::lua_createtable(l, 0, 0);
    let env = abs_index(l, -1);
    ffi::lua_createtable(l, 0, 4);
    let env_meta_idx = abs_index(l, -1);
    ffi::lua_pushvalue(l, GLOBALS);
    raw_set_str(l, env_meta_idx, c"__index");
    ffi::lua_pushvalue(l, GLOBALS);
    ffi::lua_pushcclosure(l, env_newindex, 1);
    raw_set_str(l, env_meta_idx, c"__newindex");
    ffi::lua_pushboolean(l, 0);
    raw_set_str(l, env_meta_idx, c"__metatable");
    ffi::lua_pushlightuserdata(l, readonly_key());
    ffi::lua_pushboolean(l, 1);
    ffi::lua_rawset(l, env_meta_idx);
    ffi::lua_pushvalue(l, env_meta_idx);
    ffi::lua_setmetatable(l, env);

    ffi::lua_pushcclosure(l, pcall_wrapper, 0);
    raw_set_str(l, GLOBALS, c"pcall");
    for name in [c"rawset", c"setmetatable"] {
        wrap(l, GLOBALS, name, guard_first_arg, None);
    }
    raw_get_str(l, GLOBALS, c"table");
    let table_lib = abs_index(l, -1);
    for name in [c"insert", c"remove", c"sort"] {
        wrap(l, table_lib, name, guard_first_arg, None);
    }
    ffi::lua_settop(l, -2);
    for name in [c"rawget", c"next"] {
        wrap(l, GLOBALS, name, through_proxy, None);
    }
    raw_get_str(l, GLOBALS, c"next");
    let next = abs_index(l, -1);
    wrap(l, GLOBALS, c"pairs", pairs_wrapper, Some(next));
    ffi::lua_settop(l, -2);
    wrap(l, GLOBALS, c"getfenv", getfenv_wrapper, Some(env));
    wrap(l, GLOBALS, c"setfenv", setfenv_wrapper, None);
    wrap(l, GLOBALS, c"loadstring", loadstring_wrapper, Some(env));
    // load_wrapper shares sandbox_loaded, which reads the env from upvalue 2.
    ffi::lua_pushlightuserdata(l, std::ptr::null_mut());
    ffi::lua_pushvalue(l, env);
    ffi::lua_pushcclosure(l, load_wrapper, 2);
    raw_set_str(l, GLOBALS, c"load");

    let load_globals = if kind == VmKind::Functions { push_load_globals(l, ctx_ptr, version) } else { ffi::LUA_NOREF };

    for name in [c"string", c"table", c"math", c"coroutine", c"os", c"redis", c"cjson", c"bit", c"struct", c"cmsgpack"]
    {
        protect_global(l, name);
    }
    protect_string_metatable(l);

    // The real globals: reading a missing name is an error.
    ffi::lua_createtable(l, 0, 2);
    set_fn(l, abs_index(l, -1), c"__index", nonexistent_global);
    ffi::lua_pushboolean(l, 0);
    raw_set_str(l, abs_index(l, -2), c"__metatable");
    ffi::lua_setmetatable(l, GLOBALS);
    ffi::lua_pushvalue(l, env);
    raw_set_str(l, GLOBALS, c"_G");

    ffi::lua_pushvalue(l, GLOBALS);
    let globals = ffi::luaL_ref(l, REGISTRY);
    ffi::lua_pushvalue(l, env_meta_idx);
    let env_meta = ffi::luaL_ref(l, REGISTRY);
    ffi::lua_pushvalue(l, env);
    let env_ref = ffi::luaL_ref(l, REGISTRY);
    ffi::lua_settop(l, 0);
    Refs { handler, env: env_ref, env_meta, globals, load_globals }
}

/// The load-time globals of function libraries: only `redis`, with
/// `register_function`, `log` and the version; any other name is an error.
///
/// # Safety
///
/// `l` is a live state with room for 6 slots, and `ctx` the VM's `RunCtx`,
/// valid as long as the state. It allocates.
unsafe fn push_load_globals(l: State, ctx: *mut c_void, version: &str) -> c_int {
    ffi::lua_createtable(l, 0, 8);
    let api_table = abs_index(l, -1);
    set_closure(l, api_table, c"register_function", api::register_function, ctx);
    set_log_and_version(l, api_table, ctx, version);
    push_error_metatable(l);
    ffi::lua_setmetatable(l, api_table);
    ffi::lua_createtable(l, 0, 1);
    let globals = abs_index(l, -1);
    push_readonly(l, api_table, readonly_newindex);
    raw_set_str(l, globals, c"redis");
    push_error_metatable(l);
    ffi::lua_setmetatable(l, globals);
    let globals_ref = ffi::luaL_ref(l, REGISTRY);
    ffi::lua_settop(l, -2);
    globals_ref
}

/// # Safety
///
/// `l` is a live state with room for 3 slots. It allocates.
unsafe fn push_error_metatable(l: State) {
    ffi::lua_createtable(l, 0, 1);
    set_fn(l, abs_index(l, -1), c"__index", nonexistent_global);
}

/// `getmetatable("")` returns a read-only proxy instead of the real string
/// metatable, whose `__index` is the real string library.
///
/// # Safety
///
/// `l` is a live state with room for 7 slots whose globals hold the `string`
/// table. It allocates.
unsafe fn protect_string_metatable(l: State) {
    push_cstr(l, c"");
    if ffi::lua_getmetatable(l, -1) == 0 {
        ffi::lua_settop(l, -2);
        return;
    }
    let meta = abs_index(l, -1);
    // The visible metatable: {__index = <string proxy>}, read-only.
    ffi::lua_createtable(l, 0, 1);
    let visible = abs_index(l, -1);
    raw_get_str(l, GLOBALS, c"string");
    raw_set_str(l, visible, c"__index");
    push_readonly(l, visible, readonly_newindex);
    raw_set_str(l, meta, c"__metatable");
    ffi::lua_settop(l, meta - 2);
}

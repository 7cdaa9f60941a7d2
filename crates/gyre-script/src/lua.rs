//! Raw Lua 5.1 plumbing shared by the crate: stack helpers, Redis-style
//! error values, and the [`lua_fn!`] wrapper every Rust function exposed
//! to Lua goes through.
//!
//! Invariants:
//! * Lua raises errors with `longjmp`. A `longjmp` may only cross Rust
//!   frames that own nothing with a destructor. Functions made with
//!   [`lua_fn!`] therefore never call a raising Lua API while they own
//!   Rust values: they return a [`LuaErr`], and the wrapper raises it after
//!   every Rust value is dropped. Only allocation failures (out of memory)
//!   can still raise from inside; those leak, they do not corrupt.
//! * Rust panics never unwind into Lua's C frames: the wrapper catches
//!   them, stashes the payload in the VM's run context (resumed by the
//!   caller once Lua is back at rest) and raises a Lua error instead.
//! * Rust code outside a protected call only uses raw table access, which
//!   cannot run metamethods, so it cannot raise.
//!
//! # Safety vocabulary
//!
//! The `# Safety` sections of the crate's `unsafe fn`s use these terms:
//! * *a live state*: `l` is a `lua_State` made by `Vm::new` (so its
//!   allocator user data is the VM's `MemAccount`, which points at the VM's
//!   `RunCtx`), not closed yet, and used by no other thread meanwhile (the
//!   `Vm` is only reached through `&mut`).
//! * *a valid index*: an acceptable index as the Lua 5.1 manual (§3.2)
//!   defines it: a stack position from 1 to the top, a negative position
//!   down to the bottom, or a pseudo-index (registry, globals, upvalue).
//!   The vendored Lua is built without `api_check`: a bad index, a wrong
//!   type where the API expects a table, or a push past the stack's room is
//!   undefined behaviour, not an error.
//! * *room for n slots*: the stack has `n` free slots above the top. Lua
//!   never checks this on a push. A C function starts with `LUA_MINSTACK`
//!   (20) free slots, and so do hooks and the main thread between calls;
//!   more goes through `lua_checkstack`.
//! * *raises*: the function raises a Lua error (`longjmp`). It must run
//!   inside a C function called by Lua (or a hook), so that a protected call
//!   catches the error, and every frame between it and that C function must
//!   own nothing with a destructor. Outside any protected call the VM's
//!   panic handler aborts the process.
//! * *allocates*: the function may allocate Lua memory, and so raise "not
//!   enough memory" when an allocation fails. While Rust code runs the
//!   memory limit is not enforced, so that is only the process allocator
//!   failing; outside a protected call it aborts (see *raises*). Any
//!   allocation may run a GC step; that runs no finalizers, because the
//!   sandbox creates no userdata with `__gc` (`newproxy` is removed).
//! * Slices from [`to_bytes`] and friends borrow a Lua string: the caller
//!   picks their lifetime, and must stop using them before the value leaves
//!   its stack slot (popped or replaced), after which Lua may collect it.

use std::ffi::CStr;
use std::os::raw::{c_char, c_int, c_void};

use mlua::ffi;

/// A Lua state pointer.
pub(crate) type State = *mut ffi::lua_State;

pub(crate) const REGISTRY: c_int = ffi::LUA_REGISTRYINDEX;
pub(crate) const GLOBALS: c_int = ffi::LUA_GLOBALSINDEX;

/// An error a Rust function raises into Lua.
pub(crate) enum LuaErr {
    /// A string error as `luaL_error` raises it: prefixed with the source
    /// position of the Lua code that called the function (`user_script:1: `).
    Msg(String),
    /// A Redis error table `{err = "ERR <message>"}`, like Redis's
    /// `luaPushError`; the error handler adds the position.
    Table(String),
    /// The value already on top of the stack.
    Top,
}

impl LuaErr {
    /// Raises the error. Consumes `self` before the `longjmp`, so nothing
    /// is left to drop.
    ///
    /// # Safety
    ///
    /// `l` is a live state, running a C function called by Lua or a hook (this
    /// raises; see the module's safety vocabulary), and the frames up to that C
    /// function own nothing with a destructor. For [`LuaErr::Top`] the error value
    /// is on top of the stack; the other variants clear the stack first, which
    /// leaves the 20 slots a C function starts with for the message.
    pub(crate) unsafe fn raise(self, l: State) -> ! {
        if !matches!(self, LuaErr::Top) {
            // What the function pushed is garbage now; dropping it also
            // guarantees stack room for the message (a C function starts
            // with LUA_MINSTACK free slots).
            ffi::lua_settop(l, 0);
        }
        match self {
            LuaErr::Msg(msg) => {
                ffi::luaL_where(l, 1);
                push_bytes(l, msg.as_bytes());
                ffi::lua_concat(l, 2);
            }
            LuaErr::Table(msg) => push_error_table(l, false, msg.as_bytes()),
            LuaErr::Top => {}
        }
        ffi::lua_error(l)
    }
}

/// Declares an `extern "C-unwind"` Lua function whose body returns
/// `Result<c_int, LuaErr>`; see the module doc for why.
macro_rules! lua_fn {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($l:ident) $body:block) => {
        $(#[$meta])*
        ///
        /// # Safety
        ///
        /// Only Lua calls this: as a C function (a closure where the body
        /// reads upvalues, as the sandbox installs it) on a live state (see
        /// `lua`'s safety vocabulary), with the arguments Lua passes.
        #[allow(unused_unsafe)]
        $vis unsafe extern "C-unwind" fn $name($l: $crate::lua::State) -> std::os::raw::c_int {
            let enforced = $crate::vm::pause_memory_limit($l);
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
                || -> Result<std::os::raw::c_int, $crate::lua::LuaErr> {
                    // SAFETY: the body runs on the frame Lua opened for
                    // this C function (the function's own contract), so
                    // `$l` is live, arguments are at 1..=top and 20 slots
                    // are free; the body raises nothing itself (it returns
                    // a LuaErr, raised by `finish` once it is dropped).
                    unsafe { $body }
                },
            ));
            $crate::lua::finish($l, enforced, outcome)
        }
    };
}

/// Turns a [`lua_fn!`] body's outcome into a return count or a raise,
/// restoring the memory limit the wrapper paused.
///
/// # Safety
///
/// Only the [`lua_fn!`] wrapper calls this, on the live state it was called
/// with, with `enforced` from its own [`crate::vm::pause_memory_limit`] call,
/// after every value the body owned is dropped. It raises (see `raise`) unless
/// the outcome is a result count.
pub(crate) unsafe fn finish(l: State, enforced: bool, outcome: std::thread::Result<Result<c_int, LuaErr>>) -> c_int {
    let over_limit = crate::vm::resume_memory_limit(l, enforced);
    let err = match outcome {
        Ok(Ok(results)) if !over_limit => return results,
        Ok(Ok(_)) => LuaErr::Msg("not enough memory".to_string()),
        Ok(Err(err)) if !over_limit => err,
        Ok(Err(_)) => LuaErr::Msg("not enough memory".to_string()),
        Err(payload) => {
            crate::vm::stash_panic(l, payload);
            LuaErr::Table("internal error in a scripting function (a Rust panic; see the server log)".to_string())
        }
    };
    err.raise(l)
}

/// Pushes `bytes` as a Lua string.
///
/// # Safety
///
/// `l` is a live state with room for 1 slot; this allocates.
#[inline]
pub(crate) unsafe fn push_bytes(l: State, bytes: &[u8]) {
    let ptr: *const u8 = if bytes.is_empty() { c"".as_ptr().cast() } else { bytes.as_ptr() };
    ffi::lua_pushlstring_(l, ptr.cast::<c_char>(), bytes.len());
}

/// Pushes a static C string.
///
/// # Safety
///
/// `l` is a live state with room for 1 slot; this allocates.
#[inline]
pub(crate) unsafe fn push_cstr(l: State, s: &CStr) {
    ffi::lua_pushstring_(l, s.as_ptr());
}

/// The bytes of the string (or number, converted in place) at `idx`.
///
/// # Safety
///
/// `l` is a live state and `idx` a valid index. The slice borrows Lua's string
/// (see the vocabulary on lifetimes). A number at `idx` is converted to a
/// string in place: never call this on a key `lua_next` resumes from. Converting
/// a number allocates.
#[inline]
pub(crate) unsafe fn to_bytes<'a>(l: State, idx: c_int) -> Option<&'a [u8]> {
    let mut len = 0usize;
    let ptr = ffi::lua_tolstring(l, idx, &mut len);
    if ptr.is_null() {
        None
    } else {
        Some(std::slice::from_raw_parts(ptr.cast::<u8>(), len))
    }
}

/// The bytes of the value at `idx` if it is a string (numbers excluded).
///
/// # Safety
///
/// `l` is a live state and `idx` a valid index; the slice borrows Lua's string
/// (see the vocabulary on lifetimes). Never allocates (strings are not converted).
#[inline]
pub(crate) unsafe fn string_at<'a>(l: State, idx: c_int) -> Option<&'a [u8]> {
    if ffi::lua_type(l, idx) == ffi::LUA_TSTRING {
        to_bytes(l, idx)
    } else {
        None
    }
}

/// `lua_isstring`: a string or a number.
///
/// # Safety
///
/// `l` is a live state and `idx` a valid index.
#[inline]
pub(crate) unsafe fn is_string(l: State, idx: c_int) -> bool {
    ffi::lua_isstring(l, idx) != 0
}

/// # Safety
///
/// `l` is a live state and `idx` a valid index; the result is an absolute index
/// (or the same pseudo-index) that stays valid across later pushes.
#[inline]
pub(crate) unsafe fn abs_index(l: State, idx: c_int) -> c_int {
    if idx < 0 && idx > REGISTRY {
        ffi::lua_gettop(l) + idx + 1
    } else {
        idx
    }
}

/// Raw `t[key]` for a table at `table` (absolute index), pushed.
///
/// # Safety
///
/// `l` is a live state with room for 1 slot; `table` is an absolute index or a
/// pseudo-index of a table (a relative one would move with the key's push). It
/// allocates (the key is interned); a raw get runs no metamethod.
#[inline]
pub(crate) unsafe fn raw_get_str(l: State, table: c_int, key: &CStr) -> c_int {
    push_cstr(l, key);
    ffi::lua_rawget_(l, table);
    ffi::lua_type(l, -1)
}

/// Raw `t[key] = <top>` for a table at `table` (absolute index); pops the value.
///
/// # Safety
///
/// `l` is a live state with room for 1 slot; the value is on top, and `table` is
/// an absolute index or a pseudo-index of a table other than that value. It
/// allocates; a string key is never nil or NaN, so the raw set cannot raise
/// otherwise.
#[inline]
pub(crate) unsafe fn raw_set_str(l: State, table: c_int, key: &CStr) {
    push_cstr(l, key);
    ffi::lua_insert(l, -2);
    ffi::lua_rawset(l, table);
}

/// Sets `t[name] = f` on the table at absolute index `table`.
///
/// # Safety
///
/// `l` is a live state with room for 2 slots; `table` is an absolute index or a
/// pseudo-index of a table; `f` is sound to call from Lua with no upvalues. It
/// allocates.
pub(crate) unsafe fn set_fn(l: State, table: c_int, name: &CStr, f: ffi::lua_CFunction) {
    ffi::lua_pushcclosure(l, f, 0);
    raw_set_str(l, table, name);
}

/// Sets `t[name] = closure(f, upvalue: light userdata ptr)`.
///
/// # Safety
///
/// `l` is a live state with room for 2 slots; `table` is an absolute index or a
/// pseudo-index of a table; `f` is sound to call from Lua with `up` as upvalue 1,
/// so `up` must stay valid as long as the state can call the closure. It
/// allocates.
pub(crate) unsafe fn set_closure(l: State, table: c_int, name: &CStr, f: ffi::lua_CFunction, up: *mut c_void) {
    ffi::lua_pushlightuserdata(l, up);
    ffi::lua_pushcclosure(l, f, 1);
    raw_set_str(l, table, name);
}

/// Sets `t[name] = n`.
///
/// # Safety
///
/// `l` is a live state with room for 2 slots; `table` is an absolute index or a
/// pseudo-index of a table. It allocates.
pub(crate) unsafe fn set_number(l: State, table: c_int, name: &CStr, n: f64) {
    ffi::lua_pushnumber(l, n);
    raw_set_str(l, table, name);
}

/// Pushes a Redis error table, as `luaPushErrorBuff` builds it: `text` is
/// either `-CODE message` (`dash`) or a plain message that gets `ERR`.
///
/// # Safety
///
/// `l` is a live state with room for 5 slots (the table, the key and three
/// pieces of the message). It allocates.
pub(crate) unsafe fn push_error_table(l: State, dash: bool, text: &[u8]) {
    let (code, msg): (&[u8], &[u8]) = if dash {
        match text.iter().position(|&b| b == b' ') {
            Some(space) => (&text[..space], &text[space + 1..]),
            None => (b"ERR", text),
        }
    } else {
        (b"ERR", text)
    };
    let msg = trim_crlf(msg);
    ffi::lua_createtable(l, 0, 2);
    push_cstr(l, c"err");
    push_bytes(l, code);
    push_cstr(l, c" ");
    push_bytes(l, msg);
    ffi::lua_concat(l, 3);
    ffi::lua_rawset(l, -3);
}

/// Trims CR and LF bytes from both ends (`sdstrim(s, "\r\n")`).
pub(crate) fn trim_crlf(mut text: &[u8]) -> &[u8] {
    while let [b'\r' | b'\n', rest @ ..] = text {
        text = rest;
    }
    while let [rest @ .., b'\r' | b'\n'] = text {
        text = rest;
    }
    text
}

/// `luaL_argerror`'s message for argument `narg` of the running C function.
///
/// # Safety
///
/// `l` is a live state. It reads the running function's name through
/// `lua_getstack` level 0 (any running function, or none, is fine) and pushes
/// nothing.
pub(crate) unsafe fn arg_error(l: State, mut narg: c_int, extra: &str) -> LuaErr {
    let mut ar: ffi::lua_Debug = std::mem::zeroed();
    if ffi::lua_getstack(l, 0, &mut ar) == 0 {
        return LuaErr::Msg(format!("bad argument #{narg} ({extra})"));
    }
    ffi::lua_getinfo(l, c"n".as_ptr(), &mut ar);
    let name = if ar.name.is_null() { "?".to_string() } else { CStr::from_ptr(ar.name).to_string_lossy().into_owned() };
    if !ar.namewhat.is_null() && CStr::from_ptr(ar.namewhat).to_bytes() == b"method" {
        narg -= 1;
        if narg == 0 {
            return LuaErr::Msg(format!("calling '{name}' on bad self ({extra})"));
        }
    }
    LuaErr::Msg(format!("bad argument #{narg} to '{name}' ({extra})"))
}

/// `luaL_typerror`: "<expected> expected, got <actual type>".
///
/// # Safety
///
/// `l` is a live state and `narg` a valid index; pushes nothing.
pub(crate) unsafe fn type_error(l: State, narg: c_int, expected: &str) -> LuaErr {
    let got = CStr::from_ptr(ffi::lua_typename(l, ffi::lua_type(l, narg))).to_string_lossy().into_owned();
    arg_error(l, narg, &format!("{expected} expected, got {got}"))
}

/// `luaL_checknumber`.
///
/// # Safety
///
/// `l` is a live state and `narg` a valid index; pushes nothing.
pub(crate) unsafe fn check_number(l: State, narg: c_int) -> Result<f64, LuaErr> {
    let n = ffi::lua_tonumber(l, narg);
    if n == 0.0 && ffi::lua_isnumber(l, narg) == 0 {
        return Err(type_error(l, narg, "number"));
    }
    Ok(n)
}

/// `luaL_checkint` (a C `(int)` cast of the number).
///
/// # Safety
///
/// `l` is a live state and `narg` a valid index; pushes nothing.
pub(crate) unsafe fn check_int(l: State, narg: c_int) -> Result<i32, LuaErr> {
    check_number(l, narg).map(crate::numfmt::c_cast_i32)
}

/// `luaL_optinteger` narrowed to an `int` as the C libraries store it.
///
/// # Safety
///
/// `l` is a live state and `narg` a valid index; pushes nothing.
pub(crate) unsafe fn opt_int(l: State, narg: c_int, default: i32) -> Result<i32, LuaErr> {
    if ffi::lua_type(l, narg) <= ffi::LUA_TNIL {
        return Ok(default);
    }
    // luaL_checkinteger truncates to lua_Integer (64-bit), then C narrows to int.
    check_number(l, narg).map(|n| crate::numfmt::c_cast_i64(n) as i32)
}

/// `luaL_checklstring`.
///
/// # Safety
///
/// As [`to_bytes`]: `l` is a live state, `narg` a valid index, the slice
/// borrows Lua's string, and a number is converted in place (allocates).
pub(crate) unsafe fn check_bytes<'a>(l: State, narg: c_int) -> Result<&'a [u8], LuaErr> {
    to_bytes(l, narg).ok_or_else(|| type_error(l, narg, "string"))
}

/// `luaL_checkstack`, as an error value.
///
/// # Safety
///
/// `l` is a live state. Growing the stack allocates.
pub(crate) unsafe fn check_stack(l: State, extra: c_int, what: &str) -> Result<(), LuaErr> {
    if ffi::lua_checkstack(l, extra) == 0 {
        return Err(LuaErr::Msg(format!("stack overflow ({what})")));
    }
    Ok(())
}

/// The light userdata in upvalue 1 of the running C closure.
///
/// # Safety
///
/// `l` is a live state running a C function (called by Lua). The result is
/// null unless the function is a closure whose upvalue 1 is a (light)
/// userdata; what it points to is the caller's to know.
#[inline]
pub(crate) unsafe fn upvalue_ptr(l: State) -> *mut c_void {
    ffi::lua_touserdata(l, ffi::lua_upvalueindex(1))
}

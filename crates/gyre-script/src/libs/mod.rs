//! The libraries Redis adds to Lua — `cjson`, `struct`, `cmsgpack`, `bit`
//! — reimplemented in Rust over the Lua C API, with the original C
//! libraries' observable behaviour (formats, edge cases, error messages).

use crate::lua::{raw_set_str, State, GLOBALS};
use mlua::ffi;

mod bit;
mod cjson;
mod cmsgpack;
mod structlib;

/// Registers the four libraries as globals.
///
/// # Safety
///
/// `l` is a live state (see `lua`'s safety vocabulary) with an empty stack,
/// outside any protected call; it only allocates (a failure aborts through the
/// panic handler). The libraries' functions read no upvalues.
pub(crate) unsafe fn install(l: State) {
    bit::push(l);
    raw_set_str(l, GLOBALS, c"bit");
    cjson::push(l);
    raw_set_str(l, GLOBALS, c"cjson");
    structlib::push(l);
    raw_set_str(l, GLOBALS, c"struct");
    cmsgpack::push(l);
    raw_set_str(l, GLOBALS, c"cmsgpack");
    ffi::lua_settop(l, 0);
}

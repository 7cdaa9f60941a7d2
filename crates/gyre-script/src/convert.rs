//! Conversions between server replies ([`Frame`]) and Lua values, exactly
//! as Redis 7.2's `redisProtocolToLuaType` and `luaReplyToRedisReply` do.
//!
//! Reply → Lua (what `redis.call` returns), by the protocol the script chose
//! with `redis.setresp`:
//! integer → number; bulk → string; status → `{ok=...}`; error →
//! `{err=...}`; RESP2 null → `false`, RESP3 null → `nil`; array → table;
//! map → `{map={k=v}}`; set → `{set={member=true}}`; double →
//! `{double=n}`; boolean → boolean; big number → `{big_number="..."}`;
//! verbatim → `{verbatim_string={format=..., string=...}}`.
//!
//! Lua → reply (what the script returns), shaped for the caller's protocol:
//! string → bulk; number → integer (truncated); boolean → `1`/null under
//! script RESP2, a boolean (or `1`/`0` for a RESP2 caller) under script
//! RESP3; tables with `err`, `ok`, `double`, `big_number`,
//! `verbatim_string`, `map`, `set` fields in that order of precedence;
//! other tables → array up to the first nil; anything else → null.
//!
//! Limits: nesting is bounded by [`NESTING_DEPTH_MAX`] and by the Lua stack;
//! deeper values become the error "reached lua stack limit" (Lua → reply)
//! or a raised error (reply → Lua).

use std::os::raw::c_int;

use bytes::Bytes;
use gyre_resp::Frame;
use mlua::ffi;

use crate::lua::{abs_index, push_bytes, push_error_table, raw_get_str, string_at, LuaErr, State};
use crate::numfmt::c_cast_i64;

/// Deepest nesting converted either way.
pub(crate) const NESTING_DEPTH_MAX: usize = 1000;

/// Pushes the Lua value of a command reply.
///
/// # Safety
///
/// `l` is a live state (see `lua`'s safety vocabulary); the function checks
/// the stack room it needs at every level (5 slots). It allocates, and a
/// `Frame` nested deeper than [`NESTING_DEPTH_MAX`] (or than the stack allows)
/// returns an error instead of raising.
pub(crate) unsafe fn push_reply(l: State, frame: &Frame, resp: u8, depth: usize) -> Result<(), LuaErr> {
    // 5 slots: an error reply's table takes that many (`push_error_table`).
    if depth >= NESTING_DEPTH_MAX || ffi::lua_checkstack(l, 5) == 0 {
        return Err(LuaErr::Table("reply is nested too deeply to convert to a Lua value".to_string()));
    }
    match frame {
        Frame::Integer(n) => ffi::lua_pushnumber(l, *n as f64),
        Frame::Bulk(data) => push_bytes(l, data),
        Frame::Simple(text) => push_field_table(l, c"ok", |l| push_bytes(l, text)),
        Frame::Error(text) => {
            push_error_table(l, true, text);
            ffi::lua_pushboolean(l, 1);
            crate::lua::raw_set_str(l, abs_index(l, -2), c"ignore_error_stats_update");
        }
        Frame::Null if resp == 2 => ffi::lua_pushboolean(l, 0),
        Frame::Null | Frame::Attribute(_) => ffi::lua_pushnil(l),
        Frame::Boolean(b) => ffi::lua_pushboolean(l, c_int::from(*b)),
        Frame::Double(v) => push_field_table(l, c"double", |l| ffi::lua_pushnumber(l, *v)),
        Frame::BigNumber(digits) => push_field_table(l, c"big_number", |l| push_bytes(l, digits)),
        Frame::Verbatim { format, text } => {
            ffi::lua_createtable(l, 0, 1);
            ffi::lua_createtable(l, 0, 2);
            push_bytes(l, text);
            crate::lua::raw_set_str(l, abs_index(l, -2), c"string");
            push_bytes(l, format);
            crate::lua::raw_set_str(l, abs_index(l, -2), c"format");
            crate::lua::raw_set_str(l, abs_index(l, -2), c"verbatim_string");
        }
        Frame::Array(items) | Frame::Push(items) => {
            ffi::lua_createtable(l, len_hint(items.len()), 0);
            for (i, item) in items.iter().enumerate() {
                push_reply(l, item, resp, depth + 1)?;
                ffi::lua_rawseti_(l, -2, (i + 1) as c_int);
            }
        }
        Frame::Map(pairs) => {
            ffi::lua_createtable(l, 0, 1);
            ffi::lua_createtable(l, 0, len_hint(pairs.len()));
            for (key, value) in pairs {
                push_reply(l, key, resp, depth + 1)?;
                push_reply(l, value, resp, depth + 1)?;
                set_checked(l)?;
            }
            crate::lua::raw_set_str(l, abs_index(l, -2), c"map");
        }
        Frame::Set(members) => {
            ffi::lua_createtable(l, 0, 1);
            ffi::lua_createtable(l, 0, len_hint(members.len()));
            for member in members {
                push_reply(l, member, resp, depth + 1)?;
                ffi::lua_pushboolean(l, 1);
                set_checked(l)?;
            }
            crate::lua::raw_set_str(l, abs_index(l, -2), c"set");
        }
    }
    Ok(())
}

fn len_hint(len: usize) -> c_int {
    len.min(1 << 20) as c_int
}

/// `t[k] = v` for `t, k, v` on top of the stack, refusing the keys Lua
/// cannot store (nil, NaN) the way `lua_settable` would, but as a value.
///
/// # Safety
///
/// `l` is a live state with a table, a key and a value on top (at -3, -2, -1).
/// It allocates; keys that would make the raw set raise are refused first.
unsafe fn set_checked(l: State) -> Result<(), LuaErr> {
    match ffi::lua_type(l, -2) {
        ffi::LUA_TNIL => return Err(LuaErr::Msg("table index is nil".to_string())),
        ffi::LUA_TNUMBER if ffi::lua_tonumber(l, -2).is_nan() => {
            return Err(LuaErr::Msg("table index is NaN".to_string()));
        }
        _ => {}
    }
    ffi::lua_rawset(l, -3);
    Ok(())
}

/// # Safety
///
/// `l` is a live state with room for 3 slots; `push_value` pushes exactly one
/// value with the 2 slots left. It allocates.
unsafe fn push_field_table(l: State, field: &std::ffi::CStr, push_value: impl FnOnce(State)) {
    ffi::lua_createtable(l, 0, 1);
    push_value(l);
    crate::lua::raw_set_str(l, abs_index(l, -2), field);
}

/// Converts the Lua value at `idx` into a reply for a caller speaking
/// `caller_resp`, with `script_resp` being what the script selected.
///
/// # Safety
///
/// `l` is a live state and `idx` a valid index. Conversion reads raw (no
/// metamethod runs), checks the stack room it needs at every level, and never
/// raises except when an allocation fails (then outside a protected call the
/// process aborts, see the vocabulary); strings are never converted in place.
pub(crate) unsafe fn reply_from_lua(l: State, idx: c_int, caller_resp: u8, script_resp: u8) -> Frame {
    let idx = abs_index(l, idx);
    Converter { l, caller_resp, script_resp }.convert(idx, 0)
}

struct Converter {
    l: State,
    caller_resp: u8,
    script_resp: u8,
}

impl Converter {
    /// # Safety
    ///
    /// `self.l` is a live state and `idx` a valid absolute index; see
    /// [`reply_from_lua`].
    unsafe fn convert(&self, idx: c_int, depth: usize) -> Frame {
        let l = self.l;
        if depth >= NESTING_DEPTH_MAX || ffi::lua_checkstack(l, 4) == 0 {
            return Frame::Error(Bytes::from_static(b"ERR reached lua stack limit"));
        }
        match ffi::lua_type(l, idx) {
            ffi::LUA_TSTRING => Frame::Bulk(Bytes::copy_from_slice(string_at(l, idx).unwrap_or_default())),
            ffi::LUA_TBOOLEAN => {
                let value = ffi::lua_toboolean(l, idx) != 0;
                if self.script_resp == 2 {
                    if value {
                        Frame::Integer(1)
                    } else {
                        Frame::Null
                    }
                } else if self.caller_resp == 3 {
                    Frame::Boolean(value)
                } else {
                    Frame::Integer(i64::from(value))
                }
            }
            ffi::LUA_TNUMBER => Frame::Integer(c_cast_i64(ffi::lua_tonumber(l, idx))),
            ffi::LUA_TTABLE => self.table(idx, depth),
            _ => Frame::Null,
        }
    }

    /// # Safety
    ///
    /// `self.l` is a live state with room for 4 slots, and `t` the absolute index
    /// of a table. The stack is left as it was.
    unsafe fn table(&self, t: c_int, depth: usize) -> Frame {
        let l = self.l;
        if raw_get_str(l, t, c"err") == ffi::LUA_TSTRING {
            let frame = error_frame(string_at(l, -1).unwrap_or_default());
            ffi::lua_settop(l, -2);
            return frame;
        }
        ffi::lua_settop(l, -2);
        if raw_get_str(l, t, c"ok") == ffi::LUA_TSTRING {
            let frame = Frame::Simple(Bytes::from(map_crlf(string_at(l, -1).unwrap_or_default())));
            ffi::lua_settop(l, -2);
            return frame;
        }
        ffi::lua_settop(l, -2);
        if raw_get_str(l, t, c"double") == ffi::LUA_TNUMBER {
            let value = ffi::lua_tonumber(l, -1);
            ffi::lua_settop(l, -2);
            return self.double(value);
        }
        ffi::lua_settop(l, -2);
        if raw_get_str(l, t, c"big_number") == ffi::LUA_TSTRING {
            let digits = Bytes::from(map_crlf(string_at(l, -1).unwrap_or_default()));
            ffi::lua_settop(l, -2);
            return if self.caller_resp == 3 { Frame::BigNumber(digits) } else { Frame::Bulk(digits) };
        }
        ffi::lua_settop(l, -2);
        if let Some(frame) = self.verbatim(t) {
            return frame;
        }
        if raw_get_str(l, t, c"map") == ffi::LUA_TTABLE {
            let frame = self.map(abs_index(l, -1), depth);
            ffi::lua_settop(l, -2);
            return frame;
        }
        ffi::lua_settop(l, -2);
        if raw_get_str(l, t, c"set") == ffi::LUA_TTABLE {
            let frame = self.set(abs_index(l, -1), depth);
            ffi::lua_settop(l, -2);
            return frame;
        }
        ffi::lua_settop(l, -2);
        self.array(t, depth)
    }

    fn double(&self, value: f64) -> Frame {
        if self.caller_resp == 3 {
            return Frame::Double(value);
        }
        let mut text = Vec::new();
        gyre_resp::format_double(value, &mut text);
        Frame::Bulk(Bytes::from(text))
    }

    /// `{verbatim_string = {format = "txt", string = "..."}}`, if well formed.
    ///
    /// # Safety
    ///
    /// `self.l` is a live state with room for 3 slots, and `t` the absolute index
    /// of a table. The stack is left as it was.
    unsafe fn verbatim(&self, t: c_int) -> Option<Frame> {
        let l = self.l;
        let top = ffi::lua_gettop(l);
        let mut frame = None;
        if raw_get_str(l, t, c"verbatim_string") == ffi::LUA_TTABLE {
            let inner = abs_index(l, -1);
            if raw_get_str(l, inner, c"format") == ffi::LUA_TSTRING
                && raw_get_str(l, inner, c"string") == ffi::LUA_TSTRING
            {
                let format_text = string_at(l, -2).unwrap_or_default();
                let text = Bytes::copy_from_slice(string_at(l, -1).unwrap_or_default());
                frame = Some(if self.caller_resp == 3 {
                    // addReplyVerbatim copies three bytes, padding with blanks.
                    let mut format = [b' '; 3];
                    for (slot, byte) in format.iter_mut().zip(format_text.iter().take_while(|&&b| b != 0)) {
                        *slot = *byte;
                    }
                    Frame::Verbatim { format, text }
                } else {
                    Frame::Bulk(text)
                });
            }
        }
        ffi::lua_settop(l, top);
        frame
    }

    /// # Safety
    ///
    /// `self.l` is a live state with room for 3 slots, and `m` the absolute index
    /// of a table. The stack is left as it was; the key `lua_next` resumes from is
    /// never converted (a copy is).
    unsafe fn map(&self, m: c_int, depth: usize) -> Frame {
        let l = self.l;
        let mut pairs = Vec::new();
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, m) != 0 {
            // Convert a copy of the key: conversion must never touch the
            // key lua_next resumes from.
            ffi::lua_pushvalue(l, -2);
            let key = self.convert(abs_index(l, -1), depth + 1);
            let value = self.convert(abs_index(l, -2), depth + 1);
            ffi::lua_settop(l, -3);
            pairs.push((key, value));
        }
        if self.caller_resp == 3 {
            Frame::Map(pairs)
        } else {
            Frame::Array(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect())
        }
    }

    /// # Safety
    ///
    /// `self.l` is a live state with room for 2 slots, and `s` the absolute index
    /// of a table. The stack is left as it was.
    unsafe fn set(&self, s: c_int, depth: usize) -> Frame {
        let l = self.l;
        let mut members = Vec::new();
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, s) != 0 {
            ffi::lua_settop(l, -2);
            ffi::lua_pushvalue(l, -1);
            members.push(self.convert(abs_index(l, -1), depth + 1));
            ffi::lua_settop(l, -2);
        }
        if self.caller_resp == 3 {
            Frame::Set(members)
        } else {
            Frame::Array(members)
        }
    }

    /// # Safety
    ///
    /// `self.l` is a live state with room for 1 slot, and `t` the absolute index
    /// of a table. The stack is left as it was.
    unsafe fn array(&self, t: c_int, depth: usize) -> Frame {
        let l = self.l;
        let mut items = Vec::new();
        let mut j: c_int = 1;
        loop {
            ffi::lua_rawgeti_(l, t, j);
            if ffi::lua_type(l, -1) == ffi::LUA_TNIL {
                ffi::lua_settop(l, -2);
                break;
            }
            items.push(self.convert(abs_index(l, -1), depth + 1));
            ffi::lua_settop(l, -2);
            j = match j.checked_add(1) {
                Some(next) => next,
                None => break,
            };
        }
        Frame::Array(items)
    }
}

/// The error reply of a `{err=...}` table: `addReplyErrorFormat("-%s")`
/// trims trailing CR/LF and turns inner ones into blanks.
pub(crate) fn error_frame(msg: &[u8]) -> Frame {
    Frame::Error(Bytes::from(map_crlf(trim_end_crlf(msg))))
}

fn trim_end_crlf(mut text: &[u8]) -> &[u8] {
    while let [rest @ .., b'\r' | b'\n'] = text {
        text = rest;
    }
    text
}

/// Replaces CR and LF by blanks (`sdsmapchars(s, "\r\n", "  ")`).
pub(crate) fn map_crlf(text: &[u8]) -> Vec<u8> {
    text.iter().map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }).collect()
}

/// A plain error frame from text (callers include the code).
pub(crate) fn err(text: impl AsRef<[u8]>) -> Frame {
    Frame::Error(Bytes::copy_from_slice(text.as_ref()))
}

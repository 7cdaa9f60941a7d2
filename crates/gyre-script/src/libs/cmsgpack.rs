//! `cmsgpack`: lua-cmsgpack 0.4 as Redis ships it — `pack(...)`,
//! `unpack(s)`, `unpack_one(s [, offset])`, `unpack_limit(s, limit [, offset])`.
//!
//! Encoding: integral numbers use the smallest integer format, other
//! numbers float32 when exact, else float64; strings use the str formats;
//! a table whose keys are exactly 1..n is an array, any other table a map;
//! tables nested deeper than 16 levels encode as nil (this also stops
//! cycles). Decoding additionally accepts the bin formats as strings (the
//! original rejects them) and refuses input nested deeper than
//! [`DECODE_DEPTH_MAX`] levels.

use std::os::raw::c_int;

use mlua::ffi;

use crate::lua::{
    abs_index, arg_error, check_bytes, check_stack, opt_int, push_bytes, push_cstr, raw_set_str, set_fn, LuaErr, State,
};
use crate::numfmt::{c_cast_i32, c_cast_i64};

/// lua-cmsgpack's `LUACMSGPACK_MAX_NESTING`.
const ENCODE_NESTING_MAX: usize = 16;
/// Deepest input nesting decoded (the original has no limit but the C stack).
const DECODE_DEPTH_MAX: usize = 1000;

fn encode_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_number(out: &mut Vec<u8>, n: f64) {
    if !n.is_infinite() && c_cast_i64(n) as f64 == n {
        encode_int(out, c_cast_i64(n));
    } else if f64::from(n as f32) == n {
        out.push(0xca);
        out.extend_from_slice(&(n as f32).to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_bytes(out: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

fn encode_header(out: &mut Vec<u8>, len: usize, fix: u8, b16: u8, b32: u8) {
    if len <= 15 {
        out.push(fix | len as u8);
    } else if len <= 0xffff {
        out.push(b16);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(b32);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

/// Encodes the value at absolute index `idx`.
///
/// # Safety
///
/// `l` is a live state (see `lua`'s safety vocabulary) and `idx` a valid
/// absolute index. Tables are read raw, and the stack room each level needs (3
/// slots) is checked; a table that cannot get it encodes as nil, as one nested
/// too deeply does. The stack is left as it was; strings are not converted.
unsafe fn encode_value(l: State, idx: c_int, out: &mut Vec<u8>, level: usize) {
    match ffi::lua_type(l, idx) {
        ffi::LUA_TSTRING => encode_bytes(out, crate::lua::string_at(l, idx).unwrap_or_default()),
        ffi::LUA_TBOOLEAN => out.push(if ffi::lua_toboolean(l, idx) != 0 { 0xc3 } else { 0xc2 }),
        ffi::LUA_TNUMBER => encode_number(out, ffi::lua_tonumber(l, idx)),
        ffi::LUA_TTABLE if level < ENCODE_NESTING_MAX && ffi::lua_checkstack(l, 3) != 0 => match array_len(l, idx) {
            Some(len) => {
                encode_header(out, len, 0x90, 0xdc, 0xdd);
                for j in 1..=len {
                    ffi::lua_rawgeti_(l, idx, j as c_int);
                    encode_value(l, abs_index(l, -1), out, level + 1);
                    ffi::lua_settop(l, -2);
                }
            }
            None => encode_map(l, idx, out, level),
        },
        _ => out.push(0xc0),
    }
}

/// # Safety
///
/// `l` is a live state with room for 2 slots and `idx` the absolute index of a
/// table. The stack is left as it was.
unsafe fn encode_map(l: State, idx: c_int, out: &mut Vec<u8>, level: usize) {
    let mut len = 0usize;
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, idx) != 0 {
        ffi::lua_settop(l, -2);
        len += 1;
    }
    encode_header(out, len, 0x80, 0xde, 0xdf);
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, idx) != 0 {
        let top = ffi::lua_gettop(l);
        encode_value(l, top - 1, out, level + 1);
        encode_value(l, top, out, level + 1);
        ffi::lua_settop(l, -2);
    }
}

/// `table_is_an_array`: Some(n) when the keys are exactly 1..n.
///
/// # Safety
///
/// `l` is a live state with room for 2 slots and `idx` the absolute index of a
/// table. The stack is left as it was.
unsafe fn array_len(l: State, idx: c_int) -> Option<usize> {
    let (mut count, mut max) = (0usize, 0usize);
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, idx) != 0 {
        ffi::lua_settop(l, -2);
        let n = ffi::lua_tonumber(l, -1);
        if ffi::lua_type(l, -1) != ffi::LUA_TNUMBER || n <= 0.0 || f64::from(c_cast_i32(n)) != n {
            ffi::lua_settop(l, -2);
            return None;
        }
        max = max.max(n as usize);
        count += 1;
    }
    (max == count).then_some(count)
}

lua_fn!(fn pack(l) {
    let argc = ffi::lua_gettop(l);
    if argc == 0 {
        return Err(arg_error(l, 0, "MessagePack pack needs input."));
    }
    let mut out = Vec::new();
    for i in 1..=argc {
        encode_value(l, i, &mut out, 0);
    }
    push_bytes(l, &out);
    Ok(1)
});

/// Why decoding stopped.
enum DecodeError {
    Eof,
    BadFormat,
    TooDeep,
    Lua(LuaErr),
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.data.len() - self.pos < n {
            return Err(DecodeError::Eof);
        }
        let bytes = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    fn be(&mut self, n: usize) -> Result<u64, DecodeError> {
        Ok(self.take(n)?.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }
}

/// Decodes one value and pushes it.
///
/// # Safety
///
/// `l` is a live state running a C function; it checks the room for every
/// value it pushes. It allocates. On an error, partial values stay on the
/// stack (the caller raises, which discards them).
unsafe fn decode_value(l: State, c: &mut Cursor<'_>, depth: usize) -> Result<(), DecodeError> {
    if depth > DECODE_DEPTH_MAX {
        return Err(DecodeError::TooDeep);
    }
    check_stack(l, 2, "too many return values at once; use unpack_one or unpack_limit instead.")
        .map_err(DecodeError::Lua)?;
    let tag = c.take(1)?[0];
    match tag {
        0xcc => ffi::lua_pushnumber(l, c.be(1)? as f64),
        0xcd => ffi::lua_pushnumber(l, c.be(2)? as f64),
        0xce => ffi::lua_pushnumber(l, c.be(4)? as f64),
        0xcf => ffi::lua_pushnumber(l, c.be(8)? as f64),
        0xd0 => ffi::lua_pushnumber(l, f64::from(c.be(1)? as u8 as i8)),
        0xd1 => ffi::lua_pushnumber(l, f64::from(c.be(2)? as u16 as i16)),
        0xd2 => ffi::lua_pushnumber(l, f64::from(c.be(4)? as u32 as i32)),
        0xd3 => ffi::lua_pushnumber(l, c.be(8)? as i64 as f64),
        0xc0 => ffi::lua_pushnil(l),
        0xc2 => ffi::lua_pushboolean(l, 0),
        0xc3 => ffi::lua_pushboolean(l, 1),
        0xca => ffi::lua_pushnumber(l, f64::from(f32::from_bits(c.be(4)? as u32))),
        0xcb => ffi::lua_pushnumber(l, f64::from_bits(c.be(8)?)),
        0xd9 | 0xc4 => push_str(l, c, 1)?,
        0xda | 0xc5 => push_str(l, c, 2)?,
        0xdb | 0xc6 => push_str(l, c, 4)?,
        0xdc => {
            let len = c.be(2)? as usize;
            decode_array(l, c, len, depth)?
        }
        0xdd => {
            let len = c.be(4)? as usize;
            decode_array(l, c, len, depth)?
        }
        0xde => {
            let len = c.be(2)? as usize;
            decode_map(l, c, len, depth)?
        }
        0xdf => {
            let len = c.be(4)? as usize;
            decode_map(l, c, len, depth)?
        }
        t if t & 0x80 == 0 => ffi::lua_pushnumber(l, f64::from(t)),
        t if t & 0xe0 == 0xe0 => ffi::lua_pushnumber(l, f64::from(t as i8)),
        t if t & 0xe0 == 0xa0 => {
            let bytes = c.take(usize::from(t & 0x1f))?;
            push_bytes(l, bytes);
        }
        t if t & 0xf0 == 0x90 => decode_array(l, c, usize::from(t & 0x0f), depth)?,
        t if t & 0xf0 == 0x80 => decode_map(l, c, usize::from(t & 0x0f), depth)?,
        _ => return Err(DecodeError::BadFormat),
    }
    Ok(())
}

/// # Safety
///
/// `l` is a live state with room for 1 slot. It allocates.
unsafe fn push_str(l: State, c: &mut Cursor<'_>, len_bytes: usize) -> Result<(), DecodeError> {
    let len = c.be(len_bytes)? as usize;
    let bytes = c.take(len)?;
    push_bytes(l, bytes);
    Ok(())
}

/// # Safety
///
/// `l` is a live state with room for 2 slots (the table and a key; each value
/// checks its own). It allocates.
unsafe fn decode_array(l: State, c: &mut Cursor<'_>, len: usize, depth: usize) -> Result<(), DecodeError> {
    ffi::lua_createtable(l, 0, 0);
    for index in 1..=len {
        ffi::lua_pushnumber(l, index as f64);
        decode_value(l, c, depth + 1)?;
        ffi::lua_rawset(l, -3);
    }
    Ok(())
}

/// # Safety
///
/// `l` is a live state with room for 1 slot (the table; each key and value
/// checks its own). It allocates.
unsafe fn decode_map(l: State, c: &mut Cursor<'_>, len: usize, depth: usize) -> Result<(), DecodeError> {
    ffi::lua_createtable(l, 0, 0);
    for _ in 0..len {
        decode_value(l, c, depth + 1)?;
        decode_value(l, c, depth + 1)?;
        // lua_settable with a nil or NaN key raises in the original; skip
        // the pair rather than raise from here.
        let key_type = ffi::lua_type(l, -2);
        if key_type == ffi::LUA_TNIL || (key_type == ffi::LUA_TNUMBER && ffi::lua_tonumber(l, -2).is_nan()) {
            ffi::lua_settop(l, -3);
            continue;
        }
        ffi::lua_rawset(l, -3);
    }
    Ok(())
}

/// `mp_unpack_full`: decodes up to `limit` values (0 with offset 0: all).
///
/// # Safety
///
/// `l` is a live state running a C function with the input at 1 and, unless
/// `limit` and `offset` are both 0, nothing above it (the next offset is
/// inserted at 2). It allocates; decoded values are the results.
unsafe fn unpack_full(l: State, limit: i32, offset: i32) -> Result<c_int, LuaErr> {
    let data = check_bytes(l, 1)?;
    let decode_all = limit == 0 && offset == 0;
    if offset < 0 || limit < 0 {
        return Err(LuaErr::Msg(format!(
            "Invalid request to unpack with offset of {offset} and limit of {}.",
            data.len()
        )));
    }
    if offset as usize > data.len() {
        return Err(LuaErr::Msg(format!("Start offset {offset} greater than input length {}.", data.len())));
    }
    let limit = if decode_all { i32::MAX } else { limit };
    let mut cursor = Cursor { data, pos: offset as usize };
    let mut count: c_int = 0;
    while cursor.pos < data.len() && count < limit {
        match decode_value(l, &mut cursor, 0) {
            Ok(()) => count += 1,
            Err(DecodeError::Eof) => return Err(LuaErr::Msg("Missing bytes in input.".to_string())),
            Err(DecodeError::BadFormat) => return Err(LuaErr::Msg("Bad data format in input.".to_string())),
            Err(DecodeError::TooDeep) => return Err(LuaErr::Msg("Input is nested too deeply.".to_string())),
            Err(DecodeError::Lua(err)) => return Err(err),
        }
    }
    if !decode_all {
        check_stack(l, 1, "in function mp_unpack_full")?;
        let next = if cursor.pos == data.len() { -1.0 } else { cursor.pos as f64 };
        ffi::lua_pushnumber(l, next);
        ffi::lua_insert(l, 2);
        count += 1;
    }
    Ok(count)
}

lua_fn!(fn unpack(l) { unpack_full(l, 0, 0) });

lua_fn!(fn unpack_one(l) {
    let offset = opt_int(l, 2, 0)?;
    ffi::lua_settop(l, 1);
    unpack_full(l, 1, offset)
});

lua_fn!(fn unpack_limit(l) {
    let limit = crate::lua::check_number(l, 2).map(|n| c_cast_i64(n) as i32)?;
    let offset = opt_int(l, 3, 0)?;
    ffi::lua_settop(l, 1);
    unpack_full(l, limit, offset)
});

/// Pushes the `cmsgpack` table.
///
/// # Safety
///
/// `l` is a live state with room for 3 slots. It allocates.
pub(super) unsafe fn push(l: State) {
    ffi::lua_createtable(l, 0, 6);
    let t = abs_index(l, -1);
    set_fn(l, t, c"pack", pack);
    set_fn(l, t, c"unpack", unpack);
    set_fn(l, t, c"unpack_one", unpack_one);
    set_fn(l, t, c"unpack_limit", unpack_limit);
    push_cstr(l, c"cmsgpack");
    raw_set_str(l, t, c"_NAME");
    push_cstr(l, c"lua-cmsgpack 0.4.0");
    raw_set_str(l, t, c"_VERSION");
}

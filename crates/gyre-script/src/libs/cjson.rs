//! `cjson`: Lua CJSON 2.1 with Redis's default configuration —
//! `encode`, `decode`, `null`.
//!
//! Encoding: numbers as `%.14g` (NaN and infinities refused), strings with
//! `/` escaped as `\/` and control bytes as `\u00XX`, tables with only
//! positive integer keys as arrays (missing slots → `null`; "excessively
//! sparse" ones — max key > 2 × count and > 10 — refused), other tables as
//! objects with string or number keys; the empty table is `{}`; nesting is
//! limited to 1000.
//!
//! Decoding: RFC 4627 JSON plus what CJSON also accepts by default
//! (numbers as C's `strtod` reads them: hex, `inf`, `nan`, leading `+` or
//! zeros); `null` becomes `cjson.null` (a NULL light userdata); nesting is
//! limited to 1000. Error messages are CJSON's, with character positions.
//!
//! Configuration functions (`encode_max_depth`, ...) report the defaults
//! and refuse changes with a clear error: Gyre keeps CJSON's configuration
//! fixed, so one script cannot change how another one encodes.

use std::ffi::CStr;
use std::os::raw::c_int;

use mlua::ffi;

use crate::lua::{abs_index, arg_error, check_bytes, push_bytes, push_cstr, raw_set_str, set_fn, LuaErr, State};
use crate::numfmt::{format_g, strtod_prefix};

const ENCODE_MAX_DEPTH: usize = 1000;
const DECODE_MAX_DEPTH: usize = 1000;
const ENCODE_NUMBER_PRECISION: usize = 14;
const SPARSE_RATIO: usize = 2;
const SPARSE_SAFE: usize = 10;

/// # Safety
///
/// `l` is a live state and `idx` a valid index.
unsafe fn type_name(l: State, idx: c_int) -> String {
    CStr::from_ptr(ffi::lua_typename(l, ffi::lua_type(l, idx))).to_string_lossy().into_owned()
}

/// `json_encode_exception`.
///
/// # Safety
///
/// `l` is a live state and `idx` a valid index.
unsafe fn encode_error(l: State, idx: c_int, reason: &str) -> LuaErr {
    LuaErr::Msg(format!("Cannot serialise {}: {reason}", type_name(l, idx)))
}

fn append_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0..=0x1f | 0x7f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 15)]);
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// # Safety
///
/// `l` is a live state and `idx` a valid index holding a number.
unsafe fn append_number(l: State, idx: c_int, out: &mut Vec<u8>) -> Result<(), LuaErr> {
    let n = ffi::lua_tonumber(l, idx);
    if n.is_nan() || n.is_infinite() {
        return Err(encode_error(l, idx, "must not be NaN or Inf"));
    }
    format_g(n, ENCODE_NUMBER_PRECISION, out);
    Ok(())
}

/// `lua_array_length`: Some(max index) for an array, None for an object.
///
/// # Safety
///
/// `l` is a live state with room for 2 slots and `t` the absolute index of a
/// table. The stack is left as it was on `Ok` (an error raises and discards it).
unsafe fn array_length(l: State, t: c_int) -> Result<Option<usize>, LuaErr> {
    let (mut max, mut items) = (0usize, 0usize);
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, t) != 0 {
        ffi::lua_settop(l, -2);
        let k = ffi::lua_tonumber(l, -1);
        if ffi::lua_type(l, -1) == ffi::LUA_TNUMBER && k != 0.0 && k.floor() == k && k >= 1.0 {
            max = max.max(k.min(usize::MAX as f64) as usize);
            items += 1;
            continue;
        }
        ffi::lua_settop(l, -2);
        return Ok(None);
    }
    if max > items.saturating_mul(SPARSE_RATIO) && max > SPARSE_SAFE {
        return Err(encode_error(l, t, "excessively sparse array"));
    }
    Ok(Some(max))
}

/// # Safety
///
/// `l` is a live state (see `lua`'s safety vocabulary) and `idx` a valid
/// absolute index. Tables are read raw and the stack room each level needs (3
/// slots) is checked. Strings are never converted in place.
unsafe fn encode_value(l: State, idx: c_int, out: &mut Vec<u8>, depth: usize) -> Result<(), LuaErr> {
    match ffi::lua_type(l, idx) {
        ffi::LUA_TSTRING => append_string(out, crate::lua::string_at(l, idx).unwrap_or_default()),
        ffi::LUA_TNUMBER => append_number(l, idx, out)?,
        ffi::LUA_TBOOLEAN => out.extend_from_slice(if ffi::lua_toboolean(l, idx) != 0 { b"true" } else { b"false" }),
        ffi::LUA_TNIL => out.extend_from_slice(b"null"),
        ffi::LUA_TLIGHTUSERDATA if ffi::lua_touserdata(l, idx).is_null() => out.extend_from_slice(b"null"),
        ffi::LUA_TTABLE => {
            let depth = depth + 1;
            if depth > ENCODE_MAX_DEPTH || ffi::lua_checkstack(l, 3) == 0 {
                return Err(LuaErr::Msg(format!("Cannot serialise, excessive nesting ({depth})")));
            }
            match array_length(l, idx)? {
                Some(len) if len > 0 => encode_array(l, idx, len, out, depth)?,
                _ => encode_object(l, idx, out, depth)?,
            }
        }
        _ => return Err(encode_error(l, idx, "type not supported")),
    }
    Ok(())
}

/// # Safety
///
/// `l` is a live state with room for 1 slot and `t` the absolute index of a
/// table.
unsafe fn encode_array(l: State, t: c_int, len: usize, out: &mut Vec<u8>, depth: usize) -> Result<(), LuaErr> {
    out.push(b'[');
    for i in 1..=len {
        if i > 1 {
            out.push(b',');
        }
        ffi::lua_rawgeti_(l, t, i as c_int);
        encode_value(l, abs_index(l, -1), out, depth)?;
        ffi::lua_settop(l, -2);
    }
    out.push(b']');
    Ok(())
}

/// # Safety
///
/// `l` is a live state with room for 2 slots and `t` the absolute index of a
/// table; the key `lua_next` resumes from is only read (numbers with
/// `lua_tonumber`), never converted.
unsafe fn encode_object(l: State, t: c_int, out: &mut Vec<u8>, depth: usize) -> Result<(), LuaErr> {
    out.push(b'{');
    let mut first = true;
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, t) != 0 {
        if !first {
            out.push(b',');
        }
        first = false;
        let key = abs_index(l, -2);
        match ffi::lua_type(l, key) {
            ffi::LUA_TSTRING => append_string(out, crate::lua::string_at(l, key).unwrap_or_default()),
            ffi::LUA_TNUMBER => {
                out.push(b'"');
                append_number(l, key, out)?;
                out.push(b'"');
            }
            _ => return Err(encode_error(l, key, "table key must be a number or string")),
        }
        out.push(b':');
        encode_value(l, abs_index(l, -1), out, depth)?;
        ffi::lua_settop(l, -2);
    }
    out.push(b'}');
    Ok(())
}

lua_fn!(fn encode(l) {
    if ffi::lua_gettop(l) != 1 {
        return Err(arg_error(l, 1, "expected 1 argument"));
    }
    let mut out = Vec::new();
    encode_value(l, 1, &mut out, 0)?;
    push_bytes(l, &out);
    Ok(1)
});

/// A JSON token.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Token {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str,
    Number(f64),
    Boolean(bool),
    Null,
    Colon,
    Comma,
    End,
    Error(&'static str),
}

impl Token {
    /// How CJSON names a token in "but found ..." messages.
    fn name(self) -> &'static str {
        match self {
            Token::ObjBegin => "T_OBJ_BEGIN",
            Token::ObjEnd => "T_OBJ_END",
            Token::ArrBegin => "T_ARR_BEGIN",
            Token::ArrEnd => "T_ARR_END",
            Token::Str => "T_STRING",
            Token::Number(_) => "T_NUMBER",
            Token::Boolean(_) => "T_BOOLEAN",
            Token::Null => "T_NULL",
            Token::Colon => "T_COLON",
            Token::Comma => "T_COMMA",
            Token::End => "T_END",
            Token::Error(msg) => msg,
        }
    }
}

struct Parser<'a> {
    data: &'a [u8],
    pos: usize,
    depth: usize,
    /// The decoded text of the last string token.
    text: Vec<u8>,
}

impl Parser<'_> {
    /// The byte at `i`, NUL past the end (the input is a C string).
    fn at(&self, i: usize) -> u8 {
        self.data.get(i).copied().unwrap_or(0)
    }

    /// The next token and the index where it starts (or where it failed).
    fn next_token(&mut self) -> (Token, usize) {
        while matches!(self.at(self.pos), b' ' | b'\t' | b'\r' | b'\n') {
            self.pos += 1;
        }
        let start = self.pos;
        let single = match self.at(self.pos) {
            b'{' => Some(Token::ObjBegin),
            b'}' => Some(Token::ObjEnd),
            b'[' => Some(Token::ArrBegin),
            b']' => Some(Token::ArrEnd),
            b',' => Some(Token::Comma),
            b':' => Some(Token::Colon),
            0 => return (Token::End, start),
            _ => None,
        };
        if let Some(token) = single {
            self.pos += 1;
            return (token, start);
        }
        let c = self.at(self.pos);
        let rest = &self.data[self.pos..];
        if c == b'"' {
            return self.string_token(start);
        }
        if c == b'-' || c.is_ascii_digit() {
            return self.number_token(start);
        }
        for (word, token) in
            [(b"true".as_slice(), Token::Boolean(true)), (b"false", Token::Boolean(false)), (b"null", Token::Null)]
        {
            if rest.starts_with(word) {
                self.pos += word.len();
                return (token, start);
            }
        }
        if is_invalid_number(rest) {
            return self.number_token(start);
        }
        (Token::Error("invalid token"), self.pos)
    }

    fn number_token(&mut self, start: usize) -> (Token, usize) {
        let (value, consumed) = strtod_prefix(&self.data[self.pos..]);
        if consumed == 0 {
            return (Token::Error("invalid number"), self.pos);
        }
        self.pos += consumed;
        (Token::Number(value), start)
    }

    fn string_token(&mut self, start: usize) -> (Token, usize) {
        self.pos += 1;
        self.text.clear();
        loop {
            let c = self.at(self.pos);
            if c == b'"' {
                break;
            }
            if c == 0 && self.pos >= self.data.len() {
                return (Token::Error("unexpected end of string"), self.pos);
            }
            if c == 0 {
                // A NUL inside the data ends the C string there.
                return (Token::Error("unexpected end of string"), self.pos);
            }
            if c == b'\\' {
                let escaped = match self.at(self.pos + 1) {
                    b'"' => b'"',
                    b'\\' => b'\\',
                    b'/' => b'/',
                    b'b' => 0x08,
                    b'f' => 0x0c,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'u' => {
                        if !self.unicode_escape() {
                            return (Token::Error("invalid unicode escape code"), self.pos);
                        }
                        continue;
                    }
                    _ => return (Token::Error("invalid escape code"), self.pos),
                };
                self.text.push(escaped);
                self.pos += 2;
                continue;
            }
            self.text.push(c);
            self.pos += 1;
        }
        self.pos += 1;
        (Token::Str, start)
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let digits = self.data.get(at..at + 4)?;
        let text = std::str::from_utf8(digits).ok()?;
        if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(text, 16).ok()
    }

    /// `json_append_unicode_escape`: `\uXXXX` (and surrogate pairs) as UTF-8.
    fn unicode_escape(&mut self) -> bool {
        let Some(mut code) = self.hex4(self.pos + 2) else { return false };
        let mut escape_len = 6;
        if code & 0xF800 == 0xD800 {
            if code & 0x400 != 0 {
                return false;
            }
            if self.at(self.pos + 6) != b'\\' || self.at(self.pos + 7) != b'u' {
                return false;
            }
            let Some(low) = self.hex4(self.pos + 8) else { return false };
            if low & 0xFC00 != 0xDC00 {
                return false;
            }
            code = (((code & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
            escape_len = 12;
        }
        let Some(ch) = char::from_u32(code) else { return false };
        let mut buf = [0u8; 4];
        self.text.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        self.pos += escape_len;
        true
    }
}

/// `json_is_invalid_number`: what only the lenient decoder accepts.
fn is_invalid_number(text: &[u8]) -> bool {
    let mut p = text;
    if p.first() == Some(&b'+') {
        return true;
    }
    if p.first() == Some(&b'-') {
        p = &p[1..];
    }
    match p.first() {
        Some(b'0') => {
            let next = p.get(1).copied().unwrap_or(0);
            (next | 0x20) == b'x' || next.is_ascii_digit()
        }
        Some(&c) if c <= b'9' => false,
        _ => p.len() >= 3 && (p[..3].eq_ignore_ascii_case(b"inf") || p[..3].eq_ignore_ascii_case(b"nan")),
    }
}

fn parse_error(expected: &str, token: Token, index: usize) -> LuaErr {
    LuaErr::Msg(format!("Expected {expected} but found {} at character {}", token.name(), index + 1))
}

/// Pushes the value starting with `token`.
///
/// # Safety
///
/// `l` is a live state with room for 1 slot; nested values check their own
/// room. It allocates. On an error, partial values stay on the stack (the
/// caller raises, which discards them).
unsafe fn decode_value(l: State, p: &mut Parser<'_>, token: (Token, usize)) -> Result<(), LuaErr> {
    match token.0 {
        Token::Str => push_bytes(l, &p.text),
        Token::Number(n) => ffi::lua_pushnumber(l, n),
        Token::Boolean(b) => ffi::lua_pushboolean(l, c_int::from(b)),
        Token::Null => ffi::lua_pushlightuserdata(l, std::ptr::null_mut()),
        Token::ObjBegin => decode_object(l, p)?,
        Token::ArrBegin => decode_array(l, p)?,
        _ => return Err(parse_error("value", token.0, token.1)),
    }
    Ok(())
}

/// `json_decode_descend`.
///
/// # Safety
///
/// `l` is a live state. Growing the stack allocates.
unsafe fn descend(l: State, p: &mut Parser<'_>, slots: c_int) -> Result<(), LuaErr> {
    p.depth += 1;
    if p.depth <= DECODE_MAX_DEPTH && ffi::lua_checkstack(l, slots) != 0 {
        return Ok(());
    }
    Err(LuaErr::Msg(format!("Found too many nested data structures ({}) at character {}", p.depth, p.pos)))
}

/// # Safety
///
/// `l` is a live state; [`descend`] checks the 3 slots it needs. It allocates.
unsafe fn decode_object(l: State, p: &mut Parser<'_>) -> Result<(), LuaErr> {
    descend(l, p, 3)?;
    ffi::lua_createtable(l, 0, 0);
    let mut token = p.next_token();
    if token.0 == Token::ObjEnd {
        p.depth -= 1;
        return Ok(());
    }
    loop {
        if token.0 != Token::Str {
            return Err(parse_error("object key string", token.0, token.1));
        }
        push_bytes(l, &p.text);
        token = p.next_token();
        if token.0 != Token::Colon {
            return Err(parse_error("colon", token.0, token.1));
        }
        token = p.next_token();
        decode_value(l, p, token)?;
        ffi::lua_rawset(l, -3);
        token = p.next_token();
        if token.0 == Token::ObjEnd {
            p.depth -= 1;
            return Ok(());
        }
        if token.0 != Token::Comma {
            return Err(parse_error("comma or object end", token.0, token.1));
        }
        token = p.next_token();
    }
}

/// # Safety
///
/// `l` is a live state; [`descend`] checks the 2 slots it needs. It allocates.
unsafe fn decode_array(l: State, p: &mut Parser<'_>) -> Result<(), LuaErr> {
    descend(l, p, 2)?;
    ffi::lua_createtable(l, 0, 0);
    let mut token = p.next_token();
    if token.0 == Token::ArrEnd {
        p.depth -= 1;
        return Ok(());
    }
    let mut i: c_int = 1;
    loop {
        decode_value(l, p, token)?;
        ffi::lua_rawseti_(l, -2, i);
        i = i.saturating_add(1);
        token = p.next_token();
        if token.0 == Token::ArrEnd {
            p.depth -= 1;
            return Ok(());
        }
        if token.0 != Token::Comma {
            return Err(parse_error("comma or array end", token.0, token.1));
        }
        token = p.next_token();
    }
}

lua_fn!(fn decode(l) {
    if ffi::lua_gettop(l) != 1 {
        return Err(arg_error(l, 1, "expected 1 argument"));
    }
    let data = check_bytes(l, 1)?;
    if data.len() >= 2 && (data[0] == 0 || data[1] == 0) {
        return Err(LuaErr::Msg("JSON parser does not support UTF-16 or UTF-32".to_string()));
    }
    let mut parser = Parser { data, pos: 0, depth: 0, text: Vec::new() };
    let token = parser.next_token();
    decode_value(l, &mut parser, token)?;
    let token = parser.next_token();
    if token.0 != Token::End {
        return Err(parse_error("the end", token.0, token.1));
    }
    Ok(1)
});

/// Configuration getters: report CJSON's defaults; changing them is refused.
///
/// # Safety
///
/// `l` is a live state running a C function, with room for `values.len()`
/// slots (at most 3, of the 20 a C function has).
unsafe fn config(l: State, name: &str, values: &[ConfigValue]) -> Result<c_int, LuaErr> {
    if ffi::lua_gettop(l) > 0 {
        return Err(LuaErr::Msg(format!("cjson.{name}: changing the CJSON configuration is not supported by Gyre")));
    }
    for value in values {
        match value {
            ConfigValue::Number(n) => ffi::lua_pushnumber(l, *n),
            ConfigValue::Bool(b) => ffi::lua_pushboolean(l, c_int::from(*b)),
        }
    }
    Ok(values.len() as c_int)
}

enum ConfigValue {
    Number(f64),
    Bool(bool),
}

lua_fn!(fn encode_sparse_array(l) {
    config(l, "encode_sparse_array", &[ConfigValue::Bool(false), ConfigValue::Number(2.0), ConfigValue::Number(10.0)])
});
lua_fn!(fn encode_max_depth(l) { config(l, "encode_max_depth", &[ConfigValue::Number(ENCODE_MAX_DEPTH as f64)]) });
lua_fn!(fn decode_max_depth(l) { config(l, "decode_max_depth", &[ConfigValue::Number(DECODE_MAX_DEPTH as f64)]) });
lua_fn!(fn encode_number_precision(l) {
    config(l, "encode_number_precision", &[ConfigValue::Number(ENCODE_NUMBER_PRECISION as f64)])
});
lua_fn!(fn encode_keep_buffer(l) { config(l, "encode_keep_buffer", &[ConfigValue::Bool(true)]) });
lua_fn!(fn encode_invalid_numbers(l) { config(l, "encode_invalid_numbers", &[ConfigValue::Bool(false)]) });
lua_fn!(fn decode_invalid_numbers(l) { config(l, "decode_invalid_numbers", &[ConfigValue::Bool(true)]) });
lua_fn!(fn new_instance(_l) {
    Err(LuaErr::Msg("cjson.new: separate CJSON instances are not supported by Gyre".to_string()))
});

/// Pushes the `cjson` table.
///
/// # Safety
///
/// `l` is a live state with room for 3 slots. It allocates.
pub(super) unsafe fn push(l: State) {
    ffi::lua_createtable(l, 0, 14);
    let t = abs_index(l, -1);
    set_fn(l, t, c"encode", encode);
    set_fn(l, t, c"decode", decode);
    set_fn(l, t, c"encode_sparse_array", encode_sparse_array);
    set_fn(l, t, c"encode_max_depth", encode_max_depth);
    set_fn(l, t, c"decode_max_depth", decode_max_depth);
    set_fn(l, t, c"encode_number_precision", encode_number_precision);
    set_fn(l, t, c"encode_keep_buffer", encode_keep_buffer);
    set_fn(l, t, c"encode_invalid_numbers", encode_invalid_numbers);
    set_fn(l, t, c"decode_invalid_numbers", decode_invalid_numbers);
    set_fn(l, t, c"new", new_instance);
    ffi::lua_pushlightuserdata(l, std::ptr::null_mut());
    raw_set_str(l, t, c"null");
    push_cstr(l, c"cjson");
    raw_set_str(l, t, c"_NAME");
    push_cstr(l, c"2.1.0");
    raw_set_str(l, t, c"_VERSION");
}

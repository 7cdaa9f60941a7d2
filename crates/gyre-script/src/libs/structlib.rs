//! `struct`: Roberto Ierusalimschy's struct library (0.2, as Redis ships
//! it) — `pack`, `unpack`, `size` with `<` `>` `!n` `x` `b/B` `h/H` `l/L`
//! `T` `i/In` `I/In` `cn` `s` `f` `d` and blanks, on x86-64 sizes
//! (short 2, int 4, long 8, size_t 8, maximum alignment 8, native little
//! endian).

use std::os::raw::c_int;

use mlua::ffi;

use crate::lua::{
    abs_index, arg_error, check_bytes, check_number, check_stack, opt_int, push_bytes, set_fn, LuaErr, State,
};
use crate::numfmt::c_cast_i64;

/// Largest `i`/`I` size.
const MAXINTSIZE: usize = 32;
/// Default `!` alignment: max(alignof(double) padding, sizeof(int)).
const MAXALIGN: usize = 8;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endian {
    Big,
    Little,
}

struct Header {
    endian: Endian,
    align: usize,
}

impl Header {
    fn new() -> Header {
        Header { endian: Endian::Little, align: 1 }
    }
}

/// A format string being read; `pos` is the next byte.
struct Format<'a> {
    fmt: &'a [u8],
    pos: usize,
}

impl Format<'_> {
    fn next_opt(&mut self) -> Option<u8> {
        // The format is a C string: it ends at the first NUL.
        let c = *self.fmt.get(self.pos)?;
        if c == 0 {
            return None;
        }
        self.pos += 1;
        Some(c)
    }

    /// `getnum`: a decimal number at the cursor, or `default`.
    fn num(&mut self, default: usize) -> Result<usize, LuaErr> {
        if !self.fmt.get(self.pos).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut a: i64 = 0;
        while let Some(&d) = self.fmt.get(self.pos).filter(|d| d.is_ascii_digit()) {
            let digit = i64::from(d - b'0');
            if a > i64::from(i32::MAX) / 10 || a * 10 > i64::from(i32::MAX) - digit {
                return Err(LuaErr::Msg("integral size overflow".to_string()));
            }
            a = a * 10 + digit;
            self.pos += 1;
        }
        Ok(a as usize)
    }

    /// `optsize`: the size of option `opt`, reading its count if any.
    fn size(&mut self, opt: u8) -> Result<usize, LuaErr> {
        Ok(match opt {
            b'B' | b'b' => 1,
            b'H' | b'h' => 2,
            b'L' | b'l' | b'T' => 8,
            b'f' => 4,
            b'd' => 8,
            b'x' => 1,
            b'c' => self.num(1)?,
            b'i' | b'I' => {
                let size = self.num(4)?;
                if size > MAXINTSIZE {
                    return Err(LuaErr::Msg(format!("integral size {size} is larger than limit of {MAXINTSIZE}")));
                }
                size
            }
            _ => 0,
        })
    }
}

/// `gettoalign`: padding before an item of `size` at offset `len`.
fn to_align(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size.wrapping_sub(len & size.wrapping_sub(1))) & size.wrapping_sub(1)
}

/// `controloptions`: blanks, endianness, alignment; anything else is invalid.
///
/// # Safety
///
/// `l` is a live state (see `lua`'s safety vocabulary) running a C function;
/// pushes nothing.
unsafe fn control(l: State, opt: u8, fmt: &mut Format<'_>, h: &mut Header) -> Result<(), LuaErr> {
    match opt {
        b' ' => {}
        b'>' => h.endian = Endian::Big,
        b'<' => h.endian = Endian::Little,
        b'!' => {
            let align = fmt.num(MAXALIGN)?;
            if !align.is_power_of_two() {
                return Err(LuaErr::Msg(format!("alignment {align} is not a power of 2")));
            }
            h.align = align;
        }
        other => return Err(arg_error(l, 1, &format!("invalid format option '{}'", other as char))),
    }
    Ok(())
}

fn put_integer(out: &mut Vec<u8>, n: f64, endian: Endian, size: usize) {
    let mut value: u64 = if n < 0.0 { c_cast_i64(n) as u64 } else { n as u64 };
    let mut bytes = [0u8; MAXINTSIZE];
    for byte in bytes[..size].iter_mut() {
        *byte = (value & 0xff) as u8;
        value >>= 8;
    }
    if endian == Endian::Big {
        bytes[..size].reverse();
    }
    out.extend_from_slice(&bytes[..size]);
}

fn get_integer(data: &[u8], endian: Endian, signed: bool, size: usize) -> f64 {
    let mut value: u64 = 0;
    for i in 0..size {
        let byte = if endian == Endian::Big { data[i] } else { data[size - 1 - i] };
        value = (value << 8) | u64::from(byte);
    }
    if !signed {
        return value as f64;
    }
    // x86 masks the shift count, as the C code's (undefined) shift does.
    let mask = u64::MAX.wrapping_shl((size * 8).wrapping_sub(1) as u32);
    if value & mask != 0 {
        value |= mask;
    }
    value as i64 as f64
}

lua_fn!(fn pack(l) {
    let fmt = check_bytes(l, 1)?;
    let mut fmt = Format { fmt, pos: 0 };
    let mut h = Header::new();
    let mut arg: c_int = 2;
    let mut out = Vec::new();
    while let Some(opt) = fmt.next_opt() {
        let mut size = fmt.size(opt)?;
        let pad = to_align(out.len(), &h, opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = check_number(l, arg)?;
                arg += 1;
                put_integer(&mut out, n, h.endian, size);
            }
            b'x' => out.push(0),
            b'f' => {
                let f = check_number(l, arg)? as f32;
                arg += 1;
                let bytes = if h.endian == Endian::Big { f.to_be_bytes() } else { f.to_le_bytes() };
                out.extend_from_slice(&bytes);
            }
            b'd' => {
                let d = check_number(l, arg)?;
                arg += 1;
                let bytes = if h.endian == Endian::Big { d.to_be_bytes() } else { d.to_le_bytes() };
                out.extend_from_slice(&bytes);
            }
            b'c' | b's' => {
                let s = check_bytes(l, arg)?;
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    return Err(arg_error(l, arg, "string too short"));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => control(l, opt, &mut fmt, &mut h)?,
        }
    }
    push_bytes(l, &out);
    Ok(1)
});

lua_fn!(fn unpack(l) {
    let fmt = check_bytes(l, 1)?;
    let data = check_bytes(l, 2)?;
    let start = opt_int(l, 3, 1)?;
    if start <= 0 {
        return Err(arg_error(l, 3, "offset must be 1 or greater"));
    }
    let mut pos = start as usize - 1;
    let mut fmt = Format { fmt, pos: 0 };
    let mut h = Header::new();
    let mut results: c_int = 0;
    while let Some(opt) = fmt.next_opt() {
        let mut size = fmt.size(opt)?;
        pos += to_align(pos, &h, opt, size);
        if size > data.len() || pos > data.len() - size {
            return Err(arg_error(l, 2, "data string too short"));
        }
        check_stack(l, 2, "too many results")?;
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let signed = opt.is_ascii_lowercase();
                ffi::lua_pushnumber(l, get_integer(&data[pos..], h.endian, signed, size));
                results += 1;
            }
            b'x' => {}
            b'f' => {
                let bytes: [u8; 4] = data[pos..pos + 4].try_into().expect("4 bytes");
                let f = if h.endian == Endian::Big { f32::from_be_bytes(bytes) } else { f32::from_le_bytes(bytes) };
                ffi::lua_pushnumber(l, f64::from(f));
                results += 1;
            }
            b'd' => {
                let bytes: [u8; 8] = data[pos..pos + 8].try_into().expect("8 bytes");
                let d = if h.endian == Endian::Big { f64::from_be_bytes(bytes) } else { f64::from_le_bytes(bytes) };
                ffi::lua_pushnumber(l, d);
                results += 1;
            }
            b'c' => {
                if size == 0 {
                    if results == 0 || ffi::lua_isnumber(l, -1) == 0 {
                        return Err(LuaErr::Msg("format 'c0' needs a previous size".to_string()));
                    }
                    size = ffi::lua_tonumber(l, -1) as usize;
                    ffi::lua_settop(l, -2);
                    results -= 1;
                    if size > data.len() || pos > data.len() - size {
                        return Err(arg_error(l, 2, "data string too short"));
                    }
                }
                push_bytes(l, &data[pos..pos + size]);
                results += 1;
            }
            b's' => {
                let Some(nul) = data[pos..].iter().position(|&b| b == 0) else {
                    return Err(LuaErr::Msg("unfinished string in data".to_string()));
                };
                push_bytes(l, &data[pos..pos + nul]);
                size = nul + 1;
                results += 1;
            }
            _ => control(l, opt, &mut fmt, &mut h)?,
        }
        pos += size;
    }
    ffi::lua_pushinteger(l, (pos + 1) as ffi::lua_Integer);
    Ok(results + 1)
});

lua_fn!(fn size(l) {
    let fmt = check_bytes(l, 1)?;
    let mut fmt = Format { fmt, pos: 0 };
    let mut h = Header::new();
    let mut pos = 0usize;
    while let Some(opt) = fmt.next_opt() {
        let size = fmt.size(opt)?;
        pos += to_align(pos, &h, opt, size);
        if opt == b's' {
            return Err(arg_error(l, 1, "option 's' has no fixed size"));
        } else if opt == b'c' && size == 0 {
            return Err(arg_error(l, 1, "option 'c0' has no fixed size"));
        }
        if !opt.is_ascii_alphanumeric() {
            control(l, opt, &mut fmt, &mut h)?;
        }
        pos += size;
    }
    ffi::lua_pushinteger(l, pos as ffi::lua_Integer);
    Ok(1)
});

/// Pushes the `struct` table.
///
/// # Safety
///
/// `l` is a live state with room for 3 slots. It allocates.
pub(super) unsafe fn push(l: State) {
    ffi::lua_createtable(l, 0, 3);
    let t = abs_index(l, -1);
    set_fn(l, t, c"pack", pack);
    set_fn(l, t, c"unpack", unpack);
    set_fn(l, t, c"size", size);
}

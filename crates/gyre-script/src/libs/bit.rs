//! `bit`: LuaBitOp 1.0.2. Operands are converted to 32-bit integers the
//! way LuaBitOp does (adding 2^52+2^51 and taking the low word, i.e. round
//! to nearest, modulo 2^32); results are signed 32-bit numbers.

use std::os::raw::c_int;

use mlua::ffi;

use crate::lua::{abs_index, push_bytes, set_fn, type_error, LuaErr, State};

/// LuaBitOp's `barg`.
///
/// # Safety
///
/// `l` is a live state and `idx` a valid index; pushes nothing.
unsafe fn barg(l: State, idx: c_int) -> Result<u32, LuaErr> {
    let n = ffi::lua_tonumber(l, idx);
    let bits = (n + 6_755_399_441_055_744.0).to_bits() as u32;
    if bits == 0 && ffi::lua_isnumber(l, idx) == 0 {
        return Err(type_error(l, idx, "number"));
    }
    Ok(bits)
}

/// # Safety
///
/// `l` is a live state with room for 1 slot.
unsafe fn ret(l: State, bits: u32) -> Result<c_int, LuaErr> {
    ffi::lua_pushnumber(l, f64::from(bits as i32));
    Ok(1)
}

lua_fn!(fn tobit(l) { ret(l, barg(l, 1)?) });
lua_fn!(fn bnot(l) { ret(l, !barg(l, 1)?) });

/// # Safety
///
/// `l` is a live state running a C function (arguments at 1..=top) with room
/// for 1 slot.
unsafe fn fold(l: State, op: fn(u32, u32) -> u32) -> Result<c_int, LuaErr> {
    let mut acc = barg(l, 1)?;
    let mut i = ffi::lua_gettop(l);
    while i > 1 {
        acc = op(acc, barg(l, i)?);
        i -= 1;
    }
    ret(l, acc)
}

lua_fn!(fn band(l) { fold(l, |a, b| a & b) });
lua_fn!(fn bor(l) { fold(l, |a, b| a | b) });
lua_fn!(fn bxor(l) { fold(l, |a, b| a ^ b) });

/// # Safety
///
/// `l` is a live state running a C function (arguments at 1 and 2) with room
/// for 1 slot.
unsafe fn shift(l: State, op: fn(u32, u32) -> u32) -> Result<c_int, LuaErr> {
    let value = barg(l, 1)?;
    let count = barg(l, 2)? & 31;
    ret(l, op(value, count))
}

lua_fn!(fn lshift(l) { shift(l, |b, n| b << n) });
lua_fn!(fn rshift(l) { shift(l, |b, n| b >> n) });
lua_fn!(fn arshift(l) { shift(l, |b, n| ((b as i32) >> n) as u32) });
lua_fn!(fn rol(l) { shift(l, u32::rotate_left) });
lua_fn!(fn ror(l) { shift(l, u32::rotate_right) });
lua_fn!(fn bswap(l) { ret(l, barg(l, 1)?.swap_bytes()) });

lua_fn!(fn tohex(l) {
    let mut value = barg(l, 1)?;
    let mut digits = if ffi::lua_type(l, 2) == ffi::LUA_TNONE { 8 } else { barg(l, 2)? as i32 };
    let alphabet: &[u8; 16] = if digits < 0 { b"0123456789ABCDEF" } else { b"0123456789abcdef" };
    digits = digits.unsigned_abs().min(8) as i32;
    let mut buf = [0u8; 8];
    for slot in buf[..digits as usize].iter_mut().rev() {
        *slot = alphabet[(value & 15) as usize];
        value >>= 4;
    }
    push_bytes(l, &buf[..digits as usize]);
    Ok(1)
});

/// Pushes the `bit` table.
///
/// # Safety
///
/// `l` is a live state with room for 3 slots. It allocates.
pub(super) unsafe fn push(l: State) {
    ffi::lua_createtable(l, 0, 12);
    let t = abs_index(l, -1);
    set_fn(l, t, c"tobit", tobit);
    set_fn(l, t, c"bnot", bnot);
    set_fn(l, t, c"band", band);
    set_fn(l, t, c"bor", bor);
    set_fn(l, t, c"bxor", bxor);
    set_fn(l, t, c"lshift", lshift);
    set_fn(l, t, c"rshift", rshift);
    set_fn(l, t, c"arshift", arshift);
    set_fn(l, t, c"rol", rol);
    set_fn(l, t, c"ror", ror);
    set_fn(l, t, c"bswap", bswap);
    set_fn(l, t, c"tohex", tohex);
}

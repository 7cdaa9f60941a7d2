//! The `redis` table (`call`, `pcall`, `log`, `setresp`, ...), Redis's
//! `math.random`, and `redis.register_function` for FUNCTION LOAD.
//! Error values and messages are Redis 7.2's (`script_lua.c`, `eval.c`,
//! `function_lua.c`).

use std::os::raw::c_int;
use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::Bytes;
use gyre_resp::Frame;
use mlua::ffi;

use crate::convert::push_reply;
use crate::flags::{is_valid_name, ScriptFlags};
use crate::lua::{check_int, is_string, push_bytes, push_cstr, push_error_table, to_bytes, upvalue_ptr, LuaErr, State};
use crate::numfmt::{c_cast_i32, format_g};
use crate::vm::{Registered, RunCtx};

/// The run context carried as upvalue 1.
///
/// # Safety
///
/// `l` is a live state (see `lua`'s safety vocabulary) running a closure whose
/// upvalue 1 is the VM's `RunCtx` (the sandbox installs every function that
/// calls this that way). The caller picks `'a`: it must end before the function
/// returns, and no other reference to the context may be used meanwhile (the
/// hook does not run while a C function runs, and a `Host` never calls back
/// into the `Scripting`).
#[inline]
unsafe fn ctx<'a>(l: State) -> &'a mut RunCtx {
    &mut *upvalue_ptr(l).cast::<RunCtx>()
}

/// Replaces number arguments of `redis.call` by their `%.17g` text, in
/// place on the stack, as `luaArgsToRedisArgv` does. False if an argument
/// is neither a string nor a number.
///
/// # Safety
///
/// `l` is a live state running a C function with at least `argc` arguments
/// and room for 1 slot. It allocates.
unsafe fn normalize_args(l: State, argc: c_int) -> bool {
    let mut number = Vec::new();
    for i in 1..=argc {
        match ffi::lua_type(l, i) {
            ffi::LUA_TNUMBER => {
                number.clear();
                format_g(ffi::lua_tonumber(l, i), 17, &mut number);
                push_bytes(l, &number);
                ffi::lua_replace(l, i);
            }
            ffi::LUA_TSTRING => {}
            _ => return false,
        }
    }
    true
}

/// Calls `f` with the (normalized) arguments as byte slices into the Lua
/// stack, without allocating for the common short commands.
///
/// # Safety
///
/// `l` is a live state whose positions 1..=`argc` hold strings (as
/// [`normalize_args`] leaves them), so nothing is converted; the slices given
/// to `f` borrow them, and `f` must not change the Lua stack.
unsafe fn with_args<T>(l: State, argc: c_int, f: impl FnOnce(&[&[u8]]) -> T) -> T {
    const INLINE: usize = 8;
    let argc = argc as usize;
    if argc <= INLINE {
        let mut inline: [&[u8]; INLINE] = [&[]; INLINE];
        for (i, slot) in inline[..argc].iter_mut().enumerate() {
            *slot = to_bytes(l, i as c_int + 1).unwrap_or_default();
        }
        f(&inline[..argc])
    } else {
        let args: Vec<&[u8]> = (1..=argc as c_int).map(|i| to_bytes(l, i).unwrap_or_default()).collect();
        f(&args)
    }
}

/// Runs a host callback, turning a panic into a stashed payload and an error.
fn host_guarded<T>(ctx: &mut RunCtx, f: impl FnOnce() -> T) -> Result<T, LuaErr> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        ctx.stash(payload);
        LuaErr::Table("internal error while running the command (a panic; see the server log)".to_string())
    })
}

/// # Safety
///
/// `l` is a live state running `redis.call` or `redis.pcall` (a closure with
/// the `RunCtx` as upvalue 1), with no reference to the context live. It
/// allocates.
unsafe fn generic_call(l: State, raise: bool) -> Result<c_int, LuaErr> {
    let ctx = ctx(l);
    let Some(host) = ctx.host() else {
        return Err(LuaErr::Table("redis.call/pcall can only be called inside a script invocation".to_string()));
    };
    let argc = ffi::lua_gettop(l);
    if argc == 0 {
        return Err(LuaErr::Table("Please specify at least one argument for this redis lib call".to_string()));
    }
    if !normalize_args(l, argc) {
        ffi::lua_settop(l, 0);
        push_error_table(l, false, b"Lua redis lib command arguments must be strings or integers");
        return if raise { Err(LuaErr::Top) } else { Ok(1) };
    }
    let resp = ctx.resp;
    let reply = with_args(l, argc, |args| host_guarded(ctx, || (*host).call(args, resp)))?;
    ffi::lua_settop(l, 0);
    let is_error = matches!(reply, Frame::Error(_));
    push_reply(l, &reply, resp, 0)?;
    drop(reply);
    if raise && is_error {
        return Err(LuaErr::Top);
    }
    Ok(1)
}

lua_fn!(pub(crate) fn redis_call(l) { generic_call(l, true) });
lua_fn!(pub(crate) fn redis_pcall(l) { generic_call(l, false) });

lua_fn!(pub(crate) fn redis_sha1hex(l) {
    if ffi::lua_gettop(l) != 1 {
        return Err(LuaErr::Table("wrong number of arguments".to_string()));
    }
    let digest = crate::sha1_hex(to_bytes(l, 1).unwrap_or_default());
    push_bytes(l, digest.as_bytes());
    Ok(1)
});

lua_fn!(pub(crate) fn redis_error_reply(l) {
    if ffi::lua_gettop(l) != 1 || ffi::lua_type(l, -1) != ffi::LUA_TSTRING {
        push_error_table(l, false, b"wrong number or type of arguments");
        return Ok(1);
    }
    let text = to_bytes(l, -1).unwrap_or_default();
    push_error_table(l, true, text.strip_prefix(b"-").unwrap_or(text));
    Ok(1)
});

lua_fn!(pub(crate) fn redis_status_reply(l) {
    if ffi::lua_gettop(l) != 1 || ffi::lua_type(l, -1) != ffi::LUA_TSTRING {
        push_error_table(l, false, b"wrong number or type of arguments");
        return Ok(1);
    }
    ffi::lua_createtable(l, 0, 1);
    push_cstr(l, c"ok");
    ffi::lua_pushvalue(l, -3);
    ffi::lua_rawset(l, -3);
    Ok(1)
});

lua_fn!(pub(crate) fn redis_setresp(l) {
    let ctx = ctx(l);
    if ctx.host().is_none() {
        return Err(LuaErr::Table("redis.setresp can only be called inside a script invocation".to_string()));
    }
    let argc = ffi::lua_gettop(l);
    if argc != 1 {
        return Err(LuaErr::Table("redis.setresp() requires one argument.".to_string()));
    }
    match c_cast_i32(ffi::lua_tonumber(l, -argc)) {
        resp @ (2 | 3) => ctx.resp = resp as u8,
        _ => return Err(LuaErr::Table("RESP version must be 2 or 3.".to_string())),
    }
    Ok(0)
});

lua_fn!(pub(crate) fn redis_set_repl(l) {
    if ctx(l).host().is_none() {
        return Err(LuaErr::Table("redis.set_repl can only be called inside a script invocation".to_string()));
    }
    if ffi::lua_gettop(l) != 1 {
        // Redis's wording.
        return Err(LuaErr::Table("redis.set_repl() requires two arguments.".to_string()));
    }
    let flags = c_cast_i32(ffi::lua_tonumber(l, -1));
    if flags & !3 != 0 {
        return Err(LuaErr::Table(
            "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.".to_string(),
        ));
    }
    // Gyre replicates effects (mutations), never scripts: nothing to select.
    Ok(0)
});

lua_fn!(pub(crate) fn redis_log(l) {
    let argc = ffi::lua_gettop(l);
    if argc < 2 {
        return Err(LuaErr::Table("redis.log() requires two arguments or more.".to_string()));
    }
    if ffi::lua_isnumber(l, 1) == 0 {
        return Err(LuaErr::Table("First argument must be a number (log level).".to_string()));
    }
    let level = c_cast_i32(ffi::lua_tonumber(l, 1));
    if !(0..=3).contains(&level) {
        return Err(LuaErr::Table("Invalid debug level.".to_string()));
    }
    let ctx = ctx(l);
    // During FUNCTION LOAD there is no host to log to; Redis would log.
    let Some(host) = ctx.host() else { return Ok(0) };
    let mut msg = Vec::new();
    for j in 2..=argc {
        if let Some(part) = to_bytes(l, j) {
            if j != 2 {
                msg.push(b' ');
            }
            msg.extend_from_slice(part);
        }
    }
    let text = String::from_utf8_lossy(&msg);
    host_guarded(ctx, || (*host).log(level as u8, &text))?;
    Ok(0)
});

lua_fn!(pub(crate) fn redis_acl_check_cmd(l) {
    let ctx = ctx(l);
    let Some(host) = ctx.host() else {
        return Err(LuaErr::Table("redis.acl_check_cmd can only be called inside a script invocation".to_string()));
    };
    let argc = ffi::lua_gettop(l);
    if argc == 0 {
        return Err(LuaErr::Table("Please specify at least one argument for this redis lib call".to_string()));
    }
    if !normalize_args(l, argc) {
        return Err(LuaErr::Table("Lua redis lib command arguments must be strings or integers".to_string()));
    }
    let answer = with_args(l, argc, |args| host_guarded(ctx, || (*host).acl_check_cmd(args)))?;
    match answer {
        Ok(allowed) => {
            ffi::lua_pushboolean(l, c_int::from(allowed));
            Ok(1)
        }
        Err(frame) => {
            let text = match &frame {
                Frame::Error(text) => text.clone(),
                _ => Bytes::from_static(b"ERR Invalid command passed to redis.acl_check_cmd()"),
            };
            drop(frame);
            push_error_table(l, true, &text);
            drop(text);
            Err(LuaErr::Top)
        }
    }
});

lua_fn!(pub(crate) fn redis_breakpoint(l) {
    // No debugger session is ever active in Gyre.
    ffi::lua_pushboolean(l, 0);
    Ok(1)
});

lua_fn!(pub(crate) fn redis_debug(_l) { Ok(0) });

lua_fn!(pub(crate) fn redis_replicate_commands(l) {
    ffi::lua_pushboolean(l, 1);
    Ok(1)
});

lua_fn!(pub(crate) fn math_random(l) {
    let ctx = ctx(l);
    if ctx.host().is_none() {
        return Err(LuaErr::Msg("math.random can only be called inside a script invocation".to_string()));
    }
    const LRAND48_MAX: i32 = i32::MAX;
    let r = f64::from(ctx.rng.next() % LRAND48_MAX) / f64::from(LRAND48_MAX);
    match ffi::lua_gettop(l) {
        0 => ffi::lua_pushnumber(l, r),
        1 => {
            let upper = check_int(l, 1)?;
            if upper < 1 {
                return Err(crate::lua::arg_error(l, 1, "interval is empty"));
            }
            ffi::lua_pushnumber(l, (r * f64::from(upper)).floor() + 1.0);
        }
        2 => {
            let lower = check_int(l, 1)?;
            let upper = check_int(l, 2)?;
            if lower > upper {
                return Err(crate::lua::arg_error(l, 2, "interval is empty"));
            }
            let span = f64::from(upper) - f64::from(lower) + 1.0;
            ffi::lua_pushnumber(l, (r * span).floor() + f64::from(lower));
        }
        _ => return Err(LuaErr::Msg("wrong number of arguments".to_string())),
    }
    Ok(1)
});

lua_fn!(pub(crate) fn math_randomseed(l) {
    let ctx = ctx(l);
    if ctx.host().is_none() {
        return Err(LuaErr::Msg("math.randomseed can only be called inside a script invocation".to_string()));
    }
    let seed = check_int(l, 1)?;
    ctx.rng.seed(seed);
    Ok(0)
});

lua_fn!(pub(crate) fn register_function(l) {
    let ctx = ctx(l);
    let Some(load) = ctx.load.as_mut() else {
        return Err(LuaErr::Table("redis.register_function can only be called on FUNCTION LOAD command".to_string()));
    };
    let registered = match ffi::lua_gettop(l) {
        1 => read_named_args(l)?,
        2 => read_positional_args(l)?,
        _ => return Err(LuaErr::Table("wrong number of arguments to redis.register_function".to_string())),
    };
    let problem = if !is_valid_name(registered.name.as_bytes()) {
        Some("Function names can only contain letters, numbers, or underscores(_) and must be at least one character long")
    } else if load.functions.iter().any(|f| f.name.eq_ignore_ascii_case(&registered.name)) {
        Some("Function already exists in the library")
    } else {
        None
    };
    if let Some(problem) = problem {
        ffi::luaL_unref(l, crate::lua::REGISTRY, registered.func_ref);
        return Err(LuaErr::Table(problem.to_string()));
    }
    load.functions.push(registered);
    Ok(0)
});

/// `redis.register_function{function_name=..., callback=..., flags=..., description=...}`.
///
/// # Safety
///
/// `l` is a live state running `redis.register_function` with its one
/// argument at 1 (any type) and room for 4 slots (it has 19). It allocates;
/// the registry references it takes are released on every error path.
unsafe fn read_named_args(l: State) -> Result<Registered, LuaErr> {
    if ffi::lua_type(l, 1) != ffi::LUA_TTABLE {
        return Err(LuaErr::Table(
            "calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments)."
                .to_string(),
        ));
    }
    let mut name: Option<Vec<u8>> = None;
    let mut description: Option<Bytes> = None;
    let mut callback: Option<c_int> = None;
    let mut flags = ScriptFlags::empty();
    let result = (|| {
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, 1) != 0 {
            if !is_string(l, -2) {
                return Err("named argument key given to redis.register_function is not a string");
            }
            ffi::lua_pushvalue(l, -2);
            let key = to_bytes(l, -1).unwrap_or_default().to_ascii_lowercase();
            ffi::lua_settop(l, -2);
            match key.as_slice() {
                b"function_name" => {
                    if !is_string(l, -1) {
                        return Err("function_name argument given to redis.register_function must be a string");
                    }
                    name = Some(value_bytes(l));
                }
                b"description" => {
                    if !is_string(l, -1) {
                        return Err("description argument given to redis.register_function must be a string");
                    }
                    description = Some(Bytes::from(value_bytes(l)));
                }
                b"callback" => {
                    if ffi::lua_type(l, -1) != ffi::LUA_TFUNCTION {
                        return Err("callback argument given to redis.register_function must be a function");
                    }
                    ffi::lua_pushvalue(l, -1);
                    if let Some(old) = callback.replace(ffi::luaL_ref(l, crate::lua::REGISTRY)) {
                        ffi::luaL_unref(l, crate::lua::REGISTRY, old);
                    }
                }
                b"flags" => {
                    if ffi::lua_type(l, -1) != ffi::LUA_TTABLE {
                        return Err(
                            "flags argument to redis.register_function must be a table representing function flags",
                        );
                    }
                    flags = read_flags(l).ok_or("unknown flag given")?;
                }
                _ => return Err("unknown argument given to redis.register_function"),
            }
            ffi::lua_settop(l, -2);
        }
        let name = name.take().ok_or("redis.register_function must get a function name argument")?;
        let func_ref = callback.take().ok_or("redis.register_function must get a callback argument")?;
        Ok(Registered {
            name: String::from_utf8_lossy(&name).into_owned(),
            description: description.take(),
            flags,
            func_ref,
        })
    })();
    result.map_err(|msg| {
        if let Some(func_ref) = callback {
            ffi::luaL_unref(l, crate::lua::REGISTRY, func_ref);
        }
        LuaErr::Table(msg.to_string())
    })
}

/// The string (or number) value on top of the stack, converting a copy.
///
/// # Safety
///
/// `l` is a live state with a value on top and room for 1 slot. It allocates.
unsafe fn value_bytes(l: State) -> Vec<u8> {
    ffi::lua_pushvalue(l, -1);
    let bytes = to_bytes(l, -1).unwrap_or_default().to_vec();
    ffi::lua_settop(l, -2);
    bytes
}

/// The flags array on top of the stack; None on an unknown flag.
///
/// # Safety
///
/// `l` is a live state with a table on top and room for 2 slots. It allocates.
unsafe fn read_flags(l: State) -> Option<ScriptFlags> {
    let mut flags = ScriptFlags::empty();
    let mut j: c_int = 1;
    loop {
        ffi::lua_rawgeti_(l, -1, j);
        if ffi::lua_type(l, -1) == ffi::LUA_TNIL {
            ffi::lua_settop(l, -2);
            return Some(flags);
        }
        let flag = if is_string(l, -1) { ScriptFlags::from_name_caseless(&value_bytes(l)) } else { None };
        ffi::lua_settop(l, -2);
        flags = flags.union(flag?);
        j += 1;
    }
}

/// `redis.register_function('name', callback)`.
///
/// # Safety
///
/// `l` is a live state running `redis.register_function` with its two
/// arguments at 1 and 2, and room for 1 slot. It allocates.
unsafe fn read_positional_args(l: State) -> Result<Registered, LuaErr> {
    if !is_string(l, 1) {
        return Err(LuaErr::Table("first argument to redis.register_function must be a string".to_string()));
    }
    if ffi::lua_type(l, 2) != ffi::LUA_TFUNCTION {
        return Err(LuaErr::Table("second argument to redis.register_function must be a function".to_string()));
    }
    ffi::lua_pushvalue(l, 1);
    let name = String::from_utf8_lossy(to_bytes(l, -1).unwrap_or_default()).into_owned();
    ffi::lua_settop(l, -2);
    ffi::lua_pushvalue(l, 2);
    let func_ref = ffi::luaL_ref(l, crate::lua::REGISTRY);
    Ok(Registered { name, description: None, flags: ScriptFlags::empty(), func_ref })
}

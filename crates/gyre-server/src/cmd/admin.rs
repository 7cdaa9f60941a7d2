//! Server commands a Redis client or test suite expects to find, answered as
//! a standalone Redis 7.2 with no replicas and no modules answers them: ROLE,
//! LOLWUT, MODULE (LIST, LOAD, LOADEX, UNLOAD, HELP), REPLICAOF/SLAVEOF (a
//! clear error: replication is Gyre's cluster mode), WAIT, WAITAOF and MEMORY
//! MALLOC-STATS (jemalloc's own report).

use std::sync::atomic::Ordering;

use gyre_resp::Protocol;

use super::flags::*;
use super::introspect::help_reply;
use super::server::REDIS_VERSION;
use super::table::{cmd, NOKEYS};
use super::{err, BlockSpec, Call, CmdError, CmdResult, CommandSpec, Group, TimeoutReply};

/// ROLE: a standalone server is a master with no replicas.
pub fn role(call: &mut Call<'_>) -> CmdResult {
    call.out.array(3);
    call.out.bulk(b"master");
    call.out.integer(0);
    call.out.array(0);
    Ok(())
}

/// Redis's `rand()`: 0..=RAND_MAX (2^31 - 1).
fn c_rand() -> i64 {
    i64::from(rand::random::<u32>() >> 1)
}

const RAND_MAX: f32 = 2_147_483_647.0;

/// A canvas of small integer colours (LOLWUT's `lwCanvas`).
struct Canvas {
    width: i64,
    height: i64,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: i64, height: i64, bg: u8) -> Canvas {
        Canvas { width, height, pixels: vec![bg; (width * height) as usize] }
    }

    fn set(&mut self, x: i64, y: i64, c: u8) {
        if x >= 0 && x < self.width && y >= 0 && y < self.height {
            self.pixels[(x + y * self.width) as usize] = c;
        }
    }

    fn get(&self, x: i64, y: i64) -> u8 {
        if x >= 0 && x < self.width && y >= 0 && y < self.height {
            self.pixels[(x + y * self.width) as usize]
        } else {
            0
        }
    }

    fn line(&mut self, mut x1: i64, mut y1: i64, x2: i64, y2: i64, c: u8) {
        let (dx, dy) = ((x2 - x1).abs(), (y2 - y1).abs());
        let (sx, sy) = (if x1 < x2 { 1 } else { -1 }, if y1 < y2 { 1 } else { -1 });
        let mut e = dx - dy;
        loop {
            self.set(x1, y1, c);
            if x1 == x2 && y1 == y2 {
                break;
            }
            let e2 = e * 2;
            if e2 > -dy {
                e -= dy;
                x1 += sx;
            }
            if e2 < dx {
                e += dx;
                y1 += sy;
            }
        }
    }

    fn square(&mut self, x: i64, y: i64, size: f32, angle: f32, c: u8) {
        let size = (size / std::f32::consts::SQRT_2).round();
        let mut k = std::f32::consts::FRAC_PI_4 + angle;
        let mut p = [(0i64, 0i64); 4];
        for pt in &mut p {
            *pt = ((k.sin() * size + x as f32).round() as i64, (k.cos() * size + y as f32).round() as i64);
            k += std::f32::consts::FRAC_PI_2;
        }
        for j in 0..4 {
            self.line(p[j].0, p[j].1, p[(j + 1) % 4].0, p[(j + 1) % 4].1, c);
        }
    }
}

/// LOLWUT version 5: Georg Nees's "Schotter" in braille characters.
fn lolwut5(cols: i64, per_row: i64, per_col: i64) -> String {
    let width = cols * 2;
    let padding = if width > 4 { 2 } else { 0 };
    let side = (width - padding * 2) as f32 / per_row as f32;
    let height = (side * per_col as f32) as i64 + padding * 2;
    let mut c = Canvas::new(width, height, 0);
    for y in 0..per_col {
        for x in 0..per_row {
            let mut sx = (x as f32 * side + side / 2.0) as i64 + padding;
            let mut sy = (y as f32 * side + side / 2.0) as i64 + padding;
            let mut angle = 0.0f32;
            if y > 1 {
                let r = || c_rand() as f32 / RAND_MAX / per_col as f32 * y as f32;
                let (mut r1, mut r2, mut r3) = (r(), r(), r());
                if c_rand() % 2 == 1 {
                    r1 = -r1;
                }
                if c_rand() % 2 == 1 {
                    r2 = -r2;
                }
                if c_rand() % 2 == 1 {
                    r3 = -r3;
                }
                angle = r1;
                sx += (r2 * side / 3.0) as i64;
                sy += (r3 * side / 3.0) as i64;
            }
            c.square(sx, sy, side, angle, 1);
        }
    }
    let mut text = String::new();
    let mut y = 0;
    while y < c.height {
        let mut x = 0;
        while x < c.width {
            let bits = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (0, 3), (1, 3)];
            let mut byte = 0u32;
            for (i, (dx, dy)) in bits.iter().enumerate() {
                if c.get(x + dx, y + dy) != 0 {
                    byte |= 1 << i;
                }
            }
            text.push(char::from_u32(0x2800 + byte).expect("braille block"));
            x += 2;
        }
        if y != c.height - 1 {
            text.push('\n');
        }
        y += 4;
    }
    text + "\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. " + REDIS_VERSION + "\n"
}

/// LOLWUT version 6: a skyline in terminal colours.
fn lolwut6(cols: i64, rows: i64) -> String {
    let mut c = Canvas::new(cols, rows, 3);
    let skyscraper = |c: &mut Canvas, xoff: i64, width: i64, height: i64, windows: bool, color: u8| {
        let starty = c.height - 1;
        let endy = starty - height + 1;
        let mut y = starty;
        while y >= endy {
            for x in xoff..xoff + width {
                if y == endy && (x <= xoff + 1 || x >= xoff + width - 2) {
                    continue;
                }
                let mut col = color;
                if windows && x > xoff + 1 && x < xoff + width - 2 && y > endy + 1 && y < starty - 1 {
                    let (relx, rely) = (x - (xoff + 1), y - (endy + 1));
                    if (relx / 2) % 2 != 0 && rely % 2 != 0 {
                        loop {
                            col = (1 + c_rand() % 2) as u8;
                            if col != color {
                                break;
                            }
                        }
                        if relx % 2 != 0 {
                            col = c.get(x - 1, y);
                        }
                    }
                }
                c.set(x, y, col);
            }
            y -= 1;
        }
    };
    for color in [2u8, 1] {
        let mut offset = -10;
        while offset < c.width {
            offset += c_rand() % 8;
            let width = 10 + c_rand() % 9;
            let height = if color == 2 {
                c.height / 2 + (c_rand() % c.height) / 2
            } else {
                c.height / 2 + (c_rand() % c.height) / 3
            };
            skyscraper(&mut c, offset, width, height, false, color);
            offset += if color == 2 { width / 2 } else { width + 1 };
        }
    }
    let mut offset = -10;
    while offset < c.width {
        offset += c_rand() % 8;
        let mut width = 5 + c_rand() % 14;
        if width % 4 != 0 {
            width += width % 3;
        }
        let height = c.height / 3 + (c_rand() % c.height) / 2;
        skyscraper(&mut c, offset, width, height, true, 0);
        offset += width + 5;
    }
    let mut text = String::new();
    for y in 0..c.height {
        for x in 0..c.width {
            let ce = match c.get(x, y) {
                1 => "0;90;100m",
                2 => "0;37;47m",
                3 => "0;97;107m",
                _ => "0;30;40m",
            };
            text.push_str(&format!("\x1b[{ce} \x1b[0m"));
        }
        if y != c.height - 1 {
            text.push('\n');
        }
    }
    text + "\nDedicated to the 8 bit game developers of past and present.\nOriginal 8 bit image from Plaguemon by hikikomori. Redis ver. "
        + REDIS_VERSION
        + "\n"
}

/// LOLWUT [VERSION version] [version-specific numbers]: Redis 7's default is
/// the version line; VERSION 5 and 6 draw their art.
pub fn lolwut(call: &mut Call<'_>) -> CmdResult {
    let mut version = REDIS_VERSION.to_string();
    let mut first = 1;
    if call.argc() >= 3 && call.arg_is(1, "VERSION") {
        let v = call.int_arg(2)?;
        version = format!("{}.0.0", v as u32);
        first = 3;
    }
    let nums: Vec<i64> = (first..call.argc()).map(|i| call.int_arg(i)).collect::<Result<_, _>>()?;
    let num = |i: usize, default: i64, max: i64| nums.get(i).copied().unwrap_or(default).clamp(1, max);
    let v = version.as_bytes();
    // Redis's rule: 5.x (and 4.9) draw version 5, 6.x (and 5.9) version 6.
    let kind = match (v[0], v[1] == b'.', v[2] == b'9') {
        (b'5', true, false) | (b'4', true, true) => 5,
        (b'6', true, false) | (b'5', true, true) => 6,
        _ => 0,
    };
    let text = match kind {
        5 => lolwut5(num(0, 66, 1000), num(1, 8, 200), num(2, 12, 200)),
        6 => lolwut6(num(0, 80, 1000), num(1, 20, 1000)),
        _ => format!("Redis ver. {REDIS_VERSION}\n"),
    };
    call.out.verbatim(b"txt", text.as_bytes());
    Ok(())
}

/// MODULE LIST: no modules.
fn module_list(call: &mut Call<'_>) -> CmdResult {
    call.out.array(0);
    Ok(())
}

fn module_load(_call: &mut Call<'_>) -> CmdResult {
    Err(err("ERR Gyre does not load Redis modules: the module API is not supported"))
}

fn module_unload(call: &mut Call<'_>) -> CmdResult {
    let name = super::printable(call.arg(2), 128);
    Err(CmdError::Msg(format!("ERR Error unloading module: no such module with that name ('{name}')")))
}

fn module_help(call: &mut Call<'_>) -> CmdResult {
    help_reply(call, "MODULE", MODULE_SUBS);
    Ok(())
}

/// REPLICAOF / SLAVEOF: Gyre replicates in cluster mode, not by this command.
pub fn replicaof(call: &mut Call<'_>) -> CmdResult {
    let name = String::from_utf8_lossy(call.arg(0)).to_ascii_uppercase();
    Err(CmdError::Msg(format!(
        "ERR {name} is not supported: Gyre replicates through its cluster mode (hash slots with replica sets), not by making one server a replica of another"
    )))
}

/// WAIT numreplicas timeout. In a cluster: how many replicas hold this
/// client's writes (every write already waited for `write-consistency`
/// copies; WAIT asks for more), waiting up to the timeout for `numreplicas`.
/// A standalone server has no replicas, so the count is 0; asked for more, the client waits out its timeout (forever for
/// 0) as in Redis, or answers at once inside MULTI or a script. No flags and
/// ACL category `@connection` (not `@blocking`), as Redis 7.2 declares it,
/// although it blocks; the HTTP API refuses it by name.
pub fn wait(call: &mut Call<'_>) -> CmdResult {
    let wanted = call.int_arg(1)?;
    let ms = gyre_engine::num::parse_i64(call.arg(2)).ok_or(err("ERR timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(err("ERR timeout is negative"));
    }
    let timeout = (ms > 0).then(|| std::time::Duration::from_millis(ms as u64));
    if let Some(face) = call.shared.cluster.get() {
        // In a cluster: the replicas holding this client's writes. Those of
        // earlier batches were committed before their replies left; this
        // batch's are committed when the client blocks.
        let held = face.replication.holding(None, call.shared.persistence.taps.position());
        if (call.log.is_empty() && held as i64 >= wanted) || call.client.in_exec {
            call.out.integer(if call.log.is_empty() { held as i64 } else { 0 });
            return Ok(());
        }
        let timeout_reply = TimeoutReply::WaitReplicas { wanted };
        return Err(CmdError::Block(BlockSpec { keys: Vec::new(), timeout, timeout_reply, argv: None }));
    }
    if wanted <= 0 || call.client.in_exec {
        call.out.integer(0);
        return Ok(());
    }
    Err(CmdError::Block(BlockSpec { keys: Vec::new(), timeout, timeout_reply: TimeoutReply::Integer(0), argv: None }))
}

/// WAITAOF numlocal numreplicas timeout, as Redis 7.2: `[numlocal,
/// numreplicas]`, numlocal 1 once this client's writes are fsynced to the
/// log (at once under `appendfsync always`, whose replies already waited
/// for that; within a second under `everysec`; never under `no`, as in
/// Redis); numreplicas, in a cluster, the replicas that fsynced them to
/// their own logs (a replica tells its primary as its fsyncs cover what it
/// acknowledged), and 0 on a standalone server. Asked for more than that,
/// the client waits until it is reached or for its timeout (forever for
/// 0), or answers at once inside MULTI. Flagged NOSCRIPT only, category
/// `@connection`, as in Redis 7.2 (see WAIT).
pub fn waitaof(call: &mut Call<'_>) -> CmdResult {
    let numlocal = call.int_arg(1)?;
    if !(0..=1).contains(&numlocal) {
        return Err(err("ERR value is out of range, value must between 0 and 1"));
    }
    let numreplicas = call.int_arg(2)?;
    if numreplicas < 0 {
        return Err(err("ERR value is out of range, must be positive"));
    }
    let ms = gyre_engine::num::parse_i64(call.arg(3)).ok_or(err("ERR timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(err("ERR timeout is negative"));
    }
    let wal = call.shared.persistence.wal.as_ref();
    if numlocal == 1 && wal.is_none() {
        return Err(err("ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled."));
    }
    // Records of earlier batches were written before their replies left;
    // writes of this batch (still in `call.log`) are not in the log yet.
    let unsynced = &call.client.info.aof_unsynced;
    let synced = wal.is_some_and(|w| {
        call.log.is_empty() && (!unsynced.load(Ordering::Relaxed) || w.synced_lsn() >= w.written_lsn())
    });
    if synced {
        unsynced.store(false, Ordering::Relaxed);
    }
    let local = i64::from(synced);
    // Those of earlier batches were committed before their replies left.
    let replicas = match call.shared.cluster.get() {
        Some(face) if call.log.is_empty() => {
            face.replication.holding_synced(call.shared.persistence.taps.position()) as i64
        }
        _ => 0,
    };
    if (local >= numlocal && replicas >= numreplicas) || call.client.in_exec {
        call.out.array(2);
        call.out.integer(local);
        call.out.integer(replicas);
        return Ok(());
    }
    let timeout = (ms > 0).then(|| std::time::Duration::from_millis(ms as u64));
    let timeout_reply = TimeoutReply::WaitAof { local: numlocal, replicas: numreplicas };
    Err(CmdError::Block(BlockSpec { keys: Vec::new(), timeout, timeout_reply, argv: None }))
}

/// MEMORY MALLOC-STATS: jemalloc's statistics report.
pub fn memory_malloc_stats(call: &mut Call<'_>) -> CmdResult {
    use std::ffi::{c_char, c_void, CStr};
    unsafe extern "C" fn append(opaque: *mut c_void, s: *const c_char) {
        // SAFETY: `opaque` is the Vec passed below, alive for the call;
        // jemalloc hands a NUL-terminated string.
        unsafe {
            let out = &mut *(opaque as *mut Vec<u8>);
            out.extend_from_slice(CStr::from_ptr(s).to_bytes());
        }
    }
    let mut report: Vec<u8> = Vec::new();
    // SAFETY: the callback only appends to `report`, which outlives the call;
    // a null options string asks for the default report.
    unsafe {
        tikv_jemalloc_sys::malloc_stats_print(
            Some(append),
            &mut report as *mut Vec<u8> as *mut c_void,
            std::ptr::null(),
        );
    }
    match call.out.protocol() {
        Protocol::Resp3 => call.out.verbatim(b"txt", &report),
        Protocol::Resp2 => call.out.bulk(&report),
    }
    Ok(())
}

pub static MODULE_SUBS: &[CommandSpec] = &[
    cmd!("list", 2, ADMIN | NOSCRIPT, NOKEYS, Server, "4.0.0", "Returns all loaded modules.", "", module_list),
    cmd!(
        "load",
        -3,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING,
        NOKEYS,
        Server,
        "4.0.0",
        "Loads a module.",
        "path [arg [arg ...]]",
        module_load
    ),
    cmd!(
        "loadex",
        -3,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING,
        NOKEYS,
        Server,
        "7.0.0",
        "Loads a module using extended parameters.",
        "path [CONFIG name value [CONFIG name value ...]] [ARGS args [args ...]]",
        module_load
    ),
    cmd!(
        "unload",
        3,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING,
        NOKEYS,
        Server,
        "4.0.0",
        "Unloads a module.",
        "name",
        module_unload
    ),
    cmd!(
        "help",
        2,
        LOADING | STALE,
        NOKEYS,
        Server,
        "5.0.0",
        "Returns helpful text about the different subcommands.",
        "",
        module_help
    ),
];

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("role", 1, NOSCRIPT | LOADING | STALE | FAST, NOKEYS, Server, "2.8.12", "Returns the replication role.", "", role),
    cmd!("lolwut", -1, READONLY | FAST, NOKEYS, Server, "5.0.0", "Displays computer art and the Redis version", "[VERSION version]", lolwut),
    cmd!("module", -2, 0, NOKEYS, Server, "4.0.0", "A container for module commands.", "", super::introspect::container, MODULE_SUBS),
    cmd!("replicaof", 3, ADMIN | NOSCRIPT | STALE | NO_ASYNC_LOADING, NOKEYS, Server, "5.0.0", "Configures a server as replica of another, or promotes it to a master.", "<host port | NO ONE>", replicaof),
    cmd!("slaveof", 3, ADMIN | NOSCRIPT | STALE | NO_ASYNC_LOADING, NOKEYS, Server, "1.0.0", "Sets a Redis server as a replica of another, or promotes it to being a master.", "<host port | NO ONE>", replicaof),
    cmd!("waitaof", 4, NOSCRIPT | WAITS_ON_CONNECTION, NOKEYS, Generic, "7.2.0", "Blocks until all of the preceding write commands sent by the connection are written to the append-only file of the master and/or replicas.", "numlocal numreplicas timeout", waitaof),
    cmd!("wait", 3, WAITS_ON_CONNECTION, NOKEYS, Generic, "3.0.0", "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.", "numreplicas timeout", wait),
];

/// Keys of `argv` (argv[0] the command name) by the command's key specs, as
/// Redis's `getKeysUsingKeySpecs`: None when a spec does not fit the
/// arguments, or is incomplete.
fn keys_by_specs(specs: &[super::keyspecs::KeySpec], argv: &[&[u8]]) -> Option<Vec<(usize, u16)>> {
    use super::keyspecs::{BeginSearch, FindKeys, INCOMPLETE, NOT_KEY};
    let argc = argv.len() as i64;
    let mut keys = Vec::new();
    for spec in specs {
        if spec.flags & NOT_KEY != 0 {
            continue;
        }
        let mut first: i64 = match spec.begin {
            BeginSearch::Index(pos) => i64::from(pos),
            BeginSearch::Keyword(word, startfrom) => {
                let start = if startfrom > 0 { i64::from(startfrom) } else { argc + i64::from(startfrom) };
                let end = if startfrom > 0 { argc - 1 } else { 1 };
                let mut i = start;
                let mut found = 0;
                while i != end {
                    if i >= argc || i < 1 {
                        break;
                    }
                    if argv[i as usize].eq_ignore_ascii_case(word.as_bytes()) {
                        found = i + 1;
                        break;
                    }
                    i = if start <= end { i + 1 } else { i - 1 };
                }
                if found == 0 {
                    continue;
                }
                found
            }
            BeginSearch::Unknown => return None,
        };
        let (last, step) = match spec.find {
            FindKeys::Range { last, step, limit } => {
                let last = if last >= 0 {
                    first + i64::from(last)
                } else if limit == 0 {
                    argc + i64::from(last)
                } else {
                    first + ((argc - first) / i64::from(limit) + i64::from(last))
                };
                (last, i64::from(step))
            }
            FindKeys::Keynum { index, first: firstkey, step } => {
                let at = first + i64::from(index);
                if i64::from(index) >= argc || at >= argc {
                    return None;
                }
                let n = gyre_engine::num::parse_i64(argv[at as usize]).filter(|n| *n >= 0)?;
                first += i64::from(firstkey);
                (first + n - 1, i64::from(step))
            }
            FindKeys::Unknown => return None,
        };
        if last >= argc || last < first || first >= argc {
            return None;
        }
        let mut i = first;
        while i <= last {
            keys.push((i as usize, spec.flags));
            i += step.max(1);
        }
        if spec.flags & INCOMPLETE != 0 {
            return None;
        }
    }
    Some(keys)
}

/// Redis's `sortGetKeys`: the sorted key (RO access) and, for SORT, the last
/// STORE destination (OW update), skipping the arguments of LIMIT, GET, BY.
fn sort_keys(argv: &[&[u8]], store: bool) -> Vec<(usize, u16)> {
    let mut keys = vec![(1, 1 | 16)];
    let mut dest = None;
    let mut j = 2;
    while j < argv.len() {
        let a = argv[j];
        if a.eq_ignore_ascii_case(b"LIMIT") {
            j += 2;
        } else if a.eq_ignore_ascii_case(b"GET") || a.eq_ignore_ascii_case(b"BY") {
            j += 1;
        } else if store && a.eq_ignore_ascii_case(b"STORE") && j + 1 < argv.len() {
            dest = Some(j + 1);
            j += 1;
        }
        j += 1;
    }
    if let Some(d) = dest {
        keys.push((d, 4 | 32));
    }
    keys
}

/// COMMAND GETKEYSANDFLAGS command [arg ...]: each key argument with what
/// the command does to it (Redis's key-spec flags).
pub fn command_getkeysandflags(call: &mut Call<'_>) -> CmdResult {
    use super::keyspecs::{FLAG_NAMES, SPECS, VARIABLE_FLAGS};
    let args = call.args;
    let argv: Vec<&[u8]> = (2..args.len()).map(|i| args.get(i)).collect();
    let Some(spec) = super::lookup(argv[0]) else {
        return Err(err("ERR Invalid command specified"));
    };
    let (spec, name) = if spec.subcommands.is_empty() || argv.len() < 2 {
        (spec, spec.name.to_string())
    } else {
        let sub = super::lookup_sub(spec, argv[1]).ok_or(err("ERR Invalid command specified"))?;
        (sub, format!("{}|{}", spec.name, sub.name))
    };
    let Some((_, no_mandatory, specs)) = SPECS.iter().find(|(n, _, _)| *n == name) else {
        return Err(err("ERR The command has no key arguments"));
    };
    let argc = argv.len();
    let arity_ok =
        if spec.arity >= 0 { argc == spec.arity as usize } else { argc >= spec.arity.unsigned_abs() as usize };
    if !arity_ok {
        return Err(err("ERR Invalid number of arguments specified for command"));
    }
    let variable = specs.iter().any(|s| s.flags & VARIABLE_FLAGS != 0);
    let keys = match (variable, name.as_str()) {
        // Redis's own key functions for the commands whose flags depend on
        // the arguments: SET (GET reads the old value) and BITFIELD (only GET
        // subcommands: read only).
        (true, "set") => {
            let get = argv[3..].iter().any(|a| a.eq_ignore_ascii_case(b"GET"));
            Some(vec![(1, if get { 2 | 16 | 32 } else { 4 | 32 })])
        }
        (true, "bitfield") => {
            let writes = argv[2..].iter().any(|a| a.eq_ignore_ascii_case(b"SET") || a.eq_ignore_ascii_case(b"INCRBY"));
            Some(vec![(1, if writes { 2 | 16 | 32 } else { 1 | 16 })])
        }
        // SORT's BY and GET patterns have no key spec Redis can evaluate: its
        // own key function names the sorted key and STORE's destination.
        (_, "sort" | "sort_ro") => Some(sort_keys(&argv, name == "sort")),
        _ => keys_by_specs(specs, &argv),
    };
    let keys = match keys {
        Some(k) if !k.is_empty() => k,
        _ if *no_mandatory => Vec::new(),
        _ => return Err(err("ERR Invalid arguments specified for command")),
    };
    call.out.array(keys.len());
    for (pos, flags) in keys {
        call.out.array(2);
        call.out.bulk(argv[pos]);
        let names: Vec<&str> = FLAG_NAMES.iter().filter(|(b, _)| flags & b != 0).map(|(_, n)| *n).collect();
        call.out.set(names.len());
        for n in names {
            call.out.simple(n.as_bytes());
        }
    }
    Ok(())
}

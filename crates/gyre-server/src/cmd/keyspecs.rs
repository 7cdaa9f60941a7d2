//! Redis 7.2's key specifications (`src/commands/*.json`), generated from
//! those files: for each command (and `container|subcommand`), where its key
//! arguments are and what it does to each key (RO, RW, OW, RM; access,
//! update, insert, delete). COMMAND GETKEYSANDFLAGS evaluates them as Redis's
//! `getKeysUsingKeySpecs` does. The second field is Redis's
//! NO_MANDATORY_KEYS flag (no keys is a valid call).
//!
//! Regenerate from a Redis source tree (python, in `src/commands`): read each
//! JSON file's `key_specs` into the rows below, sorted by name.

/// Key-spec flag bits, in Redis's reply order.
pub const FLAG_NAMES: &[(u16, &str)] = &[
    (1, "RO"),
    (2, "RW"),
    (4, "OW"),
    (8, "RM"),
    (16, "access"),
    (32, "update"),
    (64, "insert"),
    (128, "delete"),
    (256, "not_key"),
    (512, "incomplete"),
    (1024, "variable_flags"),
];
pub const NOT_KEY: u16 = 256;
pub const INCOMPLETE: u16 = 512;
pub const VARIABLE_FLAGS: u16 = 1024;

/// Where a key spec's keys begin.
pub enum BeginSearch {
    /// At this argument (the command name is 0).
    Index(i32),
    /// After this keyword, searched from `startfrom` (negative: from the end,
    /// backwards).
    Keyword(&'static str, i32),
    Unknown,
}

/// How many keys follow the beginning.
pub enum FindKeys {
    /// Up to `last` (relative; negative counts from the end), every `step`;
    /// `limit` > 1 with last -1 takes 1/limit of the remaining arguments.
    Range {
        last: i32,
        step: i32,
        limit: i32,
    },
    /// The argument at `index` (relative) counts the keys, which start at
    /// `first` (relative), every `step`.
    Keynum {
        index: i32,
        first: i32,
        step: i32,
    },
    Unknown,
}

pub struct KeySpec {
    pub flags: u16,
    pub begin: BeginSearch,
    pub find: FindKeys,
}

pub static SPECS: &[(&str, bool, &[KeySpec])] = &[
    (
        "append",
        false,
        &[KeySpec { flags: 66, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "bitcount",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "bitfield",
        false,
        &[KeySpec { flags: 1074, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "bitfield_ro",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "bitop",
        false,
        &[
            KeySpec { flags: 36, begin: BeginSearch::Index(2), find: FindKeys::Range { last: 0, step: 1, limit: 0 } },
            KeySpec { flags: 17, begin: BeginSearch::Index(3), find: FindKeys::Range { last: -1, step: 1, limit: 0 } },
        ],
    ),
    (
        "bitpos",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "blmove",
        false,
        &[
            KeySpec { flags: 146, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } },
            KeySpec { flags: 66, begin: BeginSearch::Index(2), find: FindKeys::Range { last: 0, step: 1, limit: 0 } },
        ],
    ),
    (
        "blmpop",
        false,
        &[KeySpec { flags: 146, begin: BeginSearch::Index(2), find: FindKeys::Keynum { index: 0, first: 1, step: 1 } }],
    ),
    (
        "blpop",
        false,
        &[KeySpec { flags: 146, begin: BeginSearch::Index(1), find: FindKeys::Range { last: -2, step: 1, limit: 0 } }],
    ),
    (
        "brpop",
        false,
        &[KeySpec { flags: 146, begin: BeginSearch::Index(1), find: FindKeys::Range { last: -2, step: 1, limit: 0 } }],
    ),
    (
        "brpoplpush",
        false,
        &[
            KeySpec { flags: 146, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } },
            KeySpec { flags: 66, begin: BeginSearch::Index(2), find: FindKeys::Range { last: 0, step: 1, limit: 0 } },
        ],
    ),
    (
        "bzmpop",
        false,
        &[KeySpec { flags: 146, begin: BeginSearch::Index(2), find: FindKeys::Keynum { index: 0, first: 1, step: 1 } }],
    ),
    (
        "bzpopmax",
        false,
        &[KeySpec { flags: 146, begin: BeginSearch::Index(1), find: FindKeys::Range { last: -2, step: 1, limit: 0 } }],
    ),
    (
        "bzpopmin",
        false,
        &[KeySpec { flags: 146, begin: BeginSearch::Index(1), find: FindKeys::Range { last: -2, step: 1, limit: 0 } }],
    ),
    (
        "copy",
        false,
        &[
            KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } },
            KeySpec { flags: 36, begin: BeginSearch::Index(2), find: FindKeys::Range { last: 0, step: 1, limit: 0 } },
        ],
    ),
    (
        "decr",
        false,
        &[KeySpec { flags: 50, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "decrby",
        false,
        &[KeySpec { flags: 50, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "del",
        false,
        &[KeySpec { flags: 136, begin: BeginSearch::Index(1), find: FindKeys::Range { last: -1, step: 1, limit: 0 } }],
    ),
    (
        "dump",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "eval",
        true,
        &[KeySpec { flags: 50, begin: BeginSearch::Index(2), find: FindKeys::Keynum { index: 0, first: 1, step: 1 } }],
    ),
    (
        "eval_ro",
        true,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(2), find: FindKeys::Keynum { index: 0, first: 1, step: 1 } }],
    ),
    (
        "evalsha",
        true,
        &[KeySpec { flags: 50, begin: BeginSearch::Index(2), find: FindKeys::Keynum { index: 0, first: 1, step: 1 } }],
    ),
    (
        "evalsha_ro",
        true,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(2), find: FindKeys::Keynum { index: 0, first: 1, step: 1 } }],
    ),
    (
        "exists",
        false,
        &[KeySpec { flags: 1, begin: BeginSearch::Index(1), find: FindKeys::Range { last: -1, step: 1, limit: 0 } }],
    ),
    (
        "expire",
        false,
        &[KeySpec { flags: 34, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "expireat",
        false,
        &[KeySpec { flags: 34, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "expiretime",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "fcall",
        true,
        &[KeySpec { flags: 50, begin: BeginSearch::Index(2), find: FindKeys::Keynum { index: 0, first: 1, step: 1 } }],
    ),
    (
        "fcall_ro",
        true,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(2), find: FindKeys::Keynum { index: 0, first: 1, step: 1 } }],
    ),
    (
        "geoadd",
        false,
        &[KeySpec { flags: 34, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "geodist",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "geohash",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "geopos",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "georadius",
        false,
        &[
            KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } },
            KeySpec {
                flags: 36,
                begin: BeginSearch::Keyword("STORE", 6),
                find: FindKeys::Range { last: 0, step: 1, limit: 0 },
            },
            KeySpec {
                flags: 36,
                begin: BeginSearch::Keyword("STOREDIST", 6),
                find: FindKeys::Range { last: 0, step: 1, limit: 0 },
            },
        ],
    ),
    (
        "georadius_ro",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "georadiusbymember",
        false,
        &[
            KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } },
            KeySpec {
                flags: 36,
                begin: BeginSearch::Keyword("STORE", 5),
                find: FindKeys::Range { last: 0, step: 1, limit: 0 },
            },
            KeySpec {
                flags: 36,
                begin: BeginSearch::Keyword("STOREDIST", 5),
                find: FindKeys::Range { last: 0, step: 1, limit: 0 },
            },
        ],
    ),
    (
        "georadiusbymember_ro",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "geosearch",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "geosearchstore",
        false,
        &[
            KeySpec { flags: 36, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } },
            KeySpec { flags: 17, begin: BeginSearch::Index(2), find: FindKeys::Range { last: 0, step: 1, limit: 0 } },
        ],
    ),
    (
        "get",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "getbit",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "getdel",
        false,
        &[KeySpec { flags: 146, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "getex",
        false,
        &[KeySpec { flags: 50, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "getrange",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "getset",
        false,
        &[KeySpec { flags: 50, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "hdel",
        false,
        &[KeySpec { flags: 130, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "hexists",
        false,
        &[KeySpec { flags: 1, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "hget",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "hgetall",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "hincrby",
        false,
        &[KeySpec { flags: 50, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "hincrbyfloat",
        false,
        &[KeySpec { flags: 50, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "hkeys",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "hlen",
        false,
        &[KeySpec { flags: 1, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "hmget",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "hmset",
        false,
        &[KeySpec { flags: 34, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "hrandfield",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "hscan",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "hset",
        false,
        &[KeySpec { flags: 34, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "hsetnx",
        false,
        &[KeySpec { flags: 66, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "hstrlen",
        false,
        &[KeySpec { flags: 1, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "hvals",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "incr",
        false,
        &[KeySpec { flags: 50, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "incrby",
        false,
        &[KeySpec { flags: 50, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "incrbyfloat",
        false,
        &[KeySpec { flags: 50, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "lcs",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 1, step: 1, limit: 0 } }],
    ),
    (
        "lindex",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "linsert",
        false,
        &[KeySpec { flags: 66, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "llen",
        false,
        &[KeySpec { flags: 1, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "lmove",
        false,
        &[
            KeySpec { flags: 146, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } },
            KeySpec { flags: 66, begin: BeginSearch::Index(2), find: FindKeys::Range { last: 0, step: 1, limit: 0 } },
        ],
    ),
    (
        "lmpop",
        false,
        &[KeySpec { flags: 146, begin: BeginSearch::Index(1), find: FindKeys::Keynum { index: 0, first: 1, step: 1 } }],
    ),
    (
        "lpop",
        false,
        &[KeySpec { flags: 146, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "lpos",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "lpush",
        false,
        &[KeySpec { flags: 66, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "lpushx",
        false,
        &[KeySpec { flags: 66, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "lrange",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "lrem",
        false,
        &[KeySpec { flags: 130, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "lset",
        false,
        &[KeySpec { flags: 34, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "ltrim",
        false,
        &[KeySpec { flags: 130, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "memory|usage",
        false,
        &[KeySpec { flags: 1, begin: BeginSearch::Index(2), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "mget",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: -1, step: 1, limit: 0 } }],
    ),
    (
        "migrate",
        false,
        &[
            KeySpec { flags: 146, begin: BeginSearch::Index(3), find: FindKeys::Range { last: 0, step: 1, limit: 0 } },
            KeySpec {
                flags: 658,
                begin: BeginSearch::Keyword("KEYS", -2),
                find: FindKeys::Range { last: -1, step: 1, limit: 0 },
            },
        ],
    ),
    (
        "move",
        false,
        &[KeySpec { flags: 50, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "mset",
        false,
        &[KeySpec { flags: 36, begin: BeginSearch::Index(1), find: FindKeys::Range { last: -1, step: 2, limit: 0 } }],
    ),
    (
        "msetnx",
        false,
        &[KeySpec { flags: 68, begin: BeginSearch::Index(1), find: FindKeys::Range { last: -1, step: 2, limit: 0 } }],
    ),
    (
        "object|encoding",
        false,
        &[KeySpec { flags: 1, begin: BeginSearch::Index(2), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "object|freq",
        false,
        &[KeySpec { flags: 1, begin: BeginSearch::Index(2), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "object|idletime",
        false,
        &[KeySpec { flags: 1, begin: BeginSearch::Index(2), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "object|refcount",
        false,
        &[KeySpec { flags: 1, begin: BeginSearch::Index(2), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "persist",
        false,
        &[KeySpec { flags: 34, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "pexpire",
        false,
        &[KeySpec { flags: 34, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "pexpireat",
        false,
        &[KeySpec { flags: 34, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "pexpiretime",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "pfadd",
        false,
        &[KeySpec { flags: 66, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "pfcount",
        false,
        &[KeySpec { flags: 18, begin: BeginSearch::Index(1), find: FindKeys::Range { last: -1, step: 1, limit: 0 } }],
    ),
    (
        "pfdebug",
        false,
        &[KeySpec { flags: 18, begin: BeginSearch::Index(2), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "pfmerge",
        false,
        &[
            KeySpec { flags: 82, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } },
            KeySpec { flags: 17, begin: BeginSearch::Index(2), find: FindKeys::Range { last: -1, step: 1, limit: 0 } },
        ],
    ),
    (
        "psetex",
        false,
        &[KeySpec { flags: 36, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "pttl",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "rename",
        false,
        &[
            KeySpec { flags: 146, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } },
            KeySpec { flags: 36, begin: BeginSearch::Index(2), find: FindKeys::Range { last: 0, step: 1, limit: 0 } },
        ],
    ),
    (
        "renamenx",
        false,
        &[
            KeySpec { flags: 146, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } },
            KeySpec { flags: 68, begin: BeginSearch::Index(2), find: FindKeys::Range { last: 0, step: 1, limit: 0 } },
        ],
    ),
    (
        "restore",
        false,
        &[KeySpec { flags: 36, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "restore-asking",
        false,
        &[KeySpec { flags: 36, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "rpop",
        false,
        &[KeySpec { flags: 146, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "rpoplpush",
        false,
        &[
            KeySpec { flags: 146, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } },
            KeySpec { flags: 66, begin: BeginSearch::Index(2), find: FindKeys::Range { last: 0, step: 1, limit: 0 } },
        ],
    ),
    (
        "rpush",
        false,
        &[KeySpec { flags: 66, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "rpushx",
        false,
        &[KeySpec { flags: 66, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "sadd",
        false,
        &[KeySpec { flags: 66, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "scard",
        false,
        &[KeySpec { flags: 1, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "sdiff",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: -1, step: 1, limit: 0 } }],
    ),
    (
        "sdiffstore",
        false,
        &[
            KeySpec { flags: 36, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } },
            KeySpec { flags: 17, begin: BeginSearch::Index(2), find: FindKeys::Range { last: -1, step: 1, limit: 0 } },
        ],
    ),
    (
        "set",
        false,
        &[KeySpec { flags: 1074, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "setbit",
        false,
        &[KeySpec { flags: 50, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "setex",
        false,
        &[KeySpec { flags: 36, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "setnx",
        false,
        &[KeySpec { flags: 68, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "setrange",
        false,
        &[KeySpec { flags: 34, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "sinter",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: -1, step: 1, limit: 0 } }],
    ),
    (
        "sintercard",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Keynum { index: 0, first: 1, step: 1 } }],
    ),
    (
        "sinterstore",
        false,
        &[
            KeySpec { flags: 34, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } },
            KeySpec { flags: 17, begin: BeginSearch::Index(2), find: FindKeys::Range { last: -1, step: 1, limit: 0 } },
        ],
    ),
    (
        "sismember",
        false,
        &[KeySpec { flags: 1, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "smembers",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "smismember",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "smove",
        false,
        &[
            KeySpec { flags: 146, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } },
            KeySpec { flags: 66, begin: BeginSearch::Index(2), find: FindKeys::Range { last: 0, step: 1, limit: 0 } },
        ],
    ),
    (
        "sort",
        false,
        &[
            KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } },
            KeySpec { flags: 17, begin: BeginSearch::Unknown, find: FindKeys::Unknown },
            KeySpec { flags: 36, begin: BeginSearch::Unknown, find: FindKeys::Unknown },
        ],
    ),
    (
        "sort_ro",
        false,
        &[
            KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } },
            KeySpec { flags: 17, begin: BeginSearch::Unknown, find: FindKeys::Unknown },
        ],
    ),
    (
        "spop",
        false,
        &[KeySpec { flags: 146, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "spublish",
        false,
        &[KeySpec { flags: 256, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "srandmember",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "srem",
        false,
        &[KeySpec { flags: 130, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "sscan",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "ssubscribe",
        false,
        &[KeySpec { flags: 256, begin: BeginSearch::Index(1), find: FindKeys::Range { last: -1, step: 1, limit: 0 } }],
    ),
    (
        "strlen",
        false,
        &[KeySpec { flags: 1, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "substr",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "sunion",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: -1, step: 1, limit: 0 } }],
    ),
    (
        "sunionstore",
        false,
        &[
            KeySpec { flags: 36, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } },
            KeySpec { flags: 17, begin: BeginSearch::Index(2), find: FindKeys::Range { last: -1, step: 1, limit: 0 } },
        ],
    ),
    (
        "sunsubscribe",
        false,
        &[KeySpec { flags: 256, begin: BeginSearch::Index(1), find: FindKeys::Range { last: -1, step: 1, limit: 0 } }],
    ),
    (
        "touch",
        false,
        &[KeySpec { flags: 1, begin: BeginSearch::Index(1), find: FindKeys::Range { last: -1, step: 1, limit: 0 } }],
    ),
    (
        "ttl",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "type",
        false,
        &[KeySpec { flags: 1, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "unlink",
        false,
        &[KeySpec { flags: 136, begin: BeginSearch::Index(1), find: FindKeys::Range { last: -1, step: 1, limit: 0 } }],
    ),
    (
        "watch",
        false,
        &[KeySpec { flags: 1, begin: BeginSearch::Index(1), find: FindKeys::Range { last: -1, step: 1, limit: 0 } }],
    ),
    (
        "xack",
        false,
        &[KeySpec { flags: 34, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "xadd",
        false,
        &[KeySpec { flags: 34, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "xautoclaim",
        false,
        &[KeySpec { flags: 130, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "xclaim",
        false,
        &[KeySpec { flags: 34, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "xdel",
        false,
        &[KeySpec { flags: 130, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "xgroup|create",
        false,
        &[KeySpec { flags: 66, begin: BeginSearch::Index(2), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "xgroup|createconsumer",
        false,
        &[KeySpec { flags: 66, begin: BeginSearch::Index(2), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "xgroup|delconsumer",
        false,
        &[KeySpec { flags: 130, begin: BeginSearch::Index(2), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "xgroup|destroy",
        false,
        &[KeySpec { flags: 130, begin: BeginSearch::Index(2), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "xgroup|setid",
        false,
        &[KeySpec { flags: 34, begin: BeginSearch::Index(2), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "xinfo|consumers",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(2), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "xinfo|groups",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(2), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "xinfo|stream",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(2), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "xlen",
        false,
        &[KeySpec { flags: 1, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "xpending",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "xrange",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "xread",
        false,
        &[KeySpec {
            flags: 17,
            begin: BeginSearch::Keyword("STREAMS", 1),
            find: FindKeys::Range { last: -1, step: 1, limit: 2 },
        }],
    ),
    (
        "xreadgroup",
        false,
        &[KeySpec {
            flags: 17,
            begin: BeginSearch::Keyword("STREAMS", 4),
            find: FindKeys::Range { last: -1, step: 1, limit: 2 },
        }],
    ),
    (
        "xrevrange",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "xsetid",
        false,
        &[KeySpec { flags: 34, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "xtrim",
        false,
        &[KeySpec { flags: 130, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "zadd",
        false,
        &[KeySpec { flags: 34, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "zcard",
        false,
        &[KeySpec { flags: 1, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "zcount",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "zdiff",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Keynum { index: 0, first: 1, step: 1 } }],
    ),
    (
        "zdiffstore",
        false,
        &[
            KeySpec { flags: 36, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } },
            KeySpec { flags: 17, begin: BeginSearch::Index(2), find: FindKeys::Keynum { index: 0, first: 1, step: 1 } },
        ],
    ),
    (
        "zincrby",
        false,
        &[KeySpec { flags: 50, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "zinter",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Keynum { index: 0, first: 1, step: 1 } }],
    ),
    (
        "zintercard",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Keynum { index: 0, first: 1, step: 1 } }],
    ),
    (
        "zinterstore",
        false,
        &[
            KeySpec { flags: 36, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } },
            KeySpec { flags: 17, begin: BeginSearch::Index(2), find: FindKeys::Keynum { index: 0, first: 1, step: 1 } },
        ],
    ),
    (
        "zlexcount",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "zmpop",
        false,
        &[KeySpec { flags: 146, begin: BeginSearch::Index(1), find: FindKeys::Keynum { index: 0, first: 1, step: 1 } }],
    ),
    (
        "zmscore",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "zpopmax",
        false,
        &[KeySpec { flags: 146, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "zpopmin",
        false,
        &[KeySpec { flags: 146, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "zrandmember",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "zrange",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "zrangebylex",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "zrangebyscore",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "zrangestore",
        false,
        &[
            KeySpec { flags: 36, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } },
            KeySpec { flags: 17, begin: BeginSearch::Index(2), find: FindKeys::Range { last: 0, step: 1, limit: 0 } },
        ],
    ),
    (
        "zrank",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "zrem",
        false,
        &[KeySpec { flags: 130, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "zremrangebylex",
        false,
        &[KeySpec { flags: 130, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "zremrangebyrank",
        false,
        &[KeySpec { flags: 130, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "zremrangebyscore",
        false,
        &[KeySpec { flags: 130, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "zrevrange",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "zrevrangebylex",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "zrevrangebyscore",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "zrevrank",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "zscan",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "zscore",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } }],
    ),
    (
        "zunion",
        false,
        &[KeySpec { flags: 17, begin: BeginSearch::Index(1), find: FindKeys::Keynum { index: 0, first: 1, step: 1 } }],
    ),
    (
        "zunionstore",
        false,
        &[
            KeySpec { flags: 36, begin: BeginSearch::Index(1), find: FindKeys::Range { last: 0, step: 1, limit: 0 } },
            KeySpec { flags: 17, begin: BeginSearch::Index(2), find: FindKeys::Keynum { index: 0, first: 1, step: 1 } },
        ],
    ),
];

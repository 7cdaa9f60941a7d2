//! Geo commands on sorted sets: GEOADD, GEODIST, GEOHASH, GEOPOS,
//! GEORADIUS[_RO], GEORADIUSBYMEMBER[_RO], GEOSEARCH and GEOSEARCHSTORE, with
//! Redis 7.2's arguments, replies and errors. Points are stored as Redis's
//! 52-bit geohash scores (`gyre_engine::geo`), so a sorted set written by
//! either server reads the same on the other.
//!
//! Writes: GEOADD is a sorted set add of (score, member) pairs (one Coll
//! mutation); the STORE forms replace the destination with the result
//! (Restore of the whole sorted set) or delete it when nothing matched.

use gyre_engine::geo::{self, Shape};
use gyre_engine::num::parse_f64;
use gyre_engine::types::zset::ScoreRange;
use gyre_engine::types::{ZSet, ZSetOp};
use gyre_engine::{CollOp, Mutation, SlotId, Value, NO_EXPIRY};
use gyre_resp::Protocol;

use super::data::Data;
use super::errors::{NOT_FLOAT, SYNTAX};
use super::flags::*;
use super::table::{cmd, data, KEY1};
use super::zsets::as_zset;
use super::{err, CmdError, CmdResult, CommandSpec, Group};

fn float_arg(call: &Data<'_, '_>, i: usize, msg: &'static str) -> Result<f64, CmdError> {
    parse_f64(call.arg(i)).filter(|v| !v.is_nan()).ok_or(err(msg))
}

/// Longitude and latitude at `i`, `i + 1`, checked against Redis's limits.
fn lon_lat(call: &Data<'_, '_>, i: usize) -> Result<(f64, f64), CmdError> {
    let (x, y) = (float_arg(call, i, NOT_FLOAT)?, float_arg(call, i + 1, NOT_FLOAT)?);
    if !(geo::LONG_MIN..=geo::LONG_MAX).contains(&x) || !(geo::LAT_MIN..=geo::LAT_MAX).contains(&y) {
        return Err(CmdError::Msg(format!("ERR invalid longitude,latitude pair {x:.6},{y:.6}")));
    }
    Ok((x, y))
}

/// Meters per unit.
fn unit(call: &Data<'_, '_>, i: usize) -> Result<f64, CmdError> {
    let u = call.arg(i).to_ascii_lowercase();
    Ok(match u.as_slice() {
        b"m" => 1.0,
        b"km" => 1000.0,
        b"ft" => 0.3048,
        b"mi" => 1609.34,
        _ => return Err(err("ERR unsupported unit provided. please use M, KM, FT, MI")),
    })
}

/// `radius unit` at `i`: (radius, meters per unit).
fn radius_arg(call: &Data<'_, '_>, i: usize) -> Result<(f64, f64), CmdError> {
    let r = float_arg(call, i, "ERR need numeric radius")?;
    if r < 0.0 {
        return Err(err("ERR radius cannot be negative"));
    }
    Ok((r, unit(call, i + 1)?))
}

/// A coordinate as Redis's "human" long double: RESP2 bulk, RESP3 double.
fn reply_coord(call: &mut Data<'_, '_>, v: f64) {
    let text = geo::format_coord(v);
    match call.out().protocol() {
        Protocol::Resp2 => call.out().bulk(text.as_bytes()),
        Protocol::Resp3 => call.out().raw(format!(",{text}\r\n").as_bytes()),
    }
}

/// GEOADD key [NX | XX] [CH] longitude latitude member [...]
pub fn geoadd(call: &mut Data<'_, '_>) -> CmdResult {
    let (mut nx, mut xx, mut ch) = (false, false, false);
    let mut at = 2;
    while at < call.argc() {
        if call.arg_is(at, "NX") {
            nx = true;
        } else if call.arg_is(at, "XX") {
            xx = true;
        } else if call.arg_is(at, "CH") {
            ch = true;
        } else {
            break;
        }
        at += 1;
    }
    let rest = call.argc() - at;
    if !rest.is_multiple_of(3) || rest == 0 || (xx && nx) {
        return Err(err(SYNTAX));
    }
    let mut points = Vec::with_capacity(rest / 3);
    for j in 0..rest / 3 {
        let (x, y) = lon_lat(call, at + 3 * j)?;
        let score = geo::score_of(x, y).expect("coordinates checked above");
        points.push((score, call.args().get(at + 3 * j + 2)));
    }
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let z = as_zset(shard.get(slot, key, now))?;
    let mut items: Vec<(f64, &[u8])> = Vec::with_capacity(points.len());
    // Where each member sits in `items`: a linear search for a few points, a
    // map for many (a GEOADD of 100,000 points stays linear).
    let many = points.len() > 16;
    let mut index: hashbrown::HashMap<&[u8], usize> = hashbrown::HashMap::new();
    let (mut added, mut changed) = (0i64, 0i64);
    for (score, member) in points {
        let pending = if many { index.get(member).copied() } else { items.iter().position(|(_, m)| *m == member) };
        let current = match pending {
            Some(p) => Some(items[p].0),
            None => z.and_then(|z| z.score(member)),
        };
        match current {
            Some(_) if nx => continue,
            None if xx => continue,
            None => added += 1,
            Some(c) if c == score => continue,
            Some(_) => changed += 1,
        }
        match pending {
            Some(p) => items[p].0 = score,
            None => {
                if many {
                    index.insert(member, items.len());
                }
                items.push((score, member));
            }
        }
    }
    let wrote = !items.is_empty();
    if wrote {
        let (db, version) = (call.db(), call.version());
        let op = CollOp::ZSet(ZSetOp::Add(items));
        shard.commit(slot, &Mutation::Coll { db, key, op, version }, call.log());
    }
    drop(shard);
    if wrote {
        call.signal_ready(key);
    }
    call.out().integer(if ch { added + changed } else { added });
    Ok(())
}

/// GEODIST key member1 member2 [M | KM | FT | MI]
pub fn geodist(call: &mut Data<'_, '_>) -> CmdResult {
    let to_meters = match call.argc() {
        5 => unit(call, 4)?,
        n if n > 5 => return Err(err(SYNTAX)),
        _ => 1.0,
    };
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let Some(z) = as_zset(shard.get_read(slot, key, now))? else {
        drop(shard);
        call.out().null();
        return Ok(());
    };
    let points = (z.score(call.args().get(2)), z.score(call.args().get(3)));
    drop(shard);
    let d = match points {
        (Some(a), Some(b)) => match (geo::decode_score(a), geo::decode_score(b)) {
            (Some(a), Some(b)) => Some(geo::distance(a.0, a.1, b.0, b.1) / to_meters),
            _ => None,
        },
        _ => None,
    };
    match d {
        Some(d) => call.out().bulk(geo::format_distance(d).as_bytes()),
        None => call.out().null(),
    }
    Ok(())
}

/// The scores of members `from..` of the sorted set at argument 1.
fn member_scores(call: &mut Data<'_, '_>, from: usize) -> Result<Vec<Option<f64>>, CmdError> {
    let now = call.now();
    let (key, slot, mut shard) = call.lock_key(1);
    let z = as_zset(shard.get_read(slot, key, now))?;
    Ok((from..call.argc()).map(|i| z.and_then(|z| z.score(call.args().get(i)))).collect())
}

/// GEOHASH key [member ...]
pub fn geohash(call: &mut Data<'_, '_>) -> CmdResult {
    let scores = member_scores(call, 2)?;
    call.out().array(scores.len());
    for s in scores {
        match s.and_then(geo::geohash_string) {
            Some(h) => call.out().bulk(&h),
            None => call.out().null(),
        }
    }
    Ok(())
}

/// GEOPOS key [member ...]
pub fn geopos(call: &mut Data<'_, '_>) -> CmdResult {
    let scores = member_scores(call, 2)?;
    call.out().array(scores.len());
    for s in scores {
        match s.and_then(geo::decode_score) {
            Some((x, y)) => {
                call.out().array(2);
                reply_coord(call, x);
                reply_coord(call, y);
            }
            None => call.out().null_array(),
        }
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// GEORADIUS[_RO]: centre from coordinates.
    Coords,
    /// GEORADIUSBYMEMBER[_RO].
    Member,
    /// GEOSEARCH / GEOSEARCHSTORE.
    Search,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// A parsed search request.
struct Request<'a> {
    shape: Option<Shape>,
    store: Option<&'a [u8]>,
    store_dist: bool,
    with_dist: bool,
    with_hash: bool,
    with_coord: bool,
    sort: Sort,
    count: u64,
    any: bool,
}

/// One match.
struct Point {
    member: Vec<u8>,
    score: f64,
    x: f64,
    y: f64,
    dist: f64,
}

/// Where the shape's centre and size come from while options are parsed.
#[derive(Default)]
struct ShapeParts {
    center: Option<(f64, f64)>,
    radius: Option<(f64, f64)>,
    rect: Option<(f64, f64, f64)>,
}

impl ShapeParts {
    fn shape(&self) -> Option<Shape> {
        let (x, y) = self.center?;
        match (self.radius, self.rect) {
            (Some((radius, conversion)), _) => Some(Shape::Radius { x, y, radius, conversion }),
            (_, Some((width, height, conversion))) => Some(Shape::Box { x, y, width, height, conversion }),
            _ => None,
        }
    }
}

fn member_center(z: &ZSet, member: &[u8]) -> Result<(f64, f64), CmdError> {
    z.score(member).and_then(geo::decode_score).ok_or(err("ERR could not decode requested zset member"))
}

/// Parses a search's arguments in Redis's order, reading the source set
/// (`z`) where a member names the centre.
fn parse_request<'a>(
    call: &Data<'_, 'a>,
    z: Option<&ZSet>,
    kind: Kind,
    read_only: bool,
    store_form: bool,
) -> Result<Request<'a>, CmdError> {
    let args = call.args();
    let mut parts = ShapeParts::default();
    let base = match kind {
        Kind::Coords => {
            parts.center = Some(lon_lat(call, 2)?);
            parts.radius = Some(radius_arg(call, 4)?);
            6
        }
        Kind::Member => {
            if let Some(z) = z {
                parts.center = Some(member_center(z, call.arg(2))?);
                parts.radius = Some(radius_arg(call, 3)?);
            }
            5
        }
        Kind::Search if store_form => 3,
        Kind::Search => 2,
    };
    let mut r = Request {
        shape: None,
        store: if store_form { Some(args.get(1)) } else { None },
        store_dist: false,
        with_dist: false,
        with_hash: false,
        with_coord: false,
        sort: Sort::None,
        count: 0,
        any: false,
    };
    let (mut from_member, mut from_loc, mut by_radius, mut by_box) = (false, false, false, false);
    let remaining = call.argc() - base;
    let mut i = 0;
    while i < remaining {
        let a = base + i;
        let more = remaining - i - 1;
        let opt = call.arg(a).to_ascii_lowercase();
        let search = kind == Kind::Search;
        match opt.as_slice() {
            b"withdist" => r.with_dist = true,
            b"withhash" => r.with_hash = true,
            b"withcoord" => r.with_coord = true,
            b"any" => r.any = true,
            b"asc" => r.sort = Sort::Asc,
            b"desc" => r.sort = Sort::Desc,
            b"count" if more >= 1 => {
                let n = call.int_arg(a + 1)?;
                if n <= 0 {
                    return Err(err("ERR COUNT must be > 0"));
                }
                r.count = n as u64;
                i += 1;
            }
            b"store" | b"storedist" if more >= 1 && !read_only && !search => {
                r.store = Some(args.get(a + 1));
                r.store_dist = opt == b"storedist";
                i += 1;
            }
            b"storedist" if search && store_form => r.store_dist = true,
            b"frommember" if more >= 1 && search && !from_loc => {
                if let Some(z) = z {
                    parts.center = Some(member_center(z, call.arg(a + 1))?);
                }
                from_member = true;
                i += 1;
            }
            b"fromlonlat" if more >= 2 && search && !from_member => {
                parts.center = Some(lon_lat(call, a + 1)?);
                from_loc = true;
                i += 2;
            }
            b"byradius" if more >= 2 && search && !by_box => {
                parts.radius = Some(radius_arg(call, a + 1)?);
                by_radius = true;
                i += 2;
            }
            b"bybox" if more >= 3 && search && !by_radius => {
                let w = float_arg(call, a + 1, "ERR need numeric width")?;
                let h = float_arg(call, a + 2, "ERR need numeric height")?;
                if h < 0.0 || w < 0.0 {
                    return Err(err("ERR height or width cannot be negative"));
                }
                parts.rect = Some((w, h, unit(call, a + 3)?));
                by_box = true;
                i += 3;
            }
            _ => return Err(err(SYNTAX)),
        }
        i += 1;
    }
    if r.store.is_some() && (r.with_dist || r.with_hash || r.with_coord) {
        let what = if store_form { "GEOSEARCHSTORE" } else { "STORE option in GEORADIUS" };
        return Err(CmdError::Msg(format!(
            "ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    let name = String::from_utf8_lossy(call.arg(0)).into_owned();
    if kind == Kind::Search && !(from_member || from_loc) {
        return Err(CmdError::Msg(format!("ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}")));
    }
    if kind == Kind::Search && !(by_radius || by_box) {
        return Err(CmdError::Msg(format!("ERR exactly one of BYRADIUS and BYBOX can be specified for {name}")));
    }
    if r.any && r.count == 0 {
        return Err(err("ERR the ANY argument requires COUNT argument"));
    }
    r.shape = parts.shape();
    Ok(r)
}

/// The members of `z` inside `shape`, in Redis's scan order; with `limit`
/// (COUNT ... ANY) the scan stops once that many were found.
fn scan(z: &ZSet, shape: &Shape, limit: u64) -> Vec<Point> {
    let mut found: Vec<Point> = Vec::new();
    for (min, max) in geo::search_ranges(shape) {
        if limit > 0 && found.len() as u64 >= limit {
            break;
        }
        let range = ScoreRange { min, max, min_exclusive: false, max_exclusive: true };
        let (start, end) = z.score_rank_range(&range);
        z.for_range(start, end, false, |m, score| {
            if limit > 0 && found.len() as u64 >= limit {
                return;
            }
            if let Some((x, y, dist)) = shape.contains_score(score) {
                found.push(Point { member: m.to_vec(), score, x, y, dist });
            }
        });
    }
    found
}

fn search_generic(call: &mut Data<'_, '_>, kind: Kind, read_only: bool, store_form: bool) -> CmdResult {
    let (db, now, ks) = (call.db(), call.now(), call.ks());
    let src_at = if store_form { 2 } else { 1 };
    let src = call.args().get(src_at);
    let src_slot = SlotId::of(src);
    // The destination, when there may be one, is locked with the source.
    let dst_candidates: Vec<&[u8]> = (1..call.argc())
        .filter(|&i| store_form && i == 1 || (i > 1 && call.arg(i - 1).eq_ignore_ascii_case(b"store")))
        .chain((1..call.argc()).filter(|&i| i > 1 && call.arg(i - 1).eq_ignore_ascii_case(b"storedist")))
        .map(|i| call.args().get(i))
        .collect();
    let mut g = ks.lock_many([(db, src_slot)].into_iter().chain(dst_candidates.iter().map(|k| (db, SlotId::of(k)))));
    let (req, points) = {
        let z = as_zset(g.shard(db, src_slot).get_read(src_slot, src, now))?;
        let req = parse_request(call, z, kind, read_only, store_form)?;
        let points = match (z, req.shape) {
            (Some(z), Some(shape)) => Some(scan(z, &shape, if req.any { req.count } else { 0 })),
            _ => None,
        };
        (req, points)
    };
    let conversion = match req.shape {
        Some(Shape::Radius { conversion, .. } | Shape::Box { conversion, .. }) => conversion,
        None => 1.0,
    };
    let Some(mut points) = points else {
        // No source set: an empty reply, or the destination deleted.
        if let Some(dst) = req.store {
            let dslot = SlotId::of(dst);
            let shard = g.shard(db, dslot);
            if shard.get(dslot, dst, now).is_some() {
                let version = call.version();
                shard.commit(dslot, &Mutation::Del { db, key: dst, version }, call.log());
            }
            drop(g);
            call.out().integer(0);
        } else {
            drop(g);
            call.out().array(0);
        }
        return Ok(());
    };
    let sort = if req.count != 0 && req.sort == Sort::None && !req.any { Sort::Asc } else { req.sort };
    match sort {
        Sort::Asc => points.sort_by(|a, b| a.dist.total_cmp(&b.dist)),
        Sort::Desc => points.sort_by(|a, b| b.dist.total_cmp(&a.dist)),
        Sort::None => {}
    }
    let n = if req.count == 0 { points.len() } else { points.len().min(req.count as usize) };
    points.truncate(n);
    for p in &mut points {
        p.dist /= conversion;
    }
    match req.store {
        None => {
            drop(g);
            reply_points(call, &req, &points);
        }
        Some(dst) => {
            let mut pairs: Vec<(f64, &[u8])> =
                points.iter().map(|p| (if req.store_dist { p.dist } else { p.score }, p.member.as_slice())).collect();
            pairs.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1)));
            let dslot = SlotId::of(dst);
            let shard = g.shard(db, dslot);
            if pairs.is_empty() {
                if shard.get(dslot, dst, now).is_some() {
                    let version = call.version();
                    shard.commit(dslot, &Mutation::Del { db, key: dst, version }, call.log());
                }
            } else {
                let mut value = Vec::new();
                Value::ZSet(ZSet::from_sorted(pairs.iter().copied())).serialize(&mut value);
                let version = call.version();
                let m = Mutation::Restore { db, key: dst, value: &value, expire_at_ms: NO_EXPIRY, version };
                if let Some(old) = shard.commit(dslot, &m, call.log()) {
                    call.free(old);
                }
            }
            drop(g);
            if !pairs.is_empty() {
                call.signal_ready(dst);
            }
            call.out().integer(n as i64);
        }
    }
    Ok(())
}

fn reply_points(call: &mut Data<'_, '_>, req: &Request<'_>, points: &[Point]) {
    let options = usize::from(req.with_dist) + usize::from(req.with_hash) + usize::from(req.with_coord);
    call.out().array(points.len());
    for p in points {
        if options > 0 {
            call.out().array(options + 1);
        }
        call.out().bulk(&p.member);
        if req.with_dist {
            call.out().bulk(geo::format_distance(p.dist).as_bytes());
        }
        if req.with_hash {
            call.out().integer(p.score as i64);
        }
        if req.with_coord {
            call.out().array(2);
            reply_coord(call, p.x);
            reply_coord(call, p.y);
        }
    }
}

pub fn georadius(call: &mut Data<'_, '_>) -> CmdResult {
    search_generic(call, Kind::Coords, false, false)
}

pub fn georadius_ro(call: &mut Data<'_, '_>) -> CmdResult {
    search_generic(call, Kind::Coords, true, false)
}

pub fn georadiusbymember(call: &mut Data<'_, '_>) -> CmdResult {
    search_generic(call, Kind::Member, false, false)
}

pub fn georadiusbymember_ro(call: &mut Data<'_, '_>) -> CmdResult {
    search_generic(call, Kind::Member, true, false)
}

pub fn geosearch(call: &mut Data<'_, '_>) -> CmdResult {
    search_generic(call, Kind::Search, true, false)
}

pub fn geosearchstore(call: &mut Data<'_, '_>) -> CmdResult {
    search_generic(call, Kind::Search, false, true)
}

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("geoadd", -5, WRITE | DENYOOM, KEY1, Geo, "3.2.0", "Adds one or more members to a geospatial index. The key is created if it doesn't exist.", "key [NX | XX] [CH] longitude latitude member [longitude latitude member ...]", data!(geoadd)),
    cmd!("geodist", -4, READONLY, KEY1, Geo, "3.2.0", "Returns the distance between two members of a geospatial index.", "key member1 member2 [M | KM | FT | MI]", data!(geodist)),
    cmd!("geohash", -2, READONLY, KEY1, Geo, "3.2.0", "Returns members from a geospatial index as geohash strings.", "key [member [member ...]]", data!(geohash)),
    cmd!("geopos", -2, READONLY, KEY1, Geo, "3.2.0", "Returns the longitude and latitude of members from a geospatial index.", "key [member [member ...]]", data!(geopos)),
    cmd!("georadius", -6, WRITE | DENYOOM, KEY1, Geo, "3.2.0", "Queries a geospatial index for members within a distance from a coordinate, optionally stores the result.", "key longitude latitude radius <M | KM | FT | MI> [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC | DESC] [STORE key | STOREDIST key]", data!(georadius)),
    cmd!("georadius_ro", -6, READONLY, KEY1, Geo, "3.2.10", "Returns members from a geospatial index that are within a distance from a coordinate.", "key longitude latitude radius <M | KM | FT | MI> [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC | DESC]", data!(georadius_ro)),
    cmd!("georadiusbymember", -5, WRITE | DENYOOM, KEY1, Geo, "3.2.0", "Queries a geospatial index for members within a distance from a member, optionally stores the result.", "key member radius <M | KM | FT | MI> [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC | DESC] [STORE key | STOREDIST key]", data!(georadiusbymember)),
    cmd!("georadiusbymember_ro", -5, READONLY, KEY1, Geo, "3.2.10", "Returns members from a geospatial index that are within a distance from a member.", "key member radius <M | KM | FT | MI> [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC | DESC]", data!(georadiusbymember_ro)),
    cmd!("geosearch", -7, READONLY, KEY1, Geo, "6.2.0", "Queries a geospatial index for members inside an area of a box or a circle.", "key <FROMMEMBER member | FROMLONLAT longitude latitude> <BYRADIUS radius <M | KM | FT | MI> | BYBOX width height <M | KM | FT | MI>> [ASC | DESC] [COUNT count [ANY]] [WITHCOORD] [WITHDIST] [WITHHASH]", data!(geosearch)),
    cmd!("geosearchstore", -8, WRITE | DENYOOM, (1, 2, 1), Geo, "6.2.0", "Queries a geospatial index for members inside an area of a box or a circle, optionally stores the result.", "destination source <FROMMEMBER member | FROMLONLAT longitude latitude> <BYRADIUS radius <M | KM | FT | MI> | BYBOX width height <M | KM | FT | MI>> [ASC | DESC] [COUNT count [ANY]] [STOREDIST]", data!(geosearchstore)),
];

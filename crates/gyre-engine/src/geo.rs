//! Geohashing as Redis 7.2 does it (`geohash.c`, `geohash_helper.c`), bit for
//! bit: a point is stored as a sorted set score, the 52-bit interleaving of
//! its latitude (even bits) and longitude (odd bits) quantized to 26 bits
//! each over [-85.05112878, 85.05112878] x [-180, 180]. Searches cover the
//! shape's bounding box with the geohash box of the centre and its eight
//! neighbours at a step estimated from the radius, as Redis does, so the
//! points examined, their order, and the distances (haversine on Redis's
//! Earth radius) are Redis's.

pub const LAT_MIN: f64 = -85.051_128_78;
pub const LAT_MAX: f64 = 85.051_128_78;
pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;
/// 26 steps of 2 bits: 52 bits.
pub const STEP_MAX: u8 = 26;
const EARTH_RADIUS_IN_METERS: f64 = 6_372_797.560_856;
const MERCATOR_MAX: f64 = 20_037_726.37;
const D_R: f64 = std::f64::consts::PI / 180.0;

/// Geohash bits at a step (2 * step bits used).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct HashBits {
    pub bits: u64,
    pub step: u8,
}

impl HashBits {
    fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Range {
    min: f64,
    max: f64,
}

#[derive(Clone, Copy, Debug, Default)]
struct Area {
    long: Range,
    lat: Range,
}

fn deg_rad(a: f64) -> f64 {
    a * D_R
}

fn rad_deg(a: f64) -> f64 {
    a / D_R
}

fn interleave64(xlo: u32, ylo: u32) -> u64 {
    const B: [u64; 5] =
        [0x5555555555555555, 0x3333333333333333, 0x0F0F0F0F0F0F0F0F, 0x00FF00FF00FF00FF, 0x0000FFFF0000FFFF];
    const S: [u32; 5] = [1, 2, 4, 8, 16];
    let (mut x, mut y) = (u64::from(xlo), u64::from(ylo));
    for i in (0..5).rev() {
        x = (x | (x << S[i])) & B[i];
        y = (y | (y << S[i])) & B[i];
    }
    x | (y << 1)
}

fn deinterleave64(interleaved: u64) -> u64 {
    const B: [u64; 6] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
        0x00000000FFFFFFFF,
    ];
    const S: [u32; 6] = [0, 1, 2, 4, 8, 16];
    let (mut x, mut y) = (interleaved, interleaved >> 1);
    for i in 0..6 {
        x = (x | (x >> S[i])) & B[i];
        y = (y | (y >> S[i])) & B[i];
    }
    x | (y << 32)
}

fn encode_in(long_r: Range, lat_r: Range, longitude: f64, latitude: f64, step: u8) -> Option<HashBits> {
    if step == 0 || step > 32 {
        return None;
    }
    if !(LONG_MIN..=LONG_MAX).contains(&longitude) || !(LAT_MIN..=LAT_MAX).contains(&latitude) {
        return None;
    }
    if latitude < lat_r.min || latitude > lat_r.max || longitude < long_r.min || longitude > long_r.max {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_offset = (latitude - lat_r.min) / (lat_r.max - lat_r.min) * scale;
    let long_offset = (longitude - long_r.min) / (long_r.max - long_r.min) * scale;
    // C converts the doubles to uint32_t, truncating.
    Some(HashBits { bits: interleave64(lat_offset as u32, long_offset as u32), step })
}

const WGS84_LONG: Range = Range { min: LONG_MIN, max: LONG_MAX };
const WGS84_LAT: Range = Range { min: LAT_MIN, max: LAT_MAX };

/// Encodes a point at `step` over Redis's ranges (None outside them).
pub fn encode(longitude: f64, latitude: f64, step: u8) -> Option<HashBits> {
    encode_in(WGS84_LONG, WGS84_LAT, longitude, latitude, step)
}

/// The 52-bit score of a geohash.
pub fn align52(h: HashBits) -> u64 {
    h.bits << (52 - u32::from(h.step) * 2)
}

/// The score GEOADD stores for a point (None: outside the valid ranges).
pub fn score_of(longitude: f64, latitude: f64) -> Option<f64> {
    encode(longitude, latitude, STEP_MAX).map(|h| align52(h) as f64)
}

fn decode_area(long_r: Range, lat_r: Range, h: HashBits) -> Option<Area> {
    if h.is_zero() {
        return None;
    }
    let sep = deinterleave64(h.bits);
    let (lat_scale, long_scale) = (lat_r.max - lat_r.min, long_r.max - long_r.min);
    let ilato = sep as u32;
    let ilono = (sep >> 32) as u32;
    let div = (1u64 << h.step) as f64;
    Some(Area {
        lat: Range {
            min: lat_r.min + (f64::from(ilato) * 1.0 / div) * lat_scale,
            max: lat_r.min + ((f64::from(ilato) + 1.0) * 1.0 / div) * lat_scale,
        },
        long: Range {
            min: long_r.min + (f64::from(ilono) * 1.0 / div) * long_scale,
            max: long_r.min + ((f64::from(ilono) + 1.0) * 1.0 / div) * long_scale,
        },
    })
}

/// The point a score stands for: (longitude, latitude), the centre of its
/// box, clamped to the valid ranges. None for a score Redis cannot decode.
pub fn decode_score(score: f64) -> Option<(f64, f64)> {
    // C's (uint64_t) conversion of the double: truncation, saturating here
    // where C would be undefined.
    let h = HashBits { bits: score as u64, step: STEP_MAX };
    let a = decode_area(WGS84_LONG, WGS84_LAT, h)?;
    let x = ((a.long.min + a.long.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let y = ((a.lat.min + a.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    Some((x, y))
}

/// The standard 11-character geohash of a score (GEOHASH): decoded, then
/// re-encoded over [-90, 90] latitude.
pub fn geohash_string(score: f64) -> Option<[u8; 11]> {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (x, y) = decode_score(score)?;
    let h = encode_in(WGS84_LONG, Range { min: -90.0, max: 90.0 }, x, y, 26).unwrap_or_default();
    let mut out = [0u8; 11];
    for (i, c) in out.iter_mut().enumerate() {
        let idx = if i == 10 { 0 } else { (h.bits >> (52 - (i + 1) * 5)) & 0x1f };
        *c = ALPHABET[idx as usize];
    }
    Some(out)
}

fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// Redis's haversine distance in meters.
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let (lon1r, lon2r) = (deg_rad(lon1), deg_rad(lon2));
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let (lat1r, lat2r) = (deg_rad(lat1), deg_rad(lat2));
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

/// A search shape around a centre, sizes in the unit given by `conversion`
/// (meters per unit).
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    Radius { x: f64, y: f64, radius: f64, conversion: f64 },
    Box { x: f64, y: f64, width: f64, height: f64, conversion: f64 },
}

impl Shape {
    fn center(&self) -> (f64, f64) {
        match *self {
            Shape::Radius { x, y, .. } | Shape::Box { x, y, .. } => (x, y),
        }
    }

    fn conversion(&self) -> f64 {
        match *self {
            Shape::Radius { conversion, .. } | Shape::Box { conversion, .. } => conversion,
        }
    }

    /// The distance (meters) from the centre to the point when it lies in
    /// the shape.
    pub fn contains(&self, px: f64, py: f64) -> Option<f64> {
        match *self {
            Shape::Radius { x, y, radius, conversion } => {
                let d = distance(x, y, px, py);
                (d <= radius * conversion).then_some(d)
            }
            Shape::Box { x, y, width, height, conversion } => {
                let (w, h) = (width * conversion, height * conversion);
                if lat_distance(py, y) > h / 2.0 {
                    return None;
                }
                if distance(px, py, x, py) > w / 2.0 {
                    return None;
                }
                Some(distance(x, y, px, py))
            }
        }
    }

    /// The point of a score when it lies in the shape: (lon, lat, meters).
    pub fn contains_score(&self, score: f64) -> Option<(f64, f64, f64)> {
        let (px, py) = decode_score(score)?;
        self.contains(px, py).map(|d| (px, py, d))
    }

    /// [min_lon, min_lat, max_lon, max_lat]
    fn bounding_box(&self) -> [f64; 4] {
        let (lon, lat) = self.center();
        let c = self.conversion();
        let (height, width) = match *self {
            Shape::Radius { radius, .. } => (c * radius, c * radius),
            Shape::Box { width, height, .. } => (c * height / 2.0, c * width / 2.0),
        };
        let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
        let long_delta_top = rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(lat + lat_delta).cos());
        let long_delta_bottom = rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(lat - lat_delta).cos());
        let south = lat < 0.0;
        [
            if south { lon - long_delta_bottom } else { lon - long_delta_top },
            lat - lat_delta,
            if south { lon + long_delta_bottom } else { lon + long_delta_top },
            lat + lat_delta,
        ]
    }
}

fn estimate_steps(mut range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range_meters < MERCATOR_MAX {
        range_meters *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

fn move_x(h: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let mut x = h.bits & 0xaaaaaaaaaaaaaaaa;
    let y = h.bits & 0x5555555555555555;
    let zz = 0x5555555555555555u64 >> (64 - u32::from(h.step) * 2);
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= 0xaaaaaaaaaaaaaaaau64 >> (64 - u32::from(h.step) * 2);
    h.bits = x | y;
}

fn move_y(h: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let x = h.bits & 0xaaaaaaaaaaaaaaaa;
    let mut y = h.bits & 0x5555555555555555;
    let zz = 0xaaaaaaaaaaaaaaaau64 >> (64 - u32::from(h.step) * 2);
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y |= zz;
        y = y.wrapping_sub(zz + 1);
    }
    y &= 0x5555555555555555u64 >> (64 - u32::from(h.step) * 2);
    h.bits = x | y;
}

/// The nine boxes to scan, in Redis's order: centre, N, S, E, W, NE, NW, SE,
/// SW; boxes that cannot hold a match are zero.
fn neighbors(h: HashBits) -> [HashBits; 9] {
    let moved = |dx: i8, dy: i8| {
        let mut n = h;
        move_x(&mut n, dx);
        move_y(&mut n, dy);
        n
    };
    [h, moved(0, 1), moved(0, -1), moved(1, 0), moved(-1, 0), moved(1, 1), moved(-1, 1), moved(1, -1), moved(-1, -1)]
}

/// The score ranges `[min, max)` to scan for `shape`, in Redis's order,
/// duplicates of the previous box skipped.
pub fn search_ranges(shape: &Shape) -> Vec<(f64, f64)> {
    let b = shape.bounding_box();
    let (min_lon, min_lat, max_lon, max_lat) = (b[0], b[1], b[2], b[3]);
    let (lon, lat) = shape.center();
    let radius_meters = match *shape {
        Shape::Radius { radius, .. } => radius,
        Shape::Box { width, height, .. } => ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt(),
    } * shape.conversion();
    let mut steps = estimate_steps(radius_meters, lat);
    let mut hash = encode(lon, lat, steps).unwrap_or_default();
    let mut n = neighbors(hash);
    let area_of = |h: HashBits| decode_area(WGS84_LONG, WGS84_LAT, h).unwrap_or_default();
    let mut area = area_of(hash);
    let decrease = area_of(n[1]).lat.max < max_lat
        || area_of(n[2]).lat.min > min_lat
        || area_of(n[3]).long.max < max_lon
        || area_of(n[4]).long.min > min_lon;
    if steps > 1 && decrease {
        steps -= 1;
        hash = encode(lon, lat, steps).unwrap_or_default();
        n = neighbors(hash);
        area = area_of(hash);
    }
    if steps >= 2 {
        let zero = |n: &mut [HashBits; 9], idx: &[usize]| idx.iter().for_each(|&i| n[i] = HashBits::default());
        if area.lat.min < min_lat {
            zero(&mut n, &[2, 8, 7]);
        }
        if area.lat.max > max_lat {
            zero(&mut n, &[1, 5, 6]);
        }
        if area.long.min < min_lon {
            zero(&mut n, &[4, 8, 6]);
        }
        if area.long.max > max_lon {
            zero(&mut n, &[3, 7, 5]);
        }
    }
    let mut out = Vec::with_capacity(9);
    let mut last: Option<usize> = None;
    for i in 0..9 {
        if n[i].is_zero() {
            continue;
        }
        if let Some(l) = last {
            if n[i] == n[l] {
                continue;
            }
        }
        let min = align52(n[i]);
        let max = align52(HashBits { bits: n[i].bits + 1, step: n[i].step });
        out.push((min as f64, max as f64));
        // Redis's `last_processed` stays 0 until a box other than the first
        // is processed (index 0 is "none" there).
        if i > 0 {
            last = Some(i);
        }
    }
    out
}

/// Redis's distance text: fixed point with four decimals (`llrint` of the
/// value times 10000).
pub fn format_distance(d: f64) -> String {
    let v = (d * 10_000.0).round_ties_even() as i64;
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    format!("{sign}{}.{:04}", a / 10_000, a % 10_000)
}

/// Redis's "human" long double text for coordinates: 17 decimals, trailing
/// zeros (and a trailing point) removed.
pub fn format_coord(v: f64) -> String {
    let mut s = format!("{v:.17}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".into();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_and_positions_match_redis() {
        // GEOADD Sicily 13.361389 38.115556 "Palermo" 15.087269 37.502669
        // "Catania" (Redis's documentation), checked with redis-server.
        assert_eq!(score_of(13.361389, 38.115556), Some(3479099956230698.0));
        assert_eq!(score_of(15.087269, 37.502669), Some(3479447370796909.0));
        let (x, y) = decode_score(3479099956230698.0).unwrap();
        assert_eq!(format_coord(x), "13.36138933897018433");
        assert_eq!(format_coord(y), "38.11555639549629859");
        let d =
            distance(x, y, decode_score(3479447370796909.0).unwrap().0, decode_score(3479447370796909.0).unwrap().1);
        assert_eq!(format_distance(d), "166274.1516");
        assert_eq!(&geohash_string(3479099956230698.0).unwrap(), b"sqc8b49rny0");
        assert_eq!(&geohash_string(3479447370796909.0).unwrap(), b"sqdtr74hyu0");
        assert_eq!(score_of(181.0, 0.0), None);
        // 406 points written by redis-server: score, GEOPOS and GEOHASH.
        for line in include_str!("testdata/geo_fixture.txt").lines().filter(|l| !l.starts_with('#')) {
            let f: Vec<&str> = line.split(' ').collect();
            let (lon, lat): (f64, f64) = (f[0].parse().unwrap(), f[1].parse().unwrap());
            let score = score_of(lon, lat).unwrap();
            assert_eq!(score, f[2].parse::<f64>().unwrap(), "{line}");
            let (x, y) = decode_score(score).unwrap();
            assert_eq!((format_coord(x).as_str(), format_coord(y).as_str()), (f[3], f[4]), "{line}");
            assert_eq!(std::str::from_utf8(&geohash_string(score).unwrap()).unwrap(), f[5], "{line}");
        }
        assert_eq!(score_of(0.0, 85.06), None);
    }
}

//! Geo commands on sorted sets: GEOADD, GEODIST, GEOHASH, GEOPOS, GEORADIUS
//! and GEORADIUSBYMEMBER (and their _RO forms), GEOSEARCH and GEOSEARCHSTORE,
//! with Redis's 52-bit scores, replies and errors. Validated against Redis 7
//! (`GYRE_TEST_REDIS=1`); the score fixture is checked in gyre-engine.

mod common;

use common::*;

fn sicily(c: &mut redis::Connection) {
    assert_eq!(
        q(c, &["GEOADD", "Sicily", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"]),
        int(2)
    );
}

#[test]
fn geoadd_scores_and_options() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    sicily(c);
    assert_eq!(
        q(c, &["ZRANGE", "Sicily", "0", "-1", "WITHSCORES"]),
        bulks(&["Palermo", "3479099956230698", "Catania", "3479447370796909"])
    );
    assert_eq!(q(c, &["GEOADD", "Sicily", "NX", "13.361389", "38.115556", "Palermo", "1", "1", "x"]), int(1));
    assert_eq!(q(c, &["GEOADD", "Sicily", "CH", "13.4", "38.1", "Palermo", "1", "1", "x"]), int(1));
    assert_eq!(q(c, &["GEOADD", "Sicily", "XX", "CH", "13.361389", "38.115556", "Palermo", "2", "2", "y"]), int(1));
    assert_eq!(q(c, &["ZCARD", "Sicily"]), int(3));
    assert_eq!(err(c, &["GEOADD", "Sicily", "NX", "XX", "1", "1", "a"]), "ERR syntax error");
    assert_eq!(err(c, &["GEOADD", "Sicily", "1", "1"]), "ERR wrong number of arguments for 'geoadd' command");
    assert_eq!(err(c, &["GEOADD", "Sicily", "1", "1", "a", "2"]), "ERR syntax error");
    assert_eq!(
        err(c, &["GEOADD", "Sicily", "200", "100", "a"]),
        "ERR invalid longitude,latitude pair 200.000000,100.000000"
    );
    assert_eq!(
        err(c, &["GEOADD", "Sicily", "1", "85.06", "a"]),
        "ERR invalid longitude,latitude pair 1.000000,85.060000"
    );
    assert_eq!(err(c, &["GEOADD", "Sicily", "x", "1", "a"]), "ERR value is not a valid float");
    assert_eq!(q(c, &["GEOADD", "Sicily", "CH", "NX", "1", "1", "a", "1", "1", "a", "2", "2", "a"]), int(1));
    // Many points in one call, a member given twice: the later one wins.
    let mut args: Vec<String> = vec!["GEOADD".into(), "many".into()];
    for i in 0..20 {
        let member = if i == 19 { "m0".to_string() } else { format!("m{i}") };
        args.extend([format!("{}", 10 + i), "20".to_string(), member]);
    }
    let args: Vec<&str> = args.iter().map(|a| a.as_str()).collect();
    assert_eq!(q(c, &args), int(19));
    let pos = as_str(&q(c, &["GEOPOS", "many", "m0"]).as_sequence().unwrap()[0].as_sequence().unwrap()[0]);
    assert!(pos.starts_with("28.99999") || pos.starts_with("29.0000"), "{pos}");
    ok(c, &["SET", "str", "x"]);
    assert_eq!(
        err(c, &["GEOADD", "str", "1", "1", "a"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
}

#[test]
fn geodist_geohash_geopos() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    sicily(c);
    assert_eq!(q(c, &["GEODIST", "Sicily", "Palermo", "Catania"]), bulk("166274.1516"));
    assert_eq!(q(c, &["GEODIST", "Sicily", "Palermo", "Catania", "km"]), bulk("166.2742"));
    assert_eq!(q(c, &["GEODIST", "Sicily", "Palermo", "Catania", "MI"]), bulk("103.3182"));
    assert_eq!(q(c, &["GEODIST", "Sicily", "Palermo", "Catania", "ft"]), bulk("545518.8700"));
    assert_eq!(
        err(c, &["GEODIST", "Sicily", "Palermo", "Catania", "foo"]),
        "ERR unsupported unit provided. please use M, KM, FT, MI"
    );
    assert_eq!(err(c, &["GEODIST", "Sicily", "Palermo", "Catania", "km", "x"]), "ERR syntax error");
    assert_eq!(q(c, &["GEODIST", "Sicily", "Palermo", "nothere"]), nil());
    assert_eq!(q(c, &["GEODIST", "nokey", "a", "b"]), nil());
    assert_eq!(
        q(c, &["GEOHASH", "Sicily", "Palermo", "Catania", "nothere"]),
        arr(vec![bulk("sqc8b49rny0"), bulk("sqdtr74hyu0"), nil()])
    );
    assert_eq!(q(c, &["GEOHASH", "nokey", "a"]), arr(vec![nil()]));
    assert_eq!(
        q(c, &["GEOPOS", "Sicily", "Palermo", "nothere"]),
        arr(vec![bulks(&["13.36138933897018433", "38.11555639549629859"]), nil()])
    );
    assert_eq!(
        q(c, &["GEOADD", "Sicily", "-180", "-85.05112878", "sw", "180", "85.05112878", "ne", "0", "0", "zero"]),
        int(3)
    );
    assert_eq!(
        q(c, &["GEOPOS", "Sicily", "sw", "ne", "zero"]),
        arr(vec![
            bulks(&["-179.99999731779098511", "-85.05112751263942528"]),
            bulks(&["180", "85.0511287799999991"]),
            bulks(&["0.00000268220901489", "0.00000126736058093"]),
        ])
    );
    assert_eq!(q(c, &["GEOHASH", "Sicily", "sw", "ne", "zero"]), bulks(&["00bh0hbj200", "bp05b5048p0", "s0000000000"]));
    // RESP3: coordinates are doubles.
    let mut r3 = raw3(&s);
    assert_eq!(
        r3.call(&["GEOPOS", "Sicily", "Palermo"]),
        Reply::Array(vec![Reply::Array(vec![
            Reply::Double("13.36138933897018433".into()),
            Reply::Double("38.11555639549629859".into())
        ])])
    );
}

#[test]
fn georadius_and_options() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    sicily(c);
    assert_eq!(q(c, &["GEOADD", "Sicily", "15", "37", "edge"]), int(1));
    assert_eq!(
        q(c, &["GEORADIUS", "Sicily", "15", "37", "200", "km", "WITHDIST", "ASC"]),
        arr(vec![bulks(&["edge", "0.0001"]), bulks(&["Catania", "56.4413"]), bulks(&["Palermo", "190.4424"])])
    );
    assert_eq!(
        q(
            c,
            &[
                "GEORADIUS",
                "Sicily",
                "15",
                "37",
                "200",
                "km",
                "WITHCOORD",
                "WITHDIST",
                "WITHHASH",
                "DESC",
                "COUNT",
                "1"
            ]
        ),
        arr(vec![arr(vec![
            bulk("Palermo"),
            bulk("190.4424"),
            int(3479099956230698),
            bulks(&["13.36138933897018433", "38.11555639549629859"])
        ])])
    );
    assert_eq!(q(c, &["GEORADIUS", "Sicily", "15", "37", "200", "km", "COUNT", "1"]), bulks(&["edge"]));
    assert_eq!(
        err(c, &["GEORADIUS", "Sicily", "15", "37", "200", "km", "ANY"]),
        "ERR the ANY argument requires COUNT argument"
    );
    assert_eq!(err(c, &["GEORADIUS", "Sicily", "15", "37", "-1", "km"]), "ERR radius cannot be negative");
    assert_eq!(err(c, &["GEORADIUS", "Sicily", "15", "37", "x", "km"]), "ERR need numeric radius");
    assert_eq!(
        err(c, &["GEORADIUS", "Sicily", "15", "37", "1", "parsec"]),
        "ERR unsupported unit provided. please use M, KM, FT, MI"
    );
    assert_eq!(err(c, &["GEORADIUS", "Sicily", "15", "37", "200", "km", "COUNT", "0"]), "ERR COUNT must be > 0");
    assert_eq!(err(c, &["GEORADIUS", "Sicily", "15", "37", "200", "km", "foo"]), "ERR syntax error");
    assert_eq!(
        err(c, &["GEORADIUS", "Sicily", "15", "37", "200", "km", "STORE", "dst", "WITHDIST"]),
        "ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
    );
    assert_eq!(err(c, &["GEORADIUS_RO", "Sicily", "15", "37", "200", "km", "STORE", "dst"]), "ERR syntax error");
    assert_eq!(q(c, &["GEORADIUS", "Sicily", "15", "37", "200", "km", "STORE", "dst"]), int(3));
    assert_eq!(q(c, &["ZSCORE", "dst", "Palermo"]), bulk("3479099956230698"));
    assert_eq!(q(c, &["GEORADIUS", "Sicily", "15", "37", "200", "km", "STOREDIST", "dst"]), int(3));
    assert_eq!(q(c, &["ZRANGE", "dst", "0", "-1"]), bulks(&["edge", "Catania", "Palermo"]));
    assert_eq!(q(c, &["GEORADIUS", "Sicily", "10", "10", "1", "m", "STORE", "dst"]), int(0));
    assert_eq!(q(c, &["EXISTS", "dst"]), int(0));
    assert_eq!(q(c, &["GEORADIUS", "nokey", "15", "37", "200", "km"]), arr(vec![]));
    assert_eq!(
        q(c, &["GEORADIUSBYMEMBER", "Sicily", "Palermo", "200", "km", "WITHDIST"]),
        arr(vec![bulks(&["Palermo", "0.0000"]), bulks(&["Catania", "166.2742"]), bulks(&["edge", "190.4424"])])
    );
    assert_eq!(
        err(c, &["GEORADIUSBYMEMBER", "Sicily", "nothere", "200", "km"]),
        "ERR could not decode requested zset member"
    );
    assert_eq!(q(c, &["GEORADIUSBYMEMBER", "nokey", "nothere", "x", "km"]), arr(vec![]));
    assert_eq!(
        q(c, &["GEORADIUSBYMEMBER_RO", "Sicily", "Palermo", "200", "km", "COUNT", "1", "DESC"]),
        bulks(&["edge"])
    );
}

#[test]
fn geosearch_and_geosearchstore() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    sicily(c);
    assert_eq!(q(c, &["GEOADD", "Sicily", "15", "37", "edge"]), int(1));
    assert_eq!(
        q(
            c,
            &["GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "ASC", "WITHCOORD", "WITHDIST"]
        ),
        arr(vec![
            arr(vec![bulk("edge"), bulk("0.0001"), bulks(&["14.99999910593032837", "37.00000026605963654"])]),
            arr(vec![bulk("Catania"), bulk("56.4413"), bulks(&["15.08726745843887329", "37.50266842333162032"])]),
            arr(vec![bulk("Palermo"), bulk("190.4424"), bulks(&["13.36138933897018433", "38.11555639549629859"])]),
        ])
    );
    assert_eq!(
        q(c, &["GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYBOX", "400", "400", "km", "ASC"]),
        bulks(&["Palermo", "Catania", "edge"])
    );
    assert_eq!(
        q(
            c,
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMMEMBER",
                "Palermo",
                "BYBOX",
                "400",
                "400",
                "km",
                "DESC",
                "WITHHASH",
                "COUNT",
                "2"
            ]
        ),
        arr(vec![arr(vec![bulk("edge"), int(3476504601741708)]), arr(vec![bulk("Catania"), int(3479447370796909)])])
    );
    assert_eq!(
        err(c, &["GEOSEARCH", "Sicily", "BYRADIUS", "200", "km", "ASC", "WITHDIST"]),
        "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for GEOSEARCH"
    );
    assert_eq!(
        err(c, &["geosearch", "Sicily", "FROMLONLAT", "15", "37", "ASC", "WITHDIST"]),
        "ERR exactly one of BYRADIUS and BYBOX can be specified for geosearch"
    );
    assert_eq!(
        err(c, &["GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(c, &["GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "1", "km", "BYBOX", "1", "1", "km"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(c, &["GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "-1", "1", "km"]),
        "ERR height or width cannot be negative"
    );
    assert_eq!(
        err(c, &["GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "x", "1", "km"]),
        "ERR need numeric width"
    );
    assert_eq!(
        err(c, &["GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "STORE", "x"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(c, &["GEOSEARCH", "Sicily", "FROMMEMBER", "nothere", "BYRADIUS", "1", "km"]),
        "ERR could not decode requested zset member"
    );
    assert_eq!(q(c, &["GEOSEARCH", "nokey", "FROMMEMBER", "x", "BYRADIUS", "1", "km"]), arr(vec![]));
    assert_eq!(
        q(c, &["GEOSEARCHSTORE", "dst", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "STOREDIST"]),
        int(3)
    );
    assert_eq!(q(c, &["ZRANGE", "dst", "0", "-1"]), bulks(&["edge", "Catania", "Palermo"]));
    assert_eq!(
        err(c, &["GEOSEARCHSTORE", "dst", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "WITHDIST"]),
        "ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
    );
    assert_eq!(
        q(c, &["GEOSEARCHSTORE", "dst", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "500", "500", "km", "COUNT", "2"]),
        int(2)
    );
    assert_eq!(q(c, &["ZRANGE", "dst", "0", "-1"]), bulks(&["edge", "Catania"]));
    assert_eq!(
        q(c, &["GEOSEARCHSTORE", "dst", "nokey", "FROMLONLAT", "15", "37", "BYBOX", "500", "500", "km"]),
        int(0)
    );
    assert_eq!(q(c, &["EXISTS", "dst"]), int(0));
    ok(c, &["SET", "str", "x"]);
    assert_eq!(
        err(c, &["GEOSEARCH", "str", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "km"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
}

/// Searches near the poles and the antimeridian, and one as wide as the
/// Earth, find what Redis finds.
#[test]
fn searches_at_the_edges() {
    let s = Server::start();
    let mut c = s.client();
    let c = &mut c;
    sicily(c);
    assert_eq!(
        q(
            c,
            &[
                "GEOADD",
                "Sicily",
                "15",
                "37",
                "edge",
                "-180",
                "-85.05112878",
                "sw",
                "180",
                "85.05112878",
                "ne",
                "0",
                "0",
                "zero"
            ]
        ),
        int(4)
    );
    assert_eq!(
        q(c, &["GEORADIUS", "Sicily", "0", "0", "20000", "km", "ASC"]),
        bulks(&["zero", "edge", "Catania", "Palermo", "sw"])
    );
    // A point at the very corner (180, 85.05112878) gets a score past 52
    // bits, as in Redis: it decodes elsewhere and no search near it finds it.
    assert_eq!(q(c, &["GEORADIUS", "Sicily", "179", "85", "500", "km", "WITHDIST"]), arr(vec![]));
    assert_eq!(
        q(c, &["GEORADIUS", "Sicily", "-179.9", "-85", "500", "km", "WITHDIST"]),
        arr(vec![bulks(&["sw", "5.7679"])])
    );
}

//! CONFIG subcommands, answered from the settings declaration.

use super::client::sub;
use super::flags::*;
use super::introspect::help_reply;
use super::{arity_error, Call, CmdResult, CommandSpec, Group};

pub static SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        group: Group::Server,
        since: "2.0.0",
        ..sub!(
            "get",
            -3,
            ADMIN | NOSCRIPT | LOADING | STALE,
            "Returns the effective values of configuration parameters.",
            "parameter [parameter ...]",
            get
        )
    },
    CommandSpec {
        group: Group::Server,
        since: "2.0.0",
        ..sub!(
            "set",
            -4,
            ADMIN | NOSCRIPT | LOADING | STALE,
            "Sets configuration parameters in-flight.",
            "parameter value [parameter value ...]",
            set
        )
    },
    CommandSpec {
        group: Group::Server,
        since: "2.0.0",
        ..sub!("resetstat", 2, ADMIN | NOSCRIPT | LOADING | STALE, "Resets the server's statistics.", "", resetstat)
    },
    CommandSpec {
        group: Group::Server,
        since: "2.8.0",
        ..sub!(
            "rewrite",
            2,
            ADMIN | NOSCRIPT | LOADING | STALE,
            "Persists the effective configuration to file.",
            "",
            rewrite
        )
    },
    CommandSpec {
        group: Group::Server,
        since: "5.0.0",
        ..sub!("help", 2, LOADING | STALE, "Returns helpful text about the different subcommands.", "", help)
    },
];

fn get(call: &mut Call<'_>) -> CmdResult {
    let mut found: Vec<(&'static str, String)> = Vec::new();
    for i in 2..call.argc() {
        for (name, value) in call.shared.config.matching(call.arg(i)) {
            if !found.iter().any(|(n, _)| *n == name) {
                found.push((name, value));
            }
        }
    }
    call.out.map(found.len());
    for (name, value) in &found {
        call.out.bulk(name.as_bytes());
        call.out.bulk(value.as_bytes());
    }
    Ok(())
}

fn set(call: &mut Call<'_>) -> CmdResult {
    if !call.argc().is_multiple_of(2) {
        return Err(arity_error("config|set"));
    }
    let pairs: Vec<(&[u8], &[u8])> =
        (2..call.argc()).step_by(2).map(|i| (call.args.get(i), call.args.get(i + 1))).collect();
    call.shared.config.set_many(&pairs).map_err(super::CmdError::Msg)?;
    let settings = call.shared.config.settings();
    call.shared.ks.set_encoding_config(settings.encoding);
    if pairs.iter().any(|(name, _)| name.eq_ignore_ascii_case(b"requirepass")) {
        call.shared.acl.set_requirepass(&settings.requirepass);
    }
    call.out.ok();
    Ok(())
}

fn resetstat(call: &mut Call<'_>) -> CmdResult {
    call.shared.stats.reset();
    call.shared.ks.reset_stats();
    call.shared.diag.reset_stats();
    call.shared.evictor.reset_stats();
    crate::memory::reset_peak();
    call.out.ok();
    Ok(())
}

fn rewrite(call: &mut Call<'_>) -> CmdResult {
    call.shared.config.rewrite().map_err(|why| {
        tracing::warn!(error = %why, "CONFIG REWRITE failed");
        super::CmdError::Msg(format!("ERR {why}"))
    })?;
    tracing::info!("CONFIG REWRITE executed with success");
    call.out.ok();
    Ok(())
}

fn help(call: &mut Call<'_>) -> CmdResult {
    help_reply(call, "CONFIG", SUBCOMMANDS);
    Ok(())
}

//! INFO: sections with Redis's field names, so dashboards and exporters work.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use super::server::REDIS_VERSION;
use super::{Call, CmdResult};
use crate::memory;

/// Every section, in Redis 7.0's order, and whether INFO (or INFO default)
/// shows it: all but commandstats. INFO all / everything shows them all.
const SECTIONS: &[(&str, bool)] = &[
    ("server", true),
    ("clients", true),
    ("memory", true),
    ("persistence", true),
    ("stats", true),
    ("replication", true),
    ("cpu", true),
    ("modules", true),
    ("commandstats", false),
    ("errorstats", true),
    ("cluster", true),
    ("keyspace", true),
];

fn default_sections() -> impl Iterator<Item = String> {
    SECTIONS.iter().filter(|(_, default)| *default).map(|(name, _)| name.to_string())
}

fn persistence_section(shared: &crate::shared::Shared, t: &mut String) -> std::fmt::Result {
    let p = &shared.persistence;
    let st = p.snapshot.lock().clone();
    let running = p.snapshot_running.load(Ordering::Relaxed);
    let (enabled, size, poisoned, fsync) = match &p.wal {
        Some(w) => (1, w.size_bytes(), w.write_error(), format!("{:?}", w.fsync_policy()).to_ascii_lowercase()),
        None => (0, 0, None, "off".to_string()),
    };
    write!(
        t,
        "# Persistence\r\nloading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\nrdb_last_bgsave_time_sec:{}\r\nrdb_last_snapshot_bytes:{}\r\naof_enabled:{enabled}\r\naof_rewrite_in_progress:{}\r\naof_last_write_status:{}\r\naof_current_size:{size}\r\ngyre_appendfsync:{fsync}\r\ngyre_wal_error:{}\r\n",
        p.changes_since_snapshot.load(Ordering::Relaxed),
        u8::from(running),
        st.last_save_unix_ms / 1000,
        if st.last_status_ok { "ok" } else { "err" },
        st.last_duration_ms / 1000,
        st.last_bytes,
        u8::from(running),
        if poisoned.is_some() { "err" } else { "ok" },
        poisoned.unwrap_or_default().replace(['\r', '\n'], " "),
    )
}

/// The clients section; the largest buffers are over the clients connected now.
fn clients_section(shared: &crate::shared::Shared, t: &mut String) -> std::fmt::Result {
    let clients = shared.clients.all();
    let max_in = clients.iter().map(|c| c.query_buf_bytes.load(Ordering::Relaxed)).max().unwrap_or(0);
    let max_out = clients.iter().map(|c| c.out_buf_bytes.load(Ordering::Relaxed)).max().unwrap_or(0);
    write!(
        t,
        "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:{max_in}\r\nclient_recent_max_output_buffer:{max_out}\r\nblocked_clients:{}\r\ntracking_clients:{}\r\n",
        clients.len(),
        shared.config.hot.maxclients.load(Ordering::Relaxed),
        shared.blocking.blocked_count(),
        shared.tracking.client_count()
    )
}

/// INFO memory: the counter (`used_memory`), the allocator's own view
/// (`allocator_*`, read from jemalloc) and the process's (`used_memory_rss`).
fn memory_section(shared: &crate::shared::Shared, t: &mut String) -> std::fmt::Result {
    let used = memory::sample_peak();
    let rss = memory::rss_bytes();
    let peak = memory::peak_bytes();
    let a = memory::allocator_stats();
    let maxmemory = shared.config.hot.maxmemory.load(Ordering::Relaxed) as usize;
    let ratio = |x: usize, y: usize| if y > 0 { x as f64 / y as f64 } else { 0.0 };
    write!(
        t,
        "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\nused_memory_peak_perc:{:.2}%\r\nallocator_allocated:{}\r\nallocator_active:{}\r\nallocator_resident:{}\r\nallocator_frag_ratio:{:.2}\r\nmaxmemory:{maxmemory}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nmaxmemory_samples:{}\r\nmem_fragmentation_ratio:{:.2}\r\nmem_allocator:{}\r\nlazyfree_pending_objects:{}\r\nlazyfreed_objects:{}\r\nlazyfree_pending_bytes:{}\r\n",
        memory::human(used),
        memory::human(rss),
        memory::human(peak),
        ratio(used, peak) * 100.0,
        a.allocated,
        a.active,
        a.resident,
        ratio(a.active, a.allocated),
        memory::human(maxmemory),
        shared.config.hot.policy().name(),
        shared.config.hot.maxmemory_samples.load(Ordering::Relaxed),
        ratio(rss, used),
        memory::ALLOCATOR_NAME,
        shared.stats.lazyfree_pending.load(Ordering::Relaxed),
        shared.stats.lazyfreed_objects.load(Ordering::Relaxed),
        crate::evict::lazy_pending_bytes(shared),
    )
}

pub fn info(call: &mut Call<'_>) -> CmdResult {
    let mut wanted: Vec<String> = Vec::new();
    for i in 1..call.argc() {
        let s = String::from_utf8_lossy(call.arg(i)).to_ascii_lowercase();
        match s.as_str() {
            "default" => wanted.extend(default_sections()),
            "all" | "everything" => wanted.extend(SECTIONS.iter().map(|(name, _)| name.to_string())),
            _ => wanted.push(s),
        }
    }
    if wanted.is_empty() {
        wanted.extend(default_sections());
    }
    let mut text = String::new();
    for (section, _) in SECTIONS.iter().filter(|(name, _)| wanted.iter().any(|w| w == name)) {
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        write_section(call, section, &mut text);
        if *section == "stats" {
            // Appended to the stats section (kept apart from its other fields).
            let _ = write!(text, "total_error_replies:{}\r\n", call.shared.diag.errors.total());
            let (keys, items, prefixes) = call.shared.tracking.totals();
            let _ = write!(
                text,
                "tracking_total_keys:{keys}\r\ntracking_total_items:{items}\r\ntracking_total_prefixes:{prefixes}\r\n"
            );
        }
    }
    call.out.verbatim(b"txt", text.as_bytes());
    Ok(())
}

fn write_section(call: &Call<'_>, section: &str, t: &mut String) {
    let shared = call.shared;
    let _ = match section {
        "server" => {
            let uptime = shared.uptime().as_secs();
            write!(
                t,
                "# Server\r\nredis_version:{REDIS_VERSION}\r\ngyre_version:{}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:{}\r\nos:{} {}\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\natomicvar_api:c11-builtin\r\ngcc_version:0.0.0\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\nnode_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\nlru_clock:{}\r\nexecutable:{}\r\nconfig_file:\r\nio_threads_active:0\r\n",
                env!("CARGO_PKG_VERSION"),
                if shared.cluster.get().is_some() { "cluster" } else { "standalone" },
                std::env::consts::OS,
                std::env::consts::ARCH,
                std::process::id(),
                shared.run_id,
                shared.persistence.node_id,
                shared.tcp_port.load(Ordering::Relaxed),
                call.now_ms * 1000,
                uptime / 86400,
                shared.config.hot.hz.load(Ordering::Relaxed),
                shared.config.hot.hz.load(Ordering::Relaxed),
                // Redis's LRU clock: seconds, 24 bits.
                (call.now_ms / 1000) & ((1 << 24) - 1),
                std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default(),
            )
        }
        "clients" => clients_section(shared, t),
        "memory" => memory_section(shared, t),
        "persistence" => persistence_section(shared, t),
        "stats" => {
            let s = &shared.stats;
            let ks = shared.ks.stats();
            write!(
                t,
                "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:{}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\ntombstones:{}\r\ntombstones_collected:{}\r\nmax_clock_drift_ms:{}\r\nclock_drift_refused:{}\r\n",
                s.connections_received.load(Ordering::Relaxed),
                s.commands_processed.load(Ordering::Relaxed),
                s.net_input_bytes.load(Ordering::Relaxed),
                s.net_output_bytes.load(Ordering::Relaxed),
                s.rejected_connections.load(Ordering::Relaxed),
                ks.expired,
                shared.evictor.evicted_keys.load(Ordering::Relaxed),
                ks.hits,
                ks.misses,
                shared.ks.tombstone_count(),
                s.tombstones_collected.load(Ordering::Relaxed),
                shared.config.hot.max_clock_drift_ms.load(Ordering::Relaxed),
                s.clock_drift_refused.load(Ordering::Relaxed),
            )
        }
        "replication" => (|| -> std::fmt::Result {
            let face = shared.cluster.get();
            let peers = face.map(|f| f.replication.peers()).unwrap_or_default();
            let position = shared.persistence.taps.position();
            write!(t, "# Replication\r\nrole:master\r\nconnected_slaves:{}\r\n", peers.len())?;
            // The clock acknowledgements are stamped with.
            let now = crate::runtime::unix_ms();
            let t_map = face.map(|f| f.cluster.topology());
            for (i, p) in peers.iter().enumerate() {
                let (ip, port) = t_map
                    .as_ref()
                    .and_then(|t| t.member(p.tag))
                    .map_or((String::new(), 0), |m| (m.client.host.clone(), m.client.port));
                let acked = p.acked();
                let state = if p.copied() { "online" } else { "copying" };
                let lag_ms = p.lag_ms(position, now);
                write!(
                    t,
                    "slave{i}:ip={ip},port={port},state={state},offset={acked},lag={},gyre_tag={},gyre_slots={},gyre_lag_records={}\r\n",
                    lag_ms / 1000,
                    p.tag,
                    p.slot_count,
                    position.saturating_sub(acked),
                )?;
            }
            write!(
                t,
                "master_failover_state:no-failover\r\nmaster_replid:{}\r\nmaster_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:{position}\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\nrepl_backlog_size:1048576\r\nrepl_backlog_first_byte_offset:0\r\nrepl_backlog_histlen:0\r\n",
                shared.run_id
            )?;
            if let Some(f) = face {
                let r = &f.replication;
                write!(
                    t,
                    "gyre_noreplicas:{}\r\ngyre_feed_records_applied:{}\r\ngyre_catch_ups:{}\r\ngyre_copies_served:{}\r\ngyre_keys_forgotten:{}\r\ngyre_anti_entropy_rounds:{}\r\ngyre_anti_entropy_slots_differing:{}\r\ngyre_anti_entropy_keys_repaired:{}\r\ngyre_feeds_parked:{}\r\ngyre_hint_bytes:{}\r\ngyre_feed_resumes:{}\r\ngyre_feed_resumes_from_log:{}\r\n",
                    r.noreplicas.load(Ordering::Relaxed),
                    r.records_in.load(Ordering::Relaxed),
                    r.catch_ups.load(Ordering::Relaxed),
                    r.copies_served.load(Ordering::Relaxed),
                    r.keys_forgotten.load(Ordering::Relaxed),
                    r.ae_rounds.load(Ordering::Relaxed),
                    r.ae_slots_differing.load(Ordering::Relaxed),
                    r.ae_keys_repaired.load(Ordering::Relaxed),
                    r.parked_feeds(),
                    r.hint_bytes(),
                    r.feed_resumes.load(Ordering::Relaxed),
                    r.feed_log_resumes.load(Ordering::Relaxed),
                )?;
            }
            Ok(())
        })(),
        "cpu" => {
            let (user, sys) = memory::cpu_seconds();
            write!(
                t,
                "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\n"
            )
        }
        "modules" => write!(t, "# Modules\r\n"),
        "commandstats" => {
            crate::stats::write_commandstats(call.shared, t);
            Ok(())
        }
        "errorstats" => {
            crate::stats::write_errorstats(shared, t);
            Ok(())
        }
        "cluster" => write!(t, "# Cluster\r\ncluster_enabled:{}\r\n", u8::from(shared.cluster.get().is_some())),
        "keyspace" => {
            let _ = write!(t, "# Keyspace\r\n");
            for i in 0..shared.ks.db_count() {
                let db = shared.ks.db(i as u16);
                let keys = db.len();
                if keys == 0 {
                    continue;
                }
                let (sum, n) = db.ttl_sum(call.now_ms);
                let avg = if n > 0 { sum / n as u128 } else { 0 };
                let _ = write!(t, "db{i}:keys={keys},expires={},avg_ttl={avg}\r\n", db.volatile_len());
            }
            Ok(())
        }
        _ => Ok(()),
    };
}

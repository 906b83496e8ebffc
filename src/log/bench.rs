//! `dawn log bench`: append, read and reopen throughput against a plain-file baseline
//! measured in the same run on the same disk.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::{Config, Log, Offset, SyncPolicy};

/// Deterministic record contents for offset `offset`: tests and the crash child use it so a
/// reader can check every byte without a copy of what was written.
pub fn pattern_record(offset: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    let mut x = xxhash_rust::xxh3::xxh3_64(&offset.to_le_bytes());
    while out.len() < len {
        out.extend_from_slice(&x.to_le_bytes());
        x = x.rotate_left(7) ^ 0x9E37_79B9_7F4A_7C15;
    }
    out.truncate(len);
    out
}

/// Sizes of one bench run.
#[derive(Debug, Clone, Copy)]
pub struct BenchPlan {
    /// 200-byte records appended per round.
    pub small_records: u64,
    /// Records per batch (one group-committed append each).
    pub batch: usize,
    /// Threads appending concurrently (they share syncs).
    pub appenders: usize,
    /// 1 MiB appends per round, for the log and for the baseline.
    pub big_appends: u64,
    /// Rounds; figures are medians over rounds.
    pub rounds: usize,
}

impl Default for BenchPlan {
    fn default() -> Self {
        Self { small_records: 1_000_000, batch: 1000, appenders: 4, big_appends: 384, rounds: 3 }
    }
}

/// The figures `dawn log bench --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// 200-byte records appended per second, group commit, each batch of 1,000 waited
    /// durable before its appender continues (median over rounds).
    pub append_200b_records_per_s: f64,
    /// fdatasyncs per second during that run (group commit shares them).
    pub append_200b_syncs_per_s: f64,
    /// Concurrent appenders in that run.
    pub append_200b_appenders: usize,
    /// 1 MiB appends, each fsynced before the next: MB/s (median).
    pub append_1mib_mb_per_s: f64,
    /// Plain sequential file writes of the same bytes with the same syncs: MB/s (median).
    pub plain_write_1mib_mb_per_s: f64,
    /// `append_1mib_mb_per_s / plain_write_1mib_mb_per_s`, per round, median.
    pub append_1mib_vs_plain: f64,
    /// 200-byte records read back per second (median).
    pub read_200b_records_per_s: f64,
    /// Time to open (recover) the 1 MiB log, median of 5 reopens.
    pub reopen_ms: f64,
    /// Size of that log.
    pub reopen_log_bytes: u64,
    /// Size of its active segment (the part that opening scans).
    pub reopen_active_bytes: u64,
    /// Rounds measured.
    pub rounds: usize,
}

/// The median of bench figures (the upper one of the middle two for an even count);
/// sorts `v`. Panics if `v` is empty.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A progress bar for long work on stderr (hidden when `quiet`, e.g. with `--json`).
pub fn bar(len: u64, msg: &'static str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg:>24} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_message(msg);
    pb
}

/// Runs the bench in `dir` (which should be on the disk being measured).
pub fn run(dir: &Path, plan: BenchPlan, quiet: bool) -> anyhow::Result<BenchReport> {
    let mut small_rates = Vec::new();
    let mut sync_rates = Vec::new();
    let mut read_rates = Vec::new();
    let mut big_rates = Vec::new();
    let mut plain_rates = Vec::new();
    let mut ratios = Vec::new();
    let big_dir = dir.join("big");
    let big = Log::open_path(&big_dir, Config { sync: SyncPolicy::Always, ..Config::default() })?;
    let mib = vec![0xA5u8; 1 << 20];
    for round in 0..plan.rounds {
        // 200-byte records, group commit.
        let small_dir = dir.join(format!("small-{round}"));
        let log = Log::open_path(&small_dir, Config { sync: SyncPolicy::Always, ..Config::default() })?;
        let per = plan.small_records / plan.appenders as u64;
        let pb = bar(per * plan.appenders as u64, "append 200 B", quiet);
        let record = pattern_record(round as u64, 200);
        let start = Instant::now();
        let syncs_before = sync_count(&log);
        std::thread::scope(|s| -> anyhow::Result<()> {
            let mut handles = Vec::new();
            for _ in 0..plan.appenders {
                let (log, pb, record) = (&log, &pb, &record);
                handles.push(s.spawn(move || -> anyhow::Result<()> {
                    let batch: Vec<&[u8]> = vec![record.as_slice(); plan.batch];
                    let mut done = 0;
                    while done < per {
                        let a = log.append(&batch)?;
                        log.wait_durable_blocking(a.last())?;
                        done += plan.batch as u64;
                        pb.inc(plan.batch as u64);
                    }
                    Ok(())
                }));
            }
            for h in handles {
                h.join().expect("appender thread")?;
            }
            Ok(())
        })?;
        let secs = start.elapsed().as_secs_f64();
        pb.finish_and_clear();
        let total = log.durable_end().0;
        small_rates.push(total as f64 / secs);
        sync_rates.push((sync_count(&log) - syncs_before) as f64 / secs);
        // Read it all back.
        let pb = bar(total, "read 200 B", quiet);
        let start = Instant::now();
        let mut next = 0;
        let mut bytes = 0usize;
        while next < total {
            let recs = log.read(Offset(next), 10_000, 16 << 20)?;
            bytes += recs.iter().map(|r| r.data.len()).sum::<usize>();
            next = recs.last().map_or(total, |r| r.offset.0 + 1);
            pb.set_position(next);
        }
        read_rates.push(total as f64 / start.elapsed().as_secs_f64());
        pb.finish_and_clear();
        anyhow::ensure!(bytes as u64 == total * 200, "read back {bytes} bytes, expected {}", total * 200);
        drop(log);
        std::fs::remove_dir_all(&small_dir)?;

        // 1 MiB appends, each durable before the next, against plain writes + fdatasync
        // of the same bytes; the order alternates between rounds so neither always runs
        // on a warmer disk.
        let pb = bar(plan.big_appends * 2, "1 MiB log vs plain", quiet);
        let plain_path = dir.join(format!("plain-{round}.bin"));
        let mut log_rate = 0.0;
        let mut plain_rate = 0.0;
        for leg in 0..2 {
            if (leg + round) % 2 == 0 {
                let start = Instant::now();
                for _ in 0..plan.big_appends {
                    let a = big.append(&[&mib])?;
                    big.wait_durable_blocking(a.last())?;
                    pb.inc(1);
                }
                log_rate = (plan.big_appends as f64) * 1.048576 / start.elapsed().as_secs_f64();
            } else {
                let mut f = File::create(&plain_path)?;
                let start = Instant::now();
                for _ in 0..plan.big_appends {
                    f.write_all(&mib)?;
                    f.sync_data()?;
                    pb.inc(1);
                }
                plain_rate = (plan.big_appends as f64) * 1.048576 / start.elapsed().as_secs_f64();
            }
        }
        pb.finish_and_clear();
        std::fs::remove_file(&plain_path)?;
        big_rates.push(log_rate);
        plain_rates.push(plain_rate);
        ratios.push(log_rate / plain_rate);
    }
    // Leave the active segment about half full, so reopening scans a real tail rather
    // than an empty one (the worst case is one full segment).
    let half = (Config::default().segment_bytes_max >> 20) / 2;
    while big.segments().last().map_or(0, |s| s.bytes) < half << 20 {
        big.append(&[&mib])?;
    }
    let reopen_active_bytes = big.segments().last().map_or(0, |s| s.bytes);
    big.close()?;
    drop(big);
    let reopen_log_bytes: u64 = std::fs::read_dir(&big_dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    let mut reopen = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let log = Log::open_path(&big_dir, Config::default())?;
        reopen.push(start.elapsed().as_secs_f64() * 1e3);
        drop(log);
    }
    std::fs::remove_dir_all(&big_dir)?;
    Ok(BenchReport {
        append_200b_records_per_s: median(&mut small_rates),
        append_200b_syncs_per_s: median(&mut sync_rates),
        append_200b_appenders: plan.appenders,
        append_1mib_mb_per_s: median(&mut big_rates),
        plain_write_1mib_mb_per_s: median(&mut plain_rates),
        append_1mib_vs_plain: median(&mut ratios),
        read_200b_records_per_s: median(&mut read_rates),
        reopen_ms: median(&mut reopen),
        reopen_log_bytes,
        reopen_active_bytes,
        rounds: plan.rounds,
    })
}

fn sync_count(log: &Log) -> u64 {
    log.stats().syncs
}

/// Renders the report as a table.
pub fn table(r: &BenchReport) -> String {
    let mut s = String::new();
    let row = |s: &mut String, k: &str, v: String, base: &str| {
        s.push_str(&format!("{k:<28} {v:>16}  {base}\n"));
    };
    row(
        &mut s,
        "append 200 B records/s",
        format!("{:.0}", r.append_200b_records_per_s),
        &format!(
            "group commit, {} appenders, {:.0} syncs/s",
            r.append_200b_appenders, r.append_200b_syncs_per_s
        ),
    );
    row(
        &mut s,
        "append 1 MiB MB/s",
        format!("{:.1}", r.append_1mib_mb_per_s),
        &format!("{:.2}x plain write", r.append_1mib_vs_plain),
    );
    row(
        &mut s,
        "plain write 1 MiB MB/s",
        format!("{:.1}", r.plain_write_1mib_mb_per_s),
        "baseline: write + fdatasync",
    );
    row(&mut s, "read 200 B records/s", format!("{:.0}", r.read_200b_records_per_s), "");
    row(
        &mut s,
        "reopen ms",
        format!("{:.1}", r.reopen_ms),
        &format!(
            "log of {:.2} GiB, active tail {} MiB",
            r.reopen_log_bytes as f64 / (1u64 << 30) as f64,
            r.reopen_active_bytes >> 20
        ),
    );
    s
}

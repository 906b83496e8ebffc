//! `dawn log ...`: inspect, fill, export, import, prune and bench a log directory.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use super::bench::{self, pattern_record, BenchPlan};
use super::inspect::{self, Verdict};
use super::storage::FileDir;
use super::{Config, Log, Offset, Retention, SyncPolicy};

/// Settings that every command opening a log for writing accepts.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// When appends are fsynced: `always` (group commit), `interval:MS`, or `never`.
    #[arg(long, default_value = "always")]
    pub sync: SyncPolicy,
    /// Seal the active segment once it reaches this many bytes.
    #[arg(long, default_value_t = Config::default().segment_bytes_max)]
    pub segment_bytes: u64,
    /// Keep at most this many segments (oldest sealed ones are pruned after each roll).
    #[arg(long)]
    pub retain_segments: Option<usize>,
    /// Keep at most this many bytes of segments.
    #[arg(long)]
    pub retain_bytes: Option<u64>,
}

impl LogArgs {
    /// The log configuration these arguments describe.
    pub fn config(&self) -> Config {
        Config {
            sync: self.sync,
            segment_bytes_max: self.segment_bytes,
            retention: Retention { segments_max: self.retain_segments, bytes_max: self.retain_bytes },
            ..Config::default()
        }
    }
}

/// Commands on a log directory.
#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Print every segment with its offsets and size, and verify every checksum. Read-only:
    /// exits with status 1 if the log would be refused on open.
    Inspect {
        /// The log directory.
        dir: PathBuf,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Append records with deterministic contents (a load generator). With `--report`,
    /// prints `durable OFFSET` for the last record of each batch once it is durable.
    Fill {
        /// The log directory (created if missing).
        dir: PathBuf,
        /// Records to append.
        #[arg(long, default_value_t = 100_000)]
        records: u64,
        /// Bytes per record.
        #[arg(long, default_value_t = 200)]
        record_size: usize,
        /// Records per append.
        #[arg(long, default_value_t = 100)]
        batch: usize,
        /// Print each durable offset on stdout.
        #[arg(long)]
        report: bool,
        /// Log settings.
        #[command(flatten)]
        log: LogArgs,
    },
    /// Export a sealed segment as a verified, zstd-compressed stream for fast-sync.
    Export {
        /// The log directory.
        dir: PathBuf,
        /// Base offset of the sealed segment (see `dawn log inspect`).
        #[arg(long)]
        base: u64,
        /// Output file (`-` for stdout).
        #[arg(short, long)]
        output: PathBuf,
        /// zstd level.
        #[arg(long, default_value_t = 1)]
        level: i32,
    },
    /// Verify an exported segment and append it to a log (offsets must continue exactly).
    Import {
        /// The log directory (created if missing).
        dir: PathBuf,
        /// The exported stream (`-` for stdin).
        input: PathBuf,
    },
    /// Delete whole sealed segments whose records all lie below an offset.
    Prune {
        /// The log directory.
        dir: PathBuf,
        /// Keep every record at or above this offset.
        #[arg(long)]
        below: u64,
    },
    /// Measure append, read and reopen speed against plain file writes on the same disk.
    Bench {
        /// Directory to run in (on the disk to measure); a temporary directory under the
        /// current directory by default. Everything written is removed afterwards.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// 200-byte records per round.
        #[arg(long, default_value_t = BenchPlan::default().small_records)]
        records: u64,
        /// 1 MiB appends per round (the log measured for reopen gets rounds times this).
        #[arg(long, default_value_t = BenchPlan::default().big_appends)]
        big_appends: u64,
        /// Concurrent appenders sharing group commits.
        #[arg(long, default_value_t = BenchPlan::default().appenders)]
        appenders: usize,
        /// Rounds (figures are medians).
        #[arg(long, default_value_t = BenchPlan::default().rounds)]
        rounds: usize,
    },
}

/// Runs a `dawn log` command.
pub fn run(cmd: LogCommand) -> anyhow::Result<()> {
    match cmd {
        LogCommand::Inspect { dir, json } => inspect_cmd(dir, json),
        LogCommand::Fill { dir, records, record_size, batch, report, log } => {
            fill(dir, records, record_size, batch, report, log.config())
        }
        LogCommand::Export { dir, base, output, level } => {
            let log = Log::open_path(&dir, Config::default())
                .with_context(|| format!("opening log {}", dir.display()))?;
            let summary = if output.as_os_str() == "-" {
                log.export_segment(Offset(base), BufWriter::new(std::io::stdout().lock()), level)?
            } else {
                let f = std::fs::File::create(&output)
                    .with_context(|| format!("creating {}", output.display()))?;
                log.export_segment(Offset(base), BufWriter::new(f), level)?
            };
            eprintln!(
                "exported segment {} ({} records, {} bytes -> {} bytes)",
                summary.base_offset, summary.records, summary.segment_bytes, summary.stream_bytes
            );
            Ok(())
        }
        LogCommand::Import { dir, input } => {
            let log = Log::open_path(&dir, Config::default())
                .with_context(|| format!("opening log {}", dir.display()))?;
            let summary = if input.as_os_str() == "-" {
                log.import_segment(std::io::stdin().lock())?
            } else {
                let f =
                    std::fs::File::open(&input).with_context(|| format!("opening {}", input.display()))?;
                log.import_segment(std::io::BufReader::new(f))?
            };
            eprintln!(
                "imported segment {} ({} records); the log continues at {}",
                summary.base_offset,
                summary.records,
                summary.base_offset + summary.records
            );
            Ok(())
        }
        LogCommand::Prune { dir, below } => {
            let log = Log::open_path(&dir, Config::default())
                .with_context(|| format!("opening log {}", dir.display()))?;
            let removed = log.prune_below(Offset(below))?;
            eprintln!("removed {} segments; oldest offset kept is {}", removed.len(), log.oldest_offset());
            Ok(())
        }
        LogCommand::Bench { dir, json, records, big_appends, appenders, rounds } => {
            if appenders == 0 || rounds == 0 || records == 0 || big_appends == 0 {
                bail!("--records, --big-appends, --appenders and --rounds must be at least 1");
            }
            let tmp;
            let dir = match dir {
                Some(d) => {
                    std::fs::create_dir_all(&d)?;
                    tempfile::Builder::new().prefix("dawn-log-bench-").tempdir_in(&d)?
                }
                None => tempfile::Builder::new().prefix(".dawn-log-bench-").tempdir_in(".")?,
            };
            tmp = dir;
            let plan =
                BenchPlan { small_records: records, big_appends, appenders, rounds, ..BenchPlan::default() };
            let report = bench::run(tmp.path(), plan, json)?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                print!("{}", bench::table(&report));
            }
            Ok(())
        }
    }
}

fn inspect_cmd(dir: PathBuf, json: bool) -> anyhow::Result<()> {
    let fdir = FileDir::existing(&dir).with_context(|| format!("cannot inspect {}", dir.display()))?;
    let report = inspect::inspect(&fdir)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{:<26} {:>12} {:>12} {:>10} {:>12}  {:<7} status",
            "segment", "first", "last", "records", "bytes", "state"
        );
        for s in &report.segments {
            let status = match &s.verdict {
                Verdict::Ok => "ok".to_string(),
                Verdict::TornTail { at, bytes, why } => {
                    format!("torn tail at byte {at} ({bytes} bytes, cut on open): {why}")
                }
                Verdict::Corrupt { at, why } => format!("CORRUPT at byte {at}: {why}"),
            };
            println!(
                "{:<26} {:>12} {:>12} {:>10} {:>12}  {:<7} {status}",
                s.name,
                s.base,
                s.last.map_or("-".into(), |l| l.to_string()),
                s.records,
                s.bytes,
                if s.sealed { "sealed" } else { "active" }
            );
        }
        for n in &report.ignored {
            println!("ignored: {n} (not a segment file)");
        }
        for n in &report.leftovers {
            println!("leftover: {n} (an interrupted import; removed on open)");
        }
        for p in &report.problems {
            println!("PROBLEM: {p}");
        }
        let records: u64 = report.segments.iter().map(|s| s.records).sum();
        let bytes: u64 = report.segments.iter().map(|s| s.bytes).sum();
        println!(
            "{} segments, {records} records, {bytes} bytes: {}",
            report.segments.len(),
            if report.is_ok() { "ok" } else { "the log will be refused on open" }
        );
    }
    if !report.is_ok() {
        std::process::exit(1);
    }
    Ok(())
}

fn fill(
    dir: PathBuf,
    records: u64,
    record_size: usize,
    batch: usize,
    report: bool,
    config: Config,
) -> anyhow::Result<()> {
    if batch == 0 {
        bail!("--batch must be at least 1");
    }
    let log =
        Arc::new(Log::open_path(&dir, config).with_context(|| format!("opening log {}", dir.display()))?);
    let start = log.next_offset().0;
    let pb = if report { ProgressBar::hidden() } else { ProgressBar::new(records) };
    pb.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")?
            .progress_chars("=> "),
    );
    pb.set_message("fill");
    let stdout = std::io::stdout();
    let mut done = 0u64;
    let mut pending = std::collections::VecDeque::new();
    while done < records {
        let n = (batch as u64).min(records - done) as usize;
        let first = start + done;
        let recs: Vec<Vec<u8>> = (0..n as u64).map(|i| pattern_record(first + i, record_size)).collect();
        let a = log.append(&recs)?;
        anyhow::ensure!(a.first.0 == first, "log assigned offset {} where {first} was expected", a.first);
        pending.push_back(a.last());
        // Keep a few batches in flight so group commit has something to share.
        while pending.len() > 4 || (done + n as u64 >= records && !pending.is_empty()) {
            let last = pending.pop_front().expect("pending");
            log.wait_durable_blocking(last)?;
            if report {
                let mut out = stdout.lock();
                writeln!(out, "durable {last}")?;
                out.flush()?;
            }
        }
        done += n as u64;
        pb.set_position(done);
    }
    pb.finish_and_clear();
    log.close()?;
    eprintln!("appended {records} records of {record_size} bytes at offsets {start}..{}", start + records);
    Ok(())
}

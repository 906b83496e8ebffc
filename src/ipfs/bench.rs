//! `dawn bench ipfs`: import throughput against a SHA-256 baseline measured in the same
//! run, and gateway download throughput over loopback HTTP.
//!
//! Phases, on one deterministic pseudo-random file of `--size-mib` MiB in a temp dir:
//! 1. `sha256`: read the file and hash it (the baseline: an import cannot beat hashing
//!    every byte once).
//! 2. `add --only-hash`: chunk, build the DAG and hash every block, storing nothing.
//! 3. `add`: the same into the blockstore, with every block fsynced, then pinned.
//! 4. `get`: `GET /ipfs/<cid>` from the gateway on 127.0.0.1 with a hyper client.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use http_body_util::{BodyExt, Empty};
use sha2::{Digest as _, Sha256};

use super::blockstore::{Blockstore, PinKind};
use super::gateway::{serve, Gateway, GatewayConfig};
use super::importer::{import_reader, ImportOptions, NullSink, CHUNK_SIZE_DEFAULT, MAX_LINKS_DEFAULT};
use crate::chain::{Authority, ChainId, Checksum256, PermissionLevel, StateView};

/// `dawn bench ipfs` options.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct IpfsBenchArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Size of the test file in MiB.
    #[arg(long = "size-mib", default_value_t = 256)]
    pub size_mib: u64,
    /// Import with CIDv1 and raw leaves instead of kubo's CIDv0 defaults.
    #[arg(long = "cid-version", default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=1))]
    pub cid_version: u8,
}

/// A state with no accounts: the bench only downloads.
struct NoState;

impl StateView for NoState {
    fn account_exists(&self, _: crate::chain::Name) -> bool {
        false
    }
    fn permission(&self, _: &PermissionLevel) -> Option<std::sync::Arc<Authority>> {
        None
    }
}

fn mb_per_s(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / 1e6 / secs.max(1e-9)
}

/// Runs the benchmark and prints the results.
pub fn run(args: &IpfsBenchArgs) -> anyhow::Result<()> {
    let size = args.size_mib.checked_mul(1 << 20).context("--size-mib too large")?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("input.bin");
    let bar = if args.json || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(5)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}").expect("valid template"),
    );

    bar.set_message("writing the input file");
    {
        // xorshift64*: incompressible, deterministic, much faster than the phases measured.
        let mut f = BufWriter::with_capacity(1 << 20, File::create(&path)?);
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut buf = vec![0u8; 1 << 20];
        let mut left = size;
        while left > 0 {
            for w in buf.chunks_exact_mut(8) {
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                w.copy_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
            }
            let n = left.min(buf.len() as u64) as usize;
            f.write_all(&buf[..n])?;
            left -= n as u64;
        }
        f.flush()?;
    }
    bar.inc(1);

    bar.set_message("sha256 baseline");
    let t = Instant::now();
    let mut h = Sha256::new();
    let mut f = File::open(&path)?;
    let mut buf = vec![0u8; CHUNK_SIZE_DEFAULT];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let _ = Checksum256(h.finalize().into());
    let sha_s = t.elapsed().as_secs_f64();
    bar.inc(1);

    let opts = if args.cid_version == 1 { ImportOptions::cid_v1() } else { ImportOptions::default() };
    bar.set_message("add --only-hash");
    let t = Instant::now();
    let mut sink = NullSink::default();
    let hashed = import_reader(&mut File::open(&path)?, opts, &mut sink)?;
    let hash_s = t.elapsed().as_secs_f64();
    bar.inc(1);

    bar.set_message("add (stored, fsynced, pinned)");
    let repo = dir.path().join("repo");
    let store = Blockstore::open(&repo)?;
    let t = Instant::now();
    let mut staging = store.stage()?;
    let added = import_reader(&mut File::open(&path)?, opts, &mut staging)?;
    staging.commit()?;
    store.pin_add(&added.cid, PinKind::Recursive)?;
    drop(staging);
    let add_s = t.elapsed().as_secs_f64();
    anyhow::ensure!(added == hashed, "stored and hash-only imports disagree");
    bar.inc(1);

    bar.set_message("gateway GET over loopback");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let (got, get_s) = rt.block_on(async {
        let gw = Arc::new(Gateway::open(
            &repo,
            GatewayConfig::default(),
            Arc::new(NoState),
            ChainId(Checksum256::default()),
        )?);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, gw, async {
            let _ = stop_rx.await;
        }));
        let t = Instant::now();
        let stream = tokio::net::TcpStream::connect(addr).await?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        let req = hyper::Request::get(format!("/ipfs/{}", added.cid))
            .header(hyper::header::HOST, addr.to_string())
            .body(Empty::<bytes::Bytes>::new())?;
        let mut resp = sender.send_request(req).await?;
        anyhow::ensure!(resp.status() == 200, "gateway answered {}", resp.status());
        let mut got = 0u64;
        while let Some(frame) = resp.body_mut().frame().await {
            if let Ok(d) = frame?.into_data() {
                got += d.len() as u64;
            }
        }
        let secs = t.elapsed().as_secs_f64();
        let _ = stop_tx.send(());
        server.await??;
        Ok::<_, anyhow::Error>((got, secs))
    })?;
    anyhow::ensure!(got == size, "gateway returned {got} bytes of {size}");
    bar.inc(1);
    bar.finish_and_clear();

    let leaves = size.div_ceil(CHUNK_SIZE_DEFAULT as u64).max(1);
    let v = serde_json::json!({
        "file_bytes": size,
        "chunk_bytes": CHUNK_SIZE_DEFAULT,
        "max_links": MAX_LINKS_DEFAULT,
        "cid_version": args.cid_version,
        "raw_leaves": opts.raw_leaves,
        "leaves": leaves,
        "blocks": sink.blocks,
        "dag_bytes": added.tsize,
        "root": added.cid.to_string(),
        "sha256_mb_per_s": mb_per_s(size, sha_s),
        "add_only_hash_mb_per_s": mb_per_s(size, hash_s),
        "add_mb_per_s": mb_per_s(size, add_s),
        "get_mb_per_s": mb_per_s(size, get_s),
    });
    if args.json {
        println!("{v}");
    } else {
        println!(
            "ipfs bench: {} MiB file, {} chunks of {} KiB, {} blocks, root {}",
            args.size_mib,
            leaves,
            CHUNK_SIZE_DEFAULT / 1024,
            sink.blocks,
            added.cid
        );
        println!("{:<28} {:>10}", "phase", "MB/s");
        println!("{:<28} {:>10.0}", "sha256 (baseline)", v["sha256_mb_per_s"].as_f64().unwrap_or(0.0));
        println!("{:<28} {:>10.0}", "add --only-hash", v["add_only_hash_mb_per_s"].as_f64().unwrap_or(0.0));
        println!("{:<28} {:>10.0}", "add (stored, fsynced)", v["add_mb_per_s"].as_f64().unwrap_or(0.0));
        println!("{:<28} {:>10.0}", "gateway GET (loopback)", v["get_mb_per_s"].as_f64().unwrap_or(0.0));
    }
    Ok(())
}

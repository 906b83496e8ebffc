//! `dawn bench` (the end-to-end pipeline bench) at a tiny size: the plumbing works, every
//! transaction is delivered (the bench itself fails otherwise) and the JSON carries the
//! headline keys. A correctness test, not a timed one.

use std::process::Command;

fn bench(args: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dawn"))
        .args(["bench", "--json", "--dir"])
        .arg(dir.path())
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "dawn bench {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text.lines().last().expect("one JSON line");
    serde_json::from_str(line).unwrap()
}

fn check_run(run: &serde_json::Value, transactions: u64, warmup: u64) {
    assert_eq!(run["transactions"], transactions);
    assert_eq!(run["warmup_transactions"], warmup);
    // The warm-up went through the whole pipeline first, delivered and measured alike.
    assert_eq!(run["warmup_tps"].as_f64().is_some_and(|t| t > 0.0), warmup > 0, "{run}");
    assert!(run["tps"].as_f64().unwrap() > 0.0);
    for l in ["ack", "applied", "delivered"] {
        let p50 = run[l]["p50_ms"].as_f64().unwrap();
        let max = run[l]["max_ms"].as_f64().unwrap();
        assert!(p50 >= 0.0 && max >= p50, "{l}: {run}");
    }
    // A transaction is acknowledged before its block is applied, and delivered after.
    assert!(run["ack"]["max_ms"].as_f64().unwrap() <= run["delivered"]["max_ms"].as_f64().unwrap() + 1.0);
    assert!(run["stages"]["blocks"].as_u64().unwrap() >= 1);
    assert!(run["memory"]["rss_anon_end"].as_u64().is_some());
    // Sampled once half the transactions were delivered, so after the start.
    assert!(run["memory"]["rss_anon_half"].as_u64().unwrap() > 0, "{run}");
    // A number, or null when the half-way sample came too late in a short run.
    let second_half = &run["memory"]["rss_growth_bytes_per_tx_second_half"];
    assert!(second_half.is_null() || second_half.as_f64().is_some(), "{run}");
    let beyond = &run["memory"]["rss_growth_beyond_dedup_bytes_per_tx_second_half"];
    assert_eq!(beyond.is_null(), second_half.is_null(), "{run}");
    // Every transaction, the warm-up's too, is in the window by the end: an entry of at
    // least 25 + 16 bytes.
    let dedup_end = run["memory"]["dedup_window_bytes_end"].as_u64().unwrap();
    assert!(dedup_end >= (transactions + warmup) * 41, "{run}");
    assert!(run["memory"]["dedup_window_bytes_half"].as_u64().unwrap() <= dedup_end, "{run}");
}

#[test]
fn one_and_all_cores_deliver_everything() {
    let r = bench(&[
        "--transactions",
        "300",
        "--accounts",
        "40",
        "--subscribers",
        "2",
        "--batch",
        "50",
        "--rounds",
        "2",
        "--warmup",
        "0",
    ]);
    for key in ["tps", "p50_ms", "p99_ms", "verify_batch_per_s", "efficiency", "scaling", "cores"] {
        assert!(r.get(key).is_some(), "{key} missing: {r}");
    }
    let runs = r["runs"].as_array().unwrap();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // One core with the load beside it, one core with the load on it (the all-core run's
    // placement, for the scaling), all cores.
    assert_eq!(runs.len(), if cores > 1 { 3 } else { 1 });
    assert_eq!(runs[0]["cores"], 1, "the first run is pinned to one core");
    assert_eq!(runs.last().unwrap()["cores"].as_u64().unwrap() as usize, cores);
    for run in runs {
        check_run(run, 300, 0);
        // Two rounds each; the report is the upper one by efficiency.
        let rounds: Vec<f64> =
            run["efficiency_rounds"].as_array().unwrap().iter().map(|e| e.as_f64().unwrap()).collect();
        assert_eq!(rounds.len(), 2, "{run}");
        assert_eq!(run["tps_rounds"].as_array().unwrap().len(), 2);
        assert_eq!(run["efficiency"].as_f64().unwrap(), rounds.iter().copied().fold(f64::MIN, f64::max));
    }
    let eff = r["efficiency"].as_f64().unwrap();
    let want = r["tps"].as_f64().unwrap() / r["verify_batch_per_s"].as_f64().unwrap();
    assert!((eff - want).abs() < 1e-9);
    if cores > 1 {
        assert!(r["scaling"].as_f64().unwrap() > 0.0);
        // Pushers and subscribers run beside a one-core node, on a CPU it does not use;
        // beside an all-core node no CPU is free.
        assert!(runs[0]["load_cpu"].as_u64().is_some(), "{}", runs[0]);
        assert!(runs[0]["threads"]["load_s"].as_f64().is_some());
        assert_eq!(runs[1]["cores"], 1);
        for run in &runs[1..] {
            assert!(run["load_cpu"].is_null(), "{run}");
            assert_eq!(run["threads"]["load_s"].as_f64().unwrap(), 0.0);
        }
        // The scaling compares the runs that carry their load alike.
        let want = runs[2]["tps"].as_f64().unwrap() / runs[1]["tps"].as_f64().unwrap() / cores as f64;
        assert!((r["scaling"].as_f64().unwrap() - want).abs() < 1e-9, "{r}");
        assert_eq!(r["tps"], runs[0]["tps"], "the headline is the one-core run with its load apart");
    }
}

#[test]
fn wasm_hot_mix_over_http_delivers_everything() {
    let r = bench(&[
        "--cores",
        "1",
        "--workload",
        "wasm",
        "--hot-percent",
        "20",
        "--http",
        "--transactions",
        "200",
        "--accounts",
        "20",
        "--subscribers",
        "3",
        "--batch",
        "40",
        "--clients",
        "3",
        "--rounds",
        "1",
        "--load-on-node-cores",
        "--warmup",
        "60",
    ]);
    assert_eq!(r["workload"], "wasm");
    assert_eq!(r["intake"], "http");
    assert!(r["scaling"].is_null(), "one configuration ran");
    let runs = r["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    check_run(&runs[0], 200, 60);
    assert_eq!(r["warmup_transactions"], 60);
    assert_eq!(runs[0]["efficiency_rounds"].as_array().unwrap().len(), 1);
    assert!(runs[0]["load_cpu"].is_null(), "asked to share the node's core: {}", runs[0]);
}

#[test]
fn stage_benches_still_parse() {
    for target in ["exec", "ingest", "publish", "ipfs"] {
        let out =
            Command::new(env!("CARGO_BIN_EXE_dawn")).args(["bench", target, "--help"]).output().unwrap();
        assert!(out.status.success(), "dawn bench {target} --help failed");
    }
    let out =
        Command::new(env!("CARGO_BIN_EXE_dawn")).args(["bench", "--cores", "0", "ingest"]).output().unwrap();
    assert!(!out.status.success(), "pipeline options and a target conflict");
}

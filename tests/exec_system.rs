//! The system contract and the exec stage: accounts and permissions, delayed
//! transactions, and rebuilding state from the chain log with the results log checked.

use dawn::chain::{codec, n, Authority, Name, PermissionLevel, TransactionStatus};
use dawn::exec::native::system::{DeleteAuth, NewAccount, UpdateAuth};
use dawn::exec::workload::{self, account, BlockMaker};
use dawn::exec::{BlockResults, ExecConfig, ExecStage, Executor};
use dawn::log::{Config as LogConfig, Log};

/// Appends `records` to `log` and waits until they are durable.
fn append_durable(log: &Log, records: &[Vec<u8>]) {
    let a = log.append(records).unwrap();
    log.wait_durable_blocking(a.last()).unwrap();
}

/// A temporary directory, and an opener of logs by name inside it.
fn log_dir() -> (tempfile::TempDir, impl Fn(&str) -> Log) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    (dir, move |name: &str| Log::open_path(&path.join(name), LogConfig::default()).unwrap())
}

fn key_auth() -> Authority {
    Authority::single_key(workload::producer_key().public())
}

fn errors(r: &BlockResults) -> Vec<String> {
    r.transactions.iter().map(|t| t.error.clone().unwrap_or_default()).collect()
}

fn statuses(r: &BlockResults) -> Vec<TransactionStatus> {
    r.transactions.iter().map(|t| t.receipt.status).collect()
}

fn with_perm(mut t: dawn::chain::Transaction, perm: &str) -> dawn::chain::Transaction {
    for a in &mut t.actions {
        for l in &mut a.authorization {
            l.permission = n(perm);
        }
    }
    t
}

#[test]
fn accounts_and_permissions() {
    let g = workload::genesis(4);
    let mut ex = Executor::from_genesis(&g, ExecConfig { threads: 1, ..ExecConfig::default() }).unwrap();
    let mut maker = BlockMaker::new(&g);
    let a = account(0);
    let new = |creator: Name, name: &str| {
        let na = NewAccount { creator, name: n(name), owner: key_auth(), active: key_auth() };
        workload::transaction(
            vec![workload::action(n("eosio"), "newaccount", creator, &na)],
            vec![],
            vec![creator, n(name)],
        )
    };
    let upd = |perm: &str, parent: &str, auth_perm: &str| {
        let u = UpdateAuth {
            account: a,
            permission: n(perm),
            parent: if parent.is_empty() { Name(0) } else { n(parent) },
            auth: key_auth(),
        };
        with_perm(
            workload::transaction(vec![workload::action(n("eosio"), "updateauth", a, &u)], vec![], vec![a]),
            auth_perm,
        )
    };
    let txs = vec![
        new(a, "fresh"),
        new(a, "fresh"),
        new(a, "x.eosio"),
        upd("trade", "active", "active"),
        upd("hot", "trade", "trade"),
        upd("trade", "hot", "owner"),
        upd("active", "trade", "owner"),
        upd("owner", "", "active"),
    ];
    let r = ex.execute_block(&maker.next(txs));
    use TransactionStatus::*;
    assert_eq!(
        statuses(&r),
        vec![Executed, HardFail, HardFail, Executed, Executed, HardFail, HardFail, HardFail],
        "{:?}",
        errors(&r)
    );
    let e = errors(&r);
    assert!(e[1].contains("already exists"), "{e:?}");
    assert!(e[2].contains("only eosio may create accounts ending in .eosio"), "{e:?}");
    assert!(e[5].contains("cannot descend from itself"), "{e:?}");
    assert!(e[6].contains("parent of active is owner"), "{e:?}");
    assert!(e[7].contains(&format!("missing authority of {a}@owner")), "{e:?}");
    // The account exists with its permissions; a weak permission cannot replace active.
    let r = ex.execute_block(&maker.next(vec![upd("active", "owner", "hot")]));
    assert!(errors(&r)[0].contains("missing authority"), "{:?}", errors(&r));
    // deleteauth refuses a permission with children, then works bottom-up.
    let del = |perm: &str, by: &str| {
        let d = DeleteAuth { account: a, permission: n(perm) };
        with_perm(
            workload::transaction(vec![workload::action(n("eosio"), "deleteauth", a, &d)], vec![], vec![a]),
            by,
        )
    };
    let r = ex.execute_block(&maker.next(vec![
        del("trade", "active"),
        del("hot", "trade"),
        del("trade", "active"),
    ]));
    assert_eq!(statuses(&r), vec![HardFail, Executed, Executed], "{:?}", errors(&r));
    assert!(errors(&r)[0].contains("is the parent of hot"));
    // Acting with a permission that does not exist fails up front.
    let t = with_perm(workload::transfer(n("eosio.token"), a, account(1), 1, 1), "trade");
    let r = ex.execute_block(&maker.next(vec![t]));
    assert!(errors(&r)[0].contains(&format!("permission {a}@trade does not exist")), "{:?}", errors(&r));
    let _ = PermissionLevel { actor: a, permission: n("active") };
}

#[test]
fn delayed_transactions_run_later() {
    let g = workload::genesis(4);
    let mut ex = Executor::from_genesis(&g, ExecConfig { threads: 2, ..ExecConfig::default() }).unwrap();
    let mut maker = BlockMaker::new(&g);
    let mut t = workload::transfer(n("eosio.token"), account(0), account(1), 5, 1);
    t.delay_sec = 1;
    let mut bad = workload::transfer(n("eosio.token"), account(2), account(3), 1 << 60, 2);
    bad.delay_sec = 1;
    let r = ex.execute_block(&maker.next(vec![t, bad]));
    assert_eq!(statuses(&r), vec![TransactionStatus::Delayed; 2]);
    assert_eq!(ex.deferred_pending(), 2);
    ex.execute_block(&maker.next(vec![]));
    let r = ex.execute_block(&maker.next(vec![]));
    assert_eq!(
        statuses(&r),
        vec![TransactionStatus::Executed, TransactionStatus::HardFail],
        "{:?}",
        errors(&r)
    );
    assert!(errors(&r)[1].contains("overdrawn balance"));
    assert_eq!(ex.deferred_pending(), 0);
}

#[test]
fn stage_rebuilds_state_and_refuses_altered_results() {
    let (_dir, open) = log_dir();
    let g = workload::genesis(8);
    let mut maker = BlockMaker::new(&g);
    let blocks: Vec<_> = workload::deploy_wasm_token(8)
        .into_iter()
        .chain([
            workload::transfers(workload::WASM_TOKEN, 8, 40, 20, 3),
            workload::transfers(n("eosio.token"), 8, 40, 20, 4),
        ])
        .map(|txs| maker.next(txs))
        .collect();
    let chain = open("chain");
    for b in &blocks {
        append_durable(&chain, &[codec::encode(b)]);
    }
    let cfg = || ExecConfig { threads: 2, ..ExecConfig::default() };
    // First start: executes and appends every block's results.
    let stage = ExecStage::open(&g, chain.clone(), open("results"), cfg()).unwrap();
    let head = stage.head().unwrap();
    assert_eq!(head.num.0, 4);
    drop(stage);
    // Second start, with another thread count: re-execution matches the results log.
    let results = open("results");
    assert_eq!(results.next_offset().0, 4);
    let stage =
        ExecStage::open(&g, chain.clone(), results.clone(), ExecConfig { threads: 1, ..cfg() }).unwrap();
    assert_eq!(stage.head(), Some(head));
    drop(stage);
    // A results log whose record differs from re-execution is refused.
    let other = open("other");
    let mut ex = Executor::from_genesis(&g, cfg()).unwrap();
    for (i, b) in blocks.iter().enumerate() {
        let mut r = ex.execute_block(b);
        if i == 3 {
            r.transactions[0].receipt.cpu_usage_us += 1;
        }
        other.append(&[codec::encode(&r)]).unwrap();
    }
    other.close().unwrap();
    drop(other);
    let err =
        ExecStage::open(&g, chain, open("other"), cfg()).err().expect("a tampered results log is refused");
    assert!(err.to_string().contains("block 4: re-execution differs"), "{err}");
}

#[test]
fn snapshots_restart_to_the_same_state_and_bad_ones_are_skipped() {
    let (dir, open) = log_dir();
    let g = workload::genesis(8);
    let mut maker = BlockMaker::new(&g);
    let chain = open("chain");
    let mut append = |txs| {
        let b = maker.next(txs);
        append_durable(&chain, &[codec::encode(&b)]);
    };
    for txs in workload::deploy_wasm_token(8) {
        append(txs);
    }
    for i in 0..5 {
        append(workload::transfers(
            if i % 2 == 0 { workload::WASM_TOKEN } else { n("eosio.token") },
            8,
            30,
            20,
            i,
        ));
    }
    let snaps = dir.path().join("state");
    let cfg = |interval| ExecConfig {
        threads: 2,
        snapshot_dir: Some(snaps.clone()),
        snapshot_interval_blocks: interval,
        ..ExecConfig::default()
    };
    let stage = ExecStage::open(&g, chain.clone(), open("results"), cfg(2)).unwrap();
    stage.finish_snapshots();
    let head = stage.head().unwrap();
    assert_eq!(head.num.0, 7);
    drop(stage);
    let names: Vec<u32> = dawn::exec::snapshot::list(&snaps).iter().map(|(n, _)| n.0).collect();
    // Replay waits for each snapshot before the next, so blocks 2, 4 and 6 each got one;
    // the newest two are kept.
    assert_eq!(names, [6, 4]);
    // Restart from the newest snapshot: same head, same roots.
    let stage = ExecStage::open(&g, chain.clone(), open("results"), cfg(0)).unwrap();
    assert_eq!(stage.loaded_snapshot(), Some(dawn::chain::BlockNum(names[0])));
    assert_eq!(stage.head(), Some(head));
    drop(stage);
    // A truncated newest snapshot is refused by name.
    let newest = dawn::exec::snapshot::list(&snaps)[0].1.clone();
    let whole = std::fs::read(&newest).unwrap();
    std::fs::write(&newest, &whole[..whole.len() / 2]).unwrap();
    assert!(dawn::exec::snapshot::read(&newest)
        .unwrap_err()
        .to_string()
        .contains(&newest.display().to_string()));
    std::fs::write(&newest, &whole).unwrap();
    // A damaged newest snapshot is skipped; the older one is used.
    let mut bytes = std::fs::read(&newest).unwrap();
    let last = bytes.len() - 10;
    bytes[last] ^= 0x55;
    std::fs::write(&newest, &bytes).unwrap();
    assert!(dawn::exec::snapshot::read(&newest).is_err());
    let stage = ExecStage::open(&g, chain.clone(), open("results"), cfg(0)).unwrap();
    assert_eq!(stage.loaded_snapshot(), Some(dawn::chain::BlockNum(names[1])));
    assert_eq!(stage.head(), Some(head));
    drop(stage);
    // And without any snapshot, replay from genesis reaches the same state; a write cut
    // short by a crash left a temporary file, which the next snapshot clears away.
    for (_, p) in dawn::exec::snapshot::list(&snaps) {
        std::fs::remove_file(p).unwrap();
    }
    let debris = snaps.join("snapshot-0000000003.bin.tmp");
    std::fs::write(&debris, b"half a snapshot").unwrap();
    let stage = ExecStage::open(&g, chain, open("results"), cfg(7)).unwrap();
    assert_eq!(stage.loaded_snapshot(), None);
    assert_eq!(stage.head(), Some(head));
    stage.finish_snapshots();
    assert!(!debris.exists(), "the temporary file of an interrupted write is removed");
}

/// A producer that lies about the roots of a block it executed is caught: the block that
/// carries the claim stops the stage, naming both roots.
#[test]
fn a_block_claiming_wrong_executed_roots_is_refused() {
    let (_dir, open) = log_dir();
    let g = workload::genesis(8);
    let mut ex = Executor::from_genesis(&g, ExecConfig { threads: 1, ..ExecConfig::default() }).unwrap();
    let mut maker = BlockMaker::new(&g);
    let chain = open("chain");
    let b1 = maker.next(vec![workload::transfer(n("eosio.token"), account(0), account(1), 5, 1)]);
    let r1 = ex.execute_block(&b1);
    // Block 2 claims block 1's roots: the true ones, then a forged state root.
    let seal = |state_root| {
        let mut header = maker.clone().next(vec![]).header;
        header.executed_block_num = dawn::chain::BlockNum(1);
        header.executed_state_root = state_root;
        header.executed_results_root = r1.results_root;
        dawn::chain::SignedBlock::seal(header, vec![], &workload::producer_key(), &g.chain_id())
    };
    let honest = seal(r1.state_root);
    let forged = seal(dawn::chain::Checksum256([7; 32]));
    for b in [&b1, &honest] {
        append_durable(&chain, &[codec::encode(b)]);
    }
    let stage = ExecStage::open(&g, chain.clone(), open("results"), ExecConfig::default()).unwrap();
    assert_eq!(stage.head().unwrap().num.0, 2);
    drop(stage);
    let lying = open("lying");
    append_durable(&lying, &[codec::encode(&b1), codec::encode(&forged)]);
    let err =
        ExecStage::open(&g, lying, open("results2"), ExecConfig::default()).err().expect("a lie is refused");
    assert!(err.to_string().contains("claims state root 0707"), "{err}");
    // A block claiming to follow its own execution (or a later one's) is refused too.
    let mut header = maker.clone().next(vec![]).header;
    header.executed_block_num = dawn::chain::BlockNum(2);
    header.executed_state_root = r1.state_root;
    let ahead = dawn::chain::SignedBlock::seal(header, vec![], &workload::producer_key(), &g.chain_id());
    let early = open("early");
    append_durable(&early, &[codec::encode(&b1), codec::encode(&ahead)]);
    let err = ExecStage::open(&g, early, open("results3"), ExecConfig::default())
        .err()
        .expect("a claim on a block not yet executed is refused");
    assert!(err.to_string().contains("which is not before it"), "{err}");
}

/// Bytes in the logs that do not decode stop the stage with the record named: a chain
/// log record that is not a block, a block at the wrong offset, a results record that is
/// not results.
#[test]
fn undecodable_log_records_are_refused() {
    let (_dir, open) = log_dir();
    let g = workload::genesis(4);
    let cfg = || ExecConfig { threads: 1, ..ExecConfig::default() };
    let garbage = open("garbage");
    append_durable(&garbage, &[vec![1, 2, 3]]);
    let err = ExecStage::open(&g, garbage, open("r1"), cfg()).err().expect("refused");
    assert!(err.to_string().starts_with("chain log record 0:"), "{err}");
    let mut maker = BlockMaker::new(&g);
    let b1 = maker.next(vec![]);
    let b2 = maker.next(vec![]);
    let skipped = open("skipped");
    append_durable(&skipped, &[codec::encode(&b2)]);
    let err = ExecStage::open(&g, skipped, open("r2"), cfg()).err().expect("refused");
    assert!(err.to_string().contains("holds block 2"), "{err}");
    let chain = open("chain");
    append_durable(&chain, &[codec::encode(&b1)]);
    let results = open("r3");
    append_durable(&results, &[vec![9; 40]]);
    drop(results);
    let err = ExecStage::open(&g, chain, open("r3"), cfg()).err().expect("refused");
    assert!(err.to_string().contains("stored record does not decode"), "{err}");
}

/// A record that is not a block, arriving while the stage follows the chain log (appended
/// without a decoded form, as sync appends), stops it with the record named, after the
/// block before it ran.
#[test]
fn an_undecodable_record_stops_the_follower() {
    let (_dir, open) = log_dir();
    let g = workload::genesis(4);
    let chain = open("chain");
    let cfg = ExecConfig { threads: 1, ..ExecConfig::default() };
    let stage = ExecStage::open(&g, chain.clone(), open("results"), cfg).unwrap();
    let heads = stage.view().subscribe_head();
    let b1 = BlockMaker::new(&g).next(vec![]);
    append_durable(&chain, &[codec::encode(&b1), vec![1, 2, 3]]);
    chain.close().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let err = stage.run(rt.handle().clone()).expect_err("refused");
    assert!(err.to_string().starts_with("chain log record 1:"), "{err}");
    assert_eq!(heads.borrow().map(|h| h.num.0), Some(1), "the block before it ran");
}

#[test]
fn the_view_serves_a_changed_permission_at_once() {
    use dawn::chain::StateView;
    let (_dir, open) = log_dir();
    let g = workload::genesis(4);
    let chain = open("chain");
    let mut maker = BlockMaker::new(&g);
    let a = account(0);
    let level = PermissionLevel { actor: a, permission: n("active") };
    let first = maker.next(workload::transfers(n("eosio.token"), 4, 2, 0, 1));
    append_durable(&chain, &[codec::encode(&first)]);
    let stage = ExecStage::open(&g, chain.clone(), open("results"), ExecConfig::default()).unwrap();
    let view = stage.view();
    let before = view.permission(&level).unwrap();
    assert_eq!(view.permission(&level).unwrap(), before, "served again (from the cache)");
    // The owner replaces the active key.
    let new_key = dawn::chain::PrivateKey::from_seed(b"the new active key").public();
    let u = UpdateAuth {
        account: a,
        permission: n("active"),
        parent: n("owner"),
        auth: Authority::single_key(new_key),
    };
    let tx = with_perm(
        workload::transaction(vec![workload::action(n("eosio"), "updateauth", a, &u)], vec![], vec![a]),
        "owner",
    );
    let second = maker.next(vec![tx]);
    append_durable(&chain, &[codec::encode(&second)]);
    chain.close().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    stage.run(rt.handle().clone()).unwrap();
    let after = view.permission(&level).unwrap();
    assert_eq!(*after, Authority::single_key(new_key));
    assert_ne!(after, before);
}

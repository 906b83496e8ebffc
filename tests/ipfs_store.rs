//! Blockstore, pins, GC, crash debris, corruption, and CAR export read back.

mod ipfs_support;

use std::fs;

use dawn::ipfs::blockstore::{BlockError, Blockstore, PinKind, RepoError};
use dawn::ipfs::car::{self, CarError};
use dawn::ipfs::cid::Cid;
use dawn::ipfs::importer::{import_bytes, ImportOptions, Imported};
use dawn::ipfs::reader::{self, Node};
use ipfs_support::kubo_deterministic;

fn add(store: &Blockstore, data: &[u8], opts: ImportOptions, pin: bool) -> Imported {
    let mut st = store.stage().unwrap();
    let r = import_bytes(data, opts, &mut st).unwrap();
    st.commit().unwrap();
    if pin {
        store.pin_add(&r.cid, PinKind::Recursive).unwrap();
    }
    r
}

fn cat(store: &Blockstore, cid: &Cid, range: std::ops::Range<u64>) -> Vec<u8> {
    let mut out = Vec::new();
    reader::read_file(store, cid, range, &mut |b| {
        out.extend_from_slice(&b);
        Ok(())
    })
    .unwrap();
    out
}

#[test]
fn store_read_back_ranges_and_verification() {
    let d = tempfile::tempdir().unwrap();
    let store = Blockstore::open(d.path()).unwrap();
    let data = kubo_deterministic("store", 3 * 262144 + 100);
    let r = add(&store, &data, ImportOptions::default(), true);
    assert_eq!(reader::stat(&store, &r.cid).unwrap(), Node::File { size: data.len() as u64 });
    assert_eq!(cat(&store, &r.cid, 0..data.len() as u64), data);
    for (a, b) in [(0u64, 1u64), (262143, 262145), (100_000, 700_001), (786_400, 786_532)] {
        assert_eq!(cat(&store, &r.cid, a..b), &data[a as usize..b as usize], "{a}..{b}");
    }
    // The same block under CIDv0 and CIDv1 is one file.
    assert!(store.has(&r.cid.to_v1()));

    // Flip a byte of a leaf: every read of it is refused, naming the file; verify finds it.
    let leaf = store.list().unwrap().into_iter().find(|(_, n)| *n > 200_000).unwrap().0;
    let path = store.block_path(&leaf);
    let mut bytes = fs::read(&path).unwrap();
    bytes[100] ^= 1;
    fs::write(&path, &bytes).unwrap();
    match store.get(&leaf) {
        Err(BlockError::Corrupt { cid, path: p }) => {
            assert_eq!(cid, leaf);
            assert_eq!(p, path);
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    let mut out = Vec::new();
    let e = reader::read_file(&store, &r.cid, 0..data.len() as u64, &mut |b| {
        out.extend_from_slice(&b);
        Ok(())
    });
    assert!(e.is_err());
    let (n, bad) = store.verify().unwrap();
    assert_eq!((n, bad.len()), (5, 1));
    // GC refuses to run over a damaged pinned DAG rather than guess.
    assert!(matches!(store.gc(), Err(RepoError::Block(BlockError::Corrupt { .. }))));
}

#[test]
fn pins_and_gc() {
    let d = tempfile::tempdir().unwrap();
    let store = Blockstore::open(d.path()).unwrap();
    let a = add(&store, &kubo_deterministic("a", 300_000), ImportOptions::default(), true);
    let b = add(&store, &kubo_deterministic("b", 300_000), ImportOptions::cid_v1(), false);
    let c = add(&store, b"direct", ImportOptions::default(), false);
    store.pin_add(&c.cid, PinKind::Direct).unwrap();
    assert_eq!(store.list().unwrap().len(), 3 + 3 + 1);

    // Crash debris: a staging directory and a half-written file left by a dead import.
    let junk = d.path().join("tmp/stage-dead");
    fs::create_dir_all(&junk).unwrap();
    fs::write(junk.join("partial"), b"torn").unwrap();

    let r = store.gc().unwrap();
    assert_eq!(r.removed.len(), 3, "the unpinned DAG b goes");
    assert!(!store.has(&b.cid) && store.has(&a.cid) && store.has(&c.cid));
    assert!(!junk.exists());
    assert_eq!(fs::read_dir(d.path().join("tmp")).unwrap().count(), 0);

    // Unpinning frees; unpinning twice is an error that changes nothing.
    store.pin_rm(&a.cid).unwrap();
    assert!(matches!(store.pin_rm(&a.cid), Err(RepoError::NotPinned(_))));
    assert_eq!(store.gc().unwrap().removed.len(), 3);
    assert_eq!(store.list().unwrap().len(), 1);
    // A recursive pin needs the whole DAG.
    assert!(matches!(
        store.pin_add(&a.cid, PinKind::Recursive),
        Err(RepoError::Block(BlockError::NotFound(_)))
    ));

    // state.json survives reopening; a damaged one is reported, not replaced.
    let reopened = Blockstore::open(d.path()).unwrap();
    assert_eq!(reopened.state().unwrap().pins.get(&c.cid), Some(&PinKind::Direct));
    fs::write(d.path().join("state.json"), b"{\"version\":1,").unwrap();
    assert!(matches!(reopened.state(), Err(RepoError::CorruptState { .. })));
    fs::write(d.path().join("VERSION"), b"7\n").unwrap();
    assert!(matches!(Blockstore::open(d.path()), Err(RepoError::Version { .. })));
}

#[test]
fn uncommitted_staging_leaves_nothing() {
    let d = tempfile::tempdir().unwrap();
    let store = Blockstore::open(d.path()).unwrap();
    {
        let mut st = store.stage().unwrap();
        import_bytes(&kubo_deterministic("x", 600_000), ImportOptions::default(), &mut st).unwrap();
        assert_eq!(st.staged().len(), 4);
    }
    assert!(store.list().unwrap().is_empty());
    assert_eq!(fs::read_dir(d.path().join("tmp")).unwrap().count(), 0);
}

#[test]
fn car_export_parses_back_verified() {
    let d = tempfile::tempdir().unwrap();
    let store = Blockstore::open(d.path()).unwrap();
    let data = kubo_deterministic("car", 5 * 262144 + 9);
    let r = add(&store, &data, ImportOptions::default(), true);
    let mut car_bytes = Vec::new();
    let n = car::export(&store, &r.cid, &mut car_bytes).unwrap();
    assert_eq!(n as usize, car_bytes.len());

    let (roots, blocks) = car::read_all(&car_bytes).unwrap();
    assert_eq!(roots, vec![r.cid]);
    assert_eq!(blocks.len(), 7);
    assert_eq!(blocks[0].0, r.cid, "depth-first: the root first");
    // Reassemble into a fresh store from the CAR alone and read the file back.
    let d2 = tempfile::tempdir().unwrap();
    let other = Blockstore::open(d2.path()).unwrap();
    let mut st = other.stage().unwrap();
    for (c, b) in &blocks {
        dawn::ipfs::importer::BlockSink::put(&mut st, c, &[b]).unwrap();
    }
    st.commit().unwrap();
    drop(st);
    assert_eq!(cat(&other, &r.cid, 0..data.len() as u64), data);

    // A flipped byte in a block is caught with its offset; a truncated CAR is an error.
    let mut bad = car_bytes.clone();
    let last = bad.len() - 10;
    bad[last] ^= 0xff;
    assert!(matches!(car::read_all(&bad), Err(CarError::Mismatch { .. })));
    assert!(car::read_all(&car_bytes[..car_bytes.len() - 1]).is_err());
    assert!(matches!(car::read_all(&[0x01, 0xa0]), Err(CarError::BadHeader(_))));
}

//! The chain data model: codec and JSON round trips, ids, signatures, scopes, blocks.

use dawn::chain::{
    codec, n, Action, Asset, Authority, BlockHeader, BlockId, Bytes, ChainId, Checksum256, Genesis,
    GenesisAccount, GenesisBalance, PermissionLevel, PrivateKey, ProducerKey, ScopeError, SignedBlock,
    SignedTransaction, TimePoint, TimePointSec, Transaction,
};
use proptest::prelude::*;

fn name_strategy() -> impl Strategy<Value = dawn::chain::Name> {
    "[a-z1-5]{1,12}".prop_map(|s| n(&s))
}

fn tx_strategy() -> impl Strategy<Value = Transaction> {
    (
        any::<u32>(),
        any::<u16>(),
        any::<u32>(),
        prop::collection::btree_set(name_strategy(), 0..4),
        prop::collection::vec(
            (name_strategy(), name_strategy(), prop::collection::vec(any::<u8>(), 0..64)),
            1..4,
        ),
    )
        .prop_map(|(exp, rbn, rbp, writes, actions)| Transaction {
            expiration: TimePointSec(exp),
            ref_block_num: rbn,
            ref_block_prefix: rbp,
            max_cpu_us: 0,
            max_net_bytes: 0,
            delay_sec: 0,
            read_scopes: smallvec::smallvec![],
            write_scopes: writes.into_iter().collect(),
            actions: actions
                .into_iter()
                .map(|(account, name, data)| Action {
                    account,
                    name,
                    authorization: smallvec::smallvec![PermissionLevel {
                        actor: account,
                        permission: n("active")
                    }],
                    data: Bytes::from(data),
                })
                .collect(),
        })
}

fn chain() -> ChainId {
    ChainId(Checksum256::hash(b"test chain"))
}

proptest! {
    #[test]
    fn transactions_round_trip_in_both_forms(tx in tx_strategy(), seed in any::<[u8; 4]>()) {
        let key = PrivateKey::from_seed(&seed);
        let st = SignedTransaction::sign(tx, &[&key], &chain());
        let bin = codec::encode(&st);
        let back: SignedTransaction = codec::decode(&bin, 1 << 20).unwrap();
        prop_assert_eq!(&back, &st);
        let json = serde_json::to_string(&st).unwrap();
        let back: SignedTransaction = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&back, &st);
        prop_assert_eq!(back.id(), st.id());
        let d = st.transaction.signing_digest(&chain());
        prop_assert!(key.public().verify(&d, &st.signatures[0]));
        // Another chain's digest does not verify: no cross-chain replay.
        let other = ChainId(Checksum256::hash(b"other"));
        prop_assert!(!key.public().verify(&st.transaction.signing_digest(&other), &st.signatures[0]));
    }

    #[test]
    fn decoding_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = codec::decode::<SignedTransaction>(&bytes, 1 << 16);
        let _ = codec::decode::<SignedBlock>(&bytes, 1 << 16);
    }
}

#[test]
fn json_looks_like_eos() {
    let key = PrivateKey::from_seed(b"alice");
    let tx = Transaction {
        expiration: "2026-11-24T06:00:00".parse().unwrap(),
        ref_block_num: 7,
        ref_block_prefix: 123,
        max_cpu_us: 0,
        max_net_bytes: 0,
        delay_sec: 0,
        read_scopes: smallvec::smallvec![],
        write_scopes: smallvec::smallvec![n("alice"), n("bob")],
        actions: smallvec::smallvec![Action {
            account: n("eosio.token"),
            name: n("transfer"),
            authorization: smallvec::smallvec![PermissionLevel {
                actor: n("alice"),
                permission: n("active")
            }],
            data: Bytes::from(vec![1, 2, 255]),
        }],
    };
    let st = SignedTransaction::sign(tx, &[&key], &chain());
    let v: serde_json::Value = serde_json::to_value(&st).unwrap();
    assert_eq!(v["transaction"]["expiration"], "2026-11-24T06:00:00");
    assert_eq!(v["transaction"]["actions"][0]["account"], "eosio.token");
    assert_eq!(v["transaction"]["actions"][0]["authorization"][0]["actor"], "alice");
    assert_eq!(v["transaction"]["actions"][0]["data"], "0102ff");
    assert!(v["signatures"][0].as_str().unwrap().starts_with("SIG_ED_"));
}

#[test]
fn a_length_prefix_cannot_force_a_huge_allocation() {
    // A vector claiming 2^60 elements.
    let mut b = vec![0u8; 4 + 2 + 4 + 4 + 4 + 4 + 4];
    b.extend_from_slice(&(1u64 << 60).to_le_bytes());
    assert!(codec::decode::<Transaction>(&b, 1 << 20).is_err());
    // Trailing bytes are refused.
    let tx = SignedTransaction::sign(
        Transaction { expiration: TimePointSec(1), ..Transaction::default() },
        &[],
        &chain(),
    );
    let mut enc = codec::encode(&tx);
    enc.push(0);
    assert!(codec::decode::<SignedTransaction>(&enc, 1 << 20).is_err());
}

#[test]
fn scope_rules() {
    let mut tx = Transaction {
        expiration: TimePointSec(1),
        ref_block_num: 0,
        ref_block_prefix: 0,
        max_cpu_us: 0,
        max_net_bytes: 0,
        delay_sec: 0,
        read_scopes: smallvec::smallvec![n("carol")],
        write_scopes: smallvec::smallvec![n("alice"), n("bob")],
        actions: smallvec::smallvec![Action {
            account: n("eosio.token"),
            name: n("transfer"),
            authorization: smallvec::smallvec![PermissionLevel {
                actor: n("alice"),
                permission: n("active")
            }],
            data: Bytes::from(vec![]),
        }],
    };
    tx.check_scopes().unwrap();
    tx.write_scopes = smallvec::smallvec![n("bob"), n("alice")];
    assert!(matches!(tx.check_scopes(), Err(ScopeError::NotSortedUnique { list: "write", .. })));
    tx.write_scopes = smallvec::smallvec![n("alice"), n("alice")];
    assert!(matches!(tx.check_scopes(), Err(ScopeError::NotSortedUnique { .. })));
    tx.write_scopes = smallvec::smallvec![n("alice"), n("carol")];
    assert!(matches!(tx.check_scopes(), Err(ScopeError::ReadAndWrite(_))));
    tx.read_scopes = smallvec::smallvec![];
    tx.write_scopes = smallvec::smallvec![n("bob")];
    assert_eq!(tx.check_scopes(), Err(ScopeError::ActorNotWritten(n("alice"))));
    tx.actions.clear();
    assert_eq!(tx.check_scopes(), Err(ScopeError::NoActions));
}

#[test]
fn block_ids_carry_their_number_and_tapos_prefix() {
    let key = PrivateKey::from_seed(b"producer");
    let header = BlockHeader {
        timestamp: TimePoint(1_700_000_000_000),
        producer: n("eosio"),
        ..BlockHeader::default()
    };
    let b1 = SignedBlock::seal(header.clone(), vec![], &key, &chain());
    assert!(b1.verify(&key.public(), &chain()));
    let id1 = b1.header.id();
    assert_eq!(id1.num().0, 1);
    assert_eq!(&id1.0 .0[0..4], &[0, 0, 0, 1]);
    let b2 = SignedBlock::seal(BlockHeader { previous: id1, ..header }, vec![], &key, &chain());
    assert_eq!(b2.header.id().num().0, 2);
    assert_eq!(id1.ref_block_prefix(), u32::from_le_bytes(id1.0 .0[8..12].try_into().unwrap()));
    assert!(!b2.verify(&PrivateKey::from_seed(b"x").public(), &chain()));
}

#[test]
fn eos_published_tapos_prefix() {
    // Block 1 of a public EOS.IO chain: id and its ref_block_prefix as nodeos reported them.
    let id = BlockId("00000001405147477ab2f5f51cda427b638191c66d2c59aa392d5c2c98076cb0".parse().unwrap());
    assert_eq!(id.num().0, 1);
    assert_eq!(id.ref_block_prefix(), 4126519930);
}

#[test]
fn authorities_with_thresholds_and_accounts() {
    let (a, b, c) = (
        PrivateKey::from_seed(b"a").public(),
        PrivateKey::from_seed(b"b").public(),
        PrivateKey::from_seed(b"c").public(),
    );
    let mut keys = [a, b];
    keys.sort();
    let two_of_two = Authority {
        threshold: 2,
        keys: keys.iter().map(|k| dawn::chain::KeyWeight { key: *k, weight: 1 }).collect(),
        accounts: vec![],
    };
    two_of_two.validate().unwrap();
    let none = |_: &PermissionLevel| None;
    assert!(two_of_two.satisfied_by(&[a, b], &none, 0));
    assert!(!two_of_two.satisfied_by(&[a], &none, 0));
    let delegated = Authority {
        threshold: 1,
        keys: vec![],
        accounts: vec![dawn::chain::PermissionLevelWeight {
            permission: PermissionLevel { actor: n("carol"), permission: n("active") },
            weight: 1,
        }],
    };
    let lookup =
        |l: &PermissionLevel| (l.actor == n("carol")).then(|| std::sync::Arc::new(Authority::single_key(c)));
    assert!(delegated.satisfied_by(&[c], &lookup, 0));
    assert!(!delegated.satisfied_by(&[a], &lookup, 0));
    assert!(Authority { threshold: 3, ..two_of_two }.validate().is_err());
}

#[test]
fn genesis_validates_and_has_a_stable_chain_id() {
    let k = PrivateKey::from_seed(b"genesis").public();
    let g = Genesis {
        initial_timestamp: TimePoint(0),
        initial_key: k,
        producers: vec![ProducerKey { producer_name: n("eosio"), block_signing_key: k }],
        accounts: vec![GenesisAccount { name: n("alice"), owner_key: k, active_key: k }],
        core_token_max_supply: "1000000.0000 SYS".parse().unwrap(),
        balances: vec![GenesisBalance { account: n("alice"), balance: "10.0000 SYS".parse().unwrap() }],
        contracts: vec![],
    };
    g.validate().unwrap();
    let json = serde_json::to_string(&g).unwrap();
    let back: Genesis = serde_json::from_str(&json).unwrap();
    assert_eq!(back.chain_id(), g.chain_id());
    let mut bad = g.clone();
    bad.balances[0].account = n("nobody");
    assert!(bad.validate().is_err());
    let mut bad = g.clone();
    bad.balances[0].balance = "10.00 SYS".parse::<Asset>().unwrap();
    assert!(bad.validate().is_err());
    // Two balances for one account would be counted twice in the supply.
    let mut bad = g.clone();
    bad.balances.push(bad.balances[0].clone());
    assert!(bad.validate().unwrap_err().to_string().contains("two balances"));
    // Contracts go on genesis accounts, one each, with code.
    let contract = |account: &str, code: Vec<u8>| dawn::chain::GenesisContract {
        account: n(account),
        code: dawn::chain::Bytes::from(code),
    };
    let mut with = g.clone();
    with.contracts = vec![contract("alice", vec![0, 97, 115, 109])];
    with.validate().unwrap();
    assert_ne!(with.chain_id(), g.chain_id(), "contracts are covered by the chain id");
    for bad in [
        vec![contract("nobody", vec![1])],
        vec![contract("eosio", vec![1])],
        vec![contract("alice", vec![])],
        vec![contract("alice", vec![1]), contract("alice", vec![2])],
    ] {
        let mut b = g.clone();
        b.contracts = bad;
        assert!(b.validate().is_err());
    }
}

proptest! {
    #[test]
    fn digests_match_their_definitions(tx in tx_strategy(), n_sigs in 0usize..3) {
        let keys: Vec<PrivateKey> = (0..n_sigs).map(|i| PrivateKey::from_seed(&[i as u8])).collect();
        let refs: Vec<&PrivateKey> = keys.iter().collect();
        let st = SignedTransaction::sign(tx, &refs, &chain());
        let (encoded, id, digest, leaf) = st.digests(&chain());
        prop_assert_eq!(encoded, codec::encode(&st));
        prop_assert_eq!(id, st.id());
        prop_assert_eq!(digest, st.transaction.signing_digest(&chain()));
        prop_assert_eq!(leaf, st.leaf());
    }

    #[test]
    fn a_block_encoded_from_its_transactions_encodings_is_its_encoding(
        txs in prop::collection::vec((tx_strategy(), 0usize..3), 0..6),
        time in any::<u64>(),
    ) {
        let key = PrivateKey::from_seed(b"producer");
        let signed: Vec<SignedTransaction> = txs
            .into_iter()
            .map(|(tx, n_sigs)| {
                let keys: Vec<PrivateKey> = (0..n_sigs).map(|i| PrivateKey::from_seed(&[i as u8])).collect();
                SignedTransaction::sign(tx, &keys.iter().collect::<Vec<_>>(), &chain())
            })
            .collect();
        let encoded: Vec<Vec<u8>> = signed.iter().map(|t| t.digests(&chain()).0).collect();
        let header = BlockHeader { timestamp: TimePoint(time), producer: n("eosio"), ..BlockHeader::default() };
        let block = SignedBlock::seal(header, signed, &key, &chain());
        prop_assert_eq!(block.encode_with(&encoded), codec::encode(&block));
    }
}

#[test]
fn values_decode_one_after_another_and_a_lying_length_fails() {
    use dawn::chain::{codec, Bytes};
    let mut buf = codec::encode(&Bytes::from(vec![1, 2, 3]));
    buf.extend(codec::encode(&7u32));
    let mut rest = &buf[..];
    assert_eq!(codec::decode_front::<Bytes>(&mut rest, 1 << 20).unwrap(), Bytes::from(vec![1, 2, 3]));
    assert_eq!(codec::decode_front::<u32>(&mut rest, 1 << 20).unwrap(), 7);
    assert!(rest.is_empty());
    // A length prefix claiming far more than follows fails (and leaves the input alone).
    let mut lying = (u64::MAX / 2).to_le_bytes().to_vec();
    lying.extend([1, 2, 3]);
    let mut rest = &lying[..];
    assert!(codec::decode_front::<Bytes>(&mut rest, 4 << 20).is_err());
    assert_eq!(rest.len(), lying.len());
    assert!(codec::decode::<Bytes>(&lying, 4 << 20).is_err());
    // A value longer than the limit is refused even when all of it is there.
    let big = codec::encode(&Bytes::from(vec![9; 100]));
    let mut rest = &big[..];
    assert!(codec::decode_front::<Bytes>(&mut rest, 50).is_err());
    assert_eq!(codec::decode_front::<Bytes>(&mut rest, 108).unwrap(), Bytes::from(vec![9; 100]));
}

#[test]
fn symbols_have_a_json_form_and_bad_ones_are_refused() {
    use dawn::chain::Symbol;
    let s: Symbol = serde_json::from_str("\"4,SYS\"").unwrap();
    assert_eq!(serde_json::to_string(&s).unwrap(), "\"4,SYS\"");
    for bad in ["\"SYS\"", "\"x,SYS\"", "\"19,SYS\"", "\"4,sys\"", "\"4,\""] {
        assert!(serde_json::from_str::<Symbol>(bad).is_err(), "{bad} was accepted");
    }
}

proptest! {
    #[test]
    fn symbol_validity_on_bits_matches_construction(bits in any::<u64>(), precision in 0u8..25, code in "[A-Z]{0,8}") {
        use dawn::chain::Symbol;
        // Arbitrary bits: valid exactly when rebuilding from its parts gives it back.
        let s = Symbol(bits);
        let rebuilt = Symbol::new(s.precision(), &s.code());
        prop_assert_eq!(s.is_valid(), rebuilt.as_ref().ok() == Some(&s));
        // Built from parts: valid exactly when construction succeeds.
        if let Ok(s) = Symbol::new(precision, &code) {
            prop_assert!(s.is_valid());
        }
    }
}

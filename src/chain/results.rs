//! What exec writes to the results log and publish reads from it: per block, every
//! transaction's receipt with its action traces and console output, the state root after the
//! block, and the results merkle root. One record per block, at offset `block number - 1`
//! (as in the chain log). Layout: docs/FORMAT.md, "Results log".

use serde::{Deserialize, Serialize};

use super::{codec, merkle, Action, BlockId, BlockNum, Checksum256, Name, TransactionReceipt};

/// The results log format this version writes and reads (docs/FORMAT.md, "Results log").
/// Records carry no version field: a change changes the results roots block headers carry,
/// so it is a new version for every node of a chain.
pub const RESULTS_FORMAT_VERSION: u32 = 2;

/// One delivery of an action to a receiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionTrace {
    /// Whose handler ran (the contract, or a notified account).
    pub receiver: Name,
    /// The action (encoded as the action itself; shared in memory between deliveries).
    pub action: std::sync::Arc<Action>,
    /// Inline depth: 0 for an action of the transaction itself.
    pub depth: u8,
    /// What the handler printed.
    pub console: String,
}

/// Where a result's transaction came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Origin {
    /// The transaction at this index of the block.
    Block(u32),
    /// A deferred request delivered in this block.
    Deferred {
        /// The contract that sent it.
        sender: Name,
        /// Its id for it.
        sender_id: u64,
    },
    /// A transaction of this block with `delay_sec`, recorded now and run later.
    Delayed(u32),
}

/// A transaction's result.
///
/// Its binary form (the results log, results format version 2) lists each action once and
/// has each trace refer to it by position: the deliveries of one action (its contract and
/// every account it notified) share one copy. Its JSON form repeats the action in every
/// trace. Layout: docs/FORMAT.md, "TxResult".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxResult {
    /// Where it came from.
    pub origin: Origin,
    /// Its receipt.
    pub receipt: TransactionReceipt,
    /// Why it failed, for failed statuses.
    pub error: Option<String>,
    /// Deliveries in execution order (those that ran before a failure, for failed ones).
    pub traces: Vec<ActionTrace>,
    /// True when the block's trace budget was spent and this result's traces were dropped.
    pub traces_pruned: bool,
}

/// [`TxResult`]'s binary form, borrowed for writing.
#[derive(Serialize)]
struct CompactRef<'a> {
    origin: &'a Origin,
    receipt: &'a TransactionReceipt,
    error: &'a Option<String>,
    actions: DistinctActions<'a>,
    traces: TraceRefs<'a>,
    traces_pruned: bool,
}

/// [`TxResult`]'s binary form, read.
#[derive(Deserialize)]
struct CompactOwned {
    origin: Origin,
    receipt: TransactionReceipt,
    error: Option<String>,
    actions: Vec<Action>,
    traces: Vec<TraceOwned>,
    traces_pruned: bool,
}

/// A trace in the binary form: its action is `actions[action]`.
#[derive(Serialize)]
struct TraceRef<'a> {
    receiver: Name,
    action: u32,
    depth: u8,
    console: &'a str,
}

/// As [`TraceRef`], read.
#[derive(Deserialize)]
struct TraceOwned {
    receiver: Name,
    action: u32,
    depth: u8,
    console: String,
}

/// The JSON form: every trace whole.
#[derive(Serialize)]
struct PlainRef<'a> {
    origin: &'a Origin,
    receipt: &'a TransactionReceipt,
    error: &'a Option<String>,
    traces: &'a [ActionTrace],
    traces_pruned: bool,
}

/// As [`PlainRef`], read.
#[derive(Deserialize)]
struct PlainOwned {
    origin: Origin,
    receipt: TransactionReceipt,
    error: Option<String>,
    traces: Vec<ActionTrace>,
    traces_pruned: bool,
}

/// Whether trace `i` starts a new run: its action is not the one of trace `i - 1`. Exec
/// delivers an action to all its receivers one after the other, sharing one copy, so a run
/// is one action's deliveries.
fn starts_run(traces: &[ActionTrace], i: usize) -> bool {
    i == 0 || !std::sync::Arc::ptr_eq(&traces[i - 1].action, &traces[i].action)
}

/// The actions of the runs of a result's traces, in order.
struct DistinctActions<'a>(&'a [ActionTrace]);

impl Serialize for DistinctActions<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let runs = (0..self.0.len()).filter(|&i| starts_run(self.0, i)).count();
        let mut seq = s.serialize_seq(Some(runs))?;
        for (i, t) in self.0.iter().enumerate() {
            if starts_run(self.0, i) {
                seq.serialize_element(&*t.action)?;
            }
        }
        seq.end()
    }
}

/// The traces, each naming its run's position among the actions.
struct TraceRefs<'a>(&'a [ActionTrace]);

impl Serialize for TraceRefs<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        let mut run = 0u32;
        for (i, t) in self.0.iter().enumerate() {
            if i > 0 && starts_run(self.0, i) {
                run += 1;
            }
            seq.serialize_element(&TraceRef {
                receiver: t.receiver,
                action: run,
                depth: t.depth,
                console: &t.console,
            })?;
        }
        seq.end()
    }
}

impl Serialize for TxResult {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            return PlainRef {
                origin: &self.origin,
                receipt: &self.receipt,
                error: &self.error,
                traces: &self.traces,
                traces_pruned: self.traces_pruned,
            }
            .serialize(s);
        }
        CompactRef {
            origin: &self.origin,
            receipt: &self.receipt,
            error: &self.error,
            actions: DistinctActions(&self.traces),
            traces: TraceRefs(&self.traces),
            traces_pruned: self.traces_pruned,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for TxResult {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        if d.is_human_readable() {
            let p = PlainOwned::deserialize(d)?;
            return Ok(Self {
                origin: p.origin,
                receipt: p.receipt,
                error: p.error,
                traces: p.traces,
                traces_pruned: p.traces_pruned,
            });
        }
        let c = CompactOwned::deserialize(d)?;
        // Canonical form only, so that decoding and encoding again gives the same bytes
        // (the results root is over them): the first trace names action 0, each next one
        // the same action as the trace before or the next action, and every action is
        // named.
        let actions: Vec<std::sync::Arc<Action>> = c.actions.into_iter().map(std::sync::Arc::new).collect();
        let mut traces = Vec::with_capacity(c.traces.len());
        let mut run: Option<u32> = None;
        for t in c.traces {
            let expected_next = run.map_or(0, |r| r + 1);
            if Some(t.action) != run && t.action != expected_next {
                return Err(D::Error::custom(format!(
                    "a trace names action {} where {} (or the one before) was due",
                    t.action, expected_next
                )));
            }
            let Some(action) = actions.get(t.action as usize) else {
                return Err(D::Error::custom(format!(
                    "a trace names action {} of {}",
                    t.action,
                    actions.len()
                )));
            };
            run = Some(t.action);
            traces.push(ActionTrace {
                receiver: t.receiver,
                action: action.clone(),
                depth: t.depth,
                console: t.console,
            });
        }
        let named = run.map_or(0, |r| r as usize + 1);
        if named != actions.len() {
            return Err(D::Error::custom(format!(
                "{} actions listed, {named} named by the traces",
                actions.len()
            )));
        }
        Ok(Self {
            origin: c.origin,
            receipt: c.receipt,
            error: c.error,
            traces,
            traces_pruned: c.traces_pruned,
        })
    }
}

impl TxResult {
    /// Its merkle leaf: SHA-256 of its encoding.
    pub fn leaf(&self) -> Checksum256 {
        Checksum256::hash(&codec::encode(self))
    }
}

/// One block's results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockResults {
    /// The block.
    pub block_num: BlockNum,
    /// Its id.
    pub block_id: BlockId,
    /// Deferred deliveries first, then the block's transactions in block order.
    pub transactions: Vec<TxResult>,
    /// The state root after the block.
    pub state_root: Checksum256,
    /// Merkle root of the results' leaves.
    pub results_root: Checksum256,
}

impl BlockResults {
    /// Each result's encoding and the results root, whose leaves are hashed over those
    /// same bytes (on the current rayon pool): with [`BlockResults::record`], a block's
    /// results are encoded once for both its root and its record.
    pub fn encode_and_root(transactions: &[TxResult]) -> (Vec<Vec<u8>>, Checksum256) {
        use rayon::prelude::*;
        let encoded: Vec<Vec<u8>> = transactions.par_iter().with_min_len(64).map(codec::encode).collect();
        let leaves: Vec<Checksum256> =
            encoded.par_iter().with_min_len(64).map(|e| Checksum256::hash(e)).collect();
        (encoded, merkle::root(&leaves))
    }

    /// The encoding of these results (equal to `codec::encode(self)`), assembled from the
    /// encodings [`BlockResults::encode_and_root`] gave for `self.transactions`.
    ///
    /// The layout is the codec's for this struct: its fields in order, the vector as a u64
    /// length and its elements.
    pub fn record(&self, encoded: &[Vec<u8>]) -> Vec<u8> {
        debug_assert_eq!(encoded.len(), self.transactions.len());
        let head = codec::encode(&(self.block_num, self.block_id));
        let tail = codec::encode(&(self.state_root, self.results_root));
        let body: usize = encoded.iter().map(Vec::len).sum();
        let mut out = Vec::with_capacity(head.len() + 8 + body + tail.len());
        out.extend_from_slice(&head);
        out.extend_from_slice(&(encoded.len() as u64).to_le_bytes());
        for e in encoded {
            out.extend_from_slice(e);
        }
        out.extend_from_slice(&tail);
        out
    }

    /// The result of the block's transaction at `index`, if any. Deferred deliveries come
    /// first, then the block's transactions in order, so it is found by position.
    pub fn for_index(&self, index: u32) -> Option<&TxResult> {
        let deferred = self.transactions.partition_point(|t| matches!(t.origin, Origin::Deferred { .. }));
        self.transactions
            .get(deferred + index as usize)
            .filter(|t| matches!(t.origin, Origin::Block(i) | Origin::Delayed(i) if i == index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{n, Bytes, PermissionLevel, TransactionStatus, TxId};
    use std::sync::Arc;

    fn result(i: u32, origin: Origin, traces: usize, error: Option<&str>) -> TxResult {
        let action = Arc::new(Action {
            account: n("eosio.token"),
            name: n("transfer"),
            authorization: smallvec::smallvec![PermissionLevel {
                actor: n("alice"),
                permission: n("active")
            }],
            data: Bytes::from(vec![i as u8; 3 + i as usize]),
        });
        TxResult {
            origin,
            receipt: TransactionReceipt {
                id: TxId(Checksum256::hash(&i.to_le_bytes())),
                status: if error.is_some() {
                    TransactionStatus::SoftFail
                } else {
                    TransactionStatus::Executed
                },
                cpu_usage_us: 100 + i,
                net_usage_bytes: 200,
            },
            error: error.map(str::to_string),
            traces: (0..traces)
                .map(|d| ActionTrace {
                    receiver: n("bob"),
                    action: action.clone(),
                    depth: d as u8,
                    console: "x".repeat(d),
                })
                .collect(),
            traces_pruned: traces == 0,
        }
    }

    /// The record assembled from the leaves' encodings is the codec's encoding of the
    /// whole struct, and the root is the one over `TxResult::leaf`.
    #[test]
    fn record_from_encodings_equals_the_codec() {
        for count in [0usize, 1, 3, 70] {
            let transactions: Vec<TxResult> = (0..count as u32)
                .map(|i| {
                    let origin = match i % 3 {
                        0 => Origin::Block(i),
                        1 => Origin::Deferred { sender: n("carol"), sender_id: u64::from(i) },
                        _ => Origin::Delayed(i),
                    };
                    result(i, origin, i as usize % 4, (i % 5 == 4).then_some("no balance"))
                })
                .collect();
            let (encoded, root) = BlockResults::encode_and_root(&transactions);
            let leaves: Vec<Checksum256> = transactions.iter().map(TxResult::leaf).collect();
            assert_eq!(root, merkle::root(&leaves));
            let r = BlockResults {
                block_num: BlockNum(7 + count as u32),
                block_id: BlockId(Checksum256::hash(b"block")),
                transactions,
                state_root: Checksum256::hash(b"state"),
                results_root: root,
            };
            assert_eq!(r.record(&encoded), codec::encode(&r), "{count} results");
        }
    }

    /// Traces over `actions`, each given as (action position, receiver): the same position
    /// shares one copy, as exec's deliveries of one action do.
    fn with_traces(actions: &[Arc<Action>], traces: &[(usize, &str)]) -> TxResult {
        let mut r = result(1, Origin::Block(0), 0, None);
        r.traces_pruned = false;
        r.traces = traces
            .iter()
            .map(|&(a, who)| ActionTrace {
                receiver: n(who),
                action: actions[a].clone(),
                depth: 0,
                console: String::new(),
            })
            .collect();
        r
    }

    fn action(name: &str, data: &[u8]) -> Arc<Action> {
        Arc::new(Action {
            account: n("eosio.token"),
            name: n(name),
            authorization: smallvec::smallvec![PermissionLevel {
                actor: n("alice"),
                permission: n("active")
            }],
            data: Bytes::from_slice(data),
        })
    }

    /// A transfer's three deliveries carry its action once; runs of one action share one
    /// copy again once read; the bytes read back encode to the same bytes.
    #[test]
    fn an_action_is_written_once_per_run_of_deliveries() {
        let (t, inline) = (action("transfer", &[7; 41]), action("issue", &[1; 5]));
        let three_deliveries =
            with_traces(std::slice::from_ref(&t), &[(0, "eosio.token"), (0, "alice"), (0, "bob")]);
        let one_delivery = with_traces(std::slice::from_ref(&t), &[(0, "eosio.token")]);
        let action_len = codec::encode(&*t).len();
        // Two more traces cost their receiver, position, depth and console only.
        assert_eq!(
            codec::encode(&three_deliveries).len(),
            codec::encode(&one_delivery).len() + 2 * (8 + 4 + 1 + 8)
        );
        // Runs: [t t] [inline] [t] (a later run of an equal action is written again).
        let r = with_traces(
            &[t.clone(), inline.clone()],
            &[(0, "eosio.token"), (0, "bob"), (1, "eosio.token"), (0, "carol")],
        );
        let enc = codec::encode(&r);
        let back: TxResult = codec::decode(&enc, 1 << 20).unwrap();
        assert_eq!(back, r);
        assert_eq!(codec::encode(&back), enc);
        assert!(Arc::ptr_eq(&back.traces[0].action, &back.traces[1].action));
        assert!(!Arc::ptr_eq(&back.traces[1].action, &back.traces[3].action));
        assert!(enc.len() > 3 * action_len && enc.len() < 4 * action_len + 100);
        // JSON repeats the action in every trace and reads back equal.
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["traces"][1]["action"]["name"], "transfer");
        assert_eq!(serde_json::from_value::<TxResult>(json).unwrap(), r);
    }

    /// Only the canonical form is read: traces name the current action or the next one,
    /// from the first, and name every action listed.
    #[test]
    fn non_canonical_action_references_are_refused() {
        let (a, b) = (action("transfer", b"a"), action("issue", b"b"));
        let good = codec::encode(&with_traces(&[a.clone(), b.clone()], &[(0, "x"), (1, "y")]));
        // The encoding after the fixed part: actions count, the actions, traces count,
        // then each trace (receiver 8, action u32, depth 1, console length 8).
        let prefix = 8 + 44 + 1; // origin Block, receipt, error None
        let actions_len = 8 + codec::encode(&*a).len() + codec::encode(&*b).len();
        let trace_at = |k: usize| prefix + actions_len + 8 + k * 21 + 8;
        let with_refs = |first: u32, second: u32| {
            let mut bytes = good.clone();
            bytes[trace_at(0)..trace_at(0) + 4].copy_from_slice(&first.to_le_bytes());
            bytes[trace_at(1)..trace_at(1) + 4].copy_from_slice(&second.to_le_bytes());
            codec::decode::<TxResult>(&bytes, 1 << 20)
        };
        assert!(with_refs(0, 1).is_ok());
        for (first, second, why) in [
            (1, 0, "due"),   // starts past the first action
            (0, 0, "named"), // the second action is never named
            (0, 2, "due"),   // skips one
            (0, 7, "due"),   // past the list
        ] {
            let e = with_refs(first, second).unwrap_err().to_string();
            assert!(e.contains(why), "{first}, {second}: {e}");
        }
        // A list with actions and no trace naming them.
        let mut none = with_traces(std::slice::from_ref(&a), &[]);
        none.traces_pruned = false;
        let mut bytes = codec::encode(&none);
        let empty_actions = prefix;
        let mut listed = codec::encode(&vec![(*a).clone()]);
        bytes.splice(empty_actions..empty_actions + 8, listed.drain(..));
        assert!(codec::decode::<TxResult>(&bytes, 1 << 20).unwrap_err().to_string().contains("named"));
    }

    proptest::proptest! {
        /// A results record with changed bytes is either refused or read in canonical
        /// form (it encodes back to the same bytes), as the fuzz target requires.
        #[test]
        fn changed_records_are_refused_or_canonical(
            changes in proptest::collection::vec((0usize..4096, proptest::prelude::any::<u8>()), 1..4),
        ) {
            let (a, b) = (action("transfer", &[3; 41]), action("issue", b"b"));
            let r = with_traces(&[a, b], &[(0, "eosio.token"), (0, "alice"), (1, "eosio.token"), (1, "bob")]);
            let mut bytes = codec::encode(&r);
            for (at, v) in changes {
                let i = at % bytes.len();
                bytes[i] = v;
            }
            if let Ok(back) = codec::decode::<TxResult>(&bytes, 1 << 20) {
                proptest::prop_assert_eq!(codec::encode(&back), bytes);
            }
        }
    }
}

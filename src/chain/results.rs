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

/// One delivery of an action to a receiver, with the action whole: the publish protocol's
/// form of a trace (results keep a [`TraceLog`]).
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

/// One delivery in a result: `receiver` ran the action at position `action` of its
/// [`TraceLog`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    /// Whose handler ran (the contract, or a notified account).
    pub receiver: Name,
    /// The action delivered: its position in the log's actions.
    pub action: u32,
    /// Inline depth: 0 for an action of the transaction itself.
    pub depth: u8,
    /// What the handler printed.
    pub console: String,
}

/// A result's deliveries in execution order, each action written once: a run of
/// consecutive deliveries of one action (its contract, then each account it notified)
/// names it by position. Two deliveries and their action, the common case, live inline.
///
/// Invariant (the canonical form, checked when read): the first trace names action 0;
/// each later one the same action as the trace before or the next one; the last names the
/// last action. So reading and writing again gives the same bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TraceLog {
    actions: smallvec::SmallVec<[Action; 1]>,
    traces: smallvec::SmallVec<[Trace; 3]>,
    /// [`TraceLog::budget_bytes`], kept as deliveries are added (not written).
    #[serde(skip)]
    budget: usize,
    /// The encoded size of the last action (not written).
    #[serde(skip)]
    last_action_bytes: usize,
}

impl TraceLog {
    /// Adds a delivery of `action` to `receiver`. With `same_run`, `action` is the one the
    /// previous delivery carried (a notification of it) and is not written again.
    pub fn push(&mut self, receiver: Name, action: &Action, same_run: bool, depth: u8, console: String) {
        if !same_run || self.actions.is_empty() {
            self.actions.push(action.clone());
            self.last_action_bytes = codec::encoded_len(action);
        }
        self.budget += self.last_action_bytes + console.len();
        let action = (self.actions.len() - 1) as u32;
        self.traces.push(Trace { receiver, action, depth, console });
    }

    /// The deliveries, with their actions.
    pub fn iter(&self) -> impl Iterator<Item = (&Trace, &Action)> {
        self.traces.iter().map(|t| (t, &self.actions[t.action as usize]))
    }

    /// The deliveries.
    pub fn traces(&self) -> &[Trace] {
        &self.traces
    }

    /// The actions delivered, each run's once.
    pub fn actions(&self) -> &[Action] {
        &self.actions
    }

    /// Number of deliveries.
    pub fn len(&self) -> usize {
        self.traces.len()
    }

    /// True when there is no delivery.
    pub fn is_empty(&self) -> bool {
        self.traces.is_empty()
    }

    /// Drops every delivery.
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// What the trace budgets count: each delivery's encoded action and console output
    /// (an action once per delivery, as if written whole).
    pub fn budget_bytes(&self) -> usize {
        self.budget
    }

    /// The deliveries as whole traces (the publish protocol's form), one shared copy of each
    /// run's action.
    pub fn to_action_traces(&self) -> Vec<ActionTrace> {
        let shared: Vec<std::sync::Arc<Action>> =
            self.actions.iter().cloned().map(std::sync::Arc::new).collect();
        self.traces
            .iter()
            .map(|t| ActionTrace {
                receiver: t.receiver,
                action: shared[t.action as usize].clone(),
                depth: t.depth,
                console: t.console.clone(),
            })
            .collect()
    }
}

/// [`TraceLog`] as read, before its canonical form is checked.
#[derive(Deserialize)]
struct TraceLogRead {
    actions: smallvec::SmallVec<[Action; 1]>,
    traces: smallvec::SmallVec<[Trace; 3]>,
}

impl<'de> Deserialize<'de> for TraceLog {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let r = TraceLogRead::deserialize(d)?;
        let (mut budget, mut last_action_bytes) = (0, 0);
        let mut run: Option<u32> = None;
        for t in &r.traces {
            let next = run.map_or(0, |x| x + 1);
            if Some(t.action) != run && t.action != next {
                return Err(D::Error::custom(format!(
                    "a trace names action {} where {next} (or the one before) was due",
                    t.action
                )));
            }
            if t.action as usize >= r.actions.len() {
                return Err(D::Error::custom(format!(
                    "a trace names action {} of {}",
                    t.action,
                    r.actions.len()
                )));
            }
            if run != Some(t.action) {
                last_action_bytes = codec::encoded_len(&r.actions[t.action as usize]);
            }
            budget += last_action_bytes + t.console.len();
            run = Some(t.action);
        }
        let named = run.map_or(0, |x| x as usize + 1);
        if named != r.actions.len() {
            return Err(D::Error::custom(format!(
                "{} actions listed, {named} named by the traces",
                r.actions.len()
            )));
        }
        Ok(Self { actions: r.actions, traces: r.traces, budget, last_action_bytes })
    }
}

/// A transaction's result. Layout: docs/FORMAT.md, "TxResult".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxResult {
    /// Where it came from.
    pub origin: Origin,
    /// Its receipt.
    pub receipt: TransactionReceipt,
    /// Why it failed, for failed statuses.
    pub error: Option<String>,
    /// Deliveries in execution order (those that ran before a failure, for failed ones).
    pub traces: TraceLog,
    /// True when the block's trace budget was spent and this result's traces were dropped.
    pub traces_pruned: bool,
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
        assert_eq!(encoded.len(), self.transactions.len(), "one encoding per result");
        codec::encode_around_list(
            &(self.block_num, self.block_id),
            encoded,
            &(self.state_root, self.results_root),
        )
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
            traces: {
                let mut log = TraceLog::default();
                for d in 0..traces {
                    log.push(n("bob"), &action, d > 0, d as u8, "x".repeat(d));
                }
                log
            },
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
        r.traces = TraceLog::default();
        let mut previous = None;
        for &(a, who) in traces {
            r.traces.push(n(who), &actions[a], previous == Some(a), 0, String::new());
            previous = Some(a);
        }
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
        let positions: Vec<u32> = back.traces.traces().iter().map(|t| t.action).collect();
        assert_eq!(positions, [0, 0, 1, 2]);
        assert_eq!(back.traces.actions().len(), 3);
        let names: Vec<Name> = back.traces.iter().map(|(_, a)| a.name).collect();
        assert_eq!(names, [n("transfer"), n("transfer"), n("issue"), n("transfer")]);
        assert!(enc.len() > 3 * action_len && enc.len() < 4 * action_len + 100);
        // The protocol's whole form shares one copy per run.
        let whole = back.traces.to_action_traces();
        assert!(Arc::ptr_eq(&whole[0].action, &whole[1].action));
        assert!(!Arc::ptr_eq(&whole[1].action, &whole[3].action));
        assert_eq!(*whole[2].action, *inline);
        // The budget counts an action once per delivery, built or read.
        assert_eq!(r.traces.budget_bytes(), 3 * action_len + codec::encode(&*inline).len());
        assert_eq!(back.traces.budget_bytes(), r.traces.budget_bytes());
        // JSON reads back equal.
        let json = serde_json::to_value(&r).unwrap();
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
        // The next action, past the end of the list.
        let one = codec::encode(&with_traces(std::slice::from_ref(&a), &[(0, "x"), (0, "y")]));
        let mut past = one.clone();
        let second = prefix + 8 + codec::encode(&*a).len() + 8 + 21 + 8;
        past[second..second + 4].copy_from_slice(&1u32.to_le_bytes());
        assert!(codec::decode::<TxResult>(&one, 1 << 20).is_ok());
        assert!(codec::decode::<TxResult>(&past, 1 << 20).unwrap_err().to_string().contains("action 1 of 1"));
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

//! Deferred requests: checked when sent, stored as `eosio` rows when their transaction
//! commits (in block order), indexed by delivery time, and taken at the start of their
//! delivery block.

use std::collections::{BTreeSet, HashMap};

use crate::chain::{codec, Name};

use super::error::ActionError;
use super::store::{RowKey, Store};
use super::system_rows::{DeferredEntry, DeferredRequest, EOSIO, T_DEFERRED};

/// Most actions in one deferred request.
pub const DEFERRED_ACTIONS_MAX: usize = 16;

/// Checks a request as `send_deferred` requires: scopes as Dawn requires of a transaction,
/// every action authorized only by the sender, and the sender among the write scopes.
pub fn check_request(sender: Name, r: &DeferredRequest) -> Result<(), ActionError> {
    if r.actions.is_empty() || r.actions.len() > DEFERRED_ACTIONS_MAX {
        return Err(ActionError::Deferred(format!(
            "a request holds 1 to {DEFERRED_ACTIONS_MAX} actions, not {}",
            r.actions.len()
        )));
    }
    let sorted = |v: &[Name]| v.windows(2).all(|w| w[0] < w[1]);
    if !sorted(&r.read_scopes) || !sorted(&r.write_scopes) {
        return Err(ActionError::Deferred(
            "read_scopes and write_scopes must each be sorted and unique".into(),
        ));
    }
    if let Some(s) = r.read_scopes.iter().find(|s| r.write_scopes.binary_search(s).is_ok()) {
        return Err(ActionError::Deferred(format!("scope {s} is declared both read and write")));
    }
    for a in &r.actions {
        if let Some(l) = a.authorization.iter().find(|l| l.actor != sender) {
            return Err(ActionError::Deferred(format!(
                "{}::{} is authorized by {l}; a deferred request may be authorized only by its sender {sender}",
                a.account, a.name
            )));
        }
    }
    if r.actions.iter().any(|a| !a.authorization.is_empty()) && r.write_scopes.binary_search(&sender).is_err()
    {
        return Err(ActionError::Deferred(format!(
            "the sender {sender} authorizes it, so it must be a write scope"
        )));
    }
    Ok(())
}

/// The pending requests by delivery time, mirroring the `deferred` rows.
#[derive(Debug, Default, Clone)]
pub struct DeferredIndex {
    by_time: BTreeSet<(u64, Name, u64)>,
    by_key: HashMap<(Name, u64), u64>,
}

impl DeferredIndex {
    /// Builds the index from the store's rows.
    pub fn load(store: &Store) -> Self {
        let mut ix = Self::default();
        for (k, v) in store.iter() {
            if k.code == EOSIO && k.table == T_DEFERRED {
                if let Ok(e) = codec::decode::<DeferredEntry>(v, 1 << 20) {
                    ix.insert(&e);
                }
            }
        }
        ix
    }

    /// Records an entry (replacing one with the same sender and id).
    pub fn insert(&mut self, e: &DeferredEntry) {
        self.remove(e.sender, e.sender_id);
        self.by_time.insert((e.delivery_ms, e.sender, e.sender_id));
        self.by_key.insert((e.sender, e.sender_id), e.delivery_ms);
    }

    /// Forgets an entry.
    pub fn remove(&mut self, sender: Name, sender_id: u64) {
        if let Some(t) = self.by_key.remove(&(sender, sender_id)) {
            self.by_time.remove(&(t, sender, sender_id));
        }
    }

    /// Up to `max` entries due at `now_ms`, earliest first (ties by sender and id).
    pub fn due(&self, now_ms: u64, max: usize) -> Vec<(Name, u64)> {
        self.by_time.iter().take_while(|(t, _, _)| *t <= now_ms).take(max).map(|(_, s, i)| (*s, *i)).collect()
    }

    /// Pending entries.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// True when none is pending.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

/// The row key of a request.
pub fn row_key(sender: Name, sender_id: u64) -> RowKey {
    RowKey { code: EOSIO, scope: sender, table: T_DEFERRED, id: sender_id }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{Action, Bytes, PermissionLevel};

    fn act(actor: Name) -> Action {
        Action {
            account: Name(9),
            name: Name(1),
            authorization: smallvec::smallvec![PermissionLevel { actor, permission: Name(2) }],
            data: Bytes::default(),
        }
    }

    #[test]
    fn requests_are_checked_as_transactions_are() {
        let me = Name(5);
        let ok = DeferredRequest {
            read_scopes: smallvec::smallvec![Name(1)],
            write_scopes: smallvec::smallvec![me],
            actions: smallvec::smallvec![act(me)],
        };
        assert_eq!(check_request(me, &ok), Ok(()));
        let bad = |r: DeferredRequest, want: &str| {
            let e = check_request(me, &r).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        };
        bad(DeferredRequest { actions: smallvec::smallvec![], ..ok.clone() }, "1 to 16 actions");
        bad(DeferredRequest { actions: smallvec::smallvec![act(me); 17], ..ok.clone() }, "1 to 16 actions");
        bad(
            DeferredRequest { write_scopes: smallvec::smallvec![me, Name(1)], ..ok.clone() },
            "sorted and unique",
        );
        bad(DeferredRequest { read_scopes: smallvec::smallvec![me], ..ok.clone() }, "both read and write");
        bad(
            DeferredRequest { actions: smallvec::smallvec![act(Name(6))], ..ok.clone() },
            "only by its sender",
        );
        bad(DeferredRequest { write_scopes: smallvec::smallvec![Name(7)], ..ok }, "must be a write scope");
    }

    #[test]
    fn index_orders_by_time_and_replaces() {
        let e = |sender: u64, id: u64, at: u64| DeferredEntry {
            sender: Name(sender),
            sender_id: id,
            delivery_ms: at,
            expires_ms: at + 1,
            request: DeferredRequest {
                read_scopes: smallvec::smallvec![],
                write_scopes: smallvec::smallvec![],
                actions: smallvec::smallvec![],
            },
        };
        let mut ix = DeferredIndex::default();
        ix.insert(&e(1, 1, 30));
        ix.insert(&e(2, 1, 10));
        ix.insert(&e(1, 1, 20)); // replaces the first
        assert_eq!(ix.len(), 2);
        assert_eq!(ix.due(25, 10), vec![(Name(2), 1), (Name(1), 1)]);
        assert_eq!(ix.due(25, 1), vec![(Name(2), 1)]);
        ix.remove(Name(2), 1);
        assert_eq!(ix.due(100, 10), vec![(Name(1), 1)]);
    }
}

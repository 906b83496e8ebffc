//! A [`StateView`] over the genesis accounts: what ingest checks authorizations against
//! until the exec stage provides the executed state.

use std::collections::HashMap;

use crate::chain::{n, Authority, Genesis, Name, PermissionLevel, PublicKey, StateView, SYSTEM_ACCOUNT};

/// Accounts and keys from the genesis.
#[derive(Debug, Clone)]
pub struct GenesisState {
    accounts: HashMap<Name, (PublicKey, PublicKey)>,
}

impl GenesisState {
    /// The accounts `genesis` creates (and `eosio`).
    pub fn new(genesis: &Genesis) -> Self {
        let mut accounts = HashMap::new();
        accounts.insert(SYSTEM_ACCOUNT, (genesis.initial_key, genesis.initial_key));
        for a in &genesis.accounts {
            accounts.insert(a.name, (a.owner_key, a.active_key));
        }
        Self { accounts }
    }
}

impl StateView for GenesisState {
    fn account_exists(&self, account: Name) -> bool {
        self.accounts.contains_key(&account)
    }

    fn permission(&self, level: &PermissionLevel) -> Option<Authority> {
        let (owner, active) = self.accounts.get(&level.actor)?;
        if level.permission == n("owner") {
            Some(Authority::single_key(*owner))
        } else if level.permission == n("active") {
            Some(Authority::single_key(*active))
        } else {
            None
        }
    }
}

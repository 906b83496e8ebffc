//! `dawn genesis import-erc20`: an ERC20 holder snapshot (`address,balance[,key]` CSV) as
//! genesis accounts and balances.
//!
//! Mapping (docs/API.md, "Genesis files"): each 20-byte address becomes a 12-character account
//! name: byte i of SHA-256("dawn-erc20" || address bytes) picks character i from
//! `abcdefghijklmnopqrstuvwxyz12345` (byte mod 31). Two addresses mapping to one name are an
//! error naming both. The balance is a decimal in token units with at most the core
//! symbol's precision. An optional third column gives the holder's `PUB_ED_` key; holders
//! without one get the genesis `initial_key` for owner and active until they claim.

use std::collections::HashMap;

use anyhow::{bail, Context};

use crate::chain::{Asset, Checksum256, Genesis, GenesisAccount, GenesisBalance, Name, PublicKey};

const ALPHABET: &[u8; 31] = b"abcdefghijklmnopqrstuvwxyz12345";

/// The account name an Ethereum address maps to.
pub fn account_for_address(address: &[u8; 20]) -> Name {
    let h = Checksum256::hash_parts(&[b"dawn-erc20", address]);
    let s: String = h.0[..12].iter().map(|b| ALPHABET[(*b % 31) as usize] as char).collect();
    s.parse().expect("12 characters from the name alphabet")
}

fn parse_address(s: &str) -> anyhow::Result<[u8; 20]> {
    let hexs = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
    let mut a = [0u8; 20];
    hex::decode_to_slice(hexs, &mut a).with_context(|| format!("{s:?} is not a 20-byte hex address"))?;
    Ok(a)
}

/// Adds the holders in `csv` to `genesis` (accounts and balances). Lines starting with `#`
/// and a first line naming the columns are skipped.
pub fn import(genesis: &mut Genesis, csv: &str) -> anyhow::Result<usize> {
    let symbol = genesis.core_symbol();
    let precision = symbol.precision() as usize;
    let mut seen: HashMap<Name, String> =
        genesis.accounts.iter().map(|a| (a.name, format!("account {}", a.name))).collect();
    let mut added = 0;
    for (i, line) in csv.lines().enumerate() {
        let line = line.trim();
        let lineno = i + 1;
        if line.is_empty()
            || line.starts_with('#')
            || (i == 0 && line.to_ascii_lowercase().starts_with("address"))
        {
            continue;
        }
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        if cols.len() < 2 || cols.len() > 3 {
            bail!("line {lineno}: expected address,balance[,key], got {line:?}");
        }
        let addr = parse_address(cols[0]).with_context(|| format!("line {lineno}"))?;
        let (int, frac) = cols[1].split_once('.').unwrap_or((cols[1], ""));
        if frac.len() > precision {
            bail!("line {lineno}: balance {} has more than {precision} decimals", cols[1]);
        }
        let text = if precision == 0 {
            format!("{int} {}", symbol.code())
        } else {
            format!("{int}.{frac:0<precision$} {}", symbol.code())
        };
        let balance: Asset =
            text.parse().with_context(|| format!("line {lineno}: bad balance {:?}", cols[1]))?;
        if balance.amount < 0 {
            bail!("line {lineno}: negative balance");
        }
        let key: PublicKey = match cols.get(2) {
            Some(k) if !k.is_empty() => k.parse().with_context(|| format!("line {lineno}: bad key"))?,
            _ => genesis.initial_key,
        };
        let name = account_for_address(&addr);
        if let Some(prev) = seen.insert(name, cols[0].to_string()) {
            bail!("line {lineno}: address {} maps to account {name}, already taken by {prev}", cols[0]);
        }
        genesis.accounts.push(GenesisAccount { name, owner_key: key, active_key: key });
        genesis.balances.push(GenesisBalance { account: name, balance });
        added += 1;
    }
    genesis.validate().context("the resulting genesis is invalid")?;
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_and_refuses_bad_lines() {
        let mut g = crate::node::dev::dev_genesis();
        let csv = "address,balance\n0x00000000219ab540356cBB839Cbe05303d7705Fa,12.5\n0xbe0eb53f46cd790cd13851d5eff43d12404d33e8,3\n";
        assert_eq!(import(&mut g, csv).unwrap(), 2);
        let a = account_for_address(&parse_address("0xbe0eb53f46cd790cd13851d5eff43d12404d33e8").unwrap());
        let b = g.balances.iter().find(|b| b.account == a).unwrap();
        assert_eq!(b.balance.to_string(), "3.0000 SYS");
        assert_eq!(a.to_string().len(), 12);
        let mut g = crate::node::dev::dev_genesis();
        assert!(import(&mut g, "0xzz,1\n").is_err());
        assert!(import(&mut g, "0x00000000219ab540356cBB839Cbe05303d7705Fa,1.23456\n").is_err());
        let dup =
            "0xbe0eb53f46cd790cd13851d5eff43d12404d33e8,1\n0xbe0eb53f46cd790cd13851d5eff43d12404d33e8,2\n";
        assert!(import(&mut crate::node::dev::dev_genesis(), dup)
            .unwrap_err()
            .to_string()
            .contains("already taken"));
    }
}

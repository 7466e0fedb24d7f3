//! Seals: periodic Merkle roots over the ledger (DESIGN.md, "Tamper
//! evidence").
//!
//! A seal covers the stream positions `from_position..=to_position`, where
//! `from_position` is the previous seal's `to_position + 1`. Its leaves are
//! the hashes of every event in that range, in stream order and, within a
//! commit, in event order. Leaf node: SHA-256(0x00 ‖ leaf); inner node:
//! SHA-256(0x01 ‖ left ‖ right); a lone last node of a level moves up
//! unchanged. Each seal names the previous seal's hash, so seals form a
//! chain of their own, and the seal's own `hash` covers its canonical JSON
//! without `hash`, like an envelope's.

use crate::envelope::{hash_of, GENESIS_HASH};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// One seal, as stored on the subject `<ns>.seal`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    pub from_position: u64,
    pub to_position: u64,
    pub event_count: u64,
    pub merkle_root: String,
    /// The previous seal's `hash`, or 64 zeros for the first seal.
    pub prev_seal_hash: String,
    #[serde(with = "time::serde::rfc3339")]
    pub sealed_at: OffsetDateTime,
    pub hash: String,
}

/// The payload of a seal message: `{"seal": {...}}`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SealPayload {
    pub(crate) seal: Seal,
}

impl Seal {
    /// Builds and hashes the seal that follows `previous` over `leaves`.
    pub fn new(
        previous: Option<&Seal>,
        to_position: u64,
        leaves: &[[u8; 32]],
        sealed_at: OffsetDateTime,
    ) -> Result<Self, serde_json::Error> {
        let mut seal = Seal {
            from_position: previous.map_or(1, |p| p.to_position + 1),
            to_position,
            event_count: leaves.len() as u64,
            merkle_root: hex::encode(merkle_root(leaves)),
            prev_seal_hash: previous.map_or_else(|| GENESIS_HASH.to_owned(), |p| p.hash.clone()),
            sealed_at,
            hash: String::new(),
        };
        seal.hash = hash_of(&serde_json::to_value(&seal)?);
        Ok(seal)
    }

    /// Whether the stored `hash` matches the seal's content.
    pub fn is_hash_valid(&self) -> bool {
        serde_json::to_value(self).is_ok_and(|value| hash_of(&value) == self.hash)
    }
}

/// Which side of the path a sibling hash sits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Left,
    Right,
}

/// One step from a leaf towards the root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathStep {
    pub side: Side,
    pub hash: String,
}

fn leaf_node(leaf: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update([0u8]);
    hasher.update(leaf);
    hasher.finalize().into()
}

fn inner_node(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update([1u8]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

fn next_level(level: &[[u8; 32]]) -> Vec<[u8; 32]> {
    level
        .chunks(2)
        .map(|pair| match pair {
            [left, right] => inner_node(left, right),
            [lone] => *lone,
            _ => unreachable!("chunks(2) yields one or two items"),
        })
        .collect()
}

/// The Merkle root of `leaves` (event hashes). Empty input gives the hash of
/// nothing, which no seal uses.
pub fn merkle_root(leaves: &[[u8; 32]]) -> [u8; 32] {
    if leaves.is_empty() {
        return Sha256::digest([]).into();
    }
    let mut level: Vec<[u8; 32]> = leaves.iter().map(leaf_node).collect();
    while level.len() > 1 {
        level = next_level(&level);
    }
    level[0]
}

/// The sibling hashes from leaf `index` up to the root.
pub fn merkle_path(leaves: &[[u8; 32]], mut index: usize) -> Vec<PathStep> {
    let mut path = Vec::new();
    let mut level: Vec<[u8; 32]> = leaves.iter().map(leaf_node).collect();
    while level.len() > 1 {
        let sibling = index ^ 1;
        if sibling < level.len() {
            let side = if sibling < index {
                Side::Left
            } else {
                Side::Right
            };
            path.push(PathStep {
                side,
                hash: hex::encode(level[sibling]),
            });
        }
        level = next_level(&level);
        index /= 2;
    }
    path
}

/// Recomputes the root from a leaf and its path.
pub fn root_from_path(leaf: &[u8; 32], path: &[PathStep]) -> Option<[u8; 32]> {
    let mut node = leaf_node(leaf);
    for step in path {
        let sibling: [u8; 32] = hex::decode(&step.hash).ok()?.try_into().ok()?;
        node = match step.side {
            Side::Left => inner_node(&sibling, &node),
            Side::Right => inner_node(&node, &sibling),
        };
    }
    Some(node)
}

/// Decodes a hex event hash into a leaf.
pub fn leaf_of(hash: &str) -> Option<[u8; 32]> {
    hex::decode(hash).ok()?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaves(n: usize) -> Vec<[u8; 32]> {
        (0..n)
            .map(|i| Sha256::digest(i.to_be_bytes()).into())
            .collect()
    }

    #[test]
    fn a_single_leaf_is_its_own_leaf_node() {
        let one = leaves(1);
        assert_eq!(merkle_root(&one), leaf_node(&one[0]));
        assert!(merkle_path(&one, 0).is_empty());
    }

    #[test]
    fn changing_any_leaf_changes_the_root() {
        let mut all = leaves(5);
        let root = merkle_root(&all);
        all[3][0] ^= 1;
        assert_ne!(merkle_root(&all), root);
    }

    proptest! {
        #[test]
        fn every_path_leads_to_the_root(n in 1usize..70, pick in 0usize..70) {
            let all = leaves(n);
            let index = pick % n;
            let path = merkle_path(&all, index);
            prop_assert_eq!(root_from_path(&all[index], &path), Some(merkle_root(&all)));
        }
    }
}

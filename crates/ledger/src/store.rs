//! A Merkleized map: a sorted map whose entries each hash to a leaf, with
//! leaf hashes cached and recomputed only for entries changed since the last
//! root. The state root commits to every account, device, job and live task.

use std::collections::BTreeMap;

use verigrid_types::codec::Encode;
use verigrid_types::merkle::{self, Proof};
use verigrid_types::{Domain, Hash};

#[derive(Clone, Debug)]
struct Entry<V> {
    value: V,
    leaf: Option<Hash>,
}

/// A sorted map with a Merkle root over `(key, value)` leaves.
#[derive(Clone, Debug)]
pub struct StateMap<K, V> {
    entries: BTreeMap<K, Entry<V>>,
}

impl<K, V> Default for StateMap<K, V> {
    fn default() -> Self {
        Self {
            entries: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Encode, V: Encode> StateMap<K, V> {
    /// The value under `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key).map(|e| &e.value)
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &K) -> bool {
        self.entries.contains_key(key)
    }

    /// The value under `key`, for changing; its leaf hash is recomputed at
    /// the next root.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.entries.get_mut(key).map(|e| {
            e.leaf = None;
            &mut e.value
        })
    }

    /// Inserts or replaces.
    pub fn insert(&mut self, key: K, value: V) {
        self.entries.insert(key, Entry { value, leaf: None });
    }

    /// Removes and returns.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.entries.remove(key).map(|e| e.value)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, e)| (k, &e.value))
    }

    /// Entries with keys in `range`, in key order.
    pub fn range<R: std::ops::RangeBounds<K>>(&self, range: R) -> impl Iterator<Item = (&K, &V)> {
        self.entries.range(range).map(|(k, e)| (k, &e.value))
    }

    /// The leaf of `(key, value)`, encoded into `buf` (cleared first: one
    /// buffer serves every leaf of a root).
    fn leaf_in(buf: &mut Vec<u8>, key: &K, value: &V) -> Hash {
        buf.clear();
        key.encode_to(buf);
        value.encode_to(buf);
        merkle::leaf_hash(&Hash::of(Domain::StateEntry, &[buf]).0)
    }

    fn leaf_of(key: &K, value: &V) -> Hash {
        Self::leaf_in(&mut Vec::with_capacity(256), key, value)
    }

    fn leaves(&mut self) -> Vec<Hash> {
        let mut buf = Vec::with_capacity(256);
        self.entries
            .iter_mut()
            .map(|(k, e)| {
                *e.leaf
                    .get_or_insert_with(|| Self::leaf_in(&mut buf, k, &e.value))
            })
            .collect()
    }

    /// The Merkle root over all entries in key order.
    pub fn root(&mut self) -> Hash {
        merkle::root_of_owned(self.leaves())
    }

    /// The leaf hash of `key`'s entry and a proof of it against
    /// [`StateMap::root`].
    pub fn prove(&mut self, key: &K) -> Option<(Hash, Proof)> {
        let index = self.entries.keys().position(|k| k == key)?;
        let leaves = self.leaves();
        let leaf = *leaves.get(index)?;
        Some((leaf, merkle::prove(&leaves, index)?))
    }

    /// The leaf hash an entry `(key, value)` has in the tree.
    pub fn leaf_hash(key: &K, value: &V) -> Hash {
        Self::leaf_of(key, value)
    }
}

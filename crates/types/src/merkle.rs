//! Binary Merkle trees in the shape of RFC 6962 (Certificate Transparency):
//! the left subtree of a tree of `n` leaves holds the largest power of two
//! below `n`. That shape is what lets an append-only [`Frontier`] of at most
//! 64 hashes produce the same root as the whole tree, so a job can keep a
//! verdict root of millions of tasks in constant space, and a consumer can
//! still check one verdict with a logarithmic proof.

use crate::codec::{Decode, DecodeError, Encode, Reader};
use crate::hash::{Domain, Hash};

/// The key leaves are hashed under (keyed BLAKE3): the hash of the
/// domain tag `verigrid/merkle-leaf/v1`, as a test checks. Like
/// [`NODE_KEY`], it separates leaves from nodes and from every other hash
/// without a tag in front of the data, which would cost a state entry's
/// leaf another compression whenever the tag pushes its encoding past a
/// 64-byte block.
const LEAF_KEY: [u8; 32] = [
    0xa9, 0x1e, 0xa8, 0x2b, 0x40, 0x80, 0x13, 0x71, 0x75, 0xb3, 0x84, 0xab, 0x34, 0x22, 0xea, 0xcc,
    0xd0, 0x69, 0x48, 0x4d, 0xce, 0x93, 0x3b, 0x07, 0x16, 0x6d, 0xf6, 0x9a, 0xec, 0x3a, 0xf1, 0x96,
];

/// The hash of one leaf's data.
#[must_use]
pub fn leaf_hash(data: &[u8]) -> Hash {
    Hash(*blake3::keyed_hash(&LEAF_KEY, data).as_bytes())
}

/// The key interior nodes are hashed under (keyed BLAKE3): the hash of
/// the domain tag `verigrid/merkle-node/v1`, as a test checks. The key
/// separates node hashes from every other hash as a tag in front of the
/// input does, and keeps a node's input to one 64-byte block: with the tag
/// in front, a node took two compressions, and node hashes are much of
/// what a block's state and verdict roots cost.
const NODE_KEY: [u8; 32] = [
    0x46, 0x5e, 0x24, 0x43, 0xdd, 0x2f, 0xf2, 0xfa, 0x74, 0x9e, 0x7f, 0x01, 0x29, 0xee, 0x44, 0x3a,
    0xa6, 0xbf, 0x18, 0xa7, 0xa6, 0xdb, 0xf3, 0x79, 0x59, 0x4e, 0xcb, 0x1d, 0xdb, 0xab, 0x84, 0x25,
];

/// The hash of an interior node.
#[must_use]
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut pair = [0u8; 64];
    pair[..32].copy_from_slice(&left.0);
    pair[32..].copy_from_slice(&right.0);
    Hash(*blake3::keyed_hash(&NODE_KEY, &pair).as_bytes())
}

/// The root of an empty tree.
#[must_use]
pub fn empty_root() -> Hash {
    Hash::of(Domain::MerkleNode, &[])
}

/// The root over already-hashed leaves.
#[must_use]
pub fn root(leaves: &[Hash]) -> Hash {
    root_of_owned(leaves.to_vec())
}

/// [`root`] over leaves the caller no longer needs: each level is written
/// over the one below it, so no level is allocated.
#[must_use]
pub fn root_of_owned(mut level: Vec<Hash>) -> Hash {
    // Bottom-up pairing gives the RFC 6962 shape: an odd node at the end of
    // a level is carried up unchanged.
    while level.len() > 1 {
        let parents = level.len().div_ceil(2);
        for i in 0..parents {
            level[i] = parent(&level[2 * i], level.get(2 * i + 1));
        }
        level.truncate(parents);
    }
    level.first().copied().unwrap_or_else(empty_root)
}

/// The parent of `left` and its right sibling in a level of the tree: their
/// node hash, or `left` itself, carried up unchanged, when it is the last
/// node of an odd level. This is what gives the tree its RFC 6962 shape.
#[must_use]
pub fn parent(left: &Hash, right: Option<&Hash>) -> Hash {
    match right {
        Some(right) => node_hash(left, right),
        None => *left,
    }
}

/// The level above `level`.
#[must_use]
pub fn parent_level(level: &[Hash]) -> Vec<Hash> {
    level
        .chunks(2)
        .filter_map(|pair| Some(parent(pair.first()?, pair.get(1))))
        .collect()
}

/// A proof that a leaf sits at `index` in a tree of `size` leaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proof {
    /// Position of the leaf, from 0.
    pub index: u64,
    /// Number of leaves in the tree.
    pub size: u64,
    /// Sibling hashes from the leaf upwards.
    pub siblings: Vec<Hash>,
}

impl Encode for Proof {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.index.encode_to(out);
        self.size.encode_to(out);
        self.siblings.encode_to(out);
    }
}

impl Decode for Proof {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let proof = Self {
            index: u64::decode_from(r)?,
            size: u64::decode_from(r)?,
            siblings: Vec::decode_from(r)?,
        };
        if proof.siblings.len() > 64 {
            return Err(DecodeError::Invalid {
                what: "merkle proof",
                why: "more than 64 levels",
            });
        }
        Ok(proof)
    }
}

/// Builds the proof for leaf `index`, or `None` if it is out of range.
/// To prove many leaves of one tree, build a [`Tree`] once.
#[must_use]
pub fn prove(leaves: &[Hash], index: usize) -> Option<Proof> {
    Tree::new(leaves).prove(index)
}

/// A whole tree, every level kept, for many proofs from one build.
#[derive(Clone, Debug)]
pub struct Tree {
    /// Levels from the leaves (first) to the root (last).
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    /// Builds every level over `leaves`.
    #[must_use]
    pub fn new(leaves: &[Hash]) -> Self {
        let mut levels = vec![leaves.to_vec()];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let next = levels.last().map(|l| parent_level(l)).unwrap_or_default();
            levels.push(next);
        }
        Self { levels }
    }

    /// The root (the empty root for no leaves).
    #[must_use]
    pub fn root(&self) -> Hash {
        self.levels
            .last()
            .and_then(|l| l.first())
            .copied()
            .unwrap_or_else(empty_root)
    }

    /// The proof for leaf `index`, in O(log n).
    #[must_use]
    pub fn prove(&self, index: usize) -> Option<Proof> {
        let size = self.levels.first()?.len();
        if index >= size {
            return None;
        }
        let mut siblings = Vec::new();
        let mut pos = index;
        for level in &self.levels[..self.levels.len() - 1] {
            if let Some(s) = level.get(pos ^ 1) {
                siblings.push(*s);
            }
            pos /= 2;
        }
        Some(Proof {
            index: index as u64,
            size: size as u64,
            siblings,
        })
    }
}

/// Checks that `leaf` is at `proof.index` of the tree with root `root`.
#[must_use]
pub fn verify(root: &Hash, leaf: &Hash, proof: &Proof) -> bool {
    if proof.index >= proof.size {
        return false;
    }
    let mut hash = *leaf;
    let mut pos = proof.index;
    let mut width = proof.size;
    let mut siblings = proof.siblings.iter();
    while width > 1 {
        let sibling = pos ^ 1;
        if sibling < width {
            let Some(s) = siblings.next() else {
                return false;
            };
            hash = if pos.is_multiple_of(2) {
                node_hash(&hash, s)
            } else {
                node_hash(s, &hash)
            };
        }
        pos /= 2;
        width = width.div_ceil(2);
    }
    siblings.next().is_none() && hash == *root
}

/// An append-only Merkle accumulator: the roots of the perfect subtrees
/// ("peaks") of the leaves appended so far. Its [`Frontier::root`] equals
/// [`root`] over the same leaves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    count: u64,
    /// Peaks from the largest (leftmost) subtree to the smallest.
    peaks: Vec<Hash>,
}

impl Frontier {
    /// Number of leaves appended.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Whether no leaf was appended.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut carry = leaf;
        let mut n = self.count;
        while n & 1 == 1 {
            let Some(left) = self.peaks.pop() else { break };
            carry = node_hash(&left, &carry);
            n >>= 1;
        }
        self.peaks.push(carry);
        self.count += 1;
    }

    /// The root over every leaf appended so far.
    #[must_use]
    pub fn root(&self) -> Hash {
        let mut iter = self.peaks.iter().rev();
        let Some(last) = iter.next() else {
            return empty_root();
        };
        iter.fold(*last, |acc, peak| node_hash(peak, &acc))
    }
}

impl Encode for Frontier {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.count.encode_to(out);
        self.peaks.encode_to(out);
    }
}

impl Decode for Frontier {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let count = u64::decode_from(r)?;
        let peaks: Vec<Hash> = Vec::decode_from(r)?;
        if peaks.len() != count.count_ones() as usize {
            return Err(DecodeError::Invalid {
                what: "merkle frontier",
                why: "peak count does not match leaf count",
            });
        }
        Ok(Self { count, peaks })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nodes_are_keyed_by_the_hash_of_their_domain_tag() {
        let tag = Domain::MerkleNode.tag();
        assert_eq!(
            NODE_KEY,
            *blake3::hash(tag).as_bytes(),
            "NODE_KEY must be the BLAKE3 hash of {:?}",
            String::from_utf8_lossy(tag)
        );
    }

    #[test]
    fn leaves_are_keyed_by_the_hash_of_their_domain_tag() {
        let tag = Domain::MerkleLeaf.tag();
        assert_eq!(
            LEAF_KEY,
            *blake3::hash(tag).as_bytes(),
            "LEAF_KEY must be the BLAKE3 hash of {:?}",
            String::from_utf8_lossy(tag)
        );
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(&(i as u64).to_le_bytes()))
            .collect()
    }

    #[test]
    fn empty_and_single_trees() {
        assert_eq!(root(&[]), empty_root());
        let one = leaves(1);
        assert_eq!(root(&one), one[0]);
    }

    proptest! {
        #[test]
        fn frontier_root_equals_tree_root(n in 0usize..300) {
            let l = leaves(n);
            let mut f = Frontier::default();
            for h in &l {
                f.push(*h);
            }
            prop_assert_eq!(f.root(), root(&l));
            prop_assert_eq!(Frontier::decode(&f.encode()), Ok(f));
        }

        #[test]
        fn every_leaf_proves_and_no_other_does(n in 1usize..130, pick in any::<usize>()) {
            let l = leaves(n);
            let r = root(&l);
            let i = pick % n;
            let Some(proof) = prove(&l, i) else {
                return Err(TestCaseError::fail("no proof for an index in range"));
            };
            let tree = Tree::new(&l);
            prop_assert_eq!(tree.root(), r);
            prop_assert_eq!(tree.prove(i), Some(proof.clone()));
            prop_assert!(verify(&r, &l[i], &proof));
            prop_assert!(!verify(&r, &leaf_hash(b"other"), &proof));
            if n > 1 {
                let mut moved = proof.clone();
                moved.index = ((i + 1) % n) as u64;
                prop_assert!(!verify(&r, &l[i], &moved));
            }
        }
    }
}

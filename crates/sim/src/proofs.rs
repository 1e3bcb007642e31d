//! Verdict proofs for a job of millions of tasks without keeping its
//! verdicts: the verdict tree (RFC 6962 shape, `verigrid_types::merkle`)
//! is rebuilt leaf by leaf as verdicts are decided, keeping only its peaks
//! and the sibling nodes that the proofs of a few sampled verdicts need.
//! At the end the rebuilt root must equal the job's committed verdict root
//! (a check of every verdict), and each sampled proof is checked in full
//! against the state root by the ledger's own [`VerdictProof::verify`].
//!
//! [`VerdictProof::verify`]: verigrid_ledger::VerdictProof::verify

use std::collections::{BTreeMap, HashMap};

use verigrid_ledger::Verdict;
use verigrid_types::merkle::{Proof, empty_root, node_hash};
use verigrid_types::{Domain, Hash};

/// Streams one job's verdicts; remembers what sampled proofs need.
#[derive(Debug, Default)]
pub struct VerdictPaths {
    /// Sampled leaf index → its verdict, once seen.
    samples: BTreeMap<u64, Option<Verdict>>,
    /// (level, position) of a node some sampled proof needs → its hash.
    wanted: HashMap<(u32, u64), Option<Hash>>,
    /// Perfect subtrees so far, largest (leftmost) first: (level, root).
    peaks: Vec<(u32, Hash)>,
    count: u64,
}

impl VerdictPaths {
    /// Samples up to `samples` of a job's `tasks` verdict positions, drawn
    /// from `seed` (all of them when the job is that small).
    #[must_use]
    pub fn new(tasks: u64, samples: u64, seed: u64) -> Self {
        let mut picked: BTreeMap<u64, Option<Verdict>> = BTreeMap::new();
        if tasks <= samples {
            picked.extend((0..tasks).map(|i| (i, None)));
        } else {
            for k in 0..samples {
                let h = Hash::of(
                    Domain::Draw,
                    &[b"sim/proof-sample", &seed.to_le_bytes(), &k.to_le_bytes()],
                );
                picked.insert(h.to_u64() % tasks, None);
            }
        }
        let mut wanted = HashMap::new();
        for &i in picked.keys() {
            for level in 0..64u32 {
                wanted.insert((level, (i >> level) ^ 1), None);
            }
        }
        Self {
            samples: picked,
            wanted,
            peaks: Vec::new(),
            count: 0,
        }
    }

    /// Appends the next verdict of the job with its leaf hash
    /// ([`Verdict::leaf`], computed by the caller, possibly in parallel).
    pub fn push(&mut self, verdict: &Verdict, leaf: Hash) {
        let index = self.count;
        if let Some(slot) = self.samples.get_mut(&index) {
            *slot = Some(verdict.clone());
        }
        let mut node = leaf;
        let mut level = 0u32;
        let mut pos = index;
        self.note(level, pos, node);
        let mut n = index;
        while n & 1 == 1 {
            let Some((_, left)) = self.peaks.pop() else {
                break;
            };
            node = node_hash(&left, &node);
            n >>= 1;
            level += 1;
            pos >>= 1;
            self.note(level, pos, node);
        }
        self.peaks.push((level, node));
        self.count += 1;
    }

    fn note(&mut self, level: u32, pos: u64, node: Hash) {
        if let Some(slot) = self.wanted.get_mut(&(level, pos)) {
            *slot = Some(node);
        }
    }

    /// Verdicts seen.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Whether no verdict was seen.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The root of the verdict tree rebuilt from every verdict seen.
    #[must_use]
    pub fn root(&self) -> Hash {
        Self::fold(&self.peaks)
    }

    fn fold(peaks: &[(u32, Hash)]) -> Hash {
        let mut iter = peaks.iter().rev();
        let Some((_, last)) = iter.next() else {
            return empty_root();
        };
        iter.fold(*last, |acc, (_, peak)| node_hash(peak, &acc))
    }

    /// The node covering leaves `[pos·2^level, min((pos+1)·2^level, n))`.
    fn node(&self, level: u32, pos: u64) -> Option<Hash> {
        let complete = (pos + 1)
            .checked_shl(level)
            .is_some_and(|end| end <= self.count);
        if complete {
            return self.wanted.get(&(level, pos)).copied().flatten();
        }
        // The ragged right edge: the peaks below this level.
        let first = self.peaks.iter().position(|(l, _)| *l < level)?;
        Some(Self::fold(&self.peaks[first..]))
    }

    /// Each sampled verdict that was seen, with its proof in the rebuilt
    /// tree.
    #[must_use]
    pub fn proofs(&self) -> Vec<(Verdict, Proof)> {
        let size = self.count;
        let mut out = Vec::with_capacity(self.samples.len());
        for (&index, verdict) in &self.samples {
            let Some(verdict) = verdict else { continue };
            let mut siblings = Vec::new();
            let mut pos = index;
            let mut width = size;
            let mut level = 0u32;
            let mut complete = true;
            while width > 1 {
                let sibling = pos ^ 1;
                if sibling < width {
                    match self.node(level, sibling) {
                        Some(h) => siblings.push(h),
                        None => complete = false,
                    }
                }
                pos /= 2;
                width = width.div_ceil(2);
                level += 1;
            }
            if complete {
                out.push((
                    verdict.clone(),
                    Proof {
                        index,
                        size,
                        siblings,
                    },
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use verigrid_ledger::Outcome;
    use verigrid_types::merkle::{Tree, verify};
    use verigrid_types::{Height, JobId, TaskId};

    fn verdict(i: u32) -> Verdict {
        Verdict {
            task: TaskId {
                job: JobId(Hash::of(Domain::Draw, &[b"job"])),
                index: i,
            },
            outcome: Outcome::Failed,
            agreeing: Vec::new(),
            disagreeing: Vec::new(),
            height: Height(u64::from(i)),
        }
    }

    #[test]
    fn streamed_proofs_equal_the_whole_trees_proofs() {
        for n in [1u32, 2, 3, 5, 8, 13, 64, 100, 257] {
            let verdicts: Vec<Verdict> = (0..n).map(verdict).collect();
            let leaves: Vec<Hash> = verdicts.iter().map(Verdict::leaf).collect();
            let tree = Tree::new(&leaves);
            let mut paths = VerdictPaths::new(u64::from(n), 7, 3);
            for (v, l) in verdicts.iter().zip(&leaves) {
                paths.push(v, *l);
            }
            assert_eq!(paths.root(), tree.root(), "root of {n}");
            let proofs = paths.proofs();
            assert!(!proofs.is_empty());
            for (v, proof) in proofs {
                let i = usize::try_from(proof.index).unwrap();
                assert_eq!(v, verdicts[i]);
                assert_eq!(proof, tree.prove(i).unwrap(), "proof {i} of {n}");
                assert!(verify(&tree.root(), &leaves[i], &proof));
            }
        }
    }
}

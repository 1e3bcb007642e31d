//! The draw index: every device's draw weight, in key order, kept up to
//! date from what changed rather than rebuilt for each block.
//!
//! A device's weight (docs/DESIGN.md §5.2) is its reputation factor times
//! its free slots, or zero while it takes no work. The index keeps two
//! columns of weights over the same ranks: every device's, and only those
//! of devices trusted to run alone (docs/DESIGN.md §5.5), from which the
//! first replica of a task decided by a vote is drawn. A weight changes
//! only when the device's record changes, when the chain's height passes a
//! point that lapses or restores its availability (a jail term ends, its
//! attestation expires, it has been silent too long), or when the
//! parameters availability depends on change. The index follows all
//! three: the device map reports the records handed out for changing,
//! each device carries the height at which it must be looked at again,
//! and a change of parameters rebuilds the index. So a block that hands
//! out work looks at the devices it changed and those that fell due, not
//! at each of the 157,000 devices of the network, and draws exactly as a
//! list of every device built afresh for the block would.

use std::sync::Arc;

use verigrid_types::{Amount, DeviceId};

use crate::Ledger;
use crate::devices::effective_slots;
use crate::records::{Device, DeviceStatus};

/// Devices per block of weights.
///
/// Weights sit in one dense array, cut into blocks; a Fenwick tree over
/// the block sums finds the block a draw lands in, and a scan of that
/// block's weights (one contiguous run) finds the device. At a hundred
/// thousand devices the tree is a few thousand entries that stay in
/// cache, where a tree over every device would miss on most of its levels.
const BLOCK: usize = 64;

/// Never: a device with nothing that lapses or returns by height alone.
const NEVER: u64 = u64::MAX;

/// The index a ledger keeps; `None` until the first block needs it, and
/// after a restore (it is derived state, never hashed). Clones share it
/// until one of them changes it.
#[derive(Clone, Debug, Default)]
pub(crate) struct DrawIndex(Option<Arc<Weights>>);

/// The parameters availability and trust depend on: weights computed
/// under others are rebuilt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Basis {
    offline_after: u64,
    min_stake: Amount,
    solo_min_successes: u32,
    solo_min_score_ppm: u32,
}

impl Basis {
    fn of(ledger: &Ledger) -> Self {
        Self {
            offline_after: ledger
                .params
                .offline_after_epochs
                .saturating_mul(ledger.params.epoch_blocks),
            min_stake: ledger.params.min_device_stake,
            solo_min_successes: ledger.params.solo_min_successes,
            solo_min_score_ppm: ledger.params.solo_min_score_ppm,
        }
    }
}

/// A device's draw weights: among every device, and among those trusted
/// to run alone (zero for any other).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Weight {
    /// Reputation factor times free slots; zero while it takes no work.
    pub all: u64,
    /// `all` if the device may run a task alone, else zero.
    pub trusted: u64,
    /// It may run a task alone and takes work, with a free slot or not:
    /// an anchor for tasks decided by a vote (docs/DESIGN.md §5.2).
    pub anchor: bool,
}

/// One column of weights by rank, with the exact prefix sums a weighted
/// draw needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Column {
    weights: Vec<u64>,
    /// Fenwick tree (1-based) over the block sums of `weights`.
    blocks: Vec<u64>,
    total: u64,
}

impl Column {
    fn weight(&self, i: usize) -> u64 {
        self.weights.get(i).copied().unwrap_or(0)
    }

    /// The rank whose cumulative weight range holds `target` (`target <
    /// total`): the first whose cumulative weight exceeds it, as with any
    /// exact prefix-sum structure.
    fn find(&self, mut target: u64) -> Option<usize> {
        let n = self.blocks.len().saturating_sub(1);
        let mut block = 0usize;
        let mut step = n.next_power_of_two();
        while step > 0 {
            let next = block + step;
            if next <= n && self.blocks[next] <= target {
                block = next;
                target -= self.blocks[next];
            }
            step >>= 1;
        }
        let start = block * BLOCK;
        let run = self
            .weights
            .get(start..(start + BLOCK).min(self.weights.len()))?;
        for (offset, &w) in run.iter().enumerate() {
            if target < w {
                return Some(start + offset);
            }
            target -= w;
        }
        None
    }

    /// Sets the weight at rank `i`, and the sums over it.
    fn set(&mut self, i: usize, new: u64) {
        let Some(w) = self.weights.get_mut(i) else {
            return;
        };
        let old = std::mem::replace(w, new);
        if old == new {
            return;
        }
        self.total = self.total.wrapping_add(new).wrapping_sub(old);
        let mut j = i / BLOCK + 1;
        while j < self.blocks.len() {
            self.blocks[j] = self.blocks[j].wrapping_add(new).wrapping_sub(old);
            j += j & j.wrapping_neg();
        }
    }

    /// The block sums' Fenwick tree and the total, from `weights`.
    fn sum_up(&mut self) {
        let sums: Vec<u64> = self
            .weights
            .chunks(BLOCK)
            .map(|b| b.iter().fold(0u64, |a, w| a.wrapping_add(*w)))
            .collect();
        let n = sums.len();
        let mut blocks = vec![0u64; n + 1];
        for (i, sum) in sums.iter().enumerate() {
            let j = i + 1;
            blocks[j] = blocks[j].wrapping_add(*sum);
            let parent = j + (j & j.wrapping_neg());
            if parent <= n {
                blocks[parent] = blocks[parent].wrapping_add(blocks[j]);
            }
        }
        self.blocks = blocks;
        self.total = sums.iter().fold(0u64, |a, w| a.wrapping_add(*w));
    }
}

/// Every device's draw weights in key order, with the exact prefix sums a
/// weighted draw needs.
#[derive(Clone, Debug)]
pub(crate) struct Weights {
    basis: Basis,
    /// Each device's place in the device map's storage, by rank (its
    /// position in key order). Shared by clones until a device is added.
    places: Arc<Vec<usize>>,
    /// Each device's rank, by place.
    ranks: Arc<Vec<usize>>,
    /// Every device's weight.
    all: Column,
    /// The weights of devices trusted to run alone; zero for the others.
    trusted: Column,
    /// 1 for each device that is an anchor ([`Weight::anchor`]), else 0.
    anchors: Column,
    /// By rank: the height at which the device's weight must be computed
    /// again though its record has not changed ([`NEVER`] if none).
    recheck: Vec<u64>,
    /// Per block: a height no later than the earliest `recheck` in it.
    due: Vec<u64>,
}

impl Weights {
    /// The sum of every weight.
    pub(crate) fn total(&self) -> u64 {
        self.all.total
    }

    /// The sum of the trusted devices' weights.
    pub(crate) fn trusted_total(&self) -> u64 {
        self.trusted.total
    }

    /// How many devices are anchors ([`Weight::anchor`]).
    pub(crate) fn anchors(&self) -> u64 {
        self.anchors.total
    }

    /// The number of devices (ranks).
    fn len(&self) -> usize {
        self.all.weights.len()
    }

    /// The ranks of the anchors ([`Weight::anchor`]), in order.
    pub(crate) fn anchor_ranks(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.len()).filter(|&i| self.anchors.weight(i) > 0)
    }

    /// The weights of the device at rank `i`.
    pub(crate) fn weight(&self, i: usize) -> Weight {
        Weight {
            all: self.all.weight(i),
            trusted: self.trusted.weight(i),
            anchor: self.anchors.weight(i) > 0,
        }
    }

    /// The place in the device map's storage of the device at rank `i`.
    pub(crate) fn place(&self, i: usize) -> Option<usize> {
        self.places.get(i).copied()
    }

    /// The rank a draw of `target` (below [`Weights::total`]) lands on.
    pub(crate) fn find(&self, target: u64) -> Option<usize> {
        self.all.find(target)
    }

    /// The rank a draw of `target` (below [`Weights::trusted_total`])
    /// among the trusted devices lands on.
    pub(crate) fn find_trusted(&self, target: u64) -> Option<usize> {
        self.trusted.find(target)
    }

    /// Sets the weights of the device at rank `i`.
    pub(crate) fn set(&mut self, i: usize, new: Weight) {
        self.all.set(i, new.all);
        self.trusted.set(i, new.trusted);
        self.anchors.set(i, u64::from(new.anchor));
    }

    /// Sets the weight and recheck height of the device at rank `i`.
    fn refresh(&mut self, i: usize, (weight, recheck): (Weight, u64)) {
        self.set(i, weight);
        if let Some(r) = self.recheck.get_mut(i) {
            *r = recheck;
        }
        if let Some(due) = self.due.get_mut(i / BLOCK) {
            *due = (*due).min(recheck);
        }
    }

    /// The columns' prefix sums and the due heights, from the weights and
    /// `recheck`.
    fn sum_up(&mut self) {
        self.all.sum_up();
        self.trusted.sum_up();
        self.anchors.sum_up();
        self.due = self
            .recheck
            .chunks(BLOCK)
            .map(|b| b.iter().copied().min().unwrap_or(NEVER))
            .collect();
    }

    /// Whether these weights are the ones `fresh` (built from scratch at
    /// the same height) holds, with every due height early enough.
    fn agrees_with(&self, fresh: &Self) -> bool {
        let due_ok = self
            .recheck
            .chunks(BLOCK)
            .zip(&self.due)
            .all(|(block, due)| block.iter().all(|r| r >= due));
        self.basis == fresh.basis
            && self.places == fresh.places
            && self.ranks == fresh.ranks
            && self.all == fresh.all
            && self.trusted == fresh.trusted
            && self.anchors == fresh.anchors
            && self.recheck == fresh.recheck
            && due_ok
    }
}

impl Ledger {
    /// The draw weights of a `device` that takes work, with `free` slots:
    /// its reputation factor times its free slots, in the trusted column
    /// too (and an anchor) if it may run alone.
    pub(crate) fn weight_with_free(&self, device: &Device, free: u32) -> Weight {
        let all = reputation_factor(device) * u64::from(free);
        let anchor = self.solo_eligible(device);
        Weight {
            all,
            trusted: if anchor { all } else { 0 },
            anchor,
        }
    }

    /// The draw weights of `device` now, and the height at which it must be
    /// computed again if its record does not change before.
    fn draw_weight(&self, device: &Device, basis: Basis) -> (Weight, u64) {
        let weight = if self.takes_work(device) {
            self.weight_with_free(
                device,
                effective_slots(device).saturating_sub(device.running),
            )
        } else {
            Weight::default()
        };
        let h = self.height.0;
        let jail_ends = match device.status {
            DeviceStatus::Jailed(until) => until.0,
            _ => NEVER,
        };
        let silent_too_long = device
            .last_seen
            .0
            .saturating_add(basis.offline_after)
            .saturating_add(1);
        let recheck = [jail_ends, device.attest_deadline.0, silent_too_long]
            .into_iter()
            .filter(|&at| at > h)
            .min()
            .unwrap_or(NEVER);
        (weight, recheck)
    }

    /// The weights of every device, from scratch, in key order; starts
    /// the device map reporting its changes.
    fn build_draws(&mut self) -> Weights {
        self.devices.track_changes();
        let basis = Basis::of(self);
        let places: Vec<usize> = self.devices.places().collect();
        let mut w = Weights {
            basis,
            ranks: Arc::new(ranks_of(&places)),
            all: Column {
                weights: Vec::with_capacity(places.len()),
                ..Column::default()
            },
            trusted: Column {
                weights: Vec::with_capacity(places.len()),
                ..Column::default()
            },
            anchors: Column {
                weights: Vec::with_capacity(places.len()),
                ..Column::default()
            },
            recheck: Vec::with_capacity(places.len()),
            places: Arc::new(places),
            due: Vec::new(),
        };
        for &place in w.places.iter() {
            let (weight, recheck) = self
                .devices
                .at(place)
                .map_or((Weight::default(), NEVER), |(_, d)| {
                    self.draw_weight(d, basis)
                });
            w.all.weights.push(weight.all);
            w.trusted.weights.push(weight.trusted);
            w.anchors.weights.push(u64::from(weight.anchor));
            w.recheck.push(recheck);
        }
        w.sum_up();
        w
    }

    /// Brings the draw index up to this block: the devices changed since
    /// the last block, those added (which shift the ranks after them), and
    /// those whose recheck height has come.
    pub(crate) fn sync_draws(&mut self) {
        let basis = Basis::of(self);
        let changes = self.devices.take_changes();
        let current = std::mem::take(&mut self.draws.0);
        let (mut arc, changes) = match (current, changes) {
            (Some(arc), Some(changes)) if arc.basis == basis => (arc, changes),
            _ => {
                self.draws.0 = Some(Arc::new(self.build_draws()));
                return;
            }
        };
        let h = self.height.0;
        let nothing_due = arc.due.iter().all(|&d| d > h);
        if nothing_due && changes.places.is_empty() && !changes.added {
            self.draws.0 = Some(arc);
            return;
        }
        let w = Arc::make_mut(&mut arc);
        let mut places = changes.places;
        if changes.added {
            // New devices: the old weights move to their new ranks, and
            // the new devices are weighed below with the changed ones.
            let known = w.ranks.len();
            let order: Vec<usize> = self.devices.places().collect();
            let mut all = Vec::with_capacity(order.len());
            let mut trusted = Vec::with_capacity(order.len());
            let mut anchors = Vec::with_capacity(order.len());
            let mut recheck = Vec::with_capacity(order.len());
            for &place in &order {
                let old = w.ranks.get(place).copied();
                let weight = old.map_or(Weight::default(), |r| w.weight(r));
                all.push(weight.all);
                trusted.push(weight.trusted);
                anchors.push(u64::from(weight.anchor));
                recheck.push(old.and_then(|r| w.recheck.get(r).copied()).unwrap_or(NEVER));
            }
            w.ranks = Arc::new(ranks_of(&order));
            w.places = Arc::new(order);
            w.all.weights = all;
            w.trusted.weights = trusted;
            w.anchors.weights = anchors;
            w.recheck = recheck;
            w.sum_up();
            places.extend(known..w.ranks.len());
        }
        places.sort_unstable();
        places.dedup();
        for place in places {
            let (Some(&rank), Some((_, device))) = (w.ranks.get(place), self.devices.at(place))
            else {
                continue;
            };
            w.refresh(rank, self.draw_weight(device, basis));
        }
        for block in 0..w.due.len() {
            if w.due[block] > h {
                continue;
            }
            let end = ((block + 1) * BLOCK).min(w.len());
            for rank in block * BLOCK..end {
                if w.recheck[rank] > h {
                    continue;
                }
                let Some((_, device)) = w.place(rank).and_then(|p| self.devices.at(p)) else {
                    continue;
                };
                let fresh = self.draw_weight(device, basis);
                w.set(rank, fresh.0);
                w.recheck[rank] = fresh.1;
            }
            w.due[block] = w.recheck[block * BLOCK..end]
                .iter()
                .copied()
                .min()
                .unwrap_or(NEVER);
        }
        self.draws.0 = Some(arc);
    }

    /// The draw index (brought up to date by [`Ledger::sync_draws`]) for
    /// a block to draw from; hand it back with [`Ledger::put_draws`].
    pub(crate) fn take_draws(&mut self) -> Weights {
        match self.draws.0.take() {
            Some(arc) => Arc::unwrap_or_clone(arc),
            None => self.build_draws(),
        }
    }

    /// Keeps `weights` as the draw index.
    pub(crate) fn put_draws(&mut self, weights: Weights) {
        self.draws.0 = Some(Arc::new(weights));
    }

    /// The device at rank `i` of `weights`.
    pub(crate) fn ranked(&self, weights: &Weights, i: usize) -> Option<(DeviceId, &Device)> {
        let (id, device) = self.devices.at(weights.place(i)?)?;
        Some((*id, device))
    }

    /// Whether the draw index, brought up to date, holds what one built
    /// from scratch would.
    pub(crate) fn draws_consistent(&self) -> bool {
        let mut kept = self.clone();
        kept.sync_draws();
        let mut fresh = self.clone();
        let built = fresh.build_draws();
        match &kept.draws.0 {
            Some(w) => w.agrees_with(&built),
            None => false,
        }
    }
}

/// A device's reputation factor in its draw weight: its score in percent,
/// plus one (so a fresh device can be drawn at all).
pub(crate) fn reputation_factor(device: &Device) -> u64 {
    device.reputation.score_ppm() / 10_000 + 1
}

/// Each place's rank, given the places in rank order.
fn ranks_of(places: &[usize]) -> Vec<usize> {
    let mut ranks = vec![usize::MAX; places.len()];
    for (rank, &place) in places.iter().enumerate() {
        if let Some(r) = ranks.get_mut(place) {
            *r = rank;
        }
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A column over `weights`.
    fn column(weights: &[u64]) -> Column {
        let mut c = Column {
            weights: weights.to_vec(),
            ..Column::default()
        };
        c.sum_up();
        c
    }

    /// The device a draw of `target` lands on, by walking every weight.
    fn walk(weights: &[u64], mut target: u64) -> Option<usize> {
        for (i, &w) in weights.iter().enumerate() {
            if target < w {
                return Some(i);
            }
            target -= w;
        }
        None
    }

    proptest! {
        /// Every draw lands where a walk over the weights lands, and the
        /// total follows, as weights change in any order.
        #[test]
        fn draws_land_where_a_walk_over_the_weights_does(
            initial in proptest::collection::vec(0u64..20, 1..300),
            sets in proptest::collection::vec((any::<prop::sample::Index>(), 0u64..20), 0..200),
            targets in proptest::collection::vec(any::<u64>(), 1..50),
        ) {
            let mut model = initial.clone();
            let mut w = column(&initial);
            let step = |w: &Column, model: &[u64]| -> Result<(), TestCaseError> {
                let total: u64 = model.iter().sum();
                prop_assert_eq!(w.total, total);
                for t in &targets {
                    let target = if total == 0 { 0 } else { t % total };
                    let expected = if total == 0 { None } else { walk(model, target) };
                    let found = if total == 0 { None } else { w.find(target) };
                    prop_assert_eq!(found, expected);
                }
                Ok(())
            };
            step(&w, &model)?;
            for (at, value) in sets {
                let i = at.index(model.len());
                model[i] = value;
                w.set(i, value);
                step(&w, &model)?;
            }
        }
    }
}

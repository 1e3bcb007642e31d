//! A Merkleized map: a sorted map whose entries each hash to a leaf, with
//! leaf hashes cached and recomputed only for entries changed since the last
//! root. The state root commits to every account, device, job and live task.
//! [`TaskMap`] holds the live tasks with the same entries, order and root,
//! in a layout suited to dense task indices.

use std::collections::BTreeMap;
use std::hash::Hash as StdHash;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use verigrid_types::codec::Encode;
use verigrid_types::merkle::{self, Proof};
use verigrid_types::{Domain, Hash, JobId, TaskId};

#[derive(Clone, Debug)]
struct Entry<V> {
    value: V,
    leaf: Option<Hash>,
}

/// Entries per block of a [`Slab`].
const SLAB_BLOCK: usize = 256;

/// A growable array kept in blocks that clones share: cloning copies one
/// pointer per block, and a clone copies a block only when it first changes
/// an entry in it. A validator keeps the state after every block it builds
/// or verifies, each a clone of its parent's; with 157,000 devices a deep
/// copy was 68 ms a block however little the block changed.
#[derive(Clone, Debug)]
struct Slab<T> {
    blocks: Vec<Arc<Vec<T>>>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self {
            blocks: Vec::new(),
            len: 0,
        }
    }
}

impl<T: Clone> Slab<T> {
    fn get(&self, at: usize) -> Option<&T> {
        self.blocks.get(at / SLAB_BLOCK)?.get(at % SLAB_BLOCK)
    }

    fn get_mut(&mut self, at: usize) -> Option<&mut T> {
        let block = self.blocks.get_mut(at / SLAB_BLOCK)?;
        Arc::make_mut(block).get_mut(at % SLAB_BLOCK)
    }

    fn push(&mut self, value: T) {
        if self.len.is_multiple_of(SLAB_BLOCK) {
            self.blocks.push(Arc::new(Vec::with_capacity(SLAB_BLOCK)));
        }
        if let Some(block) = self.blocks.last_mut() {
            Arc::make_mut(block).push(value);
            self.len += 1;
        }
    }
}

/// A sorted map with a Merkle root over `(key, value)` leaves.
///
/// Entries live in a slab in insertion order (nothing is ever removed: the
/// ledger keeps every account, device and job), found through a hash index
/// — ids are random hashes, so a look-up in a B-tree of 157,000 devices
/// was a chain of cache misses comparing 32-byte keys, several times per
/// replica — and ordered for iteration and the root by a B-tree of keys
/// alone. Clones share what neither has changed: the slab by blocks, the
/// index and the order whole until a key is added.
#[derive(Clone, Debug)]
pub struct StateMap<K, V> {
    index: Arc<FxHashMap<K, usize>>,
    order: Arc<BTreeMap<K, usize>>,
    slab: Slab<Entry<V>>,
}

impl<K, V> Default for StateMap<K, V> {
    fn default() -> Self {
        Self {
            index: Arc::default(),
            order: Arc::default(),
            slab: Slab::default(),
        }
    }
}

impl<K: Ord + StdHash + Copy + Encode, V: Encode + Clone> StateMap<K, V> {
    fn entry(&self, key: &K) -> Option<&Entry<V>> {
        self.slab.get(*self.index.get(key)?)
    }

    /// The value under `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.entry(key).map(|e| &e.value)
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &K) -> bool {
        self.index.contains_key(key)
    }

    /// The value under `key`, for changing; its leaf hash is recomputed at
    /// the next root.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let at = *self.index.get(key)?;
        self.slab.get_mut(at).map(|e| {
            e.leaf = None;
            &mut e.value
        })
    }

    /// Inserts or replaces.
    pub fn insert(&mut self, key: K, value: V) {
        if let Some(e) = self.get_mut(&key) {
            *e = value;
            return;
        }
        let at = self.slab.len;
        self.slab.push(Entry { value, leaf: None });
        Arc::make_mut(&mut self.index).insert(key, at);
        Arc::make_mut(&mut self.order).insert(key, at);
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.slab.len
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.order
            .iter()
            .filter_map(|(k, at)| Some((k, &self.slab.get(*at)?.value)))
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

    /// Every entry's leaf in key order, computing (and caching) only the
    /// missing ones: a cached leaf is read, not written, so a clone's
    /// shared blocks stay shared.
    fn leaves(&mut self) -> Vec<Hash> {
        let mut buf = Vec::with_capacity(256);
        let Self { order, slab, .. } = self;
        order
            .iter()
            .filter_map(|(k, &at)| {
                if let Some(leaf) = slab.get(at)?.leaf {
                    return Some(leaf);
                }
                let e = slab.get_mut(at)?;
                Some(
                    *e.leaf
                        .get_or_insert_with(|| Self::leaf_in(&mut buf, k, &e.value)),
                )
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
        let index = self.order.range(..*key).count();
        if !self.contains(key) {
            return None;
        }
        let leaves = self.leaves();
        let leaf = *leaves.get(index)?;
        Some((leaf, merkle::prove(&leaves, index)?))
    }

    /// The leaf hash an entry `(key, value)` has in the tree.
    pub fn leaf_hash(key: &K, value: &V) -> Hash {
        Self::leaf_of(key, value)
    }
}

/// Task slots per chunk of a [`TaskMap`].
const CHUNK: u32 = 32;

/// Chunks per page of a [`TaskMap`] (a page spans 8,192 task indices).
const PAGE: u32 = 256;

/// Task indices a page spans.
const PAGE_SPAN: u32 = CHUNK * PAGE;

/// One stored task: its id (so iteration can lend it), value and cached
/// leaf hash.
#[derive(Clone, Debug)]
struct Keyed<V> {
    key: TaskId,
    value: V,
    leaf: Option<Hash>,
}

type Chunk<V> = Box<[Option<Keyed<V>>; CHUNK as usize]>;

/// The chunks of [`PAGE`] consecutive chunk numbers of one job, and how
/// many of them are allocated.
#[derive(Clone, Debug)]
struct Page<V> {
    chunks: Box<[Option<Chunk<V>>; PAGE as usize]>,
    allocated: u32,
}

impl<V> Page<V> {
    fn new() -> Self {
        Self {
            chunks: Box::new(std::array::from_fn(|_| None)),
            allocated: 0,
        }
    }
}

/// Where a task index lives: page number, chunk within the page, slot
/// within the chunk.
fn position(index: u32) -> (u32, usize, usize) {
    (
        index / PAGE_SPAN,
        ((index / CHUNK) % PAGE) as usize,
        (index % CHUNK) as usize,
    )
}

/// The live tasks: a [`StateMap`] specialised to task ids, with the same
/// entries, order, leaves and root.
///
/// A job's tasks are numbered densely and started in order, so they are
/// kept per job in chunks of [`CHUNK`] consecutive indices, found through
/// pages of [`PAGE`] chunk pointers: a lookup is a search among a few jobs
/// and a few hundred page numbers (hot in cache), then two indexings,
/// instead of a descent through every live task comparing 36-byte keys
/// (the ledger looks a task up about eighteen times in its life; at
/// 300,000 live tasks that is 0.8 µs a lookup in a `BTreeMap<TaskId, _>`).
/// A chunk is freed when its last task is, and a page when its last chunk
/// is, so memory follows the live tasks, not the span of indices between
/// them: at worst a page (2 KiB) and a chunk per live task.
#[derive(Clone, Debug)]
pub struct TaskMap<V> {
    jobs: BTreeMap<JobId, BTreeMap<u32, Page<V>>>,
    len: usize,
}

impl<V> Default for TaskMap<V> {
    fn default() -> Self {
        Self {
            jobs: BTreeMap::new(),
            len: 0,
        }
    }
}

impl<V: Encode + Clone> TaskMap<V> {
    fn slot(&self, id: &TaskId) -> Option<&Keyed<V>> {
        let (page, chunk, slot) = position(id.index);
        let chunk = self.jobs.get(&id.job)?.get(&page)?.chunks.get(chunk)?;
        chunk.as_ref()?.get(slot)?.as_ref()
    }

    fn slot_mut(&mut self, id: &TaskId) -> Option<&mut Keyed<V>> {
        let (page, chunk, slot) = position(id.index);
        let page = self.jobs.get_mut(&id.job)?.get_mut(&page)?;
        page.chunks
            .get_mut(chunk)?
            .as_mut()?
            .get_mut(slot)?
            .as_mut()
    }

    /// The task `id`.
    pub fn get(&self, id: &TaskId) -> Option<&V> {
        self.slot(id).map(|s| &s.value)
    }

    /// The task `id`, for changing; its leaf hash is recomputed at the next
    /// root.
    pub fn get_mut(&mut self, id: &TaskId) -> Option<&mut V> {
        self.slot_mut(id).map(|s| {
            s.leaf = None;
            &mut s.value
        })
    }

    /// Inserts or replaces.
    pub fn insert(&mut self, key: TaskId, value: V) {
        let (page, chunk, slot) = position(key.index);
        let page = self
            .jobs
            .entry(key.job)
            .or_default()
            .entry(page)
            .or_insert_with(Page::new);
        let Some(chunk) = page.chunks.get_mut(chunk) else {
            return;
        };
        let chunk = chunk.get_or_insert_with(|| {
            page.allocated += 1;
            Box::new(std::array::from_fn(|_| None))
        });
        if let Some(slot) = chunk.get_mut(slot) {
            if slot.is_none() {
                self.len += 1;
            }
            *slot = Some(Keyed {
                key,
                value,
                leaf: None,
            });
        }
    }

    /// Removes and returns.
    pub fn remove(&mut self, id: &TaskId) -> Option<V> {
        let (number, chunk_at, slot) = position(id.index);
        let pages = self.jobs.get_mut(&id.job)?;
        let page = pages.get_mut(&number)?;
        let chunk = page.chunks.get_mut(chunk_at)?;
        let removed = chunk.as_mut()?.get_mut(slot)?.take()?;
        self.len -= 1;
        if chunk
            .as_ref()
            .is_some_and(|c| c.iter().all(Option::is_none))
        {
            *chunk = None;
            page.allocated -= 1;
            if page.allocated == 0 {
                pages.remove(&number);
                if pages.is_empty() {
                    self.jobs.remove(&id.job);
                }
            }
        }
        Some(removed.value)
    }

    /// Number of live tasks.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Tasks in id order.
    pub fn iter(&self) -> impl Iterator<Item = (&TaskId, &V)> {
        self.jobs.values().flat_map(Self::chunk_entries)
    }

    /// The tasks of `job`, in index order.
    pub fn of_job(&self, job: &JobId) -> impl Iterator<Item = (&TaskId, &V)> {
        self.jobs.get(job).into_iter().flat_map(Self::chunk_entries)
    }

    fn chunk_entries(pages: &BTreeMap<u32, Page<V>>) -> impl Iterator<Item = (&TaskId, &V)> {
        pages
            .values()
            .flat_map(|page| page.chunks.iter().flatten())
            .flat_map(|chunk| chunk.iter().flatten())
            .map(|s| (&s.key, &s.value))
    }

    /// The Merkle root over all tasks in id order: the root a
    /// `StateMap<TaskId, V>` with the same entries has.
    pub fn root(&mut self) -> Hash {
        let mut buf = Vec::with_capacity(256);
        let mut leaves = Vec::with_capacity(self.len);
        let chunks = self
            .jobs
            .values_mut()
            .flat_map(BTreeMap::values_mut)
            .flat_map(|page| page.chunks.iter_mut().flatten());
        for chunk in chunks {
            for s in chunk.iter_mut().flatten() {
                let (key, value) = (&s.key, &s.value);
                leaves.push(
                    *s.leaf.get_or_insert_with(|| {
                        StateMap::<TaskId, V>::leaf_in(&mut buf, key, value)
                    }),
                );
            }
        }
        merkle::root_of_owned(leaves)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u8, u32, u64),
        Change(u8, u32, u64),
        Remove(u8, u32),
        Root,
    }

    fn op() -> impl Strategy<Value = Op> {
        // Few jobs, indices that share and straddle chunks and pages, some
        // far apart.
        let index = prop_oneof![0u32..100, 1_000u32..1_040, 8_180u32..8_200, Just(u32::MAX)];
        prop_oneof![
            (0u8..3, index.clone(), any::<u64>()).prop_map(|(j, i, v)| Op::Insert(j, i, v)),
            (0u8..3, index.clone(), any::<u64>()).prop_map(|(j, i, v)| Op::Change(j, i, v)),
            (0u8..3, index).prop_map(|(j, i)| Op::Remove(j, i)),
            Just(Op::Root),
        ]
    }

    fn id(job: u8, index: u32) -> TaskId {
        TaskId {
            job: JobId(Hash::of(Domain::Draw, &[&[job]])),
            index,
        }
    }

    /// Changes `key` to `v` in both the model and the map if `change` (and
    /// if present), else inserts it in both.
    fn write(
        model: &mut BTreeMap<JobId, u64>,
        map: &mut StateMap<JobId, u64>,
        key: JobId,
        v: u64,
        change: bool,
    ) {
        if change {
            if let Some(x) = model.get_mut(&key) {
                *x = v;
            }
            if let Some(x) = map.get_mut(&key) {
                *x = v;
            }
        } else {
            model.insert(key, v);
            map.insert(key, v);
        }
    }

    proptest! {
        /// A StateMap holds, orders, hashes and proves exactly the entries
        /// a plain sorted map would, whatever the order of inserts and
        /// changes.
        #[test]
        fn state_map_matches_a_sorted_map(
            ops in proptest::collection::vec((0u8..40, any::<u64>(), any::<bool>()), 0..200)
        ) {
            let key = |k: u8| JobId(Hash::of(Domain::Draw, &[&[k]]));
            let mut model: BTreeMap<JobId, u64> = BTreeMap::new();
            let mut map: StateMap<JobId, u64> = StateMap::default();
            for (k, v, change) in ops {
                write(&mut model, &mut map, key(k), v, change);
                prop_assert_eq!(map.len(), model.len());
                prop_assert_eq!(map.get(&key(k)), model.get(&key(k)));
            }
            let listed: Vec<(JobId, u64)> = map.iter().map(|(k, v)| (*k, *v)).collect();
            prop_assert_eq!(&listed, &model.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>());
            let leaves: Vec<Hash> = model.iter().map(|(k, v)| StateMap::leaf_hash(k, v)).collect();
            let root = merkle::root_of_owned(leaves);
            prop_assert_eq!(map.root(), root);
            for (k, v) in &model {
                let proved = map.prove(k);
                prop_assert!(proved.is_some(), "a present key has a proof");
                let Some((leaf, proof)) = proved else { continue };
                prop_assert_eq!(leaf, StateMap::leaf_hash(k, v));
                prop_assert!(merkle::verify(&root, &leaf, &proof));
            }
            prop_assert!(map.prove(&key(200)).is_none());
        }

        /// A clone shares its blocks with the original until one of them
        /// changes, and a change to either never shows in the other — with
        /// leaves cached before the clone, as a validator's states have.
        #[test]
        fn a_state_map_clone_changes_apart_from_its_original(
            first in proptest::collection::vec((0u16..600, any::<u64>()), 0..700),
            second in proptest::collection::vec((0u16..600, any::<u64>(), any::<bool>()), 0..300),
        ) {
            let key = |k: u16| JobId(Hash::of(Domain::Draw, &[&k.to_le_bytes()]));
            let root_of = |model: &BTreeMap<JobId, u64>| {
                merkle::root_of_owned(model.iter().map(|(k, v)| StateMap::leaf_hash(k, v)).collect())
            };
            let mut model: BTreeMap<JobId, u64> = BTreeMap::new();
            let mut map: StateMap<JobId, u64> = StateMap::default();
            for (k, v) in first {
                model.insert(key(k), v);
                map.insert(key(k), v);
            }
            prop_assert_eq!(map.root(), root_of(&model));
            let mut copy = map.clone();
            let mut copy_model = model.clone();
            for (k, v, change) in second {
                write(&mut copy_model, &mut copy, key(k), v, change);
            }
            prop_assert_eq!(copy.root(), root_of(&copy_model));
            prop_assert_eq!(map.root(), root_of(&model));
            let listed: Vec<(JobId, u64)> = map.iter().map(|(k, v)| (*k, *v)).collect();
            prop_assert_eq!(listed, model.into_iter().collect::<Vec<_>>());
            let listed: Vec<(JobId, u64)> = copy.iter().map(|(k, v)| (*k, *v)).collect();
            prop_assert_eq!(listed, copy_model.into_iter().collect::<Vec<_>>());
        }

        /// A TaskMap holds, orders and hashes exactly what a StateMap
        /// keyed by task id would, whatever the sequence of changes.
        #[test]
        fn task_map_matches_a_state_map(ops in proptest::collection::vec(op(), 0..300)) {
            let mut model: BTreeMap<TaskId, u64> = BTreeMap::new();
            let mut tasks: TaskMap<u64> = TaskMap::default();
            let state_map_root = |model: &BTreeMap<TaskId, u64>| {
                let mut m = StateMap::default();
                for (k, v) in model {
                    m.insert(*k, *v);
                }
                m.root()
            };
            for op in ops {
                match op {
                    Op::Insert(j, i, v) => {
                        model.insert(id(j, i), v);
                        tasks.insert(id(j, i), v);
                    }
                    Op::Change(j, i, v) => {
                        if let Some(x) = model.get_mut(&id(j, i)) {
                            *x = v;
                        }
                        if let Some(x) = tasks.get_mut(&id(j, i)) {
                            *x = v;
                        }
                    }
                    Op::Remove(j, i) => {
                        prop_assert_eq!(model.remove(&id(j, i)), tasks.remove(&id(j, i)));
                    }
                    Op::Root => prop_assert_eq!(state_map_root(&model), tasks.root()),
                }
                prop_assert_eq!(model.len(), tasks.len());
            }
            let listed: Vec<(TaskId, u64)> = tasks.iter().map(|(k, v)| (*k, *v)).collect();
            prop_assert_eq!(listed, model.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>());
            prop_assert_eq!(state_map_root(&model), tasks.root());
            for j in 0..3 {
                let job = id(j, 0).job;
                let of_job: Vec<TaskId> = tasks.of_job(&job).map(|(k, _)| *k).collect();
                let expected: Vec<TaskId> = model.keys().copied().filter(|k| k.job == job).collect();
                prop_assert_eq!(of_job, expected);
            }
        }
    }
}

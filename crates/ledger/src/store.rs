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
use verigrid_types::{Hash, JobId, TaskId};

#[derive(Clone, Debug)]
struct Entry<K, V> {
    key: K,
    value: V,
    leaf: Option<Hash>,
    /// The [`Changes::round`] in which the entry was last reported
    /// changed (0: never), so it is reported once per round.
    reported: u64,
}

/// Entries per block of a [`Slab`]: what a clone copies on its first
/// change to an entry, against one pointer per block to copy for each
/// clone. On a chain of 157,000 devices a block that starts a 64-task job
/// (192 devices changed) took 8.4 ms with 256 entries a block, 4.1 ms
/// with 64 and 3.7 ms with 32; a clone took 57, 195 and 348 µs (settle
/// bench, `idle_block_157k_devices`).
const SLAB_BLOCK: usize = 64;

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
/// alone. Clones share what neither has changed: the slab and the tree by
/// blocks, the index, the order and the ranks whole until a key is added.
///
/// The root is the RFC 6962 root over the leaves in key order. Its levels
/// are kept, so while no key is added a root rehashes only the paths of
/// the entries changed since the last one; a new key shifts the positions
/// after it, and the next root rebuilds the tree.
#[derive(Clone, Debug)]
pub struct StateMap<K, V> {
    index: Arc<FxHashMap<K, usize>>,
    order: Arc<BTreeMap<K, usize>>,
    slab: Slab<Entry<K, V>>,
    tree: Tree,
    /// What changed since the last [`StateMap::take_changes`], once
    /// [`StateMap::track_changes`] asked for it.
    changes: Option<Changes>,
}

/// Entries of a [`StateMap`] changed since the changes were last taken,
/// by their place in the map's storage (which never moves).
#[derive(Clone, Debug, Default)]
pub struct Changes {
    /// Whether a key was added (its place is past every earlier one).
    pub added: bool,
    /// Places of entries handed out for changing, each once.
    pub places: Vec<usize>,
    /// Counts the times the changes were taken, from 1.
    round: u64,
}

/// The kept levels of a [`StateMap`]'s tree.
#[derive(Clone, Debug, Default)]
struct Tree {
    /// Every level from the leaves (in key order) up to the root; none
    /// when the tree must be rebuilt.
    levels: Vec<Slab<Hash>>,
    /// Each entry's position in key order, by slab index.
    rank: Arc<Vec<usize>>,
    /// Slab indices of entries changed since the levels were last brought
    /// up to date (an entry may appear more than once).
    dirty: Vec<usize>,
}

impl<K, V> Default for StateMap<K, V> {
    fn default() -> Self {
        Self {
            index: Arc::default(),
            order: Arc::default(),
            slab: Slab::default(),
            tree: Tree::default(),
            changes: None,
        }
    }
}

impl<K: Ord + StdHash + Copy + Encode, V: Encode + Clone> StateMap<K, V> {
    fn entry(&self, key: &K) -> Option<&Entry<K, V>> {
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
        let e = self.slab.get_mut(at)?;
        if e.leaf.take().is_some() {
            self.tree.dirty.push(at);
        }
        if let Some(changes) = &mut self.changes
            && e.reported != changes.round
        {
            e.reported = changes.round;
            changes.places.push(at);
        }
        Some(&mut e.value)
    }

    /// Inserts or replaces.
    pub fn insert(&mut self, key: K, value: V) {
        if let Some(e) = self.get_mut(&key) {
            *e = value;
            return;
        }
        let at = self.slab.len;
        self.slab.push(Entry {
            key,
            value,
            leaf: None,
            reported: 0,
        });
        Arc::make_mut(&mut self.index).insert(key, at);
        Arc::make_mut(&mut self.order).insert(key, at);
        self.tree.levels.clear();
        if let Some(changes) = &mut self.changes {
            changes.added = true;
        }
    }

    /// Starts (or restarts, from nothing) keeping track of what changes,
    /// for an index derived from the entries.
    pub fn track_changes(&mut self) {
        let round = self.changes.as_ref().map_or(0, |c| c.round) + 1;
        self.changes = Some(Changes {
            round,
            ..Changes::default()
        });
    }

    /// What changed since the last call, or `None` if nothing asked to
    /// [`StateMap::track_changes`].
    pub fn take_changes(&mut self) -> Option<Changes> {
        let changes = self.changes.as_mut()?;
        let next = Changes {
            round: changes.round + 1,
            ..Changes::default()
        };
        Some(std::mem::replace(changes, next))
    }

    /// The entry at `place` in the map's storage.
    pub fn at(&self, place: usize) -> Option<(&K, &V)> {
        self.slab.get(place).map(|e| (&e.key, &e.value))
    }

    /// Each entry's place in storage, in key order.
    pub fn places(&self) -> impl Iterator<Item = usize> + '_ {
        self.order.values().copied()
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
        merkle::leaf_hash(buf)
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

    /// The Merkle root over all entries in key order: only the paths of
    /// entries changed since the last root are rehashed, unless a key was
    /// added since.
    pub fn root(&mut self) -> Hash {
        if self.tree.levels.is_empty() {
            self.rebuild();
        } else {
            self.update();
        }
        self.tree
            .levels
            .last()
            .and_then(|top| top.get(0))
            .copied()
            .unwrap_or_else(merkle::empty_root)
    }

    /// Builds every level from the leaves up, and the ranks.
    fn rebuild(&mut self) {
        let mut rank = vec![0; self.slab.len];
        for (position, &at) in self.order.values().enumerate() {
            if let Some(r) = rank.get_mut(at) {
                *r = position;
            }
        }
        self.tree.rank = Arc::new(rank);
        self.tree.dirty.clear();
        let mut level = self.leaves();
        let mut levels = Vec::new();
        while !level.is_empty() {
            let mut slab = Slab::default();
            for &h in &level {
                slab.push(h);
            }
            levels.push(slab);
            if level.len() == 1 {
                break;
            }
            level = merkle::parent_level(&level);
        }
        self.tree.levels = levels;
    }

    /// Rehashes the leaves of the entries changed since the last root and
    /// the nodes above them, level by level.
    fn update(&mut self) {
        let Self { slab, tree, .. } = self;
        let mut buf = Vec::with_capacity(256);
        let mut changed = Vec::with_capacity(tree.dirty.len());
        for at in tree.dirty.drain(..) {
            let (Some(&position), Some(e)) = (tree.rank.get(at), slab.get_mut(at)) else {
                continue;
            };
            let leaf = *e
                .leaf
                .get_or_insert_with(|| Self::leaf_in(&mut buf, &e.key, &e.value));
            if let Some(slot) = tree.levels.first_mut().and_then(|l| l.get_mut(position)) {
                *slot = leaf;
            }
            changed.push(position);
        }
        // Sorted once: halving keeps the order, so each level above only
        // drops repeats.
        changed.sort_unstable();
        for l in 1..tree.levels.len() {
            changed.iter_mut().for_each(|p| *p /= 2);
            changed.dedup();
            let (below, above) = tree.levels.split_at_mut(l);
            let (Some(below), Some(level)) = (below.last(), above.first_mut()) else {
                break;
            };
            for &p in &changed {
                if let (Some(left), Some(slot)) = (below.get(2 * p), level.get_mut(p)) {
                    *slot = merkle::parent(left, below.get(2 * p + 1));
                }
            }
        }
    }

    /// The leaf hash of `key`'s entry and a proof of it against
    /// [`StateMap::root`].
    pub fn prove(&mut self, key: &K) -> Option<(Hash, Proof)> {
        let at = *self.index.get(key)?;
        self.root();
        let index = *self.tree.rank.get(at)?;
        let leaf = self.slab.get(at)?.leaf?;
        let levels = &self.tree.levels;
        let mut siblings = Vec::new();
        let mut position = index;
        for level in levels.iter().take(levels.len().saturating_sub(1)) {
            if let Some(sibling) = level.get(position ^ 1) {
                siblings.push(*sibling);
            }
            position /= 2;
        }
        let size = levels.first().map_or(0, |l| l.len);
        Some((
            leaf,
            Proof {
                index: index as u64,
                size: size as u64,
                siblings,
            },
        ))
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

/// Height of a chunk's subtree in a job's task tree (`CHUNK` leaves).
const CHUNK_HEIGHT: usize = CHUNK.trailing_zeros() as usize;

/// Height of a page's subtree (`PAGE_SPAN` leaves).
const PAGE_HEIGHT: usize = PAGE_SPAN.trailing_zeros() as usize;

/// Height of a job's task tree: a leaf position for every `u32` index.
const TASK_HEIGHT: usize = 32;

/// One stored task: its id (so iteration can lend it), value and cached
/// leaf hash.
#[derive(Clone, Debug)]
struct Keyed<V> {
    key: TaskId,
    value: V,
    leaf: Option<Hash>,
}

/// [`CHUNK`] consecutive task slots and the cached root of their subtree.
#[derive(Clone, Debug)]
struct Chunk<V> {
    slots: [Option<Keyed<V>>; CHUNK as usize],
    root: Option<Hash>,
}

/// The chunks of [`PAGE`] consecutive chunk numbers of one job, how many
/// of them are allocated, and the cached root of the page's subtree.
/// Clones share chunks until one of them changes a chunk.
#[derive(Clone, Debug)]
struct Page<V> {
    chunks: Box<[Option<Arc<Chunk<V>>>; PAGE as usize]>,
    allocated: u32,
    root: Option<Hash>,
}

impl<V> Page<V> {
    fn new() -> Self {
        Self {
            chunks: Box::new(std::array::from_fn(|_| None)),
            allocated: 0,
            root: None,
        }
    }
}

/// One job's live tasks: its pages by number, and the cached root of its
/// task tree.
#[derive(Clone, Debug)]
struct JobTasks<V> {
    pages: BTreeMap<u32, Page<V>>,
    root: Option<Hash>,
}

impl<V> Default for JobTasks<V> {
    fn default() -> Self {
        Self {
            pages: BTreeMap::new(),
            root: None,
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

/// The roots of subtrees that hold no live task, by height: `[0]` is the
/// leaf of an empty slot (all zeros, which no leaf hash can be), and
/// `[h + 1]` pairs two `[h]`.
struct Empty([Hash; TASK_HEIGHT + 1]);

impl Empty {
    fn new() -> Self {
        let mut roots = [Hash::ZERO; TASK_HEIGHT + 1];
        for h in 1..roots.len() {
            roots[h] = merkle::node_hash(&roots[h - 1], &roots[h - 1]);
        }
        Self(roots)
    }

    fn at(&self, height: usize) -> Hash {
        self.0.get(height).copied().unwrap_or(Hash::ZERO)
    }

    /// The parent of `left` and `right`, both of `height`: two empty
    /// subtrees make the empty root above them without hashing (the same
    /// value hashing gives).
    fn parent(&self, height: usize, left: &Hash, right: &Hash) -> Hash {
        let empty = self.at(height);
        if *left == empty && *right == empty {
            self.at(height + 1)
        } else {
            merkle::node_hash(left, right)
        }
    }

    /// The root over `level`, a power-of-two number of subtrees of
    /// `height` side by side, computed in place.
    fn dense(&self, level: &mut [Hash], mut height: usize) -> Hash {
        let mut len = level.len();
        while len > 1 {
            for i in 0..len / 2 {
                level[i] = self.parent(height, &level[2 * i], &level[2 * i + 1]);
            }
            len /= 2;
            height += 1;
        }
        level.first().copied().unwrap_or_else(|| self.at(height))
    }

    /// The root of height `top` over `nodes`: subtrees of `height` at the
    /// given positions (sorted, distinct), every other position empty.
    fn sparse(&self, nodes: &mut Vec<(u32, Hash)>, mut height: usize, top: usize) -> Hash {
        while height < top {
            let empty = self.at(height);
            let (mut read, mut write) = (0, 0);
            while let Some(&(at, node)) = nodes.get(read) {
                let parent = match nodes.get(read + 1) {
                    Some(&(next, right)) if at % 2 == 0 && next == at + 1 => {
                        read += 1;
                        merkle::node_hash(&node, &right)
                    }
                    _ if at % 2 == 0 => merkle::node_hash(&node, &empty),
                    _ => merkle::node_hash(&empty, &node),
                };
                read += 1;
                nodes[write] = (at / 2, parent);
                write += 1;
            }
            nodes.truncate(write);
            height += 1;
        }
        nodes
            .first()
            .map_or_else(|| self.at(top), |&(_, root)| root)
    }
}

/// The live tasks, with a Merkle root over them whose cost follows what
/// changed since the last root, not how many tasks are live.
///
/// Each job's live tasks are the leaves of a sparse binary Merkle tree of
/// height 32, one leaf position per task index: a live task's leaf is the
/// state-entry leaf of `(id, task)` (as in a [`StateMap`]), every other
/// position is empty (see `Empty`). The map's root is the RFC 6962 root
/// over one leaf per job with live tasks, in job id order: the leaf of the
/// job id followed by its tree's root. Positions never move, so a change
/// rehashes one path; the subtrees of each chunk and page and each job's
/// tree cache their roots until a task under them changes.
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
/// them: at worst a page (2 KiB) and a chunk per live task. Clones share
/// chunks until one of them changes a chunk, so a validator's state after
/// each block does not copy every live task.
#[derive(Clone, Debug)]
pub struct TaskMap<V> {
    jobs: BTreeMap<JobId, JobTasks<V>>,
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
        let page = self.jobs.get(&id.job)?.pages.get(&page)?;
        page.chunks.get(chunk)?.as_ref()?.slots.get(slot)?.as_ref()
    }

    /// The slot of `id`, for changing: the roots above it are dropped.
    fn slot_mut(&mut self, id: &TaskId) -> Option<&mut Keyed<V>> {
        let (page, chunk, slot) = position(id.index);
        let job = self.jobs.get_mut(&id.job)?;
        let page = job.pages.get_mut(&page)?;
        let chunk = page.chunks.get_mut(chunk)?.as_mut()?;
        chunk.slots.get(slot)?.as_ref()?;
        let chunk = Arc::make_mut(chunk);
        let slot = chunk.slots.get_mut(slot)?.as_mut()?;
        job.root = None;
        page.root = None;
        chunk.root = None;
        slot.leaf = None;
        Some(slot)
    }

    /// The task `id`.
    pub fn get(&self, id: &TaskId) -> Option<&V> {
        self.slot(id).map(|s| &s.value)
    }

    /// The task `id`, for changing; its leaf hash and the roots above it
    /// are recomputed at the next root.
    pub fn get_mut(&mut self, id: &TaskId) -> Option<&mut V> {
        self.slot_mut(id).map(|s| &mut s.value)
    }

    /// Inserts or replaces.
    pub fn insert(&mut self, key: TaskId, value: V) {
        let (number, chunk_at, slot) = position(key.index);
        let job = self.jobs.entry(key.job).or_default();
        let page = job.pages.entry(number).or_insert_with(Page::new);
        let Some(chunk) = page.chunks.get_mut(chunk_at) else {
            return;
        };
        let chunk = Arc::make_mut(chunk.get_or_insert_with(|| {
            page.allocated += 1;
            Arc::new(Chunk {
                slots: std::array::from_fn(|_| None),
                root: None,
            })
        }));
        if let Some(slot) = chunk.slots.get_mut(slot) {
            if slot.is_none() {
                self.len += 1;
            }
            *slot = Some(Keyed {
                key,
                value,
                leaf: None,
            });
            job.root = None;
            page.root = None;
            chunk.root = None;
        }
    }

    /// Removes and returns.
    pub fn remove(&mut self, id: &TaskId) -> Option<V> {
        let (number, chunk_at, slot) = position(id.index);
        let job = self.jobs.get_mut(&id.job)?;
        let page = job.pages.get_mut(&number)?;
        let chunk = page.chunks.get_mut(chunk_at)?;
        let shared = chunk.as_mut()?;
        shared.slots.get(slot)?.as_ref()?;
        let c = Arc::make_mut(shared);
        let removed = c.slots.get_mut(slot)?.take()?;
        c.root = None;
        self.len -= 1;
        job.root = None;
        page.root = None;
        if c.slots.iter().all(Option::is_none) {
            *chunk = None;
            page.allocated -= 1;
            if page.allocated == 0 {
                job.pages.remove(&number);
                if job.pages.is_empty() {
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

    fn chunk_entries(job: &JobTasks<V>) -> impl Iterator<Item = (&TaskId, &V)> {
        job.pages
            .values()
            .flat_map(|page| page.chunks.iter().flatten())
            .flat_map(|chunk| chunk.slots.iter().flatten())
            .map(|s| (&s.key, &s.value))
    }

    /// The Merkle root over all live tasks (see [`TaskMap`]). Only leaves
    /// and subtrees changed since the last root are hashed.
    pub fn root(&mut self) -> Hash {
        let empty = Empty::new();
        let mut buf = Vec::with_capacity(256);
        let mut level = [Hash::ZERO; PAGE as usize];
        let mut pages = Vec::new();
        let leaves = self
            .jobs
            .iter_mut()
            .map(|(id, job)| {
                let root = *job.root.get_or_insert_with(|| {
                    pages.clear();
                    pages.extend(job.pages.iter_mut().map(|(&number, page)| {
                        (number, Self::page_root(page, &empty, &mut level, &mut buf))
                    }));
                    empty.sparse(&mut pages, PAGE_HEIGHT, TASK_HEIGHT)
                });
                merkle::leaf_hash(&[id.0.0, root.0].concat())
            })
            .collect();
        merkle::root_of_owned(leaves)
    }

    fn page_root(page: &mut Page<V>, empty: &Empty, level: &mut [Hash], buf: &mut Vec<u8>) -> Hash {
        if let Some(root) = page.root {
            return root;
        }
        for (at, chunk) in level.iter_mut().zip(page.chunks.iter_mut()) {
            *at = match chunk {
                Some(chunk) => match chunk.root {
                    Some(root) => root,
                    None => Self::chunk_root(Arc::make_mut(chunk), empty, buf),
                },
                None => empty.at(CHUNK_HEIGHT),
            };
        }
        let root = empty.dense(level, CHUNK_HEIGHT);
        page.root = Some(root);
        root
    }

    fn chunk_root(chunk: &mut Chunk<V>, empty: &Empty, buf: &mut Vec<u8>) -> Hash {
        if let Some(root) = chunk.root {
            return root;
        }
        let mut level = [Hash::ZERO; CHUNK as usize];
        for (at, slot) in level.iter_mut().zip(chunk.slots.iter_mut()) {
            *at = match slot {
                Some(s) => *s
                    .leaf
                    .get_or_insert_with(|| StateMap::<TaskId, V>::leaf_in(buf, &s.key, &s.value)),
                None => empty.at(0),
            };
        }
        let root = empty.dense(&mut level, 0);
        chunk.root = Some(root);
        root
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use verigrid_types::Domain;

    #[test]
    fn changes_name_each_changed_entry_once_per_taking() {
        let key = |i: u8| JobId(Hash([i; 32]));
        // What was taken: whether a key was added, and the places.
        let taken =
            |map: &mut StateMap<JobId, u64>| map.take_changes().map(|c| (c.added, c.places));
        let mut map: StateMap<JobId, u64> = StateMap::default();
        map.insert(key(1), 10);
        map.get_mut(&key(1));
        assert_eq!(taken(&mut map), None, "nothing asked to track");
        map.track_changes();
        for _ in 0..3 {
            if let Some(v) = map.get_mut(&key(1)) {
                *v += 1;
            }
        }
        map.insert(key(2), 20);
        map.insert(key(1), 5);
        assert_eq!(taken(&mut map), Some((true, vec![0])));
        // A clone taken now reports its own changes, and so does the map.
        let mut clone = map.clone();
        map.get_mut(&key(2));
        clone.get_mut(&key(1));
        assert_eq!(taken(&mut map), Some((false, vec![1])));
        assert_eq!(taken(&mut clone), Some((false, vec![0])));
        assert_eq!(taken(&mut map), Some((false, vec![])));
    }

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

    /// What applying an [`Op`] gave, for a test to check.
    enum Step {
        Written,
        /// What the model and the map each removed.
        Removed(Option<u64>, Option<u64>),
        /// The map's root (the model has none to give).
        Rooted(Hash),
    }

    /// Applies `op` to the model and the map alike.
    fn apply(model: &mut BTreeMap<TaskId, u64>, tasks: &mut TaskMap<u64>, op: Op) -> Step {
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
                return Step::Removed(model.remove(&id(j, i)), tasks.remove(&id(j, i)));
            }
            Op::Root => return Step::Rooted(tasks.root()),
        }
        Step::Written
    }

    /// The tasks root by its definition, top-down and from scratch: per
    /// job, a sparse tree of height 32 over task indices, halved
    /// recursively down to the live leaves, an empty subtree of height `h`
    /// being `h` pairings up from an all-zero leaf; then the RFC 6962 root
    /// over `(job id, job root)` leaves in job order.
    fn reference_root(model: &BTreeMap<TaskId, u64>) -> Hash {
        fn subtree(entries: &[(u32, Hash)], low: u64, height: usize, empty: &[Hash]) -> Hash {
            if entries.is_empty() {
                return empty[height];
            }
            if height == 0 {
                return entries[0].1;
            }
            let mid = low + (1u64 << (height - 1));
            let split = entries.partition_point(|(i, _)| u64::from(*i) < mid);
            merkle::node_hash(
                &subtree(&entries[..split], low, height - 1, empty),
                &subtree(&entries[split..], mid, height - 1, empty),
            )
        }
        let empty: Vec<Hash> =
            std::iter::successors(Some(Hash::ZERO), |e| Some(merkle::node_hash(e, e)))
                .take(33)
                .collect();
        let mut jobs: BTreeMap<JobId, Vec<(u32, Hash)>> = BTreeMap::new();
        for (id, v) in model {
            jobs.entry(id.job)
                .or_default()
                .push((id.index, StateMap::leaf_hash(id, v)));
        }
        let leaves = jobs
            .iter()
            .map(|(job, entries)| {
                let root = subtree(entries, 0, 32, &empty);
                merkle::leaf_hash(&[job.0.0, root.0].concat())
            })
            .collect();
        merkle::root_of_owned(leaves)
    }

    proptest! {
        /// A StateMap holds, orders, hashes and proves exactly the entries
        /// a plain sorted map would, whatever the order of inserts,
        /// changes and roots (each root but the first brings the kept tree
        /// up to date, or rebuilds it after an insert).
        #[test]
        fn state_map_matches_a_sorted_map(
            ops in proptest::collection::vec(
                (0u8..40, any::<u64>(), any::<bool>(), proptest::bool::weighted(0.2)),
                0..200,
            )
        ) {
            let key = |k: u8| JobId(Hash::of(Domain::Draw, &[&[k]]));
            let mut model: BTreeMap<JobId, u64> = BTreeMap::new();
            let mut map: StateMap<JobId, u64> = StateMap::default();
            for (k, v, change, root) in ops {
                write(&mut model, &mut map, key(k), v, change);
                prop_assert_eq!(map.len(), model.len());
                prop_assert_eq!(map.get(&key(k)), model.get(&key(k)));
                if root {
                    let leaves = model.iter().map(|(k, v)| StateMap::leaf_hash(k, v)).collect();
                    prop_assert_eq!(map.root(), merkle::root_of_owned(leaves));
                }
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

        /// A TaskMap clone shares its chunks with the original until one of
        /// them changes, and a change to either never shows in the other,
        /// with roots cached before the clone as a validator's states have.
        #[test]
        fn a_task_map_clone_changes_apart_from_its_original(
            first in proptest::collection::vec(op(), 0..200),
            second in proptest::collection::vec(op(), 0..200),
        ) {
            let mut model: BTreeMap<TaskId, u64> = BTreeMap::new();
            let mut tasks: TaskMap<u64> = TaskMap::default();
            for op in first {
                apply(&mut model, &mut tasks, op);
            }
            prop_assert_eq!(reference_root(&model), tasks.root());
            let mut copy = tasks.clone();
            let mut copy_model = model.clone();
            for op in second {
                apply(&mut copy_model, &mut copy, op);
            }
            prop_assert_eq!(reference_root(&copy_model), copy.root());
            prop_assert_eq!(reference_root(&model), tasks.root());
            let listed: Vec<(TaskId, u64)> = tasks.iter().map(|(k, v)| (*k, *v)).collect();
            prop_assert_eq!(listed, model.into_iter().collect::<Vec<_>>());
            let listed: Vec<(TaskId, u64)> = copy.iter().map(|(k, v)| (*k, *v)).collect();
            prop_assert_eq!(listed, copy_model.into_iter().collect::<Vec<_>>());
        }

        /// A TaskMap holds and orders exactly what a sorted map would, and
        /// its root, however its caches were left by earlier roots and
        /// changes, is the one its definition gives from scratch.
        #[test]
        fn task_map_matches_a_sorted_map(ops in proptest::collection::vec(op(), 0..300)) {
            let mut model: BTreeMap<TaskId, u64> = BTreeMap::new();
            let mut tasks: TaskMap<u64> = TaskMap::default();
            for op in ops {
                match apply(&mut model, &mut tasks, op) {
                    Step::Written => {}
                    Step::Removed(from_model, from_map) => prop_assert_eq!(from_model, from_map),
                    Step::Rooted(root) => prop_assert_eq!(reference_root(&model), root),
                }
                prop_assert_eq!(model.len(), tasks.len());
            }
            prop_assert_eq!(reference_root(&model), tasks.root());
            let listed: Vec<(TaskId, u64)> = tasks.iter().map(|(k, v)| (*k, *v)).collect();
            prop_assert_eq!(listed, model.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>());
            for j in 0..3 {
                let job = id(j, 0).job;
                let of_job: Vec<TaskId> = tasks.of_job(&job).map(|(k, _)| *k).collect();
                let expected: Vec<TaskId> = model.keys().copied().filter(|k| k.job == job).collect();
                prop_assert_eq!(of_job, expected);
            }
        }
    }
}

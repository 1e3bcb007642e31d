//! Compiled modules by content hash, so that the second task of a job
//! starts without compiling. Bounded: past its capacity the oldest entry
//! goes.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use verigrid_types::Hash;
use wasmtime::InstancePre;

use crate::wasi::GuestState;

/// A bounded map from module hash to a module ready to instantiate.
pub(crate) struct ModuleCache {
    capacity: usize,
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    modules: HashMap<Hash, InstancePre<GuestState>>,
    order: VecDeque<Hash>,
}

impl ModuleCache {
    /// An empty cache holding at most `capacity` modules.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: Mutex::new(Entries::default()),
        }
    }

    /// The module with this hash, if compiled before.
    pub(crate) fn get(&self, hash: &Hash) -> Option<InstancePre<GuestState>> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.modules.get(hash).cloned()
    }

    /// Remembers a compiled module, evicting the oldest past capacity.
    pub(crate) fn insert(&self, hash: Hash, module: InstancePre<GuestState>) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.modules.insert(hash, module).is_some() {
            return;
        }
        entries.order.push_back(hash);
        while entries.order.len() > self.capacity {
            if let Some(old) = entries.order.pop_front() {
                entries.modules.remove(&old);
            }
        }
    }

    /// How many modules are cached.
    pub(crate) fn len(&self) -> usize {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.modules.len()
    }
}

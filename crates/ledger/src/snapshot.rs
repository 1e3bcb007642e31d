//! Snapshots: the whole ledger state in the canonical encoding, so a node
//! can persist it and restart with the same state root. Indexes are not
//! stored; they are rebuilt from the records, which define them.

use verigrid_types::codec::{Decode, DecodeError, Encode, Reader};
use verigrid_types::params::Params;
use verigrid_types::{AccountId, DeviceId, Hash, Height, JobId, TaskId, Timestamp};

use crate::checks::SignerKey;
use crate::deadlines::Deadlines;
use crate::records::{Account, Device, Job, JobStatus, Task};
use crate::store::{StateMap, TaskMap};
use crate::{Ledger, Supply};

const VERSION: u8 = 1;

fn encode_entries<'a, K: Encode + 'a, V: Encode + 'a>(
    len: usize,
    entries: impl Iterator<Item = (&'a K, &'a V)>,
    out: &mut Vec<u8>,
) {
    verigrid_types::codec::encode_len(len, out);
    for (k, v) in entries {
        k.encode_to(out);
        v.encode_to(out);
    }
}

/// Decodes `len`-prefixed entries with strictly increasing keys (one
/// encoding per state), handing each to `insert`.
fn decode_entries<K: Ord + Copy + Decode, V: Decode>(
    r: &mut Reader<'_>,
    mut insert: impl FnMut(K, V),
) -> Result<(), DecodeError> {
    let len = r.len(1)?;
    let mut last: Option<K> = None;
    for _ in 0..len {
        let k = K::decode_from(r)?;
        let v = V::decode_from(r)?;
        if last.is_some_and(|l| l >= k) {
            return Err(DecodeError::Invalid {
                what: "snapshot",
                why: "keys out of order",
            });
        }
        last = Some(k);
        insert(k, v);
    }
    Ok(())
}

fn decode_map<K: Ord + std::hash::Hash + Copy + Encode + Decode, V: Encode + Decode + Clone>(
    r: &mut Reader<'_>,
) -> Result<StateMap<K, V>, DecodeError> {
    let mut map = StateMap::default();
    decode_entries(r, |k, v| map.insert(k, v))?;
    Ok(map)
}

impl Ledger {
    /// The whole state, canonically encoded.
    #[must_use]
    pub fn snapshot(&self) -> Vec<u8> {
        let mut out = Vec::new();
        VERSION.encode_to(&mut out);
        self.chain_id.encode_to(&mut out);
        self.height.encode_to(&mut out);
        self.time.encode_to(&mut out);
        self.params.encode_to(&mut out);
        (self.supply.genesis, self.supply.burned).encode_to(&mut out);
        self.job_seq.encode_to(&mut out);
        encode_entries(self.accounts.len(), self.accounts.iter(), &mut out);
        encode_entries(self.devices.len(), self.devices.iter(), &mut out);
        encode_entries(self.jobs.len(), self.jobs.iter(), &mut out);
        encode_entries(self.tasks.len(), self.tasks.iter(), &mut out);
        let recent: Vec<(Height, Hash)> = self.recent.iter().map(|(h, x)| (*h, *x)).collect();
        recent.encode_to(&mut out);
        out
    }

    /// Restores a ledger from [`Ledger::snapshot`] bytes.
    ///
    /// # Errors
    /// [`DecodeError`] if the bytes are not a snapshot of this version.
    pub fn restore(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = u8::decode_from(&mut r)?;
        if version != VERSION {
            return Err(DecodeError::UnknownTag {
                what: "snapshot version",
                tag: version,
            });
        }
        let chain_id = String::decode_from(&mut r)?;
        let height = Height::decode_from(&mut r)?;
        let time = Timestamp::decode_from(&mut r)?;
        let params = Params::decode_from(&mut r)?;
        let (genesis, burned) = <(u64, u64)>::decode_from(&mut r)?;
        let job_seq = u64::decode_from(&mut r)?;
        let accounts: StateMap<AccountId, Account> = decode_map(&mut r)?;
        let devices: StateMap<DeviceId, Device> = decode_map(&mut r)?;
        let jobs: StateMap<JobId, Job> = decode_map(&mut r)?;
        let mut tasks: TaskMap<Task> = TaskMap::default();
        decode_entries(&mut r, |k: TaskId, v| tasks.insert(k, v))?;
        let recent: Vec<(Height, Hash)> = Vec::decode_from(&mut r)?;
        r.finish()?;
        if recent.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(DecodeError::Invalid {
                what: "snapshot",
                why: "recent blocks out of order",
            });
        }
        let mut ledger = Self {
            chain_id,
            height,
            time,
            params,
            supply: Supply { genesis, burned },
            job_seq,
            accounts,
            devices,
            jobs,
            tasks,
            recent: recent.into_iter().collect(),
            deadlines: Default::default(),
            job_deadlines: Default::default(),
            needs_replicas: Default::default(),
            queue: Default::default(),
            keys: Default::default(),
            draws: Default::default(),
            touched: Default::default(),
            credits: Default::default(),
            events: Vec::new(),
            randomness: Hash::ZERO,
        };
        ledger.rebuild_indexes();
        Ok(ledger)
    }

    /// Rebuilds the indexes from the records they are derived from: every
    /// live task is armed at its deadline, tasks wanting replicas wait for
    /// them, unfinished jobs keep their deadline, open jobs with tasks left
    /// to start queue in submission order.
    fn rebuild_indexes(&mut self) {
        for (id, device) in self.devices.iter() {
            std::sync::Arc::make_mut(&mut self.keys).insert(*id, SignerKey::new(device.key));
        }
        for (id, task) in self.tasks.iter() {
            self.deadlines.arm(task.deadline, *id);
            if task.wanted > 0 {
                self.needs_replicas.insert(*id);
            }
        }
        for (id, job) in self.jobs.iter() {
            if job.status != JobStatus::Finished {
                self.job_deadlines.insert((job.spec.deadline, *id));
            }
            if job.status == JobStatus::Open && job.next_task < job.spec.inputs.count() {
                self.queue.insert(job.seq, *id);
            }
        }
    }
}

impl Ledger {
    /// Whether the indexes equal those rebuilt from the records.
    #[doc(hidden)]
    #[must_use]
    pub fn indexes_consistent(&self) -> bool {
        let mut rebuilt = self.clone();
        rebuilt.deadlines = Deadlines::default();
        rebuilt.job_deadlines.clear();
        rebuilt.needs_replicas.clear();
        rebuilt.queue.clear();
        rebuilt.rebuild_indexes();
        // Entries left behind do not count; every live task must be armed
        // at its deadline.
        let armed = |d: &Deadlines| -> std::collections::BTreeSet<(Height, TaskId)> {
            d.entries()
                .filter(|(at, id)| self.tasks.get(id).is_some_and(|t| t.deadline == *at))
                .collect()
        };
        armed(&rebuilt.deadlines) == armed(&self.deadlines)
            && rebuilt.needs_replicas == self.needs_replicas
            && rebuilt.job_deadlines == self.job_deadlines
            && self.draws_consistent()
    }
}

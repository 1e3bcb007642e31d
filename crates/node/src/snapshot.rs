//! Chain snapshots, so a restart replays only the blocks finalized since
//! the last one instead of every block from genesis (docs/DESIGN.md §9:
//! "a node killed at any instant restarts with the same state root").
//!
//! A snapshot is the finalized tip (height, hash, state root, time), the
//! ledger's own canonical snapshot (`verigrid_ledger::Ledger::snapshot`)
//! and the finalized verdict lists the node keeps for inclusion proofs.
//! Restoring re-derives the state root from the ledger and refuses a
//! snapshot whose root differs from the one it recorded.
//!
//! On disk (through the runtime's `Storage`, so the deterministic runtime
//! can crash it): one blob per snapshot in its own partition, named by its
//! height, framed as `MAGIC ‖ len ‖ payload ‖ BLAKE3(payload)` and synced
//! before older snapshots are removed. A crash mid-write leaves a torn
//! newest blob that fails its checksum, and the previous one, which is
//! whole, is used: the commonware `Storage` has no rename, so the
//! checksum and the kept predecessor play the part of
//! write-temp-fsync-rename.

use std::collections::HashMap;

use commonware_runtime::{Blob as _, Error as StorageError, ReadOptions, Storage, WriteOptions};
use thiserror::Error;
use tracing::{debug, info, warn};
use verigrid_ledger::{Ledger, Verdict};
use verigrid_types::codec::{Bytes, Decode, DecodeError, Encode, Reader};
use verigrid_types::{Hash, Height, JobId, Timestamp, blob_hash};

const MAGIC: &[u8; 8] = b"VGSNAP01";
const VERSION: u8 = 1;
/// Snapshots kept on disk: the newest may be torn by a crash while it is
/// written; the one before it is whole.
pub const KEEP: usize = 2;

/// Why a snapshot cannot be used.
#[derive(Debug, Error)]
pub enum SnapshotError {
    /// The bytes are not a snapshot of this version.
    #[error("snapshot does not decode: {0}")]
    Decode(#[from] DecodeError),
    /// It belongs to another chain.
    #[error("snapshot is of chain {found}, this node runs {expected}")]
    ChainId {
        /// This node's chain.
        expected: String,
        /// The snapshot's.
        found: String,
    },
    /// Its ledger does not have the state root it recorded.
    #[error("snapshot at height {} records state root {recorded} but its ledger has {computed}", height.0)]
    Root {
        /// Its height.
        height: Height,
        /// Root it recorded.
        recorded: Hash,
        /// Root of the restored ledger.
        computed: Hash,
    },
    /// Its ledger is at another height than it recorded.
    #[error("snapshot records height {} but its ledger is at {}", recorded.0, ledger.0)]
    Height {
        /// Height it recorded.
        recorded: Height,
        /// Height of the ledger inside.
        ledger: Height,
    },
}

/// A decoded, checked snapshot of the finalized chain.
pub struct ChainSnapshot {
    /// Height of the finalized tip.
    pub height: Height,
    /// Hash of the finalized tip.
    pub tip: Hash,
    /// State root after it.
    pub tip_root: Hash,
    /// Its time.
    pub tip_time: Timestamp,
    /// The ledger at the tip.
    pub ledger: Ledger,
    /// Every finalized verdict of each job, in decision order.
    pub verdicts: HashMap<JobId, Vec<Verdict>>,
}

impl std::fmt::Debug for ChainSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainSnapshot")
            .field("height", &self.height)
            .field("tip", &self.tip)
            .finish_non_exhaustive()
    }
}

/// Encodes the finalized chain's snapshot payload.
#[must_use]
pub fn encode(
    tip: (Height, Hash, Hash, Timestamp),
    ledger: &Ledger,
    verdicts: &HashMap<JobId, Vec<Verdict>>,
) -> Vec<u8> {
    let (height, hash, root, time) = tip;
    let mut out = Vec::new();
    VERSION.encode_to(&mut out);
    height.encode_to(&mut out);
    hash.encode_to(&mut out);
    root.encode_to(&mut out);
    time.encode_to(&mut out);
    Bytes(ledger.snapshot()).encode_to(&mut out);
    let mut jobs: Vec<(&JobId, &Vec<Verdict>)> = verdicts.iter().collect();
    jobs.sort_by_key(|(job, _)| **job);
    verigrid_types::codec::encode_len(jobs.len(), &mut out);
    for (job, list) in jobs {
        job.encode_to(&mut out);
        list.encode_to(&mut out);
    }
    out
}

impl ChainSnapshot {
    /// Decodes a payload from [`encode`] and checks it: the chain id is
    /// `chain_id`, the ledger is at the recorded height and has the
    /// recorded state root (recomputed here: O(state)).
    ///
    /// # Errors
    /// [`SnapshotError`] saying what does not match.
    pub fn decode(bytes: &[u8], chain_id: &str) -> Result<Self, SnapshotError> {
        let mut r = Reader::new(bytes);
        let version = u8::decode_from(&mut r)?;
        if version != VERSION {
            return Err(DecodeError::UnknownTag {
                what: "node snapshot version",
                tag: version,
            }
            .into());
        }
        let height = Height::decode_from(&mut r)?;
        let tip = Hash::decode_from(&mut r)?;
        let tip_root = Hash::decode_from(&mut r)?;
        let tip_time = Timestamp::decode_from(&mut r)?;
        let ledger = Bytes::decode_from(&mut r)?;
        let jobs = r.len(33)?;
        let mut verdicts = HashMap::with_capacity(jobs);
        for _ in 0..jobs {
            let job = JobId::decode_from(&mut r)?;
            let list = Vec::<Verdict>::decode_from(&mut r)?;
            verdicts.insert(job, list);
        }
        r.finish()?;
        let mut ledger = Ledger::restore(&ledger.0)?;
        if ledger.chain_id() != chain_id {
            return Err(SnapshotError::ChainId {
                expected: chain_id.to_owned(),
                found: ledger.chain_id().to_owned(),
            });
        }
        if ledger.height() != height {
            return Err(SnapshotError::Height {
                recorded: height,
                ledger: ledger.height(),
            });
        }
        let computed = ledger.state_root();
        if computed != tip_root {
            return Err(SnapshotError::Root {
                height,
                recorded: tip_root,
                computed,
            });
        }
        Ok(Self {
            height,
            tip,
            tip_root,
            tip_time,
            ledger,
            verdicts,
        })
    }
}

fn blob_name(height: Height) -> Vec<u8> {
    format!("{:020}", height.0).into_bytes()
}

fn parse_name(name: &[u8]) -> Option<Height> {
    std::str::from_utf8(name).ok()?.parse().ok().map(Height)
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 48);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(blob_hash(payload).as_bytes());
    out
}

/// The payload inside a whole frame; `None` for a torn or foreign blob.
fn unframe(bytes: &[u8]) -> Option<&[u8]> {
    let rest = bytes.strip_prefix(MAGIC)?;
    let (len, rest) = rest.split_at_checked(8)?;
    let len = usize::try_from(u64::from_le_bytes(len.try_into().ok()?)).ok()?;
    let (payload, checksum) = rest.split_at_checked(len)?;
    (checksum == blob_hash(payload).as_bytes()).then_some(payload)
}

/// Heights of the snapshots in `partition`, newest first.
async fn heights<E: Storage>(storage: &E, partition: &str) -> Result<Vec<Height>, StorageError> {
    let names = match storage.scan(partition).await {
        Ok(names) => names,
        Err(StorageError::PartitionMissing(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut heights: Vec<Height> = names.iter().filter_map(|n| parse_name(n)).collect();
    heights.sort_unstable_by(|a, b| b.cmp(a));
    Ok(heights)
}

/// Writes the snapshot of `height` durably, then removes all but the
/// newest [`KEEP`].
///
/// # Errors
/// The storage's error; older snapshots are then left as they were.
pub async fn write<E: Storage>(
    storage: &E,
    partition: &str,
    height: Height,
    payload: &[u8],
) -> Result<(), StorageError> {
    let bytes = frame(payload);
    let len = bytes.len() as u64;
    let (blob, _) = storage.open(partition, &blob_name(height)).await?;
    blob.write_at(0, bytes, WriteOptions::default()).await?;
    blob.resize(len).await?;
    blob.sync().await?;
    drop(blob);
    for old in heights(storage, partition).await?.into_iter().skip(KEEP) {
        storage.remove(partition, Some(&blob_name(old))).await?;
    }
    debug!(height = height.0, bytes = len, "wrote snapshot");
    Ok(())
}

/// Whole snapshot payloads in `partition`, newest first (those that fail
/// their checksum are skipped with a warning).
///
/// # Errors
/// The storage's error.
pub async fn read_all<E: Storage>(
    storage: &E,
    partition: &str,
) -> Result<Vec<(Height, Vec<u8>)>, StorageError> {
    let mut out = Vec::new();
    for height in heights(storage, partition).await? {
        let name = blob_name(height);
        let (blob, size) = storage.open(partition, &name).await?;
        let Ok(size) = usize::try_from(size) else {
            continue;
        };
        let bytes = if size == 0 {
            Vec::new()
        } else {
            blob.read_at(0, size, ReadOptions::default())
                .await?
                .coalesce()
                .as_ref()
                .to_vec()
        };
        match unframe(&bytes) {
            Some(payload) => out.push((height, payload.to_vec())),
            None => warn!(height = height.0, "skipping a torn snapshot"),
        }
    }
    if let Some((height, _)) = out.first() {
        info!(height = height.0, found = out.len(), "found snapshots");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{BlockLimits, Chain, RefuseAttestations};
    use crate::mempool::{Mempool, MempoolConfig};
    use commonware_runtime::{Runner as _, deterministic};
    use verigrid_ledger::Genesis;
    use verigrid_types::params::Params;
    use verigrid_types::tx::{Call, Signer, Tx};
    use verigrid_types::{AccountId, Amount, SecretKey};

    fn chain() -> (Chain, crate::block::Block) {
        let alice = SecretKey::from_label("alice");
        let genesis = Genesis {
            chain_id: "snap".into(),
            params: Params::new(AccountId([9; 32])),
            accounts: vec![(alice.account(), Amount(1_000_000))],
            time: Timestamp(1_000),
        };
        Chain::new(
            &genesis,
            Box::new(RefuseAttestations),
            BlockLimits::default(),
        )
        .unwrap()
    }

    /// A chain two blocks past genesis, with one transfer.
    fn advanced() -> Chain {
        let (mut c, genesis) = chain();
        let alice = SecretKey::from_label("alice");
        let mut pool = Mempool::new(MempoolConfig::default());
        let tx = Tx {
            signer: Signer::Account(alice.account()),
            nonce: 0,
            fee: Amount(100),
            call: Call::Transfer {
                to: AccountId([7; 32]),
                amount: Amount(500),
            },
        }
        .sign("snap", &alice);
        pool.insert(tx, c.ledger()).unwrap();
        let one = c
            .build(&genesis, Timestamp(2_000), alice.account(), &pool)
            .unwrap()
            .block;
        c.finalize(&one).unwrap();
        let two = c
            .build(
                &one,
                Timestamp(3_000),
                alice.account(),
                &Mempool::new(MempoolConfig::default()),
            )
            .unwrap()
            .block;
        c.finalize(&two).unwrap();
        c
    }

    #[test]
    fn a_restored_snapshot_has_the_same_tip_root_and_state() {
        let original = advanced();
        let snapshot = ChainSnapshot::decode(&original.snapshot(), "snap").unwrap();
        let (mut restored, _) = chain();
        restored.install(snapshot);
        assert_eq!(restored.height(), Height(2));
        assert_eq!(restored.tip(), original.tip());
        assert_eq!(restored.tip_root(), original.tip_root());
        assert_eq!(restored.time(), original.time());
        assert_eq!(
            restored.ledger().clone().state_root(),
            original.ledger().clone().state_root()
        );
        assert_eq!(
            restored
                .ledger()
                .account(&AccountId([7; 32]))
                .unwrap()
                .balance,
            Amount(500)
        );
    }

    #[test]
    fn a_snapshot_of_another_chain_or_with_a_wrong_root_is_refused() {
        let bytes = advanced().snapshot();
        assert!(matches!(
            ChainSnapshot::decode(&bytes, "other"),
            Err(SnapshotError::ChainId { .. })
        ));
        // The recorded root sits after version (1), height (8), tip (32).
        let mut wrong = bytes.clone();
        wrong[1 + 8 + 32] ^= 1;
        assert!(matches!(
            ChainSnapshot::decode(&wrong, "snap"),
            Err(SnapshotError::Root { .. })
        ));
        assert!(ChainSnapshot::decode(&bytes[..bytes.len() - 1], "snap").is_err());
    }

    #[test]
    fn a_torn_newest_snapshot_falls_back_to_the_one_before_and_old_ones_are_pruned() {
        deterministic::Runner::default().start(|context| async move {
            for h in [4, 8, 12] {
                write(
                    &context,
                    "snaps",
                    Height(h),
                    format!("state {h}").as_bytes(),
                )
                .await
                .unwrap();
            }
            let all = read_all(&context, "snaps").await.unwrap();
            let heights: Vec<u64> = all.iter().map(|(h, _)| h.0).collect();
            assert_eq!(heights, vec![12, 8], "only the newest {KEEP} are kept");
            assert_eq!(all[0].1, b"state 12");
            // A crash mid-write of the next one leaves it torn.
            let (blob, _) = context.open("snaps", &blob_name(Height(16))).await.unwrap();
            blob.write_at(
                0,
                frame(b"state 16")[..12].to_vec(),
                WriteOptions::default(),
            )
            .await
            .unwrap();
            blob.sync().await.unwrap();
            drop(blob);
            let all = read_all(&context, "snaps").await.unwrap();
            assert_eq!(all[0], (Height(12), b"state 12".to_vec()));
            // Nothing stored yet: no snapshot, no error.
            assert!(read_all(&context, "empty").await.unwrap().is_empty());
        });
    }

    #[test]
    fn a_frame_round_trips_and_any_torn_or_flipped_frame_is_refused() {
        let payload = b"the finalized chain".to_vec();
        let whole = frame(&payload);
        assert_eq!(unframe(&whole), Some(payload.as_slice()));
        for cut in 0..whole.len() {
            assert_eq!(unframe(&whole[..cut]), None, "torn at {cut}");
        }
        let mut flipped = whole.clone();
        flipped[20] ^= 1;
        assert_eq!(unframe(&flipped), None);
    }

    #[test]
    fn blob_names_sort_by_height() {
        let mut names = [blob_name(Height(100)), blob_name(Height(9))];
        names.sort();
        assert_eq!(parse_name(&names[0]), Some(Height(9)));
        assert_eq!(parse_name(b"junk"), None);
    }
}

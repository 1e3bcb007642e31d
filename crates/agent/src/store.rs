//! What the agent keeps on disk: finished results until the network has
//! decided them (so a restart or a lost connection never loses one), and
//! blobs cached by hash.
//!
//! Every write goes to a temporary file that is synced and renamed into
//! place: a crash leaves either the old file or the new one, never half.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use verigrid_types::codec::{Bytes, Decode, Encode};
use verigrid_types::{Hash, JobId, TaskId, blob_hash, codec_struct};

/// A task this device ran: what it will commit to and later reveal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    /// The task.
    pub task: TaskId,
    /// Blob hash of the output.
    pub output_hash: Hash,
    /// The commitment's salt (secret until the reveal).
    pub salt: [u8; 32],
    /// The output.
    pub output: Bytes,
}
codec_struct!(Finished {
    task,
    output_hash,
    salt,
    output
});

/// Writes `bytes` to `path` atomically and durably.
///
/// # Errors
/// Any file system error.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut file = fs::File::create(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temp, path)?;
    // The rename itself must survive a power cut.
    fs::File::open(dir).and_then(|d| d.sync_all())
}

/// Finished results, one file each.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
}

impl Journal {
    /// The journal in `dir`.
    ///
    /// # Errors
    /// If the directory cannot be created.
    pub fn open(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    fn path(&self, task: &TaskId) -> PathBuf {
        self.dir
            .join(format!("{}-{}.result", task.job.0.to_hex(), task.index))
    }

    /// Records a finished result durably.
    ///
    /// # Errors
    /// Any file system error (the result is then not recorded).
    pub fn put(&self, finished: &Finished) -> std::io::Result<()> {
        write_atomic(&self.path(&finished.task), &finished.encode())
    }

    /// The result for `task`, if recorded and intact.
    #[must_use]
    pub fn get(&self, task: &TaskId) -> Option<Finished> {
        let bytes = fs::read(self.path(task)).ok()?;
        Finished::decode(&bytes)
            .ok()
            .filter(|f| f.task == *task && blob_hash(&f.output.0) == f.output_hash)
    }

    /// Forgets the result for `task` (once the network has decided it).
    ///
    /// # Errors
    /// Any file system error other than "already gone".
    pub fn remove(&self, task: &TaskId) -> std::io::Result<()> {
        match fs::remove_file(self.path(task)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Every task with a recorded result. Files that are not results are
    /// ignored.
    #[must_use]
    pub fn tasks(&self) -> Vec<TaskId> {
        let mut tasks: Vec<TaskId> = fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| parse_name(&e.file_name().to_string_lossy()))
            .collect();
        tasks.sort();
        tasks
    }
}

fn parse_name(name: &str) -> Option<TaskId> {
    let stem = name.strip_suffix(".result")?;
    let (job, index) = stem.split_once('-')?;
    Some(TaskId {
        job: JobId(Hash::from_hex(job).ok()?),
        index: index.parse().ok()?,
    })
}

/// Blobs (programs and inputs) cached by hash.
#[derive(Debug)]
pub struct BlobCache {
    dir: PathBuf,
}

impl BlobCache {
    /// The cache in `dir`.
    ///
    /// # Errors
    /// If the directory cannot be created.
    pub fn open(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    /// The cached blob `hash`, if present and intact (a damaged file is
    /// deleted so it is fetched again).
    #[must_use]
    pub fn get(&self, hash: &Hash) -> Option<Vec<u8>> {
        let path = self.dir.join(hash.to_hex());
        let bytes = fs::read(&path).ok()?;
        if blob_hash(&bytes) == *hash {
            Some(bytes)
        } else {
            let _ = fs::remove_file(&path);
            None
        }
    }

    /// Caches `bytes` (whose hash the caller has checked).
    ///
    /// # Errors
    /// Any file system error.
    pub fn put(&self, bytes: &[u8]) -> std::io::Result<Hash> {
        let hash = blob_hash(bytes);
        write_atomic(&self.dir.join(hash.to_hex()), bytes)?;
        Ok(hash)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn finished(index: u32) -> Finished {
        let output = format!("output {index}").into_bytes();
        Finished {
            task: TaskId {
                job: JobId(Hash([7; 32])),
                index,
            },
            output_hash: blob_hash(&output),
            salt: [u8::try_from(index).unwrap(); 32],
            output: Bytes(output),
        }
    }

    #[test]
    fn results_survive_reopening_and_damage_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path()).unwrap();
        journal.put(&finished(1)).unwrap();
        journal.put(&finished(2)).unwrap();
        fs::write(dir.path().join("notes.txt"), "not a result").unwrap();
        let journal = Journal::open(dir.path()).unwrap();
        assert_eq!(journal.tasks(), vec![finished(1).task, finished(2).task]);
        assert_eq!(journal.get(&finished(2).task), Some(finished(2)));
        fs::write(journal.path(&finished(1).task), b"\x01garbage").unwrap();
        assert_eq!(journal.get(&finished(1).task), None);
        journal.remove(&finished(2).task).unwrap();
        journal.remove(&finished(2).task).unwrap();
        assert_eq!(journal.get(&finished(2).task), None);
    }

    #[test]
    fn the_cache_refuses_damaged_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlobCache::open(dir.path()).unwrap();
        let hash = cache.put(b"module").unwrap();
        assert_eq!(cache.get(&hash).unwrap(), b"module");
        fs::write(dir.path().join(hash.to_hex()), b"tampered").unwrap();
        assert_eq!(cache.get(&hash), None);
        assert_eq!(cache.get(&hash), None);
    }
}

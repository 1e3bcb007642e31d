//! Content-addressed blobs (job programs, inputs, outputs) stored as files
//! named by their hash ([`verigrid_types::hash::blob_hash`], BLAKE3 under
//! the blob domain) in a directory under the node's data dir.
//!
//! Writes go to a temporary file first and are renamed into place, so a
//! crash never leaves a partial blob under a valid name.

use std::io;
use std::path::{Path, PathBuf};

use verigrid_types::Hash;
use verigrid_types::hash::blob_hash;

/// The blob directory.
#[derive(Clone, Debug)]
pub struct BlobStore {
    dir: PathBuf,
}

impl BlobStore {
    /// A store in `dir` (created on first write).
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// Where the store keeps its files.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, hash: &Hash) -> PathBuf {
        self.dir.join(hash.to_hex())
    }

    /// Stores `bytes` and returns their hash (idempotent).
    ///
    /// # Errors
    /// Any file system error.
    pub async fn put(&self, bytes: &[u8]) -> io::Result<Hash> {
        let hash = blob_hash(bytes);
        let path = self.path(&hash);
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Ok(hash);
        }
        tokio::fs::create_dir_all(&self.dir).await?;
        // Unique per write: two uploads of one blob may race.
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let temp = self
            .dir
            .join(format!(".{}.{}.{n}.tmp", hash.to_hex(), std::process::id()));
        tokio::fs::write(&temp, bytes).await?;
        tokio::fs::rename(&temp, &path).await?;
        Ok(hash)
    }

    /// The blob with `hash`, if stored.
    ///
    /// # Errors
    /// Any file system error other than "not found".
    pub async fn get(&self, hash: &Hash) -> io::Result<Option<Vec<u8>>> {
        match tokio::fs::read(self.path(hash)).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

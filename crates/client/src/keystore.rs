//! The file keystore: where a device without a hardware keystore keeps its
//! signing key. One file, 32 bytes of seed in hex, readable by its owner
//! only (0600), created with fresh randomness from the OS on first use.

use std::fs::{self, OpenOptions};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use verigrid_types::SecretKey;
use verigrid_types::hash::{hex, unhex};

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    /// The file could not be read or written.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The file is not a key.
    #[error(
        "key file {path} is not 64 hex characters (a 32-byte seed): {reason}; restore it from a backup or delete it to make a new key"
    )]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// Others may read the key.
    #[error("key file {path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`")]
    Exposed {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeystoreError + '_ {
    move |source| KeystoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Reads the key at `path`.
///
/// # Errors
/// If it cannot be read, is malformed, or others may read it.
pub fn load(path: &Path) -> Result<SecretKey, KeystoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(path).map_err(io(path))?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeystoreError::Exposed {
                path: path.to_owned(),
                mode,
            });
        }
    }
    let text = fs::read_to_string(path).map_err(io(path))?;
    let malformed = |reason: String| KeystoreError::Malformed {
        path: path.to_owned(),
        reason,
    };
    let bytes = unhex(text.trim()).map_err(|e| malformed(e.to_string()))?;
    let seed: [u8; 32] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| malformed(format!("{} bytes", b.len())))?;
    Ok(SecretKey::from_seed(seed))
}

/// Writes `key` to a new file at `path` with mode 0600 (never overwrites).
///
/// # Errors
/// If the file exists or cannot be written.
pub fn save(path: &Path, key: &SecretKey) -> Result<(), KeystoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io(path))?;
    file.write_all(format!("{}\n", hex(&key.seed())).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io(path))
}

/// A fresh key from the operating system's randomness.
///
/// # Errors
/// If the OS has no randomness to give.
pub fn generate() -> Result<SecretKey, KeystoreError> {
    let source = Path::new("/dev/urandom");
    let mut seed = [0u8; 32];
    fs::File::open(source)
        .and_then(|mut f| f.read_exact(&mut seed))
        .map_err(io(source))?;
    Ok(SecretKey::from_seed(seed))
}

/// The key at `path`, created on first use. Returns it and whether it is new.
///
/// # Errors
/// As [`load`] and [`save`].
pub fn load_or_create(path: &Path) -> Result<(SecretKey, bool), KeystoreError> {
    if path.exists() {
        return load(path).map(|k| (k, false));
    }
    let key = generate()?;
    save(path, &key)?;
    Ok((key, true))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_key_survives_a_restart_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/device.key");
        let (key, new) = load_or_create(&path).unwrap();
        assert!(new);
        let (again, new) = load_or_create(&path).unwrap();
        assert!(!new);
        assert_eq!(key.public(), again.public());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(load(&path), Err(KeystoreError::Exposed { .. })));
        }
    }

    #[test]
    fn a_malformed_file_is_refused_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.key");
        let key = generate().unwrap();
        save(&path, &key).unwrap();
        assert!(save(&path, &key).is_err(), "never overwrites a key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs::write(&path, "not hex").unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
            let err = load(&path).unwrap_err().to_string();
            assert!(err.contains("not 64 hex"), "{err}");
        }
    }
}

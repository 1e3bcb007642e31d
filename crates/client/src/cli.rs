//! Command-line flags every verigrid tool that talks to a network shares
//! (`verigrid job …`, `verigrid agent`, `verigrid-agent`): where the nodes
//! are, who signs, how to print.

use std::path::PathBuf;

use verigrid_types::SecretKey;

use crate::keystore::{self, KeystoreError};
use crate::{Client, ClientError};

/// Funded development account `n` of dev chains.
#[must_use]
pub fn dev_user(n: usize) -> SecretKey {
    SecretKey::from_label(&format!("dev/user/{n}"))
}

/// Why no signing key could be had.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The key file could not be used.
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
    /// No key was named.
    #[error(
        "no account key: pass --key FILE (make one with `verigrid keys new FILE`), \
         set VERIGRID_KEY, or use --dev-user N on a dev chain"
    )]
    Missing,
}

/// Where the network is.
#[derive(clap::Args, Debug, Clone)]
pub struct NetArgs {
    /// Node API address; repeat (or separate with commas) to use several
    /// nodes of one network.
    #[arg(
        long = "api",
        env = "VERIGRID_API",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:8080"
    )]
    pub api: Vec<String>,
    /// Print JSON for scripts instead of text.
    #[arg(long)]
    pub json: bool,
}

impl NetArgs {
    /// A client of those nodes.
    ///
    /// # Errors
    /// If an address is not an `http://` URL.
    pub fn client(&self) -> Result<Client, ClientError> {
        Client::new(&self.api)
    }
}

/// Who signs.
#[derive(clap::Args, Debug, Clone)]
pub struct IdentityArgs {
    /// Account key file (from `verigrid keys new`).
    #[arg(long, env = "VERIGRID_KEY", conflicts_with = "dev_user")]
    pub key: Option<PathBuf>,
    /// Use funded development account N of a dev chain
    /// (`SecretKey::from_label("dev/user/N")`).
    #[arg(long)]
    pub dev_user: Option<usize>,
}

impl IdentityArgs {
    /// The signing key.
    ///
    /// # Errors
    /// If the key file cannot be used, or no key was named.
    pub fn secret(&self) -> Result<SecretKey, IdentityError> {
        match (&self.key, self.dev_user) {
            (Some(path), _) => Ok(keystore::load(path)?),
            (None, Some(n)) => Ok(dev_user(n)),
            (None, None) => Err(IdentityError::Missing),
        }
    }
}

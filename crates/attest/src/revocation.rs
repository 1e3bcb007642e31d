//! Revocation: Google's attestation status list (JSON; serials as lowercase
//! hex without leading zeros; status REVOKED or SUSPENDED). Any listed
//! certificate anywhere in a chain refuses it — a suspended attestation key
//! is as untrustworthy as a revoked one until Google lifts the entry, which
//! is also how Google's verifier treats it.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::cert;
use crate::error::{AttestError, Result};

/// One entry of the list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    /// `REVOKED` or `SUSPENDED`.
    pub status: String,
    /// Why (`KEY_COMPROMISE`, `CA_COMPROMISE`, …).
    pub reason: String,
}

/// Revoked certificate serials.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RevocationList {
    entries: BTreeMap<Vec<u8>, Revocation>,
}

#[derive(Deserialize)]
struct StatusList {
    entries: BTreeMap<String, StatusEntry>,
}

#[derive(Deserialize)]
struct StatusEntry {
    status: String,
    #[serde(default)]
    reason: Option<String>,
}

/// Why a status list could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StatusListError {
    /// Not the status-list JSON shape.
    #[error("not an attestation status list: {0}")]
    Json(String),
    /// A key is not a hex serial.
    #[error("status list key {0:?} is not a hexadecimal serial number")]
    Serial(String),
    /// An unknown status.
    #[error(
        "status list entry {serial} has unknown status {status:?} (expected REVOKED or SUSPENDED)"
    )]
    Status {
        /// The entry's serial.
        serial: String,
        /// Its status.
        status: String,
    },
}

impl RevocationList {
    /// An empty list.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads Google's status-list JSON.
    ///
    /// # Errors
    /// [`StatusListError`] naming the bad part.
    pub fn from_status_json(json: &[u8]) -> std::result::Result<Self, StatusListError> {
        let list: StatusList =
            serde_json::from_slice(json).map_err(|e| StatusListError::Json(e.to_string()))?;
        let mut entries = BTreeMap::new();
        for (serial, entry) in list.entries {
            if !matches!(entry.status.as_str(), "REVOKED" | "SUSPENDED") {
                return Err(StatusListError::Status {
                    serial,
                    status: entry.status,
                });
            }
            let bytes = parse_serial(&serial).ok_or(StatusListError::Serial(serial))?;
            entries.insert(
                bytes,
                Revocation {
                    status: entry.status,
                    reason: entry.reason.unwrap_or_else(|| "UNSPECIFIED".into()),
                },
            );
        }
        Ok(Self { entries })
    }

    /// A list of serials (big-endian bytes), all REVOKED, as the ledger's
    /// parameters hold them.
    #[must_use]
    pub fn from_serials<'a>(serials: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let entries = serials
            .into_iter()
            .map(|s| {
                let skip = s.iter().take_while(|b| **b == 0).count();
                (
                    s[skip..].to_vec(),
                    Revocation {
                        status: "REVOKED".into(),
                        reason: "UNSPECIFIED".into(),
                    },
                )
            })
            .collect();
        Self { entries }
    }

    /// The serials listed (big-endian bytes, no leading zeros).
    pub fn serials(&self) -> impl Iterator<Item = &[u8]> {
        self.entries.keys().map(Vec::as_slice)
    }

    /// Number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the list is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry for a serial, if listed.
    #[must_use]
    pub fn lookup(&self, serial: &[u8]) -> Option<&Revocation> {
        let skip = serial.iter().take_while(|b| **b == 0).count();
        self.entries.get(&serial[skip..])
    }

    /// Fails if any of `serials` is listed.
    ///
    /// # Errors
    /// [`AttestError::Revoked`] for the first listed serial.
    pub fn check(&self, serials: &[Vec<u8>]) -> Result<()> {
        for serial in serials {
            if let Some(entry) = self.lookup(serial) {
                return Err(AttestError::Revoked {
                    serial: cert::serial_hex(serial),
                    status: entry.status.clone(),
                    reason: entry.reason.clone(),
                });
            }
        }
        Ok(())
    }
}

/// Hex (any case, odd length allowed) to big-endian bytes without leading
/// zeros.
fn parse_serial(text: &str) -> Option<Vec<u8>> {
    if text.is_empty() || text.len() > 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let padded = if text.len() % 2 == 1 {
        format!("0{text}")
    } else {
        text.to_owned()
    };
    let bytes = verigrid_types::hash::unhex(&padded.to_ascii_lowercase()).ok()?;
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    Some(bytes[skip..].to_vec())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn odd_length_and_leading_zero_serials_normalise() {
        assert_eq!(parse_serial("abc"), Some(vec![0x0a, 0xbc]));
        assert_eq!(parse_serial("00ff"), Some(vec![0xff]));
        assert_eq!(parse_serial("xyz"), None);
    }

    #[test]
    fn unknown_statuses_are_refused() {
        let json = br#"{"entries":{"ab":{"status":"MAYBE"}}}"#;
        assert!(matches!(
            RevocationList::from_status_json(json),
            Err(StatusListError::Status { .. })
        ));
    }
}

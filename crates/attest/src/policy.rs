//! The network's admission rules, evaluated on a verified attestation
//! (docs/DESIGN.md §6): the challenge, the key's security level, verified
//! boot, a locked bootloader, a recent patch level, the genuine agent app,
//! and the revocation list.

use verigrid_types::device::{SecurityLevel, patch_months, unix_months};

use crate::android::AndroidAttestation;
use crate::apple::{AppAttestation, Environment};
use crate::chain::RootKind;
use crate::error::{AttestError, Result};
use crate::key_description::BootState;
use crate::revocation::RevocationList;

/// Admission rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Lowest security level accepted.
    pub min_security: SecurityLevel,
    /// Require the verified-boot state `Verified`.
    pub require_verified_boot: bool,
    /// Require a locked bootloader.
    pub require_locked: bool,
    /// Oldest OS patch level accepted, in months before the verification
    /// time; `None` accepts any (and a missing one).
    pub max_patch_age_months: Option<u32>,
    /// Allowed Android package names / Apple app ids (`TEAMID.bundle`);
    /// empty allows any.
    pub apps: Vec<String>,
    /// Allowed SHA-256 digests of the Android app's signing certificate;
    /// empty allows any.
    pub signing_digests: Vec<Vec<u8>>,
    /// Revoked certificate serials.
    pub revocations: RevocationList,
    /// Accept App Attest keys from the development environment.
    pub allow_apple_development: bool,
}

impl Policy {
    /// The strict production rules: TEE or better, verified boot, locked,
    /// patched within a year; no app or revocation lists.
    #[must_use]
    pub fn strict() -> Self {
        Self {
            min_security: SecurityLevel::TrustedEnvironment,
            require_verified_boot: true,
            require_locked: true,
            max_patch_age_months: Some(12),
            apps: Vec::new(),
            signing_digests: Vec::new(),
            revocations: RevocationList::new(),
            allow_apple_development: false,
        }
    }

    /// Rules that accept any valid chain (for inspecting evidence).
    #[must_use]
    pub fn permissive() -> Self {
        Self {
            min_security: SecurityLevel::Software,
            require_verified_boot: false,
            require_locked: false,
            max_patch_age_months: None,
            allow_apple_development: true,
            ..Self::strict()
        }
    }

    /// Checks an Android attestation made for `challenge`, at `now` (Unix
    /// seconds).
    ///
    /// # Errors
    /// The first rule broken, as an [`AttestError`].
    pub fn check_android(
        &self,
        attestation: &AndroidAttestation,
        challenge: &[u8],
        now: i64,
    ) -> Result<()> {
        let kd = &attestation.key_description;
        self.revocations.check(&attestation.chain.serials)?;
        if kd.challenge != challenge {
            return Err(AttestError::ChallengeMismatch);
        }
        if attestation.chain.root == RootKind::Software
            && self.min_security > SecurityLevel::Software
        {
            return Err(AttestError::SoftwareRoot);
        }
        let level = attestation.security_level();
        if level < self.min_security {
            return Err(AttestError::SecurityLevel {
                actual: level,
                required: self.min_security,
            });
        }
        if self.require_verified_boot || self.require_locked {
            let rot = kd.root_of_trust().ok_or(AttestError::MissingRootOfTrust)?;
            if self.require_verified_boot && rot.verified_boot_state != BootState::Verified {
                return Err(AttestError::BootNotVerified(rot.verified_boot_state));
            }
            if self.require_locked && !rot.device_locked {
                return Err(AttestError::Unlocked);
            }
        }
        if let Some(max_age) = self.max_patch_age_months {
            let patch = kd.os_patch_level().ok_or(AttestError::MissingPatchLevel)?;
            check_patch_age(patch, max_age, now)?;
        }
        let app = kd.application_id();
        if !self.apps.is_empty() {
            let names = app
                .map(|a| {
                    a.packages
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            if !names.iter().any(|n| self.apps.iter().any(|a| a == n)) {
                let shown = if names.is_empty() {
                    "no package".to_owned()
                } else {
                    names.join(", ")
                };
                return Err(AttestError::AppNotAllowed(shown));
            }
        }
        if !self.signing_digests.is_empty() {
            let allowed = app.is_some_and(|a| {
                a.signature_digests
                    .iter()
                    .any(|d| self.signing_digests.contains(d))
            });
            if !allowed {
                return Err(AttestError::AppSignatureNotAllowed);
            }
        }
        Ok(())
    }

    /// Checks an App Attest attestation.
    ///
    /// # Errors
    /// The first rule broken, as an [`AttestError`].
    pub fn check_apple(&self, attestation: &AppAttestation) -> Result<()> {
        self.revocations.check(&attestation.chain.serials)?;
        if attestation.environment == Environment::Development && !self.allow_apple_development {
            return Err(AttestError::Environment("development".into()));
        }
        if !self.apps.is_empty() && !self.apps.iter().any(|id| attestation.is_for_app(id)) {
            return Err(AttestError::AppIdMismatch);
        }
        Ok(())
    }
}

fn check_patch_age(patch: u64, max_age_months: u32, now: i64) -> Result<()> {
    let too_old = AttestError::PatchTooOld {
        patch_level: patch,
        max_age_months,
    };
    let Some(patch_month) = u32::try_from(patch).ok().and_then(patch_months) else {
        return Err(too_old);
    };
    let now_month = unix_months(u64::try_from(now).unwrap_or(0));
    if now_month.saturating_sub(patch_month) > max_age_months {
        return Err(too_old);
    }
    Ok(())
}

//! Hardware attestation verifiers (docs/DESIGN.md §6): Android Key
//! Attestation chains and Apple App Attest objects, checked against trust
//! roots, a revocation list and the network's admission policy.
//!
//! Owns: certificate-chain rules, the KeyDescription and App Attest
//! formats, the policy checks, and a development CA that issues
//! Android-format chains so the same verifier runs in dev and tests.
//! Must not know: ledger state, IO or a clock — the verification time is an
//! input (on the ledger, the block time).
//!
//! The ledger calls [`Verifier`] through `verigrid_types`'
//! [`AttestationVerifier`] trait; tools use [`android::verify`],
//! [`apple::verify`] and [`Policy`] directly.

pub mod android;
pub mod apple;
pub mod asn1;
pub mod cert;
pub mod chain;
#[cfg(feature = "dev-ca")]
pub mod dev;
pub mod error;
pub mod key_description;
pub mod policy;
pub mod revocation;
pub mod roots;

pub use android::{AndroidAttestation, AttestedKey};
pub use apple::{AppAttestation, Environment};
pub use chain::{RootKind, TrustStore, VerifiedChain};
pub use error::AttestError;
pub use key_description::{BootState, KeyDescription};
pub use policy::Policy;
pub use revocation::RevocationList;

use verigrid_types::Hash;
use verigrid_types::codec::Bytes;
use verigrid_types::crypto::DeviceKey;
use verigrid_types::device::{
    AttestationFailure, AttestationSummary, AttestationVerifier, Evidence, EvidenceFormat,
    Platform, SecurityLevel, VerifyRequest,
};
use verigrid_types::params::AttestationPolicy;

/// The verifier the ledger uses: evidence in, summary or a failure message
/// out, under the policy in the ledger's parameters.
#[derive(Clone, Debug)]
pub struct Verifier {
    software_roots: Vec<Vec<u8>>,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new()
    }
}

impl Verifier {
    /// A verifier that recognises Google's software roots.
    #[must_use]
    pub fn new() -> Self {
        Self {
            software_roots: roots::software_root_keys(),
        }
    }

    /// The trust store for a ledger policy: every configured root, marked
    /// software if it is one of Google's software roots.
    ///
    /// # Errors
    /// If a configured root is not a certificate.
    pub fn trust_store(&self, policy: &AttestationPolicy) -> Result<TrustStore, AttestError> {
        let mut store = TrustStore::new();
        for root in &policy.trust_roots {
            let spki = cert::parse(&root.0, 0)?.public_key().raw.to_vec();
            let kind = if self.software_roots.contains(&spki) {
                RootKind::Software
            } else {
                RootKind::Hardware
            };
            store.add_der(&root.0, kind)?;
        }
        Ok(store)
    }

    /// The admission policy the ledger's parameters describe.
    #[must_use]
    pub fn policy(policy: &AttestationPolicy) -> Policy {
        Policy {
            min_security: policy.min_security,
            require_verified_boot: policy.require_verified_boot,
            require_locked: policy.require_verified_boot,
            max_patch_age_months: Some(policy.max_patch_age_months),
            apps: policy
                .agent_apps
                .iter()
                .map(|a| String::from_utf8_lossy(&a.0).into_owned())
                .collect(),
            signing_digests: policy.agent_digests.iter().map(|d| d.0.to_vec()).collect(),
            revocations: RevocationList::from_serials(
                policy.revoked_serials.iter().map(|s| s.0.as_slice()),
            ),
            allow_apple_development: policy.allow_apple_development,
        }
    }

    /// Verifies evidence, with a typed error.
    ///
    /// # Errors
    /// The first check that fails.
    pub fn verify_evidence(
        &self,
        evidence: &Evidence,
        request: &VerifyRequest<'_>,
    ) -> Result<AttestationSummary, AttestError> {
        let store = self.trust_store(request.policy)?;
        let policy = Self::policy(request.policy);
        let now = i64::try_from(request.now.as_secs()).unwrap_or(i64::MAX);
        match evidence.format {
            EvidenceFormat::AndroidKeyChain => {
                let chain: Vec<Vec<u8>> = evidence.parts.iter().map(|p| p.0.clone()).collect();
                let attestation = android::verify(&chain, &store, now)?;
                policy.check_android(&attestation, request.challenge, now)?;
                android_summary(&attestation)
            }
            EvidenceFormat::AppleAppAttest => {
                let [object, key_id] = evidence.parts.as_slice() else {
                    return Err(AttestError::MalformedAppAttest(
                        "evidence must be the attestation object and the key id".into(),
                    ));
                };
                let attestation =
                    apple::verify(&object.0, &key_id.0, request.challenge, &store, now)?;
                policy.check_apple(&attestation)?;
                Ok(AttestationSummary {
                    platform: Platform::Ios,
                    security_level: SecurityLevel::TrustedEnvironment,
                    key: DeviceKey::P256(attestation.key),
                    challenge: Bytes(request.challenge.to_vec()),
                    verified_boot: true,
                    device_locked: true,
                    patch_level: 0,
                    app_digests: vec![Hash(attestation.rp_id_hash)],
                    serials: attestation.chain.serial_bytes(),
                })
            }
        }
    }
}

fn android_summary(attestation: &AndroidAttestation) -> Result<AttestationSummary, AttestError> {
    let kd = &attestation.key_description;
    let key = match &attestation.key {
        AttestedKey::P256(point) => DeviceKey::P256(*point),
        AttestedKey::Ed25519(key) => DeviceKey::Ed25519(*key),
        AttestedKey::Unusable(kind) => return Err(AttestError::UnsupportedKey(kind.to_string())),
    };
    let rot = kd.root_of_trust();
    Ok(AttestationSummary {
        platform: Platform::Android,
        security_level: attestation.security_level(),
        key,
        challenge: Bytes(kd.challenge.clone()),
        verified_boot: rot.is_some_and(|r| r.verified_boot_state == BootState::Verified),
        device_locked: rot.is_some_and(|r| r.device_locked),
        patch_level: kd
            .os_patch_level()
            .and_then(|p| u32::try_from(p).ok())
            .unwrap_or(0),
        app_digests: kd
            .application_id()
            .map(|app| {
                app.signature_digests
                    .iter()
                    .filter_map(|d| <[u8; 32]>::try_from(d.as_slice()).ok().map(Hash))
                    .collect()
            })
            .unwrap_or_default(),
        serials: attestation.chain.serial_bytes(),
    })
}

impl AttestationVerifier for Verifier {
    fn verify(
        &self,
        evidence: &Evidence,
        request: &VerifyRequest<'_>,
    ) -> Result<AttestationSummary, AttestationFailure> {
        self.verify_evidence(evidence, request)
            .map_err(|e| AttestationFailure(e.to_string()))
    }
}

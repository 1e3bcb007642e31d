//! A simulated attestation platform: a CA key (ed25519) signs each device's
//! key and challenge; the verifier checks that signature against the trust
//! roots in the ledger's parameters. Real signatures, cheap enough for
//! hundreds of thousands of simulated devices; the Android and Apple
//! verifiers live in the `attest` crate.

use std::collections::HashMap;

use anyhow::Result;
use verigrid_attest::dev::{DevCa, DevLeaf};
use verigrid_types::codec::{Bytes, Decode, Encode};
use verigrid_types::crypto::verify_ed25519;
use verigrid_types::device::{
    AttestationFailure, AttestationSummary, AttestationVerifier, Evidence, EvidenceFormat,
    Platform, SecurityLevel, VerifyRequest,
};
use verigrid_types::ids::Timestamp;
use verigrid_types::params::AttestationPolicy;
use verigrid_types::{DeviceKey, Domain, Hash, SecretKey, Signature};

/// Produces evidence for a device key and challenge, and the verifier that
/// judges it. `Sync`: evidence is made and checked on several cores.
pub trait Attester: Sync {
    /// Evidence that `key` lives in a genuine device, for `challenge`.
    ///
    /// # Errors
    /// If the evidence cannot be produced.
    fn attest(&self, key: &DeviceKey, challenge: &[u8]) -> Result<Evidence>;
    /// The verifier the ledger uses.
    fn verifier(&self) -> &dyn AttestationVerifier;
    /// Trust roots to put in genesis.
    fn trust_roots(&self) -> Vec<Bytes>;
}

/// The simulated platform's CA.
pub struct SimAttester {
    ca: SecretKey,
}

impl SimAttester {
    /// A CA derived from `label` (deterministic, for reproducible runs).
    #[must_use]
    pub fn new(label: &str) -> Self {
        Self {
            ca: SecretKey::from_label(label),
        }
    }
}

fn summary_for(key: &DeviceKey, challenge: &[u8]) -> AttestationSummary {
    AttestationSummary {
        platform: Platform::Android,
        security_level: SecurityLevel::TrustedEnvironment,
        key: *key,
        challenge: Bytes(challenge.to_vec()),
        verified_boot: true,
        device_locked: true,
        patch_level: 0,
        app_digests: Vec::new(),
        serials: Vec::new(),
    }
}

impl Attester for SimAttester {
    fn attest(&self, key: &DeviceKey, challenge: &[u8]) -> Result<Evidence> {
        let summary = summary_for(key, challenge).encode();
        let Signature::Ed25519(sig) = self.ca.sign(&summary) else {
            anyhow::bail!("the simulated CA signs with ed25519");
        };
        Ok(Evidence {
            format: EvidenceFormat::AndroidKeyChain,
            parts: vec![Bytes(summary), Bytes(sig.to_vec())],
        })
    }

    fn verifier(&self) -> &dyn AttestationVerifier {
        self
    }

    fn trust_roots(&self) -> Vec<Bytes> {
        vec![Bytes(self.ca.public().to_vec())]
    }
}

impl AttestationVerifier for SimAttester {
    fn verify(
        &self,
        evidence: &Evidence,
        request: &VerifyRequest<'_>,
    ) -> Result<AttestationSummary, AttestationFailure> {
        let fail = |why: &str| AttestationFailure(format!("simulated attestation: {why}"));
        let [summary, sig] = evidence.parts.as_slice() else {
            return Err(fail("expected a summary and a CA signature"));
        };
        let sig: [u8; 64] = sig
            .0
            .as_slice()
            .try_into()
            .map_err(|_| fail("bad signature size"))?;
        let trusted = request.policy.attestation_roots().any(|root| {
            <[u8; 32]>::try_from(root).is_ok_and(|pk| verify_ed25519(&pk, &summary.0, &sig))
        });
        if !trusted {
            return Err(fail(
                "not signed by a trusted root: register with the chain's CA",
            ));
        }
        let summary = AttestationSummary::decode(&summary.0).map_err(|e| fail(&e.to_string()))?;
        if summary.challenge.0 != request.challenge {
            return Err(fail(
                "wrong challenge: attest again with the challenge from the node",
            ));
        }
        Ok(summary)
    }
}

/// Development attestation: the `attest` crate's development CA issues
/// Android-format chains and the real verifier checks them, so a dev
/// network exercises the same code as phones. About 100 µs a device, so
/// large simulations keep [`SimAttester`].
pub struct DevAttester {
    ca: DevCa,
    verifier: verigrid_attest::Verifier,
    now_secs: u64,
}

impl DevAttester {
    /// A CA from `seed`; devices report the patch level of the month of
    /// `now` (the chain's genesis time).
    ///
    /// # Errors
    /// If the CA cannot be built.
    pub fn new(seed: &[u8; 32], now: Timestamp) -> Result<Self> {
        Ok(Self {
            ca: DevCa::from_seed(seed)?,
            verifier: verigrid_attest::Verifier::new(),
            now_secs: now.as_secs(),
        })
    }
}

impl Attester for DevAttester {
    fn attest(&self, key: &DeviceKey, challenge: &[u8]) -> Result<Evidence> {
        let chain = self
            .ca
            .issue(&DevLeaf::healthy(*key, challenge, self.now_secs))?;
        Ok(Evidence {
            format: EvidenceFormat::AndroidKeyChain,
            parts: chain.into_iter().map(Bytes).collect(),
        })
    }

    fn verifier(&self) -> &dyn AttestationVerifier {
        &self.verifier
    }

    fn trust_roots(&self) -> Vec<Bytes> {
        vec![Bytes(self.ca.root_der().to_vec())]
    }
}

/// Trust roots as byte slices.
trait Roots {
    fn attestation_roots(&self) -> Box<dyn Iterator<Item = &[u8]> + '_>;
}

impl Roots for verigrid_types::params::AttestationPolicy {
    fn attestation_roots(&self) -> Box<dyn Iterator<Item = &[u8]> + '_> {
        Box::new(self.trust_roots.iter().map(|r| r.0.as_slice()))
    }
}

/// Verdicts of a real verifier, worked out ahead of a block on every core
/// and handed to the ledger through the [`AttestationVerifier`] trait. A
/// verdict is used only for the very evidence, challenge, policy and time
/// it was made for; anything else is verified on the spot by the real
/// verifier. Registering 157,000 devices is otherwise one core's work.
pub struct Preverified<'a> {
    inner: &'a dyn AttestationVerifier,
    verdicts: HashMap<Hash, Result<AttestationSummary, AttestationFailure>>,
}

/// What a verdict is for: evidence, challenge, policy and time.
fn request_key(evidence: &Evidence, request: &VerifyRequest<'_>) -> Hash {
    Hash::of(
        Domain::Draw,
        &[
            b"sim/attestation-verdict",
            &evidence.encode(),
            &Bytes(request.challenge.to_vec()).encode(),
            &request.policy.encode(),
            &request.now.0.to_le_bytes(),
        ],
    )
}

impl<'a> Preverified<'a> {
    /// Verifies each `(evidence, challenge)` with `attester`'s verifier
    /// under `policy` at `now`, spread over the cores.
    #[must_use]
    pub fn new(
        attester: &'a dyn Attester,
        items: &[(Evidence, Vec<u8>)],
        policy: &AttestationPolicy,
        now: Timestamp,
    ) -> Self {
        let verdicts = crate::parallel::map(items, |(evidence, challenge)| {
            let request = VerifyRequest {
                policy,
                challenge,
                now,
            };
            (
                request_key(evidence, &request),
                attester.verifier().verify(evidence, &request),
            )
        });
        Self {
            inner: attester.verifier(),
            verdicts: verdicts.into_iter().collect(),
        }
    }
}

impl AttestationVerifier for Preverified<'_> {
    fn verify(
        &self,
        evidence: &Evidence,
        request: &VerifyRequest<'_>,
    ) -> Result<AttestationSummary, AttestationFailure> {
        match self.verdicts.get(&request_key(evidence, request)) {
            Some(verdict) => verdict.clone(),
            None => self.inner.verify(evidence, request),
        }
    }
}

//! Development attestation: a local CA that is the only trust root of the
//! dev chain (docs/DESIGN.md §6).

use anyhow::{Result, bail};
use verigrid_types::device::{
    AttestationFailure, AttestationSummary, AttestationVerifier, Evidence, VerifyRequest,
};
use verigrid_types::{Bytes, DeviceKey};

use crate::devnet::Attester;

/// Not yet: device attestation arrives with the attest crate (issue 3).
pub struct DevAttester;

impl DevAttester {
    pub fn new() -> Result<Self> {
        bail!("not yet: device attestation (crates/attest, issue 3) has not landed")
    }
}

impl AttestationVerifier for DevAttester {
    fn verify(
        &self,
        _: &Evidence,
        _: &VerifyRequest<'_>,
    ) -> Result<AttestationSummary, AttestationFailure> {
        Err(AttestationFailure("no attestation verifier".into()))
    }
}

impl Attester for DevAttester {
    fn attest(&self, _: &DeviceKey, _: &[u8]) -> Result<Evidence> {
        bail!("no attestation")
    }
    fn verifier(&self) -> &dyn AttestationVerifier {
        self
    }
    fn trust_roots(&self) -> Vec<Bytes> {
        Vec::new()
    }
}

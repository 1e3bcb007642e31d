//! Devices: their attestation evidence, what the verifier concluded from it,
//! and what they can run (docs/DESIGN.md §3, §6).

use crate::codec::{Bytes, Encode};
use crate::crypto::DeviceKey;
use crate::hash::{Domain, Hash};
use crate::ids::{AccountId, Timestamp};
use crate::params::AttestationPolicy;
use crate::{codec_struct, codec_unit_enum};

/// The platform whose hardware attested a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Platform {
    /// Android Key Attestation (also the format of development chains).
    Android,
    /// Apple App Attest.
    Ios,
}
codec_unit_enum!(Platform { Android = 0, Ios = 1 });

/// Where a device's key lives. Ordered: a higher level satisfies a lower
/// requirement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SecurityLevel {
    /// A software keystore: never counts as hardware.
    Software,
    /// A trusted execution environment (TEE, Secure Enclave).
    TrustedEnvironment,
    /// A discrete secure element (StrongBox).
    StrongBox,
}
codec_unit_enum!(SecurityLevel { Software = 0, TrustedEnvironment = 1, StrongBox = 2 });

/// The format of attestation evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvidenceFormat {
    /// An Android Key Attestation certificate chain, DER, leaf first.
    AndroidKeyChain,
    /// An Apple App Attest attestation object (CBOR) with its key id.
    AppleAppAttest,
}
codec_unit_enum!(EvidenceFormat { AndroidKeyChain = 0, AppleAppAttest = 1 });

/// Attestation evidence as the device produced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evidence {
    /// How to read `parts`.
    pub format: EvidenceFormat,
    /// Android: the chain's certificates (DER), leaf first. Apple: the
    /// attestation object, then the key id (the challenge is the client
    /// data).
    pub parts: Vec<Bytes>,
}
codec_struct!(Evidence { format, parts });

/// What a verifier established about a device from valid evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttestationSummary {
    /// The attesting platform.
    pub platform: Platform,
    /// Where the key lives.
    pub security_level: SecurityLevel,
    /// The attested public key.
    pub key: DeviceKey,
    /// The challenge the attestation was made for.
    pub challenge: Bytes,
    /// Verified boot state is `Verified` (always true on iOS).
    pub verified_boot: bool,
    /// The bootloader is locked (always true on iOS).
    pub device_locked: bool,
    /// OS patch level as `YYYYMM` (0 if unknown).
    pub patch_level: u32,
    /// Digests of the attesting app's signing certificates (Android) or the
    /// app id hash (iOS).
    pub app_digests: Vec<Hash>,
    /// Serial numbers of every certificate in the chain, for revocation.
    pub serials: Vec<Bytes>,
}
codec_struct!(AttestationSummary {
    platform,
    security_level,
    key,
    challenge,
    verified_boot,
    device_locked,
    patch_level,
    app_digests,
    serials,
});

/// The challenge a device must attest to register (docs/DESIGN.md §4):
/// `H(chain id ‖ owner ‖ device key ‖ recent block hash)`. It binds the
/// attestation to one chain, one owner, one key and a recent moment, so it
/// cannot be replayed anywhere else.
#[must_use]
pub fn registration_challenge(
    chain_id: &str,
    owner: &AccountId,
    key: &DeviceKey,
    anchor_block: &Hash,
) -> Hash {
    Hash::of(
        Domain::Challenge,
        &[
            chain_id.as_bytes(),
            &owner.0,
            &key.encode(),
            &anchor_block.0,
        ],
    )
}

/// Why attestation evidence was refused, in words a device owner can act on
/// (the verifier's typed error, rendered).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttestationFailure(pub String);

impl std::fmt::Display for AttestationFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a verifier is asked to establish.
#[derive(Clone, Copy, Debug)]
pub struct VerifyRequest<'a> {
    /// Trust roots, revocation list, allowlist and device rules.
    pub policy: &'a AttestationPolicy,
    /// The challenge the evidence must carry.
    pub challenge: &'a [u8],
    /// The time to verify at (the block time on the ledger).
    pub now: Timestamp,
}

/// Checks attestation evidence: chain to a trusted root, validity at
/// `now`, revocation, and the policy's device rules, returning what it
/// established. Implemented by the `attest` crate; the ledger calls it
/// through this trait so neither knows the other.
pub trait AttestationVerifier {
    /// Verifies `evidence` against `request`.
    ///
    /// # Errors
    /// [`AttestationFailure`] saying what was wrong and what to do.
    fn verify(
        &self,
        evidence: &Evidence,
        request: &VerifyRequest<'_>,
    ) -> Result<AttestationSummary, AttestationFailure>;
}

/// CPU architecture of a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// 64-bit ARM (phones).
    Aarch64,
    /// x86-64.
    X86_64,
    /// Anything else.
    Other,
}
codec_unit_enum!(Arch { Aarch64 = 0, X86_64 = 1, Other = 2 });

/// What a device can run, as it declares at registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// CPU architecture.
    pub arch: Arch,
    /// Memory available to tasks, in MiB.
    pub memory_mib: u32,
    /// Relative speed (a benchmark score; 100 = reference phone).
    pub speed: u32,
    /// Tasks it runs at once.
    pub slots: u16,
    /// Runs WASM tasks.
    pub wasm: bool,
    /// Runs ONNX tasks.
    pub onnx: bool,
}
codec_struct!(Capabilities {
    arch,
    memory_mib,
    speed,
    slots,
    wasm,
    onnx
});

impl Default for Capabilities {
    fn default() -> Self {
        Self {
            arch: Arch::X86_64,
            memory_mib: 1024,
            speed: 100,
            slots: 4,
            wasm: true,
            onnx: true,
        }
    }
}

/// Reads a `YYYYMM` or `YYYYMMDD` patch level into months since year 0.
#[must_use]
pub fn patch_months(patch_level: u32) -> Option<u32> {
    let (year, month) = if patch_level > 999_999 {
        (patch_level / 10_000, (patch_level / 100) % 100)
    } else {
        (patch_level / 100, patch_level % 100)
    };
    (1..=12).contains(&month).then(|| year * 12 + month - 1)
}

/// Months since year 0 of a Unix time, in UTC (the proleptic Gregorian
/// calendar), so patch-age rules can use the block time.
#[must_use]
pub fn unix_months(unix_secs: u64) -> u32 {
    // Days since 1970-01-01 to civil date (Howard Hinnant's algorithm).
    let days = i64::try_from(unix_secs / 86_400).unwrap_or(i64::MAX / 2);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    u32::try_from(year * 12 + month - 1).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_months_from_unix_time() {
        // 2026-11-24T00:00:00Z
        assert_eq!(unix_months(1_795_478_400), 2026 * 12 + 10);
        assert_eq!(unix_months(0), 1970 * 12);
        assert_eq!(patch_months(202_212), Some(2022 * 12 + 11));
        assert_eq!(patch_months(20_240_105), Some(2024 * 12));
        assert_eq!(patch_months(202_213), None);
    }
}

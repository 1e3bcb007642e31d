//! The development CA (docs/DESIGN.md §6): a local root and intermediate,
//! derived from a seed, that issue Android-format attestation chains whose
//! leaves carry a real KeyDescription with a chosen challenge, security
//! level, boot state and patch level. Dev chains run through the same
//! verifier as real phones; a network trusts the dev root only if its
//! genesis lists it.
//!
//! Keys are Ed25519, derived from the seed, and every field is fixed, so
//! the same seed always yields the same root: `verigrid dev` and its agents
//! agree on it without exchanging files.

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PKCS_ED25519, PublicKeyData, SerialNumber,
    SignatureAlgorithm, date_time_ymd,
};
use ring::digest::{SHA256, digest};
use verigrid_types::crypto::DeviceKey;
use verigrid_types::device::{SecurityLevel, unix_months};

use crate::key_description::{
    self, ApplicationId, AuthorizationList, BootState, KeyDescription, PackageInfo, RootOfTrust,
};

/// The package name dev agents attest as.
pub const DEV_AGENT_PACKAGE: &str = "xyz.verigrid.agent";

/// Seed of the development CA every dev and localnet chain trusts (a dev
/// chain is public by design: anyone may attest to it, no one else
/// trusts it).
pub const DEV_CA_SEED: [u8; 32] = [0xde; 32];

/// Why the development CA could not issue a certificate.
#[derive(Debug, thiserror::Error)]
#[error("development CA: {0}")]
pub struct DevCaError(String);

impl From<rcgen::Error> for DevCaError {
    fn from(e: rcgen::Error) -> Self {
        Self(e.to_string())
    }
}

/// An Ed25519 key pair from a 32-byte seed (PKCS#8 v1).
///
/// # Errors
/// Never for a 32-byte seed; the error is rcgen's.
pub fn ed25519_key_pair(seed: &[u8; 32]) -> Result<KeyPair, DevCaError> {
    const PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let der = [PREFIX.as_slice(), seed].concat();
    Ok(KeyPair::try_from(der.as_slice())?)
}

fn derive(seed: &[u8; 32], label: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, &[label.as_bytes(), seed].concat()).as_ref());
    out
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

/// A device key as rcgen sees a subject's public key.
struct SubjectKey {
    raw: Vec<u8>,
    algorithm: &'static SignatureAlgorithm,
}

impl PublicKeyData for SubjectKey {
    fn der_bytes(&self) -> &[u8] {
        &self.raw
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.algorithm
    }
}

/// What a development leaf attests.
#[derive(Clone, Debug)]
pub struct DevLeaf {
    /// The device key being attested.
    pub key: DeviceKey,
    /// The challenge (the ledger's registration challenge).
    pub challenge: Vec<u8>,
    /// The claimed security level.
    pub security_level: SecurityLevel,
    /// The claimed verified-boot state.
    pub boot_state: BootState,
    /// The claimed bootloader lock.
    pub locked: bool,
    /// The claimed OS patch level (`YYYYMM`).
    pub os_patch_level: u64,
    /// The attesting app's package.
    pub package: String,
    /// SHA-256 of the app's signing certificate.
    pub signing_digest: Vec<u8>,
    /// KeyDescription schema version.
    pub attestation_version: u64,
    /// The leaf's serial number.
    pub serial: u64,
}

impl DevLeaf {
    /// A leaf for a healthy device: TEE, verified boot, locked, patched in
    /// the month of `now_secs` (Unix seconds), attested by the dev agent.
    #[must_use]
    pub fn healthy(key: DeviceKey, challenge: &[u8], now_secs: u64) -> Self {
        let months = unix_months(now_secs);
        Self {
            key,
            challenge: challenge.to_vec(),
            security_level: SecurityLevel::TrustedEnvironment,
            boot_state: BootState::Verified,
            locked: true,
            os_patch_level: u64::from(months / 12) * 100 + u64::from(months % 12) + 1,
            package: DEV_AGENT_PACKAGE.into(),
            signing_digest: dev_agent_digest().to_vec(),
            attestation_version: 300,
            serial: 1,
        }
    }

    /// The KeyDescription this leaf carries.
    #[must_use]
    pub fn key_description(&self) -> KeyDescription {
        KeyDescription {
            attestation_version: self.attestation_version,
            attestation_security_level: self.security_level,
            keymint_version: self.attestation_version,
            keymint_security_level: self.security_level,
            challenge: self.challenge.clone(),
            unique_id: Vec::new(),
            software_enforced: AuthorizationList {
                application_id: Some(ApplicationId {
                    packages: vec![PackageInfo {
                        name: self.package.clone(),
                        version: 1,
                    }],
                    signature_digests: vec![self.signing_digest.clone()],
                }),
                tags_ordered: true,
                ..AuthorizationList::default()
            },
            hardware_enforced: AuthorizationList {
                purposes: vec![2],
                algorithm: Some(3),
                no_auth_required: true,
                origin: Some(0),
                root_of_trust: Some(RootOfTrust {
                    verified_boot_key: vec![0x5a; 32],
                    device_locked: self.locked,
                    verified_boot_state: self.boot_state,
                    verified_boot_hash: Some(vec![0xa5; 32]),
                }),
                os_version: Some(150_000),
                os_patch_level: Some(self.os_patch_level),
                tags_ordered: true,
                ..AuthorizationList::default()
            },
        }
    }
}

/// The signing digest dev agents claim (SHA-256 of a fixed label).
#[must_use]
pub fn dev_agent_digest() -> [u8; 32] {
    derive(&[0; 32], "verigrid dev agent signing certificate")
}

/// The development CA: a root and an intermediate, both Ed25519.
pub struct DevCa {
    root_der: Vec<u8>,
    intermediate_params: CertificateParams,
    intermediate_key: KeyPair,
    intermediate_der: Vec<u8>,
}

impl std::fmt::Debug for DevCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevCa").finish_non_exhaustive()
    }
}

impl DevCa {
    /// The CA for `seed`: the same seed always gives the same root.
    ///
    /// # Errors
    /// [`DevCaError`] if rcgen refuses a parameter (a bug).
    pub fn from_seed(seed: &[u8; 32]) -> Result<Self, DevCaError> {
        let root_key = ed25519_key_pair(&derive(seed, "verigrid dev attestation root"))?;
        let mut root_params = CertificateParams::default();
        root_params.distinguished_name = name("verigrid development attestation root");
        root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        root_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        root_params.serial_number = Some(SerialNumber::from_slice(&[0x7e, 0x57]));
        root_params.not_before = date_time_ymd(2025, 1, 1);
        root_params.not_after = date_time_ymd(2075, 1, 1);
        let root = root_params.self_signed(&root_key)?;

        let intermediate_key = ed25519_key_pair(&derive(seed, "verigrid dev attestation ca"))?;
        let mut intermediate_params = CertificateParams::default();
        intermediate_params.distinguished_name = name("verigrid development attestation CA");
        intermediate_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        intermediate_params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        intermediate_params.serial_number = Some(SerialNumber::from_slice(&[0x7e, 0x58]));
        intermediate_params.not_before = date_time_ymd(2025, 1, 1);
        intermediate_params.not_after = date_time_ymd(2075, 1, 1);
        let issuer = Issuer::from_params(&root_params, &root_key);
        let intermediate = intermediate_params.signed_by(&intermediate_key, &issuer)?;
        Ok(Self {
            root_der: root.der().to_vec(),
            intermediate_der: intermediate.der().to_vec(),
            intermediate_params,
            intermediate_key,
        })
    }

    /// The root certificate (DER): put it in a dev genesis's trust roots.
    #[must_use]
    pub fn root_der(&self) -> &[u8] {
        &self.root_der
    }

    /// The intermediate certificate (DER).
    #[must_use]
    pub fn intermediate_der(&self) -> &[u8] {
        &self.intermediate_der
    }

    /// Issues a chain (DER, leaf first, root last) attesting `leaf`.
    ///
    /// # Errors
    /// [`DevCaError`] if rcgen refuses a parameter (a bug).
    pub fn issue(&self, leaf: &DevLeaf) -> Result<Vec<Vec<u8>>, DevCaError> {
        self.issue_with(
            leaf,
            &key_description::encode::key_description(&leaf.key_description()),
        )
    }

    /// Issues a chain whose leaf carries `extension` as its KeyDescription
    /// bytes, whatever they hold (for tests of malformed extensions).
    ///
    /// # Errors
    /// [`DevCaError`] if rcgen refuses a parameter (a bug).
    pub fn issue_with(&self, leaf: &DevLeaf, extension: &[u8]) -> Result<Vec<Vec<u8>>, DevCaError> {
        let subject = match leaf.key {
            DeviceKey::Ed25519(raw) => SubjectKey {
                raw: raw.to_vec(),
                algorithm: &PKCS_ED25519,
            },
            DeviceKey::P256(raw) => SubjectKey {
                raw: raw.to_vec(),
                algorithm: &PKCS_ECDSA_P256_SHA256,
            },
        };
        let mut params = CertificateParams::default();
        params.distinguished_name = name("Android Keystore Key");
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.serial_number = Some(SerialNumber::from_slice(&leaf.serial.to_be_bytes()));
        params.not_before = date_time_ymd(1970, 1, 1);
        params.not_after = date_time_ymd(2048, 1, 1);
        params.custom_extensions = vec![CustomExtension::from_oid_content(
            &[1, 3, 6, 1, 4, 1, 11129, 2, 1, 17],
            extension.to_vec(),
        )];
        let issuer = Issuer::from_params(&self.intermediate_params, &self.intermediate_key);
        let cert = params.signed_by(&subject, &issuer)?;
        Ok(vec![
            cert.der().to_vec(),
            self.intermediate_der.clone(),
            self.root_der.clone(),
        ])
    }
}

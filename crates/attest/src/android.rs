//! Android Key Attestation: a certificate chain whose leaf certifies the
//! device's key and carries the KeyDescription written by the secure
//! hardware (docs/DESIGN.md §6).

use verigrid_types::device::SecurityLevel;
use x509_parser::prelude::X509Certificate;

use crate::cert::{self, KeyKind};
use crate::chain::{self, ChainRules, RootKind, TrustStore, VerifiedChain};
use crate::error::{AttestError, Result};
use crate::key_description::{self, KeyDescription};

/// The key a leaf certificate attests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttestedKey {
    /// EC P-256, uncompressed point (65 bytes): Android Keystore device keys.
    P256([u8; 65]),
    /// Ed25519 (development chains).
    Ed25519([u8; 32]),
    /// A key verigrid cannot use as a device key (RSA, P-384, …); the chain
    /// can still be valid.
    Unusable(KeyKind),
}

/// What a valid Android attestation established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AndroidAttestation {
    /// The verified chain.
    pub chain: VerifiedChain,
    /// The leaf's KeyDescription.
    pub key_description: KeyDescription,
    /// The attested key.
    pub key: AttestedKey,
}

impl AndroidAttestation {
    /// Where the key lives, as far as the chain can prove it: a chain ending
    /// at a software root is software-level whatever it claims; otherwise
    /// the KeyDescription's attestation level (the lower of the two levels
    /// it states).
    #[must_use]
    pub fn security_level(&self) -> SecurityLevel {
        match self.chain.root {
            RootKind::Software => SecurityLevel::Software,
            RootKind::Hardware => self
                .key_description
                .attestation_security_level
                .min(self.key_description.keymint_security_level),
        }
    }
}

/// Verifies an attestation chain (DER certificates, leaf first) at `now`
/// (Unix seconds): the chain to a root in `store`, then the leaf's
/// KeyDescription. Policy (challenge, level, boot state, …) is checked
/// separately by [`crate::Policy`].
///
/// # Errors
/// The first failure, as an [`AttestError`].
pub fn verify(chain_der: &[Vec<u8>], store: &TrustStore, now: i64) -> Result<AndroidAttestation> {
    if chain_der.is_empty() {
        return Err(AttestError::EmptyChain);
    }
    if chain_der.len() > chain::MAX_CHAIN {
        return Err(AttestError::ChainTooLong(chain_der.len()));
    }
    let certs = chain_der
        .iter()
        .enumerate()
        .map(|(index, der)| cert::parse(der, index))
        .collect::<Result<Vec<_>>>()?;
    // Only the leaf may carry a KeyDescription: a certificate added below
    // the attested key (signed by it) would otherwise pass as the leaf.
    if let Some(index) = (1..certs.len()).find(|i| key_description_bytes(&certs[*i]).is_some()) {
        return Err(AttestError::CertificateBelowLeaf { index });
    }
    let rules = ChainRules {
        check_leaf_validity: false,
        factory_exemption: true,
    };
    let chain = chain::verify(&certs, store, now, rules)?;
    let leaf = &certs[0];
    let key_description = parse_leaf_extension(leaf)?;
    Ok(AndroidAttestation {
        chain,
        key_description,
        key: attested_key(leaf),
    })
}

/// Parses the KeyDescription of one DER leaf certificate without checking
/// any signature (for inspection tools and tests).
///
/// # Errors
/// If the certificate or its extension is malformed or absent.
pub fn parse_leaf(der: &[u8]) -> Result<KeyDescription> {
    parse_leaf_extension(&cert::parse(der, 0)?)
}

fn parse_leaf_extension(leaf: &X509Certificate<'_>) -> Result<KeyDescription> {
    let bytes = key_description_bytes(leaf).ok_or(AttestError::MissingKeyDescription)?;
    KeyDescription::parse(bytes).map_err(|e| AttestError::MalformedKeyDescription(e.to_string()))
}

fn key_description_bytes<'a>(cert: &X509Certificate<'a>) -> Option<&'a [u8]> {
    cert.extensions()
        .iter()
        .find(|ext| ext.oid.to_id_string() == key_description::OID)
        .map(|ext| ext.value)
}

fn attested_key(leaf: &X509Certificate<'_>) -> AttestedKey {
    let spki = leaf.public_key();
    let raw: &[u8] = &spki.subject_public_key.data;
    match cert::key_kind(spki) {
        KeyKind::P256 => raw
            .try_into()
            .map_or(AttestedKey::Unusable(KeyKind::P256), AttestedKey::P256),
        KeyKind::Ed25519 => raw.try_into().map_or(
            AttestedKey::Unusable(KeyKind::Ed25519),
            AttestedKey::Ed25519,
        ),
        other => AttestedKey::Unusable(other),
    }
}

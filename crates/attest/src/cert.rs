//! Certificates: parsing (x509-parser), public keys and signature checks
//! (ring), in every algorithm mix real attestation chains use: RSA PKCS#1
//! v1.5 and ECDSA on P-256/P-384 with SHA-256/384, plus Ed25519 for
//! development chains.

use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::{AlgorithmIdentifier, SubjectPublicKeyInfo};

use crate::error::{AttestError, Result};

const RSA: &str = "1.2.840.113549.1.1.1";
const RSA_SHA256: &str = "1.2.840.113549.1.1.11";
const RSA_SHA384: &str = "1.2.840.113549.1.1.12";
const RSA_SHA512: &str = "1.2.840.113549.1.1.13";
const EC: &str = "1.2.840.10045.2.1";
const ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
const ECDSA_SHA384: &str = "1.2.840.10045.4.3.3";
const ED25519: &str = "1.3.101.112";
const P256: &str = "1.2.840.10045.3.1.7";
const P384: &str = "1.3.132.0.34";

/// The kind of a certificate's public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA with a modulus of this many bits.
    Rsa(usize),
    /// ECDSA on P-256.
    P256,
    /// ECDSA on P-384.
    P384,
    /// Ed25519.
    Ed25519,
    /// Anything else (the algorithm OID).
    Other(String),
}

impl std::fmt::Display for KeyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rsa(bits) => write!(f, "RSA-{bits}"),
            Self::P256 => f.write_str("EC P-256"),
            Self::P384 => f.write_str("EC P-384"),
            Self::Ed25519 => f.write_str("Ed25519"),
            Self::Other(oid) => write!(f, "an unknown key type ({oid})"),
        }
    }
}

/// Parses one DER certificate at position `index` of a chain.
///
/// # Errors
/// [`AttestError::MalformedCertificate`] if it is not exactly one X.509
/// certificate.
pub fn parse(der: &[u8], index: usize) -> Result<X509Certificate<'_>> {
    let malformed = |reason: String| AttestError::MalformedCertificate { index, reason };
    let (rest, cert) = X509Certificate::from_der(der).map_err(|e| malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(malformed("bytes after the certificate".into()));
    }
    Ok(cert)
}

/// Reads every `CERTIFICATE` block of PEM text, in order, as DER.
///
/// # Errors
/// [`AttestError::Pem`] if the text holds no certificate or a block is not
/// valid base64.
pub fn pem_chain(text: &[u8]) -> Result<Vec<Vec<u8>>> {
    let mut ders = Vec::new();
    for block in x509_parser::pem::Pem::iter_from_buffer(text) {
        let block = block.map_err(|e| AttestError::Pem(e.to_string()))?;
        if block.label == "CERTIFICATE" {
            ders.push(block.contents);
        }
    }
    if ders.is_empty() {
        return Err(AttestError::Pem("no CERTIFICATE block found".into()));
    }
    Ok(ders)
}

/// What kind of key `spki` holds.
#[must_use]
pub fn key_kind(spki: &SubjectPublicKeyInfo<'_>) -> KeyKind {
    let algorithm = spki.algorithm.algorithm.to_id_string();
    match algorithm.as_str() {
        RSA => match spki.parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => KeyKind::Rsa(rsa.key_size()),
            _ => KeyKind::Other(algorithm),
        },
        EC => match curve(&spki.algorithm).as_deref() {
            Some(P256) => KeyKind::P256,
            Some(P384) => KeyKind::P384,
            Some(other) => KeyKind::Other(format!("EC curve {other}")),
            None => KeyKind::Other("EC without a named curve".into()),
        },
        ED25519 => KeyKind::Ed25519,
        _ => KeyKind::Other(algorithm),
    }
}

fn curve(algorithm: &AlgorithmIdentifier<'_>) -> Option<String> {
    let params = algorithm.parameters.as_ref()?;
    params.as_oid().ok().map(|oid| oid.to_id_string())
}

/// Whether an algorithm identifier's parameters are absent or an explicit
/// NULL (some devices write NULL where RFC 5758 says absent; both mean "no
/// parameters").
fn no_parameters(algorithm: &AlgorithmIdentifier<'_>) -> bool {
    algorithm
        .parameters
        .as_ref()
        .is_none_or(|p| p.tag() == x509_parser::der_parser::asn1_rs::Tag::Null && p.data.is_empty())
}

/// Checks that `issuer` signed `cert` (at position `index`).
///
/// `allow_legacy_rsa` admits RSA keys shorter than 2048 bits (only Google's
/// software attestation root has one; a chain ending there never counts as
/// hardware).
///
/// # Errors
/// [`AttestError::UnsupportedAlgorithm`] or [`AttestError::BadSignature`].
pub fn verify_signed_by(
    cert: &X509Certificate<'_>,
    issuer: &SubjectPublicKeyInfo<'_>,
    index: usize,
    allow_legacy_rsa: bool,
) -> Result<()> {
    let outer = &cert.signature_algorithm;
    let unsupported = |algorithm: String| AttestError::UnsupportedAlgorithm { index, algorithm };
    if outer.algorithm != cert.tbs_certificate.signature.algorithm {
        return Err(unsupported(
            "the signed and unsigned algorithm identifiers differ".into(),
        ));
    }
    let sig_oid = outer.algorithm.to_id_string();
    if !no_parameters(outer) {
        return Err(unsupported(format!("{sig_oid} with parameters")));
    }
    let key = key_kind(issuer);
    let algorithm: &'static dyn VerificationAlgorithm = match (sig_oid.as_str(), &key) {
        (RSA_SHA256, KeyKind::Rsa(bits)) if *bits < 2048 && allow_legacy_rsa => {
            &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
        }
        (RSA_SHA256, KeyKind::Rsa(_)) => &signature::RSA_PKCS1_2048_8192_SHA256,
        (RSA_SHA384, KeyKind::Rsa(_)) => &signature::RSA_PKCS1_2048_8192_SHA384,
        (RSA_SHA512, KeyKind::Rsa(_)) => &signature::RSA_PKCS1_2048_8192_SHA512,
        (ECDSA_SHA256, KeyKind::P256) => &signature::ECDSA_P256_SHA256_ASN1,
        (ECDSA_SHA384, KeyKind::P256) => &signature::ECDSA_P256_SHA384_ASN1,
        (ECDSA_SHA256, KeyKind::P384) => &signature::ECDSA_P384_SHA256_ASN1,
        (ECDSA_SHA384, KeyKind::P384) => &signature::ECDSA_P384_SHA384_ASN1,
        (ED25519, KeyKind::Ed25519) => &signature::ED25519,
        _ => return Err(unsupported(format!("signature {sig_oid} by a {key} key"))),
    };
    UnparsedPublicKey::new(algorithm, &issuer.subject_public_key.data)
        .verify(cert.tbs_certificate.as_ref(), &cert.signature_value.data)
        .map_err(|_| AttestError::BadSignature { index })
}

/// A certificate's serial number as big-endian bytes without leading zeros
/// (the form revocation lists use).
#[must_use]
pub fn serial(cert: &X509Certificate<'_>) -> Vec<u8> {
    let raw = cert.raw_serial();
    let skip = raw.iter().take_while(|b| **b == 0).count();
    let trimmed = &raw[skip..];
    if trimmed.is_empty() {
        vec![0]
    } else {
        trimmed.to_vec()
    }
}

/// A serial as Google's status list writes it: lowercase hex, no leading
/// zeros.
#[must_use]
pub fn serial_hex(serial: &[u8]) -> String {
    let hex = verigrid_types::hash::hex(serial);
    let trimmed = hex.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".into()
    } else {
        trimmed.into()
    }
}

//! Certificate chains: from a leaf up to a configured trust root, every link
//! checked (docs/DESIGN.md §6).
//!
//! - The chain's top is matched to a trust root **by public key**, not by
//!   certificate bytes: Google re-issued its RSA root four times with one
//!   key, and a chain ending in an expired issue is still genuine. A chain
//!   may also stop below the root (Apple's x5c does), then the top must be
//!   signed by a trust root.
//! - Every link: issuer name = the next certificate's subject, signature by
//!   the next certificate's key, the issuer is a CA (basicConstraints, and
//!   keyCertSign if keyUsage is present) within its path-length limit.
//! - Validity at the given time, except: the root (trusted by key), the leaf
//!   when the platform says so (Android sets it on the device, so it proves
//!   nothing), and the intermediates of factory-provisioned Android chains,
//!   whose keys were burned in at the factory and whose certificates cannot
//!   be renewed. Remotely provisioned (RKP) chains honour expiry.

use x509_parser::prelude::X509Certificate;

use crate::cert::{self, KeyKind};
use crate::error::{AttestError, Result};

/// The longest chain accepted (real ones have at most five certificates).
pub const MAX_CHAIN: usize = 8;

/// What a chain ending at a root proves about the key's storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootKind {
    /// A hardware attestation root (or the configured development CA): the
    /// KeyDescription's security level is believed.
    Hardware,
    /// A software attestation root: the key is software-backed whatever
    /// the chain claims.
    Software,
}

/// One trusted root, kept as its public key.
#[derive(Clone, Debug)]
pub struct TrustAnchor {
    spki: Vec<u8>,
    subject: Vec<u8>,
    name: String,
    kind: RootKind,
}

impl TrustAnchor {
    /// The root's subject, for messages.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What chains ending here prove.
    #[must_use]
    pub fn kind(&self) -> RootKind {
        self.kind
    }
}

/// The set of trusted roots.
#[derive(Clone, Debug, Default)]
pub struct TrustStore {
    anchors: Vec<TrustAnchor>,
}

impl TrustStore {
    /// An empty store: trusts nothing.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts the key of the DER certificate `der` as a root of `kind`.
    ///
    /// # Errors
    /// If `der` is not a certificate.
    pub fn add_der(&mut self, der: &[u8], kind: RootKind) -> Result<()> {
        let cert = cert::parse(der, 0)?;
        let spki = cert.public_key().raw.to_vec();
        if let Some(existing) = self.anchors.iter_mut().find(|a| a.spki == spki) {
            // A re-issue of a known key: a software mark is never lifted.
            if kind == RootKind::Software {
                existing.kind = RootKind::Software;
            }
            return Ok(());
        }
        self.anchors.push(TrustAnchor {
            spki,
            subject: cert.subject().as_raw().to_vec(),
            name: cert.subject().to_string(),
            kind,
        });
        Ok(())
    }

    /// Trusts every certificate in PEM text as a root of `kind`.
    ///
    /// # Errors
    /// If the text holds no valid certificate.
    pub fn add_pem(&mut self, pem: &[u8], kind: RootKind) -> Result<()> {
        for der in cert::pem_chain(pem)? {
            self.add_der(&der, kind)?;
        }
        Ok(())
    }

    /// The anchors.
    #[must_use]
    pub fn anchors(&self) -> &[TrustAnchor] {
        &self.anchors
    }

    fn by_key(&self, spki: &[u8]) -> Option<&TrustAnchor> {
        self.anchors.iter().find(|a| a.spki == spki)
    }
}

/// How the chain's attestation key was provisioned (Android).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provisioning {
    /// Burned in at the factory: the certificate just below the root names
    /// the secure hardware (`serialNumber` and `title` TEE/StrongBox).
    Factory,
    /// Anything else: remotely provisioned (RKP), Apple, development.
    Other,
}

/// Rules that differ between platforms.
#[derive(Clone, Copy, Debug)]
pub struct ChainRules {
    /// Check the leaf's validity window (Apple: yes; Android: no).
    pub check_leaf_validity: bool,
    /// Exempt factory-provisioned intermediates from expiry (Android).
    pub factory_exemption: bool,
}

/// What a successful chain check established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedChain {
    /// What the root proves.
    pub root: RootKind,
    /// The root's subject.
    pub root_name: String,
    /// How the attestation key was provisioned.
    pub provisioning: Provisioning,
    /// Every certificate's serial (big-endian, no leading zeros), leaf
    /// first.
    pub serials: Vec<Vec<u8>>,
}

impl VerifiedChain {
    /// The serials as the ledger records them.
    #[must_use]
    pub fn serial_bytes(&self) -> Vec<verigrid_types::codec::Bytes> {
        self.serials
            .iter()
            .cloned()
            .map(verigrid_types::codec::Bytes)
            .collect()
    }
}

/// Verifies `certs` (parsed, leaf first) against `store` at `now` (Unix
/// seconds).
///
/// # Errors
/// The first check that fails, as an [`AttestError`].
pub fn verify(
    certs: &[X509Certificate<'_>],
    store: &TrustStore,
    now: i64,
    rules: ChainRules,
) -> Result<VerifiedChain> {
    let (Some(top), Some(_)) = (certs.last(), certs.first()) else {
        return Err(AttestError::EmptyChain);
    };
    if certs.len() > MAX_CHAIN {
        return Err(AttestError::ChainTooLong(certs.len()));
    }
    // Find the anchor: the top is the root itself, or is signed by one.
    let (anchor, links) = match store.by_key(top.public_key().raw) {
        Some(anchor) if certs.len() > 1 => (anchor, certs.len() - 1),
        _ => {
            let anchor = store
                .anchors
                .iter()
                .filter(|a| a.subject == top.issuer().as_raw())
                .find(|a| verify_by_anchor(top, a, certs.len() - 1).is_ok())
                .ok_or_else(|| AttestError::UntrustedRoot {
                    subject: top.subject().to_string(),
                })?;
            (anchor, certs.len())
        }
    };
    let provisioning = if links < certs.len() && certs.len() >= 3 && is_factory(&certs[links - 1]) {
        Provisioning::Factory
    } else {
        Provisioning::Other
    };
    let legacy_rsa = anchor.kind == RootKind::Software;
    for index in 0..links {
        let child = &certs[index];
        if let Some(issuer) = certs.get(index + 1) {
            if child.issuer().as_raw() != issuer.subject().as_raw() {
                return Err(AttestError::NameChaining { index });
            }
            check_ca(issuer, index + 1)?;
            cert::verify_signed_by(child, issuer.public_key(), index, legacy_rsa)?;
        }
        let exempt = (index == 0 && !rules.check_leaf_validity)
            || (index > 0 && rules.factory_exemption && provisioning == Provisioning::Factory);
        if !exempt {
            check_validity(child, index, now)?;
        }
    }
    Ok(VerifiedChain {
        root: anchor.kind,
        root_name: anchor.name.clone(),
        provisioning,
        serials: certs.iter().map(cert::serial).collect(),
    })
}

fn verify_by_anchor(cert: &X509Certificate<'_>, anchor: &TrustAnchor, index: usize) -> Result<()> {
    let (_, spki) = <x509_parser::x509::SubjectPublicKeyInfo as x509_parser::prelude::FromDer<
        x509_parser::error::X509Error,
    >>::from_der(&anchor.spki)
    .map_err(|e| AttestError::MalformedCertificate {
        index,
        reason: format!("trust anchor key: {e}"),
    })?;
    cert::verify_signed_by(cert, &spki, index, false)
}

fn check_ca(issuer: &X509Certificate<'_>, index: usize) -> Result<()> {
    let malformed = |e: x509_parser::error::X509Error| AttestError::MalformedCertificate {
        index,
        reason: e.to_string(),
    };
    let constraints = issuer.basic_constraints().map_err(malformed)?;
    let Some(constraints) = constraints.filter(|c| c.value.ca) else {
        return Err(AttestError::NotCa { index });
    };
    if let Some(usage) = issuer.key_usage().map_err(malformed)?
        && !usage.value.key_cert_sign()
    {
        return Err(AttestError::NotCa { index });
    }
    // Intermediates strictly between the leaf and this issuer.
    let below = index.saturating_sub(1);
    if let Some(allowed) = constraints.value.path_len_constraint
        && below > usize::try_from(allowed).unwrap_or(usize::MAX)
    {
        return Err(AttestError::PathLength {
            index,
            allowed,
            actual: below,
        });
    }
    Ok(())
}

fn check_validity(cert: &X509Certificate<'_>, index: usize, now: i64) -> Result<()> {
    let validity = cert.validity();
    let not_before = validity.not_before.timestamp();
    let not_after = validity.not_after.timestamp();
    if now < not_before {
        return Err(AttestError::NotYetValid { index, not_before });
    }
    if now > not_after {
        return Err(AttestError::Expired { index, not_after });
    }
    Ok(())
}

/// Google's rule for a factory-provisioned intermediate: its subject has a
/// serialNumber and a title naming the secure hardware.
fn is_factory(cert: &X509Certificate<'_>) -> bool {
    let mut serial = false;
    let mut title = false;
    for attr in cert.subject().iter_attributes() {
        match attr.attr_type().to_id_string().as_str() {
            "2.5.4.5" => serial = true,
            "2.5.4.12" => title = matches!(attr.as_str(), Ok("TEE" | "StrongBox")),
            _ => {}
        }
    }
    serial && title
}

/// The kind of the leaf's key, for messages and summaries.
#[must_use]
pub fn leaf_key_kind(certs: &[X509Certificate<'_>]) -> Option<KeyKind> {
    certs.first().map(|c| cert::key_kind(c.public_key()))
}

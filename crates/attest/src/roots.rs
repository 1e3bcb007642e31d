//! Published trust roots, shipped as PEM files under `crates/attest/roots/`
//! (public certificates). They are *data for building a genesis*: which
//! roots a network trusts is a ledger parameter, never decided here. The
//! one thing this crate decides on its own is that Google's software
//! attestation roots prove nothing about hardware, wherever they are
//! configured.

use crate::cert;

/// Google's hardware attestation root (RSA-4096; every re-issue has this
/// key).
pub const GOOGLE_HARDWARE_RSA: &[u8] =
    include_bytes!("../roots/google_hw_attestation_root_rsa4096_2022_f1c172a699eaf51d.pem");
/// Google's "Key Attestation CA1" root (EC P-384, 2025–2035).
pub const GOOGLE_HARDWARE_EC: &[u8] =
    include_bytes!("../roots/google_key_attestation_ca1_ec_p384_2025.pem");
/// Google's software attestation root (EC).
pub const GOOGLE_SOFTWARE_EC: &[u8] =
    include_bytes!("../roots/google_android_software_attestation_root_ec.pem");
/// Google's software attestation root (RSA-1024).
pub const GOOGLE_SOFTWARE_RSA: &[u8] =
    include_bytes!("../roots/google_android_software_attestation_root_rsa1024.pem");
/// Apple's App Attestation root CA (EC P-384).
pub const APPLE_APP_ATTESTATION: &[u8] =
    include_bytes!("../roots/apple_app_attestation_root_ca.pem");

/// DER certificates of the roots a production network trusts: Google's two
/// hardware roots and Apple's App Attestation root.
#[must_use]
pub fn production() -> Vec<Vec<u8>> {
    [
        GOOGLE_HARDWARE_RSA,
        GOOGLE_HARDWARE_EC,
        APPLE_APP_ATTESTATION,
    ]
    .iter()
    .filter_map(|pem| cert::pem_chain(pem).ok())
    .flatten()
    .collect()
}

/// Raw SubjectPublicKeyInfo of Google's software attestation roots.
#[must_use]
pub fn software_root_keys() -> Vec<Vec<u8>> {
    [GOOGLE_SOFTWARE_EC, GOOGLE_SOFTWARE_RSA]
        .iter()
        .filter_map(|pem| cert::pem_chain(pem).ok())
        .flatten()
        .filter_map(|der| {
            cert::parse(&der, 0)
                .ok()
                .map(|c| c.public_key().raw.to_vec())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_roots_parse() {
        assert_eq!(production().len(), 3);
        assert_eq!(software_root_keys().len(), 2);
    }
}

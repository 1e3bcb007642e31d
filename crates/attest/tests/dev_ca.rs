//! Chains from the development CA: the happy path through the ledger's
//! verifier, and every way a chain or device can fail, each with its own
//! error.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

mod common;

use common::{TODAY, unix};
use verigrid_attest::chain::{RootKind, TrustStore};
use verigrid_attest::dev::{DevCa, DevLeaf, dev_agent_digest, ed25519_key_pair};
use verigrid_attest::key_description::BootState;
use verigrid_attest::{AttestError, Policy, RevocationList, Verifier, android};
use verigrid_types::codec::Bytes;
use verigrid_types::device::{
    AttestationVerifier, Evidence, EvidenceFormat, Platform, SecurityLevel, VerifyRequest,
};
use verigrid_types::ids::Timestamp;
use verigrid_types::params::Params;
use verigrid_types::{Hash, SecretKey};

const CHALLENGE: &[u8] = b"registration challenge";

fn now() -> i64 {
    let (y, m, d) = TODAY;
    unix(y, m, d)
}

fn ca() -> DevCa {
    DevCa::from_seed(&[7; 32]).unwrap()
}

fn device() -> SecretKey {
    SecretKey::from_label("dev device")
}

fn leaf() -> DevLeaf {
    DevLeaf::healthy(
        device().device_key(),
        CHALLENGE,
        u64::try_from(now()).unwrap(),
    )
}

fn store(ca: &DevCa) -> TrustStore {
    let mut store = TrustStore::new();
    store.add_der(ca.root_der(), RootKind::Hardware).unwrap();
    store
}

fn policy() -> Policy {
    Policy {
        apps: vec![verigrid_attest::dev::DEV_AGENT_PACKAGE.into()],
        signing_digests: vec![dev_agent_digest().to_vec()],
        ..Policy::strict()
    }
}

/// Verifies `chain` from the default CA under the strict policy.
fn check(chain: &[Vec<u8>]) -> Result<(), AttestError> {
    check_with(chain, &store(&ca()), &policy())
}

fn check_with(chain: &[Vec<u8>], store: &TrustStore, policy: &Policy) -> Result<(), AttestError> {
    let att = android::verify(chain, store, now())?;
    policy.check_android(&att, CHALLENGE, now())
}

#[test]
fn the_same_seed_gives_the_same_root() {
    assert_eq!(
        ca().root_der(),
        DevCa::from_seed(&[7; 32]).unwrap().root_der()
    );
    assert_ne!(
        ca().root_der(),
        DevCa::from_seed(&[8; 32]).unwrap().root_der()
    );
}

#[test]
fn a_healthy_dev_device_passes_the_ledger_verifier() {
    let chain = ca().issue(&leaf()).unwrap();
    check(&chain).unwrap();

    let mut params = Params::new(device().account());
    params.attestation.trust_roots = vec![Bytes(ca().root_der().to_vec())];
    params.attestation.agent_apps = vec![Bytes(verigrid_attest::dev::DEV_AGENT_PACKAGE.into())];
    params.attestation.agent_digests = vec![Hash(dev_agent_digest())];
    let evidence = Evidence {
        format: EvidenceFormat::AndroidKeyChain,
        parts: chain.into_iter().map(Bytes).collect(),
    };
    let request = VerifyRequest {
        policy: &params.attestation,
        challenge: CHALLENGE,
        now: Timestamp(u64::try_from(now()).unwrap() * 1000),
    };
    let summary = Verifier::new().verify(&evidence, &request).unwrap();
    assert_eq!(summary.platform, Platform::Android);
    assert_eq!(summary.key, device().device_key());
    assert_eq!(summary.security_level, SecurityLevel::TrustedEnvironment);
    assert!(summary.verified_boot && summary.device_locked);
    assert_eq!(summary.challenge.0, CHALLENGE);
    assert_eq!(summary.serials.len(), 3);

    // The ledger's message is the verifier's, in words.
    let wrong = VerifyRequest {
        challenge: b"other",
        ..request
    };
    let failure = Verifier::new().verify(&evidence, &wrong).unwrap_err();
    assert!(failure.0.contains("different challenge"), "{failure}");
}

#[test]
fn a_p256_device_key_is_attested_too() {
    let point = {
        let mut p = [0u8; 65];
        p[0] = 4;
        p[1..].copy_from_slice(&[0x42; 64]);
        p
    };
    let leaf = DevLeaf {
        key: verigrid_types::crypto::DeviceKey::P256(point),
        ..leaf()
    };
    let att = android::verify(&ca().issue(&leaf).unwrap(), &store(&ca()), now()).unwrap();
    assert_eq!(att.key, verigrid_attest::AttestedKey::P256(point));
}

#[test]
fn another_root_is_refused() {
    let other = DevCa::from_seed(&[9; 32]).unwrap();
    let err = check_with(&ca().issue(&leaf()).unwrap(), &store(&other), &policy()).unwrap_err();
    assert!(matches!(err, AttestError::UntrustedRoot { .. }), "{err}");
}

#[test]
fn a_dev_root_is_trusted_only_where_configured() {
    let err = check_with(
        &ca().issue(&leaf()).unwrap(),
        &common::google_store(),
        &policy(),
    )
    .unwrap_err();
    assert!(matches!(err, AttestError::UntrustedRoot { .. }), "{err}");
}

#[test]
fn another_challenge_is_refused() {
    let leaf = DevLeaf {
        challenge: b"stale challenge".to_vec(),
        ..leaf()
    };
    assert_eq!(
        check(&ca().issue(&leaf).unwrap()),
        Err(AttestError::ChallengeMismatch)
    );
}

#[test]
fn a_software_key_is_refused_where_tee_is_required() {
    let leaf = DevLeaf {
        security_level: SecurityLevel::Software,
        ..leaf()
    };
    assert_eq!(
        check(&ca().issue(&leaf).unwrap()),
        Err(AttestError::SecurityLevel {
            actual: SecurityLevel::Software,
            required: SecurityLevel::TrustedEnvironment
        })
    );
}

#[test]
fn an_unverified_boot_is_refused() {
    let leaf = DevLeaf {
        boot_state: BootState::Unverified,
        ..leaf()
    };
    assert_eq!(
        check(&ca().issue(&leaf).unwrap()),
        Err(AttestError::BootNotVerified(BootState::Unverified))
    );
}

#[test]
fn an_unlocked_bootloader_is_refused() {
    let leaf = DevLeaf {
        locked: false,
        ..leaf()
    };
    assert_eq!(
        check(&ca().issue(&leaf).unwrap()),
        Err(AttestError::Unlocked)
    );
}

#[test]
fn an_old_patch_level_is_refused() {
    let leaf = DevLeaf {
        os_patch_level: 202_301,
        ..leaf()
    };
    assert_eq!(
        check(&ca().issue(&leaf).unwrap()),
        Err(AttestError::PatchTooOld {
            patch_level: 202_301,
            max_age_months: 12
        })
    );
}

#[test]
fn another_app_is_refused() {
    let leaf = DevLeaf {
        package: "com.example.cloner".into(),
        ..leaf()
    };
    let err = check(&ca().issue(&leaf).unwrap()).unwrap_err();
    assert_eq!(err, AttestError::AppNotAllowed("com.example.cloner".into()));
    let leaf = DevLeaf {
        signing_digest: vec![0; 32],
        ..self::leaf()
    };
    assert_eq!(
        check(&ca().issue(&leaf).unwrap()),
        Err(AttestError::AppSignatureNotAllowed)
    );
}

#[test]
fn a_revoked_serial_is_refused() {
    let leaf = DevLeaf {
        serial: 0xdead_beef,
        ..leaf()
    };
    let policy = Policy {
        revocations: RevocationList::from_status_json(
            br#"{"entries":{"deadbeef":{"status":"REVOKED","reason":"KEY_COMPROMISE"}}}"#,
        )
        .unwrap(),
        ..policy()
    };
    let err = check_with(&ca().issue(&leaf).unwrap(), &store(&ca()), &policy).unwrap_err();
    assert_eq!(
        err,
        AttestError::Revoked {
            serial: "deadbeef".into(),
            status: "REVOKED".into(),
            reason: "KEY_COMPROMISE".into()
        }
    );
}

#[test]
fn a_tampered_extension_breaks_the_leaf_signature() {
    let mut chain = ca().issue(&leaf()).unwrap();
    let at = chain[0]
        .windows(CHALLENGE.len())
        .position(|w| w == CHALLENGE)
        .unwrap();
    chain[0][at] ^= 1;
    assert_eq!(check(&chain), Err(AttestError::BadSignature { index: 0 }));
}

#[test]
fn a_tampered_intermediate_signature_is_refused() {
    let mut chain = ca().issue(&leaf()).unwrap();
    let last = chain[1].len() - 1;
    chain[1][last] ^= 1;
    assert_eq!(check(&chain), Err(AttestError::BadSignature { index: 1 }));
}

#[test]
fn a_certificate_below_the_leaf_is_refused() {
    // An attacker who holds the device key signs a certificate for a key of
    // their own and puts it under the genuine leaf.
    let chain = ca().issue(&leaf()).unwrap();
    let device_key = ed25519_key_pair(&device().seed()).unwrap();
    let attacker = ed25519_key_pair(&[0xaa; 32]).unwrap();
    let mut leaf_params = rcgen::CertificateParams::default();
    leaf_params.distinguished_name = rcgen::DistinguishedName::new();
    leaf_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Android Keystore Key");
    let issuer = rcgen::Issuer::from_params(&leaf_params, &device_key);
    let mut below = rcgen::CertificateParams::default();
    below.distinguished_name = rcgen::DistinguishedName::new();
    below
        .distinguished_name
        .push(rcgen::DnType::CommonName, "attacker");
    let extra = below.signed_by(&attacker, &issuer).unwrap();
    let forged: Vec<Vec<u8>> = std::iter::once(extra.der().to_vec()).chain(chain).collect();
    assert_eq!(
        check(&forged),
        Err(AttestError::CertificateBelowLeaf { index: 1 })
    );
}

#[test]
fn a_malformed_extension_is_refused() {
    let chain = ca().issue_with(&leaf(), &[0x30, 0x03, 0x02, 0x01]).unwrap();
    let err = check(&chain).unwrap_err();
    assert!(
        matches!(err, AttestError::MalformedKeyDescription(_)),
        "{err}"
    );
}

#[test]
fn an_out_of_order_chain_is_refused() {
    let mut chain = ca().issue(&leaf()).unwrap();
    chain.swap(0, 1);
    let err = check(&chain).unwrap_err();
    assert!(
        matches!(
            err,
            AttestError::NameChaining { .. } | AttestError::CertificateBelowLeaf { .. }
        ),
        "{err}"
    );
}

#[test]
fn every_error_tells_the_owner_what_to_do() {
    let chain = ca().issue(&leaf()).unwrap();
    let message = check_with(&chain, &TrustStore::new(), &policy())
        .unwrap_err()
        .to_string();
    assert!(message.contains("trusted root"), "{message}");
    assert!(message.contains("development CA"), "{message}");
}

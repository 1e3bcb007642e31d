//! Android Key Attestation over real chains from real phones
//! (testdata/android, from Google's android/keyattestation).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

mod common;

use base64::Engine as _;
use common::{chain, data, google_store, json, read, unix};
use verigrid_attest::chain::{ChainRules, Provisioning, RootKind, TrustStore};
use verigrid_attest::key_description::BootState;
use verigrid_attest::revocation::RevocationList;
use verigrid_attest::{AttestError, Policy, android, cert};
use verigrid_types::device::SecurityLevel;

fn b64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

fn level(name: &str) -> SecurityLevel {
    match name {
        "SOFTWARE" => SecurityLevel::Software,
        "TRUSTED_ENVIRONMENT" => SecurityLevel::TrustedEnvironment,
        "STRONG_BOX" | "STRONGBOX" => SecurityLevel::StrongBox,
        other => panic!("unknown level {other}"),
    }
}

fn boot(name: &str) -> BootState {
    match name {
        "VERIFIED" => BootState::Verified,
        "SELF_SIGNED" => BootState::SelfSigned,
        "UNVERIFIED" => BootState::Unverified,
        "FAILED" => BootState::Failed,
        other => panic!("unknown boot state {other}"),
    }
}

/// Every `X.pem` with an `X.json` under `testdata/android/testdata`.
fn vectors() -> Vec<String> {
    let mut out = Vec::new();
    for device in [
        "akita/sdk34",
        "blueline/sdk28",
        "marlin/sdk29",
        "tegu/sdk36",
    ] {
        let dir = data(&format!("android/testdata/{device}"));
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if let Some(stem) = name.strip_suffix(".json") {
                out.push(format!("android/testdata/{device}/{stem}"));
            }
        }
    }
    out.sort();
    out
}

fn creation_secs(expected: &serde_json::Value) -> i64 {
    let ms = expected["softwareEnforced"]["creationDateTime"]
        .as_str()
        .or_else(|| expected["hardwareEnforced"]["creationDateTime"].as_str())
        .expect("creationDateTime");
    ms.parse::<i64>().unwrap() / 1000
}

#[test]
fn every_real_chain_verifies_with_the_expected_fields() {
    let store = google_store();
    let vectors = vectors();
    assert_eq!(vectors.len(), 14, "{vectors:?}");
    for stem in vectors {
        let expected = json(&format!("{stem}.json"));
        let now = creation_secs(&expected);
        let att = android::verify(&chain(&format!("{stem}.pem")), &store, now)
            .unwrap_or_else(|e| panic!("{stem}: {e}"));
        let kd = &att.key_description;
        assert_eq!(
            kd.attestation_version.to_string(),
            expected["attestationVersion"].as_str().unwrap(),
            "{stem}"
        );
        assert_eq!(
            kd.challenge,
            b64(expected["attestationChallenge"].as_str().unwrap()),
            "{stem}"
        );
        let claimed = level(expected["attestationSecurityLevel"].as_str().unwrap());
        assert_eq!(kd.attestation_security_level, claimed, "{stem}");
        assert_eq!(att.security_level(), claimed, "{stem}");
        let rot = &expected["hardwareEnforced"]["rootOfTrust"];
        if rot.is_object() {
            let parsed = kd.root_of_trust().unwrap();
            assert_eq!(
                parsed.verified_boot_state,
                boot(rot["verifiedBootState"].as_str().unwrap()),
                "{stem}"
            );
            assert_eq!(
                parsed.device_locked,
                rot["deviceLocked"].as_bool().unwrap(),
                "{stem}"
            );
            assert_eq!(
                parsed.verified_boot_key,
                b64(rot["verifiedBootKey"].as_str().unwrap()),
                "{stem}"
            );
        } else {
            assert!(kd.hardware_enforced.root_of_trust.is_none(), "{stem}");
        }
        if let Some(patch) = expected["hardwareEnforced"]["osPatchLevel"].as_str() {
            assert_eq!(kd.os_patch_level().unwrap().to_string(), patch, "{stem}");
        }
        if let Some(app) = expected["softwareEnforced"]["attestationApplicationId"].as_object() {
            let parsed = kd.application_id().unwrap();
            let names: Vec<&str> = app["packages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            let parsed_names: Vec<&str> = parsed.packages.iter().map(|p| p.name.as_str()).collect();
            assert_eq!(parsed_names, names, "{stem}");
            let digests: Vec<Vec<u8>> = app["signatures"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| b64(d.as_str().unwrap()))
                .collect();
            assert_eq!(parsed.signature_digests, digests, "{stem}");
        }
    }
}

#[test]
fn software_rooted_chains_never_count_as_hardware() {
    let store = google_store();
    for stem in ["TEE_EC_NONE", "TEE_RSA_NONE"] {
        let path = format!("android/testdata/marlin/sdk29/{stem}");
        let now = creation_secs(&json(&format!("{path}.json")));
        let att = android::verify(&chain(&format!("{path}.pem")), &store, now).unwrap();
        assert_eq!(att.chain.root, RootKind::Software);
        assert_eq!(att.security_level(), SecurityLevel::Software);
        let policy = Policy {
            max_patch_age_months: None,
            require_verified_boot: false,
            require_locked: false,
            ..Policy::strict()
        };
        let challenge = att.key_description.challenge.clone();
        assert_eq!(
            policy.check_android(&att, &challenge, now),
            Err(AttestError::SoftwareRoot)
        );
    }
}

#[test]
fn a_chain_ending_at_an_untrusted_root_is_refused() {
    let mut store = TrustStore::new();
    store
        .add_pem(
            &read("roots/google_key_attestation_ca1_ec_p384_2025.pem"),
            RootKind::Hardware,
        )
        .unwrap();
    let path = "android/testdata/blueline/sdk28/TEE_EC_NONE";
    let now = creation_secs(&json(&format!("{path}.json")));
    let err = android::verify(&chain(&format!("{path}.pem")), &store, now).unwrap_err();
    assert!(matches!(err, AttestError::UntrustedRoot { .. }), "{err}");
}

#[test]
fn factory_chains_outlive_their_intermediates() {
    let store = google_store();
    let in_2030 = unix(2030, 1, 1);
    for stem in ["TEE_EC_NONE", "TEE_RSA_NONE", "SB_RSA_NONE"] {
        let att = android::verify(
            &chain(&format!("android/testdata/blueline/sdk28/{stem}.pem")),
            &store,
            in_2030,
        )
        .unwrap_or_else(|e| panic!("blueline {stem}: {e}"));
        assert_eq!(att.chain.provisioning, Provisioning::Factory);
    }
}

#[test]
fn remotely_provisioned_chains_honour_expiry() {
    // akita's chains come from RKP (Droid CA2/CA3): their intermediates
    // expired in late 2024, so they verify then and not in 2030.
    let store = google_store();
    let path = "android/testdata/akita/sdk34/TEE_EC_NONE";
    let att = android::verify(
        &chain(&format!("{path}.pem")),
        &store,
        creation_secs(&json(&format!("{path}.json"))),
    )
    .unwrap();
    assert_eq!(att.chain.provisioning, Provisioning::Other);
    let err =
        android::verify(&chain(&format!("{path}.pem")), &store, unix(2030, 1, 1)).unwrap_err();
    assert!(matches!(err, AttestError::Expired { .. }), "{err}");
}

#[test]
fn a_lone_leaf_still_parses() {
    let kd = android::parse_leaf(&chain("android/testdata/allow_while_on_body.pem")[0]).unwrap();
    assert_eq!(kd.attestation_version, 3);
    assert_eq!(
        kd.attestation_security_level,
        SecurityLevel::TrustedEnvironment
    );
    let rot = kd.root_of_trust().unwrap();
    assert_eq!(rot.verified_boot_state, BootState::Verified);
    assert!(rot.device_locked);
    let names: Vec<&str> = kd
        .application_id()
        .unwrap()
        .packages
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["com.google.android.gsf", "com.google.android.gms"]);
    assert_eq!(kd.os_version(), Some(110_000));
    assert_eq!(kd.os_patch_level(), Some(202_212));
    // Without its chain it proves nothing.
    let err = android::verify(
        &chain("android/testdata/allow_while_on_body.pem"),
        &google_store(),
        unix(2025, 4, 1),
    )
    .unwrap_err();
    assert!(matches!(err, AttestError::UntrustedRoot { .. }), "{err}");
}

#[test]
fn a_ber_encoded_device_locked_flag_is_read_as_true() {
    let att = android::verify(
        &chain("android/testdata/invalid/malformed_rot_device_locked.pem"),
        &google_store(),
        unix(2024, 1, 1),
    )
    .unwrap();
    assert!(att.key_description.root_of_trust().unwrap().device_locked);
}

#[test]
fn a_re_encoded_leaf_fails_its_signature() {
    let chain = chain("android/testdata/invalid/tags_not_in_ascending_order.pem");
    // Its KeyDescription parses (out-of-order tags are tolerated)...
    let kd = android::parse_leaf(&chain[0]).unwrap();
    assert!(!kd.hardware_enforced.tags_ordered || !kd.software_enforced.tags_ordered);
    // ...but the re-encoded leaf no longer matches its signature.
    let err = android::verify(&chain, &google_store(), unix(2024, 1, 1)).unwrap_err();
    assert_eq!(err, AttestError::BadSignature { index: 0 });
}

#[test]
fn p256_keys_signing_with_sha384_verify() {
    let ders = chain("android/testdata/p256_sha384_intermediate.pem");
    let mut store = TrustStore::new();
    store
        .add_der(ders.last().unwrap(), RootKind::Hardware)
        .unwrap();
    let certs: Vec<_> = ders
        .iter()
        .enumerate()
        .map(|(i, d)| cert::parse(d, i).unwrap())
        .collect();
    let rules = ChainRules {
        check_leaf_validity: false,
        factory_exemption: true,
    };
    verigrid_attest::chain::verify(&certs, &store, unix(2024, 10, 20), rules).unwrap();
    // The same chain is refused by Google's roots.
    let err = verigrid_attest::chain::verify(&certs, &google_store(), unix(2024, 10, 20), rules)
        .unwrap_err();
    assert!(matches!(err, AttestError::UntrustedRoot { .. }), "{err}");
}

#[test]
fn the_status_list_marks_its_test_certificate_suspended() {
    let list = RevocationList::from_status_json(&read(
        "revocation/google-android-key-attestation.status.json",
    ))
    .unwrap();
    let test_cert = chain("revocation/CertificateRevocationStatusTest.TEST_CERT.pem");
    let parsed = cert::parse(&test_cert[0], 0).unwrap();
    let serial = cert::serial(&parsed);
    assert_eq!(
        cert::serial_hex(&serial),
        "cc66e9a93713b6e643b26c15879786f7"
    );
    assert_eq!(list.lookup(&serial).unwrap().status, "SUSPENDED");
    let err = list.check(&[serial]).unwrap_err();
    assert!(matches!(err, AttestError::Revoked { .. }), "{err}");

    let example =
        RevocationList::from_status_json(&read("revocation/status_list_example.json")).unwrap();
    assert_eq!(example.len(), 2);
    assert_eq!(
        example
            .lookup(&[0x2c, 0x8c, 0xdd, 0xdf, 0xd5, 0xe0, 0x3b, 0xfc])
            .unwrap()
            .status,
        "REVOKED"
    );
}

#[test]
fn a_revoked_intermediate_refuses_a_real_chain() {
    let path = "android/testdata/tegu/sdk36/TEE_EC_2026_ROOT";
    let expected = json(&format!("{path}.json"));
    let now = creation_secs(&expected);
    let att = android::verify(&chain(&format!("{path}.pem")), &google_store(), now).unwrap();
    let policy = Policy {
        revocations: RevocationList::from_serials([att.chain.serials[2].as_slice()]),
        ..Policy::permissive()
    };
    let err = policy
        .check_android(&att, &att.key_description.challenge, now)
        .unwrap_err();
    assert!(matches!(err, AttestError::Revoked { .. }), "{err}");
    // The strict policy accepts this patched, locked Pixel 9a at the time.
    Policy::strict()
        .check_android(&att, &att.key_description.challenge, now)
        .unwrap();
}

//! Apple App Attest over two real attestation objects (testdata/apple, from
//! veehaitch/devicecheck-appattest).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

mod common;

use base64::Engine as _;
use common::{TODAY, apple_store, json, read, unix};
use verigrid_attest::{AttestError, Environment, Policy, apple};

struct Sample {
    object: Vec<u8>,
    key_id: Vec<u8>,
    client_data: Vec<u8>,
    app_id: String,
    public_key: Vec<u8>,
    at: i64,
}

fn b64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

/// "2020-11-21T22:13:00.187Z" → Unix seconds.
fn iso(text: &str) -> i64 {
    let n = |range: std::ops::Range<usize>| text[range].parse::<i64>().unwrap();
    unix(n(0..4), n(5..7), n(8..10)) + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)
}

fn sample(name: &str) -> Sample {
    let expected = json(&format!("apple/{name}.expected.json"));
    let pem = expected["publicKeyPem"].as_str().unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let spki = b64(&body);
    Sample {
        object: read(&format!("apple/{name}.attestation.cbor")),
        key_id: b64(expected["keyIdBase64"].as_str().unwrap()),
        client_data: b64(expected["clientData_b64"].as_str().unwrap()),
        app_id: expected["appId"].as_str().unwrap().to_owned(),
        // The uncompressed point is the SPKI's last 65 bytes.
        public_key: spki[spki.len() - 65..].to_vec(),
        at: iso(expected["verificationTime"].as_str().unwrap()),
    }
}

const SAMPLES: [&str; 2] = ["ios-14.2", "ios-14.4"];

#[test]
fn both_real_samples_verify_at_their_time() {
    for name in SAMPLES {
        let s = sample(name);
        let att = apple::verify(&s.object, &s.key_id, &s.client_data, &apple_store(), s.at)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(att.key.to_vec(), s.public_key, "{name}");
        assert_eq!(att.key_id.to_vec(), s.key_id, "{name}");
        assert_eq!(att.counter, 0);
        assert_eq!(att.environment, Environment::Development);
        assert!(att.is_for_app(&s.app_id));
        assert!(!att.receipt.is_empty());
        let policy = Policy {
            apps: vec![s.app_id.clone()],
            ..Policy::permissive()
        };
        policy.check_apple(&att).unwrap();
    }
}

#[test]
fn another_app_id_is_refused() {
    let s = sample("ios-14.2");
    let att = apple::verify(&s.object, &s.key_id, &s.client_data, &apple_store(), s.at).unwrap();
    let policy = Policy {
        apps: vec!["6MURL8TA57.com.example.other".into()],
        ..Policy::permissive()
    };
    assert_eq!(policy.check_apple(&att), Err(AttestError::AppIdMismatch));
}

#[test]
fn a_development_key_is_refused_where_production_is_required() {
    let s = sample("ios-14.4");
    let att = apple::verify(&s.object, &s.key_id, &s.client_data, &apple_store(), s.at).unwrap();
    let err = Policy::strict().check_apple(&att).unwrap_err();
    assert!(matches!(err, AttestError::Environment(_)), "{err}");
}

#[test]
fn another_key_id_is_refused() {
    let s = sample("ios-14.2");
    let other = sample("ios-14.4");
    let err = apple::verify(
        &s.object,
        &other.key_id,
        &s.client_data,
        &apple_store(),
        s.at,
    )
    .unwrap_err();
    assert_eq!(err, AttestError::KeyIdMismatch);
}

#[test]
fn another_challenge_is_refused() {
    let s = sample("ios-14.2");
    let err = apple::verify(
        &s.object,
        &s.key_id,
        b"another challenge",
        &apple_store(),
        s.at,
    )
    .unwrap_err();
    assert_eq!(err, AttestError::NonceMismatch);
}

#[test]
fn the_samples_have_expired_by_today() {
    let (y, m, d) = TODAY;
    for name in SAMPLES {
        let s = sample(name);
        let err = apple::verify(
            &s.object,
            &s.key_id,
            &s.client_data,
            &apple_store(),
            unix(y, m, d),
        )
        .unwrap_err();
        assert_eq!(
            err,
            AttestError::Expired {
                index: 0,
                not_after: match name {
                    "ios-14.2" => unix(2020, 11, 23) + 22 * 3600 + 13 * 60 + 2,
                    _ => err_not_after(&err),
                }
            },
            "{name}"
        );
    }
}

fn err_not_after(err: &AttestError) -> i64 {
    match err {
        AttestError::Expired { not_after, .. } => *not_after,
        _ => 0,
    }
}

#[test]
fn a_google_root_does_not_anchor_apple_chains() {
    let s = sample("ios-14.2");
    let err = apple::verify(
        &s.object,
        &s.key_id,
        &s.client_data,
        &common::google_store(),
        s.at,
    )
    .unwrap_err();
    assert!(matches!(err, AttestError::UntrustedRoot { .. }), "{err}");
}

#[test]
fn garbage_is_a_malformed_object() {
    for bytes in [
        &b""[..],
        b"\xa0",
        b"not cbor at all",
        &[0xa1, 0x63, b'f', b'm', b't', 0x61, b'x'],
    ] {
        let err = apple::verify(bytes, &[0; 32], b"c", &apple_store(), 0).unwrap_err();
        assert!(matches!(err, AttestError::MalformedAppAttest(_)), "{err}");
    }
}

//! Attestations verified per second: real Android chains under Google's
//! RSA-4096 and EC P-384 roots, a real App Attest object, and a dev chain
//! through the ledger's verifier; one bare P-256 signature check is the
//! baseline measured in the same run.
//!
//! `cargo bench -p verigrid-attest`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use verigrid_attest::chain::{RootKind, TrustStore};
use verigrid_attest::dev::{DevCa, DevLeaf};
use verigrid_attest::{Verifier, android, apple, cert};
use verigrid_types::SecretKey;
use verigrid_types::codec::Bytes;
use verigrid_types::device::{AttestationVerifier, Evidence, EvidenceFormat, VerifyRequest};
use verigrid_types::ids::Timestamp;
use verigrid_types::params::Params;

fn read(relative: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(relative),
    )
    .unwrap()
}

fn google() -> TrustStore {
    let mut store = TrustStore::new();
    for root in [
        "roots/google_hw_attestation_root_rsa4096_2019_d50ff25ba3f2d6b3.pem",
        "roots/google_hw_attestation_root_rsa4096_2016_e8fa196314d2fa18.pem",
        "roots/google_key_attestation_ca1_ec_p384_2025.pem",
    ] {
        store.add_pem(&read(root), RootKind::Hardware).unwrap();
    }
    store
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("attestation");
    group.throughput(Throughput::Elements(1));

    // Baseline: one P-256 ECDSA verification with ring.
    let tegu = cert::pem_chain(&read("android/testdata/tegu/sdk36/TEE_EC_2026_ROOT.pem")).unwrap();
    {
        let leaf = cert::parse(&tegu[0], 0).unwrap();
        let issuer = cert::parse(&tegu[1], 1).unwrap();
        group.bench_function("baseline_one_p256_signature", |b| {
            b.iter(|| cert::verify_signed_by(black_box(&leaf), issuer.public_key(), 0, false))
        });
    }

    let store = google();
    let blueline =
        cert::pem_chain(&read("android/testdata/blueline/sdk28/TEE_EC_NONE.pem")).unwrap();
    let at_2024 = 1_704_067_200;
    group.bench_function("android_rsa4096_root_factory_chain", |b| {
        b.iter(|| android::verify(black_box(&blueline), &store, at_2024).unwrap())
    });
    let at_2026 = 1_771_894_563;
    group.bench_function("android_ec_p384_root_rkp_chain", |b| {
        b.iter(|| android::verify(black_box(&tegu), &store, at_2026).unwrap())
    });

    let mut apple_store = TrustStore::new();
    apple_store
        .add_pem(
            &read("roots/apple_app_attestation_root_ca.pem"),
            RootKind::Hardware,
        )
        .unwrap();
    let object = read("apple/ios-14.2.attestation.cbor");
    let key_id = ios_14_2_key_id();
    group.bench_function("apple_app_attest", |b| {
        b.iter(|| {
            apple::verify(
                black_box(&object),
                &key_id,
                b"wurzelpfropf",
                &apple_store,
                1_605_996_780,
            )
            .unwrap()
        })
    });

    // A dev chain through the ledger's verifier, policy included.
    let ca = DevCa::from_seed(&[1; 32]).unwrap();
    let device = SecretKey::from_label("bench device");
    let now = 1_795_651_200u64;
    let chain = ca
        .issue(&DevLeaf::healthy(device.device_key(), b"challenge", now))
        .unwrap();
    let mut params = Params::new(device.account());
    params.attestation.trust_roots = vec![Bytes(ca.root_der().to_vec())];
    let evidence = Evidence {
        format: EvidenceFormat::AndroidKeyChain,
        parts: chain.into_iter().map(Bytes).collect(),
    };
    let verifier = Verifier::new();
    let request = VerifyRequest {
        policy: &params.attestation,
        challenge: b"challenge",
        now: Timestamp(now * 1000),
    };
    group.bench_function("dev_chain_through_ledger_verifier", |b| {
        b.iter(|| verifier.verify(black_box(&evidence), &request).unwrap())
    });
    group.finish();
}

/// Key id of the ios-14.2 sample (its expected.json, `keyIdBase64`).
fn ios_14_2_key_id() -> Vec<u8> {
    vec![
        0xda, 0x8d, 0x2c, 0xc9, 0x11, 0xa7, 0xd4, 0x70, 0xca, 0x0e, 0xff, 0x39, 0x77, 0x9d, 0xb6,
        0x5c, 0x10, 0xbd, 0x9c, 0xba, 0xab, 0x1d, 0x61, 0xc6, 0x9e, 0xdf, 0xe6, 0x27, 0x98, 0x56,
        0x31, 0x03,
    ]
}

criterion_group!(benches, bench);
criterion_main!(benches);

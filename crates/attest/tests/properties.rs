//! Properties of the decoders and verifiers: arbitrary input never panics,
//! KeyDescriptions round-trip, and any single-byte change to a valid dev
//! chain is refused.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

use proptest::prelude::*;
use verigrid_attest::asn1::{Reader, parse_single};
use verigrid_attest::chain::{RootKind, TrustStore};
use verigrid_attest::dev::{DevCa, DevLeaf};
use verigrid_attest::key_description::{
    ApplicationId, AuthorizationList, BootState, KeyDescription, PackageInfo, RootOfTrust, encode,
};
use verigrid_attest::{Policy, android, apple, cert};
use verigrid_types::SecretKey;
use verigrid_types::device::SecurityLevel;

const NOW: i64 = 1_795_651_200;

fn level() -> impl Strategy<Value = SecurityLevel> {
    prop_oneof![
        Just(SecurityLevel::Software),
        Just(SecurityLevel::TrustedEnvironment),
        Just(SecurityLevel::StrongBox)
    ]
}

fn boot() -> impl Strategy<Value = BootState> {
    prop_oneof![
        Just(BootState::Verified),
        Just(BootState::SelfSigned),
        Just(BootState::Unverified),
        Just(BootState::Failed)
    ]
}

prop_compose! {
    fn key_description()(
        version in prop_oneof![1u64..=4, Just(100), Just(200), Just(300), Just(400), Just(500)],
        att_level in level(),
        km_level in level(),
        challenge in proptest::collection::vec(any::<u8>(), 0..80),
        locked in any::<bool>(),
        state in boot(),
        patch in proptest::option::of(200_001u64..210_012),
        name in "[a-z.]{1,30}",
        digests in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 32), 0..3),
        purposes in proptest::collection::vec(0u64..8, 0..4),
    ) -> KeyDescription {
        let mut sorted = purposes;
        sorted.sort_unstable();
        let mut digests = digests;
        digests.sort();
        KeyDescription {
            attestation_version: version,
            attestation_security_level: att_level,
            keymint_version: version,
            keymint_security_level: km_level,
            challenge,
            unique_id: Vec::new(),
            software_enforced: AuthorizationList {
                application_id: Some(ApplicationId {
                    packages: vec![PackageInfo { name, version: 1 }],
                    signature_digests: digests,
                }),
                tags_ordered: true,
                ..AuthorizationList::default()
            },
            hardware_enforced: AuthorizationList {
                purposes: sorted,
                root_of_trust: Some(RootOfTrust {
                    verified_boot_key: vec![1; 32],
                    device_locked: locked,
                    verified_boot_state: state,
                    verified_boot_hash: (version >= 3).then(|| vec![2; 32]),
                }),
                os_patch_level: patch,
                tags_ordered: true,
                ..AuthorizationList::default()
            },
        }
    }
}

proptest! {
    #[test]
    fn asn1_reading_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        for tlv in Reader::new(&bytes) {
            let Ok(tlv) = tlv else { break };
            let _ = (tlv.boolean(), tlv.unsigned(), tlv.octets());
            for inner in tlv.children() {
                if inner.is_err() { break; }
            }
        }
        let _ = parse_single(&bytes);
    }

    #[test]
    fn key_description_parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = KeyDescription::parse(&bytes);
    }

    #[test]
    fn key_descriptions_round_trip(kd in key_description()) {
        prop_assert_eq!(KeyDescription::parse(&encode::key_description(&kd)).unwrap(), kd);
    }

    #[test]
    fn certificate_and_cbor_decoding_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let _ = cert::parse(&bytes, 0);
        let _ = cert::pem_chain(&bytes);
        let _ = android::verify(std::slice::from_ref(&bytes), &TrustStore::new(), NOW);
        let _ = apple::verify(&bytes, &[0; 32], b"c", &TrustStore::new(), NOW);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_changed_byte_in_a_dev_chain_is_refused(cert_index in 0usize..2, position in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let ca = DevCa::from_seed(&[5; 32]).unwrap();
        let device = SecretKey::from_label("prop device");
        let leaf = DevLeaf::healthy(device.device_key(), b"challenge", NOW as u64);
        let mut chain = ca.issue(&leaf).unwrap();
        let mut store = TrustStore::new();
        store.add_der(ca.root_der(), RootKind::Hardware).unwrap();
        let original = android::verify(&chain, &store, NOW).unwrap();
        Policy::strict().check_android(&original, b"challenge", NOW).unwrap();

        let target = &mut chain[cert_index];
        let at = position.index(target.len());
        target[at] ^= flip;
        // Either refused, or (if the byte was outside what is signed, e.g. an
        // unused bit) verifies to exactly the same facts.
        if let Ok(att) = android::verify(&chain, &store, NOW) {
            prop_assert_eq!(att.key_description, original.key_description);
            prop_assert_eq!(att.key, original.key);
        }
    }
}

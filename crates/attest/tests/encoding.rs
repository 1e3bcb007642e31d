//! The BER reader, the DER writer and KeyDescription encoding.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

use verigrid_attest::asn1::{Class, der, parse_single};
use verigrid_attest::key_description::{
    ApplicationId, AuthorizationList, BootState, KeyDescription, PackageInfo, RootOfTrust, encode,
};
use verigrid_types::device::SecurityLevel;

#[test]
fn high_tag_numbers_and_long_lengths_round_trip() {
    let inner = der::octets(&[7u8; 300]);
    let encoded = der::explicit(709, &inner);
    let tlv = parse_single(&encoded).unwrap();
    assert_eq!(
        (tlv.class, tlv.number, tlv.constructed),
        (Class::Context, 709, true)
    );
    assert_eq!(
        parse_single(tlv.value).unwrap().octets().unwrap(),
        &[7u8; 300]
    );
}

#[test]
fn ber_booleans_are_accepted() {
    assert!(parse_single(&[1, 1, 1]).unwrap().boolean().unwrap());
    assert!(parse_single(&[1, 1, 0xff]).unwrap().boolean().unwrap());
    assert!(!parse_single(&[1, 1, 0]).unwrap().boolean().unwrap());
}

#[test]
fn integers_read_as_unsigned() {
    for v in [0, 1, 127, 128, 255, 256, 202_408, u64::MAX] {
        assert_eq!(
            parse_single(&der::unsigned(v)).unwrap().unsigned().unwrap(),
            v
        );
    }
    assert!(parse_single(&[2, 1, 0x80]).unwrap().unsigned().is_err());
}

#[test]
fn malformed_lengths_are_errors() {
    assert!(parse_single(&[0x30, 0x80, 0, 0]).is_err());
    assert!(parse_single(&[0x04, 0x05, 1, 2]).is_err());
    assert!(parse_single(&[0x04, 0x89, 1, 1, 1, 1, 1, 1, 1, 1, 1]).is_err());
    assert!(parse_single(&[0xbf, 0xff, 0xff, 0xff, 0xff, 0x7f, 0]).is_err());
}

fn sample() -> KeyDescription {
    KeyDescription {
        attestation_version: 300,
        attestation_security_level: SecurityLevel::TrustedEnvironment,
        keymint_version: 300,
        keymint_security_level: SecurityLevel::TrustedEnvironment,
        challenge: b"challenge".to_vec(),
        unique_id: Vec::new(),
        software_enforced: AuthorizationList {
            creation_date_time: Some(1_727_389_885_586),
            application_id: Some(ApplicationId {
                packages: vec![PackageInfo {
                    name: "xyz.verigrid.agent".into(),
                    version: 7,
                }],
                signature_digests: vec![vec![9; 32]],
            }),
            tags_ordered: true,
            ..AuthorizationList::default()
        },
        hardware_enforced: AuthorizationList {
            purposes: vec![2],
            algorithm: Some(3),
            key_size: Some(256),
            ec_curve: Some(1),
            no_auth_required: true,
            origin: Some(0),
            root_of_trust: Some(RootOfTrust {
                verified_boot_key: vec![1; 32],
                device_locked: true,
                verified_boot_state: BootState::Verified,
                verified_boot_hash: Some(vec![2; 32]),
            }),
            os_version: Some(140_000),
            os_patch_level: Some(202_408),
            vendor_patch_level: Some(20_240_805),
            boot_patch_level: Some(20_240_805),
            tags_ordered: true,
            ..AuthorizationList::default()
        },
    }
}

#[test]
fn encoding_then_parsing_gives_the_same_description() {
    let kd = sample();
    assert_eq!(
        KeyDescription::parse(&encode::key_description(&kd)).unwrap(),
        kd
    );
}

#[test]
fn unknown_tags_are_skipped_and_recorded() {
    let kd = sample();
    let hw = encode::authorization_list(&kd.hardware_enforced);
    // Append tag 9999 holding an INTEGER to the hardware list.
    let extra = der::explicit(9999, &der::unsigned(5));
    let hw = der::tlv(0x30, &[parse_single(&hw).unwrap().value, &extra].concat());
    let whole = encode::key_description(&kd);
    let sw = encode::authorization_list(&kd.software_enforced);
    // Rebuild the description with the extended list in last place.
    let fields = parse_single(&whole).unwrap().value;
    let keep = &fields
        [..fields.len() - sw.len() - encode::authorization_list(&kd.hardware_enforced).len()];
    let bytes = der::tlv(0x30, &[keep, &sw, &hw].concat());
    let parsed = KeyDescription::parse(&bytes).unwrap();
    assert_eq!(parsed.hardware_enforced.unknown_tags, vec![9999]);
    assert_eq!(parsed.hardware_enforced.os_patch_level, Some(202_408));
    assert_eq!(parsed.software_enforced, kd.software_enforced);
}

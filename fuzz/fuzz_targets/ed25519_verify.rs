//! Arbitrary bytes as an ed25519 key, signature and message: checking it
//! never panics, and checking it alone, in a batch of its own and in a batch
//! beside a valid signature always agree (docs/DESIGN.md §4: a block's
//! validity must not depend on how a validator checks its signatures).
#![no_main]

use libfuzzer_sys::fuzz_target;
use verigrid_types::crypto::{verify_ed25519, verify_ed25519_batch};
use verigrid_types::{SecretKey, Signature};

fuzz_target!(|data: &[u8]| {
    if data.len() < 96 {
        return;
    }
    let (key, rest) = data.split_at(32);
    let (signature, message) = rest.split_at(64);
    let (Ok(key), Ok(signature)) = (
        <[u8; 32]>::try_from(key),
        <[u8; 64]>::try_from(signature),
    ) else {
        return;
    };
    let single = verify_ed25519(&key, message, &signature);
    assert_eq!(verify_ed25519_batch(&[(&key, message, &signature)]), single);
    let honest = SecretKey::from_label("fuzz/honest");
    let Signature::Ed25519(good) = honest.sign(b"valid") else {
        return;
    };
    let public = honest.public();
    assert_eq!(
        verify_ed25519_batch(&[(&public, b"valid", &good), (&key, message, &signature)]),
        single
    );
});

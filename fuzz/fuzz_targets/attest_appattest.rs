//! Arbitrary bytes as an App Attest attestation object: decoding and
//! verification never panic, whatever the CBOR holds.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use verigrid_attest::chain::{RootKind, TrustStore};
use verigrid_attest::{apple, roots};

fn store() -> &'static TrustStore {
    static STORE: OnceLock<TrustStore> = OnceLock::new();
    STORE.get_or_init(|| {
        let mut store = TrustStore::new();
        let _ = store.add_pem(roots::APPLE_APP_ATTESTATION, RootKind::Hardware);
        store
    })
}

fuzz_target!(|data: &[u8]| {
    let (key_id, object) = data.split_at(data.len().min(32));
    let _ = apple::verify(object, key_id, b"challenge", store(), 1_605_996_780);
});

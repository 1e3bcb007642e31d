//! Arbitrary bytes as an Android attestation chain: the input is split into
//! certificates at 0xff 0x00 0xff markers, then parsed and verified against
//! a development root and Google's roots. Nothing may panic; only a chain
//! the dev CA really signed may verify. The leaf's extension bytes also go
//! straight to the KeyDescription parser.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use verigrid_attest::chain::{RootKind, TrustStore};
use verigrid_attest::{Policy, android, key_description::KeyDescription, roots};

fn store() -> &'static TrustStore {
    static STORE: OnceLock<TrustStore> = OnceLock::new();
    STORE.get_or_init(|| {
        let mut store = TrustStore::new();
        for der in roots::production() {
            let _ = store.add_der(&der, RootKind::Hardware);
        }
        if let Ok(ca) = verigrid_attest::dev::DevCa::from_seed(&[3; 32]) {
            let _ = store.add_der(ca.root_der(), RootKind::Hardware);
        }
        store
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = KeyDescription::parse(data);
    let chain: Vec<Vec<u8>> = data
        .split(|b| *b == 0xff)
        .map(<[u8]>::to_vec)
        .take(10)
        .collect();
    if let Ok(att) = android::verify(&chain, store(), 1_795_651_200) {
        let _ = Policy::strict().check_android(&att, b"challenge", 1_795_651_200);
    }
    let _ = verigrid_attest::cert::pem_chain(data);
});

//! Arbitrary bytes as a signed transaction: decoding never panics, and what
//! decodes re-encodes to the same bytes (one canonical encoding).
#![no_main]

use libfuzzer_sys::fuzz_target;
use verigrid_types::codec::{Decode, Encode};
use verigrid_types::tx::SignedTx;

fuzz_target!(|data: &[u8]| {
    if let Ok(tx) = SignedTx::decode(data) {
        assert_eq!(tx.encode(), data, "decoding accepted a non-canonical encoding");
    }
    let _ = verigrid_types::tensor::decode_outputs(data);
});

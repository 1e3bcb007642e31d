//! Arbitrary bytes as a ledger snapshot, a verdict proof or an attestation
//! summary: decoding never panics, and a snapshot that restores snapshots
//! back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verigrid_ledger::{Ledger, VerdictProof};
use verigrid_types::codec::{Decode, Encode};
use verigrid_types::device::AttestationSummary;

fuzz_target!(|data: &[u8]| {
    if let Ok(ledger) = Ledger::restore(data) {
        assert_eq!(ledger.snapshot(), data, "restore accepted a non-canonical snapshot");
    }
    if let Ok(proof) = VerdictProof::decode(data) {
        assert_eq!(proof.encode(), data);
    }
    let _ = AttestationSummary::decode(data);
});

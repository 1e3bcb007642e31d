//! Arbitrary bytes as a block of transactions applied to a funded ledger:
//! nothing panics, and supply is conserved whatever gets through.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verigrid_ledger::{BlockInput, Genesis, Ledger};
use verigrid_types::codec::{Decode, Reader};
use verigrid_types::device::{
    AttestationFailure, AttestationSummary, AttestationVerifier, Evidence, VerifyRequest,
};
use verigrid_types::params::Params;
use verigrid_types::tx::SignedTx;
use verigrid_types::{AccountId, Amount, Hash, Height, SecretKey, Timestamp};

struct Refuse;
impl AttestationVerifier for Refuse {
    fn verify(&self, _: &Evidence, _: &VerifyRequest<'_>) -> Result<AttestationSummary, AttestationFailure> {
        Err(AttestationFailure("fuzzing".into()))
    }
}

fuzz_target!(|data: &[u8]| {
    let alice = SecretKey::from_label("alice");
    let genesis = Genesis {
        chain_id: "fuzz".into(),
        params: Params::new(alice.account()),
        accounts: vec![(alice.account(), Amount(1 << 40))],
        time: Timestamp(0),
    };
    let Ok(mut ledger) = Ledger::new(&genesis) else { return };
    let mut reader = Reader::new(data);
    let mut txs = Vec::new();
    while let Ok(tx) = SignedTx::decode_from(&mut reader) {
        txs.push(tx);
    }
    let block = BlockInput {
        height: Height(1),
        time: Timestamp(1),
        randomness: Hash::ZERO,
        parent: Hash::ZERO,
        proposer: AccountId([1; 32]),
        txs,
    };
    if ledger.apply_block(&block, &Refuse).is_ok() {
        let s = ledger.supply();
        assert_eq!(ledger.total_holdings(), u128::from(s.genesis - s.burned));
    }
});

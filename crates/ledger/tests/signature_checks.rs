//! Signatures checked ahead of a block ([`Ledger::check_signatures`]) give
//! the same outcome as checking them while applying, and a check made for
//! another transaction never vouches for this one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Behaviour, CHAIN, Chain, key};
use proptest::prelude::*;
use verigrid_ledger::{BlockInput, Genesis, Ledger, SignatureChecks, TxError};
use verigrid_types::tx::{Call, SignedTx, Signer, Tx};
use verigrid_types::{Amount, Domain, Hash, Timestamp};

fn block(ledger: &Ledger, txs: Vec<SignedTx>) -> BlockInput {
    BlockInput {
        height: ledger.height().plus(1),
        time: Timestamp(ledger.time().0 + 1_000),
        randomness: Hash::of(Domain::Draw, &[b"beacon"]),
        parent: Hash::of(Domain::Block, &[b"parent"]),
        proposer: key("proposer").account(),
        txs,
    }
}

fn transfers() -> (Chain, Vec<SignedTx>) {
    let alice = key("alice");
    let bob = key("bob");
    let mut chain = Chain::new(&[(&alice, 100_000), (&bob, 100_000)]);
    let mut txs = Vec::new();
    for _ in 0..3 {
        txs.push(chain.tx(
            &alice,
            Call::Transfer {
                to: bob.account(),
                amount: Amount(7),
            },
        ));
    }
    txs.push(chain.tx(
        &bob,
        Call::Transfer {
            to: alice.account(),
            amount: Amount(3),
        },
    ));
    (chain, txs)
}

#[test]
fn checks_made_in_parts_give_the_same_block_as_checks_made_inline() {
    let (chain, txs) = transfers();
    let input = block(&chain.ledger, txs.clone());
    let mut inline = chain.ledger.clone();
    let expected = inline
        .apply_block(&input, &common::TrustingVerifier)
        .unwrap();

    let mut checks = chain.ledger.check_signatures(&txs[..1]);
    checks.append(chain.ledger.check_signatures(&txs[1..]));
    assert_eq!(checks.len(), txs.len());
    assert_eq!(checks.invalid(), 0);
    let mut ahead = chain.ledger.clone();
    let got = ahead
        .apply_block_checked(&input, &common::TrustingVerifier, [checks])
        .unwrap();
    assert_eq!(got.results, expected.results);
    assert_eq!(got.events, expected.events);
    assert_eq!(got.state_root, expected.state_root);

    // The same checks handed over run by run, as a checker on another
    // thread would send them, from a checker that outlives the block.
    let checker = chain.ledger.signature_checker();
    let runs = txs.chunks(3).map(|run| checker.check(run));
    let mut alongside = chain.ledger.clone();
    let got = alongside
        .apply_block_checked(&input, &common::TrustingVerifier, runs)
        .unwrap();
    assert_eq!(got.results, expected.results);
    assert_eq!(got.state_root, expected.state_root);
}

#[test]
fn checks_that_run_out_leave_the_rest_to_be_verified_inline() {
    let (chain, mut txs) = transfers();
    // The last transaction is forged after only the first two were checked.
    txs[3].signature = txs[0].signature;
    let checks = chain.ledger.check_signatures(&txs[..2]);
    let mut ledger = chain.ledger.clone();
    let input = block(&ledger, txs);
    let out = ledger
        .apply_block_checked(&input, &common::TrustingVerifier, [checks])
        .unwrap();
    assert!(out.results[..3].iter().all(Result::is_ok));
    assert_eq!(out.results[3], Err(TxError::BadSignature));
}

#[test]
fn a_check_for_another_transaction_does_not_vouch_for_a_forgery() {
    let (chain, txs) = transfers();
    let alice = key("alice");
    let mallory = key("mallory");
    // A transfer from alice signed by mallory, in the place of a transfer
    // whose (valid) check was made beforehand.
    let forged = Tx {
        signer: Signer::Account(alice.account()),
        nonce: 0,
        fee: Amount(1),
        call: Call::Transfer {
            to: mallory.account(),
            amount: Amount(50_000),
        },
    }
    .sign(CHAIN, &mallory);
    let checks = chain.ledger.check_signatures(&txs);
    let mut ledger = chain.ledger.clone();
    let input = block(&ledger, vec![forged]);
    let out = ledger
        .apply_block_checked(&input, &common::TrustingVerifier, [checks])
        .unwrap();
    assert_eq!(out.results, vec![Err(TxError::BadSignature)]);

    // No checks at all: everything is verified while applying.
    let mut ledger = chain.ledger.clone();
    let input = block(&ledger, txs);
    let out = ledger
        .apply_block_checked(
            &input,
            &common::TrustingVerifier,
            [SignatureChecks::default()],
        )
        .unwrap();
    assert!(out.results.iter().all(Result::is_ok));
}

#[test]
fn a_check_made_for_another_chain_vouches_for_nothing() {
    let (chain, txs) = transfers();
    let alice = key("alice");
    // A transfer alice signed for another chain: valid there, not here.
    let replayed = Tx {
        signer: Signer::Account(alice.account()),
        nonce: 3,
        fee: Amount(1),
        call: Call::Transfer {
            to: key("bob").account(),
            amount: Amount(7),
        },
    }
    .sign("elsewhere", &alice);
    let elsewhere = Ledger::new(&Genesis {
        chain_id: "elsewhere".into(),
        params: common::params(key("governor").account()),
        accounts: Vec::new(),
        time: Timestamp(1_795_478_400_000),
    })
    .unwrap();
    let foreign = elsewhere.check_signatures(std::slice::from_ref(&replayed));
    assert_eq!(foreign.invalid(), 0, "valid on the chain it was made for");

    let mut ledger = chain.ledger.clone();
    let input = block(&ledger, vec![replayed.clone()]);
    let out = ledger
        .apply_block_checked(&input, &common::TrustingVerifier, [foreign.clone()])
        .unwrap();
    assert_eq!(out.results, vec![Err(TxError::BadSignature)]);

    let mut ledger = chain.ledger.clone();
    let (out, _) = ledger
        .apply_block_streamed(
            block(&ledger, Vec::new()),
            &common::TrustingVerifier,
            [(vec![replayed.clone()], foreign.clone())],
        )
        .unwrap();
    assert_eq!(out.results, vec![Err(TxError::BadSignature)]);

    // Appended after this chain's own checks, the foreign check keeps its
    // place and vouches for nothing.
    let mut checks = chain.ledger.check_signatures(&txs[..3]);
    checks.append(foreign);
    let mut ledger = chain.ledger.clone();
    let input = block(&ledger, [&txs[..3], &[replayed]].concat());
    let out = ledger
        .apply_block_checked(&input, &common::TrustingVerifier, [checks])
        .unwrap();
    assert!(
        out.results[..3].iter().all(Result::is_ok),
        "{:?}",
        out.results
    );
    assert_eq!(out.results[3], Err(TxError::BadSignature));
}

#[test]
fn a_bad_signature_is_counted_by_the_check() {
    let (chain, mut txs) = transfers();
    txs[1].signature = txs[0].signature;
    let checks = chain.ledger.check_signatures(&txs);
    assert_eq!(checks.invalid(), 1);
    let mut ledger = chain.ledger.clone();
    let input = block(&ledger, txs);
    let out = ledger
        .apply_block_checked(&input, &common::TrustingVerifier, [checks])
        .unwrap();
    assert_eq!(out.results[1], Err(TxError::BadSignature));
}

#[test]
fn a_checker_older_than_a_device_leaves_its_transactions_to_be_verified_inline() {
    let owner = key("owner");
    let mut chain = Chain::new(&[(&owner, 1_000_000)]);
    let stale = chain.ledger.signature_checker();
    chain.register(&owner, "device", Behaviour::Honest, 10_000);
    let device = chain.devices.last_mut().unwrap();
    let genuine = common::device_tx(device, Call::CommitResults { commits: vec![] });
    let forged = genuine.tx.clone().sign(CHAIN, &key("mallory"));
    let txs = vec![genuine, forged];

    let unknown = stale.check(&txs);
    assert_eq!(unknown.len(), 2);
    assert_eq!(unknown.invalid(), 0, "the stale checker knows neither key");
    let fresh = chain.ledger.signature_checker().check(&txs);
    assert_eq!(fresh.invalid(), 1);

    let input = block(&chain.ledger, txs);
    let mut inline = chain.ledger.clone();
    let expected = inline
        .apply_block(&input, &common::TrustingVerifier)
        .unwrap();
    assert_ne!(expected.results[0], Err(TxError::BadSignature));
    assert_eq!(expected.results[1], Err(TxError::BadSignature));
    for checks in [unknown, fresh] {
        let mut ledger = chain.ledger.clone();
        let got = ledger
            .apply_block_checked(&input, &common::TrustingVerifier, [checks])
            .unwrap();
        assert_eq!(got.results, expected.results);
        assert_eq!(got.state_root, expected.state_root);
    }
}

#[test]
fn a_block_streamed_in_runs_is_the_block_applied_whole() {
    let (chain, txs) = transfers();
    let input = block(&chain.ledger, txs.clone());
    let mut whole = chain.ledger.clone();
    let expected = whole
        .apply_block(&input, &common::TrustingVerifier)
        .unwrap();

    // The first transaction comes with the block; the rest arrive in runs
    // of two with their checks, as a signer on another thread sends them.
    let checker = chain.ledger.signature_checker();
    let runs = txs[1..]
        .chunks(2)
        .map(|run| (run.to_vec(), checker.check(run)));
    let mut streamed = chain.ledger.clone();
    let (got, applied) = streamed
        .apply_block_streamed(
            block(&chain.ledger, txs[..1].to_vec()),
            &common::TrustingVerifier,
            runs,
        )
        .unwrap();
    assert_eq!(applied.txs, txs, "the block as applied, in order");
    assert_eq!(got.results, expected.results);
    assert_eq!(got.events, expected.events);
    assert_eq!(got.state_root, expected.state_root);
    assert_eq!(streamed.state_root(), whole.state_root());
}

#[test]
fn a_streamed_run_is_judged_by_its_own_checks_only() {
    let (chain, mut txs) = transfers();
    // The third transaction is forged; its run comes with the checks of
    // the first run (each for another transaction), the last run with none.
    txs[2].signature = txs[0].signature;
    let checks = chain.ledger.check_signatures(&txs[..2]);
    let runs = vec![
        (txs[..2].to_vec(), checks.clone()),
        (txs[2..3].to_vec(), checks),
        (txs[3..].to_vec(), SignatureChecks::default()),
    ];
    let mut ledger = chain.ledger.clone();
    let (out, applied) = ledger
        .apply_block_streamed(block(&ledger, Vec::new()), &common::TrustingVerifier, runs)
        .unwrap();
    assert_eq!(applied.txs, txs);
    assert!(out.results[..2].iter().all(Result::is_ok));
    assert_eq!(out.results[2], Err(TxError::BadSignature));
    assert!(out.results[3].is_ok(), "{:?}", out.results[3]);
}

#[test]
fn a_streamed_block_that_does_not_follow_draws_no_run() {
    let (chain, txs) = transfers();
    let mut ledger = chain.ledger.clone();
    let mut stale = block(&ledger, Vec::new());
    stale.height = ledger.height();
    let before = ledger.state_root();
    let drawn = std::cell::Cell::new(0);
    let runs = std::iter::from_fn(|| {
        drawn.set(drawn.get() + 1);
        Some((txs.clone(), SignatureChecks::default()))
    })
    .take(3);
    assert!(
        ledger
            .apply_block_streamed(stale, &common::TrustingVerifier, runs)
            .is_err()
    );
    assert_eq!(drawn.get(), 0);
    assert_eq!(ledger.state_root(), before);
}

/// Where a streamed run's checks come from.
#[derive(Clone, Copy, Debug)]
enum Checks {
    /// Made for the run itself.
    Own,
    /// None: everything verified while applying.
    Missing,
    /// Made for the run before (each for another transaction).
    PreviousRun,
    /// Made for the whole block from its first transaction on.
    WholeBlock,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// However a block is cut into runs, and whatever checks come with
    /// them, streaming it gives the outcome of applying it whole: a check
    /// made for another transaction never changes a result.
    #[test]
    fn any_streaming_of_a_block_applies_it_as_a_whole(
        transfers in proptest::collection::vec(
            (0..3usize, 0..3usize, 1..60_000u64, proptest::bool::weighted(0.2)),
            1..20,
        ),
        up_front in 0..4usize,
        cuts in proptest::collection::vec(1..5usize, 1..8),
        sources in proptest::collection::vec(
            prop_oneof![
                Just(Checks::Own),
                Just(Checks::Missing),
                Just(Checks::PreviousRun),
                Just(Checks::WholeBlock),
            ],
            8,
        ),
    ) {
        let keys = [key("alice"), key("bob"), key("carol")];
        let mut chain = Chain::new(&[(&keys[0], 100_000), (&keys[1], 100_000), (&keys[2], 100_000)]);
        let txs: Vec<SignedTx> = transfers
            .iter()
            .map(|&(from, to, amount, forged)| {
                let stx = chain.tx(
                    &keys[from],
                    Call::Transfer { to: keys[to].account(), amount: Amount(amount) },
                );
                if forged {
                    stx.tx.sign(CHAIN, &key("mallory"))
                } else {
                    stx
                }
            })
            .collect();
        let mut whole = chain.ledger.clone();
        let expected = whole
            .apply_block(&block(&chain.ledger, txs.clone()), &common::TrustingVerifier)
            .unwrap();

        let up_front = up_front.min(txs.len());
        let mut runs: Vec<Vec<SignedTx>> = Vec::new();
        let mut at = up_front;
        for cut in cuts.iter().cycle() {
            if at >= txs.len() {
                break;
            }
            let end = (at + cut).min(txs.len());
            runs.push(txs[at..end].to_vec());
            at = end;
        }
        let checker = chain.ledger.signature_checker();
        let block_checks = checker.check(&txs);
        let streamed_runs: Vec<(Vec<SignedTx>, SignatureChecks)> = runs
            .iter()
            .enumerate()
            .map(|(i, run)| {
                let checks = match sources[i % sources.len()] {
                    Checks::Own => checker.check(run),
                    Checks::Missing => SignatureChecks::default(),
                    Checks::PreviousRun => {
                        i.checked_sub(1).map_or_else(SignatureChecks::default, |p| checker.check(&runs[p]))
                    }
                    Checks::WholeBlock => block_checks.clone(),
                };
                (run.clone(), checks)
            })
            .collect();
        let mut streamed = chain.ledger.clone();
        let (got, applied) = streamed
            .apply_block_streamed(
                block(&chain.ledger, txs[..up_front].to_vec()),
                &common::TrustingVerifier,
                streamed_runs,
            )
            .unwrap();
        prop_assert_eq!(&applied.txs, &txs);
        prop_assert_eq!(&got.results, &expected.results);
        prop_assert_eq!(&got.events, &expected.events);
        prop_assert_eq!(got.state_root, expected.state_root);
    }
}

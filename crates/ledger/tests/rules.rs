//! One test per ledger rule.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

mod common;

use common::{Behaviour, CHAIN, Chain, evidence, key, summary};
use verigrid_ledger::{Event, JobStatus, Outcome, TxError};
use verigrid_types::codec::Bytes;
use verigrid_types::device::{Capabilities, registration_challenge};
use verigrid_types::job::Verification;
use verigrid_types::tx::{Call, Signer, Tx};
use verigrid_types::{Amount, DeviceId, Hash, Height, JobId};

/// A chain with `owners` funded owners, one new honest device each
/// (`o{i}`/`d{i}`), and a consumer holding `consumer_funds`.
fn honest_devices(owners: usize, consumer_funds: u64) -> (Chain, verigrid_types::SecretKey) {
    let consumer = key("consumer");
    let owners: Vec<_> = (0..owners).map(|i| key(&format!("o{i}"))).collect();
    let mut funded: Vec<_> = owners.iter().map(|o| (o, 100_000u64)).collect();
    funded.push((&consumer, consumer_funds));
    let mut chain = Chain::new(&funded);
    for (i, o) in owners.iter().enumerate() {
        chain.register(o, &format!("d{i}"), Behaviour::Honest, 1_000);
    }
    (chain, consumer)
}

/// [`honest_devices`] with a record built by replicated work: each has
/// enough agreeing results to run alone under adaptive replication.
fn trusted_devices(owners: usize) -> (Chain, verigrid_types::SecretKey) {
    let (mut chain, consumer) = honest_devices(owners, 100_000_000);
    chain.submit(&consumer, 120, Verification::replicated(3), 1);
    chain.run_until_idle(2_000);
    (chain, consumer)
}

/// One honest device with no record for each of the first `n` owners of
/// [`honest_devices`].
fn newcomers(chain: &mut Chain, n: usize) -> Vec<DeviceId> {
    (0..n)
        .map(|i| {
            chain.register(
                &key(&format!("o{i}")),
                &format!("new{i}"),
                Behaviour::Honest,
                1_000,
            )
        })
        .collect()
}

fn funded() -> (Chain, verigrid_types::SecretKey, verigrid_types::SecretKey) {
    let alice = key("alice");
    let bob = key("bob");
    let chain = Chain::new(&[(&alice, 100_000), (&bob, 100_000)]);
    (chain, alice, bob)
}

#[test]
fn transfer_moves_money_and_pays_the_fee_to_the_proposer() {
    let (mut chain, alice, bob) = funded();
    let tx = chain.tx(
        &alice,
        Call::Transfer {
            to: bob.account(),
            amount: Amount(500),
        },
    );
    let out = chain.block(vec![tx]);
    assert_eq!(out.results, vec![Ok(())]);
    assert_eq!(chain.balance(&alice.account()), 100_000 - 501);
    assert_eq!(chain.balance(&bob.account()), 100_500);
    assert_eq!(chain.balance(&chain.proposer.clone()), 1);
    chain.assert_supply_conserved();
}

#[test]
fn rejected_transactions_change_nothing() {
    let (mut chain, alice, bob) = funded();
    let mut empty = chain.ledger.clone();
    let too_much = chain.tx(
        &alice,
        Call::Transfer {
            to: bob.account(),
            amount: Amount(1 << 40),
        },
    );
    let withdraw = |nonce: u64, fee: u64, key: &verigrid_types::SecretKey| {
        Tx {
            signer: Signer::Account(alice.account()),
            nonce,
            fee: Amount(fee),
            call: Call::Withdraw,
        }
        .sign(CHAIN, key)
    };
    let bad_nonce = withdraw(7, 1, &alice);
    let bad_sig = withdraw(0, 1, &bob);
    let low_fee = withdraw(0, 0, &alice);
    let out = chain.block(vec![too_much, bad_nonce, bad_sig, low_fee]);
    assert!(matches!(
        out.results[0],
        Err(TxError::InsufficientBalance { .. })
    ));
    assert_eq!(
        out.results[1],
        Err(TxError::BadNonce {
            expected: 0,
            got: 7
        })
    );
    assert_eq!(out.results[2], Err(TxError::BadSignature));
    assert!(matches!(out.results[3], Err(TxError::FeeTooLow { .. })));
    let reference = empty
        .apply_block(
            &verigrid_ledger::BlockInput {
                height: Height(1),
                time: verigrid_types::Timestamp(chain.ledger.time().0),
                randomness: Hash::of(
                    verigrid_types::Domain::Draw,
                    &[b"beacon", &1u64.to_le_bytes(), &chain.seed.to_le_bytes()],
                ),
                parent: Hash::of(verigrid_types::Domain::Block, &[b"genesis"]),
                proposer: chain.proposer,
                txs: vec![],
            },
            &common::TrustingVerifier,
        )
        .unwrap();
    assert_eq!(out.state_root, reference.state_root);
}

#[test]
fn stake_unbonds_only_after_the_unbonding_period() {
    let (mut chain, alice, _) = funded();
    let bond = chain.tx(
        &alice,
        Call::Bond {
            amount: Amount(10_000),
        },
    );
    let unbond = chain.tx(
        &alice,
        Call::Unbond {
            amount: Amount(4_000),
        },
    );
    chain.block(vec![bond, unbond]);
    let acct = chain.ledger.account(&alice.account()).unwrap().clone();
    assert_eq!(acct.bonded, Amount(6_000));
    assert_eq!(acct.unbonding.len(), 1);
    let withdraw = chain.tx(&alice, Call::Withdraw);
    chain.block(vec![withdraw]);
    assert_eq!(
        chain
            .ledger
            .account(&alice.account())
            .unwrap()
            .unbonding
            .len(),
        1,
        "not matured yet"
    );
    let release = acct.unbonding[0].0;
    while chain.ledger.height() < release {
        chain.block(vec![]);
    }
    let before = chain.balance(&alice.account());
    let withdraw = chain.tx(&alice, Call::Withdraw);
    chain.block(vec![withdraw]);
    assert_eq!(chain.balance(&alice.account()), before + 4_000 - 1);
    let over = chain.tx(
        &alice,
        Call::Unbond {
            amount: Amount(6_001),
        },
    );
    assert!(matches!(
        chain.block(vec![over]).results[0],
        Err(TxError::InsufficientBond { .. })
    ));
    chain.assert_supply_conserved();
}

fn register_call(
    chain: &Chain,
    owner: &verigrid_types::SecretKey,
    device: &str,
    challenge: Option<Hash>,
    anchor: Height,
) -> Call {
    let dkey = key(device);
    let anchor_hash = chain.ledger.recent_block(anchor).unwrap_or(Hash::ZERO);
    let right = registration_challenge(CHAIN, &owner.account(), &dkey.device_key(), &anchor_hash);
    Call::RegisterDevice {
        evidence: evidence(&summary(dkey.device_key(), challenge.unwrap_or(right))),
        key: dkey.device_key(),
        capabilities: Capabilities::default(),
        pool: None,
        anchor,
        stake: Amount(1_000),
    }
}

#[test]
fn attestation_must_bind_chain_owner_key_and_a_recent_block() {
    let (mut chain, alice, bob) = funded();
    for _ in 0..3 {
        chain.block(vec![]);
    }
    let anchor = Height(2);
    // Evidence made for bob's account cannot register under alice.
    let bobs = register_call(&chain, &bob, "phone", None, anchor);
    let replayed = chain.tx(&alice, bobs);
    assert_eq!(
        chain.block(vec![replayed]).results[0],
        Err(TxError::ChallengeMismatch)
    );
    let wrong = register_call(&chain, &alice, "phone", Some(Hash::ZERO), anchor);
    let tx = chain.tx(&alice, wrong);
    assert_eq!(
        chain.block(vec![tx]).results[0],
        Err(TxError::ChallengeMismatch)
    );
    let stale = register_call(&chain, &alice, "phone", None, Height(5_000));
    let tx = chain.tx(&alice, stale);
    assert!(matches!(
        chain.block(vec![tx]).results[0],
        Err(TxError::StaleAnchor { .. })
    ));
    let mut forged = register_call(&chain, &alice, "phone", None, anchor);
    if let Call::RegisterDevice { evidence, .. } = &mut forged {
        evidence.parts.push(Bytes(b"forged".to_vec()));
    }
    let tx = chain.tx(&alice, forged);
    assert_eq!(
        chain.block(vec![tx]).results[0],
        Err(TxError::Attestation(
            "certificate chain does not verify".into()
        ))
    );
    let mut swapped = register_call(&chain, &alice, "phone", None, anchor);
    if let Call::RegisterDevice { key: k, .. } = &mut swapped {
        *k = key("other").device_key();
    }
    let tx = chain.tx(&alice, swapped);
    assert_eq!(
        chain.block(vec![tx]).results[0],
        Err(TxError::ChallengeMismatch)
    );
    let good = register_call(&chain, &alice, "phone", None, anchor);
    let tx = chain.tx(&alice, good);
    assert_eq!(chain.block(vec![tx]).results[0], Ok(()));
    assert_eq!(
        chain.balance(&alice.account()),
        100_000 - 1 - 1_000,
        "rejected transactions pay no fee"
    );
}

#[test]
fn heartbeats_are_batched_and_owner_only() {
    let (mut chain, alice, bob) = funded();
    let d1 = chain.register(&alice, "d1", Behaviour::Honest, 1_000);
    let d2 = chain.register(&alice, "d2", Behaviour::Honest, 1_000);
    let not_bobs = chain.tx(&bob, Call::Heartbeat { devices: vec![d1] });
    assert!(matches!(
        chain.block(vec![not_bobs]).results[0],
        Err(TxError::NotOwner { .. })
    ));
    let ok = chain.tx(
        &alice,
        Call::Heartbeat {
            devices: vec![d1, d2],
        },
    );
    chain.block(vec![ok]);
    let h = chain.ledger.height();
    assert_eq!(chain.ledger.device(&d1).unwrap().last_seen, h);
    assert_eq!(chain.ledger.device(&d2).unwrap().last_seen, h);
}

#[test]
fn replicas_of_a_task_never_share_an_owner() {
    let consumer = key("consumer");
    let owners: Vec<_> = (0..4).map(|i| key(&format!("o{i}"))).collect();
    let mut funded: Vec<_> = owners.iter().map(|o| (o, 100_000u64)).collect();
    funded.push((&consumer, 1_000_000));
    let mut chain = Chain::new(&funded);
    for (i, o) in owners.iter().enumerate() {
        for j in 0..3 {
            chain.register(o, &format!("d{i}-{j}"), Behaviour::Honest, 1_000);
        }
    }
    chain.submit(&consumer, 60, Verification::replicated(3), 2);
    for _ in 0..60 {
        let txs = chain.device_txs();
        chain.block(txs);
        for (_, task) in chain.ledger.tasks() {
            let mut seen = std::collections::BTreeSet::new();
            for r in &task.replicas {
                let owner = chain.ledger.device(&r.device).unwrap().owner;
                assert!(seen.insert(owner), "two replicas share an owner");
            }
        }
    }
}

#[test]
fn unfit_jobs_and_short_escrow_are_refused() {
    let (mut chain, alice, _) = funded();
    let spec = common::job_spec(10, Verification::replicated(3), 5, Height(1_000));
    let short = chain.tx(
        &alice,
        Call::SubmitJob {
            spec: spec.clone(),
            escrow: Amount(10),
        },
    );
    assert_eq!(
        chain.block(vec![short]).results[0],
        Err(TxError::EscrowTooLow {
            offered: Amount(10),
            required: Amount(250)
        })
    );
    let mut bad = spec;
    bad.verification.quorum = 4;
    let tx = chain.tx(
        &alice,
        Call::SubmitJob {
            spec: bad,
            escrow: Amount(1_000),
        },
    );
    assert!(matches!(
        chain.block(vec![tx]).results[0],
        Err(TxError::InvalidJob(_))
    ));
}

#[test]
fn cancelling_a_job_refunds_its_unused_escrow() {
    let (mut chain, alice, _) = funded();
    let before = chain.balance(&alice.account());
    let job = chain.submit(&alice, 10, Verification::replicated(3), 5);
    assert_eq!(chain.balance(&alice.account()), before - 250 - 1);
    let cancel = chain.tx(&alice, Call::CancelJob { job });
    chain.block(vec![cancel]);
    assert_eq!(chain.ledger.job(&job).unwrap().status, JobStatus::Finished);
    assert_eq!(chain.balance(&alice.account()), before - 2);
    assert!(
        chain
            .events
            .iter()
            .any(|e| matches!(e, Event::JobFinished { refund, .. } if refund.0 == 250))
    );
}

#[test]
fn a_task_starts_with_all_its_replicas_or_waits() {
    // Four new devices: one slot each until they earn a record.
    let (mut chain, consumer) = honest_devices(4, 1_000_000);
    let job = chain.submit(&consumer, 2, Verification::replicated(3), 2);
    let live: Vec<_> = chain
        .ledger
        .tasks()
        .map(|(id, t)| (id.index, t.replicas.len()))
        .collect();
    assert_eq!(
        live,
        vec![(0, 3)],
        "task 1 waits for three free devices instead of holding the fourth"
    );
    chain.run_until_idle(1_000);
    let j = chain.ledger.job(&job).unwrap();
    assert_eq!(j.accepted, 2);
    let verdicts: Vec<_> = chain
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Verdict(v) if v.task.job == job => Some(v.agreeing.len()),
            _ => None,
        })
        .collect();
    assert_eq!(verdicts, vec![3, 3], "each task ran on all three replicas");
    assert!(
        !chain
            .events
            .iter()
            .any(|e| matches!(e, Event::Missed { .. })),
        "no device held a task it could not act on"
    );

    // Two owners cannot make three replicas: the job waits, holding nobody.
    let mut small = honest_devices(2, 1_000_000).0;
    small.submit(&consumer, 1, Verification::replicated(3), 2);
    small.run_until_idle(50);
    assert_eq!(small.ledger.live_tasks(), 0);
}

/// A chain with a funded consumer and one device of its own owner per
/// behaviour, in order; their ids.
fn devices_behaving(behaviours: &[Behaviour]) -> (Chain, verigrid_types::SecretKey, Vec<DeviceId>) {
    let consumer = key("consumer");
    let owners: Vec<_> = (0..behaviours.len())
        .map(|i| key(&format!("o{i}")))
        .collect();
    let mut funded: Vec<_> = owners.iter().map(|o| (o, 100_000u64)).collect();
    funded.push((&consumer, 1_000_000));
    let mut chain = Chain::new(&funded);
    let ids = owners
        .iter()
        .zip(behaviours)
        .enumerate()
        .map(|(i, (o, b))| chain.register(o, &format!("d{i}"), *b, 1_000))
        .collect();
    (chain, consumer, ids)
}

/// Deadlines `who` has missed so far.
fn missed(chain: &Chain, who: DeviceId) -> usize {
    chain
        .events
        .iter()
        .filter(|e| matches!(e, Event::Missed { device, .. } if *device == who))
        .count()
}

/// Replicas assigned to `who` so far.
fn assigned(chain: &Chain, who: DeviceId) -> usize {
    chain
        .events
        .iter()
        .filter(|e| matches!(e, Event::Assigned { device, .. } if *device == who))
        .count()
}

#[test]
fn missed_deadlines_reassign_the_task_and_jail_repeat_offenders() {
    use Behaviour::{Honest, Silent};
    let (mut chain, consumer, ids) = devices_behaving(&[Silent, Honest, Honest, Honest, Honest]);
    let silent = ids[0];
    let job = chain.submit(&consumer, 100, Verification::replicated(3), 3);
    chain.run_until_idle(1_000);
    assert!(missed(&chain, silent) > 0);
    assert!(
        chain
            .events
            .iter()
            .any(|e| matches!(e, Event::Jailed { device, .. } if *device == silent))
    );
    let j = chain.ledger.job(&job).unwrap();
    assert_eq!(j.accepted, 100, "missed replicas were replaced");
    // It never committed: unavailable, not dishonest.
    assert_eq!(chain.ledger.device(&silent).unwrap().reputation.beta, 0);
    assert_eq!(chain.ledger.live_tasks(), 0);
}

#[test]
fn a_withheld_reveal_counts_against_the_record_and_a_missed_commit_does_not() {
    use Behaviour::{Honest, Silent, Withholder};
    let (mut chain, consumer, ids) =
        devices_behaving(&[Silent, Withholder, Honest, Honest, Honest, Honest]);
    let (silent, withholder) = (ids[0], ids[1]);
    let job = chain.submit(&consumer, 60, Verification::replicated(3), 3);
    chain.run_until_idle(1_000);
    assert!(missed(&chain, silent) > 0 && missed(&chain, withholder) > 0);
    assert_eq!(chain.ledger.job(&job).unwrap().accepted, 60);
    // Both sit in jail for their misses; only the device that committed
    // and went quiet has failures on its honesty record.
    assert_eq!(chain.ledger.device(&silent).unwrap().reputation.beta, 0);
    assert!(chain.ledger.device(&withholder).unwrap().reputation.beta > 0);
    for who in [silent, withholder] {
        assert!(
            chain
                .events
                .iter()
                .any(|e| matches!(e, Event::Jailed { device, .. } if *device == who))
        );
    }
}

/// A block of the devices' transactions and `owner` pausing or resuming
/// `device`; every transaction in it must pass.
fn set_active(
    chain: &mut Chain,
    owner: &verigrid_types::SecretKey,
    device: DeviceId,
    active: bool,
) {
    let tx = chain.tx(owner, Call::SetDeviceActive { device, active });
    let mut txs = chain.device_txs();
    txs.push(tx);
    let out = chain.block(txs);
    assert!(out.results.iter().all(Result::is_ok), "{:?}", out.results);
}

#[test]
fn a_paused_device_that_misses_deadlines_is_not_reported_jailed() {
    use Behaviour::{Honest, Silent};
    let (mut chain, consumer, ids) = devices_behaving(&[Silent, Honest, Honest, Honest, Honest]);
    let silent = ids[0];
    chain.submit(&consumer, 100, Verification::replicated(3), 3);
    // Holds a task now: its latest event is an assignment, not a miss.
    let holds_a_task = |chain: &Chain| {
        chain.events.iter().rev().find_map(|e| match e {
            Event::Assigned { device, .. } if *device == silent => Some(true),
            Event::Missed { device, .. } if *device == silent => Some(false),
            _ => None,
        }) == Some(true)
    };
    // Two misses while active, one short of jail, and a third task.
    for _ in 0..1_000 {
        if missed(&chain, silent) == 2 && holds_a_task(&chain) {
            break;
        }
        let txs = chain.device_txs();
        chain.block(txs);
    }
    assert_eq!(missed(&chain, silent), 2);
    // Its owner pauses it (unplugged) with a task assigned: that task's
    // deadline passes while it is paused.
    set_active(&mut chain, &key("o0"), silent, false);
    chain.run_until_idle(1_000);
    assert!(
        missed(&chain, silent) >= 3,
        "its assigned task missed while paused"
    );
    // The threshold was reached, but a paused device takes no work, so it
    // is not jailed, and no event may say it was.
    let device = chain.ledger.device(&silent).unwrap();
    assert_eq!(device.status, verigrid_ledger::DeviceStatus::Paused);
    assert!(
        !chain
            .events
            .iter()
            .any(|e| matches!(e, Event::Jailed { device, .. } if *device == silent)),
        "a Jailed event for a device that was not jailed"
    );
    // The misses still count: they carry over until its next accepted
    // result, so pausing is no way to shed them.
    assert!(device.misses >= 3);
}

#[test]
fn a_device_paused_in_jail_stays_out_after_its_term_until_resumed() {
    use Behaviour::{Honest, Silent};
    use verigrid_ledger::DeviceStatus;
    let (mut chain, consumer, ids) = devices_behaving(&[Silent, Honest, Honest, Honest, Honest]);
    let silent = ids[0];
    let owner = key("o0");
    chain.submit(&consumer, 400, Verification::replicated(3), 3);
    let mut until = None;
    for _ in 0..1_000 {
        let txs = chain.device_txs();
        chain.block(txs);
        if let DeviceStatus::Jailed(h) = chain.ledger.device(&silent).unwrap().status {
            until = Some(h);
            break;
        }
    }
    let until = until.expect("the silent device was jailed");
    // Its owner pauses it while it sits out: the jail term stands, and
    // the pause is kept, not dropped.
    set_active(&mut chain, &owner, silent, false);
    let status = |chain: &Chain| chain.ledger.device(&silent).unwrap().status;
    assert_eq!(status(&chain), DeviceStatus::PausedInJail(until));
    // Resuming it before its term ends does not end the term.
    set_active(&mut chain, &owner, silent, true);
    assert_eq!(status(&chain), DeviceStatus::Jailed(until));
    set_active(&mut chain, &owner, silent, false);
    // Past its term, paused: no work.
    let before = assigned(&chain, silent);
    while chain.ledger.height() <= until.plus(3) {
        let txs = chain.device_txs();
        chain.block(txs);
    }
    assert_eq!(status(&chain), DeviceStatus::PausedInJail(until));
    assert_eq!(
        assigned(&chain, silent),
        before,
        "a paused device got work after its jail"
    );
    // Resumed, it takes work again.
    chain.submit(&consumer, 40, Verification::replicated(3), 3);
    set_active(&mut chain, &owner, silent, true);
    let txs = chain.device_txs();
    chain.block(txs);
    assert!(
        assigned(&chain, silent) > before,
        "resumed after its term, it gets work"
    );
}

#[test]
fn trusted_devices_run_alone_under_spot_checks() {
    let (mut chain, consumer) = trusted_devices(6);
    let job = chain.submit(&consumer, 300, Verification::adaptive(100_000), 1);
    chain.run_until_idle(3_000);
    let j = chain.ledger.job(&job).unwrap();
    assert_eq!(j.accepted, 300);
    let solo = chain
        .events
        .iter()
        .filter(|e| matches!(e, Event::Assigned { task, solo: true, .. } if task.job == job))
        .count();
    let checks = chain
        .events
        .iter()
        .filter(|e| matches!(e, Event::SpotCheck { task } if task.job == job))
        .count();
    assert!(solo > 250, "only {solo} solo assignments");
    assert!(
        (10..=60).contains(&checks),
        "{checks} spot checks for ~10% of {solo}"
    );
    // Work per accepted task is close to one run.
    let assigned = chain
        .events
        .iter()
        .filter(|e| matches!(e, Event::Assigned { task, .. } if task.job == job))
        .count();
    assert!(
        assigned < 300 * 13 / 10,
        "{assigned} replicas for 300 tasks"
    );
}

#[test]
fn adaptive_tasks_go_first_to_trusted_devices_while_they_have_room() {
    let (mut chain, consumer) = trusted_devices(6);
    let trusted: Vec<DeviceId> = chain.devices.iter().map(|d| d.id).collect();
    // Six newcomers with no record: each may hold one task, and a task
    // whose first replica lands on one needs all three replicas.
    newcomers(&mut chain, 6);
    // Fewer tasks than the trusted devices have free slots (6 × 8).
    let job = chain.submit(&consumer, 40, Verification::adaptive(100_000), 1);
    chain.run_until_idle(2_000);
    assert_eq!(chain.ledger.job(&job).unwrap().accepted, 40);
    let mut first: std::collections::BTreeMap<u32, (DeviceId, bool)> = Default::default();
    for e in &chain.events {
        if let Event::Assigned { task, device, solo } = e
            && task.job == job
        {
            first.entry(task.index).or_insert((*device, *solo));
        }
    }
    assert_eq!(first.len(), 40);
    for (index, (device, solo)) in first {
        assert!(
            solo && trusted.contains(&device),
            "task {index} started on {device:?} (solo: {solo}) while trusted devices had room"
        );
    }
}

#[test]
fn newcomers_earn_a_record_under_adaptive_work_alone() {
    let (mut chain, consumer) = trusted_devices(6);
    let newcomers = newcomers(&mut chain, 6);
    // Only small adaptive jobs from now on, which trusted devices always
    // have room for: newcomers get work only as spot checkers. That is
    // slow (one to three agreeing results each over these 1,200 tasks,
    // against about a hundred when first replicas were drawn from every
    // device and each one a newcomer won took three replicas), but it is
    // never none.
    for _ in 0..60 {
        chain.submit(&consumer, 20, Verification::adaptive(100_000), 1);
        chain.run_until_idle(3_000);
    }
    for d in &newcomers {
        let r = chain.ledger.device(d).unwrap().reputation;
        assert!(
            r.alpha > 0 && r.beta == 0,
            "newcomer {d:?} earned no record: {r:?}"
        );
    }
}

/// `n` devices with no record behaving as `behaviour`, with `capabilities`,
/// each of an owner of its own (funded by `funder`), so nothing keeps them
/// off one task together.
fn newcomers_of_their_own(
    chain: &mut Chain,
    funder: &verigrid_types::SecretKey,
    n: usize,
    behaviour: Behaviour,
    capabilities: Capabilities,
) -> Vec<DeviceId> {
    (0..n)
        .map(|i| {
            let owner = key(&format!("own{i}-{behaviour:?}"));
            let fund = chain.tx(
                funder,
                Call::Transfer {
                    to: owner.account(),
                    amount: Amount(10_000),
                },
            );
            assert_eq!(chain.block(vec![fund]).results, vec![Ok(())]);
            let label = format!("own-d{i}-{behaviour:?}");
            chain.register_with(&owner, &label, behaviour, 1_000, capabilities.clone())
        })
        .collect()
}

/// Capabilities as [`Chain::register`] gives them, with `memory_mib`.
fn with_memory(memory_mib: u32) -> Capabilities {
    Capabilities {
        slots: 8,
        memory_mib,
        ..Default::default()
    }
}

/// The policies decided by a vote among replicas, so anchored by a trusted
/// device (docs/DESIGN.md §5.2).
fn voted_policies() -> [Verification; 3] {
    [
        Verification::adaptive(100_000),
        Verification::replicated(2),
        Verification::replicated(3),
    ]
}

#[test]
fn fresh_colluders_with_the_only_free_slots_never_decide_a_voted_task() {
    for verification in voted_policies() {
        let (mut chain, consumer) = trusted_devices(6);
        let sybils = newcomers_of_their_own(
            &mut chain,
            &consumer,
            6,
            Behaviour::Colluder,
            with_memory(1_024),
        );
        // Work only devices with a record may take, ahead in the queue and
        // far more than the trusted devices have slots for (6 × 8): while
        // it lasts, the colluders are the only devices with room for the
        // job under test.
        let mut busy = common::job_spec(
            600,
            Verification::replicated(3),
            1,
            chain.ledger.height().plus(10_000),
        );
        busy.requirements.min_reputation_ppm = 800_000;
        chain.submit_spec(&consumer, busy);
        let job = chain.submit(&consumer, 60, verification, 1);
        chain.run_until_idle(5_000);
        let j = chain.ledger.job(&job).unwrap();
        assert_eq!(j.accepted + j.failed, 60, "{verification:?}");
        let mut seen = [0usize; 4];
        for e in &chain.events {
            match e {
                Event::Verdict(v)
                    if v.agreeing
                        .iter()
                        .chain(&v.disagreeing)
                        .any(|d| sybils.contains(d)) =>
                {
                    seen[0] += 1
                }
                Event::Assigned { device, .. } if sybils.contains(device) => seen[1] += 1,
                Event::Verdict(v) if matches!(v.outcome, Outcome::Failed) => seen[2] += 1,
                _ => {}
            }
        }
        eprintln!(
            "DBG {verification:?} {seen:?} accepted {} failed {}",
            j.accepted, j.failed
        );
        for e in &chain.events {
            if let Event::Verdict(v) = e {
                assert!(
                    !v.agreeing.iter().any(|d| sybils.contains(d)),
                    "task {} accepted the colluders' answer under {verification:?}",
                    v.task.index
                );
                assert!(
                    v.disagreeing.iter().all(|d| sybils.contains(d)),
                    "task {} slashed an honest device under {verification:?}",
                    v.task.index
                );
            }
        }
        for d in &sybils {
            let alpha = chain.ledger.device(d).unwrap().reputation.alpha;
            assert_eq!(
                alpha, 0,
                "colluder {d:?} built a record under {verification:?}"
            );
        }
    }
}

#[test]
fn adaptive_tasks_on_a_network_with_no_trusted_device_run_as_two_of_three() {
    // No device has a record yet, so none can anchor a task: adaptive
    // work must still run, replicated, rather than wait for one forever.
    let (mut chain, consumer) = honest_devices(6, 100_000_000);
    let job = chain.submit(&consumer, 30, Verification::adaptive(100_000), 1);
    chain.run_until_idle(2_000);
    assert_eq!(chain.ledger.job(&job).unwrap().accepted, 30);
    for e in &chain.events {
        if let Event::Verdict(v) = e {
            assert!(v.agreeing.len() >= 2, "task {} decided alone", v.task.index);
        }
    }
}

#[test]
fn voted_work_no_trusted_device_can_take_runs_on_a_majority() {
    // Trusted devices exist, but none has the memory this job asks for:
    // its tasks cannot be anchored, and must not wait for an anchor.
    for verification in voted_policies() {
        let (mut chain, consumer) = trusted_devices(6);
        newcomers_of_their_own(
            &mut chain,
            &consumer,
            6,
            Behaviour::Honest,
            with_memory(4_096),
        );
        let mut spec = common::job_spec(30, verification, 1, chain.ledger.height().plus(10_000));
        spec.requirements.min_memory_mib = 2_048;
        let job = chain.submit_spec(&consumer, spec);
        // Long before the idle trusted devices count as offline (and stop
        // being anchors), which would free the job anyway.
        chain.run_until_idle(200);
        assert_eq!(
            chain.ledger.job(&job).unwrap().accepted,
            30,
            "{verification:?}"
        );
    }
}

#[test]
fn a_recycled_event_list_is_refilled_and_changes_nothing() {
    let (mut plain, consumer) = honest_devices(6, 100_000_000);
    let (mut recycling, _) = honest_devices(6, 100_000_000);
    plain.submit(&consumer, 60, Verification::replicated(3), 1);
    recycling.submit(&consumer, 60, Verification::replicated(3), 1);
    // More room than any block of this chain needs, so the list is never
    // reallocated and each block must fill the memory handed back.
    let spare: Vec<Event> = Vec::with_capacity(4_096);
    let mut handed_back = spare.as_ptr();
    recycling.ledger.recycle_events(spare);
    let mut blocks = 0;
    while plain.ledger.live_tasks() > 0 || blocks == 0 {
        assert!(blocks < 200, "the job never finished");
        blocks += 1;
        let txs = plain.device_txs();
        let a = plain.block(txs);
        let txs = recycling.device_txs();
        let b = recycling.block(txs);
        assert_eq!(a.state_root, b.state_root);
        assert_eq!(a.events, b.events);
        assert_eq!(
            b.events.as_ptr(),
            handed_back,
            "block {blocks} used new memory"
        );
        handed_back = b.events.as_ptr();
        recycling.ledger.recycle_events(b.events);
    }
    assert_eq!(
        plain
            .ledger
            .job(&JobId::derive(&consumer.account(), 0))
            .map(|j| j.accepted),
        Some(60)
    );
}

#[test]
fn verdicts_prove_inclusion_against_the_state_root() {
    let (mut chain, consumer) = honest_devices(4, 1_000_000);
    let job = chain.submit(&consumer, 9, Verification::replicated(3), 1);
    chain.run_until_idle(200);
    let verdicts: Vec<_> = chain
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Verdict(v) if v.task.job == job => Some(verigrid_ledger::Verdict::clone(v)),
            _ => None,
        })
        .collect();
    assert_eq!(verdicts.len(), 9);
    let root = chain.ledger.state_root();
    for i in 0..verdicts.len() {
        let proof = chain.ledger.prove_verdict(&verdicts, i).unwrap();
        assert!(proof.verify(&root));
        assert!(matches!(proof.verdict.outcome, Outcome::Accepted(_)));
        let mut forged = proof.clone();
        forged.verdict.outcome = Outcome::Accepted(Hash::ZERO);
        assert!(!forged.verify(&root));
        assert!(!proof.verify(&Hash::ZERO));
    }
}

#[test]
fn only_the_governor_changes_parameters() {
    let (mut chain, alice, _) = funded();
    let tx = chain.tx(
        &alice,
        Call::AddTrustRoot {
            root: Bytes(vec![1, 2, 3]),
        },
    );
    assert_eq!(chain.block(vec![tx]).results[0], Err(TxError::NotGovernor));
    let gov = key("governor");
    let tx = chain.tx(
        &gov,
        Call::RevokeSerials {
            serials: vec![Bytes(vec![0xab])],
        },
    );
    assert_eq!(chain.block(vec![tx]).results[0], Ok(()));
    assert_eq!(
        chain.ledger.params().attestation.revoked_serials,
        vec![Bytes(vec![0xab])]
    );
}

#[test]
fn pools_collect_their_devices_rewards() {
    let consumer = key("consumer");
    let pool = key("pool");
    let owners: Vec<_> = (0..3).map(|i| key(&format!("o{i}"))).collect();
    let mut funded: Vec<_> = owners.iter().map(|o| (o, 100_000u64)).collect();
    funded.push((&consumer, 1_000_000));
    let mut chain = Chain::new(&funded);
    chain.block(vec![]);
    let anchor = Height(0);
    let mut ids = Vec::new();
    for (i, o) in owners.iter().enumerate() {
        let mut call = register_call(&chain, o, &format!("pd{i}"), None, anchor);
        if let Call::RegisterDevice { pool: p, .. } = &mut call {
            *p = Some(pool.account());
        }
        let tx = chain.tx(o, call);
        assert_eq!(chain.block(vec![tx]).results[0], Ok(()));
        let dkey = key(&format!("pd{i}"));
        ids.push(dkey.device_key().device_id());
        chain.devices.push(common::SimDevice {
            key: dkey,
            id: *ids.last().unwrap(),
            owner: o.clone(),
            behaviour: Behaviour::Honest,
            to_commit: vec![],
            to_reveal: Default::default(),
            salts: Default::default(),
            nonce: 0,
        });
    }
    chain.submit(&consumer, 3, Verification::replicated(1), 10);
    chain.run_until_idle(100);
    assert_eq!(chain.balance(&pool.account()), 30);
    for id in &ids {
        assert_eq!(chain.ledger.device(id).unwrap().reputation.alpha, 1_000_000);
    }
}

#[test]
fn devices_must_reattest_before_their_deadline_to_keep_working() {
    let gov = key("governor");
    let owner = key("owner");
    let consumer = key("consumer");
    let mut p = common::params(gov.account());
    p.epoch_blocks = 2;
    p.reattest_epochs = 5;
    let accounts = vec![
        (owner.account(), Amount(100_000)),
        (consumer.account(), Amount(1_000_000)),
        (gov.account(), Amount(1_000)),
    ];
    let mut chain = Chain::with_params(&accounts, p);
    let device = chain.register(&owner, "phone", Behaviour::Honest, 1_000);
    let deadline = chain.ledger.device(&device).unwrap().attest_deadline;
    assert_eq!(deadline, chain.ledger.height().plus(10));
    while chain.ledger.height() < deadline {
        chain.block(vec![]);
    }
    let job = chain.submit(&consumer, 1, Verification::replicated(1), 5);
    chain.block(vec![]);
    assert_eq!(
        chain.ledger.job(&job).unwrap().next_task,
        0,
        "an expired attestation gets no work"
    );
    // Anchor to the latest block whose hash the ledger has recorded.
    let anchor = Height(chain.ledger.height().0 - 1);
    let anchor_hash = chain.ledger.recent_block(anchor).unwrap();
    let dkey = key("phone");
    let challenge =
        registration_challenge(CHAIN, &owner.account(), &dkey.device_key(), &anchor_hash);
    let tx = chain.tx(
        &owner,
        Call::Reattest {
            device,
            evidence: evidence(&summary(dkey.device_key(), challenge)),
            anchor,
        },
    );
    assert_eq!(chain.block(vec![tx]).results[0], Ok(()));
    assert!(chain.ledger.device(&device).unwrap().attest_deadline > chain.ledger.height());
    chain.run_until_idle(50);
    assert_eq!(chain.ledger.job(&job).unwrap().accepted, 1);
}

fn float_chain(colluders: usize) -> (Chain, verigrid_types::SecretKey) {
    let consumer = key("consumer");
    let owners: Vec<_> = (0..6).map(|i| key(&format!("fo{i}"))).collect();
    let mut funded: Vec<_> = owners.iter().map(|o| (o, 100_000u64)).collect();
    funded.push((&consumer, 1_000_000));
    let mut chain = Chain::new(&funded);
    chain.float_outputs = true;
    for (i, o) in owners.iter().enumerate() {
        let b = if i < colluders {
            Behaviour::Colluder
        } else {
            Behaviour::Honest
        };
        chain.register(o, &format!("fd{i}"), b, 1_000);
    }
    (chain, consumer)
}

#[test]
fn tolerance_and_argmax_accept_honest_float_noise_and_slash_a_wrong_answer() {
    use verigrid_types::tensor::Comparison;
    for comparison in [Comparison::Tolerance { ppm: 100 }, Comparison::Argmax] {
        let (mut chain, consumer) = float_chain(1);
        let mut v = Verification::replicated(3);
        v.comparison = comparison;
        let job = chain.submit(&consumer, 12, v, 2);
        chain.run_until_idle(400);
        let j = chain.ledger.job(&job).unwrap();
        assert_eq!(j.accepted, 12, "{comparison:?}");
        let colluder = chain.devices[0].id;
        for e in &chain.events {
            if let Event::Verdict(v) = e {
                assert!(
                    !v.agreeing.contains(&colluder),
                    "{comparison:?}: a wrong answer agreed"
                );
            }
        }
        assert!(
            chain
                .events
                .iter()
                .any(|e| matches!(e, Event::Slashed { device, .. } if *device == colluder)),
            "{comparison:?}: the wrong answer was not slashed"
        );
        // Honest replicas' bytes differ (noise), yet they agreed.
        let agreeing_pairs = chain
            .events
            .iter()
            .filter(|e| matches!(e, Event::Verdict(v) if v.agreeing.len() >= 2))
            .count();
        assert!(agreeing_pairs > 0);
    }
}

#[test]
fn exact_comparison_treats_float_noise_as_disagreement() {
    let (mut chain, consumer) = float_chain(0);
    let mut v = Verification::replicated(3);
    v.max_replicas = 3;
    let spec = common::job_spec(4, v, 2, chain.ledger.height().plus(1_000));
    let tx = chain.tx(
        &consumer,
        Call::SubmitJob {
            escrow: spec.max_cost().unwrap(),
            spec,
        },
    );
    chain.block(vec![tx]);
    chain.run_until_idle(200);
    // Every device's noise makes its bytes unique: no quorum, every task
    // fails at the replica cap, nobody is paid or slashed, escrow returns.
    let fails = chain
        .events
        .iter()
        .filter(|e| matches!(e, Event::Verdict(v) if v.outcome == Outcome::Failed))
        .count();
    assert_eq!(fails, 4);
    assert!(
        !chain
            .events
            .iter()
            .any(|e| matches!(e, Event::Paid { .. } | Event::Slashed { .. }))
    );
    assert!(
        chain
            .events
            .iter()
            .any(|e| matches!(e, Event::JobFinished { refund, .. } if refund.0 == 4 * 3 * 2))
    );
    chain.assert_supply_conserved();
}

#[test]
fn a_job_past_its_deadline_ends_and_refunds() {
    let (mut chain, alice, _) = funded();
    let before = chain.balance(&alice.account());
    // No devices: nothing can run before the deadline.
    let spec = common::job_spec(
        5,
        Verification::replicated(3),
        4,
        chain.ledger.height().plus(3),
    );
    let tx = chain.tx(
        &alice,
        Call::SubmitJob {
            escrow: spec.max_cost().unwrap(),
            spec,
        },
    );
    chain.block(vec![tx]);
    for _ in 0..3 {
        chain.block(vec![]);
    }
    assert!(chain.events.iter().any(
        |e| matches!(e, Event::JobFinished { failed: 5, refund, .. } if refund.0 == 5 * 4 * 5)
    ));
    assert_eq!(chain.balance(&alice.account()), before - 1);
}

#[test]
fn jobs_only_go_to_devices_that_meet_their_requirements() {
    let (mut chain, alice, bob) = funded();
    chain.register(&alice, "tee-phone", Behaviour::Honest, 1_000);
    let mut spec = common::job_spec(
        1,
        Verification::replicated(1),
        4,
        chain.ledger.height().plus(50),
    );
    spec.requirements.min_security = verigrid_types::device::SecurityLevel::StrongBox;
    let tx = chain.tx(
        &bob,
        Call::SubmitJob {
            escrow: spec.max_cost().unwrap(),
            spec,
        },
    );
    chain.block(vec![tx]);
    for _ in 0..5 {
        chain.block(vec![]);
    }
    assert!(
        !chain
            .events
            .iter()
            .any(|e| matches!(e, Event::Assigned { .. })),
        "a TEE device took a StrongBox job"
    );
}

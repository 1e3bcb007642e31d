//! The scenario: 20 devices, 4 of them colluding on the same wrong
//! output; 200 tasks with replication 3.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

mod common;

use common::{Behaviour, Chain, key, true_output};
use verigrid_ledger::{Event, Outcome};
use verigrid_types::AccountId;
use verigrid_types::job::Verification;

#[test]
fn colluding_minority_is_slashed_and_never_accepted() {
    let consumer = key("consumer");
    let owners: Vec<_> = (0..20).map(|i| key(&format!("owner-{i}"))).collect();
    let mut funded: Vec<(&verigrid_types::SecretKey, u64)> =
        owners.iter().map(|o| (o, 10_000)).collect();
    funded.push((&consumer, 10_000_000));
    let mut chain = Chain::new(&funded);
    let mut colluders = Vec::new();
    for (i, owner) in owners.iter().enumerate() {
        let behaviour = if i % 5 == 0 {
            Behaviour::Colluder
        } else {
            Behaviour::Honest
        };
        let id = chain.register(owner, &format!("device-{i}"), behaviour, 5_000);
        if behaviour == Behaviour::Colluder {
            colluders.push(id);
        }
    }
    assert_eq!(colluders.len(), 4);
    let owner_before: Vec<u64> = owners.iter().map(|o| chain.balance(&o.account())).collect();
    let consumer_before = chain.balance(&consumer.account());

    let reward = 7;
    let job = chain.submit(&consumer, 200, Verification::replicated(3), reward);
    chain.run_until_idle(400);

    let finished = chain.ledger.job(&job).unwrap();
    assert_eq!(finished.accepted + finished.failed, 200);
    assert_eq!(finished.escrow.0, 0, "escrow fully paid out or refunded");

    let mut accepted = 0;
    let mut paid_per_device: std::collections::BTreeMap<_, u64> = Default::default();
    let mut slashed = std::collections::BTreeSet::new();
    for e in &chain.events {
        match e {
            Event::Verdict(v) => {
                if let Outcome::Accepted(out) = v.outcome {
                    accepted += 1;
                    assert_eq!(out, true_output(&v.task), "a wrong output was accepted");
                    for d in &v.disagreeing {
                        assert!(colluders.contains(d), "an honest device was slashed");
                    }
                }
            }
            Event::Paid { device, amount, .. } => {
                assert!(!colluders.contains(device), "a colluder was paid");
                *paid_per_device.entry(*device).or_default() += amount.0;
            }
            Event::Slashed { device, .. } => {
                slashed.insert(*device);
            }
            _ => {}
        }
    }
    assert!(
        accepted >= 190,
        "only {accepted} of 200 tasks were accepted"
    );
    for c in &colluders {
        assert!(slashed.contains(c), "colluder {c:?} was not slashed");
        let device = chain.ledger.device(c).unwrap();
        assert_eq!(
            device.stake.0, 0,
            "a caught fabrication costs the whole stake"
        );
        assert_eq!(device.reputation.alpha, 0);
    }

    // Honest owners gain exactly reward × agreeing results, minus nothing:
    // device transactions' fees are paid by owners, so count them.
    let fees_by_owner = device_fees(&chain);
    for (i, owner) in owners.iter().enumerate() {
        let device = chain.devices[i].id;
        let earned = paid_per_device.get(&device).copied().unwrap_or(0);
        let agreed = chain
            .events
            .iter()
            .filter(|e| matches!(e, Event::Verdict(v) if v.agreeing.contains(&device)))
            .count() as u64;
        assert_eq!(
            earned,
            agreed * reward,
            "device {i} paid {earned} for {agreed} results"
        );
        let after = chain.balance(&owner.account());
        assert_eq!(
            after,
            owner_before[i] + earned - fees_by_owner[&owner.account()]
        );
    }
    let paid_total: u64 = paid_per_device.values().sum();
    let consumer_after = chain.balance(&consumer.account());
    assert_eq!(
        consumer_before - consumer_after,
        paid_total + 1,
        "consumer pays results + one fee"
    );
    chain.assert_supply_conserved();
}

fn device_fees(chain: &Chain) -> std::collections::BTreeMap<AccountId, u64> {
    let mut fees = std::collections::BTreeMap::new();
    for d in &chain.devices {
        *fees.entry(d.owner.account()).or_insert(0) += d.nonce;
    }
    fees
}

//! Invariants over random transaction sequences: money is conserved, a
//! rejected transaction changes nothing, replay gives the same roots, and a
//! task's replicas never share an owner.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

mod common;

use common::{Behaviour, Chain, key};
use proptest::prelude::*;
use verigrid_ledger::{BlockInput, Ledger};
use verigrid_types::job::Verification;
use verigrid_types::tx::{Call, SignedTx};
use verigrid_types::{AccountId, Amount, DeviceId, SecretKey};

#[derive(Clone, Debug)]
enum Op {
    Transfer {
        from: usize,
        to: usize,
        amount: u64,
    },
    Bond {
        who: usize,
        amount: u64,
    },
    Unbond {
        who: usize,
        amount: u64,
    },
    Withdraw {
        who: usize,
    },
    Submit {
        who: usize,
        tasks: u32,
        replicas: u8,
        adaptive: bool,
    },
    Cancel {
        who: usize,
    },
    Retire {
        who: usize,
        device: usize,
    },
    Pause {
        who: usize,
        device: usize,
        active: bool,
    },
    /// The owner vouches that its devices are alive, silent ones too.
    Heartbeat {
        who: usize,
    },
    /// The governor changes what availability and trust to run alone
    /// depend on.
    Govern {
        setting: u8,
    },
    Idle,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..5usize, 0..5usize, 0..200_000u64).prop_map(|(from, to, amount)| Op::Transfer {
            from,
            to,
            amount
        }),
        (0..5usize, 0..50_000u64).prop_map(|(who, amount)| Op::Bond { who, amount }),
        (0..5usize, 0..50_000u64).prop_map(|(who, amount)| Op::Unbond { who, amount }),
        (0..5usize).prop_map(|who| Op::Withdraw { who }),
        (0..5usize, 0..12u32, 1..4u8, any::<bool>()).prop_map(
            |(who, tasks, replicas, adaptive)| Op::Submit {
                who,
                tasks,
                replicas,
                adaptive
            }
        ),
        (0..5usize).prop_map(|who| Op::Cancel { who }),
        (0..5usize, 0..8usize).prop_map(|(who, device)| Op::Retire { who, device }),
        (0..5usize, 0..8usize, any::<bool>()).prop_map(|(who, device, active)| Op::Pause {
            who,
            device,
            active
        }),
        (0..5usize).prop_map(|who| Op::Heartbeat { who }),
        (0..4u8).prop_map(|setting| Op::Govern { setting }),
        Just(Op::Idle),
    ]
}

struct World {
    chain: Chain,
    people: Vec<SecretKey>,
    devices: Vec<DeviceId>,
    blocks: Vec<BlockInput>,
    jobs: Vec<(usize, verigrid_types::JobId)>,
}

fn world() -> World {
    let people: Vec<SecretKey> = (0..5).map(|i| key(&format!("person-{i}"))).collect();
    let governor = key("governor");
    let accounts: Vec<(AccountId, Amount)> = people
        .iter()
        .chain([&governor])
        .map(|p| (p.account(), Amount(1_000_000)))
        .collect();
    // Short terms, so that within a few dozen blocks devices that miss
    // deadlines are jailed and released, and silent ones go offline.
    let mut params = common::params(governor.account());
    params.epoch_blocks = 4;
    params.offline_after_epochs = 2;
    params.jail_after_misses = 1;
    params.jail_blocks = 3;
    // A short record to run alone, so devices gain and lose that trust.
    params.solo_min_successes = 2;
    params.solo_min_score_ppm = 600_000;
    let mut chain = Chain::with_params(&accounts, params);
    let mut devices = Vec::new();
    for i in 0..8 {
        let behaviour = match i % 4 {
            0 => Behaviour::Colluder,
            3 => Behaviour::Silent,
            _ => Behaviour::Honest,
        };
        devices.push(chain.register(&people[i % 5], &format!("dev-{i}"), behaviour, 2_000));
    }
    World {
        chain,
        people,
        devices,
        blocks: Vec::new(),
        jobs: Vec::new(),
    }
}

impl World {
    fn tx_for(&mut self, op: &Op) -> Option<SignedTx> {
        let call = match op {
            Op::Transfer { to, amount, .. } => Call::Transfer {
                to: self.people[*to].account(),
                amount: Amount(*amount),
            },
            Op::Bond { amount, .. } => Call::Bond {
                amount: Amount(*amount),
            },
            Op::Unbond { amount, .. } => Call::Unbond {
                amount: Amount(*amount),
            },
            Op::Withdraw { .. } => Call::Withdraw,
            Op::Submit {
                tasks,
                replicas,
                adaptive,
                ..
            } => {
                let v = if *adaptive {
                    Verification::adaptive(200_000)
                } else {
                    Verification::replicated(*replicas)
                };
                let spec = common::job_spec(*tasks, v, 3, self.chain.ledger.height().plus(40));
                let escrow = spec.max_cost().unwrap_or(Amount(0));
                Call::SubmitJob { spec, escrow }
            }
            Op::Cancel { who } => {
                let job = self.jobs.iter().rev().find(|(w, _)| w == who)?.1;
                Call::CancelJob { job }
            }
            Op::Retire { device, .. } => Call::RetireDevice {
                device: self.devices[*device],
            },
            Op::Pause { device, active, .. } => Call::SetDeviceActive {
                device: self.devices[*device],
                active: *active,
            },
            Op::Heartbeat { who } => Call::Heartbeat {
                // Device i belongs to person i % 5.
                devices: self.devices.iter().skip(*who).step_by(5).copied().collect(),
            },
            Op::Govern { setting } => {
                let mut params = self.chain.ledger.params().clone();
                let s = usize::from(*setting);
                params.solo_min_successes = [2, 1, 4, 2][s % 4];
                params.solo_min_score_ppm = [600_000, 500_000, 600_000, 900_000][s % 4];
                params.offline_after_epochs = [2, 2, 3, 2][s % 4];
                let governor = key("governor");
                let params = Box::new(params);
                return Some(self.chain.tx(&governor, Call::SetParams { params }));
            }
            Op::Idle => return None,
        };
        let who = match op {
            Op::Transfer { from, .. } => *from,
            Op::Bond { who, .. }
            | Op::Unbond { who, .. }
            | Op::Withdraw { who }
            | Op::Submit { who, .. }
            | Op::Cancel { who }
            | Op::Retire { who, .. }
            | Op::Pause { who, .. }
            | Op::Heartbeat { who } => *who,
            Op::Govern { .. } | Op::Idle => 0,
        };
        if let Op::Submit { .. } = op {
            let nonce = self
                .chain
                .ledger
                .account(&self.people[who].account())
                .map_or(0, |a| a.nonce);
            self.jobs.push((
                who,
                verigrid_types::JobId::derive(&self.people[who].account(), nonce),
            ));
        }
        let signer = self.people[who].clone();
        Some(self.chain.tx(&signer, call))
    }

    /// One block: the op's transaction plus every device's protocol step.
    /// Checks that a rejected op changed nothing.
    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let mut txs = self.chain.device_txs();
        let user_tx = self.tx_for(op);
        if let Some(tx) = user_tx.clone() {
            txs.push(tx);
        }
        let height = self.chain.ledger.height().plus(1);
        let mut without = self.chain.ledger.clone();
        let before_parent = self.chain.parent;
        let out = self.chain.block(txs.clone());
        self.blocks.push(BlockInput {
            height,
            time: self.chain.ledger.time(),
            randomness: verigrid_types::Hash::of(
                verigrid_types::Domain::Draw,
                &[
                    b"beacon",
                    &height.0.to_le_bytes(),
                    &self.chain.seed.to_le_bytes(),
                ],
            ),
            parent: before_parent,
            proposer: self.chain.proposer,
            txs: txs.clone(),
        });
        if user_tx.is_some() && out.results.last().is_some_and(Result::is_err) {
            let mut input = self.blocks.last().cloned().unwrap();
            input.txs.pop();
            let reference = without
                .apply_block(&input, &common::TrustingVerifier)
                .unwrap();
            prop_assert_eq!(
                reference.state_root,
                out.state_root,
                "rejected {:?} changed state",
                op
            );
        }
        for r in &out.results[..out.results.len() - usize::from(user_tx.is_some())] {
            prop_assert!(r.is_ok(), "device transaction rejected: {:?}", r);
        }
        prop_assert!(
            self.chain.ledger.indexes_consistent(),
            "indexes differ from those rebuilt from the records after {:?}",
            op
        );
        let s = self.chain.ledger.supply();
        prop_assert_eq!(
            self.chain.ledger.total_holdings(),
            u128::from(s.genesis - s.burned)
        );
        for (_, task) in self.chain.ledger.tasks() {
            let mut owners = std::collections::BTreeSet::new();
            for r in &task.replicas {
                let d = self.chain.ledger.device(&r.device).unwrap();
                prop_assert!(owners.insert(d.owner), "replicas share an owner");
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_over_random_transaction_sequences(ops in prop::collection::vec(op(), 1..60)) {
        let mut w = world();
        let genesis_ledger = {
            // The chain as it stood before the random blocks, for replay.
            w.chain.ledger.clone()
        };
        for op in &ops {
            w.step(op)?;
        }
        // Let everything settle, then replay all random blocks from the
        // same starting state: same roots, block by block.
        let mut replay: Ledger = genesis_ledger;
        let start = w.chain.roots.len() - w.blocks.len();
        for (i, block) in w.blocks.iter().enumerate() {
            let out = replay.apply_block(block, &common::TrustingVerifier).unwrap();
            prop_assert_eq!(out.state_root, w.chain.roots[start + i]);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// A node restarted from a snapshot at any block continues exactly as
    /// one that never stopped.
    #[test]
    fn restored_snapshots_continue_identically(ops in prop::collection::vec(op(), 1..40), cut in 0usize..40) {
        let mut w = world();
        let start = w.chain.ledger.clone();
        for op in &ops {
            w.step(op)?;
        }
        let cut = cut % w.blocks.len();
        let first = w.chain.roots.len() - w.blocks.len();
        let mut ledger = start;
        for (i, block) in w.blocks.iter().enumerate() {
            if i == cut {
                let bytes = ledger.snapshot();
                ledger = Ledger::restore(&bytes).unwrap();
            }
            let out = ledger.apply_block(block, &common::TrustingVerifier).unwrap();
            prop_assert_eq!(out.state_root, w.chain.roots[first + i]);
        }
    }

    #[test]
    fn arbitrary_bytes_never_restore_into_a_panic(bytes: Vec<u8>) {
        let _ = Ledger::restore(&bytes);
    }
}

//! The simulator on small configurations: determinism, and what each
//! policy does against colluding liars.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use verigrid_sim::{Attester, SimAttester};

/// Trusts `.0`'s roots and verifier, but attests with `.1`: a device whose
/// evidence comes from a CA the chain does not trust.
struct Mixed<'a>(&'a dyn Attester, &'a dyn Attester);

impl Attester for Mixed<'_> {
    fn attest(
        &self,
        key: &verigrid_types::DeviceKey,
        challenge: &[u8],
    ) -> anyhow::Result<verigrid_types::device::Evidence> {
        self.1.attest(key, challenge)
    }
    fn verifier(&self) -> &dyn verigrid_types::device::AttestationVerifier {
        self.0.verifier()
    }
    fn trust_roots(&self) -> Vec<verigrid_types::Bytes> {
        self.0.trust_roots()
    }
}
use verigrid_sim::network::{Config, Policy, SAMPLE_EVERY, run, run_profiled};

fn config(policy: Policy, seed: u64) -> Config {
    Config {
        seed,
        ..Config::new(60, 600, 0.2, policy)
    }
}

#[test]
fn same_seed_gives_the_same_numbers() {
    let attester = SimAttester::new("test-ca");
    let a = run(&config(Policy::Adaptive(100_000), 7), &attester).unwrap();
    let b = run(&config(Policy::Adaptive(100_000), 7), &attester).unwrap();
    assert_eq!(a, b);
    let c = run(&config(Policy::Adaptive(100_000), 8), &attester).unwrap();
    assert_ne!(a.state_root, c.state_root);
}

#[test]
fn the_benchmark_baseline_signs_and_checks_a_sample_of_the_runs_transactions() {
    let attester = SimAttester::new("test-ca");
    let (report, profile) =
        run_profiled(&config(Policy::Replicated(3), 1), &attester, &mut |_| {}).unwrap();
    let floor = profile.floor;
    // Device transactions only: not the 60 registrations nor the job.
    assert!(floor.transactions > 0 && floor.transactions < profile.txs);
    assert_eq!(
        floor.sampled as u64,
        floor.transactions.div_ceil(SAMPLE_EVERY),
        "every {SAMPLE_EVERY}th device transaction is re-signed and re-checked"
    );
    assert!(floor.sign > std::time::Duration::ZERO && floor.check > std::time::Duration::ZERO);
    // Timing the baseline changes nothing the run reports.
    assert_eq!(
        report,
        run(&config(Policy::Replicated(3), 1), &attester).unwrap()
    );
}

#[test]
fn unverified_execution_accepts_the_liars_answers() {
    let r = run(&config(Policy::None, 1), &SimAttester::new("test-ca")).unwrap();
    assert_eq!(r.accepted, 600);
    assert!(
        r.wrong_accepted > 60,
        "only {} wrong of 600 with 20 % liars",
        r.wrong_accepted
    );
}

#[test]
fn unverified_turncoats_turn_as_they_do_under_verification() {
    // The baseline's warm-up is the same work as the verified policies'
    // (three results a task), run unverified: its turncoats turn when it
    // ends, as theirs do, and nothing checks them after.
    let config = Config {
        adversary: verigrid_sim::Adversary::Turncoat,
        ..config(Policy::None, 1)
    };
    assert_eq!(config.warmup_tasks, 3 * config.tasks);
    let r = run(&config, &SimAttester::new("test-ca")).unwrap();
    assert_eq!(r.accepted, 600);
    assert!(
        r.wrong_accepted > 60,
        "only {} wrong of 600 with 20 % turned liars",
        r.wrong_accepted
    );
}

#[test]
fn lying_pays_only_where_nothing_is_checked() {
    let attester = SimAttester::new("test-ca");
    let unchecked = run(&config(Policy::None, 1), &attester).unwrap();
    assert!(unchecked.honest_net > 0.0, "{unchecked:?}");
    // Unverified, a liar earns what an honest device does, within the
    // spread of how many tasks each drew.
    let gap = (unchecked.liar_net - unchecked.honest_net).abs();
    assert!(gap < unchecked.honest_net / 2.0, "{unchecked:?}");
    let checked = run(&config(Policy::Replicated(3), 1), &attester).unwrap();
    assert!(checked.honest_net > 0.0, "{checked:?}");
    // Caught, a liar loses its stake: far more than any reward.
    assert!(checked.liar_net < -1_000.0, "{checked:?}");
}

#[test]
fn replication_accepts_no_colluders_answer_and_slashes_them() {
    let r = run(
        &config(Policy::Replicated(3), 1),
        &SimAttester::new("test-ca"),
    )
    .unwrap();
    assert_eq!(r.wrong_accepted, 0);
    assert_eq!(r.honest_slashed, 0);
    assert!(r.proofs_checked > 0);
}

#[test]
fn forged_attestation_is_refused() {
    let honest = SimAttester::new("test-ca");
    let other = SimAttester::new("someone-else");
    // Devices attested by an untrusted CA cannot join: the network refuses
    // to start rather than run without them.
    let err = run(&config(Policy::Replicated(3), 1), &Mixed(&honest, &other)).unwrap_err();
    assert!(
        err.to_string().contains("not signed by a trusted root"),
        "{err}"
    );
}

#[test]
fn a_dev_network_attests_through_the_real_verifier() {
    use verigrid_sim::DevAttester;
    use verigrid_sim::network::GENESIS_TIME;
    let attester = DevAttester::new(&[1; 32], GENESIS_TIME).unwrap();
    let r = run(
        &Config {
            devices: 12,
            tasks: 60,
            ..config(Policy::Replicated(3), 1)
        },
        &attester,
    )
    .unwrap();
    assert_eq!(r.wrong_accepted, 0);
    assert_eq!(r.accepted, 60);

    // Chains from another development CA are refused with the verifier's
    // message.
    let stranger = DevAttester::new(&[2; 32], GENESIS_TIME).unwrap();
    let err = run(
        &config(Policy::Replicated(3), 1),
        &Mixed(&attester, &stranger),
    )
    .unwrap_err();
    assert!(err.to_string().contains("trusted root"), "{err}");
}

fn phones(policy: Policy, adversaries: f64, seed: u64) -> Config {
    Config {
        seed,
        slots: 4,
        conditions: verigrid_sim::Conditions::phones(),
        ..Config::new(60, 300, adversaries, policy)
    }
}

#[test]
fn phones_are_simulated_the_same_way_for_the_same_seed() {
    let attester = SimAttester::new("test-ca");
    let a = run(&phones(Policy::Adaptive(100_000), 0.2, 3), &attester).unwrap();
    let b = run(&phones(Policy::Adaptive(100_000), 0.2, 3), &attester).unwrap();
    assert_eq!(a, b);
    let c = run(&phones(Policy::Adaptive(100_000), 0.2, 4), &attester).unwrap();
    assert_ne!(a.state_root, c.state_root);
}

#[test]
fn phones_that_pause_leave_and_run_late_miss_deadlines_yet_every_result_is_right() {
    let attester = SimAttester::new("test-ca");
    let ideal = run(
        &Config {
            conditions: verigrid_sim::Conditions::ideal(),
            ..phones(Policy::Replicated(3), 0.0, 1)
        },
        &attester,
    )
    .unwrap();
    let wild = run(&phones(Policy::Replicated(3), 0.0, 1), &attester).unwrap();
    assert_eq!((ideal.missed, ideal.jailed, ideal.failed), (0, 0, 0));
    // Devices that pause with tasks running, leave, or are slow miss
    // deadlines; the ledger replaces them and jails repeat offenders.
    assert!(wild.missed > 0, "{wild:?}");
    assert!(wild.job_blocks > ideal.job_blocks && wild.latency_p90 > ideal.latency_p90);
    // Every task is decided, none wrongly, and no honest device is slashed
    // for being slow or away.
    assert_eq!(wild.accepted + wild.failed, 300);
    assert!(wild.accepted > 290, "{wild:?}");
    assert_eq!((wild.wrong_accepted, wild.honest_slashed), (0, 0));
    assert_eq!(wild.verdicts_checked, 300);
}

#[test]
fn adaptive_replication_checks_phones_within_the_work_goal() {
    // The report's goal: no wrong result at 20 % colluders for at most
    // 1.2 runs of each task, here on phones that pause, leave and run
    // late. Drawing first replicas from every device cost 1.31 on this
    // run; from the trusted devices while they have room, 1.12.
    let attester = SimAttester::new("test-ca");
    let r = run(&phones(Policy::Adaptive(100_000), 0.2, 1), &attester).unwrap();
    assert_eq!(r.wrong_accepted, 0, "{r:?}");
    assert!(r.replicas_per_task <= 1.2, "{r:?}");
    assert_eq!(r.accepted + r.failed, 300);
}

#[test]
fn colluders_joining_a_busy_network_get_no_wrong_result_accepted() {
    // 20 % colluders register after the warm-up, with no record, into a
    // network whose trusted devices the measured job keeps busy: they
    // are then the only devices with free slots. Were an adaptive task's
    // replicas drawn from them alone, they would agree on their answer
    // and build the record to run alone on it: 16 wrong of 3,000 on this
    // run, and 9 of the 20 colluders slashed, before adaptive tasks were
    // anchored by a trusted device.
    let attester = SimAttester::new("test-ca");
    let config = Config {
        liars_join: verigrid_sim::Joining::AfterWarmup,
        ..Config::new(100, 3_000, 0.2, Policy::Adaptive(100_000))
    };
    let r = run(&config, &attester).unwrap();
    assert_eq!(r.wrong_accepted, 0, "{r:?}");
    assert_eq!(r.honest_slashed, 0, "{r:?}");
    assert_eq!((r.liars, r.liars_slashed), (20, 20), "{r:?}");
    assert_eq!(r.accepted + r.failed, 3_000);
    assert!(r.replicas_per_task <= 1.2, "{r:?}");
}

#[test]
fn lazy_liars_joining_late_only_cost_replicas() {
    // Random outputs agree with nothing: every lie meets a disagreeing
    // replica and is slashed, and the price is the replicas that took.
    let attester = SimAttester::new("test-ca");
    let config = Config {
        adversary: verigrid_sim::Adversary::Lazy,
        liars_join: verigrid_sim::Joining::AfterWarmup,
        ..Config::new(100, 3_000, 0.2, Policy::Replicated(2))
    };
    let r = run(&config, &attester).unwrap();
    assert_eq!(r.wrong_accepted, 0, "{r:?}");
    assert_eq!(r.honest_slashed, 0, "{r:?}");
    assert!(r.liars_slashed > 0, "{r:?}");
    assert_eq!(r.accepted + r.failed, 3_000);
    assert!(r.replicas_per_task > 2.0, "{r:?}");
}

#[test]
fn turncoats_cannot_join_after_the_warm_up_that_gives_them_their_record() {
    let attester = SimAttester::new("test-ca");
    let config = Config {
        adversary: verigrid_sim::Adversary::Turncoat,
        liars_join: verigrid_sim::Joining::AfterWarmup,
        ..Config::new(12, 10, 0.2, Policy::Adaptive(100_000))
    };
    let e = run(&config, &attester).unwrap_err().to_string();
    assert!(
        e.contains("turncoats earn their record in the warm-up"),
        "{e}"
    );
}

fn tensors(policy: Policy, adversaries: f64, adversary: verigrid_sim::Adversary) -> Config {
    Config {
        adversary,
        workload: verigrid_sim::Workload::Tensors {
            tolerance_ppm: 1_000,
            noise_ppm: 250,
        },
        // No warm-up: the liars are caught in the measured job itself.
        warmup_tasks: 0,
        ..Config::new(60, 600, adversaries, policy)
    }
}

#[test]
fn honest_float_noise_is_accepted_within_tolerance_and_liars_are_still_caught() {
    use verigrid_sim::Adversary;
    let attester = SimAttester::new("test-ca");
    // Every honest device's output differs in the last digits, so no two
    // hashes agree, yet within the job's tolerance every task is accepted
    // and nobody is slashed.
    let honest = run(
        &tensors(Policy::Replicated(3), 0.0, Adversary::Colluding),
        &attester,
    )
    .unwrap();
    assert_eq!((honest.accepted, honest.wrong_accepted), (600, 0));
    assert_eq!(honest.honest_slashed, 0);
    assert!((honest.replicas_per_task - 3.0).abs() < 1e-9, "{honest:?}");
    for adversary in [Adversary::Colluding, Adversary::Lazy] {
        let none = run(&tensors(Policy::None, 0.2, adversary), &attester).unwrap();
        assert!(none.wrong_accepted > 60, "{adversary:?}: {none:?}");
        let checked = run(&tensors(Policy::Replicated(3), 0.2, adversary), &attester).unwrap();
        assert_eq!(checked.wrong_accepted, 0, "{adversary:?}: {checked:?}");
        assert_eq!(checked.honest_slashed, 0, "{adversary:?}: {checked:?}");
        assert!(checked.liars_slashed > 0, "{adversary:?}: {checked:?}");
    }
}

#[test]
fn noise_beyond_the_tolerance_splits_honest_devices() {
    // The same job with noise wider than its tolerance: honest devices no
    // longer agree and every task fails. The comparison, not the hash, is
    // what lets noisy results through.
    let config = Config {
        workload: verigrid_sim::Workload::Tensors {
            tolerance_ppm: 1_000,
            noise_ppm: 20_000,
        },
        ..Config::new(60, 300, 0.0, Policy::Replicated(3))
    };
    let r = run(&config, &SimAttester::new("test-ca")).unwrap();
    assert_eq!(
        (r.accepted, r.failed, r.honest_slashed),
        (0, 300, 0),
        "{r:?}"
    );
}

#[test]
fn a_stream_of_small_jobs_is_verified_job_by_job() {
    let attester = SimAttester::new("test-ca");
    let stream = |jobs, arrival_blocks| Config {
        jobs,
        arrival_blocks,
        ..config(Policy::Adaptive(100_000), 1)
    };
    let batch = run(&stream(1, 0), &attester).unwrap();
    let trickle = run(&stream(30, 1), &attester).unwrap();
    // Every job's verdicts rebuild its own verdict root; sampled proofs of
    // each check against the state root.
    assert_eq!(trickle.verdicts_checked, 600);
    assert_eq!(trickle.accepted + trickle.failed, 600);
    assert!(trickle.proofs_checked >= 30, "{trickle:?}");
    assert_eq!(trickle.wrong_accepted, 0);
    // Thirty jobs arriving a block apart are a different run from one
    // batch, and take longer from the first submission to the last verdict.
    assert_ne!(batch.state_root, trickle.state_root);
    assert!(
        trickle.job_blocks > batch.job_blocks,
        "{trickle:?} {batch:?}"
    );
    assert_eq!(trickle, run(&stream(30, 1), &attester).unwrap());
    let err = run(&stream(0, 0), &attester).unwrap_err();
    assert!(
        err.to_string().contains("--jobs must be between 1"),
        "{err}"
    );
}

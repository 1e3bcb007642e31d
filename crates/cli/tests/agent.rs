//! Agent resilience and policy, as processes on 127.0.0.1 around one
//! `verigrid dev` validator:
//! - an agent SIGKILLed mid-job and restarted keeps its device and reveals
//!   every result it had committed (nothing finished is lost), and the node
//!   SIGKILLed and restarted under the agents changes nothing either; no
//!   verdict pays a device twice;
//! - a device outside its owner's policy takes no work;
//! - a device whose attestation fails is refused with the verifier's words.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Dev, Proc, agent, agent_device, agent_logs, logs, submit_wasm_job, user, wait_until};
use verigrid_client::views::Event;
use verigrid_client::{Client, Signer};
use verigrid_ledger::{DeviceStatus, JobStatus, Outcome};
use verigrid_types::job::Verification;
use verigrid_types::{JobId, TaskId};

const TASKS: u32 = 16;

fn submit(client: &Client, n0: u32) -> JobId {
    let program = client
        .put_blob(&wat::parse_str(include_str!("../src/jobs/primes.wat")).unwrap())
        .unwrap();
    let inputs: Vec<_> = (0..TASKS)
        .map(|i| client.put_blob(&(n0 + 7_919 * i).to_le_bytes()).unwrap())
        .collect();
    let status = client.status().unwrap();
    let mut signer = Signer::account(user(0), &status.chain_id, &client.params().unwrap());
    submit_wasm_job(
        client,
        &mut signer,
        program,
        &inputs,
        Verification::replicated(3),
        10,
    )
}

#[test]
fn killed_agents_and_nodes_lose_no_finished_result_and_pay_once() {
    let mut dev = Dev::start("agent-restart", 1, &agent_logs(4));
    let (dir, client, api) = (
        dev.dir.to_path_buf(),
        dev.client.clone(),
        vec![dev.api.clone()],
    );
    let all_logs = || logs(&dev.paths);
    let mut agents: Vec<Proc> = (0..4).map(|i| agent(&dir, i, i + 1, &api, false)).collect();
    wait_until(
        "the agents register",
        Duration::from_secs(90),
        all_logs,
        || {
            (0..4).all(|i| {
                agent_device(&dir, i).is_some_and(|d| client.device(&d).is_ok_and(|r| r.is_some()))
            })
        },
    );
    let device0 = agent_device(&dir, 0).unwrap();
    let mut stream = client.stream().unwrap();
    let job = submit(&client, 400_000);

    // Kill agent 0 once it has committed a result, and note what it had
    // committed: each of those must still be revealed.
    let mut committed_at_kill: BTreeSet<TaskId> = BTreeSet::new();
    wait_until(
        "agent 0 commits a result",
        Duration::from_secs(120),
        all_logs,
        || {
            let Ok(Some(listing)) = client.device_tasks(&device0) else {
                return false;
            };
            committed_at_kill = listing
                .tasks
                .iter()
                .filter(|t| t.committed)
                .map(|t| t.id())
                .collect();
            !committed_at_kill.is_empty()
        },
    );
    agents[0].kill();
    agents[0].restart();

    // Then the node itself, mid-job.
    std::thread::sleep(Duration::from_millis(1_500));
    dev.node.kill();
    std::thread::sleep(Duration::from_secs(2));
    dev.node.restart();
    wait_until(
        "the node comes back",
        Duration::from_secs(60),
        all_logs,
        || client.status().is_ok(),
    );

    let mut events: Vec<Vec<Event>> = Vec::new();
    wait_until(
        "the job finishes",
        Duration::from_secs(240),
        all_logs,
        || {
            loop {
                match stream.next_block(Duration::from_millis(50)) {
                    Ok(Some(b)) => events.push(b.events),
                    Ok(None) => break,
                    Err(_) => match client.stream() {
                        Ok(s) => stream = s,
                        Err(_) => break,
                    },
                }
            }
            client
                .job(&job)
                .is_ok_and(|j| j.is_some_and(|j| j.status != JobStatus::Open))
        },
    );

    let record = client.job(&job).unwrap().unwrap();
    assert_eq!(
        record.accepted,
        TASKS,
        "every task accepted\n{}",
        all_logs()
    );
    for task in &committed_at_kill {
        let verdict = client.verdict(task).unwrap().unwrap().verdict;
        assert!(matches!(verdict.outcome, Outcome::Accepted(_)));
        assert!(
            verdict.agreeing.contains(&device0),
            "task {} committed before the kill was revealed after the restart\n{}",
            task.index,
            all_logs()
        );
    }
    // The restarted agent is the same device (its key survived).
    assert_eq!(agent_device(&dir, 0), Some(device0));
    // In every block seen, a device is paid once per verdict it agreed with.
    for block in &events {
        let paid = block
            .iter()
            .filter(|e| matches!(e, Event::Paid { device, .. } if device.0 == device0.0))
            .count();
        let agreed = block
            .iter()
            .filter(|e| matches!(e, Event::Verdict { verdict } if verdict.agreeing.iter().any(|d| d.0 == device0.0)))
            .count();
        assert_eq!(paid, agreed, "one payment per agreeing verdict");
    }
    drop(agents);
}

#[test]
fn a_device_outside_policy_takes_no_work_and_a_forged_one_is_refused() {
    let dev = Dev::start("agent-policy", 2, &["hot.log".into(), "forged.log".into()]);
    let (dir, client, api) = (
        dev.dir.to_path_buf(),
        dev.client.clone(),
        vec![dev.api.clone()],
    );
    let all_logs = || dev.logs();

    // On battery: the agent keeps its key but does not register (or pauses).
    let on_battery = Proc::start(
        &dir,
        "hot",
        &[
            "agent".into(),
            "--data-dir".into(),
            dir.join("hot").display().to_string(),
            "--dev-user".into(),
            "1".into(),
            "--on-battery".into(),
            "--temperature".into(),
            "47".into(),
            "--api".into(),
            api[0].clone(),
        ],
    );
    wait_until(
        "the agent reports its policy",
        Duration::from_secs(60),
        all_logs,
        || {
            std::fs::read_to_string(dir.join("hot.log"))
                .is_ok_and(|l| l.contains("policy forbids work"))
        },
    );
    let log = std::fs::read_to_string(dir.join("hot.log")).unwrap();
    assert!(log.contains("battery power"), "{log}");

    // A device attested by a CA the chain does not trust.
    let forged = std::process::Command::new(env!("CARGO_BIN_EXE_verigrid"))
        .args([
            "agent",
            "--dev-user",
            "2",
            "--allow-battery",
            "--min-battery",
            "0",
            "--max-temperature",
            "200",
        ])
        .arg("--data-dir")
        .arg(dir.join("forged"))
        .args(["--dev-ca-seed", &"ab".repeat(32), "--api", &api[0]])
        .output()
        .unwrap();
    assert!(!forged.status.success());
    let stderr = String::from_utf8_lossy(&forged.stderr);
    assert!(stderr.contains("refused this device"), "{stderr}");
    assert!(
        stderr.contains("trusted root"),
        "the verifier's message reaches the owner: {stderr}"
    );

    // A job runs without the device outside policy.
    let _honest: Vec<Proc> = (0..3).map(|i| agent(&dir, i, i + 3, &api, false)).collect();
    let job = submit(&client, 1_000);
    wait_until(
        "the job finishes",
        Duration::from_secs(180),
        all_logs,
        || {
            client
                .job(&job)
                .is_ok_and(|j| j.is_some_and(|j| j.status != JobStatus::Open))
        },
    );
    let key = verigrid_client::keystore::load(&dir.join("hot/device.key")).unwrap();
    let device = key.device_key().device_id();
    match client.device(&device).unwrap() {
        None => {}
        Some(d) => {
            assert_ne!(
                d.status,
                DeviceStatus::Active,
                "a device outside policy is not active"
            );
            assert_eq!(d.running, 0);
        }
    }
    for index in 0..TASKS {
        let verdict = client
            .verdict(&TaskId { job, index })
            .unwrap()
            .unwrap()
            .verdict;
        assert!(!verdict.agreeing.contains(&device) && !verdict.disagreeing.contains(&device));
    }
    drop(on_battery);
}

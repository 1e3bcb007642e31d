//! The consumer's commands as a developer runs them, against a `verigrid
//! dev` validator and three agents on 127.0.0.1: `keys`, `account`,
//! `job submit --wait`, `job status`, `job results --out`, `device`, and
//! `job cancel` returning the escrow of a job no device set can take.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{Dev, agent, agent_device, agent_logs};
use serde_json::Value;

fn primes_below(n: u32) -> u64 {
    (2..n)
        .filter(|&i| (2..).take_while(|d| d * d <= i).all(|d| i % d != 0))
        .count() as u64
}

/// Runs `verigrid args…` against `api`; returns its stdout, failing the
/// test (with stderr and the logs) if it fails.
fn verigrid(api: &str, args: &[&str], logs: &dyn Fn() -> String) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_verigrid"))
        .args(args)
        .env("VERIGRID_API", api)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "verigrid {args:?} failed\nstdout: {stdout}\nstderr: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        logs()
    );
    stdout
}

/// The last line of `stdout` that parses as JSON.
fn json(stdout: &str) -> Value {
    stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON in {stdout}"))
}

fn write_inputs(dir: &Path, ns: &[u32]) -> Vec<String> {
    ns.iter()
        .map(|n| {
            let path = dir.join(format!("n{n}.bin"));
            std::fs::write(&path, n.to_le_bytes()).unwrap();
            path.display().to_string()
        })
        .collect()
}

#[test]
fn a_developer_submits_a_job_reads_proven_results_and_cancels_one() {
    let dev = Dev::start("consumer", 4, &agent_logs(3));
    let (dir, api) = (dev.dir.to_path_buf(), dev.api.clone());
    let all_logs = || dev.logs();
    let _agents: Vec<_> = (0..3)
        .map(|i| agent(&dir, i, i + 1, std::slice::from_ref(&api), false))
        .collect();

    // A fresh key file, mode 0600, and its account (unfunded: never seen).
    let key = dir.join("me.key");
    let key_arg = key.display().to_string();
    let shown = verigrid(&api, &["keys", "new", &key_arg], &all_logs);
    assert!(shown.contains("account"), "{shown}");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let before = json(&verigrid(
        &api,
        &["account", "--dev-user", "0", "--json"],
        &all_logs,
    ));
    let balance_before = before["balance"].as_u64().unwrap();

    // Submit and wait: every task's output is the right count.
    let ns = [10_000, 20_000, 30_000];
    let inputs = write_inputs(&dir, &ns);
    let program = concat!(env!("CARGO_MANIFEST_DIR"), "/src/jobs/primes.wat");
    let mut args = vec![
        "job",
        "submit",
        program,
        "--replicas",
        "3",
        "--reward",
        "10",
        "--dev-user",
        "0",
        "--wait",
        "--json",
        "--inputs",
    ];
    args.extend(inputs.iter().map(String::as_str));
    let submitted = json(&verigrid(&api, &args, &all_logs));
    let job = submitted["job"].as_str().unwrap().to_owned();
    let results = submitted["results"]
        .as_array()
        .expect("--wait --json prints the results");
    assert_eq!(results.len(), ns.len(), "{submitted}");
    for (r, n) in results.iter().zip(ns) {
        let out = verigrid_types::hash::unhex(r["output_hex"].as_str().unwrap()).unwrap();
        assert_eq!(out, primes_below(n).to_le_bytes(), "{r}");
        assert_eq!(r["agreeing"], 3);
    }

    // Status, then results again with the outputs written to files.
    let status = json(&verigrid(
        &api,
        &["job", "status", &job, "--json"],
        &all_logs,
    ));
    assert_eq!(status["status"], "finished", "{status}");
    assert_eq!(status["accepted"], 3);
    let out_dir = dir.join("out");
    verigrid(
        &api,
        &[
            "job",
            "results",
            &job,
            "--out",
            &out_dir.display().to_string(),
        ],
        &all_logs,
    );
    for (index, n) in ns.iter().enumerate() {
        let bytes = std::fs::read(out_dir.join(format!("{index}.out"))).unwrap();
        assert_eq!(bytes, primes_below(*n).to_le_bytes());
    }

    // The devices that did the work, as their owners see them.
    let device = agent_device(&dir, 0).unwrap();
    let record = json(&verigrid(
        &api,
        &["device", &device.0.to_hex(), "--json"],
        &all_logs,
    ));
    assert_eq!(record["status"], "active", "{record}");

    // Five replicas of different owners cannot be found among three
    // devices: the job waits, and cancelling it returns its escrow.
    let waiting = json(&verigrid(
        &api,
        &[
            "job",
            "submit",
            program,
            "--replicas",
            "5",
            "--dev-user",
            "0",
            "--json",
            "--inputs",
            &inputs[0],
        ],
        &all_logs,
    ));
    let waiting = waiting["job"].as_str().unwrap().to_owned();
    let cancelled = json(&verigrid(
        &api,
        &["job", "cancel", &waiting, "--dev-user", "0", "--json"],
        &all_logs,
    ));
    assert_eq!(cancelled["cancelled"], waiting.as_str());
    let status = json(&verigrid(
        &api,
        &["job", "status", &waiting, "--json"],
        &all_logs,
    ));
    assert_eq!(status["escrow"], 0, "the escrow came back: {status}");

    // The consumer paid 3 tasks × 3 agreeing replicas × 10, plus fees.
    let after = json(&verigrid(
        &api,
        &["account", "--dev-user", "0", "--json"],
        &all_logs,
    ));
    let spent = balance_before - after["balance"].as_u64().unwrap();
    assert!(
        (90..90 + 20).contains(&spent),
        "rewards 90 plus a few fees, not escrow: spent {spent}"
    );
}

//! The commands a newcomer runs, run as a newcomer would.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn verigrid(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_verigrid"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run verigrid: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn dev_runs_a_verified_job_end_to_end() {
    let (ok, stdout, stderr) = verigrid(&["dev"]);
    assert!(ok, "verigrid dev failed: {stderr}");
    assert!(stdout.contains("accepted            200 / 200"), "{stdout}");
    assert!(stdout.contains("wrong accepted      0"), "{stdout}");
    assert!(stdout.contains("liars slashed       2 / 2"), "{stdout}");
}

#[test]
fn sim_prints_json_for_scripts_and_is_deterministic() {
    let args = [
        "sim",
        "--devices",
        "30",
        "--tasks",
        "100",
        "--seed",
        "4",
        "--json",
    ];
    let (ok, first, stderr) = verigrid(&args);
    assert!(ok, "{stderr}");
    assert!(
        first.trim_start().starts_with('{') && first.contains("\"wrong_accepted\":0"),
        "{first}"
    );
    let (_, second, _) = verigrid(&args);
    assert_eq!(first, second);
}

#[test]
fn bad_arguments_get_a_clear_error_and_a_failing_exit_code() {
    let (ok, _, stderr) = verigrid(&["sim", "--adversaries", "1.5"]);
    assert!(!ok);
    assert!(
        stderr.contains("--adversaries must be a fraction between 0 and 1"),
        "{stderr}"
    );
    let (ok, _, stderr) = verigrid(&["dev", "--devices", "2"]);
    assert!(!ok);
    assert!(stderr.contains("--devices must be at least 3"), "{stderr}");
}

//! The verification report (docs/verification.md): wrong results accepted
//! and work per task, for each adversary share and verification policy.

use std::fmt::Write as _;

use anyhow::Result;

use crate::attestation::SimAttester;
use crate::conditions::Conditions;
use crate::network::{Adversary, Config, Joining, Policy, Report, Workload, run};

/// One cell of the report.
#[derive(Clone, Debug)]
pub struct Row {
    /// Share of lying devices.
    pub adversaries: f64,
    /// Policy.
    pub policy: Policy,
    /// The run's figures.
    pub report: Report,
}

/// The policies compared.
pub const POLICIES: [Policy; 4] = [
    Policy::None,
    Policy::Replicated(2),
    Policy::Replicated(3),
    Policy::Adaptive(100_000),
];

/// The adversary shares compared.
pub const SHARES: [f64; 4] = [0.0, 0.10, 0.20, 0.33];

/// Runs every (share, policy) pair with `devices` devices and `tasks` tasks.
///
/// # Errors
/// Any failed run.
pub fn sweep(
    devices: usize,
    tasks: u32,
    seed: u64,
    adversary: Adversary,
    liars_join: Joining,
) -> Result<Vec<Row>> {
    let setting = Setting {
        liars_join,
        ..Setting::default()
    };
    sweep_in(devices, tasks, seed, adversary, &setting)
}

/// What a sweep runs in, beyond its size and adversaries.
#[derive(Clone, Copy, Debug)]
pub struct Setting {
    /// How devices behave in time.
    pub conditions: Conditions,
    /// Task slots each device declares.
    pub slots: u16,
    /// What tasks output.
    pub workload: Workload,
    /// When the liars join.
    pub liars_join: Joining,
}

impl Default for Setting {
    /// The report's first tables: ideal devices with 16 slots, exact
    /// outputs.
    fn default() -> Self {
        Self {
            conditions: Conditions::ideal(),
            slots: 16,
            workload: Workload::Exact,
            liars_join: Joining::FromStart,
        }
    }
}

impl Setting {
    /// A run of `policy` in this setting.
    fn config(&self, devices: usize, tasks: u32, adversaries: f64, policy: Policy) -> Config {
        Config {
            conditions: self.conditions,
            slots: self.slots,
            workload: self.workload,
            liars_join: self.liars_join,
            ..Config::new(devices, tasks, adversaries, policy)
        }
    }
}

/// [`sweep`] in the given setting.
///
/// # Errors
/// Any failed run.
pub fn sweep_in(
    devices: usize,
    tasks: u32,
    seed: u64,
    adversary: Adversary,
    setting: &Setting,
) -> Result<Vec<Row>> {
    let attester = SimAttester::new("sim/platform-ca");
    let mut rows = Vec::new();
    for adversaries in SHARES {
        for policy in POLICIES {
            // The unverified baseline never verifies anything, not even
            // its warm-up (`Config::new`): otherwise the warm-up's
            // slashing would clean its device set.
            let config = Config {
                adversary,
                seed,
                ..setting.config(devices, tasks, adversaries, policy)
            };
            rows.push(Row {
                adversaries,
                policy,
                report: run(&config, &attester)?,
            });
        }
    }
    Ok(rows)
}

/// A policy's name in tables.
#[must_use]
pub fn policy_name(policy: Policy) -> String {
    match policy {
        Policy::None => "none (1 replica, unverified)".into(),
        Policy::Replicated(n) => format!("replication {n}"),
        Policy::Adaptive(ppm) => format!("adaptive ({}% spot checks)", f64::from(ppm) / 10_000.0),
    }
}

/// The report as Markdown.
#[must_use]
pub fn markdown(rows: &[Row], title: &str, devices: usize, tasks: u32, seed: u64) -> String {
    let header = format!(
        "{devices} simulated devices, {tasks} measured tasks per cell, seed {seed}. Verified \
         policies first run a warm-up job of {tasks} tasks with replication 3, so devices have \
         records (adaptive replication needs them); the unverified baseline first runs {} tasks \
         unverified, the same work.",
        u64::from(tasks) * 3
    );
    table(rows, title, &header, None)
}

/// The report of a sweep in real-world conditions as Markdown: what
/// verification does once devices come and go, run slowly and miss
/// deadlines (the columns of [`markdown`] and those).
#[must_use]
pub fn markdown_in(rows: &[Row], title: &str, header: &str, conditions: &Conditions) -> String {
    table(rows, title, header, Some(conditions))
}

/// A sweep's table; with `conditions`, also missed deadlines, jailings,
/// latency and the job's length in simulated time.
fn table(rows: &[Row], title: &str, header: &str, conditions: Option<&Conditions>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## {title}\n");
    let _ = writeln!(s, "{header}\n");
    let timed = if conditions.is_some() {
        " missed deadlines | jailed | task latency p50 / p90 | job took |"
    } else {
        ""
    };
    let _ = writeln!(
        s,
        "| adversaries | policy | wrong accepted | wrong / accepted | at most (95 %) | replicas per task | failed (refunded) |{timed} liars slashed | honest slashed | net per device: honest / liar |"
    );
    let columns = if conditions.is_some() { 14 } else { 10 };
    let _ = writeln!(s, "| ---: | --- |{}", " ---: |".repeat(columns - 2));
    for r in rows {
        let mut line = format!(
            "| {:.0} % | {} | {} | {:.2e} | {:.2e} | {:.3} | {} |",
            r.adversaries * 100.0,
            policy_name(r.policy),
            r.report.wrong_accepted,
            r.report.wrong_share(),
            upper_bound_95(r.report.wrong_accepted, r.report.accepted),
            r.report.replicas_per_task,
            r.report.failed,
        );
        if let Some(c) = conditions {
            let minutes = |blocks: u64| blocks as f64 * c.block_secs as f64 / 60.0;
            let _ = write!(
                line,
                " {} | {} | {:.0} / {:.0} min | {:.1} h |",
                r.report.missed,
                r.report.jailed,
                minutes(r.report.latency_p50),
                minutes(r.report.latency_p90),
                minutes(r.report.job_blocks) / 60.0,
            );
        }
        let _ = writeln!(
            s,
            "{line} {} / {} | {} | {} |",
            r.report.liars_slashed,
            r.report.liars,
            r.report.honest_slashed,
            net_per_device(&r.report),
        );
    }
    s
}

/// One-sided 95 % upper confidence bound on the share of wrong results,
/// given `wrong` of `accepted` (Clopper–Pearson: the share at which
/// seeing `wrong` or fewer has probability 5 %). With none wrong it is
/// `1 − 0.05^(1/accepted)`, about `3 / accepted`: 0 wrong of 10,000 bounds
/// the share only by 3.0e-4, and showing ≤ 1e-4 takes about 30,000.
#[must_use]
pub fn upper_bound_95(wrong: u64, accepted: u64) -> f64 {
    if accepted == 0 || wrong >= accepted {
        return 1.0;
    }
    let n = accepted as f64;
    // P(X ≤ wrong) for X ~ Binomial(n, p), summed in log space.
    let cdf = |p: f64| {
        let (lp, lq) = (p.ln(), (-p).ln_1p());
        let mut log_term = n * lq;
        let mut sum = log_term.exp();
        for i in 0..wrong {
            let i = i as f64;
            log_term += ((n - i) / (i + 1.0)).ln() + lp - lq;
            sum += log_term.exp();
        }
        sum
    };
    // The CDF falls as p rises: bisect for the p where it is 5 %.
    let (mut lo, mut hi) = (wrong as f64 / n, 1.0);
    for _ in 0..100 {
        let mid = f64::midpoint(lo, hi);
        if cdf(mid) > 0.05 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// What an honest and a lying device gained or lost over a run, or the
/// honest figure alone when nobody lied.
fn net_per_device(r: &Report) -> String {
    if r.liars == 0 {
        format!("{:+.0} / –", r.honest_net)
    } else {
        format!("{:+.0} / {:+.0}", r.honest_net, r.liar_net)
    }
}

/// Shapes of the measured work compared in the job-stream table: (jobs,
/// blocks between submissions).
pub const STREAMS: [(u32, u64); 3] = [(1, 0), (100, 1), (1_000, 0)];

/// One cell of the job-stream table.
#[derive(Clone, Debug)]
pub struct StreamRow {
    /// Jobs the measured tasks were split into.
    pub jobs: u32,
    /// Blocks between submissions.
    pub arrival_blocks: u64,
    /// Policy.
    pub policy: Policy,
    /// The run's figures.
    pub report: Report,
}

/// Runs every stream shape × policy with `adversaries` colluding liars,
/// in the given setting.
///
/// # Errors
/// Any failed run.
pub fn streams(
    devices: usize,
    tasks: u32,
    seed: u64,
    adversaries: f64,
    setting: &Setting,
) -> Result<Vec<StreamRow>> {
    let attester = SimAttester::new("sim/platform-ca");
    let mut rows = Vec::new();
    for (jobs, arrival_blocks) in STREAMS {
        for policy in POLICIES {
            let config = Config {
                seed,
                jobs,
                arrival_blocks,
                ..setting.config(devices, tasks, adversaries, policy)
            };
            rows.push(StreamRow {
                jobs,
                arrival_blocks,
                policy,
                report: run(&config, &attester)?,
            });
        }
    }
    Ok(rows)
}

/// The job-stream table as Markdown.
#[must_use]
pub fn streams_markdown(
    rows: &[StreamRow],
    title: &str,
    header: &str,
    conditions: &Conditions,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## {title}\n");
    let _ = writeln!(s, "{header}\n");
    let _ = writeln!(
        s,
        "| measured work | policy | wrong accepted | at most (95 %) | replicas per task | failed (refunded) | task latency p50 / p90 | first submission to last verdict |"
    );
    let _ = writeln!(s, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    let minutes = |blocks: u64| blocks as f64 * conditions.block_secs as f64 / 60.0;
    for r in rows {
        let shape = match (r.jobs, r.arrival_blocks) {
            (1, _) => "one batch job".to_owned(),
            (n, 0) => format!("{n} jobs at once"),
            (n, k) => format!("{n} jobs, one every {:.0} min", minutes(k)),
        };
        let _ = writeln!(
            s,
            "| {shape} | {} | {} | {:.2e} | {:.3} | {} | {:.0} / {:.0} min | {:.1} h |",
            policy_name(r.policy),
            r.report.wrong_accepted,
            upper_bound_95(r.report.wrong_accepted, r.report.accepted),
            r.report.replicas_per_task,
            r.report.failed,
            minutes(r.report.latency_p50),
            minutes(r.report.latency_p90),
            minutes(r.report.job_blocks) / 60.0,
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::upper_bound_95;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b
    }

    #[test]
    fn the_upper_bound_matches_known_clopper_pearson_values() {
        // None wrong: 1 − 0.05^(1/n).
        let none = upper_bound_95(0, 10_000);
        assert!(close(none, 1.0 - 0.05_f64.powf(1e-4), 1e-6), "{none}");
        assert!(close(upper_bound_95(0, 30_000), 9.986e-5, 1e-3));
        // 1 of 10: the p with (1 − p)^10 + 10p(1 − p)^9 = 0.05.
        assert!(close(upper_bound_95(1, 10), 0.3942, 1e-3));
        // 5 of 10,000: about χ²(0.95; 12) / 2n = 21.026 / 20,000.
        assert!(close(upper_bound_95(5, 10_000), 1.0513e-3, 5e-3));
        assert!((upper_bound_95(0, 0) - 1.0).abs() < f64::EPSILON);
        assert!((upper_bound_95(7, 7) - 1.0).abs() < f64::EPSILON);
        let mut last = 0.0;
        for wrong in 0..50 {
            let bound = upper_bound_95(wrong, 10_000);
            assert!(bound > last && bound > wrong as f64 / 10_000.0);
            last = bound;
        }
    }
}

//! The in-process demo (`verigrid demo`) and simulations (`verigrid sim`):
//! devices attest, replicas commit then reveal, a quorum decides, liars are
//! slashed — every rule decided by the real ledger, without consensus.

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use serde_json::json;
use verigrid_sim::network::{self, Adversary, Joining, Policy, Workload};
use verigrid_sim::report;
use verigrid_sim::{Conditions, DevAttester, SimAttester};

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Devices to start, each with its own owner account.
    #[arg(long, default_value_t = 12)]
    pub devices: usize,
    /// Share of devices that fabricate outputs (0–1).
    #[arg(long, default_value_t = 0.2)]
    pub adversaries: f64,
    /// How the liars behave.
    #[arg(long, value_enum, default_value_t = AdversaryArg::Colluding)]
    pub adversary: AdversaryArg,
    /// When the liars join the network.
    #[arg(long, value_enum, default_value_t = JoiningArg::Start)]
    pub liars_join: JoiningArg,
    /// Tasks in the measured job.
    #[arg(long, default_value_t = 200)]
    pub tasks: u32,
    /// Verification policy.
    #[arg(long, value_enum, default_value_t = PolicyArg::Replicate3)]
    pub policy: PolicyArg,
    /// Reward per accepted result.
    #[arg(long, default_value_t = 5)]
    pub reward: u64,
    /// Seed for block randomness (same seed, same numbers).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the figures as JSON.
    #[arg(long)]
    pub json: bool,
    /// Task slots each device declares (1–256); the ledger ramps a fresh
    /// device up to them as its results are confirmed.
    #[arg(long, default_value_t = 16)]
    pub slots: u16,
    /// Tasks of a warm-up job run before the measured one, so devices have
    /// records (adaptive replication needs them) and turncoats their trust;
    /// it runs with replication 3, or unverified under `--policy none`
    /// [default: as many as --tasks for adaptive, none otherwise].
    #[arg(long)]
    pub warmup_tasks: Option<u32>,
    /// Verdicts whose inclusion proofs are built and checked against the
    /// final state root (every verdict is checked against its job's
    /// verdict root regardless).
    #[arg(long, default_value_t = 1_000)]
    pub proof_samples: u64,
    /// Benchmark the run: print wall-clock time, where it went (setup,
    /// devices, waiting for signing and checks, ledger, routing, proofs),
    /// throughput and
    /// peak memory. E.g. `verigrid sim --devices 157000 --tasks 10000000
    /// --adversaries 0.2 --slots 256 --bench`.
    #[arg(long)]
    pub bench: bool,
    #[command(flatten)]
    pub world: WorldArgs,
    /// What tasks output: `exact` bytes (WASM, compared by hash) or float
    /// `tensors` (ONNX-style, honest devices differ by --noise-ppm,
    /// compared within --tolerance-ppm).
    #[arg(long, value_enum, default_value_t = WorkloadArg::Exact)]
    pub workload: WorkloadArg,
    /// Tolerance of a tensor job, parts per million of each value.
    #[arg(long, default_value_t = 1_000)]
    pub tolerance_ppm: u32,
    /// Honest devices' float noise in a tensor job, parts per million.
    #[arg(long, default_value_t = 250)]
    pub noise_ppm: u32,
    /// Split the measured tasks into this many jobs: a stream of small
    /// jobs instead of one batch.
    #[arg(long, default_value_t = 1)]
    pub jobs: u32,
    /// Blocks between one job's submission and the next (0: all at once).
    #[arg(long, default_value_t = 0)]
    pub arrival_blocks: u64,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum WorkloadArg {
    /// Exact outputs, compared by hash.
    Exact,
    /// Float tensors with honest noise, compared within a tolerance.
    Tensors,
}

/// The world the devices live in.
#[derive(clap::Args, Debug)]
pub struct WorldArgs {
    /// Conditions to start from: `ideal` (always present, idle and
    /// instant) or `phones` (idle and charging 8 h a day, churn, varied
    /// speed, late transactions, one-minute blocks). The flags below
    /// change one value of them.
    #[arg(long, value_enum, default_value_t = ConditionsArg::Ideal)]
    pub conditions: ConditionsArg,
    /// Simulated seconds one block stands for.
    #[arg(long)]
    pub block_secs: Option<u64>,
    /// Hours a day each device is idle and charging (24: always).
    #[arg(long)]
    pub window_hours: Option<f64>,
    /// Seconds a task takes on a median device.
    #[arg(long)]
    pub task_secs: Option<f64>,
    /// Spread of device speeds (σ of ln speed).
    #[arg(long)]
    pub speed_sigma: Option<f64>,
    /// Mean hours a device stays before leaving (0: never leaves).
    #[arg(long)]
    pub stay_hours: Option<f64>,
    /// Mean hours a device that left stays away.
    #[arg(long)]
    pub away_hours: Option<f64>,
    /// Chance a transaction misses its block (0–1).
    #[arg(long)]
    pub late: Option<f64>,
    /// Blocks replicas have to commit.
    #[arg(long)]
    pub commit_blocks: Option<u64>,
    /// Blocks replicas have to reveal.
    #[arg(long)]
    pub reveal_blocks: Option<u64>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ConditionsArg {
    /// Every device always present, idle, instant and on time.
    Ideal,
    /// Phones as they are.
    Phones,
}

impl WorldArgs {
    fn conditions(&self) -> Result<Conditions> {
        let base = match self.conditions {
            ConditionsArg::Ideal => Conditions::ideal(),
            ConditionsArg::Phones => Conditions::phones(),
        };
        let c = Conditions {
            block_secs: self.block_secs.unwrap_or(base.block_secs),
            window_hours: self.window_hours.unwrap_or(base.window_hours),
            task_secs: self.task_secs.unwrap_or(base.task_secs),
            speed_sigma: self.speed_sigma.unwrap_or(base.speed_sigma),
            stay_hours: self.stay_hours.unwrap_or(base.stay_hours),
            away_hours: self.away_hours.unwrap_or(base.away_hours),
            late: self.late.unwrap_or(base.late),
            commit_blocks: self.commit_blocks.unwrap_or(base.commit_blocks),
            reveal_blocks: self.reveal_blocks.unwrap_or(base.reveal_blocks),
        };
        c.check()
            .map_err(|why| {
                anyhow::anyhow!(
                    "{why}: pass a usable value with its flag (--block-secs, --window-hours, --task-secs, --speed-sigma, --stay-hours, --away-hours, --late, --commit-blocks, --reveal-blocks)"
                )
            })?;
        Ok(c)
    }
}

#[derive(clap::Args, Debug)]
pub struct SimArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Write the verification report (every adversary share × policy) to
    /// this Markdown file instead of running one configuration.
    #[arg(long)]
    pub report: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum AdversaryArg {
    /// Liars agree on one wrong output.
    Colluding,
    /// Each liar returns its own random output.
    Lazy,
    /// Liars build a record honestly through the warm-up, then collude
    /// from the first measured task (with no warm-up: from the start).
    Turncoat,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum JoiningArg {
    /// With every other device, before the warm-up (which slashes most of
    /// them before the measured job).
    Start,
    /// Once the warm-up is over: all of them on the network, with no
    /// record, through the measured job (not for turncoats, whose record
    /// is the warm-up's).
    AfterWarmup,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PolicyArg {
    /// One replica, no verification (the baseline).
    None,
    /// Two replicas.
    Replicate2,
    /// Three replicas.
    Replicate3,
    /// Trusted devices alone, with 10 % spot checks.
    Adaptive,
}

fn config(args: &RunArgs) -> Result<network::Config> {
    Ok(network::Config {
        devices: args.devices,
        adversaries: args.adversaries,
        adversary: match args.adversary {
            AdversaryArg::Colluding => Adversary::Colluding,
            AdversaryArg::Lazy => Adversary::Lazy,
            AdversaryArg::Turncoat => Adversary::Turncoat,
        },
        liars_join: match args.liars_join {
            JoiningArg::Start => Joining::FromStart,
            JoiningArg::AfterWarmup => Joining::AfterWarmup,
        },
        tasks: args.tasks,
        policy: match args.policy {
            PolicyArg::None => Policy::None,
            PolicyArg::Replicate2 => Policy::Replicated(2),
            PolicyArg::Replicate3 => Policy::Replicated(3),
            PolicyArg::Adaptive => Policy::Adaptive(100_000),
        },
        reward: args.reward,
        seed: args.seed,
        warmup_tasks: args.warmup_tasks.unwrap_or(match args.policy {
            PolicyArg::Adaptive => args.tasks,
            _ => 0,
        }),
        slots: args.slots,
        proof_samples: args.proof_samples,
        conditions: args.world.conditions()?,
        jobs: args.jobs,
        arrival_blocks: args.arrival_blocks,
        workload: match args.workload {
            WorkloadArg::Exact => Workload::Exact,
            WorkloadArg::Tensors => Workload::Tensors {
                tolerance_ppm: args.tolerance_ppm,
                noise_ppm: args.noise_ppm,
            },
        },
    })
}

pub fn run_one(args: &RunArgs, dev: bool) -> Result<()> {
    let bench = args.bench;
    if args.devices < 3 {
        bail!("--devices must be at least 3: replicas need devices of different owners");
    }
    if args.slots == 0 || args.slots > 256 {
        bail!("--slots must be between 1 and 256, got {}", args.slots);
    }
    let config = config(args)?;
    // `verigrid dev` attests through the real Android verifier with a
    // local development CA; simulations use the cheaper simulated platform.
    let dev_attester;
    let sim_attester;
    let attester: &dyn verigrid_sim::Attester = if dev {
        dev_attester = DevAttester::new(&[0xde; 32], network::GENESIS_TIME)?;
        &dev_attester
    } else {
        sim_attester = SimAttester::new("sim/platform-ca");
        &sim_attester
    };
    if !args.json {
        let what = if dev { "demo" } else { "simulation" };
        println!(
            "verigrid {what}: chain {}, {} devices ({:.0} % lying, {:?}{}), {} tasks, {}",
            network::CHAIN_ID,
            config.devices,
            config.adversaries * 100.0,
            config.adversary,
            match config.liars_join {
                Joining::FromStart => "",
                Joining::AfterWarmup => ", joining after the warm-up",
            },
            config.tasks,
            report::policy_name(config.policy),
        );
        let c = config.conditions;
        if c != Conditions::ideal() {
            println!(
                "  conditions: {} s blocks; idle and charging {} h a day; tasks {} s on a median device (σ {}); stays {} h, away {} h; {} % of transactions late; windows {}+{} blocks",
                c.block_secs,
                c.window_hours,
                c.task_secs,
                c.speed_sigma,
                c.stay_hours,
                c.away_hours,
                c.late * 100.0,
                c.commit_blocks,
                c.reveal_blocks,
            );
        }
        if let Workload::Tensors {
            tolerance_ppm,
            noise_ppm,
        } = config.workload
        {
            println!(
                "  float tensor outputs: honest noise up to {noise_ppm} ppm, compared within {tolerance_ppm} ppm"
            );
        }
        if config.jobs > 1 {
            println!(
                "  as {} jobs, {}",
                config.jobs,
                if config.arrival_blocks == 0 {
                    "submitted at once".to_owned()
                } else {
                    format!("one every {} blocks", config.arrival_blocks)
                }
            );
        }
        if dev {
            println!(
                "  in-process validator and devices; Android-format attestation from a local dev CA,\n  checked by the real verifier (the dev root is trusted only on this chain)"
            );
        }
    }
    let started = std::time::Instant::now();
    let bar = if args.json {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(u64::from(config.tasks))
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "  {spinner} block {msg:>6} [{bar:30}] {pos}/{len} tasks decided",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let (r, profile) = network::run_profiled(&config, attester, &mut |p| {
        bar.set_length(p.tasks);
        bar.set_position(p.decided);
        bar.set_message(p.height.to_string());
    })?;
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    let peak = peak_memory_kib();
    if args.json {
        let mut out = json!({
            "blocks": r.blocks,
            "accepted": r.accepted,
            "failed": r.failed,
            "wrong_accepted": r.wrong_accepted,
            "replicas_per_task": r.replicas_per_task,
            "liars": r.liars,
            "liars_slashed": r.liars_slashed,
            "honest_slashed": r.honest_slashed,
            "honest_net": r.honest_net,
            "liar_net": r.liar_net,
            "paid": r.paid,
            "refund": r.refund,
            "verdicts_checked": r.verdicts_checked,
            "proofs_checked": r.proofs_checked,
            "missed": r.missed,
            "jailed": r.jailed,
            "latency_p50_blocks": r.latency_p50,
            "latency_p90_blocks": r.latency_p90,
            "job_blocks": r.job_blocks,
            "block_secs": config.conditions.block_secs,
            "state_root": r.state_root.to_string(),
        });
        if bench {
            let timings = [
                ("seconds", json!(elapsed.as_secs_f64())),
                ("peak_memory_kib", json!(peak.unwrap_or(0))),
                ("setup_s", json!(profile.setup.as_secs_f64())),
                ("devices_s", json!(profile.devices.as_secs_f64())),
                ("wait_s", json!(profile.wait.as_secs_f64())),
                ("apply_s", json!(profile.apply.as_secs_f64())),
                ("route_s", json!(profile.route.as_secs_f64())),
                ("prove_s", json!(profile.prove.as_secs_f64())),
                ("txs", json!(profile.txs)),
                ("threads", json!(verigrid_sim::parallel::threads())),
                ("floor_s", json!(profile.floor.total().as_secs_f64())),
                ("floor_sign_s", json!(profile.floor.sign.as_secs_f64())),
                ("floor_check_s", json!(profile.floor.check.as_secs_f64())),
                ("floor_sampled", json!(profile.floor.sampled)),
                ("device_txs", json!(profile.floor.transactions)),
            ];
            for (field, value) in timings {
                out[field] = value;
            }
        }
        println!("{out}");
    } else {
        println!("  blocks              {}", r.blocks);
        println!("  accepted            {} / {}", r.accepted, config.tasks);
        println!("  failed (refunded)   {}", r.failed);
        println!("  wrong accepted      {}", r.wrong_accepted);
        println!("  replicas per task   {:.2}", r.replicas_per_task);
        println!("  liars slashed       {} / {}", r.liars_slashed, r.liars);
        println!("  honest slashed      {}", r.honest_slashed);
        if r.liars > 0 {
            println!(
                "  net per device      honest {:+.0}, liar {:+.0} (whole run: rewards less fees and slashes)",
                r.honest_net, r.liar_net
            );
        } else {
            println!(
                "  net per device      {:+.0} (whole run: rewards less fees)",
                r.honest_net
            );
        }
        println!("  paid to devices     {}", r.paid);
        println!("  escrow refunded     {}", r.refund);
        let minutes = |blocks: u64| blocks as f64 * config.conditions.block_secs as f64 / 60.0;
        println!(
            "  deadlines missed    {} (devices jailed {} times)",
            r.missed, r.jailed
        );
        println!(
            "  task latency        p50 {} blocks, p90 {} blocks ({:.1} and {:.1} min at {} s a block; first assignment to verdict)",
            r.latency_p50,
            r.latency_p90,
            minutes(r.latency_p50),
            minutes(r.latency_p90),
            config.conditions.block_secs,
        );
        println!(
            "  measured jobs       {} of {} tasks each; submission to last verdict {} blocks ({:.1} min)",
            config.jobs,
            config.tasks / config.jobs.max(1),
            r.job_blocks,
            minutes(r.job_blocks),
        );
        println!(
            "  verdicts checked    {} against their job's verdict root",
            r.verdicts_checked
        );
        println!(
            "  proofs verified     {} sampled, against state root {}",
            r.proofs_checked, r.state_root
        );
        let memory = peak.map_or_else(|| "unknown".into(), |k| format!("{} MiB", k / 1024));
        println!(
            "  time                {:.2} s, peak memory {memory}",
            elapsed.as_secs_f64(),
        );
        if bench {
            let secs = elapsed.as_secs_f64().max(1e-9);
            println!(
                "  where it went       setup {:.1} s · devices {:.1} s · waiting for signing and checks {:.1} s · ledger {:.1} s · routing {:.1} s · proofs {:.1} s ({} threads sign and check each block's transactions alongside the ledger)",
                profile.setup.as_secs_f64(),
                profile.devices.as_secs_f64(),
                profile.wait.as_secs_f64(),
                profile.apply.as_secs_f64(),
                profile.route.as_secs_f64(),
                profile.prove.as_secs_f64(),
                verigrid_sim::parallel::threads(),
            );
            println!(
                "  throughput          {:.0} tasks/s, {:.0} transactions/s ({} transactions)",
                (f64::from(config.tasks) + f64::from(config.warmup_tasks)) / secs,
                profile.txs as f64 / secs,
                profile.txs,
            );
            let floor = profile.floor;
            println!(
                "  baseline            signing and checking its {} device transactions, and nothing else, takes {:.1} s here (signing {:.1} s + checking {:.1} s on {} threads; timed on {} of them, signed and checked again after the run): the run took {:.1}× that",
                floor.transactions,
                floor.total().as_secs_f64(),
                floor.sign.as_secs_f64(),
                floor.check.as_secs_f64(),
                verigrid_sim::parallel::threads(),
                floor.sampled,
                secs / floor.total().as_secs_f64().max(1e-9),
            );
        }
    }
    if dev && r.wrong_accepted > 0 {
        bail!("{} wrong results were accepted", r.wrong_accepted);
    }
    Ok(())
}

/// Peak resident memory of this process in KiB (Linux), for the scale
/// figures.
fn peak_memory_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Draws a sweep's charts beside the report and links them from it.
fn push_charts(
    text: &mut String,
    rows: &[report::Row],
    path: &std::path::Path,
    label: &str,
) -> Result<()> {
    for chart in verigrid_sim::chart::write(rows, path, label)? {
        let name = chart
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        text.push_str(&format!("\n![{name}]({name})\n"));
    }
    Ok(())
}

/// The heading of the report's scale section, written by hand from
/// `--bench` runs and kept when the report is regenerated.
const SCALE_HEADING: &str = "## Scale";

pub fn write_report(args: &RunArgs, path: &std::path::Path) -> Result<()> {
    let command = format!(
        "verigrid sim --devices {} --tasks {} --seed {} --report {}",
        args.devices,
        args.tasks,
        args.seed,
        path.display()
    );
    let mut text = format!(
        "# Verification report\n\nGenerated by `{command}`. Every assignment, verdict, \
         payment and slash is decided by the real `verigrid-ledger`; devices are simulated. \
         \"wrong accepted\" counts accepted outputs that differ from the true one; \"at most \
         (95 %)\" is the one-sided 95 % upper confidence bound on their share (Clopper–Pearson): \
         with none wrong it is about 3 / accepted, so only a cell of 30,000 tasks or more can \
         show a share under 1e-4. \"net per \
         device\" is the mean change in what a device's owner holds over the whole run, \
         warm-up included: rewards ({} a result) less fees ({} a transaction) and slashes (a \
         device stakes {}, all of it lost on a wrong result); lying pays only where a liar's \
         figure beats an honest one.\n\n",
        network::Config::new(args.devices, args.tasks, 0.0, Policy::None).reward,
        network::FEE.0,
        network::DEVICE_STAKE.0,
    );
    let models = [
        (
            Adversary::Colluding,
            Joining::FromStart,
            "colluding",
            "Colluding liars (always lie, all agree on one wrong output)",
            "The liars are on the network from the start, so the warm-up's replication \
             catches most of them before the measured job begins (\"liars slashed\" counts those \
             slashed during it); the next table keeps them out of the warm-up. ",
        ),
        (
            Adversary::Colluding,
            Joining::AfterWarmup,
            "newcomers",
            "Colluding newcomers (register after the warm-up)",
            "The same colluders, registered only once the warm-up is over \
             (`--liars-join after-warmup`): every one of them is on the network, with no \
             record, when the measured job starts, and while the trusted devices are busy they \
             are the only devices with free slots (a network taking in new liars as fast as it \
             slashes them). ",
        ),
        (
            Adversary::Lazy,
            Joining::AfterWarmup,
            "lazy",
            "Lazy newcomers (random outputs, register after the warm-up)",
            "Lazy liars (`--adversary lazy`) return an output of their own each, so no two \
             agree: they cannot outvote anyone, only cost replicas. They register after the \
             warm-up, as the newcomers above, so that the measured job meets all of them (from \
             the start, the warm-up slashes them as it does colluders). ",
        ),
        (
            Adversary::Turncoat,
            Joining::FromStart,
            "turncoat",
            "Turncoats (honest through the warm-up, then collude)",
            "",
        ),
    ];
    for (adversary, joining, label, title, intro) in models {
        eprintln!("running {title} …");
        let rows = report::sweep(args.devices, args.tasks, args.seed, adversary, joining)?;
        let mut table = report::markdown(&rows, title, args.devices, args.tasks, args.seed);
        if let Some(at) = table.find(&format!("{} simulated devices", args.devices)) {
            table.insert_str(at, intro);
        }
        text.push_str(&table);
        push_charts(&mut text, &rows, path, label)?;
        text.push('\n');
    }
    let phones = Conditions::phones();
    let title = "Phones in the wild (colluding liars)";
    eprintln!("running {title} …");
    let slots = 4;
    let setting = report::Setting {
        conditions: phones,
        slots,
        ..report::Setting::default()
    };
    let rows = report::sweep_in(
        args.devices,
        args.tasks,
        args.seed,
        Adversary::Colluding,
        &setting,
    )?;
    let header = format!(
        "The colluding sweep again, with devices that behave like phones (`--conditions phones`): \
         each is idle and charging {} hours a day, from a time of day of its own, and pauses \
         itself outside that window (setting running tasks aside); it stays on the network {} \
         hours on average, then leaves for {} (exponentially distributed); a task takes {} s on \
         a median phone, with speeds spread log-normally (σ = {}); {} % of transactions miss \
         their block. Blocks stand for {} s; replicas have {} blocks to commit and {} to reveal; \
         {slots} slots a device. {} devices, {} measured tasks per cell, seed {}, warm-up as \
         above. Latency runs from a task's first assignment to its verdict.",
        phones.window_hours,
        phones.stay_hours,
        phones.away_hours,
        phones.task_secs,
        phones.speed_sigma,
        phones.late * 100.0,
        phones.block_secs,
        phones.commit_blocks,
        phones.reveal_blocks,
        args.devices,
        args.tasks,
        args.seed,
    );
    text.push_str(&report::markdown_in(&rows, title, &header, &phones));
    push_charts(&mut text, &rows, path, "phones")?;
    text.push('\n');
    let (tolerance_ppm, noise_ppm) = (1_000, 250);
    let title = "Float outputs with honest noise (ONNX-style, colluding liars)";
    eprintln!("running {title} …");
    let setting = report::Setting {
        workload: Workload::Tensors {
            tolerance_ppm,
            noise_ppm,
        },
        ..report::Setting::default()
    };
    let rows = report::sweep_in(
        args.devices,
        args.tasks,
        args.seed,
        Adversary::Colluding,
        &setting,
    )?;
    let mut table = report::markdown(&rows, title, args.devices, args.tasks, args.seed);
    let intro = format!(
        "Each task outputs a tensor of 8 floats (`--workload tensors`), revealed inline and \
         compared within {tolerance_ppm} ppm of each value. Honest devices differ from one \
         another by up to {noise_ppm} ppm of each value, as different hardware rounds \
         differently, so no two honest outputs have the same hash; colluders agree on one \
         answer far outside the tolerance. Ideal conditions, 16 slots, as in the first table. "
    );
    if let Some(at) = table.find(&format!("{} simulated devices", args.devices)) {
        table.insert_str(at, &intro);
    }
    text.push_str(&table);
    push_charts(&mut text, &rows, path, "tensors")?;
    text.push('\n');
    let title = "Job streams (20 % colluding liars)";
    eprintln!("running {title} …");
    let setting = report::Setting {
        conditions: phones,
        slots,
        ..report::Setting::default()
    };
    let rows = report::streams(args.devices, args.tasks, args.seed, 0.2, &setting)?;
    let header = format!(
        "The same {} measured tasks as one batch job, as 100 jobs submitted one a block (a \
         minute), and as 1,000 jobs submitted at once (`--jobs`, `--arrival-blocks`); {} \
         devices in the phones conditions above, {slots} slots, seed {}, warm-up as above. \
         Every job's verdicts rebuild its own verdict root. Latency runs from a task's first \
         assignment to its verdict.",
        args.tasks, args.devices, args.seed,
    );
    text.push_str(&report::streams_markdown(&rows, title, &header, &phones));
    text.push('\n');
    // The scale figures come from `--bench` runs, not from this sweep:
    // keep that section of an existing report as it is.
    if let Ok(old) = std::fs::read_to_string(path)
        && let Some(at) = old.find(SCALE_HEADING)
    {
        text.push_str(&old[at..]);
    }
    std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
    print!("{text}");
    Ok(())
}

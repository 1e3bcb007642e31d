//! `verigrid job submit|status|results|cancel`: the consumer's side.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use verigrid_client::{Client, Signer};
use verigrid_ledger::{Job, JobStatus, Outcome};
use verigrid_types::job::{Inputs, JobKind, JobSpec, Limits, Requirements, Verification};
use verigrid_types::tensor::Comparison;
use verigrid_types::tx::Call;
use verigrid_types::{Amount, Hash, Height, JobId, TaskId};

use verigrid_client::cli::{IdentityArgs, NetArgs};

#[derive(clap::Subcommand, Debug)]
pub enum JobCommand {
    /// Upload a program and its inputs and submit a job (one task per
    /// input), locking its maximum cost in escrow.
    Submit(SubmitArgs),
    /// Where a job stands.
    Status(JobArgs),
    /// Each task's verdict, checked against a finalized state root, and
    /// its output.
    Results(ResultsArgs),
    /// Stop assigning a job's remaining tasks (unused escrow comes back).
    Cancel(CancelArgs),
}

#[derive(clap::Args, Debug)]
pub struct SubmitArgs {
    /// The program: a `wasm32-wasip1` module (`.wasm`, or `.wat` text) or
    /// an ONNX model (`.onnx`).
    pub program: PathBuf,
    /// Input files, one task each.
    #[arg(long, num_args = 1.., required = true)]
    pub inputs: Vec<PathBuf>,
    /// Replicas per task (quorum is a majority; with two or more, a device
    /// trusted to run alone is among them and in the majority whenever one
    /// can take the job).
    #[arg(long, default_value_t = 3, conflicts_with = "adaptive")]
    pub replicas: u8,
    /// Adaptive replication: trusted devices run tasks alone, with random
    /// spot checks.
    #[arg(long)]
    pub adaptive: bool,
    /// Spot-check probability for adaptive jobs, parts per million.
    #[arg(long, default_value_t = 100_000)]
    pub spot_check_ppm: u32,
    /// Compare float outputs within this tolerance (ppm) instead of
    /// exactly (ONNX).
    #[arg(long)]
    pub tolerance_ppm: Option<u32>,
    /// Reward per agreeing replica of an accepted result.
    #[arg(long, default_value_t = 10)]
    pub reward: u64,
    /// Blocks until unfinished tasks fail and escrow returns.
    #[arg(long, default_value_t = 3_000)]
    pub deadline_blocks: u64,
    /// Fuel per task.
    #[arg(long, default_value_t = Limits::default().fuel)]
    pub fuel: u64,
    /// Wait for the verdicts and print the results.
    #[arg(long)]
    pub wait: bool,
    /// How long `--wait` waits, in seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    #[command(flatten)]
    pub identity: IdentityArgs,
    #[command(flatten)]
    pub net: NetArgs,
}

#[derive(clap::Args, Debug)]
pub struct JobArgs {
    /// The job id (hex).
    pub job: String,
    #[command(flatten)]
    pub net: NetArgs,
}

#[derive(clap::Args, Debug)]
pub struct ResultsArgs {
    /// The job id (hex).
    pub job: String,
    /// Also write each accepted output to DIR/<index>.out.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub net: NetArgs,
}

#[derive(clap::Args, Debug)]
pub struct CancelArgs {
    /// The job id (hex).
    pub job: String,
    #[command(flatten)]
    pub identity: IdentityArgs,
    #[command(flatten)]
    pub net: NetArgs,
}

pub fn run(command: &JobCommand) -> Result<()> {
    match command {
        JobCommand::Submit(args) => submit(args),
        JobCommand::Status(args) => {
            let client = args.net.client()?;
            let id = parse_job(&args.job)?;
            let job = fetch_job(&client, &id)?;
            if args.net.json {
                println!("{}", status_json(&id, &job));
            } else {
                print_status(&id, &job);
            }
            Ok(())
        }
        JobCommand::Results(args) => {
            let client = args.net.client()?;
            let id = parse_job(&args.job)?;
            let results = collect_results(&client, &id)?;
            if let Some(dir) = &args.out {
                write_outputs(dir, &results)?;
            }
            print_results(&results, args.net.json);
            Ok(())
        }
        JobCommand::Cancel(args) => {
            let client = args.net.client()?;
            let id = parse_job(&args.job)?;
            let key = args.identity.secret()?;
            let chain = client.status()?.chain_id;
            let mut signer = Signer::account(key, &chain, &client.params()?);
            let (_, height) = signer.submit_and_wait(
                &client,
                Call::CancelJob { job: id },
                Duration::from_secs(60),
            )?;
            if args.net.json {
                println!(
                    "{}",
                    json!({ "cancelled": id.0.to_hex(), "height": height.0 })
                );
            } else {
                println!("cancelled job {} at height {}", id.0.to_hex(), height.0);
            }
            Ok(())
        }
    }
}

fn parse_job(text: &str) -> Result<JobId> {
    Hash::from_hex(text.trim())
        .map(JobId)
        .map_err(|e| anyhow!("{text:?} is not a job id (64 hex characters): {e}"))
}

fn fetch_job(client: &Client, id: &JobId) -> Result<Job> {
    client.job(id)?.ok_or_else(|| {
        anyhow!(
            "no job {} on this network (check the id and --api)",
            id.0.to_hex()
        )
    })
}

/// A program's bytes and kind, from its file name.
pub fn load_program(path: &Path) -> Result<(Vec<u8>, JobKind)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    match path.extension().and_then(|e| e.to_str()) {
        Some("onnx") => Ok((bytes, JobKind::Onnx)),
        Some("wat") => {
            let wasm = wat::parse_bytes(&bytes)
                .with_context(|| format!("{} is not valid WebAssembly text", path.display()))?;
            Ok((wasm.into_owned(), JobKind::Wasm))
        }
        Some("wasm") => Ok((bytes, JobKind::Wasm)),
        _ => bail!(
            "{}: name the program .wasm, .wat or .onnx so its kind is clear",
            path.display()
        ),
    }
}

fn bar(len: u64, what: &str, hidden: bool) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} ({elapsed})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

/// What a job submission needs, already in memory.
pub struct NewJob {
    pub program: Vec<u8>,
    pub kind: JobKind,
    pub inputs: Vec<Vec<u8>>,
    pub verification: Verification,
    pub reward: u64,
    pub deadline_blocks: u64,
    pub limits: Limits,
}

/// Uploads the blobs and submits the job; returns its id once finalized.
pub fn submit_job(
    client: &Client,
    signer: &mut Signer,
    job: &NewJob,
    quiet: bool,
) -> Result<JobId> {
    let uploads = bar(
        u64::try_from(job.inputs.len())
            .unwrap_or(u64::MAX)
            .saturating_add(1),
        "upload",
        quiet,
    );
    let program = client
        .put_blob(&job.program)
        .context("uploading the program")?;
    uploads.inc(1);
    let mut hashes = Vec::with_capacity(job.inputs.len());
    for (i, input) in job.inputs.iter().enumerate() {
        hashes.push(
            client
                .put_blob(input)
                .with_context(|| format!("uploading input {i}"))?,
        );
        uploads.inc(1);
    }
    uploads.finish_and_clear();
    let status = client.status()?;
    let spec = JobSpec {
        kind: job.kind,
        program,
        inputs: Inputs::List(hashes),
        limits: job.limits,
        verification: job.verification,
        requirements: Requirements::default(),
        reward: Amount(job.reward),
        deadline: Height(status.height.saturating_add(job.deadline_blocks)),
    };
    let escrow = spec
        .max_cost()
        .ok_or_else(|| anyhow!("reward × tasks × replicas overflows: ask for less"))?;
    let tx = signer.sign(client, Call::SubmitJob { spec, escrow })?;
    let verigrid_types::tx::Signer::Account(consumer) = tx.tx.signer else {
        bail!("jobs are submitted by accounts");
    };
    let id = JobId::derive(&consumer, tx.tx.nonce);
    client
        .submit_and_wait(&tx, Duration::from_secs(60))
        .context("submitting the job")?;
    Ok(id)
}

fn submit(args: &SubmitArgs) -> Result<()> {
    let client = args.net.client()?;
    let (program, kind) = load_program(&args.program)?;
    let inputs = args
        .inputs
        .iter()
        .map(|p| std::fs::read(p).with_context(|| format!("reading input {}", p.display())))
        .collect::<Result<Vec<_>>>()?;
    let mut verification = if args.adaptive {
        Verification::adaptive(args.spot_check_ppm)
    } else {
        if args.replicas == 0 {
            bail!("--replicas must be at least 1");
        }
        Verification::replicated(args.replicas)
    };
    if let Some(ppm) = args.tolerance_ppm {
        verification.comparison = Comparison::Tolerance { ppm };
    }
    let key = args.identity.secret()?;
    let chain = client.status()?.chain_id;
    let mut signer = Signer::account(key, &chain, &client.params()?);
    let job = NewJob {
        program,
        kind,
        inputs,
        verification,
        reward: args.reward,
        deadline_blocks: args.deadline_blocks,
        limits: Limits {
            fuel: args.fuel,
            ..Limits::default()
        },
    };
    let id = submit_job(&client, &mut signer, &job, args.net.json)?;
    if !args.net.json {
        println!("submitted job {}", id.0.to_hex());
    }
    if !args.wait {
        if args.net.json {
            println!("{}", json!({ "job": id.0.to_hex() }));
        }
        return Ok(());
    }
    wait_for_job(
        &client,
        &id,
        Duration::from_secs(args.timeout),
        args.net.json,
    )?;
    let results = collect_results(&client, &id)?;
    if args.net.json {
        // One object, so a script gets the job id with its results.
        let results: Vec<Value> = results.iter().map(result_json).collect();
        println!("{}", json!({ "job": id.0.to_hex(), "results": results }));
    } else {
        print_results(&results, false);
    }
    Ok(())
}

/// Follows finalized blocks until the job is finished (progress bar of
/// decided tasks).
pub fn wait_for_job(client: &Client, id: &JobId, timeout: Duration, quiet: bool) -> Result<Job> {
    let started = Instant::now();
    let mut stream = client.stream()?;
    let job = fetch_job(client, id)?;
    let progress = bar(u64::from(job.spec.inputs.count()), "verified", quiet);
    loop {
        let job = fetch_job(client, id)?;
        progress.set_position(u64::from(job.accepted.saturating_add(job.failed)));
        if job.status != JobStatus::Open {
            progress.finish_and_clear();
            return Ok(job);
        }
        if started.elapsed() > timeout {
            progress.abandon();
            bail!(
                "job {} is not finished after {timeout:?} ({} accepted, {} failed, {} live): \
                 are agents running? (`verigrid agent`, or `verigrid dev --agents N`)",
                id.0.to_hex(),
                job.accepted,
                job.failed,
                job.live
            );
        }
        // Sleep until the next finalized block (no busy polling).
        if stream.next_block(Duration::from_secs(5)).is_err() {
            stream = client.stream()?;
        }
    }
}

/// One task's checked verdict and, when accepted, its output.
pub struct TaskResult {
    pub task: TaskId,
    pub accepted: Option<Hash>,
    pub agreeing: usize,
    pub disagreeing: usize,
    pub output: Option<Vec<u8>>,
    pub state_root: Hash,
    pub height: Height,
}

/// Every decided task's verdict, each inclusion proof checked against the
/// finalized state root, with outputs fetched by hash.
pub fn collect_results(client: &Client, id: &JobId) -> Result<Vec<TaskResult>> {
    let job = fetch_job(client, id)?;
    let mut results = Vec::new();
    for index in 0..job.next_task {
        let task = TaskId { job: *id, index };
        let Some(proven) = client
            .verdict(&task)
            .with_context(|| format!("checking the verdict of task {index}"))?
        else {
            continue;
        };
        let accepted = match proven.verdict.outcome {
            Outcome::Accepted(h) => Some(h),
            Outcome::Failed => None,
        };
        let output = accepted.and_then(|h| client.get_blob(&h).ok());
        results.push(TaskResult {
            task,
            accepted,
            agreeing: proven.verdict.agreeing.len(),
            disagreeing: proven.verdict.disagreeing.len(),
            output,
            state_root: proven.state_root,
            height: proven.height,
        });
    }
    Ok(results)
}

/// An output for people: a number if it is 8 bytes, text if it is text,
/// hex otherwise.
pub fn render_output(bytes: &[u8]) -> String {
    if let Ok(eight) = <[u8; 8]>::try_from(bytes) {
        return u64::from_le_bytes(eight).to_string();
    }
    match std::str::from_utf8(bytes) {
        Ok(text) if text.chars().all(|c| !c.is_control() || c == '\n') => {
            text.trim_end().to_owned()
        }
        _ => {
            let shown = &bytes[..bytes.len().min(32)];
            let more = if bytes.len() > 32 { "…" } else { "" };
            format!("0x{}{more}", verigrid_types::hash::hex(shown))
        }
    }
}

fn result_json(r: &TaskResult) -> Value {
    json!({
        "index": r.task.index,
        "accepted": r.accepted.map(|h| h.to_hex()),
        "agreeing": r.agreeing,
        "disagreeing": r.disagreeing,
        "output_hex": r.output.as_ref().map(|o| verigrid_types::hash::hex(o)),
        // `collect_results` returns only verdicts whose proof checked out.
        "proof_verified": true,
        "state_root": r.state_root.to_hex(),
        "height": r.height.0,
    })
}

pub fn print_results(results: &[TaskResult], json_out: bool) {
    if json_out {
        println!(
            "{}",
            Value::Array(results.iter().map(result_json).collect())
        );
        return;
    }
    for r in results {
        let verdict = match (&r.accepted, &r.output) {
            (Some(_), Some(out)) => format!("accepted  {}", render_output(out)),
            (Some(h), None) => format!("accepted  output {} (not on these nodes)", h.to_hex()),
            (None, _) => "failed (no quorum; escrow refunded)".into(),
        };
        println!(
            "task {:>4}  {verdict}  [{} agree, {} disagree]",
            r.task.index, r.agreeing, r.disagreeing
        );
    }
    if let Some(r) = results.first() {
        println!(
            "{} verdict(s); every inclusion proof verified against state root {} (height {})",
            results.len(),
            r.state_root.to_hex(),
            r.height.0
        );
    }
}

fn write_outputs(dir: &Path, results: &[TaskResult]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for r in results {
        if let Some(out) = &r.output {
            let path = dir.join(format!("{}.out", r.task.index));
            std::fs::write(&path, out).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(())
}

fn status_json(id: &JobId, job: &Job) -> Value {
    json!({
        "job": id.0.to_hex(),
        "status": format!("{:?}", job.status).to_lowercase(),
        "tasks": job.spec.inputs.count(),
        "started": job.next_task,
        "live": job.live,
        "accepted": job.accepted,
        "failed": job.failed,
        "escrow": job.escrow.0,
        "verdict_root": job.verdicts.root().to_hex(),
    })
}

fn print_status(id: &JobId, job: &Job) {
    println!("job       {}", id.0.to_hex());
    println!("status    {:?}", job.status);
    println!(
        "tasks     {} ({} started, {} live, {} accepted, {} failed)",
        job.spec.inputs.count(),
        job.next_task,
        job.live,
        job.accepted,
        job.failed
    );
    println!("escrow    {}", job.escrow.0);
    println!("verdicts  root {}", job.verdicts.root().to_hex());
}

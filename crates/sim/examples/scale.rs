//! Times one simulation without the CLI (quick to build while profiling):
//! `cargo run --release -p verigrid-sim --example scale -- DEVICES TASKS [SLOTS] [POLICY]`
//! with POLICY one of none, r2, r3, adaptive. `verigrid sim --bench` is the
//! user-facing benchmark.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;

use verigrid_sim::SimAttester;
use verigrid_sim::network::{Config, Policy, run_profiled};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let devices: usize = args.get(1).map_or(157_000, |a| a.parse().unwrap());
    let tasks: u32 = args.get(2).map_or(1_000_000, |a| a.parse().unwrap());
    let slots: u16 = args.get(3).map_or(256, |a| a.parse().unwrap());
    let policy = match args.get(4).map_or("r3", String::as_str) {
        "none" => Policy::None,
        "r2" => Policy::Replicated(2),
        "adaptive" => Policy::Adaptive(100_000),
        _ => Policy::Replicated(3),
    };
    let warmup: Option<u32> = args.get(5).map(|a| a.parse().unwrap());
    let mut config = Config {
        slots,
        ..Config::new(devices, tasks, 0.2, policy)
    };
    if let Some(w) = warmup {
        config.warmup_tasks = w;
    }
    let started = Instant::now();
    let (r, p) = run_profiled(&config, &SimAttester::new("sim/platform-ca"), &mut |_| {}).unwrap();
    let kib = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .unwrap_or_default();
    println!("{r:?}");
    println!(
        "time {:.2} s, peak {kib} KiB; {p:?}",
        started.elapsed().as_secs_f64()
    );
}

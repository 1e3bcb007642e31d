//! The cost of the sandbox: the same compute kernel (the `hash-chain`
//! example's SHA-256 chain, this very source compiled natively) run as WASM
//! under fuel and epoch metering versus natively, reported as a ratio
//! measured in the same run; and the start-up latency of a task whose
//! module is already compiled and cached.
//!
//! Run: `cargo bench -p verigrid-sandbox --bench kernel` (add
//! `--no-default-features` to skip building tract in release).
//!
//! Measured on the idle 2-core dev machine: 20,000 SHA-256 rounds native
//! 6.22 ms, sandbox 8.17 ms (fastest of 15), a ratio of 1.31x; module
//! compile 220 ms on a fresh sandbox; a cached word-count task 95 µs.
//! While other builds ran (load 4–6) the ratio read 1.5–2.2x: measure on
//! an idle machine.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

#[path = "../tests/common/mod.rs"]
mod common;
#[allow(dead_code)]
#[path = "../../../examples/hash-chain/src/kernel.rs"]
mod kernel;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use verigrid_sandbox::{Limits, Sandbox, WasmTask};

/// SHA-256 compressions per run: long enough that instantiation is noise.
const ROUNDS: u32 = 20_000;
const SEED: &[u8] = b"verigrid bench";

fn limits() -> Limits {
    Limits {
        fuel: u64::MAX,
        memory_bytes: 16 << 20,
        output_bytes: 1 << 20,
        wall_ms: 60_000,
    }
}

fn hash_input() -> Vec<u8> {
    let mut input = ROUNDS.to_le_bytes().to_vec();
    input.extend_from_slice(SEED);
    input
}

fn run_wasm(sandbox: &Sandbox, module: &[u8], input: &[u8]) -> Vec<u8> {
    sandbox
        .run(&WasmTask {
            module,
            input,
            task: common::task_id(0),
            limits: limits(),
        })
        .unwrap()
        .output
}

/// Fastest of `n` timed calls: the figure least disturbed by other load.
fn fastest(n: usize, mut f: impl FnMut()) -> Duration {
    (0..n)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn kernel_vs_native(c: &mut Criterion) {
    let sandbox = Sandbox::new().unwrap();
    let module = common::example("hash-chain");
    let input = hash_input();
    assert_eq!(
        run_wasm(&sandbox, &module, &input),
        kernel::chain(SEED, ROUNDS),
        "the WASM and native kernels must agree"
    );

    let native = fastest(15, || {
        black_box(kernel::chain(black_box(SEED), black_box(ROUNDS)));
    });
    let wasm = fastest(15, || {
        black_box(run_wasm(&sandbox, &module, &input));
    });
    println!(
        "hash-chain ({ROUNDS} SHA-256 rounds): native {native:?}, sandbox {wasm:?}, \
         ratio {:.2}x (goal <= 1.5x)",
        wasm.as_secs_f64() / native.as_secs_f64()
    );

    let mut group = c.benchmark_group("hash_chain");
    group.sample_size(10);
    group.bench_function("native", |b| {
        b.iter(|| kernel::chain(black_box(SEED), black_box(ROUNDS)));
    });
    group.bench_function("sandbox", |b| {
        b.iter(|| run_wasm(&sandbox, &module, &input));
    });
    group.finish();
}

fn startup(c: &mut Criterion) {
    let sandbox = Sandbox::new().unwrap();
    let module = common::example("word-count");
    sandbox.prepare(&module).unwrap();
    let first = Instant::now();
    let fresh = Sandbox::new().unwrap();
    fresh.prepare(&module).unwrap();
    println!(
        "word-count: compiling the module on a fresh sandbox took {:?}",
        first.elapsed()
    );
    let cached = fastest(200, || {
        black_box(run_wasm(&sandbox, &module, b"one word"));
    });
    println!("word-count: a task with its module cached starts and ends in {cached:?}");

    c.bench_function("startup_cached_word_count", |b| {
        b.iter(|| run_wasm(&sandbox, &module, b"one word"));
    });
}

criterion_group!(benches, kernel_vs_native, startup);
criterion_main!(benches);

//! Shared by the sandbox's tests and benches: the example jobs under
//! `examples/`, built once per test binary for `wasm32-wasip1`, and small
//! WAT modules.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use verigrid_sandbox::{Failure, Limits, Outcome, Sandbox, WasmTask};
use verigrid_types::{Hash, JobId, TaskId};

/// The bytes of example job `name` (`hash-chain`, `word-count`, `mlp`).
pub fn example(name: &str) -> Vec<u8> {
    let path = examples_dir().join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn examples_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(build_examples)
}

fn build_examples() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/Cargo.toml");
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("examples");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "wasm32-wasip1",
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .unwrap_or_else(|e| panic!("running cargo to build the example jobs: {e}"));
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let hint = if stderr.contains("may not be installed") || stderr.contains("can't find crate")
        {
            "the wasm32-wasip1 target is not installed: run `scripts/setup` \
             (or `rustup target add wasm32-wasip1`) and try again"
        } else {
            "if the wasm32-wasip1 target is missing, run `scripts/setup` \
             (or `rustup target add wasm32-wasip1`)"
        };
        panic!(
            "building the example jobs ({}) failed: {hint}\n{stderr}",
            manifest.display()
        );
    }
    target_dir.join("wasm32-wasip1").join("release")
}

/// A task id for tests.
pub fn task_id(index: u32) -> TaskId {
    TaskId {
        job: JobId(Hash([7; 32])),
        index,
    }
}

/// Limits small enough for tests to fail fast.
pub fn small_limits() -> Limits {
    Limits {
        fuel: 50_000_000,
        memory_bytes: 16 << 20,
        output_bytes: 1 << 20,
        wall_ms: 20_000,
    }
}

/// Runs `module` on `input` as task 0 with `limits`.
pub fn run(
    sandbox: &Sandbox,
    module: &[u8],
    input: &[u8],
    limits: Limits,
) -> Result<Outcome, Failure> {
    sandbox.run(&WasmTask {
        module,
        input,
        task: task_id(0),
        limits,
    })
}

/// A WAT module compiled to bytes.
pub fn wat(text: &str) -> Vec<u8> {
    wat::parse_str(text).unwrap_or_else(|e| panic!("test WAT does not parse: {e}"))
}

/// A module that copies up to 1 KiB of stdin to stdout.
pub fn echo() -> Vec<u8> {
    wat(r#"(module
        (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (func (export "_start")
            (i32.store (i32.const 0) (i32.const 64))
            (i32.store (i32.const 4) (i32.const 1024))
            (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
            (i32.store (i32.const 4) (i32.load (i32.const 8)))
            (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#)
}

/// Panics unless `sandbox` still runs a normal job correctly.
pub fn assert_healthy(sandbox: &Sandbox) {
    let out = run(sandbox, &echo(), b"still alive", small_limits()).expect("echo runs");
    assert_eq!(out.output, b"still alive");
}

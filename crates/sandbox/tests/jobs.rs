//! The example jobs run correctly, and every run of a module on an input
//! gives the same bytes and the same fuel: across runs, fresh engines,
//! task-seeded randomness, fixed clocks and canonical NaNs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

mod common;

#[allow(dead_code, clippy::cast_precision_loss)]
#[path = "../../../examples/hash-chain/src/kernel.rs"]
mod hash_kernel;
#[allow(dead_code, clippy::cast_precision_loss)]
#[path = "../../../examples/mlp/src/model.rs"]
mod mlp_model;

use common::{example, run, small_limits, task_id, wat};
use verigrid_guest::tensor as guest_tensor;
use verigrid_sandbox::{Failure, Limits, Sandbox, WasmTask};
use verigrid_types::tensor::{Comparison, Tensor, TensorData, decode_outputs, encode_outputs};

fn hash_input(rounds: u32, seed: &[u8]) -> Vec<u8> {
    let mut input = rounds.to_le_bytes().to_vec();
    input.extend_from_slice(seed);
    input
}

/// A deterministic `[8, 16]` batch with a spread of magnitudes.
fn mlp_batch() -> Vec<f32> {
    (0..8 * mlp_model::INPUTS)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0)
        .collect()
}

fn mlp_input() -> Vec<u8> {
    guest_tensor::encode_tensors(&[guest_tensor::Tensor::f32(vec![8, 16], mlp_batch())])
}

fn job_cases() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("hash-chain", hash_input(1000, b"verigrid")),
        (
            "word-count",
            b"the quick brown fox jumps over the lazy dog; The dog sleeps".to_vec(),
        ),
        ("mlp", mlp_input()),
    ]
}

#[test]
fn hash_chain_matches_the_native_kernel() {
    let sandbox = Sandbox::new().unwrap();
    let out = run(
        &sandbox,
        &example("hash-chain"),
        &hash_input(1000, b"verigrid"),
        small_limits(),
    )
    .unwrap();
    assert_eq!(out.output, hash_kernel::chain(b"verigrid", 1000));
    assert!(out.fuel_used > 1000 * 1000, "fuel used: {}", out.fuel_used);
}

#[test]
fn word_count_counts_words() {
    let sandbox = Sandbox::new().unwrap();
    let out = run(
        &sandbox,
        &example("word-count"),
        b"b a, B! c a b",
        small_limits(),
    )
    .unwrap();
    assert_eq!(out.output, b"b\t3\na\t2\nc\t1\n");
}

#[test]
fn a_job_that_rejects_its_input_exits_with_its_reason() {
    let sandbox = Sandbox::new().unwrap();
    let failure = run(
        &sandbox,
        &example("word-count"),
        &[0xff, 0xfe],
        small_limits(),
    )
    .unwrap_err();
    assert!(
        matches!(&failure, Failure::Exit { code: 1, stderr } if stderr.contains("not UTF-8")),
        "{failure:?}"
    );
}

#[test]
fn mlp_agrees_with_native_within_tolerance_and_rejects_a_wrong_answer() {
    let sandbox = Sandbox::new().unwrap();
    let out = run(&sandbox, &example("mlp"), &mlp_input(), small_limits()).unwrap();
    let native = encode_outputs(&[Tensor::f32(vec![8, 10], mlp_model::forward(&mlp_batch()))]);
    let tolerance = Comparison::Tolerance { ppm: 10 };
    assert!(tolerance.agree(&out.output, &native));
    assert!(Comparison::Argmax.agree(&out.output, &native));

    let mut wrong = decode_outputs(&out.output).unwrap();
    let TensorData::F32(values) = &mut wrong[0].data else {
        panic!("mlp outputs f32");
    };
    values[3] += 0.01;
    assert!(!tolerance.agree(&out.output, &encode_outputs(&wrong)));
}

#[test]
fn the_guest_tensor_layout_is_the_canonical_encoding() {
    let guest = guest_tensor::encode_tensors(&[
        guest_tensor::Tensor::f32(vec![2, 2], vec![1.0, -2.5, 3.25, f32::MIN_POSITIVE]),
        guest_tensor::Tensor {
            shape: vec![3],
            data: guest_tensor::TensorData::I64(vec![1, -2, i64::MAX]),
        },
    ]);
    let canonical = encode_outputs(&[
        Tensor::f32(vec![2, 2], vec![1.0, -2.5, 3.25, f32::MIN_POSITIVE]),
        Tensor {
            shape: vec![3],
            data: TensorData::I64(vec![1, -2, i64::MAX]),
        },
    ]);
    assert_eq!(guest, canonical);
    assert!(guest_tensor::decode_tensors(&canonical).is_ok());
}

#[test]
fn every_job_gives_identical_bytes_and_fuel_across_100_runs() {
    let sandbox = Sandbox::new().unwrap();
    for (name, input) in job_cases() {
        let module = example(name);
        let first = run(&sandbox, &module, &input, small_limits()).unwrap();
        for _ in 0..99 {
            assert_eq!(
                run(&sandbox, &module, &input, small_limits()).unwrap(),
                first,
                "{name}"
            );
        }
    }
}

#[test]
fn every_job_gives_identical_bytes_and_fuel_on_fresh_engines() {
    let reference: Vec<_> = {
        let sandbox = Sandbox::new().unwrap();
        job_cases()
            .into_iter()
            .map(|(name, input)| run(&sandbox, &example(name), &input, small_limits()).unwrap())
            .collect()
    };
    for _ in 0..3 {
        let sandbox = Sandbox::new().unwrap();
        for ((name, input), expected) in job_cases().into_iter().zip(&reference) {
            assert_eq!(
                &run(&sandbox, &example(name), &input, small_limits()).unwrap(),
                expected,
                "{name}"
            );
        }
    }
}

#[test]
fn a_budget_too_small_fails_the_same_way_every_time() {
    let sandbox = Sandbox::new().unwrap();
    let module = example("hash-chain");
    let input = hash_input(1000, b"x");
    let needed = run(&sandbox, &module, &input, small_limits())
        .unwrap()
        .fuel_used;
    let exact = Limits {
        fuel: needed,
        ..small_limits()
    };
    assert_eq!(
        run(&sandbox, &module, &input, exact).unwrap().fuel_used,
        needed
    );
    let half = Limits {
        fuel: needed / 2,
        ..small_limits()
    };
    for _ in 0..10 {
        assert_eq!(
            run(&sandbox, &module, &input, half),
            Err(Failure::OutOfFuel { budget: needed / 2 })
        );
    }
}

/// Writes what `body` leaves in memory at 0..`len` to stdout.
fn writer_module(imports: &str, body: &str, len: u32) -> Vec<u8> {
    wat(&format!(
        r#"(module
        (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
        {imports}
        (memory (export "memory") 1)
        (func (export "_start")
            {body}
            (i32.store (i32.const 1024) (i32.const 0))
            (i32.store (i32.const 1028) (i32.const {len}))
            (drop (call $write (i32.const 1) (i32.const 1024) (i32.const 1) (i32.const 1032)))))"#
    ))
}

#[test]
fn nan_bits_are_canonical() {
    // 0/0 in f32 and f64, and a NaN with a payload passed through arithmetic.
    let module = writer_module(
        "",
        "(f32.store (i32.const 0) (f32.div (f32.const 0) (f32.const 0)))
         (f64.store (i32.const 4) (f64.div (f64.const 0) (f64.const 0)))
         (f32.store (i32.const 12) (f32.add (f32.const nan:0x200001) (f32.const 1)))
         (f64.store (i32.const 16) (f64.sqrt (f64.const -1)))",
        24,
    );
    let sandbox = Sandbox::new().unwrap();
    let out = run(&sandbox, &module, b"", small_limits()).unwrap().output;
    let canonical_f32 = 0x7fc0_0000u32.to_le_bytes();
    let canonical_f64 = 0x7ff8_0000_0000_0000u64.to_le_bytes();
    assert_eq!(out[0..4], canonical_f32);
    assert_eq!(out[4..12], canonical_f64);
    assert_eq!(out[12..16], canonical_f32);
    assert_eq!(out[16..24], canonical_f64);
}

#[test]
fn randomness_is_seeded_from_the_task_id() {
    let module = writer_module(
        r#"(import "wasi_snapshot_preview1" "random_get" (func $rand (param i32 i32) (result i32)))"#,
        "(drop (call $rand (i32.const 0) (i32.const 32)))",
        32,
    );
    let sandbox = Sandbox::new().unwrap();
    let random = |index| {
        sandbox
            .run(&WasmTask {
                module: &module,
                input: b"",
                task: task_id(index),
                limits: small_limits(),
            })
            .unwrap()
            .output
    };
    assert_eq!(random(1), random(1));
    assert_ne!(random(1), random(2));
    assert_ne!(random(1), vec![0; 32]);
}

#[test]
fn clocks_are_fixed() {
    let module = writer_module(
        r#"(import "wasi_snapshot_preview1" "clock_time_get" (func $now (param i32 i64 i32) (result i32)))"#,
        "(drop (call $now (i32.const 0) (i64.const 1) (i32.const 0)))
         (drop (call $now (i32.const 1) (i64.const 1) (i32.const 8)))",
        16,
    );
    let sandbox = Sandbox::new().unwrap();
    let out = run(&sandbox, &module, b"", small_limits()).unwrap().output;
    let realtime = u64::from_le_bytes(out[0..8].try_into().unwrap());
    let monotonic = u64::from_le_bytes(out[8..16].try_into().unwrap());
    // 2024-01-01T00:00:00Z plus one microsecond per read.
    assert_eq!(realtime, 1_704_067_200_000_001_000);
    assert_eq!(monotonic, 2_000);
}

#[test]
fn compiled_modules_are_cached_by_hash() {
    let sandbox = Sandbox::new().unwrap();
    let module = example("word-count");
    let hash = sandbox.prepare(&module).unwrap();
    assert_eq!(hash, verigrid_types::blob_hash(&module));
    assert_eq!(sandbox.cached_modules(), 1);
    run(&sandbox, &module, b"a", small_limits()).unwrap();
    run(&sandbox, &module, b"b", small_limits()).unwrap();
    assert_eq!(sandbox.cached_modules(), 1);
}

#[test]
fn one_sandbox_runs_tasks_from_several_threads() {
    let sandbox = Sandbox::new().unwrap();
    let module = example("hash-chain");
    let expected = hash_kernel::chain(b"t", 200);
    std::thread::scope(|s| {
        let runs: Vec<_> = (0..4)
            .map(|_| s.spawn(|| run(&sandbox, &module, &hash_input(200, b"t"), small_limits())))
            .collect();
        for r in runs {
            assert_eq!(r.join().unwrap().unwrap().output, expected);
        }
    });
}

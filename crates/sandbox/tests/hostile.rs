//! Hostile modules: each ends in its typed failure within its limits, and
//! the sandbox keeps running normal jobs afterwards.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

mod common;

use std::time::{Duration, Instant};

use common::{assert_healthy, run, small_limits, wat};
use verigrid_sandbox::{Failure, Limits, Sandbox};

const WASI_WRITE: &str = r#"(import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))"#;

fn infinite_loop() -> Vec<u8> {
    wat(r#"(module (memory (export "memory") 1)
        (func (export "_start") (loop $l (br $l))))"#)
}

fn fails_with(module: &[u8], limits: Limits) -> Failure {
    let sandbox = Sandbox::new().unwrap();
    let failure = run(&sandbox, module, b"", limits).expect_err("the module must fail");
    assert_healthy(&sandbox);
    failure
}

#[test]
fn an_infinite_loop_runs_out_of_fuel() {
    let limits = small_limits();
    assert_eq!(
        fails_with(&infinite_loop(), limits),
        Failure::OutOfFuel {
            budget: limits.fuel
        }
    );
}

#[test]
fn an_infinite_loop_with_endless_fuel_hits_the_wall_clock() {
    let limits = Limits {
        fuel: u64::MAX,
        wall_ms: 200,
        ..small_limits()
    };
    let started = Instant::now();
    let failure = fails_with(&infinite_loop(), limits);
    assert_eq!(
        failure,
        Failure::Timeout {
            after: Duration::from_millis(u64::from(limits.wall_ms))
        }
    );
    assert!(!failure.is_deterministic());
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_memory_bomb_runs_out_of_memory() {
    // Grows by 1 MiB until refused, then aborts as Rust's allocator does.
    let bomb = wat(r#"(module (memory (export "memory") 1)
        (func (export "_start")
            (loop $l
                (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
            unreachable))"#);
    let limits = small_limits();
    assert_eq!(
        fails_with(&bomb, limits),
        Failure::OutOfMemory {
            limit_bytes: limits.memory_bytes
        }
    );
}

#[test]
fn a_module_whose_initial_memory_exceeds_the_limit_is_out_of_memory() {
    let big = wat(r#"(module (memory (export "memory") 1024) (func (export "_start")))"#);
    assert!(matches!(
        fails_with(&big, small_limits()),
        Failure::OutOfMemory { .. }
    ));
}

#[test]
fn a_rust_job_that_allocates_without_limit_is_out_of_memory() {
    // The word-count example on 32 MiB of input needs more than 16 MiB.
    let sandbox = Sandbox::new().unwrap();
    let input = vec![b'a'; 32 << 20];
    let limits = Limits {
        fuel: u64::MAX,
        ..small_limits()
    };
    let failure = run(&sandbox, &common::example("word-count"), &input, limits).unwrap_err();
    assert!(
        matches!(failure, Failure::OutOfMemory { .. }),
        "{failure:?}"
    );
    assert_healthy(&sandbox);
}

#[test]
fn unbounded_recursion_overflows_the_stack() {
    let recursion = wat(r#"(module (memory (export "memory") 1)
        (func $f (call $f))
        (func (export "_start") (call $f)))"#);
    assert_eq!(
        fails_with(&recursion, small_limits()),
        Failure::StackOverflow
    );
}

#[test]
fn an_output_flood_is_too_large() {
    // Writes the same 64 KiB forever.
    let flood = wat(&format!(
        r#"(module {WASI_WRITE} (memory (export "memory") 2)
        (func (export "_start")
            (i32.store (i32.const 0) (i32.const 0))
            (i32.store (i32.const 4) (i32.const 65536))
            (loop $l
                (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
                (br $l))))"#
    ));
    let limits = small_limits();
    assert_eq!(
        fails_with(&flood, limits),
        Failure::OutputTooLarge {
            limit_bytes: limits.output_bytes
        }
    );
}

#[test]
fn a_stderr_flood_runs_out_of_fuel_not_memory() {
    let flood = wat(&format!(
        r#"(module {WASI_WRITE} (memory (export "memory") 2)
        (func (export "_start")
            (i32.store (i32.const 0) (i32.const 0))
            (i32.store (i32.const 4) (i32.const 65536))
            (loop $l
                (drop (call $write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
                (br $l))))"#
    ));
    assert!(matches!(
        fails_with(&flood, small_limits()),
        Failure::OutOfFuel { .. }
    ));
}

#[test]
fn host_work_is_paid_in_fuel() {
    // Asks for 1 MiB of randomness forever: cheap in instructions, costly
    // on the host, so the host charges fuel for the bytes.
    let greedy = wat(r#"(module
        (import "wasi_snapshot_preview1" "random_get" (func $rand (param i32 i32) (result i32)))
        (memory (export "memory") 17)
        (func (export "_start")
            (loop $l (drop (call $rand (i32.const 0) (i32.const 1048576))) (br $l))))"#);
    let limits = Limits {
        wall_ms: 60_000,
        ..small_limits()
    };
    let started = Instant::now();
    assert!(matches!(
        fails_with(&greedy, limits),
        Failure::OutOfFuel { .. }
    ));
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn unreachable_is_a_trap() {
    let trap = wat(r#"(module (memory (export "memory") 1) (func (export "_start") unreachable))"#);
    let failure = fails_with(&trap, small_limits());
    assert!(
        matches!(&failure, Failure::Trap { reason, .. } if reason.contains("unreachable")),
        "{failure:?}"
    );
    assert!(failure.is_deterministic());
}

#[test]
fn division_by_zero_is_a_trap() {
    let trap = wat(r#"(module (memory (export "memory") 1)
        (func (export "_start") (drop (i32.div_u (i32.const 1) (i32.const 0)))))"#);
    assert!(matches!(
        fails_with(&trap, small_limits()),
        Failure::Trap { reason, .. } if reason.contains("divide by zero")
    ));
}

#[test]
fn a_non_zero_exit_is_reported_with_its_status_and_stderr() {
    let exit = wat(&format!(
        r#"(module {WASI_WRITE}
        (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
        (memory (export "memory") 1)
        (data (i32.const 16) "bad input")
        (func (export "_start")
            (i32.store (i32.const 0) (i32.const 16))
            (i32.store (i32.const 4) (i32.const 9))
            (drop (call $write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
            (call $exit (i32.const 3))))"#
    ));
    assert_eq!(
        fails_with(&exit, small_limits()),
        Failure::Exit {
            code: 3,
            stderr: "bad input".into()
        }
    );
}

#[test]
fn an_import_from_outside_wasi_is_unsupported() {
    let socket = wat(r#"(module (import "env" "socket" (func (result i32)))
        (memory (export "memory") 1) (func (export "_start")))"#);
    assert_eq!(
        fails_with(&socket, small_limits()),
        Failure::UnsupportedImport {
            module: "env".into(),
            name: "socket".into()
        }
    );
    let made_up = wat(
        r#"(module (import "wasi_snapshot_preview1" "teleport" (func))
        (memory (export "memory") 1) (func (export "_start")))"#,
    );
    assert!(matches!(
        fails_with(&made_up, small_limits()),
        Failure::UnsupportedImport { name, .. } if name == "teleport"
    ));
}

#[test]
fn files_and_sockets_answer_enosys() {
    // Calls path_open and sock_accept and writes both errnos as bytes.
    let module = wat(&format!(
        r#"(module {WASI_WRITE}
        (import "wasi_snapshot_preview1" "path_open"
            (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "sock_accept"
            (func $accept (param i32 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (func (export "_start")
            (i32.store8 (i32.const 32) (call $open (i32.const 3) (i32.const 0) (i32.const 0)
                (i32.const 0) (i32.const 0) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 0)))
            (i32.store8 (i32.const 33) (call $accept (i32.const 3) (i32.const 0) (i32.const 0)))
            (i32.store (i32.const 0) (i32.const 32))
            (i32.store (i32.const 4) (i32.const 2))
            (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#
    ));
    let sandbox = Sandbox::new().unwrap();
    let out = run(&sandbox, &module, b"", small_limits()).unwrap();
    assert_eq!(out.output, [52, 52]);
}

#[test]
fn malformed_bytes_are_an_invalid_module() {
    for bytes in [
        &b""[..],
        b"not wasm at all",
        b"\0asm\x01\0\0\0\x01\xff\xff\xff",
        &[0xff; 100],
    ] {
        assert!(matches!(
            fails_with(bytes, small_limits()),
            Failure::InvalidModule { .. }
        ));
    }
}

#[test]
fn a_module_without_start_is_invalid() {
    let library = wat(r#"(module (memory (export "memory") 1) (func (export "main")))"#);
    assert!(matches!(
        fails_with(&library, small_limits()),
        Failure::InvalidModule { reason } if reason.contains("_start")
    ));
}

#[test]
fn shared_memory_and_threads_are_refused() {
    let threads = wat(r#"(module (memory (export "memory") 1 1 shared)
        (func (export "_start")))"#);
    assert!(matches!(
        fails_with(&threads, small_limits()),
        Failure::InvalidModule { .. }
    ));
}

#[test]
fn one_sandbox_survives_every_hostile_module_in_turn() {
    let sandbox = Sandbox::new().unwrap();
    let limits = Limits {
        wall_ms: 500,
        ..small_limits()
    };
    let modules = [
        infinite_loop(),
        wat(r#"(module (memory (export "memory") 1)
            (func $f (call $f)) (func (export "_start") (call $f)))"#),
        wat(r#"(module (memory (export "memory") 1) (func (export "_start") unreachable))"#),
        b"garbage".to_vec(),
    ];
    for _ in 0..3 {
        for module in &modules {
            assert!(run(&sandbox, module, b"", limits).is_err());
            assert_healthy(&sandbox);
        }
    }
}

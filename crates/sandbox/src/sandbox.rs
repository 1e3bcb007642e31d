//! The WASM sandbox: one deterministic engine, a cache of compiled modules,
//! and `run`, which turns a module and an input into output bytes and the
//! fuel spent, or a typed [`Failure`].

use std::time::Duration;

use verigrid_types::{Hash, TaskId, blob_hash};
use wasmtime::{Config, Engine, InstancePre, Linker, Module, Store, Trap};

use crate::Limits;
use crate::cache::ModuleCache;
use crate::epoch::{Ticker, deadline_ticks};
use crate::failure::{Failure, SetupError};
use crate::wasi::{self, GuestState, HostExit};

/// Largest module accepted, in bytes.
pub const MAX_MODULE_BYTES: usize = 64 << 20;

/// How many compiled modules a sandbox keeps.
const CACHE_CAPACITY: usize = 64;

/// One WASM task: the module, its input (the module's stdin), the task id
/// (which seeds `random_get`) and its limits.
#[derive(Clone, Copy, Debug)]
pub struct WasmTask<'a> {
    /// The `wasm32-wasip1` module.
    pub module: &'a [u8],
    /// Bytes the module reads on stdin.
    pub input: &'a [u8],
    /// The task, whose id seeds the module's randomness.
    pub task: TaskId,
    /// What the task may consume.
    pub limits: Limits,
}

/// A task that ran to completion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// What the module wrote to stdout.
    pub output: Vec<u8>,
    /// Fuel the module used, the same on every device.
    pub fuel_used: u64,
}

/// Runs WASM tasks. Create one per process and share it: it owns the
/// compiled-module cache and a thread that enforces wall-clock cut-offs.
pub struct Sandbox {
    engine: Engine,
    linker: Linker<GuestState>,
    cache: ModuleCache,
    _ticker: Ticker,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("cached_modules", &self.cache.len())
            .finish_non_exhaustive()
    }
}

/// The engine settings that make execution deterministic and bounded.
fn config() -> Config {
    let mut config = Config::new();
    config
        .consume_fuel(true)
        .epoch_interruption(true)
        .cranelift_nan_canonicalization(true)
        .relaxed_simd_deterministic(true)
        .wasm_backtrace_max_frames(None);
    config
}

impl Sandbox {
    /// A sandbox with an empty module cache.
    ///
    /// # Errors
    /// If wasmtime cannot create its engine on this machine, or the
    /// wall-clock thread cannot start.
    pub fn new() -> Result<Self, SetupError> {
        let engine = Engine::new(&config()).map_err(|e| SetupError::Engine {
            reason: e.to_string(),
        })?;
        let linker = wasi::base_linker(&engine).map_err(|e| SetupError::Engine {
            reason: e.to_string(),
        })?;
        let ticker = Ticker::start(engine.clone())?;
        Ok(Self {
            engine,
            linker,
            cache: ModuleCache::new(CACHE_CAPACITY),
            _ticker: ticker,
        })
    }

    /// Compiles and caches a module without running it, returning its blob
    /// hash.
    ///
    /// # Errors
    /// [`Failure::InvalidModule`] or [`Failure::UnsupportedImport`].
    pub fn prepare(&self, module: &[u8]) -> Result<Hash, Failure> {
        let hash = blob_hash(module);
        self.compiled(hash, module)?;
        Ok(hash)
    }

    /// How many compiled modules are cached.
    #[must_use]
    pub fn cached_modules(&self) -> usize {
        self.cache.len()
    }

    fn compiled(&self, hash: Hash, bytes: &[u8]) -> Result<InstancePre<GuestState>, Failure> {
        if let Some(pre) = self.cache.get(&hash) {
            return Ok(pre);
        }
        if bytes.len() > MAX_MODULE_BYTES {
            return Err(Failure::InvalidModule {
                reason: format!(
                    "{} bytes is larger than the {MAX_MODULE_BYTES}-byte limit",
                    bytes.len()
                ),
            });
        }
        let invalid = |e: wasmtime::Error| Failure::InvalidModule {
            reason: e.to_string(),
        };
        let module = Module::from_binary(&self.engine, bytes).map_err(invalid)?;
        let linker = wasi::linker_for(&self.linker, &module)?;
        if module.get_export("_start").is_none() {
            return Err(Failure::InvalidModule {
                reason: "it exports no `_start` function".into(),
            });
        }
        let pre = linker.instantiate_pre(&module).map_err(invalid)?;
        self.cache.insert(hash, pre.clone());
        Ok(pre)
    }

    /// Runs a task to completion or failure. Never panics and never runs
    /// past the task's wall-clock cut-off.
    ///
    /// # Errors
    /// A [`Failure`] saying why the task produced no output.
    pub fn run(&self, task: &WasmTask<'_>) -> Result<Outcome, Failure> {
        let pre = self.compiled(blob_hash(task.module), task.module)?;
        let limits = task.limits;
        let state = GuestState::new(
            task.input.to_vec(),
            task.task,
            usize::try_from(limits.output_bytes).unwrap_or(usize::MAX),
            usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX),
        );
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        store.set_fuel(limits.fuel).map_err(internal)?;
        store.set_epoch_deadline(deadline_ticks(wall_clock(&limits)));
        store.epoch_deadline_trap();

        let ran = pre.instantiate(&mut store).and_then(|instance| {
            instance
                .get_typed_func::<(), ()>(&mut store, "_start")?
                .call(&mut store, ())
        });
        let fuel_used = limits
            .fuel
            .saturating_sub(store.get_fuel().map_err(internal)?);
        let state = store.into_data();
        match ran {
            Ok(()) => {}
            Err(e) => match e.downcast_ref::<HostExit>() {
                Some(HostExit::Exit(0)) => {}
                _ => return Err(classify(&e, &state, &limits)),
            },
        }
        Ok(Outcome {
            output: state.stdout,
            fuel_used,
        })
    }
}

/// The failure an error from instantiating or running a module stands for.
fn classify(error: &wasmtime::Error, state: &GuestState, limits: &Limits) -> Failure {
    let out_of_memory = Failure::OutOfMemory {
        limit_bytes: limits.memory_bytes,
    };
    if let Some(exit) = error.downcast_ref::<HostExit>() {
        return match exit {
            HostExit::Exit(_) if state.limiter.denied => out_of_memory,
            HostExit::Exit(code) => Failure::Exit {
                code: *code,
                stderr: state.stderr_text(),
            },
            HostExit::OutputLimit => Failure::OutputTooLarge {
                limit_bytes: limits.output_bytes,
            },
            HostExit::NoMemory => Failure::InvalidModule {
                reason: HostExit::NoMemory.to_string(),
            },
        };
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => Failure::OutOfFuel {
            budget: limits.fuel,
        },
        Some(Trap::Interrupt) => Failure::Timeout {
            after: wall_clock(limits),
        },
        Some(Trap::StackOverflow) => Failure::StackOverflow,
        _ if state.limiter.denied => out_of_memory,
        Some(trap) => Failure::Trap {
            reason: trap.to_string(),
            stderr: state.stderr_text(),
        },
        // Instantiation errors that are not traps: a data segment that does
        // not fit, a module over the instance limits.
        None => Failure::Trap {
            reason: error.to_string(),
            stderr: state.stderr_text(),
        },
    }
}

fn wall_clock(limits: &Limits) -> Duration {
    Duration::from_millis(u64::from(limits.wall_ms))
}

fn internal(e: wasmtime::Error) -> Failure {
    Failure::Internal {
        reason: e.to_string(),
    }
}

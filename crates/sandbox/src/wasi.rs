//! The few WASI preview 1 imports a task gets, implemented here rather than
//! with wasmtime-wasi so that nothing reaches the host: stdin is the task's
//! input, stdout its output (capped), stderr a short diagnostic buffer; no
//! files, sockets or environment; clocks start at a fixed instant and
//! advance one microsecond per read; `random_get` is a blake3 stream seeded
//! from the task id. Host work is charged in fuel, so a module cannot do
//! unbounded work through imports.
//!
//! Other preview 1 functions return `ENOSYS`; imports from any other module
//! are refused before the task starts.

use blake3::OutputReader;
use verigrid_types::{Encode, TaskId};
use wasmtime::{
    Caller, Error, Extern, ExternType, Linker, Memory, Module, ResourceLimiter, Trap, Val, ValType,
};

use crate::failure::Failure;

/// The module name of WASI preview 1 imports.
pub(crate) const WASI: &str = "wasi_snapshot_preview1";

const ERRNO_SUCCESS: i32 = 0;
const ERRNO_BADF: i32 = 8;
const ERRNO_FAULT: i32 = 21;
const ERRNO_INVAL: i32 = 28;
const ERRNO_NOSYS: i32 = 52;
const ERRNO_SPIPE: i32 = 70;

/// Fuel charged for entering any host function.
const HOST_CALL_FUEL: u64 = 16;
/// Bytes moved per unit of fuel charged in host functions.
const BYTES_PER_FUEL: u64 = 8;
/// Most iovecs in one read or write (POSIX's `IOV_MAX`).
const MAX_IOVECS: u32 = 1024;
/// How much of stderr is kept for failure reports.
const STDERR_KEPT: usize = 4096;
/// The realtime clock's fixed start: 2024-01-01T00:00:00Z, in nanoseconds.
const REALTIME_START_NS: u64 = 1_704_067_200_000_000_000;
/// How far the clocks advance on each read, in nanoseconds.
const CLOCK_STEP_NS: u64 = 1_000;

/// Preview 1 functions offered with a real implementation.
const IMPLEMENTED: &[&str] = &[
    "args_get",
    "args_sizes_get",
    "environ_get",
    "environ_sizes_get",
    "clock_res_get",
    "clock_time_get",
    "fd_close",
    "fd_fdstat_get",
    "fd_prestat_get",
    "fd_prestat_dir_name",
    "fd_read",
    "fd_seek",
    "fd_write",
    "proc_exit",
    "random_get",
    "sched_yield",
];

/// The rest of preview 1: importable, but they answer `ENOSYS`.
const REFUSED: &[&str] = &[
    "fd_advise",
    "fd_allocate",
    "fd_datasync",
    "fd_fdstat_set_flags",
    "fd_fdstat_set_rights",
    "fd_filestat_get",
    "fd_filestat_set_size",
    "fd_filestat_set_times",
    "fd_pread",
    "fd_pwrite",
    "fd_readdir",
    "fd_renumber",
    "fd_sync",
    "fd_tell",
    "path_create_directory",
    "path_filestat_get",
    "path_filestat_set_times",
    "path_link",
    "path_open",
    "path_readlink",
    "path_remove_directory",
    "path_rename",
    "path_symlink",
    "path_unlink_file",
    "poll_oneoff",
    "proc_raise",
    "sock_accept",
    "sock_recv",
    "sock_send",
    "sock_shutdown",
];

/// Why a host function stopped the module.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HostExit {
    /// The module called `proc_exit`.
    #[error("proc_exit({0})")]
    Exit(u32),
    /// The module wrote past the output limit.
    #[error("output limit reached")]
    OutputLimit,
    /// The module called a WASI function but exports no `memory`.
    #[error("the module exports no `memory` for WASI calls to use")]
    NoMemory,
}

/// A store's data: the task's streams, clock and randomness, and its
/// memory limiter.
pub(crate) struct GuestState {
    stdin: Vec<u8>,
    stdin_read: usize,
    pub(crate) stdout: Vec<u8>,
    output_limit: usize,
    pub(crate) stderr: Vec<u8>,
    random: OutputReader,
    clock_reads: u64,
    pub(crate) limiter: MemoryLimiter,
}

impl GuestState {
    /// The state of a fresh run of `task` on `input`.
    pub(crate) fn new(
        input: Vec<u8>,
        task: TaskId,
        output_limit: usize,
        memory_limit: usize,
    ) -> Self {
        let mut seed = blake3::Hasher::new_derive_key("verigrid sandbox random_get v1");
        seed.update(&task.encode());
        Self {
            stdin: input,
            stdin_read: 0,
            stdout: Vec::new(),
            output_limit,
            stderr: Vec::new(),
            random: seed.finalize_xof(),
            clock_reads: 0,
            limiter: MemoryLimiter {
                limit: memory_limit,
                denied: false,
            },
        }
    }

    /// The start of stderr, as text for failure reports.
    pub(crate) fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Caps linear memory; remembers a refusal so that the trap that usually
/// follows (Rust aborts when allocation fails) reads as out-of-memory.
pub(crate) struct MemoryLimiter {
    limit: usize,
    pub(crate) denied: bool,
}

/// Most table elements (function pointers) a module may have.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.denied = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        1
    }

    fn memories(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        4
    }
}

/// Checks a module's imports: `Ok` with the linker to instantiate it, or
/// the first import the sandbox does not offer.
pub(crate) fn linker_for(
    base: &Linker<GuestState>,
    module: &Module,
) -> Result<Linker<GuestState>, Failure> {
    let mut linker = base.clone();
    for import in module.imports() {
        let unsupported = || Failure::UnsupportedImport {
            module: import.module().to_owned(),
            name: import.name().to_owned(),
        };
        if import.module() != WASI {
            return Err(unsupported());
        }
        if IMPLEMENTED.contains(&import.name()) {
            continue;
        }
        let ExternType::Func(ty) = import.ty() else {
            return Err(unsupported());
        };
        let returns_errno =
            ty.results().len() == 1 && ty.results().all(|r| matches!(r, ValType::I32));
        if !REFUSED.contains(&import.name()) || !returns_errno {
            return Err(unsupported());
        }
        linker
            .func_new(WASI, import.name(), ty, |_, _, results| {
                if let Some(errno) = results.first_mut() {
                    *errno = Val::I32(ERRNO_NOSYS);
                }
                Ok(())
            })
            .map_err(|e| Failure::Internal {
                reason: format!("defining {}: {e}", import.name()),
            })?;
    }
    Ok(linker)
}

/// A linker holding the implemented preview 1 functions.
pub(crate) fn base_linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<GuestState>> {
    let mut l = Linker::new(engine);
    l.func_wrap(
        WASI,
        "args_get",
        |mut c: Caller<'_, GuestState>, _: i32, _: i32| -> wasmtime::Result<i32> {
            charge(&mut c, 0)?;
            Ok(ERRNO_SUCCESS)
        },
    )?;
    l.func_wrap(
        WASI,
        "environ_get",
        |mut c: Caller<'_, GuestState>, _: i32, _: i32| -> wasmtime::Result<i32> {
            charge(&mut c, 0)?;
            Ok(ERRNO_SUCCESS)
        },
    )?;
    l.func_wrap(WASI, "args_sizes_get", write_two_zeros)?;
    l.func_wrap(WASI, "environ_sizes_get", write_two_zeros)?;
    l.func_wrap(
        WASI,
        "clock_res_get",
        |mut c: Caller<'_, GuestState>, id: i32, at: i32| -> wasmtime::Result<i32> {
            charge(&mut c, 0)?;
            if !(0..=3).contains(&id) {
                return Ok(ERRNO_INVAL);
            }
            with_memory(&mut c, |mem, _| {
                errno(put(mem, at, &CLOCK_STEP_NS.to_le_bytes()))
            })
        },
    )?;
    l.func_wrap(WASI, "clock_time_get", clock_time_get)?;
    l.func_wrap(
        WASI,
        "fd_close",
        |mut c: Caller<'_, GuestState>, fd: i32| -> wasmtime::Result<i32> {
            charge(&mut c, 0)?;
            Ok(if is_stdio(fd) {
                ERRNO_SUCCESS
            } else {
                ERRNO_BADF
            })
        },
    )?;
    l.func_wrap(WASI, "fd_fdstat_get", fd_fdstat_get)?;
    l.func_wrap(
        WASI,
        "fd_prestat_get",
        |mut c: Caller<'_, GuestState>, _: i32, _: i32| -> wasmtime::Result<i32> {
            // No preopened directories: EBADF ends wasi-libc's scan for them.
            charge(&mut c, 0)?;
            Ok(ERRNO_BADF)
        },
    )?;
    l.func_wrap(
        WASI,
        "fd_prestat_dir_name",
        |mut c: Caller<'_, GuestState>, _: i32, _: i32, _: i32| -> wasmtime::Result<i32> {
            charge(&mut c, 0)?;
            Ok(ERRNO_BADF)
        },
    )?;
    l.func_wrap(WASI, "fd_read", fd_read)?;
    l.func_wrap(
        WASI,
        "fd_seek",
        |mut c: Caller<'_, GuestState>, fd: i32, _: i64, _: i32, _: i32| -> wasmtime::Result<i32> {
            charge(&mut c, 0)?;
            Ok(if is_stdio(fd) {
                ERRNO_SPIPE
            } else {
                ERRNO_BADF
            })
        },
    )?;
    l.func_wrap(WASI, "fd_write", fd_write)?;
    l.func_wrap(
        WASI,
        "proc_exit",
        |_: Caller<'_, GuestState>, code: i32| -> wasmtime::Result<()> {
            Err(Error::new(HostExit::Exit(code.cast_unsigned())))
        },
    )?;
    l.func_wrap(WASI, "random_get", random_get)?;
    l.func_wrap(
        WASI,
        "sched_yield",
        |mut c: Caller<'_, GuestState>| -> wasmtime::Result<i32> {
            charge(&mut c, 0)?;
            Ok(ERRNO_SUCCESS)
        },
    )?;
    Ok(l)
}

fn is_stdio(fd: i32) -> bool {
    (0..=2).contains(&fd)
}

fn errno(ok: bool) -> i32 {
    if ok { ERRNO_SUCCESS } else { ERRNO_FAULT }
}

/// Charges a host call and the bytes it moves in fuel; out of fuel ends
/// the module exactly as running out in WASM code does.
fn charge(c: &mut Caller<'_, GuestState>, bytes: u64) -> wasmtime::Result<()> {
    let cost = HOST_CALL_FUEL.saturating_add(bytes.div_ceil(BYTES_PER_FUEL));
    let left = c.get_fuel()?;
    match left.checked_sub(cost) {
        Some(left) => c.set_fuel(left),
        None => {
            c.set_fuel(0)?;
            Err(Error::new(Trap::OutOfFuel))
        }
    }
}

/// Runs `f` on the module's memory and the store's state.
fn with_memory<R>(
    c: &mut Caller<'_, GuestState>,
    f: impl FnOnce(&mut [u8], &mut GuestState) -> R,
) -> wasmtime::Result<R> {
    let memory: Memory = c
        .get_export("memory")
        .and_then(Extern::into_memory)
        .ok_or_else(|| Error::new(HostExit::NoMemory))?;
    let (mem, state) = memory.data_and_store_mut(c);
    Ok(f(mem, state))
}

fn range(ptr: i32, len: usize) -> Option<std::ops::Range<usize>> {
    let start = usize::try_from(ptr.cast_unsigned()).ok()?;
    Some(start..start.checked_add(len)?)
}

/// Writes `bytes` at `ptr`; false if that is outside memory.
fn put(mem: &mut [u8], ptr: i32, bytes: &[u8]) -> bool {
    match range(ptr, bytes.len()).and_then(|r| mem.get_mut(r)) {
        Some(dst) => {
            dst.copy_from_slice(bytes);
            true
        }
        None => false,
    }
}

fn get_u32(mem: &[u8], ptr: i32) -> Option<u32> {
    let b = mem.get(range(ptr, 4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// The `(pointer, length)` pairs of an iovec array, or `None` if it lies
/// outside memory or is too long.
fn iovecs(mem: &[u8], iovs: i32, count: i32) -> Option<Vec<(i32, usize)>> {
    let count = count.cast_unsigned();
    if count > MAX_IOVECS {
        return None;
    }
    (0..count)
        .map(|i| {
            let at = iovs.checked_add(i32::try_from(i.checked_mul(8)?).ok()?)?;
            let ptr = get_u32(mem, at)?.cast_signed();
            let len = usize::try_from(get_u32(mem, at.checked_add(4)?)?).ok()?;
            mem.get(range(ptr, len)?)?;
            Some((ptr, len))
        })
        .collect()
}

fn iovec_bytes(iovs: &[(i32, usize)]) -> u64 {
    iovs.iter()
        .map(|(_, len)| u64::try_from(*len).unwrap_or(u64::MAX))
        .fold(0, u64::saturating_add)
}

fn write_two_zeros(mut c: Caller<'_, GuestState>, a: i32, b: i32) -> wasmtime::Result<i32> {
    charge(&mut c, 0)?;
    with_memory(&mut c, |mem, _| {
        errno(put(mem, a, &[0; 4]) && put(mem, b, &[0; 4]))
    })
}

fn clock_time_get(
    mut c: Caller<'_, GuestState>,
    id: i32,
    _precision: i64,
    at: i32,
) -> wasmtime::Result<i32> {
    charge(&mut c, 0)?;
    with_memory(&mut c, |mem, state| {
        state.clock_reads = state.clock_reads.saturating_add(1);
        let elapsed = state.clock_reads.saturating_mul(CLOCK_STEP_NS);
        let now = match id {
            0 => REALTIME_START_NS.saturating_add(elapsed),
            1..=3 => elapsed,
            _ => return ERRNO_INVAL,
        };
        errno(put(mem, at, &now.to_le_bytes()))
    })
}

fn fd_fdstat_get(mut c: Caller<'_, GuestState>, fd: i32, at: i32) -> wasmtime::Result<i32> {
    const CHARACTER_DEVICE: u8 = 2;
    const RIGHT_FD_READ: u64 = 1 << 1;
    const RIGHT_FD_WRITE: u64 = 1 << 6;
    charge(&mut c, 0)?;
    if !is_stdio(fd) {
        return Ok(ERRNO_BADF);
    }
    let rights = if fd == 0 {
        RIGHT_FD_READ
    } else {
        RIGHT_FD_WRITE
    };
    // fdstat: filetype u8, flags u16 at 2, rights_base u64 at 8,
    // rights_inheriting u64 at 16.
    let mut stat = [0u8; 24];
    stat[0] = CHARACTER_DEVICE;
    stat[8..16].copy_from_slice(&rights.to_le_bytes());
    with_memory(&mut c, |mem, _| errno(put(mem, at, &stat)))
}

fn fd_read(
    mut c: Caller<'_, GuestState>,
    fd: i32,
    iovs: i32,
    count: i32,
    nread: i32,
) -> wasmtime::Result<i32> {
    charge(&mut c, 0)?;
    if fd != 0 {
        return Ok(ERRNO_BADF);
    }
    let Some(vecs) = with_memory(&mut c, |mem, _| iovecs(mem, iovs, count))? else {
        return Ok(ERRNO_FAULT);
    };
    let state = c.data();
    let left = state.stdin.len().saturating_sub(state.stdin_read);
    charge(
        &mut c,
        iovec_bytes(&vecs).min(u64::try_from(left).unwrap_or(u64::MAX)),
    )?;
    with_memory(&mut c, |mem, state| {
        let mut total = 0usize;
        for (ptr, len) in vecs {
            let rest = state.stdin.get(state.stdin_read..).unwrap_or_default();
            let n = len.min(rest.len());
            if n == 0 || !put(mem, ptr, &rest[..n]) {
                break;
            }
            state.stdin_read += n;
            total += n;
        }
        let total = u32::try_from(total).unwrap_or(u32::MAX);
        errno(put(mem, nread, &total.to_le_bytes()))
    })
}

fn fd_write(
    mut c: Caller<'_, GuestState>,
    fd: i32,
    iovs: i32,
    count: i32,
    nwritten: i32,
) -> wasmtime::Result<i32> {
    charge(&mut c, 0)?;
    if fd != 1 && fd != 2 {
        return Ok(ERRNO_BADF);
    }
    let Some(vecs) = with_memory(&mut c, |mem, _| iovecs(mem, iovs, count))? else {
        return Ok(ERRNO_FAULT);
    };
    charge(&mut c, iovec_bytes(&vecs))?;
    let written = with_memory(&mut c, |mem, state| {
        let mut total = 0usize;
        for (ptr, len) in vecs {
            let Some(bytes) = range(ptr, len).and_then(|r| mem.get(r)) else {
                return Ok(None);
            };
            if fd == 1 {
                if state.stdout.len().saturating_add(len) > state.output_limit {
                    return Err(Error::new(HostExit::OutputLimit));
                }
                state.stdout.extend_from_slice(bytes);
            } else {
                let room = STDERR_KEPT.saturating_sub(state.stderr.len());
                state.stderr.extend_from_slice(&bytes[..len.min(room)]);
            }
            total += len;
        }
        let total = u32::try_from(total).unwrap_or(u32::MAX);
        Ok(Some(put(mem, nwritten, &total.to_le_bytes())))
    })??;
    Ok(match written {
        Some(ok) => errno(ok),
        None => ERRNO_FAULT,
    })
}

fn random_get(mut c: Caller<'_, GuestState>, buf: i32, len: i32) -> wasmtime::Result<i32> {
    let len32 = len.cast_unsigned();
    charge(&mut c, u64::from(len32))?;
    with_memory(&mut c, |mem, state| {
        let dst = usize::try_from(len32)
            .ok()
            .and_then(|len| range(buf, len))
            .and_then(|r| mem.get_mut(r));
        match dst {
            Some(dst) => {
                state.random.fill(dst);
                ERRNO_SUCCESS
            }
            None => ERRNO_FAULT,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iovecs_outside_memory_are_refused() {
        let mut mem = vec![0u8; 64];
        // One iovec at 0: (ptr 16, len 8).
        mem[0..4].copy_from_slice(&16u32.to_le_bytes());
        mem[4..8].copy_from_slice(&8u32.to_le_bytes());
        assert_eq!(iovecs(&mem, 0, 1), Some(vec![(16, 8)]));
        // Pointing past the end.
        mem[4..8].copy_from_slice(&100u32.to_le_bytes());
        assert_eq!(iovecs(&mem, 0, 1), None);
        // The array itself past the end, or absurdly long.
        assert_eq!(iovecs(&mem, 60, 1), None);
        assert_eq!(iovecs(&mem, 0, -1), None);
    }

    #[test]
    fn every_preview1_function_is_either_offered_or_refused() {
        assert_eq!(IMPLEMENTED.len() + REFUSED.len(), 46);
        assert!(IMPLEMENTED.iter().all(|f| !REFUSED.contains(f)));
    }
}

//! Work the simulator spreads over the machine's cores: signing devices'
//! batches, checking signatures and attestations ahead of a block. Each
//! input is cut into one contiguous part per core and the parts' results
//! are joined in input order, so a run gives the same numbers on any
//! number of cores. The ledger itself stays single-threaded.

use std::num::NonZeroUsize;

/// Fewer items than this run on the calling thread (spawning costs more).
const MIN_PER_THREAD: usize = 64;

/// Cores to use.
#[must_use]
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

fn parts(len: usize) -> usize {
    threads().min(len / MIN_PER_THREAD).max(1)
}

/// `f` over consecutive parts of `items`, one per core; results in order.
pub fn map_parts<T: Sync, R: Send>(items: &[T], f: impl Fn(&[T]) -> R + Sync) -> Vec<R> {
    let n = parts(items.len());
    if n == 1 {
        return vec![f(items)];
    }
    let size = items.len().div_ceil(n);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(size)
            .map(|part| {
                let f = &f;
                s.spawn(move || f(part))
            })
            .collect();
        handles.into_iter().map(join).collect()
    })
}

/// `f` over consecutive mutable parts of `items`, one per core; results in
/// order.
pub fn map_parts_mut<T: Send, R: Send>(
    items: &mut [T],
    f: impl Fn(&mut [T]) -> R + Sync,
) -> Vec<R> {
    let n = parts(items.len());
    if n == 1 {
        return vec![f(items)];
    }
    let size = items.len().div_ceil(n);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks_mut(size)
            .map(|part| {
                let f = &f;
                s.spawn(move || f(part))
            })
            .collect();
        handles.into_iter().map(join).collect()
    })
}

/// `f` on every item, spread over the cores; results in order.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    map_parts(items, |part| part.iter().map(&f).collect::<Vec<R>>())
        .into_iter()
        .flatten()
        .collect()
}

/// A worker's result; a panic in a worker is re-raised on the caller's
/// thread, as if the work had run there.
fn join<R>(handle: std::thread::ScopedJoinHandle<'_, R>) -> R {
    match handle.join() {
        Ok(r) => r,
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

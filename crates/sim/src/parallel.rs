//! Work the simulator spreads over the machine's cores: signing devices'
//! batches, checking signatures and attestations ahead of and alongside a
//! block. Each input is cut into contiguous parts and the parts' results
//! are handed on in input order, so a run gives the same numbers on any
//! number of cores. The ledger itself stays single-threaded.

use std::num::NonZeroUsize;
use std::sync::mpsc;
use std::time::{Duration, Instant};

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

/// `f(start, part)` over consecutive mutable parts of `items`, one per
/// core, `start` being the part's position in `items`; results in order.
pub fn map_parts_mut<T: Send, R: Send>(
    items: &mut [T],
    f: impl Fn(usize, &mut [T]) -> R + Sync,
) -> Vec<R> {
    let n = parts(items.len());
    if n == 1 {
        return vec![f(0, items)];
    }
    let size = items.len().div_ceil(n);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks_mut(size)
            .enumerate()
            .map(|(k, part)| {
                let f = &f;
                s.spawn(move || f(k * size, part))
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

/// Results of `f` that one worker has ready ahead of the consumer, per
/// worker (enough to cover the consumer's uneven pace, few enough that a
/// stalled consumer stops the workers).
const AHEAD: usize = 4;

/// Runs `f` over consecutive runs of `run` items on one worker per core
/// while `consume` runs on this thread, fed the results in input order
/// (each as soon as it is ready). Returns what `consume` returns and how
/// long it waited for results. Workers block once [`AHEAD`] results are
/// waiting, so when the consumer is the slower side it gets a core to
/// itself; if `consume` stops early, the workers stop too.
pub fn alongside<T: Sync, R: Send, C>(
    items: &[T],
    run: usize,
    f: impl Fn(&[T]) -> R + Sync,
    consume: impl FnOnce(&mut dyn Iterator<Item = R>) -> C,
) -> (C, Duration) {
    let workers = threads().min(items.len().div_ceil(run.max(1))).max(1);
    std::thread::scope(|s| {
        let mut receivers = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for w in 0..workers {
            let (send, receive) = mpsc::sync_channel(AHEAD);
            let f = &f;
            // Worker `w` takes runs w, w + workers, w + 2 × workers, …
            handles.push(s.spawn(move || {
                for part in items.chunks(run.max(1)).skip(w).step_by(workers) {
                    if send.send(f(part)).is_err() {
                        break;
                    }
                }
            }));
            receivers.push(receive);
        }
        let mut waited = Duration::ZERO;
        let mut next = 0;
        let mut results = std::iter::from_fn(|| {
            let started = Instant::now();
            let r = receivers.get(next % workers)?.recv().ok();
            waited += started.elapsed();
            next += 1;
            r
        });
        let out = consume(&mut results);
        // Dropping the receivers stops workers blocked on a full channel.
        drop(receivers);
        handles.into_iter().for_each(join);
        (out, waited)
    })
}

/// A worker's result; a panic in a worker is re-raised on the caller's
/// thread, as if the work had run there.
fn join<R>(handle: std::thread::ScopedJoinHandle<'_, R>) -> R {
    match handle.join() {
        Ok(r) => r,
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

#[cfg(test)]
mod tests {
    use super::alongside;

    #[test]
    fn results_reach_the_consumer_in_input_order() {
        let items: Vec<u64> = (0..1_000).collect();
        let (sums, _) = alongside(
            &items,
            7,
            |run| run.iter().sum::<u64>(),
            |results| results.collect::<Vec<_>>(),
        );
        let expected: Vec<u64> = items.chunks(7).map(|run| run.iter().sum()).collect();
        assert_eq!(sums, expected);
    }

    #[test]
    fn a_consumer_that_stops_early_stops_the_workers() {
        let items: Vec<u64> = (0..100_000).collect();
        let (first, _) = alongside(&items, 1, |run| run.to_vec(), |results| results.next());
        assert_eq!(first, Some(vec![0]));
    }

    #[test]
    fn a_worker_that_panics_panics_the_caller() {
        let items: Vec<u64> = (0..100).collect();
        let outcome = std::panic::catch_unwind(|| {
            alongside(
                &items,
                10,
                |run| assert!(run[0] != 50, "bad run"),
                |results| results.count(),
            )
        });
        assert!(outcome.is_err());
    }
}

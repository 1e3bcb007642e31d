//! Work the simulator spreads over the machine's cores: signing devices'
//! batches, checking signatures and attestations ahead of and alongside a
//! block. Each input is cut into contiguous parts and the parts' results
//! are handed on in input order, so a run gives the same numbers on any
//! number of cores. The ledger itself stays single-threaded.

use std::collections::{BTreeMap, VecDeque};
use std::num::NonZeroUsize;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
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

/// How many parts, per thread, may be done ahead of the consumer: enough
/// to cover its uneven pace, few enough that a stalled consumer stops the
/// workers (and holds few results in memory).
const AHEAD: usize = 4;

/// Runs `f` over `parts` while `consume` runs on this thread, fed the
/// results in the parts' order, each as soon as it is ready. Returns what
/// `consume` returns and how long it waited for results.
///
/// One worker runs on every core but one, so the consumer keeps a core to
/// itself; whenever the result it needs next is not ready, the consumer
/// takes on the next part not yet started itself instead of idling. So
/// when the consumer is the slower side nothing competes with it, and when
/// the parts are, every core works on them. Workers stay at most
/// [`AHEAD`] parts a thread ahead of the consumer; if `consume` stops
/// early (or panics), they stop too. A panic in `f` is re-raised here.
pub fn alongside<P: Send, R: Send, C>(
    parts: Vec<P>,
    f: impl Fn(P) -> R + Sync,
    consume: impl FnOnce(&mut dyn Iterator<Item = R>) -> C,
) -> (C, Duration) {
    alongside_on(threads().saturating_sub(1), parts, f, consume)
}

/// The parts not yet started and the results not yet consumed.
struct Board<P, R> {
    /// Parts not yet started, in order; the first is part `started`.
    parts: VecDeque<P>,
    started: usize,
    /// Results done ahead of the consumer, by part.
    done: BTreeMap<usize, R>,
    /// The part whose result the consumer needs next.
    next: usize,
    /// The consumer is gone, or a worker panicked: stop.
    stop: bool,
}

impl<P, R> Board<P, R> {
    /// The next part not yet started, and its number.
    fn start(&mut self) -> Option<(usize, P)> {
        let part = self.parts.pop_front()?;
        self.started += 1;
        Some((self.started - 1, part))
    }
}

/// The board and the signal that it changed.
struct Shared<P, R> {
    board: Mutex<Board<P, R>>,
    changed: Condvar,
}

impl<P, R> Shared<P, R> {
    /// The board; a panic elsewhere never leaves it half-changed (nothing
    /// runs under the lock that can panic), so a poisoned lock is fine.
    fn board(&self) -> MutexGuard<'_, Board<P, R>> {
        self.board.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, board: MutexGuard<'a, Board<P, R>>) -> MutexGuard<'a, Board<P, R>> {
        self.changed
            .wait(board)
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn stop(&self) {
        self.board().stop = true;
        self.changed.notify_all();
    }

    /// A worker: takes parts in order while it is within `window` parts
    /// of the consumer.
    fn work(&self, window: usize, f: &impl Fn(P) -> R) {
        // A panic in `f` stops the consumer too (it would wait forever for
        // the part); the panic itself reaches the caller through `join`.
        let _stopper = Stopper {
            shared: self,
            only_on_panic: true,
        };
        loop {
            let (at, part) = {
                let mut board = self.board();
                loop {
                    if board.stop {
                        return;
                    }
                    if board.started < board.next + window {
                        match board.start() {
                            Some(started) => break started,
                            None => return,
                        }
                    }
                    board = self.wait(board);
                }
            };
            let result = f(part);
            self.board().done.insert(at, result);
            self.changed.notify_all();
        }
    }

    /// The consumer's next result: done already, done by itself, or
    /// waited for. `None` once every part's result was handed over, or if
    /// a worker panicked.
    fn next(&self, f: &impl Fn(P) -> R) -> Option<R> {
        let mut board = self.board();
        loop {
            if board.stop {
                return None;
            }
            let next = board.next;
            if let Some(result) = board.done.remove(&next) {
                board.next += 1;
                drop(board);
                self.changed.notify_all();
                return Some(result);
            }
            if let Some((at, part)) = board.start() {
                drop(board);
                let result = f(part);
                board = self.board();
                board.done.insert(at, result);
            } else if board.started <= next {
                return None;
            } else {
                board = self.wait(board);
            }
        }
    }
}

/// Stops every thread when dropped: the consumer's when it is done with
/// the workers (or panics), a worker's only if the worker panics.
struct Stopper<'a, P, R> {
    shared: &'a Shared<P, R>,
    only_on_panic: bool,
}

impl<P, R> Drop for Stopper<'_, P, R> {
    fn drop(&mut self) {
        if !self.only_on_panic || std::thread::panicking() {
            self.shared.stop();
        }
    }
}

/// [`alongside`] with `workers` worker threads.
fn alongside_on<P: Send, R: Send, C>(
    workers: usize,
    parts: Vec<P>,
    f: impl Fn(P) -> R + Sync,
    consume: impl FnOnce(&mut dyn Iterator<Item = R>) -> C,
) -> (C, Duration) {
    let workers = workers.min(parts.len());
    let window = AHEAD * (workers + 1);
    let shared = Shared {
        board: Mutex::new(Board {
            parts: parts.into(),
            started: 0,
            done: BTreeMap::new(),
            next: 0,
            stop: false,
        }),
        changed: Condvar::new(),
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| s.spawn(|| shared.work(window, &f)))
            .collect();
        let stopper = Stopper {
            shared: &shared,
            only_on_panic: false,
        };
        let mut waited = Duration::ZERO;
        let mut results = std::iter::from_fn(|| {
            let started = Instant::now();
            let result = shared.next(&f);
            waited += started.elapsed();
            result
        });
        let out = consume(&mut results);
        drop(stopper);
        handles.into_iter().for_each(join);
        (out, waited)
    })
}

/// `items` cut into owned runs of `run` items (the last may be shorter),
/// in order.
pub fn runs<T>(items: Vec<T>, run: usize) -> Vec<Vec<T>> {
    let mut rest = items.into_iter().peekable();
    let mut runs = Vec::new();
    while rest.peek().is_some() {
        runs.push(rest.by_ref().take(run.max(1)).collect());
    }
    runs
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
    use super::{alongside, alongside_on, runs};

    #[test]
    fn results_reach_the_consumer_in_input_order() {
        let items: Vec<u64> = (0..1_000).collect();
        let (sums, _) = alongside(
            runs(items.clone(), 7),
            |run| run.iter().sum::<u64>(),
            |results| results.collect::<Vec<_>>(),
        );
        let expected: Vec<u64> = items.chunks(7).map(|run| run.iter().sum()).collect();
        assert_eq!(sums, expected);
    }

    #[test]
    fn results_come_in_order_with_any_number_of_workers() {
        let items: Vec<u64> = (0..1_000).collect();
        let expected: Vec<u64> = items.chunks(7).map(|run| run.iter().sum()).collect();
        // No worker: the consumer does every part itself. Many workers:
        // parts finish out of order and wait for their turn.
        for workers in [0, 1, 5] {
            let (sums, _) = alongside_on(
                workers,
                runs(items.clone(), 7),
                |run| run.iter().sum::<u64>(),
                |results| results.collect::<Vec<_>>(),
            );
            assert_eq!(sums, expected, "{workers} workers");
        }
    }

    #[test]
    fn runs_cut_items_in_order_the_last_one_shorter() {
        let cut = runs((0..7u8).collect(), 3);
        assert_eq!(cut, vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
        assert!(runs(Vec::<u8>::new(), 3).is_empty());
    }

    #[test]
    fn a_consumer_that_stops_early_stops_the_workers() {
        let items: Vec<u64> = (0..100_000).collect();
        let (first, _) = alongside(runs(items, 1), |run| run, |results| results.next());
        assert_eq!(first, Some(vec![0]));
    }

    #[test]
    fn a_worker_that_panics_panics_the_caller() {
        let items: Vec<u64> = (0..100).collect();
        // Whichever thread meets the bad part: a worker, or the consumer.
        for workers in [0, 1, 3] {
            let outcome = std::panic::catch_unwind(|| {
                alongside_on(
                    workers,
                    runs(items.clone(), 10),
                    |run| assert!(run[0] != 50, "bad run"),
                    |results| results.count(),
                )
            });
            assert!(outcome.is_err(), "{workers} workers");
        }
    }
}

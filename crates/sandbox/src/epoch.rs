//! The wall-clock safety net: a thread that advances the engine's epoch
//! every [`TICK`], so a store whose epoch deadline passes traps with
//! `Interrupt`. It stops by itself once its [`Ticker`] is dropped.

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::Duration;

/// How often the epoch advances.
pub(crate) const TICK: Duration = Duration::from_millis(10);

/// Owns the ticking thread; dropping it stops the thread within one tick.
#[derive(Debug)]
pub(crate) struct Ticker {
    _stop: Sender<()>,
}

impl Ticker {
    /// Starts advancing `engine`'s epoch.
    pub(crate) fn start(engine: wasmtime::Engine) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("verigrid-sandbox-epoch".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(TICK) {
                    engine.increment_epoch();
                }
            })?;
        Ok(Self { _stop: stop })
    }
}

/// Most ticks a deadline may be: wasmtime adds it to the current epoch
/// unchecked, and 2^40 ticks is centuries anyway.
const MAX_TICKS: u64 = 1 << 40;

/// Epoch ticks that cover `wall_clock`, at least two so that a tick landing
/// just after the start does not cut the task short.
pub(crate) fn deadline_ticks(wall_clock: Duration) -> u64 {
    let ticks = wall_clock.as_millis().div_ceil(TICK.as_millis());
    u64::try_from(ticks)
        .unwrap_or(MAX_TICKS)
        .saturating_add(1)
        .clamp(2, MAX_TICKS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_covers_the_cut_off_with_a_tick_to_spare() {
        assert_eq!(deadline_ticks(Duration::from_millis(100)), 11);
        assert_eq!(deadline_ticks(Duration::ZERO), 2);
        assert_eq!(deadline_ticks(Duration::MAX), MAX_TICKS);
    }
}

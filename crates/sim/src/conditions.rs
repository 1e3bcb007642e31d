//! The world simulated devices live in. Phones work only while idle and
//! charging, in a daily window of their own; they leave the network and
//! come back; they run at different speeds; and a transaction sometimes
//! misses the block it was sent for. Deadlines are missed as a result, and
//! the ledger's rules for misses (replacement, reputation, jail) decide
//! what follows.
//!
//! Every draw comes from a device's own generator, seeded from the run's
//! seed and the device's position, so a run is the same on any number of
//! threads.

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Exp, LogNormal};

/// Seconds in a day.
pub const DAY_SECS: u64 = 86_400;

/// How devices behave in time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Conditions {
    /// Simulated seconds one block stands for.
    pub block_secs: u64,
    /// Hours a day a device is idle and charging (24: always). Each
    /// device's window opens at a time of day of its own; outside it the
    /// device pauses itself (as the agent does) and sets running tasks
    /// aside until the window opens again.
    pub window_hours: f64,
    /// Seconds of working time a task takes on a device of median speed
    /// (0: it is done in time for the next block).
    pub task_secs: f64,
    /// Spread of device speeds: the standard deviation of ln(speed)
    /// (0: every device as fast as the median).
    pub speed_sigma: f64,
    /// Mean hours a device stays on the network before it leaves (0: it
    /// never leaves). Stays and absences are exponentially distributed.
    pub stay_hours: f64,
    /// Mean hours a device that left stays away.
    pub away_hours: f64,
    /// Chance that a device's next transaction misses a block (it goes in
    /// a later one, and the device's later transactions wait behind it).
    pub late: f64,
    /// Blocks replicas have to commit (the chain's `commit_blocks`).
    pub commit_blocks: u64,
    /// Blocks replicas have to reveal (the chain's `reveal_blocks`).
    pub reveal_blocks: u64,
}

impl Conditions {
    /// Every device always present, always idle, instantly done, never
    /// late: the protocol alone, and the fastest run.
    #[must_use]
    pub const fn ideal() -> Self {
        Self {
            block_secs: 1,
            window_hours: 24.0,
            task_secs: 0.0,
            speed_sigma: 0.0,
            stay_hours: 0.0,
            away_hours: 0.0,
            late: 0.0,
            commit_blocks: 3,
            reveal_blocks: 3,
        }
    }

    /// Phones as they are: idle and charging 8 hours a day, a task of two
    /// minutes on a median phone and speeds spread about ±65 % (one σ),
    /// on the network for a day on average and away for four hours, one
    /// transaction in ten a block late; one-minute blocks, 15 minutes to
    /// commit and 5 to reveal.
    #[must_use]
    pub const fn phones() -> Self {
        Self {
            block_secs: 60,
            window_hours: 8.0,
            task_secs: 120.0,
            speed_sigma: 0.5,
            stay_hours: 24.0,
            away_hours: 4.0,
            late: 0.1,
            commit_blocks: 15,
            reveal_blocks: 5,
        }
    }

    /// Whether every value is usable, and which is not.
    ///
    /// # Errors
    /// A message naming the first unusable value.
    pub fn check(&self) -> Result<(), String> {
        let finite = [
            self.window_hours,
            self.task_secs,
            self.speed_sigma,
            self.stay_hours,
            self.away_hours,
            self.late,
        ]
        .iter()
        .all(|v| v.is_finite() && *v >= 0.0);
        if !finite {
            return Err("conditions must be finite and not negative".into());
        }
        if self.block_secs == 0 {
            return Err("a block must stand for at least one second".into());
        }
        if self.window_hours <= 0.0 || self.window_hours > 24.0 {
            return Err(format!(
                "the idle window must be more than 0 and at most 24 hours, got {}",
                self.window_hours
            ));
        }
        if self.late >= 1.0 {
            return Err(format!(
                "the chance a transaction is late must be below 1, got {}",
                self.late
            ));
        }
        if self.stay_hours > 0.0 && self.away_hours <= 0.0 {
            return Err("devices that leave must stay away for some time".into());
        }
        if self.commit_blocks == 0 || self.reveal_blocks == 0 {
            return Err("commit and reveal windows must be at least one block".into());
        }
        Ok(())
    }

    fn always_idle(&self) -> bool {
        self.window_hours >= 24.0
    }

    fn hours_to_blocks(&self, hours: f64) -> u64 {
        // Saturating float-to-int conversion: a stay of centuries is "never".
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let blocks = (hours * 3_600.0 / self.block_secs as f64).ceil() as u64;
        blocks.max(1)
    }
}

/// What a device is doing at one block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// On the network: it hears of assignments and sends transactions.
    pub present: bool,
    /// Idle and charging: it may run tasks.
    pub idle: bool,
}

/// One device's life in the simulated world.
#[derive(Clone, Debug)]
pub struct Life {
    rng: Xoshiro256PlusPlus,
    /// Blocks of idle time one task takes on this device.
    pub task_blocks: u32,
    /// Second of the day its idle window opens.
    window_opens: u64,
    present: bool,
    /// Block at which it leaves (or comes back); `u64::MAX`: never.
    change_at: u64,
}

impl Life {
    /// The life of the device at `position` in a run seeded with `seed`.
    #[must_use]
    pub fn new(conditions: &Conditions, seed: u64, position: usize) -> Self {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(
            seed.rotate_left(32) ^ (position as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        );
        let speed = match LogNormal::new(0.0, conditions.speed_sigma) {
            Ok(d) if conditions.speed_sigma > 0.0 => d.sample(&mut rng),
            _ => 1.0,
        };
        let secs = conditions.task_secs / speed.max(1e-3);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let task_blocks = (secs / conditions.block_secs as f64).ceil().min(1e6) as u32;
        let window_opens = if conditions.always_idle() {
            0
        } else {
            rng.random_range(0..DAY_SECS)
        };
        let mut life = Self {
            rng,
            task_blocks,
            window_opens,
            present: true,
            change_at: u64::MAX,
        };
        life.change_at = life.next_change(conditions, 0);
        life
    }

    /// The block at which a device that is (or just became) present or
    /// away at `height` changes again.
    fn next_change(&mut self, conditions: &Conditions, height: u64) -> u64 {
        if conditions.stay_hours <= 0.0 {
            return u64::MAX;
        }
        let mean = if self.present {
            conditions.stay_hours
        } else {
            conditions.away_hours
        };
        let hours = Exp::new(1.0 / mean).map_or(mean, |d| d.sample(&mut self.rng));
        height.saturating_add(conditions.hours_to_blocks(hours))
    }

    /// Moves the device's life on to block `height` (called with rising
    /// heights) and says what it is doing.
    pub fn at(&mut self, conditions: &Conditions, height: u64) -> Now {
        while height >= self.change_at {
            let at = self.change_at;
            self.present = !self.present;
            self.change_at = self.next_change(conditions, at);
        }
        let idle = conditions.always_idle() || {
            let second = (height * conditions.block_secs + DAY_SECS - self.window_opens) % DAY_SECS;
            // The window is at most a day long (`Conditions::check`).
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let window = (conditions.window_hours * 3_600.0) as u64;
            second < window
        };
        Now {
            present: self.present,
            idle,
        }
    }

    /// Whether the device's next transaction makes this block.
    pub fn on_time(&mut self, conditions: &Conditions) -> bool {
        conditions.late <= 0.0 || !self.rng.random_bool(conditions.late)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ideal_devices_are_always_present_idle_and_instant() {
        let c = Conditions::ideal();
        let mut life = Life::new(&c, 7, 3);
        assert_eq!(life.task_blocks, 0);
        for h in 0..10_000 {
            assert_eq!(
                life.at(&c, h),
                Now {
                    present: true,
                    idle: true
                }
            );
            assert!(life.on_time(&c));
        }
    }

    #[test]
    fn phones_keep_their_window_leave_and_come_back() {
        let c = Conditions::phones();
        assert_eq!(c.check(), Ok(()));
        let blocks_a_day = DAY_SECS / c.block_secs;
        let (mut idle, mut present, mut late) = (0u64, 0u64, 0u64);
        let devices = 200;
        let days = 10;
        for position in 0..devices {
            let mut life = Life::new(&c, 1, position);
            for h in 0..days * blocks_a_day {
                let now = life.at(&c, h);
                idle += u64::from(now.idle);
                present += u64::from(now.present);
                late += u64::from(!life.on_time(&c));
            }
        }
        let total = (devices as u64 * days * blocks_a_day) as f64;
        // 8 hours in 24; present 24 h of every 28 on average; 10 % late.
        assert!((idle as f64 / total - 1.0 / 3.0).abs() < 0.01, "{idle}");
        assert!(
            (present as f64 / total - 24.0 / 28.0).abs() < 0.05,
            "{present}"
        );
        assert!((late as f64 / total - 0.1).abs() < 0.01, "{late}");
    }

    #[test]
    fn the_same_seed_and_position_give_the_same_life() {
        let c = Conditions::phones();
        let trace = |seed, position| {
            let mut life = Life::new(&c, seed, position);
            let steps: Vec<(Now, bool)> = (0..5_000)
                .map(|h| (life.at(&c, h), life.on_time(&c)))
                .collect();
            (life.task_blocks, steps)
        };
        assert_eq!(trace(1, 5), trace(1, 5));
        assert_ne!(trace(1, 5), trace(1, 6));
        assert_ne!(trace(1, 5), trace(2, 5));
    }

    #[test]
    fn speeds_spread_around_the_median_task_time() {
        let c = Conditions::phones();
        let mut blocks: Vec<u32> = (0..1_001)
            .map(|i| Life::new(&c, 1, i).task_blocks)
            .collect();
        blocks.sort_unstable();
        // Two minutes on a median phone: two one-minute blocks.
        assert_eq!(blocks[500], 2);
        assert!(blocks[0] == 1 && blocks[1_000] > 4, "{blocks:?}");
    }

    #[test]
    fn unusable_conditions_are_named() {
        let bad = [
            Conditions {
                block_secs: 0,
                ..Conditions::phones()
            },
            Conditions {
                window_hours: 0.0,
                ..Conditions::phones()
            },
            Conditions {
                late: 1.0,
                ..Conditions::phones()
            },
            Conditions {
                away_hours: 0.0,
                ..Conditions::phones()
            },
            Conditions {
                task_secs: f64::NAN,
                ..Conditions::phones()
            },
        ];
        for c in bad {
            assert!(c.check().is_err(), "{c:?}");
        }
        assert_eq!(Conditions::ideal().check(), Ok(()));
    }
}

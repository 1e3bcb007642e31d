//! Verdicts (docs/DESIGN.md §5.4–5.5): group the reveals by the job's
//! comparison rule; a strict-majority group of at least `quorum`, with a
//! trusted device in it if the task has one, is accepted, its devices paid
//! and credited, the others slashed and discredited. No quorum: escalate
//! with more replicas up to the cap, then fail and leave the escrow to be
//! refunded.

use verigrid_types::{AccountId, Amount, DeviceId, Hash, TaskId};

use crate::Ledger;
use crate::assignment::voted;
use crate::events::Event;
use crate::records::{Outcome, Phase, Replica, Verdict};

/// One group of agreeing reveals: indices into the task's replicas.
struct Group {
    members: Vec<usize>,
}

impl Ledger {
    /// Decides a task whose reveals are in (or whose reveal window closed).
    pub(crate) fn judge(&mut self, id: TaskId) {
        let Some((task, rule, quorum)) = self.live_task(id) else {
            return;
        };
        // A device caught lying since it was assigned (its stake slashed
        // below the minimum) no longer has a vote.
        let min_stake = self.params.min_device_stake;
        let revealed: Vec<usize> = task
            .replicas
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                !r.missed
                    && r.output_hash.is_some()
                    && self
                        .devices
                        .get(&r.device)
                        .is_some_and(|d| d.stake >= min_stake)
            })
            .map(|(i, _)| i)
            .collect();
        let groups = group(&task.replicas, &revealed, |a, b| {
            if rule.comparison.needs_output() {
                match (&a.output, &b.output) {
                    (Some(x), Some(y)) => rule.comparison.agree(&x.0, &y.0),
                    _ => false,
                }
            } else {
                a.output_hash == b.output_hash
            }
        });
        let mut sizes: Vec<usize> = groups.iter().map(|g| g.members.len()).collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        let best = sizes.first().copied().unwrap_or(0);
        let runner_up = sizes.get(1).copied().unwrap_or(0);
        let winner = groups.iter().find(|g| g.members.len() == best);
        if let Some(winner) = winner
            && best >= quorum
            && best - runner_up >= quorum
            && (!voted(&rule) || self.vouched(&task.replicas, &winner.members))
        {
            let agreeing = winner.members.clone();
            let disagreeing: Vec<usize> = revealed
                .iter()
                .copied()
                .filter(|i| !agreeing.contains(i))
                .collect();
            let output = agreeing
                .first()
                .and_then(|i| task.replicas.get(*i))
                .and_then(|r| r.output_hash)
                .unwrap_or(Hash::ZERO);
            self.accept(id, output, &agreeing, &disagreeing);
            return;
        }
        let room = usize::from(rule.max_replicas).saturating_sub(task.replicas.len());
        if room == 0 {
            self.fail_task(id);
            return;
        }
        // Escalate: enough new replicas that the largest group could reach
        // quorum, within the cap.
        let wanted = quorum.saturating_sub(best).max(1).min(room);
        if let Some(task) = self.tasks.get_mut(&id) {
            task.solo = false;
            task.phase = Phase::Commit;
            task.wanted = u8::try_from(wanted).unwrap_or(u8::MAX);
        }
        self.needs_replicas.insert(id);
        let deadline = self.height.plus(self.params.commit_blocks.max(1));
        self.arm(id, deadline);
    }

    /// Whether a voted task's (`voted`) agreeing `members` may decide it:
    /// if any of its replicas (counted or not) is a device trusted to run
    /// alone, one of the members must be. Otherwise agreement among devices
    /// with no record decides nothing: fresh colluders, the only devices with
    /// room while trusted ones are busy, would accept their own answer and
    /// build the record to run alone on it; and a trusted replica that
    /// withholds its reveal must not leave them the vote. The task
    /// escalates instead, and its next replica comes from the trusted
    /// devices while none of its counted replicas is one (`Pool`). A task
    /// with no trusted replica at all (drawn while no device that takes
    /// work was trusted, as on a new network) is decided by its majority.
    fn vouched(&self, replicas: &[Replica], members: &[usize]) -> bool {
        // One look-up a replica, in assignment order: a solo or anchored
        // verdict is vouched for by its first replica, which is trusted
        // and agrees.
        let mut any_trusted = false;
        for (i, replica) in replicas.iter().enumerate() {
            if self.trusted(&replica.device) {
                if members.contains(&i) {
                    return true;
                }
                any_trusted = true;
            }
        }
        !any_trusted
    }

    fn accept(&mut self, id: TaskId, output: Hash, agreeing: &[usize], disagreeing: &[usize]) {
        // Its deadline's entry stays behind, no longer due.
        let Some(task) = self.tasks.remove(&id) else {
            return;
        };
        let reward = self
            .jobs
            .get(&id.job)
            .map_or(Amount::ZERO, |j| j.spec.reward);
        let keep = self.params.reputation_keep_ppm;
        let mut paid = Vec::with_capacity(agreeing.len());
        for &i in agreeing {
            let Some(replica) = task.replicas.get(i) else {
                continue;
            };
            // One lookup credits the device's record and names its payee.
            let payee = self.devices.get_mut(&replica.device).map(|device| {
                device.reputation.record(true, keep);
                device.misses = 0;
                device.running = device.running.saturating_sub(1);
                device.payee()
            });
            if let Some(to) = payee {
                self.pay(id, replica.device, to, reward);
            }
            paid.push(replica.device);
        }
        let mut slashed = Vec::with_capacity(disagreeing.len());
        for &i in disagreeing {
            let Some(replica) = task.replicas.get(i) else {
                continue;
            };
            self.slash(replica.device);
            slashed.push(replica.device);
        }
        // Replicas that committed but were neither revealed-agreeing nor
        // disagreeing (none in practice) just release their slot.
        self.release_others(&task.replicas, agreeing, disagreeing);
        self.record_verdict(Verdict {
            task: id,
            outcome: Outcome::Accepted(output),
            agreeing: paid,
            disagreeing: slashed,
            height: self.height,
        });
    }

    fn release_others(&mut self, replicas: &[Replica], agreeing: &[usize], disagreeing: &[usize]) {
        for (i, r) in replicas.iter().enumerate() {
            if !r.missed
                && !agreeing.contains(&i)
                && !disagreeing.contains(&i)
                && let Some(device) = self.devices.get_mut(&r.device)
            {
                device.running = device.running.saturating_sub(1);
            }
        }
    }

    /// Pays `amount` from the job's escrow to `to`, the device's payee.
    fn pay(&mut self, id: TaskId, device: DeviceId, to: AccountId, amount: Amount) {
        let Some(job) = self.jobs.get_mut(&id.job) else {
            return;
        };
        let Some(rest) = job.escrow.checked_sub(amount) else {
            return;
        };
        job.escrow = rest;
        self.credit_at_block_end(to, amount);
        self.events.push(Event::Paid { device, to, amount });
    }

    /// Burns the slashable share of a device's stake and wipes its record:
    /// a caught fabrication costs what its honesty had earned.
    fn slash(&mut self, id: DeviceId) {
        let ppm = self.params.slash_ppm;
        let keep = self.params.reputation_keep_ppm;
        let Some(device) = self.devices.get_mut(&id) else {
            return;
        };
        let amount = device.stake.mul_ratio(u64::from(ppm), 1_000_000);
        device.stake = device.stake.saturating_sub(amount);
        device.reputation.record(false, keep);
        device.reputation.alpha = 0;
        device.running = device.running.saturating_sub(1);
        self.supply.burned = self.supply.burned.saturating_add(amount.0);
        self.events.push(Event::Slashed { device: id, amount });
    }

    /// Ends a task without a result: nobody is paid or slashed, its slots
    /// are released and its share of escrow stays to be refunded.
    pub(crate) fn fail_task(&mut self, id: TaskId) {
        let Some(task) = self.tasks.remove(&id) else {
            return;
        };
        self.needs_replicas.remove(&id);
        self.release_others(&task.replicas, &[], &[]);
        self.record_verdict(Verdict {
            task: id,
            outcome: Outcome::Failed,
            agreeing: Vec::new(),
            disagreeing: Vec::new(),
            height: self.height,
        });
    }
}

/// Groups `revealed` replicas: each joins the first group whose first
/// member it agrees with. Deterministic: replicas are taken in assignment
/// order.
fn group(
    replicas: &[Replica],
    revealed: &[usize],
    agree: impl Fn(&Replica, &Replica) -> bool,
) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for &i in revealed {
        let Some(r) = replicas.get(i) else { continue };
        let home = groups.iter_mut().find(|g| {
            g.members
                .first()
                .and_then(|&j| replicas.get(j))
                .is_some_and(|lead| agree(lead, r))
        });
        match home {
            Some(g) => g.members.push(i),
            None => groups.push(Group { members: vec![i] }),
        }
    }
    groups
}

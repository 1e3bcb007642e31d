//! Jobs: submission with escrow, cancellation, the job deadline, and the
//! automatic refund of unused escrow when a job ends (docs/DESIGN.md §5).

use verigrid_types::job::JobSpec;
use verigrid_types::tensor::Comparison;
use verigrid_types::{AccountId, Amount, JobId, TaskId};

use crate::events::Event;
use crate::records::{Job, JobStatus, Outcome, Verdict};
use crate::{Ledger, TxError};

/// Most replicas a task may ever have.
pub const MAX_REPLICAS: u8 = 16;

impl Ledger {
    fn validate_spec(&self, spec: &JobSpec) -> Result<(), TxError> {
        let v = &spec.verification;
        let count = spec.inputs.count();
        if count == 0 {
            return Err(TxError::InvalidJob("a job needs at least one task"));
        }
        if count > self.params.max_tasks_per_job {
            return Err(TxError::InvalidJob("too many tasks: split the job"));
        }
        if v.replicas == 0 || v.quorum == 0 || v.quorum > v.replicas {
            return Err(TxError::InvalidJob("need 1 <= quorum <= replicas"));
        }
        if v.max_replicas < v.replicas || v.max_replicas > MAX_REPLICAS {
            return Err(TxError::InvalidJob("need replicas <= max_replicas <= 16"));
        }
        if v.spot_check_ppm > 1_000_000 {
            return Err(TxError::InvalidJob(
                "spot_check_ppm must be at most 1000000",
            ));
        }
        if v.adaptive && v.quorum < 2 {
            return Err(TxError::InvalidJob(
                "adaptive jobs need a quorum of at least 2 for checks",
            ));
        }
        if v.comparison != Comparison::Exact
            && spec.limits.output_bytes > self.params.max_inline_output
        {
            return Err(TxError::InvalidJob(
                "tolerance and argmax outputs are revealed inline: lower limits.output_bytes",
            ));
        }
        if spec.reward == Amount::ZERO {
            return Err(TxError::InvalidJob("reward must be positive"));
        }
        if spec.deadline <= self.height {
            return Err(TxError::InvalidJob("deadline has passed"));
        }
        Ok(())
    }

    pub(crate) fn submit_job(
        &mut self,
        consumer: AccountId,
        nonce: u64,
        spec: &JobSpec,
        escrow: Amount,
    ) -> Result<(), TxError> {
        self.validate_spec(spec)?;
        let required = spec.max_cost().ok_or(TxError::Overflow)?;
        if escrow < required {
            return Err(TxError::EscrowTooLow {
                offered: escrow,
                required,
            });
        }
        let id = JobId::derive(&consumer, nonce);
        self.debit(&consumer, escrow)?;
        let seq = self.job_seq;
        self.job_seq += 1;
        let job = Job {
            consumer,
            spec: spec.clone(),
            seq,
            submitted_at: self.height,
            escrow,
            status: JobStatus::Open,
            next_task: 0,
            live: 0,
            accepted: 0,
            failed: 0,
            verdicts: verigrid_types::merkle::Frontier::default(),
        };
        self.jobs.insert(id, job);
        self.queue.insert(seq, id);
        self.job_deadlines.insert((spec.deadline, id));
        self.events.push(Event::JobSubmitted { job: id, escrow });
        Ok(())
    }

    pub(crate) fn cancel_job(&mut self, consumer: AccountId, id: JobId) -> Result<(), TxError> {
        let job = self.jobs.get(&id).ok_or(TxError::UnknownJob(id))?;
        if job.consumer != consumer {
            return Err(TxError::NotConsumer);
        }
        if job.status != JobStatus::Open {
            return Err(TxError::JobNotOpen(id));
        }
        let seq = job.seq;
        if let Some(job) = self.jobs.get_mut(&id) {
            let never_started = job.spec.inputs.count().saturating_sub(job.next_task);
            job.failed = job.failed.saturating_add(never_started);
            job.next_task = job.spec.inputs.count();
            job.status = JobStatus::Cancelled;
        }
        self.queue.remove(&seq);
        self.maybe_finish(id);
        Ok(())
    }

    /// Ends jobs whose deadline has come: running tasks fail, nothing more
    /// starts, escrow returns.
    pub(crate) fn expire_jobs(&mut self) {
        while let Some(&(deadline, id)) = self.job_deadlines.first() {
            if deadline > self.height {
                break;
            }
            self.job_deadlines.pop_first();
            let live: Vec<TaskId> = self.tasks.of_job(&id).map(|(t, _)| *t).collect();
            for task in live {
                self.fail_task(task);
            }
            if let Some(job) = self.jobs.get_mut(&id) {
                if job.status != JobStatus::Finished {
                    let never_started = job.spec.inputs.count().saturating_sub(job.next_task);
                    job.failed = job.failed.saturating_add(never_started);
                    job.next_task = job.spec.inputs.count();
                }
                let seq = job.seq;
                self.queue.remove(&seq);
            }
            self.maybe_finish(id);
        }
    }

    /// Records a decided task in its job and finishes the job if it was the
    /// last one.
    pub(crate) fn record_verdict(&mut self, verdict: Verdict) {
        let id = verdict.task.job;
        let leaf = verdict.leaf();
        if let Some(job) = self.jobs.get_mut(&id) {
            job.verdicts.push(leaf);
            job.live = job.live.saturating_sub(1);
            match verdict.outcome {
                Outcome::Accepted(_) => job.accepted = job.accepted.saturating_add(1),
                Outcome::Failed => job.failed = job.failed.saturating_add(1),
            }
        }
        self.events.push(Event::Verdict(Box::new(verdict)));
        self.maybe_finish(id);
    }

    /// Finishes a job once nothing of it is running or left to start, and
    /// returns its unused escrow.
    pub(crate) fn maybe_finish(&mut self, id: JobId) {
        let Some(job) = self.jobs.get(&id) else {
            return;
        };
        if job.status == JobStatus::Finished
            || job.live > 0
            || job.next_task < job.spec.inputs.count()
        {
            return;
        }
        let (consumer, refund, seq, deadline) =
            (job.consumer, job.escrow, job.seq, job.spec.deadline);
        let (accepted, failed, verdict_root) = (job.accepted, job.failed, job.verdicts.root());
        if let Some(job) = self.jobs.get_mut(&id) {
            job.escrow = Amount::ZERO;
            job.status = JobStatus::Finished;
        }
        self.queue.remove(&seq);
        self.job_deadlines.remove(&(deadline, id));
        self.credit(&consumer, refund);
        self.events.push(Event::JobFinished {
            job: id,
            accepted,
            failed,
            refund,
            verdict_root,
        });
    }
}

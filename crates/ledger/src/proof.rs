//! Inclusion proofs for verdicts (docs/DESIGN.md §3): a consumer holding a
//! finalized state root checks that a verdict is in its job's verdict tree,
//! that the job (with that verdict root) is in the state, and that the
//! state's components hash to the root, without trusting the node it asked.

use verigrid_types::codec::Encode;
use verigrid_types::merkle::{self, Proof};
use verigrid_types::{Hash, JobId, codec_struct};

use crate::Ledger;
use crate::records::{Job, Verdict};
use crate::store::StateMap;

/// The roots the state root is the hash of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateComponents {
    /// Root of the accounts map.
    pub accounts: Hash,
    /// Root of the devices map.
    pub devices: Hash,
    /// Root of the jobs map.
    pub jobs: Hash,
    /// Root of the live tasks map.
    pub tasks: Hash,
    /// Hash of the parameters.
    pub params: Hash,
    /// Hash of the chain counters (height, time, supply, recent blocks).
    pub chain: Hash,
}
codec_struct!(StateComponents {
    accounts,
    devices,
    jobs,
    tasks,
    params,
    chain
});

/// Everything needed to check one verdict against a state root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerdictProof {
    /// The verdict.
    pub verdict: Verdict,
    /// Its place in the job's verdict tree.
    pub in_job: Proof,
    /// The job id.
    pub job_id: JobId,
    /// The job record, whose `verdicts` frontier commits to the tree.
    pub job: Job,
    /// The job's place in the jobs map.
    pub in_jobs: Proof,
    /// The state's components.
    pub components: StateComponents,
}
codec_struct!(VerdictProof {
    verdict,
    in_job,
    job_id,
    job,
    in_jobs,
    components
});

impl VerdictProof {
    /// Whether this proof shows its verdict under `state_root`.
    #[must_use]
    pub fn verify(&self, state_root: &Hash) -> bool {
        self.verdict.task.job == self.job_id
            && self.in_job.size == self.job.verdicts.len()
            && merkle::verify(
                &self.job.verdicts.root(),
                &self.verdict.leaf(),
                &self.in_job,
            )
            && merkle::verify(
                &self.components.jobs,
                &StateMap::<JobId, Job>::leaf_hash(&self.job_id, &self.job),
                &self.in_jobs,
            )
            && self.components.root() == *state_root
    }
}

impl Ledger {
    /// Proves `verdicts[index]` against the current state root.
    /// `verdicts` must be every verdict of the job so far, in the order they
    /// were decided (as the node records them from [`crate::Event::Verdict`]).
    pub fn prove_verdict(&mut self, verdicts: &[Verdict], index: usize) -> Option<VerdictProof> {
        self.prove_verdicts(verdicts, &[index])?.pop()
    }

    /// Proves several verdicts of one job at once: the verdict tree, the
    /// job's place in the state and the state's components are built once.
    pub fn prove_verdicts(
        &mut self,
        verdicts: &[Verdict],
        indices: &[usize],
    ) -> Option<Vec<VerdictProof>> {
        let job_id = verdicts.first()?.task.job;
        let job = self.jobs.get(&job_id)?.clone();
        let leaves: Vec<Hash> = verdicts.iter().map(Verdict::leaf).collect();
        let tree = merkle::Tree::new(&leaves);
        if tree.root() != job.verdicts.root() {
            return None;
        }
        let (_, in_jobs) = self.jobs.prove(&job_id)?;
        let components = self.components();
        indices
            .iter()
            .map(|&i| {
                let verdict = verdicts.get(i)?.clone();
                (verdict.task.job == job_id).then_some(())?;
                Some(VerdictProof {
                    verdict,
                    in_job: tree.prove(i)?,
                    job_id,
                    job: job.clone(),
                    in_jobs: in_jobs.clone(),
                    components: components.clone(),
                })
            })
            .collect()
    }

    /// Proofs for verdicts whose place in their job's verdict tree the
    /// caller worked out itself, e.g. by rebuilding the tree while the job
    /// ran instead of keeping millions of verdicts (the simulator does).
    /// The job's record, its place in the state and the state's components
    /// are filled in from the current state, once for all. `None` if a
    /// verdict's job is unknown; whether each proof holds is for
    /// [`VerdictProof::verify`] to say.
    pub fn prove_verdicts_at(
        &mut self,
        placed: Vec<(Verdict, Proof)>,
    ) -> Option<Vec<VerdictProof>> {
        let components = self.components();
        let mut jobs: Vec<(JobId, Job, Proof)> = Vec::new();
        let mut out = Vec::with_capacity(placed.len());
        for (verdict, in_job) in placed {
            let job_id = verdict.task.job;
            if !jobs.iter().any(|(id, _, _)| *id == job_id) {
                let job = self.jobs.get(&job_id)?.clone();
                let (_, in_jobs) = self.jobs.prove(&job_id)?;
                jobs.push((job_id, job, in_jobs));
            }
            let (_, job, in_jobs) = jobs.iter().find(|(id, _, _)| *id == job_id)?;
            out.push(VerdictProof {
                verdict,
                in_job,
                job_id,
                job: job.clone(),
                in_jobs: in_jobs.clone(),
                components: components.clone(),
            });
        }
        Some(out)
    }

    /// The encoded size of a proof, for API limits.
    #[must_use]
    pub fn proof_size(proof: &VerdictProof) -> usize {
        proof.encode().len()
    }
}

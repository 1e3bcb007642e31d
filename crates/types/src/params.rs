//! Governance-set parameters of the chain (docs/DESIGN.md §3): fees, time
//! windows, reputation and slashing rules, and the attestation policy with
//! its trust roots, revocation list and agent allowlist. They live in ledger
//! state, never in code.

use crate::codec::Bytes;
use crate::codec_struct;
use crate::device::SecurityLevel;
use crate::hash::Hash;
use crate::ids::{AccountId, Amount};

/// Who may join, and on what evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttestationPolicy {
    /// Trusted roots (DER certificates); chains are matched by public key.
    pub trust_roots: Vec<Bytes>,
    /// Revoked certificate serials (big-endian bytes, no leading zeros).
    pub revoked_serials: Vec<Bytes>,
    /// Allowed SHA-256 digests of the agent app's signing certificate
    /// (Android); empty allows any.
    pub agent_digests: Vec<Hash>,
    /// Allowed agent apps: Android package names and Apple app ids
    /// (`TEAMID.bundle`), UTF-8; empty allows any.
    pub agent_apps: Vec<Bytes>,
    /// Accept Apple App Attest keys from the development environment.
    pub allow_apple_development: bool,
    /// Lowest key security level a device may register with.
    pub min_security: SecurityLevel,
    /// Oldest OS patch level accepted, in months before the block time.
    pub max_patch_age_months: u32,
    /// Require verified boot and a locked bootloader.
    pub require_verified_boot: bool,
}
codec_struct!(AttestationPolicy {
    trust_roots,
    revoked_serials,
    agent_digests,
    agent_apps,
    allow_apple_development,
    min_security,
    max_patch_age_months,
    require_verified_boot,
});

/// Every tunable of the protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// The account allowed to change these (v0 governance).
    pub governor: AccountId,
    /// Fee every transaction pays at least.
    pub base_fee: Amount,
    /// Extra fee per byte of encoded transaction.
    pub fee_per_byte: Amount,
    /// Blocks per epoch (heartbeats, liveness).
    pub epoch_blocks: u64,
    /// Blocks between unbonding and withdrawal.
    pub unbond_blocks: u64,
    /// Stake a device must lock to register.
    pub min_device_stake: Amount,
    /// Epochs an attestation stays valid before re-attestation.
    pub reattest_epochs: u64,
    /// How old (in blocks) the anchor block of a challenge may be.
    pub challenge_window: u64,
    /// Blocks replicas have to commit after assignment.
    pub commit_blocks: u64,
    /// Blocks replicas have to reveal after the commit phase closes.
    pub reveal_blocks: u64,
    /// Most entries in one commit, reveal or heartbeat batch.
    pub max_batch: u32,
    /// Most tasks in one job.
    pub max_tasks_per_job: u32,
    /// Largest output revealed inline (tolerance/argmax jobs), in bytes.
    pub max_inline_output: u32,
    /// Most new task replicas assigned per block.
    pub max_assignments_per_block: u32,
    /// Epochs without a sign of life after which a device gets no work.
    pub offline_after_epochs: u64,
    /// Consecutive missed deadlines that jail a device.
    pub jail_after_misses: u32,
    /// Blocks a jailed device sits out.
    pub jail_blocks: u64,
    /// Successes (decayed) a device needs to run alone.
    pub solo_min_successes: u32,
    /// Reputation score (ppm) a device needs to run alone.
    pub solo_min_score_ppm: u32,
    /// Reputation kept per update, in ppm (decay = 1 − this).
    pub reputation_keep_ppm: u32,
    /// Share of a device's stake slashed for a wrong result, in ppm.
    pub slash_ppm: u32,
    /// Attestation policy.
    pub attestation: AttestationPolicy,
}
codec_struct!(Params {
    governor,
    base_fee,
    fee_per_byte,
    epoch_blocks,
    unbond_blocks,
    min_device_stake,
    reattest_epochs,
    challenge_window,
    commit_blocks,
    reveal_blocks,
    max_batch,
    max_tasks_per_job,
    max_inline_output,
    max_assignments_per_block,
    offline_after_epochs,
    jail_after_misses,
    jail_blocks,
    solo_min_successes,
    solo_min_score_ppm,
    reputation_keep_ppm,
    slash_ppm,
    attestation,
});

impl Params {
    /// Sensible defaults for a chain governed by `governor`, with no trust
    /// roots (add the platform roots, or the dev root, explicitly).
    #[must_use]
    pub fn new(governor: AccountId) -> Self {
        Self {
            governor,
            base_fee: Amount(10),
            fee_per_byte: Amount(0),
            epoch_blocks: 600,
            unbond_blocks: 1_200,
            min_device_stake: Amount(1_000),
            reattest_epochs: 24 * 6,
            challenge_window: 600,
            commit_blocks: 30,
            reveal_blocks: 30,
            max_batch: 4_096,
            max_tasks_per_job: 10_000_000,
            max_inline_output: 64 * 1024,
            max_assignments_per_block: 200_000,
            offline_after_epochs: 2,
            jail_after_misses: 3,
            jail_blocks: 600,
            solo_min_successes: 20,
            solo_min_score_ppm: 950_000,
            reputation_keep_ppm: 999_000,
            slash_ppm: 1_000_000,
            attestation: AttestationPolicy {
                trust_roots: Vec::new(),
                revoked_serials: Vec::new(),
                agent_digests: Vec::new(),
                agent_apps: Vec::new(),
                allow_apple_development: false,
                min_security: SecurityLevel::TrustedEnvironment,
                max_patch_age_months: 12,
                require_verified_boot: true,
            },
        }
    }
}

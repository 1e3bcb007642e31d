//! Governance (v0: one governor account named in genesis): parameters,
//! trust roots, revocations and the agent allowlist are ledger state, never
//! constants in code (docs/DESIGN.md §3, §6).

use verigrid_types::codec::Bytes;
use verigrid_types::params::Params;
use verigrid_types::{AccountId, Hash};

use crate::{Ledger, TxError};

/// Most trust roots, revoked serials or agent digests kept.
pub const MAX_LIST: usize = 100_000;

/// Rejects parameters the ledger cannot run with.
pub(crate) fn validate_params(p: &Params) -> Result<(), TxError> {
    if p.epoch_blocks == 0 || p.commit_blocks == 0 || p.reveal_blocks == 0 {
        return Err(TxError::InvalidParams(
            "epoch, commit and reveal windows must be positive",
        ));
    }
    if p.challenge_window == 0 {
        return Err(TxError::InvalidParams("challenge_window must be positive"));
    }
    if p.max_batch == 0 {
        return Err(TxError::InvalidParams("max_batch must be positive"));
    }
    if p.slash_ppm > 1_000_000
        || p.reputation_keep_ppm > 1_000_000
        || p.solo_min_score_ppm > 1_000_000
    {
        return Err(TxError::InvalidParams("ppm values must be at most 1000000"));
    }
    let lists = [
        p.attestation.trust_roots.len(),
        p.attestation.revoked_serials.len(),
        p.attestation.agent_digests.len(),
    ];
    if lists.iter().any(|n| *n > MAX_LIST) {
        return Err(TxError::InvalidParams(
            "attestation lists are limited to 100000 entries",
        ));
    }
    Ok(())
}

impl Ledger {
    fn governor(&self, who: AccountId) -> Result<(), TxError> {
        if who == self.params.governor {
            Ok(())
        } else {
            Err(TxError::NotGovernor)
        }
    }

    pub(crate) fn set_params(&mut self, who: AccountId, params: &Params) -> Result<(), TxError> {
        self.governor(who)?;
        validate_params(params)?;
        self.params = params.clone();
        Ok(())
    }

    fn with_policy_list(
        &mut self,
        who: AccountId,
        change: impl FnOnce(&mut Params),
    ) -> Result<(), TxError> {
        self.governor(who)?;
        let mut next = self.params.clone();
        change(&mut next);
        validate_params(&next)?;
        self.params = next;
        Ok(())
    }

    pub(crate) fn add_trust_root(&mut self, who: AccountId, root: &Bytes) -> Result<(), TxError> {
        self.with_policy_list(who, |p| {
            if !p.attestation.trust_roots.contains(root) {
                p.attestation.trust_roots.push(root.clone());
            }
        })
    }

    pub(crate) fn revoke_serials(
        &mut self,
        who: AccountId,
        serials: &[Bytes],
    ) -> Result<(), TxError> {
        self.with_policy_list(who, |p| {
            for s in serials {
                if !p.attestation.revoked_serials.contains(s) {
                    p.attestation.revoked_serials.push(s.clone());
                }
            }
        })
    }

    pub(crate) fn set_agent_digests(
        &mut self,
        who: AccountId,
        digests: &[Hash],
    ) -> Result<(), TxError> {
        self.with_policy_list(who, |p| p.attestation.agent_digests = digests.to_vec())
    }
}

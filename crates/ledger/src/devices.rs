//! Devices: registration by hardware attestation with the challenge binding
//! of docs/DESIGN.md §4, re-attestation deadlines, pause/retire, batched
//! heartbeats, missed deadlines and jail.

use verigrid_types::device::{
    AttestationSummary, AttestationVerifier, Capabilities, Evidence, VerifyRequest,
    registration_challenge,
};
use verigrid_types::{AccountId, Amount, DeviceId, DeviceKey, Height, TaskId};

use crate::checks::SignerKey;
use crate::events::Event;
use crate::records::{Device, DeviceStatus, Reputation};
use crate::{Ledger, TxError};

/// Most task slots a device may declare.
pub const MAX_SLOTS: u16 = 256;

/// Slots a device may fill now: a fresh device starts with one and gains
/// one per agreeing result (decayed), up to what it declared. A new
/// identity can hold few tasks before its first results are checked, so a
/// group of fresh colluders is caught before it can land on one task together.
#[must_use]
pub fn effective_slots(device: &Device) -> u32 {
    let earned = device.reputation.alpha / crate::records::UNIT;
    let ramp = u32::try_from(earned.saturating_add(1)).unwrap_or(u32::MAX);
    u32::from(device.capabilities.slots).min(ramp)
}

/// The fields of a registration.
pub(crate) struct Registration<'a> {
    pub evidence: &'a Evidence,
    pub key: DeviceKey,
    pub capabilities: &'a Capabilities,
    pub pool: Option<AccountId>,
    pub anchor: Height,
    pub stake: Amount,
}

impl Ledger {
    /// Verifies evidence for `key` owned by `owner`, anchored at `anchor`.
    fn attest(
        &self,
        owner: AccountId,
        key: DeviceKey,
        evidence: &Evidence,
        anchor: Height,
        verifier: &dyn AttestationVerifier,
    ) -> Result<AttestationSummary, TxError> {
        let window = self.params.challenge_window;
        let anchor_hash = self
            .recent
            .get(&anchor)
            .filter(|_| self.height.0.saturating_sub(anchor.0) <= window)
            .ok_or(TxError::StaleAnchor { anchor, window })?;
        let challenge = registration_challenge(&self.chain_id, &owner, &key, anchor_hash);
        let request = VerifyRequest {
            policy: &self.params.attestation,
            challenge: &challenge.0,
            now: self.time,
        };
        let summary = verifier
            .verify(evidence, &request)
            .map_err(|failure| TxError::Attestation(failure.0))?;
        // The verifier enforces the policy; the ledger re-checks what binds
        // the evidence to this transaction, since that is its rule (§4).
        if summary.challenge.0 != challenge.0 {
            return Err(TxError::ChallengeMismatch);
        }
        if summary.key != key {
            return Err(TxError::KeyMismatch);
        }
        if summary.security_level < self.params.attestation.min_security {
            return Err(TxError::Attestation(format!(
                "key security level {:?} is below the required {:?}",
                summary.security_level, self.params.attestation.min_security
            )));
        }
        Ok(summary)
    }

    fn attest_deadline(&self) -> Height {
        self.height.plus(
            self.params
                .reattest_epochs
                .saturating_mul(self.params.epoch_blocks),
        )
    }

    pub(crate) fn register_device(
        &mut self,
        owner: AccountId,
        reg: Registration<'_>,
        verifier: &dyn AttestationVerifier,
    ) -> Result<(), TxError> {
        let id = reg.key.device_id();
        if self.devices.contains(&id) {
            return Err(TxError::DeviceExists(id));
        }
        if reg.stake < self.params.min_device_stake {
            return Err(TxError::StakeTooLow {
                offered: reg.stake,
                minimum: self.params.min_device_stake,
            });
        }
        if reg.capabilities.slots == 0 || reg.capabilities.slots > MAX_SLOTS {
            return Err(TxError::InvalidDevice("slots must be between 1 and 256"));
        }
        if self.balance(&owner) < reg.stake {
            return Err(TxError::InsufficientBalance {
                available: self.balance(&owner),
                needed: reg.stake,
            });
        }
        let attestation = self.attest(owner, reg.key, reg.evidence, reg.anchor, verifier)?;
        self.debit(&owner, reg.stake)?;
        let device = Device {
            owner,
            pool: reg.pool,
            key: reg.key,
            attestation,
            attested_at: self.height,
            attest_deadline: self.attest_deadline(),
            capabilities: reg.capabilities.clone(),
            status: DeviceStatus::Active,
            reputation: Reputation::default(),
            stake: reg.stake,
            nonce: 0,
            last_seen: self.height,
            misses: 0,
            running: 0,
        };
        std::sync::Arc::make_mut(&mut self.keys).insert(id, SignerKey::new(device.key));
        self.devices.insert(id, device);
        self.events
            .push(Event::DeviceRegistered { device: id, owner });
        Ok(())
    }

    fn owned(&self, owner: AccountId, id: DeviceId) -> Result<&Device, TxError> {
        let device = self.devices.get(&id).ok_or(TxError::UnknownDevice(id))?;
        if device.owner != owner {
            return Err(TxError::NotOwner {
                device: id,
                signer: owner,
            });
        }
        if device.status == DeviceStatus::Retired {
            return Err(TxError::DeviceRetired(id));
        }
        Ok(device)
    }

    pub(crate) fn reattest(
        &mut self,
        owner: AccountId,
        id: DeviceId,
        evidence: &Evidence,
        anchor: Height,
        verifier: &dyn AttestationVerifier,
    ) -> Result<(), TxError> {
        let key = self.owned(owner, id)?.key;
        let attestation = self.attest(owner, key, evidence, anchor, verifier)?;
        let deadline = self.attest_deadline();
        let height = self.height;
        if let Some(device) = self.devices.get_mut(&id) {
            device.attestation = attestation;
            device.attested_at = height;
            device.attest_deadline = deadline;
            device.last_seen = height;
        }
        self.events.push(Event::DeviceReattested {
            device: id,
            deadline,
        });
        Ok(())
    }

    pub(crate) fn set_device_active(
        &mut self,
        owner: AccountId,
        id: DeviceId,
        active: bool,
    ) -> Result<(), TxError> {
        self.owned(owner, id)?;
        if let Some(device) = self.devices.get_mut(&id) {
            // A jailed device serves its term either way; pausing it then
            // keeps it out after the term too, until its owner resumes it.
            device.status = match (device.status, active) {
                (DeviceStatus::Jailed(until) | DeviceStatus::PausedInJail(until), true) => {
                    DeviceStatus::Jailed(until)
                }
                (DeviceStatus::Jailed(until) | DeviceStatus::PausedInJail(until), false) => {
                    DeviceStatus::PausedInJail(until)
                }
                (_, true) => DeviceStatus::Active,
                (_, false) => DeviceStatus::Paused,
            };
        }
        Ok(())
    }

    pub(crate) fn retire_device(&mut self, owner: AccountId, id: DeviceId) -> Result<(), TxError> {
        let device = self.owned(owner, id)?;
        if device.running > 0 {
            return Err(TxError::DeviceBusy {
                device: id,
                running: device.running,
            });
        }
        let stake = device.stake;
        let release = self.height.plus(self.params.unbond_blocks);
        self.push_unbonding(owner, release, stake)?;
        if let Some(device) = self.devices.get_mut(&id) {
            device.stake = Amount::ZERO;
            device.status = DeviceStatus::Retired;
        }
        Ok(())
    }

    /// One liveness mark per device, signed once by its owner or pool.
    pub(crate) fn heartbeat(&mut self, signer: AccountId, ids: &[DeviceId]) -> Result<(), TxError> {
        self.check_batch(ids.len())?;
        for id in ids {
            let device = self.devices.get(id).ok_or(TxError::UnknownDevice(*id))?;
            if device.owner != signer && device.pool != Some(signer) {
                return Err(TxError::NotOwner {
                    device: *id,
                    signer,
                });
            }
        }
        let height = self.height;
        for id in ids {
            if let Some(device) = self.devices.get_mut(id) {
                device.last_seen = height;
            }
        }
        Ok(())
    }

    pub(crate) fn check_batch(&self, len: usize) -> Result<(), TxError> {
        let max = self.params.max_batch;
        if len == 0 || len > max as usize {
            return Err(TxError::BadBatch { len, max });
        }
        Ok(())
    }

    /// A device missed a deadline on `task`: enough misses in a row jail
    /// it. Only a reveal it withheld (`withheld`: it had committed) counts
    /// against its honesty record. A device that committed nothing bound
    /// no output and learned nothing (spot checks are drawn once commits
    /// are in), so its miss is about availability — a phone unplugged
    /// mid-task — not honesty. One that committed and then went quiet may
    /// have seen a spot check drawn on its result, and withholding must
    /// not be a way out of being caught.
    pub(crate) fn record_miss(&mut self, id: DeviceId, task: TaskId, withheld: bool) {
        let keep = self.params.reputation_keep_ppm;
        let jail_after = self.params.jail_after_misses;
        let until = self.height.plus(self.params.jail_blocks);
        let Some(device) = self.devices.get_mut(&id) else {
            return;
        };
        device.running = device.running.saturating_sub(1);
        if withheld {
            device.reputation.record(false, keep);
        }
        device.misses = device.misses.saturating_add(1);
        // Only an active device is jailed: a paused one takes no work
        // anyway (its misses carry over until its next accepted result),
        // and a jailed one is already sitting out.
        let jail =
            jail_after > 0 && device.misses >= jail_after && device.status == DeviceStatus::Active;
        if jail {
            device.status = DeviceStatus::Jailed(until);
            device.misses = 0;
        }
        self.events.push(Event::Missed { device: id, task });
        if jail {
            self.events.push(Event::Jailed { device: id, until });
        }
    }

    /// Whether a device takes new work now, free slots and job
    /// requirements aside.
    pub(crate) fn takes_work(&self, device: &Device) -> bool {
        let status_ok = match device.status {
            DeviceStatus::Active => true,
            DeviceStatus::Jailed(until) => until <= self.height,
            DeviceStatus::Paused | DeviceStatus::PausedInJail(_) | DeviceStatus::Retired => false,
        };
        let offline_after = self
            .params
            .offline_after_epochs
            .saturating_mul(self.params.epoch_blocks);
        status_ok
            && device.attest_deadline > self.height
            && self.height.0.saturating_sub(device.last_seen.0) <= offline_after
            && device.stake >= self.params.min_device_stake
    }

    /// Whether the device `id` is registered and its record lets it run a
    /// task alone.
    pub(crate) fn trusted(&self, id: &DeviceId) -> bool {
        self.devices.get(id).is_some_and(|d| self.solo_eligible(d))
    }

    /// Whether a device's record lets it run a task alone.
    pub(crate) fn solo_eligible(&self, device: &Device) -> bool {
        device.reputation.alpha >= u64::from(self.params.solo_min_successes) * crate::records::UNIT
            && device.reputation.score_ppm() >= u64::from(self.params.solo_min_score_ppm)
    }
}

//! The JSON shapes the API returns. Ids and hashes are lowercase hex;
//! every ledger record also carries `encoded`, its canonical bytes in hex,
//! for clients that decode with `verigrid-types` and must not trust a
//! JSON rendering.

use serde_json::{Value, json};
use verigrid_ledger::{Account, Device, DeviceStatus, Event, Job, Outcome, Task, Verdict};
use verigrid_types::codec::Encode;
use verigrid_types::hash::hex;
use verigrid_types::tx::Signer;
use verigrid_types::{AccountId, TaskId};

use crate::block::Block;
use crate::chain::Finalized;
use crate::node::Status;

fn account_hex(id: &AccountId) -> String {
    hex(&id.0)
}

fn task_json(id: &TaskId) -> Value {
    json!({ "job": id.job.0.to_hex(), "index": id.index })
}

/// Where the finalized chain stands.
pub fn status(status: &Status, chain_id: &str, mempool: usize) -> Value {
    json!({
        "chain_id": chain_id,
        "height": status.height.0,
        "finalized_tip": status.tip.to_hex(),
        "state_root": status.state_root.to_hex(),
        "time_ms": status.time.0,
        "mempool": mempool,
    })
}

/// An account.
pub fn account(id: &AccountId, a: &Account) -> Value {
    json!({
        "id": account_hex(id),
        "balance": a.balance.0,
        "nonce": a.nonce,
        "bonded": a.bonded.0,
        "unbonding": a.unbonding.iter().map(|(h, amt)| json!({"height": h.0, "amount": amt.0})).collect::<Vec<_>>(),
        "encoded": hex(&a.encode()),
    })
}

/// A device.
pub fn device(id: &verigrid_types::DeviceId, d: &Device) -> Value {
    let status = match d.status {
        DeviceStatus::Active => json!("active"),
        DeviceStatus::Paused => json!("paused"),
        DeviceStatus::Jailed(until) => json!({ "jailed_until": until.0 }),
        DeviceStatus::Retired => json!("retired"),
        DeviceStatus::PausedInJail(until) => json!({ "jailed_until": until.0, "paused": true }),
    };
    json!({
        "id": id.0.to_hex(),
        "owner": account_hex(&d.owner),
        "pool": d.pool.as_ref().map(account_hex),
        "status": status,
        "stake": d.stake.0,
        "nonce": d.nonce,
        "attested_at": d.attested_at.0,
        "attest_deadline": d.attest_deadline.0,
        "last_seen": d.last_seen.0,
        "misses": d.misses,
        "running": d.running,
        "encoded": hex(&d.encode()),
    })
}

/// A job.
pub fn job(id: &verigrid_types::JobId, j: &Job) -> Value {
    json!({
        "id": id.0.to_hex(),
        "consumer": account_hex(&j.consumer),
        "status": format!("{:?}", j.status).to_lowercase(),
        "submitted_at": j.submitted_at.0,
        "escrow": j.escrow.0,
        "next_task": j.next_task,
        "live": j.live,
        "accepted": j.accepted,
        "failed": j.failed,
        "verdicts": j.verdicts.len(),
        "verdict_root": j.verdicts.root().to_hex(),
        "encoded": hex(&j.encode()),
    })
}

/// A live task.
pub fn task(id: &TaskId, t: &Task) -> Value {
    json!({
        "id": task_json(id),
        "phase": format!("{:?}", t.phase).to_lowercase(),
        "deadline": t.deadline.0,
        "wanted": t.wanted,
        "solo": t.solo,
        "replicas": t.replicas.iter().map(|r| json!({
            "device": r.device.0.to_hex(),
            "committed": r.commitment.is_some(),
            "revealed": r.output_hash.is_some(),
            "missed": r.missed,
        })).collect::<Vec<_>>(),
        "encoded": hex(&t.encode()),
    })
}

/// One live task replica a device holds: the task, its phase and
/// deadline, and what this device has done on it.
pub fn device_task(id: &TaskId, t: &Task, device: &verigrid_types::DeviceId) -> Value {
    let replica = t.replicas.iter().find(|r| r.device == *device && !r.missed);
    json!({
        "task": task_json(id),
        "phase": format!("{:?}", t.phase).to_lowercase(),
        "deadline": t.deadline.0,
        "solo": t.solo,
        "committed": replica.is_some_and(|r| r.commitment.is_some()),
        "revealed": replica.is_some_and(|r| r.output_hash.is_some()),
        "encoded": hex(&t.encode()),
    })
}

/// A verdict.
pub fn verdict(v: &Verdict) -> Value {
    let outcome = match v.outcome {
        Outcome::Accepted(h) => json!({ "accepted": h.to_hex() }),
        Outcome::Failed => json!("failed"),
    };
    json!({
        "task": task_json(&v.task),
        "outcome": outcome,
        "agreeing": v.agreeing.iter().map(|d| d.0.to_hex()).collect::<Vec<_>>(),
        "disagreeing": v.disagreeing.iter().map(|d| d.0.to_hex()).collect::<Vec<_>>(),
        "height": v.height.0,
    })
}

/// A finalized block.
pub fn block(b: &Block) -> Value {
    json!({
        "height": b.height.0,
        "hash": b.hash().to_hex(),
        "parent": b.parent.to_hex(),
        "time_ms": b.time.0,
        "randomness": b.randomness.to_hex(),
        "proposer": account_hex(&b.proposer),
        "state_root": b.state_root.to_hex(),
        "txs": b.txs.iter().map(|t| {
            let signer = match &t.tx.signer {
                Signer::Account(a) => json!({ "account": account_hex(a) }),
                Signer::Device(d) => json!({ "device": d.0.to_hex() }),
            };
            json!({ "id": t.id().to_hex(), "signer": signer, "nonce": t.tx.nonce, "encoded": hex(&t.encode()) })
        }).collect::<Vec<_>>(),
    })
}

/// One ledger event.
pub fn event(e: &Event) -> Value {
    match e {
        Event::DeviceRegistered { device, owner } => {
            json!({ "kind": "device_registered", "device": device.0.to_hex(), "owner": account_hex(owner) })
        }
        Event::DeviceReattested { device, deadline } => {
            json!({ "kind": "device_reattested", "device": device.0.to_hex(), "deadline": deadline.0 })
        }
        Event::JobSubmitted { job, escrow } => {
            json!({ "kind": "job_submitted", "job": job.0.to_hex(), "escrow": escrow.0 })
        }
        Event::Assigned { task, device, solo } => {
            json!({ "kind": "assigned", "task": task_json(task), "device": device.0.to_hex(), "solo": solo })
        }
        Event::RevealOpen { task } => json!({ "kind": "reveal_open", "task": task_json(task) }),
        Event::SpotCheck { task } => json!({ "kind": "spot_check", "task": task_json(task) }),
        Event::EntrySkipped { device, error } => {
            json!({ "kind": "entry_skipped", "device": device.0.to_hex(), "error": error.to_string() })
        }
        Event::Verdict(v) => json!({ "kind": "verdict", "verdict": verdict(v) }),
        Event::Paid { device, to, amount } => {
            json!({ "kind": "paid", "device": device.0.to_hex(), "to": account_hex(to), "amount": amount.0 })
        }
        Event::Slashed { device, amount } => {
            json!({ "kind": "slashed", "device": device.0.to_hex(), "amount": amount.0 })
        }
        Event::Missed { device, task } => {
            json!({ "kind": "missed", "device": device.0.to_hex(), "task": task_json(task) })
        }
        Event::Jailed { device, until } => {
            json!({ "kind": "jailed", "device": device.0.to_hex(), "until": until.0 })
        }
        Event::JobFinished {
            job,
            accepted,
            failed,
            refund,
            verdict_root,
        } => json!({
            "kind": "job_finished", "job": job.0.to_hex(), "accepted": accepted,
            "failed": failed, "refund": refund.0, "verdict_root": verdict_root.to_hex(),
        }),
    }
}

/// A finalized block's summary, as the stream sends it.
pub fn finalized(f: &Finalized, tx_ids: Option<&[String]>) -> Value {
    json!({
        "height": f.height.0,
        "hash": f.hash.to_hex(),
        "state_root": f.state_root.to_hex(),
        "time_ms": f.time.0,
        "txs": f.results.len(),
        "tx_ids": tx_ids,
        "rejected": f.results.iter().enumerate().filter_map(|(i, r)| r.as_ref().err().map(|e| json!({ "index": i, "error": e.to_string() }))).collect::<Vec<_>>(),
        "events": f.events.iter().map(event).collect::<Vec<_>>(),
    })
}

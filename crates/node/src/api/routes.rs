//! Request handlers. Each parses and checks its input first, asks the node
//! once, and answers JSON (or raw bytes for blobs).

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use verigrid_ledger::TxError;
use verigrid_types::codec::{Decode, Encode};
use verigrid_types::hash::{hex, unhex};
use verigrid_types::tx::SignedTx;
use verigrid_types::{AccountId, DeviceId, Hash, Height, JobId, TaskId};

use super::AppState;
use super::error::ApiError;
use super::views;
use crate::mempool::MempoolError;

type Result<T> = std::result::Result<T, ApiError>;

fn parse_hash(what: &str, text: &str) -> Result<Hash> {
    Hash::from_hex(text).map_err(|e| {
        ApiError::bad_request(
            format!("{what} is not a 32-byte hex id: {e}"),
            "ids are 64 lowercase hex characters",
        )
    })
}

fn parse_task(job: &str, index: &str) -> Result<TaskId> {
    let job = JobId(parse_hash("job id", job)?);
    let index = index.parse::<u32>().map_err(|_| {
        ApiError::bad_request(
            format!("task index {index:?} is not a number"),
            "use /v1/tasks/{job}/{index} with index from 0",
        )
    })?;
    Ok(TaskId { job, index })
}

fn body_error(rejection: &BytesRejection) -> ApiError {
    let status = rejection.status();
    let hint = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "the body is larger than this endpoint accepts"
    } else {
        "send the whole body in one request"
    };
    ApiError::new(status, rejection.body_text(), hint)
}

/// Reads a transaction body: raw canonical bytes when the content type is
/// `application/octet-stream`, hex text otherwise.
fn decode_tx_body(headers: &HeaderMap, body: &[u8]) -> Result<SignedTx> {
    let raw = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/octet-stream"));
    let bytes = if raw {
        body.to_vec()
    } else {
        let text = std::str::from_utf8(body).map_err(|_| {
            ApiError::bad_request(
                "the body is neither hex text nor marked as raw bytes",
                "send hex text, or raw bytes with Content-Type: application/octet-stream",
            )
        })?;
        let text = text.trim();
        let text = text.strip_prefix("0x").unwrap_or(text);
        unhex(text).map_err(|e| {
            ApiError::bad_request(
                format!("the body is not valid hex: {e}"),
                "send hex text, or raw bytes with Content-Type: application/octet-stream",
            )
        })?
    };
    SignedTx::decode(&bytes).map_err(|e| {
        ApiError::bad_request(
            format!("cannot decode a transaction: {e}"),
            "encode a SignedTx with verigrid-types' canonical codec",
        )
    })
}

fn mempool_error(e: MempoolError) -> ApiError {
    let message = e.to_string();
    match e {
        MempoolError::Full { .. } => ApiError::unavailable(message, Duration::from_secs(1)),
        MempoolError::Duplicate(_) | MempoolError::NonceTaken { .. } => ApiError::new(
            StatusCode::CONFLICT,
            message,
            "the transaction (or another with its nonce) is already pending",
        ),
        MempoolError::NonceTooFarAhead { .. } => ApiError {
            retry_after: Some(Duration::from_secs(1)),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                message,
                "wait for earlier nonces to be finalized, then retry",
            )
        },
        MempoolError::TooLarge { .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            message,
            "split the work into smaller transactions",
        ),
        MempoolError::Rejected(TxError::BadSignature) => ApiError::bad_request(
            message,
            "sign the transaction with the signer's key and this chain's id",
        ),
        MempoolError::Rejected(_) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            message,
            "the ledger would reject this transaction in the current state",
        ),
    }
}

/// `POST /v1/txs`.
pub(crate) async fn submit_tx(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let body = body.map_err(|r| body_error(&r))?;
    let tx = decode_tx_body(&headers, &body)?;
    let size = tx.encode().len();
    if size > s.max_tx_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "transaction is {size} bytes, more than the {} allowed",
                s.max_tx_bytes
            ),
            "split the work into smaller transactions",
        ));
    }
    match s.node.submit(tx).await {
        Err(_) => Err(ApiError::stopped()),
        Ok(Err(e)) => Err(mempool_error(e)),
        Ok(Ok(id)) => {
            Ok((StatusCode::ACCEPTED, Json(json!({ "id": id.to_hex() }))).into_response())
        }
    }
}

/// `GET /v1/status`.
pub(crate) async fn status(State(s): State<AppState>) -> Result<Json<Value>> {
    let status = s.node.status().await.map_err(|_| ApiError::stopped())?;
    let mempool = s
        .node
        .mempool_size()
        .await
        .map_err(|_| ApiError::stopped())?;
    Ok(Json(views::status(&status, &s.chain_id, mempool)))
}

/// `GET /v1/params`: the chain parameters at the finalized tip (fees,
/// windows, attestation policy), as JSON for people and as canonical
/// `Params` bytes in `encoded` for clients that compute fees and deadlines.
pub(crate) async fn params(State(s): State<AppState>) -> Result<Json<Value>> {
    let found = s
        .node
        .read(|c| {
            let p = c.ledger().params();
            json!({
                "base_fee": p.base_fee.0,
                "fee_per_byte": p.fee_per_byte.0,
                "commit_blocks": p.commit_blocks,
                "reveal_blocks": p.reveal_blocks,
                "epoch_blocks": p.epoch_blocks,
                "challenge_window": p.challenge_window,
                "encoded": hex(&p.encode()),
            })
        })
        .await
        .map_err(|_| ApiError::stopped())?;
    Ok(Json(found))
}

/// Reads one record from the finalized chain; 404 if absent.
async fn lookup<F>(s: &AppState, what: &str, id: &str, f: F) -> Result<Json<Value>>
where
    F: FnOnce(&crate::chain::Chain) -> Option<Value> + Send + 'static,
{
    let found = s.node.read(f).await.map_err(|_| ApiError::stopped())?;
    found.map(Json).ok_or_else(|| ApiError::not_found(what, id))
}

/// `GET /v1/accounts/{id}`.
pub(crate) async fn account(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let account = AccountId(*parse_hash("account id", &id)?.as_bytes());
    lookup(&s, "account", &id, move |c| {
        c.ledger()
            .account(&account)
            .map(|a| views::account(&account, a))
    })
    .await
}

/// `GET /v1/devices/{id}`.
pub(crate) async fn device(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let device = DeviceId(parse_hash("device id", &id)?);
    lookup(&s, "device", &id, move |c| {
        c.ledger()
            .device(&device)
            .map(|d| views::device(&device, d))
    })
    .await
}

/// `GET /v1/devices/{id}/tasks`: the live task replicas the device holds
/// at the finalized tip, for an agent recovering its assignments. Read from
/// the node's per-device index, so it costs O(the device's tasks), which
/// its slot count bounds, not O(live tasks).
pub(crate) async fn device_tasks(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let device = DeviceId(parse_hash("device id", &id)?);
    lookup(&s, "device", &id, move |c| {
        c.ledger().device(&device)?;
        let tasks: Vec<Value> = c
            .assignments()
            .of(&device)
            .filter_map(|t| {
                c.ledger()
                    .task(t)
                    .map(|task| views::device_task(t, task, &device))
            })
            .collect();
        Some(json!({ "device": device.0.to_hex(), "height": c.height().0, "tasks": tasks }))
    })
    .await
}

/// `GET /v1/jobs/{id}`.
pub(crate) async fn job(State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>> {
    let job = JobId(parse_hash("job id", &id)?);
    lookup(&s, "job", &id, move |c| {
        c.ledger().job(&job).map(|j| views::job(&job, j))
    })
    .await
}

/// `GET /v1/tasks/{job}/{index}`: a live task, or its verdict once decided.
pub(crate) async fn task(
    State(s): State<AppState>,
    Path((job, index)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let task = parse_task(&job, &index)?;
    lookup(&s, "task", &format!("{job}/{index}"), move |chain| {
        if let Some(t) = chain.ledger().task(&task) {
            return Some(views::task(&task, t));
        }
        chain
            .verdict(&task)
            .map(|v| json!({ "id": { "job": task.job.0.to_hex(), "index": task.index }, "decided": views::verdict(v) }))
    })
    .await
}

/// `GET /v1/verdicts/{job}/{index}`: the verdict, its inclusion proof (hex
/// canonical `VerdictProof`) and the finalized state root it verifies
/// against.
pub(crate) async fn verdict(
    State(s): State<AppState>,
    Path((job, index)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let task = parse_task(&job, &index)?;
    lookup(
        &s,
        "verdict for task",
        &format!("{job}/{index}"),
        move |chain| {
            let proof = chain.prove_verdict(&task)?;
            let root = chain.tip_root();
            Some(json!({
                "verdict": views::verdict(&proof.verdict),
                "state_root": root.to_hex(),
                "height": chain.height().0,
                "finalized_tip": chain.tip().to_hex(),
                "proof": hex(&proof.encode()),
                "proof_verifies": proof.verify(&root),
            }))
        },
    )
    .await
}

/// `GET /v1/blocks/{height}`.
pub(crate) async fn block(
    State(s): State<AppState>,
    Path(height): Path<String>,
) -> Result<Json<Value>> {
    let h = height.parse::<u64>().map_err(|_| {
        ApiError::bad_request(
            format!("height {height:?} is not a number"),
            "use /v1/blocks/{height} with a decimal height",
        )
    })?;
    let tip = s
        .node
        .status()
        .await
        .map_err(|_| ApiError::stopped())?
        .height;
    if h == 0 || h > tip.0 {
        return Err(ApiError::not_found("finalized block at height", &height));
    }
    let block = s
        .node
        .block(Height(h))
        .await
        .ok_or_else(|| ApiError::not_found("stored block at height", &height))?;
    Ok(Json(views::block(&block)))
}

/// `PUT /v1/blobs` (or `POST`): stores the body, returns its hash.
pub(crate) async fn put_blob(
    State(s): State<AppState>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let body = body.map_err(|r| body_error(&r))?;
    let hash = s.blobs.put(&body).await.map_err(|e| {
        tracing::warn!(error = %e, "blob write failed");
        ApiError::unavailable(
            format!("cannot store the blob: {e}"),
            Duration::from_secs(5),
        )
    })?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "hash": hash.to_hex(), "size": body.len() })),
    )
        .into_response())
}

/// `GET /v1/blobs/{hash}`.
pub(crate) async fn get_blob(
    State(s): State<AppState>,
    Path(hash): Path<String>,
) -> Result<Response> {
    let h = parse_hash("blob hash", &hash)?;
    match s.blobs.get(&h).await {
        Ok(Some(bytes)) => {
            Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
        }
        Ok(None) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no blob {hash} on this node"),
            "upload it with PUT /v1/blobs first",
        )),
        Err(e) => Err(ApiError::unavailable(
            format!("cannot read the blob: {e}"),
            Duration::from_secs(5),
        )),
    }
}

/// `GET /metrics`.
pub(crate) async fn metrics(State(s): State<AppState>) -> Response {
    let mempool = s.node.mempool_size().await.unwrap_or(0);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(mempool),
    )
        .into_response()
}

/// `GET /openapi.json`.
pub(crate) async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
        .into_response()
}

/// Anything else.
pub(crate) async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such endpoint",
        "see GET /openapi.json for the routes",
    )
}

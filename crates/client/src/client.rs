//! [`Client`]: one or more node API endpoints behind typed calls.
//!
//! Reads go to the first endpoint that answers; blobs are uploaded to every
//! endpoint (each validator keeps its own blob store) and fetched from any,
//! their bytes checked against the hash asked for.

use std::time::{Duration, Instant};

use reqwest::blocking::{Client as Http, Response};
use serde::de::DeserializeOwned;
use verigrid_ledger::{Account, Device, Job, VerdictProof};
use verigrid_types::codec::{Decode, Encode};
use verigrid_types::hash::unhex;
use verigrid_types::params::Params;
use verigrid_types::tx::SignedTx;
use verigrid_types::{AccountId, DeviceId, Hash, Height, JobId, TaskId, blob_hash};

use crate::error::{ClientError, Result};
use crate::stream::BlockStream;
use crate::views::{DeviceTasks, ProvenVerdict, Status};

/// How long one ordinary request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to keep retrying a submission the node asked to retry.
const SUBMIT_PATIENCE: Duration = Duration::from_secs(30);

/// A client of one network, through one or more of its nodes.
#[derive(Clone, Debug)]
pub struct Client {
    endpoints: Vec<String>,
    http: Http,
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    hint: String,
}

#[derive(serde::Deserialize)]
struct Encoded {
    encoded: String,
}

#[derive(serde::Deserialize)]
struct Submitted {
    id: crate::views::Hex32,
}

#[derive(serde::Deserialize)]
struct BlockView {
    hash: crate::views::Hex32,
    state_root: crate::views::Hex32,
}

#[derive(serde::Deserialize)]
struct VerdictBody {
    proof: String,
    state_root: crate::views::Hex32,
    height: u64,
}

impl Client {
    /// A client of the nodes at `endpoints` (`http://host:port`, tried in
    /// order).
    ///
    /// # Errors
    /// If no endpoint is given, or one is not an `http://` URL.
    pub fn new<S: AsRef<str>>(endpoints: &[S]) -> Result<Self> {
        let endpoints: Vec<String> = endpoints
            .iter()
            .map(|e| e.as_ref().trim_end_matches('/').to_owned())
            .collect();
        if endpoints.is_empty() {
            return Err(ClientError::Unreachable {
                url: String::new(),
                reason: "no node address given".into(),
            });
        }
        if let Some(bad) = endpoints.iter().find(|e| !e.starts_with("http://")) {
            return Err(ClientError::Unreachable {
                url: bad.clone(),
                reason: "the address must start with http://".into(),
            });
        }
        let http = Http::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| ClientError::Unreachable {
                url: endpoints.join(", "),
                reason: format!("cannot build an HTTP client: {e}"),
            })?;
        Ok(Self { endpoints, http })
    }

    /// The endpoints, in the order they are tried.
    #[must_use]
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// Sends `make(base)` to each endpoint until one answers (an HTTP
    /// answer of any status ends the search).
    fn first_answer(
        &self,
        path: &str,
        make: impl Fn(&str) -> reqwest::blocking::RequestBuilder,
    ) -> Result<(String, Response)> {
        let mut last = None;
        for base in &self.endpoints {
            let url = format!("{base}{path}");
            match make(&url).send() {
                Ok(response) => return Ok((url, response)),
                Err(e) => {
                    last = Some(ClientError::Unreachable {
                        url,
                        reason: error_chain(&e),
                    });
                }
            }
        }
        Err(last.unwrap_or_else(|| ClientError::Unreachable {
            url: path.into(),
            reason: "no endpoint".into(),
        }))
    }

    fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>> {
        let (url, response) = self.first_answer(path, |url| self.http.get(url))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let response = check(&url, response)?;
        response
            .json::<T>()
            .map(Some)
            .map_err(|e| ClientError::Protocol {
                url,
                reason: error_chain(&e),
            })
    }

    fn get_record<T: Decode>(&self, path: &str) -> Result<Option<T>> {
        let Some(body) = self.get_json::<Encoded>(path)? else {
            return Ok(None);
        };
        decode_hex(path, &body.encoded).map(Some)
    }

    /// Where the finalized chain stands.
    ///
    /// # Errors
    /// If no node answers.
    pub fn status(&self) -> Result<Status> {
        self.get_json("/v1/status")?
            .ok_or_else(|| protocol("/v1/status", "404 for the status"))
    }

    /// The chain's parameters at the finalized tip.
    ///
    /// # Errors
    /// If no node answers.
    pub fn params(&self) -> Result<Params> {
        self.get_record("/v1/params")?
            .ok_or_else(|| protocol("/v1/params", "404 for the parameters (node too old?)"))
    }

    /// An account, if it exists.
    ///
    /// # Errors
    /// If no node answers.
    pub fn account(&self, id: &AccountId) -> Result<Option<Account>> {
        self.get_record(&format!("/v1/accounts/{}", Hash(id.0).to_hex()))
    }

    /// A device, if registered.
    ///
    /// # Errors
    /// If no node answers.
    pub fn device(&self, id: &DeviceId) -> Result<Option<Device>> {
        self.get_record(&format!("/v1/devices/{}", id.0.to_hex()))
    }

    /// A device's live task replicas.
    ///
    /// # Errors
    /// If no node answers.
    pub fn device_tasks(&self, id: &DeviceId) -> Result<Option<DeviceTasks>> {
        self.get_json(&format!("/v1/devices/{}/tasks", id.0.to_hex()))
    }

    /// A job, if submitted.
    ///
    /// # Errors
    /// If no node answers.
    pub fn job(&self, id: &JobId) -> Result<Option<Job>> {
        self.get_record(&format!("/v1/jobs/{}", id.0.to_hex()))
    }

    /// The hash and state root of the finalized block at `height`.
    ///
    /// # Errors
    /// If no node answers.
    pub fn block(&self, height: Height) -> Result<Option<(Hash, Hash)>> {
        Ok(self
            .get_json::<BlockView>(&format!("/v1/blocks/{}", height.0))?
            .map(|b| (b.hash.0, b.state_root.0)))
    }

    /// A task's verdict, with its inclusion proof checked here against the
    /// finalized state root, and that root checked against the block the
    /// node says it belongs to on every endpoint that has it.
    ///
    /// # Errors
    /// If no node answers, the proof does not verify, or nodes disagree.
    pub fn verdict(&self, task: &TaskId) -> Result<Option<ProvenVerdict>> {
        let path = format!("/v1/verdicts/{}/{}", task.job.0.to_hex(), task.index);
        let Some(body) = self.get_json::<VerdictBody>(&path)? else {
            return Ok(None);
        };
        let proof: VerdictProof = decode_hex(&path, &body.proof)?;
        if proof.verdict.task != *task {
            return Err(protocol(&path, "the proof is for another task"));
        }
        let root = body.state_root.0;
        if !proof.verify(&root) {
            return Err(protocol(
                &path,
                "the verdict's inclusion proof does not verify against the state root",
            ));
        }
        let height = Height(body.height);
        let mut confirmed = false;
        for base in &self.endpoints {
            let one = Self {
                endpoints: vec![base.clone()],
                http: self.http.clone(),
            };
            if let Ok(Some((_, block_root))) = one.block(height) {
                if block_root != root {
                    return Err(protocol(
                        base,
                        &format!(
                            "nodes disagree on the state root at height {}: do not trust this verdict",
                            height.0
                        ),
                    ));
                }
                confirmed = true;
            }
        }
        if !confirmed {
            return Err(protocol(
                &path,
                "no node serves the finalized block the proof refers to",
            ));
        }
        Ok(Some(ProvenVerdict {
            verdict: proof.verdict,
            state_root: root,
            height,
        }))
    }

    /// Submits a signed transaction; retries while the node asks it to
    /// (full mempool, nonce gap), up to 30 s. Returns the transaction id.
    ///
    /// # Errors
    /// If the node refuses it, or no node answers.
    pub fn submit(&self, tx: &SignedTx) -> Result<Hash> {
        let body = tx.encode();
        let started = Instant::now();
        loop {
            let (url, response) = self.first_answer("/v1/txs", |url| {
                self.http
                    .post(url)
                    .header("content-type", "application/octet-stream")
                    .body(body.clone())
            })?;
            match check(&url, response) {
                Ok(response) => {
                    let submitted: Submitted =
                        response.json().map_err(|e| ClientError::Protocol {
                            url,
                            reason: error_chain(&e),
                        })?;
                    return Ok(submitted.id.0);
                }
                Err(ClientError::Api {
                    retry_after: Some(wait),
                    ..
                }) if started.elapsed() < SUBMIT_PATIENCE => {
                    std::thread::sleep(wait.min(Duration::from_secs(2)));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Submits `tx` and waits until a finalized block includes it. Returns
    /// the block's height.
    ///
    /// # Errors
    /// If submission fails, the ledger rejects it, or `timeout` passes.
    pub fn submit_and_wait(&self, tx: &SignedTx, timeout: Duration) -> Result<Height> {
        let mut stream = self.stream()?;
        let id = self.submit(tx)?;
        self.wait_for(&mut stream, &id, timeout)
    }

    /// Follows `stream` until a block includes `tx`.
    ///
    /// # Errors
    /// If the ledger rejects it, the stream ends, or `timeout` passes.
    pub fn wait_for(
        &self,
        stream: &mut BlockStream,
        tx: &Hash,
        timeout: Duration,
    ) -> Result<Height> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ClientError::Timeout {
                    what: format!("finalization of transaction {}", tx.to_hex()),
                    waited: timeout,
                });
            }
            let Some(block) = stream.next_block(left)? else {
                continue;
            };
            match block.outcome_of(tx) {
                Some(Ok(())) => return Ok(Height(block.height)),
                Some(Err(reason)) => {
                    return Err(ClientError::Rejected {
                        tx: tx.to_hex(),
                        height: block.height,
                        reason,
                    });
                }
                None => {}
            }
        }
    }

    /// Follows finalized blocks from now on.
    ///
    /// # Errors
    /// If no node answers.
    pub fn stream(&self) -> Result<BlockStream> {
        BlockStream::open(&self.endpoints)
    }

    /// Uploads a blob to every endpoint; succeeds when at least one stored
    /// it. Returns its hash.
    ///
    /// # Errors
    /// If no node stored it.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<Hash> {
        let expected = blob_hash(bytes);
        let mut stored = false;
        let mut last = None;
        for base in &self.endpoints {
            let url = format!("{base}/v1/blobs");
            let sent = self
                .http
                .put(&url)
                .header("content-type", "application/octet-stream")
                .body(bytes.to_vec())
                .send();
            match sent {
                Ok(response) => match check(&url, response) {
                    Ok(_) => stored = true,
                    Err(e) => last = Some(e),
                },
                Err(e) => {
                    last = Some(ClientError::Unreachable {
                        url,
                        reason: error_chain(&e),
                    });
                }
            }
        }
        if stored {
            Ok(expected)
        } else {
            Err(last.unwrap_or_else(|| protocol("/v1/blobs", "no endpoint")))
        }
    }

    /// Fetches a blob from the first endpoint that has it, checking its
    /// bytes against `hash`.
    ///
    /// # Errors
    /// If no node has it, or a node served bytes that do not match.
    pub fn get_blob(&self, hash: &Hash) -> Result<Vec<u8>> {
        let mut last = None;
        for base in &self.endpoints {
            let url = format!("{base}/v1/blobs/{}", hash.to_hex());
            let response = match self.http.get(&url).send() {
                Ok(r) => r,
                Err(e) => {
                    last = Some(ClientError::Unreachable {
                        url,
                        reason: error_chain(&e),
                    });
                    continue;
                }
            };
            if response.status() == reqwest::StatusCode::NOT_FOUND {
                continue;
            }
            let bytes = check(&url, response)?
                .bytes()
                .map_err(|e| ClientError::Unreachable {
                    url: url.clone(),
                    reason: error_chain(&e),
                })?;
            if blob_hash(&bytes) != *hash {
                return Err(ClientError::BlobMismatch {
                    url,
                    hash: hash.to_hex(),
                });
            }
            return Ok(bytes.to_vec());
        }
        Err(last.unwrap_or(ClientError::BlobMissing {
            hash: hash.to_hex(),
        }))
    }
}

/// Turns an error status into [`ClientError::Api`] with the node's
/// message and hint.
fn check(url: &str, response: Response) -> Result<Response> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let text = response.text().unwrap_or_default();
    let (message, hint) = match serde_json::from_str::<ErrorBody>(&text) {
        Ok(body) => (body.error, body.hint),
        Err(_) => (text, String::new()),
    };
    Err(ClientError::Api {
        url: url.into(),
        status: status.as_u16(),
        message,
        hint,
        retry_after,
    })
}

fn decode_hex<T: Decode>(path: &str, text: &str) -> Result<T> {
    let bytes = unhex(text).map_err(|e| protocol(path, &format!("bad hex: {e}")))?;
    T::decode(&bytes).map_err(|e| protocol(path, &format!("cannot decode the record: {e}")))
}

fn protocol(url: &str, reason: &str) -> ClientError {
    ClientError::Protocol {
        url: url.into(),
        reason: reason.into(),
    }
}

/// An error with its sources, on one line.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

//! The HTTP API over a real one-validator node (commonware's tokio
//! runtime, authenticated p2p on loopback, storage in a temp dir), served
//! on 127.0.0.1:0 and driven with good and bad input.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use commonware_cryptography::Signer as _;
use commonware_cryptography::ed25519::PrivateKey;
use commonware_runtime::{Runner as _, Spawner as _, Supervisor as _, tokio as cw_tokio};
use commonware_utils::NZUsize;
use serde_json::Value;
use verigrid_ledger::Genesis;
use verigrid_node::api::{self, ApiConfig};
use verigrid_node::p2p::{self, P2pConfig};
use verigrid_node::{BlockLimits, Config, MempoolConfig, Node, RefuseAttestations, Timeouts};
use verigrid_types::codec::{Bytes, Encode as _};
use verigrid_types::device::{
    AttestationVerifier, Capabilities, Evidence, EvidenceFormat, registration_challenge,
};
use verigrid_types::hash::hex;
use verigrid_types::job::{Inputs, JobKind, JobSpec, Limits, Requirements, Verification};
use verigrid_types::params::Params;
use verigrid_types::tx::{Call, Commit, Reveal, SignedTx, Signer, Tx, commitment};
use verigrid_types::{AccountId, Amount, Height, JobId, SecretKey, Timestamp, blob_hash};

const CHAIN: &str = "verigrid-api-test";

fn user(i: usize) -> SecretKey {
    SecretKey::from_label(&format!("api-user-{i}"))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn transfer(from: &SecretKey, nonce: u64, amount: u64) -> SignedTx {
    Tx {
        signer: Signer::Account(from.account()),
        nonce,
        fee: Amount(1_000),
        call: Call::Transfer {
            to: AccountId([0xAB; 32]),
            amount: Amount(amount),
        },
    }
    .sign(CHAIN, from)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("verigrid-api-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The test genesis: funded `api-user-N` accounts, no attestation roots.
fn genesis() -> Genesis {
    Genesis {
        chain_id: CHAIN.into(),
        params: Params::new(AccountId([0x60; 32])),
        accounts: (0..4)
            .map(|i| (user(i).account(), Amount(1_000_000_000)))
            .collect(),
        time: Timestamp(now_ms()),
    }
}

/// Runs `test` against a fresh one-validator node and its API.
fn with_node<F, Fut>(name: &str, mempool: MempoolConfig, block_interval: Duration, test: F)
where
    F: FnOnce(Node, String) -> Fut,
    Fut: Future<Output = ()>,
{
    with_chain(
        name,
        genesis(),
        Box::new(RefuseAttestations),
        mempool,
        block_interval,
        test,
    );
}

/// Runs `test` against a fresh one-validator node on `genesis`, judging
/// attestations with `verifier`.
fn with_chain<F, Fut>(
    name: &str,
    genesis: Genesis,
    verifier: Box<dyn AttestationVerifier + Send>,
    mempool: MempoolConfig,
    block_interval: Duration,
    test: F,
) where
    F: FnOnce(Node, String) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = temp_dir(name);
    let runtime = cw_tokio::Config::new()
        .with_worker_threads(2)
        .with_storage_directory(dir.join("store"));
    let blob_dir = dir.join("blobs");
    cw_tokio::Runner::new(runtime).start(|context| async move {
        let signer = PrivateKey::from_seed(7);
        let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let (networks, _net) = p2p::start(
            context.child("p2p"),
            P2pConfig {
                namespace: b"api-test".to_vec(),
                signer: signer.clone(),
                listen,
                peers: vec![(signer.public_key(), listen)],
                mailbox_size: NZUsize!(1024),
            },
        )
        .unwrap();
        let config = Config {
            genesis,
            validators: vec![signer.public_key()],
            signer,
            verifier,
            mempool,
            limits: BlockLimits::default(),
            timeouts: Timeouts {
                block_interval,
                ..Timeouts::default()
            },
            partition_prefix: "api-test".into(),
            snapshot_every: None,
            mailbox_size: NZUsize!(1024),
        };
        let (node, _tasks) = verigrid_node::start(context.child("validator"), config, networks)
            .await
            .unwrap();
        let mut api_config = ApiConfig::new("127.0.0.1:0".parse().unwrap(), blob_dir, CHAIN.into());
        api_config.max_blob_bytes = 1024;
        let server = api::start(node.clone(), api_config).await.unwrap();
        assert!(server.addr().ip().is_loopback());
        test(node, format!("http://{}", server.addr())).await;
        server.stop();
        // Stop the validator's tasks, or the runner waits for them forever.
        let _ = context.stop(0, Some(Duration::from_secs(5))).await;
    });
    let _ = std::fs::remove_dir_all(&dir);
}

async fn json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    let value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    (status, value)
}

fn assert_error(status: u16, body: &Value, expected: u16) {
    assert_eq!(status, expected, "{body}");
    assert!(
        body["error"].is_string() && body["hint"].is_string(),
        "{body}"
    );
}

async fn wait_for_nonce(client: &reqwest::Client, base: &str, account: &AccountId, nonce: u64) {
    for _ in 0..100 {
        let r = client
            .get(format!("{base}/v1/accounts/{}", hex(&account.0)))
            .send()
            .await
            .unwrap();
        let (_, body) = json(r).await;
        if body["nonce"].as_u64() == Some(nonce) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nonce {nonce} never finalized");
}

#[test]
fn submitted_transfers_finalize_and_are_readable_with_blocks_and_a_stream() {
    with_node(
        "happy",
        MempoolConfig::default(),
        Duration::from_millis(100),
        |_node, base| async move {
            let client = reqwest::Client::new();
            // Follow the stream from before the submission.
            let mut stream = client
                .get(format!("{base}/v1/stream"))
                .send()
                .await
                .unwrap();
            assert_eq!(stream.status().as_u16(), 200);

            // Hex text body.
            let tx = transfer(&user(0), 0, 500);
            let r = client
                .post(format!("{base}/v1/txs"))
                .body(hex(&tx.encode()))
                .send()
                .await
                .unwrap();
            let (status, body) = json(r).await;
            assert_eq!(status, 202, "{body}");
            assert_eq!(body["id"], tx.id().to_hex());
            // Raw body.
            let tx2 = transfer(&user(1), 0, 700);
            let r = client
                .post(format!("{base}/v1/txs"))
                .header("content-type", "application/octet-stream")
                .body(tx2.encode())
                .send()
                .await
                .unwrap();
            assert_eq!(json(r).await.0, 202);

            wait_for_nonce(&client, &base, &user(0).account(), 1).await;
            wait_for_nonce(&client, &base, &user(1).account(), 1).await;
            let r = client
                .get(format!("{base}/v1/accounts/{}", hex(&[0xAB; 32])))
                .send()
                .await
                .unwrap();
            let (status, body) = json(r).await;
            assert_eq!(status, 200);
            assert_eq!(body["balance"], 1_200);

            let (status, st) = json(
                client
                    .get(format!("{base}/v1/status"))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(status, 200);
            let height = st["height"].as_u64().unwrap();
            assert!(height >= 1);
            assert_eq!(st["state_root"].as_str().unwrap().len(), 64);

            // The transfers are in some finalized block.
            let mut found = 0;
            for h in 1..=height {
                let (status, block) = json(
                    client
                        .get(format!("{base}/v1/blocks/{h}"))
                        .send()
                        .await
                        .unwrap(),
                )
                .await;
                assert_eq!(status, 200);
                found += block["txs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|t| t["id"] == tx.id().to_hex() || t["id"] == tx2.id().to_hex())
                    .count();
            }
            assert_eq!(found, 2);

            // The stream delivered finalized blocks as server-sent events.
            let mut seen = String::new();
            while !seen.contains("event: block") {
                let chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
                    .await
                    .expect("a block event")
                    .unwrap()
                    .expect("stream open");
                seen.push_str(&String::from_utf8_lossy(&chunk));
            }
            assert!(seen.contains("\"state_root\""), "{seen}");

            // Metrics follow the chain.
            let metrics = client
                .get(format!("{base}/metrics"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(metrics.contains("verigrid_finalized_height "), "{metrics}");
            assert!(
                metrics.contains("verigrid_mempool_transactions "),
                "{metrics}"
            );
            assert!(
                metrics.contains("verigrid_finality_latency_seconds "),
                "{metrics}"
            );

            // Blobs round-trip by hash.
            let (status, body) = json(
                client
                    .put(format!("{base}/v1/blobs"))
                    .body(b"model weights".to_vec())
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(status, 201, "{body}");
            let hash = body["hash"].as_str().unwrap().to_owned();
            assert_eq!(hash, verigrid_types::blob_hash(b"model weights").to_hex());
            let bytes = client
                .get(format!("{base}/v1/blobs/{hash}"))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            assert_eq!(&bytes[..], b"model weights");

            // The API describes itself.
            let (status, doc) = json(
                client
                    .get(format!("{base}/openapi.json"))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(status, 200);
            assert!(doc["paths"]["/v1/txs"].is_object());
        },
    );
}

#[test]
fn malformed_and_refused_input_gets_a_json_error_and_the_node_keeps_serving() {
    // Blocks every 30 s: nothing leaves the 2-slot mempool during the test.
    let mempool = MempoolConfig {
        capacity: 2,
        ..MempoolConfig::default()
    };
    with_node(
        "errors",
        mempool,
        Duration::from_secs(30),
        |_node, base| async move {
            // No pooled connections: after a 413 the server closes the
            // connection without reading the body, and a reused connection
            // would fail the next request with a reset.
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap();
            let post = |body: Vec<u8>, raw: bool| {
                let mut request = client.post(format!("{base}/v1/txs")).body(body);
                if raw {
                    request = request.header("content-type", "application/octet-stream");
                }
                request.send()
            };
            let (s, b) = json(post(b"not hex at all".to_vec(), false).await.unwrap()).await;
            assert_error(s, &b, 400);
            let (s, b) = json(post(b"abcd".to_vec(), false).await.unwrap()).await;
            assert_error(s, &b, 400);
            assert!(b["error"].as_str().unwrap().contains("decode"), "{b}");
            let (s, b) = json(post(vec![0xff; 300], true).await.unwrap()).await;
            assert_error(s, &b, 400);
            let (s, b) = json(post(vec![b'a'; 1 << 20], false).await.unwrap()).await;
            assert_error(s, &b, 413);

            // A transaction signed for another chain: invalid signature.
            let mut forged = transfer(&user(0), 0, 1);
            forged.signature = transfer(&user(1), 0, 1).signature;
            let (s, b) = json(post(forged.encode(), true).await.unwrap()).await;
            assert_error(s, &b, 400);
            assert!(b["error"].as_str().unwrap().contains("signature"), "{b}");

            // Fill the mempool: duplicates conflict, the third signer waits.
            assert_eq!(
                post(transfer(&user(0), 0, 1).encode(), true)
                    .await
                    .unwrap()
                    .status()
                    .as_u16(),
                202
            );
            let (s, b) = json(post(transfer(&user(0), 0, 1).encode(), true).await.unwrap()).await;
            assert_error(s, &b, 409);
            assert_eq!(
                post(transfer(&user(1), 0, 1).encode(), true)
                    .await
                    .unwrap()
                    .status()
                    .as_u16(),
                202
            );
            let r = post(transfer(&user(2), 0, 1).encode(), true).await.unwrap();
            assert!(r.headers().contains_key("retry-after"));
            let (s, b) = json(r).await;
            assert_error(s, &b, 503);

            // Bad ids, absent records, unknown routes.
            for (path, code) in [
                ("/v1/accounts/xyz", 400),
                ("/v1/accounts/00", 400),
                (&format!("/v1/accounts/{}", hex(&[7; 32])) as &str, 404),
                (&format!("/v1/jobs/{}", hex(&[7; 32])), 404),
                (&format!("/v1/devices/{}", hex(&[7; 32])), 404),
                (&format!("/v1/tasks/{}/x", hex(&[7; 32])), 400),
                (&format!("/v1/tasks/{}/0", hex(&[7; 32])), 404),
                (&format!("/v1/verdicts/{}/0", hex(&[7; 32])), 404),
                ("/v1/blocks/abc", 400),
                ("/v1/blocks/0", 404),
                ("/v1/blocks/999999", 404),
                (&format!("/v1/blobs/{}", hex(&[7; 32])), 404),
                ("/v1/blobs/zz", 400),
                ("/nope", 404),
            ] {
                let (s, b) = json(client.get(format!("{base}{path}")).send().await.unwrap()).await;
                assert_error(s, &b, code);
            }
            // Blobs over the limit (1 KiB here).
            let (s, b) = json(
                client
                    .put(format!("{base}/v1/blobs"))
                    .body(vec![1u8; 4096])
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_error(s, &b, 413);

            // Still serving.
            let (s, _) = json(
                client
                    .get(format!("{base}/v1/status"))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(s, 200);
        },
    );
}

/// Polls `GET path` until `done` holds for the JSON body.
#[test]
fn a_flooding_client_gets_429_with_retry_after_and_the_node_keeps_serving() {
    with_node(
        "flood",
        MempoolConfig::default(),
        Duration::from_millis(100),
        |node, base| async move {
            // A second API on the same node, with a limit a test can hit.
            let dir = temp_dir("flood-blobs");
            let mut config =
                ApiConfig::new("127.0.0.1:0".parse().unwrap(), dir.clone(), CHAIN.into());
            config.rate_limit = Some(api::RateLimit {
                per_second: NonZeroU32::new(5).unwrap(),
                burst: NonZeroU32::new(10).unwrap(),
            });
            let server = api::start(node, config).await.unwrap();
            let limited = format!("http://{}", server.addr());
            let client = reqwest::Client::new();

            let mut served = 0;
            let mut refused = None;
            for _ in 0..100 {
                let r = client
                    .get(format!("{limited}/v1/status"))
                    .send()
                    .await
                    .unwrap();
                if r.status() == 429 {
                    refused = Some(r);
                    break;
                }
                assert_eq!(r.status(), 200);
                served += 1;
            }
            let refused = refused.expect("a client over its limit is refused");
            assert!(served >= 10, "the burst is served first ({served})");
            let retry: u64 = refused.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(retry, 1, "the next token is under a second away");
            let (status, body) = json(refused).await;
            assert_error(status, &body, 429);
            let error = body["error"].as_str().unwrap();
            assert!(
                error.contains("too many requests from 127.0.0.1"),
                "{error}"
            );

            // The node itself is not stalled: its other API answers at once,
            // and after Retry-After the flooder is served again.
            let r = client
                .get(format!("{base}/v1/status"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            tokio::time::sleep(Duration::from_secs(retry)).await;
            let metrics = client
                .get(format!("{limited}/metrics"))
                .send()
                .await
                .unwrap();
            assert_eq!(metrics.status(), 200);
            let text = metrics.text().await.unwrap();
            assert!(
                text.lines().any(
                    |l| l.starts_with("verigrid_api_rate_limited_total ") && !l.ends_with(" 0")
                ),
                "{text}"
            );
            server.stop();
            let _ = std::fs::remove_dir_all(&dir);
        },
    );
}

async fn poll(client: &reqwest::Client, url: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..200 {
        let (status, body) = json(client.get(url).send().await.unwrap()).await;
        if status == 200 && done(&body) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} never reached the expected state");
}

async fn post_tx(client: &reqwest::Client, base: &str, tx: &SignedTx) {
    let r = client
        .post(format!("{base}/v1/txs"))
        .header("content-type", "application/octet-stream")
        .body(tx.encode())
        .send()
        .await
        .unwrap();
    let (status, body) = json(r).await;
    assert_eq!(status, 202, "{body}");
}

#[test]
fn a_device_reads_its_live_tasks_and_they_leave_the_list_when_decided() {
    let ca = verigrid_attest::dev::DevCa::from_seed(&[0xde; 32]).unwrap();
    let mut genesis = genesis();
    genesis.params.attestation.trust_roots = vec![Bytes(ca.root_der().to_vec())];
    // Long windows: the tasks stay live while the test looks at them.
    genesis.params.commit_blocks = 200;
    genesis.params.reveal_blocks = 200;
    let genesis_secs = genesis.time.as_secs();
    with_chain(
        "device-tasks",
        genesis,
        Box::new(verigrid_attest::Verifier::new()),
        MempoolConfig::default(),
        Duration::from_millis(50),
        |node, base| async move {
            let client = reqwest::Client::new();
            let owner = user(0);
            let consumer = user(1);
            let key = SecretKey::from_label("api-device");
            let device = key.device_key().device_id();
            let tasks_url = format!("{base}/v1/devices/{}/tasks", device.0.to_hex());

            // Unknown device, bad id.
            let (s, b) = json(client.get(&tasks_url).send().await.unwrap()).await;
            assert_error(s, &b, 404);
            let (s, b) = json(
                client
                    .get(format!("{base}/v1/devices/xyz/tasks"))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_error(s, &b, 400);

            // Register the device with dev-CA evidence anchored at the tip.
            let (anchor, anchor_hash) = node.read(|c| (c.height(), c.tip())).await.unwrap();
            let challenge =
                registration_challenge(CHAIN, &owner.account(), &key.device_key(), &anchor_hash);
            let chain = ca
                .issue(&verigrid_attest::dev::DevLeaf::healthy(
                    key.device_key(),
                    &challenge.0,
                    genesis_secs,
                ))
                .unwrap();
            let register = Tx {
                signer: Signer::Account(owner.account()),
                nonce: 0,
                fee: Amount(1_000),
                call: Call::RegisterDevice {
                    evidence: Evidence {
                        format: EvidenceFormat::AndroidKeyChain,
                        parts: chain.into_iter().map(Bytes).collect(),
                    },
                    key: key.device_key(),
                    capabilities: Capabilities {
                        slots: 8,
                        ..Capabilities::default()
                    },
                    pool: None,
                    anchor: Height(anchor.0),
                    stake: Amount(10_000),
                },
            }
            .sign(CHAIN, &owner);
            post_tx(&client, &base, &register).await;
            let body = poll(&client, &tasks_url, |_| true).await;
            assert_eq!(body["tasks"].as_array().unwrap().len(), 0, "{body}");

            // A job of two single-replica tasks. A fresh device holds one
            // task at a time (it earns a slot per agreeing result), so it
            // gets task 0 now and task 1 once task 0 is decided.
            let spec = JobSpec {
                kind: JobKind::Wasm,
                program: blob_hash(b"api-test/kernel"),
                inputs: Inputs::Indexed {
                    blob: blob_hash(b"api-test/input"),
                    count: 2,
                },
                limits: Limits::default(),
                verification: Verification {
                    replicas: 1,
                    quorum: 1,
                    max_replicas: 1,
                    ..Verification::replicated(1)
                },
                requirements: Requirements::default(),
                reward: Amount(10),
                deadline: Height(1_000_000),
            };
            let escrow = spec.max_cost().unwrap();
            let job = JobId::derive(&consumer.account(), 0);
            let submit = Tx {
                signer: Signer::Account(consumer.account()),
                nonce: 0,
                fee: Amount(1_000),
                call: Call::SubmitJob { spec, escrow },
            }
            .sign(CHAIN, &consumer);
            post_tx(&client, &base, &submit).await;
            let body = poll(&client, &tasks_url, |b| {
                !b["tasks"].as_array().unwrap().is_empty()
            })
            .await;
            assert_eq!(body["tasks"].as_array().unwrap().len(), 1, "{body}");
            let t = &body["tasks"][0];
            assert_eq!(t["task"]["job"], job.0.to_hex(), "{body}");
            assert_eq!(t["task"]["index"], 0, "{body}");
            assert_eq!(t["phase"], "commit", "{body}");
            assert_eq!(t["solo"], false, "{body}");
            assert_eq!(t["committed"], false, "{body}");
            assert_eq!(t["revealed"], false, "{body}");
            assert!(t["deadline"].as_u64().unwrap() > body["height"].as_u64().unwrap());
            assert!(t["encoded"].as_str().is_some_and(|e| !e.is_empty()));

            // Commit task 0: reveals open for it.
            let task0 = verigrid_types::TaskId { job, index: 0 };
            let output = blob_hash(b"output 0");
            let salt = [7u8; 32];
            let device_tx = |nonce: u64, call: Call| {
                Tx {
                    signer: Signer::Device(device),
                    nonce,
                    fee: Amount(1_000),
                    call,
                }
                .sign(CHAIN, &key)
            };
            post_tx(
                &client,
                &base,
                &device_tx(
                    0,
                    Call::CommitResults {
                        commits: vec![Commit {
                            task: task0,
                            commitment: commitment(&output, &salt, &device),
                        }],
                    },
                ),
            )
            .await;
            let body = poll(&client, &tasks_url, |b| b["tasks"][0]["committed"] == true).await;
            assert_eq!(body["tasks"][0]["phase"], "reveal", "{body}");
            assert_eq!(body["tasks"][0]["revealed"], false, "{body}");

            // Reveal it: decided, so it leaves the list, and task 1 takes
            // its place.
            post_tx(
                &client,
                &base,
                &device_tx(
                    1,
                    Call::RevealResults {
                        reveals: vec![Reveal {
                            task: task0,
                            output_hash: output,
                            salt,
                            output: None,
                        }],
                    },
                ),
            )
            .await;
            let body = poll(&client, &tasks_url, |b| b["tasks"][0]["task"]["index"] == 1).await;
            assert_eq!(body["tasks"].as_array().unwrap().len(), 1, "{body}");
            assert_eq!(body["tasks"][0]["committed"], false, "{body}");
            let (s, v) = json(
                client
                    .get(format!("{base}/v1/verdicts/{}/0", job.0.to_hex()))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(s, 200, "{v}");
            assert_eq!(v["verdict"]["outcome"]["accepted"], output.to_hex());
        },
    );
}

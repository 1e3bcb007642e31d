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
use verigrid_types::codec::Encode as _;
use verigrid_types::hash::hex;
use verigrid_types::params::Params;
use verigrid_types::tx::{Call, SignedTx, Signer, Tx};
use verigrid_types::{AccountId, Amount, SecretKey, Timestamp};

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

/// Runs `test` against a fresh one-validator node and its API.
fn with_node<F, Fut>(name: &str, mempool: MempoolConfig, block_interval: Duration, test: F)
where
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
            genesis: Genesis {
                chain_id: CHAIN.into(),
                params: Params::new(AccountId([0x60; 32])),
                accounts: (0..4)
                    .map(|i| (user(i).account(), Amount(1_000_000_000)))
                    .collect(),
                time: Timestamp(now_ms()),
            },
            validators: vec![signer.public_key()],
            signer,
            verifier: Box::new(RefuseAttestations),
            mempool,
            limits: BlockLimits::default(),
            timeouts: Timeouts {
                block_interval,
                ..Timeouts::default()
            },
            partition_prefix: "api-test".into(),
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

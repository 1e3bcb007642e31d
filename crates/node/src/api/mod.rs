//! The node's HTTP API (docs/DESIGN.md §10), over the [`Node`] handle:
//! submit transactions, read finalized state with proofs, fetch blocks,
//! store and fetch blobs, follow finalized blocks, and scrape metrics.
//!
//! | route | what |
//! | --- | --- |
//! | `POST /v1/txs` | a canonical `SignedTx`: hex text, or raw bytes with `Content-Type: application/octet-stream` → `202 {"id"}` |
//! | `GET /v1/status` | height, finalized tip, state root, mempool size |
//! | `GET /v1/accounts/{id}`, `/v1/devices/{id}`, `/v1/jobs/{id}`, `/v1/tasks/{job}/{index}` | finalized records |
//! | `GET /v1/devices/{id}/tasks` | the device's live task replicas (phase, deadline, committed/revealed), for agents recovering after a restart |
//! | `GET /v1/verdicts/{job}/{index}` | a verdict and its inclusion proof against the finalized state root |
//! | `GET /v1/blocks/{height}` | a finalized block |
//! | `PUT /v1/blobs`, `GET /v1/blobs/{hash}` | content-addressed blobs |
//! | `GET /v1/stream` | server-sent events, one per finalized block |
//! | `GET /openapi.json`, `GET /metrics` | the API description; Prometheus text |
//!
//! Every error is JSON `{"error", "hint"}` with a meaningful status; bodies
//! are size-limited before they are read; no input can make a handler
//! panic; a client over its request limit gets 429 with `Retry-After`
//! ([`RateLimit`]). Each request runs in a tracing span.

mod blobs;
mod error;
mod metrics;
mod ratelimit;
mod routes;
mod stream;
pub mod views;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post, put};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tracing::{Instrument as _, debug, info_span};

pub use blobs::BlobStore;
pub use error::ApiError;
pub use metrics::Metrics;
pub use ratelimit::RateLimit;

use crate::node::Node;

/// Where and how the API serves.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// Directory blobs are stored in.
    pub blob_dir: PathBuf,
    /// The chain id, reported by `/v1/status`.
    pub chain_id: String,
    /// Largest accepted transaction, in canonical bytes.
    pub max_tx_bytes: usize,
    /// Largest accepted blob.
    pub max_blob_bytes: usize,
    /// Requests each client IP may make (`None`: unlimited).
    pub rate_limit: Option<RateLimit>,
}

impl ApiConfig {
    /// Defaults: 64 KiB transactions, 16 MiB blobs, [`RateLimit::DEFAULT`].
    #[must_use]
    pub fn new(listen: SocketAddr, blob_dir: PathBuf, chain_id: String) -> Self {
        Self {
            listen,
            blob_dir,
            chain_id,
            max_tx_bytes: 64 * 1024,
            max_blob_bytes: 16 * 1024 * 1024,
            rate_limit: Some(RateLimit::DEFAULT),
        }
    }
}

/// What every handler shares (cheap clones; no locks).
#[derive(Clone)]
pub(crate) struct AppState {
    pub node: Node,
    pub blobs: BlobStore,
    pub metrics: Arc<Metrics>,
    pub chain_id: Arc<str>,
    pub max_tx_bytes: usize,
}

/// A running API server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    task: JoinHandle<()>,
    follower: JoinHandle<()>,
}

impl Server {
    /// The address it listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving.
    pub fn stop(&self) {
        self.task.abort();
        self.follower.abort();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The API's routes over `node` (for embedding, or for tests that drive
/// it without a socket).
pub fn router(node: Node, config: &ApiConfig, metrics: Arc<Metrics>) -> Router {
    let limiter = config
        .rate_limit
        .map(|limit| ratelimit::Limiter::new(limit, Arc::clone(&metrics)));
    let state = AppState {
        node,
        blobs: BlobStore::new(config.blob_dir.clone()),
        metrics,
        chain_id: Arc::from(config.chain_id.as_str()),
        max_tx_bytes: config.max_tx_bytes,
    };
    // Hex doubles the size; allow a little whitespace around it.
    let tx_limit = config.max_tx_bytes.saturating_mul(2).saturating_add(64);
    let router = Router::new()
        .route(
            "/v1/txs",
            post(routes::submit_tx).layer(DefaultBodyLimit::max(tx_limit)),
        )
        .route("/v1/status", get(routes::status))
        .route("/v1/params", get(routes::params))
        .route("/v1/accounts/{id}", get(routes::account))
        .route("/v1/devices/{id}", get(routes::device))
        .route("/v1/devices/{id}/tasks", get(routes::device_tasks))
        .route("/v1/jobs/{id}", get(routes::job))
        .route("/v1/tasks/{job}/{index}", get(routes::task))
        .route("/v1/verdicts/{job}/{index}", get(routes::verdict))
        .route("/v1/blocks/{height}", get(routes::block))
        .route(
            "/v1/blobs",
            put(routes::put_blob)
                .post(routes::put_blob)
                .layer(DefaultBodyLimit::max(config.max_blob_bytes)),
        )
        .route("/v1/blobs/{hash}", get(routes::get_blob))
        .route("/v1/stream", get(stream::finalized_blocks))
        .route("/openapi.json", get(routes::openapi))
        .route("/metrics", get(routes::metrics))
        .fallback(routes::not_found);
    // Outermost last: a request is traced, then limited, then routed.
    let router = match limiter {
        Some(limiter) => router.layer(middleware::from_fn_with_state(limiter, ratelimit::limit)),
        None => router,
    };
    router
        .layer(middleware::from_fn(trace_request))
        .with_state(state)
}

/// Runs each request in a span and logs its status and duration.
async fn trace_request(request: Request, next: Next) -> Response {
    let span = info_span!(
        "http",
        method = %request.method(),
        path = %request.uri().path(),
    );
    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| {
        debug!(
            status = response.status().as_u16(),
            micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            "served"
        );
    });
    response
}

/// Binds `config.listen` and serves the API for `node` on the current
/// tokio runtime (commonware's tokio runner is one).
///
/// # Errors
/// If the address cannot be bound.
pub async fn start(node: Node, config: ApiConfig) -> std::io::Result<Server> {
    let listener = TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let metrics = Arc::new(Metrics::default());
    let follower = tokio::spawn(Arc::clone(&metrics).follow(node.clone()));
    let app = router(node, &config, metrics);
    let task = tokio::spawn(async move {
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "API server stopped");
        }
    });
    Ok(Server {
        addr,
        task,
        follower,
    })
}

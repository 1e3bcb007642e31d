//! Per-client request limits: one address flooding the API gets `429 Too
//! Many Requests` with `Retry-After`, and everyone else is still served.
//!
//! A token bucket per client IP (governor's keyed limiter, GCRA): a client
//! may send `burst` requests at once and `per_second` sustained. The key is
//! the TCP peer address, so it applies only when the server was started
//! with connect info ([`super::start`] does); a router driven without a
//! socket is not limited. Idle buckets are dropped as traffic goes on, so
//! many one-off clients cannot grow the table without bound.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::Clock as _;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::error::ApiError;
use super::metrics::Metrics;

/// Requests one client IP may make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained requests per second.
    pub per_second: NonZeroU32,
    /// Requests allowed at once after a quiet spell.
    pub burst: NonZeroU32,
}

impl RateLimit {
    /// 2,000 requests per second, bursts of 4,000: far above what an agent
    /// or a consumer needs (they batch), far below what floods a node.
    pub const DEFAULT: Self = Self {
        per_second: nonzero(2_000),
        burst: nonzero(4_000),
    };

    /// `per_second` sustained with bursts of twice that; `None` for 0.
    #[must_use]
    pub fn per_second(per_second: u32) -> Option<Self> {
        let per_second = NonZeroU32::new(per_second)?;
        Some(Self {
            per_second,
            burst: NonZeroU32::new(per_second.get().saturating_mul(2)).unwrap_or(per_second),
        })
    }
}

const fn nonzero(n: u32) -> NonZeroU32 {
    match NonZeroU32::new(n) {
        Some(n) => n,
        None => NonZeroU32::MIN,
    }
}

/// Checks between sweeps of idle buckets.
const SWEEP_EVERY: u64 = 4_096;

/// The shared limiter (cheap clones).
#[derive(Clone)]
pub(crate) struct Limiter {
    buckets: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    limit: RateLimit,
    checks: Arc<AtomicU64>,
    metrics: Arc<Metrics>,
}

impl Limiter {
    pub(crate) fn new(limit: RateLimit, metrics: Arc<Metrics>) -> Self {
        let quota = Quota::per_second(limit.per_second).allow_burst(limit.burst);
        Self {
            buckets: Arc::new(RateLimiter::keyed(quota)),
            limit,
            checks: Arc::new(AtomicU64::new(0)),
            metrics,
        }
    }

    /// Takes one request from `ip`'s bucket, or says how long to wait.
    fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.buckets.retain_recent();
            self.buckets.shrink_to_fit();
        }
        self.buckets
            .check_key(&ip)
            .map_err(|not_until| not_until.wait_time_from(self.buckets.clock().now()))
    }
}

/// Middleware: answers 429 to a client over its limit.
pub(crate) async fn limit(
    State(limiter): State<Limiter>,
    request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    if let Some(ip) = peer
        && let Err(wait) = limiter.check(ip)
    {
        limiter.metrics.count_rate_limited();
        let RateLimit { per_second, burst } = limiter.limit;
        return ApiError::too_many_requests(
            format!(
                "too many requests from {ip}: this node serves {per_second} per second \
                 per client (bursts of {burst})"
            ),
            wait,
        )
        .into_response();
    }
    next.run(request).await
}

//! What can go wrong talking to a node, in words that say what to do.

use std::time::Duration;

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No node answered at the address.
    #[error(
        "cannot reach a verigrid node at {url}: {reason} \
         (is it running? start one with `verigrid dev`, or pass --api with its address)"
    )]
    Unreachable {
        /// The address tried.
        url: String,
        /// What the connection attempt said.
        reason: String,
    },
    /// The node answered with an error.
    #[error("{url} answered {status}: {message} (hint: {hint})")]
    Api {
        /// Where.
        url: String,
        /// HTTP status.
        status: u16,
        /// The node's message.
        message: String,
        /// The node's advice.
        hint: String,
        /// When the node asked to be retried.
        retry_after: Option<Duration>,
    },
    /// The node's answer was not what this client understands.
    #[error(
        "{url} sent an answer this client cannot read: {reason} \
         (is it a verigrid node of the same version?)"
    )]
    Protocol {
        /// Where.
        url: String,
        /// What was wrong with it.
        reason: String,
    },
    /// A blob's bytes do not hash to the id they were asked for.
    #[error("blob {hash} from {url} does not match its hash: the node served corrupt data")]
    BlobMismatch {
        /// Where.
        url: String,
        /// The id asked for.
        hash: String,
    },
    /// A blob no node holds.
    #[error("no node has blob {hash} (upload it with `PUT /v1/blobs` first)")]
    BlobMissing {
        /// The id asked for.
        hash: String,
    },
    /// A transaction was included in a block but the ledger refused it.
    #[error("the ledger rejected transaction {tx} at height {height}: {reason}")]
    Rejected {
        /// Transaction id.
        tx: String,
        /// Block it was in.
        height: u64,
        /// The ledger's reason.
        reason: String,
    },
    /// Waiting ran out.
    #[error("{what} did not happen within {waited:?}; the node may be stalled or lagging")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        waited: Duration,
    },
}

impl ClientError {
    /// Whether retrying the same request later may succeed (the node was
    /// unreachable, busy or asked to be retried).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } | Self::Timeout { .. } => true,
            Self::Api {
                status,
                retry_after,
                ..
            } => retry_after.is_some() || *status == 503 || *status == 429,
            _ => false,
        }
    }

    /// The HTTP status, when the node answered with an error.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Shorthand.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

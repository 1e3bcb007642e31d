//! `GET /v1/stream`: server-sent events, one `block` event per finalized
//! block (summary, transaction ids and ledger events as JSON). A client
//! that falls 256 blocks behind is disconnected and should catch up with
//! `GET /v1/blocks/{height}` before reconnecting.

use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;

use super::AppState;
use super::error::ApiError;
use super::views;

/// Finalized blocks a subscriber may fall behind by.
const BACKLOG: usize = 256;

/// `GET /v1/stream`.
pub(crate) async fn finalized_blocks(
    State(s): State<AppState>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let receiver = s
        .node
        .watch(BACKLOG)
        .await
        .map_err(|_| ApiError::stopped())?;
    let node = s.node.clone();
    let events = futures::stream::unfold((receiver, node), |(mut receiver, node)| async move {
        let finalized = receiver.recv().await?;
        let ids: Option<Vec<String>> = node
            .block(finalized.height)
            .await
            .map(|b| b.txs.iter().map(|t| t.id().to_hex()).collect());
        let data = views::finalized(&finalized, ids.as_deref()).to_string();
        Some((
            Ok(Event::default().event("block").data(data)),
            (receiver, node),
        ))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

//! [`BlockStream`]: finalized blocks from `GET /v1/stream` (server-sent
//! events), read on a background thread so the caller can wait with a
//! timeout instead of polling.

use std::io::{BufRead, BufReader};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use reqwest::blocking::Client as Http;

use crate::client::error_chain;
use crate::error::{ClientError, Result};
use crate::views::FinalizedBlock;

/// A stream is reopened at least this often, so a connection that died
/// without closing cannot hold a follower forever.
const WATCHDOG: Duration = Duration::from_secs(300);

/// Finalized blocks as a node finalizes them.
#[derive(Debug)]
pub struct BlockStream {
    url: String,
    blocks: Receiver<Result<FinalizedBlock>>,
}

impl BlockStream {
    /// Connects to the first endpoint that answers.
    ///
    /// # Errors
    /// If none does.
    pub fn open(endpoints: &[String]) -> Result<Self> {
        let http = Http::builder()
            .timeout(WATCHDOG)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| ClientError::Unreachable {
                url: endpoints.join(", "),
                reason: error_chain(&e),
            })?;
        let mut last = None;
        for base in endpoints {
            let url = format!("{base}/v1/stream");
            match http.get(&url).send() {
                Ok(response) if response.status().is_success() => {
                    let (send, blocks) = mpsc::sync_channel(1024);
                    let reader_url = url.clone();
                    std::thread::Builder::new()
                        .name("verigrid-stream".into())
                        .spawn(move || read_events(&reader_url, response, &send))
                        .map_err(|e| ClientError::Unreachable {
                            url: url.clone(),
                            reason: format!("cannot start the stream reader: {e}"),
                        })?;
                    return Ok(Self { url, blocks });
                }
                Ok(response) => {
                    last = Some(ClientError::Api {
                        url,
                        status: response.status().as_u16(),
                        message: response.text().unwrap_or_default(),
                        hint: "the node refused the event stream".into(),
                        retry_after: None,
                    });
                }
                Err(e) => {
                    last = Some(ClientError::Unreachable {
                        url,
                        reason: error_chain(&e),
                    });
                }
            }
        }
        Err(last.unwrap_or_else(|| ClientError::Unreachable {
            url: String::new(),
            reason: "no node address given".into(),
        }))
    }

    /// The stream's address.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The next finalized block, waiting at most `timeout`: `Ok(None)` if
    /// none came in time.
    ///
    /// # Errors
    /// If the connection ended (reopen the stream and catch up from the
    /// node's state) or the node sent something unreadable.
    pub fn next_block(&mut self, timeout: Duration) -> Result<Option<FinalizedBlock>> {
        match self.blocks.recv_timeout(timeout) {
            Ok(block) => block.map(Some),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(ClientError::Unreachable {
                url: self.url.clone(),
                reason: "the event stream ended".into(),
            }),
        }
    }
}

/// Reads server-sent events until the connection ends or the receiver is
/// dropped. Only `block` events carry data; comments (keep-alives) and
/// other fields are skipped.
fn read_events(
    url: &str,
    response: reqwest::blocking::Response,
    send: &mpsc::SyncSender<Result<FinalizedBlock>>,
) {
    let reader = BufReader::new(response);
    let mut event = String::new();
    let mut data = String::new();
    for line in reader.lines() {
        let Ok(line) = line else {
            return;
        };
        if line.is_empty() {
            if event == "block" && !data.is_empty() {
                let parsed = serde_json::from_str::<FinalizedBlock>(&data).map_err(|e| {
                    ClientError::Protocol {
                        url: url.into(),
                        reason: format!("unreadable block event: {e}"),
                    }
                });
                if send.send(parsed).is_err() {
                    return;
                }
            }
            event.clear();
            data.clear();
        } else if let Some(rest) = line.strip_prefix("event:") {
            rest.trim().clone_into(&mut event);
        } else if let Some(rest) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(rest.strip_prefix(' ').unwrap_or(rest));
        }
    }
}

//! One fetch of the status page's summary: a `GET` within `timeout_ms` from connecting to the last byte, at
//! most `max_body_bytes` read, through the crate's shared capped exchange ([`crate::fetch`]), and the
//! failures in the status page's terms ([`StatusError`]).

use std::time::Duration;

use super::summary::Summary;
use crate::fetch::{self, FetchError};
use crate::settings::StatusPageSettings;

/// Why a fetch gave nothing usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    #[error("no answer within {0} ms")]
    Timeout(u64),
    #[error("cannot reach the status page: {0}")]
    Connect(String),
    #[error("the status page answered HTTP {0}")]
    Status(u16),
    #[error("the status page's answer is over {0} bytes")]
    TooLarge(usize),
    #[error("the status page's answer is not a Statuspage v2 summary: {0}")]
    Format(String),
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
}

/// Fetches the summary: one `GET`, at most `timeout_ms` from connecting to the last byte, at most
/// `max_body_bytes` read, at most `fetch::MAX_REDIRECTS` redirects.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    url: String,
    timeout: Duration,
    max_body_bytes: usize,
}

impl Fetcher {
    pub fn new(settings: &StatusPageSettings) -> Result<Self, StatusError> {
        let timeout = Duration::from_millis(settings.timeout_ms);
        let client = fetch::client_builder(timeout)
            .build()
            .map_err(|e| StatusError::Client(fetch::describe(&e)))?;
        Ok(Self {
            client,
            url: settings.url.clone(),
            timeout,
            max_body_bytes: settings.max_body_bytes,
        })
    }

    /// The summary, or why not.
    pub(crate) async fn fetch(&self) -> Result<Summary, StatusError> {
        let body = self.body().await?;
        serde_json::from_slice(&body)
            .map_err(|e| StatusError::Format(format!("{e} (body starts {:?})", fetch::body_start(&body))))
    }

    /// The body of a successful answer; an answer with any other status is refused unread.
    async fn body(&self) -> Result<Vec<u8>, StatusError> {
        let request = self.client.get(&self.url).header("accept", "application/json");
        let response = request.send().await.map_err(|e| self.failed(e.into()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(StatusError::Status(status.as_u16()));
        }
        fetch::read_capped(response, self.max_body_bytes)
            .await
            .map_err(|e| self.failed(e))
    }

    /// A failed exchange in the status page's terms, with this fetcher's time limit.
    fn failed(&self, error: FetchError) -> StatusError {
        match error {
            FetchError::Timeout => StatusError::Timeout(self.timeout.as_millis() as u64),
            FetchError::Transport(text) => StatusError::Connect(text),
            FetchError::TooLarge(max) => StatusError::TooLarge(max),
        }
    }
}

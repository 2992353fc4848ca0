//! The parts every outgoing HTTP exchange shares: a client with a time limit on the whole exchange, a bounded
//! number of redirects and our user agent ([`client_builder`]); an answer's body read up to a cap
//! ([`read_capped`]); and errors as text that never carries a URL, so no credential, token or query string
//! reaches a log through them ([`FetchError`], [`describe`]).
//!
//! Callers map [`FetchError`] into their own errors, with their own time limit and wording.

use std::time::Duration;

/// Redirects followed before an exchange fails: enough for a moved page, too few for a loop to hold a fetch.
const MAX_REDIRECTS: usize = 3;

const USER_AGENT: &str = concat!("afterhours/", env!("CARGO_PKG_VERSION"));

/// Why an exchange gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FetchError {
    /// The client's time limit passed, connecting, waiting for the answer, or reading its body.
    #[error("no answer within the time limit")]
    Timeout,
    /// The exchange failed otherwise; the text is [`describe`]'s.
    #[error("{0}")]
    Transport(String),
    /// The body is over this many bytes; it is not read further.
    #[error("the answer is over {0} bytes")]
    TooLarge(usize),
}

impl From<reqwest::Error> for FetchError {
    fn from(error: reqwest::Error) -> Self {
        if error.is_timeout() {
            FetchError::Timeout
        } else {
            FetchError::Transport(describe(&error))
        }
    }
}

/// A client builder with the settings every exchange shares: `timeout` from connecting to the last byte of
/// the body (reqwest's total timeout, which covers reading the body too), the same bound on connecting, at
/// most [`MAX_REDIRECTS`] redirects, and our user agent. Callers add their own settings and build.
pub(crate) fn client_builder(timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
        .user_agent(USER_AGENT)
}

/// The body of `response`, refused as soon as it is known to be over `max_bytes`: from its `Content-Length`
/// before reading anything, else while reading, so that an answer without a length is never held whole.
pub(crate) async fn read_capped(mut response: reqwest::Response, max_bytes: usize) -> Result<Vec<u8>, FetchError> {
    let announced = response.content_length().unwrap_or(0);
    if announced > max_bytes as u64 {
        return Err(FetchError::TooLarge(max_bytes));
    }
    // At most `max_bytes` after the check above.
    let mut body = Vec::with_capacity(announced as usize);
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > max_bytes {
            return Err(FetchError::TooLarge(max_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A reqwest error as text without its URL: what kind of failure, then each cause. The URL can hold a user
/// and password, a token in its query string, or a case id in its path; headers never appear in the text.
pub(crate) fn describe(error: &reqwest::Error) -> String {
    use std::error::Error;
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_builder() {
        "cannot set up the request"
    } else if error.is_redirect() {
        "redirect not followed"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_body() || error.is_decode() {
        "reading the answer failed"
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

/// The first bytes of a body, control characters dropped: what an answer looked like, for an error that says
/// it is not what was expected.
pub(crate) fn body_start(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(40)])
        .chars()
        .filter(|c| !c.is_control())
        .collect()
}

/// `url` as it may be logged: scheme, host, port and path, without a user, password, query or fragment,
/// which may carry a token.
pub(crate) fn for_logs(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.set_query(None);
            url.set_fragment(None);
            url.to_string()
        }
        Err(_) => "(not a URL)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// A server on a free local port that answers one connection with `head` (status line and headers), then
    /// `chunks` one by one, `pause` apart, then holds the connection open for a few seconds. Its URL.
    fn one_answer(head: &'static str, chunks: Vec<Vec<u8>>, pause: Duration) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(head.as_bytes());
            for chunk in chunks {
                std::thread::sleep(pause);
                if stream.write_all(&chunk).is_err() {
                    return;
                }
            }
            std::thread::sleep(Duration::from_secs(5));
        });
        format!("http://{address}/api/v2/summary.json")
    }

    /// A chunk of `Transfer-Encoding: chunked` holding `size` bytes.
    fn chunk(size: usize) -> Vec<u8> {
        let mut chunk = format!("{size:x}\r\n").into_bytes();
        chunk.extend(std::iter::repeat_n(b'x', size));
        chunk.extend_from_slice(b"\r\n");
        chunk
    }

    async fn get(url: &str, timeout: Duration, max_bytes: usize) -> Result<Vec<u8>, FetchError> {
        let client = client_builder(timeout).build().unwrap();
        let response = client.get(url).send().await?;
        read_capped(response, max_bytes).await
    }

    const CHUNKED: &str = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";

    #[tokio::test]
    async fn a_body_within_the_cap_is_read_whole() {
        let url = one_answer(
            CHUNKED,
            vec![chunk(600), chunk(400), b"0\r\n\r\n".to_vec()],
            Duration::ZERO,
        );

        let body = get(&url, Duration::from_secs(5), 1000).await.unwrap();

        assert_eq!(body.len(), 1000);
    }

    #[tokio::test]
    async fn a_body_announced_over_the_cap_is_refused_unread() {
        let head = "HTTP/1.1 200 OK\r\ncontent-length: 5000000\r\nconnection: close\r\n\r\n";
        let url = one_answer(head, vec![], Duration::ZERO);

        assert_eq!(
            get(&url, Duration::from_secs(5), 1024).await,
            Err(FetchError::TooLarge(1024))
        );
    }

    #[tokio::test]
    async fn a_body_without_a_length_is_refused_once_it_passes_the_cap() {
        // The body never ends: only the cap can end the read before the time limit.
        let url = one_answer(CHUNKED, vec![chunk(600), chunk(600)], Duration::ZERO);
        let started = std::time::Instant::now();

        assert_eq!(
            get(&url, Duration::from_secs(5), 1000).await,
            Err(FetchError::TooLarge(1000))
        );
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn the_time_limit_covers_reading_the_body() {
        let url = one_answer(CHUNKED, vec![chunk(10), chunk(10)], Duration::from_secs(3));

        assert_eq!(
            get(&url, Duration::from_millis(300), 1000).await,
            Err(FetchError::Timeout)
        );
    }

    #[tokio::test]
    async fn a_failure_is_described_without_the_url() {
        // A port nobody listens on: bound, then let go.
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("http://alice:hunter2@127.0.0.1:{port}/cases/4711?token=s3cr3t");

        let error = get(&url, Duration::from_secs(5), 1000).await.unwrap_err();

        let FetchError::Transport(text) = &error else {
            panic!("{error:?}")
        };
        assert!(text.starts_with("connection failed"), "{text}");
        for secret in ["alice", "hunter2", "4711", "token", "s3cr3t"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }

    #[test]
    fn a_body_start_is_short_and_printable() {
        assert_eq!(body_start(b"<!DOCTYPE html>\r\n<html>"), "<!DOCTYPE html><html>");
        assert_eq!(body_start(&[b'x'; 100]).len(), 40);
    }

    #[test]
    fn a_url_is_logged_without_its_credentials_or_query() {
        assert_eq!(
            for_logs("https://user:secret@status.example.com:8443/api/v2/summary.json?token=abc#x"),
            "https://status.example.com:8443/api/v2/summary.json"
        );
        assert_eq!(for_logs("not a url"), "(not a URL)");
    }
}

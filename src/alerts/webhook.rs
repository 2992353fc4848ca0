//! A generic webhook: the alert as JSON, signed so that the receiver (a Slack or Teams relay, an in-house
//! tool) can tell it is ours and fresh. `X-Afterhours-Timestamp` is the Unix time of sending and
//! `X-Afterhours-Signature` is `v1=` and the hex HMAC-SHA256, keyed with the shared secret, of
//! `{timestamp}.{body}`. A receiver recomputes it, compares in constant time, and refuses a timestamp more
//! than five minutes old, which stops replays. Each retry is signed afresh.

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use sha2::Sha256;

use super::{Alert, JSON, Request};

pub(super) const TIMESTAMP_HEADER: &str = "x-afterhours-timestamp";
pub(super) const SIGNATURE_HEADER: &str = "x-afterhours-signature";

pub(super) fn request(url: &str, secret: &SecretString, alert: &Alert, now: DateTime<Utc>) -> Request {
    let call = alert.call();
    let body = json!({
        "event": alert.event(),
        "id": format!("{}-{}", alert.dedup_key(), alert.event()),
        "summary": alert.summary(),
        "call_sid": call.call_sid,
        "line": call.line,
        "line_name": call.line_name,
        "case": call.case,
        "customer": call.customer,
        "caller": call.caller,
        "rung": call.rung,
        "recording_url": alert.recording_url(),
        "at": call.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
    .to_string();
    let timestamp = now.timestamp().to_string();
    let signature = sign(secret, &timestamp, &body);
    Request {
        url: url.to_owned(),
        headers: vec![(TIMESTAMP_HEADER, timestamp), (SIGNATURE_HEADER, signature)],
        content_type: JSON,
        body,
    }
}

/// `v1=` and the hex HMAC-SHA256 of `{timestamp}.{body}`.
pub fn sign(secret: &SecretString, timestamp: &str, body: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.expose_secret().as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("v1={hex}")
}

#[cfg(test)]
mod tests {
    use super::super::tests::missed;
    use super::*;

    #[test]
    fn the_body_is_signed_with_the_timestamp() {
        let secret = SecretString::from("shared-secret");
        let now: DateTime<Utc> = "2026-11-28T01:00:05Z".parse().unwrap();
        let request = request("https://hooks.example.com/a", &secret, &Alert::Missed(missed()), now);
        assert_eq!(request.url, "https://hooks.example.com/a");
        assert_eq!(request.headers[0], (TIMESTAMP_HEADER, "1795827605".to_owned()));
        assert_eq!(request.headers[1].1, sign(&secret, "1795827605", &request.body));
        let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(body["event"], "missed_call");
        assert_eq!(body["caller"], "+15551234567");
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // As a receiver computes it: Python's hmac.new(b"shared-secret", b'1764291605.{"a":1}', sha256).
        let signature = sign(&SecretString::from("shared-secret"), "1764291605", "{\"a\":1}");
        assert_eq!(
            signature,
            "v1=388bb619894017b8320264d0dbb2f03c8be6f8abac9f649949da1e4a7f87c943"
        );
    }
}

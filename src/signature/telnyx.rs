//! Telnyx's request signature: Ed25519 over `{telnyx-timestamp}|{raw body}`, base64 in
//! `telnyx-signature-ed25519`, checked with the account's public key. A timestamp more than
//! [`TOLERANCE_SECS`] from now, either way, is refused: a captured webhook cannot be replayed later.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, VerifyingKey};

/// The header that carries the base64 signature.
pub const SIGNATURE_HEADER: &str = "telnyx-signature-ed25519";
/// The header that carries the Unix time the webhook was signed at, which the signature covers.
pub const TIMESTAMP_HEADER: &str = "telnyx-timestamp";
/// How far the signed time may be from ours, either way.
pub const TOLERANCE_SECS: i64 = 300;

/// Why a Telnyx webhook is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the timestamp is not a Unix time")]
    BadTimestamp,
    #[error("the timestamp is more than {TOLERANCE_SECS} s from now")]
    Stale,
    #[error("the signature is not base64 of 64 bytes")]
    BadSignature,
    #[error("the signature does not hold")]
    Wrong,
}

/// The public key from its base64 text (32 bytes, a valid curve point).
pub fn public_key(base64: &str) -> Option<VerifyingKey> {
    crate::settings::PublicKey::try_from(base64.to_owned())
        .ok()
        .map(|key| key.0)
}

/// Checks a webhook: the timestamp within [`TOLERANCE_SECS`] of `now_unix`, then the signature of
/// `{timestamp}|{body}` under `key`.
pub fn verify(key: &VerifyingKey, timestamp: &str, body: &[u8], signature: &str, now_unix: i64) -> Result<(), Refusal> {
    let signed_at: i64 = timestamp.trim().parse().map_err(|_| Refusal::BadTimestamp)?;
    if signed_at.abs_diff(now_unix) > TOLERANCE_SECS.unsigned_abs() {
        return Err(Refusal::Stale);
    }
    let bytes: [u8; 64] = BASE64
        .decode(signature.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(Refusal::BadSignature)?;
    let signature = Signature::from_bytes(&bytes);
    let mut message = Vec::with_capacity(timestamp.len() + 1 + body.len());
    message.extend_from_slice(timestamp.as_bytes());
    message.push(b'|');
    message.extend_from_slice(body);
    key.verify_strict(&message, &signature).map_err(|_| Refusal::Wrong)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_32_bytes_of_base64() {
        assert!(public_key("ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ=").is_some());
        assert!(public_key("not base64").is_none());
        assert!(public_key("AAAA").is_none());
    }

    #[test]
    fn a_timestamp_that_is_not_a_number_or_too_far_is_refused_before_the_signature() {
        let key = public_key("ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ=").unwrap();
        assert_eq!(verify(&key, "x", b"", "", 0), Err(Refusal::BadTimestamp));
        assert_eq!(verify(&key, "1000", b"", "", 1301), Err(Refusal::Stale));
        assert_eq!(verify(&key, "1301", b"", "", 1000), Err(Refusal::Stale));
        assert_eq!(verify(&key, "1300", b"", "", 1000), Err(Refusal::BadSignature));
    }
}

//! The provider's dialect: what differs between Twilio, SignalWire, Telnyx and Plivo, and nothing else. The
//! flow engine speaks Twilio's terms (its field names, its verbs); a dialect translates at the edge, in three
//! places:
//! - [`check`]: the webhook's signature on the raw request (headers, raw body, public URL), before anything
//!   of it is read;
//! - [`read`]: the webhook's fields under the names the engine reads (`CallSid`, `From`, `To`, `Digits`,
//!   `DialCallStatus`, `RecordingUrl`, `CallStatus` ...);
//! - [`render`]: the engine's verbs as the provider's voice XML.
//!
//! [`sign`] signs a webhook as the provider would: for `simulate`, `sign`, the load driver and the tests.

mod fields;
mod plivo;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

use crate::flow::engine::Params;
use crate::settings::ProviderKind;
use crate::signature;
use crate::twiml::{Flavour, Response};

/// The keys a webhook's signature is checked with.
#[derive(Clone, Copy, Default)]
pub struct Keys<'a> {
    /// Twilio's and Plivo's auth token, SignalWire's Signing Key.
    pub token: Option<&'a [u8]>,
    /// Telnyx's public key.
    pub public_key: Option<&'a VerifyingKey>,
}

/// A webhook as it came, for its signature check.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The URL the provider requested: our public base URL, then the path and query as received.
    pub url: &'a str,
    /// The raw body.
    pub body: &'a [u8],
    /// The body's form fields, decoded, in the order they came.
    pub params: &'a [(String, String)],
    /// Now, in Unix seconds (Telnyx's signatures carry the time they were made).
    pub now_unix: i64,
}

/// Why a webhook's signature does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("no {0} header")]
    Missing(&'static str),
    #[error("no key to check it with")]
    NoKey,
    #[error("wrong signature")]
    Wrong,
    #[error("{0}")]
    Telnyx(signature::telnyx::Refusal),
}

/// Which document an answer is: a call's, or Plivo's `confirmSound` (played to an engineer who answered,
/// before they press the confirm key), which may hold only `<Speak>`, `<Play>` and `<Wait>`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Document {
    #[default]
    Call,
    Confirm,
}

/// Checks the signature of `request` as `kind` signs its webhooks; `header` reads a request header.
pub fn check<'h>(
    kind: ProviderKind,
    keys: Keys<'_>,
    request: &Request<'_>,
    header: impl Fn(&str) -> Option<&'h str>,
) -> Result<(), Refused> {
    match kind {
        ProviderKind::Twilio | ProviderKind::SignalWire => {
            // SignalWire signs as Twilio does, under a header of its own (and Twilio's).
            let name = match kind {
                ProviderKind::SignalWire => signature::SIGNALWIRE_HEADER,
                _ => signature::HEADER,
            };
            let given = header(name)
                .or_else(|| header(signature::HEADER))
                .ok_or(Refused::Missing(name))?;
            let token = keys.token.ok_or(Refused::NoKey)?;
            holds(signature::is_valid(token, request.url, request.params, given))
        }
        ProviderKind::Plivo => {
            let given = header(signature::plivo::HEADER).ok_or(Refused::Missing(signature::plivo::HEADER))?;
            let nonce =
                header(signature::plivo::NONCE_HEADER).ok_or(Refused::Missing(signature::plivo::NONCE_HEADER))?;
            let token = keys.token.ok_or(Refused::NoKey)?;
            holds(signature::plivo::is_valid(
                token,
                request.url,
                request.params,
                nonce,
                given,
            ))
        }
        ProviderKind::Telnyx => {
            let given = header(signature::telnyx::SIGNATURE_HEADER)
                .ok_or(Refused::Missing(signature::telnyx::SIGNATURE_HEADER))?;
            let timestamp = header(signature::telnyx::TIMESTAMP_HEADER)
                .ok_or(Refused::Missing(signature::telnyx::TIMESTAMP_HEADER))?;
            let key = keys.public_key.ok_or(Refused::NoKey)?;
            signature::telnyx::verify(key, timestamp, request.body, given, request.now_unix).map_err(Refused::Telnyx)
        }
    }
}

fn holds(valid: bool) -> Result<(), Refused> {
    if valid { Ok(()) } else { Err(Refused::Wrong) }
}

/// A webhook as the engine reads it: its fields under Twilio's names, and the query that carries the call's
/// state.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub params: Params,
    pub query: String,
}

/// The webhook's fields (and query) in the engine's terms.
pub fn read(kind: ProviderKind, params: Params, query: &str) -> Webhook {
    match kind {
        // SignalWire's and Telnyx's TwiML-compatible webhooks use Twilio's field names and values.
        ProviderKind::Twilio | ProviderKind::SignalWire | ProviderKind::Telnyx => Webhook {
            params,
            query: query.to_owned(),
        },
        ProviderKind::Plivo => fields::plivo(&params, query),
    }
}

/// `response` as `kind`'s voice XML.
pub fn render(kind: ProviderKind, response: &Response, document: Document) -> String {
    match kind {
        ProviderKind::Twilio | ProviderKind::SignalWire => response.to_xml_as(Flavour::TwiML),
        ProviderKind::Telnyx => response.to_xml_as(Flavour::TeXML),
        ProviderKind::Plivo => plivo::render(response, document),
    }
}

/// What signs a webhook as the provider does.
#[derive(Clone)]
pub enum Signing<'a> {
    /// The HMAC key: Twilio's and Plivo's auth token, SignalWire's Signing Key; with Plivo's nonce.
    Token { token: &'a [u8], nonce: &'a str },
    /// Telnyx's private key, and the Unix time to sign at.
    Ed25519 { key: &'a SigningKey, at_unix: i64 },
}

/// Telnyx's private key from its 32-byte seed (for the tools and tests that play Telnyx).
pub fn signing_key(seed: &[u8; 32]) -> SigningKey {
    SigningKey::from_bytes(seed)
}

/// The headers that sign a POST of `body` (whose decoded fields are `params`) to `url`, as `kind` signs it.
pub fn sign(
    kind: ProviderKind,
    signing: &Signing<'_>,
    url: &str,
    body: &[u8],
    params: &[(String, String)],
) -> Vec<(&'static str, String)> {
    match (kind, signing) {
        (ProviderKind::Twilio, Signing::Token { token, .. }) => {
            vec![(signature::HEADER, signature::compute(token, url, params))]
        }
        (ProviderKind::SignalWire, Signing::Token { token, .. }) => {
            vec![(signature::SIGNALWIRE_HEADER, signature::compute(token, url, params))]
        }
        (ProviderKind::Plivo, Signing::Token { token, nonce }) => vec![
            (
                signature::plivo::HEADER,
                signature::plivo::compute(token, url, params, nonce),
            ),
            (signature::plivo::NONCE_HEADER, (*nonce).to_owned()),
        ],
        (ProviderKind::Telnyx, Signing::Ed25519 { key, at_unix }) => {
            use base64::Engine;
            let timestamp = at_unix.to_string();
            let mut message = Vec::with_capacity(timestamp.len() + 1 + body.len());
            message.extend_from_slice(timestamp.as_bytes());
            message.push(b'|');
            message.extend_from_slice(body);
            let signed = key.sign(&message);
            vec![
                (
                    signature::telnyx::SIGNATURE_HEADER,
                    base64::engine::general_purpose::STANDARD.encode(signed.to_bytes()),
                ),
                (signature::telnyx::TIMESTAMP_HEADER, timestamp),
            ]
        }
        // A key of the wrong kind signs nothing: the request goes unsigned, and is refused.
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests;

//! The providers' request signatures, computed and checked in constant time: Twilio's (`X-Twilio-Signature`,
//! which SignalWire also uses, under `X-SignalWire-Signature`) here, Plivo's V3 in [`plivo`], Telnyx's
//! Ed25519 in [`telnyx`].
//!
//! In Twilio's scheme the signed text is the full URL the provider requested (scheme, host, path, raw query) followed by every
//! POST parameter's name and value, names in byte order, with no separators. Twilio is inconsistent about
//! default ports, so a signature is accepted for the URL as given, with the default port removed, or with it
//! added (as the official helper libraries do).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

pub mod plivo;
pub mod telnyx;

/// The name of the header Twilio signs its webhooks with.
pub const HEADER: &str = "X-Twilio-Signature";

/// The name of the header SignalWire signs its webhooks with (Twilio's scheme, keyed with the project's
/// Signing Key); SignalWire sends [`HEADER`] too.
pub const SIGNALWIRE_HEADER: &str = "X-SignalWire-Signature";

/// base64(HMAC-SHA1(token, url + sorted name/value pairs)).
pub fn compute(token: &[u8], url: &str, params: &[(String, String)]) -> String {
    sign(token, url, &sorted(pairs_of(params)))
}

/// True when `signature` is the provider's signature of `url` and `params` under `token`, with the URL as
/// given, or with its default port removed or added.
pub fn is_valid(token: &[u8], url: &str, params: &[(String, String)], signature: &str) -> bool {
    matches(token, url, &sorted(pairs_of(params)), signature)
}

pub(crate) fn pairs_of(params: &[(String, String)]) -> impl Iterator<Item = (&str, &str)> {
    params.iter().map(|(name, value)| (name.as_str(), value.as_str()))
}

/// Names by byte order; a repeated name contributes each of its values, values sorted too.
pub(crate) fn sorted<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<(&'a str, &'a str)> {
    let mut sorted: Vec<_> = pairs.collect();
    sorted.sort_unstable_by(|a, b| {
        a.0.as_bytes()
            .cmp(b.0.as_bytes())
            .then(a.1.as_bytes().cmp(b.1.as_bytes()))
    });
    sorted
}

fn sign(token: &[u8], url: &str, sorted: &[(&str, &str)]) -> String {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(token).expect("HMAC takes a key of any length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    BASE64.encode(mac.finalize().into_bytes())
}

fn matches(token: &[u8], url: &str, sorted: &[(&str, &str)], signature: &str) -> bool {
    let given = signature.trim().as_bytes();
    // Each comparison is constant-time; which URL variant matched is no secret, so the first match ends the
    // check (most requests match the URL as given: one HMAC, and no copy of the URL).
    let holds = |candidate: &str| bool::from(sign(token, candidate, sorted).as_bytes().ct_eq(given));
    holds(url) || toggled_default_port(url).is_some_and(|other| holds(&other))
}

/// The URL with its scheme's default port toggled (added when absent, removed when present); none when
/// it names another port or is not HTTP.
fn toggled_default_port(url: &str) -> Option<String> {
    let (scheme, port) = if let Some(rest) = url.strip_prefix("https://") {
        ("https://", (rest, ":443"))
    } else if let Some(rest) = url.strip_prefix("http://") {
        ("http://", (rest, ":80"))
    } else {
        return None;
    };
    let (rest, default_port) = port;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    // The port, when present, follows the host (after `]` for an IPv6 literal).
    let host_end = authority.rfind(']').map_or(0, |i| i + 1);
    match authority[host_end..].rfind(':') {
        Some(i) if &authority[host_end + i..] == default_port => {
            Some(format!("{scheme}{}{tail}", &authority[..host_end + i]))
        }
        Some(_) => None, // another port: signed as it is
        None => Some(format!("{scheme}{authority}{default_port}{tail}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn twilio_example_params() -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const URL_443: &str = "https://mycompany.com:443/myapp.php?foo=1&bar=2";

    #[test]
    fn matches_twilios_published_example() {
        assert_eq!(
            compute(b"12345", URL, &twilio_example_params()),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
    }

    #[test]
    fn matches_twilios_published_example_with_port() {
        assert_eq!(
            compute(b"12345", URL_443, &twilio_example_params()),
            "kvajT1Ptam85bY51eRf/AJRuM3w="
        );
    }

    #[test]
    fn accepts_the_signature_of_the_url_with_or_without_the_default_port() {
        let params = twilio_example_params();
        assert!(is_valid(b"12345", URL, &params, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
        assert!(is_valid(b"12345", URL, &params, "kvajT1Ptam85bY51eRf/AJRuM3w="));
        assert!(is_valid(b"12345", URL_443, &params, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
        assert!(is_valid(b"12345", URL_443, &params, "kvajT1Ptam85bY51eRf/AJRuM3w="));
    }

    #[test]
    fn order_of_parameters_in_the_body_does_not_matter() {
        let mut params = twilio_example_params();
        params.reverse();
        assert_eq!(compute(b"12345", URL, &params), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    }

    #[test]
    fn rejects_a_wrong_token_a_changed_parameter_or_a_changed_query() {
        let params = twilio_example_params();
        let good = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
        assert!(!is_valid(b"54321", URL, &params, good));
        let mut changed = params.clone();
        changed[2].1 = "1235".into();
        assert!(!is_valid(b"12345", URL, &changed, good));
        assert!(!is_valid(
            b"12345",
            "https://mycompany.com/myapp.php?foo=1&bar=3",
            &params,
            good
        ));
        assert!(!is_valid(b"12345", URL, &params, ""));
        assert!(!is_valid(b"12345", URL, &params, "not base64 at all"));
    }

    #[test]
    fn an_extra_parameter_breaks_the_signature() {
        let mut params = twilio_example_params();
        params.push(("Extra".into(), "".into()));
        assert!(!is_valid(b"12345", URL, &params, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    }

    #[test]
    fn the_default_port_is_toggled_by_scheme() {
        let toggled = |url| toggled_default_port(url);
        assert_eq!(toggled("http://a.example/x").as_deref(), Some("http://a.example:80/x"));
        assert_eq!(
            toggled("https://a.example:443?q=1").as_deref(),
            Some("https://a.example?q=1")
        );
        assert_eq!(toggled("https://a.example:8443/x"), None);
        assert_eq!(toggled("https://[::1]/x").as_deref(), Some("https://[::1]:443/x"));
        assert_eq!(toggled("ftp://a.example/x"), None);
    }
}

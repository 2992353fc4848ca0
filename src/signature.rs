//! Twilio's request signature (`X-Twilio-Signature`): computing it and checking it in constant time.
//!
//! The signed text is the full URL the provider requested (scheme, host, path, raw query) followed by every
//! POST parameter's name and value, names in byte order, with no separators. Twilio is inconsistent about
//! default ports, so a signature is accepted for the URL as given, with the default port removed, or with it
//! added (as the official helper libraries do).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// The name of the header Twilio signs its webhooks with.
pub const HEADER: &str = "X-Twilio-Signature";

/// base64(HMAC-SHA1(token, url + sorted name/value pairs)).
pub fn compute(token: &[u8], url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    // Names by byte order; a repeated name contributes each of its values, values sorted too.
    sorted.sort_by(|a, b| {
        a.0.as_bytes()
            .cmp(b.0.as_bytes())
            .then(a.1.as_bytes().cmp(b.1.as_bytes()))
    });
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(token).expect("HMAC takes a key of any length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    BASE64.encode(mac.finalize().into_bytes())
}

/// True when `signature` is the provider's signature of `url` and `params` under `token`, with the URL as
/// given, or with its default port removed or added.
pub fn is_valid(token: &[u8], url: &str, params: &[(String, String)], signature: &str) -> bool {
    let given = signature.trim().as_bytes();
    // Each comparison is constant-time; which URL variant matched is no secret, so the first match ends the
    // check (most requests match the URL as given: one HMAC instead of two).
    url_variants(url)
        .iter()
        .any(|candidate| bool::from(compute(token, candidate, params).as_bytes().ct_eq(given)))
}

/// The URL as given, then with its scheme's default port toggled (added when absent, removed when present).
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    let (scheme, port) = if let Some(rest) = url.strip_prefix("https://") {
        ("https://", (rest, ":443"))
    } else if let Some(rest) = url.strip_prefix("http://") {
        ("http://", (rest, ":80"))
    } else {
        return variants;
    };
    let (rest, default_port) = port;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    // The port, when present, follows the host (after `]` for an IPv6 literal).
    let host_end = authority.rfind(']').map_or(0, |i| i + 1);
    match authority[host_end..].rfind(':') {
        Some(i) if &authority[host_end + i..] == default_port => {
            variants.push(format!("{scheme}{}{tail}", &authority[..host_end + i]));
        }
        Some(_) => {} // another port: signed as it is
        None => variants.push(format!("{scheme}{authority}{default_port}{tail}")),
    }
    variants
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
    fn default_port_variants_by_scheme() {
        assert_eq!(
            url_variants("http://a.example/x"),
            ["http://a.example/x", "http://a.example:80/x"]
        );
        assert_eq!(
            url_variants("https://a.example:443?q=1"),
            ["https://a.example:443?q=1", "https://a.example?q=1"]
        );
        assert_eq!(url_variants("https://a.example:8443/x"), ["https://a.example:8443/x"]);
        assert_eq!(
            url_variants("https://[::1]/x"),
            ["https://[::1]/x", "https://[::1]:443/x"]
        );
        assert_eq!(url_variants("ftp://a.example/x"), ["ftp://a.example/x"]);
    }
}

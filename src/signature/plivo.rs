//! Plivo's V3 request signature (`X-Plivo-Signature-V3`, with `X-Plivo-Signature-V3-Nonce`).
//!
//! The signed text of a POST is its base string, a dot and the nonce. The base string is the URL without its
//! query, then `?` and the URL's own query decoded and sorted (`name=value` joined by `&`), then, when the
//! query is not empty, a dot, then every form field as name and value with no separators, sorted. The
//! signature is base64(HMAC-SHA256(auth token, text)). The header may carry several signatures separated by
//! commas (during a token rotation): any one that matches is enough.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The header that carries the signature (or several, comma-separated).
pub const HEADER: &str = "X-Plivo-Signature-V3";
/// The header that carries the nonce that the signature covers.
pub const NONCE_HEADER: &str = "X-Plivo-Signature-V3-Nonce";

/// The V3 base string of a POST to `url` with form fields `params`, as Plivo's SDK builds it.
pub fn base_string(url: &str, params: &[(String, String)]) -> String {
    let url = url.split_once('#').map_or(url, |(before, _)| before);
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let query: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let query = super::sorted(super::pairs_of(&query));
    let fields = super::sorted(super::pairs_of(params));
    let mut text = String::with_capacity(url.len() + 256);
    text.push_str(base);
    if !query.is_empty() || !fields.is_empty() {
        text.push('?');
        for (i, (name, value)) in query.iter().enumerate() {
            if i > 0 {
                text.push('&');
            }
            text.push_str(name);
            text.push('=');
            text.push_str(value);
        }
    }
    if !query.is_empty() && !fields.is_empty() {
        text.push('.');
    }
    for (name, value) in &fields {
        text.push_str(name);
        text.push_str(value);
    }
    text
}

/// base64(HMAC-SHA256(token, base string + "." + nonce)).
pub fn compute(token: &[u8], url: &str, params: &[(String, String)], nonce: &str) -> String {
    sign(token, &base_string(url, params), nonce)
}

/// True when one of the comma-separated signatures in `header` is Plivo's V3 signature of the request.
pub fn is_valid(token: &[u8], url: &str, params: &[(String, String)], nonce: &str, header: &str) -> bool {
    let expected = compute(token, url, params, nonce);
    // Each comparison is constant-time; which of the given signatures matched is no secret.
    header
        .split(',')
        .any(|given| bool::from(expected.as_bytes().ct_eq(given.trim().as_bytes())))
}

fn sign(token: &[u8], base: &str, nonce: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(token).expect("HMAC takes a key of any length");
    mac.update(base.as_bytes());
    mac.update(b".");
    mac.update(nonce.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_base_string_sorts_the_query_and_the_fields_and_joins_them_with_a_dot() {
        let url = "https://x.example/a/b?z=1&a=x+y%26&a=0";
        assert_eq!(
            base_string(url, &fields(&[("To", "1"), ("From", "2")])),
            "https://x.example/a/b?a=0&a=x y&&z=1.From2To1"
        );
        assert_eq!(base_string(url, &[]), "https://x.example/a/b?a=0&a=x y&&z=1");
        assert_eq!(
            base_string("https://x.example/a", &fields(&[("B", ""), ("A", "1")])),
            "https://x.example/a?A1B"
        );
        assert_eq!(base_string("https://x.example/a", &[]), "https://x.example/a");
    }

    #[test]
    fn any_of_several_signatures_may_match() {
        let params = fields(&[("CallUUID", "u")]);
        let good = compute(b"t", "https://x.example/v", &params, "42");
        assert!(is_valid(
            b"t",
            "https://x.example/v",
            &params,
            "42",
            &format!("AAAA,{good}")
        ));
        assert!(is_valid(
            b"t",
            "https://x.example/v",
            &params,
            "42",
            &format!("{good}, AAAA")
        ));
        assert!(!is_valid(b"t", "https://x.example/v", &params, "43", &good));
        assert!(!is_valid(b"t", "https://x.example/v", &params, "42", ""));
        assert!(!is_valid(b"t", "https://x.example/v", &params, "42", ","));
    }
}

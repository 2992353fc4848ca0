//! The signatures of `tests/vectors/signatures.json`, made by the providers' own tools
//! (`tests/vectors/make_vectors.py`): each request passes, every one-byte change of it is refused, and so is
//! every Telnyx request signed too long ago or too far ahead.

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde_json::Value;

use super::*;
use crate::flow::engine::CallInput;

const VECTORS: &str = include_str!("../../tests/vectors/signatures.json");

fn vectors() -> Value {
    serde_json::from_str(VECTORS).expect("tests/vectors/signatures.json is JSON")
}

fn text<'v>(value: &'v Value, key: &str) -> &'v str {
    value[key].as_str().unwrap_or_else(|| panic!("{key} in {value}"))
}

/// Every variant of `bytes` with one byte changed (each bit-0 flip keeps the meaning of no form, URL or
/// base64 text: a digit becomes another, a letter another, `&`, `=`, `+`, `%`, `:` and `/` something else).
fn one_byte_changes(bytes: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    (0..bytes.len()).map(move |i| {
        let mut changed = bytes.to_vec();
        changed[i] ^= 1;
        changed
    })
}

fn as_text(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Checks a request as `kind` does, with `headers` the request's.
fn checks(kind: ProviderKind, keys: Keys<'_>, url: &str, body: &[u8], headers: &[(&str, &str)], now: i64) -> bool {
    let params = CallInput::decode(body);
    let request = Request {
        url,
        body,
        params: &params,
        now_unix: now,
    };
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    };
    check(kind, keys, &request, header).is_ok()
}

#[test]
fn signalwire_vectors_pass_and_every_one_byte_change_is_refused() {
    let vectors = vectors();
    let set = &vectors["signalwire"];
    let key = text(set, "signing_key").as_bytes();
    let keys = Keys {
        token: Some(key),
        public_key: None,
    };
    let cases = set["cases"].as_array().unwrap();
    assert!(cases.len() >= 3);
    for case in cases {
        let (url, body, signature) = (text(case, "url"), text(case, "body"), text(case, "signature"));
        for header in [signature::SIGNALWIRE_HEADER, signature::HEADER] {
            assert!(
                checks(
                    ProviderKind::SignalWire,
                    keys,
                    url,
                    body.as_bytes(),
                    &[(header, signature)],
                    0
                ),
                "{case}"
            );
        }
        // Twilio's check is the same scheme under its own header only.
        assert!(!checks(
            ProviderKind::Twilio,
            keys,
            url,
            body.as_bytes(),
            &[(signature::SIGNALWIRE_HEADER, signature)],
            0
        ));
        let signed = |url: &str, body: &[u8], signature: &str| {
            checks(
                ProviderKind::SignalWire,
                keys,
                url,
                body,
                &[(signature::SIGNALWIRE_HEADER, signature)],
                0,
            )
        };
        for changed in one_byte_changes(url.as_bytes()) {
            let changed = as_text(changed);
            assert!(!signed(&changed, body.as_bytes(), signature), "url {changed}");
        }
        for changed in one_byte_changes(body.as_bytes()) {
            assert!(!signed(url, &changed, signature), "body {}", as_text(changed.clone()));
        }
        for changed in one_byte_changes(signature.as_bytes()) {
            assert!(!signed(url, body.as_bytes(), &as_text(changed)), "signature");
        }
        assert!(!signed(url, body.as_bytes(), ""), "empty signature");
        assert!(
            !checks(ProviderKind::SignalWire, keys, url, body.as_bytes(), &[], 0),
            "no signature"
        );
        let other = Keys {
            token: Some(b"another key"),
            public_key: None,
        };
        assert!(!checks(
            ProviderKind::SignalWire,
            other,
            url,
            body.as_bytes(),
            &[(signature::SIGNALWIRE_HEADER, signature)],
            0
        ));
    }
}

#[test]
fn plivo_vectors_pass_and_every_one_byte_change_is_refused() {
    let vectors = vectors();
    let set = &vectors["plivo"];
    let token = text(set, "auth_token").as_bytes();
    let keys = Keys {
        token: Some(token),
        public_key: None,
    };
    let cases = set["cases"].as_array().unwrap();
    assert!(cases.len() >= 3);
    for case in cases {
        let (url, body, nonce) = (text(case, "url"), text(case, "body"), text(case, "nonce"));
        let (header, matching) = (text(case, "signature"), text(case, "matching"));
        let params = CallInput::decode(body.as_bytes());
        assert_eq!(
            signature::plivo::base_string(url, &params),
            text(case, "base"),
            "the SDK's base string"
        );
        let signed = |url: &str, body: &[u8], nonce: &str, header: &str| {
            checks(
                ProviderKind::Plivo,
                keys,
                url,
                body,
                &[
                    (signature::plivo::HEADER, header),
                    (signature::plivo::NONCE_HEADER, nonce),
                ],
                0,
            )
        };
        assert!(signed(url, body.as_bytes(), nonce, header), "{case}");
        assert!(signed(url, body.as_bytes(), nonce, matching), "{case}");
        for changed in one_byte_changes(url.as_bytes()) {
            let changed = as_text(changed);
            assert!(!signed(&changed, body.as_bytes(), nonce, header), "url {changed}");
        }
        for changed in one_byte_changes(body.as_bytes()) {
            assert!(
                !signed(url, &changed, nonce, header),
                "body {}",
                as_text(changed.clone())
            );
        }
        for changed in one_byte_changes(nonce.as_bytes()) {
            assert!(!signed(url, body.as_bytes(), &as_text(changed), header), "nonce");
        }
        // Of several signatures, the one that matches is the one to change.
        let start = header.find(matching).unwrap();
        for changed in one_byte_changes(matching.as_bytes()) {
            let mut whole = header.to_owned();
            whole.replace_range(start..start + matching.len(), &as_text(changed));
            assert!(!signed(url, body.as_bytes(), nonce, &whole), "signature {whole}");
        }
        assert!(
            !checks(
                ProviderKind::Plivo,
                keys,
                url,
                body.as_bytes(),
                &[(signature::plivo::HEADER, header)],
                0
            ),
            "no nonce"
        );
    }
}

#[test]
fn telnyx_vectors_pass_and_every_one_byte_change_or_stale_timestamp_is_refused() {
    let vectors = vectors();
    let set = &vectors["telnyx"];
    let key: VerifyingKey = signature::telnyx::public_key(text(set, "public_key")).expect("the vectors' key");
    // The seed the vectors were signed with gives the same public key here.
    let seed: [u8; 32] = (1..=32).collect::<Vec<u8>>().try_into().unwrap();
    assert_eq!(
        text(set, "seed_hex"),
        seed.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    assert_eq!(SigningKey::from_bytes(&seed).verifying_key(), key);
    let keys = Keys {
        token: None,
        public_key: Some(&key),
    };
    let cases = set["cases"].as_array().unwrap();
    assert!(cases.len() >= 2);
    for case in cases {
        let (url, body, signature, timestamp) = (
            text(case, "url"),
            text(case, "body"),
            text(case, "signature"),
            text(case, "timestamp"),
        );
        let at: i64 = timestamp.parse().unwrap();
        let signed = |body: &[u8], signature: &str, timestamp: &str, now: i64| {
            checks(
                ProviderKind::Telnyx,
                keys,
                url,
                body,
                &[
                    (signature::telnyx::SIGNATURE_HEADER, signature),
                    (signature::telnyx::TIMESTAMP_HEADER, timestamp),
                ],
                now,
            )
        };
        for now in [at, at - 300, at + 300] {
            assert!(signed(body.as_bytes(), signature, timestamp, now), "{case} at {now}");
        }
        for now in [at - 301, at + 301, at + 86_400, 0] {
            assert!(!signed(body.as_bytes(), signature, timestamp, now), "stale at {now}");
        }
        for changed in one_byte_changes(body.as_bytes()) {
            assert!(
                !signed(&changed, signature, timestamp, at),
                "body {}",
                as_text(changed.clone())
            );
        }
        for changed in one_byte_changes(signature.as_bytes()) {
            assert!(!signed(body.as_bytes(), &as_text(changed), timestamp, at), "signature");
        }
        for changed in one_byte_changes(timestamp.as_bytes()) {
            // The changed time, even within the tolerance, is not the one signed.
            let changed = as_text(changed);
            let now = changed.parse().unwrap_or(at);
            assert!(
                !signed(body.as_bytes(), signature, &changed, now),
                "timestamp {changed}"
            );
        }
        // Our signer signs as the vectors were signed.
        let ours = sign(
            ProviderKind::Telnyx,
            &Signing::Ed25519 {
                key: &SigningKey::from_bytes(&seed),
                at_unix: at,
            },
            url,
            body.as_bytes(),
            &[],
        );
        assert_eq!(ours[0].1, signature);
    }
}

#[test]
fn our_signer_signs_as_the_providers_tools_do() {
    let vectors = vectors();
    let sw = &vectors["signalwire"]["cases"][0];
    let key = text(&vectors["signalwire"], "signing_key").as_bytes();
    let body = text(sw, "body");
    let headers = sign(
        ProviderKind::SignalWire,
        &Signing::Token { token: key, nonce: "" },
        text(sw, "url"),
        body.as_bytes(),
        &CallInput::decode(body.as_bytes()),
    );
    assert_eq!(
        headers,
        [(signature::SIGNALWIRE_HEADER, text(sw, "signature").to_owned())]
    );
    let plivo = &vectors["plivo"]["cases"][0];
    let token = text(&vectors["plivo"], "auth_token").as_bytes();
    let body = text(plivo, "body");
    let headers = sign(
        ProviderKind::Plivo,
        &Signing::Token {
            token,
            nonce: text(plivo, "nonce"),
        },
        text(plivo, "url"),
        body.as_bytes(),
        &CallInput::decode(body.as_bytes()),
    );
    assert_eq!(headers[0].1, text(plivo, "matching"));
}

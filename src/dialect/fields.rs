//! Plivo's webhook fields under the names the engine reads (Twilio's).
//!
//! | Plivo | engine |
//! |---|---|
//! | `CallUUID` | `CallSid` |
//! | `From`, `To` (digits, no `+`) | `From`, `To` in E.164 |
//! | `ALegUUID` (an engineer's leg) | `ParentCallSid` |
//! | `DialStatus` (`timeout`, `cancel` ...) | `DialCallStatus` (`no-answer`, `canceled` ...) |
//! | `DialBLegUUID`, `DialBLegDuration` | `DialCallSid`, `DialCallDuration` |
//! | `RecordUrl` | `RecordingUrl` |
//! | `Duration` | `CallDuration` |
//! | `CallStatus` (`timeout`, `cancel` ...) | `CallStatus` (`no-answer`, `canceled` ...) |
//!
//! The `<Dial callbackUrl>` event that says an engineer's leg was bridged (`DialAction=answer`, which with
//! `confirmKey` comes only after the key) reads as the engineer pressing 1 in the whisper: `Digits=1` on
//! their leg (`DialBLegUUID`), whose parent is the caller's (`DialALegUUID`). Which engineer it was comes from
//! the number that answered (`DialBLegTo`), through the `e.NUMBER=ID` pairs the callback URL carries, into
//! the call state's `engineer`: the acceptance is then recorded as for Twilio.

use std::sync::Arc;

use super::Webhook;
use super::plivo::{ENGINEER_BY_NUMBER, ENGINEER_VAR};

/// Field renames: Plivo's name, the engine's.
const RENAMED: [(&str, &str); 7] = [
    ("CallUUID", "CallSid"),
    ("ALegUUID", "ParentCallSid"),
    ("DialStatus", "DialCallStatus"),
    ("DialBLegUUID", "DialCallSid"),
    ("DialBLegDuration", "DialCallDuration"),
    ("RecordUrl", "RecordingUrl"),
    ("Duration", "CallDuration"),
];

pub(super) fn plivo(params: &[(String, String)], query: &str) -> Webhook {
    let get = |name: &str| params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let mut mapped: Vec<(String, String)> = Vec::with_capacity(params.len() + 8);
    let mut query = query.to_owned();
    for (from, to) in RENAMED {
        if let Some(value) = get(from)
            && get(to).is_none()
        {
            let value = match to {
                "DialCallStatus" => status(value),
                _ => value,
            };
            mapped.push((to.to_owned(), value.to_owned()));
        }
    }
    for name in ["From", "To"] {
        if let Some(value) = get(name) {
            mapped.push((name.to_owned(), e164(value)));
        }
    }
    if let Some(value) = get("CallStatus") {
        mapped.push(("CallStatus".to_owned(), status(value).to_owned()));
    }
    if let Some(action) = get("DialAction") {
        // The `<Dial callbackUrl>` event: on the engineer's leg, a child of the caller's call.
        set(&mut mapped, "CallSid", get("DialBLegUUID").unwrap_or_default());
        set(&mut mapped, "ParentCallSid", get("DialALegUUID").unwrap_or_default());
        if action == "answer" {
            set(&mut mapped, "Digits", "1");
            if let Some(number) = get("DialBLegTo") {
                query = with_engineer_of(&query, &digits(number));
            }
        } else {
            set(&mut mapped, "Digits", "");
        }
    } else if get("ParentCallSid").is_none() && !mapped.iter().any(|(n, _)| n == "ParentCallSid") {
        // The `confirmSound` fetch on an engineer's leg names its A leg by one of these, when at all; the
        // request is signed and its URL is ours, so it is a leg of our dial either way.
        let parent = get("ALegRequestUUID").or(get("DialALegUUID"));
        if let Some(parent) = parent.filter(|p| !p.is_empty()) {
            mapped.push(("ParentCallSid".to_owned(), parent.to_owned()));
        } else if query.contains(&format!("{ENGINEER_VAR}=")) {
            mapped.push((
                "ParentCallSid".to_owned(),
                get("CallUUID").unwrap_or_default().to_owned(),
            ));
        }
    }
    let names: Vec<String> = mapped.iter().map(|(n, _)| n.clone()).collect();
    mapped.extend(params.iter().filter(|(n, _)| !names.contains(n)).cloned());
    Webhook {
        params: Arc::new(mapped),
        query,
    }
}

/// Sets `name` to `value`, replacing what it had.
fn set(fields: &mut Vec<(String, String)>, name: &str, value: &str) {
    fields.retain(|(n, _)| n != name);
    fields.insert(0, (name.to_owned(), value.to_owned()));
}

/// Plivo's statuses in Twilio's words (`timeout` is `no-answer`, `cancel` is `canceled`).
fn status(value: &str) -> &str {
    match value {
        "timeout" => "no-answer",
        "cancel" => "canceled",
        other => other,
    }
}

/// A number as Plivo writes it (`15551234567`) in E.164 (`+15551234567`); SIP URIs and the rest as they are.
fn e164(value: &str) -> String {
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        format!("+{value}")
    } else {
        value.to_owned()
    }
}

fn digits(number: &str) -> String {
    number.chars().filter(char::is_ascii_digit).collect()
}

/// `query` with the call state's `engineer` set to the one whose number is `number` (from the callback URL's
/// `e.NUMBER=ID` pairs); as it is when no pair names the number.
fn with_engineer_of(query: &str, number: &str) -> String {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let key = format!("{ENGINEER_BY_NUMBER}{number}");
    let Some(engineer) = pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()) else {
        return query.to_owned();
    };
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(k, _)| k != ENGINEER_VAR) {
        out.append_pair(k, v);
    }
    out.append_pair(ENGINEER_VAR, &engineer);
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn get<'a>(webhook: &'a Webhook, name: &str) -> Option<&'a str> {
        webhook.params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn a_call_reads_with_twilios_names_and_numbers() {
        let webhook = plivo(
            &fields(&[
                ("CallUUID", "u-1"),
                ("From", "15551234567"),
                ("To", "18005550100"),
                ("CallStatus", "in-progress"),
                ("Digits", "123456#"),
            ]),
            "line=us",
        );
        assert_eq!(get(&webhook, "CallSid"), Some("u-1"));
        assert_eq!(get(&webhook, "From"), Some("+15551234567"));
        assert_eq!(get(&webhook, "To"), Some("+18005550100"));
        assert_eq!(get(&webhook, "Digits"), Some("123456#"));
        assert_eq!(webhook.query, "line=us");
    }

    #[test]
    fn the_end_of_a_dial_and_a_recording_read_as_twilios() {
        let webhook = plivo(
            &fields(&[
                ("CallUUID", "u-1"),
                ("DialStatus", "timeout"),
                ("RecordUrl", "https://r"),
            ]),
            "",
        );
        assert_eq!(get(&webhook, "DialCallStatus"), Some("no-answer"));
        assert_eq!(get(&webhook, "RecordingUrl"), Some("https://r"));
    }

    #[test]
    fn a_bridged_leg_reads_as_the_engineer_pressing_1_and_names_them_by_their_number() {
        let webhook = plivo(
            &fields(&[
                ("CallUUID", "u-1"),
                ("DialAction", "answer"),
                ("DialALegUUID", "u-1"),
                ("DialBLegUUID", "b-2"),
                ("DialBLegTo", "15550100003"),
            ]),
            "line=us&e.15550100002=bob&e.15550100003=carol",
        );
        assert_eq!(get(&webhook, "Digits"), Some("1"));
        assert_eq!(get(&webhook, "CallSid"), Some("b-2"));
        assert_eq!(get(&webhook, "ParentCallSid"), Some("u-1"));
        assert!(webhook.query.ends_with("&v.engineer=carol"), "{}", webhook.query);
        let hung_up = plivo(&fields(&[("DialAction", "hangup"), ("DialALegUUID", "u-1")]), "line=us");
        assert_eq!(get(&hung_up, "Digits"), Some(""));
    }
}

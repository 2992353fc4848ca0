//! Text messages to the first tier's engineers, through the provider's Messages API: Twilio's
//! `POST {url}/2010-04-01/Accounts/{AccountSid}/Messages.json`, a form with `To`, `From` and `Body`, with
//! HTTP Basic auth of the account SID and the auth token. The account is the call's own (`AccountSid` of its
//! webhooks, which the signature vouches for), so no other credential is configured.
//!
//! One message per engineer: on the missed call, who called about what and the number to call back; on the
//! voicemail, that a message is waiting and where.

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};

use super::{Alert, Request};
use crate::phone::PhoneNumber;

const FORM: &str = "application/x-www-form-urlencoded";

pub(super) fn requests(
    base: &str,
    from: Option<&PhoneNumber>,
    auth_token: &SecretString,
    alert: &Alert,
) -> Result<Vec<Request>, String> {
    let call = alert.call();
    let account = call
        .account_sid
        .as_deref()
        .ok_or("the call's webhooks carry no AccountSid, whose Messages API sends texts")?;
    if call.first_tier.is_empty() {
        return Err("nobody is on the first tier to text".into());
    }
    let from = from.map_or(call.line_number.as_str(), PhoneNumber::as_str);
    let credentials = format!("{account}:{}", auth_token.expose_secret());
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    );
    let body = text(alert);
    let url = format!("{base}/2010-04-01/Accounts/{account}/Messages.json");
    Ok(call
        .first_tier
        .iter()
        .map(|phone| Request {
            url: url.clone(),
            headers: vec![("authorization", auth.clone())],
            content_type: FORM,
            body: form_urlencoded::Serializer::new(String::new())
                .append_pair("To", phone)
                .append_pair("From", from)
                .append_pair("Body", &body)
                .finish(),
        })
        .collect())
}

/// The message: short enough for two SMS segments in the usual case.
fn text(alert: &Alert) -> String {
    let call = alert.call();
    let case = call.case_and_customer();
    match alert {
        Alert::Missed(_) => format!(
            "afterhours: missed critical call on the {} line about {case}; nobody accepted. Call back {}. \
             The caller is asked for a voicemail.",
            call.line_name, call.caller
        ),
        Alert::Voicemail { recording_url, .. } => format!(
            "afterhours: a voicemail is waiting about {case} from {}: {recording_url}",
            call.caller
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::missed;
    use super::*;

    fn fields(request: &Request) -> Vec<(String, String)> {
        form_urlencoded::parse(request.body.as_bytes()).into_owned().collect()
    }

    #[test]
    fn each_engineer_of_the_first_tier_gets_a_text_from_the_line() {
        let mut call = missed();
        call.first_tier.push("+15550100002".into());
        let requests = requests(
            "https://api.twilio.com",
            None,
            &SecretString::from("tok"),
            &Alert::Missed(call),
        )
        .unwrap();
        assert_eq!(requests.len(), 2);
        let request = &requests[1];
        assert_eq!(
            request.url,
            "https://api.twilio.com/2010-04-01/Accounts/AC0123/Messages.json"
        );
        // base64("AC0123:tok")
        assert_eq!(
            request.headers,
            vec![("authorization", "Basic QUMwMTIzOnRvaw==".to_owned())]
        );
        let fields = fields(request);
        assert_eq!(fields[0], ("To".into(), "+15550100002".into()));
        assert_eq!(fields[1], ("From".into(), "+18005550100".into()));
        assert!(fields[2].1.contains("case 12345 (Acme Corp)") && fields[2].1.contains("Call back +15551234567"));
    }

    #[test]
    fn the_voicemail_text_says_a_message_is_waiting_and_a_target_may_send_from_its_own_number() {
        let alert = Alert::Voicemail {
            call: missed(),
            recording_url: "https://api.twilio.com/rec/RE1".into(),
        };
        let from = PhoneNumber::try_from("+18005559999".to_owned()).unwrap();
        let requests = requests("https://api.twilio.com", Some(&from), &SecretString::from("t"), &alert).unwrap();
        let fields = fields(&requests[0]);
        assert_eq!(fields[1].1, "+18005559999");
        assert_eq!(
            fields[2].1,
            "afterhours: a voicemail is waiting about case 12345 (Acme Corp) from +15551234567: https://api.twilio.com/rec/RE1"
        );
    }

    #[test]
    fn without_an_account_or_a_first_tier_nothing_is_sent() {
        let mut call = missed();
        call.account_sid = None;
        assert!(requests("u", None, &SecretString::from("t"), &Alert::Missed(call)).is_err());
        let mut call = missed();
        call.first_tier.clear();
        assert!(requests("u", None, &SecretString::from("t"), &Alert::Missed(call)).is_err());
    }
}

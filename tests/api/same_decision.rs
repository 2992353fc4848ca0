//! The same case gives the same decision whichever case system keeps it. Each row of the table is a case as
//! facts (critical or not, production or not, open or closed, its package, its contact's phone; or no case;
//! or a case system that fails); each case system writes it in its own documented JSON (generic HTTP/JSON,
//! Zendesk, Salesforce Service Cloud, Jira Service Management) behind a local fake over real HTTP; the caller
//! must hear the same on every one, on a line that requires a registered caller and on one that does not.
//!
//! Every case system runs with the same `[cases.values]`, whose critical list names each vendor's top
//! priority (`critical`, Zendesk's `urgent`, Jira's `Highest`).

use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::cases::CANNOT_BE_HELPED;
use crate::helpers::*;

/// A case as the after-hours policy sees it, before any case system writes it.
#[derive(Debug, Clone, Copy)]
struct Facts {
    critical: bool,
    production: bool,
    open: bool,
    package: &'static str,
    phone: &'static str,
}

const CRITICAL: Facts = Facts {
    critical: true,
    production: true,
    open: true,
    package: "premium",
    phone: CALLER,
};

/// What the case system holds for a case number.
#[derive(Debug, Clone, Copy)]
enum Held {
    Case(Facts),
    Nothing,
    /// The case system answers 503.
    Failing,
}

/// One row: the number typed, what the case system holds, and what the caller hears first on the line that
/// requires a registered caller and on the one that does not.
struct Row {
    number: &'static str,
    held: Held,
    registered_line: &'static str,
    open_line: &'static str,
}

const VERIFIED: &str = "is a critical incident in production.";
const NOT_CRITICAL: &str = "is not marked as critical.";
const NOT_PRODUCTION: &str = "is not about a production system.";
const CLOSED: &str = "is closed.";
const NOT_ENTITLED: &str = "Your support package does not include after-hours phone support.";
const UNVERIFIED: &str = "right now, so an engineer will decide on it with you.";

const ROWS: &[Row] = &[
    Row {
        number: "100001",
        held: Held::Case(CRITICAL),
        registered_line: VERIFIED,
        open_line: VERIFIED,
    },
    Row {
        number: "100002",
        held: Held::Case(Facts {
            critical: false,
            ..CRITICAL
        }),
        registered_line: NOT_CRITICAL,
        open_line: NOT_CRITICAL,
    },
    Row {
        number: "100003",
        held: Held::Case(Facts {
            production: false,
            ..CRITICAL
        }),
        registered_line: NOT_PRODUCTION,
        open_line: NOT_PRODUCTION,
    },
    Row {
        number: "100004",
        held: Held::Case(Facts {
            open: false,
            critical: false,
            ..CRITICAL
        }),
        registered_line: CLOSED,
        open_line: CLOSED,
    },
    Row {
        number: "100005",
        held: Held::Case(Facts {
            package: "standard",
            ..CRITICAL
        }),
        registered_line: NOT_ENTITLED,
        open_line: NOT_ENTITLED,
    },
    Row {
        number: "100006",
        held: Held::Case(Facts {
            phone: "+15559999999",
            ..CRITICAL
        }),
        registered_line: CANNOT_BE_HELPED,
        open_line: VERIFIED,
    },
    Row {
        number: "100007",
        held: Held::Nothing,
        registered_line: CANNOT_BE_HELPED,
        open_line: "We could not find case",
    },
    Row {
        number: "100008",
        held: Held::Failing,
        registered_line: UNVERIFIED,
        open_line: UNVERIFIED,
    },
];

/// What the case system holds for `number` (digits as typed, or zero-padded as Salesforce writes them).
fn held(number: &str) -> Held {
    let number = number.trim_start_matches('0');
    ROWS.iter()
        .find(|row| row.number == number)
        .map_or(Held::Nothing, |row| row.held)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Vendor {
    HttpJson,
    Zendesk,
    Salesforce,
    Jira,
}

const VENDORS: [Vendor; 4] = [Vendor::HttpJson, Vendor::Zendesk, Vendor::Salesforce, Vendor::Jira];

impl Vendor {
    /// A night line that looks cases up in this case system at `base_url`.
    fn line(self, base_url: &str) -> Spawn {
        let spawn = friday_night().cases(base_url).env(
            "AFTERHOURS_CASES__VALUES__CRITICAL",
            r#"["critical", "urgent", "sev1", "highest"]"#,
        );
        match self {
            Vendor::HttpJson => spawn,
            Vendor::Zendesk => spawn
                .env("AFTERHOURS_CASES__ADAPTER", "zendesk")
                .env("AFTERHOURS_CASES__ZENDESK__EMAIL", "oncall@example.com")
                .env("AFTERHOURS_CASES__ZENDESK__ENVIRONMENT_FIELD", "360001")
                .env("AFTERHOURS_CASES__ZENDESK__SUPPORT_PACKAGE_FIELD", "support_package")
                .env("AFTERHOURS_CASES__TOKEN", "zd-token"),
            Vendor::Salesforce => spawn
                .env("AFTERHOURS_CASES__ADAPTER", "salesforce")
                .env("AFTERHOURS_CASES__SALESFORCE__ENVIRONMENT_FIELD", "Environment__c")
                .env(
                    "AFTERHOURS_CASES__SALESFORCE__SUPPORT_PACKAGE_FIELD",
                    "Account.Support_Package__c",
                )
                .env("AFTERHOURS_CASES__CLIENT_ID", "consumer-key")
                .env("AFTERHOURS_CASES__CLIENT_SECRET", "consumer-secret"),
            Vendor::Jira => spawn
                .env("AFTERHOURS_CASES__ADAPTER", "jira")
                .env("AFTERHOURS_CASES__JIRA__EMAIL", "oncall@example.com")
                .env("AFTERHOURS_CASES__JIRA__PROJECT", "SUP")
                .env("AFTERHOURS_CASES__JIRA__ENVIRONMENT_FIELD", "customfield_10050")
                .env("AFTERHOURS_CASES__JIRA__ORGANIZATION_FIELD", "customfield_10002")
                .env("AFTERHOURS_CASES__JIRA__PHONE_FIELD", "customfield_10060")
                .env("AFTERHOURS_CASES__JIRA__SUPPORT_PACKAGE_FIELD", "customfield_10070")
                .env("AFTERHOURS_CASES__TOKEN", "jira-token"),
        }
    }

    /// The case number a lookup request asks for, `None` for any other request.
    fn asked_for(self, request: &Request) -> Option<String> {
        if request.method.as_str() != "GET" {
            return None;
        }
        let path = request.url.path();
        match self {
            Vendor::HttpJson => path.strip_prefix("/cases/").map(str::to_owned),
            Vendor::Zendesk => path
                .strip_prefix("/api/v2/tickets/")
                .and_then(|rest| rest.strip_suffix(".json"))
                .map(str::to_owned),
            Vendor::Salesforce => {
                let soql = request.url.query_pairs().find(|(k, _)| k == "q")?.1.into_owned();
                let (_, rest) = soql.split_once("CaseNumber = '")?;
                rest.split_once('\'').map(|(number, _)| number.to_owned())
            }
            Vendor::Jira => path.strip_prefix("/rest/api/3/issue/SUP-").map(str::to_owned),
        }
    }

    /// The answer to any request: a lookup as the vendor answers it, Salesforce's token, a note taken, a
    /// Zendesk user's identities.
    fn answer(self, request: &Request) -> ResponseTemplate {
        let path = request.url.path();
        if self == Vendor::Salesforce && path == "/services/oauth2/token" {
            return ResponseTemplate::new(200).set_body_json(json!({
                "access_token": "00D!AQ-token", "scope": "api", "instance_url": "https://acme.my.salesforce.com",
                "id": "https://login.salesforce.com/id/00D/005", "token_type": "Bearer", "issued_at": "1795830733000",
                "signature": "c2lnbmF0dXJl",
            }));
        }
        if self == Vendor::Zendesk && path.starts_with("/api/v2/users/") {
            return ResponseTemplate::new(200).set_body_json(zendesk_identities(path));
        }
        let Some(number) = self.asked_for(request) else {
            return ResponseTemplate::new(201).set_body_json(json!({"id": "1", "success": true, "errors": []}));
        };
        match held(&number) {
            Held::Failing => ResponseTemplate::new(503).set_body_raw("<html>Service Unavailable</html>", "text/html"),
            Held::Nothing => match self {
                Vendor::HttpJson => ResponseTemplate::new(404).set_body_json(json!({"error": "not found"})),
                Vendor::Zendesk => ResponseTemplate::new(404)
                    .set_body_json(json!({"error": "RecordNotFound", "description": "Not found"})),
                Vendor::Salesforce => {
                    ResponseTemplate::new(200).set_body_json(json!({"totalSize": 0, "done": true, "records": []}))
                }
                Vendor::Jira => ResponseTemplate::new(404).set_body_json(json!({
                    "errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {},
                })),
            },
            Held::Case(facts) => ResponseTemplate::new(200).set_body_json(self.write(&number, facts)),
        }
    }

    /// The case as this vendor writes it.
    fn write(self, number: &str, f: Facts) -> Value {
        match self {
            Vendor::HttpJson => json!({
                "id": number,
                "severity": if f.critical { "critical" } else { "high" },
                "environment": if f.production { "production" } else { "staging" },
                "status": if f.open { "open" } else { "closed" },
                "customer": "ACME Corp",
                "contact_phones": [f.phone],
                "support_package": f.package,
            }),
            Vendor::Zendesk => json!({
                "ticket": {
                    "id": number.parse::<u64>().unwrap(),
                    "priority": if f.critical { "urgent" } else { "high" },
                    "status": if f.open { "open" } else { "solved" },
                    "requester_id": number.parse::<u64>().unwrap(),
                    "organization_id": 9,
                    "custom_fields": [{"id": 360001, "value": if f.production { "production" } else { "staging" }}],
                },
                "users": [{"id": number.parse::<u64>().unwrap(), "name": "Jane Doe", "phone": f.phone}],
                "organizations": [{"id": 9, "name": "ACME Corp", "organization_fields": {"support_package": f.package}}],
            }),
            Vendor::Salesforce => json!({
                "totalSize": 1,
                "done": true,
                "records": [{
                    "attributes": {"type": "Case", "url": "/services/data/v62.0/sobjects/Case/5005g00000AbCdEAAV"},
                    "Id": "5005g00000AbCdEAAV",
                    "CaseNumber": number,
                    "Priority": if f.critical { "Critical" } else { "High" },
                    "Status": if f.open { "Escalated" } else { "Closed" },
                    "IsClosed": !f.open,
                    "Environment__c": if f.production { "Production" } else { "Staging" },
                    "Account": {"attributes": {"type": "Account"}, "Name": "ACME Corp", "Support_Package__c": f.package},
                    "Contact": {"attributes": {"type": "Contact"}, "Phone": f.phone, "MobilePhone": null},
                }],
            }),
            Vendor::Jira => json!({
                "id": "10123",
                "key": format!("SUP-{number}"),
                "fields": {
                    "priority": {"name": if f.critical { "Highest" } else { "High" }, "id": "1"},
                    "status": if f.open {
                        json!({"name": "Waiting for support", "statusCategory": {"id": 4, "key": "indeterminate", "name": "In Progress"}})
                    } else {
                        json!({"name": "Closed", "statusCategory": {"id": 3, "key": "done", "name": "Done"}})
                    },
                    "reporter": {"displayName": "Jane Doe", "accountType": "customer"},
                    "customfield_10050": {"value": if f.production { "Production" } else { "Staging" }, "id": "10100"},
                    "customfield_10002": [{"id": "1", "name": "ACME Corp", "_links": {"self": "https://acme.atlassian.net/rest/servicedeskapi/organization/1"}}],
                    "customfield_10060": f.phone,
                    "customfield_10070": {"value": f.package, "id": "10200"},
                },
            }),
        }
    }
}

/// The phone identities of Zendesk user `/api/v2/users/{id}/identities.json`: each row's requester has the
/// row's number as id, and the row's phone.
fn zendesk_identities(path: &str) -> Value {
    let user = path
        .strip_prefix("/api/v2/users/")
        .and_then(|rest| rest.split_once('/'))
        .map(|(id, _)| id)
        .unwrap_or_default();
    let identities = match held(user) {
        Held::Case(facts) => json!([{"id": 71, "user_id": user.parse::<u64>().unwrap_or(0),
            "type": "phone_number", "value": facts.phone, "primary": true, "verified": true}]),
        Held::Nothing | Held::Failing => json!([]),
    };
    json!({"identities": identities, "next_page": null, "previous_page": null, "count": 1})
}

/// A local fake of `vendor` holding every row's case.
async fn case_system(vendor: Vendor) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(move |request: &Request| vendor.answer(request))
        .mount(&server)
        .await;
    server
}

/// What the caller hears first after typing `number`.
async fn heard(app: &TestApp, number: &str) -> String {
    let first = app.incoming(CALLER, US_LINE).await;
    let twiml = app.follow(first.action(), &[("Digits", number)]).await;
    twiml.says.first().cloned().unwrap_or_default()
}

#[tokio::test]
async fn every_case_system_gives_the_same_decision_for_the_same_case() {
    // heard[row][vendor], on each line.
    let mut registered_line = vec![Vec::new(); ROWS.len()];
    let mut open_line = vec![Vec::new(); ROWS.len()];
    for vendor in VENDORS {
        let server = case_system(vendor).await;
        let registering = vendor.line(&server.uri()).start().await;
        let open = vendor
            .line(&server.uri())
            .env("AFTERHOURS_LINES__US__REQUIRE_REGISTERED_CALLER", "false")
            .start()
            .await;
        for (i, row) in ROWS.iter().enumerate() {
            registered_line[i].push((vendor, heard(&registering, row.number).await));
            open_line[i].push((vendor, heard(&open, row.number).await));
        }
    }
    for (i, row) in ROWS.iter().enumerate() {
        for (line, heard, expected) in [
            ("registered", &registered_line[i], row.registered_line),
            ("open", &open_line[i], row.open_line),
        ] {
            let (first_vendor, first) = &heard[0];
            for (vendor, said) in heard {
                assert_eq!(
                    said, first,
                    "case {} ({:?}) on the {line} line: {vendor:?} and {first_vendor:?} differ",
                    row.number, row.held
                );
                assert!(
                    said.contains(expected),
                    "case {} ({:?}) on the {line} line, {vendor:?}: {said}",
                    row.number,
                    row.held
                );
            }
        }
    }
}

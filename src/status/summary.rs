//! The Atlassian Statuspage v2 `summary.json`, read leniently, and what is announced from it: unresolved
//! incidents and maintenance in progress, in at most two sentences of our own; or, with no incident open, the
//! components the page shows out of service, for the flow's own sentence.
//!
//! Everything here is text from another system, read aloud at night: tags (HTML, SSML) are dropped, entities
//! decoded, whitespace collapsed, and every part capped, so that a status page cannot make the line speak for
//! a minute or change the voice. The text goes through TwiML escaping after this as well.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};

/// `GET /api/v2/summary.json`, the parts the announcement reads. Unknown fields are ignored, absent or `null`
/// ones are empty; `page` and `incidents` must be there, so that some other JSON is not taken for a page
/// without incidents.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Summary {
    #[expect(
        dead_code,
        reason = "never read: required only, so that other JSON is not taken for a page"
    )]
    page: Page,
    incidents: Vec<Incident>,
    #[serde(default, deserialize_with = "nullable")]
    scheduled_maintenances: Vec<Incident>,
    /// The page's overall status.
    #[serde(default, deserialize_with = "nullable")]
    status: PageStatus,
    /// Every component of the page, groups included.
    #[serde(default, deserialize_with = "nullable")]
    components: Vec<PageComponent>,
}

/// `status`: the page's overall state.
#[derive(Debug, Clone, Default, Deserialize)]
struct PageStatus {
    /// `none`, `minor`, `major`, `critical`.
    #[serde(default, deserialize_with = "nullable")]
    indicator: String,
}

/// A component as the summary lists it: a service, or a group of them (`group: true`, its members' ids in
/// `components`; each member names it in `group_id`).
#[derive(Debug, Clone, Default, Deserialize)]
struct PageComponent {
    #[serde(default, deserialize_with = "nullable")]
    id: String,
    #[serde(default, deserialize_with = "nullable")]
    name: String,
    /// `operational`, `degraded_performance`, `partial_outage`, `major_outage`, `under_maintenance`.
    #[serde(default, deserialize_with = "nullable")]
    status: String,
    #[serde(default, deserialize_with = "nullable")]
    position: i64,
    #[serde(default, deserialize_with = "nullable")]
    group: bool,
    #[serde(default, deserialize_with = "nullable")]
    group_id: String,
    #[serde(default, deserialize_with = "nullable")]
    components: Vec<String>,
}

impl PageComponent {
    /// How badly the component is doing, worst first: 0 major outage, 1 partial outage, 2 degraded
    /// performance; `None` when it works (or is under planned maintenance).
    fn trouble(&self) -> Option<u8> {
        match self.status.as_str() {
            "major_outage" => Some(0),
            "partial_outage" => Some(1),
            "degraded_performance" => Some(2),
            _ => None,
        }
    }
}

/// What a fetch has to announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Announcement {
    /// Unresolved incidents or maintenance in progress, in our words: said as it is.
    Incident(String),
    /// No incident open, but the page shows components out of service (or its indicator says major or
    /// critical): their names as spoken ("Login, API and two more"), for the flow's `{components}`.
    Outage { components: String },
}

impl std::fmt::Display for Announcement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Announcement::Incident(text) => f.write_str(text),
            Announcement::Outage { components } => write!(f, "outage without an incident, affecting {components}"),
        }
    }
}

/// The page object: nothing of it is read, only that it is there.
#[derive(Debug, Clone, Default, Deserialize)]
struct Page {}

#[derive(Debug, Clone, Default, Deserialize)]
struct Component {
    #[serde(default, deserialize_with = "nullable")]
    name: String,
}

/// An incident, or a scheduled maintenance (the same shape, with other statuses and the schedule).
#[derive(Debug, Clone, Default, Deserialize)]
struct Incident {
    #[serde(default, deserialize_with = "nullable")]
    name: String,
    /// Incidents: `investigating`, `identified`, `monitoring`, `resolved`, `postmortem`. Maintenances:
    /// `scheduled`, `in_progress`, `verifying`, `completed`.
    #[serde(default, deserialize_with = "nullable")]
    status: String,
    /// `none`, `minor`, `major`, `critical` (`maintenance` for maintenances).
    #[serde(default, deserialize_with = "nullable")]
    impact: String,
    #[serde(default, deserialize_with = "timestamp")]
    updated_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "nullable")]
    incident_updates: Vec<IncidentUpdate>,
    #[serde(default, deserialize_with = "nullable")]
    components: Vec<Component>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct IncidentUpdate {
    #[serde(default, deserialize_with = "nullable")]
    status: String,
    #[serde(default, deserialize_with = "nullable")]
    body: String,
    #[serde(default, deserialize_with = "timestamp")]
    created_at: Option<DateTime<Utc>>,
}

/// `null` read as the empty value.
fn nullable<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// An RFC 3339 time with any offset; `null` or an unreadable one is none (it only orders updates).
fn timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let text = Option::<String>::deserialize(d)?;
    Ok(text
        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc)))
}

/// Longest incident or maintenance name spoken, in characters.
const MAX_NAME: usize = 120;
/// Longest component name spoken.
const MAX_COMPONENT: usize = 60;
/// Components named before "and N more".
const MAX_COMPONENTS: usize = 3;
/// `{components}` when the page's indicator says major or critical but no component is shown in trouble.
pub(crate) const UNNAMED_COMPONENTS: &str = "some of our services";
/// Longest update sentence spoken.
const MAX_UPDATE: usize = 160;

impl Incident {
    fn is_unresolved_incident(&self) -> bool {
        !matches!(self.status.as_str(), "resolved" | "postmortem" | "completed")
    }

    fn is_maintenance_in_progress(&self) -> bool {
        matches!(self.status.as_str(), "in_progress" | "verifying")
    }

    fn impact_rank(&self) -> u8 {
        match self.impact.as_str() {
            "critical" => 3,
            "major" => 2,
            "minor" => 1,
            _ => 0,
        }
    }

    /// The update with the greatest `created_at` (the first of equals, as the page lists newest first).
    fn latest_update(&self) -> Option<&IncidentUpdate> {
        let mut latest: Option<&IncidentUpdate> = None;
        for update in &self.incident_updates {
            if latest.is_none_or(|l| update.created_at > l.created_at) {
                latest = Some(update);
            }
        }
        latest
    }

    /// " affecting Login, API and Billing", or nothing.
    fn affecting(&self) -> String {
        spoken_names(self.components.iter().map(|c| c.name.as_str()))
            .map(|names| format!(" affecting {names}"))
            .unwrap_or_default()
    }
}

/// "Login, API, Billing and two more": the names cleaned, without repeats, the first [`MAX_COMPONENTS`]
/// named; `None` when there is no name.
fn spoken_names<'a>(names: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut spoken: Vec<String> = Vec::new();
    for name in names {
        let name = clean(name, MAX_COMPONENT);
        if !name.is_empty() && !spoken.contains(&name) {
            spoken.push(name);
        }
    }
    if spoken.is_empty() {
        return None;
    }
    let more = spoken.len().saturating_sub(MAX_COMPONENTS);
    spoken.truncate(MAX_COMPONENTS);
    if more > 0 {
        spoken.push(format!("{} more", in_words(more)));
    }
    Some(english_list(&spoken))
}

/// The components in trouble, as spoken, when no incident is open but the page shows an outage: a component
/// in `major_outage` or `partial_outage`, or, with the indicator at `major` or `critical`, in
/// `degraded_performance` too. Worst first, then in the page's order. A group all of whose members are in
/// trouble is named instead of them; a group in trouble whose members the summary does not list is named
/// itself. With the indicator at `major` or `critical` and nothing named, [`UNNAMED_COMPONENTS`]; `None`
/// when the page shows no outage.
fn components_out(summary: &Summary) -> Option<String> {
    let serious = matches!(summary.status.indicator.as_str(), "major" | "critical");
    let counts = |c: &&PageComponent| c.trouble().is_some_and(|t| t < 2 || serious);
    let members = |group: &PageComponent| {
        summary
            .components
            .iter()
            .filter(|c| {
                !c.group && !group.id.is_empty() && (c.group_id == group.id || group.components.contains(&c.id))
            })
            .collect::<Vec<_>>()
    };
    let mut named: Vec<&PageComponent> = Vec::new();
    let mut covered: Vec<&str> = Vec::new();
    for group in summary.components.iter().filter(|c| c.group) {
        let members = members(group);
        let whole = members.len() > 1 && members.iter().all(counts);
        if whole || (members.is_empty() && counts(&group)) {
            named.push(group);
            covered.extend(members.iter().map(|m| m.id.as_str()));
        }
    }
    named.extend(
        summary
            .components
            .iter()
            .filter(|c| !c.group && counts(c) && !covered.contains(&c.id.as_str())),
    );
    // A group named for its members ranks as its worst member.
    let rank = |c: &PageComponent| {
        let worst = members(c).iter().filter_map(|m| m.trouble()).min();
        (worst.or(c.trouble()).unwrap_or(u8::MAX), c.position)
    };
    named.sort_by_key(|c| rank(c));
    match spoken_names(named.iter().map(|c| c.name.as_str())) {
        Some(names) => Some(names),
        None => serious.then(|| UNNAMED_COMPONENTS.to_owned()),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Incident,
    Maintenance,
}

/// What the status page has to announce, or none when all is well: the unresolved incidents (see
/// [`incident_text`]); without one, the components out of service ([`components_out`]); without those, the
/// maintenance in progress.
pub(crate) fn announcement(summary: &Summary) -> Option<Announcement> {
    let open_incident = summary.incidents.iter().any(Incident::is_unresolved_incident);
    if !open_incident && let Some(components) = components_out(summary) {
        return Some(Announcement::Outage { components });
    }
    incident_text(summary).map(Announcement::Incident)
}

/// What a caller hears about incidents and maintenance, or none when nothing is unresolved or in progress.
///
/// The first sentence names the most severe unresolved incident (the most recently updated among equals),
/// with its impact and the components it affects; or, without incidents, the maintenance in progress. The
/// second is that item's latest update, trimmed to its first sentence; or, when more is going on, how many
/// other incidents and maintenances there are.
fn incident_text(summary: &Summary) -> Option<String> {
    let mut incidents: Vec<&Incident> = summary
        .incidents
        .iter()
        .filter(|i| i.is_unresolved_incident())
        .collect();
    incidents.sort_by(|a, b| {
        b.impact_rank()
            .cmp(&a.impact_rank())
            .then(b.updated_at.cmp(&a.updated_at))
    });
    let mut maintenances: Vec<&Incident> = summary
        .scheduled_maintenances
        .iter()
        .filter(|m| m.is_maintenance_in_progress())
        .collect();
    maintenances.sort_by_key(|m| std::cmp::Reverse(m.updated_at));
    let (lead, kind) = match (incidents.first(), maintenances.first()) {
        (Some(incident), _) => (*incident, Kind::Incident),
        (None, Some(maintenance)) => (*maintenance, Kind::Maintenance),
        (None, None) => return None,
    };
    let name = clean(&lead.name, MAX_NAME);
    let named = if name.is_empty() {
        String::new()
    } else {
        format!(": {name}")
    };
    let first = match kind {
        Kind::Incident => {
            let impact = match lead.impact.as_str() {
                "critical" => "a critical",
                "major" => "a major",
                "minor" => "a minor",
                _ => "an",
            };
            format!("We are aware of {impact} incident{}{named}", lead.affecting())
        }
        Kind::Maintenance => format!("Scheduled maintenance is in progress{}{named}", lead.affecting()),
    };
    let other_incidents = incidents.len() - usize::from(kind == Kind::Incident);
    let other_maintenances = maintenances.len() - usize::from(kind == Kind::Maintenance);
    let second = if other_incidents + other_maintenances > 0 {
        Some(others(other_incidents, other_maintenances, kind))
    } else {
        update_sentence(lead)
    };
    let mut text = end_sentence(&first);
    if let Some(second) = second {
        text.push(' ');
        text.push_str(&end_sentence(&second));
    }
    Some(text)
}

/// "We are investigating: A fix is being deployed", from the latest update; none without anything to say.
fn update_sentence(lead: &Incident) -> Option<String> {
    let update = lead.latest_update();
    let status = update.map_or(lead.status.as_str(), |u| u.status.as_str());
    let phrase = match status {
        "investigating" => Some("We are investigating"),
        "identified" => Some("The cause has been identified"),
        "monitoring" => Some("We are monitoring"),
        "verifying" => Some("We are verifying the work"),
        _ => None,
    };
    let body = update.map(|u| first_sentence(&clean(&u.body, usize::MAX), MAX_UPDATE));
    match (phrase, body.filter(|b| !b.is_empty())) {
        (Some(phrase), Some(body)) => Some(format!("{phrase}: {body}")),
        (None, Some(body)) => Some(format!("Latest update: {body}")),
        (Some(phrase), None) => Some(phrase.to_owned()),
        (None, None) => None,
    }
}

/// "Also in progress: two other incidents and one scheduled maintenance".
fn others(incidents: usize, maintenances: usize, lead: Kind) -> String {
    let mut parts = Vec::new();
    if incidents > 0 {
        let noun = if incidents == 1 { "incident" } else { "incidents" };
        parts.push(format!("{} other {noun}", in_words(incidents)));
    }
    if maintenances > 0 {
        let other = if lead == Kind::Maintenance { "other " } else { "" };
        let noun = if maintenances == 1 {
            "maintenance"
        } else {
            "maintenances"
        };
        parts.push(format!("{} {other}scheduled {noun}", in_words(maintenances)));
    }
    format!("Also in progress: {}", parts.join(" and "))
}

/// "one" to "ten", then digits.
fn in_words(n: usize) -> String {
    const WORDS: [&str; 11] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    ];
    WORDS.get(n).map_or_else(|| n.to_string(), |w| (*w).to_owned())
}

/// "A", "A and B", "A, B and C".
fn english_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The text ending in one `.`, `!` or `?` (a trailing `,`, `;`, `:` or `-` dropped first).
fn end_sentence(text: &str) -> String {
    let trimmed = text.trim_end_matches(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | ':' | '-'));
    if trimmed.ends_with(['.', '!', '?']) {
        trimmed.to_owned()
    } else {
        format!("{trimmed}.")
    }
}

/// The first sentence of cleaned text (up to a `.`, `!` or `?` followed by a space or the end), at most
/// `max` characters.
fn first_sentence(text: &str, max: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    let end = chars
        .iter()
        .enumerate()
        .position(|(i, c)| matches!(c, '.' | '!' | '?') && chars.get(i + 1).is_none_or(|n| n.is_whitespace()))
        .map_or(chars.len(), |i| i + 1);
    let sentence: String = chars[..end].iter().collect();
    cap(&sentence, max)
}

/// Status page text as plain words: entities decoded, tags (HTML, SSML) dropped, control characters and runs
/// of whitespace made one space, at most `max` characters (cut at a word).
fn clean(text: &str, max: usize) -> String {
    let decoded = decode_entities(text);
    let untagged = strip_tags(&decoded);
    let mut out = String::with_capacity(untagged.len());
    for word in untagged.split(|c: char| c.is_whitespace() || c.is_control()) {
        if word.is_empty() {
            continue;
        }
        // A tag dropped before punctuation ("EU</b>.") leaves no space before it.
        if !out.is_empty() && !word.starts_with(['.', ',', ';', ':', '!', '?']) {
            out.push(' ');
        }
        out.push_str(word);
    }
    cap(&out, max)
}

/// At most `max` characters, cut after the last whole word that fits.
fn cap(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max).collect();
    let word_ends_at_cut = text.chars().nth(max).is_some_and(char::is_whitespace);
    let at_word = match cut.rfind(' ') {
        Some(space) if space > 0 && !word_ends_at_cut => &cut[..space],
        _ => cut.as_str(),
    };
    at_word
        .trim_end_matches(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | ':' | '-' | '.'))
        .to_owned()
}

/// Drops `<...>` where `<` starts a tag (a letter, `/`, `!` or `?` follows it); a lone `<` ("< 5%") stays.
/// Each tag becomes a space, so that `a<br>b` stays two words.
fn strip_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let starts_tag = after
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '/' | '!' | '?'));
        match after.find('>') {
            Some(close) if starts_tag => {
                out.push(' ');
                rest = &after[close + 1..];
            }
            _ => {
                out.push('<');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The HTML entities a status page may hold (`&amp;`, `&lt;`, `&nbsp;`, `&#39;`, `&#x2019;` ...), decoded
/// once; anything else stays as written.
fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let entity = after
            .find(';')
            .filter(|end| *end <= 10)
            .and_then(|end| decode_entity(&after[..end]).map(|c| (c, end)));
        match entity {
            Some((c, end)) => {
                out.push(c);
                rest = &after[end + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn decode_entity(name: &str) -> Option<char> {
    let numeric = |digits: &str, radix: u32| u32::from_str_radix(digits, radix).ok().and_then(char::from_u32);
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some(' '),
        _ => match name.strip_prefix('#') {
            Some(hex) if hex.starts_with(['x', 'X']) => numeric(&hex[1..], 16),
            Some(decimal) => numeric(decimal, 10),
            None => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn summary(incidents: Value, maintenances: Value) -> Summary {
        serde_json::from_value(json!({
            "page": {"id": "p1", "name": "Example", "url": "https://status.example.com",
                     "time_zone": "Etc/UTC", "updated_at": "2026-11-27T19:40:00.000-05:00"},
            "status": {"indicator": "none", "description": "All Systems Operational"},
            "components": [],
            "incidents": incidents,
            "scheduled_maintenances": maintenances,
        }))
        .unwrap()
    }

    fn incident(name: &str, status: &str, impact: &str, components: &[&str], updates: Value) -> Value {
        let components: Vec<Value> = components
            .iter()
            .map(|c| json!({"id": c.to_lowercase(), "name": c, "status": "major_outage"}))
            .collect();
        json!({
            "id": name.len().to_string(),
            "name": name,
            "status": status,
            "impact": impact,
            "created_at": "2026-11-27T19:00:00.000-05:00",
            "updated_at": "2026-11-27T19:30:00.000-05:00",
            "monitoring_at": null,
            "resolved_at": null,
            "shortlink": "http://stspg.io/abc",
            "page_id": "p1",
            "incident_updates": updates,
            "components": components,
        })
    }

    fn update(status: &str, body: &str, at: &str) -> Value {
        json!({"id": at, "status": status, "body": body, "created_at": at, "updated_at": at, "display_at": at})
    }

    fn login_outage() -> Value {
        incident(
            "Elevated error rates",
            "investigating",
            "major",
            &["Login", "API"],
            json!([
                update(
                    "identified",
                    "A fix is being deployed. More soon.",
                    "2026-11-27T19:30:00-05:00"
                ),
                update("investigating", "We are looking into it.", "2026-11-27T19:00:00-05:00"),
            ]),
        )
    }

    /// What is said about incidents: the text of an incident announcement.
    fn spoken(summary: &Summary) -> Option<String> {
        match announcement(summary)? {
            Announcement::Incident(text) => Some(text),
            other => panic!("not an incident announcement: {other:?}"),
        }
    }

    fn sentences(text: &str) -> usize {
        text.matches(['.', '!', '?']).count()
    }

    #[test]
    fn the_announcement_table() {
        let long_update = format!(
            "The database {}cluster is failing over. Second sentence.",
            "very ".repeat(60)
        );
        // 160 characters at most: "The database " and 29 whole words.
        let long_expected = format!(
            "We are aware of a major incident: Failover. We are investigating: The database {}.",
            ["very"; 29].join(" ")
        );
        let cases: Vec<(&str, Summary, Option<&str>)> = vec![
            ("no incidents", summary(json!([]), json!([])), None),
            (
                "a resolved incident and a postmortem are ignored",
                summary(
                    json!([
                        incident("Old outage", "resolved", "critical", &["API"], json!([])),
                        incident("Older outage", "postmortem", "major", &[], json!([])),
                    ]),
                    json!([]),
                ),
                None,
            ),
            (
                "a maintenance only scheduled or completed is ignored",
                summary(
                    json!([]),
                    json!([
                        incident("Database upgrade", "scheduled", "maintenance", &["Database"], json!([])),
                        incident("Network work", "completed", "maintenance", &[], json!([])),
                    ]),
                ),
                None,
            ),
            (
                "one incident: name, impact, components, then the latest update's first sentence",
                summary(json!([login_outage()]), json!([])),
                Some(
                    "We are aware of a major incident affecting Login and API: Elevated error rates. \
                     The cause has been identified: A fix is being deployed.",
                ),
            ),
            (
                "an incident without components or updates",
                summary(
                    json!([incident("Slow dashboards", "investigating", "minor", &[], json!([]))]),
                    json!([]),
                ),
                Some("We are aware of a minor incident: Slow dashboards. We are investigating."),
            ),
            (
                "impact none, four components",
                summary(
                    json!([incident(
                        "Delays",
                        "monitoring",
                        "none",
                        &["A", "B", "C", "D"],
                        json!([update("monitoring", "Recovering", "2026-11-27T19:10:00Z")])
                    )]),
                    json!([]),
                ),
                Some(
                    "We are aware of an incident affecting A, B, C and one more: Delays. \
                     We are monitoring: Recovering.",
                ),
            ),
            (
                "two incidents and a maintenance: the most severe first, then the count",
                summary(
                    json!([
                        incident("Slow dashboards", "investigating", "minor", &["Dashboards"], json!([])),
                        login_outage(),
                    ]),
                    json!([incident(
                        "Database upgrade",
                        "in_progress",
                        "maintenance",
                        &["Database"],
                        json!([])
                    )]),
                ),
                Some(
                    "We are aware of a major incident affecting Login and API: Elevated error rates. \
                     Also in progress: one other incident and one scheduled maintenance.",
                ),
            ),
            (
                "a maintenance in progress alone",
                summary(
                    json!([]),
                    json!([incident(
                        "Database upgrade",
                        "in_progress",
                        "maintenance",
                        &["Database"],
                        json!([update(
                            "in_progress",
                            "Work has started. It takes an hour.",
                            "2026-11-27T19:00:00Z"
                        )])
                    )]),
                ),
                Some(
                    "Scheduled maintenance is in progress affecting Database: Database upgrade. \
                     Latest update: Work has started.",
                ),
            ),
            (
                "tags, entities, ampersands and newlines",
                summary(
                    json!([incident(
                        "<speak><prosody rate=\"x-slow\">Login</prosody></speak> &amp; SSO <b>down</b>",
                        "identified",
                        "critical",
                        &["<i>Auth</i> & SSO"],
                        json!([update(
                            "identified",
                            "Errors &amp; timeouts for < 5% of users,\n\n  &lt;break time=\"10s\"/&gt;mostly\tin EU. Next update at 21:00.",
                            "2026-11-27T19:30:00Z"
                        )])
                    )]),
                    json!([]),
                ),
                Some(
                    "We are aware of a critical incident affecting Auth & SSO: Login & SSO down. \
                     The cause has been identified: Errors & timeouts for < 5% of users, mostly in EU.",
                ),
            ),
            (
                "a very long update is cut at a word",
                summary(
                    json!([incident(
                        "Failover",
                        "investigating",
                        "major",
                        &[],
                        json!([update("investigating", &long_update, "2026-11-27T19:30:00Z")])
                    )]),
                    json!([]),
                ),
                Some(long_expected.as_str()),
            ),
        ];
        for (what, summary, expected) in cases {
            let got = spoken(&summary);
            assert_eq!(got.as_deref(), expected, "{what}");
            if let Some(text) = got {
                assert!(sentences(&text) <= 2, "{what}: more than two sentences: {text}");
                assert!(!text.contains(['<', '>']) || text.contains("< 5%"), "{what}: {text}");
                assert!(
                    text.chars().count() <= 450,
                    "{what}: {} characters",
                    text.chars().count()
                );
            }
        }
    }

    #[test]
    fn the_latest_update_is_the_one_created_last_whatever_the_order() {
        let incident = incident(
            "Outage",
            "investigating",
            "major",
            &[],
            json!([
                update("investigating", "First look.", "2026-11-27T19:00:00Z"),
                update("monitoring", "Fixed, watching.", "2026-11-27T20:00:00Z"),
                update("identified", "Found it.", "2026-11-27T19:30:00Z"),
            ]),
        );
        let text = spoken(&summary(json!([incident]), json!([]))).unwrap();
        assert!(text.ends_with("We are monitoring: Fixed, watching."), "{text}");
    }

    #[test]
    fn among_equal_impacts_the_most_recently_updated_leads() {
        let mut older = incident("Older", "investigating", "major", &[], json!([]));
        older["updated_at"] = json!("2026-11-27T18:00:00Z");
        let newer = incident("Newer", "investigating", "major", &[], json!([]));
        let text = spoken(&summary(json!([older, newer]), json!([]))).unwrap();
        assert!(text.starts_with("We are aware of a major incident: Newer."), "{text}");
        assert!(text.ends_with("Also in progress: one other incident."), "{text}");
    }

    #[test]
    fn nulls_and_missing_fields_are_read_as_empty() {
        let summary: Summary = serde_json::from_value(json!({
            "page": {"id": "p1", "updated_at": null},
            "incidents": [{"name": "Outage", "status": "investigating", "impact": null,
                           "incident_updates": null, "components": null, "updated_at": "not a time"}],
        }))
        .unwrap();
        assert_eq!(
            spoken(&summary).as_deref(),
            Some("We are aware of an incident: Outage. We are investigating.")
        );
    }

    #[test]
    fn other_json_is_not_a_summary() {
        assert!(serde_json::from_value::<Summary>(json!({"error": "not found"})).is_err());
        assert!(serde_json::from_value::<Summary>(json!({"page": {}, "incidents": "none"})).is_err());
    }

    #[test]
    fn cleaning_keeps_words_and_drops_markup() {
        assert_eq!(clean("a<br>b", 100), "a b");
        assert_eq!(
            clean("in <b>EU</b>. Next <i>one</i> , then", 100),
            "in EU. Next one, then"
        );
        assert_eq!(clean("x < y and y > z", 100), "x < y and y > z");
        assert_eq!(clean("&lt;speak&gt;hi&lt;/speak&gt;", 100), "hi");
        assert_eq!(
            clean("AT&T &amp;amp; &#39;quoted&#x27; &bogus; &", 100),
            "AT&T &amp; 'quoted' &bogus; &"
        );
        assert_eq!(clean("unclosed <b tag", 100), "unclosed <b tag");
        assert_eq!(clean("one\u{0}two\r\nthree", 100), "one two three");
        assert_eq!(clean("abcdefghij", 4), "abcd");
        assert_eq!(clean("ab cd, ef", 6), "ab cd");
    }

    /// A page with no incident, its indicator and components as given (`(name, status)`; a name ending in
    /// `/` is a group of the names after it that start with it).
    fn page(indicator: &str, components: &[(&str, &str)]) -> Summary {
        let mut listed: Vec<Value> = Vec::new();
        for (position, (name, status)) in components.iter().enumerate() {
            let group = name.ends_with('/');
            let group_id = components
                .iter()
                .find(|(g, _)| g.ends_with('/') && !group && name.starts_with(g))
                .map(|(g, _)| Value::from(*g));
            let members: Vec<&str> = components
                .iter()
                .map(|(m, _)| *m)
                .filter(|m| group && m.starts_with(name) && m != name)
                .collect();
            listed.push(json!({
                "id": name, "name": if group { name.trim_end_matches('/') } else { name.rsplit('/').next().unwrap() }, "status": status, "position": position + 1,
                "group": group, "group_id": group_id, "components": if group { json!(members) } else { Value::Null },
                "page_id": "p1", "showcase": true, "only_show_if_degraded": false, "description": null,
            }));
        }
        serde_json::from_value(json!({
            "page": {"id": "p1", "name": "Example"},
            "status": {"indicator": indicator, "description": "whatever"},
            "components": listed,
            "incidents": [],
            "scheduled_maintenances": [],
        }))
        .unwrap()
    }

    #[test]
    fn components_in_trouble_without_an_incident_are_named() {
        let outage = |components: &str| {
            Some(Announcement::Outage {
                components: components.into(),
            })
        };
        #[rustfmt::skip]
        let cases: Vec<(&str, Summary, Option<Announcement>)> = vec![
            ("all operational", page("none", &[("Login", "operational"), ("API", "operational")]), None),
            ("degraded only, indicator minor: not an outage",
                page("minor", &[("Login", "degraded_performance")]), None),
            ("under maintenance is not an outage", page("maintenance", &[("Database", "under_maintenance")]), None),
            ("a partial outage", page("minor", &[("Login", "operational"), ("API", "partial_outage")]), outage("API")),
            ("worst first, then the page's order",
                page("major", &[("Login", "partial_outage"), ("API", "major_outage"), ("Billing", "partial_outage")]),
                outage("API, Login and Billing")),
            ("indicator major: degraded ones count too",
                page("major", &[("Login", "degraded_performance"), ("API", "major_outage")]),
                outage("API and Login")),
            ("more than three",
                page("critical", &[("A", "major_outage"), ("B", "major_outage"), ("C", "major_outage"),
                                   ("D", "major_outage"), ("E", "partial_outage")]),
                outage("A, B, C and two more")),
            ("indicator critical, nothing shown in trouble", page("critical", &[("Login", "operational")]),
                outage(UNNAMED_COMPONENTS)),
            ("a group all of whose members are out is named instead of them",
                page("major", &[("Europe/", "major_outage"), ("Europe/API", "major_outage"),
                                ("Europe/Login", "partial_outage"), ("Billing", "partial_outage")]),
                outage("Europe and Billing")),
            ("a group partly out: its members in trouble are named, not the group",
                page("minor", &[("Europe/", "partial_outage"), ("Europe/API", "partial_outage"),
                                ("Europe/Login", "operational")]),
                outage("API")),
        ];
        for (what, summary, expected) in cases {
            assert_eq!(announcement(&summary), expected, "{what}");
        }
    }

    #[test]
    fn an_open_incident_is_announced_rather_than_the_components() {
        let mut summary = page("major", &[("Login", "major_outage")]);
        summary.incidents = summary_incidents(json!([login_outage()]));
        assert!(matches!(announcement(&summary), Some(Announcement::Incident(_))));
        summary.incidents = summary_incidents(json!([incident("Old", "resolved", "major", &[], json!([]))]));
        assert_eq!(
            announcement(&summary),
            Some(Announcement::Outage {
                components: "Login".into()
            }),
            "a resolved incident is no incident"
        );
    }

    #[test]
    fn an_outage_is_announced_rather_than_a_maintenance() {
        let mut summary = page("major", &[("Login", "major_outage"), ("Database", "under_maintenance")]);
        summary.scheduled_maintenances = summary_incidents(json!([incident(
            "Upgrade",
            "in_progress",
            "maintenance",
            &["Database"],
            json!([])
        )]));
        assert_eq!(
            announcement(&summary),
            Some(Announcement::Outage {
                components: "Login".into()
            })
        );
    }

    fn summary_incidents(list: Value) -> Vec<Incident> {
        serde_json::from_value(list).unwrap()
    }
}

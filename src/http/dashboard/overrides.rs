//! The overrides: every override listed with a form to remove it, a form to add one (rotation, engineer,
//! start and end as local times in a chosen zone), and the changes made here with who made them and when.
//! An override is checked by the same function as the CLI's and the admin API's
//! ([`OnCallData::new_override`]), and its error is shown next to the field it is about, in its words.

use std::collections::BTreeSet;
use std::str::FromStr;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use maud::{Markup, html};

use super::layout::{self, when};
use super::{Operator, Posted, html};
use crate::assembly::AppState;
use crate::oncall::model::OnCallData;
use crate::store::{Change, StoreError};

/// How many of the latest changes the page shows.
const CHANGES_SHOWN: usize = 50;

/// The add form as typed, and the error of each field.
#[derive(Debug, Default, Clone)]
pub(super) struct Draft {
    rotation: String,
    engineer: String,
    start: String,
    end: String,
    zone: String,
    errors: Vec<(&'static str, String)>,
}

impl Draft {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|(f, _)| *f == field).map(|(_, e)| e.as_str())
    }
}

/// A local date and time typed into the form, in `zone`, as an instant; or the field's error. An RFC 3339
/// time with its own offset is taken as it is.
fn instant(text: &str, zone: Option<Tz>) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = crate::oncall::file::parse_instant(text) {
        return Ok(t);
    }
    let local = crate::oncall::file::parse_local(text)
        .map_err(|_| format!("invalid time {text:?}: expected a local date and time, e.g. \"2026-12-24T18:00\""))?;
    let zone = zone.ok_or_else(|| "needs a valid time zone".to_owned())?;
    zone.from_local_datetime(&local)
        .earliest()
        .map(|t| t.to_utc())
        .ok_or_else(|| format!("{text} does not exist in {} (the clocks skip it)", zone.name()))
}

/// The override a draft describes, checked against `data`; or the draft with its errors.
pub(super) fn parse_draft(
    data: &OnCallData,
    mut draft: Draft,
    now: DateTime<Utc>,
) -> Result<crate::oncall::model::Override, Box<Draft>> {
    let zone = Tz::from_str(draft.zone.trim()).ok();
    if zone.is_none() {
        draft.errors.push((
            "zone",
            format!(
                "unknown time zone {:?}: expected an IANA name such as America/New_York",
                draft.zone
            ),
        ));
    }
    let start = instant(draft.start.trim(), zone).map_err(|e| draft.errors.push(("start", e)));
    let end = instant(draft.end.trim(), zone).map_err(|e| draft.errors.push(("end", e)));
    let (Ok(start), Ok(end)) = (start, end) else {
        return Err(Box::new(draft));
    };
    if !draft.errors.is_empty() {
        return Err(Box::new(draft));
    }
    data.new_override(draft.rotation.clone(), draft.engineer.clone(), start, end, None, now)
        .map_err(|message| {
            let field = if message.starts_with("unknown rotation") {
                "rotation"
            } else if message.starts_with("unknown engineer") {
                "engineer"
            } else {
                "end"
            };
            draft.errors.push((field, message));
            Box::new(draft)
        })
}

/// `GET /dashboard/overrides`.
pub(super) async fn page(operator: Operator, State(state): State<AppState>) -> Response {
    render(&state, &operator, Draft::default(), StatusCode::OK).await
}

async fn render(state: &AppState, operator: &Operator, mut draft: Draft, status: StatusCode) -> Response {
    let store = match super::store(state) {
        Ok(store) => store,
        Err(response) => return response.into_response(),
    };
    let (data, changes) = match (store.load().await, store.changes(CHANGES_SHOWN).await) {
        (Ok(data), Ok(changes)) => (data, changes),
        (Err(error), _) | (_, Err(error)) => return super::unavailable(error),
    };
    if draft.zone.is_empty() {
        draft.zone = data
            .rotations
            .values()
            .next()
            .map_or("UTC", |r| r.time_zone.name())
            .to_owned();
    }
    let zones: BTreeSet<&str> = data
        .rotations
        .values()
        .map(|r| r.time_zone.name())
        .chain(data.engineers.values().map(|e| e.time_zone.name()))
        .chain(state.config.lines.iter().map(|l| l.tz.name()))
        .chain(["UTC"])
        .collect();
    let body = html! {
        section aria-labelledby="current" {
            h2 #current { "Current overrides" }
            div.scroll {
                table #overrides {
                    thead { tr { th { "Rotation" } th { "Engineer" } th { "From" } th { "To" } th { "Id" } th { span.muted { "Remove" } } } }
                    tbody {
                        @for (rotation_id, list) in &data.overrides {
                            @for item in list {
                                @let tz = data.rotations.get(rotation_id).map_or(chrono_tz::UTC, |r| r.time_zone);
                                tr data-override=(item.id) {
                                    td { (rotation_id) }
                                    td { (data.engineers.get(&item.engineer).map_or(item.engineer.as_str(), |e| e.name.as_str())) }
                                    td { (when(item.start, tz)) }
                                    td { (when(item.end, tz)) }
                                    td { (item.id) }
                                    td {
                                        form method="post" action="/dashboard/overrides/remove" {
                                            input type="hidden" name="csrf" value=(operator.csrf);
                                            input type="hidden" name="rotation" value=(rotation_id);
                                            input type="hidden" name="id" value=(item.id);
                                            button type="submit" aria-label={ "Remove override " (item.id) } { "Remove" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="add" {
            h2 #add { "Add an override" }
            (add_form(&data, &draft, &zones, &operator.csrf))
        }
        section aria-labelledby="changes" {
            h2 #changes { "Changes" }
            @if changes.is_empty() { p.muted { "No changes made through the dashboard yet." } }
            ul #change-list {
                @for change in &changes {
                    li { (when(change.at, chrono_tz::UTC)) " · " strong { (change.who) } " " (change.what) }
                }
            }
        }
    };
    html(status, layout::page("Overrides", operator, body))
}

fn add_form(data: &OnCallData, draft: &Draft, zones: &BTreeSet<&str>, csrf: &str) -> Markup {
    let error = |field: &str| {
        html! { @if let Some(message) = draft.error(field) { span.error id={ (field) "-error" } role="alert" { (message) } } }
    };
    let described = |field: &str| draft.error(field).map(|_| format!("{field}-error"));
    html! {
        form method="post" action="/dashboard/overrides" {
            input type="hidden" name="csrf" value=(csrf);
            label for="rotation" { "Rotation" }
            select #rotation name="rotation" aria-describedby=[described("rotation")] {
                @for rotation in data.rotations.values() {
                    option value=(rotation.id) selected[draft.rotation == rotation.id] { (rotation.name) " (" (rotation.id) ")" }
                }
            }
            (error("rotation"))
            label for="engineer" { "Engineer" }
            select #engineer name="engineer" aria-describedby=[described("engineer")] {
                @for engineer in data.engineers.values() {
                    option value=(engineer.id) selected[draft.engineer == engineer.id] { (engineer.name) " (" (engineer.id) ")" }
                }
            }
            (error("engineer"))
            label for="start" { "Start (local time in the zone below)" }
            input #start name="start" type="datetime-local" required value=(draft.start) aria-describedby=[described("start")];
            (error("start"))
            label for="end" { "End" }
            input #end name="end" type="datetime-local" required value=(draft.end) aria-describedby=[described("end")];
            (error("end"))
            label for="zone" { "Time zone" }
            input #zone name="zone" type="text" list="zones" required value=(draft.zone) aria-describedby=[described("zone")];
            datalist #zones { @for zone in zones { option value=(zone) {} } }
            (error("zone"))
            div { button type="submit" { "Add override" } }
        }
    }
}

/// `POST /dashboard/overrides`: adds the override, records the change, and shows the page again; with
/// errors, the form again with each next to its field (422).
pub(super) async fn add(State(state): State<AppState>, posted: Posted) -> Response {
    let draft = Draft {
        rotation: posted.field("rotation").to_owned(),
        engineer: posted.field("engineer").to_owned(),
        start: posted.field("start").to_owned(),
        end: posted.field("end").to_owned(),
        zone: posted.field("zone").to_owned(),
        errors: Vec::new(),
    };
    let (store, data) = match super::on_call_data(&state).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let now = state.clock.now();
    let item = match parse_draft(&data, draft, now) {
        Ok(item) => item,
        Err(draft) => return render(&state, &posted.operator, *draft, StatusCode::UNPROCESSABLE_ENTITY).await,
    };
    match store.add_override(item.clone()).await {
        Ok(()) => {}
        Err(StoreError::NotFound { .. }) => {
            let draft = Draft {
                errors: vec![("rotation", format!("unknown rotation {:?}", item.rotation))],
                ..Draft::default()
            };
            return render(&state, &posted.operator, draft, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
        Err(error) => return super::unavailable(error),
    }
    let tz = data
        .rotations
        .get(&item.rotation)
        .map_or(chrono_tz::UTC, |r| r.time_zone);
    let what = format!(
        "added override {} ({} on {} from {} to {})",
        item.id,
        item.engineer,
        item.rotation,
        when(item.start, tz),
        when(item.end, tz)
    );
    record(&state, store, &posted.operator, what).await
}

/// `POST /dashboard/overrides/remove`: removes one override and records the change.
pub(super) async fn remove(State(state): State<AppState>, posted: Posted) -> Response {
    let (rotation, id) = (posted.field("rotation").to_owned(), posted.field("id").to_owned());
    let store = match super::store(&state) {
        Ok(store) => store,
        Err(response) => return response.into_response(),
    };
    match store.remove_override(&rotation, &id).await {
        Ok(true) => {
            record(
                &state,
                store,
                &posted.operator,
                format!("removed override {id} from {rotation}"),
            )
            .await
        }
        Ok(false) => {
            let message = format!("rotation {rotation:?} has no override {id:?}");
            html(
                StatusCode::NOT_FOUND,
                layout::page("Overrides", &posted.operator, layout::problem(&message)),
            )
        }
        Err(error) => super::unavailable(error),
    }
}

/// Records a change with who made it, and goes back to the page.
async fn record(state: &AppState, store: &dyn crate::store::Store, operator: &Operator, what: String) -> Response {
    let change = Change {
        at: state.clock.now(),
        who: operator.session.name.clone(),
        what,
    };
    tracing::info!(operator = change.who, change = change.what, "dashboard: on-call change");
    if let Err(error) = store.record_change(&change).await {
        // The change itself is made: say so, but do not hide it.
        tracing::error!(%error, "dashboard: the change is made but could not be recorded");
    }
    Redirect::to("/dashboard/overrides").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(start: &str, end: &str, zone: &str) -> Draft {
        Draft {
            rotation: "primary".into(),
            engineer: "bob".into(),
            start: start.into(),
            end: end.into(),
            zone: zone.into(),
            errors: Vec::new(),
        }
    }

    fn data() -> OnCallData {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/oncall.toml");
        crate::oncall::file::load(&path).unwrap()
    }

    #[test]
    fn local_times_are_read_in_the_chosen_zone() {
        let now = Utc::now();
        let item = parse_draft(
            &data(),
            draft("2026-12-01T18:00", "2026-12-02T09:00", "Europe/London"),
            now,
        )
        .unwrap();
        assert_eq!(item.start.to_rfc3339(), "2026-12-01T18:00:00+00:00");
        let item = parse_draft(
            &data(),
            draft("2026-12-01T18:00", "2026-12-02T09:00", "America/New_York"),
            now,
        )
        .unwrap();
        assert_eq!(item.start.to_rfc3339(), "2026-12-01T23:00:00+00:00");
    }

    #[test]
    fn each_error_is_put_next_to_its_field_in_the_clis_words() {
        let now = Utc::now();
        let wrong = parse_draft(&data(), draft("2026-12-02T09:00", "2026-12-01T18:00", "UTC"), now).unwrap_err();
        assert!(
            wrong
                .error("end")
                .is_some_and(|e| e.contains("ends") && e.contains("before it starts"))
        );
        let mut unknown = draft("2026-12-01T18:00", "2026-12-02T09:00", "Mars/Olympus");
        unknown.engineer = "zed".into();
        let wrong = parse_draft(&data(), unknown, now).unwrap_err();
        assert!(wrong.error("zone").is_some_and(|e| e.contains("unknown time zone")));
        let mut unknown = draft("2026-12-01T18:00", "2026-12-02T09:00", "UTC");
        unknown.engineer = "zed".into();
        let wrong = parse_draft(&data(), unknown, now).unwrap_err();
        assert_eq!(wrong.error("engineer"), Some("unknown engineer \"zed\""));
        let wrong = parse_draft(&data(), draft("tomorrow", "2026-12-02T09:00", "UTC"), now).unwrap_err();
        assert!(wrong.error("start").is_some_and(|e| e.contains("invalid time")));
    }
}

//! The rotations: each rotation's shifts over the next four weeks, as the on-call model computes them, with
//! the stretches that overrides take marked. Who is on call in each stretch is the model's own answer
//! ([`OnCallData::on_call_in`]), so the page never disagrees with who is rung. A rotation that follows an
//! outside calendar says how its last fetch went, and which of its events match no engineer (never rung),
//! in the words of `check`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use maud::html;

use super::layout::{self, when};
use super::{Operator, html};
use crate::assembly::AppState;
use crate::oncall::model::{OnCallData, Rotation};

/// How far ahead the page looks.
const WEEKS: i64 = 4;
/// At most this many stretches per rotation, so a short shift cannot make a page without end.
const MAX_STRETCHES: usize = 500;

/// One stretch with one engineer on call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stretch {
    pub(super) start: DateTime<Utc>,
    pub(super) end: DateTime<Utc>,
    /// The engineer's id; none when the rotation has nobody then.
    pub(super) engineer: Option<String>,
    /// The override that puts them there, if one does.
    pub(super) override_id: Option<String>,
}

/// The stretches of `rotation` from the shift that holds `from` to the first bound at or after `until`:
/// split at every handoff and at every override's start and end.
pub(super) fn stretches(
    data: &OnCallData,
    rotation: &Rotation,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<Stretch> {
    let mut bounds = Vec::new();
    let (_, mut bound, _) = rotation.shift_at(from);
    while bound < until && bounds.len() < MAX_STRETCHES {
        bounds.push(bound);
        bound = rotation.shift_at(bound).2;
    }
    bounds.push(bound);
    let (first, last) = (bounds[0], bound);
    let overrides = data.overrides.get(&rotation.id).map(Vec::as_slice).unwrap_or_default();
    bounds.extend(
        overrides
            .iter()
            .flat_map(|o| [o.start, o.end])
            .filter(|t| first < *t && *t < last),
    );
    bounds.sort_unstable();
    bounds.dedup();
    bounds
        .windows(2)
        .take(MAX_STRETCHES)
        .map(|pair| {
            let (start, end) = (pair[0], pair[1]);
            let override_id = overrides
                .iter()
                .filter(|o| o.start <= start && start < o.end)
                .max_by_key(|o| (o.created, o.id.clone()))
                .map(|o| o.id.clone());
            Stretch {
                start,
                end,
                engineer: data.on_call_in(&rotation.id, start).map(|p| p.engineer.id),
                override_id,
            }
        })
        .collect()
}

/// `GET /dashboard/rotations`.
pub(super) async fn page(operator: Operator, State(state): State<AppState>) -> Response {
    let (store, data) = match super::on_call_data(&state).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let now = state.clock.now();
    let until = now + Duration::weeks(WEEKS);
    let mut calendars = std::collections::BTreeMap::new();
    for rotation in data.rotations.values().filter(|r| r.source.is_some()) {
        let problems = match store.calendar(&rotation.id).await {
            Ok(copy) => {
                let fetched = copy.as_ref().and_then(|c| c.health.last_success);
                (fetched, crate::store::calendars::problems(&rotation.id, copy.as_ref()))
            }
            Err(error) => (None, vec![format!("its outside calendar cannot be read: {error}")]),
        };
        calendars.insert(rotation.id.clone(), problems);
    }
    let name = |id: &Option<String>| match id {
        Some(id) => data.engineers.get(id).map_or(id.clone(), |e| e.name.clone()),
        None => "nobody".to_owned(),
    };
    let body = html! {
        p.muted { "The next " (WEEKS) " weeks. Rows marked “override” are taken by an override." }
        @for rotation in data.rotations.values() {
            section aria-labelledby={ "rotation-" (rotation.id) } {
                h2 id={ "rotation-" (rotation.id) } { (rotation.name) span.muted { " · " (rotation.id) " · " (rotation.shift) " · " (rotation.time_zone.name()) } }
                @if let Some((fetched, problems)) = calendars.get(&rotation.id) {
                    p.muted {
                        "Follows an outside calendar"
                        @if let Some(at) = fetched { ", last fetched well " (when(*at, rotation.time_zone)) }
                        "."
                    }
                    @if !problems.is_empty() {
                        ul.bad role="alert" { @for problem in problems { li { (problem) } } }
                    }
                }
                div.scroll {
                    table {
                        thead { tr { th { "From" } th { "To" } th { "On call" } th { "Override" } } }
                        tbody {
                            @for stretch in stretches(&data, rotation, now, until) {
                                tr class=[stretch.override_id.as_ref().map(|_| "override")] {
                                    td { (when(stretch.start, rotation.time_zone)) }
                                    td { (when(stretch.end, rotation.time_zone)) }
                                    td { (name(&stretch.engineer)) }
                                    td { @if let Some(id) = &stretch.override_id { "override " (id) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    html(StatusCode::OK, layout::page("Rotations", &operator, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oncall::model::Override;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn an_override_splits_the_shift_it_falls_in_and_is_marked() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/oncall.toml");
        let mut data = crate::oncall::file::load(&path).unwrap();
        let rotation = data.rotations["primary"].clone();
        let (from, until) = (at("2026-11-27T20:00:00-05:00"), at("2026-12-20T20:00:00-05:00"));
        let plain = stretches(&data, &rotation, from, until);
        assert!(plain.iter().all(|s| s.override_id.is_none()));
        assert!(plain.first().unwrap().start <= from && plain.last().unwrap().end >= until);
        let engineer = plain[0].engineer.clone().unwrap();
        let other = data.engineers.keys().find(|e| **e != engineer).unwrap().clone();
        data.overrides.entry("primary".into()).or_default().push(Override {
            id: "swap".into(),
            rotation: "primary".into(),
            engineer: other.clone(),
            start: at("2026-11-28T08:00:00-05:00"),
            end: at("2026-11-28T20:00:00-05:00"),
            created: from,
        });
        let split = stretches(&data, &rotation, from, until);
        assert_eq!(split.len(), plain.len() + 2);
        let marked: Vec<&Stretch> = split.iter().filter(|s| s.override_id.is_some()).collect();
        assert_eq!(marked.len(), 1);
        assert_eq!(marked[0].engineer.as_deref(), Some(other.as_str()));
        assert_eq!(marked[0].start, at("2026-11-28T08:00:00-05:00"));
    }
}

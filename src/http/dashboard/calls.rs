//! The calls: the call log newest first, filtered by line, case and outcome (the call's decision), a page
//! at a time; and one call's page with its timeline. Times are in the line's zone; callers are masked.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono_tz::Tz;
use maud::{Markup, html};

use super::layout::{self, when};
use super::{Operator, html};
use crate::assembly::AppState;
use crate::calllog::CallRecord;
use crate::phone::mask;

/// Calls per page.
const PER_PAGE: usize = 50;
/// The most records read from the log for one page: the log's own cap is of the same order.
const MAX_READ: usize = 10_000;

/// The filters of the list, as the query gives them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Filters {
    line: String,
    case: String,
    outcome: String,
    page: usize,
}

impl Filters {
    fn from_query(query: Option<&str>) -> Self {
        let mut filters = Filters::default();
        for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let value = value.trim().to_owned();
            match key.as_ref() {
                "line" => filters.line = value,
                "case" => filters.case = value,
                "outcome" => filters.outcome = value,
                "page" => filters.page = value.parse().unwrap_or(0),
                _ => {}
            }
        }
        filters
    }

    fn keeps(&self, record: &CallRecord) -> bool {
        let is = |key: &str, wanted: &str| wanted.is_empty() || record.summary.get(key).is_some_and(|v| v == wanted);
        is("line", &self.line) && is("case", &self.case) && is("decision", &self.outcome)
    }

    /// The query of page `page` with the same filters.
    fn query(&self, page: usize) -> String {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("line", &self.line)
            .append_pair("case", &self.case)
            .append_pair("outcome", &self.outcome)
            .append_pair("page", &page.to_string())
            .finish()
    }
}

/// The zone of the line a record names, UTC when it names none that exists.
fn zone(state: &AppState, record: &CallRecord) -> Tz {
    record
        .summary
        .get("line")
        .and_then(|key| state.config.lines.by_key(key))
        .map_or(chrono_tz::UTC, |line| line.tz)
}

/// `GET /dashboard/calls?line=&case=&outcome=&page=`.
pub(super) async fn list(operator: Operator, State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let filters = Filters::from_query(query.as_deref());
    let store = match super::store(&state) {
        Ok(store) => store,
        Err(response) => return response.into_response(),
    };
    let records = match store.calls(None, MAX_READ).await {
        Ok(records) => records,
        Err(error) => return super::unavailable(error),
    };
    let mut outcomes: Vec<&str> = records
        .iter()
        .filter_map(|r| r.summary.get("decision").map(String::as_str))
        .collect();
    outcomes.sort_unstable();
    outcomes.dedup();
    let kept: Vec<&CallRecord> = records.iter().filter(|r| filters.keeps(r)).collect();
    let pages = kept.len().div_ceil(PER_PAGE).max(1);
    let page = filters.page.min(pages - 1);
    let shown = kept.iter().skip(page * PER_PAGE).take(PER_PAGE);
    let body = html! {
        form.filters method="get" action="/dashboard/calls" {
            div {
                label for="line" { "Line" }
                select #line name="line" {
                    option value="" { "any" }
                    @for line in state.config.lines.iter() {
                        option value=(line.key) selected[filters.line == line.key] { (line.name) }
                    }
                }
            }
            div {
                label for="case" { "Case" }
                input #case name="case" type="text" inputmode="numeric" value=(filters.case);
            }
            div {
                label for="outcome" { "Outcome" }
                select #outcome name="outcome" {
                    option value="" { "any" }
                    @for outcome in &outcomes {
                        option value=(outcome) selected[filters.outcome == *outcome] { (outcome) }
                    }
                }
            }
            div { button type="submit" { "Filter" } }
        }
        p.muted { (kept.len()) (if kept.len() == 1 { " call" } else { " calls" }) " · page " (page + 1) " of " (pages) }
        div.scroll {
            table #calls {
                thead { tr {
                    th { "When" } th { "Line" } th { "Caller" } th { "Case" } th { "Decision" }
                    th { "Rung" } th { "Accepted" } th { "Voicemail" } th { "Duration" }
                } }
                tbody {
                    @for record in shown { (row(&state, record)) }
                }
            }
        }
        nav aria-label="Pages" {
            @if page > 0 { a href={ "/dashboard/calls?" (filters.query(page - 1)) } rel="prev" { "Newer" } " " }
            @if page + 1 < pages { a href={ "/dashboard/calls?" (filters.query(page + 1)) } rel="next" { "Older" } }
        }
    };
    html(StatusCode::OK, layout::page("Calls", &operator, body))
}

fn row(state: &AppState, record: &CallRecord) -> Markup {
    let get = |key: &str| record.summary.get(key).map_or("", String::as_str);
    let tz = zone(state, record);
    html! {
        tr {
            td {
                a href={ "/dashboard/calls/" (record.call_sid) } {
                    (record.started.map_or_else(|| "-".to_owned(), |t| when(t, tz)))
                }
            }
            td { (get("line")) }
            td { (mask(get("from"))) }
            td { (get("case")) }
            td { (get("decision")) }
            td { (get("dialled")) }
            td { (get("accepted")) }
            td { @if record.summary.contains_key("recording") { "yes" } }
            td { @if let Some(secs) = record.duration_secs { (secs) " s" } }
        }
    }
}

/// `GET /dashboard/calls/{sid}`: one call, with every decision and its time.
pub(super) async fn one(operator: Operator, State(state): State<AppState>, Path(sid): Path<String>) -> Response {
    let store = match super::store(&state) {
        Ok(store) => store,
        Err(response) => return response.into_response(),
    };
    let records = match store.calls(None, MAX_READ).await {
        Ok(records) => records,
        Err(error) => return super::unavailable(error),
    };
    let Some(record) = records.iter().find(|r| r.call_sid == sid) else {
        return html(
            StatusCode::NOT_FOUND,
            layout::page("Call", &operator, layout::problem("no such call in the log")),
        );
    };
    let tz = zone(&state, record);
    let get = |key: &str| record.summary.get(key).map_or("", String::as_str);
    let body = html! {
        dl {
            dt { "Call" } dd { (record.call_sid) }
            dt { "Line" } dd { (get("line")) }
            dt { "Caller" } dd { (mask(get("from"))) }
            dt { "Case" } dd { (get("case")) }
            dt { "Decision" } dd { (get("decision")) }
            dt { "Rung" } dd { (get("dialled")) }
            dt { "Accepted" } dd { (get("accepted")) }
            dt { "Status" } dd { (record.status.as_deref().unwrap_or("")) }
            dt { "Duration" } dd { @if let Some(secs) = record.duration_secs { (secs) " s" } }
        }
        h2 { "Timeline" }
        ol #timeline {
            @for event in &record.events {
                li { time datetime=(event.at.to_rfc3339()) { (when(event.at, tz)) } " — " (event.what) }
            }
        }
        p { a href="/dashboard/calls" { "All calls" } }
    };
    html(StatusCode::OK, layout::page("Call", &operator, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_keep_what_they_name_and_survive_paging() {
        let filters = Filters::from_query(Some("line=us&case=123&outcome=&page=2"));
        assert_eq!(filters.page, 2);
        let mut record = CallRecord::default();
        record.summary.insert("line".into(), "us".into());
        assert!(!filters.keeps(&record), "no case");
        record.summary.insert("case".into(), "123".into());
        assert!(filters.keeps(&record));
        assert_eq!(Filters::from_query(Some(&filters.query(2))), filters);
    }
}

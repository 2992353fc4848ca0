//! The overview: one row per line (open or after hours and until when, the status page's announcement, who
//! is on call tier by tier, until when, and who is next), and the replica's readiness (Redis, the on-call
//! cache's age, the case system's latest lookup).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::layout::{self, when};
use super::{Operator, html};
use crate::assembly::AppState;
use crate::flow::line::Line;
use crate::oncall::model::{OnCall, OnCallData};
use crate::status::Reading;
use crate::store::cache::StoreHealth;

/// `GET /dashboard`.
pub(super) async fn page(operator: Operator, State(state): State<AppState>) -> Response {
    let now = state.clock.now();
    // The store's data, else the cached copy a call would use through an outage.
    let (data, from_cache) = match super::store(&state) {
        Ok(store) => match store.load().await {
            Ok(data) => (Some(Arc::new(data)), false),
            Err(error) => {
                tracing::warn!(%error, "dashboard: the on-call store; showing the cached copy");
                (state.services.oncall_cache.get().map(|(_, data)| data), true)
            }
        },
        Err(_) => (state.services.oncall_cache.get().map(|(_, data)| data), true),
    };
    let body = html! {
        @if from_cache {
            (layout::problem("The on-call store did not answer: on call as of the cached copy."))
        }
        section aria-labelledby="lines" {
            h2 #lines { "Lines" }
            div.scroll {
                table {
                    thead { tr { th { "Line" } th { "Now" } th { "Status page" } th { "On call" } } }
                    tbody {
                        @for line in state.config.lines.iter() {
                            (line_row(&state, line, data.as_deref(), now))
                        }
                    }
                }
            }
        }
        section aria-labelledby="readiness" {
            h2 #readiness { "Readiness" }
            (readiness(&state))
        }
    };
    html(StatusCode::OK, layout::page("Overview", &operator, body))
}

fn line_row(state: &AppState, line: &Line, data: Option<&OnCallData>, now: DateTime<Utc>) -> Markup {
    let open = line.calendar.is_business_time(line.tz, now);
    let change = line.calendar.next_change(line.tz, now);
    let announcement = state.services.status.as_ref().map(|status| status.read(now));
    let chain = data.and_then(|d| d.on_call(&line.escalation_policy, now));
    html! {
        tr data-line=(line.key) {
            td { strong { (line.name) } br; span.muted { (line.key) " · " (line.number.as_str()) } }
            td {
                @if open { span.ok { "Open" } } @else { span.bad { "After hours" } }
                @if let Some(change) = change {
                    br;
                    span.muted {
                        (if open { "closes " } else { "opens " })
                        (when(change.to_utc(), line.tz))
                    }
                }
            }
            td {
                @match announcement {
                    None => span.muted { "no status page" },
                    Some(Reading::NotFetched) => span.muted { "not fetched yet" },
                    Some(Reading::Stale { age_secs }) => span.bad { "stale (" (age_secs) " s old)" },
                    Some(Reading::Clear { .. }) => span.muted { "nothing announced" },
                    Some(Reading::Announce { announcement, .. }) => { (announcement.to_string()) },
                }
            }
            td {
                @match (data, &chain) {
                    (None, _) => span.bad { "no on-call data" },
                    (Some(_), None) => span.bad { "policy " (line.escalation_policy) " is not in the store" },
                    (Some(data), Some(chain)) => {
                        ol.tiers {
                            @for tier in &chain.tiers {
                                li {
                                    @if tier.people.is_empty() {
                                        span.muted { @if tier.case_tam { "the case's TAM, for a verified case" } @else { "nobody" } }
                                    }
                                    @for (i, person) in tier.people.iter().enumerate() {
                                        @if i > 0 { "; " }
                                        (person_on_call(data, person, line))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One person on call: name, until when, and who takes over then.
fn person_on_call(data: &OnCallData, person: &OnCall, line: &Line) -> Markup {
    let next = match (&person.rotation, person.until) {
        (Some(rotation), Some(until)) => data.on_call_in(rotation, until).map(|p| p.engineer.name),
        _ => None,
    };
    html! {
        strong.oncall { (person.engineer.name) }
        @if let Some(rotation) = &person.rotation { span.muted { " (" (rotation) ")" } }
        @if let Some(until) = person.until { " until " (when(until, line.tz)) }
        @if let Some(next) = next { ", then " (next) }
    }
}

fn readiness(state: &AppState) -> Markup {
    let cache = &state.services.oncall_cache;
    let redis = match state.config.settings.redis.configured_url() {
        None => ("embedded store (no Redis configured)", true),
        Some(_) => match cache.store_health() {
            StoreHealth::Answering => ("answering", true),
            StoreHealth::Unknown => ("starting", true),
            StoreHealth::Down => ("down: calls use the cached chain or the fallback numbers", false),
            StoreHealth::LostData => ("lost its data: calls use the cached chain", false),
        },
    };
    let cache_age = cache.get().map(|(age, _)| age.as_secs());
    let lookup = state.services.last_lookup.get();
    html! {
        dl {
            dt { "Redis" }
            dd { span class=(if redis.1 { "ok" } else { "bad" }) { (redis.0) } }
            dt { "On-call cache" }
            dd { @match cache_age { Some(age) => { (age) " s old" }, None => span.muted { "not filled yet" } } }
            dt { "Case system, latest lookup" }
            dd {
                @match lookup {
                    None => span.muted { "none since the process started" },
                    Some(lookup) => {
                        span class=(if lookup.answered { "ok" } else { "bad" }) { (lookup.outcome) }
                        " at " (when(lookup.at, chrono_tz::UTC))
                    }
                }
            }
        }
    }
}

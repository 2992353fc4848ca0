//! Keeping the outside calendars of rotations ([`crate::oncall::import`]) in the store: fetch, keep the last
//! good copy, read it into shifts, record how the fetch went. Every replica runs it; they all write the
//! same kind of copy, so whichever wrote last, they agree, and a restart finds the copy in the store.
//!
//! A feed that is down, answers an error or answers something that is not iCalendar leaves the last good
//! copy in place; its shifts are read again from that copy (so the window moves on) and the failure is
//! recorded in the [`CalendarHealth`](crate::oncall::import::CalendarHealth).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{Store, StoreError};
use crate::oncall::import::{self, CalendarCopy};
use crate::oncall::model::{OnCallData, Rotation};

/// Fetches `rotation`'s outside calendar once and keeps what came of it: the new copy when the fetch gave
/// iCalendar, else the last good one with the error recorded. Returns what the store now holds. Nothing
/// for a rotation without a source.
pub async fn refresh(
    store: &dyn Store,
    data: &OnCallData,
    rotation: &Rotation,
    now: DateTime<Utc>,
) -> Result<Option<CalendarCopy>, StoreError> {
    let Some(source) = &rotation.source else {
        return Ok(None);
    };
    let mut copy = store.calendar(&rotation.id).await?.unwrap_or_default();
    copy.health.last_attempt = Some(now);
    match import::fetch(&source.url).await {
        Ok(text) => {
            copy.text = Some(text);
            copy.health.last_success = Some(now);
            copy.health.last_error = None;
        }
        Err(error) => {
            tracing::warn!(
                rotation = rotation.id,
                url = crate::fetch::for_logs(&source.url),
                %error,
                "outside calendar: fetch failed, keeping the last good copy"
            );
            copy.health.last_error = Some(error.to_string());
        }
    }
    let expanded = match copy.text.as_deref() {
        Some(text) => import::expand(text, &data.engineers, rotation.time_zone, now).unwrap_or_default(),
        None => import::Expanded::default(),
    };
    copy.unmatched = expanded.unmatched;
    copy.skipped = expanded.skipped;
    store.put_calendar(&rotation.id, copy.clone(), expanded.shifts).await?;
    Ok(Some(copy))
}

/// Refreshes every rotation whose calendar is due (`last` holds when each was last tried by this process).
pub async fn refresh_due(store: &dyn Store, now: DateTime<Utc>, last: &mut BTreeMap<String, DateTime<Utc>>) {
    let data = match store.load().await {
        Ok(data) => data,
        Err(error) => {
            tracing::warn!(%error, "outside calendars: the store cannot be read; trying again later");
            return;
        }
    };
    for rotation in data.rotations.values() {
        let Some(source) = &rotation.source else { continue };
        let due = last
            .get(&rotation.id)
            .is_none_or(|at| (now - *at).num_seconds() >= source.refresh_secs as i64);
        if !due {
            continue;
        }
        last.insert(rotation.id.clone(), now);
        if let Err(error) = refresh(store, &data, rotation, now).await {
            tracing::warn!(rotation = rotation.id, %error, "outside calendar: the store failed");
        }
    }
}

/// What `check` says of a rotation's outside calendar: never fetched, failing (since when, why), and each
/// event that matches no engineer. Empty when all is well.
pub fn problems(rotation: &str, copy: Option<&CalendarCopy>) -> Vec<String> {
    let Some(copy) = copy else {
        return vec![format!(
            "rotation {rotation}: its outside calendar was not fetched yet: nobody is on call in it until it is"
        )];
    };
    let mut out = Vec::new();
    if let Some(error) = &copy.health.last_error {
        let since = copy.health.last_success.map_or_else(
            || "never fetched well".to_owned(),
            |t| format!("last fetched well {}", t.to_rfc3339()),
        );
        let kept = if copy.text.is_some() {
            "the last good copy is used"
        } else {
            "nobody is on call in it"
        };
        out.push(format!(
            "rotation {rotation}: its outside calendar fails ({error}; {since}): {kept}"
        ));
    }
    for event in &copy.unmatched {
        let attendees = if event.attendees.is_empty() {
            String::new()
        } else {
            format!(", attendees {}", event.attendees.join(", "))
        };
        out.push(format!(
            "rotation {rotation}: the event {:?} from {}{attendees} matches no engineer (by email, name or id): nobody is rung for it",
            event.summary,
            event.start.to_rfc3339()
        ));
    }
    for event in &copy.skipped {
        out.push(format!(
            "rotation {rotation}: the event {:?} cannot be read ({}): nobody is rung for it",
            event.summary, event.why
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oncall::import::Skipped;

    #[test]
    fn an_event_that_cannot_be_read_is_named_with_why() {
        let copy = CalendarCopy {
            text: Some("BEGIN:VCALENDAR".into()),
            skipped: vec![Skipped {
                summary: "Carol Nguyen".into(),
                why: "the TZID \"Eastern Standard Time\" of its DTSTART is no IANA time zone name".into(),
            }],
            ..CalendarCopy::default()
        };
        assert_eq!(
            problems("primary", Some(&copy)),
            [
                "rotation primary: the event \"Carol Nguyen\" cannot be read (the TZID \"Eastern Standard Time\" \
              of its DTSTART is no IANA time zone name): nobody is rung for it"
            ]
        );
    }
}

//! The weekly opening hours and holidays of a support line, and the two decisions made from
//! them (is it business time now, and when is the first response due), in the line's IANA time
//! zone. Everything here is a pure function of a calendar, a zone and an instant: nothing reads
//! the wall clock, the current time is always passed in.
//!
//! Local times that do not exist or are ambiguous on daylight-saving change days are resolved
//! like this: an opening or closing wall time that falls in a spring-forward gap becomes the
//! first instant after the gap (02:30 on a night that jumps from 02:00 to 03:00 opens at 03:00),
//! and an ambiguous one (fall back) takes the earlier of its two instants.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use serde::Deserialize;

/// How many local dates the searches for the next opening and the deadline look at.
const SEARCH_DAYS: usize = 800;
const MINUTES_PER_DAY: u32 = 24 * 60;

/// The opening and closing instants of one business day.
type Span = (DateTime<Tz>, DateTime<Tz>);

/// A calendar that is wrong: a bad value in the file, or a calendar that makes no sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CalendarError {
    #[error("invalid opening hours {0:?}: expected \"HH:MM-HH:MM\" (24-hour, opening before closing) or \"closed\"")]
    InvalidHours(String),
    #[error("invalid holiday date {0:?}: expected \"MM-DD\" (every year) or \"YYYY-MM-DD\" (once)")]
    InvalidHolidayDate(String),
    #[error("the calendar has no opening hours on any weekday")]
    NoOpeningHours,
    #[error("duplicate holiday: the date \"{0}\" is listed more than once")]
    DuplicateHoliday(String),
}

/// The opening hours of one weekday: `"HH:MM-HH:MM"` or `"closed"`. Closing may be `"24:00"`,
/// midnight at the end of the day. Opening is inclusive, closing exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
struct DayHours {
    /// (opening, closing) in minutes after local midnight; closing is at most 24:00.
    span: Option<(u32, u32)>,
}

impl DayHours {
    const CLOSED: DayHours = DayHours { span: None };

    fn is_open(&self) -> bool {
        self.span.is_some()
    }
}

/// Whether `s` has the shape of a pattern whose letters stand for digits: "HH:MM", "MM-DD".
fn has_shape(s: &str, pattern: &str) -> bool {
    s.len() == pattern.len()
        && s.bytes().zip(pattern.bytes()).all(|(c, p)| {
            if p.is_ascii_alphabetic() {
                c.is_ascii_digit()
            } else {
                c == p
            }
        })
}

/// Parses `"HH:MM"` (`"24:00"` allowed) into minutes after midnight.
fn parse_hh_mm(s: &str) -> Option<u32> {
    if !has_shape(s, "HH:MM") {
        return None;
    }
    let (h, m): (u32, u32) = (s.get(0..2)?.parse().ok()?, s.get(3..5)?.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

impl TryFrom<String> for DayHours {
    type Error = CalendarError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        if s == "closed" {
            return Ok(DayHours::CLOSED);
        }
        let span = s
            .split_once('-')
            .and_then(|(open, close)| Some((parse_hh_mm(open)?, parse_hh_mm(close)?)))
            .filter(|(open, close)| open < close)
            .ok_or(CalendarError::InvalidHours(s))?;
        Ok(DayHours { span: Some(span) })
    }
}

impl fmt::Display for DayHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.span {
            None => f.write_str("closed"),
            Some((o, c)) => write!(f, "{:02}:{:02}-{:02}:{:02}", o / 60, o % 60, c / 60, c % 60),
        }
    }
}

/// Opening hours per weekday, local time of the line. A weekday left out of the file keeps its
/// default: Monday to Friday 09:00-18:00, Saturday and Sunday closed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct WeeklyHours {
    monday: DayHours,
    tuesday: DayHours,
    wednesday: DayHours,
    thursday: DayHours,
    friday: DayHours,
    saturday: DayHours,
    sunday: DayHours,
}

impl Default for WeeklyHours {
    fn default() -> Self {
        let office = DayHours {
            span: Some((9 * 60, 18 * 60)),
        };
        WeeklyHours {
            monday: office,
            tuesday: office,
            wednesday: office,
            thursday: office,
            friday: office,
            saturday: DayHours::CLOSED,
            sunday: DayHours::CLOSED,
        }
    }
}

impl WeeklyHours {
    fn day(&self, weekday: Weekday) -> DayHours {
        match weekday {
            Weekday::Mon => self.monday,
            Weekday::Tue => self.tuesday,
            Weekday::Wed => self.wednesday,
            Weekday::Thu => self.thursday,
            Weekday::Fri => self.friday,
            Weekday::Sat => self.saturday,
            Weekday::Sun => self.sunday,
        }
    }
}

/// The date of a holiday: `"MM-DD"` every year, or `"YYYY-MM-DD"` once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
enum HolidayDate {
    Yearly { month: u32, day: u32 },
    Once(NaiveDate),
}

impl HolidayDate {
    fn matches(&self, date: NaiveDate) -> bool {
        match *self {
            HolidayDate::Yearly { month, day } => date.month() == month && date.day() == day,
            HolidayDate::Once(once) => date == once,
        }
    }
}

fn parse_holiday_date(s: &str) -> Option<HolidayDate> {
    let num = |from: usize, to: usize| s.get(from..to)?.parse::<u32>().ok();
    if has_shape(s, "MM-DD") {
        let (month, day) = (num(0, 2)?, num(3, 5)?);
        // 2000 is a leap year, so "02-29" is a valid yearly date.
        NaiveDate::from_ymd_opt(2000, month, day).map(|_| HolidayDate::Yearly { month, day })
    } else if has_shape(s, "YYYY-MM-DD") {
        let year = i32::try_from(num(0, 4)?).ok()?;
        NaiveDate::from_ymd_opt(year, num(5, 7)?, num(8, 10)?).map(HolidayDate::Once)
    } else {
        None
    }
}

impl TryFrom<String> for HolidayDate {
    type Error = CalendarError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        parse_holiday_date(&s).ok_or(CalendarError::InvalidHolidayDate(s))
    }
}

impl fmt::Display for HolidayDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HolidayDate::Yearly { month, day } => write!(f, "{month:02}-{day:02}"),
            HolidayDate::Once(date) => write!(f, "{}", date.format("%Y-%m-%d")),
        }
    }
}

/// A day the line is closed although its weekday has opening hours.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Holiday {
    date: HolidayDate,
    name: String,
}

/// The opening hours and holidays of a line, as read from `config/calendars/*.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calendar {
    #[serde(default)]
    hours: WeeklyHours,
    #[serde(default)]
    holidays: Vec<Holiday>,
}

impl Calendar {
    /// Checks what serde cannot: some weekday is open, and no holiday date is listed twice.
    pub(crate) fn validate(&self) -> Result<(), CalendarError> {
        if !week().any(|w| self.hours.day(w).is_open()) {
            return Err(CalendarError::NoOpeningHours);
        }
        for (i, holiday) in self.holidays.iter().enumerate() {
            if self.holidays[..i].iter().any(|h| h.date == holiday.date) {
                return Err(CalendarError::DuplicateHoliday(holiday.date.to_string()));
            }
        }
        Ok(())
    }

    /// The holiday on a local date, yearly or one-off (the first listed if several match).
    fn holiday(&self, date: NaiveDate) -> Option<&Holiday> {
        self.holidays.iter().find(|h| h.date.matches(date))
    }

    /// Whether `t` is within the opening hours of its local date in `tz` (opening inclusive,
    /// closing exclusive) and that date is not a holiday.
    pub fn is_business_time(&self, tz: Tz, t: DateTime<Utc>) -> bool {
        let date = t.with_timezone(&tz).date_naive();
        self.business_span(tz, date)
            .is_some_and(|(open, close)| open <= t && t < close)
    }

    /// The first opening instant strictly after `t`, searching at most 800 days; `None` if the
    /// line never opens in that time. Meant for when the line is closed: during opening hours
    /// it gives the following opening.
    pub(crate) fn next_opening(&self, tz: Tz, t: DateTime<Utc>) -> Option<DateTime<Tz>> {
        self.first_business_day_after(tz, t).map(|(open, _)| open)
    }

    /// When the line next opens or closes after `t`: the closing of the business day `t` is in, or the next
    /// opening when `t` is outside business hours (`None` when it never opens within 800 days).
    pub(crate) fn next_change(&self, tz: Tz, t: DateTime<Utc>) -> Option<DateTime<Tz>> {
        let date = t.with_timezone(&tz).date_naive();
        match self.business_span(tz, date) {
            Some((open, close)) if open <= t && t < close => Some(close),
            _ => self.next_opening(tz, t),
        }
    }

    /// When the first response to a call at `t` is due. The product promises it within one
    /// business day, defined as: **the closing time of the first business day that opens after
    /// the call**. A business day is a local date whose weekday has opening hours and which is
    /// not a holiday; it opens after the call if its opening instant is strictly after `t`.
    ///
    /// So a call on Friday evening is due Monday at closing, a call on Tuesday at 03:00 is due
    /// Tuesday at closing, and a call during Tuesday's hours (or exactly at its opening) is due
    /// Wednesday at closing. `None` if there is no business day within 800 days.
    pub fn first_response_deadline(&self, tz: Tz, t: DateTime<Utc>) -> Option<DateTime<Tz>> {
        self.first_business_day_after(tz, t).map(|(_, close)| close)
    }

    /// The opening and closing instants of the first business day that opens strictly after `t`.
    fn first_business_day_after(&self, tz: Tz, t: DateTime<Utc>) -> Option<Span> {
        let today = t.with_timezone(&tz).date_naive();
        today
            .iter_days()
            .take(SEARCH_DAYS)
            .filter_map(|date| self.business_span(tz, date))
            .find(|(open, _)| *open > t)
    }

    /// The opening and closing instants of a local date, if it is a business day. A day whose
    /// hours vanish in a daylight-saving gap (both ends resolve to the same instant) is not.
    fn business_span(&self, tz: Tz, date: NaiveDate) -> Option<Span> {
        let (open, close) = self.hours.day(date.weekday()).span?;
        if self.holiday(date).is_some() {
            return None;
        }
        let (open, close) = (local_instant(tz, date, open)?, local_instant(tz, date, close)?);
        (open < close).then_some((open, close))
    }

    /// The opening hours for speech, consecutive weekdays with the same hours grouped:
    /// "Monday to Friday, 9 AM to 6 PM, and Saturday, 10 AM to 2 PM".
    pub(crate) fn describe_hours(&self) -> String {
        let mut groups: Vec<(Weekday, Weekday, DayHours)> = Vec::new();
        for day in week() {
            let hours = self.hours.day(day);
            match groups.last_mut() {
                Some((_, last, h)) if *h == hours && last.succ() == day => *last = day,
                _ => groups.push((day, day, hours)),
            }
        }
        let parts: Vec<String> = groups
            .into_iter()
            .filter_map(|(first, last, hours)| {
                let (open, close) = hours.span?;
                let days = if first == last {
                    day_name(first).to_owned()
                } else if first.succ() == last {
                    format!("{} and {}", day_name(first), day_name(last))
                } else {
                    format!("{} to {}", day_name(first), day_name(last))
                };
                let times = if (open, close) == (0, MINUTES_PER_DAY) {
                    "all day".to_owned()
                } else {
                    format!("{} to {}", spoken_minutes(open), spoken_minutes(close))
                };
                Some(format!("{days}, {times}"))
            })
            .collect();
        match parts.as_slice() {
            [] => "closed every day".to_owned(),
            [one] => one.clone(),
            [rest @ .., last] => format!("{}, and {last}", rest.join(", ")),
        }
    }
}

/// The instant of a wall time (minutes after midnight, 24:00 being the next midnight) on a local
/// date: a time in a spring-forward gap becomes the first instant after the gap, an ambiguous
/// one the earlier instant. Gaps are walked to the minute (real ones are at most a day long).
fn local_instant(tz: Tz, date: NaiveDate, minutes: u32) -> Option<DateTime<Tz>> {
    let midnight = date.and_hms_opt(0, 0, 0)?;
    let mut wall = midnight.checked_add_signed(TimeDelta::minutes(i64::from(minutes)))?;
    for _ in 0..=2 * MINUTES_PER_DAY {
        if let Some(instant) = tz.from_local_datetime(&wall).earliest() {
            return Some(instant);
        }
        wall = wall.checked_add_signed(TimeDelta::minutes(1))?;
    }
    None
}

#[rustfmt::skip]
const DAY_NAMES: [&str; 7] =
    ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

fn day_name(day: Weekday) -> &'static str {
    DAY_NAMES[day.num_days_from_monday() as usize]
}

/// Monday to Sunday.
fn week() -> impl Iterator<Item = Weekday> {
    std::iter::successors(Some(Weekday::Mon), |d| Some(d.succ())).take(7)
}

/// A wall time in minutes after midnight (up to 24:00) for speech.
fn spoken_minutes(minutes: u32) -> String {
    let (h, m) = (minutes / 60 % 24, minutes % 60);
    if (h, m) == (0, 0) {
        return "midnight".to_owned();
    }
    let suffix = if h < 12 { "AM" } else { "PM" };
    let h12 = if h % 12 == 0 { 12 } else { h % 12 };
    if m == 0 {
        format!("{h12} {suffix}")
    } else {
        format!("{h12}:{m:02} {suffix}")
    }
}

/// A time of day for speech: "9 AM", "9:30 AM", "12 PM" (noon), "midnight". Seconds are dropped.
fn spoken_time(t: &NaiveTime) -> String {
    spoken_minutes(t.hour() * 60 + t.minute())
}

/// An instant for speech, in its own zone: "Monday, December 1, 6 PM".
pub(crate) fn spoken_datetime(t: &DateTime<Tz>) -> String {
    format!(
        "{}, {}, {}",
        day_name(t.weekday()),
        t.format("%B %-d"),
        spoken_time(&t.time())
    )
}

/// The name of a zone for speech: "Eastern time", "UK time", "Central European time", or else
/// the city of the zone name ("Sao Paulo time"); plain "UTC" for UTC.
pub(crate) fn spoken_zone(tz: Tz) -> String {
    let name = tz.name();
    let known = match name {
        "America/New_York" | "America/Toronto" | "US/Eastern" => "Eastern time",
        "America/Chicago" | "US/Central" => "Central time",
        "America/Denver" | "US/Mountain" => "Mountain time",
        "America/Phoenix" | "US/Arizona" => "Arizona time",
        "America/Los_Angeles" | "America/Vancouver" | "US/Pacific" => "Pacific time",
        "America/Anchorage" | "US/Alaska" => "Alaska time",
        "Pacific/Honolulu" | "US/Hawaii" => "Hawaii time",
        "Europe/London" => "UK time",
        "Europe/Paris" | "Europe/Berlin" | "Europe/Madrid" | "Europe/Rome" | "Europe/Amsterdam" | "Europe/Brussels"
        | "Europe/Vienna" | "Europe/Zurich" | "Europe/Stockholm" | "Europe/Oslo" | "Europe/Copenhagen"
        | "Europe/Warsaw" | "Europe/Prague" => "Central European time",
        "UTC" | "Etc/UTC" | "Etc/UCT" | "UCT" => "UTC",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_owned();
    }
    let city = name.rsplit('/').next().unwrap_or(name);
    format!("{} time", city.replace('_', " "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDateTime;
    use chrono_tz::America::{New_York as NY, Sao_Paulo};
    use chrono_tz::Europe::London;

    const EXAMPLE: &str = r#"
# Opening hours per weekday, local time of the line. A weekday left out keeps its default:
# Monday to Friday 09:00-18:00, Saturday and Sunday closed.
[hours]
monday = "09:00-18:00"
saturday = "closed"

# Fixed yearly dates ("MM-DD") and one-off dates ("YYYY-MM-DD").
[[holidays]]
date = "12-25"
name = "Christmas Day"

[[holidays]]
date = "2026-11-26"
name = "Thanksgiving Day"
"#;

    fn calendar(toml_text: &str) -> Calendar {
        toml::from_str(toml_text).expect("calendar parses")
    }

    fn example() -> Calendar {
        calendar(EXAMPLE)
    }

    fn error_of(toml_text: &str) -> String {
        let parsed: Result<Calendar, _> = toml::from_str(toml_text);
        parsed.expect_err("calendar is rejected").to_string()
    }

    fn naive(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
            .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M"))
            .expect("a \"YYYY-MM-DD HH:MM[:SS]\" time")
    }

    /// The instant of an unambiguous local wall time such as "2026-11-27 20:00".
    fn at(tz: Tz, local: &str) -> DateTime<Utc> {
        let t = tz.from_local_datetime(&naive(local)).single();
        t.expect("unambiguous").to_utc()
    }

    fn open(cal: &Calendar, tz: Tz, local: &str) -> bool {
        cal.is_business_time(tz, at(tz, local))
    }

    fn open_utc(cal: &Calendar, tz: Tz, utc: &str) -> bool {
        cal.is_business_time(tz, naive(utc).and_utc())
    }

    fn show(t: Option<DateTime<Tz>>) -> String {
        t.map_or("none".into(), |t| t.format("%a %Y-%m-%d %H:%M %Z").to_string())
    }

    /// The first-response deadline of a call at a local time, as local time.
    fn due(cal: &Calendar, tz: Tz, local: &str) -> String {
        show(cal.first_response_deadline(tz, at(tz, local)))
    }

    fn never_open() -> Calendar {
        let days = ["monday", "tuesday", "wednesday", "thursday", "friday"];
        calendar(&days.map(|d| format!("hours.{d} = \"closed\"\n")).concat())
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("a date")
    }

    #[test]
    fn business_time_in_new_york() {
        let cal = example();
        #[rustfmt::skip]
        let facts = [
            ("2026-12-01 09:00", true, "Tuesday, exactly at opening: open"),
            ("2026-12-01 08:59", false, "a minute before opening: closed"),
            ("2026-12-01 17:59", true, "a minute before closing: open"),
            ("2026-12-01 17:59:59", true, "a second before closing: open"),
            ("2026-12-01 18:00", false, "exactly at closing: closed"),
            ("2026-12-01 18:01", false, "a minute after closing: closed"),
            ("2026-11-28 12:00", false, "Saturday: closed"),
            ("2026-11-29 12:00", false, "Sunday: closed"),
            ("2026-12-25 12:00", false, "Christmas, a yearly holiday: closed"),
            ("2028-12-25 12:00", false, "Christmas two years on: closed"),
            ("2026-12-24 12:00", true, "Christmas Eve, not a holiday: open"),
            ("2026-11-26 12:00", false, "Thanksgiving 2026, a one-off holiday: closed"),
            ("2027-11-26 12:00", true, "the same date a year later, a Friday: open"),
        ];
        for (local, expected, fact) in facts {
            assert_eq!(open(&cal, NY, local), expected, "{local}: {fact}");
        }
    }

    #[test]
    fn holidays_are_found_by_local_date() {
        let cal = example();
        let name = |d| cal.holiday(date(d)).map(|h| h.name.as_str());
        assert_eq!(name("2030-12-25"), Some("Christmas Day"));
        assert_eq!(name("2026-11-26"), Some("Thanksgiving Day"));
        assert_eq!(name("2027-11-26"), None);
        let leap = calendar("[[holidays]]\ndate = \"02-29\"\nname = \"Leap Day\"\n");
        assert!(!open(&leap, NY, "2028-02-29 12:00"), "02-29 is kept in leap years");
    }

    #[test]
    fn opening_in_utc_follows_the_clock_changes() {
        let cal = example();
        #[rustfmt::skip]
        let facts = [
            (NY, "2026-03-06 14:00", true, "New York Friday before spring forward: 09:00 EST"),
            (NY, "2026-03-06 13:59", false, "New York Friday before spring forward: 08:59 EST"),
            (NY, "2026-03-09 13:00", true, "New York Monday after spring forward: 09:00 EDT"),
            (NY, "2026-03-09 12:59", false, "New York Monday after spring forward: 08:59 EDT"),
            (NY, "2026-10-30 13:00", true, "New York Friday before fall back: 09:00 EDT"),
            (NY, "2026-11-02 13:59", false, "New York Monday after fall back: 08:59 EST"),
            (NY, "2026-11-02 14:00", true, "New York Monday after fall back: 09:00 EST"),
            (London, "2026-03-27 08:00", false, "London Friday before spring: 08:00 GMT"),
            (London, "2026-03-30 08:00", true, "London Monday after spring: 09:00 BST"),
            (London, "2026-10-23 08:00", true, "London Friday before fall: 09:00 BST"),
            (London, "2026-10-26 08:00", false, "London Monday after fall: 08:00 GMT"),
            (London, "2026-10-26 09:00", true, "London Monday after fall: 09:00 GMT"),
            (Sao_Paulo, "2026-01-12 12:00", true, "Sao Paulo, no DST since 2019: 09:00"),
            (Sao_Paulo, "2026-01-12 11:59", false, "Sao Paulo in January: 08:59"),
            (Sao_Paulo, "2026-07-13 12:00", true, "Sao Paulo in July: still 09:00"),
            (Sao_Paulo, "2026-11-09 11:59", false, "Sao Paulo in November: still 08:59"),
        ];
        for (tz, utc, expected, fact) in facts {
            assert_eq!(open_utc(&cal, tz, utc), expected, "{utc} UTC: {fact}");
        }
    }

    #[test]
    fn the_first_response_is_due_at_closing_of_the_first_business_day_opening_after_the_call() {
        let cal = example();
        #[rustfmt::skip]
        let facts = [
            (NY, "2026-11-27 20:00", "Mon 2026-11-30 18:00 EST", "Friday evening: Monday"),
            (NY, "2026-12-01 03:00", "Tue 2026-12-01 18:00 EST", "Tuesday night: Tuesday"),
            (NY, "2026-12-01 08:59", "Tue 2026-12-01 18:00 EST", "just before opening: same day"),
            (NY, "2026-12-01 09:00", "Wed 2026-12-02 18:00 EST", "exactly at opening: next day"),
            (NY, "2026-12-01 14:00", "Wed 2026-12-02 18:00 EST", "during hours: next day"),
            (NY, "2026-11-25 20:00", "Fri 2026-11-27 18:00 EST", "skips Thanksgiving"),
            (NY, "2026-03-06 20:00", "Mon 2026-03-09 18:00 EDT", "across spring forward"),
            (NY, "2026-10-30 20:00", "Mon 2026-11-02 18:00 EST", "across fall back"),
            (London, "2026-03-27 20:00", "Mon 2026-03-30 18:00 BST", "across spring forward"),
            (London, "2026-10-23 20:00", "Mon 2026-10-26 18:00 GMT", "across fall back"),
        ];
        for (tz, call, expected, fact) in facts {
            assert_eq!(due(&cal, tz, call), expected, "call at {call}: {fact}");
        }
        let spring = cal.first_response_deadline(NY, at(NY, "2026-03-06 20:00"));
        assert_eq!(spring.map(|t| t.to_utc()), Some(at(Tz::UTC, "2026-03-09 22:00")));
    }

    #[test]
    fn with_monday_a_holiday_a_friday_evening_call_is_due_tuesday() {
        let mut cal = example();
        let date = HolidayDate::Once(date("2026-11-30"));
        let name = "Closed".to_owned();
        cal.holidays.push(Holiday { date, name });
        assert_eq!(due(&cal, NY, "2026-11-27 20:00"), "Tue 2026-12-01 18:00 EST");
    }

    #[test]
    fn a_new_years_eve_call_skips_the_new_year_holiday_and_the_weekend() {
        let cal = calendar("[[holidays]]\ndate = \"01-01\"\nname = \"New Year's Day\"\n");
        assert_eq!(due(&cal, NY, "2026-12-31 20:00"), "Mon 2027-01-04 18:00 EST");
    }

    #[test]
    fn an_opening_in_the_spring_forward_gap_opens_when_the_gap_ends() {
        // On 2026-03-08 New York jumps from 02:00 EST to 03:00 EDT: 02:30 never happens.
        let cal = calendar("[hours]\nsunday = \"02:30-05:00\"\n");
        let opening = cal.next_opening(NY, at(NY, "2026-03-07 20:00"));
        assert_eq!(show(opening), "Sun 2026-03-08 03:00 EDT");
        assert!(!open_utc(&cal, NY, "2026-03-08 06:59"));
        assert!(open_utc(&cal, NY, "2026-03-08 07:00"));
    }

    #[test]
    fn an_ambiguous_wall_time_on_fall_back_day_means_the_earlier_instant() {
        // On 2026-11-01 New York runs 01:00-02:00 twice, first EDT (UTC-4), then EST (UTC-5).
        let opens = calendar("[hours]\nsunday = \"01:30-05:00\"\n");
        assert!(!open_utc(&opens, NY, "2026-11-01 05:29"));
        assert!(open_utc(&opens, NY, "2026-11-01 05:30"), "01:30 EDT");
        let closes = calendar("[hours]\nsunday = \"00:00-01:30\"\n");
        assert!(open_utc(&closes, NY, "2026-11-01 05:29"));
        assert!(!open_utc(&closes, NY, "2026-11-01 06:15"), "01:15 EST, after 01:30 EDT");
    }

    #[test]
    fn closing_at_24_00_means_midnight_at_the_end_of_the_day() {
        let cal = calendar("[hours]\nfriday = \"09:00-24:00\"\n");
        assert!(open(&cal, NY, "2026-11-27 23:59:59"));
        assert!(!open(&cal, NY, "2026-11-28 00:00"));
        assert_eq!(due(&cal, NY, "2026-11-27 08:00"), "Sat 2026-11-28 00:00 EST");
    }

    #[test]
    fn next_opening_is_strictly_after_the_instant() {
        let next = |local| show(example().next_opening(NY, at(NY, local)));
        assert_eq!(next("2026-11-27 20:00"), "Mon 2026-11-30 09:00 EST");
        assert_eq!(next("2026-12-01 09:00"), "Wed 2026-12-02 09:00 EST");
    }

    #[test]
    fn a_calendar_that_is_never_open_has_no_opening_and_no_deadline() {
        let never = never_open();
        assert!(!open(&never, NY, "2026-12-01 12:00"));
        assert_eq!(never.next_opening(NY, at(NY, "2026-12-01 12:00")), None);
        assert_eq!(due(&never, NY, "2026-12-01 12:00"), "none");
    }

    #[test]
    fn opening_hours_are_spoken_grouping_consecutive_days() {
        let spoken = |toml_text| calendar(toml_text).describe_hours();
        assert_eq!(spoken(""), "Monday to Friday, 9 AM to 6 PM");
        assert_eq!(
            spoken("[hours]\nsaturday = \"10:00-14:00\"\n"),
            "Monday to Friday, 9 AM to 6 PM, and Saturday, 10 AM to 2 PM"
        );
        assert_eq!(
            spoken(
                "[hours]\nmonday = \"09:30-12:00\"\nfriday = \"09:00-24:00\"\n\
                 saturday = \"00:00-24:00\"\nsunday = \"00:00-24:00\"\n"
            ),
            "Monday, 9:30 AM to 12 PM, Tuesday to Thursday, 9 AM to 6 PM, \
             Friday, 9 AM to midnight, and Saturday and Sunday, all day"
        );
    }

    #[test]
    fn times_are_spoken_on_a_twelve_hour_clock() {
        let spoken = |h, m| spoken_time(&NaiveTime::from_hms_opt(h, m, 0).expect("time"));
        assert_eq!(spoken(9, 0), "9 AM");
        assert_eq!(spoken(9, 30), "9:30 AM");
        assert_eq!(spoken(12, 0), "12 PM");
        assert_eq!(spoken(0, 0), "midnight");
        assert_eq!(spoken(0, 5), "12:05 AM");
        assert_eq!(spoken(23, 45), "11:45 PM");
    }

    #[test]
    fn a_deadline_is_spoken_with_weekday_month_day_and_time() {
        let spoken = |tz: Tz, local| spoken_datetime(&at(tz, local).with_timezone(&tz));
        assert_eq!(spoken(NY, "2025-12-01 18:00"), "Monday, December 1, 6 PM");
        assert_eq!(spoken(London, "2026-03-30 09:30"), "Monday, March 30, 9:30 AM");
    }

    #[test]
    fn zones_are_spoken_by_their_everyday_names() {
        use chrono_tz::{America, Asia, Europe, Pacific};
        #[rustfmt::skip]
        let zones = [
            (NY, "Eastern time"), (America::Toronto, "Eastern time"),
            (America::Chicago, "Central time"), (America::Denver, "Mountain time"),
            (America::Phoenix, "Arizona time"), (America::Los_Angeles, "Pacific time"),
            (America::Vancouver, "Pacific time"), (America::Anchorage, "Alaska time"),
            (Pacific::Honolulu, "Hawaii time"), (London, "UK time"),
            (Europe::Berlin, "Central European time"), (Europe::Prague, "Central European time"),
            (Sao_Paulo, "Sao Paulo time"), (Asia::Tokyo, "Tokyo time"), (Tz::UTC, "UTC"),
        ];
        for (tz, spoken) in zones {
            assert_eq!(spoken_zone(tz), spoken, "{tz}");
        }
    }

    #[test]
    fn the_example_calendar_file_deserializes() {
        let cal = example();
        assert_eq!(cal.hours.monday.to_string(), "09:00-18:00");
        assert_eq!(
            cal.hours.tuesday.to_string(),
            "09:00-18:00",
            "a day left out keeps its default"
        );
        assert_eq!(cal.hours.saturday, DayHours::CLOSED);
        assert_eq!(cal.hours.sunday, DayHours::CLOSED);
        let dates: Vec<String> = cal.holidays.iter().map(|h| h.date.to_string()).collect();
        assert_eq!(dates, ["12-25", "2026-11-26"]);
        assert_eq!(cal.validate(), Ok(()));
    }

    #[test]
    fn bad_opening_hours_are_rejected_saying_what_was_expected() {
        let message = error_of("[hours]\nmonday = \"9-18\"\n");
        let expected =
            r#"invalid opening hours "9-18": expected "HH:MM-HH:MM" (24-hour, opening before closing) or "closed""#;
        assert!(message.contains(expected), "{message}");
        for bad in "18:00-09:00 09:00-09:00 24:00-24:00 09:00-24:30 9:00-18:00 Closed".split(' ') {
            let message = error_of(&format!("[hours]\nmonday = \"{bad}\"\n"));
            assert!(
                message.contains(&format!("invalid opening hours \"{bad}\"")),
                "{message}"
            );
        }
    }

    #[test]
    fn bad_holiday_dates_are_rejected_saying_what_was_expected() {
        for bad in "13-01 02-30 2026-02-29 12/25 2026-12-25-01 1-1 +2026-12-25".split(' ') {
            let message = error_of(&format!("[[holidays]]\ndate = \"{bad}\"\nname = \"X\"\n"));
            let expected =
                format!(r#"invalid holiday date "{bad}": expected "MM-DD" (every year) or "YYYY-MM-DD" (once)"#);
            assert!(message.contains(&expected), "{message}");
        }
    }

    #[test]
    fn unknown_keys_and_missing_names_are_rejected() {
        let misspelt = error_of("[[hollidays]]\ndate = \"12-25\"\nname = \"Christmas Day\"\n");
        assert!(misspelt.contains("unknown field `hollidays`"), "{misspelt}");
        assert!(error_of("[hours]\nmon = \"09:00-18:00\"\n").contains("unknown field `mon`"));
        assert!(error_of("[[holidays]]\ndate = \"12-25\"\n").contains("missing field `name`"));
    }

    #[test]
    fn a_calendar_with_no_open_weekday_is_invalid() {
        let error = never_open().validate();
        assert_eq!(error, Err(CalendarError::NoOpeningHours));
        let message = error.expect_err("invalid").to_string();
        assert_eq!(message, "the calendar has no opening hours on any weekday");
    }

    #[test]
    fn a_holiday_date_listed_twice_is_invalid() {
        let twice = "[[holidays]]\ndate = \"12-25\"\nname = \"Christmas\"\n\
                     [[holidays]]\ndate = \"12-25\"\nname = \"Christmas Day\"\n";
        let error = calendar(twice).validate();
        assert_eq!(error, Err(CalendarError::DuplicateHoliday("12-25".into())));
        let message = error.expect_err("invalid").to_string();
        assert_eq!(
            message,
            r#"duplicate holiday: the date "12-25" is listed more than once"#
        );
    }
}

//! Report schedules: a five-field cron expression (minute, hour, day of month, month,
//! day of week) read in a time zone (default UTC).
//!
//! Each field is `*`, a value, a range `a-b`, a step `*/n`, `a-b/n` or `a/n`, or a list
//! of those separated by commas. Months and days of the week may be written as names
//! (`jan`, `mon`); Sunday is 0 or 7. The two day fields combine as in Vixie cron: when
//! either starts with `*` (`*`, `*/2`, `*,15`) a day must match both; when neither does,
//! a day matching either fires (`0 0 1,15 * 1`: the 1st, the 15th and every Monday;
//! `0 0 */2 * 1`: Mondays that are odd days of the month). The shorthands `@hourly`,
//! `@daily` (`@midnight`), `@weekly`, `@monthly` and `@yearly` (`@annually`) work too.
//!
//! A local time that does not exist (skipped by a daylight-saving change) fires at the
//! first local time after the gap; a local time that happens twice fires once, at the
//! first.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

/// A parsed cron schedule in a time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    text: String,
    timezone: Tz,
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    /// The day-of-month field starts with `*` (then both day fields must match).
    any_day: bool,
    /// The day-of-week field starts with `*`.
    any_weekday: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// How far ahead [`Schedule::next_after`] looks before deciding a schedule never fires.
const HORIZON_YEARS: i32 = 8;

impl Schedule {
    /// Parses `expr` (five fields or a shorthand) in time zone `timezone` (an IANA name
    /// such as `Europe/Berlin`, or `UTC`).
    pub fn parse(expr: &str, timezone: &str) -> Result<Schedule, String> {
        let timezone: Tz = timezone.trim().parse().map_err(|_| {
            format!(
                "unknown time zone '{timezone}' (use an IANA name such as Europe/Berlin, or UTC)"
            )
        })?;
        let text = expr.trim().to_string();
        let expanded = match text.to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 1 1 *".to_string(),
            "@monthly" => "0 0 1 * *".to_string(),
            "@weekly" => "0 0 * * 0".to_string(),
            "@daily" | "@midnight" => "0 0 * * *".to_string(),
            "@hourly" => "0 * * * *".to_string(),
            other if other.starts_with('@') => {
                return Err(format!(
                    "schedule '{text}': unknown shorthand (use @hourly, @daily, @weekly, @monthly or @yearly)"
                ));
            }
            _ => text.clone(),
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "schedule '{text}': expected five fields (minute hour day-of-month month day-of-week), got {}",
                fields.len()
            ));
        }
        let field = |i: usize, name: &str, lo: u32, hi: u32, names: &[&str]| {
            parse_field(fields[i], lo, hi, names)
                .map_err(|e| format!("schedule '{text}': {name} field '{}': {e}", fields[i]))
        };
        let minutes = field(0, "minute", 0, 59, &[])?;
        let hours = field(1, "hour", 0, 23, &[])?;
        let days = field(2, "day-of-month", 1, 31, &[])?;
        let months = field(3, "month", 1, 12, &MONTHS)?;
        let mut weekdays = field(4, "day-of-week", 0, 7, &WEEKDAYS)?;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays & !(1 << 7)) | 1;
        }
        let schedule = Schedule {
            any_day: fields[2].starts_with(['*', '?']),
            any_weekday: fields[4].starts_with(['*', '?']),
            text,
            timezone,
            minutes,
            hours,
            days,
            months,
            weekdays,
        };
        let probe = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).single();
        if probe.and_then(|t| schedule.next_after(t)).is_none() {
            return Err(format!(
                "schedule '{}': never fires (no such day in {HORIZON_YEARS} years)",
                schedule.text
            ));
        }
        Ok(schedule)
    }

    /// The expression as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The time zone's name.
    pub fn timezone(&self) -> &str {
        self.timezone.name()
    }

    /// The first time strictly after `after` at which the schedule fires.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&self.timezone).naive_local();
        let start = local.with_second(0)?.with_nanosecond(0)? + Duration::minutes(1);
        let stop_year = start.year() + HORIZON_YEARS;
        let mut t = start;
        // Each step moves to the next candidate month, day, hour or minute, so the loop
        // ends within the horizon.
        while t.year() <= stop_year {
            if !bit(self.months, t.month()) {
                t = first_of_next_month(t)?;
            } else if !self.day_matches(t.date()) {
                t = (t.date() + Duration::days(1)).and_hms_opt(0, 0, 0)?;
            } else if !bit(self.hours, t.hour()) {
                t = t.with_minute(0)? + Duration::hours(1);
            } else if !bit(self.minutes, t.minute()) {
                t += Duration::minutes(1);
            } else {
                // A local time skipped by a daylight-saving change fires at the first
                // local time after the gap.
                let first = (0..=24 * 60)
                    .find_map(|m| {
                        let local = t + Duration::minutes(m);
                        self.timezone.from_local_datetime(&local).earliest()
                    })?
                    .with_timezone(&Utc);
                if first > after {
                    return Some(first);
                }
                t += Duration::minutes(1);
            }
        }
        None
    }

    /// The times in `(after, until]` at which the schedule fires, oldest first, at most
    /// `limit` of them (the newest ones when there are more).
    pub fn fires_between(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> (Vec<DateTime<Utc>>, usize) {
        let mut out = std::collections::VecDeque::new();
        let mut dropped = 0;
        let mut t = after;
        while let Some(next) = self.next_after(t) {
            if next > until {
                break;
            }
            if out.len() == limit {
                out.pop_front();
                dropped += 1;
            }
            out.push_back(next);
            t = next;
        }
        (out.into(), dropped)
    }

    fn day_matches(&self, date: NaiveDate) -> bool {
        let dom = bit(self.days, date.day());
        let dow = bit(self.weekdays, date.weekday().num_days_from_sunday());
        // Vixie cron: a field starting with `*` makes the two fields AND (a plain `*`
        // matches every day, so the other decides); only two restricted fields OR.
        if self.any_day || self.any_weekday {
            dom && dow
        } else {
            dom || dow
        }
    }
}

fn bit(set: u64, n: u32) -> bool {
    set & (1u64 << n) != 0
}

fn first_of_next_month(t: NaiveDateTime) -> Option<NaiveDateTime> {
    let (y, m) = if t.month() == 12 {
        (t.year() + 1, 1)
    } else {
        (t.year(), t.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)?.and_hms_opt(0, 0, 0)
}

/// One field as a bit set of the values it allows.
fn parse_field(text: &str, lo: u32, hi: u32, names: &[&str]) -> Result<u64, String> {
    let mut set = 0u64;
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .map_err(|_| format!("step '{s}' is not a whole number"))?;
                if step == 0 {
                    return Err("a step of 0".into());
                }
                (r, step)
            }
            None => (item, 1),
        };
        let (a, b) = if range == "*" || range == "?" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, lo, hi, names)?, value(b, lo, hi, names)?)
        } else {
            let a = value(range, lo, hi, names)?;
            // `a/n` means from a to the end in steps of n.
            (a, if item.contains('/') { hi } else { a })
        };
        if a > b {
            return Err(format!("range {a}-{b} runs backwards"));
        }
        let mut v = a;
        while v <= b {
            set |= 1 << v;
            v += step;
        }
    }
    Ok(set)
}

fn value(text: &str, lo: u32, hi: u32, names: &[&str]) -> Result<u32, String> {
    let lower = text.to_ascii_lowercase();
    if let Some(i) = names.iter().position(|n| *n == lower) {
        // Month names count from 1, weekday names from 0 (Sunday).
        return Ok(if names.len() == 12 {
            i as u32 + 1
        } else {
            i as u32
        });
    }
    let v: u32 = text.parse().map_err(|_| {
        if text.is_empty() {
            "an empty value".to_string()
        } else {
            format!(
                "'{text}' is not a number{}",
                if names.is_empty() { "" } else { " or a name" }
            )
        }
    })?;
    if v < lo || v > hi {
        return Err(format!("{v} is out of range {lo}-{hi}"));
    }
    Ok(v)
}

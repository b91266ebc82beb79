//! Report schedules: a five-field cron expression (minute, hour, day of month, month,
//! day of week) read in a time zone (default UTC). Fire times come from the `croner`
//! crate; this module names the field a mistake is in and fixes the day-field rule.
//!
//! Each field is `*`, a value, a range `a-b`, a step `*/n`, `a-b/n` or `a/n`, or a list
//! of those separated by commas. Months and days of the week may be written as names
//! (`jan`, `mon`); Sunday is 0 or 7. croner's extensions work too: `L` (last day of the
//! month, or `5L` the last Friday), `15W` (the weekday nearest the 15th), `1#2` (the
//! second Monday). The two day fields combine as in Vixie cron: when either starts with
//! `*` (`*`, `*/2`, `*,15`) a day must match both; when neither does, a day matching
//! either fires (`0 0 1,15 * 1`: the 1st, the 15th and every Monday; `0 0 */2 * 1`:
//! Mondays that are odd days of the month). The shorthands `@hourly`, `@daily`
//! (`@midnight`), `@weekly`, `@monthly` and `@yearly` (`@annually`) work too.
//!
//! A local time that does not exist (skipped by a daylight-saving change) fires at the
//! first local time after the gap; a local time that happens twice fires once, at the
//! first.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::errors::CronError;
use croner::parser::{CronParser, Seconds, Year};

/// A parsed cron schedule in a time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    text: String,
    timezone: Tz,
    cron: Cron,
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Schedule) -> bool {
        self.text == other.text && self.timezone == other.timezone
    }
}

impl Eq for Schedule {}

/// The five fields: name, lowest and highest value, and a pattern that is `*` in every
/// other field, so a field can be checked on its own.
const FIELDS: [(&str, u32, u32); 5] = [
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 7),
];

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
        // A list holding `*` allows every value: croner does not take `*` inside a list.
        let fields: Vec<&str> = expanded
            .split_whitespace()
            .map(|f| {
                if f.split(',').any(|item| item == "*" || item == "?") {
                    &f[..1]
                } else {
                    f
                }
            })
            .collect();
        if fields.len() != 5 {
            return Err(format!(
                "schedule '{text}': expected five fields (minute hour day-of-month month day-of-week), got {}",
                fields.len()
            ));
        }
        // Vixie cron: a day field that starts with `*` (or `?`) makes the two day fields
        // AND. croner only treats a field of exactly `*` that way, so it is told to AND
        // whenever either field starts with `*`; with a plain `*` that is the same set.
        let and_days = fields[2].starts_with(['*', '?']) || fields[4].starts_with(['*', '?']);
        let parser = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .sloppy_ranges(true)
            .dom_and_dow(and_days)
            .build();
        let cron = parser.parse(&fields.join(" ")).map_err(|whole| {
            // Name the first field that is wrong on its own.
            for (i, (name, lo, hi)) in FIELDS.iter().enumerate() {
                let mut alone = ["*"; 5];
                alone[i] = fields[i];
                if let Err(e) = parser.parse(&alone.join(" ")) {
                    return format!(
                        "schedule '{text}': {name} field '{}': {} (values {lo}-{hi})",
                        fields[i],
                        reason(&e)
                    );
                }
            }
            format!("schedule '{text}': {}", reason(&whole))
        })?;
        let schedule = Schedule {
            text,
            timezone,
            cron,
        };
        let probe = DateTime::<Utc>::UNIX_EPOCH;
        if schedule.next_after(probe).is_none() {
            return Err(format!(
                "schedule '{}': never fires (no such day)",
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
        self.cron
            .find_next_occurrence(&after.with_timezone(&self.timezone), false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
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
}

/// croner's reason, without its prefix and in lower case, as the rest of the message.
fn reason(e: &CronError) -> String {
    let text = match e {
        CronError::ComponentError(m) | CronError::InvalidPattern(m) => m.clone(),
        CronError::IllegalCharacters(_) => "not a number, a range, a step or a name".into(),
        other => other.to_string(),
    };
    let text = text.trim_end_matches('.');
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

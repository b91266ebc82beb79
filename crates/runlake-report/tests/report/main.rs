//! Tests of the report crate's parts that stand alone: cron schedules, checked against
//! croniter's fire times (`fixtures/cron_reference.py` and its output), and the header
//! checks that use them.

mod scheduler;

use chrono::{DateTime, Utc};
use runlake_report::{Report, Schedule};
use serde_json::Value;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("an RFC 3339 time")
        .with_timezone(&Utc)
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[test]
fn fire_times_match_croniter() {
    let fixture: Value =
        serde_json::from_str(include_str!("fixtures/cron_reference.json")).expect("fixture");
    let cases = fixture["cases"].as_array().expect("cases");
    assert!(cases.len() >= 10);
    for case in cases {
        let expr = case["expr"].as_str().expect("expr");
        let tz = case["timezone"].as_str().expect("timezone");
        let schedule = Schedule::parse(expr, tz).expect("a valid schedule");
        let mut t = at(case["after"].as_str().expect("after"));
        let mut got = Vec::new();
        for _ in case["fires"].as_array().expect("fires") {
            t = schedule.next_after(t).expect("fires again");
            got.push(stamp(t));
        }
        let want: Vec<&str> = case["fires"]
            .as_array()
            .expect("fires")
            .iter()
            .map(|v| v.as_str().expect("a time"))
            .collect();
        assert_eq!(got, want, "{expr} in {tz}");
    }
}

#[test]
fn fires_between_keeps_the_newest() {
    let s = Schedule::parse("*/10 * * * *", "UTC").expect("valid");
    let (fires, dropped) =
        s.fires_between(at("2026-11-22T10:00:00Z"), at("2026-11-22T11:00:00Z"), 100);
    let got: Vec<String> = fires.into_iter().map(stamp).collect();
    assert_eq!(
        got,
        [
            "2026-11-22T10:10:00Z",
            "2026-11-22T10:20:00Z",
            "2026-11-22T10:30:00Z",
            "2026-11-22T10:40:00Z",
            "2026-11-22T10:50:00Z",
            "2026-11-22T11:00:00Z"
        ]
    );
    assert_eq!(dropped, 0);
    let (fires, dropped) =
        s.fires_between(at("2026-11-22T10:00:00Z"), at("2026-11-22T11:00:00Z"), 2);
    let got: Vec<String> = fires.into_iter().map(stamp).collect();
    assert_eq!(got, ["2026-11-22T10:50:00Z", "2026-11-22T11:00:00Z"]);
    assert_eq!(dropped, 4);
}

#[test]
fn sunday_is_zero_or_seven() {
    let a = Schedule::parse("0 6 * * 0", "UTC").expect("valid");
    let b = Schedule::parse("0 6 * * 7", "UTC").expect("valid");
    let c = Schedule::parse("0 6 * * SUN", "UTC").expect("valid");
    let t = at("2026-11-18T00:00:00Z"); // a Wednesday
    let want = Some(at("2026-11-22T06:00:00Z"));
    assert_eq!(a.next_after(t), want);
    assert_eq!(b.next_after(t), want);
    assert_eq!(c.next_after(t), want);
    assert_eq!(a.timezone(), "UTC");
    assert_eq!(c.text(), "0 6 * * SUN");
}

#[test]
fn bad_schedules_say_which_field_and_why() {
    let cases = [
        ("* * * *", "UTC", "expected five fields"),
        (
            "61 * * * *",
            "UTC",
            "minute field '61': number out of bounds (values 0-59)",
        ),
        (
            "0 24 * * *",
            "UTC",
            "hour field '24': number out of bounds (values 0-23)",
        ),
        (
            "0 0 0 * *",
            "UTC",
            "day-of-month field '0': number out of bounds (values 1-31)",
        ),
        (
            "0 0 * foo *",
            "UTC",
            "month field 'foo': not a number, a range, a step or a name",
        ),
        (
            "*/0 * * * *",
            "UTC",
            "minute field '*/0': step cannot be zero",
        ),
        (
            "0 0 10-2 * *",
            "UTC",
            "day-of-month field '10-2': range out of bounds",
        ),
        ("0 0 30 2 *", "UTC", "never fires"),
        ("@often", "UTC", "unknown shorthand"),
        (
            "0 0 * * 8",
            "UTC",
            "day-of-week field '8': number out of bounds (values 0-7)",
        ),
        (
            "* * * * *",
            "Mars/Olympus",
            "unknown time zone 'Mars/Olympus'",
        ),
    ];
    for (expr, tz, want) in cases {
        let err = Schedule::parse(expr, tz).expect_err(expr);
        assert!(err.contains(want), "{expr}: {err}");
    }
}

#[test]
fn a_report_header_checks_its_schedule() {
    let body = "-- name: q\nSELECT 1 AS one\n";
    let ok = Report::parse(
        "r",
        &format!("/*\ntitle: R\nschedule: '0 7 * * mon'\ntimezone: Europe/Paris\n*/\n{body}"),
    )
    .expect("valid");
    let schedule = ok.schedule.expect("scheduled");
    assert_eq!(schedule.timezone(), "Europe/Paris");
    // 07:00 in Paris in winter is 06:00 UTC.
    assert_eq!(
        schedule.next_after(at("2026-11-22T12:00:00Z")),
        Some(at("2026-11-23T06:00:00Z"))
    );
    let err = Report::parse(
        "r",
        &format!("/*\ntitle: R\nschedule: '0 7 * *'\n*/\n{body}"),
    )
    .expect_err("four fields");
    assert!(
        err.to_string().starts_with("report r: schedule '0 7 * *'"),
        "{err}"
    );
    let err = Report::parse("r", &format!("/*\ntitle: R\ntimezone: UTC\n*/\n{body}"))
        .expect_err("no schedule");
    assert!(
        err.to_string().contains("a timezone without a schedule"),
        "{err}"
    );
}

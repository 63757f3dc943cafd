/*!
Scheduled actions' schedules, Application Auto Scaling's expressions: `at(2026-12-24T18:00:00)`,
`rate(15 minutes)` and `cron(minutes hours day-of-month month day-of-week year)`, read in an
IANA time zone. [`Schedule::next_after`] gives the next run after an instant.

Daylight saving time: a local time that does not exist (the hour skipped in spring) runs at
the same wall-clock offset after the change (02:30 runs at 03:30), and a local time that
happens twice (the hour repeated in autumn) runs once, the first time.

Cron fields take numbers, `*`, `?`, lists (`1,15`), ranges (`MON-FRI`), steps (`0/15`, or `*` with a step),
and month and day names. Day-of-week counts 1 (SUN) to 7 (SAT), as Application Auto Scaling
does; one of day-of-month and day-of-week must be `?`. `L`, `W` and `#` are not taken.
*/

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
pub use chrono_tz::Tz;

#[derive(Debug, Clone, PartialEq)]
pub enum Expression {
    At(NaiveDateTime),
    Rate(Duration),
    Cron(Cron),
}

/// Each field as the set of values it matches.
#[derive(Debug, Clone, PartialEq)]
pub struct Cron {
    minutes: Vec<u32>,
    hours: Vec<u32>,
    /// None: `?`.
    days_of_month: Option<Vec<u32>>,
    months: Vec<u32>,
    /// 1 = Sunday; none: `?`.
    days_of_week: Option<Vec<u32>>,
    /// None: `*`.
    years: Option<Vec<i32>>,
}

/// A schedule: its expression in its time zone, between optional start and end times.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub expression: Expression,
    pub zone: Tz,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    /// Where `rate(...)` counts from when there is no start: when the action was created.
    pub created: DateTime<Utc>,
}

/// Parses `at(...)`, `rate(...)` or `cron(...)`; the error names the rule broken.
pub fn parse(text: &str) -> Result<Expression, String> {
    let text = text.trim();
    let inner = |prefix: &str| text.strip_prefix(prefix).and_then(|r| r.strip_suffix(')')).map(str::trim);
    if let Some(at) = inner("at(") {
        return NaiveDateTime::parse_from_str(at, "%Y-%m-%dT%H:%M:%S")
            .map(Expression::At)
            .map_err(|_| format!("'{at}' is not a date and time like 2026-12-24T18:00:00"));
    }
    if let Some(rate) = inner("rate(") {
        let (value, unit) = rate.split_once(' ').ok_or_else(|| format!("'{rate}' is not a rate like '15 minutes'"))?;
        let n: i64 = value.trim().parse().ok().filter(|n| (1..=100_000).contains(n)).ok_or_else(|| format!("'{value}' is not a whole number from 1 to 100000"))?;
        let seconds = match unit.trim() {
            "minute" | "minutes" => 60,
            "hour" | "hours" => 3600,
            "day" | "days" => 86_400,
            other => return Err(format!("'{other}' is not a unit; use minutes, hours or days")),
        };
        return Ok(Expression::Rate(Duration::seconds(n * seconds)));
    }
    if let Some(cron) = inner("cron(") {
        return parse_cron(cron).map(Expression::Cron);
    }
    Err("a schedule is at(...), rate(...) or cron(...)".into())
}

const MONTHS: [&str; 12] = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

fn parse_cron(text: &str) -> Result<Cron, String> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    if fields.len() != 6 {
        return Err(format!("cron takes 6 fields (minutes hours day-of-month month day-of-week year), not {}", fields.len()));
    }
    let question = |f: &str| f == "?";
    let (dom, dow) = (fields[2], fields[4]);
    if question(dom) == question(dow) {
        return Err("one of day-of-month and day-of-week must be '?', and only one".into());
    }
    let minutes = field(fields[0], "minutes", 0, 59, &[])?;
    let hours = field(fields[1], "hours", 0, 23, &[])?;
    let days_of_month = (!question(dom)).then(|| field(dom, "day-of-month", 1, 31, &[])).transpose()?;
    let months = field(fields[3], "month", 1, 12, &MONTHS)?;
    let days_of_week = (!question(dow)).then(|| field(dow, "day-of-week", 1, 7, &DAYS)).transpose()?;
    let years = match fields[5] {
        "*" => None,
        y => Some(field(y, "year", 1970, 2199, &[])?.into_iter().map(|y| y as i32).collect()),
    };
    Ok(Cron { minutes, hours, days_of_month, months, days_of_week, years })
}

/// One field's values, sorted; `names` stand for `low`, `low + 1`, ….
fn field(text: &str, name: &str, low: u32, high: u32, names: &[&str]) -> Result<Vec<u32>, String> {
    if text.contains(['L', 'W', '#']) && names.iter().all(|n| !text.to_ascii_uppercase().contains(n)) {
        return Err(format!("{name}: L, W and # are not supported"));
    }
    let value = |v: &str| -> Result<u32, String> {
        let upper = v.to_ascii_uppercase();
        if let Some(i) = names.iter().position(|n| *n == upper) {
            return Ok(low + i as u32);
        }
        v.parse::<u32>().ok().filter(|n| (low..=high).contains(n)).ok_or_else(|| format!("{name}: '{v}' is not a value from {low} to {high}"))
    };
    let mut out = Vec::new();
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().ok().filter(|s| *s >= 1).ok_or_else(|| format!("{name}: '{s}' is not a step of 1 or more"))?),
            None => (part, 1),
        };
        let (from, to) = match range {
            "*" | "?" => (low, high),
            r => match r.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                // `5/15` runs from 5 to the end of the field.
                None if step > 1 => (value(r)?, high),
                None => (value(r)?, value(r)?),
            },
        };
        if from > to {
            return Err(format!("{name}: the range {range} runs backwards"));
        }
        out.extend((from..=to).step_by(step as usize));
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

impl Cron {
    fn day_matches(&self, date: NaiveDate) -> bool {
        let year_ok = self.years.as_ref().is_none_or(|ys| ys.contains(&date.year()));
        let dom_ok = self.days_of_month.as_ref().is_none_or(|d| d.contains(&date.day()));
        let dow_ok = self.days_of_week.as_ref().is_none_or(|d| d.contains(&(date.weekday().num_days_from_sunday() + 1)));
        year_ok && self.months.contains(&date.month()) && dom_ok && dow_ok
    }
}

/// The instant a local time stands for in `zone`: a time skipped by daylight saving runs
/// after the change at the same offset from it; a repeated one the first time.
fn instant(zone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
        LocalResult::None => {
            // In the gap: the offset from before the change, which puts it after the change.
            let before = zone.from_local_datetime(&(local - Duration::hours(3))).earliest()?;
            let offset = before.offset().fix();
            Some(DateTime::from_naive_utc_and_offset(local - offset, Utc))
        }
    }
}

use chrono::Offset;

/// How far ahead a cron expression is searched (a `cron(0 0 29 FEB ? 2199)` may be far off).
const SEARCH_DAYS: i64 = 366 * 8;

impl Schedule {
    /// The first run strictly after `after`, within the start and end times.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let after = self.start.map_or(after, |s| after.max(s - Duration::seconds(1)));
        let next = match &self.expression {
            Expression::At(local) => instant(self.zone, *local).filter(|t| *t > after),
            Expression::Rate(every) => {
                let origin = self.start.unwrap_or(self.created);
                let step = every.num_seconds().max(60);
                let elapsed = (after - origin).num_seconds();
                let k = if elapsed < 0 { 0 } else { elapsed / step + 1 };
                Some(origin + Duration::seconds(k.saturating_mul(step)))
            }
            Expression::Cron(cron) => self.next_cron(cron, after),
        };
        next.filter(|t| self.end.is_none_or(|end| *t <= end))
    }

    fn next_cron(&self, cron: &Cron, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Start a day early: the local date of `after` may be behind its UTC date.
        let first_day = after.with_timezone(&self.zone).date_naive().pred_opt()?;
        for date in first_day.iter_days().take(SEARCH_DAYS as usize) {
            if !cron.day_matches(date) {
                continue;
            }
            let mut best: Option<DateTime<Utc>> = None;
            for &h in &cron.hours {
                for &m in &cron.minutes {
                    let Some(local) = date.and_hms_opt(h, m, 0) else { continue };
                    if let Some(t) = instant(self.zone, local).filter(|t| *t > after)
                        && best.is_none_or(|b| t < b)
                    {
                        best = Some(t);
                    }
                }
            }
            // Times of one day are in order, but a skipped hour may move one past the next.
            if best.is_some() {
                return best;
            }
        }
        None
    }
}

impl Schedule {
    /// The latest run in `(after, upto]`, found directly (not by stepping through every run
    /// between, which after a long absence could be millions).
    pub fn latest_in(&self, after: DateTime<Utc>, upto: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let after = self.start.map_or(after, |s| after.max(s - Duration::seconds(1)));
        let upto = self.end.map_or(upto, |e| upto.min(e));
        if upto <= after {
            return None;
        }
        let within = |t: DateTime<Utc>| t > after && t <= upto;
        match &self.expression {
            Expression::At(local) => instant(self.zone, *local).filter(|t| within(*t)),
            Expression::Rate(every) => {
                let origin = self.start.unwrap_or(self.created);
                let step = every.num_seconds().max(60);
                let elapsed = (upto - origin).num_seconds();
                // Runs are at origin + k·step, k ≥ 1 when counted from creation (as next_after).
                let k = elapsed.div_euclid(step);
                let k = if self.start.is_none() { k } else { k.max(0) };
                (k >= if self.start.is_none() { 1 } else { 0 }).then(|| origin + Duration::seconds(k * step)).filter(|t| within(*t))
            }
            Expression::Cron(cron) => {
                // Back from the last day, to the day before `after` (zones reach a day either way).
                let last = upto.with_timezone(&self.zone).date_naive().succ_opt()?;
                let first = after.with_timezone(&self.zone).date_naive().pred_opt()?;
                let mut date = last;
                for _ in 0..SEARCH_DAYS {
                    if date < first {
                        return None;
                    }
                    if cron.day_matches(date) {
                        let best = cron
                            .hours
                            .iter()
                            .flat_map(|&h| cron.minutes.iter().map(move |&m| (h, m)))
                            .filter_map(|(h, m)| instant(self.zone, date.and_hms_opt(h, m, 0)?))
                            .filter(|t| within(*t))
                            .max();
                        if best.is_some() {
                            return best;
                        }
                    }
                    date = date.pred_opt()?;
                }
                None
            }
        }
    }
}

/// When a local minute of `zone` is, for tests and for showing a schedule's times.
pub fn local(zone: Tz, t: DateTime<Utc>) -> String {
    let l = t.with_timezone(&zone);
    format!("{:04}-{:02}-{:02} {:02}:{:02} {}", l.year(), l.month(), l.day(), l.hour(), l.minute(), l.format("%Z"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn schedule(text: &str, zone: &str) -> Schedule {
        Schedule { expression: parse(text).unwrap(), zone: zone.parse().unwrap(), start: None, end: None, created: utc("2026-01-01T00:00:00Z") }
    }

    #[test]
    fn expressions_are_read_or_refused_by_rule() {
        assert!(matches!(parse("cron(0/15 9-17 ? * MON-FRI *)"), Ok(Expression::Cron(_))));
        assert_eq!(parse("rate(15 minutes)"), Ok(Expression::Rate(Duration::minutes(15))));
        assert!(matches!(parse("at(2026-12-24T18:00:00)"), Ok(Expression::At(_))));
        assert_eq!(parse("cron(0 9 * * * *)").unwrap_err(), "one of day-of-month and day-of-week must be '?', and only one");
        assert_eq!(parse("cron(0 9 * *)").unwrap_err(), "cron takes 6 fields (minutes hours day-of-month month day-of-week year), not 4");
        assert_eq!(parse("cron(60 9 * * ? *)").unwrap_err(), "minutes: '60' is not a value from 0 to 59");
        assert_eq!(parse("cron(0 9 L * ? *)").unwrap_err(), "day-of-month: L, W and # are not supported");
        assert_eq!(parse("rate(2 weeks)").unwrap_err(), "'weeks' is not a unit; use minutes, hours or days");
        assert_eq!(parse("at(tomorrow)").unwrap_err(), "'tomorrow' is not a date and time like 2026-12-24T18:00:00");
        assert_eq!(parse("every day").unwrap_err(), "a schedule is at(...), rate(...) or cron(...)");
    }

    #[test]
    fn cron_runs_at_the_local_minute_of_its_zone_in_summer_and_winter() {
        let s = schedule("cron(0 9 ? * MON-FRI *)", "Europe/Berlin");
        // Friday 2026-01-09 09:00 CET is 08:00 UTC; then Monday.
        assert_eq!(s.next_after(utc("2026-01-09T07:00:00Z")), Some(utc("2026-01-09T08:00:00Z")));
        assert_eq!(s.next_after(utc("2026-01-09T08:00:00Z")), Some(utc("2026-01-12T08:00:00Z")));
        // In summer (CEST) the same 09:00 is 07:00 UTC.
        assert_eq!(s.next_after(utc("2026-07-01T00:00:00Z")), Some(utc("2026-07-01T07:00:00Z")));
        assert_eq!(local("Europe/Berlin".parse().unwrap(), utc("2026-07-01T07:00:00Z")), "2026-07-01 09:00 CEST");
    }

    #[test]
    fn daylight_saving_changes_neither_skip_nor_repeat_a_run() {
        // New York springs forward on 2026-03-08 at 02:00: 02:30 does not exist that day and
        // runs at 03:30 EDT (07:30 UTC).
        let s = schedule("cron(30 2 * * ? *)", "America/New_York");
        assert_eq!(s.next_after(utc("2026-03-07T12:00:00Z")), Some(utc("2026-03-08T07:30:00Z")));
        assert_eq!(s.next_after(utc("2026-03-08T07:30:00Z")), Some(utc("2026-03-09T06:30:00Z")));
        // It falls back on 2026-11-01: 01:30 happens twice and runs once, the first time (EDT).
        let s = schedule("cron(30 1 * * ? *)", "America/New_York");
        assert_eq!(s.next_after(utc("2026-11-01T00:00:00Z")), Some(utc("2026-11-01T05:30:00Z")));
        assert_eq!(s.next_after(utc("2026-11-01T05:30:00Z")), Some(utc("2026-11-02T06:30:00Z")));
    }

    #[test]
    fn at_and_rate_and_the_end_time() {
        let s = schedule("at(2026-12-24T18:00:00)", "Asia/Tokyo");
        assert_eq!(s.next_after(utc("2026-12-01T00:00:00Z")), Some(utc("2026-12-24T09:00:00Z")));
        assert_eq!(s.next_after(utc("2026-12-24T09:00:00Z")), None, "once");
        let mut r = schedule("rate(15 minutes)", "UTC");
        assert_eq!(r.next_after(utc("2026-01-01T00:20:00Z")), Some(utc("2026-01-01T00:30:00Z")));
        r.end = Some(utc("2026-01-01T00:25:00Z"));
        assert_eq!(r.next_after(utc("2026-01-01T00:20:00Z")), None);
        let mut c = schedule("cron(0 0 1 JAN ? 2027)", "UTC");
        assert_eq!(c.next_after(utc("2026-06-01T00:00:00Z")), Some(utc("2027-01-01T00:00:00Z")));
        c.start = Some(utc("2027-06-01T00:00:00Z"));
        assert_eq!(c.next_after(utc("2026-06-01T00:00:00Z")), None, "the only run is before the start");
    }
}

//! time(), timestamp() and the calendar functions day_of_month,
//! day_of_week, day_of_year, days_in_month, hour, minute, month, year
//! (Prometheus v2.42 `promql/functions.go`, `dateWrapper`).
//!
//! Prometheus converts a sample value to a date with Go's
//! `time.Unix(int64(v), 0).UTC()`. We follow Go's arithmetic, including its
//! wrap-around, so that even absurd values (NaN converts to the smallest
//! int64 on amd64) give Prometheus's answer: seconds are shifted to Go's
//! "absolute" epoch (year -292277022399) as an unsigned number and split
//! into 400-, 100- and 4-year cycles as Go's `time.absDate` does.

use crate::promql::value::{Metric, Sample, Vector};

use super::{Func, NodeCache};

/// Seconds from Go's absolute zero year to the Unix epoch (Go's
/// `unixToInternal + internalToAbsolute`).
const UNIX_TO_ABSOLUTE: i64 = 9_223_372_028_715_321_600;
const ABSOLUTE_ZERO_YEAR: i64 = -292_277_022_399;
const SECONDS_PER_DAY: u64 = 86_400;
const DAYS_PER_400_YEARS: u64 = 365 * 400 + 97;
const DAYS_PER_100_YEARS: u64 = 365 * 100 + 24;
const DAYS_PER_4_YEARS: u64 = 365 * 4 + 1;
const DAYS_BEFORE: [i64; 13] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365];

/// `timestamp(v)`: each sample's own timestamp in seconds, name dropped.
pub(crate) fn timestamp(vec: &[Sample], cache: &mut NodeCache) -> Vector {
    vec.iter()
        .map(|s| Sample {
            metric: cache.drop_metric_name(&s.metric),
            t: s.t,
            v: s.t as f64 / 1000.0,
        })
        .collect()
}

/// Go's float64 to int64 conversion on amd64: truncation, and the smallest
/// int64 for NaN and out-of-range values.
pub(crate) fn go_f64_to_i64(v: f64) -> i64 {
    // i64::MIN is -2^63 exactly; the range excludes +2^63.
    let min = i64::MIN as f64;
    if v.is_nan() || !(min..-min).contains(&v) {
        i64::MIN
    } else {
        v as i64
    }
}

/// The calendar fields Prometheus's date functions use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub(crate) year: i64,
    pub(crate) month: i64,
    pub(crate) day: i64,
    pub(crate) yday: i64,
    pub(crate) weekday: i64,
    pub(crate) hour: i64,
    pub(crate) minute: i64,
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// The UTC calendar date of a Unix time in seconds, as Go computes it.
pub(crate) fn civil(unix_secs: i64) -> Civil {
    let abs = unix_secs.wrapping_add(UNIX_TO_ABSOLUTE) as u64;
    let mut d = abs / SECONDS_PER_DAY;

    let mut n = d / DAYS_PER_400_YEARS;
    let mut y = 400 * n;
    d -= DAYS_PER_400_YEARS * n;

    n = d / DAYS_PER_100_YEARS;
    n -= n >> 2;
    y += 100 * n;
    d -= DAYS_PER_100_YEARS * n;

    n = d / DAYS_PER_4_YEARS;
    y += 4 * n;
    d -= DAYS_PER_4_YEARS * n;

    n = d / 365;
    n -= n >> 2;
    y += n;
    d -= 365 * n;

    let year = (y as i64).wrapping_add(ABSOLUTE_ZERO_YEAR);
    let yday = d as i64;

    let (month, day) = month_day(year, yday);
    let weekday =
        (((abs.wrapping_add(SECONDS_PER_DAY)) % (7 * SECONDS_PER_DAY)) / SECONDS_PER_DAY) as i64;
    Civil {
        year,
        month,
        day,
        yday: yday + 1,
        weekday,
        hour: ((abs % SECONDS_PER_DAY) / 3600) as i64,
        minute: ((abs % 3600) / 60) as i64,
    }
}

fn month_day(year: i64, yday: i64) -> (i64, i64) {
    let mut day = yday;
    if is_leap(year) {
        if day > 31 + 29 - 1 {
            day -= 1;
        } else if day == 31 + 29 - 1 {
            return (2, 29);
        }
    }
    let mut month = (day / 31) as usize;
    let end = DAYS_BEFORE.get(month + 1).copied().unwrap_or(365);
    let begin = if day >= end {
        month += 1;
        end
    } else {
        DAYS_BEFORE.get(month).copied().unwrap_or(0)
    };
    (month as i64 + 1, day - begin + 1)
}

fn days_in_month(c: &Civil) -> i64 {
    match c.month {
        2 if is_leap(c.year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn field(f: Func, c: &Civil) -> f64 {
    (match f {
        Func::DaysInMonth => days_in_month(c),
        Func::DayOfMonth => c.day,
        Func::DayOfWeek => c.weekday,
        Func::DayOfYear => c.yday,
        Func::Hour => c.hour,
        Func::Minute => c.minute,
        Func::Month => c.month,
        _ => c.year,
    }) as f64
}

/// A calendar function: of the evaluation time when called without an
/// argument (a one-sample vector with no labels), else of each sample's
/// value taken as Unix seconds, with the metric name dropped.
pub(crate) fn date_function(
    f: Func,
    arg: Option<&[Sample]>,
    ts: i64,
    cache: &mut NodeCache,
) -> Vector {
    match arg {
        None => vec![Sample {
            metric: Metric::default(),
            t: 0,
            v: field(f, &civil(ts / 1000)),
        }],
        Some(vec) => vec
            .iter()
            .map(|s| Sample {
                metric: cache.drop_metric_name(&s.metric),
                t: s.t,
                v: field(f, &civil(go_f64_to_i64(s.v))),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        let c = civil(0);
        assert_eq!(
            (c.year, c.month, c.day, c.yday, c.weekday),
            (1970, 1, 1, 1, 4)
        );
        let c = civil(1_136_239_445); // 2006-01-02 22:04:05 UTC, a Monday
        assert_eq!(
            (c.year, c.month, c.day, c.hour, c.minute, c.weekday),
            (2006, 1, 2, 22, 4, 1)
        );
        assert_eq!(civil(1_456_790_399).day, 29); // 2016-02-29
        assert_eq!(civil(1_483_191_420).yday, 366);
        assert_eq!(days_in_month(&civil(1_454_284_800)), 29);
        let c = civil(-1);
        assert_eq!((c.year, c.month, c.day, c.hour), (1969, 12, 31, 23));
    }
}

//! Date functions (`year`, `month`, `day_of_month`, ...) in UTC, with our
//! own civil-from-days conversion.

use pharos_model::Labels;

use super::super::eval::{Evaluator, Range, SeriesV, Val};
use super::super::EvalError;
use crate::ast::Call;

/// `(year, month 1..=12, day 1..=31)` of days since 1970-01-01.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// The date function `name` of Unix time `v` (seconds).
pub(crate) fn date_part(name: &str, v: f64) -> f64 {
    if v.is_nan() || v.is_infinite() {
        return f64::NAN;
    }
    let secs = v as i64;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    match name {
        "year" => y as f64,
        "month" => m as f64,
        "day_of_month" => d as f64,
        "day_of_week" => (days + 4).rem_euclid(7) as f64,
        "day_of_year" => {
            let before: u32 = (1..m).map(|mm| days_in_month(y, mm)).sum();
            (before + d) as f64
        }
        "days_in_month" => days_in_month(y, m) as f64,
        "hour" => (sod / 3600) as f64,
        "minute" => ((sod % 3600) / 60) as f64,
        _ => f64::NAN,
    }
}

impl Evaluator<'_> {
    pub(crate) fn date_call(&mut self, c: &Call, r: Range) -> Result<Val, EvalError> {
        let n = r.len();
        let name = c.name.clone();
        let v = match c.args.first() {
            Some(e) => self.eval_vector(e, r)?,
            None => vec![SeriesV::new(
                Labels::empty(),
                (0..n).map(|i| Some(r.ts(i) as f64 / 1000.0)).collect(),
            )],
        };
        self.map_vector(v, n, true, |_, x| Some(date_part(&name, x)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        // 2024-02-29 is day 19782.
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(date_part("day_of_week", 0.0), 4.0);
        assert_eq!(date_part("day_of_year", 19_782.0 * 86_400.0), 60.0);
        assert_eq!(date_part("days_in_month", 19_782.0 * 86_400.0), 29.0);
        assert_eq!(date_part("hour", 3_600.0 * 5.0 + 61.0), 5.0);
        assert_eq!(date_part("minute", 3_600.0 * 5.0 + 61.0), 1.0);
    }
}

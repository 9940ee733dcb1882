//! OTLP names to Prometheus names, per the OpenTelemetry "Prometheus and
//! OpenMetrics Compatibility" specification as Prometheus's OTLP receiver
//! applies it.
//!
//! Metric names: the name is split into words at every character that is not
//! an ASCII letter or digit (so `.`, `-`, `:` and runs of `_` all become one
//! `_`); the unit is appended in Prometheus words (`s` → `seconds`, `By/s` →
//! `bytes_per_second`, `{...}` annotations dropped) unless the name already
//! contains that word; monotonic sums end in `total`, gauges with unit `1` in
//! `ratio`. A leading digit gets a `_` prefix.
//!
//! Label names: characters outside `[a-zA-Z0-9_]` become `_`, a leading digit
//! gets `key_`, a single leading `_` gets `key`.

/// How the metric is exposed, for the suffix rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameKind {
    /// Monotonic cumulative sum: gets `_total`.
    Counter,
    /// Gauge or non-monotonic sum: unit `1` becomes `_ratio`.
    Gauge,
    /// Histograms and summaries: only the unit.
    Other,
}

/// The Prometheus word for a UCUM main unit.
fn main_unit_word(u: &str) -> &str {
    match u {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "1" => "",
        "%" => "percent",
        other => other,
    }
}

/// The Prometheus word for a UCUM unit after `/`.
fn per_unit_word(u: &str) -> &str {
    match u {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        other => other,
    }
}

/// Words of `s`: maximal runs of ASCII letters and digits.
fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// One unit part as a `_`-joined word sequence; empty for annotations.
fn unit_part(part: &str, map: fn(&str) -> &str) -> String {
    let part = part.trim();
    if part.is_empty() || part.contains(['{', '}']) {
        return String::new();
    }
    words(map(part)).collect::<Vec<_>>().join("_")
}

/// The Prometheus unit for an OTLP unit: `seconds`, `bytes_per_second`, `""`.
pub(crate) fn prometheus_unit(unit: &str) -> String {
    let (main, per) = match unit.split_once('/') {
        Some((m, p)) => (m, Some(p)),
        None => (unit, None),
    };
    let main = unit_part(main, main_unit_word);
    let per = per.map(|p| unit_part(p, per_unit_word)).unwrap_or_default();
    match (main.is_empty(), per.is_empty()) {
        (_, true) => main,
        (true, false) => format!("per_{per}"),
        (false, false) => format!("{main}_per_{per}"),
    }
}

/// The Prometheus metric name, or `None` if nothing of the name survives.
pub(crate) fn metric_name(
    name: &str,
    unit: &str,
    kind: NameKind,
    add_suffixes: bool,
) -> Option<String> {
    let mut tokens: Vec<String> = words(name).map(str::to_string).collect();
    if tokens.is_empty() {
        return None;
    }
    if add_suffixes {
        let (main, per) = match unit.split_once('/') {
            Some((m, p)) => (m, Some(p)),
            None => (unit, None),
        };
        let main = unit_part(main, main_unit_word);
        if !main.is_empty() && !tokens.contains(&main) {
            tokens.push(main);
        }
        if let Some(per) = per
            .map(|p| unit_part(p, per_unit_word))
            .filter(|p| !p.is_empty())
        {
            let per = format!("per_{per}");
            if !tokens.contains(&per) {
                tokens.push(per);
            }
        }
        match kind {
            NameKind::Counter => {
                tokens.retain(|t| t != "total");
                tokens.push("total".to_string());
            }
            NameKind::Gauge if unit.trim() == "1" => {
                tokens.retain(|t| t != "ratio");
                tokens.push("ratio".to_string());
            }
            _ => {}
        }
    }
    let mut out = tokens.join("_");
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    Some(out)
}

/// A label name for an attribute key, or `None` for an empty key.
pub(crate) fn label_name(key: &str) -> Option<String> {
    if key.is_empty() {
        return None;
    }
    let s: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Some(if s.starts_with(|c: char| c.is_ascii_digit()) {
        format!("key_{s}")
    } else if s.starts_with('_') && !s.starts_with("__") {
        format!("key{s}")
    } else {
        s
    })
}

/// A float as Prometheus prints `le` and `quantile` values: shortest
/// round-tripping decimal, `+Inf`, `-Inf`, `NaN`.
pub(crate) fn format_float(v: f64) -> String {
    if v == f64::INFINITY {
        "+Inf".to_string()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else if v.is_nan() {
        "NaN".to_string()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str, unit: &str, kind: NameKind) -> String {
        metric_name(n, unit, kind, true).unwrap()
    }

    #[test]
    fn metric_names() {
        assert_eq!(
            name("http.server.duration", "s", NameKind::Other),
            "http_server_duration_seconds"
        );
        assert_eq!(
            name("http.server.requests", "{request}", NameKind::Counter),
            "http_server_requests_total"
        );
        assert_eq!(
            name("requests_total", "1", NameKind::Counter),
            "requests_total"
        );
        assert_eq!(
            name("system.memory.usage", "By", NameKind::Gauge),
            "system_memory_usage_bytes"
        );
        assert_eq!(
            name("throughput", "By/s", NameKind::Gauge),
            "throughput_bytes_per_second"
        );
        assert_eq!(
            name("rate", "{packets}/s", NameKind::Gauge),
            "rate_per_second"
        );
        assert_eq!(
            name("latency", "ms", NameKind::Gauge),
            "latency_milliseconds"
        );
        assert_eq!(
            name("cpu.utilization", "1", NameKind::Gauge),
            "cpu_utilization_ratio"
        );
        assert_eq!(
            name("cpu.utilization", "1", NameKind::Other),
            "cpu_utilization"
        );
        assert_eq!(name("disk", "%", NameKind::Gauge), "disk_percent");
        assert_eq!(
            name("duration_seconds", "s", NameKind::Other),
            "duration_seconds"
        );
        assert_eq!(name("a..b__c--d", "", NameKind::Gauge), "a_b_c_d");
        assert_eq!(name("9lives", "", NameKind::Gauge), "_9lives");
        assert_eq!(name("x", "custom.unit", NameKind::Gauge), "x_custom_unit");
        assert_eq!(
            name("total.requests", "", NameKind::Counter),
            "requests_total"
        );
        assert_eq!(
            metric_name("a.b", "s", NameKind::Counter, false).unwrap(),
            "a_b"
        );
        assert!(metric_name("...", "s", NameKind::Gauge, true).is_none());
        assert_eq!(prometheus_unit("By/s"), "bytes_per_second");
        assert_eq!(prometheus_unit("{req}"), "");
        assert_eq!(prometheus_unit("1"), "");
    }

    #[test]
    fn label_names() {
        assert_eq!(label_name("http.method").unwrap(), "http_method");
        assert_eq!(label_name("1st").unwrap(), "key_1st");
        assert_eq!(label_name("_private").unwrap(), "key_private");
        assert_eq!(label_name("__reserved").unwrap(), "__reserved");
        assert_eq!(label_name("ünï").unwrap(), "key_n_");
        assert!(label_name("").is_none());
    }

    #[test]
    fn floats() {
        assert_eq!(format_float(0.005), "0.005");
        assert_eq!(format_float(1.0), "1");
        assert_eq!(format_float(1e21), "1000000000000000000000");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
    }
}

//! Fuzzes the scrape-body parsers: no input may make `exposition::parse` panic,
//! in either format, and whatever they accept must be well formed (sorted
//! labels with a metric name, no staleness marker).

#![no_main]

use libfuzzer_sys::fuzz_target;
use pharos_ingest::exposition::{parse, parse_with_options, Format, ParseOptions};
use pharos_model::is_stale_nan;

fuzz_target!(|data: &[u8]| {
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        if let Ok(scraped) = parse(data, format) {
            for s in &scraped.samples {
                assert!(s.labels.metric_name().is_some());
                assert!(s
                    .labels
                    .as_slice()
                    .windows(2)
                    .all(|w| w[0].name < w[1].name));
                assert!(!is_stale_nan(s.value));
            }
        }
        if let Err(e) = parse_with_options(data, format, &ParseOptions::prometheus_2_42()) {
            assert!(e.offset <= data.len() && e.line >= 1);
        }
    }
});

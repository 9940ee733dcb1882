//! `pharos logs`: runs a LogQL query against a server's Loki API and prints
//! the entries (`TIME {labels} line`, oldest first) or, for a metric query,
//! the samples; `--follow` keeps polling for new entries, like `logcli
//! query --tail`.

use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

use crate::cli::LogsArgs;

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

pub fn run(args: LogsArgs) -> anyhow::Result<()> {
    let since = pharos_model::duration::parse_duration(&args.since)
        .map_err(|e| anyhow::anyhow!("--since: {e}"))?;
    let since_ns = i64::try_from(since.as_nanos()).unwrap_or(i64::MAX);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async move {
        let client = reqwest::Client::new();
        let end = now_ns();
        let mut start = end.saturating_sub(since_ns);
        // The first answer is the newest (or with --forward the oldest)
        // `limit` entries; following polls ask for what came after.
        let mut direction = if args.forward { "forward" } else { "backward" };
        loop {
            let end = now_ns();
            let body = fetch(&client, &args, start, end, direction).await?;
            direction = "forward";
            if args.json {
                println!("{body}");
            }
            let newest = print(&body, args.json)?;
            if !args.follow {
                return Ok(());
            }
            if let Some(t) = newest {
                start = t + 1;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

async fn fetch(
    client: &reqwest::Client,
    args: &LogsArgs,
    start: i64,
    end: i64,
    direction: &str,
) -> anyhow::Result<Value> {
    let url = format!(
        "{}/loki/api/v1/query_range",
        args.server.trim_end_matches('/')
    );
    let params = [
        ("query", args.query.clone()),
        ("start", start.to_string()),
        ("end", end.to_string()),
        ("limit", args.limit.to_string()),
        ("direction", direction.to_string()),
    ];
    let resp = client
        .post(&url)
        .form(&params)
        .send()
        .await
        .with_context(|| format!("querying {url}"))?;
    let status = resp.status();
    let bytes = resp.bytes().await.context("reading the answer")?;
    if !status.is_success() {
        anyhow::bail!(
            "{url} answered {status}: {}",
            String::from_utf8_lossy(&bytes).trim()
        );
    }
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{url} answered with a body that is not JSON"))
}

fn labels_text(v: &Value) -> String {
    let Some(m) = v.as_object() else {
        return "{}".to_string();
    };
    let parts: Vec<String> = m
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                Value::String(v.as_str().unwrap_or("").to_string())
            )
        })
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// Prints the answer (unless `json`); returns the newest entry time seen.
fn print(body: &Value, json: bool) -> anyhow::Result<Option<i64>> {
    let data = &body["data"];
    let result = data["result"].as_array().cloned().unwrap_or_default();
    match data["resultType"].as_str() {
        Some("streams") => {
            let mut rows: Vec<(i64, String, String)> = Vec::new();
            for s in &result {
                let labels = labels_text(&s["stream"]);
                for v in s["values"].as_array().into_iter().flatten() {
                    let ts: i64 = v[0].as_str().and_then(|t| t.parse().ok()).unwrap_or(0);
                    rows.push((ts, labels.clone(), v[1].as_str().unwrap_or("").to_string()));
                }
            }
            rows.sort_by_key(|r| r.0);
            if !json {
                for (ts, labels, line) in &rows {
                    println!("{} {labels} {line}", pharos_api::loki::format_ns(*ts));
                }
            }
            Ok(rows.last().map(|r| r.0))
        }
        Some("matrix") | Some("vector") => {
            if !json {
                for s in &result {
                    let labels = labels_text(&s["metric"]);
                    let points: Vec<&Value> = match s["values"].as_array() {
                        Some(v) => v.iter().collect(),
                        None => vec![&s["value"]],
                    };
                    for p in points {
                        let t = p[0].as_f64().unwrap_or(0.0);
                        println!(
                            "{} {labels} {}",
                            pharos_api::loki::format_ns((t * 1e9) as i64),
                            p[1].as_str().unwrap_or("")
                        );
                    }
                }
            }
            Ok(None)
        }
        other => anyhow::bail!("unexpected answer type {other:?}"),
    }
}

//! `pharos query`: runs a PromQL query against a server's HTTP API and prints
//! the answer as a table (or the raw JSON with `--json`).

use anyhow::Context;
use serde_json::Value;

use crate::cli::{QueryArgs, QueryRangeArgs, QuerySubcommand};

pub fn run(args: QueryArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async move {
        match args.range {
            Some(QuerySubcommand::Range(r)) => range(&args.server, r, args.json).await,
            None => {
                let expr = args
                    .expr
                    .context("a query is required: pharos query 'EXPR'")?;
                let mut params = vec![("query", expr)];
                if let Some(t) = args.time {
                    params.push(("time", t));
                }
                call(&args.server, "/api/v1/query", &params, args.json).await
            }
        }
    })
}

async fn range(server: &str, r: QueryRangeArgs, json: bool) -> anyhow::Result<()> {
    let params = vec![
        ("query", r.expr),
        ("start", r.start),
        ("end", r.end),
        ("step", r.step),
    ];
    call(server, "/api/v1/query_range", &params, json).await
}

async fn call(
    server: &str,
    path: &str,
    params: &[(&str, String)],
    json: bool,
) -> anyhow::Result<()> {
    let url = format!("{}{path}", server.trim_end_matches('/'));
    let resp = reqwest::Client::new()
        .post(&url)
        .form(params)
        .send()
        .await
        .with_context(|| format!("querying {url}"))?;
    let status = resp.status();
    let bytes = resp
        .bytes()
        .await
        .with_context(|| format!("reading the answer of {url}"))?;
    let body: Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{url} answered {status} with a body that is not JSON"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&body)?);
    }
    if body["status"] != "success" {
        anyhow::bail!(
            "{} ({}): {}",
            body["errorType"].as_str().unwrap_or("error"),
            status,
            body["error"].as_str().unwrap_or("unknown error")
        );
    }
    if !json {
        print!("{}", table(&body["data"]));
    }
    for w in body["warnings"].as_array().into_iter().flatten() {
        eprintln!("warning: {}", w.as_str().unwrap_or_default());
    }
    Ok(())
}

fn labels(m: &Value) -> String {
    let Some(obj) = m.as_object() else {
        return "{}".into();
    };
    let name = obj.get("__name__").and_then(Value::as_str).unwrap_or("");
    let rest: Vec<String> = obj
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| format!("{k}={}", v))
        .collect();
    if rest.is_empty() && !name.is_empty() {
        name.to_string()
    } else {
        format!("{name}{{{}}}", rest.join(", "))
    }
}

fn point(p: &Value) -> (String, String) {
    let t = p[0].as_f64().map(|t| format!("{t}")).unwrap_or_default();
    let v = p[1].as_str().unwrap_or_default().to_string();
    (t, v)
}

/// A readable table of a query result.
fn table(data: &Value) -> String {
    let mut out = String::new();
    match data["resultType"].as_str() {
        Some("vector") => {
            let rows: Vec<(String, String)> = data["result"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| (labels(&s["metric"]), point(&s["value"]).1))
                .collect();
            let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
            for (l, v) in rows {
                out.push_str(&format!("{l:<w$}  {v}\n"));
            }
        }
        Some("matrix") => {
            for s in data["result"].as_array().into_iter().flatten() {
                out.push_str(&labels(&s["metric"]));
                out.push('\n');
                for p in s["values"].as_array().into_iter().flatten() {
                    let (t, v) = point(p);
                    out.push_str(&format!("  {t:<16}  {v}\n"));
                }
            }
        }
        Some("scalar") | Some("string") => {
            let (t, v) = point(&data["result"]);
            out.push_str(&format!("{v}  @{t}\n"));
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn tables() {
        let v = serde_json::json!({"resultType": "vector", "result": [
            {"metric": {"__name__": "up", "job": "a"}, "value": [1.5, "1"]}]});
        assert_eq!(super::table(&v), "up{job=\"a\"}  1\n");
        let m = serde_json::json!({"resultType": "matrix", "result": [
            {"metric": {"job": "a"}, "values": [[1, "2"], [2, "3"]]}]});
        assert!(super::table(&m).starts_with("{job=\"a\"}\n  1"));
        let s = serde_json::json!({"resultType": "scalar", "result": [1, "2"]});
        assert_eq!(super::table(&s), "2  @1\n");
    }
}

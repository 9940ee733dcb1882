//! End-to-end tests of the scrape manager against tiny HTTP servers on
//! loopback: samples and report series, up=0 when a server stops, staleness
//! markers for disappearing series and removed targets, reload without
//! restarting unchanged loops, file_sd, and shutdown without markers.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use pharos_model::{
    is_stale_nan, AppendError, Appendable, Appender, CommitStats, Labels, StorageError,
};
use pharos_scrape::config::Config;
use pharos_scrape::{ManagerOptions, ScrapeManager, TargetHealth};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

// ---- an in-memory appendable ----

#[derive(Default)]
struct Mem {
    samples: Mutex<Vec<(Labels, i64, f64)>>,
}

struct MemApp {
    mem: Arc<Mem>,
    staged: Vec<(Labels, i64, f64)>,
}

impl Appender for MemApp {
    fn append(&mut self, l: &Labels, t: i64, v: f64) -> Result<(), AppendError> {
        self.staged.push((l.clone(), t, v));
        Ok(())
    }
    fn commit(self: Box<Self>) -> Result<CommitStats, StorageError> {
        let n = self.staged.len();
        self.mem.samples.lock().extend(self.staged);
        Ok(CommitStats {
            samples: n,
            series_created: 0,
            ..Default::default()
        })
    }
    fn rollback(self: Box<Self>) {}
}

struct MemAppendable(Arc<Mem>);

impl Appendable for MemAppendable {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(MemApp {
            mem: self.0.clone(),
            staged: Vec::new(),
        })
    }
}

impl Mem {
    /// Samples of series whose printed form contains every needle.
    fn of(&self, needles: &[&str]) -> Vec<(String, i64, f64)> {
        self.samples
            .lock()
            .iter()
            .map(|(l, t, v)| (l.to_string(), *t, *v))
            .filter(|(s, _, _)| needles.iter().all(|n| s.contains(n)))
            .collect()
    }
    fn has_value(&self, needles: &[&str], v: f64) -> bool {
        self.of(needles).iter().any(|s| s.2 == v)
    }
    fn has_stale(&self, needles: &[&str]) -> bool {
        self.of(needles).iter().any(|s| is_stale_nan(s.2))
    }
    fn len(&self) -> usize {
        self.samples.lock().len()
    }
}

// ---- a tiny HTTP server: one response per connection, then close ----

struct Server {
    addr: String,
    body: Arc<Mutex<String>>,
    requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

async fn serve(body: &str) -> Server {
    serve_with(body, false).await
}

async fn serve_with(body: &str, gzip: bool) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let body = Arc::new(Mutex::new(body.to_string()));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let (b, r) = (body.clone(), requests.clone());
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match sock.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            r.lock().push(String::from_utf8_lossy(&buf).into_owned());
            let text = b.lock().clone();
            let (payload, encoding) = if gzip {
                use std::io::Write;
                let mut e =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(text.as_bytes()).unwrap();
                (e.finish().unwrap(), "Content-Encoding: gzip\r\n")
            } else {
                (text.into_bytes(), "")
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n{encoding}Content-Length: {}\r\nConnection: close\r\n\r\n",
                payload.len()
            );
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.write_all(&payload).await;
            let _ = sock.shutdown().await;
        }
    });
    Server {
        addr,
        body,
        requests,
        task,
    }
}

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn config(yaml: &str) -> Config {
    Config::from_yaml(yaml).unwrap()
}

fn mem_manager(mem: &Arc<Mem>) -> ScrapeManager {
    ScrapeManager::with_options(
        Arc::new(MemAppendable(mem.clone())),
        ManagerOptions {
            discovery_poll: Duration::from_millis(50),
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_reports_and_goes_stale() {
    let srv = serve("# TYPE a gauge\na 1\nb{x=\"y\"} 2\n").await;
    let mem = Arc::new(Mem::default());
    let m = mem_manager(&mem);
    let c = config(&format!(
        "scrape_configs:\n- job_name: test\n  scrape_interval: 100ms\n  scrape_timeout: 80ms\n  authorization: {{credentials: tok}}\n  static_configs: [{{targets: ['{}'], labels: {{env: dev}}}}]\n",
        srv.addr
    ));
    m.apply_config(&c.global, &c.scrape_configs).await.unwrap();
    let inst = format!("instance=\"{}\"", srv.addr);
    let inst = inst.as_str();

    wait_for("first samples", || {
        mem.has_value(&["a{", inst, "env=\"dev\"", "job=\"test\""], 1.0)
    })
    .await;
    wait_for("up=1", || mem.has_value(&["up{", inst], 1.0)).await;
    assert!(mem.has_value(&["b{", "x=\"y\""], 2.0));
    assert!(!mem.of(&["scrape_duration_seconds{", inst]).is_empty());
    assert!(mem.has_value(&["scrape_samples_scraped{", inst], 2.0));
    assert!(mem.has_value(&["scrape_samples_post_metric_relabeling{", inst], 2.0));
    assert!(mem.has_value(&["scrape_series_added{", inst], 2.0));

    let t = m.targets();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].job, "test");
    assert_eq!(t[0].scrape_url, format!("http://{}/metrics", srv.addr));
    assert_eq!(t[0].labels.get("env"), Some("dev"));
    assert_eq!(
        t[0].discovered_labels.get("__address__"),
        Some(srv.addr.as_str())
    );
    assert_eq!(t[0].scrape_interval, Duration::from_millis(100));
    wait_for("health up", || m.targets()[0].health == TargetHealth::Up).await;
    assert!(m.targets()[0].last_scrape.is_some());

    // The request looks like Prometheus's.
    let req = srv.requests.lock()[0].to_ascii_lowercase();
    assert!(req.starts_with("get /metrics http/1.1"), "{req}");
    assert!(
        req.contains("accept: application/openmetrics-text;version=1.0.0"),
        "{req}"
    );
    assert!(req.contains("accept-encoding: gzip"), "{req}");
    assert!(
        req.contains("x-prometheus-scrape-timeout-seconds: 0.08"),
        "{req}"
    );
    assert!(req.contains("user-agent: pharos/"), "{req}");
    assert!(req.contains("authorization: bearer tok"), "{req}");

    // b disappears from the body: it gets a staleness marker.
    *srv.body.lock() = "a 1\n".to_string();
    wait_for("stale b", || mem.has_stale(&["b{", "x=\"y\""])).await;
    if m.stats().scrapes_failed_total == 0 {
        // (A scrape that timed out on a loaded machine would rightly mark a stale.)
        assert!(!mem.has_stale(&["a{", inst]));
    }

    // The server stops: up=0, a goes stale, the target is down with an error.
    srv.task.abort();
    wait_for("up=0", || mem.has_value(&["up{", inst], 0.0)).await;
    wait_for("stale a", || mem.has_stale(&["a{", inst])).await;
    wait_for("health down", || {
        m.targets()[0].health == TargetHealth::Down
    })
    .await;
    assert!(!m.targets()[0].last_error.is_empty());
    let s = m.stats();
    assert!(s.scrapes_total >= 3, "{s:?}");
    assert!(s.scrapes_failed_total >= 1, "{s:?}");
    assert!(s.samples_appended_total >= 3, "{s:?}");
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_removes_targets_with_staleness_and_keeps_others() {
    let s1 = serve("m 1\n").await;
    let s2 = serve("m 2\n").await;
    let mem = Arc::new(Mem::default());
    let m = mem_manager(&mem);
    let yaml = |targets: &str, extra: &str| {
        format!(
            "scrape_configs:\n- job_name: j\n  scrape_interval: 100ms\n  static_configs: [{{targets: [{targets}]}}]\n{extra}"
        )
    };
    let both = config(&yaml(&format!("'{}', '{}'", s1.addr, s2.addr), ""));
    m.apply_config(&both.global, &both.scrape_configs)
        .await
        .unwrap();
    let i1 = format!("instance=\"{}\"", s1.addr);
    let i2 = format!("instance=\"{}\"", s2.addr);
    wait_for("both scraped", || {
        mem.has_value(&["m{", &i1], 1.0) && mem.has_value(&["m{", &i2], 2.0)
    })
    .await;

    // Same config again: nothing restarts, nothing goes stale.
    m.apply_config(&both.global, &both.scrape_configs)
        .await
        .unwrap();
    let no_failures = || m.stats().scrapes_failed_total == 0;
    assert!(!no_failures() || (!mem.has_stale(&[&i1]) && !mem.has_stale(&[&i2])));

    // Target 2 removed: its series and report series go stale before apply_config returns.
    let one = config(&yaml(&format!("'{}'", s1.addr), ""));
    m.apply_config(&one.global, &one.scrape_configs)
        .await
        .unwrap();
    assert!(mem.has_stale(&["m{", &i2]));
    assert!(mem.has_stale(&["up{", &i2]));
    assert!(!no_failures() || !mem.has_stale(&[&i1]));
    assert_eq!(m.targets().len(), 1);

    // A new interval changes the target's identity, not its series: the old
    // loop hands them to the new one without staleness markers.
    let slower = config(&yaml(&format!("'{}'", s1.addr), "").replace("100ms", "150ms"));
    m.apply_config(&slower.global, &slower.scrape_configs)
        .await
        .unwrap();
    assert_eq!(m.targets()[0].scrape_interval, Duration::from_millis(150));
    assert!(!mem.has_stale(&["up{", &i1]));
    let n = mem.of(&["up{", &i1]).len();
    wait_for("scraped at the new interval", || {
        mem.of(&["up{", &i1]).len() > n + 1
    })
    .await;
    assert!(!mem.has_stale(&["up{", &i1]));

    // A changed job config with the same target keeps the loop: a metric
    // relabel rule now drops m, so m goes stale through normal staleness.
    let drop_m = config(
        &yaml(
            &format!("'{}'", s1.addr),
            "  metric_relabel_configs: [{source_labels: [__name__], regex: m, action: drop}]\n",
        )
        .replace("100ms", "150ms"),
    );
    m.apply_config(&drop_m.global, &drop_m.scrape_configs)
        .await
        .unwrap();
    wait_for("m stale after relabel change", || {
        mem.has_stale(&["m{", &i1])
    })
    .await;
    assert!(!mem.has_stale(&["up{", &i1]));
    wait_for("scraped with 0 samples kept", || {
        mem.has_value(&["scrape_samples_post_metric_relabeling{", &i1], 0.0)
    })
    .await;

    // A job removed entirely: its targets go stale.
    let none = config("scrape_configs: []");
    m.apply_config(&none.global, &none.scrape_configs)
        .await
        .unwrap();
    assert!(mem.has_stale(&["up{", &i1]));
    assert!(m.targets().is_empty());

    // Errors leave the running configuration alone.
    let err = m
        .apply_config(
            &both.global,
            &[
                both.scrape_configs[0].clone(),
                both.scrape_configs[0].clone(),
            ],
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "found multiple scrape configs with job name \"j\""
    );
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_sd_and_shutdown_without_markers() {
    let srv = serve("n 7\n").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targets.json");
    std::fs::write(
        &file,
        format!(
            r#"[{{"targets": ["{}"], "labels": {{"team": "a"}}}}]"#,
            srv.addr
        ),
    )
    .unwrap();
    let mem = Arc::new(Mem::default());
    let m = mem_manager(&mem);
    let c = config(&format!(
        "scrape_configs:\n- job_name: f\n  scrape_interval: 100ms\n  file_sd_configs: [{{files: ['{}']}}]\n  relabel_configs: [{{source_labels: [team], regex: b, action: drop}}]\n",
        dir.path().join("*.json").display()
    ));
    m.apply_config(&c.global, &c.scrape_configs).await.unwrap();
    let inst = format!("instance=\"{}\"", srv.addr);
    wait_for("file_sd target scraped", || {
        mem.has_value(&["n{", &inst, "team=\"a\""], 7.0)
    })
    .await;

    // The file changes: the target is now dropped by relabeling and goes stale.
    std::fs::write(
        &file,
        format!(
            r#"[{{"targets": ["{}"], "labels": {{"team": "b"}}}}]"#,
            srv.addr
        ),
    )
    .unwrap();
    wait_for("target dropped", || m.dropped_targets().len() == 1).await;
    wait_for("stale after file change", || mem.has_stale(&["n{", &inst])).await;
    assert!(m.targets().is_empty());

    // Back again, then shutdown: no markers on stop.
    std::fs::write(
        &file,
        format!(
            r#"[{{"targets": ["{}"], "labels": {{"team": "c"}}}}]"#,
            srv.addr
        ),
    )
    .unwrap();
    wait_for("scraped again", || {
        mem.has_value(&["n{", &inst, "team=\"c\""], 7.0)
    })
    .await;
    m.stop().await;
    let before = mem.len();
    assert!(!mem.has_stale(&["team=\"c\""]));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mem.len(), before, "nothing is written after stop");
    assert!(m.targets().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_limit_and_target_limit() {
    let srv = serve("a 1\nb 1\nc 1\n").await;
    let mem = Arc::new(Mem::default());
    let m = mem_manager(&mem);
    let c = config(&format!(
        "scrape_configs:\n- job_name: l\n  scrape_interval: 100ms\n  sample_limit: 2\n  static_configs: [{{targets: ['{}']}}]\n",
        srv.addr
    ));
    m.apply_config(&c.global, &c.scrape_configs).await.unwrap();
    wait_for("sample limit error", || {
        m.targets()[0].last_error == "sample limit exceeded"
    })
    .await;
    assert!(mem.of(&["a{"]).is_empty());
    assert!(m.stats().sample_limit_exceeded_total >= 1);

    let c = config(&format!(
        "scrape_configs:\n- job_name: l\n  scrape_interval: 100ms\n  target_limit: 1\n  static_configs: [{{targets: ['{}', '127.0.0.1:1']}}]\n",
        srv.addr
    ));
    m.apply_config(&c.global, &c.scrape_configs).await.unwrap();
    wait_for("target limit error", || {
        m.targets()
            .iter()
            .all(|t| t.last_error == "target_limit exceeded (number of targets: 2, limit: 1)")
    })
    .await;
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_body_limit_and_password_file() {
    let srv = serve_with("g 1\n", true).await;
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "first\n").unwrap();
    let mem = Arc::new(Mem::default());
    let m = mem_manager(&mem);
    let c = config(&format!(
        "scrape_configs:\n- job_name: z\n  scrape_interval: 100ms\n  basic_auth: {{username: u, password_file: '{}'}}\n  static_configs: [{{targets: ['{}']}}]\n",
        pw.display(),
        srv.addr
    ));
    m.apply_config(&c.global, &c.scrape_configs).await.unwrap();
    let inst = format!("instance=\"{}\"", srv.addr);
    wait_for("gzip body scraped", || mem.has_value(&["g{", &inst], 1.0)).await;
    // "u:first" and then "u:second" in base64: the file is read on every scrape.
    assert!(srv.requests.lock()[0].contains("Basic dTpmaXJzdA=="));
    std::fs::write(&pw, "second").unwrap();
    wait_for("new password used", || {
        srv.requests
            .lock()
            .iter()
            .any(|r| r.contains("Basic dTpzZWNvbmQ="))
    })
    .await;

    // A decoded body over the limit fails the scrape.
    *srv.body.lock() = format!("g 1\n{}", "x 1\n".repeat(100));
    let c = config(&format!(
        "scrape_configs:\n- job_name: z\n  scrape_interval: 100ms\n  body_size_limit: 100B\n  static_configs: [{{targets: ['{}']}}]\n",
        srv.addr
    ));
    m.apply_config(&c.global, &c.scrape_configs).await.unwrap();
    wait_for("body size limit", || {
        m.targets()[0].last_error == "body size limit exceeded"
    })
    .await;
    m.stop().await;
}

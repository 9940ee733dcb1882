//! `pharos serve`: opens the store, starts scraping, binds the listeners, and
//! shuts down gracefully on SIGINT/SIGTERM (stop accepting, stop scraping,
//! flush the WAL, exit 0). SIGHUP and `POST /-/reload` reload the configuration.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use pharos_api::status::StatusInfo;
use pharos_api::{ApiLimits, AppState, MetricsSource, Reloader, Telemetry};
use pharos_model::duration::parse_duration;
use pharos_model::{Appendable, Queryable};
use pharos_scrape::config::ScrapeConfig;
use pharos_scrape::ScrapeManager;
use tokio::sync::watch;

use crate::cli::{parse_size, ServeArgs, WalFsync};
use crate::config::{FileConfig, ListenConfig};

/// Default addresses of DESIGN's port table.
const DEFAULTS: [(&str, &str); 7] = [
    ("http", "127.0.0.1:9800"),
    ("otlp-grpc", "127.0.0.1:4317"),
    ("otlp-http", "127.0.0.1:4318"),
    ("zipkin", "127.0.0.1:9411"),
    ("jaeger-http", "127.0.0.1:14268"),
    ("jaeger-udp", "127.0.0.1:6831"),
    ("syslog", "off"),
];

fn resolve_addr(
    name: &str,
    flag: &Option<String>,
    file: &Option<String>,
) -> anyhow::Result<Option<SocketAddr>> {
    let default = DEFAULTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, a)| *a)
        .unwrap_or("off");
    let s = flag.as_deref().or(file.as_deref()).unwrap_or(default);
    if s == "off" {
        return Ok(None);
    }
    use std::net::ToSocketAddrs;
    let addr = s
        .to_socket_addrs()
        .with_context(|| format!("--{name}-addr: cannot resolve {s:?}"))?
        .next()
        .with_context(|| format!("--{name}-addr: no address for {s:?}"))?;
    Ok(Some(addr))
}

fn self_scrape_config(http: SocketAddr, interval: Option<&str>) -> anyhow::Result<ScrapeConfig> {
    let mut y = format!("job_name: pharos\nstatic_configs:\n  - targets: [\"{http}\"]\n");
    if let Some(i) = interval {
        y.push_str(&format!("scrape_interval: {i}\n"));
    }
    Ok(serde_yaml::from_str(&y)?)
}

/// Reloads the configuration file and hands it to the scrape manager.
struct ConfigReloader {
    path: Option<PathBuf>,
    scrape: Arc<ScrapeManager>,
    self_scrape: Option<ScrapeConfig>,
    status: Arc<StatusInfo>,
}

impl ConfigReloader {
    async fn apply(&self) -> anyhow::Result<()> {
        let r = self.apply_inner().await;
        self.status
            .last_reload_ok
            .store(r.is_ok(), Ordering::Relaxed);
        self.status
            .last_reload_ms
            .store(now_ms(), Ordering::Relaxed);
        r
    }

    async fn apply_inner(&self) -> anyhow::Result<()> {
        let (cfg, warnings) = match &self.path {
            Some(p) => FileConfig::load(p)?,
            None => {
                let mut c = FileConfig::default();
                c.global.scrape_interval = pharos_scrape::config::PromDuration::from_secs(15);
                (c, Vec::new())
            }
        };
        for w in warnings {
            tracing::warn!("{w}");
        }
        let mut jobs = cfg.scrape_configs.clone();
        if let Some(s) = &self.self_scrape {
            if !jobs.iter().any(|j| j.job_name == s.job_name) {
                jobs.push(s.clone());
            }
        }
        self.scrape.apply_config(&cfg.global, &jobs).await?;
        let shown = pharos_scrape::Config {
            global: cfg.global.clone(),
            scrape_configs: jobs.clone(),
            warnings: Vec::new(),
        };
        *self.status.config_yaml.write() = serde_yaml::to_string(&shown).unwrap_or_default();
        tracing::info!(jobs = jobs.len(), "configuration applied");
        Ok(())
    }
}

impl Reloader for ConfigReloader {
    fn reload(&self) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'static>> {
        let me = ConfigReloader {
            path: self.path.clone(),
            scrape: self.scrape.clone(),
            self_scrape: self.self_scrape.clone(),
            status: self.status.clone(),
        };
        Box::pin(async move {
            let r = me.apply().await.map_err(|e| format!("{e:#}"));
            if let Err(e) = &r {
                tracing::error!(error = %e, "reloading configuration failed; keeping the previous one");
            }
            r
        })
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The flags as `/api/v1/status/flags` shows them.
fn flag_map(a: &ServeArgs) -> std::collections::BTreeMap<String, String> {
    let opt = |o: &Option<String>| o.clone().unwrap_or_default();
    [
        ("data-dir", a.data_dir.display().to_string()),
        (
            "config",
            a.config
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
        ("http-addr", opt(&a.http_addr)),
        ("otlp-grpc-addr", opt(&a.otlp_grpc_addr)),
        ("otlp-http-addr", opt(&a.otlp_http_addr)),
        ("retention-time", a.retention_time.clone()),
        ("retention-size", a.retention_size.clone()),
        ("wal-fsync", format!("{:?}", a.wal_fsync).to_lowercase()),
        ("out-of-order-window", a.out_of_order_window.clone()),
        ("max-request-bytes", a.max_request_bytes.to_string()),
        ("no-self-scrape", a.no_self_scrape.to_string()),
        ("log-level", a.log_level.clone()),
        ("query.timeout", a.query_timeout.clone()),
        ("query.max-samples", a.query_max_samples.to_string()),
        ("query.threads", a.query_threads.to_string()),
        ("query.max-concurrency", a.query_max_concurrency.to_string()),
        ("query.lookback-delta", a.query_lookback_delta.clone()),
        ("logs.query-timeout", a.logs_query_timeout.clone()),
        ("logs.index-cache-size", a.logs_index_cache_size.clone()),
        (
            "logs.line-encoding",
            format!("{:?}", a.logs_line_encoding).to_lowercase(),
        ),
        ("web.enable-admin-api", a.web_enable_admin_api.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| args.log_level.clone());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&filter).context("--log-level")?)
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("pharos")
        .build()
        .context("starting the runtime")?;
    rt.block_on(serve(args))
}

/// The log store's options from the flags and the file's `logs:` section.
fn log_store_options(
    args: &ServeArgs,
    file: &FileConfig,
) -> anyhow::Result<pharos_logs::StoreOptions> {
    const MB: f64 = 1024.0 * 1024.0;
    let limits = pharos_logs::Limits {
        rate_bytes: args.logs_rate_mb * MB,
        burst_bytes: args.logs_burst_mb * MB,
        stream_rate_bytes: args.logs_stream_rate_mb * MB,
        stream_burst_bytes: args.logs_stream_burst_mb * MB,
        max_streams: args.logs_max_streams,
        ..Default::default()
    };
    for (flag, v) in [
        ("--logs.ingestion-rate-mb", args.logs_rate_mb),
        ("--logs.ingestion-burst-size-mb", args.logs_burst_mb),
        ("--logs.per-stream-rate-limit-mb", args.logs_stream_rate_mb),
        (
            "--logs.per-stream-rate-limit-burst-mb",
            args.logs_stream_burst_mb,
        ),
    ] {
        anyhow::ensure!(
            v.is_finite() && v >= 0.0,
            "{flag}: must be a number >= 0, got {v}"
        );
    }
    anyhow::ensure!(
        args.logs_segment_mb > 0,
        "--logs.segment-size-mb: must be > 0"
    );
    anyhow::ensure!(
        (16..=1 << 20).contains(&args.logs_group_kb),
        "--logs.row-group-size-kb: must be between 16 and 1048576, got {}",
        args.logs_group_kb
    );
    let max_age = parse_duration(&args.logs_segment_max_age)
        .map_err(|e| anyhow::anyhow!("--logs.segment-max-age: {e}"))?;
    anyhow::ensure!(!max_age.is_zero(), "--logs.segment-max-age: must be > 0");
    let period = parse_duration(&args.logs_retention_time)
        .map_err(|e| anyhow::anyhow!("--logs.retention.time: {e}"))?;
    let size = parse_size(&args.logs_retention_size)
        .map_err(|e| anyhow::anyhow!("--logs.retention.size: {e}"))?;
    let cache = parse_size(&args.logs_index_cache_size)
        .map_err(|e| anyhow::anyhow!("--logs.index-cache-size: {e}"))?;
    pharos_logs::store::set_index_cache_bytes(usize::try_from(cache).unwrap_or(usize::MAX));
    Ok(pharos_logs::StoreOptions {
        limits,
        segment_bytes: args.logs_segment_mb << 20,
        segment_max_age: max_age,
        retention: pharos_logs::Retention {
            period: (!period.is_zero()).then_some(period),
            max_bytes: (size > 0).then_some(size),
            rules: match &file.logs {
                Some(l) => l.retention_rules()?,
                None => Vec::new(),
            },
        },
        segment: pharos_logs::SegmentOptions {
            split_lines: args.logs_split_lines
                || args.logs_line_encoding == crate::cli::LineEncoding::Split,
            group_bytes: args.logs_group_kb << 10,
            ..Default::default()
        },
        ..Default::default()
    })
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // Configuration first: a bad file stops start-up with its message.
    // (Its warnings are logged once, when the reloader applies it below.)
    let file_cfg = match &args.config {
        Some(p) => FileConfig::load(p)?.0,
        None => FileConfig::default(),
    };
    let listen = file_cfg.listen.clone().unwrap_or_default();
    let ListenConfig {
        http,
        otlp_grpc,
        otlp_http,
        zipkin,
        jaeger_http,
        jaeger_udp,
        syslog,
    } = &listen;
    let http_addr = resolve_addr("http", &args.http_addr, http)?;
    let syslog_addr = resolve_addr("syslog", &args.syslog_addr, syslog)?;
    let grpc_addr = resolve_addr("otlp-grpc", &args.otlp_grpc_addr, otlp_grpc)?;
    let otlp_http_addr = resolve_addr("otlp-http", &args.otlp_http_addr, otlp_http)?;
    for (name, flag, file) in [
        ("zipkin", &args.zipkin_addr, zipkin),
        ("jaeger-http", &args.jaeger_http_addr, jaeger_http),
        ("jaeger-udp", &args.jaeger_udp_addr, jaeger_udp),
    ] {
        if let Some(a) = resolve_addr(name, flag, file)? {
            tracing::info!(listener = name, addr = %a, "listener reserved: this protocol is not served yet, nothing is bound");
        }
    }

    let retention = parse_duration(&args.retention_time)
        .map_err(|e| anyhow::anyhow!("--retention-time: {e}"))?;
    let retention_size =
        parse_size(&args.retention_size).map_err(|e| anyhow::anyhow!("--retention-size: {e}"))?;
    let ooo = parse_duration(&args.out_of_order_window)
        .map_err(|e| anyhow::anyhow!("--out-of-order-window: {e}"))?;

    let _lock = crate::lock::lock_data_dir(&args.data_dir)?;
    let mut opts = pharos_tsdb::Options {
        retention,
        retention_size_bytes: (retention_size > 0).then_some(retention_size),
        out_of_order_window_ms: ooo.as_millis() as i64,
        ..Default::default()
    };
    opts.wal.fsync = match args.wal_fsync {
        WalFsync::Always => pharos_wal::FsyncPolicy::Always,
        WalFsync::Interval => pharos_wal::FsyncPolicy::Interval(Duration::from_secs(1)),
    };
    let opts_fsync = opts.wal.fsync;
    let metrics_dir = args.data_dir.join("metrics");
    tracing::info!(dir = %metrics_dir.display(), "opening metrics store (replaying WAL)");
    let started = std::time::Instant::now();
    let db = {
        let dir = metrics_dir.clone();
        tokio::task::spawn_blocking(move || pharos_tsdb::Db::open(&dir, opts)).await??
    };
    let db = Arc::new(db);
    tracing::info!(elapsed = ?started.elapsed(), "metrics store open");

    let logs_dir = args.data_dir.join("logs");
    let store_opts = log_store_options(&args, &file_cfg)?;
    tracing::info!(dir = %logs_dir.display(), "opening log store (replaying WAL)");
    let logs = {
        let dir = logs_dir.clone();
        let fsync = opts_fsync;
        tokio::task::spawn_blocking(move || {
            pharos_logs::LogStore::open(
                &dir,
                pharos_logs::StoreOptions {
                    fsync,
                    ..store_opts
                },
            )
        })
        .await??
    };
    let logs = Arc::new(logs);
    tracing::info!(replayed = ?logs.replayed(), "log store open");

    // The ingest pipelines (`logs.pipelines`) in front of the log store, and
    // the timer that writes their metric filters to the metrics store. A
    // flush racing shutdown finds the store closed and ends the timer.
    let logs_cfg = file_cfg.logs.clone().unwrap_or_default();
    let log_processor = Arc::new(logs_cfg.processor()?);
    let log_sink: Arc<dyn pharos_model::LogSink> = if log_processor.is_empty() {
        logs.clone()
    } else {
        tracing::info!(
            pipelines = logs_cfg.pipelines.len(),
            "log ingest pipelines configured"
        );
        Arc::new(pharos_logs::process::ProcessingSink::new(
            log_processor.clone(),
            logs.clone(),
        ))
    };
    if log_processor.has_metrics() {
        let interval = logs_cfg.metrics_interval()?;
        let processor = log_processor.clone();
        let target: Arc<dyn Appendable> = db.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let (p, t) = (processor.clone(), target.clone());
                match tokio::task::spawn_blocking(move || p.flush_metrics(&*t, now_ms())).await {
                    Ok(Ok(s)) if s.refused > 0 => tracing::warn!(
                        refused = s.refused,
                        written = s.samples,
                        "log metric filters: samples refused by the metrics store"
                    ),
                    Ok(Ok(_)) => {}
                    Ok(Err(pharos_model::StorageError::Closed)) => break,
                    Ok(Err(e)) => tracing::error!(error = %e, "log metric filters: writing failed"),
                    Err(e) => tracing::error!(error = %e, "log metric filters: flush failed"),
                }
            }
        });
    }

    let appendable: Arc<dyn Appendable> = db.clone();
    let queryable: Arc<dyn Queryable> = db.clone();
    let scrape = Arc::new(ScrapeManager::new(appendable.clone()));

    // Bind every listener before anything is announced as ready.
    let bind = |a: Option<SocketAddr>, name: &'static str| async move {
        match a {
            None => Ok(None),
            Some(a) => tokio::net::TcpListener::bind(a)
                .await
                .map(Some)
                .with_context(|| format!("binding the {name} listener on {a}")),
        }
    };
    let http_l = bind(http_addr, "http").await?;
    let grpc_l = bind(grpc_addr, "otlp-grpc").await?;
    let otlp_http_l = bind(otlp_http_addr, "otlp-http").await?;
    // Syslog listens on TCP and UDP at the same address.
    let syslog_l = match syslog_addr {
        None => None,
        Some(a) => {
            let tcp = tokio::net::TcpListener::bind(a)
                .await
                .with_context(|| format!("binding the syslog TCP listener on {a}"))?;
            let udp = tokio::net::UdpSocket::bind(tcp.local_addr()?)
                .await
                .with_context(|| format!("binding the syslog UDP socket on {a}"))?;
            Some((tcp, udp))
        }
    };
    let http_bound = match &http_l {
        Some(l) => Some(l.local_addr()?),
        None => None,
    };

    let self_scrape = match (args.no_self_scrape, http_bound) {
        (false, Some(a)) => Some(self_scrape_config(a, None)?),
        _ => None,
    };
    let status = Arc::new(StatusInfo {
        flags: flag_map(&args),
        start_time_ms: now_ms(),
        storage_retention: if retention_size > 0 {
            format!("{} or {}", args.retention_time, args.retention_size)
        } else {
            args.retention_time.clone()
        },
        ..Default::default()
    });
    let reloader = Arc::new(ConfigReloader {
        path: args.config.clone(),
        scrape: scrape.clone(),
        self_scrape,
        status: status.clone(),
    });
    reloader.apply().await?;

    let query_timeout =
        parse_duration(&args.query_timeout).map_err(|e| anyhow::anyhow!("--query.timeout: {e}"))?;
    let logs_query_timeout = parse_duration(&args.logs_query_timeout)
        .map_err(|e| anyhow::anyhow!("--logs.query-timeout: {e}"))?;
    let lookback = parse_duration(&args.query_lookback_delta)
        .map_err(|e| anyhow::anyhow!("--query.lookback-delta: {e}"))?;
    let engine = pharos_promql::engine::Engine::new(pharos_promql::engine::EngineOptions {
        lookback_delta_ms: lookback.as_millis() as i64,
        max_samples: args.query_max_samples,
        timeout: query_timeout,
        threads: match args.query_threads {
            0 => pharos_promql::engine::default_threads(),
            n => n,
        },
        ..Default::default()
    });
    let query_service = Arc::new(pharos_api::query::QueryService::new(
        engine,
        args.query_max_concurrency,
        query_timeout,
    ));
    let telemetry = Arc::new(Telemetry::default());
    let start_time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let sources: Vec<Arc<dyn MetricsSource>> = vec![
        Arc::new(pharos_api::telemetry::ProcessMetrics {
            start_time_seconds: start_time,
        }),
        Arc::new(pharos_api::sources::TsdbMetrics(db.clone())),
        Arc::new(pharos_api::sources::ScrapeMetrics(scrape.clone())),
        query_service.clone(),
        Arc::new(pharos_api::sources::LogPipelineMetrics(
            log_processor.clone(),
        )),
    ];
    let ready = Arc::new(AtomicBool::new(false));
    let state = AppState {
        appendable,
        queryable,
        telemetry,
        sources: Arc::new(sources),
        limits: ApiLimits {
            max_body_bytes: args.max_request_bytes,
            series: pharos_ingest::remote_write::Limits {
                max_labels_per_series: args.max_labels_per_series,
                max_label_name_len: args.max_label_name_length,
                max_label_value_len: args.max_label_value_length,
            },
            logs_max_entries: args.logs_max_entries,
            logs_max_series: args.logs_max_series,
            logs_query_timeout,
        },
        ready: ready.clone(),
        reloader: Some(reloader.clone()),
        scrape: Some(scrape.clone()),
        db: Some(db.clone()),
        query: Some(query_service.clone()),
        status,
        admin_api: args.web_enable_admin_api,
        logs: Some(logs.clone()),
        log_sink: Some(log_sink.clone()),
        es_mapping: Arc::new(
            file_cfg
                .logs
                .as_ref()
                .and_then(|l| l.elasticsearch.clone())
                .unwrap_or_default(),
        ),
    };

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut servers = tokio::task::JoinSet::new();
    let mut serve_on = |l: Option<tokio::net::TcpListener>,
                        router: axum::Router,
                        direct: Option<pharos_api::AppState>,
                        name: &'static str| {
        if let Some(l) = l {
            let mut rx = stop_rx.clone();
            if let Ok(a) = l.local_addr() {
                tracing::info!(listener = name, addr = %a, "listening");
            }
            servers.spawn(async move {
                let shutdown = async move {
                    let _ = rx.wait_for(|v| *v).await;
                };
                pharos_api::server::serve(l, router, direct, shutdown).await;
            });
        }
    };
    serve_on(
        http_l,
        pharos_api::http_router(state.clone()),
        Some(state.clone()),
        "http",
    );
    serve_on(
        otlp_http_l,
        pharos_api::otlp_http_router(state.clone()),
        None,
        "otlp-http",
    );
    serve_on(
        grpc_l,
        pharos_api::otlp_grpc_service(state.clone()).into_axum_router(),
        None,
        "otlp-grpc",
    );

    // Maintenance: blocks, compaction, retention.
    let maint_db = db.clone();
    let mut maint_rx = stop_rx.clone();
    let maintenance = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = maint_rx.wait_for(|v| *v) => break,
            }
            let d = maint_db.clone();
            match tokio::task::spawn_blocking(move || d.maintenance()).await {
                Ok(Ok(r)) => tracing::debug!(?r, "storage maintenance done"),
                Ok(Err(e)) => tracing::error!(error = %e, "storage maintenance failed"),
                Err(e) => tracing::error!(error = %e, "storage maintenance panicked"),
            }
        }
    });

    if let Some((tcp, udp)) = syslog_l {
        if let Ok(a) = tcp.local_addr() {
            tracing::info!(listener = "syslog", addr = %a, "listening (tcp and udp)");
        }
        servers.spawn(pharos_api::syslog::serve_tcp(
            tcp,
            log_sink.clone(),
            stop_rx.clone(),
        ));
        servers.spawn(pharos_api::syslog::serve_udp(
            udp,
            log_sink.clone(),
            stop_rx.clone(),
        ));
    }

    // The log WAL's interval fsync.
    let sync_logs = logs.clone();
    let mut sync_rx = stop_rx.clone();
    let log_sync = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = sync_rx.wait_for(|v| *v) => break,
            }
            let l = sync_logs.clone();
            if let Ok(Err(e)) = tokio::task::spawn_blocking(move || l.sync_if_due()).await {
                tracing::error!(error = %e, "log WAL fsync failed");
            }
        }
    });

    ready.store(true, Ordering::Release);
    tracing::info!("pharos is ready");

    // Signals: SIGINT/SIGTERM stop; SIGHUP reloads.
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing SIGHUP handler")?;
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("received SIGTERM, shutting down"); break; }
            _ = int.recv() => { tracing::info!("received SIGINT, shutting down"); break; }
            _ = hup.recv() => {
                tracing::info!("received SIGHUP, reloading configuration");
                let _ = reloader.reload().await;
            }
        }
    }

    ready.store(false, Ordering::Release);
    let _ = stop_tx.send(true);
    scrape.stop().await;
    let drain = async { while servers.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(10), drain)
        .await
        .is_err()
    {
        tracing::warn!("some connections did not finish within 10s; closing anyway");
    }
    let _ = maintenance.await;
    let _ = log_sync.await;
    if let Err(e) = logs.sync() {
        tracing::error!(error = %e, "log WAL fsync at shutdown failed");
    }
    let d = db.clone();
    tokio::task::spawn_blocking(move || d.close()).await??;
    tracing::info!("shutdown complete");
    Ok(())
}

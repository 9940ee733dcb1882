"""pharos scrapes a Python prometheus_client target: samples, target labels,
`up` and the scrape report series, and staleness after the target stops."""

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from conftest import free_port, wait_until

STALE = "StaleNaN"


def test_scrape_prometheus_client_target(pharos_factory):
    reg = CollectorRegistry()
    c = Counter("e2e_requests", "Requests served.", ["path"], registry=reg)
    c.labels("/a").inc(3)
    g = Gauge("e2e_temperature_celsius", "A gauge.", registry=reg)
    g.set(21.5)
    h = Histogram("e2e_latency_seconds", "A histogram.", registry=reg, buckets=[0.1, 1.0])
    h.observe(0.05)
    port = free_port()
    server, _thread = start_http_server(port, addr="127.0.0.1", registry=reg)

    cfg = f"""
global:
  scrape_interval: 1s
  scrape_timeout: 500ms
scrape_configs:
  - job_name: app
    static_configs:
      - targets: ['127.0.0.1:{port}']
        labels: {{env: e2e}}
"""
    p = pharos_factory(cfg, args=["--no-self-scrape"]).start()
    series = wait_until(lambda: p.series("e2e_requests_total"), what="scraped counter")
    s = series[0]
    assert s["job"] == "app" and s["instance"] == f"127.0.0.1:{port}", s
    assert s["env"] == "e2e" and s["path"] == "/a", s
    wait_until(lambda: p.series('up{job="app"}'), what="up series")
    for name in ["scrape_duration_seconds", "scrape_samples_scraped",
                 "scrape_samples_post_metric_relabeling", "scrape_series_added"]:
        assert p.series(name), name
    assert p.series('e2e_latency_seconds_bucket{le="0.1"}')
    time.sleep(2)

    # The target goes away: up becomes 0 and its series get staleness markers.
    server.shutdown()
    server.server_close()
    time.sleep(3)
    assert p.stop() == 0, p.log_text()[-3000:]

    rows = p.dump('{job="app"}')
    by_name = {}
    for labels, value, ts in rows:
        by_name.setdefault(labels["__name__"], []).append((ts, value))
    for v in by_name.values():
        v.sort()
    counter = [v for _, v in by_name["e2e_requests_total"]]
    assert "3" in counter or "3.0" in counter, counter
    assert counter[-1] == STALE, counter
    gauge = [v for _, v in by_name["e2e_temperature_celsius"]]
    assert "21.5" in gauge and gauge[-1] == STALE, gauge
    up = [v for _, v in by_name["up"]]
    assert up[0] == "1" and up[-1] == "0", up
    # Timestamps are ascending and roughly one interval apart.
    ts = [t for t, _ in by_name["up"]]
    assert all(b > a for a, b in zip(ts, ts[1:])), ts
    assert 500 <= (ts[1] - ts[0]) <= 1500, ts

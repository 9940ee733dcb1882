"""Debian's Prometheus 2.42 scrapes a target and remote-writes into pharos;
every sample Prometheus stored must be in pharos, with identical values."""

import shutil
import subprocess
import time

import pytest
import requests
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from conftest import free_port, wait_until


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="Debian prometheus not installed")
def test_prometheus_remote_write_into_pharos(pharos_factory, tmp_path):
    reg = CollectorRegistry()
    c = Counter("e2e_rw_events", "Events.", ["kind"], registry=reg)
    g = Gauge("e2e_rw_level", "Level.", registry=reg)
    c.labels("a").inc(1)
    c.labels("b").inc(2)
    g.set(0.25)
    target_port = free_port()
    server, _ = start_http_server(target_port, addr="127.0.0.1", registry=reg)

    p = pharos_factory(args=["--no-self-scrape"]).start()
    prom_port = free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(f"""
global:
  scrape_interval: 1s
  scrape_timeout: 500ms
scrape_configs:
  - job_name: app
    static_configs: [{{targets: ['127.0.0.1:{target_port}']}}]
remote_write:
  - url: {p.url}/api/v1/write
    queue_config: {{batch_send_deadline: 500ms, min_backoff: 100ms, max_backoff: 1s}}
""")
    prom_log = open(tmp_path / "prometheus.log", "wb")
    prom = subprocess.Popen([
        "prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'prom-data'}",
        f"--web.listen-address=127.0.0.1:{prom_port}",
    ], stdout=prom_log, stderr=prom_log)
    try:
        prom_url = f"http://127.0.0.1:{prom_port}"
        wait_until(lambda: requests.get(prom_url + "/-/ready", timeout=1).status_code == 200,
                   what="prometheus ready")
        for i in range(6):
            c.labels("a").inc(1)
            g.set(i * 1.5)
            time.sleep(1)
        wait_until(lambda: p.series('e2e_rw_events_total{job="app"}'), what="remote-written series")
        # Let the remote-write queue drain what Prometheus has scraped so far.
        time.sleep(3)
        now = time.time()
        r = requests.get(prom_url + "/api/v1/query",
                         params={"query": '{job="app"}[1h]', "time": now}, timeout=10).json()
        assert r["status"] == "success", r
        expected = set()
        for s in r["data"]["result"]:
            labels = tuple(sorted(s["metric"].items()))
            for ts, v in s["values"]:
                if ts <= now - 2:  # older than two drain periods: must have arrived
                    expected.add((labels, round(float(ts) * 1000), float(v)))
        assert len(expected) >= 10, expected
    finally:
        prom.terminate()
        prom.wait(timeout=60)
        server.shutdown()
    assert p.stop() == 0
    got = set()
    for labels, value, ts in p.dump('{job="app"}'):
        if value != "StaleNaN":
            got.add((tuple(sorted(labels.items())), ts, float(value)))
    missing = expected - got
    assert not missing, f"{len(missing)} samples missing, e.g. {sorted(missing)[:5]}"

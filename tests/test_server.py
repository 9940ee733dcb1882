"""The server itself: help, health, own metrics, configuration handling,
reload, bad input on ingest endpoints, and graceful shutdown."""

import os
import signal
import subprocess
import time

import requests

from conftest import pharos_bin, wait_until


def test_help_documents_every_subcommand():
    for args in (["--help"], ["serve", "--help"], ["tsdb", "--help"], ["tsdb", "analyze", "--help"],
                 ["tsdb", "dump", "--help"]):
        out = subprocess.run([pharos_bin(), *args], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert "Usage:" in out.stdout
    serve_help = subprocess.run([pharos_bin(), "serve", "--help"], capture_output=True, text=True).stdout
    for flag in ["--http-addr", "--otlp-grpc-addr", "--otlp-http-addr", "--zipkin-addr", "--syslog-addr",
                 "--data-dir", "--config", "--retention-time", "--retention-size", "--wal-fsync"]:
        assert flag in serve_help, flag


def test_health_ready_metrics_and_self_scrape(pharos_factory):
    p = pharos_factory(config="global: {scrape_interval: 1s}\n").start()
    assert requests.get(p.url + "/-/healthy").status_code == 200
    assert requests.get(p.url + "/-/ready").status_code == 200
    m = requests.get(p.url + "/metrics").text
    for name in ["pharos_tsdb_head_series", "pharos_wal_", "process_resident_memory_bytes",
                 "pharos_ingest_samples_rejected_total", "pharos_http_requests_total"]:
        assert name in m, name
    # pharos scrapes itself by default, like Prometheus.
    s = wait_until(lambda: p.series('up{job="pharos"}'), what="self-scrape")
    assert s[0]["instance"] == f"127.0.0.1:{p.http_port}"
    assert p.stop() == 0


def test_prometheus_config_sections_warn_not_fail(pharos_factory):
    cfg = """
global: {scrape_interval: 15s, external_labels: {site: x}}
rule_files: ['rules.yml']
alerting: {alertmanagers: [{static_configs: [{targets: ['localhost:9093']}]}]}
remote_write: [{url: 'http://127.0.0.1:1/api/v1/write'}]
scrape_configs: []
"""
    p = pharos_factory(cfg).start()
    log = p.log_text()
    for section in ["rule_files", "alerting", "remote_write"]:
        assert log.count(f'"{section}"') == 1, (section, log)
    assert p.stop() == 0


def test_bad_config_is_an_error(tmp_path):
    cfg = tmp_path / "bad.yml"
    cfg.write_text("scrape_configs:\n  - job_name: a\n    bogus_field: 1\n")
    out = subprocess.run([pharos_bin(), "serve", "--config", str(cfg), "--data-dir", str(tmp_path / "d"),
                          "--http-addr", "off", "--otlp-grpc-addr", "off", "--otlp-http-addr", "off"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert "bogus_field" in out.stderr, out.stderr


def test_reload_sighup_and_http(pharos_factory, tmp_path):
    p = pharos_factory(config="scrape_configs: []\n", args=["--no-self-scrape"]).start()
    p.config_path.write_text(f"""
global: {{scrape_interval: 1s}}
scrape_configs:
  - job_name: reloaded
    static_configs: [{{targets: ['127.0.0.1:{p.http_port}']}}]
""")
    p.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: p.series('up{job="reloaded"}'), what="job added by SIGHUP reload")
    p.config_path.write_text("scrape_configs: [{job_name: x, bogus: 1}]\n")
    r = requests.post(p.url + "/-/reload")
    assert r.status_code == 500 and "bogus" in r.text, r.text
    p.config_path.write_text(f"""
global: {{scrape_interval: 1s}}
scrape_configs:
  - job_name: second
    static_configs: [{{targets: ['127.0.0.1:{p.http_port}']}}]
""")
    assert requests.post(p.url + "/-/reload").status_code == 200
    wait_until(lambda: p.series('up{job="second"}'), what="job added by HTTP reload")
    assert p.stop() == 0


def test_remote_write_bad_input(pharos_factory):
    p = pharos_factory(args=["--no-self-scrape", "--max-request-bytes", "1000"]).start()
    r = requests.post(p.url + "/api/v1/write", data=b"not snappy at all",
                      headers={"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf"})
    assert r.status_code == 400 and "snappy" in r.text.lower(), r.text
    r = requests.post(p.url + "/api/v1/write", data=os.urandom(5000))
    assert r.status_code == 413, r.text
    r = requests.post(p.url + "/v1/metrics", data=b"\xff\xff\xff",
                      headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 400, r.text
    assert p.stop() == 0


def test_series_api_errors(pharos_factory):
    p = pharos_factory(args=["--no-self-scrape"]).start()
    r = requests.get(p.url + "/api/v1/series")
    assert r.status_code == 400 and r.json()["errorType"] == "bad_data"
    r = requests.get(p.url + "/api/v1/series", params={"match[]": "up{"})
    assert r.status_code == 400 and "parse error" in r.json()["error"]
    r = requests.get(p.url + "/api/v1/series", params={"match[]": "up", "start": "yesterday"})
    assert r.status_code == 400
    assert p.stop() == 0


def test_sigint_shuts_down_cleanly(pharos_factory):
    p = pharos_factory().start()
    t = time.time()
    assert p.stop(signal.SIGINT) == 0
    assert time.time() - t < 15


def test_debian_prometheus_yml_accepted_unchanged(pharos_factory):
    import pathlib
    import pytest
    path = pathlib.Path("/etc/prometheus/prometheus.yml")
    if not path.exists():
        pytest.skip("Debian's /etc/prometheus/prometheus.yml is not installed")
    p = pharos_factory(path.read_text()).start()
    wait_until(lambda: p.series('up{job="prometheus"}'), what="job from Debian's sample config")
    assert p.log_text().count('"alerting"') == 1
    assert p.stop() == 0


def test_slow_target_blocks_nobody(pharos_factory):
    import http.server
    import threading

    from conftest import free_port

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            time.sleep(3)
            try:
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"slow_metric 1\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # pharos gave up after its scrape timeout, as it should

        def log_message(self, *args):
            pass

    class Fast(Slow):
        def do_GET(self):  # noqa: N802
            body = b"fast_metric 1\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    slow_port, fast_port = free_port(), free_port()
    servers = []
    for handler, port in ((Slow, slow_port), (Fast, fast_port)):
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
    cfg = f"""
global: {{scrape_interval: 1s, scrape_timeout: 500ms}}
scrape_configs:
  - job_name: slow
    static_configs: [{{targets: ['127.0.0.1:{slow_port}']}}]
  - job_name: fast
    static_configs: [{{targets: ['127.0.0.1:{fast_port}']}}]
"""
    p = pharos_factory(cfg, args=["--no-self-scrape"]).start()
    time.sleep(5)
    for srv in servers:
        srv.shutdown()
    assert p.stop() == 0
    fast = [v for _, v, _ in p.dump('up{job="fast"}')]
    slow = [v for _, v, _ in p.dump('up{job="slow"}')]
    assert fast.count("1") >= 3, fast
    assert slow and set(slow) == {"0"}, slow
    assert not p.dump("slow_metric")

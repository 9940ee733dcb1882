"""The ingest pipeline end to end: the real binary with `logs.pipelines` in its
configuration file. NGINX combined lines and JSON lines are pushed through the
Loki push API; the Loki query API shows the promoted labels, the times taken
from the lines, what drop/keep removed, the redactions and the cardinality
guard; the Prometheus API shows a metric filter's counters."""

import json
import subprocess
import time
from datetime import datetime, timedelta, timezone

import requests

from conftest import pharos_bin, wait_until

CONFIG = r"""
logs:
  metrics_interval: 1s
  pipelines:
    - selector: '{app="nginx"}'
      stages:
        - grok: {pattern: '%{COMBINEDAPACHELOG}'}
        - timestamp: {source: timestamp, format: '02/Jan/2006:15:04:05 -0700'}
        - drop: {source: request, expression: '^/healthz'}
        - labels: {status: response, method: verb}
        - structured_metadata: {client: clientip}
        - metrics:
            nginx_requests_total: {type: counter, labels: [app, status]}
            nginx_bytes_total: {type: counter, source: bytes, action: add, labels: [app]}
            nginx_server_errors_total: {type: counter, match: '| status >= 500', labels: [app]}
    - selector: '{app="api"}'
      stages:
        - json: {expressions: {level: "", user: "", ts: time}}
        - timestamp: {source: ts, format: RFC3339Nano}
        - keep: {source: level, expression: '^(info|warn|error)$'}
        - labels: {level: "", user: ""}
        - redact: {builtin: [password, credit_card]}
"""


def push(p, labels, values):
    body = {"streams": [{"stream": labels, "values": values}]}
    r = requests.post(p.url + "/loki/api/v1/push", json=body, timeout=10)
    assert r.status_code == 204, r.text


def query_range(p, query, start_ns, end_ns, **params):
    r = requests.get(
        p.url + "/loki/api/v1/query_range",
        params={"query": query, "start": str(start_ns), "end": str(end_ns), "limit": 1000, **params},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return r.json()["data"]["result"]


def loki_get(p, path, **params):
    r = requests.get(p.url + path, params=params, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def httpdate(t: datetime) -> str:
    return t.strftime("%d/%b/%Y:%H:%M:%S %z")


def test_ingest_pipeline_end_to_end(pharos_factory):
    p = pharos_factory(config=CONFIG).start()
    now = datetime.now(timezone.utc).replace(microsecond=0)
    now_ns = time.time_ns()
    start, end = now_ns - 3600 * 10**9, now_ns + 60 * 10**9

    # NGINX combined lines: their times are 30 minutes ago, not the push time.
    line_time = now - timedelta(minutes=30)
    local = line_time.astimezone(timezone(timedelta(hours=2)))
    access = [
        f'203.0.113.9 - - [{httpdate(local)}] "GET /index.html HTTP/1.1" 200 512 "-" "curl/8.5"',
        f'203.0.113.9 - - [{httpdate(line_time)}] "GET /about HTTP/1.1" 200 100 "-" "curl/8.5"',
        f'198.51.100.7 - bob [{httpdate(line_time)}] "POST /api/v1/order HTTP/2.0" 503 0 "https://x.example/" "Mozilla/5.0"',
        f'10.0.0.1 - - [{httpdate(line_time)}] "GET /healthz HTTP/1.1" 200 2 "-" "kube-probe/1.29"',
    ]
    push(p, {"app": "nginx"}, [[str(now_ns + i), l] for i, l in enumerate(access)])

    got = query_range(p, '{app="nginx", status="200", method="GET"}', start, end)
    assert len(got) == 1, got
    values = got[0]["values"]
    assert sorted(v[1] for v in values) == sorted(access[:2]), values
    want_ns = int(line_time.timestamp()) * 10**9
    assert {int(v[0]) for v in values} == {want_ns}, values
    got = query_range(p, '{app="nginx", status="503"}', start, end)
    assert [v[1] for s in got for v in s["values"]] == [access[2]], got
    assert got[0]["stream"]["method"] == "POST"
    assert got[0]["stream"]["client"] == "198.51.100.7"  # structured metadata
    # drop: the health check is gone.
    got = query_range(p, '{app="nginx"} |= "healthz"', start, end)
    assert got == [], got

    # JSON lines: time from the line, keep by level, redaction, the guard.
    json_time = now - timedelta(minutes=10)
    ts = json_time.strftime("%Y-%m-%dT%H:%M:%S.123456789Z")
    lines = [
        {"time": ts, "level": "info", "user": "ana", "msg": "login password=hunter2 ok"},
        {"time": ts, "level": "error", "user": "ana", "msg": "charge failed for card 4111 1111 1111 1111"},
        {"time": ts, "level": "debug", "user": "ana", "msg": "noisy"},
        {"time": ts, "level": "info", "user": "bob", "password": "s3cret", "msg": "json secret"},
    ]
    push(p, {"app": "api"}, [[str(now_ns + i), json.dumps(l)] for i, l in enumerate(lines)])
    got = query_range(p, '{app="api", user="ana"}', start, end)
    all_lines = [v[1] for s in got for v in s["values"]]
    assert len(all_lines) == 2, got  # the debug line was not kept
    assert not any("hunter2" in l or "4111" in l for l in all_lines), all_lines
    assert any("password=****" in l for l in all_lines), all_lines
    assert any("card ****" in l for l in all_lines), all_lines
    want_ns = int(json_time.timestamp()) * 10**9 + 123456789
    assert {int(v[0]) for s in got for v in s["values"]} == {want_ns}, got
    got = query_range(p, '{app="api", user="bob"}', start, end)
    assert [v[1] for s in got for v in s["values"]] == [
        json.dumps({**lines[3], "password": "****"})
    ], got
    assert query_range(p, '{app="api"} |= "noisy"', start, end) == []

    labels = loki_get(p, "/loki/api/v1/labels", start=str(start), end=str(end))
    assert {"app", "status", "method", "level", "user"} <= set(labels), labels

    # The cardinality guard: "ana", "bob" and 98 more users make the 100
    # values a label may have; the 101st is kept as structured metadata,
    # counted and logged, while known values are still promoted.
    users = [f"user{i:03d}" for i in range(98)]
    push(p, {"app": "api"}, [
        [str(now_ns + 100 + i), json.dumps({"time": ts, "level": "info", "user": u, "msg": f"hi {u}"})]
        for i, u in enumerate(users)
    ])
    push(p, {"app": "api"}, [
        [str(now_ns + 300), json.dumps({"time": ts, "level": "info", "user": "user097", "msg": "again"})],
        [str(now_ns + 301), json.dumps({"time": ts, "level": "info", "user": "intruder", "msg": "over"})],
    ])
    values = loki_get(p, "/loki/api/v1/label/user/values", start=str(start), end=str(end))
    assert len(values) == 100 and "intruder" not in values, values
    got = query_range(p, '{app="api", user="user097"}', start, end)
    assert len(got[0]["values"]) == 2, got
    got = query_range(p, '{app="api"} |= "over"', start, end)
    assert len(got) == 1, got
    assert got[0]["stream"]["user"] == "intruder", got  # as structured metadata
    series = loki_get(p, "/loki/api/v1/series", **{"match[]": '{app="api"}'},
                      start=str(start), end=str(end))
    assert not any(s.get("user") == "intruder" for s in series), series
    assert "value not promoted to a label" in p.log_text()
    metrics = requests.get(p.url + "/metrics", timeout=10).text
    refused = [l for l in metrics.splitlines()
               if l.startswith("pharos_logs_pipeline_label_values_refused_total") and 'label="user"' in l]
    assert refused and float(refused[0].rsplit(" ", 1)[1]) >= 1, refused

    # Metric filters reach the metrics store within the 1 s interval.
    def prom(q):
        r = requests.get(p.url + "/api/v1/query", params={"query": q}, timeout=10)
        assert r.status_code == 200, r.text
        return {json.dumps(s["metric"], sort_keys=True): float(s["value"][1])
                for s in r.json()["data"]["result"]}

    want = {
        json.dumps({"__name__": "nginx_requests_total", "app": "nginx", "status": "200"}, sort_keys=True): 2.0,
        json.dumps({"__name__": "nginx_requests_total", "app": "nginx", "status": "503"}, sort_keys=True): 1.0,
    }
    wait_until(lambda: prom("nginx_requests_total") == want, timeout=20,
               what="nginx_requests_total in the metrics store")
    assert list(prom("nginx_bytes_total").values()) == [612.0]
    assert list(prom("nginx_server_errors_total").values()) == [1.0]
    # Counters keep counting: two more lines, then the new total.
    push(p, {"app": "nginx"}, [
        [str(now_ns + 10 + i), f'203.0.113.9 - - [{httpdate(line_time)}] "GET /x HTTP/1.1" 200 1 "-" "c"']
        for i in range(2)
    ])
    wait_until(lambda: prom('nginx_requests_total{status="200"}') and
               list(prom('nginx_requests_total{status="200"}').values()) == [4.0],
               timeout=20, what="the counter to reach 4")
    # increase() sees the first events too (a 0 is written when a series starts).
    inc = prom('increase(nginx_requests_total{status="503"}[5m])')
    assert inc and list(inc.values())[0] > 0, inc


def test_bad_pipeline_stops_start_up(tmp_path):
    cfg = tmp_path / "pharos.yml"
    cfg.write_text("""
logs:
  pipelines:
    - selector: '{app="x"}'
      stages:
        - grok: {pattern: '%{NOSUCHPATTERN:x}'}
""")
    off = ["--otlp-grpc-addr", "off", "--otlp-http-addr", "off", "--zipkin-addr", "off",
           "--jaeger-http-addr", "off", "--jaeger-udp-addr", "off"]
    r = subprocess.run([pharos_bin(), "serve", "--config", str(cfg), "--data-dir", str(tmp_path / "data"),
                        "--http-addr", "127.0.0.1:0", *off],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "logs.pipelines[0].stages[0] (grok): unknown pattern %{NOSUCHPATTERN}" in r.stderr, r.stderr

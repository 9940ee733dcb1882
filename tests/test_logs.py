"""Logs end to end: the real python-logging-loki handler pushes to pharos, the
Loki API reads the entries back, and an acknowledged push survives kill -9."""

import logging
import time
import uuid

import logging_loki
import requests

from conftest import wait_until


def query_range(p, query, start_ns, end_ns, **params):
    r = requests.get(
        p.url + "/loki/api/v1/query_range",
        params={"query": query, "start": str(start_ns), "end": str(end_ns), **params},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "success", body
    assert body["data"]["resultType"] == "streams", body
    return body["data"]["result"]


def lines(result):
    return sorted(v[1] for s in result for v in s["values"])


def test_python_logging_loki_handler_then_read_back(pharos_factory):
    p = pharos_factory().start()
    start = time.time_ns() - 60 * 10**9
    handler = logging_loki.LokiHandler(
        url=p.url + "/loki/api/v1/push",
        tags={"application": "checkout"},
        version="1",
    )
    log = logging.getLogger("e2e-loki")
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    try:
        for i in range(20):
            log.warning("payment %d declined for order-%d", i, 1000 + i)
        log.error("database connection lost", extra={"tags": {"service": "db"}})
    finally:
        log.removeHandler(handler)
    end = time.time_ns() + 60 * 10**9

    # Streams and labels as the handler set them (tags + severity + logger).
    labels = requests.get(p.url + "/loki/api/v1/labels",
                          params={"start": str(start), "end": str(end)}, timeout=10).json()
    assert labels["status"] == "success"
    assert {"application", "severity", "logger"} <= set(labels["data"]), labels
    vals = requests.get(p.url + "/loki/api/v1/label/severity/values",
                        params={"start": str(start), "end": str(end)}, timeout=10).json()
    assert vals["data"] == ["error", "warning"], vals
    series = requests.get(p.url + "/loki/api/v1/series",
                          params={"match[]": '{application="checkout"}',
                                  "start": str(start), "end": str(end)}, timeout=10).json()
    assert len(series["data"]) == 2, series

    stats = requests.get(p.url + "/loki/api/v1/index/stats",
                         params={"query": '{application="checkout"}', "start": str(start),
                                 "end": str(end)}, timeout=10).json()
    assert stats["streams"] == 2 and stats["entries"] == 21, stats
    assert stats["bytes"] >= sum(len(f"payment {i} declined for order-{1000 + i}") for i in range(20))
    got = query_range(p, '{application="checkout", severity="warning"}', start, end, limit=1000)
    assert len(lines(got)) == 20
    assert "payment 7 declined for order-1007" in lines(got)
    # Line filters, chained.
    got = query_range(p, '{application="checkout"} |= "declined" != "order-1003" |~ "payment 1[0-9]"',
                      start, end)
    assert lines(got) == sorted(f"payment {i} declined for order-{1000 + i}" for i in range(10, 20))
    got = query_range(p, '{application="checkout"} |= "connection lost"', start, end)
    assert len(got) == 1 and got[0]["stream"]["service"] == "db", got
    # Direction and limit: the newest two by default (backward).
    got = query_range(p, '{severity="warning"}', start, end, limit=2)
    assert lines(got) == ["payment 18 declined for order-1018", "payment 19 declined for order-1019"]
    got = query_range(p, '{severity="warning"}', start, end, limit=2, direction="forward")
    assert lines(got) == ["payment 0 declined for order-1000", "payment 1 declined for order-1001"]


def test_push_errors_name_stream_and_reason(pharos_factory):
    p = pharos_factory().start()
    now = time.time_ns()
    old = now - 30 * 24 * 3600 * 10**9
    body = {"streams": [
        {"stream": {"app": "a"}, "values": [[str(now), "fresh"], [str(old), "ancient"]]},
    ]}
    r = requests.post(p.url + "/loki/api/v1/push", json=body, timeout=10)
    assert r.status_code == 400, r.text
    assert "entry for stream '{app=\"a\"}' has timestamp too old" in r.text, r.text
    assert "total ignored: 1 out of 2" in r.text, r.text
    # The valid entry of the same push was kept.
    got = query_range(p, '{app="a"}', now - 10**9, now + 10**9)
    assert lines(got) == ["fresh"]
    # Undecodable bodies: 400 naming the problem; oversized: 413.
    r = requests.post(p.url + "/loki/api/v1/push", data=b'{"streams": [{"stream": 5}]}',
                      headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 400 and "stream" in r.text, r.text
    r = requests.post(p.url + "/loki/api/v1/push", data=b"\x00" * 100,
                      headers={"Content-Type": "application/x-protobuf"}, timeout=10)
    assert r.status_code == 400, r.text


def test_acknowledged_entries_survive_kill9(pharos_factory):
    p = pharos_factory().start()
    now = time.time_ns()
    n = 0
    for batch in range(20):
        values = [[str(now + batch * 1000 + i), f"line {batch}-{i}"] for i in range(50)]
        r = requests.post(p.url + "/loki/api/v1/push",
                          json={"streams": [{"stream": {"job": "crash"}, "values": values}]},
                          timeout=10)
        assert r.status_code == 204, r.text
        n += len(values)
    p.kill9()
    p.start()
    got = query_range(p, '{job="crash"}', now - 10**9, now + 10**9, limit=5000)
    assert len(lines(got)) == n


def test_json_lines_endpoint(pharos_factory):
    p = pharos_factory().start()
    now = time.time_ns()
    body = "\n".join([
        '{"ts": %d, "msg": "backup started", "level": "info", "disk": "sda"}' % (now // 10**9),
        '',
        '{"ts": "%s", "msg": "backup failed", "level": "error"}' % time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(now / 10**9)),
    ])
    r = requests.post(p.url + "/api/v1/logs", params={"job": "backup", "label_fields": "level"},
                      data=body, timeout=10)
    assert r.status_code == 204, r.text
    got = query_range(p, '{job="backup", level="error"}', now - 60 * 10**9, now + 60 * 10**9)
    assert lines(got) == ["backup failed"], got
    got = query_range(p, '{job="backup"} | disk="sda"', now - 60 * 10**9, now + 60 * 10**9)
    assert lines(got) == ["backup started"], got
    r = requests.post(p.url + "/api/v1/logs", params={"job": "backup"},
                      data='{"msg": "ok"}\n[1, 2]\n', timeout=10)
    assert r.status_code == 400 and "line 2" in r.text, r.text


def test_elasticsearch_client_bulk_helper(pharos_factory):
    from elasticsearch import Elasticsearch, helpers

    p = pharos_factory().start()
    es = Elasticsearch(p.url, request_timeout=10)
    info = es.info()
    assert info["version"]["number"].startswith("8."), info
    # Start-up calls shippers make are acknowledged.
    es.indices.put_index_template(name="logs", index_patterns=["app-*"], template={})
    now = time.time()
    docs = [
        {"_index": "app-web", "_source": {
            "@timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{i:03d}Z",
            "message": f"GET /item/{i} 200", "http": {"status": 200}, "host": "web-1"}}
        for i in range(50)
    ]
    docs.append({"_op_type": "delete", "_index": "app-web", "_id": "x"})
    ok, errors = helpers.bulk(es, docs, raise_on_error=False)
    assert ok == 50, errors
    assert len(errors) == 1 and errors[0]["delete"]["status"] == 400, errors
    start, end = int((now - 60) * 10**9), int((now + 60) * 10**9)
    got = query_range(p, '{index="app-web"} |= "/item/7 "', start, end)
    assert lines(got) == ["GET /item/7 200"], got
    # Other fields are structured metadata, names as label names.
    assert got[0]["stream"]["http_status"] == "200", got
    assert got[0]["stream"]["host"] == "web-1", got
    # A malformed action line is a request error with Elasticsearch's shape.
    r = requests.post(p.url + "/_bulk", data=b'"oops"\n{}\n',
                      headers={"Content-Type": "application/x-ndjson"}, timeout=10)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["type"] == "illegal_argument_exception", r.text
    assert r.headers["X-Elastic-Product"] == "Elasticsearch"


def _otel_logs(exporter, service):
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    provider = LoggerProvider(resource=Resource.create({
        "service.name": service, "k8s.namespace.name": "shop", "team": "payments"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = LoggingHandler(logger_provider=provider)
    log = logging.getLogger("otel-" + service)
    log.setLevel(logging.INFO)
    log.propagate = False
    log.addHandler(handler)
    try:
        log.info("order %d placed", 17, extra={"order.id": "17"})
        log.error("card service timeout")
    finally:
        log.removeHandler(handler)
        provider.shutdown()


def test_opentelemetry_sdk_log_exporters_http_and_grpc(pharos_factory):
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcExporter
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpExporter

    p = pharos_factory().start()
    start = time.time_ns() - 60 * 10**9
    _otel_logs(HttpExporter(endpoint=f"http://127.0.0.1:{p.otlp_http_port}/v1/logs"), "cart-http")
    _otel_logs(GrpcExporter(endpoint=f"127.0.0.1:{p.grpc_port}", insecure=True), "cart-grpc")
    end = time.time_ns() + 60 * 10**9
    for svc in ("cart-http", "cart-grpc"):
        got = query_range(p, '{service_name="%s", k8s_namespace_name="shop"}' % svc, start, end)
        assert lines(got) == ["card service timeout", "order 17 placed"], got
        errs = query_range(p, '{service_name="%s", level="error"}' % svc, start, end)
        assert lines(errs) == ["card service timeout"], errs
        # Resource attributes off the allow-list and log attributes are metadata.
        placed = query_range(p, '{service_name="%s"} | order_id="17"' % svc, start, end)
        assert lines(placed) == ["order 17 placed"], placed
        assert placed[0]["stream"]["team"] == "payments", placed


def test_logger_over_tcp_and_udp_syslog(pharos_factory):
    import subprocess
    from conftest import free_port

    port = free_port()
    p = pharos_factory(args=("--syslog-addr", f"127.0.0.1:{port}")).start()
    start = time.time_ns() - 60 * 10**9
    base = ["logger", "--server", "127.0.0.1", "--port", str(port), "--tag", "billing"]
    subprocess.run(base + ["--tcp", "--rfc5424", "-p", "local3.err", "tcp rfc5424 line"], check=True)
    subprocess.run(base + ["--tcp", "--octet-count", "--rfc5424", "octet counted line"], check=True)
    subprocess.run(base + ["--udp", "--rfc3164", "-p", "auth.warning", "udp bsd line"], check=True)
    end = time.time_ns() + 60 * 10**9

    def billing():
        return lines(query_range(p, '{app="billing"}', start, end))

    wait_until(lambda: len(billing()) == 3, timeout=10, what="three syslog lines")
    assert billing() == ["octet counted line", "tcp rfc5424 line", "udp bsd line"]
    got = query_range(p, '{app="billing", facility="local3", level="error"}', start, end)
    assert lines(got) == ["tcp rfc5424 line"], got
    got = query_range(p, '{app="billing", facility="auth"}', start, end)
    assert lines(got) == ["udp bsd line"], got


def test_metric_queries_over_pushed_logs(pharos_factory):
    p = pharos_factory().start()
    t0 = (time.time_ns() // 10**9 - 600) * 10**9   # whole seconds, ten minutes ago
    values_a = [[str(t0 + i * 10**9), f"GET /x status={200 if i % 4 else 500} took={i}ms"] for i in range(120)]
    values_b = [[str(t0 + i * 2 * 10**9), f"job ran in {i}s"] for i in range(60)]
    r = requests.post(p.url + "/loki/api/v1/push", json={"streams": [
        {"stream": {"app": "api", "level": "info"}, "values": values_a},
        {"stream": {"app": "cron", "level": "debug"}, "values": values_b},
    ]}, timeout=10)
    assert r.status_code == 204, r.text
    # count_over_time at t0+119s: the window (t0+59s, t0+119s] holds api lines 60..119 and
    # cron lines 30..59.
    r = requests.get(p.url + "/loki/api/v1/query", params={
        "query": 'sum by (app) (count_over_time({level=~"info|debug"}[60s]))',
        "time": str(t0 + 119 * 10**9)}, timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()["data"]
    assert body["resultType"] == "vector", body
    got = {s["metric"]["app"]: float(s["value"][1]) for s in body["result"]}
    assert got == {"api": 60.0, "cron": 30.0}, got
    # A range query: rate of 500s per second over 40 s windows, every 20 s.
    r = requests.get(p.url + "/loki/api/v1/query_range", params={
        "query": 'sum(rate({app="api"} |= "status=500" [40s]))',
        "start": str(t0 + 40 * 10**9), "end": str(t0 + 100 * 10**9), "step": "20s"}, timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()["data"]
    assert body["resultType"] == "matrix", body
    pts = body["result"][0]["values"]
    assert len(pts) == 4, pts
    assert all(abs(float(v) - 0.25) < 1e-9 for _, v in pts), pts   # one line in four, 1 line/s
    # Scalars and errors.
    r = requests.get(p.url + "/loki/api/v1/query", params={"query": "2 * 3"}, timeout=10)
    assert r.json()["data"]["resultType"] == "scalar" and r.json()["data"]["result"][1] == "6", r.text
    r = requests.get(p.url + "/loki/api/v1/query", params={"query": 'rate({app="api"}[5m'}, timeout=10)
    assert r.status_code == 400 and "parse error" in r.text, r.text


def test_pharos_logs_command(pharos_factory):
    import subprocess
    from conftest import pharos_bin

    p = pharos_factory().start()
    now = time.time_ns()
    values = [[str(now - (10 - i) * 10**9), f"step {i} {'failed' if i == 7 else 'ok'}"] for i in range(10)]
    r = requests.post(p.url + "/loki/api/v1/push",
                      json={"streams": [{"stream": {"app": "cli"}, "values": values}]}, timeout=10)
    assert r.status_code == 204, r.text

    def logs(*args):
        return subprocess.run([pharos_bin(), "logs", "--server", p.url, *args],
                              check=True, capture_output=True, text=True, timeout=30).stdout

    out = logs('{app="cli"} |= "failed"', "--since", "5m")
    assert out.count("\n") == 1 and out.rstrip().endswith('{app="cli"} step 7 failed'), out
    out = logs('{app="cli"}', "--limit", "3")
    assert [l.split(" ", 2)[2] for l in out.splitlines()] == ["step 7 failed", "step 8 ok", "step 9 ok"], out
    out = logs('sum(count_over_time({app="cli"}[5m]))', "--since", "1m")
    assert out.strip().endswith(" {} 10"), out
    bad = subprocess.run([pharos_bin(), "logs", "--server", p.url, '{app="cli"'],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0 and "parse error" in bad.stderr, bad.stderr


def _ws_connect(port, path):
    """A minimal WebSocket client (RFC 6455 handshake, unmasked server frames)."""
    import base64
    import os
    import socket

    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def _ws_read_text(s):
    def exact(n):
        b = b""
        while len(b) < n:
            chunk = s.recv(n - len(b))
            assert chunk, "connection closed"
            b += chunk
        return b
    b0, b1 = exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(exact(2), "big")
    elif n == 127:
        n = int.from_bytes(exact(8), "big")
    payload = exact(n)
    assert b0 & 0x0F == 1, f"not a text frame: opcode {b0 & 0x0F}: {payload[:200]!r}"
    return payload.decode()


def test_tail_over_websocket(pharos_factory):
    import json
    import urllib.parse

    p = pharos_factory().start()
    q = urllib.parse.urlencode({"query": '{app="tail"} |= "keep"', "start": str(time.time_ns())})
    s = _ws_connect(p.http_port, "/loki/api/v1/tail?" + q)
    try:
        now = time.time_ns()
        r = requests.post(p.url + "/loki/api/v1/push", json={"streams": [{"stream": {"app": "tail"}, "values": [
            [str(now + 1), "keep me"], [str(now + 2), "drop me"], [str(now + 3), "keep too"]]}]}, timeout=10)
        assert r.status_code == 204, r.text
        seen = []
        while len(seen) < 2:
            msg = json.loads(_ws_read_text(s))
            seen += [v[1] for st in msg["streams"] for v in st["values"]]
        assert seen == ["keep me", "keep too"], seen
    finally:
        s.close()


def test_kill9_under_concurrent_ingest_loses_nothing_acknowledged(pharos_factory):
    import threading

    p = pharos_factory(args=("--logs.max-entries-per-query", "1000000")).start()
    now = time.time_ns()
    acked = []
    stop = threading.Event()

    def pusher(worker):
        session = requests.Session()
        batch = 0
        while not stop.is_set():
            values = [[str(now + worker * 10**8 + batch * 1000 + i), f"w{worker} b{batch} e{i}"] for i in range(20)]
            try:
                r = session.post(p.url + "/loki/api/v1/push", json={"streams": [
                    {"stream": {"job": "crash", "worker": str(worker)}, "values": values}]}, timeout=5)
            except requests.RequestException:
                return   # the server died mid-request: not acknowledged
            if r.status_code == 204:
                acked.extend(v[1] for v in values)
            batch += 1

    threads = [threading.Thread(target=pusher, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    wait_until(lambda: len(acked) >= 2000, timeout=60, what="2000 acknowledged entries")
    p.kill9()
    stop.set()
    for t in threads:
        t.join(timeout=30)
    p.start()
    got = set(lines(query_range(p, '{job="crash"}', now - 10**9, now + 10**9, limit=1_000_000)))
    missing = [a for a in acked if a not in got]
    assert not missing, f"{len(missing)} acknowledged entries lost, e.g. {missing[:3]}"


def test_query_limits_name_the_limit(pharos_factory):
    p = pharos_factory(args=("--logs.max-entries-per-query", "10", "--logs.max-query-series", "2")).start()
    now = time.time_ns()
    r = requests.post(p.url + "/loki/api/v1/push", json={"streams": [
        {"stream": {"app": f"a{i}"}, "values": [[str(now), "x"]]} for i in range(3)]}, timeout=10)
    assert r.status_code == 204, r.text
    rng = {"start": str(now - 10**9), "end": str(now + 10**9), "limit": "5"}
    r = requests.get(p.url + "/loki/api/v1/query_range",
                     params={"query": '{app="a1"}', **{**rng, "limit": "11"}}, timeout=10)
    assert r.status_code == 400 and "max_entries_limit_per_query (11 > 10)" in r.text, r.text
    r = requests.get(p.url + "/loki/api/v1/query_range", params={"query": '{app=~"a.*"}', **rng}, timeout=10)
    assert r.status_code == 400 and "maximum number of series (2)" in r.text, r.text
    r = requests.get(p.url + "/loki/api/v1/query", params={
        "query": 'count_over_time({app=~"a.*"}[1m])', "time": str(now + 10**9)}, timeout=10)
    assert r.status_code == 400 and "maximum number of series (2)" in r.text, r.text
    r = requests.get(p.url + "/loki/api/v1/query_range", params={"query": '{app=~"a[01]"}', **rng}, timeout=10)
    assert r.status_code == 200, r.text


def test_query_timeout_stops_queries_with_lokis_504(pharos_factory):
    """With --logs.query-timeout=1ms, queries over 80,000 lines (tens of ms of
    work even in a release build) are stopped and answered 504 naming the
    limit; with the default (1m) the same queries answer."""
    now = time.time_ns()
    t0 = now - 600 * 10**9
    n = 80_000
    body = {"streams": [
        {"stream": {"job": "slow", "part": str(s)},
         "values": [[str(t0 + i * 1000), f"line {i} of part {s} status={200 + i % 5}"]
                    for i in range(s, n, 20)]}
        for s in range(20)]}
    rng = {"start": str(t0 - 10**9), "end": str(now + 60 * 10**9)}
    queries = [
        ("/loki/api/v1/query_range",
         {"query": '{job="slow"} |~ "line [0-9]*77 of" | logfmt | status >= 202', "limit": "1000", **rng}),
        ("/loki/api/v1/query_range",
         {"query": 'sum(count_over_time({job="slow"} |~ "line [0-9]+" [1h]))', "step": "60s", **rng}),
        ("/loki/api/v1/query",
         {"query": 'sum(count_over_time({job="slow"} |~ "line [0-9]+" [1h]))', "time": rng["end"]}),
    ]
    slow = pharos_factory(args=("--logs.query-timeout=1ms",), sub="slow").start()
    default = pharos_factory(sub="default").start()
    for p in (slow, default):
        r = requests.post(p.url + "/loki/api/v1/push", json=body, timeout=60)
        assert r.status_code == 204, r.text
    flags = requests.get(slow.url + "/api/v1/status/flags", timeout=10).json()["data"]
    assert flags["logs.query-timeout"] == "1ms", flags
    for path, params in queries:
        r = requests.get(slow.url + path, params=params, timeout=60)
        assert r.status_code == 504, (path, params["query"], r.status_code, r.text[:300])
        assert r.text.startswith(
            "request timed out after 1ms (limit: --logs.query-timeout / query_timeout); "
            "decrease the duration of the request"), r.text
    # The default lets them finish.
    for path, params in queries:
        r = requests.get(default.url + path, params=params, timeout=60)
        assert r.status_code == 200, (path, params["query"], r.text[:300])
    got = query_range(default, queries[0][1]["query"], t0 - 10**9, now + 60 * 10**9, limit=1000)
    assert len(lines(got)) == n // 100, len(lines(got))   # i % 100 == 77, status=202
    r = requests.get(default.url + queries[2][0], params=queries[2][1], timeout=60)
    assert float(r.json()["data"]["result"][0]["value"][1]) == n, r.text


def test_elasticsearch_field_mapping_from_the_config_file(pharos_factory):
    cfg = """
logs:
  elasticsearch:
    label_fields: [level, kubernetes.namespace_name]
    line_fields: [log]
    index_label: es_index
"""
    p = pharos_factory(config=cfg).start()
    now = time.time()
    ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    body = "\n".join([
        '{"index": {"_index": "k8s"}}',
        '{"@timestamp": "%s", "log": "pod restarted", "level": "error", "kubernetes": {"namespace_name": "shop"}}' % ts,
        "",
    ])
    r = requests.post(p.url + "/_bulk", data=body, headers={"Content-Type": "application/x-ndjson"}, timeout=10)
    assert r.status_code == 200 and r.json()["errors"] is False, r.text
    got = query_range(p, '{es_index="k8s", level="error", kubernetes_namespace_name="shop"}',
                      int((now - 60) * 10**9), int((now + 60) * 10**9))
    assert lines(got) == ["pod restarted"], got


def test_segments_cut_during_ingest_survive_kill9_and_answer_queries(pharos_factory):
    """Small segments of small row groups (--logs.row-group-size-kb) are cut
    and written while three pushers run; after
    kill -9 every acknowledged entry is there exactly once, from the
    segments, the heads replayed from the WAL, or both."""
    import collections
    import threading

    p = pharos_factory(args=("--logs.segment-size-mb", "1",
                             "--logs.row-group-size-kb", "64",
                             "--logs.max-entries-per-query", "1000000")).start()
    now = time.time_ns()
    acked = []
    stop = threading.Event()
    pad = "x" * 400

    def pusher(worker):
        session = requests.Session()
        batch = 0
        while not stop.is_set():
            values = [[str(now + worker * 10**8 + batch * 1000 + i),
                       f"w{worker} b{batch} e{i} token{worker}x{batch}x{i} {pad}"] for i in range(50)]
            try:
                r = session.post(p.url + "/loki/api/v1/push", json={"streams": [
                    {"stream": {"job": "seg", "worker": str(worker)}, "values": values}]}, timeout=5)
            except requests.RequestException:
                return
            if r.status_code == 204:
                acked.extend(v[1] for v in values)
            batch += 1

    threads = [threading.Thread(target=pusher, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    wait_until(lambda: len(acked) >= 12000, timeout=120, what="12000 acknowledged entries (~5 MB)")
    p.kill9()
    stop.set()
    for t in threads:
        t.join(timeout=30)
    segdir = p.data / "logs" / "segments"
    assert list(segdir.glob("*/data.parquet")), "segments were written before the crash"
    p.start()
    got = lines(query_range(p, '{job="seg"}', now - 10**9, now + 10**9, limit=1_000_000))
    counts = collections.Counter(got)
    missing = [a for a in acked if a not in counts]
    assert not missing, f"{len(missing)} acknowledged entries lost, e.g. {missing[:3]}"
    twice = [k for k, c in counts.items() if c > 1]
    assert not twice, f"{len(twice)} entries read twice, e.g. {twice[:3]}"
    # Everything to disk, then a needle and a count from the segments alone.
    assert requests.post(p.url + "/flush", timeout=60).status_code == 204
    needle = acked[len(acked) // 2].split()[3]
    got = lines(query_range(p, '{job="seg"} |= "%s"' % needle, now - 10**9, now + 10**9, limit=100))
    assert len(got) == 1 and needle in got[0], got
    r = requests.get(p.url + "/loki/api/v1/query", params={
        "query": 'sum(count_over_time({job="seg"}[1h]))', "time": str(now + 10**9)}, timeout=30)
    assert r.status_code == 200, r.text
    assert int(float(r.json()["data"]["result"][0]["value"][1])) == len(counts)


def test_split_line_segments_read_back_with_either_line_encoding(pharos_factory):
    """Segments written with split lines (format 7, the default; the old
    --logs.split-lines flag still says so) hold the lines byte for byte, answer line
    filters on their numbers and ids, and read the same after a restart with
    --logs.line-encoding=text, beside the format 5 segments written then. Half the lines
    print their entry's own UTC time (written as differences from it), half another time."""
    p = pharos_factory(args=("--logs.split-lines",)).start()
    now = time.time_ns()
    times = [now - (400 - i) * 1_234_567_891 for i in range(400)]

    def own_time(t):
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t // 10**9)) + \
            f",{t // 10**6 % 1000:03d}"

    def uuid_of(i):
        u = str(uuid.UUID(int=(i * 0x9E3779B97F4A7C15_5851F42D4C957F2D) % 2**128))
        return u.upper() if i % 3 == 0 else u

    # UUIDs (one value each in a block), and a spread-out number per line
    # (its column bit-packed).
    sent = [(own_time(t) if i % 2 else f"2026-11-22 10:{i % 60:02d}:07,{i:03d}") +
            f" INFO [pid 0{i}] req-{i * 7919:08x}Cafe trace={uuid_of(i)} "
            f"id={i * 104729:016x} 0xDEADBEEF{i:02X} took {i * 37} ms "
            f"wait 0.{i * 2654435761 % 10**7:07d} blk_-{i}{i}{i} 007 ü"
            for i, t in enumerate(times)]
    r = requests.post(p.url + "/loki/api/v1/push", json={"streams": [
        {"stream": {"job": "split"}, "values": [[str(t), l] for t, l in zip(times, sent)]}]},
        timeout=10)
    assert r.status_code == 204, r.text
    assert requests.post(p.url + "/flush", timeout=60).status_code == 204
    segments = list((p.data / "logs" / "segments").glob("*/data.parquet"))
    assert segments and all(b"logs-segment 7" in s.read_bytes() for s in segments)
    start, end = times[0] - 10**9, now + 10**9
    got = lines(query_range(p, '{job="split"}', start, end, limit=5000))
    assert sorted(got) == sorted(sent)
    needle = f"id={123 * 104729:016x}"
    got = lines(query_range(p, '{job="split"} |= "%s"' % needle, start, end))
    assert got == [sent[123]], got
    got = lines(query_range(p, '{job="split"} |= "%s"' % uuid_of(234), start, end))
    assert got == [sent[234]], got
    p.stop()

    # As text: new segments hold joined text (format 5), old ones still read.
    p.args = ["--logs.line-encoding=text"]
    p.start()
    r = requests.post(p.url + "/loki/api/v1/push", json={"streams": [
        {"stream": {"job": "split"}, "values": [[str(now + 1000), "later 12345"]]}]}, timeout=10)
    assert r.status_code == 204, r.text
    assert requests.post(p.url + "/flush", timeout=60).status_code == 204
    formats = [b"logs-segment 7" in s.read_bytes()
               for s in (p.data / "logs" / "segments").glob("*/data.parquet")]
    assert True in formats and False in formats, formats
    got = lines(query_range(p, '{job="split"}', start, end, limit=5000))
    assert sorted(got) == sorted(sent + ["later 12345"])

"""Logs end to end: the real python-logging-loki handler pushes to pharos, the
Loki API reads the entries back, and an acknowledged push survives kill -9."""

import logging
import time

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

"""The Prometheus HTTP API's metadata and status endpoints, checked with
plain HTTP and with Debian's promtool."""

import shutil
import subprocess

import pytest
import requests

from conftest import wait_until


@pytest.fixture
def scraping_pharos(pharos_factory):
    p = pharos_factory("global: {scrape_interval: 1s}\n").start()
    wait_until(lambda: p.series('up{job="pharos"}'), what="self-scrape")
    wait_until(lambda: p.series("pharos_tsdb_head_series"), what="own metrics scraped")
    yield p
    assert p.stop() == 0


def get(p, path, **params):
    r = requests.get(p.url + path, params=params, timeout=10)
    return r.status_code, r.json()


def test_labels_values_metadata_targets(scraping_pharos):
    p = scraping_pharos
    code, body = get(p, "/api/v1/labels")
    assert code == 200 and body["status"] == "success"
    assert {"__name__", "job", "instance"} <= set(body["data"])
    code, body = get(p, "/api/v1/label/job/values")
    assert body["data"] == ["pharos"], body
    code, body = get(p, "/api/v1/label/__name__/values", **{"match[]": "up"})
    assert body["data"] == ["up"], body
    code, body = get(p, "/api/v1/label/__name__/values", limit="2")
    assert len(body["data"]) == 2
    code, body = get(p, "/api/v1/labels", **{"match[]": "{"})
    assert code == 400 and body["errorType"] == "bad_data"

    code, body = get(p, "/api/v1/metadata", metric="pharos_tsdb_head_series")
    assert body["data"]["pharos_tsdb_head_series"][0]["type"] == "gauge", body
    assert body["data"]["pharos_tsdb_head_series"][0]["help"]

    code, body = get(p, "/api/v1/targets")
    t = body["data"]["activeTargets"][0]
    assert t["scrapePool"] == "pharos" and t["health"] == "up", t
    assert t["labels"]["instance"] == f"127.0.0.1:{p.http_port}"
    assert t["scrapeUrl"] == f"http://127.0.0.1:{p.http_port}/metrics"
    assert t["lastScrape"].endswith("Z") and t["scrapeInterval"] == "1s"
    assert body["data"]["droppedTargets"] == []


def test_status_endpoints(scraping_pharos):
    p = scraping_pharos
    _, b = get(p, "/api/v1/status/buildinfo")
    assert b["data"]["version"]
    _, b = get(p, "/api/v1/status/runtimeinfo")
    assert b["data"]["reloadConfigSuccess"] is True and b["data"]["storageRetention"] == "15d"
    _, b = get(p, "/api/v1/status/flags")
    assert b["data"]["retention-time"] == "15d"
    _, b = get(p, "/api/v1/status/config")
    assert "job_name: pharos" in b["data"]["yaml"], b
    _, b = get(p, "/api/v1/status/tsdb")
    assert b["data"]["headStats"]["numSeries"] > 10
    assert any(x["name"] == "job" for x in b["data"]["labelValueCountByLabelName"]), b


@pytest.mark.skipif(shutil.which("promtool") is None, reason="Debian promtool not installed")
def test_promtool_query_series_and_labels(scraping_pharos):
    p = scraping_pharos
    out = subprocess.run(["promtool", "query", "labels", p.url, "job"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["pharos"], out.stdout
    out = subprocess.run(["promtool", "query", "series", p.url, "--match=up"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert '__name__="up"' in out.stdout and 'job="pharos"' in out.stdout, out.stdout


def test_query_and_query_range(scraping_pharos):
    import time
    p = scraping_pharos
    time.sleep(3)  # a few scrapes, for the range query
    code, b = get(p, "/api/v1/query", query='up{job="pharos"}')
    assert code == 200 and b["data"]["resultType"] == "vector", b
    r = b["data"]["result"][0]
    assert r["metric"]["__name__"] == "up" and r["value"][1] == "1", r
    code, b = get(p, "/api/v1/query", query="1+1")
    assert b["data"] == {"resultType": "scalar", "result": [b["data"]["result"][0], "2"]}, b
    r = requests.post(p.url + "/api/v1/query", data={"query": 'count by (job) (up)'}, timeout=10).json()
    assert r["data"]["result"][0]["value"][1] == "1", r
    now = time.time()
    code, b = get(p, "/api/v1/query_range", query="up", start=str(now - 3), end=str(now), step="1s")
    assert code == 200 and b["data"]["resultType"] == "matrix", b
    assert len(b["data"]["result"][0]["values"]) >= 3
    # Prometheus's errors.
    code, b = get(p, "/api/v1/query", query="up{")
    assert code == 400 and b["errorType"] == "bad_data" and "parse error" in b["error"], b
    code, b = get(p, "/api/v1/query_range", query="up", start="0", end="100000", step="1")
    assert code == 400 and "11,000 points" in b["error"], b
    code, b = get(p, "/api/v1/query_range", query="up", start="10", end="0", step="1")
    assert code == 400 and "end timestamp must not be before start time" in b["error"], b
    code, b = get(p, "/api/v1/query_range", query="up", start="0", end="10", step="0")
    assert code == 400 and "zero or negative" in b["error"], b
    code, b = get(p, "/api/v1/format_query", query="sum(up)by(job)")
    assert b["data"] == "sum by (job) (up)", b


def _raw_exchange(port, requests_bytes, answers):
    """Sends raw HTTP/1.1 bytes on one connection and reads `answers` whole
    answers (Content-Length framed) back, in order."""
    import socket
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(requests_bytes)
    buf, out = b"", []
    while len(out) < answers:
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            assert chunk, f"connection closed after {len(out)} answers: {buf!r}"
            buf += chunk
        head, rest = buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        hdrs = {k.lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
        n = int(hdrs["content-length"])
        while len(rest) < n:
            chunk = s.recv(65536)
            assert chunk, "connection closed inside a body"
            rest += chunk
        out.append((int(lines[0].split()[1]), hdrs, rest[:n]))
        buf = rest[n:]
    s.close()
    return out


def test_query_endpoints_skip_the_router_and_answer_the_same(scraping_pharos):
    """/api/v1/query and /api/v1/query_range (GET and form POST) are answered
    without the router; every other request on the same connection still goes
    through it, and both are counted under their route."""
    import json
    import re
    import urllib.parse
    p = scraping_pharos

    def count(handler):
        m = requests.get(p.url + "/metrics", timeout=10).text
        return sum(float(v) for v in re.findall(
            r'^pharos_http_requests_total\{handler="%s",code="\d+"\} (\S+)$' % re.escape(handler),
            m, re.M))

    before = count("/api/v1/query"), count("/api/v1/labels")
    q = urllib.parse.urlencode({"query": "1+1", "time": "100"})
    form = urllib.parse.urlencode({"query": "2*3", "time": "100"}).encode()
    host = f"127.0.0.1:{p.http_port}"
    raw = (
        f"GET /api/v1/query?{q} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
        + f"GET /api/v1/labels HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
        + (f"POST /api/v1/query HTTP/1.1\r\nHost: {host}\r\n"
           f"Content-Type: application/x-www-form-urlencoded\r\n"
           f"Content-Length: {len(form)}\r\n\r\n").encode() + form
        + f"GET /api/v1/query?query=up%7B HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    )
    answers = _raw_exchange(p.http_port, raw, 4)
    (c1, h1, b1), (c2, _, b2), (c3, _, b3), (c4, _, b4) = answers
    assert c1 == 200 and h1["content-type"] == "application/json" and "date" in h1, h1
    assert json.loads(b1)["data"] == {"resultType": "scalar", "result": [100, "2"]}, b1
    assert c2 == 200 and "__name__" in json.loads(b2)["data"], b2
    assert c3 == 200 and json.loads(b3)["data"]["result"] == [100, "6"], b3
    e = json.loads(b4)
    assert c4 == 400 and e["errorType"] == "bad_data" and "parse error" in e["error"], e
    after = count("/api/v1/query"), count("/api/v1/labels")
    assert after[0] - before[0] == 3 and after[1] - before[1] >= 1, (before, after)
    # What the direct path leaves to the router, answered as axum's routes do.
    r = requests.post(p.url + "/api/v1/query", data=b"query=1", timeout=10,
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 415, (r.status_code, r.text)
    r = requests.put(p.url + "/api/v1/query", params={"query": "1"}, timeout=10)
    assert r.status_code == 405, (r.status_code, r.text)
    r = requests.post(p.url + "/api/v1/query_range", timeout=10,
                      headers={"Content-Type": "application/x-www-form-urlencoded"},
                      data=iter([b"query=1&start=0&end=10&step=1"]))  # chunked
    assert r.status_code == 200 and len(r.json()["data"]["result"][0]["values"]) == 11, r.text


@pytest.mark.skipif(shutil.which("promtool") is None, reason="Debian promtool not installed")
def test_promtool_query_instant_and_range(scraping_pharos):
    import time
    p = scraping_pharos
    time.sleep(3)  # a few scrapes, for the range query
    out = subprocess.run(["promtool", "query", "instant", p.url, 'count(up{job="pharos"})'],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.startswith("{} => 1"), (out.stdout, out.stderr)
    end = int(time.time())
    out = subprocess.run(["promtool", "query", "range", f"--start={end - 3}", f"--end={end}", "--step=1s",
                          p.url, 'up{job="pharos"}'], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("1 @[") >= 3, out.stdout


def test_pharos_query_cli(scraping_pharos):
    import time

    from conftest import pharos_bin
    p = scraping_pharos
    out = subprocess.run([pharos_bin(), "query", "--server", p.url, 'count(up{job="pharos"})'],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.split()[-1] == "1", (out.stdout, out.stderr)
    end = int(time.time())
    out = subprocess.run([pharos_bin(), "query", "--server", p.url, "--json", "range", "up",
                          "--start", str(end - 2), "--end", str(end), "--step", "1s"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert '"resultType": "matrix"' in out.stdout
    out = subprocess.run([pharos_bin(), "query", "--server", p.url, "up{"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "parse error" in out.stderr

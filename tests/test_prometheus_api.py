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

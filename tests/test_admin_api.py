"""The TSDB admin API (`--web.enable-admin-api`): delete_series and
clean_tombstones over HTTP, on self-scraped data, across a restart; and the
Prometheus answer when the flag is off."""

import time

import requests

from conftest import wait_until

SCRAPE = "global: {scrape_interval: 1s}\n"


def series(p, match, start, end):
    return p.series(match, start=f"{start:.3f}", end=f"{end:.3f}")


def instant(p, query, at):
    r = requests.get(p.url + "/api/v1/query", params={"query": query, "time": f"{at:.3f}"}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["data"]["result"]


def test_admin_api_disabled_by_default(pharos_factory):
    p = pharos_factory(SCRAPE, sub="off").start()
    for path in ("/api/v1/admin/tsdb/delete_series", "/api/v1/admin/tsdb/clean_tombstones"):
        for method in (requests.post, requests.put):
            r = method(p.url + path, params={"match[]": "up"}, timeout=10)
            assert r.status_code == 503, r.text
            assert r.json() == {"status": "error", "errorType": "unavailable", "error": "admin APIs disabled"}
    flags = requests.get(p.url + "/api/v1/status/flags", timeout=10).json()["data"]
    assert flags["web.enable-admin-api"] == "false"
    assert p.stop() == 0


def test_delete_series_and_clean_tombstones(pharos_factory):
    p = pharos_factory(SCRAPE, args=["--web.enable-admin-api"]).start()
    wait_until(lambda: len(p.series('up{job="pharos"}')) == 1, what="self-scrape")
    wait_until(
        lambda: len(instant(p, 'count_over_time(up{job="pharos"}[1h])', time.time())) == 1
        and float(instant(p, 'count_over_time(up{job="pharos"}[1h])', time.time())[0]["value"][1]) >= 6,
        what="six scrapes",
    )
    # Leave a margin so that no scrape begun before `cut` commits after the delete.
    cut = time.time() - 3
    assert series(p, 'up{job="pharos"}', 0, cut)
    assert series(p, "pharos_tsdb_head_series", 0, cut)

    r = requests.post(p.url + "/api/v1/admin/tsdb/delete_series", params={"match[]": "{}"}, timeout=10)
    assert r.status_code == 400 and r.json()["errorType"] == "bad_data", r.text
    r = requests.post(p.url + "/api/v1/admin/tsdb/delete_series", timeout=10)
    assert r.status_code == 400 and r.json()["error"] == "no match[] parameter provided", r.text

    # Form body, like Prometheus clients send it.
    r = requests.post(
        p.url + "/api/v1/admin/tsdb/delete_series",
        data={"match[]": 'up{job="pharos"}', "start": "0", "end": f"{cut:.3f}"},
        timeout=10,
    )
    assert r.status_code == 204 and r.content == b"", r.text

    def gone(q):
        assert series(q, 'up{job="pharos"}', 0, cut) == []
        assert instant(q, 'up{job="pharos"}', cut) == []
        assert instant(q, 'count_over_time(up{job="pharos"}[1d])', cut) == []
        # Other series are untouched.
        assert series(q, "pharos_tsdb_head_series", 0, cut)

    gone(p)
    # Tombstones end at the data held when deleting: newer scrapes show up.
    wait_until(lambda: instant(p, 'up{job="pharos"}', time.time()), what="new scrape after delete")

    # PUT and the query string work too; all time by default.
    r = requests.put(
        p.url + "/api/v1/admin/tsdb/delete_series", params={"match[]": "pharos_tsdb_head_series"}, timeout=10
    )
    assert r.status_code == 204, r.text
    assert series(p, "pharos_tsdb_head_series", 0, cut) == []

    r = requests.post(p.url + "/api/v1/admin/tsdb/clean_tombstones", timeout=30)
    assert r.status_code == 204 and r.content == b"", r.text
    r = requests.put(p.url + "/api/v1/admin/tsdb/clean_tombstones", timeout=30)
    assert r.status_code == 204, r.text
    gone_head = series(p, "pharos_tsdb_head_series", 0, cut)
    assert gone_head == []

    # Durable: the WAL tombstone record is replayed after a restart.
    assert p.stop() == 0
    q = pharos_factory(SCRAPE, args=["--web.enable-admin-api"]).start()
    gone_up = series(q, 'up{job="pharos"}', 0, cut)
    assert gone_up == []
    assert instant(q, 'count_over_time(up{job="pharos"}[1d])', cut) == []
    assert series(q, "pharos_tsdb_head_series", 0, cut) == []
    flags = requests.get(q.url + "/api/v1/status/flags", timeout=10).json()["data"]
    assert flags["web.enable-admin-api"] == "true"
    assert q.stop() == 0

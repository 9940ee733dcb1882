"""LogQL against real log samples: every loghub file under the shared folder is
pushed as one stream, and each query's answer is checked against one computed
independently from the raw file with grep, awk and wc."""

import os
import subprocess
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent


def loghub_dir() -> Path | None:
    d = Path(os.environ.get("PHAROS_SHARED", ROOT.parent / "shared")) / "data" / "loghub"
    if d.is_dir():
        return d
    if os.environ.get("CI") == "true":
        pytest.fail(f"shared loghub samples missing at {d} under CI")
    print(f"\nSKIPPED LOUDLY: loghub samples not found at {d}")
    pytest.skip(f"loghub samples not found at {d}")
    return None


def sh(cmd: str) -> str:
    return subprocess.run(["bash", "-c", cmd], check=True, capture_output=True, text=True).stdout


def count(cmd: str) -> int:
    out = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True).stdout.strip()
    return int(out or 0)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    from conftest import Pharos

    d = loghub_dir()
    files = sorted(d.glob("*_2k.log"))
    assert files, f"no *_2k.log files in {d}"
    p = Pharos(tmp_path_factory.mktemp("loghub")).start()
    # One stream per file; line i at t0 + i ms, so every line is in the last hour.
    t0 = time.time_ns() - 30 * 60 * 10**9
    for f in files:
        raw = f.read_bytes().decode("utf-8", errors="replace").split("\n")
        if raw and raw[-1] == "":
            raw.pop()
        source = f.name.removesuffix("_2k.log")
        values = [[str(t0 + i * 10**6), line] for i, line in enumerate(raw)]
        for a in range(0, len(values), 500):
            r = requests.post(p.url + "/loki/api/v1/push", json={"streams": [
                {"stream": {"source": source}, "values": values[a:a + 500]}]}, timeout=30)
            assert r.status_code == 204, r.text
    yield p, d, t0
    p.stop()


def total(p, query, t0):
    """Sum of a metric query's instant vector over the last hour."""
    r = requests.get(p.url + "/loki/api/v1/query", params={"query": query, "time": str(t0 + 3_000 * 10**6)},
                     timeout=30)
    assert r.status_code == 200, r.text
    return {tuple(sorted(s["metric"].items())): float(s["value"][1]) for s in r.json()["data"]["result"]}


def lines(p, query, t0, limit=5000):
    r = requests.get(p.url + "/loki/api/v1/query_range", params={
        "query": query, "start": str(t0 - 10**9), "end": str(t0 + 3_000 * 10**6), "limit": str(limit)},
        timeout=30)
    assert r.status_code == 200, r.text
    return [v[1] for s in r.json()["data"]["result"] for v in s["values"]]


CASES = [
    # (LogQL log query, shell command printing the expected count)
    ('{source="OpenSSH"} |= "Failed password"', "grep -F -c 'Failed password' {d}/OpenSSH_2k.log"),
    ('{source="OpenSSH"} != "Invalid user"', "grep -F -v -c 'Invalid user' {d}/OpenSSH_2k.log"),
    ('{source="Apache"} |= "error" |= "mod_jk"', "grep -F 'error' {d}/Apache_2k.log | grep -F -c 'mod_jk'"),
    ('{source="HDFS"} |~ "blk_-[0-9]+"', "grep -E -c 'blk_-[0-9]+' {d}/HDFS_2k.log"),
    ('{source="Linux"} !~ "session (opened|closed)"', "grep -E -v -c 'session (opened|closed)' {d}/Linux_2k.log"),
    ('{source="Zookeeper"} |= "WARN" or "ERROR"', "grep -E -c 'WARN|ERROR' {d}/Zookeeper_2k.log"),
    ('{source="Apache"} | regexp "\\\\[(?P<sev>[a-z]+)\\\\]" | sev="error"',
     "awk '$6 == \"[error]\"' {d}/Apache_2k.log | wc -l"),
    ('{source="Spark"} | pattern "<_> <_> <_> <class>: <_>" | class="storage.BlockManager"',
     "awk '$4 == \"storage.BlockManager:\"' {d}/Spark_2k.log | wc -l"),
]


@pytest.mark.parametrize("query,cmd", CASES)
def test_log_queries_match_grep(loaded, query, cmd):
    p, d, t0 = loaded
    want = count(cmd.format(d=d))
    assert want > 0, f"the reference command found nothing: {cmd}"
    got = lines(p, query, t0)
    assert len(got) == want, (query, len(got), want)


def test_metric_queries_match_wc_and_grep(loaded):
    p, d, t0 = loaded
    per_source = total(p, 'sum by (source) (count_over_time({source=~".+"}[1h]))', t0)
    want = {}
    for f in sorted(d.glob("*_2k.log")):
        want[(("source", f.name.removesuffix("_2k.log")),)] = float(count(f"awk 'END {{print NR}}' {f}"))
    assert per_source == want
    warn = total(p, 'sum(count_over_time({source="Zookeeper"} |= "WARN" [1h]))', t0)
    assert list(warn.values()) == [float(count(f"grep -F -c WARN {d}/Zookeeper_2k.log"))]
    # bytes_over_time counts line bytes (without the newline).
    b = total(p, 'sum(bytes_over_time({source="Apache"}[1h]))', t0)
    assert list(b.values()) == [float(count(f"awk '{{n += length($0)}} END {{print n}}' LC_ALL=C {d}/Apache_2k.log"))]
    top = total(p, 'topk(2, sum by (source) (count_over_time({source=~".+"} |= "error" [1h])))', t0)
    counts = sorted(((count(f"grep -F -c error {f}"), f.name.removesuffix("_2k.log"))
                     for f in d.glob("*_2k.log")), reverse=True)
    assert {k[0][1] for k in top} == {counts[0][1], counts[1][1]}, (top, counts[:3])

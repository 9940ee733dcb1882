"""Fixtures for the end-to-end tests: start the real pharos binary on free
loopback ports with a fresh data directory, and talk to it over the wire."""

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent


def pharos_bin() -> str:
    b = os.environ.get("PHAROS_BIN")
    if b:
        return b
    return str(ROOT / "target" / "debug" / "pharos")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout=30.0, interval=0.1, what="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = pred()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - keep polling until the deadline
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


_LINE = re.compile(r"^(\{.*\}) (\S+) (-?\d+)$")
_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_labels(s: str) -> dict:
    return {k: bytes(v, "utf-8").decode("unicode_escape") for k, v in _PAIR.findall(s)}


class Pharos:
    def __init__(self, tmp: Path, config: str | None = None, args=()):
        self.dir = tmp
        self.data = tmp / "data"
        self.http_port = free_port()
        self.grpc_port = free_port()
        self.otlp_http_port = free_port()
        self.config_path = None
        if config is not None:
            self.config_path = tmp / "pharos.yml"
            self.config_path.write_text(config)
        self.args = list(args)
        self.proc = None
        self.log_path = tmp / "pharos.log"
        self.log = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def _command(self):
        cmd = [
            pharos_bin(), "serve",
            "--data-dir", str(self.data),
            "--http-addr", f"127.0.0.1:{self.http_port}",
            "--otlp-grpc-addr", f"127.0.0.1:{self.grpc_port}",
            "--otlp-http-addr", f"127.0.0.1:{self.otlp_http_port}",
            "--zipkin-addr", "off", "--jaeger-http-addr", "off", "--jaeger-udp-addr", "off",
            *self.args,
        ]
        if self.config_path:
            cmd += ["--config", str(self.config_path)]
        return cmd

    def start(self, attempts=3):
        """Starts pharos and waits until it is ready. A port picked free can be
        taken by another process's outgoing connection before pharos binds it;
        then pharos exits at once, and is started again on fresh ports."""
        for attempt in range(attempts):
            if self.log is None or self.log.closed:
                self.log = open(self.log_path, "ab")
            logged = self.log_path.stat().st_size if self.log_path.exists() else 0
            self.proc = subprocess.Popen(self._command(), stdout=self.log, stderr=self.log)
            deadline = time.time() + 60
            while True:
                if self.proc.poll() is not None:
                    text = self.log_text()
                    if attempt + 1 < attempts and "Address already in use" in text[logged:]:
                        self.http_port, self.grpc_port, self.otlp_http_port = (
                            free_port(), free_port(), free_port())
                        break
                    raise RuntimeError(f"pharos exited with {self.proc.returncode}: {text[-2000:]}")
                try:
                    if requests.get(self.url + "/-/ready", timeout=1).status_code == 200:
                        return self
                except requests.RequestException:
                    pass
                if time.time() > deadline:
                    raise AssertionError(f"timed out waiting for pharos /-/ready: {self.log_text()[-2000:]}")
                time.sleep(0.1)
        raise AssertionError("unreachable")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig=signal.SIGTERM, timeout=30) -> int:
        if self.proc is None:
            return 0
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=timeout)
        self.proc = None
        if self.log:
            self.log.close()
        return rc

    def kill9(self):
        self.proc.kill()
        self.proc.wait(timeout=30)
        self.proc = None

    def series(self, match: str, **params) -> list[dict]:
        r = requests.get(self.url + "/api/v1/series", params={"match[]": match, **params}, timeout=10)
        r.raise_for_status()
        body = r.json()
        assert body["status"] == "success", body
        return body["data"]

    def dump(self, *matchers) -> list[tuple[dict, str, int]]:
        """Samples on disk, via `pharos tsdb dump` (the server must be stopped)."""
        cmd = [pharos_bin(), "tsdb", "dump", "--data-dir", str(self.data)]
        for m in matchers:
            cmd += ["--match", m]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120).stdout
        rows = []
        for line in out.splitlines():
            m = _LINE.match(line)
            assert m, f"unexpected dump line: {line!r}"
            rows.append((parse_labels(m.group(1)), m.group(2), int(m.group(3))))
        return rows


@pytest.fixture
def pharos_factory(tmp_path):
    started = []

    def make(config=None, args=(), sub="p"):
        d = tmp_path / sub
        d.mkdir(exist_ok=True)
        p = Pharos(d, config=config, args=args)
        started.append(p)
        return p

    yield make
    for p in started:
        if p.proc is not None:
            p.proc.kill()
            p.proc.wait()

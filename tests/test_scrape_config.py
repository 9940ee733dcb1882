"""Scrape configuration end to end: TLS with a private CA, basic auth and
bearer tokens, file-based discovery re-read on change, relabeling and metric
relabeling, gzip-compressed bodies."""

import base64
import gzip
import http.server
import json
import ssl
import subprocess
import threading
import time

from conftest import free_port, wait_until

BODY = (
    "# HELP cfg_requests_total Requests.\n"
    "# TYPE cfg_requests_total counter\n"
    'cfg_requests_total{path="/a"} 7\n'
    'cfg_requests_total{path="/b"} 9\n'
    "# TYPE cfg_noise gauge\n"
    "cfg_noise 1\n"
)


class Handler(http.server.BaseHTTPRequestHandler):
    expected_auth = None
    seen = None

    def do_GET(self):  # noqa: N802 - http.server's naming
        auth = self.headers.get("Authorization")
        type(self).seen = {k.lower(): v for k, v in self.headers.items()}
        if self.expected_auth and auth != self.expected_auth:
            self.send_response(401)
            self.end_headers()
            return
        body = BODY.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        if "gzip" in self.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve(handler, port, context=None):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    if context:
        srv.socket = context.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def make_ca_and_cert(d):
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=pharos-test-ca",
        "-keyout", str(d / "ca.key"), "-out", str(d / "ca.crt"))
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
        "-keyout", str(d / "srv.key"), "-out", str(d / "srv.csr"))
    (d / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("x509", "-req", "-in", str(d / "srv.csr"), "-CA", str(d / "ca.crt"), "-CAkey", str(d / "ca.key"),
        "-CAcreateserial", "-days", "2", "-extfile", str(d / "ext.cnf"), "-out", str(d / "srv.crt"))


def test_tls_auth_file_sd_and_relabeling(pharos_factory, tmp_path):
    make_ca_and_cert(tmp_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "srv.crt", tmp_path / "srv.key")

    class TlsBasic(Handler):
        expected_auth = "Basic " + base64.b64encode(b"scraper:s3cret").decode()

    class Bearer(Handler):
        expected_auth = "Bearer tok-123"

    tls_port, bearer_port, sd_port = free_port(), free_port(), free_port()
    servers = [serve(TlsBasic, tls_port, ctx), serve(Bearer, bearer_port), serve(Handler, sd_port)]
    (tmp_path / "token").write_text("tok-123\n")
    sd_file = tmp_path / "targets.json"
    sd_file.write_text(json.dumps([{"targets": [], "labels": {}}]))

    cfg = f"""
global: {{scrape_interval: 1s, scrape_timeout: 800ms}}
scrape_configs:
  - job_name: tls
    scheme: https
    tls_config: {{ca_file: {tmp_path / 'ca.crt'}}}
    basic_auth: {{username: scraper, password: s3cret}}
    static_configs: [{{targets: ['localhost:{tls_port}']}}]
    metric_relabel_configs:
      - {{source_labels: [__name__], regex: cfg_noise, action: drop}}
  - job_name: bearer
    authorization: {{credentials_file: {tmp_path / 'token'}}}
    static_configs: [{{targets: ['127.0.0.1:{bearer_port}'], labels: {{team: a}}}}]
    relabel_configs:
      - {{source_labels: [team], target_label: owner, replacement: 'team-$1'}}
      - {{regex: team, action: labeldrop}}
  - job_name: badauth
    authorization: {{credentials: wrong}}
    static_configs: [{{targets: ['127.0.0.1:{bearer_port}']}}]
  - job_name: files
    file_sd_configs: [{{files: ['{sd_file}'], refresh_interval: 1m}}]
"""
    p = pharos_factory(cfg, args=["--no-self-scrape"]).start()
    try:
        s = wait_until(lambda: p.series('cfg_requests_total{job="tls"}'), what="TLS + basic auth scrape")
        assert {x["path"] for x in s} == {"/a", "/b"}
        assert not p.series('cfg_noise{job="tls"}'), "metric_relabel_configs drop did not apply"
        b = wait_until(lambda: p.series('cfg_requests_total{job="bearer"}'), what="bearer scrape")
        assert p.series('cfg_noise{job="bearer"}')
        assert b[0]["owner"] == "team-a" and "team" not in b[0], b
        assert "gzip" in (Bearer.seen or {}).get("accept-encoding", "")
        assert "openmetrics" in (Bearer.seen or {}).get("accept", "")

        # A target appears when the file changes.
        assert not p.series('cfg_requests_total{job="files"}')
        sd_file.write_text(json.dumps([{"targets": [f"127.0.0.1:{sd_port}"], "labels": {"zone": "z1"}}]))
        f = wait_until(lambda: p.series('cfg_requests_total{job="files"}'), timeout=30, what="file_sd target")
        assert f[0]["zone"] == "z1"
        wait_until(lambda: p.series('up{job="badauth"}'), what="up for the refused target")
        time.sleep(1)
    finally:
        for srv in servers:
            srv.shutdown()
    assert p.stop() == 0
    ups = p.dump('up{job="tls"}')
    assert ups and ups[0][1] == "1", ups
    bad = p.dump('up{job="badauth"}')
    assert bad and all(v == "0" for _, v, _ in bad), bad

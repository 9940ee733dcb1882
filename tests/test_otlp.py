"""The Python OpenTelemetry SDK exports metrics to pharos over OTLP/HTTP and
OTLP/gRPC; the series follow the OpenTelemetry→Prometheus mapping."""

import json
import time

import requests
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from conftest import wait_until


def export_with(exporter, service):
    res = Resource.create({
        "service.name": service,
        "service.namespace": "shop",
        "service.instance.id": "i-1",
        "deployment.environment": "test",
    })
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=200)
    provider = MeterProvider(resource=res, metric_readers=[reader])
    meter = provider.get_meter("e2e")
    orders = meter.create_counter("orders", unit="1", description="Orders placed.")
    orders.add(5, {"region": "eu"})
    latency = meter.create_histogram("latency", unit="s")
    latency.record(0.2)
    latency.record(3.0)
    queue = meter.create_up_down_counter("queue.depth")
    queue.add(7)
    time.sleep(0.5)
    provider.force_flush()
    provider.shutdown()


def check_series(p, service):
    job = f"shop/{service}"
    s = wait_until(lambda: p.series(f'orders_total{{job="{job}"}}'), what="otlp counter")[0]
    assert s["instance"] == "i-1" and s["region"] == "eu", s
    assert p.series(f'latency_seconds_bucket{{job="{job}", le="+Inf"}}')
    assert p.series(f'latency_seconds_sum{{job="{job}"}}')
    assert p.series(f'latency_seconds_count{{job="{job}"}}')
    assert p.series(f'queue_depth{{job="{job}"}}')
    info = p.series(f'target_info{{job="{job}"}}')
    assert info and info[0].get("deployment_environment") == "test", info


def test_otlp_http_and_grpc(pharos_factory):
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as Grpc
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as Http

    p = pharos_factory(args=["--no-self-scrape"]).start()
    export_with(Http(endpoint=f"http://127.0.0.1:{p.otlp_http_port}/v1/metrics"), "web")
    check_series(p, "web")
    # The main http listener serves /v1/metrics too.
    export_with(Http(endpoint=f"{p.url}/v1/metrics"), "api")
    check_series(p, "api")
    export_with(Grpc(endpoint=f"127.0.0.1:{p.grpc_port}", insecure=True), "grpc")
    check_series(p, "grpc")
    assert p.stop() == 0
    rows = p.dump('orders_total{job="shop/web"}')
    assert rows and rows[-1][1] == "5", rows


def test_otlp_json_and_delta_rejection(pharos_factory):
    p = pharos_factory(args=["--no-self-scrape"]).start()
    now = str(time.time_ns())
    body = {"resourceMetrics": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "js"}}]},
        "scopeMetrics": [{"metrics": [
            {"name": "hits", "sum": {"isMonotonic": True, "aggregationTemporality": 2,
                                     "dataPoints": [{"asInt": "4", "timeUnixNano": now}]}},
            {"name": "deltas", "sum": {"isMonotonic": True, "aggregationTemporality": 1,
                                       "dataPoints": [{"asInt": "1", "timeUnixNano": now}]}},
        ]}],
    }]}
    r = requests.post(p.url + "/v1/metrics", data=json.dumps(body),
                      headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 200, r.text
    ps = r.json().get("partialSuccess", {})
    assert int(ps.get("rejectedDataPoints", 0)) == 1, r.text
    assert "delta" in ps.get("errorMessage", ""), r.text
    assert p.series('hits_total{job="js"}')
    r = requests.post(p.url + "/v1/metrics", data=b"{not json",
                      headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 400, r.text

"""/metrics parsed by Prometheus' own text-format parser (prometheus_client) after an NFS
workload from a third-party client (pyNfsClient): the counters move by exactly the
operations performed. dittofs-only (fails against DITTOFS_TEST_SERVER)."""
import urllib.request

import pyNfsClient
from prometheus_client.parser import text_string_to_metric_families

from test_nfs3 import create, ok, write


def scrape(server):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % server.metrics_port,
                                timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    samples, families = {}, {}
    for fam in text_string_to_metric_families(text):
        families[fam.name] = fam.type
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples, families


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_counters_match_the_operations(server, nfs, workdir):
    before, _ = scrape(server)
    handles = [create(nfs, workdir, "m%d" % i) for i in range(5)]
    for h in handles:
        ok(nfs.getattr(h))
    for _ in range(4):
        assert nfs.lookup(workdir, "absent")["status"] == pyNfsClient.NFS3ERR_NOENT
    ok(write(nfs, handles[0], 0, b"z" * 3000, 2))  # FILE_SYNC
    after, families = scrape(server)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    # prometheus_client strips _total from counter family names.
    assert families["dittofs_requests"] == "counter"
    assert families["dittofs_request_duration_seconds"] == "histogram"
    assert families["dittofs_connections"] == "gauge"
    req = "dittofs_requests_total"
    assert delta(req, protocol="nfs", op="CREATE") == 5
    assert delta(req, protocol="nfs", op="GETATTR") == 5
    assert delta(req, protocol="nfs", op="LOOKUP") == 4
    assert delta(req, protocol="nfs", op="WRITE") == 1
    assert delta("dittofs_request_errors_total", protocol="nfs", op="LOOKUP", status="NOENT") == 4
    assert delta("dittofs_written_bytes_total", protocol="nfs") == 3000
    assert delta("dittofs_request_duration_seconds_count", protocol="nfs", op="CREATE") == 5
    appends = sum(v - before.get(k, 0.0) for k, v in after.items()
                  if k[0] == "dittofs_wal_appends_total")
    assert appends >= 1

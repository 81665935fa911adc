"""SMB rate limiting through smbprotocol: a client over its per-client request limit is
slowed (each echo waits for its token) and granted one credit per response instead of
what it asked for, never refused; the throttle shows in the log and in
dittofs_rate_limited_total{protocol="smb"}. Its own server (the limit is global)."""
import time
import urllib.request
import uuid

from conftest import SMB_PASSWORD, SMB_USER, Server

RATE = 10
BURST = 5
LIMITS = """
[rate_limit.per_client]
requests_per_s = %d
requests_burst = %d
""" % (RATE, BURST)
ECHOES = 25
ASKED = 32


def test_over_limit_smb_client_is_slowed_and_gets_one_credit(tmp_path):
    from smbprotocol.connection import Connection
    from smbprotocol.session import Session
    s = Server(str(tmp_path), smb=True, extra=LIMITS)
    try:
        conn = Connection(uuid.uuid4(), "127.0.0.1", s.smb_port, require_signing=True)
        conn.connect(timeout=15)
        sess = Session(conn, SMB_USER, SMB_PASSWORD, require_encryption=False)
        sess.connect()
        # Let the bucket fill up to its burst again.
        time.sleep(BURST / RATE + 0.2)
        t0 = time.monotonic()
        granted = [conn.echo(sid=sess.session_id, credit_request=ASKED) for _ in range(ECHOES)]
        elapsed = time.monotonic() - t0
        # BURST echoes go through at once, every later one waits 1/RATE s.
        floor = (ECHOES - BURST) / RATE
        assert elapsed >= floor * 0.9, (elapsed, granted)
        assert granted[0] == ASKED, granted
        assert granted[-1] == 1 and granted.count(1) >= ECHOES - BURST, granted
        conn.disconnect(True)
        log = s.log_text()
        assert "throttling client 127.0.0.1" in log, log[-3000:]
        text = urllib.request.urlopen(
            "http://127.0.0.1:%d/metrics" % s.metrics_port, timeout=10).read().decode()
        lines = [l for l in text.splitlines()
                 if l.startswith("dittofs_rate_limited_total") and 'protocol="smb"' in l]
        assert lines and int(lines[0].rsplit(" ", 1)[1]) >= ECHOES - BURST, lines
    finally:
        rc, killed = s.stop()
        assert rc == 0 and not killed, (rc, killed, s.log_text()[-3000:])

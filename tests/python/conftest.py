"""Fixtures: the real dittofs binary on a free loopback port (memory stores, share /export),
pyNfsClient connections to it, and the raw RPC client.

The binary is $DITTOFS_BIN, else <repo>/target/release/dittofs (or $CARGO_TARGET_DIR/release).
A missing binary fails the run; it is never skipped.

To check the tests themselves against a reference server (e.g. NFS-Ganesha), set
DITTOFS_TEST_SERVER=NFSPORT[:MOUNTPORT] (on 127.0.0.1, export /export); no binary is started
then. Tests of dittofs-only behaviour (MOUNT and portmap on the NFS port) fail there.
"""
import itertools
import os
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import pytest
import pyNfsClient
import pyNfsClient.rpc

import rpc_client

START_TIMEOUT = 30
STOP_TIMEOUT = 20
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class _XidClock:
    """pyNfsClient takes every RPC's xid from int(time.time()), so calls within one second
    share an xid, which a server's duplicate request cache may rightly treat as
    retransmissions. Give its `time` module a clock that ticks once per call instead."""

    def __init__(self):
        self._n = itertools.count(int(time.time()) & 0x3FFFFFFF)

    def time(self):
        return next(self._n)

    def __getattr__(self, name):
        return getattr(time, name)


pyNfsClient.rpc.time = _XidClock()


def dittofs_bin():
    b = os.environ.get("DITTOFS_BIN")
    if not b:
        target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
        b = os.path.join(target, "release", "dittofs")
    if not os.access(b, os.X_OK):
        pytest.fail("dittofs binary %s not found: build it (cargo build --release) or set "
                    "DITTOFS_BIN" % b, pytrace=False)
    return b


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CONFIG = """data_dir = "{data}"
listen = "127.0.0.1"
cores = 2

# Small WAL segments: the default (64 MiB x 4 per core) is zero-filled at
# first start, too slow and big for test servers.
[wal]
segment_bytes = 4194304
segments_per_core = 4

[adapters.nfs]
port = {port}

# /metrics for test_metrics.py; no admin API.
[metrics]
port = {metrics}

[api]
port = 0

[metadata_stores.default]
type = "memory"

[block_stores.default]
type = "memory"

[[shares]]
name = "/export"
metadata_store = "default"
block_store = "default"
root_mode = 511
squash = "none"
"""


class ExternalServer:
    def __init__(self, spec):
        ports = [int(p) for p in spec.split(":")]
        self.port, self.mount_port = ports[0], ports[-1]
        self.proc = None

    def log_text(self):
        return "(external server)"

    def alive(self):
        return True

    def stop(self):
        return 0, False


# The SMB fixture: LMDB + filesystem stores (the CLI adds users to the stopped server's
# store), SMB on its own port, cheap bcrypt for test users.
SMB_EXTRA = """
[identity]
bcrypt_cost = 4

[adapters.smb]
enabled = true
port = {smb_port}
"""

SMB_USER = "alice"
SMB_PASSWORD = "Secr3t-pass"
SMB_UID = 1000


class Server:
    def __init__(self, tmp, smb=False, extra=""):
        self.port = free_port()
        self.mount_port = self.port
        self.metrics_port = free_port()
        self.smb_port = free_port() if smb else None
        self.dir = tmp
        data = os.path.join(tmp, "data")
        os.makedirs(data, exist_ok=True)
        self.conf = os.path.join(tmp, "dittofs.toml")
        text = CONFIG.format(port=self.port, data=data, metrics=self.metrics_port)
        if smb:
            text = text.replace('[metadata_stores.default]\ntype = "memory"',
                                '[metadata_stores.default]\ntype = "lmdb"')
            text = text.replace('[block_stores.default]\ntype = "memory"',
                                '[block_stores.default]\ntype = "filesystem"')
            text += SMB_EXTRA.format(smb_port=self.smb_port)
        text += extra
        with open(self.conf, "w") as f:
            f.write(text)
        if smb:
            add = subprocess.run([dittofs_bin(), "user", "add", SMB_USER, "--uid", str(SMB_UID),
                                  "--password-stdin", "--config", self.conf],
                                 input=(SMB_PASSWORD + "\n").encode(), capture_output=True,
                                 timeout=60)
            if add.returncode != 0:
                raise RuntimeError("dittofs user add failed: %r" % (add,))
        self.log = os.path.join(tmp, "server.log")
        env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "info"))
        with open(self.log, "wb") as logf:
            self.proc = subprocess.Popen([dittofs_bin(), "start", "--config", self.conf],
                                         stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                         env=env)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                if self.smb_port:
                    socket.create_connection(("127.0.0.1", self.smb_port), timeout=0.5).close()
                return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("dittofs exited early (%s):\n%s" % (self.proc.returncode,
                                                                       self.log_text()))
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("dittofs not listening on %d after %ds:\n%s" % (
                    self.port, START_TIMEOUT, self.log_text()))
            time.sleep(0.05)

    def log_text(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")[-20000:]

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """SIGTERM by PID, bounded wait, then SIGKILL. Returns (returncode, killed)."""
        if self.proc.poll() is not None:
            return self.proc.returncode, False
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(STOP_TIMEOUT), False
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10), True


def _serve(smb):
    with tempfile.TemporaryDirectory(prefix="dittofs-pytest-") as tmp:
        try:
            s, err = Server(tmp, smb=smb), None
        except RuntimeError as e:
            s, err = None, str(e)
        if err:
            pytest.fail(err, pytrace=False)
        yield s
        crashed = not s.alive()
        rc, killed = s.stop()
        if crashed or killed or rc != 0:
            pytest.fail("dittofs %s (exit %s); log tail:\n%s" % (
                "crashed during the tests" if crashed else
                "needed SIGKILL" if killed else "exited non-zero on SIGTERM",
                rc, s.log_text()[-5000:]), pytrace=False)


@pytest.fixture(scope="session")
def server():
    if os.environ.get("DITTOFS_TEST_SERVER"):
        yield ExternalServer(os.environ["DITTOFS_TEST_SERVER"])
        return
    yield from _serve(smb=False)


@pytest.fixture(scope="session")
def smb_server():
    """A second server with SMB enabled (share `export`, user SMB_USER/SMB_PASSWORD,
    uid SMB_UID) on LMDB + filesystem stores. Its NFS port serves the same share."""
    yield from _serve(smb=True)


@pytest.fixture
def smb_session(smb_server):
    """An authenticated smbprotocol (Connection, Session, TreeConnect) to share `export`,
    SMB 3.1.1; closed after the test."""
    from smbprotocol.connection import Connection
    from smbprotocol.session import Session
    from smbprotocol.tree import TreeConnect
    conn = Connection(uuid.uuid4(), "127.0.0.1", smb_server.smb_port, require_signing=True)
    conn.connect(timeout=15)
    sess = Session(conn, SMB_USER, SMB_PASSWORD, require_encryption=False)
    sess.connect()
    tree = TreeConnect(sess, r"\\127.0.0.1\export")
    tree.connect()
    yield conn, sess, tree
    try:
        tree.disconnect()
        sess.disconnect()
    finally:
        conn.disconnect(True)


def auth(uid=0, gid=0, gids=None):
    return {"flavor": 1, "machine_name": "dittofs-test", "uid": uid, "gid": gid,
            "aux_gid": list(gids or []), "stamp": 0}


ROOT_AUTH = auth(0, 0)


@pytest.fixture(scope="session")
def root_fh(server):
    m = pyNfsClient.Mount(host="127.0.0.1", port=server.mount_port, timeout=15, auth=ROOT_AUTH)
    m.connect()
    try:
        res = m.mnt("/export")
        assert res["status"] == pyNfsClient.MNT3_OK, res
        return res["mountinfo"]["fhandle"]
    finally:
        m.disconnect()


@pytest.fixture
def nfs(server):
    """A pyNfsClient NFSv3 connection as root (AUTH_SYS uid 0)."""
    c = pyNfsClient.NFSv3(host="127.0.0.1", port=server.port, timeout=15, auth=ROOT_AUTH)
    c.connect()
    yield c
    c.disconnect()


@pytest.fixture
def raw(server):
    """A raw ONC RPC connection (tests/python/rpc_client.py)."""
    c = rpc_client.RpcClient("127.0.0.1", server.port)
    yield c
    c.close()


@pytest.fixture
def workdir(nfs, root_fh):
    """A fresh directory (mode 0777) under the export root for one test; returns its handle."""
    name = "t-" + uuid.uuid4().hex[:12]
    res = nfs.mkdir(root_fh, name, mode=0o777)
    assert res["status"] == pyNfsClient.NFS3_OK, res
    return res["resok"]["obj"]["handle"]["data"]

"""Orphan collection at start-up: a file deleted over SMB while still open stays
at link count 0 on its store's orphan set; when the server is SIGKILLed before
the last close, the next start reaps it and drops its content (objects in the
filesystem block store), logging how many it reaped; a start after that finds
none (the collection left nothing behind)."""
import os
import re
import struct
import subprocess
import tempfile
import time
import uuid

import conftest
from test_smb_unlink import (DISPOSITION_DELETE, DISPOSITION_POSIX_SEMANTICS,
                             FILE_DISPOSITION_INFORMATION_EX, PAYLOAD, assert_gone, open_,
                             set_info)
from smbprotocol.connection import Connection
from smbprotocol.open import CreateDisposition
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect

OBJECT = re.compile(r"^0/(\d+)/\d+\.\d+$")


def objects(data):
    """{inode: object count} of share 0 in the default filesystem block store."""
    root = os.path.join(data, "blocks")
    found = {}
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            m = OBJECT.match(os.path.relpath(os.path.join(dirpath, f), root))
            if m:
                ino = int(m.group(1))
                found[ino] = found.get(ino, 0) + 1
    return found


def connect(server):
    conn = Connection(uuid.uuid4(), "127.0.0.1", server.smb_port, require_signing=True)
    conn.connect(timeout=15)
    sess = Session(conn, conftest.SMB_USER, conftest.SMB_PASSWORD, require_encryption=False)
    sess.connect()
    tree = TreeConnect(sess, r"\\127.0.0.1\export")
    tree.connect()
    return conn, sess, tree


def restart(server):
    """Starts the server again on its data directory and configuration, on
    fresh ports (the killed server's may linger in TIME_WAIT)."""
    with open(server.conf) as f:
        text = f.read()
    for attr in ("port", "smb_port", "metrics_port"):
        new = conftest.free_port()
        text = text.replace("port = %d\n" % getattr(server, attr), "port = %d\n" % new)
        setattr(server, attr, new)
    with open(server.conf, "w") as f:
        f.write(text)
    env = dict(os.environ, RUST_LOG="info")
    server.log = server.log + ".again"
    with open(server.log, "wb") as logf:
        server.proc = subprocess.Popen([conftest.dittofs_bin(), "start", "--config", server.conf],
                                       stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                       env=env)
    deadline = time.monotonic() + conftest.START_TIMEOUT
    while True:
        try:
            conftest.socket.create_connection(("127.0.0.1", server.smb_port), timeout=0.5).close()
            return
        except OSError:
            pass
        assert server.proc.poll() is None, "dittofs exited early:\n" + server.log_text()
        assert time.monotonic() < deadline, "dittofs did not restart:\n" + server.log_text()
        time.sleep(0.05)


def wait_log(server, text):
    """The log gains `text` (log lines are written asynchronously); bounded."""
    deadline = time.monotonic() + 10
    while text not in server.log_text():
        assert time.monotonic() < deadline, "no %r in the log:\n%s" % (text, server.log_text())
        time.sleep(0.05)


def test_orphan_of_a_killed_server_is_reaped_at_start():
    with tempfile.TemporaryDirectory(prefix="dittofs-orphans-") as tmp:
        server = conftest.Server(tmp, smb=True)
        data = os.path.join(tmp, "data")
        try:
            conn, sess, tree = connect(server)
            keep = open_(tree, "kept.bin", CreateDisposition.FILE_OVERWRITE_IF)
            keep.write(PAYLOAD, 0)
            linked = open_(tree, "linked.bin", CreateDisposition.FILE_OVERWRITE_IF)
            linked.write(PAYLOAD, 0)
            linked.close()
            # Both files' blocks reach the block store (the idle sealer uploads).
            deadline = time.monotonic() + 60
            while len(objects(data)) < 2:
                assert time.monotonic() < deadline, "no objects uploaded: %r" % objects(data)
                time.sleep(0.2)
            before = objects(data)
            # Delete kept.bin through a second open while `keep` stays open.
            other = open_(tree, "kept.bin", CreateDisposition.FILE_OPEN)
            flags = DISPOSITION_DELETE | DISPOSITION_POSIX_SEMANTICS
            set_info(conn, sess, tree, other, FILE_DISPOSITION_INFORMATION_EX,
                     struct.pack("<I", flags))
            other.close()
            assert_gone(tree, "kept.bin")
            assert keep.read(0, 16) == PAYLOAD[:16]
            # Crash with the file still open: it stays behind at nlink 0.
            server.proc.kill()
            server.proc.wait(10)
            assert objects(data) == before
            restart(server)
            wait_log(server, "reaped 1 orphan inodes")
            after = objects(data)
            gone = set(before) - set(after)
            assert len(gone) == 1, (before, after)
            # The linked file is untouched and still reads back.
            conn, sess, tree = connect(server)
            f = open_(tree, "linked.bin", CreateDisposition.FILE_OPEN)
            assert f.read(0, len(PAYLOAD)) == PAYLOAD
            f.close()
            assert_gone(tree, "kept.bin")
            conn.disconnect(True)
            rc, killed = server.stop()
            assert rc == 0 and not killed, server.log_text()
            # Nothing is left to collect at the next start.
            restart(server)
            wait_log(server, "reaped 0 orphan inodes")
            assert objects(data) == after
        finally:
            server.stop()

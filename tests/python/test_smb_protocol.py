"""Protocol-level SMB cases through smbprotocol (a third-party client): an encrypted
3.1.1 session, related compound chains (CREATE + WRITE + CLOSE, CREATE + READ + CLOSE in
one frame each) and an 8 MiB multi-credit WRITE/READ."""
import os
import uuid

from smbprotocol.connection import Connection
from smbprotocol.open import (CreateDisposition, CreateOptions, FileAttributes,
                              ImpersonationLevel, Open, ShareAccess)
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect

from conftest import SMB_PASSWORD, SMB_USER

GENERIC_ALL = 0x10000000
SHARE_ALL = ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE | \
    ShareAccess.FILE_SHARE_DELETE


def _create_args(disposition):
    return (ImpersonationLevel.Impersonation, GENERIC_ALL, FileAttributes.FILE_ATTRIBUTE_NORMAL,
            SHARE_ALL, disposition, CreateOptions.FILE_NON_DIRECTORY_FILE)


def test_encrypted_session_roundtrip(smb_server):
    conn = Connection(uuid.uuid4(), "127.0.0.1", smb_server.smb_port)
    conn.connect(timeout=15)
    try:
        sess = Session(conn, SMB_USER, SMB_PASSWORD, require_encryption=True)
        sess.connect()
        assert sess.encrypt_data
        tree = TreeConnect(sess, r"\\127.0.0.1\export")
        tree.connect()
        name = "enc-" + uuid.uuid4().hex[:8]
        data = os.urandom(200_000)
        f = Open(tree, name)
        f.create(*_create_args(CreateDisposition.FILE_CREATE))
        assert f.write(data, 0) == len(data)
        assert f.read(0, len(data)) == data
        f.close()
        tree.disconnect()
        sess.disconnect()
    finally:
        conn.disconnect(True)


def test_related_compound_chains(smb_session):
    conn, sess, tree = smb_session
    name = "cmp-" + uuid.uuid4().hex[:8]
    data = os.urandom(70_000)
    f = Open(tree, name)
    msgs = [f.create(*_create_args(CreateDisposition.FILE_CREATE), send=False),
            f.write(data, 0, send=False),
            f.close(False, send=False)]
    reqs = conn.send_compound([m[0] for m in msgs], sess.session_id, tree.tree_connect_id,
                              related=True)
    results = [m[1](r) for m, r in zip(msgs, reqs)]
    assert results[1] == len(data)

    g = Open(tree, name)
    msgs = [g.create(*_create_args(CreateDisposition.FILE_OPEN), send=False),
            g.read(0, len(data), send=False),
            g.close(False, send=False)]
    reqs = conn.send_compound([m[0] for m in msgs], sess.session_id, tree.tree_connect_id,
                              related=True)
    results = [m[1](r) for m, r in zip(msgs, reqs)]
    assert results[1] == data


def test_8mib_multi_credit_write_and_read(smb_session):
    conn, sess, tree = smb_session
    assert conn.max_write_size >= 8 << 20 and conn.max_read_size >= 8 << 20
    # An 8 MiB request is charged 128 credits; the server grants what is asked for
    # (smbprotocol asks only for each request's own charge), so ask for a window first.
    assert conn.echo(sid=sess.session_id, credit_request=256) == 256
    name = "big-" + uuid.uuid4().hex[:8]
    data = os.urandom(8 << 20)
    f = Open(tree, name)
    f.create(*_create_args(CreateDisposition.FILE_CREATE))
    try:
        assert f.write(data, 0) == len(data)
        assert f.read(0, len(data)) == data
    finally:
        f.close()

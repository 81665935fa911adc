"""Durable handles and session re-authentication through smbprotocol (a client we did not
write).

Durable v2: a file opened with an RWH lease and DH2Q, written, then the TCP connection dropped
without LOGOFF or CLOSE; a new Connection and Session of the same user reconnects it with DH2C
(same persistent FileId, same CreateGuid, same lease key) and reads back what was written before
the drop, through the reattached handle. A wrong CreateGuid, or no durable request at all, makes
the reconnect fail with STATUS_OBJECT_NAME_NOT_FOUND; a durable open with no H caching is not
granted durable.

Re-authentication: SESSION_SETUP again on an established session keeps the session, its tree
connect and its opens (the handle opened before reads afterwards). The server keeps the
session's keys on re-authentication (as Samba does), so the client's keys are put back after
smbprotocol re-derives them."""
import time
import uuid

import pytest
from smbprotocol.connection import Connection
from smbprotocol.create_contexts import (CreateContextName, SMB2CreateContextRequest,
                                         SMB2CreateDurableHandleReconnectV2,
                                         SMB2CreateDurableHandleRequestV2,
                                         SMB2CreateRequestLeaseV2)
from smbprotocol.exceptions import SMBResponseException
from smbprotocol.open import (CreateDisposition, CreateOptions, FileAttributes,
                              ImpersonationLevel, LockFlags, Open, RequestedOplockLevel,
                              ShareAccess, SMB2LockElement)
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect

from conftest import SMB_PASSWORD, SMB_USER

GENERIC_ALL = 0x10000000
SHARE_ALL = (ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE
             | ShareAccess.FILE_SHARE_DELETE)
R, H, W = 1, 2, 4
STATUS_OBJECT_NAME_NOT_FOUND = 0xC0000034
STATUS_FILE_LOCK_CONFLICT = 0xC0000054
EXCL_NOW = LockFlags.SMB2_LOCKFLAG_EXCLUSIVE_LOCK | LockFlags.SMB2_LOCKFLAG_FAIL_IMMEDIATELY
UNLOCK = LockFlags.SMB2_LOCKFLAG_UNLOCK


def connect(port, client_guid=None):
    conn = Connection(client_guid or uuid.uuid4(), "127.0.0.1", port, require_signing=True)
    conn.connect(timeout=15)
    sess = Session(conn, SMB_USER, SMB_PASSWORD, require_encryption=False)
    sess.connect()
    tree = TreeConnect(sess, r"\\127.0.0.1\export")
    tree.connect()
    return conn, sess, tree


def context(name, data):
    ctx = SMB2CreateContextRequest()
    ctx["buffer_name"] = name
    ctx["buffer_data"] = data
    return ctx


def lease_ctx(key, state):
    lease = SMB2CreateRequestLeaseV2()
    lease["lease_key"] = key
    lease["lease_state"] = state
    lease["parent_lease_key"] = b"\x00" * 16
    lease["epoch"] = 0
    return context(CreateContextName.SMB2_CREATE_REQUEST_LEASE, lease)


def dh2q_ctx(create_guid, timeout_ms=30000):
    dh = SMB2CreateDurableHandleRequestV2()
    dh["timeout"] = timeout_ms
    dh["flags"] = 0
    dh["create_guid"] = create_guid
    return context(CreateContextName.SMB2_CREATE_DURABLE_HANDLE_REQUEST_V2, dh)


def dh2c_ctx(file_id, create_guid):
    dh = SMB2CreateDurableHandleReconnectV2()
    dh["file_id"] = file_id
    dh["create_guid"] = create_guid
    dh["flags"] = 0
    return context(CreateContextName.SMB2_CREATE_DURABLE_HANDLE_RECONNECT_V2, dh)


def context_names(resp):
    """Class names of the response contexts smbprotocol parsed."""
    return [type(c).__name__ for c in (resp or [])]


def open_durable(tree, name, key, guid, state=R | W | H, timeout_ms=30000):
    f = Open(tree, name)
    resp = f.create(ImpersonationLevel.Impersonation, GENERIC_ALL, FileAttributes.FILE_ATTRIBUTE_NORMAL,
                    SHARE_ALL, CreateDisposition.FILE_OVERWRITE_IF,
                    CreateOptions.FILE_NON_DIRECTORY_FILE,
                    create_contexts=[lease_ctx(key, state), dh2q_ctx(guid, timeout_ms)],
                    oplock_level=RequestedOplockLevel.SMB2_OPLOCK_LEVEL_LEASE)
    return f, resp


def reconnect(tree, name, key, file_id, guid):
    f = Open(tree, name)
    resp = f.create(ImpersonationLevel.Impersonation, GENERIC_ALL, FileAttributes.FILE_ATTRIBUTE_NORMAL,
                    SHARE_ALL, CreateDisposition.FILE_OPEN,
                    CreateOptions.FILE_NON_DIRECTORY_FILE,
                    create_contexts=[lease_ctx(key, R | W | H), dh2c_ctx(file_id, guid)],
                    oplock_level=RequestedOplockLevel.SMB2_OPLOCK_LEVEL_LEASE)
    return f, resp


def drop(conn):
    """Closes the TCP connection without LOGOFF or CLOSE (a network failure)."""
    conn.disconnect(False)


def test_durable_v2_reconnect_reads_data_written_before_the_drop(smb_server):
    client = uuid.uuid4()  # a client keeps its ClientGuid across reconnects
    conn, _, tree = connect(smb_server.smb_port, client)
    key, guid = uuid.uuid4().bytes, uuid.uuid4()
    f, resp = open_durable(tree, "durable-v2.bin", key, guid)
    assert "SMB2CreateDurableHandleResponseV2" in context_names(resp)
    payload = b"written before the connection dropped " * 100
    f.write(payload, 0)
    file_id = f.file_id
    drop(conn)

    # Another client does not find it.
    conn3, _, tree3 = connect(smb_server.smb_port)
    try:
        with pytest.raises(SMBResponseException) as e:
            reconnect(tree3, "durable-v2.bin", key, file_id, guid)
        assert e.value.status == STATUS_OBJECT_NAME_NOT_FOUND
    finally:
        conn3.disconnect(True)

    conn2, _, tree2 = connect(smb_server.smb_port, client)
    try:
        # A wrong CreateGuid does not find it (and leaves it parked).
        with pytest.raises(SMBResponseException) as e:
            reconnect(tree2, "durable-v2.bin", key, file_id, uuid.uuid4())
        assert e.value.status == STATUS_OBJECT_NAME_NOT_FOUND
        g, resp = reconnect(tree2, "durable-v2.bin", key, file_id, guid)
        assert g.file_id[:8] == file_id[:8], "same persistent file id"
        names = context_names(resp)
        # As Samba: a reconnect carries no DH2Q response, only the lease.
        assert "SMB2CreateDurableHandleResponseV2" not in names
        assert any(n.startswith("SMB2CreateResponseLease") for n in names), names
        assert g.read(0, len(payload)) == payload
        g.close()
        # Closed: a second reconnect finds nothing.
        with pytest.raises(SMBResponseException) as e:
            reconnect(tree2, "durable-v2.bin", key, file_id, guid)
        assert e.value.status == STATUS_OBJECT_NAME_NOT_FOUND
    finally:
        conn2.disconnect(True)


def test_not_durable_without_handle_caching(smb_server):
    client = uuid.uuid4()
    conn, _, tree = connect(smb_server.smb_port, client)
    key, guid = uuid.uuid4().bytes, uuid.uuid4()
    f, resp = open_durable(tree, "durable-rw.bin", key, guid, state=R | W)
    assert "SMB2CreateDurableHandleResponseV2" not in context_names(resp)
    file_id = f.file_id
    drop(conn)
    conn2, _, tree2 = connect(smb_server.smb_port, client)
    try:
        with pytest.raises(SMBResponseException) as e:
            reconnect(tree2, "durable-rw.bin", key, file_id, guid)
        assert e.value.status == STATUS_OBJECT_NAME_NOT_FOUND
    finally:
        conn2.disconnect(True)


def test_reauthentication_keeps_session_tree_and_opens(smb_session):
    conn, sess, tree = smb_session
    f = Open(tree, "reauth.txt")
    f.create(ImpersonationLevel.Impersonation, GENERIC_ALL, FileAttributes.FILE_ATTRIBUTE_NORMAL,
             SHARE_ALL, CreateDisposition.FILE_OVERWRITE_IF, CreateOptions.FILE_NON_DIRECTORY_FILE)
    f.write(b"before reauth", 0)
    sid = sess.session_id
    keys = (sess.signing_key, sess.encryption_key, sess.decryption_key, sess.application_key)
    # smbprotocol re-derives the keys after any SESSION_SETUP and checks the final
    # response with them; the server (like Samba) keeps the session's keys, so that
    # check is skipped here and the old keys are put back.
    sess.signing_required = False
    sess.connect()  # SESSION_SETUP again with the same SessionId: a re-authentication
    sess.signing_required = True
    assert sess.session_id == sid
    sess.signing_key, sess.encryption_key, sess.decryption_key, sess.application_key = keys
    assert f.read(0, 13) == b"before reauth"
    g = Open(tree, "reauth.txt")
    g.create(ImpersonationLevel.Impersonation, GENERIC_ALL, FileAttributes.FILE_ATTRIBUTE_NORMAL,
             SHARE_ALL, CreateDisposition.FILE_OPEN, CreateOptions.FILE_NON_DIRECTORY_FILE)
    g.close()
    f.close()


def lock_el(offset, length, flags):
    e = SMB2LockElement()
    e["offset"] = offset
    e["length"] = length
    e["flags"] = flags
    return e


def status_of(fn):
    try:
        fn()
    except SMBResponseException as e:
        return e.status
    return 0


def plain_open(tree, name):
    f = Open(tree, name)
    f.create(ImpersonationLevel.Impersonation, GENERIC_ALL, FileAttributes.FILE_ATTRIBUTE_NORMAL,
             SHARE_ALL, CreateDisposition.FILE_OPEN, CreateOptions.FILE_NON_DIRECTORY_FILE)
    return f


def test_locks_survive_durable_reconnect(smb_server):
    """A durable open's byte-range lock stays while it is parked (another client's
    READ of the range fails: a READ breaks no R caching, where a LOCK or WRITE would
    break the parked open's lease and so close it, MS-SMB2 3.3.4.7) and belongs to
    the reconnected handle, which unlocks it."""
    client = uuid.uuid4()
    conn, _, tree = connect(smb_server.smb_port, client)
    key, guid = uuid.uuid4().bytes, uuid.uuid4()
    # RH: another client's plain open breaks nothing, so the parked open stays.
    f, resp = open_durable(tree, "durable-lock.bin", key, guid, state=R | H)
    assert "SMB2CreateDurableHandleResponseV2" in context_names(resp)
    f.write(b"x" * 100, 0)
    f.lock([lock_el(0, 10, EXCL_NOW)])
    file_id = f.file_id
    drop(conn)

    conn_b, _, tree_b = connect(smb_server.smb_port)
    conn2 = None
    try:
        b = plain_open(tree_b, "durable-lock.bin")
        assert status_of(lambda: b.read(5, 1)) == STATUS_FILE_LOCK_CONFLICT
        assert b.read(10, 5) == b"xxxxx"  # outside the parked lock

        conn2, _, tree2 = connect(smb_server.smb_port, client)
        g, _ = reconnect(tree2, "durable-lock.bin", key, file_id, guid)
        assert status_of(lambda: b.read(5, 1)) == STATUS_FILE_LOCK_CONFLICT
        assert g.read(5, 1) == b"x", "the lock's owner reads through it"
        g.lock([lock_el(0, 10, UNLOCK)])  # the reconnected handle owns it
        assert b.read(5, 1) == b"x"
        # (No LOCK from b here: it would break g's R lease, a notice smbprotocol
        # cannot take.)
        b.close()
        g.close()
    finally:
        conn_b.disconnect(True)
        if conn2 is not None:
            conn2.disconnect(True)


def test_parked_locks_released_at_expiry(smb_server):
    conn, _, tree = connect(smb_server.smb_port)
    key, guid = uuid.uuid4().bytes, uuid.uuid4()
    f, resp = open_durable(tree, "durable-lock-expiry.bin", key, guid, state=R | H,
                           timeout_ms=1000)
    assert "SMB2CreateDurableHandleResponseV2" in context_names(resp)
    f.write(b"x" * 100, 0)
    f.lock([lock_el(0, 10, EXCL_NOW)])
    drop(conn)
    conn_b, _, tree_b = connect(smb_server.smb_port)
    try:
        b = plain_open(tree_b, "durable-lock-expiry.bin")
        assert status_of(lambda: b.read(0, 1)) == STATUS_FILE_LOCK_CONFLICT
        deadline = time.monotonic() + 10
        while status_of(lambda: b.read(0, 1)) != 0:
            assert time.monotonic() < deadline, "parked lock never released"
            time.sleep(0.2)
        b.lock([lock_el(0, 10, EXCL_NOW)])
        b.close()
    finally:
        conn_b.disconnect(True)

"""SMB2 byte-range locks through smbprotocol (a third-party client), two connections as
two clients: exclusive vs shared conflicts, fail-immediately, a blocking lock granted when
the holder unlocks, CANCEL of a blocking lock, READ/WRITE against another open's lock,
unlock of a range not held, and locks released by CLOSE."""
import time
import uuid

import pytest
from smbprotocol.connection import Connection
from smbprotocol.exceptions import SMBResponseException
from smbprotocol.header import NtStatus
from smbprotocol.open import (CreateDisposition, CreateOptions, FileAttributes,
                              ImpersonationLevel, LockFlags, Open, ShareAccess,
                              SMB2LockElement)
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect

from conftest import SMB_PASSWORD, SMB_USER

GENERIC_ALL = 0x10000000
SHARE_ALL = ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE | \
    ShareAccess.FILE_SHARE_DELETE
STATUS_LOCK_NOT_GRANTED = 0xC0000055
STATUS_FILE_LOCK_CONFLICT = 0xC0000054
STATUS_RANGE_NOT_LOCKED = 0xC000007E
STATUS_CANCELLED = 0xC0000120
STATUS_INVALID_LOCK_RANGE = 0xC00001A1


@pytest.fixture
def second(smb_server):
    """Another client: its own connection, session and tree connect."""
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


def open_file(tree, name, disposition=CreateDisposition.FILE_OPEN_IF):
    f = Open(tree, name)
    f.create(ImpersonationLevel.Impersonation, GENERIC_ALL, FileAttributes.FILE_ATTRIBUTE_NORMAL,
             SHARE_ALL, disposition, CreateOptions.FILE_NON_DIRECTORY_FILE)
    return f


def el(offset, length, flags):
    e = SMB2LockElement()
    e["offset"] = offset
    e["length"] = length
    e["flags"] = flags
    return e


EXCL_NOW = LockFlags.SMB2_LOCKFLAG_EXCLUSIVE_LOCK | LockFlags.SMB2_LOCKFLAG_FAIL_IMMEDIATELY
SHARED_NOW = LockFlags.SMB2_LOCKFLAG_SHARED_LOCK | LockFlags.SMB2_LOCKFLAG_FAIL_IMMEDIATELY
UNLOCK = LockFlags.SMB2_LOCKFLAG_UNLOCK


def status_of(fn):
    try:
        fn()
    except SMBResponseException as e:
        return e.status
    return NtStatus.STATUS_SUCCESS


@pytest.fixture
def pair(smb_session, second):
    """The same new file opened by two clients."""
    name = "lk-" + uuid.uuid4().hex[:8]
    a = open_file(smb_session[2], name, CreateDisposition.FILE_CREATE)
    a.write(b"x" * 4096, 0)
    b = open_file(second[2], name)
    yield a, b
    for f in (a, b):
        try:
            f.close()
        except Exception:
            pass


def test_exclusive_and_shared_conflicts(pair):
    a, b = pair
    a.lock([el(0, 100, EXCL_NOW)])
    assert status_of(lambda: b.lock([el(50, 10, SHARED_NOW)])) == STATUS_LOCK_NOT_GRANTED
    assert status_of(lambda: b.lock([el(99, 1, EXCL_NOW)])) == STATUS_LOCK_NOT_GRANTED
    b.lock([el(100, 10, SHARED_NOW)])  # adjacent, not overlapping
    a.lock([el(100, 10, SHARED_NOW)])  # shared locks stack
    assert status_of(lambda: a.lock([el(105, 1, EXCL_NOW)])) == STATUS_LOCK_NOT_GRANTED
    # All or none: the second element conflicts, so the first is not kept.
    assert status_of(lambda: b.lock([el(1000, 10, EXCL_NOW), el(0, 1, EXCL_NOW)])) \
        == STATUS_LOCK_NOT_GRANTED
    a.lock([el(1000, 10, EXCL_NOW)])
    assert status_of(lambda: b.lock([el(5, 1, UNLOCK)])) == STATUS_RANGE_NOT_LOCKED
    assert status_of(lambda: a.lock([el(0, 99, UNLOCK)])) == STATUS_RANGE_NOT_LOCKED
    a.lock([el(0, 100, UNLOCK)])
    b.lock([el(50, 10, SHARED_NOW)])
    assert status_of(lambda: a.lock([el(2**64 - 1, 2, EXCL_NOW)])) == STATUS_INVALID_LOCK_RANGE


def test_read_write_conflict_with_lock(pair):
    a, b = pair
    a.lock([el(0, 10, EXCL_NOW)])
    assert status_of(lambda: b.read(0, 5)) == STATUS_FILE_LOCK_CONFLICT
    assert status_of(lambda: b.write(b"y", 9)) == STATUS_FILE_LOCK_CONFLICT
    assert a.read(0, 5) == b"xxxxx"  # the holder itself reads and writes
    a.write(b"z", 0)
    assert b.read(10, 5) == b"xxxxx"  # outside the range
    b.lock([el(20, 10, SHARED_NOW)])
    assert a.read(20, 5) == b"xxxxx"  # shared: reads pass
    assert status_of(lambda: a.write(b"w", 25)) == STATUS_FILE_LOCK_CONFLICT


def test_close_releases_locks(smb_session, second):
    name = "lk-" + uuid.uuid4().hex[:8]
    a = open_file(smb_session[2], name, CreateDisposition.FILE_CREATE)
    b = open_file(second[2], name)
    try:
        a.lock([el(0, 10, EXCL_NOW)])
        assert status_of(lambda: b.lock([el(0, 10, EXCL_NOW)])) == STATUS_LOCK_NOT_GRANTED
        a.close()
        b.lock([el(0, 10, EXCL_NOW)])
    finally:
        b.close()


def send_blocking_lock(f, offset, length):
    """Sends a blocking exclusive LOCK without waiting; returns (request, receive)."""
    msg, receive = f.lock([el(offset, length, LockFlags.SMB2_LOCKFLAG_EXCLUSIVE_LOCK)],
                          send=False)
    sess = f.tree_connect.session
    req = f.connection.send(msg, sess.session_id, f.tree_connect.tree_connect_id)
    return req, receive


def wait_pending(req, timeout_s=10):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if req.response is not None:
            return req.response["status"].get_value()
        time.sleep(0.02)
    raise AssertionError("no interim response")


def test_blocking_lock_granted_on_unlock(pair):
    a, b = pair
    a.lock([el(0, 10, EXCL_NOW)])
    req, receive = send_blocking_lock(b, 5, 10)
    assert wait_pending(req) == NtStatus.STATUS_PENDING
    assert req.async_id, "interim response carries an AsyncId"
    time.sleep(0.2)
    assert req.response["status"].get_value() == NtStatus.STATUS_PENDING, "still waiting"
    a.lock([el(0, 10, UNLOCK)])
    receive(req)  # raises unless STATUS_SUCCESS
    assert status_of(lambda: a.lock([el(5, 1, EXCL_NOW)])) == STATUS_LOCK_NOT_GRANTED


def test_blocking_lock_cancelled(pair):
    a, b = pair
    a.lock([el(0, 10, EXCL_NOW)])
    req, receive = send_blocking_lock(b, 0, 10)
    assert wait_pending(req) == NtStatus.STATUS_PENDING
    req.cancel()
    assert status_of(lambda: receive(req)) == STATUS_CANCELLED
    # Nothing was granted to b: a unlocks and locks again freely.
    a.lock([el(0, 10, UNLOCK)])
    a.lock([el(0, 10, EXCL_NOW)])


def test_blocking_lock_granted_when_holder_closes(pair):
    a, b = pair
    a.lock([el(0, 10, EXCL_NOW)])
    req, receive = send_blocking_lock(b, 0, 10)
    assert wait_pending(req) == NtStatus.STATUS_PENDING
    a.close()
    receive(req)
    assert status_of(lambda: b.read(0, 1)) == NtStatus.STATUS_SUCCESS

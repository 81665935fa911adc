"""SMB2 share modes at CREATE through smbprotocol (a third-party client), two
connections as two clients: an open's ShareAccess refuses another client's
conflicting access with STATUS_SHARING_VIOLATION (and the other way round), opens
for attributes only never conflict, directories too, and the entry goes away with
CLOSE and with the holder's connection."""
import time
import uuid

import pytest
from smbprotocol.connection import Connection
from smbprotocol.exceptions import SMBResponseException
from smbprotocol.header import NtStatus
from smbprotocol.open import (CreateDisposition, CreateOptions, FileAttributes,
                              ImpersonationLevel, Open, ShareAccess)
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect

from conftest import SMB_PASSWORD, SMB_USER

FILE_READ_DATA = 0x1
FILE_WRITE_DATA = 0x2
FILE_READ_ATTRIBUTES = 0x80
DELETE = 0x10000
SYNCHRONIZE = 0x100000
GENERIC_READ = 0x80000000
GENERIC_WRITE = 0x40000000
R = ShareAccess.FILE_SHARE_READ
W = ShareAccess.FILE_SHARE_WRITE
D = ShareAccess.FILE_SHARE_DELETE
STATUS_SHARING_VIOLATION = 0xC0000043


def connect(port):
    conn = Connection(uuid.uuid4(), "127.0.0.1", port, require_signing=True)
    conn.connect(timeout=15)
    sess = Session(conn, SMB_USER, SMB_PASSWORD, require_encryption=False)
    sess.connect()
    tree = TreeConnect(sess, r"\\127.0.0.1\export")
    tree.connect()
    return conn, sess, tree


@pytest.fixture
def second(smb_server):
    """Another client: its own connection, session and tree connect."""
    conn, sess, tree = connect(smb_server.smb_port)
    yield tree
    try:
        tree.disconnect()
        sess.disconnect()
    finally:
        conn.disconnect(True)


def opener(tree, name, access, share, disposition=CreateDisposition.FILE_OPEN_IF,
           directory=False):
    f = Open(tree, name)
    f.create(ImpersonationLevel.Impersonation, access,
             FileAttributes.FILE_ATTRIBUTE_DIRECTORY if directory
             else FileAttributes.FILE_ATTRIBUTE_NORMAL,
             share, disposition,
             CreateOptions.FILE_DIRECTORY_FILE if directory
             else CreateOptions.FILE_NON_DIRECTORY_FILE)
    return f


def status_of(tree, name, access, share, **kw):
    """Opens and closes again; the status of the CREATE."""
    try:
        f = opener(tree, name, access, share, **kw)
    except SMBResponseException as e:
        return e.status
    f.close()
    return NtStatus.STATUS_SUCCESS


def fresh():
    return "sm-" + uuid.uuid4().hex[:8]


def test_share_read_refuses_a_writer(smb_session, second):
    name = fresh()
    a = opener(smb_session[2], name, GENERIC_READ, R, CreateDisposition.FILE_CREATE)
    assert status_of(second, name, GENERIC_WRITE, R | W | D) == STATUS_SHARING_VIOLATION
    assert status_of(second, name, FILE_WRITE_DATA, R | W | D) == STATUS_SHARING_VIOLATION
    # Readers that share read with it are fine.
    assert status_of(second, name, GENERIC_READ, R) == NtStatus.STATUS_SUCCESS
    # The same client's second open is checked too.
    assert status_of(smb_session[2], name, GENERIC_WRITE, R | W) == STATUS_SHARING_VIOLATION
    a.close()
    # Released after CLOSE.
    assert status_of(second, name, GENERIC_WRITE, R | W | D) == NtStatus.STATUS_SUCCESS


def test_share_read_write_allows_a_writer(smb_session, second):
    name = fresh()
    a = opener(smb_session[2], name, GENERIC_READ | GENERIC_WRITE, R | W,
               CreateDisposition.FILE_CREATE)
    b = opener(second, name, GENERIC_WRITE, R | W)
    b.write(b"from b", 0)
    assert a.read(0, 6) == b"from b"
    # A new open that does not share write with the two writers is refused.
    assert status_of(second, name, GENERIC_READ, R) == STATUS_SHARING_VIOLATION
    b.close()
    a.close()


def test_delete_access_needs_share_delete(smb_session, second):
    name = fresh()
    a = opener(smb_session[2], name, GENERIC_READ, R | W, CreateDisposition.FILE_CREATE)
    assert status_of(second, name, DELETE, R | W | D) == STATUS_SHARING_VIOLATION
    a.close()
    a = opener(smb_session[2], name, GENERIC_READ, R | W | D)
    d = opener(second, name, DELETE, R | W | D)
    # The DELETE open in turn refuses an open that does not share delete.
    assert status_of(smb_session[2], name, GENERIC_READ, R | W) == STATUS_SHARING_VIOLATION
    d.close()
    a.close()


def test_attribute_only_opens_never_conflict(smb_session, second):
    name = fresh()
    a = opener(smb_session[2], name, GENERIC_READ | GENERIC_WRITE | DELETE, 0,
               CreateDisposition.FILE_CREATE)
    assert status_of(second, name, FILE_READ_ATTRIBUTES | SYNCHRONIZE, 0) \
        == NtStatus.STATUS_SUCCESS
    assert status_of(second, name, FILE_READ_DATA, R | W | D) == STATUS_SHARING_VIOLATION
    a.close()


def test_directories_take_share_modes(smb_session, second):
    name = fresh()
    a = opener(smb_session[2], name, GENERIC_READ, R, CreateDisposition.FILE_CREATE,
               directory=True)
    assert status_of(second, name, DELETE, R | W | D, directory=True) \
        == STATUS_SHARING_VIOLATION
    assert status_of(second, name, GENERIC_READ, R | W | D, directory=True) \
        == NtStatus.STATUS_SUCCESS
    a.close()
    assert status_of(second, name, DELETE, R | W | D, directory=True) \
        == NtStatus.STATUS_SUCCESS


def test_released_when_the_holder_disconnects(smb_server, smb_session):
    name = fresh()
    conn, sess, tree = connect(smb_server.smb_port)
    opener(tree, name, GENERIC_READ | GENERIC_WRITE, 0, CreateDisposition.FILE_CREATE)
    assert status_of(smb_session[2], name, GENERIC_READ, R | W | D) \
        == STATUS_SHARING_VIOLATION
    conn.disconnect(True)
    # The server notices the closed socket asynchronously; retry a bounded while.
    for _ in range(50):
        st = status_of(smb_session[2], name, GENERIC_READ, R | W | D)
        if st == NtStatus.STATUS_SUCCESS:
            break
        time.sleep(0.1)
    assert st == NtStatus.STATUS_SUCCESS

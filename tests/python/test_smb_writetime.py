"""Delayed LastWriteTime updates over SMB (smbprotocol), as Windows up to 2016 and
Samba do them (ARCHITECTURE.md "SMB delayed write time"):
- a WRITE leaves LastWriteTime alone; about 2 s after a handle's first write it moves
  once; later writes on that handle move it only at CLOSE;
- FLUSH and SET_INFO FileBasicInformation apply a pending update at once;
- a LastWriteTime set explicitly (here on a second handle) is not overwritten by the
  close of the writing handle when that handle's update was already applied;
- NFS WRITE still sets mtime at once (the fs core's rule is unchanged).
"""
import time

from pyNfsClient import FILE_SYNC, UNCHECKED
from smbprotocol.open import (CreateDisposition, CreateOptions, FileAttributes,
                              ImpersonationLevel, Open, ShareAccess)

from conftest import SMB_UID
from test_smb_crossproto import nfs_connect, nfs_time_ft, ok
from test_smb_times import basic, set_basic

DELAY_S = 2.0
# 2030-01-01T00:00:00Z as FILETIME.
SET_TIME = (1_893_456_000 + 11_644_473_600) * 10_000_000


GENERIC_ALL = 0x10000000


def smb_open(tree, name, disposition):
    f = Open(tree, name)
    f.create(ImpersonationLevel.Impersonation, GENERIC_ALL, FileAttributes.FILE_ATTRIBUTE_NORMAL,
             ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE
             | ShareAccess.FILE_SHARE_DELETE, disposition, CreateOptions.FILE_NON_DIRECTORY_FILE)
    return f


def write_time(smb_session, f):
    conn, sess, tree = smb_session
    return basic(conn, sess, tree, f)["write"]


def test_write_time_moves_once_after_the_delay_then_at_close(smb_session):
    conn, sess, tree = smb_session
    f = smb_open(tree, "wt-delay.txt", CreateDisposition.FILE_OVERWRITE_IF)
    born = write_time(smb_session, f)
    time.sleep(0.05)
    f.write(b"a", 0)
    assert write_time(smb_session, f) == born, "a WRITE moved LastWriteTime at once"
    time.sleep(DELAY_S + 0.8)
    first = write_time(smb_session, f)
    assert first > born, "the delayed update did not happen"
    f.write(b"b", 1)
    time.sleep(DELAY_S + 0.8)
    assert write_time(smb_session, f) == first, "a second write scheduled another update"
    before_close = time.time()
    f.close()
    g = smb_open(tree, "wt-delay.txt", CreateDisposition.FILE_OPEN)
    closed = write_time(smb_session, g)
    g.close()
    assert closed > first
    # FILETIME of the close is no earlier than the wall clock before it (1 s slack).
    assert closed >= int((before_close - 1 + 11_644_473_600) * 10_000_000)


def test_flush_and_set_basic_apply_a_pending_update(smb_session):
    conn, sess, tree = smb_session
    f = smb_open(tree, "wt-flush.txt", CreateDisposition.FILE_OVERWRITE_IF)
    born = write_time(smb_session, f)
    time.sleep(0.05)
    f.write(b"a", 0)
    assert write_time(smb_session, f) == born
    f.flush()
    flushed = write_time(smb_session, f)
    assert flushed > born, "FLUSH did not apply the pending update"
    f.close()
    g = smb_open(tree, "wt-flush.txt", CreateDisposition.FILE_OPEN)
    assert write_time(smb_session, g) == flushed, "CLOSE moved it again with no write since"
    g.close()

    h = smb_open(tree, "wt-basic.txt", CreateDisposition.FILE_OVERWRITE_IF)
    born = write_time(smb_session, h)
    time.sleep(0.05)
    h.write(b"a", 0)
    assert write_time(smb_session, h) == born
    set_basic(conn, sess, tree, h)  # all zero: changes nothing but the pending update
    assert write_time(smb_session, h) > born
    h.close()


def test_explicit_write_time_sticks_through_the_writers_close(smb_session):
    conn, sess, tree = smb_session
    f = smb_open(tree, "wt-sticky.txt", CreateDisposition.FILE_OVERWRITE_IF)
    f.write(b"a", 0)
    f.flush()
    g = smb_open(tree, "wt-sticky.txt", CreateDisposition.FILE_OPEN)
    set_basic(conn, sess, tree, g, write=SET_TIME)
    g.close()
    f.close()
    h = smb_open(tree, "wt-sticky.txt", CreateDisposition.FILE_OPEN)
    assert write_time(smb_session, h) == SET_TIME
    # Later writes on a handle with its own explicit time do not move it either.
    set_basic(conn, sess, tree, h, write=SET_TIME + 10_000_000)
    h.write(b"b", 1)
    h.close()
    k = smb_open(tree, "wt-sticky.txt", CreateDisposition.FILE_OPEN)
    assert write_time(smb_session, k) == SET_TIME + 10_000_000
    k.close()


def test_nfs_write_still_sets_mtime_at_once(smb_server):
    nfs, root = nfs_connect(smb_server, SMB_UID)
    try:
        h = ok(nfs.create(root, "wt-nfs.txt", UNCHECKED, mode=0o640))["obj"]["handle"]["data"]
        before = ok(nfs.getattr(h))["attributes"]["mtime"]
        time.sleep(0.05)
        ok(nfs.write(h, 0, 1, "x", FILE_SYNC))
        after = ok(nfs.getattr(h))["attributes"]["mtime"]
        assert nfs_time_ft(after) > nfs_time_ft(before), "NFS WRITE no longer sets mtime"
    finally:
        nfs.disconnect()

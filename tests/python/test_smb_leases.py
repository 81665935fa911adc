"""Oplocks and leases through smbprotocol (a client we did not write): an RWH lease granted,
broken to RH by a second connection's open (which waits for the acknowledgment), the ack
validated; a batch oplock broken to level II by a second open; and an NFS WRITE (pyNfsClient on
the same server) that breaks an SMB RWH lease and lands only after the SMB client flushed its
cached data and acknowledged; a directory lease (RH, v2) broken to none by an NFS CREATE
inside the directory and by another connection's create, but not by the holder's own create
naming the directory's lease key as its ParentLeaseKey.

smbprotocol 1.17 has no handler for unsolicited messages (MessageId 0xFFFFFFFFFFFFFFFF) and no
OPLOCK_BREAK structures, so `BreakCatcher` registers a placeholder request under that message
id (its receive thread then hands the notification over instead of dying on a KeyError) and
acknowledgments are packed here from MS-SMB2 2.2.24."""
import os
import struct
import threading
import time
import uuid

import pytest
import pyNfsClient
from pyNfsClient import NFS3_OK, FILE_SYNC
from smbprotocol.connection import Connection, Request
from smbprotocol.create_contexts import (CreateContextName, SMB2CreateContextRequest,
                                         SMB2CreateRequestLeaseV2)
from smbprotocol.exceptions import SMBResponseException
from smbprotocol.header import Commands, SMB2HeaderRequest
from smbprotocol.open import (CreateDisposition, CreateOptions, FileAttributes,
                              ImpersonationLevel, Open, RequestedOplockLevel, ShareAccess)
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect

from conftest import ROOT_AUTH, SMB_PASSWORD, SMB_USER

GENERIC_ALL = 0x10000000
SHARE_ALL = (ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE
             | ShareAccess.FILE_SHARE_DELETE)
R, H, W = 1, 2, 4
NOTIFY_MID = 0xFFFFFFFFFFFFFFFF
STATUS_REQUEST_NOT_ACCEPTED = 0xC00000D0
WAIT_S = 10
LEASE_FLAG_PARENT_LEASE_KEY_SET = 0x4


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
    conn, sess, tree = connect(smb_server.smb_port)
    yield conn, sess, tree
    conn.disconnect(True)


class RawMsg:
    """A request body smbprotocol's Connection.send can carry."""

    def __init__(self, command, data):
        self.COMMAND = command
        self.data = data

    def pack(self):
        return self.data

    def __len__(self):
        return len(self.data)


class BreakCatcher:
    """Receives the next unsolicited message of a connection."""

    def __init__(self, conn, sess):
        self.conn = conn
        self.req = Request(SMB2HeaderRequest(), None, conn, session_id=sess.session_id)
        conn.outstanding_requests[NOTIFY_MID] = self.req

    def wait(self):
        assert self.req.response_event.wait(WAIT_S), "no break notification arrived"
        hdr = self.req.response
        assert hdr["command"].get_value() == Commands.SMB2_OPLOCK_BREAK
        return hdr["data"].get_value()


def lease_ctx(key, state, epoch=0, parent=None):
    lease = SMB2CreateRequestLeaseV2()
    lease["lease_key"] = key
    lease["lease_state"] = state
    lease["parent_lease_key"] = parent or b"\x00" * 16
    if parent is not None:
        lease["lease_flags"] = LEASE_FLAG_PARENT_LEASE_KEY_SET
    lease["epoch"] = epoch
    ctx = SMB2CreateContextRequest()
    ctx["buffer_name"] = CreateContextName.SMB2_CREATE_REQUEST_LEASE
    ctx["buffer_data"] = lease
    return ctx


def open_file(tree, name, disposition=CreateDisposition.FILE_OPEN_IF, lease=None,
              oplock=RequestedOplockLevel.SMB2_OPLOCK_LEVEL_NONE):
    f = Open(tree, name)
    contexts = None
    if lease is not None:
        contexts = [lease_ctx(*lease)]
        oplock = RequestedOplockLevel.SMB2_OPLOCK_LEVEL_LEASE
    resp = f.create(ImpersonationLevel.Impersonation, GENERIC_ALL,
                    FileAttributes.FILE_ATTRIBUTE_NORMAL, SHARE_ALL, disposition,
                    CreateOptions.FILE_NON_DIRECTORY_FILE, create_contexts=contexts,
                    oplock_level=oplock)
    granted = None
    for c in resp or []:
        if hasattr(c, "fields") and "lease_key" in c.fields:
            granted = c
    return f, granted


def in_thread(fn):
    out = {}

    def run():
        try:
            out["value"] = fn()
        except Exception as e:  # reported by the caller
            out["error"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def lease_ack(conn, sess, tree, key, state):
    body = struct.pack("<HHI16sIQ", 36, 0, 0, key, state, 0)
    req = conn.send(RawMsg(Commands.SMB2_OPLOCK_BREAK, body), sess.session_id,
                    tree.tree_connect_id)
    return conn.receive(req)["data"].get_value()


def parse_lease_break(b):
    size, epoch, flags = struct.unpack_from("<HHI", b, 0)
    key = b[8:24]
    cur, new = struct.unpack_from("<II", b, 24)
    return size, epoch, flags, key, cur, new


def test_rwh_lease_broken_to_rh_by_second_connection(smb_session, second):
    conn, sess, tree = smb_session
    name = "lease-" + uuid.uuid4().hex[:8]
    key1, key2 = os.urandom(16), os.urandom(16)
    f1, g1 = open_file(tree, name, lease=(key1, R | W | H, 5))
    assert f1.oplock_level == RequestedOplockLevel.SMB2_OPLOCK_LEVEL_LEASE
    assert g1["lease_key"].get_value() == key1
    assert g1["lease_state"].get_value() == R | W | H
    assert g1["epoch"].get_value() == 6
    catch = BreakCatcher(conn, sess)
    t, out = in_thread(lambda: open_file(second[2], name, lease=(key2, R | W | H)))
    size, epoch, flags, key, cur, new = parse_lease_break(catch.wait())
    assert (size, key, cur, new) == (44, key1, R | W | H, R | H)
    assert flags & 1, "ACK_REQUIRED when W is broken"
    assert epoch == 7
    assert t.is_alive(), "the conflicting CREATE waits for the acknowledgment"
    # More than the break leaves is refused; the right state is accepted.
    with pytest.raises(SMBResponseException) as e:
        lease_ack(conn, sess, tree, key1, R | W | H)
    assert e.value.status == STATUS_REQUEST_NOT_ACCEPTED
    resp = lease_ack(conn, sess, tree, key1, R | H)
    assert struct.unpack_from("<H", resp, 0)[0] == 36
    assert resp[8:24] == key1
    assert struct.unpack_from("<I", resp, 24)[0] == R | H
    t.join(WAIT_S)
    assert "error" not in out, out.get("error")
    f2, g2 = out["value"]
    assert g2["lease_state"].get_value() == R | H, "no W next to another client's open"
    f2.close()
    f1.close()


def test_conflicting_open_on_the_same_connection_goes_async(smb_session):
    """The breaking client and the opener share one connection: the CREATE answers
    STATUS_PENDING and waits (MS-SMB2 3.3.5.9) while the connection keeps serving, so the
    acknowledgment sent on it gets through and completes the open."""
    conn, sess, tree = smb_session
    name = "lease-async-" + uuid.uuid4().hex[:8]
    key1, key2 = os.urandom(16), os.urandom(16)
    f1, g1 = open_file(tree, name, lease=(key1, R | W | H))
    assert g1["lease_state"].get_value() == R | W | H
    catch = BreakCatcher(conn, sess)
    t, out = in_thread(lambda: open_file(tree, name, lease=(key2, R | W | H)))
    _, _, flags, key, cur, new = parse_lease_break(catch.wait())
    assert (key, cur, new) == (key1, R | W | H, R | H)
    assert flags & 1
    time.sleep(0.3)
    assert t.is_alive(), "the CREATE waits for the acknowledgment on its own connection"
    resp = lease_ack(conn, sess, tree, key1, R | H)
    assert struct.unpack_from("<I", resp, 24)[0] == R | H
    t.join(WAIT_S)
    assert not t.is_alive(), "the acknowledgment completed the pending CREATE"
    assert "error" not in out, out.get("error")
    f2, g2 = out["value"]
    assert g2["lease_state"].get_value() == R | H
    f2.close()
    f1.close()


def test_stat_open_breaks_nothing(smb_session, second):
    """An open for attributes only (a stat open) neither breaks a lease nor keeps the
    lease holder from getting write caching back."""
    conn, sess, tree = smb_session
    name = "lease-stat-" + uuid.uuid4().hex[:8]
    key1 = os.urandom(16)
    f1, g1 = open_file(tree, name, lease=(key1, R | W | H))
    assert g1["lease_state"].get_value() == R | W | H
    FILE_READ_ATTRIBUTES = 0x80
    st = Open(second[2], name)
    st.create(ImpersonationLevel.Impersonation, FILE_READ_ATTRIBUTES,
              FileAttributes.FILE_ATTRIBUTE_NORMAL, SHARE_ALL, CreateDisposition.FILE_OPEN,
              0)
    # A second open under the same key keeps RWH: the stat open does not count.
    f2, g2 = open_file(tree, name, lease=(key1, R | W | H))
    assert g2["lease_state"].get_value() == R | W | H
    st.close()
    f2.close()
    f1.close()


def test_batch_oplock_broken_to_level2_by_second_open(smb_session, second):
    conn, sess, tree = smb_session
    name = "oplock-" + uuid.uuid4().hex[:8]
    f1, _ = open_file(tree, name, oplock=RequestedOplockLevel.SMB2_OPLOCK_LEVEL_BATCH)
    assert f1.oplock_level == RequestedOplockLevel.SMB2_OPLOCK_LEVEL_BATCH
    catch = BreakCatcher(conn, sess)
    t, out = in_thread(lambda: open_file(
        second[2], name, oplock=RequestedOplockLevel.SMB2_OPLOCK_LEVEL_II))
    b = catch.wait()
    size, level = struct.unpack_from("<HB", b, 0)
    assert (size, level) == (24, RequestedOplockLevel.SMB2_OPLOCK_LEVEL_II)
    assert b[8:24] == f1.file_id
    assert t.is_alive(), "the second open waits for the acknowledgment"
    body = struct.pack("<HB5s16s", 24, RequestedOplockLevel.SMB2_OPLOCK_LEVEL_II, b"\0" * 5,
                       f1.file_id)
    req = conn.send(RawMsg(Commands.SMB2_OPLOCK_BREAK, body), sess.session_id,
                    tree.tree_connect_id)
    resp = conn.receive(req)["data"].get_value()
    assert struct.unpack_from("<HB", resp, 0) == (24, RequestedOplockLevel.SMB2_OPLOCK_LEVEL_II)
    t.join(WAIT_S)
    assert "error" not in out, out.get("error")
    f2, _ = out["value"]
    assert f2.oplock_level == RequestedOplockLevel.SMB2_OPLOCK_LEVEL_II
    f2.close()
    f1.close()


def nfs_handle(smb_server, name):
    m = pyNfsClient.Mount(host="127.0.0.1", port=smb_server.mount_port, timeout=15,
                          auth=ROOT_AUTH)
    m.connect()
    try:
        res = m.mnt("/export")
        assert res["status"] == pyNfsClient.MNT3_OK, res
        root = res["mountinfo"]["fhandle"]
    finally:
        m.disconnect()
    nfs = pyNfsClient.NFSv3(host="127.0.0.1", port=smb_server.port, timeout=15, auth=ROOT_AUTH)
    nfs.connect()
    res = nfs.lookup(root, name)
    assert res["status"] == NFS3_OK, res
    return nfs, res["resok"]["object"]["data"]


def test_nfs_write_breaks_rwh_lease_after_smb_flush(smb_session, smb_server):
    conn, sess, tree = smb_session
    name = "nfs-lease-" + uuid.uuid4().hex[:8]
    key = os.urandom(16)
    f1, g1 = open_file(tree, name, lease=(key, R | W | H))
    assert g1["lease_state"].get_value() == R | W | H
    nfs, fh = nfs_handle(smb_server, name)
    try:
        catch = BreakCatcher(conn, sess)
        t, out = in_thread(lambda: nfs.write(fh, 4, 4, "NFS!", FILE_SYNC))
        _, _, flags, k, cur, new = parse_lease_break(catch.wait())
        assert (k, cur, new) == (key, R | W | H, 0)
        assert flags & 1
        assert t.is_alive(), "the NFS WRITE waits for the SMB client"
        # The SMB client flushes what it cached, then acknowledges.
        assert f1.write(b"smb-cached", 0) == 10
        lease_ack(conn, sess, tree, key, 0)
        t.join(WAIT_S)
        assert "error" not in out, out.get("error")
        assert out["value"]["status"] == NFS3_OK, out["value"]
        # The NFS data landed after (over) the flushed SMB data.
        assert f1.read(0, 10) == b"smb-NFS!ed"
    finally:
        nfs.disconnect()
        f1.close()


def open_dir(tree, name, key, state=R | W | H):
    """Creates (or opens) directory `name` asking a v2 lease: returns the open and the
    granted lease context."""
    d = Open(tree, name)
    resp = d.create(ImpersonationLevel.Impersonation, GENERIC_ALL,
                    FileAttributes.FILE_ATTRIBUTE_DIRECTORY, SHARE_ALL,
                    CreateDisposition.FILE_OPEN_IF, CreateOptions.FILE_DIRECTORY_FILE,
                    create_contexts=[lease_ctx(key, state, 0)],
                    oplock_level=RequestedOplockLevel.SMB2_OPLOCK_LEVEL_LEASE)
    granted = [c for c in resp or [] if hasattr(c, "fields") and "lease_key" in c.fields]
    assert granted, "a directory lease context in the response"
    return d, granted[0]


def create_in(tree, path, key, parent=None):
    f = Open(tree, path)
    f.create(ImpersonationLevel.Impersonation, GENERIC_ALL,
             FileAttributes.FILE_ATTRIBUTE_NORMAL, SHARE_ALL, CreateDisposition.FILE_CREATE,
             CreateOptions.FILE_NON_DIRECTORY_FILE,
             create_contexts=[lease_ctx(key, R | W | H, 0, parent)],
             oplock_level=RequestedOplockLevel.SMB2_OPLOCK_LEVEL_LEASE)
    return f


def test_directory_lease_rh_broken_by_nfs_create_inside(smb_session, smb_server):
    """A directory gets RH (never W) under a v2 lease; an NFS CREATE of an entry in it
    breaks the lease to none (acknowledgment required: H was held)."""
    conn, sess, tree = smb_session
    name = "dirlease-nfs-" + uuid.uuid4().hex[:8]
    key = os.urandom(16)
    d, g = open_dir(tree, name, key)
    assert d.oplock_level == RequestedOplockLevel.SMB2_OPLOCK_LEVEL_LEASE
    assert g["lease_state"].get_value() == R | H
    nfs, fh = nfs_handle(smb_server, name)
    try:
        catch = BreakCatcher(conn, sess)
        res = nfs.create(fh, "made-over-nfs", 0, mode=0o644)
        assert res["status"] == NFS3_OK, res
        _, _, flags, k, cur, new = parse_lease_break(catch.wait())
        assert (k, cur, new) == (key, R | H, 0)
        assert flags & 1, "ACK_REQUIRED: handle caching is broken"
        resp = lease_ack(conn, sess, tree, key, 0)
        assert struct.unpack_from("<I", resp, 24)[0] == 0
    finally:
        nfs.disconnect()
        d.close()


def test_directory_lease_spared_for_parent_key_broken_by_other_connection(smb_session,
                                                                          second):
    """A create inside the directory by the holder naming the directory's lease key as its
    ParentLeaseKey breaks nothing; the same by another connection breaks RH to none."""
    conn, sess, tree = smb_session
    name = "dirlease-smb-" + uuid.uuid4().hex[:8]
    dkey = os.urandom(16)
    d, g = open_dir(tree, name, dkey)
    assert g["lease_state"].get_value() == R | H
    catch = BreakCatcher(conn, sess)
    own = create_in(tree, name + "\\own.txt", os.urandom(16), parent=dkey)
    assert not catch.req.response_event.wait(1), "own change under the parent key broke it"
    other = create_in(second[2], name + "\\other.txt", os.urandom(16))
    _, _, flags, k, cur, new = parse_lease_break(catch.wait())
    assert (k, cur, new) == (dkey, R | H, 0)
    assert flags & 1
    lease_ack(conn, sess, tree, dkey, 0)
    other.close()
    own.close()
    d.close()


def rename_raw(conn, sess, tree, f, new_name):
    """SET_INFO FileRenameInformation (MS-SMB2 2.2.39, MS-FSCC 2.4.37.2) on open `f`;
    returns the status (smbprotocol waits through an interim STATUS_PENDING)."""
    name = new_name.encode("utf-16-le")
    info = struct.pack("<B7xQI", 1, 0, len(name)) + name
    body = struct.pack("<HBBIHHI", 33, 1, 10, len(info), 96, 0, 0) + f.file_id + info
    req = conn.send(RawMsg(Commands.SMB2_SET_INFO, body), sess.session_id,
                    tree.tree_connect_id)
    try:
        conn.receive(req)
        return 0
    except SMBResponseException as e:
        return e.status


def test_overwrite_is_not_held_up_by_a_handle_caching_break(smb_session, second):
    """An RH lease broken to none by another connection's overwrite: the break needs an
    acknowledgment (handle caching), but the overwrite does not wait for it (no write
    caching to flush and no sharing violation: Samba's rule, smbtorture
    smb2.lease.breaking4); the lease stays RH, breaking, until the acknowledgment."""
    conn, sess, tree = smb_session
    conn2, sess2, tree2 = second
    name = "lease-ovw-" + uuid.uuid4().hex[:8]
    key1 = os.urandom(16)
    f1, g1 = open_file(tree, name, lease=(key1, R | H))
    assert g1["lease_state"].get_value() == R | H
    catch = BreakCatcher(conn, sess)
    t0 = time.monotonic()
    f2, _ = open_file(tree2, name, disposition=CreateDisposition.FILE_OVERWRITE_IF)
    assert time.monotonic() - t0 < 5, "the overwrite did not wait for the acknowledgment"
    _, _, flags, key, cur, new = parse_lease_break(catch.wait())
    assert (key, cur, new) == (key1, R | H, 0)
    assert flags & 1, "handle caching: an acknowledgment is required"
    f3, g3 = open_file(tree, name, lease=(key1, 0))
    assert g3["lease_state"].get_value() == R | H
    assert g3["flags"].get_value() & 2, "SMB2_LEASE_FLAG_BREAK_IN_PROGRESS"
    resp = lease_ack(conn, sess, tree, key1, 0)
    assert struct.unpack_from("<I", resp, 24)[0] == 0
    for f in (f3, f2, f1):
        f.close()


def test_breaks_wanted_during_a_break_follow_the_acknowledgment_in_steps(smb_session, second,
                                                                         smb_server):
    """RWH broken to RH by an open from a second connection; an overwrite from a third
    during that break sends no second notice. The RH acknowledgment brings a break to R,
    the R one a break to none (no acknowledgment needed), and only then both opens
    complete (smbtorture smb2.lease.breaking3; v2: every step keeps the first break's
    epoch)."""
    conn, sess, tree = smb_session
    conn2, sess2, tree2 = second
    conn3, sess3, tree3 = connect(smb_server.smb_port)
    try:
        name = "lease-steps-" + uuid.uuid4().hex[:8]
        key1 = os.urandom(16)
        f1, g1 = open_file(tree, name, lease=(key1, R | W | H, 7))
        assert g1["epoch"].get_value() == 8
        catch = BreakCatcher(conn, sess)
        t2, out2 = in_thread(lambda: open_file(tree2, name))
        _, epoch, _, _, cur, new = parse_lease_break(catch.wait())
        assert (cur, new, epoch) == (R | W | H, R | H, 9)
        catch = BreakCatcher(conn, sess)
        t3, out3 = in_thread(lambda: open_file(
            tree3, name, disposition=CreateDisposition.FILE_OVERWRITE_IF))
        time.sleep(0.5)
        assert not catch.req.response_event.is_set(), "no second notice during a break"
        assert t2.is_alive() and t3.is_alive()
        assert struct.unpack_from("<I", lease_ack(conn, sess, tree, key1, R | H), 24)[0] == R | H
        _, epoch, flags, _, cur, new = parse_lease_break(catch.wait())
        assert (cur, new, epoch, flags & 1) == (R | H, R, 9, 1)
        time.sleep(0.3)
        assert t2.is_alive() and t3.is_alive(), "both opens wait while the lease breaks"
        catch = BreakCatcher(conn, sess)
        assert struct.unpack_from("<I", lease_ack(conn, sess, tree, key1, R), 24)[0] == R
        _, epoch, flags, _, cur, new = parse_lease_break(catch.wait())
        assert (cur, new, epoch, flags & 1) == (R, 0, 9, 0)
        for t, out in ((t2, out2), (t3, out3)):
            t.join(WAIT_S)
            assert not t.is_alive() and "error" not in out, out.get("error")
            out["value"][0].close()
        f1.close()
    finally:
        conn3.disconnect(True)


def test_rename_waits_for_another_opens_handle_caching_break(smb_session, second):
    """A rename through one open while another connection's open holds an RH lease: the
    lease is broken to R and the rename stays pending (the new name does not exist yet)
    until the acknowledgment, on the renaming connection too (smbtorture
    smb2.lease.rename_wait)."""
    conn, sess, tree = smb_session
    conn2, sess2, tree2 = second
    name = "lease-ren-" + uuid.uuid4().hex[:8]
    key1, key2 = os.urandom(16), os.urandom(16)
    f1, g1 = open_file(tree, name, lease=(key1, R | H))
    f2, g2 = open_file(tree2, name, lease=(key2, R | H))
    assert g2["lease_state"].get_value() == R | H
    catch = BreakCatcher(conn, sess)
    t, out = in_thread(lambda: rename_raw(conn2, sess2, tree2, f2, name + ".dst"))
    _, _, flags, key, cur, new = parse_lease_break(catch.wait())
    assert (key, cur, new) == (key1, R | H, R)
    time.sleep(0.3)
    assert t.is_alive(), "the rename waits for the acknowledgment"
    with pytest.raises(SMBResponseException):
        open_file(tree, name + ".dst", disposition=CreateDisposition.FILE_OPEN)
    lease_ack(conn, sess, tree, key1, R)
    t.join(WAIT_S)
    assert not t.is_alive() and out.get("value") == 0, out
    f3, _ = open_file(tree, name + ".dst", disposition=CreateDisposition.FILE_OPEN)
    for f in (f3, f2, f1):
        f.close()

"""Oplock rules as Samba applies them (smbtorture smb2.oplock), through smbprotocol: a write
through an open holding a level II oplock breaks that very oplock to none, and acknowledging
such a break fails with STATUS_INVALID_OPLOCK_PROTOCOL (levelii500); a stat open (attributes
and synchronize only) breaks no oplock and gets none even when it asks (exclusive4, batch8),
while an open for READ_CONTROL breaks a batch oplock (statopen1); deleting a file breaks no
level II oplock (exclusive2). Helpers (raw OPLOCK_BREAK, catching notifications) are those of
test_smb_leases.py."""
import struct
import uuid

import pytest
from smbprotocol.exceptions import SMBResponseException
from smbprotocol.header import Commands
from smbprotocol.open import (CreateDisposition, CreateOptions, FileAttributes,
                              ImpersonationLevel, Open, RequestedOplockLevel)

from test_smb_leases import (SHARE_ALL, WAIT_S, BreakCatcher, RawMsg, in_thread, open_file,
                             second)  # noqa: F401 (fixture)

STATUS_INVALID_OPLOCK_PROTOCOL = 0xC00000E3
LEVEL_NONE = RequestedOplockLevel.SMB2_OPLOCK_LEVEL_NONE
LEVEL_II = RequestedOplockLevel.SMB2_OPLOCK_LEVEL_II
BATCH = RequestedOplockLevel.SMB2_OPLOCK_LEVEL_BATCH
FILE_READ_ATTRIBUTES = 0x80
SYNCHRONIZE = 0x100000
READ_CONTROL = 0x20000
DELETE = 0x10000
QUIET_S = 1.0


def oplock_ack(conn, sess, tree, f, level):
    body = struct.pack("<HB5s16s", 24, level, b"\0" * 5, f.file_id)
    req = conn.send(RawMsg(Commands.SMB2_OPLOCK_BREAK, body), sess.session_id,
                    tree.tree_connect_id)
    return conn.receive(req)["data"].get_value()


def parse_break(b):
    size, level = struct.unpack_from("<HB", b, 0)
    return size, level, b[8:24]


def quiet(catch):
    """True when no notification arrives within QUIET_S."""
    return not catch.req.response_event.wait(QUIET_S)


def raw_open(tree, name, access, oplock=LEVEL_NONE, options=0):
    f = Open(tree, name)
    f.create(ImpersonationLevel.Impersonation, access, FileAttributes.FILE_ATTRIBUTE_NORMAL,
             SHARE_ALL, CreateDisposition.FILE_OPEN, options, oplock_level=oplock)
    return f


def test_own_write_breaks_own_level2_and_its_ack_is_refused(smb_session):
    conn, sess, tree = smb_session
    name = "oplock-l2-" + uuid.uuid4().hex[:8]
    f1, _ = open_file(tree, name, oplock=LEVEL_II)
    assert f1.oplock_level == LEVEL_II
    catch = BreakCatcher(conn, sess)
    assert f1.write(b"x", 0) == 1
    size, level, fid = parse_break(catch.wait())
    assert (size, level, fid) == (24, LEVEL_NONE, f1.file_id)
    # A level II to none break needs no acknowledgment; one is a protocol error.
    with pytest.raises(SMBResponseException) as e:
        oplock_ack(conn, sess, tree, f1, LEVEL_NONE)
    assert e.value.status == STATUS_INVALID_OPLOCK_PROTOCOL
    # Nothing left to break: a second write sends nothing.
    catch = BreakCatcher(conn, sess)
    assert f1.write(b"y", 1) == 1
    assert quiet(catch)
    f1.close()


def test_own_write_keeps_own_batch_oplock(smb_session):
    conn, sess, tree = smb_session
    name = "oplock-batch-" + uuid.uuid4().hex[:8]
    f1, _ = open_file(tree, name, oplock=BATCH)
    assert f1.oplock_level == BATCH
    catch = BreakCatcher(conn, sess)
    assert f1.write(b"x", 0) == 1
    assert quiet(catch)
    f1.close()


def test_stat_open_breaks_no_oplock_but_read_control_does(smb_session, second):
    conn, sess, tree = smb_session
    name = "oplock-stat-" + uuid.uuid4().hex[:8]
    f1, _ = open_file(tree, name, oplock=BATCH)
    assert f1.oplock_level == BATCH
    catch = BreakCatcher(conn, sess)
    st = raw_open(second[2], name, FILE_READ_ATTRIBUTES | SYNCHRONIZE, oplock=BATCH)
    assert st.oplock_level == LEVEL_NONE, "a stat open of an existing file gets no oplock"
    assert quiet(catch), "a stat open breaks nothing"
    t, out = in_thread(lambda: raw_open(second[2], name, READ_CONTROL))
    size, level, fid = parse_break(catch.wait())
    assert (level, fid) == (LEVEL_II, f1.file_id)
    assert t.is_alive(), "the READ_CONTROL open waits for the acknowledgment"
    resp = oplock_ack(conn, sess, tree, f1, LEVEL_II)
    assert struct.unpack_from("<HB", resp, 0) == (24, LEVEL_II)
    t.join(WAIT_S)
    assert "error" not in out, out.get("error")
    out["value"].close()
    st.close()
    f1.close()


def test_delete_breaks_no_level2_oplock(smb_session, second):
    conn, sess, tree = smb_session
    name = "oplock-del-" + uuid.uuid4().hex[:8]
    f1, _ = open_file(tree, name, oplock=BATCH)
    catch = BreakCatcher(conn, sess)
    t, out = in_thread(lambda: open_file(second[2], name, oplock=LEVEL_II))
    assert parse_break(catch.wait())[1] == LEVEL_II
    oplock_ack(conn, sess, tree, f1, LEVEL_II)
    t.join(WAIT_S)
    f2, _ = out["value"]
    assert f2.oplock_level == LEVEL_II
    catch = BreakCatcher(conn, sess)
    d = raw_open(second[2], name, DELETE, options=CreateOptions.FILE_DELETE_ON_CLOSE)
    d.close()
    assert quiet(catch), "the delete left the level II oplock alone"
    f2.close()
    f1.close()

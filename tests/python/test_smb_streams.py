"""Named streams over SMB (`file:name:$DATA`): write and read a stream apart from
the file's data, list streams with FileStreamInformation, rename and delete a
stream, a removed file takes its streams along, and stream content survives a
server restart on LMDB (it goes through the same WAL/block path as file data)."""
import os
import socket
import struct
import subprocess
import tempfile
import time
import uuid

import pytest
from smbprotocol.exceptions import SMBResponseException
from smbprotocol.open import (CreateDisposition, CreateOptions, FileAttributes,
                              ImpersonationLevel, Open, ShareAccess,
                              SMB2QueryInfoRequest, SMB2QueryInfoResponse,
                              SMB2SetInfoRequest)

import conftest
from test_smb_leases import second  # noqa: F401 (fixture)

GENERIC_ALL = 0x10000000
SHARE_ALL = ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE | \
    ShareAccess.FILE_SHARE_DELETE
INFO_FILE = 1
FILE_STREAM_INFORMATION = 22
FILE_RENAME_INFORMATION = 10
STATUS_OBJECT_NAME_NOT_FOUND = 0xC0000034
STATUS_OBJECT_NAME_INVALID = 0xC0000033


def open_(tree, name, disposition=CreateDisposition.FILE_OPEN_IF, options=0):
    f = Open(tree, name)
    f.create(ImpersonationLevel.Impersonation, GENERIC_ALL, FileAttributes.FILE_ATTRIBUTE_NORMAL,
             SHARE_ALL, disposition, options)
    return f


def streams_of(conn, sess, tree, f):
    """[(name, size)] from FileStreamInformation."""
    req = SMB2QueryInfoRequest()
    req["info_type"] = INFO_FILE
    req["file_info_class"] = FILE_STREAM_INFORMATION
    req["output_buffer_length"] = 65536
    req["file_id"] = f.file_id
    resp = SMB2QueryInfoResponse()
    resp.unpack(conn.receive(conn.send(req, sid=sess.session_id,
                                       tid=tree.tree_connect_id))["data"].get_value())
    buf = resp["buffer"].get_value()
    out, at = [], 0
    while buf:
        nxt, name_len, size, _alloc = struct.unpack_from("<IIQQ", buf, at)
        name = buf[at + 24:at + 24 + name_len].decode("utf-16-le")
        out.append((name, size))
        if nxt == 0:
            break
        at += nxt
    return sorted(out)


def rename_stream(conn, sess, tree, f, new):
    name = new.encode("utf-16-le")
    buf = struct.pack("<B7xQI", 0, 0, len(name)) + name
    req = SMB2SetInfoRequest()
    req["info_type"] = INFO_FILE
    req["file_info_class"] = FILE_RENAME_INFORMATION
    req["file_id"] = f.file_id
    req["buffer"] = buf
    conn.receive(conn.send(req, sid=sess.session_id, tid=tree.tree_connect_id))


def test_stream_content_is_apart_from_the_file(smb_session):
    conn, sess, tree = smb_session
    base = open_(tree, "st_a.txt", CreateDisposition.FILE_OVERWRITE_IF)
    base.write(b"main data", 0)
    s = open_(tree, "st_a.txt:Zone.Identifier:$DATA")
    s.write(b"[ZoneTransfer]\r\nZoneId=3\r\n", 0)
    s.close()
    again = open_(tree, "st_a.txt:zone.identifier", CreateDisposition.FILE_OPEN)
    assert again.read(0, 100) == b"[ZoneTransfer]\r\nZoneId=3\r\n"
    again.close()
    assert base.read(0, 100) == b"main data"
    unnamed = open_(tree, "st_a.txt::$DATA", CreateDisposition.FILE_OPEN)
    assert unnamed.read(0, 100) == b"main data"
    unnamed.close()
    assert streams_of(conn, sess, tree, base) == [
        ("::$DATA", 9), (":Zone.Identifier:$DATA", 26)]
    base.close()


def test_stream_of_a_missing_file_creates_the_file(smb_session):
    conn, sess, tree = smb_session
    with pytest.raises(SMBResponseException) as e:
        open_(tree, "st_missing:s", CreateDisposition.FILE_OPEN)
    assert e.value.status == STATUS_OBJECT_NAME_NOT_FOUND
    s = open_(tree, "st_new:AFP_AfpInfo", CreateDisposition.FILE_CREATE)
    s.write(b"x" * 60, 0)
    s.close()
    base = open_(tree, "st_new", CreateDisposition.FILE_OPEN)
    assert base.end_of_file == 0
    assert streams_of(conn, sess, tree, base) == [("::$DATA", 0), (":AFP_AfpInfo:$DATA", 60)]
    base.close()


def test_bad_stream_names_are_refused(smb_session):
    _conn, _sess, tree = smb_session
    open_(tree, "st_bad").close()
    for bad in ("st_bad:s:$BOGUS", "st_bad:", "st_bad:a:b:c"):
        with pytest.raises(SMBResponseException) as e:
            open_(tree, bad)
        assert e.value.status == STATUS_OBJECT_NAME_INVALID, bad


def test_rename_and_delete_on_close_of_a_stream(smb_session):
    conn, sess, tree = smb_session
    base = open_(tree, "st_ren", CreateDisposition.FILE_OVERWRITE_IF)
    s = open_(tree, "st_ren:one")
    s.write(b"12345", 0)
    rename_stream(conn, sess, tree, s, ":two:$DATA")
    s.close()
    assert streams_of(conn, sess, tree, base) == [("::$DATA", 0), (":two:$DATA", 5)]
    d = open_(tree, "st_ren:two", CreateDisposition.FILE_OPEN,
              CreateOptions.FILE_DELETE_ON_CLOSE)
    d.close()
    assert streams_of(conn, sess, tree, base) == [("::$DATA", 0)]
    base.close()
    # The file itself is still there.
    open_(tree, "st_ren", CreateDisposition.FILE_OPEN).close()


def test_deleting_the_file_deletes_its_streams(smb_session):
    conn, sess, tree = smb_session
    s = open_(tree, "st_del:s")
    s.write(b"old", 0)
    s.close()
    f = open_(tree, "st_del", CreateDisposition.FILE_OPEN, CreateOptions.FILE_DELETE_ON_CLOSE)
    f.close()
    with pytest.raises(SMBResponseException) as e:
        open_(tree, "st_del:s", CreateDisposition.FILE_OPEN)
    assert e.value.status == STATUS_OBJECT_NAME_NOT_FOUND
    # A new file of the same name starts without streams.
    base = open_(tree, "st_del", CreateDisposition.FILE_CREATE)
    assert streams_of(conn, sess, tree, base) == [("::$DATA", 0)]
    base.close()


def _session(port):
    from smbprotocol.connection import Connection
    from smbprotocol.session import Session
    from smbprotocol.tree import TreeConnect
    conn = Connection(uuid.uuid4(), "127.0.0.1", port, require_signing=True)
    conn.connect(timeout=15)
    sess = Session(conn, conftest.SMB_USER, conftest.SMB_PASSWORD, require_encryption=False)
    sess.connect()
    tree = TreeConnect(sess, r"\\127.0.0.1\export")
    tree.connect()
    return conn, sess, tree


def _start_again(s):
    """Starts the stopped server `s` again on its config, data and ports."""
    with open(s.log, "ab") as logf:
        s.proc = subprocess.Popen([conftest.dittofs_bin(), "start", "--config", s.conf],
                                  stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", s.smb_port), timeout=0.5).close()
            return
        except OSError:
            assert s.proc.poll() is None, s.log_text()
            time.sleep(0.05)
    raise AssertionError("dittofs did not come back:\n" + s.log_text())


def test_stream_content_survives_a_restart_on_lmdb():
    with tempfile.TemporaryDirectory(prefix="dittofs-streams-") as tmp:
        s = conftest.Server(tmp, smb=True)
        try:
            payload = os.urandom(300_000)
            conn, sess, tree = _session(s.smb_port)
            f = open_(tree, "keep.bin:AFP_Resource")
            f.write(payload, 0)
            f.close()
            conn.disconnect(True)
            rc, killed = s.stop()
            assert rc == 0 and not killed, s.log_text()
            _start_again(s)
            conn, sess, tree = _session(s.smb_port)
            base = open_(tree, "keep.bin", CreateDisposition.FILE_OPEN)
            assert streams_of(conn, sess, tree, base) == [
                ("::$DATA", 0), (":AFP_Resource:$DATA", len(payload))]
            base.close()
            f = open_(tree, "keep.bin:afp_resource", CreateDisposition.FILE_OPEN)
            got = b"".join(f.read(o, 65536) for o in range(0, len(payload), 65536))
            assert got == payload
            f.close()
            conn.disconnect(True)
        finally:
            s.stop()


# --- streams2: oplocks on streams, attribute access, stream handle names ---

def test_second_open_of_a_stream_breaks_its_oplock_not_an_open_of_the_file(smb_session, second):
    """smb2.oplock.stream1: an exclusive oplock on a stream survives an open of the
    file (another inode) and breaks to level II on another open of the stream."""
    from test_smb_leases import BreakCatcher, in_thread, open_file
    from test_smb_oplock import LEVEL_II, oplock_ack, parse_break, quiet
    from smbprotocol.open import RequestedOplockLevel
    exclusive = RequestedOplockLevel.SMB2_OPLOCK_LEVEL_EXCLUSIVE
    batch = RequestedOplockLevel.SMB2_OPLOCK_LEVEL_BATCH
    conn, sess, tree = smb_session
    t2 = second[2]
    name = "st_ol_" + uuid.uuid4().hex[:8]
    s1, _ = open_file(tree, name + ":Stream One:$DATA", oplock=exclusive)
    assert s1.oplock_level == exclusive
    catch = BreakCatcher(conn, sess)
    b, _ = open_file(t2, name, oplock=batch)
    assert b.oplock_level == batch, "the file's oplock is apart from the stream's"
    b.close()
    assert quiet(catch), "opening the file breaks no oplock on its stream"
    t, out = in_thread(lambda: open_file(t2, name + ":stream one", oplock=exclusive))
    size, level, fid = parse_break(catch.wait())
    assert (level, fid) == (LEVEL_II, s1.file_id)
    oplock_ack(conn, sess, tree, s1, LEVEL_II)
    t.join(30)
    assert "error" not in out, out.get("error")
    s2_, _ = out["value"]
    assert s2_.oplock_level == LEVEL_II
    s2_.close()
    s1.close()


def _query(conn, sess, tree, f, cls):
    req = SMB2QueryInfoRequest()
    req["info_type"] = INFO_FILE
    req["file_info_class"] = cls
    req["output_buffer_length"] = 65536
    req["file_id"] = f.file_id
    resp = SMB2QueryInfoResponse()
    resp.unpack(conn.receive(conn.send(req, sid=sess.session_id,
                                       tid=tree.tree_connect_id))["data"].get_value())
    return resp["buffer"].get_value()


def test_basic_info_needs_read_attributes(smb_session):
    """smb2.streams.attributes1: FileBasicInformation through an open for
    FILE_READ_DATA only is ACCESS_DENIED (MS-FSA 2.1.5.12)."""
    conn, sess, tree = smb_session
    name = "st_ra_" + uuid.uuid4().hex[:8]
    open_(tree, name + ":s").close()
    f = Open(tree, name)
    f.create(ImpersonationLevel.Impersonation, 0x1, FileAttributes.FILE_ATTRIBUTE_NORMAL,
             SHARE_ALL, CreateDisposition.FILE_OPEN, 0)
    with pytest.raises(SMBResponseException) as e:
        _query(conn, sess, tree, f, 4)
    assert e.value.status == 0xC0000022
    f.close()
    g = Open(tree, name)
    g.create(ImpersonationLevel.Impersonation, 0x81, FileAttributes.FILE_ATTRIBUTE_NORMAL,
             SHARE_ALL, CreateDisposition.FILE_OPEN, 0)
    assert len(_query(conn, sess, tree, g, 4)) == 40
    g.close()


def test_all_information_of_a_stream_handle_names_the_stream(smb_session):
    """FileAllInformation on a stream handle ends with `\\path:name`."""
    conn, sess, tree = smb_session
    name = "st_nm_" + uuid.uuid4().hex[:8]
    s = open_(tree, name + ":Zone.Identifier:$DATA")
    buf = _query(conn, sess, tree, s, 18)
    (name_len,) = struct.unpack_from("<I", buf, 96)
    got = buf[100:100 + name_len].decode("utf-16-le")
    assert got == "\\" + name + ":Zone.Identifier"
    s.close()

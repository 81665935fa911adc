"""SMB CreationTime through smbprotocol: SET_INFO FileBasicInformation sets it, it
reads back after the handle is closed and the file reopened, after a server restart
(LMDB metadata store: the value is on disk, not in a cache), and other changes keep
it. A client's ChangeTime is kept as set (Windows and Samba read it back); 0 and -1
leave a time alone.
Its own server, as it restarts it."""
import socket
import struct
import subprocess
import time
import uuid

from smbprotocol.connection import Connection
from smbprotocol.open import (CreateDisposition, CreateOptions, FileAttributes,
                              ImpersonationLevel, Open, ShareAccess, SMB2QueryInfoRequest,
                              SMB2QueryInfoResponse, SMB2SetInfoRequest)
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect

from conftest import SMB_PASSWORD, SMB_USER, Server, dittofs_bin

GENERIC_ALL = 0x10000000
INFO_FILE = 1
FILE_BASIC_INFORMATION = 4
EPOCH_DELTA_S = 11_644_473_600
# 2001-02-03 04:05:06.1234567 UTC as FILETIME (100 ns ticks since 1601).
CREATED = (981_173_106 + EPOCH_DELTA_S) * 10_000_000 + 1_234_567
STOP_UPDATING = 0xFFFF_FFFF_FFFF_FFFF


def connect(port):
    conn = Connection(uuid.uuid4(), "127.0.0.1", port, require_signing=True)
    conn.connect(timeout=15)
    sess = Session(conn, SMB_USER, SMB_PASSWORD, require_encryption=False)
    sess.connect()
    tree = TreeConnect(sess, r"\\127.0.0.1\export")
    tree.connect()
    return conn, sess, tree


def smb_open(tree, name, disposition, directory=False):
    f = Open(tree, name)
    opts = (CreateOptions.FILE_DIRECTORY_FILE if directory
            else CreateOptions.FILE_NON_DIRECTORY_FILE)
    f.create(ImpersonationLevel.Impersonation, GENERIC_ALL, FileAttributes.FILE_ATTRIBUTE_NORMAL,
             ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE, disposition, opts)
    return f


def basic(conn, sess, tree, f):
    req = SMB2QueryInfoRequest()
    req["info_type"] = INFO_FILE
    req["file_info_class"] = FILE_BASIC_INFORMATION
    req["output_buffer_length"] = 4096
    req["file_id"] = f.file_id
    request = conn.send(req, sid=sess.session_id, tid=tree.tree_connect_id)
    resp = SMB2QueryInfoResponse()
    resp.unpack(conn.receive(request)["data"].get_value())
    creation, access, write, change = struct.unpack_from("<QQQQ", resp["buffer"].get_value())
    return {"creation": creation, "access": access, "write": write, "change": change}


def set_basic(conn, sess, tree, f, creation=0, access=0, write=0, change=0):
    req = SMB2SetInfoRequest()
    req["info_type"] = INFO_FILE
    req["file_info_class"] = FILE_BASIC_INFORMATION
    req["file_id"] = f.file_id
    req["buffer"] = struct.pack("<QQQQI4x", creation, access, write, change, 0)
    request = conn.send(req, sid=sess.session_id, tid=tree.tree_connect_id)
    conn.receive(request)


def restart(s):
    # SIGTERM, or SIGKILL when it does not stop in time: either way what was
    # committed to LMDB must come back.
    s.stop()
    with open(s.log, "ab") as logf:
        s.proc = subprocess.Popen([dittofs_bin(), "start", "--config", s.conf],
                                  stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", s.smb_port), timeout=0.5).close()
            return
        except OSError:
            assert s.proc.poll() is None, s.log_text()
            assert time.monotonic() < deadline, s.log_text()
            time.sleep(0.05)


def test_creation_time_set_reopen_and_restart(tmp_path):
    s = Server(str(tmp_path), smb=True)
    try:
        conn, sess, tree = connect(s.smb_port)
        f = smb_open(tree, "born.txt", CreateDisposition.FILE_CREATE)
        made = basic(conn, sess, tree, f)
        # Creation time defaults to the create time (= the other times at birth).
        assert made["creation"] == made["write"] == made["change"], made
        # ChangeTime is kept as set; -1 on write time leaves it alone.
        set_basic(conn, sess, tree, f, creation=CREATED, write=STOP_UPDATING,
                  change=CREATED + 20_000_000)
        now = basic(conn, sess, tree, f)
        assert now["creation"] == CREATED, now
        assert now["write"] == made["write"], now
        assert now["change"] == CREATED + 20_000_000, now
        f.close()
        f = smb_open(tree, "born.txt", CreateDisposition.FILE_OPEN)
        assert basic(conn, sess, tree, f)["creation"] == CREATED
        # Another time set with 0 for creation keeps it.
        set_basic(conn, sess, tree, f, write=CREATED + 10_000_000)
        after = basic(conn, sess, tree, f)
        assert (after["creation"], after["write"]) == (CREATED, CREATED + 10_000_000), after
        f.close()
        d = smb_open(tree, "born-dir", CreateDisposition.FILE_CREATE, directory=True)
        set_basic(conn, sess, tree, d, creation=CREATED + 1)
        d.close()
        conn.disconnect(True)

        restart(s)
        conn, sess, tree = connect(s.smb_port)
        f = smb_open(tree, "born.txt", CreateDisposition.FILE_OPEN)
        assert basic(conn, sess, tree, f)["creation"] == CREATED
        f.close()
        d = smb_open(tree, "born-dir", CreateDisposition.FILE_OPEN, directory=True)
        assert basic(conn, sess, tree, d)["creation"] == CREATED + 1
        d.close()
        conn.disconnect(True)
    finally:
        s.stop()

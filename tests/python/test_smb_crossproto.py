"""One file, two protocols: what NFSv3 (pyNfsClient) writes, SMB (smbprotocol) reads back
with the same bytes, times and owner, and the other way round. Both clients are third-party;
both talk to the `smb_server` fixture, whose NFS port serves the same share.

Mapping asserted (the server's contract, ARCHITECTURE.md "SMB 3.1.1 POSIX extensions"):
- FILE_BASIC_INFORMATION LastWriteTime / ChangeTime / LastAccessTime = NFS mtime / ctime /
  atime, as FILETIME (100 ns since 1601) vs nfstime3 (s, ns since 1970), truncated to 100 ns;
- the security descriptor's owner is S-1-22-1-<uid>, its group S-1-22-2-<gid>;
- a file created over SMB is owned by the session user's uid/gid with mode 0644;
- SET_INFO FileBasicInformation times are what NFS GETATTR reports.
"""
import os
import struct
import uuid

import pyNfsClient
from pyNfsClient import NFS3_OK, UNCHECKED, FILE_SYNC, SET_TO_CLIENT_TIME
from smbprotocol.open import (CreateDisposition, CreateOptions, FileAttributes,
                              ImpersonationLevel, Open, ShareAccess)
from smbprotocol.open import (SMB2QueryInfoRequest, SMB2QueryInfoResponse,
                              SMB2SetInfoRequest)

from conftest import SMB_UID, auth

GENERIC_ALL = 0x10000000
EPOCH_DELTA_S = 11_644_473_600
INFO_FILE, INFO_SECURITY = 1, 3
FILE_BASIC_INFORMATION = 4
OWNER_GROUP = 0x1 | 0x2


def filetime(sec, nsec):
    return (sec + EPOCH_DELTA_S) * 10_000_000 + nsec // 100


def nfs_time_ft(t):
    return filetime(t["seconds"], t["nseconds"])


def nfs_connect(server, uid):
    a = auth(uid, uid)
    m = pyNfsClient.Mount(host="127.0.0.1", port=server.mount_port, timeout=15, auth=a)
    m.connect()
    try:
        res = m.mnt("/export")
        assert res["status"] == pyNfsClient.MNT3_OK, res
        root = res["mountinfo"]["fhandle"]
    finally:
        m.disconnect()
    c = pyNfsClient.NFSv3(host="127.0.0.1", port=server.port, timeout=15, auth=a)
    c.connect()
    return c, root


def ok(res):
    assert res["status"] == NFS3_OK, res
    return res.get("resok", res)


def smb_open(tree, name, disposition):
    f = Open(tree, name)
    f.create(ImpersonationLevel.Impersonation, GENERIC_ALL, FileAttributes.FILE_ATTRIBUTE_NORMAL,
             ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE, disposition,
             CreateOptions.FILE_NON_DIRECTORY_FILE)
    return f


def query(conn, sess, tree, f, info_type, info_class, additional=0):
    req = SMB2QueryInfoRequest()
    req["info_type"] = info_type
    req["file_info_class"] = info_class
    req["output_buffer_length"] = 4096
    req["additional_information"] = additional
    req["file_id"] = f.file_id
    request = conn.send(req, sid=sess.session_id, tid=tree.tree_connect_id)
    resp = SMB2QueryInfoResponse()
    resp.unpack(conn.receive(request)["data"].get_value())
    return resp["buffer"].get_value()


def set_basic(conn, sess, tree, f, access_ft, write_ft):
    req = SMB2SetInfoRequest()
    req["info_type"] = INFO_FILE
    req["file_info_class"] = FILE_BASIC_INFORMATION
    req["file_id"] = f.file_id
    req["buffer"] = struct.pack("<QQQQI4x", 0, access_ft, write_ft, 0, 0)
    request = conn.send(req, sid=sess.session_id, tid=tree.tree_connect_id)
    conn.receive(request)


def sid_at(buf, off):
    n = buf[off + 1]
    authority = int.from_bytes(buf[off + 2:off + 8], "big")
    subs = struct.unpack_from("<%dI" % n, buf, off + 8)
    return "S-1-%d" % authority + "".join("-%d" % s for s in subs)


def basic_times(buf):
    creation, access, write, change = struct.unpack_from("<QQQQ", buf, 0)
    return {"access": access, "write": write, "change": change, "creation": creation}


def test_nfs_written_file_reads_back_over_smb(smb_server, smb_session):
    conn, sess, tree = smb_session
    nfs, root = nfs_connect(smb_server, SMB_UID)
    name = "x-nfs-" + uuid.uuid4().hex[:8]
    data = (uuid.uuid4().hex * 2000).encode()  # ASCII: pyNfsClient sends str(content)
    try:
        h = ok(nfs.create(root, name, UNCHECKED, mode=0o640))["obj"]["handle"]["data"]
        ok(nfs.write(h, 0, len(data), data.decode(), FILE_SYNC))
        ok(nfs.setattr(h, atime_flag=SET_TO_CLIENT_TIME, atime_s=1_500_000_000,
                       atime_us=987_654_321, mtime_flag=SET_TO_CLIENT_TIME,
                       mtime_s=1_600_000_000, mtime_us=123_456_789))
        a = ok(nfs.getattr(h))["attributes"]
        assert (a["uid"], a["mode"] & 0o7777) == (SMB_UID, 0o640)
    finally:
        nfs.disconnect()
    f = smb_open(tree, name, CreateDisposition.FILE_OPEN)
    try:
        assert f.read(0, len(data)) == data
        t = basic_times(query(conn, sess, tree, f, INFO_FILE, FILE_BASIC_INFORMATION))
        assert t["write"] == nfs_time_ft(a["mtime"]) == filetime(1_600_000_000, 123_456_789)
        assert t["change"] == nfs_time_ft(a["ctime"])
        assert t["access"] == filetime(1_500_000_000, 987_654_321)
        sd = query(conn, sess, tree, f, INFO_SECURITY, 0, OWNER_GROUP)
        owner_off, group_off = struct.unpack_from("<II", sd, 4)
        assert sid_at(sd, owner_off) == "S-1-22-1-%d" % SMB_UID
        assert sid_at(sd, group_off) == "S-1-22-2-%d" % a["gid"]
    finally:
        f.close()


def test_smb_written_file_reads_back_over_nfs(smb_server, smb_session):
    conn, sess, tree = smb_session
    name = "x-smb-" + uuid.uuid4().hex[:8]
    data = os.urandom(200_000)
    write_ft = filetime(1_650_000_000, 555_555_500)
    access_ft = filetime(1_640_000_000, 100)
    f = smb_open(tree, name, CreateDisposition.FILE_CREATE)
    try:
        assert f.write(data, 0) == len(data)
        set_basic(conn, sess, tree, f, access_ft, write_ft)
        t = basic_times(query(conn, sess, tree, f, INFO_FILE, FILE_BASIC_INFORMATION))
    finally:
        f.close()
    nfs, root = nfs_connect(smb_server, 0)
    try:
        h = ok(nfs.lookup(root, name))["object"]["data"]
        a = ok(nfs.getattr(h))["attributes"]
        got = b""
        while len(got) < len(data):
            r = ok(nfs.read(h, len(got), 65536))
            got += r["data"]
            if r["eof"]:
                break
        assert got == data
        assert (a["uid"], a["mode"] & 0o7777, a["size"]) == (SMB_UID, 0o644, len(data))
        assert (a["mtime"]["seconds"], a["mtime"]["nseconds"]) == (1_650_000_000, 555_555_500)
        assert (a["atime"]["seconds"], a["atime"]["nseconds"]) == (1_640_000_000, 100)
        assert nfs_time_ft(a["ctime"]) == t["change"]
    finally:
        nfs.disconnect()

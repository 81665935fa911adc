"""Sparse files over SMB (smbprotocol): FSCTL_SET_SPARSE, FSCTL_SET_ZERO_DATA,
FSCTL_QUERY_ALLOCATED_RANGES and FSCTL_GET/SET_COMPRESSION against the `smb_server`
fixture; what SET_ZERO_DATA zeroed is read back over NFSv3 (pyNfsClient) on the same
share too.

Contract asserted (ARCHITECTURE.md "SMB sparse files and FSCTLs"):
- a non-sparse file reports the whole queried range up to end of file as allocated;
- a sparse file reports the 4 KiB granules that hold non-zero bytes, merged;
- SET_ZERO_DATA zeroes [offset, beyond) clipped to end of file, never grows the file;
- the sparse flag is FILE_ATTRIBUTE_SPARSE_FILE in FILE_BASIC_INFORMATION;
- compression: GET answers NONE, SET NONE succeeds, SET DEFAULT is NOT_SUPPORTED.
"""
import struct
import time
import uuid

import pyNfsClient
from smbprotocol.exceptions import SMBResponseException
from smbprotocol.header import NtStatus
from smbprotocol.ioctl import IOCTLFlags, SMB2IOCTLRequest, SMB2IOCTLResponse
from smbprotocol.open import (CreateDisposition, CreateOptions, FileAttributes,
                              ImpersonationLevel, Open, ShareAccess)
from smbprotocol.open import SMB2CloseRequest, SMB2QueryInfoRequest, SMB2QueryInfoResponse

from conftest import auth

GENERIC_ALL = 0x10000000
FSCTL_SET_SPARSE = 0x000900C4
FSCTL_SET_ZERO_DATA = 0x000980C8
FSCTL_QUERY_ALLOCATED_RANGES = 0x000940CF
FSCTL_GET_COMPRESSION = 0x0009003C
FSCTL_SET_COMPRESSION = 0x0009C040
FILE_ATTRIBUTE_SPARSE_FILE = 0x200
KIB = 1024


def ioctl(smb_session, f, code, data=b"", max_out=0):
    conn, sess, tree = smb_session
    req = SMB2IOCTLRequest()
    req["ctl_code"].enum_strict = False  # GET/SET_COMPRESSION are not in its enum
    req["ctl_code"] = code
    req["file_id"] = f.file_id
    req["max_output_response"] = max_out
    req["flags"] = IOCTLFlags.SMB2_0_IOCTL_IS_FSCTL
    req["buffer"] = data
    request = conn.send(req, sid=sess.session_id, tid=tree.tree_connect_id)
    resp = SMB2IOCTLResponse()
    resp["ctl_code"].enum_strict = False
    resp.unpack(conn.receive(request)["data"].get_value())
    return resp["buffer"].get_value()


def status_of(fn):
    try:
        fn()
    except SMBResponseException as e:
        return e.status
    return NtStatus.STATUS_SUCCESS


def ranges(smb_session, f, offset, length):
    out = ioctl(smb_session, f, FSCTL_QUERY_ALLOCATED_RANGES,
                struct.pack("<qq", offset, length), max_out=64 * KIB)
    assert len(out) % 16 == 0
    return [struct.unpack_from("<qq", out, i) for i in range(0, len(out), 16)]


def zero(smb_session, f, offset, beyond):
    ioctl(smb_session, f, FSCTL_SET_ZERO_DATA, struct.pack("<qq", offset, beyond))


def attributes(smb_session, f):
    conn, sess, tree = smb_session
    req = SMB2QueryInfoRequest()
    req["info_type"] = 1
    req["file_info_class"] = 4  # FileBasicInformation
    req["output_buffer_length"] = 4096
    req["file_id"] = f.file_id
    request = conn.send(req, sid=sess.session_id, tid=tree.tree_connect_id)
    resp = SMB2QueryInfoResponse()
    resp.unpack(conn.receive(request)["data"].get_value())
    return struct.unpack_from("<I", resp["buffer"].get_value(), 32)[0]


def new_file(tree):
    name = "sp-" + uuid.uuid4().hex[:8]
    f = Open(tree, name)
    f.create(ImpersonationLevel.Impersonation, GENERIC_ALL, FileAttributes.FILE_ATTRIBUTE_NORMAL,
             ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE,
             CreateDisposition.FILE_CREATE, CreateOptions.FILE_NON_DIRECTORY_FILE)
    return name, f


def nfs_read_all(server, name):
    m = pyNfsClient.Mount(host="127.0.0.1", port=server.mount_port, timeout=15, auth=auth())
    m.connect()
    try:
        root = m.mnt("/export")["mountinfo"]["fhandle"]
    finally:
        m.disconnect()
    c = pyNfsClient.NFSv3(host="127.0.0.1", port=server.port, timeout=15, auth=auth())
    c.connect()
    try:
        res = c.lookup(root, name)
        assert res["status"] == pyNfsClient.NFS3_OK, res
        h = res["resok"]["object"]["data"]
        got = b""
        while True:
            r = c.read(h, len(got), 65536)
            assert r["status"] == pyNfsClient.NFS3_OK, r
            got += r["resok"]["data"]
            if r["resok"]["eof"]:
                return got
    finally:
        c.disconnect()


def test_sparse_zero_data_and_allocated_ranges(smb_server, smb_session):
    _, _, tree = smb_session
    name, f = new_file(tree)
    try:
        f.write(b"\xab" * (64 * KIB), 0)
        f.write(b"\xcd" * (64 * KIB), 128 * KIB)  # 64..128 KiB never written
        size = 192 * KIB
        # Not sparse: everything up to EOF counts as allocated.
        assert ranges(smb_session, f, 0, 1 << 20) == [(0, size)]
        assert ranges(smb_session, f, size, 4096) == []
        assert ranges(smb_session, f, 0, 0) == []
        assert attributes(smb_session, f) & FILE_ATTRIBUTE_SPARSE_FILE == 0

        ioctl(smb_session, f, FSCTL_SET_SPARSE, b"\x01")
        assert attributes(smb_session, f) & FILE_ATTRIBUTE_SPARSE_FILE
        assert ranges(smb_session, f, 0, 1 << 20) == [(0, 64 * KIB), (128 * KIB, 64 * KIB)]
        # Clipped to the query.
        assert ranges(smb_session, f, 1000, 200 * KIB) == [(1000, 64 * KIB - 1000),
                                                          (128 * KIB, 64 * KIB)]

        zero(smb_session, f, 4 * KIB, 64 * KIB)
        assert ranges(smb_session, f, 0, 1 << 20) == [(0, 4 * KIB), (128 * KIB, 64 * KIB)]
        # Past EOF: zeroes up to EOF only, the size stays.
        zero(smb_session, f, 188 * KIB, 10 << 20)
        assert ranges(smb_session, f, 0, 1 << 20) == [(0, 4 * KIB), (128 * KIB, 60 * KIB)]
        # A partly zeroed 4 KiB granule still holds data.
        zero(smb_session, f, 128 * KIB, 130 * KIB)
        assert ranges(smb_session, f, 0, 1 << 20) == [(0, 4 * KIB), (128 * KIB, 60 * KIB)]
        assert f.read(0, 8 * KIB) == b"\xab" * (4 * KIB) + b"\0" * (4 * KIB)

        assert status_of(lambda: zero(smb_session, f, 8192, 4096)) == \
            NtStatus.STATUS_INVALID_PARAMETER
        assert status_of(lambda: ioctl(smb_session, f, FSCTL_SET_ZERO_DATA, b"\0" * 8)) == \
            NtStatus.STATUS_INVALID_PARAMETER
        # No room for the one range there is.
        assert status_of(lambda: ioctl(smb_session, f, FSCTL_QUERY_ALLOCATED_RANGES,
                                       struct.pack("<qq", 0, 4096), max_out=0)) == \
            NtStatus.STATUS_BUFFER_TOO_SMALL

        ioctl(smb_session, f, FSCTL_SET_SPARSE, b"\x00")
        assert attributes(smb_session, f) & FILE_ATTRIBUTE_SPARSE_FILE == 0
        assert ranges(smb_session, f, 0, 1 << 20) == [(0, size)]
    finally:
        f.close()

    want = (b"\xab" * (4 * KIB) + b"\0" * (126 * KIB) + b"\xcd" * (58 * KIB)
            + b"\0" * (4 * KIB))
    assert nfs_read_all(smb_server, name) == want


def test_set_sparse_without_buffer_sets(smb_session):
    _, _, tree = smb_session
    _, f = new_file(tree)
    try:
        ioctl(smb_session, f, FSCTL_SET_SPARSE)  # no buffer: set
        assert attributes(smb_session, f) & FILE_ATTRIBUTE_SPARSE_FILE
        ioctl(smb_session, f, FSCTL_SET_SPARSE)  # twice: still set
        assert attributes(smb_session, f) & FILE_ATTRIBUTE_SPARSE_FILE
    finally:
        f.close()


def test_compression_not_supported(smb_session):
    _, _, tree = smb_session
    _, f = new_file(tree)
    try:
        assert ioctl(smb_session, f, FSCTL_GET_COMPRESSION, max_out=2) == b"\0\0"
        ioctl(smb_session, f, FSCTL_SET_COMPRESSION, struct.pack("<H", 0))
        assert status_of(lambda: ioctl(smb_session, f, FSCTL_SET_COMPRESSION,
                                       struct.pack("<H", 1))) == NtStatus.STATUS_NOT_SUPPORTED
    finally:
        f.close()


FSCTL_SMBTORTURE_FSP_ASYNC_SLEEP = 0x83848043


def test_close_waits_for_fsp_async_sleep(smb_session):
    """smbtorture smb2.ioctl.bug14769: a CLOSE sent while the sleep FSCTL holds the
    handle completes after it, and the FSCTL still finds its handle (OK, not
    FILE_CLOSED); a malformed input is INVALID_PARAMETER."""
    conn, sess, tree = smb_session
    _, f = new_file(tree)
    bad = SMB2IOCTLRequest()
    bad["ctl_code"].enum_strict = False
    bad["ctl_code"] = FSCTL_SMBTORTURE_FSP_ASYNC_SLEEP
    bad["file_id"] = f.file_id
    bad["flags"] = IOCTLFlags.SMB2_0_IOCTL_IS_FSCTL
    bad["buffer"] = b"\x01\x01"
    r = conn.send(bad, sid=sess.session_id, tid=tree.tree_connect_id)
    assert status_of(lambda: conn.receive(r)) == NtStatus.STATUS_INVALID_PARAMETER

    req = SMB2IOCTLRequest()
    req["ctl_code"].enum_strict = False
    req["ctl_code"] = FSCTL_SMBTORTURE_FSP_ASYNC_SLEEP
    req["file_id"] = f.file_id
    req["flags"] = IOCTLFlags.SMB2_0_IOCTL_IS_FSCTL
    req["buffer"] = b"\x01"  # one second
    started = time.monotonic()
    ioctl_req = conn.send(req, sid=sess.session_id, tid=tree.tree_connect_id)
    close = SMB2CloseRequest()
    close["file_id"] = f.file_id
    close_req = conn.send(close, sid=sess.session_id, tid=tree.tree_connect_id)
    ioctl_resp = conn.receive(ioctl_req)
    assert ioctl_resp["status"].get_value() == NtStatus.STATUS_SUCCESS
    assert time.monotonic() - started >= 0.9
    assert conn.receive(close_req)["status"].get_value() == NtStatus.STATUS_SUCCESS
    f._connected = False  # closed by hand above: nothing for the fixture to close
    sess.open_table.pop(f.file_id, None)

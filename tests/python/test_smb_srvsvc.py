"""Share enumeration over IPC$ and the srvsvc named pipe with smbprotocol: the
DCE/RPC PDUs are built here by hand from C706/MS-RPCE/MS-SRVS (not with the
server's codec). Covers WRITE/READ (BIND, BIND_ACK read in two parts through
STATUS_BUFFER_OVERFLOW) and FSCTL_PIPE_TRANSCEIVE (NetrShareEnum level 1, an
unknown opnum answered with a FAULT), plus refusals: another pipe name, a
file operation on the pipe."""
import struct
import uuid

import pytest
from smbprotocol.exceptions import BufferOverflow, SMBResponseException
from smbprotocol.ioctl import CtlCode, IOCTLFlags, SMB2IOCTLRequest, SMB2IOCTLResponse
from smbprotocol.open import (CreateDisposition, CreateOptions, FileAttributes,
                              ImpersonationLevel, Open, SMB2ReadResponse, ShareAccess)
from smbprotocol.tree import TreeConnect

GENERIC_READ_WRITE = 0x80000000 | 0x40000000
SRVSVC = uuid.UUID("4b324fc8-1670-01d3-1278-5a47bf6ee188").bytes_le + struct.pack("<HH", 3, 0)
NDR20 = uuid.UUID("8a885d04-1ceb-11c9-9fe8-08002b104860").bytes_le + struct.pack("<I", 2)
NDR64 = uuid.UUID("71710533-beba-4937-8319-b5dbef9ccc36").bytes_le + struct.pack("<I", 1)


def pdu(ptype, call_id, body, flags=3):
    return struct.pack("<BBBB4sHHI", 5, 0, ptype, flags, b"\x10\0\0\0", 16 + len(body), 0,
                       call_id) + body


def bind(call_id):
    ctx0 = struct.pack("<HBB", 0, 1, 0) + SRVSVC + NDR20
    ctx1 = struct.pack("<HBB", 1, 1, 0) + SRVSVC + NDR64
    return pdu(11, call_id, struct.pack("<HHIB3x", 4280, 4280, 0, 2) + ctx0 + ctx1)


def request(call_id, opnum, stub):
    return pdu(0, call_id, struct.pack("<IHH", len(stub), 0, opnum) + stub)


def ndr_string(s):
    units = (s + "\0").encode("utf-16-le")
    n = len(units) // 2
    b = struct.pack("<III", n, 0, n) + units
    return b + b"\0" * (-len(b) % 4)


def share_enum_stub():
    return (struct.pack("<I", 0x20000) + ndr_string("\\\\127.0.0.1")
            + struct.pack("<IIIII", 1, 1, 0x20004, 0, 0)
            + struct.pack("<III", 0xFFFFFFFF, 0x20008, 0))


def parse_share_enum_1(stub):
    """(name, type) of each SHARE_INFO_1 and the WERROR."""
    level, switch, ref, count, aref, maxc = struct.unpack_from("<6I", stub, 0)
    assert (level, switch) == (1, 1) and ref and aref and maxc == count
    at = 24
    types = []
    for _ in range(count):
        _, ty, _ = struct.unpack_from("<3I", stub, at)
        types.append(ty)
        at += 12
    names = []
    for _ in range(count):
        for field in range(2):
            mx, off, actual = struct.unpack_from("<3I", stub, at)
            at += 12
            text = stub[at:at + 2 * actual].decode("utf-16-le").rstrip("\0")
            at += 2 * actual
            at += -at % 4
            if field == 0:
                names.append(text)
    total, resume_ref = struct.unpack_from("<II", stub, at)
    at += 8 + (4 if resume_ref else 0)
    (werror,) = struct.unpack_from("<I", stub, at)
    assert total == count
    return list(zip(names, types)), werror


def open_pipe(tree, name="srvsvc"):
    p = Open(tree, name)
    p.create(ImpersonationLevel.Impersonation, GENERIC_READ_WRITE,
             FileAttributes.FILE_ATTRIBUTE_NORMAL, ShareAccess.FILE_SHARE_READ |
             ShareAccess.FILE_SHARE_WRITE, CreateDisposition.FILE_OPEN,
             CreateOptions.FILE_NON_DIRECTORY_FILE)
    return p


def transceive(conn, sess, tree, pipe, data, max_out=4280):
    req = SMB2IOCTLRequest()
    req["ctl_code"] = CtlCode.FSCTL_PIPE_TRANSCEIVE
    req["file_id"] = pipe.file_id
    req["max_output_response"] = max_out
    req["flags"] = IOCTLFlags.SMB2_0_IOCTL_IS_FSCTL
    req["buffer"] = data
    r = conn.send(req, sid=sess.session_id, tid=tree.tree_connect_id)
    resp = SMB2IOCTLResponse()
    resp.unpack(conn.receive(r)["data"].get_value())
    return resp["buffer"].get_value()


@pytest.fixture
def ipc(smb_session):
    conn, sess, _ = smb_session
    tree = TreeConnect(sess, r"\\127.0.0.1\IPC$")
    tree.connect()
    yield conn, sess, tree
    tree.disconnect()


def test_share_enum_through_srvsvc(ipc):
    conn, sess, tree = ipc
    pipe = open_pipe(tree)
    try:
        assert pipe.write(bind(1), 0) == len(bind(1))
        # Read the BIND_ACK 20 bytes at a time: STATUS_BUFFER_OVERFLOW until the end.
        ack = b""
        for _ in range(20):
            try:
                ack += pipe.read(0, 20)
                break
            except BufferOverflow as e:
                part = SMB2ReadResponse()
                part.unpack(e.header["data"].get_value())
                ack += part["buffer"].get_value()
        ver, _, ptype, _, _, frag_len, _, call_id = struct.unpack_from("<BBBB4sHHI", ack)
        assert (ver, ptype, call_id, frag_len) == (5, 12, 1, len(ack))
        (addr_len,) = struct.unpack_from("<H", ack, 24)
        assert ack[26:26 + addr_len] == b"\\PIPE\\srvsvc\0"
        at = 26 + addr_len
        at += -at % 4
        assert ack[at] == 2
        r0, _ = struct.unpack_from("<HH", ack, at + 4)
        r1, reason1 = struct.unpack_from("<HH", ack, at + 4 + 24)
        assert r0 == 0 and ack[at + 8:at + 28] == NDR20
        assert (r1, reason1) == (2, 2), "NDR64 must be rejected"

        out = transceive(conn, sess, tree, pipe, request(2, 15, share_enum_stub()))
        assert out[2] == 2 and struct.unpack_from("<I", out, 12)[0] == 2  # RESPONSE, call 2
        shares, werror = parse_share_enum_1(out[24:])
        assert werror == 0
        assert ("export", 0) in shares
        assert ("IPC$", 0x80000003) in shares

        fault = transceive(conn, sess, tree, pipe, request(3, 200, b""))
        assert fault[2] == 3
        assert struct.unpack_from("<I", fault, 24)[0] == 0x1C010002  # nca_s_op_rng_error
    finally:
        pipe.close()


def test_ipc_refuses_other_pipes_and_file_ops(ipc):
    _, _, tree = ipc
    with pytest.raises(SMBResponseException) as e:
        open_pipe(tree, "lsarpc")
    assert e.value.status == 0xC0000034  # STATUS_OBJECT_NAME_NOT_FOUND
    pipe = open_pipe(tree)
    try:
        with pytest.raises(SMBResponseException) as e:
            pipe.flush()
        assert e.value.status == 0xC00000BB  # STATUS_NOT_SUPPORTED
    finally:
        pipe.close()

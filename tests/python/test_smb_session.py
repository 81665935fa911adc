"""SMB2/3 through smbprotocol (a third-party client): a signed 3.1.1 session, a file
written and read back, and the negotiated dialect. Protocol-level cases of later features
(locks, leases, notify, encryption, compound) live in their own test_smb_*.py files and use
the `smb_session` / `smb_server` fixtures of conftest.py."""
import os
import struct
import uuid

from smbprotocol.connection import Connection, Dialects
from smbprotocol.exceptions import MoreProcessingRequired, SMBResponseException
from smbprotocol.header import NtStatus
from smbprotocol.session import SMB2SessionSetupRequest
from smbprotocol.open import (CreateDisposition, CreateOptions, FileAttributes,
                              ImpersonationLevel, Open, ShareAccess)

from conftest import SMB_USER

GENERIC_ALL = 0x10000000


def test_signed_311_session_roundtrip(smb_session):
    conn, sess, tree = smb_session
    assert conn.dialect == Dialects.SMB_3_1_1
    assert sess.signing_required
    name = "py-" + uuid.uuid4().hex[:8]
    data = os.urandom(300_000)
    f = Open(tree, name)
    f.create(ImpersonationLevel.Impersonation, GENERIC_ALL, FileAttributes.FILE_ATTRIBUTE_NORMAL,
             ShareAccess.FILE_SHARE_READ, CreateDisposition.FILE_CREATE,
             CreateOptions.FILE_NON_DIRECTORY_FILE)
    try:
        assert f.write(data, 0) == len(data)
        assert f.read(0, len(data)) == data
    finally:
        f.close()
    g = Open(tree, name)
    g.create(ImpersonationLevel.Impersonation, GENERIC_ALL, FileAttributes.FILE_ATTRIBUTE_NORMAL,
             ShareAccess.FILE_SHARE_READ, CreateDisposition.FILE_OPEN,
             CreateOptions.FILE_NON_DIRECTORY_FILE)
    try:
        assert g.end_of_file == len(data)
        assert g.read(0, len(data)) == data
    finally:
        g.close()


NTLM_FLAGS = 0x62088215  # UNICODE, REQUEST_TARGET, SIGN, NTLM, ALWAYS_SIGN, ESS, 128, KEY_EXCH...


def ntlm_negotiate():
    return b"NTLMSSP\0" + struct.pack("<II", 1, NTLM_FLAGS) + bytes(16)


def ntlm_authenticate(nt_response, user):
    fields = [bytes(24), nt_response, b"", user.encode("utf-16-le"),
              "PYTEST".encode("utf-16-le"), bytes(16)]
    msg = b"NTLMSSP\0" + struct.pack("<I", 3)
    offset = 88  # header, flags, version and MIC slot
    for f in fields:
        msg += struct.pack("<HHI", len(f), len(f), offset)
        offset += len(f)
    msg += struct.pack("<I", NTLM_FLAGS) + bytes(8) + bytes(16)
    return msg + b"".join(fields)


def session_setup(conn, sid, token):
    req = SMB2SessionSetupRequest()
    req["security_mode"] = conn.client_security_mode
    req["buffer"] = token
    request = conn.send(req, sid=sid)
    try:
        resp = conn.receive(request)
    except MoreProcessingRequired as exc:
        return exc.header["session_id"].get_value(), NtStatus.STATUS_MORE_PROCESSING_REQUIRED
    except SMBResponseException as exc:
        return sid, exc.status
    return resp["session_id"].get_value(), resp["status"].get_value()


def test_malformed_ntlmv2_response_is_invalid_parameter(smb_server):
    """smbtorture smb2.session.ntlmssp_bug14932: an NTLMv2 response whose AV pair
    runs past its end is a malformed message (INVALID_PARAMETER), while a well-formed
    one with a wrong proof is a failed logon (LOGON_FAILURE)."""
    client_challenge = bytes([1, 1]) + bytes(6) + bytes(8) + os.urandom(8) + bytes(4)
    cases = [
        # AvId 0xa211 claiming 0x8108 bytes, with 47 left.
        (bytes(16) + client_challenge + b"\x11\xa2\x08\x81" + bytes(47),
         NtStatus.STATUS_INVALID_PARAMETER),
        # The same with a terminated (empty) AV list: decodes, proof is wrong.
        (bytes(16) + client_challenge + bytes(4), NtStatus.STATUS_LOGON_FAILURE),
    ]
    for nt_response, want in cases:
        conn = Connection(uuid.uuid4(), "127.0.0.1", smb_server.smb_port, require_signing=False)
        conn.connect(timeout=15)
        try:
            sid, status = session_setup(conn, 0, ntlm_negotiate())
            assert status == NtStatus.STATUS_MORE_PROCESSING_REQUIRED
            _, status = session_setup(conn, sid, ntlm_authenticate(nt_response, SMB_USER))
            assert status == want, hex(status)
        finally:
            conn.disconnect(True)

"""SMB2/3 through smbprotocol (a third-party client): a signed 3.1.1 session, a file
written and read back, and the negotiated dialect. Protocol-level cases of later features
(locks, leases, notify, encryption, compound) live in their own test_smb_*.py files and use
the `smb_session` / `smb_server` fixtures of conftest.py."""
import os
import uuid

from smbprotocol.connection import Dialects
from smbprotocol.open import (CreateDisposition, CreateOptions, FileAttributes,
                              ImpersonationLevel, Open, ShareAccess)

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

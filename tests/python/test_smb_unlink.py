"""Delete of an open file over SMB. Windows semantics (no POSIX extensions): the
deleting open's close leaves the name delete pending while other opens hold the file
(new opens get STATUS_DELETE_PENDING) and the name goes at the last close. With
FILE_DISPOSITION_POSIX_SEMANTICS the name goes at once. Either way the file stays
readable and writable through the other opens, and its space comes back only when the
last one closes (pjdfstest unlink open_file_not_freed through the Linux POSIX mount)."""
import struct

import pytest
from smbprotocol.exceptions import SMBResponseException
from smbprotocol.open import (CreateDisposition, CreateOptions, FileAttributes,
                              ImpersonationLevel, Open, ShareAccess,
                              SMB2QueryInfoRequest, SMB2QueryInfoResponse,
                              SMB2SetInfoRequest)

GENERIC_ALL = 0x10000000
SHARE_ALL = ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE | \
    ShareAccess.FILE_SHARE_DELETE
INFO_FILE, INFO_FILESYSTEM = 1, 2
FILE_DISPOSITION_INFORMATION = 13
FILE_DISPOSITION_INFORMATION_EX = 64
FILE_FS_FULL_SIZE_INFORMATION = 7
DISPOSITION_DELETE, DISPOSITION_POSIX_SEMANTICS = 0x1, 0x2
STATUS_OBJECT_NAME_NOT_FOUND = 0xC0000034
STATUS_DELETE_PENDING = 0xC0000056
PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


def open_(tree, name, disposition=CreateDisposition.FILE_OPEN_IF):
    f = Open(tree, name)
    f.create(ImpersonationLevel.Impersonation, GENERIC_ALL, FileAttributes.FILE_ATTRIBUTE_NORMAL,
             SHARE_ALL, disposition, CreateOptions.FILE_NON_DIRECTORY_FILE)
    return f


def set_info(conn, sess, tree, f, info_class, buf):
    req = SMB2SetInfoRequest()
    req["info_type"] = INFO_FILE
    req["file_info_class"].enum_strict = False  # FileDispositionInformationEx is not listed
    req["file_info_class"] = info_class
    req["file_id"] = f.file_id
    req["buffer"] = buf
    conn.receive(conn.send(req, sid=sess.session_id, tid=tree.tree_connect_id))


def free_units(conn, sess, tree, f):
    req = SMB2QueryInfoRequest()
    req["info_type"] = INFO_FILESYSTEM
    req["file_info_class"] = FILE_FS_FULL_SIZE_INFORMATION
    req["output_buffer_length"] = 4096
    req["file_id"] = f.file_id
    resp = SMB2QueryInfoResponse()
    resp.unpack(conn.receive(conn.send(req, sid=sess.session_id,
                                       tid=tree.tree_connect_id))["data"].get_value())
    # TotalAllocationUnits, CallerAvailableAllocationUnits, ActualAvailable...
    _total, caller, _actual = struct.unpack_from("<QQQ", resp["buffer"].get_value(), 0)
    return caller


def assert_gone(tree, name):
    with pytest.raises(SMBResponseException) as e:
        open_(tree, name, CreateDisposition.FILE_OPEN)
    assert e.value.status == STATUS_OBJECT_NAME_NOT_FOUND


def delete_pending_flag(conn, sess, tree, f):
    """FileStandardInformation.DeletePending of an open."""
    req = SMB2QueryInfoRequest()
    req["info_type"] = INFO_FILE
    req["file_info_class"] = 5  # FileStandardInformation
    req["output_buffer_length"] = 4096
    req["file_id"] = f.file_id
    resp = SMB2QueryInfoResponse()
    resp.unpack(conn.receive(conn.send(req, sid=sess.session_id,
                                       tid=tree.tree_connect_id))["data"].get_value())
    return resp["buffer"].get_value()[20] != 0


def assert_delete_pending(tree, name):
    with pytest.raises(SMBResponseException) as e:
        open_(tree, name, CreateDisposition.FILE_OPEN_IF)
    assert e.value.status == STATUS_DELETE_PENDING


def check_unlinked_open(smb_session, name, posix):
    conn, sess, tree = smb_session
    probe = open_(tree, name + ".probe")
    before = free_units(conn, sess, tree, probe)
    a = open_(tree, name, CreateDisposition.FILE_OVERWRITE_IF)
    a.write(PAYLOAD, 0)
    b = open_(tree, name, CreateDisposition.FILE_OPEN)
    if posix:
        flags = DISPOSITION_DELETE | DISPOSITION_POSIX_SEMANTICS
        set_info(conn, sess, tree, b, FILE_DISPOSITION_INFORMATION_EX, struct.pack("<I", flags))
        assert_gone(tree, name)  # at once, with b still open
        assert b.read(0, 16) == PAYLOAD[:16]
    else:
        set_info(conn, sess, tree, b, FILE_DISPOSITION_INFORMATION, b"\x01")
    b.close()
    if posix:
        assert_gone(tree, name)
    else:
        # Windows: the name stays, delete pending, while a holds the file.
        assert_delete_pending(tree, name)
    # The open file lives on: read back, write more, read that back.
    assert a.read(0, len(PAYLOAD)) == PAYLOAD
    a.write(b"tail", len(PAYLOAD))
    assert a.read(len(PAYLOAD), 4) == b"tail"
    held = free_units(conn, sess, tree, probe)
    assert held < before, "the deleted file's space must stay allocated while open"
    a.close()
    after = free_units(conn, sess, tree, probe)
    assert after > held, "closing the last open must free the unlinked file's space"
    assert_gone(tree, name)
    probe.close()


def test_delete_on_close_keeps_other_opens_alive(smb_session):
    check_unlinked_open(smb_session, "unlink_windows.bin", posix=False)


def test_posix_semantics_delete_removes_name_at_once(smb_session):
    check_unlinked_open(smb_session, "unlink_posix.bin", posix=True)


def test_delete_pending_windows_semantics(smb_session):
    """SET_INFO disposition makes the file delete pending at once; CREATE with
    DELETE_ON_CLOSE only at that open's close; either way the name goes at the
    last close, and clearing the disposition before then keeps the file."""
    conn, sess, tree = smb_session
    name = "delete_pending.bin"
    a = open_(tree, name, CreateDisposition.FILE_OVERWRITE_IF)
    b = open_(tree, name, CreateDisposition.FILE_OPEN)
    assert not delete_pending_flag(conn, sess, tree, b)
    set_info(conn, sess, tree, a, FILE_DISPOSITION_INFORMATION, b"\x01")
    assert_delete_pending(tree, name)
    assert delete_pending_flag(conn, sess, tree, b), "seen through the other open too"
    # Cleared again: opens work and nothing is deleted at the closes.
    set_info(conn, sess, tree, a, FILE_DISPOSITION_INFORMATION, b"\x00")
    c = open_(tree, name, CreateDisposition.FILE_OPEN)
    for f in (a, b, c):
        f.close()
    open_(tree, name, CreateDisposition.FILE_OPEN).close()

    # Delete-on-close at CREATE: pending only from that open's close.
    d = Open(tree, name)
    d.create(ImpersonationLevel.Impersonation, GENERIC_ALL, FileAttributes.FILE_ATTRIBUTE_NORMAL,
             SHARE_ALL, CreateDisposition.FILE_OPEN,
             CreateOptions.FILE_NON_DIRECTORY_FILE | CreateOptions.FILE_DELETE_ON_CLOSE)
    e = open_(tree, name, CreateDisposition.FILE_OPEN)
    d.close()
    assert_delete_pending(tree, name)
    e.write(b"still usable", 0)
    assert e.read(0, 12) == b"still usable"
    e.close()
    assert_gone(tree, name)

"""Lock sequence replay detection (MS-SMB2 3.3.5.14) through smbprotocol: on a durable
open, or one made resilient with FSCTL_LMR_REQUEST_RESILIENCY, a LOCK whose
LockSequence (index in bits 4..31, number in bits 0..3) repeats the last successful one
of its bucket (1..64) is answered with success and does nothing; a new number, or
bucket 0 or 65, is processed. A plain open ignores the sequence (as Windows does)."""
import struct
import uuid

from smbprotocol.exceptions import SMBResponseException
from smbprotocol.ioctl import IOCTLFlags, SMB2IOCTLRequest, SMB2IOCTLResponse
from smbprotocol.open import (CreateDisposition, CreateOptions, FileAttributes,
                              ImpersonationLevel, LockFlags, Open, RequestedOplockLevel,
                              ShareAccess, SMB2LockElement, SMB2LockRequest)

from test_smb_durable import R, W, H, dh2q_ctx, lease_ctx

GENERIC_ALL = 0x10000000
SHARE_ALL = ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE | \
    ShareAccess.FILE_SHARE_DELETE
STATUS_LOCK_NOT_GRANTED = 0xC0000055
STATUS_RANGE_NOT_LOCKED = 0xC000007E
STATUS_INVALID_PARAMETER = 0xC000000D
FSCTL_LMR_REQUEST_RESILIENCY = 0x001401D4
EXCL_NOW = LockFlags.SMB2_LOCKFLAG_EXCLUSIVE_LOCK | LockFlags.SMB2_LOCKFLAG_FAIL_IMMEDIATELY
UNLOCK = LockFlags.SMB2_LOCKFLAG_UNLOCK


def lock(smb_session, f, seq, flags):
    """One LOCK of [100, 200) with a raw LockSequence (smbprotocol's Open.lock
    limits the index to 64 and shifts the number to the top bits)."""
    conn, sess, tree = smb_session
    e = SMB2LockElement()
    e["offset"], e["length"], e["flags"] = 100, 100, flags
    req = SMB2LockRequest()
    req["file_id"] = f.file_id
    req["locks"] = [e]
    req["lock_sequence"] = seq
    try:
        conn.receive(conn.send(req, sid=sess.session_id, tid=tree.tree_connect_id))
    except SMBResponseException as ex:
        return ex.status
    return 0


def resiliency(smb_session, f, data):
    conn, sess, tree = smb_session
    req = SMB2IOCTLRequest()
    req["ctl_code"].enum_strict = False
    req["ctl_code"] = FSCTL_LMR_REQUEST_RESILIENCY
    req["file_id"] = f.file_id
    req["max_output_response"] = 0
    req["flags"] = IOCTLFlags.SMB2_0_IOCTL_IS_FSCTL
    req["buffer"] = data
    try:
        resp = SMB2IOCTLResponse()
        resp["ctl_code"].enum_strict = False
        resp.unpack(conn.receive(conn.send(req, sid=sess.session_id,
                                           tid=tree.tree_connect_id))["data"].get_value())
    except SMBResponseException as ex:
        return ex.status
    return 0


def check_replay(smb_session, f):
    s = smb_session
    # Bucket 0: not checked, the second lock conflicts with the first.
    assert lock(s, f, 0x001, EXCL_NOW) == 0
    assert lock(s, f, 0x001, EXCL_NOW) == STATUS_LOCK_NOT_GRANTED
    assert lock(s, f, 0x001, UNLOCK) == 0
    # Bucket 1: a repeat is a replay, whatever the request now says.
    assert lock(s, f, 0x011, EXCL_NOW) == 0
    assert lock(s, f, 0x011, EXCL_NOW) == 0
    assert lock(s, f, 0x011, UNLOCK) == 0  # replay: still locked
    assert lock(s, f, 0x012, EXCL_NOW) == STATUS_LOCK_NOT_GRANTED
    assert lock(s, f, 0x012, EXCL_NOW) == STATUS_LOCK_NOT_GRANTED  # failed: not recorded
    # Bucket 65: not checked.
    assert lock(s, f, 0x411, UNLOCK) == 0
    assert lock(s, f, 0x411, UNLOCK) == STATUS_RANGE_NOT_LOCKED
    # Bucket 64: unlock recorded, its replay (even as a lock) does nothing.
    assert lock(s, f, 0x411, EXCL_NOW) == 0
    assert lock(s, f, 0x402, UNLOCK) == 0
    assert lock(s, f, 0x402, UNLOCK) == 0
    assert lock(s, f, 0x402, EXCL_NOW) == 0
    assert lock(s, f, 0x403, UNLOCK) == STATUS_RANGE_NOT_LOCKED


def test_replay_detected_on_durable_open(smb_session):
    tree = smb_session[2]
    f = Open(tree, "replay-durable-" + uuid.uuid4().hex[:8])
    f.create(ImpersonationLevel.Impersonation, GENERIC_ALL, FileAttributes.FILE_ATTRIBUTE_NORMAL,
             SHARE_ALL, CreateDisposition.FILE_CREATE, CreateOptions.FILE_NON_DIRECTORY_FILE,
             create_contexts=[lease_ctx(uuid.uuid4().bytes, R | W | H), dh2q_ctx(uuid.uuid4())],
             oplock_level=RequestedOplockLevel.SMB2_OPLOCK_LEVEL_LEASE)
    check_replay(smb_session, f)
    f.close()


def test_plain_open_ignores_sequence_until_resilient(smb_session):
    tree = smb_session[2]
    f = Open(tree, "replay-plain-" + uuid.uuid4().hex[:8])
    f.create(ImpersonationLevel.Impersonation, GENERIC_ALL, FileAttributes.FILE_ATTRIBUTE_NORMAL,
             SHARE_ALL, CreateDisposition.FILE_CREATE, CreateOptions.FILE_NON_DIRECTORY_FILE)
    s = smb_session
    assert lock(s, f, 0x011, EXCL_NOW) == 0
    assert lock(s, f, 0x011, EXCL_NOW) == STATUS_LOCK_NOT_GRANTED, "not checked"
    assert lock(s, f, 0x011, UNLOCK) == 0
    assert resiliency(smb_session, f, b"\0" * 4) == STATUS_INVALID_PARAMETER, "short input"
    assert resiliency(smb_session, f, struct.pack("<II", 600_000, 0)) == \
        STATUS_INVALID_PARAMETER, "timeout above the maximum"
    assert resiliency(smb_session, f, struct.pack("<II", 1000, 0)) == 0
    check_replay(smb_session, f)
    f.close()

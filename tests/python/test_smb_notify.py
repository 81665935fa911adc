"""SMB2 CHANGE_NOTIFY through smbprotocol's FileSystemWatcher (a third-party client):
changes made over SMB by another client (create, rename, delete) and a create made over
NFS (pyNfsClient against the same share) complete a waiting watch; changes made between
two requests are buffered; CLOSE of the watched directory answers STATUS_NOTIFY_CLEANUP;
CANCEL answers STATUS_CANCELLED. Also: an NFS WRITE and SETATTR notify an SMB watcher with
FILE_ACTION_MODIFIED (a burst of writes coalescing into one record); a WATCH_TREE watch sees
a create two levels down with the name relative to it; removing the watched directory
completes its watch with STATUS_DELETE_PENDING."""
import threading
import uuid

import pytest
import pyNfsClient
from smbprotocol.change_notify import (ChangeNotifyFlags, CompletionFilter, FileAction,
                                       FileSystemWatcher)
from smbprotocol.exceptions import SMBResponseException
from smbprotocol.file_info import FileRenameInformation
from smbprotocol.open import (CreateDisposition, CreateOptions, FileAttributes,
                              ImpersonationLevel, Open, ShareAccess, SMB2SetInfoRequest)

from conftest import ROOT_AUTH

GENERIC_ALL = 0x10000000
SHARE_ALL = ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE | \
    ShareAccess.FILE_SHARE_DELETE
NAMES = CompletionFilter.FILE_NOTIFY_CHANGE_FILE_NAME | CompletionFilter.FILE_NOTIFY_CHANGE_DIR_NAME
STATUS_NOTIFY_CLEANUP = 0x0000010B
STATUS_DELETE_PENDING = 0xC0000056
MODS = CompletionFilter.FILE_NOTIFY_CHANGE_SIZE | CompletionFilter.FILE_NOTIFY_CHANGE_LAST_WRITE
WAIT_S = 15


# SYNCHRONIZE | FILE_READ_ATTRIBUTES | FILE_LIST_DIRECTORY
WATCH_ACCESS = 0x00100000 | 0x00000080 | 0x00000001


def open_(tree, name, directory=False, disposition=CreateDisposition.FILE_OPEN_IF, options=0,
          access=GENERIC_ALL):
    f = Open(tree, name)
    opts = CreateOptions.FILE_DIRECTORY_FILE if directory else \
        CreateOptions.FILE_NON_DIRECTORY_FILE
    f.create(ImpersonationLevel.Impersonation, access,
             FileAttributes.FILE_ATTRIBUTE_DIRECTORY if directory else
             FileAttributes.FILE_ATTRIBUTE_NORMAL, SHARE_ALL, disposition, opts | options)
    return f


@pytest.fixture
def watched(smb_session):
    """A fresh directory opened by the test client; yields (tree, dir name, dir open)."""
    tree = smb_session[2]
    name = "nt-" + uuid.uuid4().hex[:8]
    # Opened the way Explorer watches a folder (list + read attributes + synchronize, all
    # sharing, no DELETE access): a handle with DELETE access on the directory would make
    # renames inside it a sharing violation, as on Windows (smb2.rename share tests).
    d = open_(tree, name, directory=True, disposition=CreateDisposition.FILE_CREATE,
              access=WATCH_ACCESS)
    yield tree, name, d
    try:
        d.close()
    except Exception:
        pass


def wait(w):
    t = threading.Thread(target=w.wait, daemon=True)
    t.start()
    t.join(WAIT_S)
    assert not t.is_alive(), "no CHANGE_NOTIFY response"
    return [(a["action"].get_value(), a["file_name"].get_value()) for a in w.result]


def test_create_rename_delete_over_smb(watched):
    tree, dname, d = watched
    w = FileSystemWatcher(d)
    w.start(NAMES)
    f = open_(tree, dname + "\\a.txt", disposition=CreateDisposition.FILE_CREATE)
    f.close()
    assert (FileAction.FILE_ACTION_ADDED, "a.txt") in wait(w)

    w = FileSystemWatcher(d)
    w.start(NAMES)
    f = open_(tree, dname + "\\a.txt", options=CreateOptions.FILE_DELETE_ON_CLOSE)
    f.close()
    assert wait(w) == [(FileAction.FILE_ACTION_REMOVED, "a.txt")]


def rename(f, new_path):
    """SET_INFO FileRenameInformation on an open (path from the share root)."""
    info = FileRenameInformation()
    info["replace_if_exists"] = False
    info["file_name"] = new_path.encode("utf-16-le")
    req = SMB2SetInfoRequest()
    req["info_type"] = info.INFO_TYPE
    req["file_info_class"] = info.INFO_CLASS
    req["file_id"] = f.file_id
    req["buffer"] = info
    sid = f.tree_connect.session.session_id
    r = f.connection.send(req, sid, f.tree_connect.tree_connect_id)
    f.connection.receive(r)


def test_rename_and_buffering(watched):
    tree, dname, d = watched
    f = open_(tree, dname + "\\old", disposition=CreateDisposition.FILE_CREATE)
    w = FileSystemWatcher(d)
    w.start(NAMES)
    rename(f, dname + "\\new")
    f.close()
    assert wait(w) == [(FileAction.FILE_ACTION_RENAMED_OLD_NAME, "old"),
                       (FileAction.FILE_ACTION_RENAMED_NEW_NAME, "new")]
    w = FileSystemWatcher(d)
    w.start(NAMES)
    sub = open_(tree, dname + "\\sub", directory=True, disposition=CreateDisposition.FILE_CREATE)
    sub.close()
    assert wait(w) == [(FileAction.FILE_ACTION_ADDED, "sub")]
    # Two changes with no request outstanding: the next request returns both at once.
    for n in ("b1", "b2"):
        open_(tree, dname + "\\" + n, disposition=CreateDisposition.FILE_CREATE).close()
    w = FileSystemWatcher(d)
    w.start(NAMES)
    assert wait(w) == [(FileAction.FILE_ACTION_ADDED, "b1"), (FileAction.FILE_ACTION_ADDED, "b2")]


def nfs_dir(smb_server, dname):
    """An NFS client on the SMB fixture's server and the handle of share directory `dname`."""
    m = pyNfsClient.Mount(host="127.0.0.1", port=smb_server.port, timeout=15, auth=ROOT_AUTH)
    m.connect()
    try:
        root = m.mnt("/export")["mountinfo"]["fhandle"]
    finally:
        m.disconnect()
    nfs = pyNfsClient.NFSv3(host="127.0.0.1", port=smb_server.port, timeout=15, auth=ROOT_AUTH)
    nfs.connect()
    res = nfs.lookup(root, dname)
    assert res["status"] == pyNfsClient.NFS3_OK, res
    return nfs, res["resok"]["object"]["data"]


def test_create_over_nfs_notifies_smb_watcher(smb_server, watched):
    tree, dname, d = watched
    w = FileSystemWatcher(d)
    w.start(NAMES)
    nfs, dir_fh = nfs_dir(smb_server, dname)
    try:
        res = nfs.create(dir_fh, "from-nfs", pyNfsClient.UNCHECKED, mode=0o644)
        assert res["status"] == pyNfsClient.NFS3_OK, res
    finally:
        nfs.disconnect()
    assert wait(w) == [(FileAction.FILE_ACTION_ADDED, "from-nfs")]


def test_write_over_nfs_notifies_modified(smb_server, watched):
    tree, dname, d = watched
    w = FileSystemWatcher(d)
    w.start(MODS)
    nfs, dir_fh = nfs_dir(smb_server, dname)
    try:
        res = nfs.create(dir_fh, "data", pyNfsClient.UNCHECKED, mode=0o644)
        assert res["status"] == pyNfsClient.NFS3_OK, res
        fh = res["resok"]["obj"]["handle"]["data"]
        # The waiting request completes with the first write.
        res = nfs.write(fh, 0, 4, "abcd", pyNfsClient.UNSTABLE)
        assert res["status"] == pyNfsClient.NFS3_OK, res
        assert wait(w) == [(FileAction.FILE_ACTION_MODIFIED, "data")]
        # A burst nobody collected yet: one record, not one per WRITE.
        for i in range(20):
            res = nfs.write(fh, 4 + 4 * i, 4, "efgh", pyNfsClient.UNSTABLE)
            assert res["status"] == pyNfsClient.NFS3_OK, res
        w = FileSystemWatcher(d)
        w.start(MODS)
        assert wait(w) == [(FileAction.FILE_ACTION_MODIFIED, "data")]
        # Truncation through SETATTR is a size change too.
        w = FileSystemWatcher(d)
        w.start(MODS)
        res = nfs.setattr(fh, size=1)
        assert res["status"] == pyNfsClient.NFS3_OK, res
        assert wait(w) == [(FileAction.FILE_ACTION_MODIFIED, "data")]
    finally:
        nfs.disconnect()


def test_recursive_watch_sees_create_two_levels_down(watched):
    tree, dname, d = watched
    open_(tree, dname + "\\a", directory=True, disposition=CreateDisposition.FILE_CREATE).close()
    open_(tree, dname + "\\a\\b", directory=True,
          disposition=CreateDisposition.FILE_CREATE).close()
    w = FileSystemWatcher(d)
    w.start(NAMES, flags=ChangeNotifyFlags.SMB2_WATCH_TREE)
    open_(tree, dname + "\\a\\b\\deep.txt", disposition=CreateDisposition.FILE_CREATE).close()
    assert wait(w) == [(FileAction.FILE_ACTION_ADDED, "a\\b\\deep.txt")]
    # Without WATCH_TREE the same change is not seen: only the direct child is.
    d2 = open_(tree, dname, directory=True, disposition=CreateDisposition.FILE_OPEN,
               access=WATCH_ACCESS)
    try:
        w = FileSystemWatcher(d2)
        w.start(NAMES)
        open_(tree, dname + "\\a\\b\\deeper.txt",
              disposition=CreateDisposition.FILE_CREATE).close()
        open_(tree, dname + "\\top.txt", disposition=CreateDisposition.FILE_CREATE).close()
        assert wait(w) == [(FileAction.FILE_ACTION_ADDED, "top.txt")]
    finally:
        d2.close()


def test_removing_watched_directory_completes_watch(smb_session):
    tree = smb_session[2]
    name = "nt-" + uuid.uuid4().hex[:8]
    d = open_(tree, name, directory=True, disposition=CreateDisposition.FILE_CREATE,
              access=WATCH_ACCESS)
    try:
        w = FileSystemWatcher(d)
        w.start(NAMES)
        gone = open_(tree, name, directory=True, disposition=CreateDisposition.FILE_OPEN,
                     options=CreateOptions.FILE_DELETE_ON_CLOSE)
        gone.close()
        t = threading.Thread(target=w._t_on_response.join, daemon=True)
        t.start()
        t.join(WAIT_S)
        assert not t.is_alive(), "watch of a removed directory never completed"
        with pytest.raises(SMBResponseException) as e:
            w.result  # noqa: B018 (raises the server's status)
        assert e.value.status == STATUS_DELETE_PENDING
    finally:
        d.close()


def test_close_completes_with_cleanup(smb_session):
    tree = smb_session[2]
    name = "nt-" + uuid.uuid4().hex[:8]
    d = open_(tree, name, directory=True, disposition=CreateDisposition.FILE_CREATE)
    w = FileSystemWatcher(d)
    w.start(NAMES)
    d.close()
    t = threading.Thread(target=w._t_on_response.join, daemon=True)
    t.start()
    t.join(WAIT_S)
    assert not t.is_alive()
    with pytest.raises(SMBResponseException) as e:
        w.result  # noqa: B018 (raises the server's status)
    assert e.value.status == STATUS_NOTIFY_CLEANUP


def test_cancel(watched):
    tree, dname, d = watched
    w = FileSystemWatcher(d)
    w.start(NAMES)
    import time
    deadline = time.monotonic() + WAIT_S
    while w._request.async_id is None and time.monotonic() < deadline:
        time.sleep(0.02)
    w.cancel()
    t = threading.Thread(target=w.wait, daemon=True)
    t.start()
    t.join(WAIT_S)
    assert not t.is_alive()
    assert w.cancelled


def test_cancelled_watch_answers_encrypted_when_the_client_encrypts(smb_server):
    """smbtorture smb2.session.encryption-*: a client that encrypts its requests on a
    session the server does not require encryption on gets the async final of a
    cancelled CHANGE_NOTIFY encrypted too (Samba's client refuses a plain one)."""
    import struct
    import time
    from smbprotocol.connection import Connection
    from smbprotocol.session import Session
    from smbprotocol.tree import TreeConnect
    from conftest import SMB_PASSWORD, SMB_USER
    status_cancelled = 0xC0000120
    conn = Connection(uuid.uuid4(), "127.0.0.1", smb_server.smb_port, require_signing=True)
    conn.connect(timeout=15)
    try:
        sess = Session(conn, SMB_USER, SMB_PASSWORD, require_encryption=True)
        sess.connect()
        tree = TreeConnect(sess, r"\\127.0.0.1\export")
        tree.connect()
        decrypted = []
        plain = conn._decrypt

        def spy(msg):
            b = plain(msg)
            decrypted.append(struct.unpack_from("<I", b, 8)[0])  # header Status
            return b
        conn._decrypt = spy
        d = open_(tree, "nt-enc-" + uuid.uuid4().hex[:8], directory=True,
                  disposition=CreateDisposition.FILE_CREATE, access=WATCH_ACCESS)
        w = FileSystemWatcher(d)
        w.start(NAMES)
        deadline = time.monotonic() + WAIT_S
        while w._request.async_id is None and time.monotonic() < deadline:
            time.sleep(0.02)
        w.cancel()
        t = threading.Thread(target=w.wait, daemon=True)
        t.start()
        t.join(WAIT_S)
        assert not t.is_alive()
        assert w.cancelled
        assert status_cancelled in decrypted, [hex(s) for s in decrypted]
        d.close()
    finally:
        conn.disconnect(True)

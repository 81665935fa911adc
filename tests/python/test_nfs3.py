"""NFSv3 / MOUNT v3 / portmap protocol tests against the real dittofs binary.

Success paths go through pyNfsClient (PyPI), a client we did not write; the error paths it
cannot express (RPC accept/reject status, garbage handles, binary cookie verifiers, broken
record marks) go through tests/python/rpc_client.py.

Behaviours asserted beyond RFC 1813's MUSTs (the server's contract, see the report):
REMOVE of a directory -> NFS3ERR_ISDIR; READ of a directory -> NFS3ERR_ISDIR; READLINK of a
non-symlink -> NFS3ERR_INVAL; RENAME of a directory into its own subtree -> NFS3ERR_INVAL;
a forged handle naming no inode -> NFS3ERR_STALE; a handle that does not parse ->
NFS3ERR_BADHANDLE; a garbage RPC record or an oversized record mark closes that connection.
"""
import os
import socket
import struct

import pytest
from pyNfsClient import (Mount, NFSv3, Portmap, MNT3_OK, MNT3ERR_NOENT, NFS3_OK, NFS3ERR_ACCES,
                         NFS3ERR_BADHANDLE, NFS3ERR_EXIST, NFS3ERR_INVAL, NFS3ERR_ISDIR,
                         NFS3ERR_NOENT, NFS3ERR_NOT_SYNC, NFS3ERR_NOTDIR, NFS3ERR_NOTEMPTY,
                         NFS3ERR_STALE, NF3REG, NF3DIR, NF3CHR, NF3LNK, NF3FIFO, ACCESS3_READ,
                         ACCESS3_LOOKUP, ACCESS3_MODIFY, ACCESS3_EXTEND, ACCESS3_DELETE,
                         ACCESS3_EXECUTE, UNSTABLE, DATA_SYNC, FILE_SYNC, UNCHECKED, GUARDED,
                         EXCLUSIVE, SET_TO_CLIENT_TIME)
from pyNfsClient.rtypes import nfstime3

import rpc_client as rc
from conftest import ROOT_AUTH, auth

NFS3ERR_PERM = 1
NFS3ERR_BAD_COOKIE = 10003
NFS3ERR_BADTYPE = 10007
ALL_ACCESS = (ACCESS3_READ | ACCESS3_LOOKUP | ACCESS3_MODIFY | ACCESS3_EXTEND | ACCESS3_DELETE
              | ACCESS3_EXECUTE)
USER = auth(4242, 4242)  # an unprivileged AUTH_SYS identity


def ok(res):
    assert res["status"] == NFS3_OK, res
    return res.get("resok", res)


def new_handle(res):
    """File handle out of a CREATE/MKDIR/SYMLINK/MKNOD result."""
    r = ok(res)
    assert r["obj"]["present"], r
    return r["obj"]["handle"]["data"]


def write(nfs, h, offset, data, stable, auth=None):
    """WRITE through pyNfsClient. It sends str(content).encode(), so only ASCII data
    arrives intact: callers pass ASCII bytes."""
    text = data.decode("ascii")
    return nfs.write(h, offset, len(data), text, stable, auth=auth)


def create(nfs, d, name, mode=0o644, how=UNCHECKED):
    return new_handle(nfs.create(d, name, how, mode=mode))


def getattr_(nfs, h):
    res = nfs.getattr(h)
    assert res["status"] == NFS3_OK, res
    return res["attributes"]


def lookup(nfs, d, name):
    res = nfs.lookup(d, name)
    return res["status"], (res["resok"]["object"]["data"] if res["status"] == NFS3_OK else None)


def listdir_raw(raw, d, plus=False):
    """All names of a directory, paging with cookies and the cookie verifier."""
    cookie, verf, names, pages = 0, b"\0" * 8, [], 0
    while True:
        if plus:
            st, verf, ents, eof = rc.readdirplus_page(raw, d, cookie, verf, 1024, 4096)
        else:
            st, verf, ents, eof = rc.readdir_page(raw, d, cookie, verf, 1024)
        assert st == NFS3_OK, st
        pages += 1
        assert ents or eof, "a page with no entries and no eof"
        for e in ents:
            names.append(e[1])
            if plus and e[1] not in (".", ".."):
                assert e[3] is not None and e[4], "READDIRPLUS entry %s lacks attrs/handle" % e[1]
        if eof:
            return names, pages
        cookie = ents[-1][2]
        assert pages < 10000


# --- NULL, GETATTR, SETATTR ---

def test_null(nfs, raw):
    assert nfs.null()["status"] == 0
    r = raw.call(rc.NFS_PROG, 3, rc.NULL)
    assert (r.reply_stat, r.accept_stat, r.body) == (rc.MSG_ACCEPTED, rc.SUCCESS, b"")


def test_getattr_root(nfs, root_fh):
    a = getattr_(nfs, root_fh)
    assert a["type"] == NF3DIR
    assert a["mode"] & 0o7777 == 0o777
    assert a["nlink"] >= 2


def test_setattr_mode_size_times(nfs, workdir):
    h = create(nfs, workdir, "f")
    ok(write(nfs, h, 0, b"x" * 100, FILE_SYNC))
    ok(nfs.setattr(h, mode=0o640, size=10, atime_flag=SET_TO_CLIENT_TIME, atime_s=1000000000,
                   atime_us=5, mtime_flag=SET_TO_CLIENT_TIME, mtime_s=1200000000, mtime_us=7))
    a = getattr_(nfs, h)
    assert a["mode"] & 0o7777 == 0o640
    assert a["size"] == 10
    assert (a["atime"]["seconds"], a["atime"]["nseconds"]) == (1000000000, 5)
    assert (a["mtime"]["seconds"], a["mtime"]["nseconds"]) == (1200000000, 7)
    assert ok(nfs.read(h, 0, 100))["data"] == b"x" * 10
    ok(nfs.setattr(h, uid=4242, gid=4243))
    a = getattr_(nfs, h)
    assert (a["uid"], a["gid"]) == (4242, 4243)


def test_setattr_guard(nfs, workdir):
    h = create(nfs, workdir, "g")
    ct = getattr_(nfs, h)["ctime"]
    good = nfstime3(ct["seconds"], ct["nseconds"])
    bad = nfstime3(ct["seconds"] - 1 if ct["seconds"] else 1, ct["nseconds"])
    res = nfs.setattr(h, mode=0o600, check=True, obj_ctime=bad)
    assert res["status"] == NFS3ERR_NOT_SYNC, res
    assert getattr_(nfs, h)["mode"] & 0o7777 == 0o644
    ok(nfs.setattr(h, mode=0o600, check=True, obj_ctime=good))
    assert getattr_(nfs, h)["mode"] & 0o7777 == 0o600


# --- LOOKUP, ACCESS, READLINK ---

def test_lookup(nfs, workdir):
    h = create(nfs, workdir, "here")
    st, lh = lookup(nfs, workdir, "here")
    assert st == NFS3_OK and lh == h
    assert lookup(nfs, workdir, "missing")[0] == NFS3ERR_NOENT
    st, dot = lookup(nfs, workdir, ".")
    assert st == NFS3_OK and getattr_(nfs, dot)["fileid"] == getattr_(nfs, workdir)["fileid"]
    assert lookup(nfs, h, "x")[0] == NFS3ERR_NOTDIR


def test_access(nfs, workdir):
    h = create(nfs, workdir, "private", mode=0o600)
    rw = ACCESS3_READ | ACCESS3_MODIFY
    assert ok(nfs.access(h, ALL_ACCESS))["access"] & rw == rw
    granted = ok(nfs.access(h, rw, auth=USER))["access"]
    assert granted & rw == 0, granted
    d = ok(nfs.access(workdir, ACCESS3_LOOKUP | ACCESS3_MODIFY, auth=USER))["access"]
    assert d & ACCESS3_LOOKUP, d  # workdir is 0777


def test_readlink(nfs, workdir):
    s = new_handle(nfs.symlink(workdir, "ln", "some/where/../target"))
    assert getattr_(nfs, s)["type"] == NF3LNK
    assert ok(nfs.readlink(s))["data"] == b"some/where/../target"
    f = create(nfs, workdir, "plain")
    assert nfs.readlink(f)["status"] == NFS3ERR_INVAL


# --- READ, WRITE, COMMIT ---

def test_write_read_all_stabilities(nfs, workdir):
    h = create(nfs, workdir, "data")
    verfs = set()
    blob = os.urandom(3 * 65536 // 2).hex().encode()  # ASCII: see write()
    for i, stable in enumerate((UNSTABLE, DATA_SYNC, FILE_SYNC)):
        chunk = blob[i * 65536:(i + 1) * 65536]
        r = ok(write(nfs, h, i * 65536, chunk, stable))
        assert r["count"] == len(chunk)
        assert r["committed"] >= stable, r  # the server may commit more than asked
        verfs.add(r["verf"])
    verfs.add(ok(nfs.commit(h, 0, 0))["verf"])
    assert len(verfs) == 1, "write verifier changed within one server run: %r" % verfs
    assert getattr_(nfs, h)["size"] == len(blob)
    got, off = b"", 0
    while True:
        r = ok(nfs.read(h, off, 65536))
        assert r["count"] == len(r["data"])
        got += r["data"]
        off += r["count"]
        if r["eof"]:
            break
        assert r["count"] > 0
    assert got == blob
    r = ok(nfs.read(h, len(blob) + 10, 100))
    assert r["count"] == 0 and r["eof"]


def test_write_verifier_stable_across_connections(server, nfs, workdir):
    h = create(nfs, workdir, "v")
    v1 = ok(write(nfs, h, 0, b"abc", UNSTABLE))["verf"]
    other = NFSv3(host="127.0.0.1", port=server.port, timeout=15, auth=ROOT_AUTH)
    other.connect()
    try:
        v2 = ok(write(other, h, 3, b"def", UNSTABLE))["verf"]
        v3 = ok(other.commit(h, 0, 0))["verf"]
    finally:
        other.disconnect()
    assert v1 == v2 == v3
    assert ok(nfs.read(h, 0, 10))["data"] == b"abcdef"


def test_read_of_directory_is_isdir(nfs, workdir):
    assert nfs.read(workdir, 0, 10)["status"] == NFS3ERR_ISDIR


# --- CREATE ---

def test_create_modes(nfs, workdir):
    h = create(nfs, workdir, "u", how=UNCHECKED)
    ok(write(nfs, h, 0, b"hello", FILE_SYNC))
    h2 = create(nfs, workdir, "u", how=UNCHECKED)  # UNCHECKED on an existing file: ok
    assert getattr_(nfs, h2)["fileid"] == getattr_(nfs, h)["fileid"]
    assert nfs.create(workdir, "u", GUARDED, mode=0o644)["status"] == NFS3ERR_EXIST
    create(nfs, workdir, "g", how=GUARDED)
    a = getattr_(nfs, create(nfs, workdir, "m", mode=0o604))
    assert a["type"] == NF3REG and a["mode"] & 0o7777 == 0o604 and a["size"] == 0


def test_create_exclusive_retransmit(nfs, workdir):
    verf = b"ABCDEFGH"
    h1 = new_handle(nfs.create(workdir, "x", EXCLUSIVE, verf=verf))
    h2 = new_handle(nfs.create(workdir, "x", EXCLUSIVE, verf=verf))  # a retransmission
    assert getattr_(nfs, h1)["fileid"] == getattr_(nfs, h2)["fileid"]
    assert nfs.create(workdir, "x", EXCLUSIVE, verf=b"12345678")["status"] == NFS3ERR_EXIST
    # after EXCLUSIVE the client sets the attributes with SETATTR
    ok(nfs.setattr(h1, mode=0o640))
    assert getattr_(nfs, h1)["mode"] & 0o7777 == 0o640


# --- MKDIR, SYMLINK, MKNOD ---

def test_mkdir(nfs, workdir):
    d = new_handle(nfs.mkdir(workdir, "sub", mode=0o750))
    a = getattr_(nfs, d)
    assert a["type"] == NF3DIR and a["mode"] & 0o7777 == 0o750
    assert nfs.mkdir(workdir, "sub", mode=0o750)["status"] == NFS3ERR_EXIST
    assert getattr_(nfs, workdir)["nlink"] == 3


def test_symlink_exists(nfs, workdir):
    new_handle(nfs.symlink(workdir, "l", "t"))
    assert nfs.symlink(workdir, "l", "t2")["status"] == NFS3ERR_EXIST


def test_mknod(nfs, raw, workdir):
    f = new_handle(nfs.mknod(workdir, "fifo", NF3FIFO, mode=0o644))
    assert getattr_(nfs, f)["type"] == NF3FIFO
    c = new_handle(nfs.mknod(workdir, "chr", NF3CHR, mode=0o600, spec_major=1, spec_minor=3))
    a = getattr_(nfs, c)
    assert a["type"] == NF3CHR and (a["rdev"]["major"], a["rdev"]["minor"]) == (1, 3)
    # a device node needs privilege
    st = nfs.mknod(workdir, "chr2", NF3CHR, mode=0o600, spec_major=1, spec_minor=3,
                   auth=USER)["status"]
    assert st in (NFS3ERR_PERM, NFS3ERR_ACCES), st
    # MKNOD of a regular file is NFS3ERR_BADTYPE (pyNfsClient refuses to send it)
    args = rc.diropargs(workdir, "reg") + struct.pack(">I", NF3REG)
    assert raw.nfs(rc.MKNOD, args)[0] == NFS3ERR_BADTYPE


# --- REMOVE, RMDIR ---

def test_remove(nfs, workdir):
    h = create(nfs, workdir, "gone")
    ok(nfs.remove(workdir, "gone"))
    assert lookup(nfs, workdir, "gone")[0] == NFS3ERR_NOENT
    assert nfs.remove(workdir, "gone")["status"] == NFS3ERR_NOENT
    new_handle(nfs.mkdir(workdir, "adir", mode=0o755))
    assert nfs.remove(workdir, "adir")["status"] == NFS3ERR_ISDIR
    # the removed file's handle is now stale
    assert nfs.getattr(h)["status"] == NFS3ERR_STALE


def test_rmdir(nfs, workdir):
    d = new_handle(nfs.mkdir(workdir, "full", mode=0o755))
    create(nfs, d, "child")
    assert nfs.rmdir(workdir, "full")["status"] == NFS3ERR_NOTEMPTY
    create(nfs, workdir, "file")
    assert nfs.rmdir(workdir, "file")["status"] == NFS3ERR_NOTDIR
    assert nfs.rmdir(workdir, "nothing")["status"] == NFS3ERR_NOENT
    ok(nfs.remove(d, "child"))
    ok(nfs.rmdir(workdir, "full"))
    assert lookup(nfs, workdir, "full")[0] == NFS3ERR_NOENT


# --- RENAME, LINK ---

def test_rename(nfs, workdir):
    a = create(nfs, workdir, "a")
    ok(write(nfs, a, 0, b"A", FILE_SYNC))
    b = create(nfs, workdir, "b")
    ok(nfs.rename(workdir, "a", workdir, "b"))  # over an existing file
    assert lookup(nfs, workdir, "a")[0] == NFS3ERR_NOENT
    st, nb = lookup(nfs, workdir, "b")
    assert st == NFS3_OK and getattr_(nfs, nb)["fileid"] == getattr_(nfs, a)["fileid"]
    assert nfs.getattr(b)["status"] == NFS3ERR_STALE  # the replaced file is gone
    d1 = new_handle(nfs.mkdir(workdir, "d1", mode=0o755))
    d2 = new_handle(nfs.mkdir(workdir, "d2", mode=0o755))
    ok(nfs.rename(workdir, "b", d1, "moved"))  # across directories
    assert lookup(nfs, d1, "moved")[0] == NFS3_OK
    ok(nfs.rename(workdir, "d2", d1, "d2"))
    assert getattr_(nfs, workdir)["nlink"] == 3  # only d1 is left in workdir
    st = nfs.rename(workdir, "d1", d2, "inside")["status"]  # into its own subtree
    assert st == NFS3ERR_INVAL, st
    assert nfs.rename(workdir, "nope", workdir, "x")["status"] == NFS3ERR_NOENT


def test_link(nfs, workdir):
    h = create(nfs, workdir, "orig")
    ok(nfs.link(h, workdir, "alias"))
    assert getattr_(nfs, h)["nlink"] == 2
    st, lh = lookup(nfs, workdir, "alias")
    assert getattr_(nfs, lh)["fileid"] == getattr_(nfs, h)["fileid"]
    assert nfs.link(h, workdir, "alias")["status"] == NFS3ERR_EXIST
    ok(nfs.remove(workdir, "orig"))
    assert getattr_(nfs, lh)["nlink"] == 1


# --- READDIR, READDIRPLUS ---

def test_readdir_paging_over_1000_entries(nfs, raw, workdir):
    names = {"e%05d-%s" % (i, "x" * (i % 40)) for i in range(1050)}
    for n in names:
        create(nfs, workdir, n)
    for plus in (False, True):
        got, pages = listdir_raw(raw, workdir, plus)
        real = [n for n in got if n not in (".", "..")]
        assert len(real) == len(set(real)), "duplicate entries (plus=%s)" % plus
        assert set(real) == names, "plus=%s: missing %d, extra %d" % (
            plus, len(names - set(real)), len(set(real) - names))
        assert pages > 3, "expected several pages with small counts, got %d" % pages
    # the third-party client's first page agrees (pyNfsClient sends the verifier as text,
    # so it can only ask for the first page)
    r = ok(nfs.readdirplus(workdir, 0, "\0" * 8, 4096, 32768))
    first, e = [], r["reply"]["entries"]
    while e:
        first.append(e[0]["name"].decode())
        e = e[0]["nextentry"]
    assert first and set(first) - {".", ".."} <= names


def test_readdir_cookie_verifier(raw, nfs, workdir):
    for i in range(300):
        create(nfs, workdir, "f%03d" % i)
    st, verf, ents, eof = rc.readdir_page(raw, workdir, 0, b"\0" * 8, 1024)
    assert st == NFS3_OK and not eof
    # the verifier the server gave must be accepted with the cookie it gave
    st2, _, ents2, _ = rc.readdir_page(raw, workdir, ents[-1][2], verf, 1024)
    assert st2 == NFS3_OK and ents2
    if verf != b"\0" * 8:  # a server that uses verifiers must check them
        bad = bytes(b ^ 0xFF for b in verf)
        st3 = rc.readdir_page(raw, workdir, ents[-1][2], bad, 1024)[0]
        assert st3 == NFS3ERR_BAD_COOKIE, st3


def test_readdir_of_file_is_notdir(raw, nfs, workdir):
    h = create(nfs, workdir, "f")
    assert rc.readdir_page(raw, h, 0, b"\0" * 8)[0] == NFS3ERR_NOTDIR


# --- FSSTAT, FSINFO, PATHCONF ---

def test_fsstat_fsinfo_pathconf(nfs, root_fh):
    s = ok(nfs.fsstat(root_fh))
    assert s["tbytes"] >= s["fbytes"] >= s["abytes"]
    assert s["tfiles"] >= s["ffiles"] >= s["afiles"]
    i = ok(nfs.fsinfo(root_fh))
    assert i["rtmax"] >= 32768 and i["wtmax"] >= 32768
    assert 0 < i["rtpref"] <= i["rtmax"] and 0 < i["wtpref"] <= i["wtmax"]
    assert i["maxfilesize"] >= 1 << 40
    assert i["dtpref"] > 0
    p = ok(nfs.pathconf(root_fh))
    assert p["name_max"] >= 255 and p["no_trunc"]


# --- handles ---

def forge_stale(h):
    """A handle of the same layout naming an inode that does not exist: the inode id field
    (bytes 5..12 of the v1 layout: version u8, share u32, inode u64, generation u64) set to a
    huge number; for an unknown layout, the middle eight bytes."""
    b = bytearray(h)
    start = 5 if (len(b) == 21 and b[0] == 1) else max(0, len(b) // 2 - 4)
    b[start:start + 8] = struct.pack(">Q", 0x7FFF_FFFF_FFFF_FF00)
    return bytes(b)


def test_stale_handle(nfs, raw, workdir):
    h = create(nfs, workdir, "s")
    assert raw.nfs(rc.GETATTR, rc.fh(forge_stale(h)))[0] == NFS3ERR_STALE
    assert raw.nfs(rc.LOOKUP, rc.diropargs(forge_stale(workdir), "x"))[0] == NFS3ERR_STALE


def test_garbage_handle(raw):
    for bad in (b"", b"\xff" * 7, b"\xee" * 64):
        st = raw.nfs(rc.GETATTR, rc.fh(bad))[0]
        assert st == NFS3ERR_BADHANDLE, (bad, st)


def test_permission_denied_for_unprivileged_user(nfs, workdir):
    d = new_handle(nfs.mkdir(workdir, "rootonly", mode=0o755))
    assert nfs.create(d, "nope", UNCHECKED, mode=0o644, auth=USER)["status"] == NFS3ERR_ACCES
    assert nfs.mkdir(d, "nope", mode=0o755, auth=USER)["status"] == NFS3ERR_ACCES
    f = create(nfs, workdir, "secret", mode=0o600)
    ok(write(nfs, f, 0, b"secret", FILE_SYNC))
    assert nfs.read(f, 0, 10, auth=USER)["status"] == NFS3ERR_ACCES
    assert write(nfs, f, 0, b"x", FILE_SYNC, auth=USER)["status"] == NFS3ERR_ACCES
    st = nfs.setattr(f, mode=0o666, auth=USER)["status"]
    assert st in (NFS3ERR_PERM, NFS3ERR_ACCES), st
    # once the user owns it, it may
    ok(nfs.setattr(f, uid=4242, gid=4242))
    assert ok(nfs.read(f, 0, 10, auth=USER))["data"] == b"secret"


# --- MOUNT ---

def test_mount_protocol(server):
    m = Mount(host="127.0.0.1", port=server.mount_port, timeout=15, auth=ROOT_AUTH)
    m.connect()
    try:
        res = m.mnt("/export")
        assert res["status"] == MNT3_OK and res["mountinfo"]["fhandle"]
        assert 1 in res["mountinfo"]["auth_flavors"]  # AUTH_SYS
        assert m.mnt("/nope")["status"] == MNT3ERR_NOENT
        exports = m.export()
        dirs = []
        while exports:
            dirs.append(exports[0].ex_dir)
            exports = exports[0].ex_next
        assert b"/export" in dirs or "/export" in dirs, dirs
    finally:
        m.disconnect()
    # raw: NULL, MNT, DUMP, UMNT, UMNTALL all accepted and well formed
    with rc.RpcClient("127.0.0.1", server.mount_port) as raw:
        check_mount_raw(raw)


def check_mount_raw(raw):
    assert raw.call(rc.MOUNT_PROG, 3, 0).accept_stat == rc.SUCCESS
    st, fh, _ = raw.mnt("/export")
    assert st == 0 and fh
    assert raw.mnt("/nope")[0] == MNT3ERR_NOENT
    u = raw.mount(2)  # DUMP: a mountlist
    while u.bool():
        u.opaque()
        u.opaque()
    assert u.done()
    assert raw.mount(3, rc.Packer().string("/export").bytes()).done()  # UMNT: void
    assert raw.mount(4).done()  # UMNTALL: void


# --- portmap and RPC dispatch ---

def test_portmap_getport(server, raw):
    pm = Portmap("127.0.0.1", timeout=15)
    pm.port = server.port
    pm.connect()
    try:
        assert pm.getport(100003, 3) == server.port
        assert pm.getport(100005, 3) == server.port
        assert pm.getport(100099, 1) == 0  # not registered
    finally:
        pm.disconnect()
    assert raw.call(rc.PMAP_PROG, 2, 0).accept_stat == rc.SUCCESS


def test_unknown_program_version_procedure(raw):
    r = raw.call(200999, 1, 0)
    assert (r.reply_stat, r.accept_stat) == (rc.MSG_ACCEPTED, rc.PROG_UNAVAIL), r
    r = raw.call(rc.NFS_PROG, 2, 0)
    assert (r.reply_stat, r.accept_stat) == (rc.MSG_ACCEPTED, rc.PROG_MISMATCH), r
    assert r.mismatch == (3, 3), r.mismatch
    r = raw.call(rc.NFS_PROG, 3, 99)
    assert (r.reply_stat, r.accept_stat) == (rc.MSG_ACCEPTED, rc.PROC_UNAVAIL), r
    r = raw.call(rc.NFS_PROG, 3, rc.GETATTR, b"\0\0")  # truncated arguments
    assert (r.reply_stat, r.accept_stat) == (rc.MSG_ACCEPTED, rc.GARBAGE_ARGS), r
    r = raw.call(rc.NFS_PROG, 3, 0, rpcvers=3)
    assert (r.reply_stat, r.reject_stat) == (rc.MSG_DENIED, rc.RPC_MISMATCH), r
    assert r.mismatch == (2, 2)
    # the connection still works after all that
    assert raw.call(rc.NFS_PROG, 3, 0).accept_stat == rc.SUCCESS


# --- robustness: a broken connection does not disturb the others ---

def assert_closed(sock, timeout=10):
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except socket.timeout:
        pytest.fail("the server kept the connection open %ss after a bad record" % timeout)


@pytest.mark.parametrize("bad", [
    struct.pack(">I", 0x80000008) + b"\xde\xad\xbe\xef" * 2,  # a record too short for a call
    struct.pack(">I", 0x7FFFFFFF) + b"\0" * 64,  # oversized record mark, not last fragment
    struct.pack(">I", 0xFFFFFFFF) + b"\0" * 64,  # oversized last fragment
], ids=["garbage-record", "oversized-fragment", "oversized-last-fragment"])
def test_bad_record_closes_only_that_connection(server, bad):
    good = rc.RpcClient("127.0.0.1", server.port)
    evil = rc.RpcClient("127.0.0.1", server.port)
    try:
        assert good.call(rc.NFS_PROG, 3, 0).accept_stat == rc.SUCCESS
        evil.send_raw(bad)
        assert_closed(evil.sock)
        assert good.call(rc.NFS_PROG, 3, 0).accept_stat == rc.SUCCESS
        with rc.RpcClient("127.0.0.1", server.port) as fresh:
            assert fresh.call(rc.NFS_PROG, 3, 0).accept_stat == rc.SUCCESS
        assert server.alive()
    finally:
        good.close()
        evil.close()


def test_mount_is_served_on_the_nfs_port(server, raw):
    """dittofs serves MOUNT (and portmap) on the NFS port itself."""
    st, fh, flavors = raw.mnt("/export")
    assert st == 0 and fh and 1 in flavors

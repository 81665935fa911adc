"""A small raw ONC RPC (RFC 5531) / XDR (RFC 4506) client over TCP, for the protocol tests'
error paths that pyNfsClient cannot express (it hides reply/accept status, garbage handles,
binary cookie verifiers, malformed records). Everything here is bounded by socket timeouts.
"""
import itertools
import os
import socket
import struct
import time

# RPC constants
CALL, REPLY = 0, 1
MSG_ACCEPTED, MSG_DENIED = 0, 1
SUCCESS, PROG_UNAVAIL, PROG_MISMATCH, PROC_UNAVAIL, GARBAGE_ARGS, SYSTEM_ERR = 0, 1, 2, 3, 4, 5
RPC_MISMATCH, AUTH_ERROR = 0, 1
AUTH_NONE, AUTH_SYS = 0, 1

PMAP_PROG, NFS_PROG, MOUNT_PROG = 100000, 100003, 100005

# NFSv3 procedures
(NULL, GETATTR, SETATTR, LOOKUP, ACCESS, READLINK, READ, WRITE, CREATE, MKDIR, SYMLINK, MKNOD,
 REMOVE, RMDIR, RENAME, LINK, READDIR, READDIRPLUS, FSSTAT, FSINFO, PATHCONF, COMMIT) = range(22)

_xids = itertools.count((int(time.time() * 1000) ^ os.getpid()) & 0x3FFFFFFF)


class RpcError(Exception):
    pass


class Packer:
    def __init__(self):
        self.parts = []

    def u32(self, v):
        self.parts.append(struct.pack(">I", v & 0xFFFFFFFF))
        return self

    def u64(self, v):
        self.parts.append(struct.pack(">Q", v))
        return self

    def fopaque(self, b):
        self.parts.append(bytes(b) + b"\0" * (-len(b) % 4))
        return self

    def opaque(self, b):
        b = b.encode() if isinstance(b, str) else bytes(b)
        return self.u32(len(b)).fopaque(b)

    string = opaque

    def raw(self, b):
        self.parts.append(bytes(b))
        return self

    def bytes(self):
        return b"".join(self.parts)


class Unpacker:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def u32(self):
        if self.pos + 4 > len(self.data):
            raise RpcError("short reply at %d of %d" % (self.pos, len(self.data)))
        (v,) = struct.unpack_from(">I", self.data, self.pos)
        self.pos += 4
        return v

    def u64(self):
        return (self.u32() << 32) | self.u32()

    def bool(self):
        return self.u32() != 0

    def fopaque(self, n):
        if self.pos + n > len(self.data):
            raise RpcError("short opaque")
        v = self.data[self.pos:self.pos + n]
        self.pos += n + (-n % 4)
        return v

    def opaque(self):
        return self.fopaque(self.u32())

    def done(self):
        return self.pos >= len(self.data)

    def rest(self):
        return self.data[self.pos:]


def auth_sys(uid=0, gid=0, gids=(), machine="dittofs-test"):
    body = (Packer().u32(int(time.time())).string(machine).u32(uid).u32(gid)
            .u32(len(gids)))
    for g in gids:
        body.u32(g)
    return (AUTH_SYS, body.bytes())


AUTH_ROOT = auth_sys(0, 0)


class Reply:
    """A decoded RPC reply: reply_stat, accept_stat (accepted) or reject_stat (denied),
    mismatch (low, high) for PROG_MISMATCH / RPC_MISMATCH, and body (the results)."""

    def __init__(self, xid, reply_stat, accept_stat=None, reject_stat=None, mismatch=None,
                 body=b""):
        self.xid, self.reply_stat, self.accept_stat = xid, reply_stat, accept_stat
        self.reject_stat, self.mismatch, self.body = reject_stat, mismatch, body

    def unpacker(self):
        return Unpacker(self.body)

    def __repr__(self):
        return "Reply(reply_stat=%s accept_stat=%s reject_stat=%s mismatch=%s body=%d bytes)" % (
            self.reply_stat, self.accept_stat, self.reject_stat, self.mismatch, len(self.body))


class RpcClient:
    def __init__(self, host, port, timeout=15.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def _recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("connection closed by the server")
            buf += chunk
        return bytes(buf)

    def recv_record(self):
        data = bytearray()
        while True:
            (mark,) = struct.unpack(">I", self._recv_exact(4))
            data += self._recv_exact(mark & 0x7FFFFFFF)
            if mark & 0x80000000:
                return bytes(data)

    def call(self, prog, vers, proc, args=b"", cred=AUTH_ROOT, rpcvers=2, xid=None):
        xid = next(_xids) if xid is None else xid
        msg = (Packer().u32(xid).u32(CALL).u32(rpcvers).u32(prog).u32(vers).u32(proc)
               .u32(cred[0]).opaque(cred[1]).u32(AUTH_NONE).opaque(b"").raw(args).bytes())
        self.send_raw(struct.pack(">I", 0x80000000 | len(msg)) + msg)
        while True:
            rec = self.recv_record()
            u = Unpacker(rec)
            rxid = u.u32()
            if rxid != xid:
                continue  # a reply to an earlier call on this connection
            if u.u32() != REPLY:
                raise RpcError("not a reply")
            return self._decode_reply(xid, u)

    @staticmethod
    def _decode_reply(xid, u):
        reply_stat = u.u32()
        if reply_stat == MSG_ACCEPTED:
            u.u32()
            u.opaque()  # verifier
            accept_stat = u.u32()
            mismatch = (u.u32(), u.u32()) if accept_stat == PROG_MISMATCH else None
            return Reply(xid, reply_stat, accept_stat=accept_stat, mismatch=mismatch, body=u.rest())
        if reply_stat == MSG_DENIED:
            reject_stat = u.u32()
            mismatch = (u.u32(), u.u32()) if reject_stat == RPC_MISMATCH else None
            if reject_stat == AUTH_ERROR:
                mismatch = (u.u32(),)  # auth_stat
            return Reply(xid, reply_stat, reject_stat=reject_stat, mismatch=mismatch)
        raise RpcError("bad reply_stat %d" % reply_stat)

    def nfs(self, proc, args=b"", cred=AUTH_ROOT):
        """NFSv3 call that must be accepted; returns an Unpacker positioned after the status,
        and the nfsstat3."""
        r = self.call(NFS_PROG, 3, proc, args, cred)
        if r.reply_stat != MSG_ACCEPTED or r.accept_stat != SUCCESS:
            raise RpcError("NFS proc %d not accepted: %r" % (proc, r))
        u = r.unpacker()
        if proc == NULL:
            return 0, u
        return u.u32(), u

    def mount(self, proc, args=b"", cred=AUTH_ROOT):
        r = self.call(MOUNT_PROG, 3, proc, args, cred)
        if r.reply_stat != MSG_ACCEPTED or r.accept_stat != SUCCESS:
            raise RpcError("MOUNT proc %d not accepted: %r" % (proc, r))
        return r.unpacker()

    def mnt(self, path="/export"):
        u = self.mount(1, Packer().string(path).bytes())
        st = u.u32()
        if st != 0:
            return st, None, []
        fh = u.opaque()
        flavors = [u.u32() for _ in range(u.u32())]
        return st, fh, flavors


# --- XDR pieces of NFSv3 arguments and results ---

def fh(h):
    return Packer().opaque(h).bytes()


def diropargs(dir_fh, name):
    return Packer().opaque(dir_fh).string(name).bytes()


SATTR_NONE = b"\0\0\0\0" * 6  # no mode/uid/gid/size, atime and mtime DONT_CHANGE


def sattr(mode=None):
    p = Packer()
    if mode is None:
        p.u32(0)
    else:
        p.u32(1).u32(mode)
    return p.u32(0).u32(0).u32(0).u32(0).u32(0).bytes()


def skip_fattr3(u):
    u.fopaque(84)


def fattr3(u):
    (ftype, mode, nlink, uid, gid) = (u.u32(), u.u32(), u.u32(), u.u32(), u.u32())
    size, used = u.u64(), u.u64()
    rdev = (u.u32(), u.u32())
    fsid, fileid = u.u64(), u.u64()
    atime, mtime, ctime = (u.u32(), u.u32()), (u.u32(), u.u32()), (u.u32(), u.u32())
    return dict(type=ftype, mode=mode, nlink=nlink, uid=uid, gid=gid, size=size, used=used,
                rdev=rdev, fsid=fsid, fileid=fileid, atime=atime, mtime=mtime, ctime=ctime)


def post_op_attr(u):
    return fattr3(u) if u.bool() else None


def post_op_fh(u):
    return u.opaque() if u.bool() else None


def readdir_page(c, dir_fh, cookie, verf, count=4096, cred=AUTH_ROOT):
    """One READDIR call: (status, verf, [(fileid, name, cookie)], eof)."""
    st, u = c.nfs(READDIR, Packer().opaque(dir_fh).u64(cookie).fopaque(verf).u32(count).bytes(),
                  cred)
    if st != 0:
        return st, None, [], False
    post_op_attr(u)
    verf = u.fopaque(8)
    entries = []
    while u.bool():
        entries.append((u.u64(), u.opaque().decode("utf-8", "surrogateescape"), u.u64()))
    return st, verf, entries, u.bool()


def readdirplus_page(c, dir_fh, cookie, verf, dircount=4096, maxcount=32768, cred=AUTH_ROOT):
    """One READDIRPLUS call: (status, verf, [(fileid, name, cookie, attrs, fh)], eof)."""
    st, u = c.nfs(READDIRPLUS, Packer().opaque(dir_fh).u64(cookie).fopaque(verf).u32(dircount)
                  .u32(maxcount).bytes(), cred)
    if st != 0:
        return st, None, [], False
    post_op_attr(u)
    verf = u.fopaque(8)
    entries = []
    while u.bool():
        fileid, name, ck = u.u64(), u.opaque().decode("utf-8", "surrogateescape"), u.u64()
        entries.append((fileid, name, ck, post_op_attr(u), post_op_fh(u)))
    return st, verf, entries, u.bool()

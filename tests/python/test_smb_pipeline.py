"""Many requests in flight on one SMB connection (src/smb/pipeline.rs): WRITEs, a
FLUSH, READs and a CLOSE sent back to back without waiting for any response, over a
signed 3.1.1 session. Every request must complete, the CLOSE only after the WRITEs
before it (its data must all be there when the file is opened again), and the data
must read back. A FLUSH sent right after WRITEs is answered after them."""
import os
import uuid

from smbprotocol.open import (CreateDisposition, CreateOptions, FileAttributes,
                              ImpersonationLevel, Open, ShareAccess)

GENERIC_ALL = 0x10000000
SHARE_ALL = ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE | \
    ShareAccess.FILE_SHARE_DELETE
CHUNK = 64 * 1024
COUNT = 48


def _create_args(disposition):
    return (ImpersonationLevel.Impersonation, GENERIC_ALL, FileAttributes.FILE_ATTRIBUTE_NORMAL,
            SHARE_ALL, disposition, CreateOptions.FILE_NON_DIRECTORY_FILE)


def _credits(conn, sess, want):
    # ECHOs asking for credits until the window holds `want` (the server grants
    # what is asked, up to its cap).
    for _ in range(16):
        if conn.sequence_window["high"] - conn.sequence_window["low"] >= want:
            return
        conn.echo(sid=sess.session_id, credit_request=want)
    raise AssertionError("server never granted %d credits" % want)


def test_pipelined_writes_flush_reads_close(smb_session):
    conn, sess, tree = smb_session
    name = "pipe-" + uuid.uuid4().hex[:8]
    chunks = [os.urandom(CHUNK) for _ in range(COUNT)]
    f = Open(tree, name)
    f.create(*_create_args(CreateDisposition.FILE_CREATE))
    _credits(conn, sess, 4 * COUNT)

    sid, tid = sess.session_id, tree.tree_connect_id
    # Sent from the last chunk to the first, all before any response is read.
    writes = []
    for i in reversed(range(COUNT)):
        msg, unpack = f.write(chunks[i], i * CHUNK, send=False)
        writes.append((conn.send(msg, sid, tid, credit_request=1), unpack))
    flush_msg, flush_unpack = f.flush(send=False)
    flush_req = conn.send(flush_msg, sid, tid, credit_request=1)
    reads = []
    for i in range(COUNT):
        msg, unpack = f.read(i * CHUNK, CHUNK, send=False)
        reads.append((i, conn.send(msg, sid, tid, credit_request=1), unpack))
    close_msg, close_unpack = f.close(False, send=False)
    close_req = conn.send(close_msg, sid, tid, credit_request=1)

    assert [unpack(req) for req, unpack in writes] == [CHUNK] * COUNT
    flush_unpack(flush_req)
    for i, req, unpack in reads:
        # A READ sent after a WRITE of the same range need not see it (MS-SMB2
        # orders nothing among outstanding requests), but it must complete
        # with a full chunk of either the old (zero) or the new bytes.
        got = unpack(req)
        assert got in (chunks[i], bytes(CHUNK)), i
    close_unpack(close_req)

    g = Open(tree, name)
    g.create(*_create_args(CreateDisposition.FILE_OPEN))
    everything = b"".join(chunks)
    msgs = []
    for i in range(COUNT):
        msg, unpack = g.read(i * CHUNK, CHUNK, send=False)
        msgs.append((conn.send(msg, sid, tid, credit_request=1), unpack))
    assert b"".join(unpack(req) for req, unpack in msgs) == everything
    g.close(False)


def test_pipelined_errors_answer_each_request(smb_session):
    # READs past the end fail with END_OF_FILE and WRITEs to a read-only open
    # with ACCESS_DENIED, each with its own response, interleaved with good ones.
    from smbprotocol.exceptions import SMBResponseException
    conn, sess, tree = smb_session
    name = "pipe-err-" + uuid.uuid4().hex[:8]
    f = Open(tree, name)
    f.create(*_create_args(CreateDisposition.FILE_CREATE))
    f.write(b"x" * 4096, 0)
    _credits(conn, sess, 64)
    sid, tid = sess.session_id, tree.tree_connect_id
    reqs = []
    for i in range(32):
        offset = 0 if i % 2 == 0 else 1 << 20
        msg, unpack = f.read(offset, 4096, send=False)
        reqs.append((i, conn.send(msg, sid, tid, credit_request=1), unpack))
    for i, req, unpack in reqs:
        if i % 2 == 0:
            assert unpack(req) == b"x" * 4096
        else:
            try:
                unpack(req)
            except SMBResponseException as e:
                assert e.status == 0xC0000011  # STATUS_END_OF_FILE
            else:
                raise AssertionError("read past the end succeeded")
    f.close(False)


def test_pipelined_delete_on_close_then_create_same_names(smb_session):
    # CLOSEs of delete-on-close opens run as tasks and a CREATE of another
    # path may overtake them; a CREATE of the path being deleted must not:
    # each CLOSE is followed, before any response is read, by a FILE_CREATE
    # of the same name, which must find the name gone (no NAME_COLLISION).
    conn, sess, tree = smb_session
    prefix = "pipe-doc-" + uuid.uuid4().hex[:8]
    names = ["%s-%02d" % (prefix, i) for i in range(24)]
    for n in names:
        f = Open(tree, n)
        f.create(*_create_args(CreateDisposition.FILE_CREATE))
        f.write(n.encode(), 0)
        f.close(False)
    _credits(conn, sess, 4 * len(names))
    sid, tid = sess.session_id, tree.tree_connect_id
    doc_args = (ImpersonationLevel.Impersonation, 0x00010000,  # DELETE
                FileAttributes.FILE_ATTRIBUTE_NORMAL, SHARE_ALL,
                CreateDisposition.FILE_OPEN,
                CreateOptions.FILE_NON_DIRECTORY_FILE | CreateOptions.FILE_DELETE_ON_CLOSE)
    opens = [Open(tree, n) for n in names]
    sent = []
    for o in opens:
        msg, unpack = o.create(*doc_args, send=False)
        sent.append((conn.send(msg, sid, tid, credit_request=1), unpack))
    for req, unpack in sent:
        unpack(req)
    # And a CREATE of a fresh name after each pair (it may overtake the
    # CLOSEs in flight).
    again = [Open(tree, n) for n in names]
    fresh = [Open(tree, n + "-new") for n in names]
    sent = []
    for o, g, h in zip(opens, again, fresh):
        msg, unpack = o.close(False, send=False)
        sent.append((conn.send(msg, sid, tid, credit_request=1), unpack))
        for x in (g, h):
            msg, unpack = x.create(*_create_args(CreateDisposition.FILE_CREATE), send=False)
            sent.append((conn.send(msg, sid, tid, credit_request=1), unpack))
    for req, unpack in sent:
        unpack(req)
    # The new files are empty: the old content went with the delete.
    for g in again + fresh:
        assert g.end_of_file == 0
        g.close(False)


def test_pipelined_flush_covers_the_writes_before_it(smb_session):
    # A FLUSH runs as a pipeline task but only once nothing on its file is in
    # flight: sent right after WRITEs of its handle (no response read yet) it
    # is answered after every one of them (its WAL fsync covers their
    # records), while a FLUSH of another, idle file sent in between may be
    # answered at once. A FLUSH sent after the CLOSE of its handle finds it
    # closed.
    from smbprotocol.exceptions import SMBResponseException
    conn, sess, tree = smb_session
    name = "pipe-flush-" + uuid.uuid4().hex[:8]
    chunks = [os.urandom(CHUNK) for _ in range(COUNT)]
    f = Open(tree, name)
    f.create(*_create_args(CreateDisposition.FILE_CREATE))
    idle = Open(tree, name + "-idle")
    idle.create(*_create_args(CreateDisposition.FILE_CREATE))
    idle.write(b"idle", 0)
    _credits(conn, sess, 2 * COUNT + 8)
    sid, tid = sess.session_id, tree.tree_connect_id

    for rnd in range(3):
        writes = []
        for i in range(COUNT):
            msg, unpack = f.write(chunks[i], i * CHUNK, send=False)
            writes.append((conn.send(msg, sid, tid, credit_request=1), unpack))
        msg, idle_unpack = idle.flush(send=False)
        idle_req = conn.send(msg, sid, tid, credit_request=1)
        msg, flush_unpack = f.flush(send=False)
        flush_req = conn.send(msg, sid, tid, credit_request=1)
        flush_unpack(flush_req)
        # Responses are read in arrival order: the FLUSH's came after all.
        late = [i for i, (req, _) in enumerate(writes) if not req.response_event.is_set()]
        assert late == [], "round %d: FLUSH answered before WRITEs %s" % (rnd, late)
        assert [unpack(req) for req, unpack in writes] == [CHUNK] * COUNT
        idle_unpack(idle_req)

    msg, close_unpack = f.close(False, send=False)
    close_req = conn.send(msg, sid, tid, credit_request=1)
    msg, late_flush_unpack = f.flush(send=False)
    late_flush_req = conn.send(msg, sid, tid, credit_request=1)
    close_unpack(close_req)
    try:
        late_flush_unpack(late_flush_req)
    except SMBResponseException as e:
        assert e.status == 0xC0000128  # STATUS_FILE_CLOSED
    else:
        raise AssertionError("FLUSH of a closed handle succeeded")
    idle.close(False)

    g = Open(tree, name)
    g.create(*_create_args(CreateDisposition.FILE_OPEN))
    assert g.end_of_file == COUNT * CHUNK
    msgs = []
    for i in range(COUNT):
        msg, unpack = g.read(i * CHUNK, CHUNK, send=False)
        msgs.append((conn.send(msg, sid, tid, credit_request=1), unpack))
    assert b"".join(unpack(req) for req, unpack in msgs) == b"".join(chunks)
    g.close(False)

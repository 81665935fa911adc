#!/usr/bin/env python3
"""Guest side of the power-cut rounds (power-cut.sh): runs in the QEMU guest on the
kernel NFS mount of dittofs.

usage: power-cut-guest.py ROUND SEED verify|write

verify: reads every range listed in $KC_OUT/acked.log (ranges whose fsync or O_SYNC
write returned, in earlier rounds) back through the mount and compares it with the
bytes that were written; writes "checked N bad M" to $KC_OUT/verify-ROUND.txt.
write: then writes new files forever (until the host kills the guest): appends of
seeded sizes, either O_SYNC (stable when write returns) or buffered followed by fsync
(the kernel sends UNSTABLE WRITEs then COMMIT); after each stable point it appends the
covered ranges to acked.log. $KC_OUT is the host's directory over 9p with cache=none,
so an appended line is in the host's file when write() returns and survives the kill.
Files are append-only, so every acknowledged range keeps its content.
"""
import os
import random
import sys

OUT = os.environ.get("KC_OUT", "/run/kc/out")
MNT = os.environ.get("MNT", os.getcwd())


def content(seed, name, offset, length):
    return random.Random(f"{seed}:{name}:{offset}").randbytes(length)


def verify(rnd, seed):
    checked = bad = 0
    lines = []
    path = os.path.join(OUT, "acked.log")
    entries = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 4 and line.endswith("\n"):
                    entries.append((parts[0], int(parts[1]), int(parts[2]), int(parts[3])))
    for name, off, length, s in entries:
        checked += 1
        try:
            with open(os.path.join(MNT, name), "rb") as f:
                f.seek(off)
                got = f.read(length)
        except OSError as e:
            got = f"<{e}>".encode()
        if got != content(s, name, off, length):
            bad += 1
            if len(lines) < 20:
                lines.append(f"BAD {name} {off}+{length}: got {len(got)} bytes, differs")
    with open(os.path.join(OUT, f"verify-{rnd}.txt"), "w") as f:
        f.write(f"round {rnd}: checked {checked} bad {bad}\n")
        f.writelines(l + "\n" for l in lines)
        f.flush()
        os.fsync(f.fileno())
    print(f"verify round {rnd}: checked {checked} acknowledged ranges, {bad} bad", flush=True)
    return bad


def write(rnd, seed):
    rng = random.Random(f"{seed}:{rnd}")
    log = os.open(os.path.join(OUT, "acked.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    with open(os.path.join(OUT, f"writing-{rnd}"), "w") as f:
        f.write("1\n")
    i = 0
    while True:
        i += 1
        name = f"r{rnd}-f{i}"
        osync = rng.random() < 0.4
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | (os.O_SYNC if osync else 0)
        fd = os.open(os.path.join(MNT, name), flags, 0o644)
        off = 0
        pending = []
        for _ in range(rng.randint(1, 12)):
            length = rng.choice([512, 4096, 65536, 200000, 1 << 20])
            os.write(fd, content(seed, name, off, length))
            pending.append((off, length))
            off += length
            if osync or rng.random() < 0.3:
                if not osync:
                    os.fsync(fd)
                os.write(log, "".join(f"{name} {o} {n} {seed}\n" for o, n in pending).encode())
                pending = []
        os.close(fd)  # close flushes (NFS close-to-open) but promises nothing: not logged


def main():
    rnd, seed, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    bad = verify(rnd, seed)
    if mode == "write":
        write(rnd, seed)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()

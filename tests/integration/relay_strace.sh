#!/bin/bash
# relay_strace: a crash test cannot prove syncing (SIGKILL keeps the page
# cache), so run hikyakud under strace and check the order of system
# calls: every `250 2.0.0` written to a client after DATA is preceded by
# a completed sync that covers that queue file and its directory -
# syncfs() on the spool, or fsync/fdatasync of the file plus fsync of its
# directory - after the file got its final name (DESIGN section 12).
. "$(dirname "$0")/lib.sh"
need_cmd strace
strace -f -o /dev/null true 2>/dev/null || skip "strace cannot trace here (ptrace not permitted)"

# LeakSanitizer does not work under ptrace.
export ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0"
upstream_start up
hk_conf
hk_remotes "127.0.0.1 smtp --port=$UP_PORT_up"
HK_WRAP="strace -f -ttt -yy -s 256 -o $T/strace.out -e trace=fsync,fdatasync,syncfs,sync,rename,renameat,renameat2,link,linkat,write,writev,sendto,sendmsg"
hk_start

# Several clients at once, so group commit has something to share.
cat >"$T/send.py" <<'PYEOF'
import smtplib, sys
port, client = int(sys.argv[1]), sys.argv[2]
with smtplib.SMTP("127.0.0.1", port, "strace.test", timeout=30) as s:
    for i in range(10):
        s.sendmail("s@example.org", ["r@example.net"],
                   ("Subject: strace\r\nMessage-ID: <st-%s-%d@test>\r\n\r\nbody\r\n"
                    % (client, i)).encode())
PYEOF
pids=()
for c in 1 2 3 4; do
	hk_bg "send-$c" "$PY" "$T/send.py" "$HK_PORT" "$c"
	pids+=("$HK_BG_PID")
done
for p in "${pids[@]}"; do
	wait "$p" || fail "a client failed: $(cat "$T"/send-*.log)"
done
wait_for 60 upstream_has up 40 || fail "upstream got $(upstream_count up) of 40"
hk_stop || fail "daemon stop"

"$PY" - "$T/strace.out" >"$T/analysis.txt" 2>&1 <<'PYEOF'
import os, re, sys

# strace -f -ttt -yy lines: PID TIME CALL(ARGS) = RET, possibly split
# into "<unfinished ...>" and "<... CALL resumed>".
line_re = re.compile(r'^(\d+)\s+(\d+\.\d+)\s+(.*)$')
pending = {}
events = []   # (time, pid, call, args, ret) in completion order
for raw in open(sys.argv[1], errors="replace"):
    m = line_re.match(raw.rstrip("\n"))
    if not m:
        continue
    pid, t, rest = m.group(1), float(m.group(2)), m.group(3)
    if rest.endswith("<unfinished ...>"):
        pending[pid] = rest[: -len("<unfinished ...>")]
        continue
    r = re.match(r'^<\.\.\. (\w+) resumed>(.*)$', rest)
    if r:
        rest = pending.pop(pid, r.group(1) + "(") + r.group(2)
    c = re.match(r'^(\w+)\((.*)\)\s+=\s+(-?\d+|\?)', rest, re.S)
    if not c:
        continue
    events.append((t, pid, c.group(1), c.group(2), c.group(3)))

def fd_path(arg):
    m = re.match(r'\s*(?:-?\d+|AT_FDCWD)<([^>]*)>', arg)
    return m.group(1) if m else None

def strings(args):
    return re.findall(r'"((?:[^"\\]|\\.)*)"', args)

acks = []
finals = {}   # queue id -> (time, final path)
syncs = []    # (time, kind, path)
for t, pid, call, args, ret in events:
    if ret.startswith("-"):
        continue
    if call in ("fsync", "fdatasync", "syncfs", "sync"):
        syncs.append((t, call, fd_path(args) or ""))
    elif call in ("rename", "renameat", "renameat2", "link", "linkat"):
        s = strings(args)
        if not s:
            continue
        new = s[-1]
        if call in ("renameat", "renameat2", "linkat") and not new.startswith("/"):
            # renameat(olddirfd, "old", newdirfd, "new"): newdirfd's path
            m = re.search(r'"\s*,\s*((?:-?\d+|AT_FDCWD)<[^>]*>)\s*,\s*"', args)
            base = fd_path(m.group(1)) if m else None
            if base:
                new = os.path.join(base, new)
        finals.setdefault("__all__", []).append((t, new))
    elif call in ("write", "writev", "sendto", "sendmsg"):
        if "TCP" not in args.split(",")[0]:
            continue
        text = "".join(strings(args)).replace("\\r\\n", "\n")
        for m in re.finditer(r'250[ -]2\.0\.0[^\n]*', text):
            acks.append((t, m.group(0)))

if not acks:
    sys.exit("no '250 2.0.0' replies seen in the trace")
renames = finals.get("__all__", [])
bad = 0
for t, reply in acks:
    words = re.findall(r'[A-Za-z0-9][A-Za-z0-9._-]{5,}', reply)
    qid = None
    for w in reversed(words):
        if any(w in p for _, p in renames):
            qid = w
            break
    if not qid:
        print("cannot tie %r to a renamed queue file (reply should name the queue ID)" % reply)
        bad += 1
        continue
    named = [(rt, p) for rt, p in renames if qid in os.path.basename(p) and rt < t]
    if not named:
        print("%s: acknowledged before its file got a name" % qid)
        bad += 1
        continue
    rt, path = named[-1]
    d = os.path.dirname(path)
    window = [(st, k, p) for st, k, p in syncs if rt <= st <= t]
    if any(k in ("syncfs", "sync") for _, k, _ in window):
        continue
    file_ok = any(qid in os.path.basename(p) for _, k, p in window if k in ("fsync", "fdatasync"))
    # a rename after the file's own fsync: the file sync may precede it
    file_ok = file_ok or any(qid in os.path.basename(p) for st, k, p in syncs
                             if k in ("fsync", "fdatasync") and st <= t)
    def same_dir(p):
        p, q = os.path.normpath(p), os.path.normpath(d or ".")
        return p == q or p.endswith("/" + q) or (not d and p)
    dir_ok = any(same_dir(p) for _, k, p in window if k == "fsync")
    if not (file_ok and dir_ok):
        print("%s (%s): 250 at %.6f without a sync of %s%s since its rename at %.6f"
              % (qid, path, t, "" if file_ok else "the file",
                 "" if dir_ok else (" and " if not file_ok else "") + "its directory " + d, rt))
        bad += 1
nsync = len(syncs)
print("%d acknowledgements, %d sync calls (%.2f per message), %d unsynced"
      % (len(acks), nsync, nsync / len(acks), bad))
sys.exit(1 if bad else 0)
PYEOF
rc=$?
cat "$T/analysis.txt" >&2
[ $rc = 0 ] || fail "acknowledged before a covering sync (see above; trace in $T/strace.out with HK_KEEP=1)"

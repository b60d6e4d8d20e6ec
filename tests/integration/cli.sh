#!/bin/bash
# cli: `hikyaku queue|status|reload` over the control socket against the
# real daemon, the protocol itself (greeting, ids, errors, subscribe with
# gapless sequence numbers, public.sock limits, peer credentials), and
# the CLI reading the spool while the daemon is down.
. "$(dirname "$0")/lib.sh"

# The only remote is dead, so mail stays deferred for the CLI to see.
hk_conf "pausetime = 1h"
hk_remotes "127.0.0.1 smtp --port=$HK_DEAD_PORT"
hk_start
CTL=$T/spool/ctl.sock
PUB=$T/spool/public.sock
wait_for 10 test -S "$CTL" || fail "no $CTL"
wait_for 10 test -S "$PUB" || fail "no $PUB"

# --- status, empty queue ---
out=$(hk_cli status) || fail "status failed: $out"
assert_match 'running, pid [0-9]+' "$out" "status"
assert_match "127\.0\.0\.1:$HK_PORT relay" "$out" "status listeners"
hk_cli status --json | "$PY" -c 'import json,sys; v=json.load(sys.stdin); assert v["ok"] and v["pid"] > 0 and "queue" in v, v' ||
	fail "status --json is not the protocol object"
out=$(hk_cli queue list) || fail "queue list failed"
assert_eq "" "$out" "queue list of an empty queue"
out=$(hk_cli status --check) || fail "status --check on an empty queue: $out"
assert_match '^HIKYAKU OK - 0 messages' "$out" "status --check"

# --- a deferred message ---
printf 'Subject: cli test\n\nhello\n' |
	hk_sendmail -f alice@example.org bob@example.net || fail "sendmail failed"
wait_for 30 eval '[ "$(hk_queue_count)" = 1 ]' || fail "message not queued"
wait_for 30 eval 'hk_queue_first | grep -q "^state=deferred"' ||
	fail "message not deferred: $(hk_cli queue list)"
QID=$(hk_queue_first | sed -n 's/^qid=//p')
assert_match '^[0-9A-F]{17}$' "$QID" "queue ID"

line=$(hk_cli queue list) || fail "queue list failed"
assert_match "^$QID +[0-9a-z]+ +[0-9.]+[BKM] +<alice@example.org> -> bob@example.net +deferred \(1 attempt, next in [0-9a-z]+\): .+" \
	"$line" "queue list line"
out=$(hk_cli queue show "$QID") || fail "queue show failed"
assert_match "Queue ID: +$QID" "$out" "queue show"
assert_match "Recipient: <bob@example.net>" "$out" "queue show"
assert_match "last error: " "$out" "queue show"
hk_cli queue show --json "$QID" | "$PY" -c '
import json, sys
m = json.load(sys.stdin)
r = m["recipients"][0]
assert m["qid"] == sys.argv[1] and m["sender"] == "alice@example.org", m
assert r["addr"] == "bob@example.net" and r["state"] == "deferred", r
assert r["attempts"] >= 1 and r["last_error"] and r["history"], r
' "$QID" || fail "queue show --json"

# --- actions ---
out=$(hk_cli queue hold "$QID") || fail "hold failed: $out"
assert_match "held" "$(hk_cli queue list)" "list after hold"
assert_match "^$QID!" "$(hk_sendmail -bp | sed -n 2p)" "mailq marks held"
out=$(hk_cli queue retry "$QID" 2>&1)
assert_eq 1 $? "exit status of retry of a held message"
assert_match "held" "$out" "retry of a held message says why"
hk_cli queue release "$QID" >/dev/null || fail "release failed"
assert_match "deferred" "$(hk_cli queue list)" "list after release"
hk_cli queue retry "$QID" >/dev/null || fail "retry failed"
hk_cli queue flush >/dev/null || fail "flush failed"
out=$(hk_cli queue retry 0000000000000DEAD 2>&1)
assert_eq 1 $? "exit status of retry of an unknown ID"
assert_match "no such message" "$out" "retry of an unknown ID"
hk_cli queue frobnicate >/dev/null 2>&1
assert_eq 2 $? "exit status of a usage error"

# --- status --check thresholds ---
hk_cli status --check --warn-messages 0 >"$T/check.out"
assert_eq 1 $? "status --check exit status over the warning threshold"
assert_grep '^HIKYAKU WARNING - 1 message' "$T/check.out"

# --- the protocol, spoken directly ---
timeout 60 "$PY" - "$CTL" "$PUB" "$T/conf" "$top_builddir/hikyaku-sendmail" "$QID" \
	>"$T/proto.log" 2>&1 <<'PYEOF' || fail "protocol: $(cat "$T/proto.log")"
import json, os, socket, subprocess, sys
ctl, pub, conf, sendmail, qid = sys.argv[1:]

class Conn:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(20)
        self.s.connect(path)
        self.f = self.s.makefile("rb")
        self.greeting = self.read()
    def read(self):
        line = self.f.readline()
        assert line.endswith(b"\n"), "short line %r" % line
        return json.loads(line)
    def send(self, obj):
        self.s.sendall(json.dumps(obj).encode() + b"\n")
    def call(self, obj):
        self.send(obj)
        while True:
            v = self.read()
            if "event" not in v:
                return v

c = Conn(ctl)
g = c.greeting
assert g["hikyaku"] == "control" and g["version"] == 1 and g["access"] == "full", g
r = c.call({"id": 7, "cmd": "queue.list", "offset": 0, "limit": 10})
assert r["id"] == 7 and r["ok"] and r["total"] == 1 and r["messages"][0]["qid"] == qid, r
r = c.call({"id": "s1", "cmd": "queue.show", "qid": "nope"})
assert r == {"id": "s1", "ok": False, "error": "no such message"}, r
r = c.call({"id": 8, "cmd": "no.such"})
assert r["id"] == 8 and not r["ok"] and "unknown command" in r["error"], r
c.s.sendall(b"this is not json\n")
r = c.read()
assert r["id"] is None and not r["ok"] and "bad JSON" in r["error"], r
r = c.call({"id": 9, "cmd": "queue.list", "offset": 1})
assert r["ok"] and r["messages"] == [] and r["total"] == 1, r

# subscribe: snapshot with seq, then gapless deltas
r = c.call({"id": 10, "cmd": "subscribe", "topics": ["queue", "log"]})
assert r["ok"] and r["topics"] == ["queue", "log"], r
assert [m["qid"] for m in r["messages"]] == [qid], r
seq = r["seq"]
env = dict(os.environ, HIKYAKU_CONFIG_DIR=conf)
p = subprocess.run([sendmail, "-f", "carol@example.org", "dave@example.net"],
                   input=b"Subject: sub\n\nx\n", env=env)
assert p.returncode == 0
c.send({"id": 11, "cmd": "queue.hold", "qid": qid})
added = held = False
logs = 0
while not (added and held and logs):
    v = c.read()
    if v.get("event", "").startswith("queue."):
        assert v["seq"] == seq + 1, (seq, v)
        seq = v["seq"]
        if v["event"] == "queue.added":
            assert v["message"]["sender"] == "carol@example.org", v
            added = True
        if v["event"] == "queue.changed" and v["message"]["qid"] == qid and v["message"]["held"]:
            held = True
    elif v.get("event") == "log":
        assert v["level"] in ("info", "warning", "error") and v["line"], v
        logs += 1
    elif "id" in v:
        assert v["id"] == 11 and v["ok"], v
    else:
        raise AssertionError("unexpected %r" % v)
r = c.call({"id": 12, "cmd": "queue.release", "qid": qid})
assert r["ok"], r

# public.sock: list and flush only
p = Conn(pub)
assert p.greeting["access"] == "public", p.greeting
r = p.call({"id": 1, "cmd": "queue.list"})
assert r["ok"] and r["total"] == 2, r
r = p.call({"id": 2, "cmd": "queue.flush"})
assert r["ok"], r
for cmd in ("queue.delete", "queue.show", "reload", "status", "subscribe"):
    r = p.call({"id": 3, "cmd": cmd, "qid": qid, "topics": ["log"]})
    assert not r["ok"] and "permission denied" in r["error"], (cmd, r)
print("protocol ok")
PYEOF

# --- peer credentials: an ordinary uid gets public.sock only ---
if [ $HK_ROOT = 1 ] && command -v setpriv >/dev/null; then
	asuser() { setpriv --reuid=54321 --regid=54321 --clear-groups "$@"; }
	out=$(asuser timeout 30 "$top_builddir/hikyaku" -C "$T/conf" queue list 2>&1) ||
		fail "queue list as an ordinary user: $out"
	assert_match "^$QID " "$out" "queue list through public.sock"
	out=$(asuser timeout 30 "$top_builddir/hikyaku" -C "$T/conf" queue delete "$QID" 2>&1)
	assert_eq 1 $? "delete as an ordinary user"
	assert_match "ctl.sock" "$out" "refusal names the socket"
	# Even with the socket opened up, the daemon checks SO_PEERCRED.
	chmod 0666 "$CTL"
	out=$(asuser timeout 30 "$top_builddir/hikyaku" -C "$T/conf" queue delete "$QID" 2>&1)
	assert_eq 1 $? "delete as an ordinary user through a chmodded socket"
	assert_match "permission denied" "$out" "peer credential refusal"
	cat "$T"/log/hikyaku.log "$T"/log/hikyakud.stderr.* 2>/dev/null |
		grep -q 'control: refused uid 54321' || fail "no log line for the refusal"
	chmod 0660 "$CTL"
	asuser timeout 30 "$top_builddir/hikyaku-sendmail" -C "$T/conf" -q ||
		fail "sendmail -q as an ordinary user"
fi

# --- reload ---
out=$(hk_cli reload) || fail "reload failed: $out"
assert_eq "configuration reloaded" "$out" "reload says it once"
cp "$T/conf/hikyaku.conf" "$T/conf/hikyaku.conf.good"
echo "no_such_key = 1" >>"$T/conf/hikyaku.conf"
# The CLI validates locally first (same parser as the daemon)...
out=$(hk_cli reload 2>&1)
assert_eq 1 $? "exit status of a reload of a bad config"
assert_match "hikyaku.conf:[0-9]+:[0-9]+: error" "$out" "reload error names file:line:col"
assert_match "configuration in $T/conf has errors" "$out" "reload of a bad config"
case $out in *"cannot read"*) fail "reload says it cannot read a config with errors: $out" ;; esac
# ...and the daemon refuses it too, keeping the running config.
timeout 30 "$PY" - "$CTL" >"$T/reload.log" 2>&1 <<'PYEOF' || fail "reload over the protocol: $(cat "$T/reload.log")"
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(20)
s.connect(sys.argv[1])
f = s.makefile("rb")
f.readline()
s.sendall(b'{"id":1,"cmd":"reload"}\n')
r = json.loads(f.readline())
assert r["id"] == 1 and r["ok"] is False and "hikyaku.conf:" in r["error"], r
s.sendall(b'{"id":2,"cmd":"status"}\n')
r = json.loads(f.readline())
assert r["id"] == 2 and r["ok"], r
PYEOF
cp "$T/conf/hikyaku.conf.good" "$T/conf/hikyaku.conf"
hk_cli status >/dev/null || fail "daemon gone after a refused reload"

# --- daemon down: list and show read the spool, actions fail ---
hk_stop
out=$(hk_cli queue list 2>"$T/down.err") || fail "queue list with the daemon down"
assert_grep 'not running.*reading the spool directly' "$T/down.err"
assert_match "^$QID " "$out" "queue list from the spool"
[ "$(printf '%s\n' "$out" | wc -l)" = 2 ] || fail "expected 2 messages: $out"
hk_cli queue show "$QID" 2>/dev/null | grep -q "Recipient: <bob@example.net>" ||
	fail "queue show from the spool"
out=$(hk_cli queue delete "$QID" 2>&1)
assert_eq 1 $? "delete with the daemon down"
assert_match "needs the daemon" "$out" "delete with the daemon down"
hk_cli status --check >/dev/null
assert_eq 2 $? "status --check with the daemon down"
out=$(hk_cli status 2>/dev/null)
assert_eq 1 $? "status with the daemon down"
assert_match "not running; 2 messages in the spool" "$out" "status, daemon down"
exit 0

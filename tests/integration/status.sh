#!/bin/bash
# status: what `hikyaku status` and the console's Status screen report
# (DESIGN §8.1) against a real daemon and a real upstream: delivered /
# deferred / bounced in the last hour (2 delivered and 1 deferred give
# exactly those numbers), recent errors kept by the daemon (a console
# opened after them still shows them, and a live one is added once, not
# twice), the server certificate's expiry (10 days left is flagged),
# "no server certificate" without tls_cert, and with the daemon down and
# no spool the reader's error goes to the CLI's stderr and to the
# console's status line, never onto the curses screen.
. "$(dirname "$0")/lib.sh"

need_cmd tmux

upstream_start up --reply-rcpt 'later@example.net=451 4.3.0 try again later'
mkdir -p "$T/cert"
"$top_builddir/hikyaku" cert new --out "$T/cert" --cn relay.test --days 10 \
	>"$T/log/certnew.log" 2>&1 || fail "cert new: $(cat "$T/log/certnew.log")"
chmod 644 "$T/cert/server.key"
hk_conf "pausetime = 1h" "tls_cert = $T/cert/server.crt" \
	"tls_key = $T/cert/server.key"
cp "$T/conf/hikyaku.conf" "$T/conf/hikyaku.conf.good"
hk_remotes "127.0.0.1 smtp --port=$UP_PORT_up"
hk_start
wait_for 10 test -S "$T/spool/ctl.sock" || fail "no control socket"

# --- last hour: 2 delivered, 1 deferred ---
for to in good1@example.net good2@example.net later@example.net; do
	printf 'Subject: status test\n\nhello\n' |
		hk_sendmail -f alice@example.org "$to" || fail "sendmail to $to"
done
wait_for 60 upstream_has up 2 || fail "upstream got $(upstream_count up) of 2"
wait_for 30 eval '[ "$(hk_cli queue list | grep -c deferred)" = 1 ]' ||
	fail "the 451 recipient is not deferred: $(hk_cli queue list)"
hk_cli status --json >"$T/status.json" || fail "status --json"
"$PY" - "$T/status.json" <<'PYEOF' || fail "status --json counts: $(cat "$T/status.json")"
import json, sys
v = json.load(open(sys.argv[1]))
assert v["last_hour"] == {"delivered": 2, "deferred": 1, "bounced": 0}, v["last_hour"]
assert v["totals"] == {"delivered": 2, "deferred": 1, "bounced": 0}, v["totals"]
assert isinstance(v["recent_errors"], list) and v["log_seq"] > 0, v
PYEOF
out=$(hk_cli status) || fail "status: $out"
assert_match 'last hour: 2 delivered, 1 deferred, 0 bounced' "$out" "status text"

# --- recent errors: two refused reloads leave error lines behind ---
# A reload of a broken config, asked on the socket (the CLI would refuse
# to send it): the daemon logs errors and keeps running.
bad_reload() {
	echo "no_such_key = 1" >>"$T/conf/hikyaku.conf"
	"$PY" - "$T/spool/ctl.sock" <<'PYEOF' || fail "a bad config was not refused"
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rwb")
f.readline()
f.write(b'{"id":1,"cmd":"reload"}\n')
f.flush()
r = json.loads(f.readline())
assert r["id"] == 1 and not r["ok"], r
PYEOF
	cp "$T/conf/hikyaku.conf.good" "$T/conf/hikyaku.conf"
}
bad_reload
hk_cli status --json >"$T/status.json" || fail "status --json"
"$PY" - "$T/status.json" <<'PYEOF' || fail "recent_errors: $(cat "$T/status.json")"
import json, sys
v = json.load(open(sys.argv[1]))
errs = v["recent_errors"]
hits = [e for e in errs if "reload failed" in e["line"]]
assert len(hits) == 1 and hits[0]["level"] == "error", errs
assert hits[0]["time"] > 1700000000 and 0 < hits[0]["seq"] <= v["log_seq"], hits
seqs = [e["seq"] for e in errs]
assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
PYEOF
out=$(hk_cli status) || fail "status: $out"
assert_match 'recent problems:' "$out" "status text lists recent problems"
assert_match '[0-9]{2}:[0-9]{2}:[0-9]{2} error: reload failed' "$out" \
	"status text shows the error with its time"

# --- the console, opened after the error ---
TM=()
tui() { # CONFDIR COLS ROWS
	[ ${#TM[@]} -gt 0 ] && "${TM[@]}" kill-server 2>/dev/null
	tmux_start "$2" "$3" \
		"exec env TERM=tmux-256color LANG=C.UTF-8 HIKYAKU_HELP_DIR='$top_srcdir/help' '$top_builddir/hikyaku' -C '$1' 2>'$T/log/tui.stderr'" ||
		fail "tmux did not start"
}
# The screen with colours as escape sequences (the warning colour).
screen_attrs() { "${TM[@]}" capture-pane -e -p -t hk 2>/dev/null; }
tui "$T/conf" 80 24
see 'hikyakud .* is running'
see 'last hour: 2 delivered, 1 deferred, 0 bounced'
see 'Recent errors'
see '[0-9]{2}:[0-9]{2}:[0-9]{2} reload failed'
# --- the certificate: 10 days left (9 once a part of a day has gone) ---
see 'Server certificate'
see 'renew soon, only (9|10) days left'
# The warning colour: yellow (33) and bold, not the green of a good one.
screen_attrs | grep -E 'renew soon' | grep -Eq $'\e\\[[0-9;]*(33|93)[;m]' ||
	{ screen_attrs | grep 'renew soon' | cat -v >&2; fail "the certificate line is not in the warning colour"; }
assert_eq 1 "$(screen | grep -c 'reload failed')" "one error line before the live one"

# --- a live error: added once, although status also returns it ---
bad_reload
wait_for 10 eval '[ "$(screen | grep -c "reload failed")" = 2 ]' ||
	{ screen >&2; fail "the live error did not appear"; }
# Two status polls (2 s apart) return the same lines: watch them pass.
for i in $(seq 45); do
	[ "$(screen | grep -c 'reload failed')" -le 2 ] ||
		{ screen >&2; fail "a duplicate error line after a status poll"; }
	sleep 0.1
done
assert_eq 2 "$(screen | grep -c 'reload failed')" "no duplicate after the status polls"
"${TM[@]}" resize-window -t hk -x 200 -y 60
see 'last hour: 2 delivered, 1 deferred, 0 bounced'
assert_eq 2 "$(screen | grep -c 'reload failed')" "no duplicate at 200x60"
[ -s "$T/log/tui.stderr" ] && fail "the console wrote to stderr: $(cat "$T/log/tui.stderr")"

# --- no tls_cert: said in words ---
mkdir -p "$T/conf2"
cp "$T/conf/remotes" "$T/conf2/"
grep -v '^tls_' "$T/conf/hikyaku.conf.good" >"$T/conf2/hikyaku.conf"
tui "$T/conf2" 80 24
see 'hikyakud .* is running'
see 'no server certificate \(STARTTLS not offered\)'

# --- daemon down, no spool: the error is reported, not printed over ---
hk_stop
"${TM[@]}" kill-server 2>/dev/null
mkdir -p "$T/conf3"
cp "$T/conf/remotes" "$T/conf3/"
sed "s|^spool = .*|spool = $T/nospool|" "$T/conf2/hikyaku.conf" >"$T/conf3/hikyaku.conf"
out=$(timeout 30 "$top_builddir/hikyaku" -C "$T/conf3" queue list </dev/null 2>"$T/nospool.err")
assert_eq 1 $? "queue list without a spool"
assert_grep "cannot read the spool: $T/nospool/queue: No such file" "$T/nospool.err" \
	"queue list names the spool it could not read"
tui "$T/conf3" 80 24
see 'hikyakud is NOT running'
see "cannot read the spool: $T/nosp"
[ -s "$T/log/tui.stderr" ] && fail "the console wrote to stderr: $(cat "$T/log/tui.stderr")"
# The curses screen is intact: the footer is still on the last line.
screen | tail -n 1 | grep -q 'help' || { screen >&2; fail "the footer is gone"; }
"${TM[@]}" kill-server 2>/dev/null
exit 0

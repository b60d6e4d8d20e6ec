#!/bin/bash
# sendmail_user: what an ordinary user can do with hikyaku-sendmail while
# remotes is 0640 root:GROUP, as it must be when it holds a password
# (DESIGN §12): inject (maildrop 1733), mailq and -q through public.sock;
# newaliases still needs the whole configuration. Also: mail injected
# while the daemon is down is listed by mailq and `queue list` as not yet
# queued, and a line over 998 octets reaches the upstream folded instead
# of bouncing ("500 Line too long").
. "$(dirname "$0")/lib.sh"

upstream_start up
hk_conf "defaultdomain = example"
hk_remotes "127.0.0.1 smtp --port=$UP_PORT_up"
hk_start
hk_stop

if [ $HK_ROOT = 1 ] && command -v setpriv >/dev/null; then
	chgrp "$(id -gn "$HK_USER")" "$T/conf/remotes"
	chmod 0640 "$T/conf/remotes"
	asuser() { setpriv --reuid=54321 --regid=54321 --clear-groups "$@"; }
	ASUSER=1
else
	hk_log "not root (or no setpriv): injecting as $(id -un)"
	asuser() { "$@"; }
	ASUSER=0
fi
SM=$top_builddir/hikyaku-sendmail

# --- injection with the daemon down, one line of 3000 octets ---
LONG=$(printf 'x%.0s' $(seq 1 3000))
{
	printf 'Subject: long line\nMessage-ID: <long@test>\nX-Long: %s\n\n' "$LONG"
	printf '%s\nshort line\n' "$LONG"
} >"$T/long.txt"
asuser timeout 30 "$SM" -C "$T/conf" -f user@example.org long@example.net \
	<"$T/long.txt" >"$T/inject.log" 2>&1 ||
	fail "injection as an ordinary user: $(cat "$T/inject.log")"

# --- the daemon is down: the maildrop file is listed, not yet queued ---
out=$(timeout 30 "$SM" -C "$T/conf" -bp 2>/dev/null) || fail "mailq with the daemon down"
assert_match "waiting in maildrop: not yet queued" "$out" "mailq marks maildrop files"
assert_match "long@example.net" "$out" "mailq lists the maildrop recipient"
assert_match "1 Request\." "$out" "mailq counts the maildrop file"
out=$(hk_cli queue list 2>/dev/null) || fail "queue list with the daemon down"
assert_match "<user@example.org> -> long@example.net  maildrop \(injected while the daemon was down; not yet queued\)" \
	"$out" "queue list marks maildrop files"
out=$(hk_cli queue list --json 2>/dev/null)
assert_match '"state":"maildrop"' "$out" "queue list --json state"

if [ $ASUSER = 1 ]; then
	# newaliases validates everything, remotes included: root's job.
	asuser timeout 30 "$SM" -C "$T/conf" -bi >"$T/newaliases.log" 2>&1
	assert_eq 78 $? "newaliases as an ordinary user"
fi

# --- delivered folded, no bounce ---
hk_start
wait_for 30 upstream_has up 1 || fail "long message not delivered: $(hk_cli queue list)"
wait_for 30 hk_queue_empty || fail "queue not empty: $(hk_cli queue list)"
sleep 1
assert_eq 1 "$(upstream_count up)" "messages upstream (a bounce too?)"
"$PY" - "$T/up-up" "$LONG" <<'PYEOF' || fail "long lines not folded as expected"
import glob, sys
(eml,) = glob.glob(sys.argv[1] + "/*.eml")
raw = open(eml, "rb").read()
lines = raw.split(b"\r\n") if b"\r\n" in raw else raw.split(b"\n")
assert max(len(l) for l in lines) <= 998, max(len(l) for l in lines)
long = sys.argv[2].encode()
# Unfold the header as RFC 5322 says (CRLF removed, the SPACE kept).
text = raw.replace(b"\r\n", b"\n")
head, body = text.split(b"\n\n", 1)
hdr = head.replace(b"\n ", b" ")
assert b"X-Long: " + long[:990] in hdr, "header not folded as continuation"
assert hdr.replace(b" ", b"").count(long) == 1, "header value changed"
assert body.replace(b"\n ", b"") == long + b"\nshort line\n", body[:80]
PYEOF
assert_no_grep 'Line too long' "$T/log/hikyaku.log" "daemon log"

if [ $ASUSER = 1 ]; then
	# mailq and -q go through public.sock for an ordinary user.
	out=$(asuser timeout 30 "$SM" -C "$T/conf" -bp 2>&1) ||
		fail "mailq as an ordinary user: $out"
	assert_eq "Mail queue is empty" "$out" "mailq as an ordinary user"
	asuser timeout 30 "$SM" -C "$T/conf" -q >"$T/flush.log" 2>&1 ||
		fail "sendmail -q as an ordinary user: $(cat "$T/flush.log")"
fi
hk_stop || fail "daemon stop"

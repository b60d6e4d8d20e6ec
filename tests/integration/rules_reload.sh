#!/bin/bash
# rules_reload: a broken rule file never replaces the rules a running
# daemon has. For each of access, aliases, transport, sasl_passwd,
# sender_relay and generics in turn, one bad line makes `hikyaku reload`
# fail naming FILE:LINE:COL (and SIGHUP log it), the daemon stays up, and the old rules still
# decide: an access REJECT still refuses, an alias still takes mail, the
# transport entry and the sender_relay entry still route to their
# upstreams, the generics entry still rewrites the sender. A good reload
# then takes effect.
# `hikyaku-sendmail -bi` and `newaliases` on a bad
# aliases file report FILE:LINE:COL and exit non-zero.
. "$(dirname "$0")/lib.sh"
need_cmd swaks

upstream_start tr
upstream_start sr
upstream_start dflt
hk_conf
hk_remotes "127.0.0.1 smtp --port=$UP_PORT_dflt"
C=$T/conf
good_access='# access
To:blocked@relay.test	REJECT'
good_aliases='# aliases
keep:	/dev/null'
good_transport="# transport
t.example	smtp:[127.0.0.1]:$UP_PORT_tr"
good_sasl_passwd='# sasl_passwd
[relay.example.net]:587	user:secret'
good_sender_relay="# sender_relay
@s.example	[127.0.0.1]:$UP_PORT_sr"
good_generics='# generics
@s.example	@generic.example'
for f in access aliases transport sasl_passwd sender_relay generics; do
	v=good_$f
	printf '%s\n' "${!v}" >"$C/$f"
done
chmod 644 "$C"/access "$C"/aliases "$C"/transport "$C"/sender_relay "$C"/generics
chmod 600 "$C/sasl_passwd"
[ "$HK_ROOT" = 1 ] && chown "$HK_USER" "$C/sasl_passwd"
hk_start

n=0
# The old rules decide: each check fails the test with what it saw.
old_rules_hold() { # WHY
	n=$((n + 1))
	hk_swaks -f s@example.org -t blocked@relay.test >"$T/s-$n-a.log" 2>&1 &&
		fail "$1: access REJECT no longer refuses: $(tail -3 "$T/s-$n-a.log")"
	assert_grep '<\*\* +550 5\.7\.1' "$T/s-$n-a.log" "$1: access REJECT"
	hk_swaks -f s@example.org -t keep@relay.test >"$T/s-$n-b.log" 2>&1 ||
		fail "$1: alias keep@ refused: $(tail -3 "$T/s-$n-b.log")"
	hk_swaks -f s@example.org -t "u$n@t.example" >"$T/s-$n-c.log" 2>&1 ||
		fail "$1: mail to t.example refused: $(tail -3 "$T/s-$n-c.log")"
	wait_for 30 upstream_has tr "$n" ||
		fail "$1: the transport entry no longer routes: $(hk_cli queue list)"
	hk_swaks -f "boss$n@s.example" -t "z$n@other.example" >"$T/s-$n-d.log" 2>&1 ||
		fail "$1: mail from s.example refused: $(tail -3 "$T/s-$n-d.log")"
	wait_for 30 upstream_has sr "$n" ||
		fail "$1: the sender_relay entry no longer routes: $(hk_cli queue list)"
	grep -q "\"mail_from\": \"boss$n@generic.example\"" "$T"/up-sr/*.json ||
		fail "$1: generics no longer rewrites: $(cat "$T"/up-sr/*.json)"
	assert_eq 0 "$(upstream_count dflt)" "$1: messages that fell through to the remotes"
}
old_rules_hold "before any reload"

# bad FILE LINE:COL CONTENT: reload refused, the old rules stay.
bad() {
	local f=$1 where=$2 v=good_$1
	printf '%s\n' "$3" >"$C/$f"
	lines=$(wc -l <"$T/log/hikyaku.log")
	hk_cli reload >"$T/reload-$f.txt" 2>&1 &&
		fail "reload accepted a broken $f: $(cat "$T/reload-$f.txt")"
	assert_grep "$f:$where:" "$T/reload-$f.txt" "reload answer for a broken $f (file:line:col)"
	# hikyaku reload checks first; SIGHUP makes the daemon itself try.
	kill -HUP "$HK_DAEMON_PID"
	wait_for 10 eval "tail -n +$((lines + 1)) '$T/log/hikyaku.log' | grep -q '$f:$where'" ||
		fail "the log does not say why the reload of $f failed"
	kill -0 "$HK_DAEMON_PID" || fail "daemon died on a broken $f"
	old_rules_hold "after a broken $f"
	printf '%s\n' "${!v}" >"$C/$f"
}
bad access 3:9 "${good_access}
Connect:10.0.0.300	RELAY"
bad aliases 3:6 "${good_aliases}
bad:	\"|unterminated"
bad transport 3:28 "${good_transport}
x.example	smtp:[127.0.0.1]:99999"
bad sasl_passwd 3:15 "${good_sasl_passwd}
[h.example]:25"
bad sender_relay 3:16 "${good_sender_relay}
@x.example	[x]:bad"
bad generics 3:13 "${good_generics}
@host.local	example.org"

# newaliases and hikyaku-sendmail -bi check before asking for a reload.
printf '%s\n' "$good_aliases" 'bad:	"|unterminated' >"$C/aliases"
hk_sendmail -bi >"$T/bi.txt" 2>&1 && fail "sendmail -bi exited 0 on a bad aliases file"
assert_grep 'aliases:3:6:' "$T/bi.txt" "sendmail -bi (file:line:col)"
ln -s "$top_builddir/hikyaku-sendmail" "$T/newaliases"
HIKYAKU_CONFIG_DIR=$C timeout 30 "$T/newaliases" >"$T/na.txt" 2>&1 &&
	fail "newaliases exited 0 on a bad aliases file"
assert_grep 'aliases:3:6:' "$T/na.txt" "newaliases (file:line:col)"
old_rules_hold "after newaliases on a bad aliases file"

# A good reload takes effect: keep@ is gone, gone@ refuses.
printf '# aliases\nother:\t/dev/null\n' >"$C/aliases"
printf '%s\n' "$good_access" 'To:gone@relay.test	REJECT' >"$C/access"
hk_sendmail -bi >"$T/bi-ok.txt" 2>&1 || fail "sendmail -bi of good files: $(cat "$T/bi-ok.txt")"
hk_swaks -f s@example.org -t keep@relay.test >"$T/after-1.log" 2>&1 &&
	fail "keep@ still accepted after its alias was removed"
assert_grep '<\*\* +550 5\.1\.1' "$T/after-1.log" "keep@ after a good reload"
hk_swaks -f s@example.org -t gone@relay.test >"$T/after-2.log" 2>&1 &&
	fail "the new access line does not refuse"
assert_grep '<\*\* +550 5\.7\.1' "$T/after-2.log" "gone@ after a good reload"
hk_stop || fail "daemon stop"
exit 0

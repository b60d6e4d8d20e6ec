#!/bin/bash
# trace: `hikyaku trace` on the seed examples names the file:line behind
# each decision; `hikyaku-sendmail -bt` answers /parse through a pipe
# without a prompt; and for a set of addresses the daemon's log names the
# same rules as the trace (both run core/rules.c).
. "$(dirname "$0")/lib.sh"
need_cmd swaks

EX=${HK_EXAMPLES:-$top_srcdir/../shared/examples}
[ -d "$EX" ] || EX=/work/shared/examples
[ -f "$EX/access" ] || skip "no seed examples at $EX"

# --- the seed examples, unchanged ---
mkdir -p "$T/ex"
for f in access aliases local-host-names transport sasl_passwd remotes; do
	cp "$EX/$f" "$T/ex/$f"
done
chmod 600 "$T/ex/sasl_passwd" "$T/ex/remotes"
echo "me = mail.example.jp" >"$T/ex/hikyaku.conf"
ex_trace() { timeout 30 "$top_builddir/hikyaku" -C "$T/ex" trace "$@" </dev/null; }

ex_trace project2@example.jp >"$T/t1" 2>&1
assert_grep '^mailer \*file\*, user /dev/null +rule=aliases:4$' "$T/t1" "trace project2"
assert_grep 'local project2: +\[aliases:4\]' "$T/t1" "trace project2 (tree)"

ex_trace project3@example.jp >"$T/t2" 2>&1
assert_grep '^mailer prog, user "\|/usr/local/bin/procmail" +rule=aliases:6$' "$T/t2" "trace project3"

ex_trace user@foo.com --client 192.168.1.7 >"$T/t3" 2>&1
assert_grep 'client 192.168.1.7: may relay +\[access:9\]' "$T/t3" "trace foo.com"
assert_grep 'transport "foo.com" matches: smtp:\[mail.foo.com\] +\[transport:3\]' "$T/t3" "trace foo.com"
assert_grep '^mailer smtp, host \[mail.foo.com\]:25, user user@foo.com +rule=transport:3$' "$T/t3" "trace foo.com"

ex_trace user@example.com --client 192.168.0.5 >"$T/t4" 2>&1
assert_grep '"192.168.0" RELAY +\[access:8\]' "$T/t4" "trace example.com"
assert_grep 'transport "example.com" matches: : +\[transport:2\]' "$T/t4" "trace example.com"
assert_grep '^mailer smtp, host \[neighbor\]:25 \(remotes, in order\), user user@example.com +rule=remotes$' "$T/t4" "trace example.com"

ex_trace anyone@example.org --client 192.168.0.5 >"$T/t5" 2>&1
assert_grep '^mailer smtp, host \[10.20.30.40\]:25, user anyone@example.org +rule=transport:5$' "$T/t5" "trace *"

if ex_trace user@elsewhere.org --client 10.9.9.9 >"$T/t6" 2>&1; then
	fail "a relay attempt from an outside client traced as accepted"
fi
assert_grep '^result: refused: 554 5.7.1 <user@elsewhere.org>: Relay access denied +rule=built-in$' "$T/t6" "trace relay denied"

# -bt fed by a pipe: no banner, no prompt, the same answers.
printf '/parse project2@example.jp\nuser@bar.co.jp\n' |
	HIKYAKU_CONFIG_DIR=$T/ex timeout 30 "$top_builddir/hikyaku-sendmail" -bt >"$T/bt" 2>&1 ||
	fail "sendmail -bt failed: $(cat "$T/bt")"
assert_no_grep '^> |ADDRESS TEST MODE' "$T/bt" "-bt through a pipe"
assert_grep '^mailer \*file\*, user /dev/null +rule=aliases:4$' "$T/bt" "-bt /parse"
assert_grep '^mailer smtp, host \[mx.bar.co.jp\]:25, user user@bar.co.jp +rule=transport:4$' "$T/bt" "-bt plain address"

# --- the daemon and the trace agree ---
upstream_start a
upstream_start dflt
mkdir -p "$T/mail"
chmod 777 "$T/mail"
hk_conf
hk_remotes "127.0.0.1 smtp --port=$UP_PORT_dflt"
printf '# aliases\nboxer: %s/mail/boxer\nvoid: /dev/null\nmix: boxer, far@other.example\n' "$T" >"$T/conf/aliases"
printf '# transport\na.example  smtp:[127.0.0.1]:%s\n' "$UP_PORT_a" >"$T/conf/transport"
printf '@special.example [127.0.0.1]:%s\n' "$UP_PORT_a" >"$T/conf/sender_relay"
chmod 644 "$T/conf/aliases" "$T/conf/transport" "$T/conf/sender_relay"
hk_start

# sender recipient, one pair per line
cat >"$T/cases" <<EOF
s@example.org x@a.example
s@example.org w@other.example
boss@special.example z@other.example
s@example.org mix@relay.test
s@example.org void@relay.test
EOF
while read -r from to; do
	case $to in
	*@relay.test)
		printf 'Subject: t\n\nx\n' | hk_sendmail -f "$from" "$to" || fail "sendmail $to" ;;
	*)
		hk_swaks -f "$from" -t "$to" >"$T/swaks.log" 2>&1 || fail "swaks $to: $(tail -3 "$T/swaks.log")" ;;
	esac
done <"$T/cases"
wait_for 30 hk_queue_empty || fail "queue not empty: $(hk_cli queue list)"

L=$T/log/hikyaku.log
while read -r from to; do
	want=$(hk_cli trace --from "$from" "$to" | sed -n 's/^mailer .* rule=\(.*\)$/\1/p' | sort -u | tr '\n' ' ')
	got=$(grep -E "to=<$to>|orig_to=<$to>" "$L" | grep -v 'status=expanded' |
		sed -n 's/.* rule=\([^,]*\),.*/\1/p' | sort -u | tr '\n' ' ')
	[ -n "$want" ] || fail "trace of $to gave no rule: $(hk_cli trace --from "$from" "$to")"
	assert_eq "$want" "$got" "rules for $to (trace vs daemon log)"
done <"$T/cases"
hk_stop
exit 0

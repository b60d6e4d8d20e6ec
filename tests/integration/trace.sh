#!/bin/bash
# trace: `hikyaku trace` on the seed examples names the file:line behind
# each decision; `hikyaku-sendmail -bt` answers /parse through a pipe
# without a prompt; for a set of addresses the daemon's log shows the
# same destinations, each with the same outcome and rule, as the trace
# (both run core/rules.c); and several addresses trace in one run.
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

# One line per destination, "OUTCOME KIND [ADDR] rule=R", sorted but not
# merged, so a destination missing on one side, one more, or one with
# another outcome or rule shows: SMTP destinations by their address,
# local ones (file, pipe, mailbox, /dev/null) by their rule.
trace_dests() {
	hk_cli trace --from "$1" "$2" | sed -n \
		-e 's/^mailer error, host 5[^,]*, user .* rule=\(.*\)$/bounced error rule=\1/p' \
		-e 's/^mailer error, host 4[^,]*, user .* rule=\(.*\)$/deferred error rule=\1/p' \
		-e 's/^mailer smtp, .*, user \([^ ]*\) .* rule=\(.*\)$/sent smtp <\1> rule=\2/p' \
		-e '/^mailer \(smtp\|error\)/!s/^mailer .* rule=\(.*\)$/sent local rule=\1/p' |
		sort
}
daemon_dests() {
	grep -E "to=<$1>|orig_to=<$1>" "$L" | grep -v 'status=expanded' | sed -n \
		-e 's/.* to=<\([^>]*\)>.* relay=local, rule=\([^,]*\),.* status=\([a-z]*\).*/\3 local rule=\2/p' \
		-e '/relay=local,/!s/.* to=<\([^>]*\)>.* relay=[^,]*, rule=\([^,]*\),.* status=\([a-z]*\).*/\3 smtp <\1> rule=\2/p' |
		sort
}
L=$T/log/hikyaku.log
while read -r from to; do
	want=$(trace_dests "$from" "$to")
	got=$(daemon_dests "$to")
	[ -n "$want" ] || fail "trace of $to gave no destination: $(hk_cli trace --from "$from" "$to")"
	assert_eq "$want" "$got" "destinations of $to (trace vs daemon log)"
done <"$T/cases"
# mix@ is one mbox and one SMTP destination: both sides list both.
assert_eq "$(trace_dests s@example.org mix@relay.test | tr '\n' ' ')" \
	"sent local rule=aliases:2 sent smtp <far@other.example> rule=remotes " \
	"trace of mix@relay.test, per destination"

# Several addresses at once: each traced in turn, in the order given,
# with its own result; the exit status says one of them fails.
if hk_cli trace --from s@example.org x@a.example void@relay.test \
	nosuch@relay.test >"$T/multi" 2>&1; then
	fail "trace with an unknown local name among several exited 0"
fi
assert_eq "$(grep -c '^trace <' "$T/multi")" 3 "trace of three addresses"
assert_eq "$(sed -n 's/^trace <\(.*\)>$/\1/p' "$T/multi" | tr '\n' ' ')" \
	"x@a.example void@relay.test nosuch@relay.test " "order of the traces"
assert_grep '^mailer smtp, host \[127.0.0.1\]:[0-9]+, user x@a.example +rule=transport:2$' "$T/multi" "trace x@a.example among several"
assert_grep '^mailer \*file\*, user /dev/null +rule=aliases:3$' "$T/multi" "trace void@ among several"
assert_grep '^result: refused: 550 5.1.1 <nosuch@relay.test>: Recipient address rejected' "$T/multi" "trace nosuch@ among several"
hk_cli trace --from s@example.org x@a.example void@relay.test >"$T/multi2" 2>&1 ||
	fail "trace of two deliverable addresses failed: $(cat "$T/multi2")"
hk_stop
exit 0

#!/bin/bash
# rules_smtp: rules seen from SMTP clients and upstreams.
#   - mail to an alias sent over SMTP (not the maildrop) reaches the
#     alias's file target;
#   - VRFY and EXPN: off by default (252 without an answer, 502); with
#     `vrfy = yes` VRFY says 250 for a local name, 252 for a remote one,
#     550 5.1.1 for an unknown one; with `expn = yes` EXPN lists an
#     alias's destinations to a client with relay rights and refuses
#     (550 5.7.1) one without (127.0.0.2, whose relaying `Connect:` OK
#     takes away);
#   - sasl_passwd credentials are sent by the daemon to an upstream that
#     requires AUTH (over verified STARTTLS) when the remotes line has
#     none of its own.
. "$(dirname "$0")/lib.sh"
need_cmd swaks certtool
hk_certs
C=$HK_CERTS

upstream_start auth --tls-cert "$C/server.crt" --tls-key "$C/server.key" \
	--require-tls --auth 'hkuser:pa#ss0rd'
mkdir -p "$T/mail"
chmod 777 "$T/mail"
hk_conf
hk_remotes "127.0.0.1 smtp --port=$UP_PORT_auth --starttls --x509cafile=$C/ca.crt"
cat >"$T/conf/aliases" <<EOF
# aliases for rules_smtp
boxer:	$T/mail/boxer
team:	boxer, far@remote.example
postmaster:	boxer
EOF
printf '# access\nConnect:127.0.0.2\tOK\n' >"$T/conf/access"
printf '# sasl_passwd\n[127.0.0.1]:%s\thkuser:pa#ss0rd\n' "$UP_PORT_auth" >"$T/conf/sasl_passwd"
chmod 644 "$T/conf/aliases" "$T/conf/access"
chmod 600 "$T/conf/sasl_passwd"
[ "$HK_ROOT" = 1 ] && chown "$HK_USER" "$T/conf/sasl_passwd"

# chat CLIENT-IP CMD...: one reply per line ("250-a" continuations
# joined with " | "), the greeting first.
cat >"$T/chat.py" <<'PYEOF'
import socket, sys
port, src = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=30,
                             source_address=(src, 0))
f = s.makefile("rb")
def reply():
    lines = []
    while True:
        l = f.readline().decode().rstrip("\r\n")
        lines.append(l)
        if len(l) < 4 or l[3] != "-":
            return " | ".join(lines)
print(reply())
for c in sys.argv[3:] + ["QUIT"]:
    s.sendall(c.encode() + b"\r\n")
    print(reply())
PYEOF
chat() { timeout 60 "$PY" "$T/chat.py" "$HK_PORT" "$@"; }

# --- VRFY and EXPN off (the default) ---
hk_start
chat 127.0.0.1 "EHLO x" "VRFY boxer" "VRFY nosuch" "EXPN team" >"$T/off" ||
	fail "session: $(cat "$T/off")"
assert_eq "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery" \
	"$(sed -n 3p "$T/off")" "VRFY boxer, vrfy off"
assert_eq "$(sed -n 3p "$T/off")" "$(sed -n 4p "$T/off")" "VRFY off says the same for an unknown name"
assert_match '^502 5\.5\.1 ' "$(sed -n 5p "$T/off")" "EXPN, expn off"

# --- mail to an alias over SMTP reaches its file target; the remote
# destination of the same alias goes out with sasl_passwd credentials ---
hk_swaks -f s@example.org -t team@relay.test --header "Message-Id: <alias-smtp@test>" \
	>"$T/swaks-team.log" 2>&1 || fail "swaks to team@: $(tail -3 "$T/swaks-team.log")"
wait_for 30 grep -q 'alias-smtp@test' "$T/mail/boxer" ||
	fail "mail to team@ over SMTP did not reach $T/mail/boxer: $(hk_cli queue list)"
assert_grep '^From s@example.org ' "$T/mail/boxer" "mbox From_ line"
wait_for 30 upstream_has auth 1 ||
	fail "far@remote.example not delivered to the AUTH upstream: $(hk_cli queue list)"
assert_grep 'auth [A-Z0-9-]+ user=hkuser ok' "$T/log/upstream-auth.log" "upstream log (sasl_passwd credentials)"
f=$(ls "$T"/up-auth/*.json | head -1)
"$PY" -c 'import json, sys
m = json.load(open(sys.argv[1]))
assert m["tls"], "sent without TLS"
assert m["auth_mech"], "sent without AUTH"
assert m["rcpt_tos"] == ["far@remote.example"], m["rcpt_tos"]' "$f" ||
	fail "the AUTH upstream's record: $(cat "$f")"
assert_grep 'to=<far@remote.example>, orig_to=<team@relay.test>, .*status=sent' \
	"$T/log/hikyaku.log" "daemon log of the alias's remote destination"
wait_for 30 hk_queue_empty || fail "queue not empty: $(hk_cli queue list)"
hk_stop || fail "daemon stop"

# --- VRFY and EXPN on ---
hk_conf "vrfy = yes" "expn = yes"
hk_start
chat 127.0.0.1 "EHLO x" "VRFY boxer" "VRFY far@remote.example" "VRFY nosuch" \
	"EXPN team" "EXPN nosuch" >"$T/on" || fail "session: $(cat "$T/on")"
assert_eq "250 2.1.5 <boxer@relay.test>" "$(sed -n 3p "$T/on")" "VRFY boxer, vrfy on"
assert_eq "252 2.1.5 <far@remote.example>: not local, will attempt delivery" \
	"$(sed -n 4p "$T/on")" "VRFY of a remote address, vrfy on"
assert_match '^550 5\.1\.1 <nosuch@relay.test>: ' "$(sed -n 5p "$T/on")" "VRFY nosuch, vrfy on"
assert_match "^250-2\.1\.5 <boxer@relay.test> \(mailer \*file\*, user $T/mail/boxer\) \| 250 2\.1\.5 <far@remote.example> \(mailer smtp, " \
	"$(sed -n 6p "$T/on")" "EXPN team, expn on"
assert_match '^550 5\.1\.1 <nosuch@relay.test>: ' "$(sed -n 7p "$T/on")" "EXPN nosuch, expn on"
chat 127.0.0.2 "EHLO x" "EXPN team" "VRFY boxer" >"$T/on2" || fail "session: $(cat "$T/on2")"
assert_match '^550 5\.7\.1 ' "$(sed -n 3p "$T/on2")" "EXPN from a client without relay rights"
assert_eq "250 2.1.5 <boxer@relay.test>" "$(sed -n 4p "$T/on2")" "VRFY from a client without relay rights"
hk_stop || fail "daemon stop"
exit 0

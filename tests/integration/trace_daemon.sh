#!/bin/bash
# trace_daemon: for a set of clients, senders and recipients, `hikyaku
# trace RCPT --client IP --from SENDER` and the daemon reach the same
# SMTP decision and name the same file:line (issue 4: "the daemon's log
# against the trace, line by line"). trace.sh does the same for delivery
# routes; this test covers the server's decisions: Connect:/From:/To:
# lines with REJECT, ERROR:, RELAY, OK and DISCARD, untagged keys, the
# built-in relay policy, aliases and local names that do not exist, the
# relay tricks (percent hack, bang path, source route, quoted local part
# holding @) and IP literals: the address the client connected to (ours:
# the trace learns it from --server, or for loopback clients from its
# default, the first listen address) and a foreign one.
#
# For every case the trace's result line (`result: refused: REPLY
# rule=R`, `result: accepted and discarded rule=R` or `result: accepted
# rule=R`) is set against the daemon's decision line for
# the same transaction (`NOQUEUE: reject|discard|accept: STAGE from
# unknown[IP]: REPLY; rule=R;`) and the reply the client got: outcome,
# reply and rule must all agree (after a DISCARD both still judge the
# later stages, which may refuse).
#
# Clients: 127.0.0.1 (loopback, relays), 127.0.0.2 (loopback, relaying
# taken away by `Connect:127.0.0.2 OK`) and, as root inside the test's
# private network namespace (as relay_tricks.sh and server_rules.sh do),
# the outside addresses 10.255.0.1 (plain outsider), 10.255.0.7
# (Connect: RELAY), 10.255.0.8 (Connect: DISCARD) and 10.255.0.9
# (Connect: REJECT), with the daemon also listening on 10.255.0.1.
. "$(dirname "$0")/lib.sh"

clients="127.0.0.1 127.0.0.2"
listen_out=
OUT=
if [ "${HK_NETNS:-}" = 1 ]; then
	for a in 10.255.0.1 10.255.0.7 10.255.0.8 10.255.0.9; do
		ip addr add "$a/32" dev lo || fail "cannot add $a to lo"
	done
	OUT=10.255.0.1
	listen_out="listen = $OUT:$HK_PORT relay"
	clients="$clients 10.255.0.1 10.255.0.7 10.255.0.8 10.255.0.9"
else
	hk_log "not root in a network namespace: outside clients skipped"
fi

upstream_start up
hk_conf "$listen_out" "bad_rcpt_throttle = 0"
hk_remotes "127.0.0.1 smtp --port=$UP_PORT_up"
cat >"$T/conf/access" <<'EOF'
# access for trace_daemon
Connect:10.255.0.9	REJECT
Connect:10.255.0.8	DISCARD
Connect:10.255.0.7	RELAY
Connect:127.0.0.2	OK
From:spam@bad.example	ERROR:553 5.7.1 no spam here
From:drop@bad.example	DISCARD
bad.example		REJECT
To:gone@relay.test	REJECT
To:void@relay.test	DISCARD
To:partner.example	RELAY
To:vip@relay.test	OK
To:busy@relay.test	ERROR:450 4.2.1 try again later
EOF
cat >"$T/conf/aliases" <<'EOF'
# aliases for trace_daemon
alice:	/dev/null
vip:	alice
busy:	alice
EOF
printf 'relay.test\n' >"$T/conf/local-host-names"
chmod 644 "$T/conf/access" "$T/conf/aliases" "$T/conf/local-host-names"
hk_start
L=$T/log/hikyaku.log

cat >"$T/compare.py" <<'PYEOF'
"""Run every case through the trace and the daemon; print disagreements."""
import re, smtplib, socket, subprocess, sys

hikyaku, confdir, port, out_addr, log, clients = sys.argv[1:7]
clients = clients.split()
senders = ["s@example.org", "spam@bad.example", "drop@bad.example",
           "x@bad.example"]
rcpts = ["alice@relay.test", "nosuch@relay.test", "gone@relay.test",
         "void@relay.test", "vip@relay.test", "busy@relay.test",
         "p@partner.example", "far@remote.example", "y@bad.example"]
# Parsed before any access stage: judged for one sender only.
tricks = ["far%remote.example@relay.test", "remote.example!far@relay.test",
          "@relay.test:far@remote.example", '"far@remote.example"@relay.test',
          "alice@[%s]", "alice@[192.0.2.7]"]

def server(client):
    """The address the client connects to."""
    return "127.0.0.1" if client.startswith("127.") else out_addr

def trace(client, sender, rcpt):
    args = [hikyaku, "-C", confdir, "trace", rcpt, "--client", client,
            "--from", sender]
    if not client.startswith("127."):
        args += ["--server", server(client)]
    p = subprocess.run(args, capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    text = p.stdout + p.stderr
    m = re.search(r"^result: refused: (.*?) +rule=(\S+)$", text, re.M)
    if m:
        return ("reject", m.group(1), m.group(2)), text
    m = re.search(r"^result: accepted and discarded +rule=(\S+)$", text,
                  re.M)
    if m:
        return ("discard", "", m.group(1)), text
    m = re.search(r"^result: accepted +rule=(\S+)$", text, re.M)
    if m:
        return ("accept", "", m.group(1)), text
    return (None, "", ""), text

def session(client, sender, rcpt):
    """One transaction from client; the last reply, in words."""
    s = socket.create_connection((server(client), int(port)), timeout=30,
                                 source_address=(client, 0))
    f = s.makefile("rb")
    def reply():
        lines = []
        while True:
            l = f.readline().decode().rstrip("\r\n")
            lines.append(l)
            if len(l) < 4 or l[3] != "-":
                return l[:3] + " " + " ".join(x[4:] for x in lines)
    def cmd(c):
        s.sendall(c.encode() + b"\r\n")
        return reply()
    r = reply()
    if r.startswith("2"):
        for c in ("EHLO trace.test", "MAIL FROM:<%s>" % sender,
                  "RCPT TO:<%s>" % rcpt):
            r = cmd(c)
            if not r.startswith("2"):
                break
    cmd("QUIT")
    s.close()
    return r

DECISION = re.compile(r"NOQUEUE: (reject|discard|accept): (CONNECT|MAIL|RCPT) "
                      r"from unknown\[([^\]]+)\]: (.*?); rule=([^;]*);")

def daemon(client, lines):
    """The decision of one session, from its log lines."""
    found = {}
    for l in lines:
        m = DECISION.search(l)
        if m is None or m.group(3) != client:
            continue
        found.setdefault((m.group(1), m.group(2)), (m.group(4), m.group(5)))
    for stage in ("CONNECT", "MAIL", "RCPT"):
        if ("reject", stage) in found:
            text, rule = found[("reject", stage)]
            return ("reject", text, rule), stage
    # A client or sender DISCARD decides the transaction (the RCPT line
    # then only says "sender or client DISCARD").
    for stage in ("CONNECT", "MAIL", "RCPT"):
        if ("discard", stage) in found:
            return ("discard", "", found[("discard", stage)][1]), stage
    if ("accept", "RCPT") in found:
        return ("accept", "", found[("accept", "RCPT")][1]), "RCPT"
    return None, None

logf = open(log, encoding="utf-8", errors="replace")
logf.seek(0, 2)
bad = n = 0
for client in clients:
    cases = [(sender, rcpt) for sender in senders for rcpt in rcpts]
    cases += [("s@example.org", t.replace("%s", server(client)))
              for t in tricks]
    for sender, rcpt in cases:
        n += 1
        want, text = trace(client, sender, rcpt)
        got_reply = session(client, sender, rcpt)
        got, stage = daemon(client, logf.readlines())
        case = "client %s from <%s> to <%s>" % (client, sender, rcpt)
        print("%s: trace %s; daemon %s (%s); reply %s"
              % (case, want, got, stage, got_reply))
        why = None
        if got is None:
            why = "no decision line in the daemon's log"
        elif want != got:
            why = "trace %r, daemon %r" % (want, got)
        elif want[0] == "reject":
            # The client saw the logged reply (a refused greeting
            # is a 554 whatever the access line's code).
            exp = want[1] if stage != "CONNECT" else "554" + want[1][3:]
            if got_reply != exp:
                why = "reply %r, trace says %r" % (got_reply, exp)
        elif not got_reply.startswith("250"):
            why = "accepted by both, but the client got %r" % got_reply
        if why:
            bad += 1
            print("MISMATCH %s: %s\n%s" % (case, why, text),
                  file=sys.stderr)
print("%d cases, %d mismatches" % (n, bad))
sys.exit(1 if bad else 0)
PYEOF

timeout 250 "$PY" "$T/compare.py" "$top_builddir/hikyaku" "$T/conf" "$HK_PORT" \
	"${OUT:-127.0.0.1}" "$L" "$clients" >"$T/compare.log" 2>"$T/mismatch.log"
rc=$?
cat "$T/mismatch.log" >&2
[ $rc = 0 ] || fail "trace and daemon disagree: $(tail -1 "$T/compare.log")"

# The comparison covered every kind of decision.
for w in "trace ('reject', '553 5.7.1 no spam here', 'access:6')" \
	"trace ('reject', '550 5.7.1 Access denied', 'access:8')" \
	"trace ('reject', '550 5.7.1 Access denied', 'access:9')" \
	"trace ('reject', '450 4.2.1 try again later', 'access:13')" \
	"trace ('reject', '550 5.1.1 <nosuch@relay.test>: Recipient address rejected" \
	"trace ('discard', '', 'access:7')" \
	"trace ('discard', '', 'access:10')" \
	"to <p@partner.example>: trace ('accept', '', 'access:11')" \
	"to <vip@relay.test>: trace ('accept', '', 'access:12')" \
	"client 127.0.0.1 from <s@example.org> to <far@remote.example>: trace ('accept', '', 'built-in')" \
	"client 127.0.0.2 from <s@example.org> to <far@remote.example>: trace ('reject', '554 5.7.1 <far@remote.example>: Relay access denied', 'access:5')" \
	"client 127.0.0.1 from <s@example.org> to <far%remote.example@relay.test>: trace ('reject', '554 5.7.1 Relay access denied: routing with % or ! in the local part is not allowed', 'built-in')" \
	"client 127.0.0.1 from <s@example.org> to <remote.example!far@relay.test>: trace ('reject', '554 5.7.1 Relay access denied: routing with % or ! in the local part is not allowed', 'built-in')" \
	"client 127.0.0.1 from <s@example.org> to <@relay.test:far@remote.example>: trace ('reject', '554 5.7.1 Relay access denied: source routes are not allowed', 'built-in')" \
	"client 127.0.0.1 from <s@example.org> to <\"far@remote.example\"@relay.test>: trace ('reject', '554 5.7.1 Relay access denied: quoted local part with @, % or ! is not allowed', 'built-in')" \
	"client 127.0.0.1 from <s@example.org> to <alice@[127.0.0.1]>: trace ('accept', '', 'built-in')" \
	"client 127.0.0.1 from <s@example.org> to <alice@[192.0.2.7]>: trace ('reject', '554 5.7.1 Relay access denied: address literal is not this host', 'built-in')"; do
	grep -qF "$w" "$T/compare.log" || fail "no case gave: $w"
done
if [ -n "$OUT" ]; then
	for w in "client 10.255.0.1 from <s@example.org> to <far@remote.example>: trace ('reject', '554 5.7.1 <far@remote.example>: Relay access denied', 'built-in')" \
		"trace ('reject', '550 5.7.1 Access denied', 'access:2')" \
		"trace ('discard', '', 'access:3')" \
		"client 10.255.0.7 from <s@example.org> to <far@remote.example>: trace ('accept', '', 'access:4')" \
		"client 10.255.0.1 from <s@example.org> to <alice@[10.255.0.1]>: trace ('accept', '', 'built-in')" \
		"client 10.255.0.1 from <s@example.org> to <alice@[192.0.2.7]>: trace ('reject', '554 5.7.1 Relay access denied: address literal is not this host', 'built-in')" \
		"client 10.255.0.1 from <s@example.org> to <far%remote.example@relay.test>: trace ('reject', '554 5.7.1 Relay access denied: routing with % or ! in the local part is not allowed', 'built-in')"; do
		grep -qF "$w" "$T/compare.log" || fail "no case gave: $w"
	done
fi
hk_stop
exit 0

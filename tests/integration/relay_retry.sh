#!/bin/bash
# relay_retry: backoff and queue lifetime.
#  1. The upstream answers 451 to the recipient. pausetime = 1m, maxpause
#     = 4m: after successive failed tries (each started with `hikyaku queue
#     retry`) the next retry is 60, 120, 240, then 240 s (the cap) after
#     the failure, as `hikyaku queue show --json` reports it.
#  2. queue_lifetime: the daemon is stopped, the message's arrival time in
#     its envelope is moved two minutes back, queue_lifetime set to its
#     minimum (1m); after a start and one more failed try the message
#     bounces and the sender gets a DSN with status 4.4.7 (delivery time
#     expired) and the upstream's last reply, and its text says the
#     message expired after 1 minute (queue_lifetime) before that reply.
. "$(dirname "$0")/lib.sh"
need_cmd swaks

upstream_start up --reply-rcpt 'rcpt@example.net=451 4.3.0 try later'
hk_conf "pausetime = 1m" "maxpause = 4m"
hk_remotes "127.0.0.1 smtp --port=$UP_PORT_up"
hk_start

hk_swaks -f sender@example.org -t rcpt@example.net \
	--header "Message-Id: <retry@test>" >"$T/swaks.log" 2>&1 ||
	fail "swaks failed: $(tail -n 5 "$T/swaks.log")"
qid_now() { hk_queue_first | sed -n 's/^qid=//p'; }
wait_for 30 test -n "$(qid_now)" || fail "nothing queued"
qid=$(qid_now)

# "ATTEMPTS NEXT_TRY LAST_FAILURE_TIME STATE" of the first recipient.
show() {
	hk_cli queue show --json "$qid" | "$PY" -c '
import json, sys
for line in sys.stdin:
    if line.startswith("{") and "recipients" in line:
        r = json.loads(line)["recipients"][0]
        h = r.get("history") or [{"time": 0}]
        print(r["attempts"], r["next_try"], h[-1]["time"], r["state"])
        break
'
}
attempts_are() { set -- $(show) "$1"; [ "$1" = "$5" ] && [ "$4" = deferred ]; }

n=1
for want in 60 120 240 240; do
	[ $n = 1 ] || hk_cli queue retry "$qid" >"$T/retry.txt" 2>&1 ||
		fail "queue retry: $(cat "$T/retry.txt")"
	wait_for 30 attempts_are $n || fail "attempt $n not recorded: $(show)"
	set -- $(show)
	hk_log "attempt $1: next retry $(($2 - $3)) s after the failure"
	assert_eq "$want" "$(($2 - $3))" "delay before retry $((n + 1)) (pausetime 1m doubling to maxpause 4m)"
	n=$((n + 1))
done
assert_eq 0 "$(upstream_count up)" "messages stored while the upstream answers 451"

# 2. Past queue_lifetime: the next failed try bounces it.
hk_stop || fail "daemon stop"
env_file=$(grep -l "^id: $qid" "$T"/spool/queue/* 2>/dev/null | head -n 1)
[ -n "$env_file" ] || fail "no envelope file for $qid in $T/spool/queue"
grep -q '^arrival: [0-9]*$' "$env_file" || fail "no arrival: line in $env_file"
sed -i "s/^arrival: [0-9]*\$/arrival: $(($(date +%s) - 120))/" "$env_file"
hk_conf "pausetime = 1m" "maxpause = 4m" "queue_lifetime = 1m"
hk_start
hk_cli queue retry "$qid" >"$T/retry.txt" 2>&1 || fail "queue retry: $(cat "$T/retry.txt")"
wait_for 30 upstream_has up 1 || fail "no DSN arrived: $(hk_cli queue list)"
wait_for 30 hk_queue_empty || fail "queue not empty after the bounce: $(hk_cli queue list)"
assert_grep "$qid: to=<rcpt@example.net>, .*status=bounced \(message too old \(queue_lifetime\)" \
	"$T/log/hikyaku.log" "daemon log (the bounce)"
"$PY" - "$T/up-up" <<'PYEOF' || fail "the DSN is wrong"
import email, glob, json, sys
(eml,) = glob.glob(sys.argv[1] + "/*.eml")
meta = json.load(open(eml[:-4] + ".json"))
assert meta["mail_from"] == "", meta
assert meta["rcpt_tos"] == ["sender@example.org"], meta
msg = email.message_from_binary_file(open(eml, "rb"))
assert msg.get_content_type() == "multipart/report", msg.get_content_type()
status = [p for p in msg.walk() if p.get_content_type() == "message/delivery-status"]
assert status, "no message/delivery-status part"
text = status[0].as_string()
assert "Action: failed" in text, text
assert "rcpt@example.net" in text, text
# RFC 3463 4.4.7: delivery time expired; the last reply stays the diagnosis.
assert "Status: 4.4.7" in text, text
assert "Diagnostic-Code: smtp; 451 4.3.0 try later" in text, text
# The words for the sender: it expired, after how long, and the last reply.
plain = msg.get_payload()[0]
assert plain.get_content_type() == "text/plain", plain.get_content_type()
words = " ".join(plain.get_payload(decode=True).decode().split())
want = ("<rcpt@example.net>: The message expired after 1 minute in the queue "
        "(queue_lifetime) without being delivered; the last attempt: "
        "host 127.0.0.1 said: 451 4.3.0 try later")
assert want in words, words
PYEOF
hk_stop || fail "daemon stop"

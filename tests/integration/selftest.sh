#!/bin/bash
# selftest: `hikyaku selftest` passes on a correct configuration and
# fails (exit 1), naming the trick, when the access file makes an open
# relay for its simulated outside client (192.0.2.1).
. "$(dirname "$0")/lib.sh"

hk_conf "adminaddr = admin@example.org"
export HIKYAKUD=$top_builddir/hikyakud
st() { timeout 120 "$top_builddir/hikyaku" -C "$T/conf" selftest "$@" >"$T/st.out" 2>&1; }

st || fail "selftest failed on a correct configuration: $(cat "$T/st.out")"
assert_grep '^PASS  plain relay ' "$T/st.out" "plain relay"
assert_grep '^PASS  percent hack ' "$T/st.out" "percent hack"
assert_grep '^PASS  source route ' "$T/st.out" "source route"
assert_grep '^PASS  smuggling <LF>\.<LF> ' "$T/st.out" "smuggling"
assert_grep '^PASS  smuggling <CR><LF>\.<CR> ' "$T/st.out" "smuggling"
assert_no_grep '^(FAIL|SKIP)' "$T/st.out" "selftest on a correct configuration"
assert_grep '^selftest: all checks passed$' "$T/st.out" "summary"

# An open relay for the simulated client: every remote RCPT gets through.
printf 'Connect:192.0.2\tRELAY\n' >"$T/conf/access"
chmod 644 "$T/conf/access"
st
rc=$?
assert_eq 1 "$rc" "selftest exit status on an open relay"
assert_grep '^FAIL  plain relay +RCPT TO:<victim@selftest.invalid>: got through: 250 2\.1\.5 Ok +rule=access:1$' "$T/st.out" "open relay reported"
assert_grep '^FAIL  mixed case ' "$T/st.out" "mixed case reported"
# The address module still refuses the routing tricks.
assert_grep '^PASS  percent hack ' "$T/st.out" "percent hack on an open relay"
assert_grep '^selftest: [0-9]+ checks FAILED' "$T/st.out" "summary on an open relay"

# A To: RELAY for a domain is an open relay to that domain only.
printf 'To:selftest.invalid\tRELAY\n' >"$T/conf/access"
st && fail "selftest passed with To:selftest.invalid RELAY: $(cat "$T/st.out")"
assert_grep '^FAIL  plain relay .*rule=access:1$' "$T/st.out" "To: RELAY reported"
hk_check_sanitizer || fail "sanitizer report from hikyakud -bh or hikyaku"
exit 0

# tests/integration/tls/diag_lib.sh: sourced after lib.sh by the tests
# that use the diagnosis certificates and the test TLS server
# (tls_diag.sh, relay_tls_diag.sh).
#
#   diag_certs             make the certificates of mkcerts_diag.sh in $C
#   diag_serve NAME MODE CERT KEY [server options]
#                          start smtp_tls_server.py (MODE: starttls, ssl,
#                          plain, nostarttls, hangup) with $C/CERT and $C/KEY (empty:
#                          none); sets PORT_NAME once it listens

C=$T/certs

diag_certs() {
	"$HK_LIBDIR/tls/mkcerts_diag.sh" "$C" >"$T/log/mkcerts.log" 2>&1 ||
		fail "making certificates failed: $(cat "$T/log/mkcerts.log")"
}

diag_serve() {
	local name=$1 mode=$2 cert=$3 key=$4
	shift 4
	hk_bg "srv-$name" "$PY" "$HK_LIBDIR/tls/smtp_tls_server.py" --mode "$mode" \
		${cert:+--cert "$C/$cert"} ${key:+--key "$C/$key"} \
		--portfile "$T/port-$name" "$@"
	wait_for 10 test -s "$T/port-$name" || fail "server $name did not start"
	printf -v "PORT_$name" '%s' "$(cat "$T/port-$name")"
}

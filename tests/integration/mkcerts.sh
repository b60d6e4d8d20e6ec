#!/bin/bash
# mkcerts.sh DIR: test certificates made with GnuTLS's certtool.
#
#   ca.crt ca.key            test CA ("hikyaku test CA")
#   server.crt server.key    localhost, SAN DNS:localhost IP:127.0.0.1 IP:::1,
#                            signed by ca
#   other-ca.crt             an unrelated CA (the "wrong CA" of the tests)
#   wronghost.crt/.key       signed by ca, for "wrong.example" only
#   expired.crt/.key         signed by ca for localhost, expired
#   selfsigned.crt/.key      self-signed for localhost
#   client.crt client.key   a client certificate signed by ca
#   client.pem               client.crt + client.key (nullmailer's --x509certfile)
#   ca.der                   ca.crt in DER (--x509fmtder)
#   empty.crl revoked.crl    CRLs of ca: none revoked / server.crt revoked
#
# Existing files are kept, so tests may call it for a shared directory.
set -eu
dir=${1:?usage: mkcerts.sh DIR}
mkdir -p "$dir"
cd "$dir"
command -v certtool >/dev/null || { echo "mkcerts.sh: certtool missing (gnutls-bin)" >&2; exit 1; }

key() {
	[ -s "$1" ] || certtool --generate-privkey --key-type=rsa --bits=2048 \
		--outfile "$1" 2>/dev/null
}

# tmpl NAME: write template NAME.tmpl from stdin
tmpl() { cat >"$1.tmpl"; }

if [ ! -s ca.crt ]; then
	key ca.key
	tmpl ca <<-EOF
	cn = "hikyaku test CA"
	organization = "hikyaku tests"
	serial = 1
	expiration_days = 3650
	ca
	cert_signing_key
	crl_signing_key
	EOF
	certtool --generate-self-signed --load-privkey ca.key \
		--template ca.tmpl --outfile ca.crt 2>/dev/null
fi

if [ ! -s other-ca.crt ]; then
	key other-ca.key
	tmpl other-ca <<-EOF
	cn = "unrelated test CA"
	serial = 2
	expiration_days = 3650
	ca
	cert_signing_key
	EOF
	certtool --generate-self-signed --load-privkey other-ca.key \
		--template other-ca.tmpl --outfile other-ca.crt 2>/dev/null
fi

# leaf NAME CN EXTRA-TEMPLATE-LINES: a certificate signed by ca
leaf() {
	[ -s "$1.crt" ] && return 0
	key "$1.key"
	printf 'cn = "%s"\nserial = %s\n%s\n' "$2" "$RANDOM$RANDOM" "$3" >"$1.tmpl"
	certtool --generate-certificate --load-privkey "$1.key" \
		--load-ca-certificate ca.crt --load-ca-privkey ca.key \
		--template "$1.tmpl" --outfile "$1.crt" 2>/dev/null
}

server_ext='dns_name = "localhost"
ip_address = "127.0.0.1"
ip_address = "::1"
tls_www_server
encryption_key
signing_key
expiration_days = 3650'

leaf server localhost "$server_ext"
leaf wronghost wrong.example 'dns_name = "wrong.example"
tls_www_server
encryption_key
signing_key
expiration_days = 3650'
leaf client "hikyaku test client" 'tls_www_client
signing_key
expiration_days = 3650'

if [ ! -s expired.crt ]; then
	key expired.key
	# certtool takes fixed dates; a validity window wholly in the past.
	printf 'cn = "localhost"\nserial = 77\n%s\n' \
		"$(printf '%s\n' "$server_ext" | grep -v expiration_days)
activation_date = \"2001-01-01 00:00:00 UTC\"
expiration_date = \"2002-01-01 00:00:00 UTC\"" >expired.tmpl
	certtool --generate-certificate --load-privkey expired.key \
		--load-ca-certificate ca.crt --load-ca-privkey ca.key \
		--template expired.tmpl --outfile expired.crt 2>/dev/null
fi

if [ ! -s selfsigned.crt ]; then
	key selfsigned.key
	printf 'cn = "localhost"\nserial = 78\n%s\n' "$server_ext" >selfsigned.tmpl
	certtool --generate-self-signed --load-privkey selfsigned.key \
		--template selfsigned.tmpl --outfile selfsigned.crt 2>/dev/null
fi

[ -s client.pem ] || cat client.crt client.key >client.pem
[ -s ca.der ] || certtool --certificate-info --infile ca.crt --outder --outfile ca.der 2>/dev/null

crl() { # NAME [CERT-TO-REVOKE]
	[ -s "$1.crl" ] && return 0
	printf 'crl_next_update = 3650\ncrl_number = %s\n' "$RANDOM" >"$1.tmpl"
	certtool --generate-crl --load-ca-privkey ca.key --load-ca-certificate ca.crt \
		${2:+--load-certificate "$2"} --template "$1.tmpl" --outfile "$1.crl" 2>/dev/null
}
crl empty
crl revoked server.crt

# Keys are read by the test upstream and, when tests run as root, by the
# daemon after it dropped to nobody: readable, it is a throwaway sandbox.
chmod 644 ./*.key ./*.crt ./*.pem ./*.der ./*.crl
rm -f ./*.tmpl

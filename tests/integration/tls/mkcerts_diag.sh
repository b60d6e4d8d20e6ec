#!/bin/bash
# mkcerts_diag.sh DIR: the certificates of tests/integration/tls_diag.sh,
# one per diagnosis case of DESIGN section 7, made with certtool.
#
#   ca.crt/.key          root "diag root CA" (ECDSA, self-signed)
#   inter.crt/.key       intermediate "diag intermediate CA", signed by ca
#   good.crt/.key        localhost + 127.0.0.1, signed by inter
#   good-chain.pem       good.crt + inter.crt (what a server should send)
#   expired.crt          localhost, 2001-2002, signed by ca
#   future.crt           localhost, valid from 2090, signed by ca
#   mx.crt               mx.example.net + example.net, signed by ca
#   self.crt             self-signed localhost
#   weak.crt             RSA-1024 localhost, signed by ca
#   sha1.crt             localhost signed by ca with SHA-1
#   revoked.crt          localhost, signed by ca, listed in revoked.crl
#   ca.der               ca.crt in DER
#   other-ca.crt         an unrelated root
# Each NAME.crt has NAME.key beside it.
set -eu
dir=${1:?usage: mkcerts_diag.sh DIR}
mkdir -p "$dir"
cd "$dir"

ct() { certtool "$@" >/dev/null 2>&1 || { echo "certtool $* failed" >&2; certtool "$@" >&2; exit 1; }; }
eckey() { ct --generate-privkey --key-type=ecdsa --curve=secp256r1 --outfile "$1"; }

server='dns_name = "localhost"
ip_address = "127.0.0.1"
tls_www_server
signing_key
encryption_key'

# root NAME CN
root() {
	eckey "$1.key"
	printf 'cn = "%s"\nserial = %s\nexpiration_days = 3650\nca\ncert_signing_key\ncrl_signing_key\n' \
		"$2" "$RANDOM" >"$1.tmpl"
	ct --generate-self-signed --load-privkey "$1.key" --template "$1.tmpl" --outfile "$1.crt"
}

# leaf NAME ISSUER TEMPLATE-LINES [certtool options]
leaf() {
	local name=$1 issuer=$2 lines=$3
	shift 3
	[ -s "$name.key" ] || eckey "$name.key"
	printf 'serial = %s\n%s\n' "$RANDOM$RANDOM" "$lines" >"$name.tmpl"
	ct --generate-certificate --load-privkey "$name.key" \
		--load-ca-certificate "$issuer.crt" --load-ca-privkey "$issuer.key" \
		--template "$name.tmpl" --outfile "$name.crt" "$@"
}

root ca "diag root CA"
root other-ca "unrelated CA"
leaf inter ca 'cn = "diag intermediate CA"
expiration_days = 3650
ca
cert_signing_key'
leaf good inter "cn = \"localhost\"
expiration_days = 365
$server"
cat good.crt inter.crt >good-chain.pem
leaf expired ca "cn = \"localhost\"
activation_date = \"2001-01-01 00:00:00 UTC\"
expiration_date = \"2002-01-01 00:00:00 UTC\"
$server"
leaf future ca "cn = \"localhost\"
activation_date = \"2090-01-01 00:00:00 UTC\"
expiration_date = \"2091-01-01 00:00:00 UTC\"
$server"
leaf mx ca 'cn = "mx.example.net"
dns_name = "mx.example.net"
dns_name = "example.net"
expiration_days = 365
tls_www_server
signing_key
encryption_key'
eckey self.key
printf 'cn = "localhost"\nserial = 9\nexpiration_days = 365\n%s\n' "$server" >self.tmpl
ct --generate-self-signed --load-privkey self.key --template self.tmpl --outfile self.crt
ct --generate-privkey --key-type=rsa --bits=1024 --outfile weak.key
leaf weak ca "cn = \"localhost\"
expiration_days = 365
$server"
leaf sha1 ca "cn = \"localhost\"
expiration_days = 365
$server" --hash=SHA1
leaf revoked ca "cn = \"localhost\"
expiration_days = 365
$server"
printf 'crl_next_update = 3650\ncrl_number = %s\n' "$RANDOM" >revoked.crl.tmpl
ct --generate-crl --load-ca-privkey ca.key --load-ca-certificate ca.crt \
	--load-certificate revoked.crt --template revoked.crl.tmpl --outfile revoked.crl
ct --certificate-info --infile ca.crt --outder --outfile ca.der
rm -f ./*.tmpl
# The test servers read the keys; this is a throwaway sandbox.
chmod 644 ./*

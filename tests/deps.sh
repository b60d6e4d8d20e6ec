# tests/deps.sh: the Debian 12 packages hikyaku needs to build and test,
# sourced by ./check and ./demo.  deps_install installs what is missing when
# run as root (apt-get update only when something is missing) and otherwise
# says what is missing and goes on: `make check` itself never needs apt.

DEPS_PACKAGES="gcc libc6-dev make autoconf automake pkg-config
libgnutls28-dev libgsasl-dev libc-ares-dev libncurses-dev libreadline-dev
libcmocka-dev swaks libnet-ssleay-perl libio-socket-inet6-perl python3
python3-aiosmtpd gnutls-bin gsasl dnsmasq-base strace tmux curl iproute2
util-linux procps ncurses-base ca-certificates groff-base"
# (swaks needs libnet-ssleay-perl for --tls; it is only a Recommends.)

# deps_missing PKG...: print the packages that are not installed.
deps_missing() {
	local p st
	for p in "$@"; do
		st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)
		[ "$st" = installed ] || echo "$p"
	done
}

# deps_install [PKG...]: default DEPS_PACKAGES.
deps_install() {
	local missing
	[ $# -gt 0 ] || set -- $DEPS_PACKAGES
	if ! command -v dpkg-query >/dev/null; then
		echo "deps: not a Debian system; install the equivalents of: $*" >&2
		return 0
	fi
	missing=$(deps_missing "$@" | tr '\n' ' ')
	[ -n "${missing// }" ] || return 0
	if [ "$(id -u)" != 0 ]; then
		echo "deps: not root, not installing; missing: $missing" >&2
		return 0
	fi
	echo "deps: installing $missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	# The package lists of a fresh machine are empty or stale.
	apt-get update -q >&2 || return 1
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing </dev/null >&2
}

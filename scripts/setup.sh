#!/usr/bin/env bash
# Installs the Debian packages fs38 needs to build, test, fuzz and bench,
# only those missing. Quiet when everything is there.
set -euo pipefail
PKGS=(build-essential pkg-config clang libclang-rt-14-dev
      libpcap-dev zlib1g-dev libjansson-dev libyaml-dev libsodium-dev libssl-dev libevent-dev libmicrohttpd-dev
      libsqlite3-dev libpq-dev postgresql nats-server libnats-dev time curl jq
      sip-tester sipvicious kamailio kamailio-websocket-modules kamailio-tls-modules openssl tshark
      libosip2-dev libsofia-sip-ua-dev
      tcpdump nftables sngrep gnutls-bin tzdata systemd strace
      iproute2 procps llvm-14)
# iproute2 (ss: the tests' and generate.sh's port checks) and procps (pgrep:
# the signal tests) are "important", not "required": a minimal Debian (a
# container) lacks them. llvm-14 (llvm-profdata, llvm-cov for make fuzz-cov)
# is only a Recommends of clang-14, which --no-install-recommends skips.
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "setup: installing ${missing[*]}" >&2
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null

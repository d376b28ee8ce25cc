#!/usr/bin/env bash
# pgo-train.sh -- the training run of the profile-guided release build.
#
#   scripts/pgo-train.sh PGO_DIR GEN_PCAP
#
# PGO_DIR holds an fs38 built with -fprofile-generate (see the Makefile); its
# runs here leave the branch and call counts (*.gcda) beside the release
# objects, which are then compiled with -fprofile-use. The training
# traffic is what `fs38 inspect` meets in the field, and none of it is the
# benchmark's input (the bench's parser corpus holds the SIP payloads of
# examples/*.pcap, so the shipped examples are not trained on):
#   - the test captures of real peers and encapsulations (TLS, WebSocket,
#     HEP over TCP, SCTP, tunnels) and the parser tests' mixed capture, with
#     the example site configuration (zones, trust rules);
#   - the RFC 4475 torture messages (--raw: the parser's error paths);
#   - a generated mixed capture (seed 7, not the bench's 38) with 1 and 2
#     workers, and a generated spoofed-source flood (evictions).
# Functions the training never runs (the hub, the client) are compiled as
# without a profile (-fprofile-partial-training). A failed training only
# costs speed: the release build then goes ahead without a profile.
set -uo pipefail
PGO=${1:?usage: scripts/pgo-train.sh PGO_DIR GEN_PCAP}
GEN=${2:?usage: scripts/pgo-train.sh PGO_DIR GEN_PCAP}
cd "$(dirname "$0")/.." || exit 2
FS38=$PGO/fs38
[ -s "$PGO/train-mixed.pcap" ] || "$GEN" mixed "$PGO/train-mixed.pcap" 24 7 >/dev/null || exit 1
[ -s "$PGO/train-flood.pcap" ] || "$GEN" flood "$PGO/train-flood.pcap" 60000 30000 7 >/dev/null || exit 1
run() { "$FS38" inspect -q --no-progress "$@" >/dev/null 2>&1; [ $? -le 1 ]; }
CAPS=tests/data/capture
run -c examples/site.yaml $CAPS/mixed.pcap $CAPS/tls.pcap $CAPS/ws.pcap $CAPS/hep-tcp.pcap \
    $CAPS/sctp.pcap $CAPS/tunnels.pcap &&
    run --raw tests/data/rfc4475/*.dat &&
    run "$PGO/train-mixed.pcap" "$PGO/train-flood.pcap" &&
    run --workers 2 "$PGO/train-mixed.pcap"

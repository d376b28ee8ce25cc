#!/usr/bin/env bash
# test_live_gone.sh -- a live capture whose interface goes away.
#
# fs38 inspect -i on a veth pair's end sees SIPVicious-like OPTIONS injected
# at the peer (AF_PACKET, from 10.99.x.y), then the pair is deleted: the
# capture breaks ("The interface disappeared"). What came before is still
# reported -- the summary with its incidents (without --json or --events it
# is the only place they go) -- and the exit code is 2.
#
# Needs root (a veth pair and capture on it). Everything started here is
# bounded (timeout) and stopped by pid.
#
# Usage: FS38=build/release/fs38 tests/cli/test_live_gone.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT" || exit 2

if [ "$(id -u)" -ne 0 ]; then fail "prerequisite: root"; finish test_live_gone; exit; fi
A=fs38g$$; B=fs38h$$; A=${A:0:15}; B=${B:0:15}
if ! ip link add "$A" type veth peer name "$B" 2>"$TMPD/ip.err"; then
    fail "prerequisite: a veth pair: $(cat "$TMPD/ip.err")"; finish test_live_gone; exit
fi
trap 'ip link del "$A" 2>/dev/null; rm -rf "$TMPD"' EXIT
ip link set "$A" up && ip link set "$B" up

# N OPTIONS from N addresses with SIPVicious' User-Agent, as frames on $B
inject() { # iface n
    python3 - "$1" "$2" <<'PY'
import socket, struct, sys, time
iface, n = sys.argv[1], int(sys.argv[2])
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b)); s = (s >> 16) + (s & 0xFFFF); s += s >> 16
    return ~s & 0xFFFF
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind((iface, 0))
for i in range(n):
    src = "10.99.%d.%d" % (1 + i // 250, i % 250 + 2)
    sip = ("OPTIONS sip:100@10.99.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP %s:5061;branch=z9hG4bK%d\r\n"
           "From: \"sipvicious\"<sip:100@1.1.1.1>;tag=1\r\nTo: \"sipvicious\"<sip:100@1.1.1.1>\r\n"
           "Call-ID: c%d\r\nCSeq: 1 OPTIONS\r\nUser-Agent: friendly-scanner\r\nMax-Forwards: 70\r\n"
           "Content-Length: 0\r\n\r\n" % (src, i, i)).encode()
    udp = struct.pack("!HHHH", 5061, 5060, 8 + len(sip), 0) + sip
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton("10.99.0.1"))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    s.send(b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00" + ip + udp)
    time.sleep(0.002)
PY
}

timeout -k 5 30 "$FS38" inspect -i "$A" --stats-json "$TMPD/gone.json" >"$TMPD/gone.out" 2>"$TMPD/gone.err" &
fpid=$!
sleep 1.5   # let the capture open
ok "inject frames on $B" inject "$B" 20
sleep 1     # two ticks: all read
ip link del "$A"
rc=0; wait "$fpid" || rc=$?
ok "interface gone: exit 2 (got $rc)" test "$rc" -eq 2
ok "interface gone: said on stderr" grep -q "$A: .*disappeared" "$TMPD/gone.err"
ok "interface gone: the summary is printed" grep -q '^INCIDENTS  20 ' "$TMPD/gone.out"
ok "interface gone: the summary names a scanner" grep -q 'SIP-SCAN-001' "$TMPD/gone.out"
ok "interface gone: --stats-json has the 20 frames" \
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(d["frames"] != 20 or d["events"] != 20)' "$TMPD/gone.json"
[ "$T_FAIL" -eq 0 ] || sed 's/^/  | /' "$TMPD/gone.err" "$TMPD/gone.out" >&2
finish test_live_gone

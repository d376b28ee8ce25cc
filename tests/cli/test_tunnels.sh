#!/usr/bin/env bash
# test_tunnels.sh -- SIP inside the encapsulations of operators' links and
# mirror ports (tests/data/capture/tunnels.pcap, made by make_tunnels.py):
# MPLS (IP, Ethernet pseudowire with and without control word), PPPoE (IPv4,
# IPv6), GRE (IP, Ethernet with a VLAN tag, ERSPAN II and III), IP in IP,
# IPv6 in IP, VXLAN, Geneve, GTP-U (S1-U; N3 with a PDU session container),
# VXLAN holding GRE, SIP over TCP in GRE, a datagram fragmented inside GRE,
# one fragmented both inside and outside GRE, L2TPv2 (PPP with a two-byte
# protocol; compressed PPP after Ns/Nr and an offset), PPTP's enhanced GRE
# (version 1, PPP inside; x-encap names its call id). Each message is an
# OPTIONS with Call-ID tunnel-N from its own inner address and a scanner's
# User-Agent, so each one decoded is a SIP-SCAN-001 incident naming its
# inner source.
#
# The messages fs38 finds are checked against tshark's (tshark -Y sip) on the
# same file; where they differ, the difference is the point:
#   - tunnel-15 sits five IP-in-IP layers deep: tshark reads it, fs38 opens
#     at most CAP_MAX_ENCAP (4) and counts the frame as bad_ip;
#   - tunnel-2 and tunnel-19 ride an MPLS Ethernet pseudowire (with and
#     without control word): tshark's heuristic reads neither, fs38 both;
#   - tunnel-20 is plain SIP sent to VXLAN's port: tshark takes it for VXLAN,
#     fs38 checks for an Ethernet frame behind the header and finds SIP.
# tunnel-23 was fragmented before it entered a GRE tunnel on a VLAN, and each
# of its fragments again on the way through the tunnel: both read it.
#
# Usage: FS38=build/asan/fs38 tests/cli/test_tunnels.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT" || exit 2

PCAP=tests/data/capture/tunnels.pcap

ids() { sort -V | tr '\n' ' ' | sed 's/ $//'; }
scan_ids() { jq -r 'select(.rule.id == "SIP-SCAN-001") | .evidence.sample.call_id' "$1" | ids; }
scan_sources() { jq -r 'select(.rule.id == "SIP-SCAN-001") | .observables[] | select(.role == "source") | .value' "$1" | ids; }

expect_exit 0 "inspect tunnels.pcap" "$FS38" inspect --json --stats-json "$TMPD/w1.json" "$PCAP"
cp "$TMPD/out" "$TMPD/w1.ndjson"
want="tunnel-1 tunnel-2 tunnel-3 tunnel-4 tunnel-5 tunnel-6 tunnel-7 tunnel-8 tunnel-9 tunnel-10 tunnel-11 tunnel-12 tunnel-13 tunnel-14 tunnel-16 tunnel-17 tunnel-18 tunnel-19 tunnel-20 tunnel-21 tunnel-22 tunnel-23 tunnel-24 tunnel-25"
ok "every encapsulated message found, none too deep" is "$(scan_ids "$TMPD/w1.ndjson")" "$want"
src_want="10.1.0.1 10.1.0.2 10.1.0.3 10.1.0.5 10.1.0.6 10.1.0.7 10.1.0.8 10.1.0.9 10.1.0.11 10.1.0.12 10.1.0.13 \
10.1.0.14 10.1.0.16 10.1.0.17 10.1.0.18 10.1.0.19 10.1.0.20 10.1.0.23 10.1.0.24 10.45.0.21 2001:db8:4::1 2001:db8:4::/64 2001:db8:10::1 2001:db8:10::/64 2001:db8:25::1 2001:db8:25::/64 2001:db8:45::22 2001:db8:45::/64"
ok "incidents name the inner sources" is "$(scan_sources "$TMPD/w1.ndjson")" "$src_want"
ok "no observable names a tunnel endpoint" bash -c "! jq -r '.observables[].value' '$TMPD/w1.ndjson' | grep -q '^198\\.18\\.'"
ok "a plain message has no x-encap" is "$(jq -r 'select(.evidence.sample.call_id == "tunnel-20") | .evidence.sample | has("x-encap")' "$TMPD/w1.ndjson" | sort -u)" false
stat() { jq -r ".capture.$2" "$1"; }
ok "tunneled frames counted (28 of 31)" is "$(stat "$TMPD/w1.json" tunneled)" 28
ok "the frame 5 tunnels deep is bad_ip" is "$(stat "$TMPD/w1.json" bad_ip)" 1
ok "the datagrams fragmented inside GRE reassembled (1 + the 2 outer and 1 inner of tunnel-23)" \
    is "$(stat "$TMPD/w1.json" ip_reassembled)" 4
ok "the human summary counts tunneled frames" bash -c "'$FS38' inspect '$PCAP' 2>&1 | grep -q 'tunneled frames 28'"

# tshark on the same file, every SIP message it dissects
tshark -r "$PCAP" -Y sip -T fields -e sip.Call-ID 2>/dev/null | ids >"$TMPD/tshark"
ok "tshark reads the file" test -s "$TMPD/tshark"
both=$(comm -12 <(tr ' ' '\n' <"$TMPD/tshark" | sort) <(tr ' ' '\n' <<<"$want" | sort) | ids)
only_tshark=$(comm -23 <(tr ' ' '\n' <"$TMPD/tshark" | sort) <(tr ' ' '\n' <<<"$want" | sort) | ids)
only_fs38=$(comm -13 <(tr ' ' '\n' <"$TMPD/tshark" | sort) <(tr ' ' '\n' <<<"$want" | sort) | ids)
ok "fs38 and tshark agree on 21 messages" is "$(wc -w <<<"$both")" 21
ok "only tshark: the one 5 layers deep" is "$only_tshark" "tunnel-15"
ok "only fs38: the pseudowires and SIP on VXLAN's port" is "$only_fs38" "tunnel-2 tunnel-19 tunnel-20"

# Each sample's x-encap (the layers it came through: VLAN id, bottom MPLS
# label, PPPoE session, GRE key (PPTP's call id), ERSPAN session, VNI, TEID, L2TP tunnel and
# session, and the outer
# addresses of IP-carried tunnels) against what tshark dissects in the same
# frame: the same ids of each kind, and the outer addresses are tshark's IP
# sources but the message's own
tshark -r "$PCAP" -Y sip -T fields -E separator='|' -e sip.Call-ID -e vlan.id -e mpls.label -e mpls.bottom \
    -e pppoe.session_id -e gre.key -e erspan.spanid -e vxlan.vni -e geneve.vni -e gtp.teid -e ip.src -e ipv6.src \
    -e l2tp.tunnel -e l2tp.session -e gre.key.call_id \
    2>/dev/null >"$TMPD/tshark.layers"
compare_layers() {
    python3 - "$TMPD/w1.ndjson" "$TMPD/tshark.layers" <<'PY'
import json, sys
ours = {}
for line in open(sys.argv[1]):
    e = json.loads(line)
    s = e["evidence"].get("sample", {})
    if e["rule"]["id"] == "SIP-SCAN-001":
        ours[s["call_id"]] = (s.get("x-encap", []), s["src"].rsplit(":", 1)[0].strip("[]"))
kinds = ["vlan", "mpls", "pppoe", "gre", "erspan", "vxlan", "geneve", "gtpu", "l2tp"]
bad = compared = 0
for line in open(sys.argv[2]):
    f = line.rstrip("\n").split("|")
    cid = f[0]
    if cid not in ours:
        continue
    split = lambda v: [x for x in v.split(",") if x]
    num = lambda v: int(v, 0)
    labels, bottoms = split(f[2]), split(f[3])
    theirs = {"vlan": [num(x) for x in split(f[1])],
              "mpls": [num(l) for l, b in zip(labels, bottoms) if b == "1"],
              "pppoe": [num(x) for x in split(f[4])], "gre": [num(x) for x in split(f[5]) + split(f[14])],
              "erspan": [num(x) for x in split(f[6])], "vxlan": [num(x) for x in split(f[7])],
              "geneve": [num(x) for x in split(f[8])], "gtpu": [num(x) for x in split(f[9])],
              "l2tp": [num(t) << 16 | num(s) for t, s in zip(split(f[12]), split(f[13]))]}
    layers, inner = ours[cid]
    mine = {k: [l["id"] for l in layers if l["kind"] == k and "id" in l] for k in kinds}
    outer_mine = sorted(l["src"] for l in layers if "src" in l)
    srcs = split(f[10]) + split(f[11])
    if inner in srcs:
        srcs.remove(inner)
    compared += 1
    if mine != theirs or outer_mine != sorted(srcs):
        bad += 1
        print(cid, "fs38", mine, outer_mine, "tshark", theirs, sorted(srcs), file=sys.stderr)
print(compared, bad)
PY
}
ok "x-encap: the layers tshark sees, in all 21 messages both read" is "$(compare_layers)" "21 0"

# two workers: the reader's peek opens the same tunnels, so each inner
# client is sharded (and reassembled) as the decoder sees it
expect_exit 0 "inspect --workers 2" "$FS38" inspect --workers 2 --json --stats-json "$TMPD/w2.json" "$PCAP"
ok "--workers 2: the same messages" is "$(scan_ids "$TMPD/out")" "$want"
encaps() { jq -c 'select(.rule.id == "SIP-SCAN-001") | [.evidence.sample.call_id, .evidence.sample["x-encap"]]' "$1" | sort; }
ok "--workers 2: the same x-encap" is "$(encaps "$TMPD/out")" "$(encaps "$TMPD/w1.ndjson")"
ok "--workers 2: the same tunneled count" is "$(stat "$TMPD/w2.json" tunneled)" 28
ok "--workers 2: the same bad_ip" is "$(stat "$TMPD/w2.json" bad_ip)" 1
ok "--workers 2: the same reassembled (the reader's and the workers')" is "$(stat "$TMPD/w2.json" ip_reassembled)" 4

# a 40 KB message fragmented before it entered a GRE tunnel, each inner
# fragment fragmented again on the way: reassembled with one worker and with
# two (a worker's fragment table has room for a whole 64 KiB datagram, not
# only for one of up to 32 KiB)
python3 - "$TMPD/nested_big.pcap" "$ROOT/tests/data/capture" <<'PY'
import struct, sys
sys.path.insert(0, sys.argv[2])
from pcapgen import eth, ip4, udp
body = b'z' * 40000 + b'\r\n'
msg = (b'OPTIONS sip:100@192.0.2.200 SIP/2.0\r\nVia: SIP/2.0/UDP 10.1.0.40:5060;branch=z9hG4bK-t40\r\n'
       b'Max-Forwards: 70\r\nFrom: <sip:100@192.0.2.200>;tag=t40\r\nTo: <sip:100@192.0.2.200>\r\n'
       b'Call-ID: tunnel-40\r\nCSeq: 1 OPTIONS\r\nUser-Agent: friendly-scanner\r\n'
       b'Content-Length: ' + str(len(body)).encode() + b'\r\n\r\n' + body)
u = udp(5060, 5060, msg)
gre = lambda payload: struct.pack('!HH', 0, 0x0800) + payload
frames = []
for i, off in enumerate(range(0, len(u), 1400)):
    more = 0x2000 if off + 1400 < len(u) else 0
    g = gre(ip4('10.1.0.40', '192.0.2.200', 17, u[off:off + 1400], 400, more | off // 8))
    cut = (len(g) // 2) & ~7
    frames += [eth(ip4('198.18.0.1', '198.18.0.2', 47, g[:cut], 1000 + i, 0x2000)),
               eth(ip4('198.18.0.1', '198.18.0.2', 47, g[cut:], 1000 + i, cut // 8))]
out = struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1)
for i, f in enumerate(frames):  # a millisecond apart
    out += struct.pack('<IIII', 1700000000, i * 1000, len(f), len(f)) + f
open(sys.argv[1], 'wb').write(out)
PY
for w in 1 2; do
    expect_exit 0 "inspect a 40 KB message fragmented in fragments, --workers $w" \
        "$FS38" inspect --workers $w --json --stats-json "$TMPD/nb$w.json" "$TMPD/nested_big.pcap"
    ok "--workers $w: the 40 KB message in fragments in fragments read" is "$(scan_ids "$TMPD/out")" "tunnel-40"
    ok "--workers $w: nothing dropped" is "$(stat "$TMPD/nb$w.json" frag_dropped)" 0
done

finish test_tunnels

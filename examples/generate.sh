#!/usr/bin/env bash
# generate.sh -- regenerate every example capture in examples/ with real tools
# on loopback: kamailio (the SBC/registrar, examples/kamailio.cfg), SIPp
# (subscribers, the core PBX, the IPX partner, fraudsters), SIPVicious
# (svmap/svwar/svcrack), tcpdump (the capture). Needs root (tcpdump on lo).
#
#   examples/generate.sh [NAME...]     NAME = benign scan-svmap ... (default: all)
#
# The example network (127.0.0.0/8 is routed to lo on Linux, no set-up needed):
#   127.0.0.10 SBC/registrar (kamailio)     127.0.0.11 core PBX (sipp uas)
#   127.0.0.12 misconfigured PBX (leaks)    127.0.1.0/24 trusted IPX partner
#   127.0.3.0/24 customers (untrusted)      127.0.2.0/24 attackers (untrusted)
# Every tool runs under `timeout`, with bounded call counts (-m); everything
# this script starts is stopped by pid at the end. Output: examples/NAME.pcap.
# Packet contents are reproducible up to timing, ports, Call-IDs and tags.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${OUT:-$HERE}
SC=$HERE/scenarios
SYS_PY=/usr/bin/python3          # the interpreter Debian's sipvicious is installed for
ALL="benign scan-svmap enum-svwar brute-svcrack flood-invite flood-trusted wangiri irsf spoof-trust malformed tcp-mixed"

die() { echo "generate.sh: $*" >&2; exit 1; }
log() { echo "generate.sh: $*" >&2; }

[ "$(id -u)" -eq 0 ] || die "needs root (tcpdump -i lo)"
for t in tcpdump sipp kamailio tshark timeout ss; do   # ss: iproute2
    command -v "$t" >/dev/null || die "missing tool: $t"
done
[ -x "$SYS_PY" ] && "$SYS_PY" -c 'import sys; sys.path.insert(0, "/usr/share/sipvicious"); import sipvicious.svmap' \
    || die "sipvicious (Debian package) not importable by $SYS_PY"

WORK=$(mktemp -d /tmp/fs38-examples.XXXXXX)
BG_PIDS=()
cleanup() {
    local p
    for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${BG_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"

bg() { "$@" & BG_PIDS+=($!); LAST_PID=$!; }
# stop PID: SIGTERM, wait (bounded by the timeout it runs under)
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

port_free() { ! ss -Hlnu "src $1:$2" | grep -q . && ! ss -Hlnt "src $1:$2" | grep -q .; }
wait_listen() { # proto ip port seconds
    local i
    for ((i = 0; i < $4 * 10; i++)); do
        ss -Hln"$1" "src $2:$3" | grep -q . && return 0
        sleep 0.1
    done
    return 1
}

# ---- capture -----------------------------------------------------------------
CAP_PID=
cap_start() { # name filter
    CAP_NAME=$1
    bg timeout -k 5 120 tcpdump -i lo -s 0 -U -n -w "$WORK/$1.pcap" "$2" 2>"$WORK/$1.tcpdump"
    CAP_PID=$LAST_PID
    local i
    for ((i = 0; i < 50; i++)); do
        grep -q "listening on" "$WORK/$1.tcpdump" 2>/dev/null && { sleep 0.3; return 0; }
        sleep 0.1
    done
    die "$1: tcpdump did not start: $(cat "$WORK/$1.tcpdump")"
}
cap_stop() {
    sleep 1   # let the last retransmissions/responses in
    kill -INT "$CAP_PID" 2>/dev/null || true
    wait "$CAP_PID" 2>/dev/null || true
    [ -s "$WORK/$CAP_NAME.pcap" ] || die "$CAP_NAME: empty capture"
    cp "$WORK/$CAP_NAME.pcap" "$OUT/$CAP_NAME.pcap"
    local n
    n=$(tshark -r "$OUT/$CAP_NAME.pcap" -Y sip 2>/dev/null | wc -l)
    log "$CAP_NAME.pcap: $(stat -c %s "$OUT/$CAP_NAME.pcap") bytes, $n SIP frames"
    [ "$n" -gt 0 ] || die "$CAP_NAME: no SIP in the capture"
}

# ---- peers -------------------------------------------------------------------
KAM_PID=
kam_start() {
    port_free 127.0.0.10 5060 || die "127.0.0.10:5060 is already in use (another kamailio?)"
    mkdir -p "$WORK/kam"
    bg timeout -k 5 300 kamailio -f "$HERE/kamailio.cfg" -DD -E -P "$WORK/kam/kamailio.pid" -Y "$WORK/kam" \
        >"$WORK/kam/log" 2>&1
    KAM_PID=$LAST_PID
    wait_listen u 127.0.0.10 5060 10 && wait_listen t 127.0.0.10 5060 10 \
        || die "kamailio did not start: $(tail -5 "$WORK/kam/log")"
}
kam_stop() { [ -n "$KAM_PID" ] && stop "$KAM_PID"; KAM_PID=; }

# pbx NAME SCENARIO IP: a sipp uas on IP:5060 (stopped with pbx_stop)
PBX_PID=
pbx_start() {
    port_free "$2" 5060 || die "$2:5060 is already in use"
    bg timeout -k 5 120 sipp -sf "$SC/$1" -i "$2" -p 5060 -nostdin -timeout 100s \
        -trace_err -error_file "$WORK/pbx-$1.err" >"$WORK/pbx-$1.log" 2>&1
    PBX_PID="$PBX_PID $LAST_PID"
    wait_listen u "$2" 5060 5 || die "sipp uas $1 did not start on $2: $(tail -3 "$WORK/pbx-$1.log")"
}
pbx_stop() { local p; for p in $PBX_PID; do stop "$p"; done; PBX_PID=; }

# uac SECONDS SCENARIO CSV LOCAL_IP LOCAL_PORT TARGET [sipp options...]
# Runs in the foreground; fails if sipp reports failed calls.
uac() {
    local secs=$1 scen=$2 csv=$3 ip=$4 port=$5 target=$6; shift 6
    local args=(-sf "$SC/$scen" -i "$ip" -p "$port" -nostdin -timeout "${secs}s" -timeout_error
                -trace_err -error_file "$WORK/uac-$ip-$port.err")
    [ -n "$csv" ] && args+=(-inf "$WORK/$csv")
    if ! timeout -k 5 $((secs + 5)) sipp "${args[@]}" "$@" "$target" >"$WORK/uac-$ip-$port.log" 2>&1; then
        log "sipp $scen from $ip:$port failed; last errors:"
        tail -5 "$WORK/uac-$ip-$port.err" >&2 2>/dev/null || true
        return 1
    fi
}
uac_bg() { bg uac "$@"; }

sv() { # SRC_IP TOOL args... (SIPVicious from SRC_IP; bounded by timeout)
    local src=$1 tool=$2; shift 2
    timeout -k 5 60 "$SYS_PY" "$HERE/sv-bound.py" "$src" "$tool" "$@" >"$WORK/$tool-$src.log" 2>&1 \
        || die "$tool from $src failed: $(tail -3 "$WORK/$tool-$src.log")"
}

csv() { # name, then rows on stdin
    { echo SEQUENTIAL; cat; } >"$WORK/$1"
}

# ---- the captures -------------------------------------------------------------
SBC=127.0.0.10:5060
SIP_HOSTS='(host 127.0.0.10 or host 127.0.0.11 or host 127.0.0.12) and port 5060'

gen_benign() {
    csv users.csv <<'EOF'
100;[authentication username=100 password=hunter2x];
101;[authentication username=101 password=s3cr3t-101];
150;[authentication username=150 password=Pa55-150];
EOF
    csv cust-calls.csv <<'EOF'
101;+447700900200;127.0.0.10;
150;+447700900201;127.0.0.10;
100;+447700900202;127.0.0.10;
EOF
    csv ipx-call.csv <<'EOF'
+33612345678;+447700900203;ipx.example.org;+33612345678;ipx1;ipx.example.org;
+4915112345678;+447700900204;ipx.example.org;+4915112345678;ipx2;ipx.example.org;
EOF
    kam_start
    pbx_start uas-answer.xml 127.0.0.11
    cap_start benign "$SIP_HOSTS"
    uac 15 uac-register.xml users.csv 127.0.3.20 5070 $SBC -m 3 -r 5
    uac_bg 15 uac-options.xml "" 127.0.1.5 5060 $SBC -m 4 -r 1 -rp 2000
    local opt=$LAST_PID
    uac_bg 25 uac-call.xml cust-calls.csv 127.0.3.21 5070 $SBC -m 3 -r 1 -l 3
    local cust=$LAST_PID
    uac 25 uac-call-asserted.xml ipx-call.csv 127.0.1.5 5062 $SBC -m 2 -r 1 -l 2
    wait "$cust" || die "benign: customer calls failed"
    wait "$opt" || die "benign: IPX OPTIONS failed"
    cap_stop
    pbx_stop
    kam_stop
}

gen_scan-svmap() {
    kam_start
    cap_start scan-svmap 'host 127.0.2.5'
    # 31 addresses x 2 ports; only the SBC answers, the rest are closed ports
    sv 127.0.2.5 svmap -p 5060,5080 127.0.0.10-127.0.0.40
    cap_stop
    kam_stop
}

gen_enum-svwar() {
    kam_start
    cap_start enum-svwar 'host 127.0.2.6'
    sv 127.0.2.6 svwar -p 5060 -e 100-300 127.0.0.10
    cap_stop
    kam_stop
}

gen_brute-svcrack() {
    # 40 guesses, none of them 250's password
    local w
    for w in 123456 password 1234 12345 250 2500 0250 admin secret qwerty letmein \
        welcome 111111 000000 abc123 pass1234 sip sip250 voip 1q2w3e changeme \
        default asterisk freepbx test test123 user 250250 iloveyou monkey dragon \
        master 654321 zaq12wsx 987654321 summer2026 winter2026 p@ssw0rd trustno1 7777; do
        echo "$w"
    done >"$WORK/words.txt"
    kam_start
    cap_start brute-svcrack 'host 127.0.2.7'
    sv 127.0.2.7 svcrack -p 5060 -u 250 -d "$WORK/words.txt" 127.0.0.10
    cap_stop
    kam_stop
}

flood_csv() { # name caller-mode(one|many)
    local i
    for ((i = 0; i < 180; i++)); do
        if [ "$2" = one ]; then printf '+23276100999;+4477009%05d;127.0.2.30;\n' "$i"
        else printf '+3361%07d;+4477009%05d;ipx.example.org;\n' "$i" "$i"; fi
    done | csv "$1"
}
gen_flood-invite() {
    flood_csv flood.csv one
    kam_start
    pbx_start uas-busy.xml 127.0.0.11
    # only the attacker's leg is kept (as an edge sensor would see it) to keep the file small
    cap_start flood-invite 'host 127.0.2.30'
    uac 20 uac-flood.xml flood.csv 127.0.2.30 5060 $SBC -m 180 -r 300 -l 400
    cap_stop
    pbx_stop
    kam_stop
}
gen_flood-trusted() {
    flood_csv flood-ipx.csv many
    kam_start
    pbx_start uas-busy.xml 127.0.0.11
    cap_start flood-trusted 'host 127.0.1.6'
    uac 20 uac-flood.xml flood-ipx.csv 127.0.1.6 5060 $SBC -m 180 -r 300 -l 400
    cap_stop
    pbx_stop
    kam_stop
}

gen_wangiri() {
    local i
    for ((i = 301; i <= 315; i++)); do printf '+23276123456;+447700900%03d;127.0.2.40;\n' "$i"; done | csv wangiri.csv
    kam_start
    pbx_start uas-ring.xml 127.0.0.11
    cap_start wangiri "$SIP_HOSTS"
    uac 30 uac-wangiri.xml wangiri.csv 127.0.2.40 5060 $SBC -m 15 -r 5 -l 20
    cap_stop
    pbx_stop
    kam_stop
}

gen_irsf() {
    # customer account 150 (compromised) dials 10 distinct satellite/IRSF numbers;
    # two calls talk 9 s (FRAUD-IRSF-002 with min_duration_s 8 in site.yaml)
    csv irsf.csv <<'EOF'
150;+882130000101;127.0.0.10;2000;
150;+882130000102;127.0.0.10;9000;
150;+881620000103;127.0.0.10;2000;
150;+882130000104;127.0.0.10;2000;
150;+881620000105;127.0.0.10;2000;
150;+882130000106;127.0.0.10;9000;
150;+881620000107;127.0.0.10;2000;
150;+882130000108;127.0.0.10;2000;
150;+881620000109;127.0.0.10;2000;
150;+882130000110;127.0.0.10;2000;
EOF
    kam_start
    pbx_start uas-answer.xml 127.0.0.11
    cap_start irsf "$SIP_HOSTS"
    uac 30 uac-call-timed.xml irsf.csv 127.0.3.30 5070 $SBC -m 10 -r 3 -l 10
    cap_stop
    pbx_stop
    kam_stop
}

gen_spoof-trust() {
    csv spoof.csv <<'EOF'
+447700900123;+447700900200;ims.example.net;+447700900123;spoofed;ims.example.net;
+447700900124;+447700900201;ims.example.net;+447700900124;spoofed;ims.example.net;
+447700900125;+447700900202;ims.example.net;+447700900125;spoofed;ims.example.net;
EOF
    csv leak.csv <<'EOF'
probe;+447700900210;127.0.2.21;
probe;+447700900211;127.0.2.21;
EOF
    kam_start
    pbx_start uas-answer.xml 127.0.0.11
    pbx_start uas-leaky.xml 127.0.0.12
    cap_start spoof-trust "$SIP_HOSTS"
    uac 20 uac-call-asserted.xml spoof.csv 127.0.2.20 5060 $SBC -m 3 -r 2 -l 3
    uac 20 uac-remote-bye.xml leak.csv 127.0.2.21 5060 127.0.0.12:5060 -m 2 -r 1 -l 2
    cap_stop
    pbx_stop
    kam_stop
}

gen_malformed() {
    kam_start
    cap_start malformed 'host 127.0.2.50'
    timeout -k 5 20 python3 "$HERE/send-malformed.py" 127.0.2.50 127.0.0.10 5060 100
    cap_stop
    kam_stop
}

gen_tcp-mixed() {
    csv users-tcp.csv <<'EOF'
200;[authentication username=200 password=alice-pw-200];
201;[authentication username=201 password=bob-pw-201];
EOF
    csv tcp-calls.csv <<'EOF'
200;+447700900201;127.0.0.10;
201;+447700900200;127.0.0.10;
200;+447700900205;127.0.0.10;
EOF
    kam_start
    pbx_start uas-answer.xml 127.0.0.11
    cap_start tcp-mixed "$SIP_HOSTS"
    # customer leg over TCP (one connection, -t t1), SBC -> PBX over UDP
    uac 15 uac-register.xml users-tcp.csv 127.0.3.40 5070 $SBC -t t1 -m 2 -r 5
    uac 25 uac-call.xml tcp-calls.csv 127.0.3.40 5071 $SBC -t t1 -m 3 -r 2 -l 3
    # a monitoring client whose OPTIONS are cut across / packed into segments
    timeout -k 5 10 python3 "$HERE/send-tcp-segments.py" 127.0.3.41 127.0.0.10 5060
    cap_stop
    pbx_stop
    kam_stop
}

# ---- main --------------------------------------------------------------------
names=${*:-$ALL}
for n in $names; do
    case " $ALL " in *" $n "*) ;; *) die "unknown capture '$n' (known: $ALL)" ;; esac
done
for n in $names; do
    log "--- $n"
    "gen_$n"
done
total=0
for f in "$OUT"/*.pcap; do
    s=$(stat -c %s "$f"); total=$((total + s))
    [ "$s" -lt 307200 ] || log "WARNING: $(basename "$f") is $s bytes (> 300 KB)"
done
log "total $total bytes in $(ls "$OUT"/*.pcap | wc -l) captures"
[ "$total" -lt 2097152 ] || log "WARNING: captures exceed 2 MB in total"
if [ -x "$HERE/../build/release/fs38" ]; then
    log "check them: FS38=build/release/fs38 tests/cli/test_examples.sh"
fi

#!/usr/bin/env bash
# generate.sh -- regenerate the benign-but-unusual captures of tests/data/benign
# (tests/cli/test_benign.sh) with real SIP stacks on loopback: SIPp 3.6 (phones,
# dialer, SBC, registrar, gateways, IMS elements), kamailio (a dispatcher
# pinging a gateway farm), tcpdump. Needs root (tcpdump -i lo). Every tool
# runs under `timeout` with bounded call counts (-m); what this script starts
# is stopped by pid.
#
#   tests/data/benign/generate.sh [NAME...]   (default: all)
#
# Addresses (127.0.0.0/8 is lo; 127.0.8-11.x keep clear of examples/):
#   127.0.8.0/24   core: registrar .10 (sipp; .11 refuses), kamailio registrar .50,
#                  SBC .20, dispatcher .15, P-CSCF .40, S-CSCF/AS .41,
#                  gateways .31 (rings, no answer) and .32 (answers)
#   127.0.9.0/24   trusted interconnect partner (.5)
#   127.0.10.0/24  customers: call-centre trunk .5, office NAT .6, sites .20-.27
#   127.0.11.0/24  carrier gateways pinged by the dispatcher (.1-.30)
# site.yaml describes these zones as an operator would.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${OUT:-$HERE}
SC=$HERE/scenarios
ALL="dialer office sbc-relay keepalive storm restart ims lossy"
die() { echo "generate.sh: $*" >&2; exit 1; }
log() { echo "generate.sh: $*" >&2; }
[ "$(id -u)" -eq 0 ] || die "needs root (tcpdump -i lo)"
for t in tcpdump sipp kamailio timeout; do command -v "$t" >/dev/null || die "missing tool: $t"; done

WORK=$(mktemp -d /tmp/fs38-benign.XXXXXX)
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
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
wait_listen() { # ip port seconds
    local i
    for ((i = 0; i < $3 * 10; i++)); do ss -Hlnu "src $1:$2" | grep -q . && return 0; sleep 0.1; done
    return 1
}
cap_start() { # name filter
    CAP_NAME=$1
    bg timeout -k 5 180 tcpdump -i lo -s 0 -U -n -w "$WORK/$1.pcap" "$2" 2>"$WORK/$1.tcpdump"
    CAP_PID=$LAST_PID
    local i
    for ((i = 0; i < 50; i++)); do
        grep -q "listening on" "$WORK/$1.tcpdump" 2>/dev/null && { sleep 0.3; return 0; }
        sleep 0.1
    done
    die "$1: tcpdump did not start"
}
cap_stop() {
    sleep 1
    kill -INT "$CAP_PID" 2>/dev/null || true
    wait "$CAP_PID" 2>/dev/null || true
    [ -s "$WORK/$CAP_NAME.pcap" ] || die "$CAP_NAME: empty capture"
    cp "$WORK/$CAP_NAME.pcap" "$OUT/$CAP_NAME.pcap"
    log "$CAP_NAME.pcap: $(stat -c %s "$OUT/$CAP_NAME.pcap") bytes"
}
# uas SCENARIO IP [PORT]: a sipp server in the background (stopped by uas_stop)
UAS_PIDS=
uas() {
    local port=${3:-5060}
    bg timeout -k 5 170 sipp -sf "$SC/$1" -i "$2" -p "$port" -nostdin -timeout 160s \
        >"$WORK/uas-$2-$port.log" 2>&1
    UAS_PIDS="$UAS_PIDS $LAST_PID"
    wait_listen "$2" "$port" 5 || die "sipp $1 did not start on $2:$port"
}
uas_stop() { local p; for p in $UAS_PIDS; do stop "$p"; done; UAS_PIDS=; }
# uac SECONDS SCENARIO CSV LOCAL_IP LOCAL_PORT TARGET [sipp options...] (foreground)
uac() {
    local secs=$1 scen=$2 csv=$3 ip=$4 port=$5 target=$6; shift 6
    local args=(-sf "$SC/$scen" -i "$ip" -p "$port" -nostdin -timeout "${secs}s" -timeout_error)
    [ -n "$csv" ] && args+=(-inf "$WORK/$csv")
    timeout -k 5 $((secs + 5)) sipp "${args[@]}" "$@" "$target" >"$WORK/uac-$ip-$port.log" 2>&1 \
        || { log "sipp $scen from $ip:$port failed"; tail -5 "$WORK/uac-$ip-$port.log" >&2; return 1; }
}
csv() { { echo SEQUENTIAL; cat; } >"$WORK/$1"; }

# 1. predictive dialer: one trunk, the company's main number, 70 calls to 70
# numbers, one in four answered (2 s talk), the rest ring 15 s and are abandoned
gen_dialer() {
    local i gw
    for ((i = 0; i < 70; i++)); do
        if ((i % 4 == 0)); then gw=127.0.8.32; else gw=127.0.8.31; fi
        printf '+442071234567;+4479%08d;%s;\n' $((11000000 + i * 37)) "$gw"
    done | csv dialer.csv
    uas uas-ring.xml 127.0.8.31
    uas uas-answer.xml 127.0.8.32
    cap_start dialer 'host 127.0.10.5'
    uac 60 uac-dialer.xml dialer.csv 127.0.10.5 5060 127.0.8.31:5060 -m 70 -r 5 -l 80
    cap_stop
    uas_stop
}

# 3. office behind one NAT after a password change: 50 phones re-register,
# each gets 401 then 403
gen_office() {
    local i
    for ((i = 0; i < 50; i++)); do
        printf '%d;[authentication username=%d password=old-pw-%d];127.0.8.10;\n' $((2000 + i)) $((2000 + i)) "$i"
    done | csv office.csv
    uas uas-registrar-403.xml 127.0.8.10
    cap_start office 'host 127.0.10.6'
    uac 30 uac-register.xml office.csv 127.0.10.6 5060 127.0.8.10:5060 -m 50 -r 10 -l 50
    cap_stop
    uas_stop
}

# 2. an SBC (core) relaying 150 subscribers' registrations to the registrar;
# 12 of them have a stale password on their device (401, 403)
gen_sbc-relay() {
    local i reg
    for ((i = 0; i < 150; i++)); do
        if ((i % 12 == 5)); then reg=127.0.8.11; else reg=127.0.8.10; fi
        printf '%d;[authentication username=%d password=pw-%d];%s;\n' $((5000 + i)) $((5000 + i)) "$i" "$reg"
    done | csv sbc.csv
    uas uas-registrar-200.xml 127.0.8.10
    uas uas-registrar-403.xml 127.0.8.11
    cap_start sbc-relay 'host 127.0.8.20'
    uac 40 uac-register.xml sbc.csv 127.0.8.20 5060 127.0.8.10:5060 -m 150 -r 10 -l 50
    cap_stop
    uas_stop
}

KAM_PIDS=
kam() { # NAME CONFIG-TEXT-FILE IP (waits until IP:5060 listens)
    mkdir -p "$WORK/kam-$1"
    bg timeout -k 5 120 kamailio -f "$2" -DD -E -Y "$WORK/kam-$1" -P "$WORK/kam-$1/pid" >"$WORK/kam-$1/log" 2>&1
    KAM_PIDS="$KAM_PIDS $LAST_PID"
    wait_listen "$3" 5060 10 || die "kamailio $1 did not start: $(tail -3 "$WORK/kam-$1/log")"
}
kam_stop() { local p; for p in $KAM_PIDS; do stop "$p"; done; KAM_PIDS=; }

# 4. OPTIONS keepalives: kamailio's dispatcher (core) pinging 30 gateways every
# 2 s for 20 s, and 20 phones of one NAT (customers) qualifying the registrar
# every 5 s
gen_keepalive() {
    local i
    for ((i = 1; i <= 30; i++)); do echo "1 sip:127.0.11.$i:5060"; done >"$WORK/dispatcher.list"
    sed "s|DS_LIST|$WORK/dispatcher.list|" "$HERE/kamailio/dispatcher.cfg" >"$WORK/dispatcher.cfg"
    for ((i = 1; i <= 30; i++)); do echo "listen=udp:127.0.11.$i:5060"; done >"$WORK/listens"
    sed -e "/^LISTENS$/r $WORK/listens" -e '/^LISTENS$/d' "$HERE/kamailio/gateways.cfg" >"$WORK/gateways.cfg"
    uas uas-options.xml 127.0.8.10
    kam gateways "$WORK/gateways.cfg" 127.0.11.30
    cap_start keepalive 'host 127.0.8.15 or host 127.0.10.7'
    kam dispatcher "$WORK/dispatcher.cfg" 127.0.8.15
    uac 30 uac-options.xml "" 127.0.10.7 5060 127.0.8.10:5060 -m 80 -r 4 -rp 1000
    sleep 2
    cap_stop
    kam_stop
    uas_stop
}

# 5. registration storm after a registrar restart: 3 customer sites (NATs)
# of 60 phones each re-register within 2 s, each challenged 401 (kept small
# for the repository; 8 sites of 80 phones, 1280 REGISTERs in 5 s, also
# cross SIP-FLOOD-002's 1000 per 10 s toward the registrar)
gen_storm() {
    local i s pids=
    uas uas-registrar-200.xml 127.0.8.10
    cap_start storm 'host 127.0.8.10'
    for ((s = 0; s < 3; s++)); do
        for ((i = 0; i < 60; i++)); do
            printf '%d;[authentication username=%d password=pw];127.0.8.10;\n' $((7000 + s * 100 + i)) $((7000 + s * 100 + i))
        done | csv "storm$s.csv"
        uac 30 uac-register.xml "storm$s.csv" 127.0.10.$((20 + s)) 5060 127.0.8.10:5060 -m 60 -r 40 -l 60 &
        pids="$pids $!"
    done
    for i in $pids; do wait "$i" || die "storm: a site failed"; done
    cap_stop
    uas_stop
}

# 5b. the registrar restarts: 60 phones behind one NAT (127.0.10.30) register
# with kamailio (401, 200); kamailio restarts; 8 s later each phone refreshes
# with the nonce of its last login, gets a fresh 401 (no stale=true), and
# registers with the new nonce (200)
gen_restart() {
    local i
    for ((i = 0; i < 60; i++)); do
        printf '%d;[authentication username=%d password=pw-%d];127.0.8.50;\n' $((6000 + i)) $((6000 + i)) $((6000 + i))
    done | csv restart.csv
    kam registrar "$HERE/kamailio/registrar.cfg" 127.0.8.50
    cap_start restart 'host 127.0.8.50'
    uac 40 uac-refresh.xml restart.csv 127.0.10.30 5060 127.0.8.50:5060 -m 60 -r 30 -l 60 &
    local phones=$!
    sleep 4
    kam_stop
    kam registrar "$HERE/kamailio/registrar.cfg" 127.0.8.50
    wait "$phones" || die "restart: the phones failed"
    cap_stop
    kam_stop
}

# 6/7. IMS core and interconnect: the P-CSCF (core) sends 40 calls (PAI, PCV,
# PANI, a UE's private address in Via, History-Info/Diversion: forwarded to
# voicemail or the conference bridge +442071110000) and two long calls (12 s)
# to the satellite number of a customer's own ship (+881631000777, excepted
# in ranges.txt); the interconnect partner (trusted) sends 30 calls from 30
# callers to the same bridge number, diverted by our subscribers
# (History-Info/Diversion), six 1-second calls to 112, and four calls from
# our subscribers that partner subscribers forwarded back to ours (PAI is our
# number, History-Info/Diversion the partner's). The core answers
# with a Server version.
gen_ims() {
    local i
    { for ((i = 0; i < 40; i++)); do
        printf '+4420711%05d;+442071110000;+4420711%05d;500;\n' $((20000 + i)) $((30000 + i))
      done
      for ((i = 0; i < 2; i++)); do printf '+4420711%05d;+881631000777;+4420711%05d;12000;\n' $((60000 + i)) $((60000 + i)); done
    } | csv core.csv
    { for ((i = 0; i < 30; i++)); do
        printf '+3361%07d;+442071110000;+4420711%05d;500;\n' $((1000000 + i * 13)) $((40000 + i))
      done
      for ((i = 0; i < 6; i++)); do printf '+4915112%06d;112;+4420711%05d;1000;\n' "$i" $((50000 + i)); done
      for ((i = 0; i < 4; i++)); do printf '+4420711%05d;+4420711%05d;+3361%07d;500;\n' $((80000 + i)) $((81000 + i)) $((2000000 + i)); done
    } | csv ipx.csv
    grep -v '^ *P-Access-Network-Info:' "$SC/uac-ims.xml" >"$WORK/uac-ims-ipx.xml"
    uas uas-answer.xml 127.0.8.41
    cap_start ims 'host 127.0.8.41'
    uac 40 uac-ims.xml core.csv 127.0.8.40 5060 127.0.8.41:5060 -m 42 -r 10 -l 42 &
    local core=$!
    SC=$WORK uac 50 uac-ims-ipx.xml ipx.csv 127.0.9.5 5060 127.0.8.41:5060 -m 40 -r 5 -l 40
    wait "$core" || die "ims: core calls failed"
    cap_stop
    uas_stop
}

# 8. retransmissions on a lossy path: 12 calls whose INVITE is sent 4 times
# before a 407 that is itself retransmitted; then re-INVITE and UPDATE
gen_lossy() {
    local i
    for ((i = 0; i < 12; i++)); do
        printf '%d;[authentication username=%d password=pw-%d];+4420711%05d;\n' $((3000 + i)) $((3000 + i)) "$i" $((70000 + i))
    done | csv lossy.csv
    uas uas-lossy.xml 127.0.8.11
    cap_start lossy 'host 127.0.10.8'
    uac 40 uac-lossy.xml lossy.csv 127.0.10.8 5060 127.0.8.11:5060 -m 12 -r 4 -l 12
    cap_stop
    uas_stop
}

names=${*:-$ALL}
for n in $names; do log "--- $n"; "gen_$n"; done

#!/usr/bin/env bash
# test_live.sh -- fs38 against real peers on loopback, live.
#
#  (a) live capture: kamailio (examples/kamailio.cfg, the SBC at 127.0.0.10)
#      is attacked by SIPVicious svmap (from 127.0.2.5) and svwar (extensions
#      100-300, from 127.0.2.6) while
#        fs38 inspect -i lo --bpf 'host 127.0.0.10 and port 5060' --duration 8
#      watches: SIP-SCAN-001 and SIP-ENUM-001 must fire with the attackers'
#      addresses as sources. A second capture of the same traffic with
#      --workers 2 must report the same incidents (rules, sources, one
#      event_id per incident), and as it goes: svmap's address named before
#      its capture ends.
#  (b) HEP: the same kamailio with its siptrace module (-A WITH_HEP) mirrors
#      every SIP message it receives and sends as HEP v3 to 127.0.0.1:9060
#      where `fs38 inspect --hep 127.0.0.1:9060 --duration 6` listens; svmap
#      from 127.0.2.5 must raise SIP-SCAN-001 with source 127.0.2.5, i.e. the
#      addresses come from the HEP chunks, not from the UDP envelope
#      (127.0.0.10 -> 127.0.0.1). Kamailio sends an auth key (siptrace
#      auth_key) and fs38 asks for it (capture.hep_auth_key): none refused.
#      Then again with siptrace sending over TCP (duplicate_uri
#      ";transport=tcp") to the same fs38 command, which listens on both;
#      tcpdump records that connection, and fs38 reading the recording must
#      report what the live run did. Then over mutual TLS (Kamailio's tls
#      module checks fs38's certificate, fs38 Kamailio's: --hep tls:...,
#      capture.hep_tls_*). And once more with siptrace's default
#      hep_version 1 (no length, no auth key: over UDP).
#  (c) a stall: the kernel's ring holds what came while fs38 was stopped;
#      a reader of stdout that stalls does not hold a SIGTERM.
#  (d) capture.live_buffer_mb sizes that ring; --stats-interval writes
#      --stats-json during a live run.
#  (e) --json whose reader leaves: the run ends without another event.
#
# Needs root (capture on lo), kamailio, sipvicious, ss. Each peer runs under
# `timeout`; everything started here is stopped by pid. A peer that cannot
# start is a failure with a message, never a silent skip.
# Env: HEP_ADDR (default 127.0.0.1:9060) if that port is taken on this host.
#
# Usage: FS38=build/release/fs38 tests/cli/test_live.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT" || exit 2

CFG=examples/site.yaml
KCFG=examples/kamailio.cfg
SYS_PY=/usr/bin/python3   # Debian's sipvicious is installed for the system python
HEP_ADDR=${HEP_ADDR:-127.0.0.1:9060}
PIDS=()
# shellcheck disable=SC2154  # p is the loop variable inside the trap string
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done; rm -rf "$TMPD"' EXIT

listening() { ss -Hln"$1" "src $2:$3" 2>/dev/null | grep -q .; }
wait_listen() { # proto ip port tenths
    local i
    for ((i = 0; i < $4; i++)); do listening "$1" "$2" "$3" && return 0; sleep 0.1; done
    return 1
}

# the preconditions; any missing one fails the test with its reason
prereq_ok=1
need() { if ! "$@" >/dev/null 2>&1; then fail "prerequisite: $*"; prereq_ok=0; fi; }
need test "$(id -u)" -eq 0
need command -v kamailio
need command -v ss
need "$SYS_PY" -c 'import sys; sys.path.insert(0, "/usr/share/sipvicious"); import sipvicious.svwar'
need test -r "$KCFG"
need kamailio -c -f "$KCFG"
need kamailio -c -f "$KCFG" -A WITH_HEP
if listening u 127.0.0.10 5060; then fail "127.0.0.10:5060 is already in use (another kamailio?)"; prereq_ok=0; fi
if [ "$prereq_ok" -ne 1 ]; then finish test_live; exit; fi

KAM_PID=
kam_start() { # name, extra kamailio options...
    local name=$1; shift
    mkdir -p "$TMPD/$name"
    if listening u 127.0.0.10 5060; then
        fail "$name: 127.0.0.10:5060 is already in use (another kamailio?)"; return 1
    fi
    timeout -k 5 60 kamailio -f "$KCFG" -DD -E -P "$TMPD/$name/kamailio.pid" -Y "$TMPD/$name" "$@" \
        >"$TMPD/$name/log" 2>&1 &
    KAM_PID=$!; PIDS+=("$KAM_PID")
    # listening, and by our kamailio (a failed bind makes it exit)
    if wait_listen u 127.0.0.10 5060 100 && sleep 0.3 && kill -0 "$KAM_PID" 2>/dev/null; then pass; return 0; fi
    fail "$name: kamailio did not start: $(tail -5 "$TMPD/$name/log")"
    return 1
}
kam_stop() { kill "$KAM_PID" 2>/dev/null; wait "$KAM_PID" 2>/dev/null; KAM_PID=; }

sv() { # SRC TOOL args... (bounded; its failure is a test failure)
    local src=$1 tool=$2; shift 2
    if timeout -k 5 40 "$SYS_PY" examples/sv-bound.py "$src" "$tool" "$@" >"$TMPD/$tool-$src.log" 2>&1; then pass
    else fail "$tool from $src failed: $(tail -3 "$TMPD/$tool-$src.log")"; fi
}

# rule ids and the source addresses of each rule: "RULE ip ip ..." per line
PY_SOURCES='
import json, sys
by = {}
for n, line in enumerate(open(sys.argv[1], encoding="utf-8"), 1):
    if not line.strip():
        continue
    try:
        ev = json.loads(line)
    except ValueError as e:
        sys.exit("line %d is not JSON (%s): %.120s" % (n, e, line))
    rid = (ev.get("rule") or {}).get("id")
    if not isinstance(rid, str):
        sys.exit("line %d has no rule.id" % n)
    ips = by.setdefault(rid, set())
    for o in ev.get("observables") or []:
        if o.get("kind") == "ip" and o.get("role") == "source":
            ips.add(o.get("value"))
for rid in sorted(by):
    print(rid, *sorted(by[rid]))
'
# has_rule_from FILE RULE IP: RULE fired with IP among its source observables
has_rule_from() { grep -qE "^$2( .*)? $3( |\$)" "$1"; }

# wait for a backgrounded fs38 (it stops by itself after --duration)
wait_fs38() { # pid name
    local rc=0
    wait "$1" || rc=$?
    if [ "$rc" -eq 0 ]; then pass
    elif [ "$rc" -ge 124 ]; then fail "$2: fs38 did not stop by itself after --duration (killed by timeout, exit $rc): $(head -5 "$TMPD/$2.err")"
    else fail "$2: fs38 exited $rc: $(head -5 "$TMPD/$2.err")"; fi
}

# ---- (a) live capture on lo -------------------------------------------------
if kam_start live; then
    timeout -k 5 30 "$FS38" inspect --config "$CFG" -i lo --bpf 'host 127.0.0.10 and port 5060' \
        --duration 8 --json --stats-json "$TMPD/live.stats" >"$TMPD/live.ndjson" 2>"$TMPD/live.err" &
    fpid=$!; PIDS+=("$fpid")
    # the same traffic through two workers, captured at the same time
    timeout -k 5 30 "$FS38" inspect --config "$CFG" -i lo --bpf 'host 127.0.0.10 and port 5060' \
        --duration 8 --workers 2 --json >"$TMPD/live2.ndjson" 2>"$TMPD/live2.err" &
    fpid2=$!; PIDS+=("$fpid2")
    sleep 1.5   # let the captures open before the attack starts
    sv 127.0.2.5 svmap -p 5060 127.0.0.10
    # live output flows while capturing, the batched worker's share too (the
    # first client, svmap, lands on it): svmap is named within two 500 ms
    # ticks, not only when --duration ends
    sleep 1.2
    if kill -0 "$fpid2" 2>/dev/null; then
        ok "live: --workers 2 names svmap's address while still capturing" \
            grep -q '127\.0\.2\.5' "$TMPD/live2.ndjson"
    else
        fail "live: svmap outlasted the 8 s capture; cannot check that --workers 2 reports as it goes"
    fi
    sv 127.0.2.6 svwar -p 5060 -e 100-300 127.0.0.10
    wait_fs38 "$fpid" live
    wait_fs38 "$fpid2" live2
    kam_stop
    # per rule: its sources and how many incidents (distinct event_ids); an
    # incident's open and final lines share one event_id
    ok "live: --workers 2 reports the same incidents as one worker" python3 -c '
import json, sys
def incidents(path):
    by = {}
    for line in open(path, encoding="utf-8"):
        if line.strip():
            ev = json.loads(line)
            r = by.setdefault(ev["rule"]["id"], [set(), set()])
            r[0].add(ev["event_id"])
            r[1].update(o["value"] for o in ev["observables"] if o["kind"] == "ip" and o["role"] == "source")
    return {k: (len(v[0]), sorted(v[1])) for k, v in by.items()}
a, b = incidents(sys.argv[1]), incidents(sys.argv[2])
sys.exit(0 if a == b and a else "1 worker %r, 2 workers %r" % (a, b))
' "$TMPD/live.ndjson" "$TMPD/live2.ndjson"
    ok "live: the start line names the interface, the filter, the bound and the way out" \
        grep -q "^fs38 inspect: capturing on lo, filter 'host 127.0.0.10 and port 5060', 1 worker; capture buffer 32 MB; state memory bound [0-9.]* MB; events to stdout; until 8 s (or SIGINT/SIGTERM)$" "$TMPD/live.err"
    ok "live: ...with --workers 2" grep -q "^fs38 inspect: capturing on lo, .*, 2 workers; " "$TMPD/live2.err"
    if python3 -c "$PY_SOURCES" "$TMPD/live.ndjson" >"$TMPD/live.rules" 2>"$TMPD/live.py.err"; then
        pass
        ok "live: SIP-SCAN-001 from 127.0.2.5 (svmap) [fired: $(cut -d' ' -f1 "$TMPD/live.rules" | tr '\n' ' ')]" \
            has_rule_from "$TMPD/live.rules" SIP-SCAN-001 127.0.2.5
        ok "live: SIP-SCAN-001 from 127.0.2.6 (svwar)" has_rule_from "$TMPD/live.rules" SIP-SCAN-001 127.0.2.6
        ok "live: SIP-ENUM-001 from 127.0.2.6 (svwar)" has_rule_from "$TMPD/live.rules" SIP-ENUM-001 127.0.2.6
        ok "live: no SIP-FLOOD-002 (one target, ~400 messages)" bash -c "! grep -q '^SIP-FLOOD-002' '$TMPD/live.rules'"
    else
        fail "live: output is not NDJSON events: $(cat "$TMPD/live.py.err")"
    fi
    ok "live: stats JSON counts the SIP it saw" python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
sys.exit(0 if s.get("sip_messages", 0) >= 200 and s.get("requests", 0) >= 100 else "sip_messages=%r requests=%r" % (s.get("sip_messages"), s.get("requests")))
' "$TMPD/live.stats"
fi

# ---- (b) HEP v3 from kamailio's siptrace, over UDP and over TCP ----------------
hep_ip=${HEP_ADDR%:*}; hep_port=${HEP_ADDR##*:}
# site.yaml with the key kamailio's siptrace sends (auth_key), paths made absolute
sed -e "s|^  hep_ports: \[9060\]|  hep_ports: [$hep_port]\n  hep_auth_key: \"fs38-live-hep-key\"|" \
    -e "s|^high_risk_ranges: \.\./|high_risk_ranges: $ROOT/|" "$CFG" >"$TMPD/hep-site.yaml"
hep_run() { # name, the duplicate_uri's suffix, siptrace's hep_version
    local name=$1 suffix=$2 version=${3:-3} cfg=$TMPD/hep-site.yaml key=(-A 'HEP_AUTH_KEY="fs38-live-hep-key"')
    local listen=$HEP_ADDR tls=() udp=u
    if [ "$version" != 3 ]; then cfg=$TMPD/hep-site-nokey.yaml; key=(); fi # v1/v2 carry no key
    if [ "$suffix" = ";transport=tls" ]; then # mutual TLS: each side checks the other's certificate
        cfg=$TMPD/hep-site-tls.yaml listen=tls:$HEP_ADDR tls=(-A "HEP_TLS_CFG=\"$TMPD/pki/kamailio-tls.cfg\"") udp=
    fi
    if listening u "$hep_ip" "$hep_port" || listening t "$hep_ip" "$hep_port"; then
        fail "$name: $HEP_ADDR is already in use (set HEP_ADDR to a free loopback address:port)"; return
    fi
    local tpid=
    if [ "$suffix" = ";transport=tcp" ]; then # the TCP connection recorded too: the file must say what the live run said
        timeout -k 2 40 tcpdump -i lo --immediate-mode -U -s 0 -w "$TMPD/$name.pcap" "tcp port $hep_port" \
            2>"$TMPD/$name.tcpdump" &
        tpid=$!; PIDS+=("$tpid")
        for _ in $(seq 50); do grep -q "listening on" "$TMPD/$name.tcpdump" && break; sleep 0.1; done
    fi
    kam_start "$name" -A WITH_HEP -A "HEP_URI=\"sip:$HEP_ADDR$suffix\"" -A "HEP_VERSION=$version" "${key[@]}" \
        "${tls[@]}" || return
    timeout -k 5 30 "$FS38" inspect --config "$cfg" --hep "$listen" --duration 6 --json \
        --stats-json "$TMPD/$name.stats" >"$TMPD/$name.ndjson" 2>"$TMPD/$name.err" &
    fpid=$!; PIDS+=("$fpid")
    if { [ -z "$udp" ] || wait_listen u "$hep_ip" "$hep_port" 50; } && wait_listen t "$hep_ip" "$hep_port" 50; then pass
    else fail "$name: fs38 is not listening on $HEP_ADDR: $(head -3 "$TMPD/$name.err")"; fi
    sv 127.0.2.5 svmap -p 5060 127.0.0.10
    wait_fs38 "$fpid" "$name"
    kam_stop
    if python3 -c "$PY_SOURCES" "$TMPD/$name.ndjson" >"$TMPD/$name.rules" 2>"$TMPD/$name.py.err"; then
        pass
        ok "$name: SIP-SCAN-001 from 127.0.2.5 seen through HEP [fired: $(cut -d' ' -f1 "$TMPD/$name.rules" | tr '\n' ' ')]" \
            has_rule_from "$TMPD/$name.rules" SIP-SCAN-001 127.0.2.5
        ok "$name: no event blames the HEP sender 127.0.0.10 as a scanner" \
            bash -c "! grep -qE '^SIP-SCAN-00[12] (.* )?127\.0\.0\.10( |\$)' '$TMPD/$name.rules'"
    else
        fail "$name: output is not NDJSON events: $(cat "$TMPD/$name.py.err")"
    fi
    ok "$name: stats JSON counts the mirrored SIP (request + response)" python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
sys.exit(0 if s.get("sip_messages", 0) >= 2 else "sip_messages=%r" % s.get("sip_messages"))
' "$TMPD/$name.stats"
    ok "$name: HEP v$version${key:+, every packet with the auth_key kamailio sends (capture.hep_auth_key)}: none refused" python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))["capture"]
v12 = c["hep_packets"] if sys.argv[2] != "3" else 0
one = [x["udp"] + x["tcp"] for x in c["hep_senders"]] # kamailio alone sent
sys.exit(0 if c["hep_packets"] >= 2 and c["hep_bad"] == 0 and c["hep_v1v2"] == v12 and one == [c["hep_packets"]]
         else "capture=%r" % c)
' "$TMPD/$name.stats" "$version"
    ok "$name: over ${suffix:-UDP}" python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))["capture"]
tcp, tls = sys.argv[2] != "", "tls" in sys.argv[2]
sys.exit(0 if (c["hep_tcp_connections"] >= 1 and c["hep_tcp_bytes"] > 0) == tcp and
         (c["hep_tls_handshakes"] >= 1 and c["hep_tls_failed"] == 0) == tls else "capture=%r" % c)
' "$TMPD/$name.stats" "$suffix"
    [ -n "$tpid" ] || return
    sleep 0.5; kill "$tpid" 2>/dev/null; wait "$tpid" 2>/dev/null
    "$FS38" inspect --config "$cfg" --json --stats-json "$TMPD/$name.file.stats" "$TMPD/$name.pcap" \
        >"$TMPD/$name.file.ndjson" 2>"$TMPD/$name.file.err"
    python3 -c "$PY_SOURCES" "$TMPD/$name.file.ndjson" >"$TMPD/$name.file.rules" 2>&1
    ok "$name: its recording (tcpdump of the HEP connection) read as a file: the same incidents" \
        is "$(cat "$TMPD/$name.file.rules")" "$(cat "$TMPD/$name.rules")"
    ok "$name: ...and the same messages, all from HEP" python3 -c '
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
sys.exit(0 if a["sip_messages"] == b["sip_messages"] == b["from_hep"] > 0 and a["methods"] == b["methods"]
         else "live %d, file %d (from HEP %d)" % (a["sip_messages"], b["sip_messages"], b["from_hep"]))
' "$TMPD/$name.stats" "$TMPD/$name.file.stats"
}
grep -v '^  hep_auth_key:' "$TMPD/hep-site.yaml" >"$TMPD/hep-site-nokey.yaml"
# HEP over TLS: a CA, fs38's certificate and Kamailio's from it; the tls
# module's file has Kamailio check fs38 and show its own
P=$TMPD/pki; mkdir -p "$P"
(cd "$P" && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 30 -subj /CN=hep-ca &&
    for who in fs38 kamailio; do
        openssl req -newkey rsa:2048 -nodes -keyout $who.key -out $who.csr -subj /CN=$who.fs38.test &&
        openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -out $who.pem \
            -extfile <(printf 'subjectAltName=DNS:%s.fs38.test,IP:%s\n' $who "$hep_ip") || exit 1
    done) >"$TMPD/pki.log" 2>&1 || fail "hep-tls: the test certificates: $(tail -3 "$TMPD/pki.log")"
printf '[server:default]\nmethod = TLSv1.2+\ncertificate = %s/kamailio.pem\nprivate_key = %s/kamailio.key\n\n' "$P" "$P" \
    >"$P/kamailio-tls.cfg"
printf '[client:default]\nmethod = TLSv1.2+\nverify_certificate = yes\nrequire_certificate = yes\nca_list = %s/ca.pem\ncertificate = %s/kamailio.pem\nprivate_key = %s/kamailio.key\n' \
    "$P" "$P" "$P" >>"$P/kamailio-tls.cfg"
python3 - "$TMPD/hep-site.yaml" "$TMPD/hep-site-tls.yaml" "$P" <<'PY'
import sys
src, dst, p = sys.argv[1:]
out = []
for line in open(src):
    out.append(line)
    if line.startswith("capture:"):
        out.append("  hep_tls_cert: %s/fs38.pem\n  hep_tls_key: %s/fs38.key\n  hep_tls_client_ca: %s/ca.pem\n" % (p, p, p))
open(dst, "w").write("".join(out))
PY
hep_run hep ""
hep_run hep-tcp ";transport=tcp"
hep_run hep-tls ";transport=tls"
hep_run hep-v1 "" 1 # siptrace's default hep_version

# ---- a ring overrun: 20,000 datagrams while fs38 is stopped, a 1 MB ring ------------
# What was not read is counted as dropped, once per datagram. On lo the
# kernel hands the packet socket each packet as sent and as received; the
# sent copies took half the ring and were counted as dropped too (1,680
# read, 36,640 "dropped" of 20,000 sent).
lp=$(free_port)
printf 'capture:\n  live_buffer_mb: 1\n' >"$TMPD/ring1.yaml"
timeout -k 5 40 "$FS38" inspect -c "$TMPD/ring1.yaml" -i lo --bpf "udp and port $lp" --duration 8 -q \
    --stats-json "$TMPD/drop.json" 2>"$TMPD/drop.err" &
dpid=$!; PIDS+=("$dpid")
sleep 2
dfs=$(pgrep -P "$dpid")
kill -STOP "$dfs"
python3 - "$lp" <<'PY'
import socket, sys
port = int(sys.argv[1])
m = (b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKd\r\n"
     b"From: <sip:a@x>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: d\r\nCSeq: 1 OPTIONS\r\n"
     b"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(20000): s.sendto(m, ("127.0.0.1", port))
PY
kill -CONT "$dfs"
wait_fs38 "$dpid" drop
ok "live: a 1 MB ring overrun on lo: read + kernel_dropped = the 20,000 datagrams sent" python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
f, d = s["frames"], s["capture"]["kernel_dropped"]
sys.exit(0 if f + d == 20000 and d > 0 else "frames %d, kernel_dropped %d" % (f, d))
' "$TMPD/drop.json"

# ---- (c) a stall: 3000 datagrams arrive while fs38 is stopped -----------------------
# The kernel ring holds them (libpcap's default held 16 on lo); drops would be
# counted in capture.kernel_dropped.
lp=$(free_port)
timeout -k 5 40 "$FS38" inspect -i lo --bpf "udp and port $lp" --duration 12 -q \
    --stats-json "$TMPD/stall.json" 2>"$TMPD/stall.err" &
spid=$!; PIDS+=("$spid")
sleep 2
sfs=$(pgrep -P "$spid")
kill -STOP "$sfs"
python3 - "$lp" <<'PY'
import socket, sys
port = int(sys.argv[1])
m = (b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKs\r\n"
     b"From: <sip:a@x>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: s\r\nCSeq: 1 OPTIONS\r\n"
     b"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(3000): s.sendto(m, ("127.0.0.1", port))
PY
kill -CONT "$sfs"
wait_fs38 "$spid" stall
ok "live: 3000 datagrams sent during a stall are all inspected, none dropped" python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
f, d = s["frames"], s["capture"]["kernel_dropped"]
sys.exit(0 if f == 3000 and d == 0 else "frames %d, kernel_dropped %d" % (f, d))
' "$TMPD/stall.json"

# ---- a reader of stdout that stops reading, then SIGTERM ------------------------------
# 200 scanners from 200 addresses fill the pipe of a reader that reads
# nothing (`| less` left open, a stalled ssh): fs38 waits in write(2).
# SIGTERM restarted that wait and the run never ended; it now waits at most
# 2 s for the reader, counts the events it could not write as lost, exit 2.
lp=$(free_port)
ok "live: SIGTERM ends a run whose stdout reader stopped reading, the events lost counted (exit 2)" \
    timeout -k 5 30 python3 - "$FS38" "$lp" <<'PY'
import signal, socket, subprocess, sys, time
fs38, port = sys.argv[1], int(sys.argv[2])
p = subprocess.Popen([fs38, "inspect", "-i", "lo", "--bpf", "udp port %d" % port, "--json", "-q"],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
time.sleep(1.5)  # let the capture open
for i in range(200):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.5.%d" % (i + 1), 0))
    s.sendto(b"OPTIONS sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.5.%d:5061;branch=z9hG4bK1\r\n"
             b"From: \"sipvicious\"<sip:100@1.1.1.1>;tag=1\r\nTo: \"sipvicious\"<sip:100@1.1.1.1>\r\n"
             b"Call-ID: st%d\r\nCSeq: 1 OPTIONS\r\nUser-Agent: friendly-scanner\r\nMax-Forwards: 70\r\n"
             b"Content-Length: 0\r\n\r\n" % (i + 1, i), ("127.0.0.1", port))
    s.close()
time.sleep(2)  # the events fill the pipe (64 KiB): fs38 waits for its reader
p.send_signal(signal.SIGTERM)
try:
    rc = p.wait(timeout=6)
except subprocess.TimeoutExpired:
    p.kill(); p.wait()
    sys.exit("SIGTERM did not end the run in 6 s (its stdout reader reads nothing)")
err = p.stderr.read().decode()
sys.exit(0 if rc == 2 and " lost (its reader took nothing" in err else "exit %d: %s" % (rc, err))
PY

# ---- (d) capture.live_buffer_mb; --stats-json during a live run -----------------------
# The kernel's ring is the packet socket's mapping in /proc/PID/maps: 8 MB,
# then 256 MB, as configured and as the start line says. The runs also write
# --stats-json each second: a snapshot during the run has the 20 messages
# sent ("final": false), the end has them with "final": true.
ring_mb() { # PID: MB of its packet socket's mappings (0 until the capture is open)
    python3 -c 'import sys
n = 0
for l in open("/proc/%s/maps" % sys.argv[1]):
    f = l.split()
    if len(f) > 5 and f[5].startswith("socket:["):
        a, b = (int(x, 16) for x in f[0].split("-")); n += b - a
print(n >> 20)' "$1" 2>/dev/null || echo 0
}
for mb in 8 256; do
    lp=$(free_port)
    printf 'capture:\n  live_buffer_mb: %s\n' "$mb" >"$TMPD/ring$mb.yaml"
    timeout -k 5 30 "$FS38" inspect -c "$TMPD/ring$mb.yaml" -i lo --bpf "udp and port $lp" --duration 6 \
        --stats-json "$TMPD/ring$mb.json" --stats-interval 1 >/dev/null 2>"$TMPD/ring$mb.err" &
    rpid=$!; PIDS+=("$rpid")
    got=0
    for _ in $(seq 50); do
        rfs=$(pgrep -P "$rpid")
        [ -n "$rfs" ] && got=$(ring_mb "$rfs")
        [ "$got" -gt 0 ] && break
        sleep 0.1
    done
    ok "capture.live_buffer_mb $mb: the kernel's ring is $mb MB" is "$got" "$mb"
    ok "...the start line says so" grep -q "^fs38 inspect: capturing on lo, .*, 1 worker; capture buffer $mb MB; " \
        "$TMPD/ring$mb.err"
    python3 - "$lp" <<'PY'
import socket, sys
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(20):
    s.sendto(b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKr%d\r\n"
             b"From: <sip:a@x>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: r%d\r\nCSeq: 1 OPTIONS\r\n"
             b"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n" % (i, i), ("127.0.0.1", port))
PY
    ok "...--stats-interval 1: a snapshot during the run has the 20 messages" python3 -c 'import json, sys, time
end = time.time() + 4
while time.time() < end:
    try:
        s = json.load(open(sys.argv[1]))
        if s["final"] is False and s["sip_messages"] == 20: sys.exit(0)
    except (ValueError, KeyError): pass
    time.sleep(0.05)
sys.exit("no snapshot with 20 messages")' "$TMPD/ring$mb.json"
    wait "$rpid"
    ok "...and the end (\"final\": true)" python3 -c 'import json, sys
s = json.load(open(sys.argv[1])); sys.exit(0 if s["final"] is True and s["sip_messages"] == 20 else repr(s["sip_messages"]))' \
        "$TMPD/ring$mb.json"
done

# ---- (e) the reader of stdout leaves a quiet live run ----------------------------------
# `fs38 inspect -i lo --json | head -c 20`: head leaves after the first
# event; with no second event to write (a write would meet EPIPE), the run
# went on capturing until one came. It ends within a tick or two, exit 0.
lp=$(free_port)
ok "live: --json whose reader left ends the run without waiting for another event" \
    timeout -k 5 20 python3 - "$FS38" "$lp" <<'PY'
import socket, subprocess, sys, time
fs38, port = sys.argv[1], int(sys.argv[2])
p = subprocess.Popen([fs38, "inspect", "-i", "lo", "--bpf", "udp port %d" % port, "--json", "-q"],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
time.sleep(1.5)  # let the capture open
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.3.21", 0))
s.sendto(b"OPTIONS sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.3.21:5061;branch=z9hG4bK1\r\n"
         b"From: \"sipvicious\"<sip:100@1.1.1.1>;tag=1\r\nTo: \"sipvicious\"<sip:100@1.1.1.1>\r\n"
         b"Call-ID: rl1\r\nCSeq: 1 OPTIONS\r\nUser-Agent: friendly-scanner\r\nMax-Forwards: 70\r\n"
         b"Content-Length: 0\r\n\r\n", ("127.0.0.1", port))
got = p.stdout.read(20)  # the first event's start, then the reader leaves
p.stdout.close()
try:
    rc = p.wait(timeout=3)
except subprocess.TimeoutExpired:
    p.kill(); p.wait()
    sys.exit("still capturing 3 s after its reader left (read %r)" % got)
sys.exit(0 if rc == 0 and got.startswith(b"{") else "exit %d, read %r: %r" % (rc, got, p.stderr.read()))
PY

finish test_live

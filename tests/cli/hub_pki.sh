# hub_pki.sh -- shared by tests/cli/test_hub.sh and test_hub_cluster.sh (sourced
# after lib.sh, not run): a test PKI (a CA, the hub's
# certificate, operators op1..op3, a revoked op4, an unknown "rogue" and an
# "outsider" signed by another CA), signing keys from `fs38 keygen`, the trust
# registry, and signed test events. Needs $W (a work folder), $FS38, openssl, jq.

# ---- PKI: a CA, the hub, members ------------------------------------------------
pki() {
    local d=$W/pki
    mkdir -p "$d"
    openssl ecparam -name prime256v1 -genkey -noout -out "$d/ca.key" 2>/dev/null
    openssl req -x509 -new -key "$d/ca.key" -subj /CN=fs38-test-ca -days 2 -out "$d/ca.crt" 2>/dev/null
    # a second CA the hub does not trust
    openssl ecparam -name prime256v1 -genkey -noout -out "$d/evil-ca.key" 2>/dev/null
    openssl req -x509 -new -key "$d/evil-ca.key" -subj /CN=evil-ca -days 2 -out "$d/evil-ca.crt" 2>/dev/null
    local name ext ca
    for name in hub op1 op2 op3 op4 rogue outsider; do
        ext="extendedKeyUsage=clientAuth"
        [ $name = hub ] && ext=$'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth'
        ca=ca
        [ $name = outsider ] && ca=evil-ca
        openssl ecparam -name prime256v1 -genkey -noout -out "$d/$name.key" 2>/dev/null
        openssl req -new -key "$d/$name.key" -subj "/CN=$name" -out "$d/$name.csr" 2>/dev/null
        printf '%s\n' "$ext" >"$d/$name.ext"
        openssl x509 -req -in "$d/$name.csr" -CA "$d/$ca.crt" -CAkey "$d/$ca.key" -CAcreateserial \
            -days 2 -extfile "$d/$name.ext" -out "$d/$name.crt" 2>/dev/null || return 1
    done
}
fingerprint() { openssl x509 -in "$1" -outform DER | sha256sum | cut -c1-64; }

# ---- signing keys and the trust registry -------------------------------------------
declare -A ISSUER KEY
ISSUER[op1]=org:234-15; ISSUER[op2]=org:208-01; ISSUER[op3]=org:fraudlab; ISSUER[op4]=org:gone-op
keys_and_registry() {
    local m kid first=1
    printf '{"members":[' >"$W/registry.json"
    for m in op1 op2 op3 op4; do
        kid=$("$FS38" keygen --issuer "${ISSUER[$m]}" --out "$W/keys" 2>/dev/null) || return 1
        KEY[$m]=$W/keys/$kid.key
        local status=active
        [ $m = op4 ] && status=revoked
        [ $first = 1 ] || printf ',' >>"$W/registry.json"
        first=0
        jq -c --arg fp "$(fingerprint "$W/pki/$m.crt")" --arg st $status \
            '. + {cert_sha256: $fp, status: $st}' "$W/keys/$kid.pub" | tr -d '\n' >>"$W/registry.json"
    done
    printf ']}\n' >>"$W/registry.json"
}

# ---- events ----------------------------------------------------------------------------
ts() { date -u -d "$1" +%Y-%m-%dT%H:%M:%S.000Z; }
uuid7() {
    local h
    h=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
    printf '%s-%s-7%s-%x%s-%s\n' "${h:0:8}" "${h:8:4}" "${h:13:3}" $(((0x${h:16:1} & 3) | 8)) "${h:17:3}" "${h:20:12}"
}
# event ISSUER ID VERSION [key=value ...]: status type tlp valid created audience obs ua
event() {
    local issuer=$1 id=$2 version=$3; shift 3
    local status=active type=SIP_SCANNER tlp=amber valid="+1 hour" created="now" audience="" \
        obs='{"kind":"ip","value":"198.51.100.7","role":"source"}' ua="friendly-scanner" extra=""
    local kv
    for kv in "$@"; do local "$kv"; done
    local aud=""
    [ -n "$audience" ] && aud=",\"audience\":$audience"
    local domain=infrastructure rule=',"rule":{"id":"SIP-SCAN-001","name":"Known SIP scanner fingerprint"}'
    local details='{"distinct_targets":20}'
    case $type in
    SIGHTING | FALSE_POSITIVE) domain=infrastructure; rule=""; details=$extra ;;
    TOPOLOGY_LEAK | INFO_DISCLOSURE | TRUST_BOUNDARY_VIOLATION) domain=privacy ;;
    CLI_SPOOFING | IRSF | WANGIRI | TOLL_FRAUD | SIM_* | SUBSCRIPTION_FRAUD | ROAMING_HIGH_USAGE) domain=fraud ;;
    esac
    printf '{"schema_version":"1.0","event_id":"%s","version":%s,"status":"%s","issuer":"%s","created":"%s","first_seen":"%s","last_seen":"%s","valid_until":"%s","event_type":"%s","domain":"%s","severity":"high","confidence":90%s,"observables":[%s,{"kind":"sip_user_agent","value":"%s","role":"tool"}],"evidence":{"count":3,"window_s":10,"details":%s},"recommended_action":{"action":"BLOCK_SOURCE","scope":"sip_ingress","ttl_s":3600},"handling":{"tlp":"%s"%s}}\n' \
        "$id" "$version" "$status" "$issuer" "$(ts "$created")" "$(ts "-1 minute")" "$(ts "-10 seconds")" \
        "$(ts "$valid")" "$type" "$domain" "$rule" "$obs" "$ua" "$details" "$tlp" "$aud"
}
# many_events ISSUER N: N valid SIP_FLOOD events with distinct ids, without a process each
many_events() {
    awk -v pre="$(od -An -tx1 -N4 /dev/urandom | tr -d ' \n')" -v n="$2" -v iss="$1" -v c="$(ts now)" -v v="$(ts '+1 hour')" \
        'BEGIN { for (i = 1; i <= n; i++) printf "{\"schema_version\":\"1.0\",\"event_id\":\"%s-0000-7000-8000-%012x\",\"version\":1,\"status\":\"active\",\"issuer\":\"%s\",\"created\":\"%s\",\"first_seen\":\"%s\",\"last_seen\":\"%s\",\"valid_until\":\"%s\",\"event_type\":\"SIP_FLOOD\",\"domain\":\"infrastructure\",\"severity\":\"medium\",\"confidence\":70,\"rule\":{\"id\":\"SIP-FLOOD-001\",\"name\":\"flood\"},\"observables\":[{\"kind\":\"ip\",\"value\":\"203.0.113.%d\",\"role\":\"source\"}],\"evidence\":{\"count\":%d,\"window_s\":10},\"recommended_action\":{\"action\":\"RATE_LIMIT_SOURCE\",\"scope\":\"sip_ingress\",\"ttl_s\":600},\"handling\":{\"tlp\":\"green\"}}\n", pre, i, iss, c, c, c, v, i % 250, i }'
}
sign() { "$FS38" sign --signing-key "${KEY[$1]}" ${2:+$2}; }
body_of() { jq -R -s -c '{events: split("\n") | map(select(length > 0))}'; }


/*
 * det_trust.c -- the trust boundary (3GPP TS 24.229 trust domain, RFC 3325)
 * and what crosses it: trust-domain headers from zones that may not assert
 * them (SIP-TRUST-001), home identities asserted from outside
 * (SIP-CLI-001), caller identities that cannot be valid (SIP-CLI-002),
 * internal addresses (SIP-TOPO-001), product versions (SIP-INFO-001) and
 * Warning headers (SIP-INFO-002) and IMS AKA session keys (SIP-INFO-003) sent
 * toward untrusted zones; and SIP servers agreeing to outdated or weak TLS
 * (SIP-INFO-004, from the ServerHello: det_tls_hello) or showing an expired
 * or weak certificate (SIP-INFO-006); SIP in the clear with a zone
 * configured to require TLS (SIP-INFO-005).
 *
 * Owns: those checks. Must not touch: zone lookup (cfg.c, det_engine.c),
 * the incident lifecycle (det_hit). Every incident here is keyed by the
 * sending address, so one misbehaving element gives one event.
 *
 * Everything zone-related stays silent until zones are configured: without
 * them every address has the default trust and there is no boundary to
 * speak of. SIP-CLI-002 needs no zones.
 */
#include <stdio.h>

#include <limits.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "det_internal.h"

enum { SALT_TRUST = 41, SALT_CLI_HOME = 42, SALT_CLI_INVALID = 43, SALT_TOPO = 44, SALT_INFO = 45, SALT_TLS = 48,
       SALT_CLEARTEXT = 49, SALT_CERT = 50 };

/* Headers only meaningful inside the trust domain (field notes; TS 24.229
 * 4.4, RFC 3325 9, RFC 7315). */
static const sip_header_id trust_headers[] = {
    SIP_H_P_ASSERTED_IDENTITY, SIP_H_P_PREFERRED_IDENTITY, SIP_H_P_ACCESS_NETWORK_INFO,
    SIP_H_P_VISITED_NETWORK_ID, SIP_H_P_CHARGING_VECTOR, SIP_H_P_CHARGING_FUNCTION_ADDRESSES,
    SIP_H_P_SERVED_USER,
};

#define HBIT(h) (1ULL << (h))
/* What a trusted address outside any zone may assert (default_trust: trusted),
 * the same default cfg.c gives a trusted zone without may_assert. */
#define TRUSTED_DEFAULT_ASSERT \
    (HBIT(SIP_H_P_ASSERTED_IDENTITY) | HBIT(SIP_H_HISTORY_INFO) | HBIT(SIP_H_P_CHARGING_VECTOR) | HBIT(SIP_H_PRIVACY))

/* The sender as an observable, for SIP-TOPO-001 and SIP-INFO-*: a server's
 * own leak, told (and keyed) per address, not per source network; the
 * other rules here name and key the sender's source (det_key_sender). */
static void src_observable(ev_event *ev, const det_ctx *c) {
    char ip[FS_ADDR_STRLEN];
    ev_add_observable(ev, "ip", fs_addr_str(&c->p->src.addr, ip, sizeof ip), "source");
}

static const char *zone_name(const det_ctx *c, int zone) {
    return zone >= 0 ? c->eng->cfg->zones[zone].name : "none";
}

/* Append item to a comma-separated string detail unless already listed. */
static void detail_list_add(ev_event *ev, const char *key, const char *item) { ev_list_add(ev, key, item); }

static bool is_initial_request(const sip_msg *m, bool with_message) {
    if (!m->is_request || m->to_tag.len) return false;
    return m->method == SIP_M_INVITE || (with_message && m->method == SIP_M_MESSAGE);
}

/* The URI of a From/PAI-like header value. */
static bool header_uri(fs_str value, sip_uri *u) { return sip_uri_parse(det_nameaddr_uri(value), u); }

/* "+4477..." when the identity is an international number, else "". */
static bool identity_number(const sip_uri *u, char *out, size_t n) {
    bool intl;
    fs_str user = det_uri_number_user(u);
    if (!user.len || !det_number_normalise(user, out, n, &intl) || !intl) {
        out[0] = '\0';
        return false;
    }
    return true;
}

#define PAI_MAX_VALUES 4

typedef struct cli_identity {
    const char *name; /* the header it came from */
    fs_str value;
} cli_identity;

/* The values of m's P-Asserted-Identity fields, in order, at most max. */
static unsigned pai_values(const sip_msg *m, cli_identity *ids, unsigned max) {
    unsigned n = 0;
    if (!m->count[SIP_H_P_ASSERTED_IDENTITY] || m->first[SIP_H_P_ASSERTED_IDENTITY] < 0) return 0;
    for (unsigned h = (unsigned)m->first[SIP_H_P_ASSERTED_IDENTITY]; h < m->nhdr && n < max; h++) {
        if (m->hdr[h].id != SIP_H_P_ASSERTED_IDENTITY) continue;
        fs_str rest = m->hdr[h].value, item;
        while (n < max && sip_list_next(&rest, &item)) {
            if (!item.len) continue;
            ids[n].name = "P-Asserted-Identity";
            ids[n++].value = item;
        }
    }
    return n;
}

/* Every number m's P-Asserted-Identity values assert, as ev's e164
 * observables: one of our subscribers' numbers asserted from outside is
 * abused (a victim, as SIP-CLI-001 names it, whom `fs38 share` keeps out of
 * the sample), any other the caller to block. Every value, not the first
 * only: with "<sip:alice@...>, <tel:+44...>" the number is the second. */
static void pai_numbers(const det_ctx *c, ev_event *ev, bool callers) {
    const fs38_config *cfg = c->eng->cfg;
    cli_identity ids[PAI_MAX_VALUES];
    unsigned n = pai_values(c->m, ids, PAI_MAX_VALUES);
    for (unsigned i = 0; i < n; i++) {
        sip_uri u;
        char num[32];
        if (!header_uri(ids[i].value, &u) || !identity_number(&u, num, sizeof num)) continue;
        bool home = cfg->nhome_prefixes && cfg_match_prefix(cfg->home_prefixes, cfg->nhome_prefixes, num + 1);
        if (home || callers) ev_add_observable(ev, "e164", num, home ? "victim" : "caller"); /* if  and 1-15 digits */
    }
}

/* ---- SIP-TRUST-001 ---------------------------------------------------------------- */

static uint64_t may_assert_mask(const det_ctx *c) {
    const fs38_config *cfg = c->eng->cfg;
    if (c->src_zone >= 0) return cfg->zones[c->src_zone].may_assert;
    return c->src_trust == TRUST_TRUSTED ? TRUSTED_DEFAULT_ASSERT : 0;
}

bool det_may_assert_identity(const det_ctx *c) {
    if (!c->zones || c->src_trust == TRUST_UNTRUSTED) return false;
    return c->src_trust == TRUST_CORE || (may_assert_mask(c) & HBIT(SIP_H_P_ASSERTED_IDENTITY));
}

/* Whether an untrusted sender may be a UE talking to its P-CSCF, which sends
 * P-Preferred-Identity (RFC 3325 9.2) and P-Access-Network-Info (TS 24.229
 * 5.1, RFC 7315 4.4): a sender in an access zone, or any untrusted sender
 * when no zone is marked access (nothing then tells UEs from peers). */
static bool ue_side(const det_ctx *c) {
    const fs38_config *cfg = c->eng->cfg;
    if (c->src_trust != TRUST_UNTRUSTED) return false;
    if (c->src_zone >= 0 && cfg->zones[c->src_zone].access) return true;
    for (uint8_t i = 0; i < cfg->nzones; i++)
        if (cfg->zones[i].access) return false;
    return true;
}

static void trust_headers_check(det_ctx *c) {
    const sip_msg *m = c->m;
    if (c->src_trust == TRUST_CORE) return;
    uint64_t allowed = may_assert_mask(c);
    /* present is present: counted also past limits.max_headers, where the
     * header index ends but the next hop still reads them (padding a
     * spoofed PAI behind 128 fields must not hide it) */
    bool ue_headers = m->count[SIP_H_P_PREFERRED_IDENTITY] || m->count[SIP_H_P_ACCESS_NETWORK_INFO];
    if (ue_headers && ue_side(c)) allowed |= HBIT(SIP_H_P_PREFERRED_IDENTITY) | HBIT(SIP_H_P_ACCESS_NETWORK_INFO);
    ev_event *ev = NULL;
    for (size_t i = 0; i < sizeof trust_headers / sizeof *trust_headers; i++) {
        sip_header_id h = trust_headers[i];
        if (!m->count[h] || (allowed & HBIT(h))) continue;
        if (!ev) {
            bool opened;
            ev = det_hit(c, R_TRUST_HEADER, det_key_sender(c, SALT_TRUST), 1, &opened);
            if (!ev) return;
            if (opened) {
                det_sender_observables(ev, c);
                ev_set_str(ev, "zone", zone_name(c, c->src_zone));
                ev_set_str(ev, "trust", cfg_trust_name(c->src_trust));
            }
        }
        detail_list_add(ev, "headers", sip_header_name(h));
    }
    /* the asserted numbers are callers to block only when asserting them is
     * the violation: a partner that may assert PAI but adds a charging
     * header vouched for its callers. Our subscribers' stay victims either
     * way (fs38 share keeps them out of the sample) */
    if (ev && m->first[SIP_H_P_ASSERTED_IDENTITY] >= 0)
        pai_numbers(c, ev, !(allowed & HBIT(SIP_H_P_ASSERTED_IDENTITY)));
}

/* ---- SIP-CLI-001 ------------------------------------------------------------------ */

static bool home_domain(const fs38_config *cfg, fs_str host, const char **which) {
    /* an absolute name ("ims.example.net.", RFC 3261 25.1 hostname) is the
     * same domain: DNS resolves it alike */
    if (host.len > 1 && host.p[host.len - 1] == '.') host.len--;
    for (unsigned i = 0; i < cfg->nhome_domains; i++) {
        const char *d = cfg->home_domains[i];
        size_t n = strlen(d);
        if (!n || host.len < n) continue;
        fs_str tail = fs_str_make(host.p + host.len - n, n);
        if (!fs_str_ieq_cstr(tail, d)) continue;
        if (host.len == n || host.p[host.len - n - 1] == '.') {
            *which = d;
            return true;
        }
    }
    return false;
}

/* Is this identity one of ours? Fills what matched ("+4477009", a domain),
 * and *ours_number: whether num (the identity's number, if any) is one of
 * home.prefixes. */
static bool home_identity(const det_ctx *c, fs_str value, char *num, size_t nnum, char *match,
                          size_t nmatch, bool *ours_number) {
    const fs38_config *cfg = c->eng->cfg;
    sip_uri u;
    num[0] = '\0';
    *ours_number = false;
    if (!value.len || !header_uri(value, &u)) return false;
    if (identity_number(&u, num, nnum) && cfg->nhome_prefixes) {
        const cfg_prefix *pre = cfg_match_prefix(cfg->home_prefixes, cfg->nhome_prefixes, num + 1);
        if (pre) {
            snprintf(match, nmatch, "+%s", pre->digits);
            *ours_number = true;
            return true;
        }
    }
    const char *dom;
    if (u.scheme != SIP_SCHEME_TEL && u.host.len && home_domain(cfg, u.host, &dom)) {
        snprintf(match, nmatch, "%s", dom);
        return true;
    }
    return false;
}

#define RPID_MAX_VALUES 2

/* The calling party's Remote-Party-ID values (draft-ietf-sip-privacy-04,
 * still sent and honoured by Cisco, Asterisk and FreeSWITCH trunks: the
 * caller shown, as PAI is elsewhere): those whose party is "calling" or
 * not given (its default), at most max. */
static unsigned rpid_values(const sip_msg *m, cli_identity *ids, unsigned max) {
    unsigned n = 0;
    for (uint16_t h = 0; h < m->nhdr && n < max; h++) {
        if (m->hdr[h].id != SIP_H_OTHER || !fs_str_ieq_cstr(m->hdr[h].name, "Remote-Party-ID")) continue;
        fs_str rest = m->hdr[h].value, item, party;
        sip_nameaddr na;
        while (n < max && sip_list_next(&rest, &item)) {
            if (!item.len || !sip_nameaddr_parse(item, &na)) continue;
            if (sip_param_get(na.params, "party", &party) && !fs_str_ieq_cstr(fs_str_trim(party), "calling"))
                continue;
            ids[n].name = "Remote-Party-ID";
            ids[n++].value = item;
        }
    }
    return n;
}

static void cli_home_check(det_ctx *c) {
    const sip_msg *m = c->m;
    const fs38_config *cfg = c->eng->cfg;
    if (!cfg->nhome_prefixes && !cfg->nhome_domains) return;
    if (c->src_trust == TRUST_CORE || !is_initial_request(m, true)) return;
    /* A call a trusted partner diverted back to us (our subscriber called
     * one of theirs, who forwards to one of ours) keeps our subscriber as
     * its caller, and the diversion says so (History-Info, RFC 7044;
     * Diversion, RFC 5806). Untrusted senders' diversions prove nothing. */
    if (c->src_trust == TRUST_TRUSTED &&
        (sip_header_value(m, SIP_H_HISTORY_INFO).len || sip_header_value(m, SIP_H_DIVERSION).len))
        return;
    const cfg_rule *rc = det_rule_cfg(c, R_CLI_HOME_IDENTITY);
    /* Our own subscribers' phones, in a zone marked access, send From with
     * our numbers and domain on every call: only an asserted identity is
     * judged from there (a UE never sends PAI, RFC 3325 9.1). */
    bool access = c->src_zone >= 0 && cfg->zones[c->src_zone].access;
    /* every P-Asserted-Identity value (RFC 3325 9.1: a sip: and a tel: one,
     * as a list or as two fields; the next hop may take either, so a
     * harmless first one must not hide ours), up to 4, then From */
    cli_identity ids[PAI_MAX_VALUES + RPID_MAX_VALUES + 1];
    unsigned nids = pai_values(m, ids, PAI_MAX_VALUES);
    /* Remote-Party-ID where From is judged: a PBX in an access zone sends
     * its own (our subscriber's) number there as in From */
    bool judge_from = rc->param[0] > 0 && !access;
    if (judge_from) nids += rpid_values(m, ids + nids, RPID_MAX_VALUES);
    ids[nids].name = "From";
    ids[nids].value = judge_from ? m->from : FS_STR_NULL;
    nids++;
    ev_event *ev = NULL;
    for (unsigned i = 0; i < nids; i++) {
        char num[32], match[136];
        bool ours_number;
        if (!home_identity(c, ids[i].value, num, sizeof num, match, sizeof match, &ours_number)) continue;
        if (!ev) { /* one count per message, told by its first home identity */
            bool opened;
            ev = det_hit(c, R_CLI_HOME_IDENTITY, det_key_sender(c, SALT_CLI_HOME), 1, &opened);
            if (!ev) return;
            if (opened) {
                det_sender_observables(ev, c);
                ev_set_str(ev, "zone", zone_name(c, c->src_zone));
                ev_set_str(ev, "trust", cfg_trust_name(c->src_trust));
            }
            detail_list_add(ev, "identity_header", ids[i].name);
            detail_list_add(ev, "home_match", match);
        }
        /* the subscriber whose number is abused: a victim, whom `fs38 share`
         * pseudonymises, not a caller to block. Every home identity's, not
         * the first's only: with our domain first and our number second
         * that number would stay unmarked, and share would keep it in clear
         * in the sample */
        /* A number outside home.prefixes under our domain
         * (sip:+33...@ims.example.net) is no subscriber's we know of: the
         * caller presented, as SIP-TRUST-001 names it for the same message */
        ev_add_observable(ev, "e164", num, ours_number ? "victim" : "caller"); /* if  and 1-15 digits */
    }
}

/* ---- SIP-CLI-002 ------------------------------------------------------------------ */

static bool visual_separator(char ch) { return ch == '-' || ch == '.' || ch == '(' || ch == ')'; }

/* Why a caller identity cannot be valid, NULL if it may be. Conservative:
 * only global numbers ("+..." in a tel: URI or a SIP user) are judged; SIP
 * user names and local numbers are left alone. */
static const char *invalid_reason(const det_ctx *c, const sip_uri *u, char *num, size_t nnum) {
    const cfg_rule *rc = det_rule_cfg(c, R_CLI_INVALID);
    fs_str user = u->user;
    num[0] = '\0';
    if (u->scheme != SIP_SCHEME_TEL && u->scheme != SIP_SCHEME_SIP && u->scheme != SIP_SCHEME_SIPS)
        return NULL;
    if (!user.len || user.p[0] != '+') return NULL;
    uint32_t digits = 0;
    for (uint32_t i = 1; i < user.len && user.p[i] != ';'; i++) {
        char ch = user.p[i];
        int hi, lo;
        /* an escaped octet is the octet (RFC 3261 19.1.4), as
         * det_number_normalise reads it: "+%34%34..." is "+44..." */
        if (ch == '%' && i + 2 < user.len && (hi = det_hex_value(user.p[i + 1])) >= 0 &&
            (lo = det_hex_value(user.p[i + 2])) >= 0) {
            ch = (char)(hi << 4 | lo);
            i += 2;
        }
        if (ch >= '0' && ch <= '9') digits++;
        else if (!visual_separator(ch)) return "non_numeric";
    }
    bool intl;
    if (!det_number_normalise(user, num, nnum, &intl) || !intl) return digits ? NULL : "non_numeric";
    if (num[1] == '0') return "country_code_zero";
    if (rc->param[0] > 0 && digits < (uint32_t)rc->param[0]) return "too_short";
    if (rc->param[1] > 0 && digits > (uint32_t)rc->param[1]) return "too_long";
    const fs38_config *cfg = c->eng->cfg;
    if (rc->param[2] > 0 && cfg->nhigh_risk) {
        const cfg_prefix *hr = cfg_match_prefix(cfg->high_risk, cfg->nhigh_risk, num + 1);
        if (hr && !hr->allow) return "high_risk_range"; /* "!" = an exception */
    }
    return NULL;
}

static void cli_invalid_check(det_ctx *c) {
    const sip_msg *m = c->m;
    /* our own elements relay the caller they were given: judged on the leg
     * it came in on, not once more against the SBC */
    if (c->src_trust == TRUST_CORE || !is_initial_request(m, false)) return;
    /* every P-Asserted-Identity value, as SIP-CLI-001 judges them (a sip:
     * and a tel: one, RFC 3325 9.1: the next hop may take either, so a
     * harmless sip: name first must not hide a bait tel: number), then From */
    cli_identity ids[PAI_MAX_VALUES + 1];
    unsigned nids = pai_values(m, ids, PAI_MAX_VALUES), from = nids;
    ids[nids].name = "From";
    ids[nids++].value = m->from;
    for (unsigned i = 0; i < nids; i++) {
        sip_uri u;
        char num[40];
        if (!ids[i].value.len) continue;
        /* PAI parsed here; From's URI as sip_parse found it */
        bool parsed = i != from ? header_uri(ids[i].value, &u) : sip_uri_parse(det_from_to_uri(m, 0), &u);
        if (!parsed) continue;
        const char *why = invalid_reason(c, &u, num, sizeof num);
        if (!why) continue;
        bool opened;
        ev_event *ev = det_hit(c, R_CLI_INVALID, det_key_sender(c, SALT_CLI_INVALID), 1, &opened);
        if (!ev) return;
        if (opened) det_sender_observables(ev, c);
        detail_list_add(ev, "reasons", why);
        detail_list_add(ev, "identity_header", ids[i].name);
        char shown[64];
        ev_copy_text(shown, sizeof shown, u.user);
        ev_set_str(ev, "identity", shown);
        if (!strcmp(why, "high_risk_range")) ev_add_observable(ev, "e164", num, "caller");
        return;
    }
}

/* ---- SIP-TOPO-001 ----------------------------------------------------------------- */

/* Whether a is the sender's own address, also when one of the two is
 * written IPv4-mapped: a dual-stack socket (a proxy's HEP) reports an IPv4
 * sender as ::ffff:a.b.c.d while its SIP names a.b.c.d. */
static bool sender_address(const det_ctx *c, const fs_addr *a) {
    fs_addr x = fs_addr_unmapped(a), src = fs_addr_unmapped(&c->p->src.addr);
    return fs_addr_eq(&x, &src);
}

/* An address an untrusted peer should not learn: private, or one of our
 * core zone, and not the sender's own address (which the peer sees anyway). */
static bool internal_address(const det_ctx *c, fs_str host, bool core_only) {
    fs_addr a;
    if (!host.len || !fs_addr_parse_str(host, &a)) return false; /* host names are not judged */
    if (sender_address(c, &a)) return false;
    int z = cfg_zone_of(c->eng->cfg, &a);
    if (z >= 0 && c->eng->cfg->zones[z].trust == TRUST_CORE) return true;
    return !core_only && fs_addr_is_private(&a);
}

/* A private address other than the sender's own (media addresses). */
static bool private_address(const det_ctx *c, fs_str host) {
    fs_addr a;
    if (!host.len || !fs_addr_parse_str(host, &a)) return false;
    return !sender_address(c, &a) && fs_addr_is_private(&a);
}

/* What one message leaks: each place and address, the first TOPO_MAX_LEAKS. */
#define TOPO_MAX_LEAKS 8
typedef struct leaks {
    int n;
    const char *where[TOPO_MAX_LEAKS];
    fs_str host[TOPO_MAX_LEAKS];
} leaks;

static void leak_add(leaks *l, const char *where, fs_str host) {
    if (l->n == TOPO_MAX_LEAKS) return;
    l->where[l->n] = where;
    l->host[l->n++] = host;
}

static void uri_host_leaks(const det_ctx *c, fs_str value, bool core_only, const char *where, leaks *l) {
    fs_str rest = value, item;
    while (sip_list_next(&rest, &item)) {
        sip_uri u;
        if (!sip_uri_parse(det_nameaddr_uri(item), &u)) continue;
        if (internal_address(c, u.host, core_only)) leak_add(l, where, u.host);
    }
}

static void header_leaks(const det_ctx *c, sip_header_id id, bool core_only, const char *where, leaks *l) {
    uint16_t pos = 0;
    const sip_header *h;
    while ((h = sip_header_next(c->m, id, &pos)) != NULL) uri_host_leaks(c, h->value, core_only, where, l);
}

static void find_leaks(const det_ctx *c, leaks *l) {
    const sip_msg *m = c->m;
    if (m->is_request) {
        /* In a response the Via list is the requester's own: not ours to leak. */
        sip_via_iter it = {0};
        sip_via v;
        while (sip_via_next(m, &it, &v, NULL)) {
            fs_str received;
            if (internal_address(c, v.host, false)) leak_add(l, "Via", v.host);
            if (sip_param_get(v.params, "received", &received) && internal_address(c, received, false))
                leak_add(l, "Via received", received);
        }
    }
    /* Record-Route in a response also holds the requester side's proxies:
     * only our core addresses count there. */
    header_leaks(c, SIP_H_RECORD_ROUTE, !m->is_request, "Record-Route", l);
    /* A REGISTER response lists the requester's own bindings. */
    if (m->is_request || m->cseq_method != SIP_M_REGISTER) header_leaks(c, SIP_H_CONTACT, false, "Contact", l);
    fs_str body;
    sip_sdp sdp;
    if (sip_msg_sdp(m, &body) && sip_sdp_parse(body, &sdp)) {
        /* the media address is where the peer must send RTP (RFC 4566 5.7): a
         * public address of our core (an SBC's or media relay's media side,
         * RFC 5853) is no leak; a private one is */
        for (unsigned i = 0; i < sdp.nconn && i < SIP_SDP_MAX; i++)
            if (private_address(c, sdp.conn_addr[i])) leak_add(l, "SDP c=", sdp.conn_addr[i]);
        if (private_address(c, sdp.origin_addr)) leak_add(l, "SDP o=", sdp.origin_addr);
    }
}

static void topology_check(det_ctx *c) {
    /* UEs get the route set (RFC 3261 12.1.2) and the operator's media
     * addresses: topology hiding is the interconnect's (TS 24.229 4.4, 5.10) */
    if (c->dst_zone >= 0 && c->eng->cfg->zones[c->dst_zone].access) return;
    leaks l = {0};
    find_leaks(c, &l);
    if (!l.n) return;
    bool opened;
    ev_event *ev = det_hit(c, R_TOPO_INTERNAL_ADDR, det_key_addr(c->eng, &c->p->src.addr, SALT_TOPO), 1, &opened);
    if (!ev) return;
    if (opened) {
        src_observable(ev, c);
        ev_set_str(ev, "toward_zone", zone_name(c, c->dst_zone));
    }
    for (int i = 0; i < l.n; i++) {
        char addr[64], pair[96];
        ev_copy_text(addr, sizeof addr, l.host[i]);
        detail_list_add(ev, "where", l.where[i]);
        detail_list_add(ev, "leaked", addr);
        /* each list is sorted apart: "leaks" keeps which address was where
         * ("Contact=10.0.0.40", "SDP c=192.168.1.2") */
        size_t w = strlen(l.where[i]);
        snprintf(pair, sizeof pair, "%s%s%s", l.where[i], w && l.where[i][w - 1] == '=' ? "" : "=", addr);
        detail_list_add(ev, "leaks", pair);
    }
}

/* ---- SIP-INFO-001/002 --------------------------------------------------------------- */

/* A product version: digits '.' digits somewhere in the value ("5.6.4", "16.2"). */
static bool has_version(fs_str v) {
    for (uint32_t i = 0; i + 2 < v.len; i++) {
        if (!sip_is_digit((unsigned char)v.p[i])) continue;
        uint32_t j = i;
        while (j < v.len && sip_is_digit((unsigned char)v.p[j])) j++;
        if (j + 1 < v.len && v.p[j] == '.' && sip_is_digit((unsigned char)v.p[j + 1])) return true;
        i = j;
    }
    return false;
}

/* The first User-Agent or Server field, of the first INFO_AGENT_FIELDS,
 * that names a version: an element that adds its own agent field keeps the
 * one it was given, and a version in the second field is disclosed too. */
#define INFO_AGENT_FIELDS 4
static const sip_header *version_field(const sip_msg *m) {
    static const sip_header_id agents[] = {SIP_H_USER_AGENT, SIP_H_SERVER};
    unsigned n = 0;
    for (size_t i = 0; i < 2; i++) {
        uint16_t pos = 0;
        const sip_header *h;
        while (n < INFO_AGENT_FIELDS && (h = sip_header_next(m, agents[i], &pos)) != NULL) {
            n++;
            if (has_version(h->value)) return h;
        }
    }
    return NULL;
}

static void info_check(det_ctx *c) {
    const sip_msg *m = c->m;
    const sip_header *agent = version_field(m);
    if (agent) {
        bool opened;
        ev_event *ev = det_hit(c, R_INFO_VERSION, det_key_addr(c->eng, &c->p->src.addr, SALT_INFO), 1, &opened);
        if (ev) {
            if (opened) src_observable(ev, c);
            char text[96];
            ev_copy_text(text, sizeof text, agent->value);
            ev_set_str(ev, "header", sip_header_name(agent->id));
            ev_set_str(ev, "disclosed", text);
        }
    }
    fs_str warning = sip_header_value(m, SIP_H_WARNING);
    if (warning.len) {
        bool opened;
        ev_event *ev = det_hit(c, R_INFO_WARNING, det_key_addr(c->eng, &c->p->src.addr, SALT_INFO), 1, &opened);
        if (!ev) return;
        if (opened) src_observable(ev, c);
        char text[112];
        ev_copy_text(text, sizeof text, warning);
        ev_set_str(ev, "warning", text);
    }
}

/* ---- SIP-INFO-003 ----------------------------------------------------------------- */

/* IMS AKA (3GPP TS 33.203 6.1, 7.4; TS 24.229): the S-CSCF hands the
 * session keys to the P-CSCF as the ck and ik parameters of its 401's
 * challenge, and the P-CSCF must take them out before the 401 goes on to
 * the UE: with them anyone on the access path reads and forges the UE's
 * protected SIP (and fs38 reads it too: src/inspect/insp_aka.c). */
static void aka_keys_check(det_ctx *c) {
    const sip_msg *m = c->m;
    sip_header_id id = m->status == 401 ? SIP_H_WWW_AUTHENTICATE : SIP_H_PROXY_AUTHENTICATE;
    bool ck = false, ik = false;
    uint16_t pos = 0;
    const sip_header *h;
    while ((h = sip_header_next(m, id, &pos))) {
        fs_str rest = h->value, name, value;
        while (sip_auth_param_next(&rest, &name, &value)) {
            if (name.len != 2 || (name.p[1] | 0x20) != 'k') continue;
            ck |= (name.p[0] | 0x20) == 'c';
            ik |= (name.p[0] | 0x20) == 'i';
        }
    }
    if (!ck && !ik) return;
    bool opened;
    ev_event *ev = det_hit(c, R_INFO_AKA_KEYS, det_key_addr(c->eng, &c->p->src.addr, SALT_INFO), 1, &opened);
    if (!ev || !opened) return;
    src_observable(ev, c);
    ev_set_str(ev, "toward_zone", zone_name(c, c->dst_zone));
    ev_set_str(ev, "disclosed", ck && ik ? "ck ik" : ck ? "ck" : "ik");
    ev_set_str(ev, "header", sip_header_name(id));
}

/* ---- SIP-INFO-004 ----------------------------------------------------------------- */

/* Cipher suites no one may negotiate any more (RFC 9325, BCP 195: no NULL,
 * export, anonymous, RC4 (RFC 7465), single DES; 3DES gives 112 bits at
 * best and falls to Sweet32), by IANA number: every registered suite of
 * those families (Kerberos, PSK and SRP ones, anonymous DH with Camellia,
 * SEED or ARIA, RFC 9150's integrity-only TLS 1.3 suites included). */
typedef struct weak_suite {
    uint16_t id;
    const char *why;
} weak_suite;
static const weak_suite weak_suites[] = {
    {0x0000, "null"},      {0x0001, "null"},      {0x0002, "null"},      {0x0003, "export"},
    {0x0004, "rc4"},       {0x0005, "rc4"},       {0x0006, "export"},    {0x0008, "export"},
    {0x0009, "des"},       {0x000A, "3des"},      {0x000B, "export"},    {0x000C, "des"},
    {0x000D, "3des"},      {0x000E, "export"},    {0x000F, "des"},       {0x0010, "3des"},
    {0x0011, "export"},    {0x0012, "des"},       {0x0013, "3des"},      {0x0014, "export"},
    {0x0015, "des"},       {0x0016, "3des"},      {0x0017, "export"},    {0x0018, "anonymous"},
    {0x0019, "export"},    {0x001A, "anonymous"}, {0x001B, "anonymous"}, {0x001E, "des"},
    {0x001F, "3des"},      {0x0020, "rc4"},       {0x0022, "des"},       {0x0023, "3des"},
    {0x0024, "rc4"},       {0x0026, "export"},    {0x0027, "export"},    {0x0028, "export"},
    {0x0029, "export"},    {0x002A, "export"},    {0x002B, "export"},    {0x002C, "null"},
    {0x002D, "null"},      {0x002E, "null"},      {0x0034, "anonymous"}, {0x003A, "anonymous"},
    {0x003B, "null"},      {0x0046, "anonymous"}, {0x006C, "anonymous"}, {0x006D, "anonymous"},
    {0x0089, "anonymous"}, {0x008A, "rc4"},       {0x008B, "3des"},      {0x008E, "rc4"},
    {0x008F, "3des"},      {0x0092, "rc4"},       {0x0093, "3des"},      {0x009B, "anonymous"},
    {0x00A6, "anonymous"}, {0x00A7, "anonymous"}, {0x00B0, "null"},      {0x00B1, "null"},
    {0x00B4, "null"},      {0x00B5, "null"},      {0x00B8, "null"},      {0x00B9, "null"},
    {0x00BF, "anonymous"}, {0x00C5, "anonymous"}, {0xC001, "null"},      {0xC002, "rc4"},
    {0xC003, "3des"},      {0xC006, "null"},      {0xC007, "rc4"},       {0xC008, "3des"},
    {0xC00B, "null"},      {0xC00C, "rc4"},       {0xC00D, "3des"},      {0xC010, "null"},
    {0xC011, "rc4"},       {0xC012, "3des"},      {0xC015, "null"},      {0xC016, "anonymous"},
    {0xC017, "anonymous"}, {0xC018, "anonymous"}, {0xC019, "anonymous"}, {0xC01A, "3des"},
    {0xC01B, "3des"},      {0xC01C, "3des"},      {0xC033, "rc4"},       {0xC034, "3des"},
    {0xC039, "null"},      {0xC03A, "null"},      {0xC03B, "null"},      {0xC046, "anonymous"},
    {0xC047, "anonymous"}, {0xC05A, "anonymous"}, {0xC05B, "anonymous"}, {0xC084, "anonymous"},
    {0xC085, "anonymous"}, {0xC0B4, "null"},      {0xC0B5, "null"},
};

static const char *suite_weakness(uint16_t suite) {
    for (size_t i = 0; i < sizeof weak_suites / sizeof *weak_suites; i++)
        if (weak_suites[i].id == suite) return weak_suites[i].why;
    return NULL;
}

/* A SIP server that agrees to SSL 3.0, TLS 1.0 or 1.1 (RFC 8996 forbids
 * them; 3GPP TS 33.210's TLS profile asks for 1.2 at least) or to a suite
 * above: whoever is on the path may read or alter the SIP it protects.
 * Keyed by the server; its address is the observable. */
void det_tls_check(det_ctx *c, uint16_t version, uint16_t suite) {
    const char *name = cap_tls_version_name(version), *suite_weak = suite_weakness(suite);
    bool old_version = name && version < 0x0303;
    if (!old_version && !suite_weak) return;
    bool opened;
    ev_event *ev = det_hit(c, R_INFO_WEAK_TLS, det_key_addr(c->eng, &c->p->src.addr, SALT_TLS), 1, &opened);
    if (!ev || !opened) return;
    char ip[FS_ADDR_STRLEN], hex[8];
    src_observable(ev, c);
    ev_set_str(ev, "version", name ? name : "unknown");
    snprintf(hex, sizeof hex, "0x%04x", suite);
    ev_set_str(ev, "cipher_suite", hex);
    ev_set_str(ev, "weakness", old_version && suite_weak ? "version+suite" : old_version ? "version" : "suite");
    if (suite_weak) ev_set_str(ev, "suite_weakness", suite_weak);
    ev_set_int(ev, "server_port", c->p->src.port);
    ev_set_str(ev, "client", fs_addr_str(&c->p->dst.addr, ip, sizeof ip));
}

/* ---- SIP-INFO-006 ----------------------------------------------------------------- */

/* A public key too small to trust (RFC 9325 §4.3, NIST SP 800-57: 112-bit
 * security, RSA/DSA/DH 2048 bits, elliptic curves 224). */
static bool weak_key(const EVP_PKEY *k) {
    int bits = EVP_PKEY_get_bits(k), id = EVP_PKEY_get_base_id(k);
    if (id == EVP_PKEY_EC) return bits < 224;
    if (id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS || id == EVP_PKEY_DSA || id == EVP_PKEY_DH) return bits < 2048;
    return false; /* Ed25519, Ed448 ... */
}

/* Signed with a broken hash (MD2, MD4, MD5, SHA-1: collisions). */
static bool weak_signature(const X509 *x) {
    int md = NID_undef, pk = NID_undef;
    if (!OBJ_find_sigid_algs(X509_get_signature_nid(x), &md, &pk)) return false;
    return md == NID_md2 || md == NID_md4 || md == NID_md5 || md == NID_sha1;
}

/* The certificate a SIP server shows in its TLS handshake, or a client
 * when the server asks for one (mutual TLS, as interconnects use; by_client):
 * expired, expiring within expiry_warning_days (the link breaks when the
 * peers check), or not yet valid at capture time, a key too small, or a
 * broken signature hash. Self-signed is said, not judged: private trunks use their
 * own CAs. Keyed by the certificate's sender (c->p->src), so an SBC that
 * shows one certificate as server and as client is one incident. */
void det_cert_check(det_ctx *c, const uint8_t *der, size_t n, bool by_client) {
    const unsigned char *p = der;
    X509 *x = n <= LONG_MAX ? d2i_X509(NULL, &p, (long)n) : NULL;
    if (!x) return; /* not a certificate OpenSSL reads: nothing to judge */
    time_t now = (time_t)(c->ts / FS_USEC);
    /* no capture time (a capture without timestamps, or none stamped yet:
     * the engine runs at its first microsecond, 1970): validity is not
     * judged, or every certificate would be not yet valid */
    bool timed = c->p->ts_us != 0 || c->ts > 1;
    bool expired = timed && X509_cmp_time(X509_get0_notAfter(x), &now) < 0;
    bool early = timed && X509_cmp_time(X509_get0_notBefore(x), &now) > 0;
    int days_left = 0, secs_left = 0; /* until notAfter */
    double warn_days = det_rule_cfg(c, R_INFO_WEAK_CERT)->param[0];
    ASN1_TIME *at_now = ASN1_TIME_set(NULL, now);
    bool soon = timed && !expired && warn_days > 0 && at_now &&
                ASN1_TIME_diff(&days_left, &secs_left, at_now, X509_get0_notAfter(x)) &&
                (double)days_left + secs_left / 86400.0 < warn_days;
    ASN1_TIME_free(at_now);
    EVP_PKEY *key = X509_get0_pubkey(x);
    bool small = key && weak_key(key), hash = weak_signature(x);
    if (expired || soon || early || small || hash) {
        bool opened;
        ev_event *ev = det_hit(c, R_INFO_WEAK_CERT, det_key_addr(c->eng, &c->p->src.addr, SALT_CERT), 1, &opened);
        if (ev && opened) {
            char text[160];
            snprintf(text, sizeof text, "%s%s%s%s%s", expired ? "expired," : "", soon ? "expires_soon," : "",
                     early ? "not_yet_valid," : "", small ? "weak_key," : "", hash ? "weak_signature," : "");
            text[strlen(text) - 1] = '\0';
            src_observable(ev, c);
            ev_set_str(ev, "problems", text);
            ev_set_int(ev, "key_bits", key ? EVP_PKEY_get_bits(key) : 0);
            ev_set_str(ev, "signature", OBJ_nid2ln(X509_get_signature_nid(x)));
            struct tm tm;
            if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) && strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm))
                ev_set_str(ev, "not_after", text);
            if (soon) ev_set_int(ev, "expires_in_days", days_left);
            X509_NAME_oneline(X509_get_subject_name(x), text, sizeof text);
            ev_set_str(ev, "subject", text);
            bool self = X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0;
            ev_set_str(ev, "self_signed", self ? "yes" : "no"); /* self-issued: no CA vouches for it */
            ev_set_str(ev, "role", by_client ? "client" : "server");
            ev_set_int(ev, "server_port", by_client ? c->p->dst.port : c->p->src.port);
        }
    }
    X509_free(x);
}

/* ---- SIP-INFO-005 ----------------------------------------------------------------- */

/* The message at hand is protected on the wire: TLS, secure WebSocket
 * (also as a HEP sender says), or inside IPsec ESP (VoLTE's Gm). */
static bool protected_message(const cap_payload *p) {
    if (p->transport == CAP_T_TLS || p->transport == CAP_T_WSS) return true;
    for (unsigned i = 0; p->encap && i < p->encap->n; i++)
        if (p->encap->layer[i].kind == FS_L_ESP) return true;
    return false;
}

/* One end of a cleartext message, in a zone that requires TLS: its
 * incident (from: it sent the message). */
static void cleartext_hit(det_ctx *c, bool from) {
    const fs_endpoint *peer = from ? &c->p->src : &c->p->dst, *other = from ? &c->p->dst : &c->p->src;
    bool opened;
    ev_event *ev = det_hit(c, R_INFO_CLEARTEXT, det_key_addr(c->eng, &peer->addr, SALT_CLEARTEXT), 1, &opened);
    if (!ev || !opened) return;
    char ip[FS_ADDR_STRLEN];
    ev_add_observable(ev, "ip", fs_addr_str(&peer->addr, ip, sizeof ip), from ? "source" : "destination");
    ev_set_str(ev, "zone", zone_name(c, from ? c->src_zone : c->dst_zone));
    ev_set_str(ev, "direction", from ? "from_zone" : "to_zone");
    ev_set_str(ev, "transport", cap_transport_name((cap_transport)c->p->transport));
    ev_set_str(ev, "other_end", fs_addr_str(&other->addr, ip, sizeof ip));
}

/* A zone whose SIP must be protected (zones.NAME.require_tls: an
 * interconnect agreed on TLS, an enterprise trunk) exchanging a message in
 * the clear, either way: keyed by its own end, so each peer of the zone is
 * one incident; a message between two such ends counts for both (the
 * receiver may never answer in the clear and be named otherwise). */
static void cleartext_check(det_ctx *c) {
    const fs38_config *cfg = c->eng->cfg;
    bool from = c->src_zone >= 0 && cfg->zones[c->src_zone].require_tls;
    bool to = c->dst_zone >= 0 && cfg->zones[c->dst_zone].require_tls;
    if ((!from && !to) || protected_message(c->p)) return;
    if (from) cleartext_hit(c, true);
    if (to) cleartext_hit(c, false);
}

/* ---- entry point ------------------------------------------------------------------ */

void det_trust_check(det_ctx *c) {
    cli_invalid_check(c);
    /* a zone's require_tls is a policy of its own, not a trust boundary: it
     * holds for an untrusted zone with no core or trusted zone configured */
    if (c->eng->require_tls) cleartext_check(c);
    if (!c->zones) return;
    if (c->m->is_request) {
        trust_headers_check(c);
        cli_home_check(c);
    }
    if (c->dst_trust == TRUST_UNTRUSTED && c->src_trust != TRUST_UNTRUSTED) {
        topology_check(c);
        info_check(c);
    }
    /* from any zone: keys in the clear toward an untrusted one are out */
    if (c->dst_trust == TRUST_UNTRUSTED && (c->m->status == 401 || c->m->status == 407)) aka_keys_check(c);
}

/*
 * test_config.c -- the YAML config loader, the high-risk range reader and
 * the lookups (cfg.h). Data in tests/data/config/; run from the repo root.
 *
 * Every bad file checks the error code AND that the message names the file,
 * the line:column and the key path, and that a failed load leaves the
 * caller's config untouched.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../check.h"
#include "config/cfg.h"

#define D "tests/data/config/"

static fs38_config g_cfg; /* big (hundreds of KiB): not on the stack */
static fs38_config g_ref;

static bool contains(const char *hay, const char *needle) { return strstr(hay, needle) != NULL; }

static fs_addr ip(const char *s) {
    fs_addr a;
    memset(&a, 0, sizeof a);
    bool ok = fs_addr_parse(s, &a);
    CHECK_MSG(ok, "bad test address %s", s);
    return a;
}

static int zone_named(const fs38_config *c, const char *name) {
    for (int i = 0; i < c->nzones; i++)
        if (!strcmp(c->zones[i].name, name)) return i;
    return -2;
}

static int zone_at(const fs38_config *c, const char *addr) {
    fs_addr a = ip(addr);
    return cfg_zone_of(c, &a);
}

/* The load must fail with code; the message must name "file:line:col" (where)
 * and each of the needles; the config must stay as it was. */
static void expect_fail_buf(const char *name, const char *buf, size_t len, fs_code code,
                            const char *where, const char *key, const char *what) {
    cfg_defaults(&g_cfg);
    g_cfg.max_sources = 4242; /* sentinel: must survive a failed load */
    fs_err e = {0};
    fs_code rc = buf ? cfg_load_buffer(&g_cfg, buf, len, D, &e) : cfg_load_file(&g_cfg, name, &e);
    CHECK_MSG(rc == code, "%s: code %s, want %s (%s)", name, fs_code_name(rc), fs_code_name(code),
              e.msg);
    CHECK_MSG(e.code == code, "%s: e.code", name);
    if (where) CHECK_MSG(contains(e.msg, where), "%s: '%s' lacks '%s'", name, e.msg, where);
    if (key) CHECK_MSG(contains(e.msg, key), "%s: '%s' lacks key '%s'", name, e.msg, key);
    if (what) CHECK_MSG(contains(e.msg, what), "%s: '%s' lacks '%s'", name, e.msg, what);
    CHECK_MSG(g_cfg.max_sources == 4242 && g_cfg.nzones == 0, "%s: config changed on error", name);
}

static void expect_fail(const char *file, fs_code code, const char *linecol, const char *key,
                        const char *what) {
    char path[256], where[300];
    snprintf(path, sizeof path, D "%s", file);
    snprintf(where, sizeof where, "%s:%s: ", path, linecol);
    expect_fail_buf(path, NULL, 0, code, linecol ? where : path, key, what);
}

/* ---- defaults ---------------------------------------------------------------- */

static void test_defaults(void) {
    fs38_config *c = &g_cfg;
    cfg_defaults(c);
    CHECK(!strcmp(c->issuer, "org:local"));
    CHECK(!strcmp(c->tlp, "amber"));
    CHECK(c->source_path[0] == '\0');
    CHECK_EQ_INT(c->capture.nports, 3);
    CHECK_EQ_INT(c->capture.sip_ports[0], 5060);
    CHECK_EQ_INT(c->capture.sip_ports[1], 5061);
    CHECK_EQ_INT(c->capture.sip_ports[2], 5080);
    CHECK(c->capture.heuristic);
    CHECK_EQ_INT(c->capture.live_buffer_mb, 32);
    CHECK(c->ims_aka_keys);
    CHECK_EQ_INT(c->capture.nhep_ports, 1);
    CHECK_EQ_INT(c->capture.hep_ports[0], 9060);
    CHECK(!c->capture.hep_auth_key[0]);
    CHECK_EQ_INT(c->capture.sip.max_message, 65535);
    CHECK_EQ_INT(c->capture.sip.max_headers, 128);
    CHECK_EQ_INT(c->capture.sip.max_header_len, 4096);
    CHECK_EQ_INT(c->capture.sip.max_uri_len, 1024);
    CHECK_EQ_INT(c->capture.max_tcp_flows, 65536);
    CHECK_EQ_INT(c->capture.max_flow_bytes, 262144);
    CHECK_EQ_INT(c->capture.max_tcp_bytes, 268435456);
    CHECK_EQ_INT(c->capture.tcp_idle_s, 300);
    CHECK_EQ_INT(c->capture.max_frag_sets, 8192);
    CHECK_EQ_INT(c->capture.max_frag_bytes, 67108864);
    CHECK_EQ_INT(c->capture.frag_timeout_s, 30);
    CHECK_EQ_INT(c->max_sources, 65536);
    CHECK_EQ_INT(c->max_dialogs, 65536);
    CHECK_EQ_INT(c->max_incidents, 16384);
    CHECK_EQ_INT(c->default_trust, TRUST_UNTRUSTED);
    CHECK_EQ_INT(c->nzones, 0);
    CHECK_EQ_INT(c->nnets, 0);
    CHECK_EQ_INT(c->nhigh_risk, 0);
    CHECK_EQ_INT(c->nallow, 0);
    CHECK(!cfg_zones_configured(c));
    int bad = 0;
    for (int r = 0; r < R__COUNT; r++) {
        const det_rule_info *ri = &det_rule_table[r];
        const cfg_rule *rc = &c->rules[r];
        bad += !rc->enabled || rc->severity != ri->severity || rc->action != ri->action ||
               rc->threshold != ri->threshold || rc->window_s != ri->window_s ||
               rc->ttl_s != ri->ttl_s;
        for (int i = 0; i < DET_MAX_PARAMS; i++) bad += rc->param[i] != ri->param_defaults[i];
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(c->rules[R_FLOOD_SOURCE].threshold, 200);
    CHECK(c->rules[R_FLOOD_SOURCE].param[0] == 100);
    fs_addr a = ip("10.0.0.1");
    CHECK_EQ_INT(cfg_zone_of(c, &a), -1);
    CHECK_EQ_INT(cfg_trust_of(c, &a), TRUST_UNTRUSTED);
    CHECK(!strcmp(cfg_trust_name(TRUST_CORE), "core"));
    CHECK(!strcmp(cfg_trust_name(TRUST_TRUSTED), "trusted"));
    CHECK(!strcmp(cfg_trust_name(TRUST_UNTRUSTED), "untrusted"));
}

/* etc/fs38.yaml documents the defaults: loading it must change nothing but
 * the high-risk list and the source path. */
static void test_shipped_config(void) {
    fs_err e = {0};
    cfg_defaults(&g_ref);
    fs_code rc = cfg_load_file(&g_cfg, "etc/fs38.yaml", &e);
    CHECK_MSG(rc == FS_OK, "etc/fs38.yaml: %s", e.msg);
    if (rc != FS_OK) return;
    const fs38_config *c = &g_cfg, *d = &g_ref;
    CHECK(!strcmp(c->source_path, "etc/fs38.yaml"));
    CHECK(!strcmp(c->issuer, d->issuer) && !strcmp(c->tlp, d->tlp));
    const cap_config *cc = &c->capture, *dc = &d->capture;
    CHECK(cc->nports == dc->nports && !memcmp(cc->sip_ports, dc->sip_ports, sizeof cc->sip_ports));
    CHECK(cc->nhep_ports == dc->nhep_ports &&
          !memcmp(cc->hep_ports, dc->hep_ports, sizeof cc->hep_ports));
    CHECK(cc->heuristic == dc->heuristic && cc->live_buffer_mb == dc->live_buffer_mb);
    CHECK(cc->max_tcp_flows == dc->max_tcp_flows && cc->max_flow_bytes == dc->max_flow_bytes &&
          cc->max_tcp_bytes == dc->max_tcp_bytes && cc->tcp_idle_s == dc->tcp_idle_s &&
          cc->max_frag_sets == dc->max_frag_sets && cc->max_frag_bytes == dc->max_frag_bytes &&
          cc->frag_timeout_s == dc->frag_timeout_s);
    CHECK(cc->sip.max_message == dc->sip.max_message && cc->sip.max_headers == dc->sip.max_headers &&
          cc->sip.max_header_len == dc->sip.max_header_len &&
          cc->sip.max_uri_len == dc->sip.max_uri_len);
    CHECK(c->max_sources == d->max_sources && c->max_dialogs == d->max_dialogs &&
          c->max_incidents == d->max_incidents);
    CHECK(c->default_trust == d->default_trust && c->nzones == 0 && c->nnets == 0);
    CHECK(c->nhome_prefixes == 0 && c->nhome_domains == 0 && c->nallow == 0 && c->nallow_callers == 0);
    int diff = 0;
    for (int r = 0; r < R__COUNT; r++) {
        const cfg_rule *a = &c->rules[r], *b = &d->rules[r];
        diff += a->enabled != b->enabled || a->severity != b->severity || a->action != b->action ||
                a->threshold != b->threshold || a->window_s != b->window_s || a->ttl_s != b->ttl_s;
        for (int i = 0; i < DET_MAX_PARAMS; i++) diff += a->param[i] != b->param[i];
        if (diff) {
            fprintf(stderr, "etc/fs38.yaml: rule %s differs from rules.h\n", det_rule_table[r].id);
            break;
        }
    }
    CHECK_EQ_INT(diff, 0);
    /* ... and shows every rule with every parameter (so a new one in rules.h
     * that the shipped file does not document fails here) */
    size_t len = 0;
    char *text = check_read_file("etc/fs38.yaml", &len);
    CHECK(text != NULL);
    if (text) {
        char *t = realloc(text, len + 1);
        if (t) {
            text = t;
            text[len] = '\0';
        }
        int missing = 0;
        for (int r = 0; t && r < R__COUNT; r++) {
            char head[64];
            snprintf(head, sizeof head, "\n  %s:", det_rule_table[r].id);
            const char *block = strstr(text, head), *end = NULL;
            if (!block) {
                fprintf(stderr, "etc/fs38.yaml lacks rule %s\n", det_rule_table[r].id);
                missing++;
                continue;
            }
            /* the block ends at the next line indented by exactly two spaces */
            for (const char *q = block + 1; (q = strchr(q, '\n')) != NULL; q++)
                if (q[1] == ' ' && q[2] == ' ' && q[3] != ' ') {
                    end = q;
                    break;
                }
            char names[128];
            snprintf(names, sizeof names, "%s", det_rule_table[r].param_names);
            for (char *save = NULL, *n = strtok_r(names, " ", &save); n;
                 n = strtok_r(NULL, " ", &save)) {
                char key[64];
                snprintf(key, sizeof key, "\n    %s: ", n);
                const char *hit = strstr(block, key);
                if (!hit || (end && hit > end)) {
                    fprintf(stderr, "etc/fs38.yaml: %s lacks parameter %s\n", det_rule_table[r].id, n);
                    missing++;
                }
            }
        }
        CHECK_EQ_INT(missing, 0);
        free(text);
    }
    /* the curated list came with it */
    CHECK(!strcmp(c->high_risk_file, "etc/high-risk-ranges.txt"));
    CHECK(c->nhigh_risk >= 20);
    const cfg_prefix *p = cfg_match_prefix(c->high_risk, c->nhigh_risk, "881612345678");
    CHECK(p && !strcmp(p->digits, "881") && contains(p->label, "GMSS"));
    p = cfg_match_prefix(c->high_risk, c->nhigh_risk, "67231234");
    CHECK(p && !strcmp(p->digits, "6723"));
    CHECK(cfg_match_prefix(c->high_risk, c->nhigh_risk, "4420794601234") == NULL);
    CHECK(cfg_match_prefix(c->high_risk, c->nhigh_risk, "3712000000") == NULL); /* commented out */
}

/* ---- a full example ----------------------------------------------------------------- */

static void test_full(void) {
    fs_err e = {0};
    fs38_config *c = &g_cfg;
    fs_code rc = cfg_load_file(c, D "full.yaml", &e);
    CHECK_MSG(rc == FS_OK, "full.yaml: %s", e.msg);
    if (rc != FS_OK) return;
    CHECK(!strcmp(c->issuer, "org:234-15"));
    CHECK(!strcmp(c->tlp, "amber+strict"));
    CHECK_EQ_INT(c->capture.nports, 2);
    CHECK_EQ_INT(c->capture.sip_ports[1], 5062);
    CHECK(!c->capture.heuristic);
    CHECK_EQ_INT(c->capture.live_buffer_mb, 256);
    CHECK(!c->ims_aka_keys);
    CHECK_EQ_INT(c->capture.nhep_ports, 2);
    CHECK_EQ_INT(c->capture.hep_ports[1], 9061);
    CHECK(!strcmp(c->capture.hep_auth_key, "Homer: s3cret key"));
    CHECK_EQ_INT(c->capture.sip.max_message, 32768);
    CHECK_EQ_INT(c->capture.sip.max_headers, 100);
    CHECK_EQ_INT(c->capture.sip.max_header_len, 2048);
    CHECK_EQ_INT(c->capture.sip.max_uri_len, 512);
    CHECK_EQ_INT(c->capture.max_tcp_flows, 1000);
    CHECK_EQ_INT(c->capture.max_flow_bytes, 65536);
    CHECK_EQ_INT(c->capture.max_tcp_bytes, 10485760);
    CHECK_EQ_INT(c->capture.tcp_idle_s, 60);
    CHECK_EQ_INT(c->capture.max_frag_sets, 100);
    CHECK_EQ_INT(c->capture.max_frag_bytes, 1048576);
    CHECK_EQ_INT(c->capture.frag_timeout_s, 15);
    CHECK_EQ_INT(c->max_sources, 1000);
    CHECK_EQ_INT(c->max_dialogs, 2000);
    CHECK_EQ_INT(c->max_incidents, 300);
    CHECK_EQ_INT(c->default_trust, TRUST_TRUSTED);

    /* zones and may_assert */
    CHECK_EQ_INT(c->nzones, 4);
    CHECK_EQ_INT(c->nnets, 6);
    int core = zone_named(c, "core"), ipx = zone_named(c, "ipx-partner"),
        tdef = zone_named(c, "trusted-default"), busy = zone_named(c, "busy-carrier");
    CHECK(core >= 0 && ipx >= 0 && tdef >= 0 && busy >= 0);
    if (core < 0 || ipx < 0 || tdef < 0 || busy < 0) return;
    CHECK_EQ_INT(c->zones[core].trust, TRUST_CORE);
    CHECK(c->zones[core].may_assert == UINT64_MAX);
    CHECK_EQ_INT(c->zones[ipx].trust, TRUST_TRUSTED);
    CHECK(c->zones[ipx].may_assert ==
          ((1ULL << SIP_H_P_ASSERTED_IDENTITY) | (1ULL << SIP_H_P_CHARGING_VECTOR)));
    CHECK(c->zones[tdef].may_assert ==
          ((1ULL << SIP_H_P_ASSERTED_IDENTITY) | (1ULL << SIP_H_HISTORY_INFO) |
           (1ULL << SIP_H_P_CHARGING_VECTOR) | (1ULL << SIP_H_PRIVACY)));
    CHECK_EQ_INT(c->zones[busy].trust, TRUST_UNTRUSTED);
    CHECK(c->zones[busy].may_assert == 0);
    CHECK(c->zones[busy].flood_multiplier == 20);
    CHECK(c->zones[core].flood_multiplier == 1);
    CHECK(cfg_zones_configured(c));

    /* longest match, IPv4 and IPv6, nested networks */
    CHECK_EQ_INT(zone_at(c, "10.1.2.3"), ipx);   /* 10.1.0.0/16 inside 10.0.0.0/8 */
    CHECK_EQ_INT(zone_at(c, "10.2.0.1"), core);
    CHECK_EQ_INT(zone_at(c, "10.255.255.255"), core);
    CHECK_EQ_INT(zone_at(c, "192.0.2.200"), ipx);
    CHECK_EQ_INT(zone_at(c, "192.0.3.1"), -1);
    CHECK_EQ_INT(zone_at(c, "203.0.113.7"), busy);
    CHECK_EQ_INT(zone_at(c, "203.0.113.8"), -1);
    CHECK_EQ_INT(zone_at(c, "2001:db8:10:5::1"), tdef); /* /64 inside /48 */
    CHECK_EQ_INT(zone_at(c, "2001:db8:10:6::1"), core);
    CHECK_EQ_INT(zone_at(c, "2001:db8:11::1"), -1);
    CHECK_EQ_INT(zone_at(c, "::ffff:10.2.0.1"), core); /* IPv4-mapped */
    CHECK_EQ_INT(zone_at(c, "::10.2.0.1"), -1);        /* not mapped */
    fs_addr a = ip("198.18.0.1");
    CHECK_EQ_INT(cfg_trust_of(c, &a), TRUST_TRUSTED); /* default_trust */
    a = ip("203.0.113.7");
    CHECK_EQ_INT(cfg_trust_of(c, &a), TRUST_UNTRUSTED);
    a = ip("10.9.9.9");
    CHECK_EQ_INT(cfg_trust_of(c, &a), TRUST_CORE);
    for (int i = 1; i < c->nnets; i++) CHECK(c->nets[i - 1].cidr.prefix >= c->nets[i].cidr.prefix);

    /* allow list */
    a = ip("198.51.100.10");
    CHECK(cfg_is_allowed(c, &a));
    a = ip("198.51.100.11");
    CHECK(!cfg_is_allowed(c, &a));
    a = ip("2001:db8:ffff:1::9");
    CHECK(cfg_is_allowed(c, &a));
    a = ip("::ffff:198.51.100.10");
    CHECK(cfg_is_allowed(c, &a));

    /* home */
    CHECK_EQ_INT(c->nhome_prefixes, 2);
    const cfg_prefix *p = cfg_match_prefix(c->home_prefixes, c->nhome_prefixes, "447700912345");
    CHECK(p && !strcmp(p->digits, "4477009") && p->len == 7);
    p = cfg_match_prefix(c->home_prefixes, c->nhome_prefixes, "441234");
    CHECK(p && !strcmp(p->digits, "44"));
    CHECK(cfg_match_prefix(c->home_prefixes, c->nhome_prefixes, "33123") == NULL);
    CHECK_EQ_INT(c->nhome_domains, 2);
    CHECK(!strcmp(c->home_domains[0], "ims.example.net"));
    CHECK(!strcmp(c->home_domains[1], "example.org"));

    /* allow_callers: longest match, labels, only international numbers */
    CHECK_EQ_INT(c->nallow_callers, 3);
    p = cfg_caller_allowed(c, "+442071234567");
    CHECK(p && !strcmp(p->label, "Acme call centre"));
    CHECK(cfg_caller_allowed(c, "+442071234568") == NULL);
    CHECK(cfg_caller_allowed(c, "+4420712345") == NULL); /* shorter than the number listed */
    p = cfg_caller_allowed(c, "+442079900001");
    CHECK(p && !strcmp(p->digits, "4420799") && p->label[0] == '\0');
    p = cfg_caller_allowed(c, "+4420799123456");
    CHECK(p && !strcmp(p->digits, "44207991234") && !strcmp(p->label, "Acme night shift"));
    CHECK(cfg_caller_allowed(c, "442071234567") == NULL);  /* national form: not matched */
    CHECK(cfg_caller_allowed(c, "02071234567") == NULL);
    CHECK(cfg_caller_allowed(c, "") == NULL && cfg_caller_allowed(c, NULL) == NULL);

    /* high-risk list, relative to the config's folder */
    CHECK(!strcmp(c->high_risk_file, D "ranges_good.txt"));
    CHECK_EQ_INT(c->nhigh_risk, 6);
    p = cfg_match_prefix(c->high_risk, c->nhigh_risk, "881612345");
    CHECK(p && !strcmp(p->digits, "8816") && !strcmp(p->label, "Iridium"));
    p = cfg_match_prefix(c->high_risk, c->nhigh_risk, "88170000");
    CHECK(p && !strcmp(p->label, "Satellite GMSS"));
    p = cfg_match_prefix(c->high_risk, c->nhigh_risk, "882");
    CHECK(p && !strcmp(p->label, "International Networks")); /* trailing tab trimmed */
    p = cfg_match_prefix(c->high_risk, c->nhigh_risk, "5312345");
    CHECK(p && !strcmp(p->digits, "53") && p->label[0] == '\0');
    p = cfg_match_prefix(c->high_risk, c->nhigh_risk, "4470123");
    CHECK(p && !strcmp(p->digits, "4470"));
    p = cfg_match_prefix(c->high_risk, c->nhigh_risk, "4412");
    CHECK(p && !strcmp(p->digits, "44"));
    CHECK(cfg_match_prefix(c->high_risk, c->nhigh_risk, "1") == NULL);
    CHECK(cfg_match_prefix(c->high_risk, c->nhigh_risk, "") == NULL);
    CHECK(cfg_match_prefix(c->high_risk, c->nhigh_risk, "8") == NULL);

    /* rules */
    const cfg_rule *r = &c->rules[R_FLOOD_SOURCE];
    CHECK(r->enabled);
    CHECK_EQ_INT(r->severity, SEV_CRITICAL);
    CHECK_EQ_INT(r->action, ACT_BLOCK_SOURCE);
    CHECK_EQ_INT(r->threshold, 500);
    CHECK_EQ_INT(r->window_s, 20);
    CHECK_EQ_INT(r->ttl_s, 1800);
    CHECK(r->param[0] == 50 && r->param[1] == 100 && r->param[2] == 1000);
    CHECK(!c->rules[R_SCAN_FINGERPRINT].enabled);
    CHECK(c->rules[R_SCAN_FINGERPRINT].threshold == det_rule_table[R_SCAN_FINGERPRINT].threshold);
    CHECK(c->rules[R_WANGIRI].param[2] == 0.25 && c->rules[R_WANGIRI].param[0] == 4.5);
    CHECK(c->rules[R_WANGIRI].param[1] == 10);
    CHECK_EQ_INT(c->rules[R_MAL_MESSAGE].action, ACT_NONE);
    CHECK(c->rules[R_MAL_OVERSIZE].enabled);
}

/* ---- bad files ------------------------------------------------------------------ */

static void expect_ok_buf(const char *name, const char *yaml);

static void test_bad_files(void) {
    expect_fail("bad_unknown_key.yaml", FS_ERR_CONFIG, "6:3", "capture.heuristics",
                "unknown key (expected one of: sip_ports, heuristic, live_buffer_mb, hep_ports, hep_auth_key, hep_tls_cert, hep_tls_key, "
                "hep_tls_client_ca, tls_keylog, esp_sa, "
                "ims_aka_keys)");
    expect_fail("bad_cidr.yaml", FS_ERR_CONFIG, "7:9", "zones.core.networks[2]",
                "'10.0.0.0/33': prefix length must be 0-32");
    expect_fail("bad_severity.yaml", FS_ERR_CONFIG, "3:15", "rules.SIP-FLOOD-001.severity",
                "'hgih'");
    expect_fail("bad_rule.yaml", FS_ERR_CONFIG, "4:3", "rules.SIP-FLOOD-01: ",
                "unknown rule id (did you mean SIP-FLOOD-001? `fs38 rules` lists them)");
    /* no close match: the whole list, which fits the message */
    const char *far = "rules:\n  NOPE:\n    enabled: false\n";
    expect_fail_buf("far rule", far, strlen(far), FS_ERR_CONFIG, "config:2:3: ", "rules.NOPE: ",
                    "unknown rule id (known: SIP-MAL-001, SIP-MAL-002, ");
    expect_fail_buf("far rule", far, strlen(far), FS_ERR_CONFIG, "config:2:3: ", "rules.NOPE: ",
                    "FRAUD-WANGIRI-001, FRAUD-VOL-001, INTEL-001)");
    expect_fail("bad_param.yaml", FS_ERR_CONFIG, "4:5", "rules.SIP-FLOOD-001.bogus",
                "unknown parameter (this rule takes: invite register options");
    expect_fail("bad_list_for_scalar.yaml", FS_ERR_CONFIG, "2:16", "limits.max_headers",
                "expected a single value, found a list");
    expect_fail("bad_scalar_for_list.yaml", FS_ERR_CONFIG, "2:14", "capture.sip_ports",
                "expected a list, found a single value");
    expect_fail("bad_range.yaml", FS_ERR_CONFIG, "3:16", "limits.max_headers", "1-256");
    expect_fail("bad_port.yaml", FS_ERR_CONFIG, "2:21", "capture.sip_ports[1]", "1-65535");
    /* the capture ring: pcap_set_buffer_size takes an int of bytes */
    const char *ring0 = "capture:\n  live_buffer_mb: 0\n", *ring_big = "capture:\n  live_buffer_mb: 2048\n";
    expect_fail_buf("ring 0", ring0, strlen(ring0), FS_ERR_CONFIG, "config:2:19: ", "capture.live_buffer_mb",
                    "'0': must be a whole number 1-2047");
    expect_fail_buf("ring 2048", ring_big, strlen(ring_big), FS_ERR_CONFIG, "config:2:19: ",
                    "capture.live_buffer_mb", "'2048': must be a whole number 1-2047");
    expect_fail("bad_sources.yaml", FS_ERR_CONFIG, "2:16", "state.max_sources", "1-16777216");
    expect_fail("bad_duplicate.yaml", FS_ERR_CONFIG, "4:3", "limits.max_headers", "duplicate key");
    expect_fail("bad_alias.yaml", FS_ERR_CONFIG, "2:16", "allow_sources", "anchors");
    expect_fail("bad_alias_value.yaml", FS_ERR_CONFIG, "4:5", "allow_sources[0]", "aliases");
    expect_fail("bad_utf8.yaml", FS_ERR_FORMAT, "2:16", NULL, "UTF-8");
    expect_fail("bad_truncated.yaml", FS_ERR_FORMAT, "5:1", "zones.core.networks",
                "YAML syntax");
    expect_fail("bad_trust.yaml", FS_ERR_CONFIG, "4:12", "zones.dmz.trust",
                "must be core, trusted or untrusted");
    expect_fail("bad_tlp.yaml", FS_ERR_CONFIG, "2:8", "organisation.tlp", "'white'");
    expect_fail("bad_e164.yaml", FS_ERR_CONFIG, "2:21", "home.prefixes[1]", "must start with '+'");
    expect_fail("bad_allow_callers.yaml", FS_ERR_CONFIG, "3:5", "allow_callers[1]",
                "'02071234567' must start with '+'");
    expect_fail("bad_may_assert.yaml", FS_ERR_CONFIG, "5:39", "zones.partner.may_assert[1]",
                "'X-Fancy-Header' is not a SIP header");
    expect_fail("bad_core_may_assert.yaml", FS_ERR_CONFIG, "3:17", "zones.core.may_assert",
                "core zone may assert every header");
    expect_fail("bad_host_bits.yaml", FS_ERR_CONFIG, "1:17", "allow_sources[0]",
                "host bits set (the network is 10.0.0.0/8)");
    expect_fail("bad_dup_net.yaml", FS_ERR_CONFIG, "7:30", "zones.b.networks[1]",
                "already listed in zone 'a' (line 4)");
    expect_fail("bad_flow_bytes.yaml", FS_ERR_CONFIG, "2:16", "limits.max_message",
                "max_flow_bytes (262144) must be at least max_message (300000)");
    /* a 100 KB message within max_message was dropped on one worker (its flow
     * buffer could not grow within max_tcp_bytes) and parsed with --workers */
    expect_fail("bad_tcp_bytes.yaml", FS_ERR_CONFIG, "3:18", "limits.max_tcp_bytes",
                "max_tcp_bytes (65536) must be at least max_flow_bytes (262144)");
    static const char tcp_eq[] = "limits: {max_flow_bytes: 65536, max_tcp_bytes: 65536}\n";
    fs_err tcp_e = {0};
    CHECK_MSG(cfg_load_buffer(&g_cfg, tcp_eq, strlen(tcp_eq), NULL, &tcp_e) == FS_OK, "%s", tcp_e.msg);
    expect_fail("bad_hep_overlap.yaml", FS_ERR_CONFIG, "2:14", "capture.hep_ports",
                "port 5060 is also in capture.sip_ports");
    expect_fail("bad_two_docs.yaml", FS_ERR_CONFIG, "2:1", NULL, "only one YAML document");
    expect_fail("bad_root_list.yaml", FS_ERR_CONFIG, "1:1", NULL, "expected a mapping");
    expect_fail("bad_ranges_ref.yaml", FS_ERR_FORMAT, "1:19", "high_risk_ranges",
                "ranges_bad_digits.txt:2: '+44x,bad'");
    expect_fail("bad_ranges_missing.yaml", FS_ERR_IO, "1:19", "high_risk_ranges",
                "cannot open 'tests/data/config/no-such-file.txt'");
    expect_fail("bad_ratio.yaml", FS_ERR_CONFIG, "3:23", "rules.FRAUD-WANGIRI-001.max_answer_ratio",
                "must be a number 0-1");
    expect_fail("bad_float.yaml", FS_ERR_CONFIG, "3:23", "zones.carrier.flood_multiplier", "'nan'");
    expect_fail("bad_tag.yaml", FS_ERR_CONFIG, "2:16", "limits.max_headers", "tags");
    expect_fail("no-such-config.yaml", FS_ERR_IO, NULL, NULL, "cannot open");

    /* empty and comment-only files are the defaults */
    static const char *const empties[] = {D "empty.yaml", D "comments_only.yaml"};
    for (int i = 0; i < 2; i++) {
        fs_err e = {0};
        g_cfg.max_sources = 1;
        fs_code rc = cfg_load_file(&g_cfg, empties[i], &e);
        CHECK_MSG(rc == FS_OK, "%s: %s", empties[i], e.msg);
        CHECK_EQ_INT(g_cfg.max_sources, 65536);
        CHECK(!strcmp(g_cfg.source_path, empties[i]));
    }
    fs_err e = {0};
    CHECK(cfg_load_buffer(&g_cfg, "---\n", 4, NULL, &e) == FS_OK);
    CHECK(cfg_load_buffer(&g_cfg, "", 0, NULL, &e) == FS_OK);
    /* cfg_load_buffer resolves the ranges file against base_dir; "" means none */
    static const char rr[] = "high_risk_ranges: ranges_good.txt\n";
    CHECK_MSG(cfg_load_buffer(&g_cfg, rr, strlen(rr), "tests/data/config", &e) == FS_OK, "%s", e.msg);
    CHECK_EQ_INT(g_cfg.nhigh_risk, 6);
    CHECK(!strcmp(g_cfg.high_risk_file, "tests/data/config/ranges_good.txt"));
    CHECK(g_cfg.source_path[0] == '\0');
    static const char none[] = "high_risk_ranges: \"\"\n";
    CHECK(cfg_load_buffer(&g_cfg, none, strlen(none), "tests/data/config", &e) == FS_OK);
    CHECK(g_cfg.nhigh_risk == 0 && g_cfg.high_risk_file[0] == '\0');
    /* the TLS key log too: resolved, not opened (the CLI opens it) */
    static const char kl[] = "capture:\n  tls_keylog: keys.log\n";
    CHECK(cfg_load_buffer(&g_cfg, kl, strlen(kl), "/srv/fs38", &e) == FS_OK);
    CHECK(!strcmp(g_cfg.tls_keylog, "/srv/fs38/keys.log"));
    static const char kla[] = "capture:\n  tls_keylog: /var/log/sslkeys\n";
    CHECK(cfg_load_buffer(&g_cfg, kla, strlen(kla), "/srv/fs38", &e) == FS_OK);
    CHECK(!strcmp(g_cfg.tls_keylog, "/var/log/sslkeys"));
    CHECK(cfg_load_buffer(&g_cfg, "---\n", 4, NULL, &e) == FS_OK);
    CHECK(g_cfg.tls_keylog[0] == '\0');
    static const char nulls[] = "zones:\nhome:\nallow_sources: ~\nrules: {}\n";
    CHECK_MSG(cfg_load_buffer(&g_cfg, nulls, strlen(nulls), NULL, &e) == FS_OK, "%s", e.msg);
}

/* Bounds that are easier to build than to keep as files. */
static void test_generated(void) {
    size_t cap = 64 * 1024, n = 0;
    char *buf = malloc(CFG_MAX_FILE_BYTES + 16);
    if (!buf) return;

    /* too many zones: the 33rd, on line 34 */
    n = (size_t)snprintf(buf, cap, "zones:\n");
    for (int i = 0; i <= CFG_MAX_ZONES; i++)
        n += (size_t)snprintf(buf + n, cap - n, "  z%d: {trust: trusted}\n", i);
    expect_fail_buf("zones", buf, n, FS_ERR_CONFIG, "config:34:3: ", "zones.z32",
                    "more than 32 zones (CFG_MAX_ZONES)");

    /* too many networks: the 257th */
    n = (size_t)snprintf(buf, cap, "zones:\n  big:\n    networks:\n");
    for (int i = 0; i <= CFG_MAX_NETS; i++)
        n += (size_t)snprintf(buf + n, cap - n, "      - 10.%d.%d.0/24\n", i / 256, i % 256);
    expect_fail_buf("nets", buf, n, FS_ERR_CONFIG, "config:260:9: ", "zones.big.networks[256]",
                    "more than 256 networks across all zones (CFG_MAX_NETS)");

    /* too many ports */
    n = (size_t)snprintf(buf, cap, "capture:\n  sip_ports: [");
    for (int i = 0; i <= CAP_MAX_PORTS; i++) n += (size_t)snprintf(buf + n, cap - n, "%d,", 6000 + i);
    n += (size_t)snprintf(buf + n - 1, cap - n, "]\n") - 1;
    expect_fail_buf("ports", buf, n, FS_ERR_CONFIG, "config:2:", "capture.sip_ports[16]",
                    "CAP_MAX_PORTS");

    /* too many home prefixes */
    n = (size_t)snprintf(buf, cap, "home:\n  prefixes:\n");
    for (int i = 0; i <= CFG_MAX_HOME_PREFIXES; i++)
        n += (size_t)snprintf(buf + n, cap - n, "    - \"+44770%03d\"\n", i);
    expect_fail_buf("home", buf, n, FS_ERR_CONFIG, "config:67:7: ", "home.prefixes[64]",
                    "CFG_MAX_HOME_PREFIXES");

    /* too many allow_callers: the 257th, on line 258 */
    n = (size_t)snprintf(buf, cap, "allow_callers:\n");
    for (int i = 0; i <= CFG_MAX_ALLOW_CALLERS; i++)
        n += (size_t)snprintf(buf + n, cap - n, "  - \"+4420712%04d\"\n", i);
    expect_fail_buf("callers", buf, n, FS_ERR_CONFIG, "config:258:5: ", "allow_callers[256]",
                    "more than 256 callers (CFG_MAX_ALLOW_CALLERS)");
    /* the most that fit: found by the binary search, whatever their order */
    n = (size_t)snprintf(buf, cap, "allow_callers:\n");
    for (int i = CFG_MAX_ALLOW_CALLERS - 1; i >= 0; i--)
        n += (size_t)snprintf(buf + n, cap - n, "  - \"+4420712%04d,n%d\"\n", i * 7, i);
    fs_err ok_e = {0};
    CHECK_MSG(cfg_load_buffer(&g_cfg, buf, n, NULL, &ok_e) == FS_OK, "callers: %s", ok_e.msg);
    CHECK_EQ_INT(g_cfg.nallow_callers, CFG_MAX_ALLOW_CALLERS);
    const cfg_prefix *ac = cfg_caller_allowed(&g_cfg, "+44207120070");
    CHECK(ac && !strcmp(ac->label, "n10"));
    CHECK(cfg_caller_allowed(&g_cfg, "+44207120071") == NULL);

    /* a 1 MiB + 1 config is refused before parsing */
    memset(buf, '#', CFG_MAX_FILE_BYTES + 1);
    expect_fail_buf("big", buf, CFG_MAX_FILE_BYTES + 1, FS_ERR_LIMIT, "config:", NULL,
                    "at most 1048576 bytes");

    /* deep nesting stops at the first level the schema does not have */
    n = (size_t)snprintf(buf, cap, "allow_sources: ");
    memset(buf + n, '[', 50000);
    n += 50000;
    expect_fail_buf("deep", buf, n, FS_ERR_CONFIG, "config:1:17: ", "allow_sources[0]",
                    "expected a single value, found a list");

    /* a NUL byte inside the text */
    static const char nul[] = "default_trust: core\n\0\n";
    expect_fail_buf("nul", nul, sizeof nul - 1, FS_ERR_FORMAT, "config:2:1: ", NULL, "byte 20");

    /* a very long unknown key: the message is bounded and still says what is wrong */
    memcpy(buf, "? ", 2); /* explicit key: implicit ones stop at 1024 characters */
    memset(buf + 2, 'k', 5000);
    memcpy(buf + 5002, "\n: 1\n", 5);
    expect_fail_buf("longkey", buf, 5007, FS_ERR_CONFIG, "config:1:3: kkkk", NULL, "unknown key");

    /* control characters in a key are not echoed raw */
    static const char ctl[] = "\"a\\x01b\": 1\n";
    expect_fail_buf("ctlkey", ctl, sizeof ctl - 1, FS_ERR_CONFIG, "config:1:1: a?b: ", NULL,
                    "unknown key");

    /* nor in a value that a lower layer quotes (fs_cidr_parse): a terminal escape */
    static const char ctlval[] = "allow_sources: [\"\\e[2J\\e]0;x\\a\"]\n";
    expect_fail_buf("ctlval", ctlval, sizeof ctlval - 1, FS_ERR_CONFIG, "config:1:17: ", "allow_sources[0]",
                    "'?[2J?]0;x?' is not an IPv4/IPv6 address");

    /* SIP-CLI-002 with min_digits above max_digits flags every caller */
    static const char digits[] = "rules:\n  SIP-CLI-002: {min_digits: 16}\n";
    expect_fail_buf("digits", digits, sizeof digits - 1, FS_ERR_CONFIG, "config:2:3: ", "rules.SIP-CLI-002",
                    "min_digits (16) is more than max_digits (15)");
    /* ... but max_digits 0 is "no upper bound", documented, not a bound below min_digits */
    expect_ok_buf("nomax", "rules:\n  SIP-CLI-002: {max_digits: 0}\n");
    CHECK(g_cfg.rules[R_CLI_INVALID].param[1] == 0 && g_cfg.rules[R_CLI_INVALID].param[0] == 7);

    /* a NUL written as an escape in a quoted scalar */
    static const char esc[] = "organisation:\n  issuer: \"a\\0b\"\n";
    expect_fail_buf("esc", esc, sizeof esc - 1, FS_ERR_CONFIG, "config:2:11: ",
                    "organisation.issuer", "NUL");
    free(buf);
}

/* ---- range lists ------------------------------------------------------------------ */

static void expect_ranges_fail(const char *file, fs_code code, const char *where, const char *what) {
    char path[256], w[300];
    snprintf(path, sizeof path, D "%s", file);
    snprintf(w, sizeof w, "%s:%s: ", path, where);
    cfg_defaults(&g_cfg);
    fs_err e = {0};
    fs_code rc = cfg_load_ranges(&g_cfg, path, &e);
    CHECK_MSG(rc == code, "%s: %s", file, e.msg);
    CHECK_MSG(contains(e.msg, w), "%s: '%s' lacks '%s'", file, e.msg, w);
    CHECK_MSG(contains(e.msg, what), "%s: '%s' lacks '%s'", file, e.msg, what);
    CHECK(g_cfg.nhigh_risk == 0 && g_cfg.high_risk_file[0] == '\0');
}

static void test_ranges(void) {
    fs_err e = {0};
    cfg_defaults(&g_cfg);
    CHECK(cfg_load_ranges(&g_cfg, D "ranges_good.txt", &e) == FS_OK);
    CHECK_EQ_INT(g_cfg.nhigh_risk, 6);
    for (int i = 1; i < g_cfg.nhigh_risk; i++)
        CHECK(strcmp(g_cfg.high_risk[i - 1].digits, g_cfg.high_risk[i].digits) < 0);
    expect_ranges_fail("ranges_bad_digits.txt", FS_ERR_FORMAT, "2", "digits only");
    expect_ranges_fail("ranges_dup.txt", FS_ERR_FORMAT, "5", "+881 is listed twice (first on line 3)");
    expect_ranges_fail("ranges_long_label.txt", FS_ERR_FORMAT, "1", "longer than 39");
    expect_ranges_fail("ranges_no_plus.txt", FS_ERR_FORMAT, "1", "must start with '+'");
    expect_ranges_fail("ranges_too_many_digits.txt", FS_ERR_FORMAT, "1", "longer than 15 digits");
    expect_ranges_fail("ranges_bad_utf8.txt", FS_ERR_FORMAT, "1", "not printable UTF-8");

    /* a failed load keeps the previous list */
    CHECK(cfg_load_ranges(&g_cfg, D "ranges_good.txt", &e) == FS_OK);
    CHECK(cfg_load_ranges(&g_cfg, D "ranges_dup.txt", &e) == FS_ERR_FORMAT);
    CHECK_EQ_INT(g_cfg.nhigh_risk, 6);
    CHECK(!strcmp(g_cfg.high_risk_file, D "ranges_good.txt"));
    CHECK(cfg_load_ranges(&g_cfg, "tests/data/config", &e) == FS_ERR_IO); /* a directory */
    CHECK(contains(e.msg, "not a regular file"));

    /* CFG_MAX_PREFIXES: 4096 load, 4097 do not */
    size_t cap = 80 * 4200, n = 0;
    char *buf = malloc(cap);
    if (!buf) return;
    for (int i = 0; i < CFG_MAX_PREFIXES; i++)
        n += (size_t)snprintf(buf + n, cap - n, "+9%05d,r%d\n", i, i);
    CHECK(cfg_load_ranges_buffer(&g_cfg, buf, n, "gen", &e) == FS_OK);
    CHECK_EQ_INT(g_cfg.nhigh_risk, CFG_MAX_PREFIXES);
    n += (size_t)snprintf(buf + n, cap - n, "+8,extra\n");
    CHECK(cfg_load_ranges_buffer(&g_cfg, buf, n, "gen", &e) == FS_ERR_LIMIT);
    CHECK(contains(e.msg, "gen:4097: ") && contains(e.msg, "CFG_MAX_PREFIXES"));
    free(buf);
    /* a UTF-8 BOM (an editor's), as the YAML config allows */
    const char bom[] = "\xef\xbb\xbf+882,satellite\n+4470,uk personal\n";
    CHECK_MSG(cfg_load_ranges_buffer(&g_cfg, bom, sizeof bom - 1, "bom", &e) == FS_OK, "%s", e.msg);
    CHECK_EQ_INT(g_cfg.nhigh_risk, 2);
    /* "!+prefix": an exception inside a wider range, found by the same
     * longest match and marked allow; "!" alone or before a bad number fails */
    const char exc[] = "+881,satellite\n ! +881631000777 , own ship\n";
    CHECK_MSG(cfg_load_ranges_buffer(&g_cfg, exc, sizeof exc - 1, "exc", &e) == FS_OK, "%s", e.msg);
    const cfg_prefix *hit = cfg_match_prefix(g_cfg.high_risk, g_cfg.nhigh_risk, "881631000777");
    CHECK(hit && hit->allow && !strcmp(hit->label, "own ship"));
    hit = cfg_match_prefix(g_cfg.high_risk, g_cfg.nhigh_risk, "881631000778");
    CHECK(hit && !hit->allow && !strcmp(hit->digits, "881"));
    const char bad[] = "!\n";
    CHECK(cfg_load_ranges_buffer(&g_cfg, bad, sizeof bad - 1, "bad", &e) == FS_ERR_FORMAT);
    CHECK(contains(e.msg, "bad:1: ") && contains(e.msg, "[!]+prefix"));
}

/* Binary-search longest match against a brute-force scan over a big list. */
static const cfg_prefix *brute_match(const cfg_prefix *l, int n, const char *d) {
    const cfg_prefix *best = NULL;
    for (int i = 0; i < n; i++)
        if (!strncmp(l[i].digits, d, l[i].len) && strlen(d) >= l[i].len &&
            (!best || l[i].len > best->len))
            best = &l[i];
    return best;
}

static void test_prefix_match(void) {
    size_t cap = 64 * 3000, n = 0;
    char *buf = malloc(cap);
    if (!buf) return;
    uint64_t x = 88172;
    /* every digit string over 0-3 of length 1-5, each kept with p = 5/8:
     * many nested prefixes, no duplicates by construction */
    for (int len = 1; len <= 5; len++) {
        int count = 1 << (2 * len);
        for (int v = 0; v < count; v++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            if ((x >> 61) >= 5) continue;
            char d[8];
            for (int k = 0; k < len; k++) d[k] = (char)('0' + ((v >> (2 * k)) & 3));
            d[len] = '\0';
            n += (size_t)snprintf(buf + n, cap - n, "+%s,x\n", d);
        }
    }
    fs_err e = {0};
    cfg_defaults(&g_cfg);
    fs_code rc = cfg_load_ranges_buffer(&g_cfg, buf, n, "gen", &e);
    CHECK_MSG(rc == FS_OK, "%s", e.msg);
    free(buf);
    if (rc != FS_OK) return;
    CHECK(g_cfg.nhigh_risk > 300);
    int mismatches = 0, hits = 0;
    for (int i = 0; i < 5000; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        char num[16];
        int len = 1 + (int)((x >> 40) % 12);
        for (int k = 0; k < len; k++) num[k] = (char)('0' + (int)((x >> (2 * k + 3)) % 5));
        num[len] = '\0';
        const cfg_prefix *a = cfg_match_prefix(g_cfg.high_risk, g_cfg.nhigh_risk, num);
        const cfg_prefix *b = brute_match(g_cfg.high_risk, g_cfg.nhigh_risk, num);
        mismatches += a != b;
        hits += a != NULL;
    }
    CHECK_EQ_INT(mismatches, 0);
    CHECK(hits > 1000);
    CHECK(cfg_match_prefix(NULL, 0, "44") == NULL);
    CHECK(cfg_match_prefix(g_cfg.high_risk, g_cfg.nhigh_risk, NULL) == NULL);
}

/* Tables filled by hand: cfg_index restores longest-first order. */
static void test_index_by_hand(void) {
    fs38_config *c = &g_cfg;
    cfg_defaults(c);
    c->nzones = 2;
    snprintf(c->zones[0].name, sizeof c->zones[0].name, "wide");
    c->zones[0].trust = TRUST_CORE;
    snprintf(c->zones[1].name, sizeof c->zones[1].name, "narrow");
    c->zones[1].trust = TRUST_TRUSTED;
    fs_err e = {0};
    CHECK(fs_cidr_parse("10.0.0.0/8", &c->nets[0].cidr, &e));
    c->nets[0].zone = 0;
    CHECK(fs_cidr_parse("10.1.2.0/24", &c->nets[1].cidr, &e));
    c->nets[1].zone = 1;
    CHECK(fs_cidr_parse("::/0", &c->nets[2].cidr, &e));
    c->nets[2].zone = 0;
    c->nnets = 3;
    cfg_index(c);
    CHECK_EQ_INT(zone_at(c, "10.1.2.3"), 1);
    CHECK_EQ_INT(zone_at(c, "10.1.3.3"), 0);
    CHECK_EQ_INT(zone_at(c, "2001:db8::1"), 0);
    CHECK_EQ_INT(zone_at(c, "11.0.0.1"), -1);
    CHECK(cfg_zones_configured(c));

    /* a tiny unsorted prefix list filled by hand still gives the longest match */
    cfg_prefix hand[3] = {{.digits = "4477", .len = 4, .label = "b"}, {.digits = "44", .len = 2, .label = "a"},
                          {.digits = "447700", .len = 6, .label = "c"}};
    const cfg_prefix *p = cfg_match_prefix(hand, 3, "447700123");
    CHECK(p && !strcmp(p->label, "c"));
    p = cfg_match_prefix(hand, 3, "447712");
    CHECK(p && !strcmp(p->label, "b"));
    p = cfg_match_prefix(hand, 3, "4412");
    CHECK(p && !strcmp(p->label, "a"));
    CHECK(cfg_match_prefix(hand, 3, "4") == NULL);
}

/* ---- values that load but would do the wrong thing ----------------------------- */

static void expect_ok_buf(const char *name, const char *yaml) {
    cfg_defaults(&g_cfg);
    fs_err e = {0};
    fs_code rc = cfg_load_buffer(&g_cfg, yaml, strlen(yaml), D, &e);
    CHECK_MSG(rc == FS_OK, "%s: %s", name, e.msg);
}

static void test_values_that_mislead(void) {
    /* an issuer every event would carry and fs38 validate / the hub refuse */
    const char *bad_issuer[] = {"organisation: {issuer: \"Acme Corp\"}\n", "organisation: {issuer: ~}\n",
                                "organisation: {issuer: \"org:Acme\"}\n", "organisation: {issuer: \"org:23-15\"}\n",
                                "organisation: {issuer: \"234-15\"}\n"};
    for (size_t i = 0; i < sizeof bad_issuer / sizeof *bad_issuer; i++)
        expect_fail_buf(bad_issuer[i], bad_issuer[i], strlen(bad_issuer[i]), FS_ERR_CONFIG, "config:1:",
                        "organisation.issuer", i == 1 ? "missing value" : "org:<MCC>-<MNC>");
    /* the longest issuer the format allows ("org:" and 64 characters) is taken
     * whole (the field held 63 characters, and refused it) */
    char longest[160], name[65];
    memset(name, 'a', 64);
    name[64] = '\0';
    snprintf(longest, sizeof longest, "organisation: {issuer: \"org:%s\"}\n", name);
    expect_ok_buf("longest issuer", longest);
    CHECK(strlen(g_cfg.issuer) == 68 && !strcmp(g_cfg.issuer + 4, name));
    /* a SIP port that is the default HEP port: the list the user wrote is named, at its line */
    const char *clash = "capture:\n  sip_ports: [5060, 9060]\n";
    expect_fail_buf("sip/hep clash", clash, strlen(clash), FS_ERR_CONFIG, "config:2:14: ", "capture.sip_ports",
                    "port 9060 is a HEP port (capture.hep_ports, default 9060)");
    /* an IPv4-mapped network is its IPv4 network: listed twice is a duplicate,
     * and an address gets the one zone however either is written */
    const char *mapped = "zones:\n  a: {trust: core, networks: [10.0.0.0/8]}\n"
                         "  b: {trust: trusted, networks: [\"::ffff:10.0.0.0/104\"]}\n";
    expect_fail_buf("mapped dup", mapped, strlen(mapped), FS_ERR_CONFIG, "config:3:", "zones.b.networks[0]",
                    "already listed in zone 'a'");
    expect_ok_buf("mapped", "zones:\n  a: {trust: core, networks: [\"::ffff:10.0.0.0/104\"]}\n"
                            "  v6: {trust: untrusted, networks: [\"::/0\"]}\n");
    CHECK_EQ_INT(zone_at(&g_cfg, "10.1.2.3"), zone_named(&g_cfg, "a"));
    CHECK_EQ_INT(zone_at(&g_cfg, "::ffff:10.1.2.3"), zone_named(&g_cfg, "a"));
    CHECK_EQ_INT(zone_at(&g_cfg, "2001:db8::1"), zone_named(&g_cfg, "v6"));
    /* ... and one in no IPv4 network is in none, as its IPv4 form: "::/0"
     * (IPv6 at large) took it, trusted, while 192.0.2.7 had default_trust */
    expect_ok_buf("mapped outside", "zones:\n  v6: {trust: trusted, networks: [\"::/0\"]}\n");
    CHECK_EQ_INT(zone_at(&g_cfg, "192.0.2.7"), -1);
    CHECK_EQ_INT(zone_at(&g_cfg, "::ffff:192.0.2.7"), -1);
    /* allow_sources alike: "::/0" (IPv6 at large) does not exempt an IPv4
     * host seen through a dual-stack socket (::ffff:192.0.2.7), which
     * 192.0.2.7 itself is not */
    expect_ok_buf("mapped allowed", "allow_sources: [\"::/0\", 10.0.0.0/8]\n");
    fs_addr mapped_src = ip("::ffff:192.0.2.7"), plain_src = ip("192.0.2.7");
    CHECK(!cfg_is_allowed(&g_cfg, &plain_src));
    CHECK(!cfg_is_allowed(&g_cfg, &mapped_src));
    mapped_src = ip("::ffff:10.1.2.3");
    CHECK(cfg_is_allowed(&g_cfg, &mapped_src));
    mapped_src = ip("2001:db8::1");
    CHECK(cfg_is_allowed(&g_cfg, &mapped_src));
    /* access: an untrusted zone of UEs only */
    expect_ok_buf("access", "zones:\n  ue: {trust: untrusted, access: true, networks: [100.64.0.0/10]}\n");
    CHECK(g_cfg.nzones == 1 && g_cfg.zones[0].access);
    const char *acc = "zones:\n  p: {trust: trusted, access: true}\n";
    expect_fail_buf("trusted access", acc, strlen(acc), FS_ERR_CONFIG, "config:2:", "zones.p.access",
                    "an access zone holds UEs: it is untrusted");
    expect_ok_buf("plmn issuer", "organisation: {issuer: \"org:234-15\"}\n");
    CHECK_MSG(!strcmp(g_cfg.issuer, "org:234-15"), "issuer %s", g_cfg.issuer);
    expect_ok_buf("name issuer", "organisation: {issuer: org:acme-telecom.uk}\n");

    /* count parameters are whole numbers: 0.5 INVITEs would flag every source */
    const char *half = "rules: {SIP-FLOOD-001: {invite: 0.5}}\n";
    expect_fail_buf("invite 0.5", half, strlen(half), FS_ERR_CONFIG, "config:1:",
                    "rules.SIP-FLOOD-001.invite", "must be a whole number");
    const char *flag = "rules: {SIP-CLI-001: {check_from: 2}}\n";
    expect_fail_buf("check_from 2", flag, strlen(flag), FS_ERR_CONFIG, "config:1:",
                    "rules.SIP-CLI-001.check_from", "0-1");
    /* a confidence is 0-100: above, no shared event would ever match */
    const char *conf = "rules: {INTEL-001: {min_confidence: 101}}\n";
    expect_fail_buf("min_confidence 101", conf, strlen(conf), FS_ERR_CONFIG, "config:1:",
                    "rules.INTEL-001.min_confidence", "'101': must be a number 0-100");
    expect_ok_buf("min_confidence 100", "rules: {INTEL-001: {min_confidence: 100}}\n");
    /* seconds and shares keep their fractions */
    expect_ok_buf("fractions", "rules:\n  FRAUD-WANGIRI-001: {max_ring_s: 4.5, max_answer_ratio: 0.25}\n");
    CHECK(g_cfg.rules[R_WANGIRI].param[0] == 4.5 && g_cfg.rules[R_WANGIRI].param[2] == 0.25);

    /* the HEP auth key: text, at most 255 characters */
    char long_key[400];
    snprintf(long_key, sizeof long_key, "capture:\n  hep_auth_key: \"%0256d\"\n", 0);
    expect_fail_buf("long key", long_key, strlen(long_key), FS_ERR_CONFIG, "2:17", "capture.hep_auth_key",
                    "longer than 255 characters");
    expect_fail_buf("key list", "capture:\n  hep_auth_key: [a]\n", 29, FS_ERR_CONFIG, "2:17",
                    "capture.hep_auth_key", "expected a single value, found a list");

    /* allow_callers: "+prefix[,label]" entries; what is wrong is named with its index */
    static const struct { const char *yaml, *key, *what; } bad_callers[] = {
        {"allow_callers: [\"!+442071234567\"]\n", "allow_callers[0]", "'!' exceptions belong in the high_risk_ranges"},
        {"allow_callers: [\"+44\"]\n", "allow_callers[0]", "fewer than 4 digits exempts a whole country code"},
        {"allow_callers: [\"+4420712345678901\"]\n", "allow_callers[0]", "longer than 15 digits"},
        {"allow_callers: [\"+44 2071234567\"]\n", "allow_callers[0]", "'+' followed by digits only"},
        {"allow_callers: [\"+442071234567,\", \"+442071234567, x\"]\n", "allow_callers[1]",
         "+442071234567 is listed twice (first as allow_callers[0])"},
        {"allow_callers: [\"+442071234567,a label that goes on for more than 39 chars\"]\n", "allow_callers[0]",
         "label is longer than 39 characters"},
        {"allow_callers: [[\"+442071234567\"]]\n", "allow_callers[0]", "expected a single value, found a list"},
        {"allow_callers: \"+442071234567\"\n", "allow_callers", "expected a list, found a single value"},
        {"allow_callers: [~]\n", "allow_callers[0]", "missing value"},
    };
    for (size_t i = 0; i < sizeof bad_callers / sizeof *bad_callers; i++)
        expect_fail_buf(bad_callers[i].yaml, bad_callers[i].yaml, strlen(bad_callers[i].yaml), FS_ERR_CONFIG,
                        "config:1:", bad_callers[i].key, bad_callers[i].what);
    expect_ok_buf("no callers", "allow_callers:\n");
    CHECK_EQ_INT(g_cfg.nallow_callers, 0);
    expect_ok_buf("one caller", "allow_callers: [\"+4420712\"]\n");
    CHECK(g_cfg.nallow_callers == 1 && cfg_caller_allowed(&g_cfg, "+442071234567") != NULL);

    /* null where a path may be empty: none */
    expect_ok_buf("ranges null", "high_risk_ranges: null\n");
    CHECK_EQ_INT(g_cfg.nhigh_risk, 0);
    CHECK_MSG(!g_cfg.high_risk_file[0], "high_risk_file %s", g_cfg.high_risk_file);
}

/* state.ipv6_source_prefix: IPv6 sources counted per network (default /64),
 * the workers' sharding following it; 32-128. */
static void test_ipv6_source_prefix(void) {
    fs38_config *c = malloc(sizeof *c);
    fs_err e = {0};
    cfg_defaults(c);
    CHECK_EQ_INT(c->ipv6_source_prefix, 64);
    CHECK_EQ_INT(c->capture.client_prefix6, 64);
    static const struct { const char *yaml; int want; } good[] = {
        {"state: {ipv6_source_prefix: 48}\n", 48}, {"state: {ipv6_source_prefix: 128}\n", 128},
        {"state: {ipv6_source_prefix: 32}\n", 32}, {"state: {max_sources: 10}\n", 64}};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        fs_code rc = cfg_load_buffer(c, good[i].yaml, strlen(good[i].yaml), ".", &e);
        CHECK_MSG(rc == FS_OK, "%s: %s", good[i].yaml, e.msg);
        CHECK_EQ_INT(c->ipv6_source_prefix, good[i].want);
        CHECK_EQ_INT(c->capture.client_prefix6, good[i].want);
    }
    static const char *const bad[] = {"state: {ipv6_source_prefix: 31}\n", "state: {ipv6_source_prefix: 129}\n",
                                      "state: {ipv6_source_prefix: /64}\n", "state: {ipv6_source_prefix: 0}\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fs_code rc = cfg_load_buffer(c, bad[i], strlen(bad[i]), ".", &e);
        CHECK_MSG(rc == FS_ERR_CONFIG, "%s accepted", bad[i]);
        CHECK_MSG(contains(e.msg, "state.ipv6_source_prefix") && contains(e.msg, "32-128"), "%s: %s", bad[i], e.msg);
    }
    free(c);
}

/* UTC microseconds of a calendar date and time (UTC), for the hours below. */
static uint64_t utc_us(int y, int mo, int d, int h, int mi) {
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};
    return (uint64_t)timegm(&tm) * 1000000u;
}

/* glibc's UTC offset at t under the TZ environment value tz (a zone as
 * ":Europe/Paris", or a POSIX TZ string): the oracle below. */
static int32_t glibc_offset(int64_t t) {
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    return (int32_t)tm.tm_gmtoff;
}

/* Every second glibc's offset changes between 1970 and 2100 (found a day
 * at a time, then to the second): tz's offset agrees on both sides; and at
 * noon each day. Returns the changes seen. */
static int tz_agrees(const cfg_tz *tz, const char *tzenv, const char *what) {
    setenv("TZ", tzenv, 1);
    tzset();
    int changes = 0, wrong = 0;
    int64_t from = 0, to = (int64_t)(utc_us(2100, 1, 1, 0, 0) / 1000000u);
    for (int64_t t = from + 43200; t < to && wrong < 3; t += 86400) {
        int32_t before = glibc_offset(t - 86400), now = glibc_offset(t);
        if (cfg_tz_offset(tz, t) != now) {
            CHECK_MSG(0, "%s: at %lld offset %d, glibc %d", what, (long long)t, cfg_tz_offset(tz, t), now);
            wrong++;
        }
        if (before == now) continue;
        int64_t lo = t - 86400, hi = t; /* glibc: before at lo, now at hi */
        while (hi - lo > 1) {
            int64_t mid = lo + (hi - lo) / 2;
            if (glibc_offset(mid) == now) hi = mid;
            else lo = mid;
        }
        changes++;
        if (cfg_tz_offset(tz, hi - 1) != glibc_offset(hi - 1) || cfg_tz_offset(tz, hi) != now) {
            CHECK_MSG(0, "%s: around %lld: %d/%d, glibc %d/%d", what, (long long)hi, cfg_tz_offset(tz, hi - 1),
                      cfg_tz_offset(tz, hi), glibc_offset(hi - 1), now);
            wrong++;
        }
    }
    unsetenv("TZ");
    tzset();
    return changes;
}

/* A "slim" TZif file (as zic -b slim writes): no transitions, one type,
 * the footer rule for all time. */
static void write_slim_tzif(const char *path, const char *footer) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    static const uint8_t block[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 4,
                                    0, 0, 0, 0, 0, 0, 'X', 'X', 'X', 0}; /* counts, one type, its name */
    for (int v = 0; v < 2; v++) {
        fwrite("TZif2", 1, 5, f);
        fwrite(block, 1, 15, f); /* reserved */
        fwrite(block, 1, sizeof block, f);
    }
    fprintf(f, "\n%s\n", footer);
    fclose(f);
}

/* The TZif footer's POSIX TZ rule (RFC 8536 3.3), which tells the offset
 * after a file's last transition: tzdata's "fat" files end at 2037, its
 * "slim" ones (and other systems' tzdata) whenever the rule took over.
 * Checked against glibc, second by second at each change: real zones to
 * 2100 (Paris, the southern hemisphere, negative and 26-hour rule times,
 * Dublin's winter "daylight" time, half and quarter hours), then the same
 * rules alone in slim files, then strings that are not rules. */
static void test_tz_rules(void) {
    static const char *const zones[] = {
        "Europe/Paris",     "America/New_York", "Australia/Sydney", "Pacific/Chatham",   "America/Nuuk",
        "Asia/Jerusalem",   "Europe/Dublin",    "America/Santiago", "Africa/Casablanca", "Asia/Kolkata",
        "America/St_Johns", "Antarctica/Troll", "Australia/Lord_Howe", "Etc/GMT-3",      "Pacific/Kiritimati",
    };
    cfg_tz *tz = malloc(sizeof *tz);
    fs_err e = {0};
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++) {
        fs_code rc = cfg_tz_load(zones[i], tz, &e);
        CHECK_MSG(rc == FS_OK, "%s: %s", zones[i], e.msg);
        if (rc != FS_OK) continue;
        char env[80];
        snprintf(env, sizeof env, ":%s", zones[i]);
        int changes = tz_agrees(tz, env, zones[i]);
        if (!strcmp(zones[i], "Europe/Paris")) {
            CHECK(tz->rule.set && tz->rule.dst && tz->rule.std_off == 3600 && tz->rule.dst_off == 7200);
            CHECK(changes > 2 * (2100 - 1976) - 2); /* twice a year since 1976: past 2037 too */
        }
    }
    /* the same rules, and odder ones, alone */
    static const char *const rules[] = {
        "CET-1CEST,M3.5.0,M10.5.0/3", "<-02>2<-01>,M3.5.0/-1,M10.5.0/0", "IST-2IDT,M3.4.4/26,M10.5.0",
        "IST-1GMT0,M10.5.0,M3.5.0/1", "AEST-10AEDT,M10.1.0,M4.1.0/3", "<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45",
        "<-04>4<-03>,M9.1.6/24,M4.1.6/24", "NST3:30NDT,M3.2.0,M11.1.0", "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
        "EST5EDT,0/0,J365/25", "CST6CDT,J60,J300/1:30:30", "XXX3YYY,59,300", "AAA-3BBB-5:15,M2.5.6/-20,M11.1.3/100",
        "<+03>-3", "UTC0", "HST10",
    };
    char dir[] = "/tmp/fs38-tz-XXXXXX", path[128];
    CHECK(mkdtemp(dir) != NULL);
    const char *old = getenv("TZDIR");
    char *saved = old ? strdup(old) : NULL;
    setenv("TZDIR", dir, 1);
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        snprintf(path, sizeof path, "%s/Slim%zu", dir, i);
        write_slim_tzif(path, rules[i]);
        fs_code rc = cfg_tz_load(path + strlen(dir) + 1, tz, &e);
        CHECK_MSG(rc == FS_OK, "%s: %s", rules[i], e.msg);
        if (rc == FS_OK) {
            CHECK_EQ_INT(tz->n, 0);
            tz_agrees(tz, rules[i], rules[i]);
        }
        unlink(path);
    }
    /* a footer that is not a rule: the file is refused, saying so */
    static const struct { const char *footer, *says; } bad[] = {
        {"CE-1", "no standard time name"},
        {"CET", "no UTC offset"},
        {"CET-25", "no UTC offset"},
        {"CET-24:45", "no UTC offset"},
        {"CET-1CEST", "daylight time without its rule"},
        {"CET-1CEST,M3.5.0", "the rule is not"},
        {"CET-1CEST,M13.5.0,M10.5.0", "the rule is not"},
        {"CET-1CEST,M3.6.0,M10.5.0", "the rule is not"},
        {"CET-1CEST,M3.5.7,M10.5.0", "the rule is not"},
        {"CET-1CEST,J0,J365", "the rule is not"},
        {"CET-1CEST,366,1", "the rule is not"},
        {"CET-1CEST,M3.5.0/168,M10.5.0", "the rule is not"},
        {"CET-1CEST,M3.5.0/167:30,M10.5.0", "the rule is not"},
        {"CET-1CEST,M3.5.0/2:60,M10.5.0", "the rule is not"},
        {"CET-1CEST,M3.5.0,M10.5.0/3x", "the rule is not"},
        {"CET-1<CE>", "not a daylight time name"},
        {"<CE T>-1", "no standard time name"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(path, sizeof path, "%s/Bad%zu", dir, i);
        write_slim_tzif(path, bad[i].footer);
        fs_code rc = cfg_tz_load(path + strlen(dir) + 1, tz, &e);
        CHECK_MSG(rc == FS_ERR_FORMAT && strstr(e.msg, bad[i].says) && strstr(e.msg, bad[i].footer),
                  "%s: %d %s", bad[i].footer, rc, e.msg);
        unlink(path);
    }
    /* no footer at all (a file cut after its data) */
    snprintf(path, sizeof path, "%s/Cut", dir);
    write_slim_tzif(path, "");
    if (truncate(path, 2 * (20 + 34)) == 0) {
        CHECK_EQ_INT(cfg_tz_load("Cut", tz, &e), FS_ERR_FORMAT);
        CHECK_MSG(strstr(e.msg, "no footer") != NULL, "%s", e.msg);
    }
    unlink(path);
    rmdir(dir);
    if (saved) setenv("TZDIR", saved, 1);
    else unsetenv("TZDIR");
    free(saved);
    free(tz);
}

/* business_hours: the tz database's zone read from tzdata (its daylight
 * saving switches), days, hours past midnight, and every wrong value named. */
static void test_business_hours(void) {
    fs38_config *c = malloc(sizeof *c);
    fs_err e = {0};
    cfg_defaults(c);
    CHECK(!c->business_hours.set);
    CHECK(cfg_within_business_hours(c, utc_us(2026, 11, 28, 3, 0))); /* none: always within */
    static const char paris[] = "business_hours:\n  timezone: Europe/Paris\n  days: [mon, tue, wed, thu, Fri]\n"
                                "  from: \"08:00\"\n  to: 19:00\n";
    fs_code rc = cfg_load_buffer(c, paris, strlen(paris), ".", &e);
    CHECK_MSG(rc == FS_OK, "%s", e.msg);
    CHECK(c->business_hours.set && c->business_hours.days == 0x1f && c->business_hours.tz.n > 100);
    CHECK_EQ_INT(c->business_hours.from_min, 480);
    CHECK_EQ_INT(c->business_hours.to_min, 1140);
    /* the EU switch to summer time, 2026-03-29 01:00 UTC: +1 h before, +2 h after */
    const cfg_tz *tz = &c->business_hours.tz;
    CHECK_EQ_INT(cfg_tz_offset(tz, (int64_t)(utc_us(2026, 3, 29, 1, 0) / 1000000u) - 1), 3600);
    CHECK_EQ_INT(cfg_tz_offset(tz, (int64_t)(utc_us(2026, 3, 29, 1, 0) / 1000000u)), 7200);
    /* 06:30 UTC on a Tuesday is 08:30 in Paris in July (within), 07:30 in January (not) */
    CHECK(cfg_within_business_hours(c, utc_us(2026, 7, 14, 6, 30)));
    CHECK(!cfg_within_business_hours(c, utc_us(2026, 1, 13, 6, 30)));
    CHECK(cfg_within_business_hours(c, utc_us(2026, 1, 13, 17, 59)));  /* 18:59 */
    CHECK(!cfg_within_business_hours(c, utc_us(2026, 1, 13, 18, 0)));  /* 19:00: the end is out */
    CHECK(!cfg_within_business_hours(c, utc_us(2026, 11, 28, 10, 0))); /* a Saturday */
    /* past midnight: Friday 22:00 to Saturday 06:00, UTC */
    static const char night[] = "business_hours: {days: [fri], from: \"22:00\", to: \"06:00\"}\n";
    rc = cfg_load_buffer(c, night, strlen(night), ".", &e);
    CHECK_MSG(rc == FS_OK, "%s", e.msg);
    CHECK_EQ_INT(c->business_hours.tz.n, 0);                           /* UTC by default */
    CHECK(cfg_within_business_hours(c, utc_us(2026, 11, 27, 23, 0)));  /* Friday 23:00 */
    CHECK(cfg_within_business_hours(c, utc_us(2026, 11, 28, 3, 0)));   /* Saturday 03:00: Friday's night */
    CHECK(!cfg_within_business_hours(c, utc_us(2026, 11, 28, 23, 0))); /* Saturday 23:00 */
    CHECK(!cfg_within_business_hours(c, utc_us(2026, 11, 27, 3, 0)));  /* Friday 03:00: Thursday's night */
    static const char whole[] = "business_hours: {days: [fri], from: \"00:00\", to: \"24:00\"}\n";
    rc = cfg_load_buffer(c, whole, strlen(whole), ".", &e);
    CHECK_MSG(rc == FS_OK, "%s", e.msg);
    CHECK(cfg_within_business_hours(c, utc_us(2026, 11, 27, 0, 0)) && cfg_within_business_hours(c, utc_us(2026, 11, 27, 23, 59)));
    static const struct { const char *yaml, *says; } bad[] = {
        {"business_hours: {timezone: Mars/Olympus}\n", "no time zone 'Mars/Olympus'"},
        /* a region's folder is there, and is no zone: not "no such file, is tzdata installed?" */
        {"business_hours: {timezone: Europe}\n", "no time zone 'Europe': '"},
        {"business_hours: {timezone: Europe}\n", "/Europe' is not a regular file"},
        {"business_hours: {timezone: ../../etc/passwd}\n", "not a time zone name"},
        {"business_hours: {timezone: /etc/localtime}\n", "not a time zone name"},
        {"business_hours: {days: [mon-fri]}\n", "business_hours.days[0]: 'mon-fri': not a day"},
        {"business_hours: {days: []}\n", "no days"},
        {"business_hours: {from: \"8:00\"}\n", "business_hours.from: '8:00': a time of day is HH:MM"},
        {"business_hours: {to: \"24:30\"}\n", "a time of day is HH:MM"},
        {"business_hours: {from: \"09:00\", to: \"09:00\"}\n", "from and to are the same"},
        /* midnight to midnight: not the whole day (00:00 to 24:00 is), no hour at all, so every
         * call would be off hours */
        {"business_hours: {from: \"24:00\", to: \"00:00\"}\n", "from and to are the same"},
        {"business_hours: {start: \"09:00\"}\n", "unknown key (expected one of: timezone, days, from, to)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        rc = cfg_load_buffer(c, bad[i].yaml, strlen(bad[i].yaml), ".", &e);
        CHECK_MSG(rc != FS_OK, "%s accepted", bad[i].yaml);
        CHECK_MSG(contains(e.msg, bad[i].says), "%s: %s", bad[i].yaml, e.msg);
    }
    free(c);
}

/* A config key the docs name (`limits.max_tcp_bytes`) is named under the
 * section that takes it: a reader who writes it where the docs say
 * (`capture.max_tcp_bytes`) gets "unknown key". Names no section takes (the
 * --stats-json fields, `capture.tls_certs`) are not keys and not judged. */
static bool section_takes(const char *section, const char *key) {
    char yaml[160];
    int n = snprintf(yaml, sizeof yaml, "%s: {%s: ~}\n", section, key);
    fs_err e = {0};
    return cfg_load_buffer(&g_cfg, yaml, (size_t)n, NULL, &e) == FS_OK || !strstr(e.msg, "unknown key");
}

static void test_docs_name_keys_by_section(void) {
    static const char *const docs[] = {"README.md", "docs/configuration.md", "docs/operations.md",
                                       "docs/rules.md", "docs/architecture.md", "docs/performance.md"};
    static const char *const sections[] = {"organisation", "capture", "limits", "state", "home", "business_hours"};
    const size_t nsec = sizeof sections / sizeof *sections;
    for (size_t d = 0; d < sizeof docs / sizeof *docs; d++) {
        size_t len = 0;
        char *text = check_read_file(docs[d], &len);
        CHECK_MSG(text != NULL, "cannot read %s", docs[d]);
        if (!text) continue;
        for (size_t i = 0; i + 1 < len; i++) {
            if (text[i] != '`') continue;
            for (size_t s = 0; s < nsec; s++) {
                size_t sl = strlen(sections[s]);
                if (i + 1 + sl + 1 >= len || strncmp(text + i + 1, sections[s], sl) != 0 || text[i + 1 + sl] != '.')
                    continue;
                const char *k = text + i + 2 + sl;
                size_t kl = 0;
                while (i + 2 + sl + kl < len && kl < 40 && ((k[kl] >= 'a' && k[kl] <= 'z') || (k[kl] >= '0' && k[kl] <= '9') || k[kl] == '_'))
                    kl++;
                if (!kl || i + 2 + sl + kl >= len || k[kl] != '`') continue;
                char key[48];
                snprintf(key, sizeof key, "%.*s", (int)kl, k);
                if (section_takes(sections[s], key)) continue;
                for (size_t o = 0; o < nsec; o++)
                    CHECK_MSG(o == s || !section_takes(sections[o], key), "%s names `%s.%s`, a key of %s", docs[d],
                              sections[s], key, sections[o]);
            }
        }
        free(text);
    }
}

int main(void) {
    test_business_hours();
    test_tz_rules();
    test_ipv6_source_prefix();
    test_defaults();
    test_shipped_config();
    test_full();
    test_bad_files();
    test_generated();
    test_ranges();
    test_prefix_match();
    test_index_by_hand();
    test_values_that_mislead();
    test_docs_name_keys_by_section();
    return check_done("test_config");
}

/*
 * fuzz_config.c -- libFuzzer harness for the config loader (cfg.h).
 *
 * The first byte picks the target: odd = the high-risk range list reader,
 * bit 1 set (2, 6, ...) = the hub's YAML config (hub_config_parse), 4 = a
 * POSIX TZ string (cfg_tz_rule_parse, then its offsets over +-35,000
 * years), 12 = a TZif file (cfg_tz_load, through $TZDIR), other even
 * values = the fs38 YAML loader (the rest of the input is the file). Relative
 * high_risk_ranges names resolve in a private temporary folder that holds
 * one valid list (r.txt), so the path through cfg_load_ranges is reached too.
 * Every successful load is checked for the invariants the lookups rely on.
 *
 *   clang -fsanitize=fuzzer,address,undefined -Isrc fuzz/fuzz_config.c ... -lyaml
 *   ./fuzz_config -max_total_time=60 fuzz/corpus/config
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/cfg.h"
#include "hub/hub_server.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base_dir[64];
static char ranges_path[128];
static fs38_config *cfg;

static void remove_temp(void) {
    unlink(ranges_path);
    rmdir(base_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    snprintf(base_dir, sizeof base_dir, "/tmp/fs38-fuzz-config-XXXXXX");
    if (!mkdtemp(base_dir)) abort();
    snprintf(ranges_path, sizeof ranges_path, "%s/r.txt", base_dir);
    FILE *f = fopen(ranges_path, "w");
    if (!f) abort();
    fputs("# fuzz ranges\n+881,GMSS\n+8816,Iridium\n+53\n", f);
    fclose(f);
    atexit(remove_temp);
    cfg = malloc(sizeof *cfg);
    if (!cfg) abort();
    return 0;
}

static void check_invariants(const fs38_config *c) {
    if (c->nzones > CFG_MAX_ZONES || c->nnets > CFG_MAX_NETS || c->nallow > CFG_MAX_ALLOW ||
        c->nhigh_risk > CFG_MAX_PREFIXES || c->nhome_prefixes > CFG_MAX_HOME_PREFIXES ||
        c->nhome_domains > CFG_MAX_DOMAINS || c->nallow_callers > CFG_MAX_ALLOW_CALLERS ||
        c->capture.nports > CAP_MAX_PORTS ||
        c->capture.nhep_ports > 4 || c->capture.sip.max_headers > SIP_MAX_HEADERS)
        abort();
    for (uint16_t i = 0; i < c->nnets; i++) {
        if (c->nets[i].zone >= c->nzones) abort();
        if (i && c->nets[i - 1].cidr.prefix < c->nets[i].cidr.prefix) abort();
    }
    for (uint16_t i = 1; i < c->nhigh_risk; i++)
        if (strcmp(c->high_risk[i - 1].digits, c->high_risk[i].digits) >= 0) abort();
    for (uint16_t i = 1; i < c->nallow_callers; i++)
        if (strcmp(c->allow_callers[i - 1].digits, c->allow_callers[i].digits) >= 0) abort();
    /* exercise the lookups */
    fs_addr a = {4, {10, 1, 2, 3}};
    int z = cfg_zone_of(c, &a);
    if (z >= (int)c->nzones) abort();
    (void)cfg_trust_of(c, &a);
    (void)cfg_is_allowed(c, &a);
    const cfg_prefix *p = cfg_match_prefix(c->high_risk, c->nhigh_risk, "8816123456");
    if (p && strncmp(p->digits, "8816123456", p->len) != 0) abort();
    p = cfg_caller_allowed(c, "+442071234567");
    if (p && strncmp(p->digits, "442071234567", p->len) != 0) abort();
}

/* A TZ string: parsed or refused with a reason; a rule's offset is one of
 * its two at any time: standard time within 24 hours of UTC, daylight
 * time within 25 (an hour ahead by default). */
static void fuzz_tz_rule(const uint8_t *data, size_t size) {
    char s[160];
    if (size >= sizeof s) return;
    memcpy(s, data, size);
    s[size] = '\0';
    cfg_tz_rule r;
    fs_err e = {0};
    if (cfg_tz_rule_parse(s, &r, &e) != FS_OK) {
        if (!e.msg[0]) abort();
        return;
    }
    if (!r.set || r.std_off < -86400 || r.std_off > 86400 || r.dst_off < -86400 || r.dst_off > 90000) abort();
    static const int64_t ts[] = {-(1LL << 40), -86401, -1, 0, 1, 86399, 1774746000, 4102444800LL, 1LL << 40};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        for (int64_t d = 0; d < 400 * 86400; d += 86400 * 7 + 3599) {
            int32_t off = cfg_tz_rule_offset(&r, ts[i] + d);
            if (off != r.std_off && off != r.dst_off) abort();
        }
}

/* A TZif file: loaded or refused with a reason; the offsets of a loaded
 * zone come from its types or its rule. */
static void fuzz_tzif(const uint8_t *data, size_t size) {
    static char path[160];
    static cfg_tz tz;
    snprintf(path, sizeof path, "%s/Fuzz", base_dir);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    fwrite(data, 1, size, f);
    fclose(f);
    setenv("TZDIR", base_dir, 1);
    fs_err e = {0};
    fs_code rc = cfg_tz_load("Fuzz", &tz, &e);
    unsetenv("TZDIR"); /* the YAML loader's zones come from tzdata */
    unlink(path);
    if (rc != FS_OK) {
        if (!e.msg[0] || e.code != rc) abort();
        return;
    }
    if (tz.n > CFG_TZ_MAX) abort();
    for (uint16_t i = 1; i < tz.n; i++)
        if (tz.at[i] <= tz.at[i - 1]) abort();
    for (int64_t t = -(1LL << 35); t < (1LL << 35); t += (1LL << 29) + 12345) cfg_tz_offset(&tz, t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    if (data[0] == 4) {
        fuzz_tz_rule(data + 1, size - 1);
        return 0;
    }
    if (data[0] == 12) {
        fuzz_tzif(data + 1, size - 1);
        return 0;
    }
    fs_err e = {0};
    cfg_defaults(cfg);
    fs_code rc;
    if (data[0] & 1) {
        rc = cfg_load_ranges_buffer(cfg, (const char *)data + 1, size - 1, "fuzz", &e);
    } else if (data[0] & 2) {
        static hub_config hc;
        rc = hub_config_parse((const char *)data + 1, size - 1, "fuzz", base_dir, &hc, &e);
        if (rc != FS_OK && (e.msg[0] == '\0' || e.code != rc)) abort();
        return 0;
    } else
        rc = cfg_load_buffer(cfg, (const char *)data + 1, size - 1, base_dir, &e);
    if (rc == FS_OK) check_invariants(cfg);
    else if (e.msg[0] == '\0' || e.code != rc) abort(); /* every error says what went wrong */
    return 0;
}

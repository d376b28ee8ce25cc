/*
 * cfg.h -- the one configuration file (etc/fs38.yaml), loaded with libyaml.
 *
 * Owns: the fs38_config struct with its defaults, loading and validating
 * YAML into it (every unknown key or bad value is an error that names the
 * key path and line), and the lists it refers to (zones, home ranges,
 * high-risk number ranges). Must not touch: detection logic, I/O other than
 * reading the config and the files it names.
 *
 * The struct is plain data with fixed bounds, so a config cannot make the
 * inspector allocate without limit.
 */
#ifndef FS_CFG_H
#define FS_CFG_H

#include "../capture/cap.h"
#include "../core/fs_core.h"
#include "../detect/rules.h"
#include "../sip/sip.h"

#define CFG_MAX_ZONES 32
#define CFG_MAX_NETS 256          /* networks across all zones */
#define CFG_MAX_PREFIXES 4096     /* E.164 prefixes (home + high-risk) */
#define CFG_MAX_DOMAINS 32
#define CFG_MAX_ALLOW 256
#define CFG_NAME_LEN 48

typedef enum cfg_trust { TRUST_UNTRUSTED = 0, TRUST_TRUSTED, TRUST_CORE } cfg_trust;
const char *cfg_trust_name(cfg_trust t);

typedef struct cfg_zone {
    char name[CFG_NAME_LEN];
    uint8_t trust;        /* cfg_trust */
    /* headers this zone may assert even if trusted is not core; bit per sip_header_id */
    uint64_t may_assert;
    double flood_multiplier; /* scales flood thresholds for sources in this zone (default 1; 0 = never flag) */
} cfg_zone;

typedef struct cfg_net {
    fs_cidr cidr;
    uint8_t zone;         /* index into zones */
} cfg_net;

typedef struct cfg_prefix {
    char digits[24];      /* E.164 digits without '+' */
    uint8_t len;
    char label[40];       /* "Satellite (Inmarsat)" */
} cfg_prefix;

typedef struct cfg_rule {
    bool enabled;
    uint8_t severity;     /* det_severity */
    uint8_t action;       /* det_action */
    uint32_t threshold;
    uint32_t window_s;
    uint32_t ttl_s;
    double param[DET_MAX_PARAMS];
} cfg_rule;

typedef struct fs38_config {
    char source_path[256];   /* where it was loaded from, "" for defaults */

    /* organisation: who we are in events */
    char issuer[64];         /* default "org:local" */
    char tlp[16];            /* default "amber" */

    cap_config capture;      /* includes sip limits */

    /* state bounds */
    uint32_t max_sources;    /* per-source tracking entries (default 65536) */
    uint32_t max_dialogs;    /* tracked calls (default 65536) */
    uint32_t max_incidents;  /* open incidents (default 16384) */

    /* trust zones */
    uint8_t nzones;
    cfg_zone zones[CFG_MAX_ZONES];
    uint16_t nnets;
    cfg_net nets[CFG_MAX_NETS];
    uint8_t default_trust;   /* trust of addresses in no zone (default untrusted) */

    /* home network */
    uint16_t nhome_prefixes;
    cfg_prefix home_prefixes[64];
    uint8_t nhome_domains;
    char home_domains[CFG_MAX_DOMAINS][128];

    /* lists */
    uint16_t nallow;
    fs_cidr allow_sources[CFG_MAX_ALLOW]; /* never raise source-keyed events for these */
    char high_risk_file[256];             /* resolved path, "" = none */
    uint16_t nhigh_risk;
    cfg_prefix high_risk[CFG_MAX_PREFIXES];

    cfg_rule rules[R__COUNT];
} fs38_config;

/* Defaults for everything (rules from det_rule_table, no zones). */
void cfg_defaults(fs38_config *c);
/* Load path over defaults. On error e names the file, line and key. */
fs_code cfg_load_file(fs38_config *c, const char *path, fs_err *e);
/* Same from memory (used by the fuzzer and tests); base_dir resolves relative file names. */
fs_code cfg_load_buffer(fs38_config *c, const char *buf, size_t len, const char *base_dir,
                        fs_err *e);
/* Load a high-risk range list: one "+prefix[,label]" per line, '#' comments. */
fs_code cfg_load_ranges(fs38_config *c, const char *path, fs_err *e);

/* Lookups used by the detectors (linear over small tables; fine for config sizes). */
int cfg_zone_of(const fs38_config *c, const fs_addr *a);   /* zone index or -1 */
cfg_trust cfg_trust_of(const fs38_config *c, const fs_addr *a);
bool cfg_zones_configured(const fs38_config *c);            /* any core/trusted zone? */
bool cfg_is_allowed(const fs38_config *c, const fs_addr *a);
/* Longest matching prefix for an E.164 digit string (no '+'), or NULL. */
const cfg_prefix *cfg_match_prefix(const cfg_prefix *list, uint16_t n, const char *digits);

#endif

/*
 * cfg.h -- the one configuration file (etc/fs38.yaml), loaded with libyaml.
 *
 * Owns: the fs38_config struct with its defaults, loading and validating
 * YAML into it (every unknown key or bad value is an error that names the
 * key path and line), and the lists it refers to (zones, home ranges,
 * allow-listed sources and callers, high-risk number ranges). Must not touch: detection logic, I/O other than
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
#define CFG_MAX_ALLOW_CALLERS 256 /* allow_callers */
#define CFG_NAME_LEN 48
#define CFG_MAX_HOME_PREFIXES 64  /* home.prefixes */
#define CFG_MAX_FILE_BYTES (1u << 20)        /* a YAML config larger than 1 MiB is refused */
#define CFG_MAX_RANGES_BYTES (4u << 20)      /* a high-risk range list larger than 4 MiB is refused */
#define CFG_LABEL_MAX 39                     /* cfg_prefix.label characters */

typedef enum cfg_trust { TRUST_UNTRUSTED = 0, TRUST_TRUSTED, TRUST_CORE } cfg_trust;
const char *cfg_trust_name(cfg_trust t);

typedef struct cfg_zone {
    char name[CFG_NAME_LEN];
    uint8_t trust;        /* cfg_trust */
    /* headers this zone may assert even if trusted is not core; bit per sip_header_id */
    uint64_t may_assert;
    double flood_multiplier; /* scales flood thresholds for sources in this zone (default 1; 0 = never flag) */
    bool access;          /* untrusted UEs' access network (Gm): their PPI/PANI are expected, and
                           * what the core sends them (route sets, media) is no leak */
    bool require_tls;     /* SIP with this zone must be protected (TLS, WSS, IPsec): SIP-INFO-005 */
} cfg_zone;

typedef struct cfg_net {
    fs_cidr cidr;
    uint8_t zone;         /* index into zones */
} cfg_net;

typedef struct cfg_prefix {
    char digits[24];      /* E.164 digits without '+' */
    uint8_t len;
    char label[40];       /* "Satellite (Inmarsat)" */
    bool allow;           /* high_risk_ranges "!+prefix": an exception inside a
                             wider range (a number known to be called legitimately) */
} cfg_prefix;

/* A day in a POSIX TZ rule: "Jn" (1-365, February 29 never counted), "n"
 * (0-365, counted) or "Mm.w.d" (month, week 1-5 with 5 the last, weekday
 * 0 Sunday), at secs local time (-167 to 167 hours). */
typedef struct cfg_tz_date {
    char kind;                  /* 'J', 'N' or 'M' */
    uint16_t day;               /* J, N */
    uint8_t month, week, wday;  /* M */
    int32_t secs;
} cfg_tz_date;

/* The POSIX TZ string of a TZif footer (RFC 8536 section 3.3:
 * "CET-1CEST,M3.5.0,M10.5.0/3"): the zone's rule from its last transition
 * on. */
typedef struct cfg_tz_rule {
    bool set;
    bool dst;                   /* with daylight saving time (start and end) */
    int32_t std_off, dst_off;   /* UTC offsets (s), east positive (the string's sign is west) */
    cfg_tz_date start, end;     /* start in standard time, end in daylight time */
} cfg_tz_rule;

/* A time zone: its UTC offsets over time, from the tz database's TZif file
 * (Debian tzdata, /usr/share/zoneinfo; $TZDIR elsewhere). At most
 * CFG_TZ_MAX transitions, the latest ones; after the last (2037 in
 * tzdata's "fat" files, in "slim" ones whenever the rule took over) the
 * footer's rule, or without one the last offset. */
#define CFG_TZ_MAX 512
typedef struct cfg_tz {
    uint16_t n;
    int32_t first_off;          /* UTC offset (s) before at[0] */
    int64_t at[CFG_TZ_MAX];     /* transitions, UTC seconds, ascending */
    int32_t off[CFG_TZ_MAX];    /* UTC offset (s) from at[i] on */
    cfg_tz_rule rule;           /* from at[n - 1] on (from always when n is 0) */
} cfg_tz;

/* business_hours.days' names, Monday first (bit d of cfg_hours.days) */
extern const char *const cfg_day_names[7];

/* business_hours: when the fraud rules' normal thresholds apply; outside,
 * their off_hours_threshold (when set). */
typedef struct cfg_hours {
    bool set;                   /* configured (otherwise every moment is within) */
    uint8_t days;               /* bit 0 Monday .. bit 6 Sunday */
    uint16_t from_min, to_min;  /* local minutes after midnight; to < from: past midnight */
    char timezone[64];          /* IANA name, "UTC" by default */
    cfg_tz tz;
} cfg_hours;

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
    char issuer[69];         /* default "org:local"; XC_ISSUER_MAX + 1, the longest the format allows */
    char tlp[16];            /* default "amber" */

    cap_config capture;      /* includes sip limits */
    char tls_keylog[256];    /* capture.tls_keylog, resolved; "" = none (the CLI opens it
                              * into capture.tls_keys) */
    char esp_sa[256];        /* capture.esp_sa, resolved; "" = none (the CLI loads it into
                              * capture.esp_sas) */
    /* --hep tls:ADDR:PORT (cap_hep_listen.c): capture.hep_tls_cert, _key and
     * _client_ca, resolved; "" = none */
    char hep_tls_cert[256], hep_tls_key[256], hep_tls_client_ca[256];
    bool ims_aka_keys;       /* capture.ims_aka_keys: learn Gm's ESP SAs from IMS AKA
                              * registrations in the traffic (default true; insp_aka.c) */

    /* state bounds */
    uint32_t max_sources;    /* per-source tracking entries (default 65536) */
    uint32_t max_dialogs;    /* tracked calls (default 65536) */
    uint32_t max_incidents;  /* open incidents (default 16384) */
    uint8_t ipv6_source_prefix; /* IPv6 sources count per /N network (default 64; 128 = per
                                 * address); also capture.client_prefix6 (fs_addr_source_net) */

    /* trust zones */
    uint8_t nzones;
    cfg_zone zones[CFG_MAX_ZONES];
    uint16_t nnets;
    cfg_net nets[CFG_MAX_NETS];   /* longest prefix first (cfg_index), so the first hit wins */
    uint8_t default_trust;   /* trust of addresses in no zone (default untrusted) */

    /* home network */
    uint16_t nhome_prefixes;
    cfg_prefix home_prefixes[CFG_MAX_HOME_PREFIXES]; /* sorted by digits (cfg_index) */
    uint8_t nhome_domains;
    char home_domains[CFG_MAX_DOMAINS][128];

    /* lists */
    uint16_t nallow;
    fs_cidr allow_sources[CFG_MAX_ALLOW]; /* never raise source-keyed events for these */
    uint16_t nallow_callers;
    cfg_prefix allow_callers[CFG_MAX_ALLOW_CALLERS]; /* caller numbers/prefixes the caller-keyed
                                                        fraud rules do not judge; sorted by
                                                        digits (cfg_index) */
    char high_risk_file[256];             /* resolved path, "" = none */
    uint16_t nhigh_risk;
    cfg_prefix high_risk[CFG_MAX_PREFIXES];  /* sorted by digits (cfg_index) */

    cfg_hours business_hours;

    cfg_rule rules[R__COUNT];
} fs38_config;

/* The UTC offset of tz at UTC time t (seconds). */
int32_t cfg_tz_offset(const cfg_tz *tz, int64_t t);
/* A POSIX TZ string ("EST5EDT,M3.2.0,M11.1.0"), as in a TZif footer:
 * FS_ERR_FORMAT naming what is wrong. The offset at UTC second t under a
 * rule. */
fs_code cfg_tz_rule_parse(const char *s, cfg_tz_rule *out, fs_err *e);
int32_t cfg_tz_rule_offset(const cfg_tz_rule *r, int64_t t);
/* Load the tz database's zone name ("Europe/Paris") into *out: FS_ERR_IO
 * when there is no such zone, FS_ERR_FORMAT when its file is not TZif. */
fs_code cfg_tz_load(const char *name, cfg_tz *out, fs_err *e);
/* Whether the capture time ts_us (UTC microseconds) falls within business
 * hours (always, when none are configured). */
bool cfg_within_business_hours(const fs38_config *c, uint64_t ts_us);

/* Defaults for everything (rules from det_rule_table, no zones, no high-risk list). */
void cfg_defaults(fs38_config *c);
/* Load path: *c is reset to the defaults and the file applied over them.
 * On error e names the file, line, column and key path, and *c is left
 * exactly as it was (the file is parsed into a scratch copy first). */
fs_code cfg_load_file(fs38_config *c, const char *path, fs_err *e);
/* Same from memory (used by the fuzzer and tests); base_dir resolves relative
 * file names (NULL = "."). Messages name the input "config". */
fs_code cfg_load_buffer(fs38_config *c, const char *buf, size_t len, const char *base_dir,
                        fs_err *e);
/* Replace the high-risk list with a file: one "+prefix[,label]" per line
 * ("!+prefix" an exception inside a wider range),
 * '#' comments, blank lines. Errors name the file and line; on error *c is
 * unchanged. */
fs_code cfg_load_ranges(fs38_config *c, const char *path, fs_err *e);
/* Same from memory; name is used in messages and kept as high_risk_file. */
fs_code cfg_load_ranges_buffer(fs38_config *c, const char *buf, size_t len, const char *name,
                               fs_err *e);
/* Re-establish the lookup invariants (nets longest prefix first, prefix
 * lists sorted). The loaders do this; call it after filling tables by hand. */
void cfg_index(fs38_config *c);

/* Lookups used by the detectors. cfg_zone_of is the longest-prefix match
 * (first hit over nets sorted longest first); IPv4-mapped IPv6 addresses
 * (::ffff:a.b.c.d) also match IPv4 networks. */
int cfg_zone_of(const fs38_config *c, const fs_addr *a);   /* zone index or -1 */
cfg_trust cfg_trust_of(const fs38_config *c, const fs_addr *a);
bool cfg_zones_configured(const fs38_config *c);            /* any core/trusted zone? */
bool cfg_is_allowed(const fs38_config *c, const fs_addr *a);
/* The allow_callers entry (longest prefix) of a normalised caller number,
 * or NULL: only an international number ("+digits") can match. Called once
 * per call setup (det_calls.c), not per message. */
const cfg_prefix *cfg_caller_allowed(const fs38_config *c, const char *caller);
/* Longest matching prefix for an E.164 digit string (no '+'), or NULL.
 * list must be sorted by digits (as loaded; cfg_index): binary search per
 * length. Lists of at most 8 entries are scanned and need no order. */
const cfg_prefix *cfg_match_prefix(const cfg_prefix *list, uint16_t n, const char *digits);

#endif

/*
 * rules.h -- the rule catalogue: stable ids, names, event types, FS.38 risk
 * domain, default severity, thresholds and action of every detector.
 *
 * Owns: the one table that docs/rules.md, the config loader and the engine
 * all read. Must not touch: detection logic (det_*.c), parsing.
 *
 * A rule's id never changes meaning; a retired rule keeps its id reserved.
 * Each rule has up to DET_MAX_PARAMS named numeric parameters besides the
 * common threshold/window; their names are the YAML keys under rules.<ID>.
 */
#ifndef FS_RULES_H
#define FS_RULES_H

#include <stdint.h>

typedef enum det_severity { SEV_INFO = 0, SEV_LOW, SEV_MEDIUM, SEV_HIGH, SEV_CRITICAL } det_severity;
const char *det_severity_name(det_severity s);
int det_severity_parse(const char *s); /* -1 if unknown */

typedef enum det_domain { DOM_INFRASTRUCTURE = 0, DOM_PRIVACY, DOM_FRAUD } det_domain;
const char *det_domain_name(det_domain d);

/* event_type values of ../shared/spec/events.md that the inspector raises
 * (the last five only through INTEL-001, which takes a shared event's type) */
#define DET_EVENT_TYPES(X)       \
    X(SIP_SCANNER)               \
    X(SIP_ENUMERATION)           \
    X(SIP_BRUTE_FORCE)           \
    X(SIP_FLOOD)                 \
    X(SIP_MALFORMED)             \
    X(SIP_PROTOCOL_VIOLATION)    \
    X(TOPOLOGY_LEAK)             \
    X(INFO_DISCLOSURE)           \
    X(TRUST_BOUNDARY_VIOLATION)  \
    X(CLI_SPOOFING)              \
    X(IRSF)                      \
    X(WANGIRI)                   \
    X(TOLL_FRAUD)                \
    X(SIGNALLING_ATTACK)         \
    X(SIM_SWAP_SUSPECT)          \
    X(SUBSCRIPTION_FRAUD)        \
    X(SIM_BOX_BYPASS)            \
    X(ROAMING_HIGH_USAGE)

typedef enum det_event_type {
#define DET_ET_ENUM(n) ET_##n,
    DET_EVENT_TYPES(DET_ET_ENUM)
#undef DET_ET_ENUM
    ET__COUNT
} det_event_type;
const char *det_event_type_name(det_event_type t);

#define DET_ACTIONS(X) X(NONE) X(MONITOR) X(RATE_LIMIT_SOURCE) X(BLOCK_SOURCE) \
    X(BLOCK_DESTINATION) X(BLOCK_CALLER) X(REJECT_IDENTITY) X(REQUIRE_VALIDATION)
typedef enum det_action {
#define DET_ACT_ENUM(n) ACT_##n,
    DET_ACTIONS(DET_ACT_ENUM)
#undef DET_ACT_ENUM
    ACT__COUNT
} det_action;
const char *det_action_name(det_action a);

#define DET_MAX_PARAMS 5

/* X(enum, "ID", "name", event_type, domain, severity, confidence, action,
 *   threshold, window_s, ttl_s, "param names (space separated)", param defaults...) */
#define DET_RULES(X)                                                                          \
    X(MAL_MESSAGE, "SIP-MAL-001", "Malformed SIP message", SIP_MALFORMED, DOM_INFRASTRUCTURE,  \
      SEV_MEDIUM, 90, ACT_MONITOR, 1, 60, 3600, "", 0)                                       \
    X(MAL_OVERSIZE, "SIP-MAL-002", "Oversized SIP message or field", SIP_MALFORMED,            \
      DOM_INFRASTRUCTURE, SEV_MEDIUM, 85, ACT_RATE_LIMIT_SOURCE, 1, 60, 3600, "", 0)         \
    X(PROTO_MISSING_HDR, "SIP-PROTO-001", "Mandatory header missing", SIP_PROTOCOL_VIOLATION,  \
      DOM_INFRASTRUCTURE, SEV_LOW, 80, ACT_MONITOR, 1, 60, 3600, "", 0)                      \
    X(PROTO_MULTI_VALUE, "SIP-PROTO-002", "Multiple values in a single-value header",          \
      SIP_PROTOCOL_VIOLATION, DOM_INFRASTRUCTURE, SEV_MEDIUM, 85, ACT_MONITOR, 1, 60, 3600, "", 0) \
    X(PROTO_CL_MISMATCH, "SIP-PROTO-003", "Content-Length mismatch", SIP_PROTOCOL_VIOLATION,   \
      DOM_INFRASTRUCTURE, SEV_MEDIUM, 80, ACT_MONITOR, 1, 60, 3600, "", 0)                   \
    X(PROTO_MAX_FORWARDS, "SIP-PROTO-004", "Max-Forwards abuse", SIP_PROTOCOL_VIOLATION,       \
      DOM_INFRASTRUCTURE, SEV_LOW, 70, ACT_MONITOR, 1, 60, 3600, "max_initial", 70)          \
    X(PROTO_BRANCH_COOKIE, "SIP-PROTO-005", "Via branch without RFC 3261 magic cookie",        \
      SIP_PROTOCOL_VIOLATION, DOM_INFRASTRUCTURE, SEV_LOW, 60, ACT_MONITOR, 1, 60, 3600, "", 0) \
    X(PROTO_METHOD, "SIP-PROTO-006", "Unknown or abused SIP method", SIP_PROTOCOL_VIOLATION,   \
      DOM_INFRASTRUCTURE, SEV_LOW, 70, ACT_MONITOR, 1, 60, 3600, "", 0)                      \
    X(PROTO_OTHER, "SIP-PROTO-007", "Other RFC 3261 violation", SIP_PROTOCOL_VIOLATION,        \
      DOM_INFRASTRUCTURE, SEV_INFO, 60, ACT_NONE, 1, 60, 3600, "", 0)                        \
    X(SCAN_FINGERPRINT, "SIP-SCAN-001", "Known SIP scanner fingerprint", SIP_SCANNER,          \
      DOM_INFRASTRUCTURE, SEV_HIGH, 95, ACT_BLOCK_SOURCE, 1, 60, 3600, "", 0)                \
    X(SCAN_BEHAVIOUR, "SIP-SCAN-002", "SIP scanning: one source probing many targets",         \
      SIP_SCANNER, DOM_INFRASTRUCTURE, SEV_MEDIUM, 75, ACT_BLOCK_SOURCE, 20, 60, 3600, "", 0) \
    X(ENUM_EXTENSIONS, "SIP-ENUM-001", "Extension enumeration", SIP_ENUMERATION,               \
      DOM_INFRASTRUCTURE, SEV_HIGH, 85, ACT_BLOCK_SOURCE, 15, 120, 3600,                       \
      "min_not_found_ratio", 0.5)                                                            \
    X(BRUTE_ONE_USER, "SIP-BRUTE-001", "Credential brute force on one account",                \
      SIP_BRUTE_FORCE, DOM_INFRASTRUCTURE, SEV_HIGH, 90, ACT_BLOCK_SOURCE, 10, 300, 3600, "", 0) \
    X(BRUTE_MANY_USERS, "SIP-BRUTE-002", "Credential spraying across accounts",                \
      SIP_BRUTE_FORCE, DOM_INFRASTRUCTURE, SEV_HIGH, 85, ACT_BLOCK_SOURCE, 10, 300, 3600,      \
      "", 0)                                                                                 \
    X(FLOOD_SOURCE, "SIP-FLOOD-001", "Request flood from one source", SIP_FLOOD,               \
      DOM_INFRASTRUCTURE, SEV_HIGH, 80, ACT_RATE_LIMIT_SOURCE, 200, 10, 900,                   \
      "invite register options", 100, 100, 100)                                             \
    X(FLOOD_DEST, "SIP-FLOOD-002", "Request flood toward one destination", SIP_FLOOD,          \
      DOM_INFRASTRUCTURE, SEV_HIGH, 75, ACT_RATE_LIMIT_SOURCE, 1000, 10, 900, "", 0)         \
    X(TRUST_HEADER, "SIP-TRUST-001", "Trust-domain header from a zone that may not assert it", \
      TRUST_BOUNDARY_VIOLATION, DOM_PRIVACY, SEV_HIGH, 85, ACT_REJECT_IDENTITY, 1, 300, 3600,  \
      "", 0)                                                                                 \
    X(CLI_HOME_IDENTITY, "SIP-CLI-001", "Home-network identity asserted from outside",         \
      CLI_SPOOFING, DOM_FRAUD, SEV_HIGH, 80, ACT_REJECT_IDENTITY, 1, 300, 3600, "check_from", 1) \
    X(CLI_INVALID, "SIP-CLI-002", "Caller identity that cannot be valid", CLI_SPOOFING,        \
      DOM_FRAUD, SEV_MEDIUM, 70, ACT_REQUIRE_VALIDATION, 1, 300, 3600,                         \
      "min_digits max_digits high_risk_cli", 7, 15, 1)                                        \
    X(TOPO_INTERNAL_ADDR, "SIP-TOPO-001", "Internal address leaked toward an untrusted zone",  \
      TOPOLOGY_LEAK, DOM_PRIVACY, SEV_MEDIUM, 85, ACT_MONITOR, 1, 3600, 86400, "", 0)        \
    X(INFO_VERSION, "SIP-INFO-001", "Product and version disclosed toward an untrusted zone",  \
      INFO_DISCLOSURE, DOM_PRIVACY, SEV_LOW, 80, ACT_MONITOR, 1, 3600, 86400, "", 0)         \
    X(INFO_WARNING, "SIP-INFO-002", "Warning header disclosed toward an untrusted zone",       \
      INFO_DISCLOSURE, DOM_PRIVACY, SEV_LOW, 70, ACT_MONITOR, 1, 3600, 86400, "", 0)         \
    X(INFO_AKA_KEYS, "SIP-INFO-003", "IMS AKA session keys sent toward an untrusted zone",     \
      INFO_DISCLOSURE, DOM_PRIVACY, SEV_HIGH, 95, ACT_MONITOR, 1, 3600, 86400, "", 0)        \
    X(INFO_WEAK_TLS, "SIP-INFO-004", "SIP over outdated or weak TLS", INFO_DISCLOSURE,         \
      DOM_PRIVACY, SEV_MEDIUM, 95, ACT_MONITOR, 1, 3600, 86400, "", 0)                       \
    X(INFO_CLEARTEXT, "SIP-INFO-005", "Cleartext SIP with a zone that requires TLS",           \
      INFO_DISCLOSURE, DOM_PRIVACY, SEV_MEDIUM, 95, ACT_MONITOR, 1, 3600, 86400, "", 0)      \
    X(INFO_WEAK_CERT, "SIP-INFO-006", "SIP TLS certificate expired or weak",                   \
      INFO_DISCLOSURE, DOM_PRIVACY, SEV_MEDIUM, 90, ACT_MONITOR, 1, 3600, 86400,              \
      "expiry_warning_days", 14)                                                              \
    X(IRSF_VELOCITY, "FRAUD-IRSF-001", "Calls to many numbers in high-risk ranges", IRSF,      \
      DOM_FRAUD, SEV_CRITICAL, 85, ACT_BLOCK_DESTINATION, 5, 600, 86400,                      \
      "off_hours_threshold", 0)                                                               \
    X(IRSF_LONG_CALL, "FRAUD-IRSF-002", "Long answered call to a high-risk range", IRSF,       \
      DOM_FRAUD, SEV_HIGH, 70, ACT_BLOCK_DESTINATION, 1, 3600, 86400, "min_duration_s", 1800) \
    X(WANGIRI, "FRAUD-WANGIRI-001", "Wangiri one-ring calls", WANGIRI, DOM_FRAUD,              \
      SEV_HIGH, 85, ACT_BLOCK_CALLER, 10, 600, 86400,                                          \
      "max_ring_s min_distinct_callees max_answer_ratio max_answered_s off_hours_threshold",  \
      6, 10, 0.1, 2, 0)                                                                       \
    X(CALL_VOLUME, "FRAUD-VOL-001", "Call volume anomaly per caller", TOLL_FRAUD, DOM_FRAUD,   \
      SEV_MEDIUM, 65, ACT_MONITOR, 60, 600, 3600, "max_concurrent off_hours_threshold", 30, 0) \
    X(INTEL_MATCH, "INTEL-001", "Traffic matches a shared indicator", SIP_SCANNER,             \
      DOM_INFRASTRUCTURE, SEV_HIGH, 90, ACT_MONITOR, 1, 300, 3600, "min_confidence", 0)

typedef enum det_rule_id {
#define DET_RULE_ENUM(e, id, name, et, dom, sev, conf, act, thr, win, ttl, pn, ...) R_##e,
    DET_RULES(DET_RULE_ENUM)
#undef DET_RULE_ENUM
    R__COUNT
} det_rule_id;

typedef struct det_rule_info {
    const char *id;
    const char *name;
    det_event_type event_type;
    det_domain domain;
    det_severity severity;
    uint8_t confidence;
    det_action action;
    uint32_t threshold;
    uint32_t window_s;
    uint32_t ttl_s;
    const char *param_names; /* space separated, "" if none */
    double param_defaults[DET_MAX_PARAMS];
} det_rule_info;

extern const det_rule_info det_rule_table[R__COUNT];
/* -1 if unknown */
int det_rule_lookup(const char *id);
/* index of param name within the rule's params, -1 if not a param of that rule */
int det_rule_param_index(det_rule_id rule, const char *param);

#endif

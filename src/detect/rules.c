/*
 * rules.c -- the rule catalogue table and the names of severities, domains,
 * event types and actions (see rules.h). Data only.
 */
#include "rules.h"

#include <string.h>
#include <strings.h>

const det_rule_info det_rule_table[R__COUNT] = {
#define DET_RULE_ROW(e, id_, name_, et, dom, sev, conf, act, thr, win, ttl, pn, ...) \
    [R_##e] = {id_, name_, ET_##et, dom, sev, conf, act, thr, win, ttl, pn, {__VA_ARGS__}},
    DET_RULES(DET_RULE_ROW)
#undef DET_RULE_ROW
};

static const char *const severity_names[] = {"info", "low", "medium", "high", "critical"};

const char *det_severity_name(det_severity s) {
    return (unsigned)s < 5 ? severity_names[s] : "info";
}

int det_severity_parse(const char *s) {
    for (int i = 0; i < 5; i++)
        if (strcasecmp(s, severity_names[i]) == 0) return i;
    return -1;
}

const char *det_domain_name(det_domain d) {
    switch (d) {
    case DOM_INFRASTRUCTURE: return "infrastructure";
    case DOM_PRIVACY: return "privacy";
    case DOM_FRAUD: return "fraud";
    }
    return "infrastructure";
}

const char *det_event_type_name(det_event_type t) {
    static const char *const names[] = {
#define DET_ET_NAME(n) #n,
        DET_EVENT_TYPES(DET_ET_NAME)
#undef DET_ET_NAME
    };
    return (unsigned)t < ET__COUNT ? names[t] : "SIP_PROTOCOL_VIOLATION";
}

const char *det_action_name(det_action a) {
    static const char *const names[] = {
#define DET_ACT_NAME(n) #n,
        DET_ACTIONS(DET_ACT_NAME)
#undef DET_ACT_NAME
    };
    return (unsigned)a < ACT__COUNT ? names[a] : "NONE";
}

int det_rule_lookup(const char *id) {
    for (int i = 0; i < R__COUNT; i++)
        if (strcasecmp(det_rule_table[i].id, id) == 0) return i;
    return -1;
}

int det_rule_param_index(det_rule_id rule, const char *param) {
    const char *p = det_rule_table[rule].param_names;
    size_t n = strlen(param);
    for (int idx = 0; *p && idx < DET_MAX_PARAMS; idx++) {
        const char *end = strchr(p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, param, n) == 0) return idx;
        if (!end) break;
        p = end + 1;
    }
    return -1;
}

/*
 * test_docs.c -- docs/rules.md agrees with the rule catalogue (rules.h).
 *
 * Every rule has a "### ID — name" section whose event type, domain and
 * "**defaults**" line (severity, confidence, action, threshold, window, ttl
 * and each parameter's default) are the table's, so a changed default or a
 * new rule that the page does not follow fails here. (etc/fs38.yaml is held
 * to the same table by test_config.c.)
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "detect/rules.h"

/* needle in [from, to) */
static bool within(const char *from, const char *to, const char *needle) {
    const char *hit = strstr(from, needle);
    return hit && hit + strlen(needle) <= to;
}

/* "threshold 20" must not match "threshold 200": the figure ends there */
static bool has_figure(const char *from, const char *to, const char *fmt, unsigned v) {
    char want[64];
    snprintf(want, sizeof want, fmt, v);
    for (const char *p = from; (p = strstr(p, want)) && p < to; p++) {
        char next = p[strlen(want)];
        if (next < '0' || next > '9') return true;
    }
    return false;
}

static void check_rule(const char *doc, int r) {
    const det_rule_info *ri = &det_rule_table[r];
    char head[160];
    snprintf(head, sizeof head, "\n### %s — %s\n", ri->id, ri->name);
    const char *sec = strstr(doc, head);
    CHECK_MSG(sec != NULL, "docs/rules.md lacks the heading \"### %s — %s\"", ri->id, ri->name);
    if (!sec) return;
    sec += strlen(head);
    const char *end = strstr(sec, "\n##");
    if (!end) end = sec + strlen(sec);
    const char *def = strstr(sec, "**defaults** ");
    CHECK_MSG(def && def < end, "docs/rules.md %s: no **defaults** line", ri->id);
    if (!def || def >= end) return;
    const char *def_end = strstr(def, "\n- ");
    if (!def_end || def_end > end) def_end = end;
    char want[160];
    if (r != R_INTEL_MATCH) { /* INTEL-001 takes the shared event's type, domain, severity, action */
        snprintf(want, sizeof want, "**event_type** %s · **domain** %s", det_event_type_name(ri->event_type),
                 det_domain_name(ri->domain));
        CHECK_MSG(within(sec, def, want), "docs/rules.md %s: want \"%s\"", ri->id, want);
        snprintf(want, sizeof want, "severity %s, confidence %u, action %s,", det_severity_name(ri->severity),
                 ri->confidence, det_action_name(ri->action));
        CHECK_MSG(within(def, def_end, want), "docs/rules.md %s: defaults want \"%s\"", ri->id, want);
    }
    CHECK_MSG(has_figure(def, def_end, "threshold %u", ri->threshold), "docs/rules.md %s: want threshold %u",
              ri->id, ri->threshold);
    CHECK_MSG(has_figure(def, def_end, "window %u s", ri->window_s), "docs/rules.md %s: want window %u s", ri->id,
              ri->window_s);
    CHECK_MSG(has_figure(def, def_end, "ttl %u s", ri->ttl_s), "docs/rules.md %s: want ttl %u s", ri->id,
              ri->ttl_s);
    char names[128];
    snprintf(names, sizeof names, "%s", ri->param_names);
    int i = 0;
    for (char *save = NULL, *n = strtok_r(names, " ", &save); n; n = strtok_r(NULL, " ", &save), i++) {
        snprintf(want, sizeof want, "`%s` = %g", n, ri->param_defaults[i]);
        CHECK_MSG(within(def, def_end, want), "docs/rules.md %s: defaults want \"%s\"", ri->id, want);
    }
    if (!ri->param_names[0])
        CHECK_MSG(!within(def, def_end, "param `") && !within(def, def_end, "params `"), "docs/rules.md %s: names parameters it does not have", ri->id);
}

int main(void) {
    size_t doc_len;
    char *doc = check_read_file("docs/rules.md", &doc_len);
    CHECK_MSG(doc != NULL, "cannot read docs/rules.md (run from the repository root)");
    if (doc) {
        for (int r = 0; r < R__COUNT; r++) check_rule(doc, r);
        free(doc);
    }
    return check_done("test_docs");
}

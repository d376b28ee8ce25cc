/*
 * cmd_rules.c -- `fs38 rules`: the rule catalogue (src/detect/rules.h) with
 * the settings `fs38 inspect` would run each rule with: a table for people,
 * NDJSON for a SIEM's lookup table.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config/cfg.h"
#include "detect/rules.h"

static const char rules_usage[] =
    "usage: fs38 rules [-c FILE] [--json]\n"
    "\n"
    "Lists every rule of the catalogue with the settings `fs38 inspect` runs it\n"
    "with: on or off, severity, threshold and window, from the config given with\n"
    "-c, else $FS38_CONFIG, else " FS38_ETC_DIR "/fs38.yaml if present, else\n"
    "the built-in defaults. A value the config changed is marked with '*'; the\n"
    "last line names the config, after the count of allow_callers entries if\n"
    "any. Details, basis and false-positive notes:\n"
    "docs/rules.md. Change a rule under rules.<ID> in the config file.\n"
    "\n"
    "  -c, --config FILE  the config to apply, as `fs38 inspect -c FILE`\n"
    "                     (-c /dev/null: the built-in defaults)\n"
    "      --json         one JSON object per rule (NDJSON), for a SIEM's lookup\n"
    "                     table: id, name, event_type, domain, severity, confidence,\n"
    "                     action, threshold, window_s, ttl_s, enabled, params\n"
    "                     (INTEL-001: event_type, domain, severity, confidence and\n"
    "                     action null, as it raises the shared event's own)\n"
    "  -h, --help         this text\n"
    "\n"
    "Exit codes: 0 listed, 2 usage, config or output error.\n";

/* INTEL-001 raises the shared event's own type, domain, severity,
 * confidence and action */
static bool takes_shared(int i) { return i == R_INTEL_MATCH; }

/* The n-th name of a space-separated list into out; false past the end. */
static bool param_name(const char *names, unsigned n, char *out, size_t outlen) {
    const char *p = names;
    for (unsigned k = 0;; k++) {
        while (*p == ' ') p++;
        if (!*p) return false;
        size_t len = strcspn(p, " ");
        if (k == n) {
            snprintf(out, outlen, "%.*s", (int)len, p);
            return true;
        }
        p += len;
    }
}

static int print_json(const fs38_config *cfg) {
    for (int i = 0; i < R__COUNT; i++) {
        const det_rule_info *ri = &det_rule_table[i];
        const cfg_rule *r = &cfg->rules[i];
        bool shared = takes_shared(i);
        json_t *params = json_object();
        char name[64];
        for (unsigned k = 0; k < DET_MAX_PARAMS && param_name(ri->param_names, k, name, sizeof name); k++)
            json_object_set_new(params, name, json_real(r->param[k]));
        json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:I, s:I, s:I, s:b, s:o}", "id", ri->id,
                              "name", ri->name,
                              "event_type", shared ? json_null() : json_string(det_event_type_name(ri->event_type)),
                              "domain", shared ? json_null() : json_string(det_domain_name(ri->domain)),
                              "severity", shared ? json_null() : json_string(det_severity_name(r->severity)),
                              "confidence", shared ? json_null() : json_integer(ri->confidence),
                              "action", shared ? json_null() : json_string(det_action_name(r->action)),
                              "threshold", (json_int_t)r->threshold, "window_s", (json_int_t)r->window_s,
                              "ttl_s", (json_int_t)r->ttl_s, "enabled", (int)r->enabled, "params", params);
        char *line = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
        json_decref(o);
        if (!line) {
            fprintf(stderr, "fs38 rules: out of memory\n");
            return EXIT_USAGE;
        }
        puts(line);
        free(line);
    }
    return EXIT_DONE;
}

static void print_table(const fs38_config *cfg, const char *used) {
    printf("%-18s %-3s %-9s %-24s %-13s %9s %7s  %s\n", "ID", "ON", "SEVERITY", "EVENT TYPE", "DOMAIN",
           "THRESHOLD", "WINDOW", "NAME");
    unsigned changed = 0, unshown = 0;
    for (int i = 0; i < R__COUNT; i++) {
        const det_rule_info *ri = &det_rule_table[i];
        const cfg_rule *r = &cfg->rules[i];
        bool shared = takes_shared(i);
        bool on_changed = !r->enabled, sev_changed = !shared && r->severity != ri->severity;
        bool thr_changed = r->threshold != ri->threshold, win_changed = r->window_s != ri->window_s;
        changed += on_changed + sev_changed + thr_changed + win_changed;
        /* changes the table has no column for: not "every value the default" */
        unshown += (!shared && r->action != ri->action) + (r->ttl_s != ri->ttl_s);
        for (int k = 0; k < DET_MAX_PARAMS; k++) unshown += r->param[k] != ri->param_defaults[k];
        char on[8], sev[16], thr[16], win[16];
        snprintf(on, sizeof on, "%s%s", r->enabled ? "on" : "off", on_changed ? "*" : "");
        snprintf(sev, sizeof sev, "%s%s", shared ? "(shared)" : det_severity_name(r->severity), sev_changed ? "*" : "");
        snprintf(thr, sizeof thr, "%u%s", r->threshold, thr_changed ? "*" : " ");
        snprintf(win, sizeof win, "%us%s", r->window_s, win_changed ? "*" : " ");
        printf("%-18s %-3s %-9s %-24s %-13s %9s %7s  %s\n", ri->id, on, sev,
               shared ? "(the shared event's)" : det_event_type_name(ri->event_type),
               shared ? "(shared)" : det_domain_name(ri->domain), thr, win, ri->name);
    }
    if (cfg->nallow_callers)
        printf("allow_callers: %u number%s or prefix%s not judged by FRAUD-VOL-001, FRAUD-WANGIRI-001, "
               "FRAUD-IRSF-001\n",
               (unsigned)cfg->nallow_callers, cfg->nallow_callers == 1 ? "" : "s", cfg->nallow_callers == 1 ? "" : "es");
    const cfg_hours *h = &cfg->business_hours;
    if (h->set) { /* "business hours: mon tue wed thu fri 08:00-19:00 Europe/Paris (...)" */
        printf("business hours:");
        for (unsigned d = 0; d < 7; d++)
            if (h->days >> d & 1) printf(" %s", cfg_day_names[d]);
        printf(" %02u:%02u-%02u:%02u %s (outside them, off_hours_threshold where set)\n", h->from_min / 60u,
               h->from_min % 60u, h->to_min / 60u, h->to_min % 60u, h->timezone);
    }
    if (!used[0])
        printf("settings: the built-in defaults\n");
    else if (changed && unshown)
        printf("settings: %s (* = %u value%s changed from the default, and %u that this table does not show: "
               "see --json)\n", used, changed, changed == 1 ? "" : "s", unshown);
    else if (changed)
        printf("settings: %s (* = %u value%s changed from the default)\n", used, changed, changed == 1 ? "" : "s");
    else if (unshown)
        printf("settings: %s (no value in this table changed; %u that it does not show did: see --json)\n", used,
               unshown);
    else
        printf("settings: %s (every value the default)\n", used);
}

int cmd_rules(int argc, char **argv) {
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"json", no_argument, NULL, 'j'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *config_path = NULL;
    bool json = false;
    int c;
    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case 'j': json = true; break;
        case 'h': fputs(rules_usage, stdout); return cli_stdout_done("fs38 rules");
        default: fputs(rules_usage, stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "fs38 rules: unexpected argument '%s'\n", argv[optind]);
        return EXIT_USAGE;
    }
    static fs38_config cfg; /* large: not on the stack */
    char used[512];
    if (!cli_load_config(&cfg, config_path, "rules", used, sizeof used)) return EXIT_USAGE;
    int rc = EXIT_DONE;
    if (json) rc = print_json(&cfg);
    else print_table(&cfg, used);
    int err = fflush(stdout) != 0 ? errno : 0;
    if (err || ferror(stdout)) { /* a SIEM's lookup table left empty or cut: not "listed" */
        fprintf(stderr, "fs38 rules: writing to stdout: %s\n", err ? strerror(err) : "failed");
        rc = EXIT_USAGE;
    }
    return rc;
}

/*
 * cmd_rules.c -- `fs38 rules`: print the rule catalogue (src/detect/rules.h).
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "detect/rules.h"

static const char rules_usage[] =
    "usage: fs38 rules\n\nLists every rule of the catalogue with its default severity,\n"
    "threshold and window. Details and false-positive notes: docs/rules.md.\n"
    "Change them per rule under rules.<ID> in the config file.\n";

int cmd_rules(int argc, char **argv) {
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'h') {
            fputs(rules_usage, stdout);
            return EXIT_DONE;
        }
        fputs(rules_usage, stderr);
        return EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "fs38 rules: unexpected argument '%s'\n", argv[optind]);
        return EXIT_USAGE;
    }
    printf("%-18s %-9s %-24s %-13s %9s %7s  %s\n", "ID", "SEVERITY", "EVENT TYPE", "DOMAIN",
           "THRESHOLD", "WINDOW", "NAME");
    for (int i = 0; i < R__COUNT; i++) {
        const det_rule_info *ri = &det_rule_table[i];
        /* INTEL-001 raises the shared event's own type, domain and severity */
        bool shared = i == R_INTEL_MATCH;
        printf("%-18s %-9s %-24s %-13s %9u %6us  %s\n", ri->id, shared ? "(shared)" : det_severity_name(ri->severity),
               shared ? "(the shared event's)" : det_event_type_name(ri->event_type),
               shared ? "(shared)" : det_domain_name(ri->domain), ri->threshold, ri->window_s, ri->name);
    }
    return EXIT_DONE;
}

/*
 * cmd_sight.c -- `fs38 sight`: tell the hub we saw a shared event (or that it
 * is a false positive), as a signed SIGHTING / FALSE_POSITIVE event.
 *
 * Owns: options, finding the observables the feedback is about (from the
 * local cache or --observable), signing and publishing one event, the
 * result line. Must not touch: event building (cl_feedback_event), TLS.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client/cl.h"

static const char usage_text[] =
    "usage: fs38 sight --hub https://HOST:PORT --cert MEMBER.crt --key MEMBER.key --ca CA.crt\n"
    "                  --signing-key KEYS/KID.key --event ISSUER/EVENT_ID\n"
    "                  [--false-positive] [--note TEXT] [--cache FILE | --observable K:V:ROLE]\n"
    "\n"
    "Publishes a signed SIGHTING (we saw it too) or FALSE_POSITIVE (it is wrong) event\n"
    "referencing a shared event (evidence.details.ref). The hub records it as feedback\n"
    "on that event; its issuer sees it with GET /v1/sightings.\n"
    "\n"
    "  --event ISSUER/EVENT_ID  the shared event, e.g. org:234-15/0193a5e0-7c1e-7d2a-...\n"
    "  --false-positive         report a false positive instead of a sighting\n"
    "  --note TEXT              a short explanation (details.note)\n"
    "  --cache FILE             the `fs38 pull` cache: the observables are copied from\n"
    "                           the event there\n"
    "  --observable KIND:VALUE[:ROLE]  what was seen (repeatable; role default source),\n"
    "                           e.g. ip:198.51.100.7:source\n"
    "  --tlp LEVEL              handling.tlp of the feedback (default amber; red, for the\n"
    "                           event's issuer and audience, when --cache copies the\n"
    "                           observables of a red event); red goes to the shared\n"
    "                           event's issuer only (handling.audience)\n"
    "  --hub URL, --cert FILE, --key FILE, --ca FILE, --signing-key FILE, --timeout SEC\n"
    "                           as for `fs38 share`\n"
    "  --dry-run                print the event instead of publishing it\n"
    "  -h, --help               this text\n"
    "\n"
    "Exit codes: 0 stored (or already stored), 1 rejected by the hub, 2 usage or\n"
    "connection error.\n";

/* "kind:value[:role]"; the value may itself hold ':' (IPv6): role is taken
 * from the end only when it names a role. */
static bool add_observable(json_t *arr, const char *spec) {
    const char *c1 = strchr(spec, ':');
    if (!c1 || c1 == spec || !c1[1]) return false;
    /* a value may be 1024 bytes (docs/event.schema.json), then ":ROLE":
     * never cut it (a cut value would also lose its role) */
    char kind[32], value[1024 + 16], role[16] = "source";
    size_t kl = (size_t)(c1 - spec);
    if (kl >= sizeof kind) return false;
    memcpy(kind, spec, kl);
    kind[kl] = '\0';
    if (strlen(c1 + 1) >= sizeof value) return false;
    snprintf(value, sizeof value, "%s", c1 + 1);
    char *last = strrchr(value, ':');
    if (last && xc_enum_find(XC_ENUM_OBS_ROLE, last + 1) >= 0) {
        snprintf(role, sizeof role, "%s", last + 1);
        *last = '\0';
    }
    if (!value[0]) return false;
    json_t *o = json_pack("{s:s,s:s,s:s}", "kind", kind, "value", value, "role", role);
    return o && json_array_append_new(arr, o) == 0; /* NULL: not UTF-8 */
}

/* The observables of issuer/id in the cache, victims excepted, appended to
 * arr. When that event is TLP:RED, *red_audience is who may read it (its
 * issuer and audience: the feedback copying its observables must reach no
 * one else), else NULL. */
static fs_code observables_from_cache(const char *path, const char *issuer, const char *id, json_t *arr,
                                      json_t **red_audience, fs_err *e) {
    *red_audience = NULL;
    cl_cache c;
    cl_cache_init(&c);
    fs_code rc = cl_cache_load(&c, path, e);
    if (rc != FS_OK) {
        cl_cache_free(&c);
        return rc;
    }
    const cl_cache_item *it = cl_cache_find(&c, issuer, id);
    if (!it) {
        cl_cache_free(&c);
        return fs_fail(e, FS_ERR_USAGE, "--cache %s has no event %s/%s (give --observable instead)", path,
                       issuer, id);
    }
    json_error_t je;
    json_t *root = json_loadb(it->json, it->len, 0, &je);
    json_t *obs = json_object_get(root, "observables");
    size_t i, victims = 0;
    json_t *o;
    json_array_foreach(obs, i, o) {
        const char *role = json_string_value(json_object_get(o, "role"));
        if (role && !strcmp(role, "victim")) {
            victims++;
            continue;
        }
        json_array_append(arr, o);
    }
    json_t *handling = json_object_get(root, "handling");
    const char *tlp = json_string_value(json_object_get(handling, "tlp"));
    if (tlp && !strcmp(tlp, "red")) {
        json_t *aud = json_array(), *m;
        json_array_append_new(aud, json_string(issuer));
        json_array_foreach(json_object_get(handling, "audience"), i, m) {
            bool seen = false;
            for (size_t k = 0; k < json_array_size(aud) && !seen; k++) seen = json_equal(json_array_get(aud, k), m);
            if (!seen) json_array_append(aud, m);
        }
        *red_audience = aud;
    }
    json_decref(root);
    cl_cache_free(&c);
    if (*red_audience && json_array_size(*red_audience) > XC_MAX_AUDIENCE)
        return fs_fail(e, FS_ERR_USAGE, "--cache %s: %s/%s is TLP:RED for more than %d members: a feedback "
                       "copying its observables cannot name them all (give --observable instead)",
                       path, issuer, id, XC_MAX_AUDIENCE);
    /* found, but nothing to copy: "give --cache FILE holding the event" would
     * send the caller after a file they already gave */
    if (victims && json_array_size(arr) == 0)
        return fs_fail(e, FS_ERR_USAGE,
                       "--cache %s: every observable of %s/%s has role victim, never reported back "
                       "(give --observable instead)", path, issuer, id);
    return FS_OK;
}

enum { O_HUB = 256, O_CERT, O_KEY, O_CA, O_TIMEOUT, O_SIGNING, O_EVENT, O_FP, O_NOTE, O_CACHE, O_OBS, O_TLP,
       O_DRY };

int cmd_sight(int argc, char **argv) {
    static const struct option longopts[] = {
        {"hub", required_argument, NULL, O_HUB}, {"cert", required_argument, NULL, O_CERT},
        {"key", required_argument, NULL, O_KEY}, {"ca", required_argument, NULL, O_CA},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"signing-key", required_argument, NULL, O_SIGNING},
        {"event", required_argument, NULL, O_EVENT}, {"false-positive", no_argument, NULL, O_FP},
        {"note", required_argument, NULL, O_NOTE}, {"cache", required_argument, NULL, O_CACHE},
        {"observable", required_argument, NULL, O_OBS}, {"tlp", required_argument, NULL, O_TLP},
        {"dry-run", no_argument, NULL, O_DRY}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *hub = NULL, *cert = NULL, *key = NULL, *ca = NULL, *signing = NULL, *event = NULL,
               *note = NULL, *cache = NULL, *tlp = "amber";
    char tlp_low[16] = "";
    bool fp = false, dry = false, tlp_given = false;
    json_t *red_audience = NULL;
    uint64_t timeout = 10;
    json_t *obs = json_array();
    char *json = NULL, *jws = NULL;
    xc_keypair kp;
    memset(&kp, 0, sizeof kp);
    fs_err e = {0};
    int c, rc = EXIT_USAGE;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_HUB: hub = optarg; break;
        case O_CERT: cert = optarg; break;
        case O_KEY: key = optarg; break;
        case O_CA: ca = optarg; break;
        case O_SIGNING: signing = optarg; break;
        case O_EVENT: event = optarg; break;
        case O_FP: fp = true; break;
        case O_NOTE: {
            /* details.note is a JSON string: jansson refuses one that is not
             * UTF-8, and the event would go out without the note */
            json_t *t = json_string(optarg);
            if (!t) {
                fprintf(stderr, "fs38 sight: --note: not valid UTF-8\n");
                goto out;
            }
            json_decref(t);
            note = optarg;
            break;
        }
        case O_CACHE: cache = optarg; break;
        case O_DRY: dry = true; break;
        case O_TLP: { /* case-insensitive, as share's --tlp and organisation.tlp; stored lowercase */
            size_t n = strlen(optarg);
            for (size_t i = 0; i < n && i + 1 < sizeof tlp_low; i++) tlp_low[i] = (char)tolower((unsigned char)optarg[i]);
            tlp_low[n < sizeof tlp_low ? n : sizeof tlp_low - 1] = '\0';
            if (n >= sizeof tlp_low || xc_enum_find(XC_ENUM_TLP, tlp_low) < 0) {
                fprintf(stderr, "fs38 sight: --tlp '%s': expected clear, green, amber, amber+strict or red\n", optarg);
                goto out;
            }
            tlp = tlp_low;
            tlp_given = true;
            break;
        }
        case O_OBS:
            if (!add_observable(obs, optarg)) {
                fprintf(stderr, "fs38 sight: --observable '%s': expected KIND:VALUE[:ROLE]\n", optarg);
                goto out;
            }
            break;
        case O_TIMEOUT:
            if (!fs_str_to_u64(fs_str_make(optarg, strlen(optarg)), 3600, &timeout) || !timeout) {
                fprintf(stderr, "fs38 sight: --timeout '%s': expected 1-3600 seconds\n", optarg);
                goto out;
            }
            break;
        case 'h': fputs(usage_text, stdout); rc = cli_stdout_done("fs38 sight"); goto out;
        default: fputs("(fs38 sight --help explains every option)\n", stderr); goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "fs38 sight: unexpected argument '%s'\n", argv[optind]);
        goto out;
    }
    const char *slash = event ? strchr(event, '/') : NULL;
    if (!slash || slash == event || !slash[1] || !signing) {
        fprintf(stderr, "fs38 sight: give --event ISSUER/EVENT_ID and --signing-key FILE\n");
        goto out;
    }
    char ref_issuer[XC_ISSUER_MAX + 1];
    size_t il = (size_t)(slash - event);
    if (il > XC_ISSUER_MAX || !xc_issuer_valid(event, il)) {
        fprintf(stderr, "fs38 sight: --event '%s': '%.*s' is not org:<MCC>-<MNC> or org:<name>\n", event,
                (int)il, event);
        goto out;
    }
    memcpy(ref_issuer, event, il);
    ref_issuer[il] = '\0';
    const char *ref_id = slash + 1;
    if (cache && observables_from_cache(cache, ref_issuer, ref_id, obs, &red_audience, &e) != FS_OK) goto bad;
    /* a red event's observables copied into an amber feedback reached every
     * member of the hub: the feedback is red too, for the event's readers */
    if (red_audience) {
        if (tlp_given && strcmp(tlp, "red")) {
            fprintf(stderr, "fs38 sight: --tlp %s: %s/%s in --cache %s is TLP:RED and its observables are "
                            "copied: the feedback must be red too (omit --tlp, or give --observable instead "
                            "of --cache)\n", tlp, ref_issuer, ref_id, cache);
            goto out;
        }
        tlp = "red";
    }
    if (json_array_size(obs) == 0) {
        fprintf(stderr, "fs38 sight: nothing to report on: give --cache FILE holding the event, or "
                        "--observable KIND:VALUE[:ROLE]\n");
        goto out;
    }
    cl_hub h;
    if (!dry && cl_hub_init(&h, hub, cert, key, ca, &e) != FS_OK) goto bad;
    h.timeout_ms = (int)timeout * 1000;
    if (xc_keypair_load(signing, &kp, &e) != FS_OK) goto bad;
    size_t len = 0;
    if (cl_feedback_event(kp.issuer, fp, ref_issuer, ref_id, obs, note, tlp, red_audience,
                          (int64_t)(fs_time_now_us() / 1000), 0, &json, &len, &e) != FS_OK)
        goto bad;
    if (dry) {
        printf("%s\n", json);
        int err = fflush(stdout) != 0 ? errno : 0;
        if (err || ferror(stdout)) { /* the event was not shown: no success */
            fs_fail(&e, FS_ERR_IO, "writing to stdout: %s", err ? strerror(err) : "failed");
            goto bad;
        }
        rc = EXIT_DONE;
        goto out;
    }
    size_t cap = xc_jws_size(len) + 1, n;
    jws = malloc(cap);
    if (!jws || !(n = xc_jws_sign(json, len, &kp, jws, cap, &e))) {
        if (!jws) fs_fail(&e, FS_ERR_NOMEM, "out of memory");
        goto bad;
    }
    cl_publish_item res;
    signal(SIGPIPE, SIG_IGN); /* a hub closing while we send: an error reported, not our end */
    if (cl_publish(&h, &jws, &n, 1, &res, NULL, NULL, &e) != FS_OK) goto bad;
    json_error_t je;
    json_t *root = json_loads(json, 0, &je);
    const char *id = json_string_value(json_object_get(root, "event_id"));
    if (!strcmp(res.status, "stored") || !strcmp(res.status, "duplicate")) {
        printf("fs38 sight: %s %s/%s about %s/%s %s (seq %llu)\n", fp ? "FALSE_POSITIVE" : "SIGHTING",
               kp.issuer, id ? id : "?", ref_issuer, ref_id, res.status, (unsigned long long)res.seq);
        rc = EXIT_DONE;
    } else {
        fprintf(stderr, "fs38 sight: rejected by the hub: %s%s%s\n", res.code[0] ? res.code : res.status,
                res.error[0] ? ": " : "", res.error);
        rc = EXIT_EVENTS;
    }
    json_decref(root);
    goto out;
bad:
    fprintf(stderr, "fs38 sight: %s\n", e.msg);
out:
    json_decref(obs);
    json_decref(red_audience);
    free(json);
    free(jws);
    xc_keypair_wipe(&kp);
    return rc;
}

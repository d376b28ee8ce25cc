/*
 * cmd_share.c -- `fs38 share`: publish inspect's events to an fs38 hub.
 *
 * Owns: options, reading NDJSON events from stdin, signing what the policy
 * filter (cl_share_prepare) lets through, batching POST /v1/events, the
 * summary and the exit code. Must not touch: the policy itself, TLS, JSON
 * validation (libfs38 does them).
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "client/cl.h"

#define SHARE_BATCH_DEFAULT 500
#define SHARE_BODY_BUDGET (8u << 20) /* send a batch before its body passes this */
#define SHARE_RETRIES 5
#define SHARE_RETRY_MAX_S 60 /* the longest wait for a hub's Retry-After */
#define SHARE_SHOWN_REJECTS 20
#define SHARE_LINGER_MS 1000 /* the longest a read event waits for more to fill its batch */

static const char usage_text[] =
    "usage: fs38 share --hub https://HOST:PORT --cert MEMBER.crt --key MEMBER.key --ca CA.crt\n"
    "                  --signing-key KEYS/KID.key [options] < events.ndjson\n"
    "\n"
    "Reads fs38 events (NDJSON, e.g. from `fs38 inspect --json`) on stdin, keeps those\n"
    "the policy lets through, signs each (JWS, EdDSA) as the signing key's issuer and\n"
    "publishes them to the hub in batches.\n"
    "\n"
    "Hub connection (mutual TLS):\n"
    "  --hub URL              https://HOST:PORT of the hub\n"
    "  --cert FILE            this member's TLS client certificate (PEM)\n"
    "  --key FILE             its private key (PEM)\n"
    "  --ca FILE              CA certificate that signed the hub's certificate\n"
    "  --timeout SEC          connect/read timeout and the TLS handshake's as a\n"
    "                         whole (default 10); a whole answer at most 30 times it\n"
    "Signing:\n"
    "  --signing-key FILE     Ed25519 key from `fs38 keygen`; its issuer becomes the\n"
    "                         events' issuer\n"
    "Policy (what leaves):\n"
    "  --types T,...          only these event types (SIP_SCANNER,IRSF,WANGIRI,...)\n"
    "  --min-confidence N     only events with confidence >= N (0-100)\n"
    "  --tlp LEVEL            set handling.tlp: clear, green, amber, amber+strict, red\n"
    "  --audience ORG,...     set handling.audience (who may receive a red event)\n"
    "  --pseudonymise FILE    community key file (`fs38 hash-id`): victims' numbers are\n"
    "                         replaced by HMACs; without it such observables are dropped\n"
    "                         (--pseudonymize too)\n"
    "  --valid-for SEC        receivers act on the events for SEC seconds from now\n"
    "                         (default: the event's own valid_until; expired ones are\n"
    "                         not shared)\n"
    "Other:\n"
    "  --batch N              events per request (default 500, at most 10000; halved\n"
    "                         for the rest of the run when the hub answers 413); a\n"
    "                         batch goes out once its first event waited 1 s\n"
    "  --dry-run              print the events that would be signed, publish nothing\n"
    "  -h, --help             this text\n"
    "\n"
    "Callee numbers in evidence.sample (to, request_uri) are removed: they may be victims;\n"
    "so are from and pai when they carry a victim's number or URI (a spoofed home CLI) or the\n"
    "event is about an element's own setup (SIP-TOPO-*, SIP-INFO-*: its callers are\n"
    "subscribers, not attackers), and\n"
    "x-encap and x-capture (the VLANs and tunnels a message crossed, the file it is in).\n"
    "INTEL-001 events (matches of what partners shared) are never re-shared: that would\n"
    "echo between operators; report them with `fs38 sight` instead.\n"
    "SIGINT/SIGTERM: what was read is published, then the summary.\n"
    "Exit codes: 0 every event stored (or already stored), 1 some rejected (by the hub\n"
    "or as invalid input), 2 usage or connection error.\n"
    "\n"
    "Example:\n"
    "  fs38 inspect --json cap.pcap | fs38 share --hub https://hub.example:8443 \\\n"
    "      --cert me.crt --key me.key --ca ca.crt --signing-key keys/AbC.key \\\n"
    "      --min-confidence 80 --tlp green --valid-for 86400\n";

typedef struct share_run {
    cl_hub hub;
    xc_keypair kp;
    cl_policy policy;
    xc_pseudo_keys pseudo;
    bool dry_run;
    size_t batch_max;
    /* the batch */
    char **jws;
    size_t *lens;
    char (*ids)[40];
    size_t n, bytes;
    uint64_t batch_since_us; /* when its first event was read */
    /* tallies */
    unsigned lines, signed_n, stored, duplicate, rejected, invalid;
    unsigned skipped[CL_VERDICT__COUNT];
    unsigned pseudonymised, dropped_ids, shown;
} share_run;

static void batch_clear(share_run *s) {
    for (size_t i = 0; i < s->n; i++) free(s->jws[i]);
    s->n = 0;
    s->bytes = 0;
}

static void tally_result(share_run *s, size_t i, const cl_publish_item *it) {
    if (!strcmp(it->status, "stored")) s->stored++;
    else if (!strcmp(it->status, "duplicate")) s->duplicate++;
    else {
        s->rejected++;
        if (s->shown++ < SHARE_SHOWN_REJECTS)
            fprintf(stderr, "fs38 share: rejected %s: %s%s%s\n", s->ids[i], it->code[0] ? it->code : it->status,
                    it->error[0] ? ": " : "", it->error);
    }
}

/* Publish jws[lo, lo + n), retrying on 429/503 (the hub's Retry-After when
 * it asks for longer than the backoff: retrying sooner is refused again, and
 * the retries ran out before it did; bounded, as a hub may ask for
 * anything). FS_OK with res filled, else the error (e) and the HTTP status. */
static fs_code publish_range(share_run *s, size_t lo, size_t n, cl_publish_item *res, int *status, fs_err *e) {
    fs_code rc = FS_OK;
    for (int attempt = 0; attempt <= SHARE_RETRIES; attempt++) {
        unsigned retry_s = 0;
        *status = 0;
        memset(e, 0, sizeof *e);
        rc = cl_publish(&s->hub, s->jws + lo, s->lens + lo, n, res, status, &retry_s, e);
        if (rc == FS_OK || (*status != 429 && *status != 503) || attempt == SHARE_RETRIES) break;
        unsigned wait = 1u << attempt;
        if (retry_s > wait) wait = retry_s < SHARE_RETRY_MAX_S ? retry_s : SHARE_RETRY_MAX_S;
        fprintf(stderr, "fs38 share: %s; retrying in %u s\n", e->msg, wait);
        sleep(wait);
    }
    return rc;
}

/* Publish the batch; false on a connection/HTTP error (reported). A 413 (a
 * hub whose max_body or max_batch is below our batch) halves the batch size
 * for the rest of the run and sends what is left in the smaller batches; an
 * event that is too large alone is rejected, and the run goes on. */
static bool batch_send(share_run *s) {
    if (s->n == 0) return true;
    cl_publish_item *res = calloc(s->n, sizeof *res);
    if (!res) {
        fprintf(stderr, "fs38 share: out of memory\n");
        return false;
    }
    bool ok = true;
    for (size_t done = 0; ok && done < s->n;) {
        size_t n = s->n - done < s->batch_max ? s->n - done : s->batch_max;
        fs_err e = {0};
        int status = 0;
        if (publish_range(s, done, n, res + done, &status, &e) == FS_OK) {
            for (size_t i = done; i < done + n; i++) tally_result(s, i, &res[i]);
            done += n;
        } else if (status == 413 && n > 1) {
            s->batch_max = n / 2;
            fprintf(stderr, "fs38 share: %s (a request over the hub's limits); sending at most %zu event%s "
                    "per request from now on\n", e.msg, s->batch_max, s->batch_max == 1 ? "" : "s");
        } else if (status == 413) {
            cl_publish_item too_large = {.status = "rejected", .code = "too_large"};
            snprintf(too_large.error, sizeof too_large.error, "%.*s", (int)sizeof too_large.error - 1, e.msg);
            tally_result(s, done++, &too_large);
        } else {
            fprintf(stderr, "fs38 share: %s\n", e.msg);
            ok = false;
        }
    }
    free(res);
    batch_clear(s);
    return ok;
}

static bool add_line(share_run *s, const char *line, size_t len) {
    cl_prepared p;
    fs_err e = {0};
    int64_t now_ms = (int64_t)(fs_time_now_us() / 1000);
    cl_verdict v = cl_share_prepare(&s->policy, s->kp.issuer, line, len, now_ms, &p, &e);
    if (v == CL_SKIP_INVALID) {
        s->invalid++;
        fprintf(stderr, "fs38 share: stdin line %u: %s\n", s->lines, e.msg);
        return true;
    }
    if (v != CL_SHARE) {
        s->skipped[v]++;
        return true;
    }
    s->pseudonymised += p.pseudonymised;
    s->dropped_ids += p.dropped;
    if (s->dry_run) {
        fwrite(p.json, 1, p.len, stdout);
        fputc('\n', stdout);
        s->signed_n++;
        cl_prepared_free(&p);
        return true;
    }
    size_t cap = xc_jws_size(p.len) + 1;
    char *jws = malloc(cap);
    size_t n = jws ? xc_jws_sign(p.json, p.len, &s->kp, jws, cap, &e) : 0;
    if (!n) {
        fprintf(stderr, "fs38 share: stdin line %u: cannot sign: %s\n", s->lines, jws ? e.msg : "out of memory");
        free(jws);
        cl_prepared_free(&p);
        s->invalid++;
        return true;
    }
    if (s->bytes + n > SHARE_BODY_BUDGET && !batch_send(s)) {
        free(jws);
        cl_prepared_free(&p);
        return false;
    }
    if (s->n == 0) s->batch_since_us = fs_time_now_us();
    s->jws[s->n] = jws;
    s->lens[s->n] = n;
    snprintf(s->ids[s->n], sizeof s->ids[0], "%s", p.event_id);
    s->n++;
    s->bytes += n + 3;
    s->signed_n++;
    cl_prepared_free(&p);
    return s->n < s->batch_max || batch_send(s);
}

/* SIGINT/SIGTERM: read no more, publish what was read, end with the summary */
static volatile sig_atomic_t share_stop;
static void share_on_signal(int sig) { (void)sig; share_stop = 1; }

/* One line of buf (its '\n' stripped): blank lines are no events. */
static bool take_line(share_run *s, char *line, size_t n) {
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
    size_t i = 0;
    while (i < n && (line[i] == ' ' || line[i] == '\t')) i++;
    if (i == n) return true;
    s->lines++;
    return add_line(s, line, n);
}

/* Events on stdin, one per line; an over-long line is skipped as invalid.
 * A batch waits for more events at most SHARE_LINGER_MS after its first: from a live
 * `inspect -i ... --json` pipe, events reach the hub within a second, not
 * once a whole batch has come (they waited for 500, and were lost when the
 * pipe's writer or a signal ended us). What was read is published on
 * SIGINT/SIGTERM before the end. */
static bool read_events(share_run *s) {
    size_t cap = XC_EVENT_MAX_BYTES + 2; /* the longest line taken, its '\n' included */
    char *buf = malloc(cap);
    if (!buf) return false;
    size_t start = 0, end = 0; /* unread input: buf[start, end) */
    bool ok = true, skipping = false, eof = false;
    while (ok) {
        char *nl = memchr(buf + start, '\n', end - start);
        if (!nl && !eof && !share_stop && end - start < cap) {
            memmove(buf, buf + start, end - start);
            end -= start;
            start = 0;
            int wait_ms = SHARE_LINGER_MS;
            if (s->n) {
                uint64_t age_ms = (fs_time_now_us() - s->batch_since_us) / 1000;
                if (age_ms >= SHARE_LINGER_MS) {
                    ok = batch_send(s);
                    continue;
                }
                wait_ms = SHARE_LINGER_MS - (int)age_ms;
            }
            struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
            if (poll(&pfd, 1, wait_ms) <= 0) continue; /* nothing yet, or a signal */
            ssize_t got = read(STDIN_FILENO, buf + end, cap - end);
            if (got < 0 && errno != EINTR && errno != EAGAIN) {
                fprintf(stderr, "fs38 share: reading stdin: %s\n", strerror(errno));
                eof = true;
            } else if (got == 0) {
                eof = true;
            } else if (got > 0) {
                end += (size_t)got;
            }
            continue;
        }
        size_t n = nl ? (size_t)(nl - (buf + start)) + 1 : end - start;
        if (n == 0) break; /* the end of input, or stopped */
        char *line = buf + start;
        start += n;
        if (skipping) {
            skipping = !nl;
            continue;
        }
        if (!nl && n == cap) {
            s->lines++;
            s->invalid++;
            fprintf(stderr, "fs38 share: stdin line %u: longer than %u bytes (an event is at most %u)\n",
                    s->lines, (unsigned)cap, XC_EVENT_MAX_BYTES);
            skipping = true;
            continue;
        }
        ok = take_line(s, line, n);
    }
    free(buf);
    return ok && batch_send(s);
}

static void print_summary(const share_run *s, bool complete) {
    FILE *o = s->dry_run ? stderr : stdout;
    fprintf(o, "fs38 share: %u events read, %u %s%s\n", s->lines, s->signed_n,
            s->dry_run ? "would be signed (dry run)" : "signed for hub ", s->dry_run ? "" : s->hub.host);
    if (!s->dry_run) {
        fprintf(o, "  stored %u, duplicate %u, rejected %u%s\n", s->stored, s->duplicate, s->rejected,
                complete ? "" : " (stopped early: connection error)");
        /* what the hub never answered for: the operator's to share again */
        unsigned answered = s->stored + s->duplicate + s->rejected;
        if (!complete && s->signed_n > answered)
            fprintf(o, "  not acknowledged %u (signed, the hub's answer never came): share them again\n",
                    s->signed_n - answered);
    }
    unsigned skipped = 0;
    for (int v = 1; v < CL_SKIP_INVALID; v++) skipped += s->skipped[v];
    if (skipped) {
        fprintf(o, "  not shared by policy:");
        for (int v = 1; v < CL_SKIP_INVALID; v++)
            if (s->skipped[v]) fprintf(o, " %s %u", cl_verdict_name((cl_verdict)v), s->skipped[v]);
        fprintf(o, "\n");
        if (s->skipped[CL_SKIP_EXPIRED])
            fprintf(o, "  (events from a capture expire ttl_s after their last_seen, in capture time: "
                       "--valid-for SEC shares them for SEC seconds from now)\n");
    }
    if (s->invalid) fprintf(o, "  invalid input lines %u\n", s->invalid);
    if (s->pseudonymised || s->dropped_ids)
        fprintf(o, "  victim identifiers: %u pseudonymised, %u dropped\n", s->pseudonymised, s->dropped_ids);
}

enum { O_HUB = 256, O_CERT, O_KEY, O_CA, O_TIMEOUT, O_SIGNING, O_TYPES, O_MINCONF, O_TLP, O_AUDIENCE,
       O_PSEUDO, O_VALID_FOR, O_BATCH, O_DRY };

int cmd_share(int argc, char **argv) {
    static const struct option longopts[] = {
        {"hub", required_argument, NULL, O_HUB}, {"cert", required_argument, NULL, O_CERT},
        {"key", required_argument, NULL, O_KEY}, {"ca", required_argument, NULL, O_CA},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"signing-key", required_argument, NULL, O_SIGNING},
        {"types", required_argument, NULL, O_TYPES},
        {"min-confidence", required_argument, NULL, O_MINCONF},
        {"tlp", required_argument, NULL, O_TLP}, {"audience", required_argument, NULL, O_AUDIENCE},
        {"pseudonymise", required_argument, NULL, O_PSEUDO},
        {"pseudonymize", required_argument, NULL, O_PSEUDO},
        {"valid-for", required_argument, NULL, O_VALID_FOR},
        {"batch", required_argument, NULL, O_BATCH}, {"dry-run", no_argument, NULL, O_DRY},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    static share_run s; /* large: off the stack */
    memset(&s, 0, sizeof s);
    s.batch_max = SHARE_BATCH_DEFAULT;
    const char *hub = NULL, *cert = NULL, *key = NULL, *ca = NULL, *signing = NULL, *pseudo = NULL;
    uint64_t timeout = 10, v;
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
        case O_PSEUDO: pseudo = optarg; break;
        case O_DRY: s.dry_run = true; break;
        case O_TIMEOUT:
            if (!fs_str_to_u64(fs_str_make(optarg, strlen(optarg)), 3600, &timeout) || !timeout) {
                fprintf(stderr, "fs38 share: --timeout '%s': expected 1-3600 seconds\n", optarg);
                goto out;
            }
            break;
        case O_TYPES:
            if (cl_policy_set_types(&s.policy, optarg, &e) != FS_OK) goto bad;
            break;
        case O_AUDIENCE:
            if (cl_policy_set_audience(&s.policy, optarg, &e) != FS_OK) goto bad;
            break;
        case O_MINCONF:
            if (!fs_str_to_u64(fs_str_make(optarg, strlen(optarg)), 100, &v)) {
                fprintf(stderr, "fs38 share: --min-confidence '%s': expected 0-100\n", optarg);
                goto out;
            }
            s.policy.min_confidence = (int)v;
            break;
        case O_TLP: { /* case-insensitive, as organisation.tlp; stored lowercase */
            char low[16] = "";
            for (size_t i = 0; optarg[i] && i + 1 < sizeof low; i++)
                low[i] = (char)tolower((unsigned char)optarg[i]);
            if (strlen(optarg) >= sizeof low || xc_enum_find(XC_ENUM_TLP, low) < 0) {
                fprintf(stderr, "fs38 share: --tlp '%s': expected clear, green, amber, amber+strict or red\n", optarg);
                goto out;
            }
            snprintf(s.policy.tlp, sizeof s.policy.tlp, "%s", low);
            break;
        }
        case O_VALID_FOR:
            if (!fs_str_to_u64(fs_str_make(optarg, strlen(optarg)), 366ULL * 86400, &v) || !v) {
                fprintf(stderr, "fs38 share: --valid-for '%s': expected 1-31622400 seconds\n", optarg);
                goto out;
            }
            s.policy.valid_for_s = (int64_t)v;
            break;
        case O_BATCH:
            if (!fs_str_to_u64(fs_str_make(optarg, strlen(optarg)), CL_PUBLISH_MAX, &v) || !v) {
                fprintf(stderr, "fs38 share: --batch '%s': expected 1-%d\n", optarg, CL_PUBLISH_MAX);
                goto out;
            }
            s.batch_max = (size_t)v;
            break;
        case 'h': fputs(usage_text, stdout); rc = cli_stdout_done("fs38 share"); goto out;
        default: fputs("(fs38 share --help explains every option)\n", stderr); goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "fs38 share: unexpected argument '%s' (events are read from stdin)\n", argv[optind]);
        goto out;
    }
    if (!signing) {
        fprintf(stderr, "fs38 share: --signing-key is required (make one with `fs38 keygen`)\n");
        goto out;
    }
    if (!s.dry_run && cl_hub_init(&s.hub, hub, cert, key, ca, &e) != FS_OK) goto bad;
    s.hub.timeout_ms = (int)timeout * 1000;
    if (xc_keypair_load(signing, &s.kp, &e) != FS_OK) goto bad;
    if (pseudo) {
        if (xc_pseudo_load(pseudo, &s.pseudo, &e) != FS_OK) goto bad;
        if (s.pseudo.n == 0) {
            fprintf(stderr, "fs38 share: --pseudonymise %s holds no key\n", pseudo);
            goto out;
        }
        s.policy.pseudo = &s.pseudo;
    }
    s.jws = calloc(s.batch_max, sizeof *s.jws);
    s.lens = calloc(s.batch_max, sizeof *s.lens);
    s.ids = calloc(s.batch_max, sizeof *s.ids);
    if (!s.jws || !s.lens || !s.ids) {
        fprintf(stderr, "fs38 share: out of memory\n");
        goto out;
    }
    /* a hub closing while a batch is being sent (one over its limits.max_body
     * answered 413 early) must be an error we report, not the end of us */
    signal(SIGPIPE, SIG_IGN);
    share_stop = 0;
    /* poll is never restarted; a second signal ends us at once (a hub that holds us) */
    struct sigaction sa = {.sa_handler = share_on_signal, .sa_flags = SA_RESTART | SA_RESETHAND};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    bool complete = read_events(&s);
    /* --dry-run's events go to stdout: lost ones (a full disk) are no preview;
     * a reader that left (| head) took what it wanted */
    int werr = s.dry_run && fflush(stdout) != 0 ? errno : 0;
    bool unwritten = s.dry_run && (werr ? werr != EPIPE : ferror(stdout) != 0);
    if (unwritten) fprintf(stderr, "fs38 share: writing to stdout: %s\n", werr ? strerror(werr) : "failed");
    print_summary(&s, complete);
    if (!complete || unwritten) rc = EXIT_USAGE;
    else rc = s.rejected || s.invalid ? EXIT_EVENTS : EXIT_DONE;
    goto out;
bad:
    fprintf(stderr, "fs38 share: %s\n", e.msg);
out:
    batch_clear(&s);
    free(s.jws);
    free(s.lens);
    free(s.ids);
    cl_policy_free(&s.policy);
    xc_keypair_wipe(&s.kp);
    xc_pseudo_wipe(&s.pseudo);
    return rc;
}

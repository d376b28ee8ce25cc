/*
 * cmd_inspect.c -- `fs38 inspect`: options, event output, the human summary
 * and the statistics JSON.
 *
 * Owns: turning command-line options into an insp_options + fs38_config,
 * writing events (NDJSON on stdout with --json, appended to --events FILE),
 * the messages behind them (--pcap-out FILE, through cap_png_out), loading
 * the TLS key log and ESP SAs, the progress line, the summary, --stats-json
 * and the exit code.
 * Must not touch: decoding or detection (libfs38 does that).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "core/fs_net.h"
#include "inspect/insp.h"
#include "inspect/insp_metrics.h"

#ifndef FS38_ETC_DIR
#define FS38_ETC_DIR "etc"
#endif

#define TOP_INCIDENTS 15
#define BPF_MAX_LEN 4096 /* ~220 "host A.B.C.D" terms compile in under a second */
#define TOP_TALKERS 5
#define METRICS_TEXT_MAX (256u * 1024u)

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig) { (void)sig; stop_flag = 1; }
/* SIGHUP: reopen --events FILE and --pcap-out FILE (logrotate moved them):
 * at the next live tick (on_tick) or before the next event or message
 * written, whichever comes first */
static volatile sig_atomic_t reopen_flag;
static void on_hangup(int sig) { (void)sig; reopen_flag = 1; }
/* SIGUSR1: write --stats-json FILE now (live and HEP: at the next tick) */
static volatile sig_atomic_t snapshot_flag;
static void on_usr1(int sig) { (void)sig; snapshot_flag = 1; }

/* One incident line of the summary. */
typedef struct incident_row {
    det_severity severity;
    det_rule_id rule;
    char source[128];
    uint64_t count;
    double window_s;
    char detail[160]; /* cut to the terminal's width when printed */
} incident_row;

/* Where events go: stdout (--json) or --events FILE. Each event is one
 * write(2) of its whole line; a line cut short (a full disk) is taken back, so
 * the output holds whole events only, and what was written is counted. */
typedef struct event_out {
    const char *name;   /* for messages: "stdout" or the --events path */
    int fd;             /* -1: not in use */
    uint64_t written;   /* lines now in the output */
    uint64_t lost;      /* lines that could not be written */
    int first_error;    /* errno of the first line lost (or WRITE_STALLED) */
    bool reader_gone;   /* stdout: the reader of the pipe left (EPIPE) */
    bool cut;           /* a line cut short is there: the next one starts with \n */
    bool stalled;       /* its reader took nothing while the run ended (write_all): the rest is lost */
} event_out;

/* capture.tls_versions' keys, SSL 3.0 to TLS 1.3 (cap_stats.tls_versions). */
static const char *const tls_version_keys[CAP_TLS_VERSIONS] = {"ssl3_0", "tls1_0", "tls1_1", "tls1_2", "tls1_3"};

/* --hep [udp:|tcp:|tls:]ADDR:PORT bound to loopback, where only this host's senders reach. */
static bool loopback_listen(const char *spec) {
    const char *addr;
    cap_hep_spec(spec, &addr);
    return !strncmp(addr, "127.", 4) || !strncmp(addr, "[::1]:", 6) || !strncmp(addr, "localhost:", 10);
}

/* " (UDP and TCP)", " (TLS)" ...: what a --hep spec listens on (cap_hep_spec). */
static const char *hep_transports_name(unsigned t) {
    if (t & CAP_HEP_TLS) return " (TLS)";
    if ((t & CAP_HEP_UDP) && (t & CAP_HEP_TCP)) return " (UDP and TCP)";
    return t & CAP_HEP_UDP ? " (UDP)" : " (TCP)";
}

/* --pcap-out FILE: the messages behind reported incidents (evidence). */
typedef struct pcap_out {
    const char *path;
    FILE *f;
    cap_png_out *w;
    uint32_t per_incident; /* --pcap-limit */
    uint64_t written;      /* messages written, once closed */
    uint64_t earlier;      /* of them, from before their incident's threshold (--pcap-lookback) */
    uint64_t rotated;      /* messages written to files SIGHUP rotated away */
    uint64_t lost;         /* messages that could not be written */
    char first_error[sizeof(((fs_err *)0)->msg)]; /* why the first was lost */
} pcap_out;

typedef struct inspect_run {
    /* options */
    bool json, quiet, progress, live;
    bool keylog; /* a TLS key log was given */
    bool esp_sa; /* ESP security associations were given */
    const char *events_path, *stats_path, *config_path;
    int fail_on; /* -1: never */
    bool stopped_for_reader; /* the run ended as stdout's reader left (reader_left), not by a signal */
    /* outputs */
    event_out out_stdout, out_file; /* --json, --events */
    pcap_out pcap;                  /* --pcap-out */
    FILE *stats_file; /* opened before the run: a bad path fails before any work */
    bool stats_replace; /* live/HEP and a regular file: each write replaces it whole (replace_json_file) */
    mode_t stats_mode;  /* the permissions the file was created with, kept by each rewrite */
    uint64_t stats_interval_us; /* --stats-interval (0: only at the end and on SIGUSR1) */
    uint64_t stats_last_us;     /* when it was last written */
    bool snapshot_warned;       /* a failed one was said on stderr */
    insp *in;                   /* the run's pipeline (on_tick reads its figures) */
    uint64_t t0_us;             /* when the run began */
    uint64_t deadline_us;       /* live: when --duration ends it (fs_time_mono_us; 0: none) */
    uint32_t live_buffer_mb;    /* -i: capture.live_buffer_mb (announce_live) */
    insp_metrics *metrics;      /* --metrics: the Prometheus endpoint, fed at each tick */
    /* --indicators in a live run: the cache is read again when it changes
     * (`fs38 pull --follow` rewrites it) */
    struct {
        const char *path;
        det_indicators *cur;      /* the set the workers use (or are switching to) */
        det_indicators *retired;  /* the one before, freed once every worker left it */
        struct stat seen;         /* the file as last read */
        uint64_t next_check_us;
        uint64_t reloads;
        bool warned;              /* a load that failed for a passing reason was said */
        /* the load of a changed file, on a thread of its own: a large cache
         * takes seconds to read, and the reading thread must go on reading */
        struct {
            pthread_t thread;
            bool running;         /* started and not yet joined */
            atomic_bool done;
            int64_t now_ms;
            struct stat st;       /* the file when the load began */
            det_indicators *result;
            fs_err err;
        } load;
    } ind;
    char *metrics_text;         /* its exposition text, METRICS_TEXT_MAX */
    const char *sa_out_path; /* --esp-sa-out */
    FILE *sa_out;     /* opened before the run too, written at its end */
    /* tallies of final events */
    uint64_t events;
    uint64_t by_severity[5];
    uint64_t by_rule[R__COUNT];
    uint64_t opened_by_rule[R__COUNT]; /* live: incidents reported so far (their first report, version 1) */
    int max_severity;
    incident_row top[TOP_INCIDENTS];
    int ntop;
    /* progress */
    const char *current;
    uint64_t last_progress_us;
    atomic_bool progress_shown; /* a progress line is on stderr, not ended by a newline */
    bool stdout_tty;            /* --json's events go to a terminal: the progress line's too, perhaps */
} inspect_run;

static const char usage_text[] =
    "usage: fs38 inspect [options] FILE...\n"
    "       fs38 inspect -i IFACE [options]\n"
    "       fs38 inspect --hep ADDR:PORT [options]\n"
    "       fs38 inspect --raw [options] MSGFILE...\n"
    "\n"
    "Reads SIP traffic, parses every message, and raises one event per incident\n"
    "(scanning, enumeration, brute force, floods, malformed messages, trust\n"
    "boundary violations, CLI spoofing, topology leaks, IRSF, Wangiri ...).\n"
    "Events follow the fs38 event format 1.0 (docs/events.md); rules are listed\n"
    "by `fs38 rules` and documented in docs/rules.md.\n"
    "\n"
    "Input (one kind per run):\n"
    "  FILE...                pcap or pcapng files, '-' for stdin (Ethernet, VLAN,\n"
    "                         Linux SLL/SLL2, raw IP, loopback, PPP, Cisco HDLC,\n"
    "                         NFLOG, several in one pcapng file too; UDP, TCP,\n"
    "                         WebSocket, SCTP, HEP, TLS (--tls-keylog); inside\n"
    "                         MPLS, PPPoE, GRE, ERSPAN, IP in IP, VXLAN, Geneve,\n"
    "                         GTP-U, L2TP, ESP: NULL-encrypted as on VoLTE's Gm, or\n"
    "                         with its keys, --esp-sa), gzip-compressed or not\n"
    "  -i, --interface IFACE  capture live from IFACE (needs root or CAP_NET_RAW);\n"
    "                         nflog:GROUP reads what a firewall rule logs to GROUP\n"
    "      --bpf EXPR         only frames matching this filter (tcpdump syntax, at\n"
    "                         most 4096 characters), for files and -i (-i default:\n"
    "                         udp or tcp, VLAN and tunnels too)\n"
    "      --hep ADDR:PORT    receive HEP over UDP and TCP on that port, e.g. from\n"
    "                         Kamailio siptrace, OpenSIPS proto_hep or heplify\n"
    "                         (127.0.0.1:9060); udp:ADDR:PORT or tcp:ADDR:PORT for\n"
    "                         one of them; tls:ADDR:PORT for TLS (capture.hep_tls_*\n"
    "                         in --config). HEP v3; v1 and v2 over UDP\n"
    "      --raw              each FILE holds one SIP message, inspected as a UDP\n"
    "                         datagram (handy for RFC 4475 torture messages); it\n"
    "                         has no addresses, so events name 0.0.0.0:0\n"
    "\n"
    "Configuration:\n"
    "      --indicators FILE  also raise INTEL-001 when traffic matches an indicator\n"
    "                         partners shared (the cache `fs38 pull --out` keeps);\n"
    "                         live and HEP runs read it again when it changes\n"
    "  -c, --config FILE      YAML config: zones, home numbers, thresholds, rule\n"
    "                         switches (docs/configuration.md). Default:\n"
    "                         $FS38_CONFIG, else " FS38_ETC_DIR "/fs38.yaml\n"
    "                         if present, else built-in defaults\n"
    "      --workers N        N decode+detect threads, traffic sharded by client\n"
    "                         address (default 1; 1-16)\n"
    "      --tls-keylog FILE  read SIP over TLS (and secure WebSocket) with the\n"
    "                         session keys in FILE, the NSS key log SSLKEYLOGFILE\n"
    "                         makes OpenSSL, NSS, curl and Python write (TLS 1.2\n"
    "                         and 1.3: AES-GCM, ChaCha20, AES-CBC); with -i, read\n"
    "                         on as it grows. Without it TLS connections are\n"
    "                         counted, not read (their hellos and certificates are\n"
    "                         still judged: SIP-INFO-004, SIP-INFO-006)\n"
    "      --esp-sa FILE      read encrypted ESP (VoLTE's Gm, VoWiFi's SWu) with the\n"
    "                         security associations in FILE: Wireshark's esp_sa\n"
    "                         table, or what `ip xfrm state` prints (AES-CBC,\n"
    "                         3DES-CBC, AES-CTR, AES-GCM; HMAC checked). Without it\n"
    "                         NULL-encrypted ESP is read, and Gm's ESP whose keys\n"
    "                         the capture's IMS AKA registration holds (the S-CSCF's\n"
    "                         401 with ck and ik: config capture.ims_aka_keys)\n"
    "      --seed HEX         hash seed of the state tables, to repeat a run exactly:\n"
    "                         --stats-json records the seed each run used. Default:\n"
    "                         random, so traffic cannot be aimed at one table bucket\n"
    "\n"
    "Output (an output FILE '-' is stdout, kept apart from the summary):\n"
    "      --json             only NDJSON events on stdout, one per line (for a\n"
    "                         SIEM); the summary is not printed\n"
    "      --events FILE      append NDJSON events to FILE as they are raised;\n"
    "                         SIGHUP reopens it (after logrotate moved it)\n"
    "      --stats-json FILE  write message/capture/memory statistics as JSON at the\n"
    "                         end; live and HEP runs also on SIGUSR1 and every\n"
    "                         --stats-interval, replacing FILE whole (\"final\":\n"
    "                         false until the end), for a monitoring agent\n"
    "      --stats-interval SEC\n"
    "                         with --stats-json, live and HEP: rewrite FILE every\n"
    "                         SEC seconds (1-86400; default 0: only at the end)\n"
    "      --metrics ADDR:PORT  live and HEP: serve Prometheus metrics (the figures\n"
    "                         of --stats-json, twice a second) on GET /metrics,\n"
    "                         e.g. 127.0.0.1:9438 (no authentication: a\n"
    "                         management address only)\n"
    "      --pcap-out FILE    write the SIP messages behind the incidents reported\n"
    "                         to FILE (pcapng, for Wireshark or sngrep): each one\n"
    "                         a frame with its addresses, ports and time, and\n"
    "                         comments naming the rule and event_id (Wireshark:\n"
    "                         frame.comment contains \"SIP-FLOOD-001\"); TLS is\n"
    "                         written decrypted. Each incident's messages, from the\n"
    "                         first its window counted (\"(before threshold)\"\n"
    "                         until it crossed, see --pcap-lookback); the fraud\n"
    "                         rules add the rest of each call that counted\n"
    "                         (\"(call)\"). SIGHUP starts a new FILE (after\n"
    "                         logrotate moved it)\n"
    "      --pcap-limit N     at most N messages per incident in --pcap-out\n"
    "                         (default 100; 0: all)\n"
    "      --pcap-lookback MB each worker keeps the last MB of messages (default\n"
    "                         4; 0: none) so that --pcap-out has the messages an\n"
    "                         incident's window counted before its threshold\n"
    "      --esp-sa-out FILE  write the ESP SAs learned from IMS AKA registrations\n"
    "                         (capture.ims_aka_keys) to FILE, made readable by its\n"
    "                         owner only, in Wireshark's esp_sa format: open the\n"
    "                         capture decrypted there too (or give it to --esp-sa)\n"
    "  -q, --quiet            no summary\n"
    "      --no-progress      no progress line (shown on a terminal for files)\n"
    "      --fail-on SEV      exit 1 if an event of severity SEV or above was raised\n"
    "                         (info, low, medium, high, critical)\n"
    "\n"
    "Limits (0, the default: none):\n"
    "      --duration SEC     live and HEP: stop after SEC seconds of wall time\n"
    "      --count N          stop after N packets (files too: the first N frames)\n"
    "  -h, --help             this text\n"
    "\n"
    "Live capture and HEP report an incident when it opens (version 1), again\n"
    "while it goes on, each time half its ttl_s passed since the last report, and\n"
    "when it closes with more activity (each time the next version, the same\n"
    "event_id). Files report each incident once, when it closes. Times are\n"
    "capture times.\n"
    "\n"
    "Exit codes: 0 done, 1 events at or above --fail-on, 2 usage, input or output\n"
    "error: a FILE that cannot be read gives 2 after the others are inspected; a\n"
    "file that breaks midway is inspected up to the break, with a warning, and\n"
    "does not; SIGINT/SIGTERM end a live run (0/1) but cut files short (2); events\n"
    "that could not be written (a full disk) are counted on stderr and give 2.\n"
    "\n"
    "Examples:\n"
    "  fs38 inspect capture.pcapng\n"
    "  fs38 inspect --json a.pcap b.pcap > events.ndjson\n"
    "  fs38 inspect -i eth0 --events events.ndjson --config site.yaml\n"
    "  fs38 inspect --hep 127.0.0.1:9060 --duration 60 --fail-on high\n";

/* ---- events ------------------------------------------------------------------- */

static const char *event_source(const ev_event *ev) {
    for (unsigned i = 0; i < ev->nobs; i++)
        if (!strcmp(ev->obs[i].role, "source")) return ev->obs[i].value;
    for (unsigned i = 0; i < ev->nobs; i++)
        if (!strcmp(ev->obs[i].role, "caller")) return ev->obs[i].value;
    return ev->nobs ? ev->obs[0].value : "-";
}

/* "to 192.0.2.10" for incidents keyed by what was attacked rather than who attacked. */
static void event_key(const ev_event *ev, char *out, size_t n) {
    for (unsigned i = 0; i < ev->nobs; i++)
        if (!strcmp(ev->obs[i].role, "source") || !strcmp(ev->obs[i].role, "caller")) {
            snprintf(out, n, "%s", event_source(ev));
            return;
        }
    snprintf(out, n, "%s%s", ev->nobs ? "to " : "", event_source(ev));
}

/* Context a line can do without when short of room: printed last. */
static bool context_detail(const char *key) {
    return !strcmp(key, "zone") || !strcmp(key, "trust") || !strcmp(key, "toward_zone") ||
           !strcmp(key, "range_label");
}

/* A text value as logfmt, made safe for a terminal (it comes from the
 * packet): quoted when it holds a space or a quote, with \" and \\ inside. */
static void logfmt_value(const char *v, char *out, size_t n) {
    char safe[sizeof ((ev_detail *)0)->s];
    fs_text_printable(safe, sizeof safe, v);
    if (!safe[0] || strpbrk(safe, " \"\\=") == NULL) {
        snprintf(out, n, "%s", safe[0] ? safe : "\"\"");
        return;
    }
    size_t o = 0;
    if (n < 3) { /* no room for the quotes */
        if (n) out[0] = '\0';
        return;
    }
    out[o++] = '"';
    for (const char *p = safe; *p && o + 3 < n; p++) {
        if (*p == '"' || *p == '\\') out[o++] = '\\';
        out[o++] = *p;
    }
    out[o++] = '"';
    out[o] = '\0';
}

/* The figures of an event as logfmt, the most telling first. */
static void event_detail(const ev_event *ev, char *out, size_t n) {
    size_t len = 0;
    out[0] = '\0';
    for (int pass = 0; pass < 2; pass++)
        for (unsigned i = 0; i < ev->ndetails && len + 8 < n; i++) {
            const ev_detail *d = &ev->details[i];
            if (context_detail(d->key) != (pass == 1)) continue;
            int w;
            if (d->kind == EV_D_STR) {
                char v[2 * sizeof d->s + 3];
                logfmt_value(d->s, v, sizeof v);
                w = snprintf(out + len, n - len, "%s%s=%s", len ? " " : "", d->key, v);
            } else if (d->kind == EV_D_INT)
                w = snprintf(out + len, n - len, "%s%s=%lld", len ? " " : "", d->key, (long long)d->i);
            else
                w = snprintf(out + len, n - len, d->r >= 100 || d->r <= -100 ? "%s%s=%.0f" : "%s%s=%.2f",
                             len ? " " : "", d->key, d->r);
            if (w < 0 || (size_t)w >= n - len) { /* cut at the last whole field */
                out[len] = '\0';
                return;
            }
            len += (size_t)w;
        }
}

/* Ties between incidents broken by source, rule and figures, so that the
 * same incidents always print the same way (with --workers they arrive in
 * any order). */
static int incident_tie(const incident_row *x, const incident_row *y) {
    int c = strcmp(x->source, y->source);
    if (c) return c;
    if (x->rule != y->rule) return strcmp(det_rule_table[x->rule].id, det_rule_table[y->rule].id);
    return strcmp(x->detail, y->detail);
}

/* Which incidents the summary keeps: the most severe, then the largest. */
static int incident_rank(const incident_row *x, const incident_row *y) {
    if (x->severity != y->severity) return x->severity > y->severity ? -1 : 1;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return incident_tie(x, y);
}

/* How it lists them: by severity, then event type, then largest first. */
static int incident_order(const incident_row *x, const incident_row *y) {
    if (x->severity != y->severity) return x->severity > y->severity ? -1 : 1;
    det_event_type tx = det_rule_table[x->rule].event_type, ty = det_rule_table[y->rule].event_type;
    if (tx != ty) return strcmp(det_event_type_name(tx), det_event_type_name(ty));
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return incident_tie(x, y);
}

/* Keep the TOP_INCIDENTS first incidents in incident_rank order. */
static void remember_incident(inspect_run *r, const ev_event *ev) {
    incident_row row = {.severity = ev->severity, .rule = ev->rule, .count = ev->count,
                        .window_s = ev->window_s};
    char key[sizeof row.source];
    event_key(ev, key, sizeof key);
    fs_text_printable(row.source, sizeof row.source, key); /* a URI or user agent from the packet */
    event_detail(ev, row.detail, sizeof row.detail);
    int pos = r->ntop;
    while (pos > 0 && incident_rank(&r->top[pos - 1], &row) > 0) pos--;
    if (pos >= TOP_INCIDENTS) return;
    int last = r->ntop < TOP_INCIDENTS ? r->ntop : TOP_INCIDENTS - 1;
    memmove(&r->top[pos + 1], &r->top[pos], (size_t)(last - pos) * sizeof row);
    r->top[pos] = row;
    if (r->ntop < TOP_INCIDENTS) r->ntop++;
}

static int open_events_file(const char *path) {
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
}

/* The --events file fd (opened by path) ends inside a line: an earlier run
 * killed mid-write, or another writer's line. The first event then starts a
 * line of its own instead of being glued to it, as after a cut line that
 * could not be taken back. */
static bool events_file_cut(const char *path, int fd) {
    struct stat st, rs;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) return false;
    int rfd = open(path, O_RDONLY | O_CLOEXEC);
    if (rfd < 0) return false;
    char last = '\n';
    bool same = fstat(rfd, &rs) == 0 && rs.st_dev == st.st_dev && rs.st_ino == st.st_ino;
    if (same && pread(rfd, &last, 1, rs.st_size - 1) != 1) last = '\n';
    close(rfd);
    return last != '\n';
}

/* An output FILE (--events, --stats-json, --pcap-out, --esp-sa-out) that is
 * also an input would be written over (--pcap-out evidence.pcapng
 * evidence.pcapng emptied the capture before it was read). false: said on
 * stderr. */
static bool not_an_input(const char *opt, const char *path, char *const *inputs, int ninputs) {
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return true; /* a new file, /dev/null, a pipe */
    for (int i = 0; i < ninputs; i++) {
        struct stat in;
        /* '-': the file stdin was redirected from (--pcap-out x.pcap - <x.pcap
         * emptied it, and the run read the new header: 0 frames, exit 0) */
        int got = strcmp(inputs[i], "-") != 0 ? stat(inputs[i], &in) : fstat(STDIN_FILENO, &in);
        if (got == 0 && in.st_dev == st.st_dev && in.st_ino == st.st_ino) {
            fprintf(stderr, "fs38 inspect: %s %s: that file is an input: fs38 does not write to its inputs\n", opt, path);
            return false;
        }
    }
    return true;
}

/* --stats-json, --pcap-out and --esp-sa-out replace their FILE: one that is
 * where the events go (--events FILE, or stdout with --json) would lose the
 * events appended there before, and be written over the new ones, with
 * nothing said and exit 0 (a typo: --events out.json --stats-json out.json).
 * Nor may two of them, or --events and stdout, share a file: each writes at
 * its own offset over the other's bytes (--pcap-out x --stats-json x left
 * neither a capture nor JSON; --events x >x, the summary over the events).
 * Nor a pipe or socket (FILE /dev/stdout, or a FIFO): there the two are
 * mixed (--pcap-out /dev/stdout | tshark -r -: the summary after the
 * capture, "damaged or corrupt"; --json --events /dev/stdout: each event
 * twice). Checked against the outputs opened so far; false: said on stderr. */
static bool apart_from_outputs(const inspect_run *r, const char *opt, const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return true; /* a new file */
    bool stream = S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode);
    if (!S_ISREG(st.st_mode) && !stream) return true; /* /dev/null, a terminal */
    const struct {
        int fd;
        const char *what;
    } outs[] = {
        {r->out_file.fd, "the events go to that file (--events)"},
        {r->out_stdout.fd, "the events go to that file (--json's stdout)"},
        {!r->json && !r->quiet ? STDOUT_FILENO : -1, "the summary goes to that file (stdout)"},
        {r->pcap.f ? fileno(r->pcap.f) : -1, "--pcap-out writes that file"},
        {r->sa_out ? fileno(r->sa_out) : -1, "--esp-sa-out writes that file"},
    };
    for (size_t i = 0; i < sizeof outs / sizeof *outs; i++) {
        struct stat o;
        if (outs[i].fd >= 0 && fstat(outs[i].fd, &o) == 0 && o.st_dev == st.st_dev && o.st_ino == st.st_ino) {
            fprintf(stderr, "fs38 inspect: %s %s: %s: %s\n", opt, path, outs[i].what,
                    stream ? "the two would be mixed" : "it would be written over");
            return false;
        }
    }
    return true;
}

/* After SIGHUP: --events FILE is opened again by name, so the events after a
 * rotation go to the new file. The old one stays in use if that fails. */
static void reopen_events_file(inspect_run *r) {
    int fd = open_events_file(r->events_path);
    if (fd < 0) {
        fprintf(stderr, "fs38 inspect: SIGHUP: cannot reopen --events %s (%s): still writing to the old file\n",
                r->events_path, strerror(errno));
        return;
    }
    close(r->out_file.fd);
    r->out_file.fd = fd;
    /* a new file has no cut line; the same one (SIGHUP without a rotation) may */
    r->out_file.cut = events_file_cut(r->events_path, fd);
}

/* The reader of stdout left (`fs38 inspect --json big.pcap | head -1`): not
 * an error. When nothing else wants the run (no --events, --stats-json,
 * --pcap-out, --esp-sa-out or --fail-on) it ends here, as the reader asked;
 * else it goes on for them (--pcap-out held the messages of the first
 * incidents only, exit 0). */
static void reader_left(inspect_run *r) {
    r->out_stdout.reader_gone = true;
    if (!r->events_path && !r->stats_path && !r->pcap.path && !r->sa_out_path && r->fail_on < 0) {
        r->stopped_for_reader = true;
        stop_flag = 1;
    }
}

/* Take back the first done bytes of a line that could not be finished, so
 * that the next line (of this run or the next one appending) is not glued
 * to it. Only a regular file whose end is still that line's: another
 * process appending after it, or a copytruncate rotation, must not lose
 * its bytes (nor get a file extended with zeros). False: the cut bytes stay. */
static bool take_back(int fd, size_t done) {
    struct stat st;
    off_t end = lseek(fd, 0, SEEK_CUR);
    return end >= (off_t)done && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == end &&
           ftruncate(fd, end - (off_t)done) == 0;
}

/* The run is ending: SIGINT/SIGTERM (or the reader of stdout left), or
 * --duration is up. */
static bool run_ending(const inspect_run *r) {
    return stop_flag || (r->deadline_us && fs_time_mono_us() >= r->deadline_us);
}

/* How long an output that is not a file (a pipe, a socket, a terminal)
 * may hold the end of a run while its reader takes nothing. */
#define STALL_GIVE_UP_US (2 * FS_USEC)
#define WRITE_STALLED (-1) /* write_all: the reader took nothing for STALL_GIVE_UP_US as the run ended */

/* write(2) all len bytes: a signal (EINTR) or a full pipe made non-blocking
 * by another program sharing it (EAGAIN) only delays them. 0, or the errno
 * that stopped it with *done bytes written. To a pipe, a socket or a
 * terminal, whose reader may stop reading (`| less` left open, a stalled
 * ssh): a blocking write would wait for it, and a SIGTERM (delivered to any
 * thread, and EINTR only restarts the wait) or --duration could not end the
 * run. So bytes go out as the descriptor can take them (at most PIPE_BUF at
 * a time once poll says it can: a write that does not block), and once
 * the run is ending a reader that takes nothing for STALL_GIVE_UP_US gives
 * WRITE_STALLED. */
static int write_all(const inspect_run *r, int fd, const char *buf, size_t len, size_t *done) {
    *done = 0;
    struct stat st;
    bool may_stall = fstat(fd, &st) == 0 && !S_ISREG(st.st_mode);
    uint64_t stalled_since = 0;
    while (*done < len) {
        size_t chunk = len - *done;
        if (may_stall) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int k = poll(&p, 1, 100);
            if (k < 0 && errno != EINTR) return errno;
            if (k <= 0) { /* nothing taken within 100 ms (or a signal) */
                if (!run_ending(r)) continue;
                uint64_t now = fs_time_mono_us();
                if (!stalled_since) stalled_since = now;
                else if (now - stalled_since >= STALL_GIVE_UP_US) return WRITE_STALLED;
                continue;
            }
            stalled_since = 0; /* POLLERR and POLLHUP too: the write says why */
            if (chunk > PIPE_BUF) chunk = PIPE_BUF;
        }
        ssize_t n = write(fd, buf + *done, chunk);
        if (n > 0) {
            *done += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            if (!may_stall && poll(&p, 1, -1) < 0 && errno != EINTR) return errno; /* may_stall: polled above */
        } else if (n < 0 && errno != EINTR) {
            return errno;
        } else if (n == 0) {
            return EIO;
        }
    }
    return 0;
}

static void progress_clear(inspect_run *r);

/* Why events were lost: the errno, or a reader that stopped reading. */
static const char *out_error(const event_out *out) {
    return out->first_error == WRITE_STALLED ? "its reader took nothing for 2 s as the run ended"
                                             : strerror(out->first_error);
}

static void write_event_line(inspect_run *r, event_out *out, const char *line, size_t len) {
    if (out->fd < 0 || out->reader_gone) return;
    if (out->stalled) { /* waited for already: the end of the run is not held again per line */
        out->lost++;
        return;
    }
    size_t done = 0;
    /* a line cut short that could not be taken back is ended first, so
     * that this one is whole on a line of its own */
    int err = out->cut ? write_all(r, out->fd, "\n", 1, &done) : 0;
    if (!err) {
        out->cut = false;
        err = write_all(r, out->fd, line, len, &done);
    }
    if (!err) {
        out->written++;
        return;
    }
    if (done && !take_back(out->fd, done)) out->cut = true;
    if (err == EPIPE && out == &r->out_stdout) {
        reader_left(r);
        return;
    }
    if (err == WRITE_STALLED) out->stalled = true;
    if (!out->lost++) { /* at once: a live run may go on for days */
        out->first_error = err;
        progress_clear(r);
        fprintf(stderr, "fs38 inspect: writing events to %s: %s: events are being lost (%llu written)\n",
                out->name, out_error(out), (unsigned long long)out->written);
    }
}

/* At the end of the run: false (and said on stderr) when events were lost. */
static bool report_losses(const event_out *out) {
    if (!out->lost) return true;
    fprintf(stderr, "fs38 inspect: writing events to %s: %llu of %llu written, %llu lost (%s)\n", out->name,
            (unsigned long long)out->written, (unsigned long long)(out->written + out->lost),
            (unsigned long long)out->lost, out_error(out));
    return false;
}

static void reopen_outputs(inspect_run *r);
static void indicators_due(inspect_run *r, uint64_t now);
static bool stats_snapshot_due(inspect_run *r, uint64_t now);
static bool write_stats(inspect_run *r, const insp_stats *s, double secs, bool final);
static void publish_metrics(inspect_run *r, const insp_stats *s, double secs);
static bool start_metrics(inspect_run *r, insp *in, const char *listen);
static void stop_metrics(inspect_run *r);

/* Live: has the reader of stdout (--json to a pipe or a socket) left? A
 * write would say so (EPIPE), but a quiet sensor may have no event to
 * write for hours, and `fs38 inspect -i eth0 --json | head -1` went on
 * capturing after head left until a next event came. */
static bool stdout_reader_gone(const event_out *out) {
    struct stat st;
    if (out->fd < 0 || out->reader_gone || fstat(out->fd, &st) != 0 || !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
        return false;
    struct pollfd p = {.fd = out->fd, .events = 0}; /* a pipe with no reader: POLLERR; a closed socket: POLLHUP */
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP));
}

/* Live: a SIGHUP reopens --events FILE within half a second even when no
 * event comes (a quiet sensor held the rotated file until its next one). */
static void on_tick(void *user) {
    inspect_run *r = user;
    if (reopen_flag) reopen_outputs(r);
    if (stdout_reader_gone(&r->out_stdout)) reader_left(r);
    if (r->pcap.f) fflush(r->pcap.f); /* readable as it grows (a write error is seen by the next frame) */
    uint64_t now = fs_time_mono_us(); /* intervals: a wall clock stepped back would stall them */
    indicators_due(r, now);
    bool snapshot = stats_snapshot_due(r, now);
    if (!r->in || (!snapshot && !r->metrics)) return;
    insp_stats st;
    insp_get_stats(r->in, &st);
    double secs = (double)(now - r->t0_us) / 1e6;
    if (snapshot) write_stats(r, &st, secs, false);
    if (r->metrics) publish_metrics(r, &st, secs);
}

static void on_event(void *user, const ev_event *ev, bool final) {
    inspect_run *r = user;
    char buf[16384];
    /* a live close that repeats the open report: counted below, not written;
     * nothing to write to: not serialised (a flood of incidents costs less) */
    bool to_stdout = r->out_stdout.fd >= 0 && !r->out_stdout.reader_gone;
    bool wanted = (to_stdout || r->out_file.fd >= 0) && !(final && ev->unchanged);
    size_t len = wanted ? ev_to_json(ev, buf, sizeof buf) : 0;
    if (len) {
        if (to_stdout && r->stdout_tty) progress_clear(r); /* else the event ran on after its figures */
        write_event_line(r, &r->out_stdout, buf, len);
        if (r->out_file.fd >= 0) {
            if (reopen_flag) reopen_outputs(r);
            write_event_line(r, &r->out_file, buf, len);
        }
    }
    /* Tally each incident once: at its final report (live mode reports opens
     * too: counted apart, for --metrics, which cannot wait for the close;
     * a long incident's refresh, version 2 on, is no new one). */
    if (!final) {
        if ((int)ev->severity > r->max_severity) r->max_severity = (int)ev->severity;
        if (ev->version == 1) r->opened_by_rule[ev->rule]++;
        return;
    }
    /* live: an incident first reported at its close (version 1, not a
     * repeat: evicted from a full table, or closed before the tick that
     * reports opens) was never counted open; --metrics counts it now */
    if (r->live && ev->version == 1 && !ev->unchanged) r->opened_by_rule[ev->rule]++;
    r->events++;
    r->by_severity[ev->severity]++;
    r->by_rule[ev->rule]++;
    if ((int)ev->severity > r->max_severity) r->max_severity = (int)ev->severity;
    remember_incident(r, ev);
}

/* A message behind reported incidents (--pcap-out): one frame whose
 * comments name each incident as "RULE-ID EVENT_TYPE event EVENT_ID",
 * followed by " (call)" for a message of a call that counted (an answer,
 * an ACK, a BYE) rather than one counted itself. */
static void on_evidence(void *user, const cap_payload *p, const det_evidence_ref *refs, unsigned n) {
    inspect_run *r = user;
    char text[DET_EVIDENCE_REFS][128];
    const char *comments[DET_EVIDENCE_REFS];
    if (n > DET_EVIDENCE_REFS) n = DET_EVIDENCE_REFS;
    for (unsigned i = 0; i < n; i++) {
        const det_rule_info *info = &det_rule_table[refs[i].rule];
        snprintf(text[i], sizeof text[i], "fs38: %s %s event %s%s", info->id,
                 det_event_type_name(info->event_type), refs[i].event_id,
                 refs[i].earlier ? (refs[i].in_call ? " (call before threshold)" : " (before threshold)")
                 : refs[i].in_call ? " (call)" : "");
        comments[i] = text[i];
    }
    if (reopen_flag) reopen_outputs(r);
    fs_err e = {0};
    if (cap_png_out_message(r->pcap.w, p, comments, n, &e)) {
        if (n && refs[0].earlier) r->pcap.earlier++;
        return;
    }
    if (!r->pcap.lost++) { /* at once: a live run may go on for days */
        snprintf(r->pcap.first_error, sizeof r->pcap.first_error, "%s", e.msg);
        progress_clear(r);
        fprintf(stderr, "fs38 inspect: --pcap-out %s: %s: messages are being lost (%llu written)\n",
                r->pcap.path, e.msg, (unsigned long long)cap_png_out_frames(r->pcap.w));
    }
}

/* Opens --pcap-out FILE (replacing it) with its header into *f and *w;
 * what for says when it fails ("" or "SIGHUP: "). */
static bool pcap_out_create(const char *path, FILE **f, cap_png_out **w, const char *what) {
    if (!(*f = fopen(path, "wb"))) {
        fprintf(stderr, "fs38 inspect: %s--pcap-out %s: %s\n", what, path, strerror(errno));
        return false;
    }
    fs_err e = {0};
    if (!(*w = cap_png_out_new(*f, "fs38 " FS38_VERSION " inspect --pcap-out", &e))) {
        fprintf(stderr, "fs38 inspect: %s--pcap-out %s: %s\n", what, path, e.msg);
        fclose(*f);
        *f = NULL;
        return false;
    }
    return true;
}

static bool open_pcap_out(pcap_out *o) { return pcap_out_create(o->path, &o->f, &o->w, ""); }

/* After SIGHUP: a new --pcap-out FILE by that name; the old one (moved away
 * by logrotate) is completed and closed. The old one stays in use if the new
 * one cannot be made, and when FILE still names it: nothing rotated it (a
 * SIGHUP for the events file alone, `systemctl reload`), and making FILE
 * anew would empty it, the messages written so far lost. */
static void reopen_pcap_out(pcap_out *o) {
    FILE *f;
    cap_png_out *w;
    struct stat now, open_one;
    if (stat(o->path, &now) == 0 && fstat(fileno(o->f), &open_one) == 0 && now.st_dev == open_one.st_dev &&
        now.st_ino == open_one.st_ino)
        return;
    if (!pcap_out_create(o->path, &f, &w, "SIGHUP: ")) {
        fprintf(stderr, "fs38 inspect: still writing to the old --pcap-out file\n");
        return;
    }
    uint64_t frames = cap_png_out_frames(o->w);
    if (fclose(o->f) != 0) {
        int err = errno;
        fprintf(stderr, "fs38 inspect: --pcap-out: the file SIGHUP rotated away could not be completed (%s)\n",
                strerror(err));
        if (!o->lost++) snprintf(o->first_error, sizeof o->first_error, "%s", strerror(err));
    }
    cap_png_out_free(o->w);
    o->rotated += frames;
    o->f = f;
    o->w = w;
}

/* SIGHUP: both outputs that go to files by name. */
static void reopen_outputs(inspect_run *r) {
    reopen_flag = 0;
    if (r->out_file.fd >= 0) reopen_events_file(r);
    if (r->pcap.f) reopen_pcap_out(&r->pcap);
}

/* Flushes and closes --pcap-out; false (and said on stderr) when messages
 * were lost. */
static bool close_pcap_out(pcap_out *o) {
    if (!o->f) return true;
    o->written = o->rotated + cap_png_out_frames(o->w);
    bool closed = fclose(o->f) == 0; /* the last buffered frames are written now */
    int err = errno;
    o->f = NULL;
    cap_png_out_free(o->w);
    o->w = NULL;
    if (o->lost)
        fprintf(stderr, "fs38 inspect: --pcap-out %s: %llu message%s lost (%s)\n", o->path,
                (unsigned long long)o->lost, o->lost == 1 ? "" : "s", o->first_error);
    if (!closed)
        fprintf(stderr, "fs38 inspect: --pcap-out %s: the last messages could not be written (%s): "
                        "the file is incomplete\n", o->path, strerror(err));
    return closed && !o->lost;
}

/* Columns of the terminal on fd, or fallback when it is none (or too narrow to tell). */
static int terminal_width(int fd, int fallback) {
    struct winsize ws;
    if (isatty(fd) && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40) return ws.ws_col;
    return fallback;
}

/* A path (made printable) in at most room columns: when it does not fit, its
 * end, where the file name is, after "...". Nothing when room < 4. */
static void print_path_tail(FILE *o, const char *path, int room) {
    char name[256];
    if (room < 4) return;
    const char *from = path; /* a path longer than name holds: its end */
    size_t flen = strlen(from);
    if (flen >= sizeof name) {
        from += flen - (sizeof name - 1);
        while ((*from & 0xc0) == 0x80) from++; /* a character's continuation bytes */
    }
    fs_text_printable(name, sizeof name, from);
    const char *shown = name;
    if (from != path || fs_text_columns(name, strlen(name)) > (size_t)room) {
        while (fs_text_columns(shown, strlen(shown)) > (size_t)room - 3) {
            shown++;
            while ((*shown & 0xc0) == 0x80) shown++;
        }
        fputs("...", o);
    }
    fputs(shown, o);
}

/* A message said in the middle of a file (events being lost) starts a line
 * of its own: the progress line, which ends with no newline, is cleared
 * first (else the message ran on after its figures), and the next one is
 * drawn below the message. */
static void progress_clear(inspect_run *r) {
    if (atomic_exchange(&r->progress_shown, false)) fputs("\r\033[K", stderr);
}

/* One line that \r can overwrite: it must not wrap, so it is cut to the
 * terminal's width, the file name losing its start first. */
static void on_progress(void *user, uint64_t offset, uint64_t size, uint64_t frames) {
    inspect_run *r = user;
    uint64_t now = fs_time_mono_us();
    if (now - r->last_progress_us < 250000 && (size == 0 || offset < size)) return;
    r->last_progress_us = now;
    char figures[160];
    if (size)
        snprintf(figures, sizeof figures, "  %3.0f%%  %.1f/%.1f MB  %llu frames  %llu incidents closed ",
                 100.0 * (double)offset / (double)size, (double)offset / 1e6, (double)size / 1e6,
                 (unsigned long long)frames, (unsigned long long)r->events);
    else
        snprintf(figures, sizeof figures, "  %.1f MB  %llu frames  %llu incidents closed ", (double)offset / 1e6,
                 (unsigned long long)frames, (unsigned long long)r->events);
    /* "\r  ", and the last column left free */
    int cols = terminal_width(STDERR_FILENO, 80) - 1 - 2;
    size_t flen = strlen(figures);
    if ((int)flen > cols) { /* a narrow terminal: the figures that fit, each whole, and no file name */
        size_t cut = 0;
        for (size_t i = 1; i + 1 < flen && (int)i <= cols; i++)
            if (figures[i] == ' ' && figures[i + 1] == ' ') cut = i;
        figures[cut] = '\0';
        flen = cut;
    }
    fputs("\r  ", stderr);
    print_path_tail(stderr, r->current, cols - (int)flen);
    fputs(figures, stderr);
    atomic_store(&r->progress_shown, true);
}

/* ---- the summary ------------------------------------------------------------------- */

static void fmt_count(uint64_t v, char *out, size_t n) {
    if (v >= 10000000) snprintf(out, n, "%.1fM", (double)v / 1e6);
    else if (v >= 100000) snprintf(out, n, "%.0fk", (double)v / 1e3);
    else snprintf(out, n, "%llu", (unsigned long long)v);
}

static void print_span(FILE *o, uint64_t first, uint64_t last) {
    char a[40], b[40];
    if (!first) return;
    fprintf(o, "  capture time %s .. %s\n", fs_time_rfc3339(first, a, sizeof a),
            fs_time_rfc3339(last, b, sizeof b));
}

static const char *plural(uint64_t n) { return n == 1 ? "" : "s"; }

/* Columns the summary may use: the terminal's when stdout is one, else
 * $COLUMNS, else 120. */
static int summary_width(FILE *o) {
    int cols = terminal_width(fileno(o), 0);
    if (cols) return cols;
    const char *env = getenv("COLUMNS");
    cols = env ? atoi(env) : 0;
    return cols >= 40 && cols <= 1000 ? cols : 120;
}

/* Print detail in at most room columns: whole key=value fields (a quoted
 * value's spaces do not split it), then "..." when some did not fit. */
static void print_fitted(FILE *o, const char *detail, int room) {
    if (room < 4) room = 4;
    if (fs_text_columns(detail, strlen(detail)) <= (size_t)room) {
        fputs(detail, o);
        return;
    }
    /* the text before a cut must fit in room - 4 columns (" ..." follows);
     * the printable text is valid UTF-8, so an ASCII byte is a character */
    size_t end = fs_text_fit(detail, (size_t)room - 4, NULL), cut = 0;
    bool quoted = false;
    for (size_t i = 0; i <= end && detail[i]; i++) {
        if (detail[i] == ' ' && !quoted) cut = i;
        else if (detail[i] == '\\' && quoted && detail[i + 1]) i++; /* \" or \\ */
        else if (detail[i] == '"') quoted = !quoted;
    }
    if (cut == 0) { /* the first field alone is longer than the room */
        size_t k = fs_text_fit(detail, (size_t)room - 3, NULL);
        fprintf(o, "%.*s...", (int)k, detail);
    } else {
        fprintf(o, "%.*s ...", (int)cut, detail);
    }
}

/* s in exactly cols columns: cut with "..." or padded with spaces. */
static void print_column(FILE *o, const char *s, int cols) {
    size_t used, k = fs_text_fit(s, (size_t)cols, &used);
    if (s[k] && cols > 3) {
        k = fs_text_fit(s, (size_t)cols - 3, &used);
        fprintf(o, "%.*s...%*s", (int)k, s, cols - 3 - (int)used, "");
    } else {
        fprintf(o, "%.*s%*s", (int)k, s, cols - (int)used, "");
    }
}

/* A span in at most 7 columns: "17.8s", "86400s", "412d", "51y" (a capture
 * whose timestamps are far apart: uint64 microseconds stop at 584,942 years). */
static void fmt_span(double secs, char *out, size_t n) {
    if (secs < 999.95) snprintf(out, n, "%.1fs", secs);
    else if (secs < 99999.5) snprintf(out, n, "%.0fs", secs);
    else if (secs < 99999.5 * 86400) snprintf(out, n, "%.0fd", secs / 86400);
    else snprintf(out, n, "%.0fy", secs / (365.25 * 86400));
}

static int max_int(int a, int b) { return a > b ? a : b; }

static int by_summary_order(const void *a, const void *b) { return incident_order(a, b); }

/* Incidents grouped by severity, then type; one line each, fitted to the
 * terminal: the columns take the width of their longest entry and the
 * details get what is left. */
static void print_incidents(FILE *o, const inspect_run *r, int width) {
    static const char *const sev_name[] = {"info", "low", "medium", "high", "critical"};
    fprintf(o, "\nINCIDENTS  %llu", (unsigned long long)r->events);
    if (r->events) {
        fprintf(o, "  (");
        bool first = true;
        for (int s = SEV_CRITICAL; s >= SEV_INFO; s--) {
            if (!r->by_severity[s]) continue;
            fprintf(o, "%s%s %llu", first ? "" : ", ", sev_name[s], (unsigned long long)r->by_severity[s]);
            first = false;
        }
        fprintf(o, ")");
    }
    fprintf(o, "\n");
    if (!r->events) {
        fprintf(o, "  none: no rule fired\n");
        return;
    }
    incident_row rows[TOP_INCIDENTS];
    memcpy(rows, r->top, (size_t)r->ntop * sizeof *rows);
    qsort(rows, (size_t)r->ntop, sizeof *rows, by_summary_order);
    int wtype = 0, wsrc = 0, wrule = 0;
    for (int i = 0; i < r->ntop; i++) {
        const det_rule_info *ri = &det_rule_table[rows[i].rule];
        wtype = max_int(wtype, (int)strlen(det_event_type_name(ri->event_type)));
        wsrc = max_int(wsrc, (int)fs_text_columns(rows[i].source, strlen(rows[i].source)));
        wrule = max_int(wrule, (int)strlen(ri->id));
    }
    if (wsrc > 45) wsrc = 45; /* "to " + the longest IPv6 address */
    /* A row without its details must fit too: when a long event type beside
     * an IPv6 source and a long rule id passes the width (98 columns for
     * SIP_PROTOCOL_VIOLATION, a whole IPv6 address and SIP-PROTO-005), the
     * event type goes first (the rule id names it), then the source is cut.
     * wtype -1: no type column, nor the space after it. */
    int fixed = 4 + 1 + 6 + 4 + 7 + 2 + wrule; /* indent, count, span, rule */
    if (fixed + wtype + 1 + wsrc > width) wtype = -1;
    if (fixed + wtype + 1 + wsrc > width) wsrc = max_int(width - fixed, 15);
    int room = width - (fixed + wtype + 1 + wsrc + 2);
    int shown_sev = -1;
    for (int i = 0; i < r->ntop; i++) {
        const incident_row *x = &rows[i];
        const det_rule_info *ri = &det_rule_table[x->rule];
        if ((int)x->severity != shown_sev) {
            shown_sev = (int)x->severity;
            fprintf(o, "  %s\n", sev_name[x->severity]);
        }
        char cnt[16], span[16];
        fmt_count(x->count, cnt, sizeof cnt);
        fmt_span(x->window_s, span, sizeof span);
        if (wtype >= 0) fprintf(o, "    %-*s ", wtype, det_event_type_name(ri->event_type));
        else fputs("    ", o);
        print_column(o, x->source, wsrc);
        fprintf(o, " %6s in %7s  %-*s", cnt, span, room >= 30 ? wrule : 0, ri->id);
        if (room >= 30) { /* details at the end of the line */
            fputs("  ", o);
            print_fitted(o, x->detail, room);
        } else if (x->detail[0]) { /* a narrow terminal: on a line of their own */
            fputs("\n      ", o);
            print_fitted(o, x->detail, width - 6);
        }
        fputc('\n', o);
    }
    if (r->events > (uint64_t)r->ntop) {
        fprintf(o, "  ... %llu more (the most severe and largest are shown; --json has all).\n"
                   "  All incidents by rule:\n   ",
                (unsigned long long)(r->events - (uint64_t)r->ntop));
        int col = 3;
        for (int i = 0; i < R__COUNT; i++) {
            if (!r->by_rule[i]) continue;
            char item[48];
            int w = snprintf(item, sizeof item, " %s %llu", det_rule_table[i].id, (unsigned long long)r->by_rule[i]);
            if (col + w > width) {
                fprintf(o, "\n   ");
                col = 3;
            }
            fputs(item, o);
            col += w;
        }
        fprintf(o, "\n");
    }
}

/* Add sep + item to a line whose next column is *col; when it would pass
 * width, the line breaks first (a "," or ";" of sep ends the old line, the
 * new one starts after indent columns). */
static void put_item(FILE *o, int *col, int width, int indent, const char *sep, const char *item) {
    int w = (int)(strlen(sep) + strlen(item));
    if (*col > indent && *col + w > width) {
        if (*sep == ',' || *sep == ';') {
            fputc(*sep, o);
            sep++;
        }
        while (*sep == ' ') sep++;
        *col = fprintf(o, "\n%*s", indent, "") - 1;
        w = (int)(strlen(sep) + strlen(item));
    }
    fputs(sep, o);
    fputs(item, o);
    *col += w;
}

/* "anomalies in N messages: the most frequent kinds first, +K more kinds". */
static void print_anomalies(FILE *o, const det_stats *d, int width) {
    enum { SHOWN = 4 };
    char a[16];
    fmt_count(d->msgs_with_anomaly, a, sizeof a);
    int col = fprintf(o, "  anomalies in %s message%s", a, plural(d->msgs_with_anomaly));
    int top[SHOWN], ntop = 0, kinds = 0;
    for (int i = 1; i < SIP_A__COUNT; i++) {
        if (!d->anomalies[i] || sip_anomaly_class_of((sip_anomaly)i) == SIP_AC_NOTE) continue;
        kinds++;
        int pos = ntop; /* insertion into the top SHOWN by count (ties: catalogue order) */
        while (pos > 0 && d->anomalies[top[pos - 1]] < d->anomalies[i]) pos--;
        if (pos >= SHOWN) continue;
        if (ntop < SHOWN) ntop++;
        memmove(&top[pos + 1], &top[pos], (size_t)(ntop - 1 - pos) * sizeof top[0]);
        top[pos] = i;
    }
    int shown = 0;
    for (; shown < ntop; shown++) { /* as many as fit, at least one */
        char item[80], more[48];
        fmt_count(d->anomalies[top[shown]], a, sizeof a);
        int w = snprintf(item, sizeof item, "%s%s %s", shown ? ", " : ": ", sip_anomaly_name((sip_anomaly)top[shown]), a);
        int rest = kinds - shown - 1; /* kinds left out if this one is the last shown */
        int wmore = rest ? snprintf(more, sizeof more, ", +%d more (--stats-json)", rest) : 0;
        if (shown && col + w + wmore > width) break; /* keep room for "+N more" */
        fputs(item, o);
        col += w;
    }
    if (kinds > shown) fprintf(o, ", +%d more (--stats-json)", kinds - shown);
    fprintf(o, "\n");
}

/* --hep: who sent what (a proxy that stopped mirroring is missing here):
 * "  HEP senders 127.0.0.10 1,234 (TCP), 127.0.0.11 56 (UDP)", at most 4
 * named, the busiest first. */
static void print_hep_senders(FILE *o, const cap_hep_listen_stats *h, int width) {
    if (!h->nsenders) return;
    unsigned order[CAP_HEP_SENDERS];
    for (unsigned i = 0; i < h->nsenders; i++) order[i] = i;
    for (unsigned i = 1; i < h->nsenders; i++) /* insertion sort by packets, at most 32 */
        for (unsigned j = i; j > 0; j--) {
            const cap_hep_sender *x = &h->senders[order[j]], *y = &h->senders[order[j - 1]];
            if (x->udp + x->tcp <= y->udp + y->tcp) break;
            unsigned t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    int col = fprintf(o, "\n  HEP senders") - 1;
    unsigned shown = h->nsenders < 4 ? h->nsenders : 4;
    char item[96];
    for (unsigned i = 0; i < shown; i++) {
        const cap_hep_sender *x = &h->senders[order[i]];
        char ip[64], a[16];
        fmt_count(x->udp + x->tcp, a, sizeof a);
        snprintf(item, sizeof item, "%s %s (%s)", fs_addr_str(&x->addr, ip, sizeof ip), a,
                 x->udp && x->tcp ? "UDP, TCP" : x->udp ? "UDP" : "TCP"); /* none read: a connection */
        put_item(o, &col, width, 4, i ? ", " : " ", item);
    }
    if (h->nsenders > shown) {
        snprintf(item, sizeof item, "+%u more", h->nsenders - shown);
        put_item(o, &col, width, 4, ", ", item);
    }
    if (h->senders_other) {
        snprintf(item, sizeof item, "and more past the first %u", CAP_HEP_SENDERS);
        put_item(o, &col, width, 4, ", ", item);
    }
    if (h->nsenders > shown || h->senders_other) put_item(o, &col, width, 4, " ", "(--stats-json)");
}

static void print_messages(FILE *o, const insp_stats *s, int width) {
    const det_stats *d = &s->det;
    char a[16], b[16];
    fmt_count(d->requests, a, sizeof a);
    fmt_count(d->responses, b, sizeof b);
    int col = fprintf(o, "\nMESSAGES  requests %s", a) - 1;
    bool open = false;
    char item[96];
    for (int m = 0; m < SIP_M__COUNT; m++) {
        if (!d->by_method[m]) continue;
        fmt_count(d->by_method[m], a, sizeof a);
        snprintf(item, sizeof item, "%s %s", m ? sip_method_name((sip_method)m) : "other", a);
        put_item(o, &col, width - 1, 10, open ? ", " : " (", item); /* -1: room for ")" */
        open = true;
    }
    if (open) fputc(')', o);
    col = fprintf(o, "\n          responses %s", b) - 1;
    open = false;
    for (int c = 0; c <= 6; c++) { /* 0: a status outside 100-699, shown last */
        int cls = c == 6 ? 0 : c + 1;
        if (!d->by_class[cls]) continue;
        fmt_count(d->by_class[cls], a, sizeof a);
        if (cls) snprintf(item, sizeof item, "%dxx %s", cls, a);
        else snprintf(item, sizeof item, "other %s", a);
        put_item(o, &col, width - 1, 10, open ? ", " : " (", item);
        open = true;
    }
    fprintf(o, "%s\n", open ? ")" : "");
    static const char *const tnames[CAP_TRANSPORTS] = {"udp", "tcp", "tls", "sctp", "ws", "wss"};
    /* its items go on as many lines as the width needs (TLS, ESP and
     * tunnels together make well over 200 columns) */
    col = fprintf(o, "  transports");
    for (int t = 0; t < CAP_TRANSPORTS; t++)
        if (d->by_transport[t]) {
            fmt_count(d->by_transport[t], a, sizeof a);
            snprintf(item, sizeof item, "%s %s", tnames[t], a);
            put_item(o, &col, width, 4, " ", item);
        }
    if (d->from_hep) {
        fmt_count(d->from_hep, a, sizeof a);
        fmt_count(s->cap.hep_compressed, b, sizeof b);
        if (s->cap.hep_compressed) snprintf(item, sizeof item, "(via HEP %s, compressed %s)", a, b);
        else snprintf(item, sizeof item, "(via HEP %s)", a);
        put_item(o, &col, width, 4, " ", item);
    }
    if (s->cap.tunneled) {
        fmt_count(s->cap.tunneled, a, sizeof a);
        snprintf(item, sizeof item, "tunneled frames %s", a);
        put_item(o, &col, width, 4, "   ", item);
    }
    if (s->cap.esp_packets) { /* what could not be read is worth saying: SIP may be in it */
        fmt_count(s->cap.esp_null, a, sizeof a);
        fmt_count(s->cap.esp_packets, b, sizeof b);
        if (s->cap.esp_decrypted) {
            char c[16];
            fmt_count(s->cap.esp_decrypted, c, sizeof c);
            snprintf(item, sizeof item, "ESP %s (decrypted %s, NULL-encrypted %s)", b, c, a);
        } else {
            snprintf(item, sizeof item, "ESP %s (NULL-encrypted, read %s)", b, a);
        }
        put_item(o, &col, width, 4, "   ", item);
    }
    if (s->cap.tls_handshakes) { /* in parts, each ended by its separator, the last by ")" */
        char part[2 + CAP_TLS_VERSIONS][80];
        const char *sep[2 + CAP_TLS_VERSIONS];
        int np = 0;
        fmt_count(s->cap.tls_handshakes, a, sizeof a);
        fmt_count(s->cap.tls_records, b, sizeof b);
        snprintf(part[np], sizeof part[np], "TLS connections %s (records decrypted %s", a, b);
        sep[np++] = "   ";
        bool chose = false;
        for (unsigned i = 0; i < CAP_TLS_VERSIONS; i++)
            if (s->cap.tls_versions[i]) {
                fmt_count(s->cap.tls_versions[i], a, sizeof a);
                snprintf(part[np], sizeof part[np], "%s%s %s", chose ? "" : "servers chose ",
                         cap_tls_version_name((uint16_t)(0x0300 + i)), a);
                sep[np++] = chose ? ", " : "; ";
                chose = true;
            }
        if (s->cap.tls_certs) {
            fmt_count(s->cap.tls_certs, a, sizeof a);
            snprintf(part[np], sizeof part[np], "certificates read %s", a); /* servers', clients' (mutual TLS) */
            sep[np++] = "; ";
        }
        size_t len = strlen(part[np - 1]);
        snprintf(part[np - 1] + len, sizeof part[np - 1] - len, ")");
        for (int i = 0; i < np; i++) put_item(o, &col, width, 4, sep[i], part[i]);
    }
    if (d->not_sip) {
        fmt_count(d->not_sip, a, sizeof a);
        snprintf(item, sizeof item, "not SIP %s", a);
        put_item(o, &col, width, 4, "   ", item);
    }
    print_hep_senders(o, &s->hep, width);
    if (s->ims_aka_agreements) {
        fmt_count(s->ims_aka_agreements, a, sizeof a);
        fmt_count(s->esp_sas_learned, b, sizeof b);
        fprintf(o, "\n  ESP keys learned from %s IMS AKA registration%s (%s SAs)", a,
                s->ims_aka_agreements == 1 ? "" : "s", b);
    }
    fprintf(o, "\n  calls started %llu, answered %llu, cancelled %llu, failed %llu\n",
            (unsigned long long)d->calls_started, (unsigned long long)d->calls_answered,
            (unsigned long long)d->calls_cancelled, (unsigned long long)d->calls_failed);
    print_anomalies(o, d, width);
}

/* A talker as the summary names it: its address, or an IPv6 source
 * network (state.ipv6_source_prefix) as "2001:db8:1:2::/64". */
static const char *talker_name(const det_talker *t, char *buf, size_t n) {
    char ip[FS_ADDR_STRLEN];
    fs_addr_str(&t->addr, ip, sizeof ip);
    if (t->prefix >= 128) snprintf(buf, n, "%s", ip);
    else snprintf(buf, n, "%s/%u", ip, (unsigned)t->prefix);
    return buf;
}

/* One line per talker, in width columns: when a long IPv6 address does not
 * leave room, the counts' columns shrink to their largest, and the address
 * is cut only when it still does not fit. */
static void print_talkers(FILE *o, insp *in, int width) {
    det_talker t[TOP_TALKERS];
    int n = insp_top_talkers(in, t, TOP_TALKERS);
    if (n == 0) return;
    fprintf(o, "\nTOP TALKERS (requests sent)\n");
    char ip[TOP_TALKERS][FS_ADDR_STRLEN + 4], a[TOP_TALKERS][16], b[TOP_TALKERS][16], c[TOP_TALKERS][24];
    int wip = 15, wa = 1, wb = 1, wc = 0; /* the longest address shown, at least an IPv4 one */
    for (int i = 0; i < n; i++) {
        wip = max_int(wip, (int)strlen(talker_name(&t[i], ip[i], sizeof ip[i])));
        fmt_count(t[i].requests, a[i], sizeof a[i]);
        fmt_count(t[i].messages, b[i], sizeof b[i]);
        snprintf(c[i], sizeof c[i], "%u incident%s", t[i].incidents, plural(t[i].incidents));
        wa = max_int(wa, (int)strlen(a[i]));
        wb = max_int(wb, (int)strlen(b[i]));
        wc = max_int(wc, (int)strlen(c[i]));
    }
    int rest = 1 + 8 + 9 + 1 + 8 + 9 + 2 + wc; /* " N requests N messages  N incidents" */
    if (2 + wip + rest <= width) wa = wb = 8; /* room: the usual columns */
    rest = 1 + wa + 9 + 1 + wb + 9 + 2 + wc;
    if (2 + wip + rest > width) wip = max_int(width - 2 - rest, 15);
    for (int i = 0; i < n; i++) {
        fputs("  ", o);
        print_column(o, ip[i], wip);
        fprintf(o, " %*s request%-1s %*s message%-1s  %s\n", wa, a[i], plural(t[i].requests), wb, b[i],
                plural(t[i].messages), c[i]);
    }
}

/* "CAPTURE  what could not be decoded or was dropped": the counters that
 * are not zero, or nothing when all are. */
static void print_capture_problems(FILE *o, const insp_stats *s, int width, bool keylog, bool esp_sa) {
    const cap_stats *c = &s->cap;
    /* ESP no SA matched (nor read as NULL-encrypted): with --esp-sa, its
     * SPIs or addresses are not the capture's; without, the hint below */
    uint64_t esp_read = c->esp_null + c->esp_decrypted + c->esp_failed + c->esp_replayed;
    uint64_t esp_no_sa = c->esp_packets > esp_read ? c->esp_packets - esp_read : 0;
    const struct {
        const char *what;
        uint64_t n;
    } items[] = {
        {"dropped by the kernel before fs38 read them (it did not keep up)", s->kernel_dropped},
        {"dropped by the interface", s->if_dropped},
        {"not IP (unsupported link or ethertype)", c->not_ip},
        {"truncated", c->truncated},
        {"bad IP/UDP/TCP header or SCTP chunk", c->bad_ip},
        {"fragments dropped", c->frag_dropped},
        {"SCTP message parts dropped", c->sctp_dropped},
        {"TCP gaps", c->tcp_gaps},
        {"TCP resyncs", c->tcp_resyncs},
        {"TCP bytes dropped", c->tcp_bytes_dropped},
        {"TCP flows evicted", c->tcp_flows_evicted},
        {"compressed WebSocket messages not inflated", c->ws_inflate_failed},
        {"TLS directions without keys", c->tls_no_key},
        {"TLS directions with a version or suite not read", c->tls_unsupported},
        {"TLS directions that stopped decrypting", c->tls_failed},
        {"TLS 1.3 server certificates not read", c->tls_certs_unread},
        {"ESP packets whose SA did not check out (integrity, key, ESN)", c->esp_failed},
        {"ESP packets replayed (a sequence number read before)", c->esp_replayed},
        {"ESP packets with no SA in --esp-sa (SPI and addresses)", esp_sa ? esp_no_sa : 0},
        {"bad HEP", c->hep_bad},
        {"HEP TCP connections refused (all 64 busy)", s->hep.tcp_refused},
        {"HEP TCP streams cut off (not HEP3)", s->hep.tcp_broken},
        {"HEP TLS handshakes failed", s->hep.tls_failed},
        {"HEP timestamps not trusted", c->hep_time_untrusted},
        {"incidents evicted", s->det.incidents_evicted},
    };
    int col = 0;
    for (size_t i = 0; i < sizeof items / sizeof *items; i++) {
        if (!items[i].n) continue;
        char item[96], a[16];
        fmt_count(items[i].n, a, sizeof a);
        int w = snprintf(item, sizeof item, "%s%s %s", col ? ", " : "", items[i].what, a);
        if (!col) col = fprintf(o, "\nCAPTURE  ");
        else if (col + w > width) {
            fprintf(o, ",\n         ");
            col = 9;
            w -= 2;
            memmove(item, item + 2, strlen(item + 2) + 1);
        }
        fputs(item, o);
        col += w;
    }
    if (col) fputc('\n', o);
    if (c->hep_bad && s->hep_error[0]) fprintf(o, "  first bad HEP packet: %s\n", s->hep_error);
    if (s->hep.tls_failed) fprintf(o, "  first failed HEP TLS handshake: %s\n", s->hep.tls_error);
    if (c->tls_no_key && !keylog)
        fprintf(o, "  SIP over TLS is read with the endpoints' session keys: --tls-keylog FILE\n");
    if (c->tls_certs_unread && keylog)
        fprintf(o, "  a TLS 1.3 server's certificate (SIP-INFO-006) is read with the session's\n"
                   "  SERVER_HANDSHAKE_TRAFFIC_SECRET, which the key log does not hold\n");
    if (esp_no_sa && !esp_sa)
        fprintf(o, "  encrypted ESP (VoLTE Gm, VoWiFi) is read with its SAs' keys: --esp-sa FILE,\n"
                   "  or learned from IMS AKA registrations captured on both sides of the P-CSCF\n");
}

static void print_summary(FILE *o, const inspect_run *r, insp *in, const insp_stats *s,
                          int ninputs, double secs) {
    char a[16], b[16];
    fmt_count(s->frames_read, a, sizeof a);
    fmt_count(s->det.messages, b, sizeof b);
    fprintf(o, "fs38 inspect: %d input%s, %s packet%s, %s SIP message%s, %.1f MB in %.2f s\n", ninputs,
            plural((uint64_t)ninputs), a, plural(s->frames_read), b, plural(s->det.messages),
            (double)s->bytes_read / 1e6, secs);
    print_span(o, s->det.first_us, s->det.last_us);
    int width = summary_width(o); /* once: the terminal does not change mid-summary */
    print_incidents(o, r, width);
    if (r->events_path) { /* what was acknowledged is in the file */
        char counts[160];
        int k = snprintf(counts, sizeof counts, ": %llu event%s", (unsigned long long)r->out_file.written,
                         plural(r->out_file.written));
        if (r->out_file.lost && k > 0 && (size_t)k < sizeof counts)
            snprintf(counts + k, sizeof counts - (size_t)k, ", %llu lost (%s)",
                     (unsigned long long)r->out_file.lost, strerror(r->out_file.first_error));
        fputs("  appended to ", o);
        print_path_tail(o, r->events_path, max_int(width - 14 - (int)strlen(counts), 20));
        fprintf(o, "%s\n", counts);
    }
    if (r->pcap.path) { /* --pcap-out: the evidence, and how to find an incident's */
        char counts[64];
        snprintf(counts, sizeof counts, ": %llu message%s", (unsigned long long)r->pcap.written,
                 plural(r->pcap.written));
        if (r->pcap.earlier)
            snprintf(counts + strlen(counts), sizeof counts - strlen(counts), " (%llu before thresholds)",
                     (unsigned long long)r->pcap.earlier);
        fputs("  messages behind them in ", o);
        print_path_tail(o, r->pcap.path, max_int(width - 27 - (int)strlen(counts), 20));
        fprintf(o, "%s\n", counts);
    }
    print_messages(o, s, width);
    print_talkers(o, in, width);
    print_capture_problems(o, s, width, r->keylog, r->esp_sa);
    const cap_stats *c = &s->cap;
    char state[64], decoder[80];
    snprintf(state, sizeof state, "state memory %.1f MB (bound %.1f MB)", (double)s->mem.total_bytes / 1048576.0,
             (double)s->mem.bound_bytes / 1048576.0);
    snprintf(decoder, sizeof decoder, "decoder %.1f MB (reassembly peak %.1f MB)",
             (double)s->decoder_memory / 1048576.0,
             (double)(c->tcp_bytes_buffered_peak + c->frag_bytes_peak) / 1048576.0);
    int col = 0;
    fputc('\n', o);
    put_item(o, &col, width, 2, "", state);
    put_item(o, &col, width, 2, ", ", decoder);
    if (s->lookback_memory) {
        char lookback[48];
        snprintf(lookback, sizeof lookback, "look back %.1f MB", (double)s->lookback_memory / 1048576.0);
        put_item(o, &col, width, 2, ", ", lookback);
    }
    fputc('\n', o);
}

/* ---- statistics JSON ----------------------------------------------------------------- */

static json_t *stats_json(const inspect_run *r, const insp_stats *s, double secs, bool final) {
    const det_stats *d = &s->det;
    const cap_stats *c = &s->cap;
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "final", json_boolean(final));
    char when[32];
    fs_time_rfc3339(fs_time_now_us(), when, sizeof when);
    json_object_set_new(o, "written", json_string(when));
    json_object_set_new(o, "frames", json_integer((json_int_t)s->frames_read));
    json_object_set_new(o, "bytes", json_integer((json_int_t)s->bytes_read));
    json_object_set_new(o, "seconds", json_real(secs));
    json_object_set_new(o, "workers", json_integer(s->workers));
    char seed[17];
    snprintf(seed, sizeof seed, "%016llx", (unsigned long long)s->seed);
    json_object_set_new(o, "seed", json_string(seed));
    json_t *share = json_array();
    for (unsigned i = 0; i < s->workers && i < INSP_MAX_WORKERS; i++)
        json_array_append_new(share, json_integer((json_int_t)s->worker_messages[i]));
    json_object_set_new(o, "worker_messages", share);
    json_object_set_new(o, "sip_messages", json_integer((json_int_t)d->messages));
    json_object_set_new(o, "not_sip", json_integer((json_int_t)d->not_sip));
    json_object_set_new(o, "keepalives", json_integer((json_int_t)d->keepalives));
    json_object_set_new(o, "requests", json_integer((json_int_t)d->requests));
    json_object_set_new(o, "responses", json_integer((json_int_t)d->responses));
    json_t *m = json_object();
    for (int i = 0; i < SIP_M__COUNT; i++)
        if (d->by_method[i])
            json_object_set_new(m, i ? sip_method_name((sip_method)i) : "other",
                                json_integer((json_int_t)d->by_method[i]));
    json_object_set_new(o, "methods", m);
    json_t *cls = json_object();
    for (int i = 1; i <= 6; i++) {
        char k[4] = {(char)('0' + i), 'x', 'x', 0};
        json_object_set_new(cls, k, json_integer((json_int_t)d->by_class[i]));
    }
    if (d->by_class[0]) json_object_set_new(cls, "other", json_integer((json_int_t)d->by_class[0])); /* outside 100-699 */
    json_object_set_new(o, "status_classes", cls);
    static const char *const tnames[CAP_TRANSPORTS] = {"udp", "tcp", "tls", "sctp", "ws", "wss"};
    json_t *tr = json_object();
    for (int i = 0; i < CAP_TRANSPORTS; i++)
        if (d->by_transport[i]) json_object_set_new(tr, tnames[i], json_integer((json_int_t)d->by_transport[i]));
    json_object_set_new(o, "transports", tr);
    json_object_set_new(o, "from_hep", json_integer((json_int_t)d->from_hep));
    json_t *an = json_object();
    for (int i = 1; i < SIP_A__COUNT; i++)
        if (d->anomalies[i])
            json_object_set_new(an, sip_anomaly_name((sip_anomaly)i), json_integer((json_int_t)d->anomalies[i]));
    json_object_set_new(o, "anomalies", an);
    json_object_set_new(o, "calls", json_pack("{s:I,s:I,s:I,s:I,s:I}", "started", (json_int_t)d->calls_started,
                                              "answered", (json_int_t)d->calls_answered, "cancelled",
                                              (json_int_t)d->calls_cancelled, "failed",
                                              (json_int_t)d->calls_failed, "allowed_caller",
                                              (json_int_t)d->calls_allowed_caller));
    /* during a live run the incidents reported so far, open ones too (an
     * incident is counted at its close, which may be hours after the open
     * report a snapshot must show); at the end each has closed: the same */
    const uint64_t *by_rule = r->live && !final ? r->opened_by_rule : r->by_rule;
    uint64_t events = 0;
    json_t *br = json_object();
    for (int i = 0; i < R__COUNT; i++) {
        events += by_rule[i];
        if (by_rule[i]) json_object_set_new(br, det_rule_table[i].id, json_integer((json_int_t)by_rule[i]));
    }
    json_object_set_new(o, "events", json_integer((json_int_t)(r->live && !final ? events : r->events)));
    json_object_set_new(o, "events_by_rule", br);
    if (r->pcap.path) /* --pcap-out: the messages written so far (the file is closed after) */
        json_object_set_new(o, "pcap_out",
                            json_pack("{sIsIsI}", "messages",
                                      (json_int_t)(r->pcap.rotated + (r->pcap.w ? cap_png_out_frames(r->pcap.w) : 0)),
                                      "earlier", (json_int_t)r->pcap.earlier, "lost", (json_int_t)r->pcap.lost));
    json_t *cap = json_object();
#define CAPF(f) json_object_set_new(cap, #f, json_integer((json_int_t)c->f))
    CAPF(frames); CAPF(tunneled); CAPF(not_ip); CAPF(bad_ip); CAPF(truncated); CAPF(ip_fragments);
    CAPF(ip_reassembled); CAPF(frag_dropped); CAPF(udp); CAPF(tcp_segments); CAPF(sctp_packets); CAPF(sctp_fragmented); CAPF(sctp_reassembled); CAPF(sctp_dropped); CAPF(sctp_retransmits); CAPF(esp_packets); CAPF(esp_null); CAPF(esp_decrypted); CAPF(esp_failed); CAPF(esp_replayed); CAPF(tcp_retransmits);
    CAPF(tcp_out_of_order); CAPF(tcp_gaps); CAPF(tcp_resyncs); CAPF(tcp_gap_recovered); CAPF(ws_inflated); CAPF(ws_inflate_failed);
    CAPF(tls_handshakes); CAPF(tls_records); CAPF(tls_no_key); CAPF(tls_unsupported); CAPF(tls_failed);
    CAPF(tls_certs); CAPF(tls_certs_unread);
    CAPF(tcp_flows_evicted);
    CAPF(tcp_bytes_dropped); CAPF(hep_packets); CAPF(hep_bad); CAPF(hep_ignored); CAPF(hep_time_untrusted); CAPF(hep_v1v2); CAPF(hep_compressed); CAPF(sip_payloads);
    CAPF(tcp_flows_peak); CAPF(tcp_bytes_buffered_peak); CAPF(frag_bytes_peak);
#undef CAPF
    json_t *versions = json_object(); /* ServerHellos on SIP ports by the version the server chose */
    for (unsigned i = 0; i < CAP_TLS_VERSIONS; i++)
        json_object_set_new(versions, tls_version_keys[i], json_integer((json_int_t)c->tls_versions[i]));
    json_object_set_new(cap, "tls_versions", versions);
    json_object_set_new(cap, "ims_aka_agreements", json_integer((json_int_t)s->ims_aka_agreements));
    json_object_set_new(cap, "esp_sas_learned", json_integer((json_int_t)s->esp_sas_learned));
    json_object_set_new(cap, "kernel_dropped", json_integer((json_int_t)s->kernel_dropped));
    json_object_set_new(cap, "if_dropped", json_integer((json_int_t)s->if_dropped));
#define HEPF(f) json_object_set_new(cap, "hep_tcp_" #f, json_integer((json_int_t)s->hep.tcp_##f))
    HEPF(connections); HEPF(refused); HEPF(evicted); HEPF(broken); HEPF(bytes);
#undef HEPF
    json_t *senders = json_array(); /* --hep: who sent, in arrival order */
    for (unsigned i = 0; i < s->hep.nsenders; i++) {
        char ip[64];
        const cap_hep_sender *x = &s->hep.senders[i];
        json_array_append_new(senders, json_pack("{s:s,s:I,s:I}", "address", fs_addr_str(&x->addr, ip, sizeof ip),
                                                 "udp", (json_int_t)x->udp, "tcp", (json_int_t)x->tcp));
    }
    json_object_set_new(cap, "hep_senders", senders);
    json_object_set_new(cap, "hep_senders_other", json_integer((json_int_t)s->hep.senders_other));
    json_object_set_new(cap, "hep_tls_handshakes", json_integer((json_int_t)s->hep.tls_handshakes));
    json_object_set_new(cap, "hep_tls_failed", json_integer((json_int_t)s->hep.tls_failed));
    json_object_set_new(o, "capture", cap);
    const det_memory *mm = &s->mem;
    json_object_set_new(
        o, "memory",
        json_pack("{s:I,s:I,s:I,s:I,s:{s:I,s:I,s:I,s:I,s:I},s:{s:I,s:I,s:I,s:I,s:I},s:{s:I,s:I,s:I,s:I,s:I},s:I,s:I,s:I,s:I,s:I}",
                  "state_bytes", (json_int_t)mm->total_bytes, "state_bound_bytes", (json_int_t)mm->bound_bytes,
                  "decoder_bytes", (json_int_t)s->decoder_memory, "lookback_bytes", (json_int_t)s->lookback_memory,
                  "entry_bytes", "source", (json_int_t)mm->source_entry, "dest", (json_int_t)mm->dest_entry,
                  "caller", (json_int_t)mm->caller_entry, "call", (json_int_t)mm->call_entry, "incident",
                  (json_int_t)mm->incident_entry,
                  "capacity", "sources", (json_int_t)mm->sources_cap, "dests", (json_int_t)mm->dests_cap,
                  "callers", (json_int_t)mm->callers_cap, "calls", (json_int_t)mm->calls_cap, "incidents",
                  (json_int_t)mm->incidents_cap,
                  "live", "sources", (json_int_t)mm->sources_live, "dests", (json_int_t)mm->dests_live,
                  "callers", (json_int_t)mm->callers_live, "calls", (json_int_t)mm->calls_live, "incidents",
                  (json_int_t)mm->incidents_live,
                  "sources_evicted", (json_int_t)d->sources_evicted, "dests_evicted",
                  (json_int_t)d->dests_evicted, "calls_evicted",
                  (json_int_t)d->calls_evicted, "incidents_evicted", (json_int_t)d->incidents_evicted,
                  "callers_evicted", (json_int_t)d->callers_evicted));
    json_object_set_new(o, "incidents_below_threshold", json_integer((json_int_t)d->incidents_below_threshold));
    if (r->ind.cur) {
        det_indicators_info ii;
        det_indicators_get_info(r->ind.cur, &ii);
        json_object_set_new(o, "indicators", json_pack("{s:I,s:I}", "events", (json_int_t)ii.events, "reloads",
                                                       (json_int_t)r->ind.reloads));
    }
    return o;
}

/* An early exit: the outputs opened so far, closed (nothing written). */
static void close_outputs(inspect_run *r) {
    if (r->out_file.fd >= 0) close(r->out_file.fd);
    close_pcap_out(&r->pcap);
    if (r->stats_file) fclose(r->stats_file);
    if (r->sa_out) fclose(r->sa_out);
    r->out_file.fd = -1;
    r->stats_file = NULL;
    r->sa_out = NULL;
}

/* --esp-sa-out FILE: created before the run, for its owner only (it will
 * hold keys); NULL and said on stderr when it cannot be. */
static FILE *create_sa_out(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        fprintf(stderr, "fs38 inspect: --esp-sa-out %s: %s\n", path, strerror(errno));
        if (fd >= 0) close(fd);
    }
    return f;
}

/* The SAs learned from IMS AKA registrations, for Wireshark (and --esp-sa). */
static bool write_sa_out(inspect_run *r, insp *in) {
    fputs("# ESP security associations fs38 inspect learned from IMS AKA registrations\n"
          "# (3GPP TS 33.203), in Wireshark's esp_sa format: Preferences > Protocols > ESP >\n"
          "# ESP SAs, or this file as esp_sa in a profile folder; --esp-sa reads it back.\n",
          r->sa_out);
    bool ok = insp_write_learned_sas(in, r->sa_out);
    int err = errno;
    if (fclose(r->sa_out) != 0 || !ok) {
        fprintf(stderr, "fs38 inspect: --esp-sa-out %s: %s\n", r->sa_out_path, strerror(ok ? errno : err));
        ok = false;
    }
    r->sa_out = NULL;
    return ok;
}

/* --stats-json FILE in a live or HEP run: when FILE names a regular file,
 * every write replaces it whole (a new file renamed over it), so a
 * monitoring agent reading it during the run never sees half of one.
 * Anything else (a pipe, a symbolic link such as /dev/stdout, a file in a
 * directory fs38 may not create files in) is written once, at the end, and
 * --stats-interval is then a usage error. false: said on stderr. */
static bool stats_replace_setup(inspect_run *r) {
    struct stat sb, lsb;
    /* the name itself a regular file: never a symlink (/dev/stdout), whose
     * link a rename would replace */
    bool regular = fstat(fileno(r->stats_file), &sb) == 0 && S_ISREG(sb.st_mode) &&
                   lstat(r->stats_path, &lsb) == 0 && S_ISREG(lsb.st_mode) && lsb.st_ino == sb.st_ino &&
                   lsb.st_dev == sb.st_dev;
    const char *why = regular ? NULL : "is not a regular file (a symbolic link is not followed)";
    char tmp[PATH_MAX];
    int fd = -1;
    if (!why && r->live) { /* the file it is replaced with is made beside it */
        if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", r->stats_path) >= (int)sizeof tmp) why = "has too long a name";
        else if ((fd = mkstemp(tmp)) < 0) why = "is in a directory fs38 cannot create a file in";
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
    }
    if (r->stats_interval_us && r->live && why) {
        fprintf(stderr, "fs38 inspect: --stats-interval: --stats-json %s %s: each write replaces the file "
                        "whole, with one made beside it\n", r->stats_path, why);
        return false;
    }
    r->stats_replace = r->live && !why;
    r->stats_mode = regular ? (sb.st_mode & 07777) : 0644;
    return true;
}

/* --stats-json FILE, opened before the run: a bad path fails before any
 * work. A file run's is emptied now, as fopen "w" does; a live or HEP run's
 * keeps what it holds (stats_replace_setup decides the rest): its first write,
 * at the start, replaces it whole, so that a monitoring agent never reads an
 * empty file. NULL: errno says why. */
static FILE *open_stats_file(const char *path, bool live) {
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (live ? 0 : O_TRUNC), 0666);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f && fd >= 0) {
        int err = errno;
        close(fd);
        errno = err;
    }
    return f;
}

/* o's JSON to a new file beside path, renamed over it; 0 or an errno. */
static int replace_json_file(const char *path, mode_t mode, json_t *o) {
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= (int)sizeof tmp) return ENAMETOOLONG;
    int fd = mkstemp(tmp);
    if (fd < 0) return errno;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        int err = errno;
        close(fd);
        unlink(tmp);
        return err;
    }
    errno = 0;
    int rc = fchmod(fd, mode) == 0 && json_dumpf(o, f, JSON_INDENT(2) | JSON_SORT_KEYS) == 0 &&
             fputc('\n', f) != EOF ? 0 : -1;
    int err = errno;
    if (fclose(f) != 0 && rc == 0) {
        rc = -1;
        err = errno;
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = -1;
        err = errno;
    }
    if (rc != 0) {
        unlink(tmp);
        return err ? err : ENOMEM;
    }
    return 0;
}

/* final: the run's end (then the file is closed); else a snapshot of a
 * live or HEP run (stats_replace only). */
static bool write_stats(inspect_run *r, const insp_stats *s, double secs, bool final) {
    json_t *o = stats_json(r, s, secs, final);
    int err = 0;
    if (!o) {
        err = ENOMEM;
    } else if (r->stats_replace) {
        err = replace_json_file(r->stats_path, r->stats_mode, o);
    } else {
        errno = 0;
        if (json_dumpf(o, r->stats_file, JSON_INDENT(2) | JSON_SORT_KEYS) != 0 || fputc('\n', r->stats_file) == EOF)
            err = errno ? errno : ENOMEM;
    }
    if (final) {
        if (fclose(r->stats_file) != 0 && !err && !r->stats_replace) err = errno;
        r->stats_file = NULL;
    }
    json_decref(o);
    if (err && (final || !r->snapshot_warned)) {
        fprintf(stderr, "fs38 inspect: cannot write --stats-json %s: %s%s\n", r->stats_path, strerror(err),
                final ? "" : " (tried again at each interval; said once)");
        r->snapshot_warned = true;
    }
    return err == 0;
}

/* In on_tick (live and HEP, the reading thread, twice a second): is
 * --stats-json to be written now (SIGUSR1 asked, or --stats-interval passed)? */
static bool stats_snapshot_due(inspect_run *r, uint64_t now) {
    if (!r->stats_replace) return false;
    bool asked = snapshot_flag;
    if (!asked && !(r->stats_interval_us && now - r->stats_last_us >= r->stats_interval_us)) return false;
    snapshot_flag = 0;
    r->stats_last_us = now;
    return true;
}

/* ---- Prometheus metrics (--metrics) ------------------------------------------------ */

/* --metrics: listening, with the figures at start, before the run; false:
 * said on stderr. */
static bool start_metrics(inspect_run *r, insp *in, const char *listen) {
    fs_err e = {0};
    if (!(r->metrics_text = malloc(METRICS_TEXT_MAX)) || insp_metrics_start(listen, &r->metrics, &e) != FS_OK) {
        fprintf(stderr, "fs38 inspect: %s\n", r->metrics_text ? e.msg : "out of memory");
        free(r->metrics_text);
        r->metrics_text = NULL;
        return false;
    }
    insp_stats st;
    insp_get_stats(in, &st);
    publish_metrics(r, &st, 0);
    if (!r->quiet)
        fprintf(stderr, "fs38 inspect: Prometheus metrics on port %u: GET /metrics\n", insp_metrics_port(r->metrics));
    return true;
}

static void stop_metrics(inspect_run *r) {
    insp_metrics_stop(r->metrics);
    r->metrics = NULL;
    free(r->metrics_text);
    r->metrics_text = NULL;
}

static void publish_metrics(inspect_run *r, const insp_stats *s, double secs) {
    insp_metrics_extra x = {.opened_by_rule = r->opened_by_rule, .indicators = r->ind.cur != NULL,
                            .indicator_reloads = r->ind.reloads};
    if (r->ind.cur) {
        det_indicators_info ii;
        det_indicators_get_info(r->ind.cur, &ii);
        x.indicator_events = ii.events;
    }
    size_t n = insp_metrics_text(s, &x, secs, r->metrics_text, METRICS_TEXT_MAX);
    if (n) insp_metrics_publish(r->metrics, r->metrics_text, n);
}

/* ---- configuration ------------------------------------------------------------------- */

/* ---- shared indicators ------------------------------------------------------------------ */

/* The cache `fs38 pull` writes; expired ones are skipped now, and again when
 * they expire during a live run. */
static det_indicators *load_indicators(const char *path, bool quiet) {
    fs_err e = {0};
    det_indicators *ind = det_indicators_load(path, (int64_t)(fs_time_now_us() / 1000), &e);
    if (!ind) {
        fprintf(stderr, "fs38 inspect: --indicators: %s\n", e.msg);
        return NULL;
    }
    det_indicators_info i;
    det_indicators_get_info(ind, &i);
    if (!quiet)
        fprintf(stderr, "fs38 inspect: %u shared indicators from %s (%u sources, %u numbers, %u user "
                        "agents; skipped %u expired, %u revoked, %u feedback, %u unmatchable)\n",
                i.events, path, i.sources, i.numbers, i.user_agents, i.expired, i.revoked, i.feedback,
                i.unmatchable);
    return ind;
}

/* Has the file changed since st was taken? `fs38 pull` renames a new one
 * over it (another inode); an editor may write it in place. */
static bool file_changed(const struct stat *a, const struct stat *b) {
    return a->st_ino != b->st_ino || a->st_dev != b->st_dev || a->st_size != b->st_size ||
           a->st_mtim.tv_sec != b->st_mtim.tv_sec || a->st_mtim.tv_nsec != b->st_mtim.tv_nsec;
}

#define INDICATORS_CHECK_US (2 * FS_USEC)

static void *indicators_load_main(void *arg) {
    inspect_run *r = arg;
    r->ind.load.result = det_indicators_load(r->ind.path, r->ind.load.now_ms, &r->ind.load.err);
    atomic_store(&r->ind.load.done, true);
    return NULL;
}

/* The load indicators_due started has ended (joined here): hand its set to
 * the workers, or say why there is none. A cache whose content is wrong is
 * tried again when it changes again; one that could not be read for a
 * passing reason (no memory, no descriptor) at the next check. */
static void indicators_loaded(inspect_run *r) {
    pthread_join(r->ind.load.thread, NULL);
    r->ind.load.running = false;
    det_indicators *ind = r->ind.load.result;
    r->ind.load.result = NULL;
    det_indicators_info was, i;
    det_indicators_get_info(r->ind.cur, &was);
    if (!ind) {
        fs_code c = r->ind.load.err.code;
        bool content = c == FS_ERR_FORMAT || c == FS_ERR_LIMIT;
        if (content) r->ind.seen = r->ind.load.st;
        if (content || !r->ind.warned)
            fprintf(stderr, "fs38 inspect: --indicators changed but does not load: %s (the %u indicators read "
                            "before stay in use%s)\n", r->ind.load.err.msg, was.events,
                    content ? "" : "; tried again every 2 s");
        r->ind.warned = !content;
        return;
    }
    r->ind.seen = r->ind.load.st;
    r->ind.warned = false;
    insp_set_indicators(r->in, ind);
    r->ind.retired = r->ind.cur;
    r->ind.cur = ind;
    r->ind.reloads++;
    det_indicators_get_info(ind, &i);
    if (!r->quiet)
        fprintf(stderr, "fs38 inspect: --indicators %s changed: %u shared indicators now (%u before)\n",
                r->ind.path, i.events, was.events);
}

/* In on_tick (live and HEP): every 2 s, if the --indicators cache (a
 * regular file) changed, read it again on a thread of its own, and at a
 * later tick hand the new set to the workers; the old one is freed once
 * they all left it. A cache that does not load leaves the set in use (said
 * on stderr). */
static void indicators_due(inspect_run *r, uint64_t now) {
    if (!r->ind.path || !r->in) return;
    if (r->ind.retired) {
        if (!insp_indicators_switched(r->in)) return;
        det_indicators_free(r->ind.retired);
        r->ind.retired = NULL;
    }
    if (r->ind.load.running) {
        if (!atomic_load(&r->ind.load.done)) return;
        indicators_loaded(r);
        return;
    }
    if (now < r->ind.next_check_us) return;
    r->ind.next_check_us = now + INDICATORS_CHECK_US;
    struct stat sb;
    if (stat(r->ind.path, &sb) != 0 || !S_ISREG(sb.st_mode) || !file_changed(&sb, &r->ind.seen)) return;
    r->ind.load.st = sb;
    r->ind.load.now_ms = (int64_t)(fs_time_now_us() / 1000); /* expiry: wall clock */
    r->ind.load.err = (fs_err){0};
    atomic_store(&r->ind.load.done, false);
    if (pthread_create(&r->ind.load.thread, NULL, indicators_load_main, r) != 0) {
        if (!r->ind.warned)
            fprintf(stderr, "fs38 inspect: --indicators changed but cannot be read now (no thread); tried "
                            "again every 2 s\n");
        r->ind.warned = true;
        return;
    }
    r->ind.load.running = true;
}

/* The end of a run: a load still going is waited for, its set freed. */
static void indicators_done(inspect_run *r) {
    if (!r->ind.load.running) return;
    pthread_join(r->ind.load.thread, NULL);
    r->ind.load.running = false;
    det_indicators_free(r->ind.load.result);
    r->ind.load.result = NULL;
}

/* ---- main ---------------------------------------------------------------------------- */

enum { OPT_BPF = 256, OPT_HEP, OPT_RAW, OPT_JSON, OPT_EVENTS, OPT_STATS, OPT_FAIL_ON, OPT_WORKERS,
       OPT_DURATION, OPT_COUNT, OPT_NO_PROGRESS, OPT_INDICATORS, OPT_SEED,
       OPT_TLS_KEYLOG, OPT_PCAP_OUT, OPT_PCAP_LIMIT, OPT_PCAP_LOOKBACK, OPT_ESP_SA, OPT_ESP_SA_OUT,
       OPT_STATS_INTERVAL, OPT_METRICS };

/* An output FILE '-' is stdout, as tcpdump -w - and an input '-' (stdin) are
 * (it made a file named '-'): /dev/stdout, which apart_from_outputs keeps
 * apart from the summary and --json's events. */
static const char *output_path(const char *path) { return strcmp(path, "-") == 0 ? "/dev/stdout" : path; }

static bool parse_u64_arg(const char *opt, const char *v, uint64_t max, uint64_t *out) {
    if (!fs_str_to_u64(fs_str_make(v, strlen(v)), max, out)) {
        fprintf(stderr, "fs38 inspect: %s '%s': expected a whole number up to %llu\n", opt, v,
                (unsigned long long)max);
        return false;
    }
    return true;
}

/* --seed: 1 to 16 hexadecimal digits, as --stats-json writes it. */
static bool parse_seed(const char *v, uint64_t *out) {
    size_t n = strspn(v, "0123456789abcdefABCDEF");
    if (n == 0 || n > 16 || v[n]) {
        fprintf(stderr, "fs38 inspect: --seed '%s': expected 1-16 hexadecimal digits "
                        "(the \"seed\" of an earlier run's --stats-json)\n", v);
        return false;
    }
    *out = strtoull(v, NULL, 16);
    return true;
}

/* The tables are mapped up front but filled lazily, so limits set beyond
 * the machine would only fail under a flood: refuse them at start. */
static bool memory_fits(insp *in, const fs38_config *cfg, bool capturing) {
    insp_stats st;
    insp_get_stats(in, &st);
    uint64_t sctp = cfg->capture.max_frag_bytes < CAP_SCTP_MAX_BYTES ? cfg->capture.max_frag_bytes : CAP_SCTP_MAX_BYTES;
    if (st.workers > 1) sctp *= st.workers; /* each worker's decoder reassembles SCTP (at most) */
    uint64_t ring = capturing ? (uint64_t)cfg->capture.live_buffer_mb << 20 : 0;
    /* with N workers each holds its share of max_tcp_bytes, but at least
     * one flow's max_flow_bytes (insp.c): N x max_flow_bytes may be more */
    uint64_t tcp = cfg->capture.max_tcp_bytes;
    if (st.workers > 1) {
        uint64_t share = tcp / st.workers;
        if (share < cfg->capture.max_flow_bytes) share = cfg->capture.max_flow_bytes;
        tcp = share * st.workers;
    }
    uint64_t need = st.mem.bound_bytes + tcp + cfg->capture.max_frag_bytes + sctp + st.lookback_memory + ring;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    uint64_t have = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
    if (!have || need <= have / 10 * 9) return true;
    fprintf(stderr,
            "fs38 inspect: the configured limits need up to %.0f MB (state tables %.0f MB, TCP %.0f MB, "
            "fragments %.0f MB, SCTP %.0f MB, look back %.0f MB, capture ring %.0f MB), more than 90 %% "
            "of this machine's %.0f MB (%.0f MB): lower state.* or limits.*%s%s\n",
            (double)need / 1048576.0, (double)st.mem.bound_bytes / 1048576.0,
            (double)tcp / 1048576.0, (double)cfg->capture.max_frag_bytes / 1048576.0,
            (double)sctp / 1048576.0, (double)st.lookback_memory / 1048576.0, (double)ring / 1048576.0,
            (double)have / 1048576.0, (double)(have / 10 * 9) / 1048576.0, st.lookback_memory ? ", or --pcap-lookback" : "",
            ring > (64u << 20) ? ", or capture.live_buffer_mb" : "");
    return false;
}

/* --count N packets were read: the files after are not opened (one
 * missing gave exit 2, and '-' waited for stdin's writer). */
static bool count_reached(insp *in, uint64_t count) {
    if (!count) return false;
    insp_stats st;
    insp_get_stats(in, &st);
    return st.frames_read >= count;
}

/* A live sensor says at start what it watches, its memory bound and where
 * its events go: a run of weeks shows its summary only when it stops. */
/* libpcap's NFLOG devices ("nflog", "nflog:GROUP"): no BPF filter. */
static bool is_nflog(const char *iface) { return strncmp(iface, "nflog", 5) == 0 && (!iface[5] || iface[5] == ':'); }

static void announce_live(insp *in, const inspect_run *r, const char *iface, const char *hep, const char *bpf,
                          uint64_t workers, uint64_t duration) {
    insp_stats st;
    insp_get_stats(in, &st);
    char until[48] = "SIGINT or SIGTERM";
    if (duration) snprintf(until, sizeof until, "%llu s (or SIGINT/SIGTERM)", (unsigned long long)duration);
    char ring[48] = "";
    if (iface) snprintf(ring, sizeof ring, "; capture buffer %u MB", r->live_buffer_mb);
    fprintf(stderr, "fs38 inspect: %s %s%s%s%s, %llu worker%s%s; state memory bound %.1f MB; events to %s%s; until %s\n",
            iface ? "capturing on" : "receiving HEP on", iface ? iface : hep,
            iface ? (bpf ? ", filter '" : is_nflog(iface) ? ", no filter (the NFLOG group's rule chose)" : ", default filter")
                  : hep_transports_name(cap_hep_spec(hep, NULL)),
            iface && bpf ? bpf : "", iface && bpf ? "'" : "",
            (unsigned long long)workers, workers == 1 ? "" : "s", ring, (double)st.mem.bound_bytes / 1048576.0,
            r->events_path ? r->events_path : r->json ? "stdout" : "the summary only",
            r->events_path ? " (SIGHUP reopens it)" : "", until);
}

/* The TLS key log (--tls-keylog, capture.tls_keylog: from, as the error
 * names it); NULL, said why, when it cannot be read. Lines that are not key
 * log lines are warned about. */
static cap_tls_keys *open_keylog(const char *path, const char *from, bool live, bool quiet) {
    cap_tls_keys *k = NULL;
    fs_err e = {0};
    if (cap_tls_keys_open(path, live, &k, &e) != FS_OK) {
        fprintf(stderr, "fs38 inspect: %s: %s\n", from, e.msg);
        return NULL;
    }
    cap_tls_keys_summary s;
    cap_tls_keys_info(k, &s);
    if (s.bad_lines)
        fprintf(stderr, "fs38 inspect: warning: TLS key log %s: %u line%s not in the NSS key log format "
                        "(LABEL CLIENT_RANDOM SECRET, in hex), passed over; the first is line %ld\n",
                path, s.bad_lines, s.bad_lines == 1 ? "" : "s", s.first_bad_line);
    if (s.dropped) /* else their connections count as "without keys", the log blamed for lines it has */
        fprintf(stderr, "fs38 inspect: warning: TLS key log %s: more sessions than the %u kept; %u lines "
                        "of later sessions passed over, their connections not read\n",
                path, s.sessions, s.dropped);
    if (s.sessions == 0 && !quiet)
        fprintf(stderr, "fs38 inspect: note: TLS key log %s holds no session%s\n", path,
                live ? " yet (read on as it grows)" : "");
    return k;
}

/* The handlers, first thing: a SIGHUP from logrotate or a SIGUSR1 from a
 * monitoring agent that comes while the config and the indicators load
 * must not end the process (their default). */
static void install_signals(void) {
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    struct sigaction hup = {.sa_handler = on_hangup};
    sigemptyset(&hup.sa_mask);
    hup.sa_flags = SA_RESTART;
    sigaction(SIGHUP, &hup, NULL);
    struct sigaction usr1 = {.sa_handler = on_usr1}; /* not its default: ending the process */
    sigemptyset(&usr1.sa_mask);
    usr1.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &usr1, NULL);
    signal(SIGPIPE, SIG_IGN); /* EPIPE instead: the reader of stdout left (reader_left) */
    signal(SIGXFSZ, SIG_IGN); /* EFBIG instead: past `ulimit -f`, reported as a full disk is */
}

int cmd_inspect(int argc, char **argv) {
    static const struct option longopts[] = {
        {"interface", required_argument, NULL, 'i'}, {"bpf", required_argument, NULL, OPT_BPF},
        {"hep", required_argument, NULL, OPT_HEP},   {"raw", no_argument, NULL, OPT_RAW},
        {"config", required_argument, NULL, 'c'},    {"json", no_argument, NULL, OPT_JSON},
        {"events", required_argument, NULL, OPT_EVENTS},
        {"stats-json", required_argument, NULL, OPT_STATS},
        {"stats-interval", required_argument, NULL, OPT_STATS_INTERVAL},
        {"metrics", required_argument, NULL, OPT_METRICS},
        {"fail-on", required_argument, NULL, OPT_FAIL_ON},
        {"workers", required_argument, NULL, OPT_WORKERS},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"count", required_argument, NULL, OPT_COUNT}, {"quiet", no_argument, NULL, 'q'},
        {"no-progress", no_argument, NULL, OPT_NO_PROGRESS}, {"help", no_argument, NULL, 'h'},
        {"indicators", required_argument, NULL, OPT_INDICATORS},
        {"seed", required_argument, NULL, OPT_SEED},
        {"tls-keylog", required_argument, NULL, OPT_TLS_KEYLOG},
        {"pcap-out", required_argument, NULL, OPT_PCAP_OUT},
        {"esp-sa", required_argument, NULL, OPT_ESP_SA},
        {"esp-sa-out", required_argument, NULL, OPT_ESP_SA_OUT},
        {"pcap-limit", required_argument, NULL, OPT_PCAP_LIMIT},
        {"pcap-lookback", required_argument, NULL, OPT_PCAP_LOOKBACK},
        {NULL, 0, NULL, 0}};
    inspect_run r = {.fail_on = -1, .max_severity = -1, .progress = true,
                     .out_stdout = {.name = "stdout", .fd = -1}, .out_file = {.fd = -1}};
    install_signals();
    const char *iface = NULL, *bpf = NULL, *hep = NULL, *indicators_path = NULL, *keylog_path = NULL,
               *esp_sa_path = NULL;
    bool raw = false, seed_given = false;
    uint64_t seed = 0, workers = 1, duration = 0, count = 0, pcap_limit = 100, pcap_lookback = 4;
    uint64_t stats_interval = 0;
    const char *metrics_listen = NULL;
    const char *pcap_option = NULL; /* --pcap-limit or --pcap-lookback, given (they need --pcap-out) */
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "i:c:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'i':
        case OPT_HEP:
            /* one live input per run: a second one must not silently
             * replace the first (the operator would think both watched) */
            if (iface || hep) {
                fprintf(stderr, "fs38 inspect: %s %s: one live input per run (-i IFACE or --hep ADDR:PORT, "
                                "once): run one fs38 per interface or HEP port (-i any captures every interface)\n",
                        c == 'i' ? "-i" : "--hep", optarg);
                return EXIT_USAGE;
            }
            if (c == 'i') iface = optarg;
            else hep = optarg;
            break;
        case OPT_BPF: bpf = optarg; break;
        case OPT_RAW: raw = true; break;
        case 'c': r.config_path = optarg; break;
        case OPT_JSON: r.json = true; break;
        case OPT_EVENTS: r.events_path = output_path(optarg); break;
        case OPT_STATS: r.stats_path = output_path(optarg); break;
        case OPT_METRICS: metrics_listen = optarg; break;
        case OPT_STATS_INTERVAL:
            if (!parse_u64_arg("--stats-interval", optarg, 86400, &stats_interval)) return EXIT_USAGE;
            break;
        case OPT_FAIL_ON:
            r.fail_on = det_severity_parse(optarg);
            if (r.fail_on < 0) {
                fprintf(stderr, "fs38 inspect: --fail-on '%s': expected info, low, medium, high or critical\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_WORKERS:
            if (!parse_u64_arg("--workers", optarg, INSP_MAX_WORKERS, &workers) || workers == 0) {
                if (workers == 0)
                    fprintf(stderr, "fs38 inspect: --workers '%s': expected a whole number 1-%d\n", optarg,
                            INSP_MAX_WORKERS);
                return EXIT_USAGE;
            }
            break;
        case OPT_DURATION:
            if (!parse_u64_arg("--duration", optarg, 100000000, &duration)) return EXIT_USAGE;
            break;
        case OPT_COUNT:
            if (!parse_u64_arg("--count", optarg, UINT64_MAX / 2, &count)) return EXIT_USAGE;
            break;
        case 'q': r.quiet = true; break;
        case OPT_NO_PROGRESS: r.progress = false; break;
        case OPT_INDICATORS: indicators_path = optarg; break;
        case OPT_TLS_KEYLOG: keylog_path = optarg; break;
        case OPT_PCAP_OUT: r.pcap.path = output_path(optarg); break;
        case OPT_ESP_SA: esp_sa_path = optarg; break;
        case OPT_ESP_SA_OUT: r.sa_out_path = output_path(optarg); break;
        case OPT_PCAP_LIMIT:
            if (!parse_u64_arg("--pcap-limit", optarg, UINT32_MAX, &pcap_limit)) return EXIT_USAGE;
            pcap_option = "--pcap-limit";
            break;
        case OPT_PCAP_LOOKBACK:
            if (!parse_u64_arg("--pcap-lookback", optarg, 1024, &pcap_lookback)) return EXIT_USAGE;
            pcap_option = "--pcap-lookback";
            break;
        case OPT_SEED:
            if (!parse_seed(optarg, &seed)) return EXIT_USAGE;
            seed_given = true;
            break;
        case 'h': fputs(usage_text, stdout); return cli_stdout_done("fs38 inspect");
        default: fputs("(fs38 inspect --help explains every option)\n", stderr); return EXIT_USAGE;
        }
    }
    int nfiles = argc - optind;
    int kinds = (iface != NULL) + (hep != NULL) + (nfiles > 0 && !iface && !hep);
    if (raw && (iface || hep || nfiles == 0)) {
        fprintf(stderr, "fs38 inspect: --raw reads SIP messages from files: "
                        "fs38 inspect --raw MSGFILE... (not with -i or --hep)\n");
        return EXIT_USAGE;
    }
    if (kinds != 1) {
        fprintf(stderr, "fs38 inspect: give capture files, or -i IFACE, or --hep ADDR:PORT "
                        "(one kind of input)\n%s",
                kinds == 0 ? "\n" : "");
        if (kinds == 0) fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    if ((iface || hep) && nfiles > 0) {
        fprintf(stderr, "fs38 inspect: unexpected argument '%s' with %s\n", argv[optind],
                iface ? "-i" : "--hep");
        return EXIT_USAGE;
    }
    /* stdin is read once: a second '-' found it at its end ("truncated dump
     * file ... only got 0", exit 2 after the first was inspected; with --raw
     * an empty message, a SIP_MALFORMED event of its own) */
    for (int i = optind, dashes = 0; i < argc; i++)
        if (!strcmp(argv[i], "-") && ++dashes == 2) {
            fprintf(stderr, "fs38 inspect: '-' (stdin) given twice: it can be read once\n");
            return EXIT_USAGE;
        }
    if (bpf && strlen(bpf) > BPF_MAX_LEN) {
        /* libpcap's optimiser grows with the cube of a filter's terms (300
         * "host" terms: 2 s, 1000: minutes) and cannot be interrupted */
        fprintf(stderr, "fs38 inspect: --bpf: %zu characters, at most %d: use net/mask ranges or "
                        "fewer terms\n", strlen(bpf), BPF_MAX_LEN);
        return EXIT_USAGE;
    }
    if (bpf && (hep || raw)) {
        fprintf(stderr, "fs38 inspect: --bpf filters capture files and -i, not %s\n", hep ? "--hep" : "--raw");
        return EXIT_USAGE;
    }
    if (hep) { /* a typo is a usage error now, not after "receiving HEP on ..." and the open-port note */
        const char *addr;
        struct sockaddr_storage ss;
        socklen_t sl;
        cap_hep_spec(hep, &addr);
        const char *bad = fs_listen_parse(addr, false, &ss, &sl);
        if (bad) {
            fprintf(stderr, "fs38 inspect: --hep '%s': %s ([udp:|tcp:|tls:]ADDR:PORT, e.g. 127.0.0.1:9060)\n",
                    hep, bad);
            return EXIT_USAGE;
        }
    }
    if (metrics_listen) { /* the same: before the open-port note, and for files too (a script's typo) */
        struct sockaddr_storage ss;
        socklen_t sl;
        const char *bad = fs_listen_parse(metrics_listen, true, &ss, &sl);
        if (bad) {
            fprintf(stderr, "fs38 inspect: --metrics '%s': %s (ADDR:PORT, e.g. 127.0.0.1:9438)\n", metrics_listen,
                    bad);
            return EXIT_USAGE;
        }
    }
    r.live = iface || hep;
    if (stats_interval && !r.stats_path) {
        fprintf(stderr, "fs38 inspect: --stats-interval %llu: give --stats-json FILE, the file it rewrites\n",
                (unsigned long long)stats_interval);
        return EXIT_USAGE;
    }
    r.stats_interval_us = stats_interval * FS_USEC;

    static fs38_config cfg; /* large: keep it off the stack */
    if (!cli_load_config(&cfg, r.config_path, "inspect", NULL, 0)) return EXIT_USAGE;
    det_indicators *indicators = NULL;
    /* the file as it is before it is read: a change from then on is read again */
    if (indicators_path && stat(indicators_path, &r.ind.seen) != 0) memset(&r.ind.seen, 0, sizeof r.ind.seen);
    if (indicators_path && !(indicators = load_indicators(indicators_path, r.quiet)))
        return EXIT_USAGE;
    if (indicators) { /* watched in a live run (indicators_due) */
        r.ind.path = indicators_path;
        r.ind.cur = indicators;
        r.ind.next_check_us = fs_time_mono_us() + INDICATORS_CHECK_US;
    }
    if (r.json) r.out_stdout.fd = STDOUT_FILENO;
    if (r.events_path && (!not_an_input("--events", r.events_path, argv + optind, nfiles) ||
                          !apart_from_outputs(&r, "--events", r.events_path))) {
        det_indicators_free(indicators);
        return EXIT_USAGE;
    }
    if (r.events_path) {
        r.out_file.name = r.events_path;
        r.out_file.fd = open_events_file(r.events_path);
        if (r.out_file.fd < 0) {
            fprintf(stderr, "fs38 inspect: --events %s: %s\n", r.events_path, strerror(errno));
            return EXIT_USAGE;
        }
        r.out_file.cut = events_file_cut(r.events_path, r.out_file.fd);
    }
    r.pcap.per_incident = (uint32_t)pcap_limit;
    if (r.pcap.path && (!not_an_input("--pcap-out", r.pcap.path, argv + optind, nfiles) ||
                        !apart_from_outputs(&r, "--pcap-out", r.pcap.path) || !open_pcap_out(&r.pcap))) {
        close_outputs(&r);
        det_indicators_free(indicators);
        return EXIT_USAGE;
    }
    if (r.sa_out_path && !cfg.ims_aka_keys && !r.quiet)
        fprintf(stderr, "fs38 inspect: note: capture.ims_aka_keys is off: --esp-sa-out will hold no SA\n");
    if (pcap_option && !r.pcap.path && !r.quiet)
        fprintf(stderr, "fs38 inspect: note: %s applies to --pcap-out FILE, which is not given\n", pcap_option);
    bool senders_certified = hep && (cap_hep_spec(hep, NULL) & CAP_HEP_TLS) && cfg.hep_tls_client_ca[0]; /* mutual TLS */
    if (hep && !cfg.capture.hep_auth_key[0] && !senders_certified && !loopback_listen(hep) && !r.quiet)
        fprintf(stderr, "fs38 inspect: note: --hep %s takes HEP from anyone who can reach it: set "
                        "capture.hep_auth_key to the senders' auth key, or listen with tls: and "
                        "capture.hep_tls_client_ca (docs/operations.md)\n", hep);
    if (r.sa_out_path && (!not_an_input("--esp-sa-out", r.sa_out_path, argv + optind, nfiles) ||
                          !apart_from_outputs(&r, "--esp-sa-out", r.sa_out_path) ||
                          !(r.sa_out = create_sa_out(r.sa_out_path)))) {
        close_outputs(&r);
        det_indicators_free(indicators);
        return EXIT_USAGE;
    }
    if (r.stats_path && (!not_an_input("--stats-json", r.stats_path, argv + optind, nfiles) ||
                         !apart_from_outputs(&r, "--stats-json", r.stats_path))) {
        close_outputs(&r);
        det_indicators_free(indicators);
        return EXIT_USAGE;
    }
    if (r.stats_path && !(r.stats_file = open_stats_file(r.stats_path, r.live))) {
        fprintf(stderr, "fs38 inspect: --stats-json %s: %s\n", r.stats_path, strerror(errno));
        close_outputs(&r);
        det_indicators_free(indicators);
        return EXIT_USAGE;
    }
    if (r.stats_file && !stats_replace_setup(&r)) {
        close_outputs(&r);
        det_indicators_free(indicators);
        return EXIT_USAGE;
    }
    if (r.stats_file && r.live && !r.stats_replace && ftruncate(fileno(r.stats_file), 0) != 0 && errno != EINVAL) {
        fprintf(stderr, "fs38 inspect: --stats-json %s: %s\n", r.stats_path, strerror(errno));
        close_outputs(&r);
        det_indicators_free(indicators);
        return EXIT_USAGE;
    }
    if (stats_interval && !r.live && !r.quiet)
        fprintf(stderr, "fs38 inspect: note: --stats-interval applies to live and HEP runs (-i, --hep); "
                        "a file run writes --stats-json at its end\n");
    if (metrics_listen && !r.live && !r.quiet)
        fprintf(stderr, "fs38 inspect: note: --metrics serves live and HEP runs (-i, --hep); "
                        "for files use --stats-json\n");
    if (duration && !r.live && !r.quiet)
        fprintf(stderr, "fs38 inspect: note: --duration stops live and HEP runs (-i, --hep); "
                        "a file run reads its files to the end (--count N stops after N packets)\n");
    if (metrics_listen && r.live && !loopback_listen(metrics_listen) && !r.quiet)
        fprintf(stderr, "fs38 inspect: note: --metrics %s answers anyone who can reach it (no "
                        "authentication): listen on a management address only\n", metrics_listen);
    r.progress = r.progress && !r.live && isatty(STDERR_FILENO);
    r.stdout_tty = isatty(STDOUT_FILENO);

    /* a file the config names is told by its key and file, not by the option not given */
    char from_cfg[320];
    snprintf(from_cfg, sizeof from_cfg, "capture.tls_keylog in %s", cfg.source_path);
    const char *keylog_from = keylog_path ? "--tls-keylog" : from_cfg;
    if (!keylog_path && cfg.tls_keylog[0]) keylog_path = cfg.tls_keylog;
    r.keylog = keylog_path != NULL;
    if (keylog_path && !(cfg.capture.tls_keys = open_keylog(keylog_path, keylog_from, iface != NULL, r.quiet))) {
        close_outputs(&r);
        det_indicators_free(indicators);
        return EXIT_USAGE;
    }
    snprintf(from_cfg, sizeof from_cfg, "capture.esp_sa in %s", cfg.source_path);
    const char *esp_sa_from = esp_sa_path ? "--esp-sa" : from_cfg;
    if (!esp_sa_path && cfg.esp_sa[0]) esp_sa_path = cfg.esp_sa;
    r.esp_sa = esp_sa_path != NULL;
    cap_esp_sas *esp_sas = NULL;
    if (esp_sa_path) {
        fs_err ee = {0};
        if (!(esp_sas = cap_esp_sas_load(esp_sa_path, &ee))) {
            fprintf(stderr, "fs38 inspect: %s: %s\n", esp_sa_from, ee.msg);
            cap_tls_keys_free(cfg.capture.tls_keys);
            close_outputs(&r);
            det_indicators_free(indicators);
            return EXIT_USAGE;
        }
        cfg.capture.esp_sas = esp_sas;
        if (cap_esp_sas_count(esp_sas) == 0 && !r.quiet)
            fprintf(stderr, "fs38 inspect: note: ESP SA file %s holds no security association\n", esp_sa_path);
    }
    insp_options o = {.cfg = &cfg, .workers = (unsigned)workers, .live = r.live,
                      .on_event = on_event, .on_progress = r.progress ? on_progress : NULL, .on_tick = on_tick,
                      .user = &r, .stop = &stop_flag, .max_packets = count,
                      .duration_us = duration * FS_USEC, .indicators = indicators,
                      .seed = seed_given ? &seed : NULL, .file_bpf = iface ? NULL : bpf,
                      .on_evidence = r.pcap.path ? on_evidence : NULL, .evidence_per_incident = r.pcap.per_incident,
                      .evidence_lookback = (size_t)pcap_lookback << 20};
    fs_err e = {0};
    insp *in = insp_new(&o, &e);
    /* memory_fits and start_metrics say why on stderr */
    if (!in || !memory_fits(in, &cfg, iface != NULL) ||
        (metrics_listen && r.live && !start_metrics(&r, in, metrics_listen))) {
        if (!in) fprintf(stderr, "fs38 inspect: %s\n", e.msg);
        insp_free(in);
        cap_tls_keys_free(cfg.capture.tls_keys);
        cap_esp_sas_free(esp_sas);
        close_outputs(&r);
        det_indicators_free(indicators);
        return EXIT_USAGE;
    }
    uint64_t t0 = fs_time_mono_us(); /* the run's length: monotonic, as are on_tick's intervals */
    r.live_buffer_mb = cfg.capture.live_buffer_mb;
    r.in = in;
    r.t0_us = r.stats_last_us = t0;
    if (r.live && duration) r.deadline_us = t0 + duration * FS_USEC;
    if (r.stats_replace) { /* FILE holds a whole object from the start: the figures at 0 */
        insp_stats st0;
        insp_get_stats(in, &st0);
        write_stats(&r, &st0, 0, false);
    }
    int readable = 0, inputs = 0, unreadable = 0;
    bool usage_error = false, live_broke = false, filter_failed = false;
    if (iface || hep) {
        inputs = 1;
        if (!r.quiet) announce_live(in, &r, iface, hep, bpf, workers, duration);
        fs_code rc = iface ? insp_run_live(in, iface, bpf, &e) : insp_run_hep(in, hep, &e);
        if (rc == FS_OK) {
            readable = 1;
        } else {
            fprintf(stderr, "fs38 inspect: %s\n", e.msg);
            /* a capture that broke after traffic (the interface went away):
             * what came before it is reported as at a signal -- without
             * --json or --events the summary is the only place its
             * incidents go -- and the exit code is still 2 */
            insp_stats so_far;
            insp_get_stats(in, &so_far);
            if (so_far.frames_read > 0) {
                readable = 1;
                live_broke = true;
            }
        }
    } else {
        /* --raw: each file is one packet, so --count N reads the first N files */
        for (int i = optind; i < argc && !stop_flag && !(raw && count && (uint64_t)inputs >= count) &&
                             !count_reached(in, count);
             i++) {
            inputs++;
            r.current = argv[i];
            uint64_t frames = 0;
            memset(&e, 0, sizeof e);
            fs_code rc = raw ? insp_run_raw(in, argv[i], &e) : insp_run_file(in, argv[i], &frames, &e);
            progress_clear(&r);
            /* it names the file, whose name may hold escape sequences (`fs38
             * inspect uploads/x.pcap`): made printable, as the progress line shows it */
            char why[sizeof e.msg];
            fs_text_printable(why, sizeof why, e.msg);
            if (rc == FS_ERR_USAGE) {
                fprintf(stderr, "fs38 inspect: %s\n", why);
                /* a filter that does not compile: a syntax error fails
                 * every file alike, a usage error; one that does not suit
                 * this file's (or a pcapng interface's) link type: what was
                 * read is reported, the other files are read (the first
                 * file's link type too: `--bpf 'ether host X' nflog.pcap
                 * eth.pcap` read neither), and the exit code is 2 */
                if (readable == 0 && frames == 0 && (!bpf || !cap_filter_suits_a_link(bpf))) {
                    usage_error = true;
                    break;
                }
                filter_failed = true;
                if (frames > 0) readable++;
                else unreadable++;
                continue;
            }
            if (rc == FS_OK) {
                readable++;
            } else if (frames > 0) {
                readable++;
                if (frames == 1)
                    fprintf(stderr, "fs38 inspect: warning: %s (the frame before it was inspected)\n", why);
                else
                    fprintf(stderr, "fs38 inspect: warning: %s (the %llu frames before it were inspected)\n",
                            why, (unsigned long long)frames);
            } else {
                unreadable++;
                fprintf(stderr, "fs38 inspect: %s\n", why);
            }
        }
    }
    if (usage_error) {
        stop_metrics(&r);
        insp_free(in);
        cap_tls_keys_free(cfg.capture.tls_keys);
        cap_esp_sas_free(esp_sas);
        det_indicators_free(indicators);
        close_outputs(&r);
        return EXIT_USAGE;
    }
    insp_finish(in);
    stop_metrics(&r);
    double secs = (double)(fs_time_mono_us() - t0) / 1e6;
    insp_stats st;
    insp_get_stats(in, &st);
    bool ok_out = true;
    if (r.stats_path) ok_out = write_stats(&r, &st, secs, true);
    /* events: every line counted as written is whole in its output */
    if (r.out_file.fd >= 0 && close(r.out_file.fd) != 0 && !r.out_file.lost) {
        r.out_file.first_error = errno; /* NFS reports a failed write at close */
        r.out_file.lost = 1;
    }
    r.out_file.fd = -1;
    if (!report_losses(&r.out_stdout)) ok_out = false;
    if (!report_losses(&r.out_file)) ok_out = false;
    if (!close_pcap_out(&r.pcap)) ok_out = false;
    if (r.sa_out && !write_sa_out(&r, in)) ok_out = false;
    /* A signal ends a live run; files it cuts short were not read to the end
     * (a reader of stdout that left and ended the run is no signal; when the
     * run went on for --events, --stats-json, --pcap-out, --esp-sa-out or
     * --fail-on, a signal is one). */
    bool cut_short = stop_flag && !r.live && !r.stopped_for_reader;
    bool exit_usage = readable == 0 || unreadable > 0 || !ok_out || cut_short || live_broke || filter_failed;
    bool exit_events = r.fail_on >= 0 && r.max_severity >= r.fail_on;
    if (!r.quiet && !r.json && readable > 0) {
        print_summary(stdout, &r, in, &st, inputs, secs);
        if (exit_events && !exit_usage)
            printf("\nexit 1: events at or above %s (--fail-on)\n", det_severity_name((det_severity)r.fail_on));
    }
    insp_free(in);
    cap_tls_keys_free(cfg.capture.tls_keys);
    cap_esp_sas_free(esp_sas);
    indicators_done(&r);
    det_indicators_free(r.ind.cur); /* indicators, or what a live run read since */
    det_indicators_free(r.ind.retired);
    int err = fflush(stdout) != 0 ? errno : 0;
    if ((err || ferror(stdout)) && err != EPIPE) { /* EPIPE: its reader had what it wanted (| head) */
        fprintf(stderr, "fs38 inspect: writing the summary to stdout: %s\n", err ? strerror(err) : "failed");
        exit_usage = true;
    }
    /* An input that could not be read at all is an input error even when
     * the others were inspected (as grep): a script must not lose a file
     * silently. A file that broke midway was read up to the break. */
    if (exit_usage) {
        if (unreadable > 0 && readable > 0)
            fprintf(stderr, "fs38 inspect: %d of %d inputs could not be read (exit 2)\n", unreadable, inputs);
        if (cut_short)
            fprintf(stderr, "fs38 inspect: interrupted before the end of the input: the summary and events "
                            "cover what was read (exit 2)\n");
        return EXIT_USAGE;
    }
    return exit_events ? EXIT_EVENTS : EXIT_DONE;
}

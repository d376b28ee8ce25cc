/*
 * cmd_hub.c -- `fs38 hub`: run the exchange server operators share signed
 * events through.
 *
 * Thin: options, the config file and printing; the server is src/hub
 * (hub_server.h). Logs one line on start, one per registry reload (SIGHUP)
 * and one on stop to stderr.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "hub/hub_server.h"

static void hub_log_line(void *ctx, const char *line) {
    (void)ctx;
    fprintf(stderr, "fs38 hub: %s\n", line);
}

static void hub_usage(FILE *out) {
    fputs("usage: fs38 hub --config hub.yaml [--check]\n\n"
          "Runs the fs38 hub: an HTTPS server with mutual TLS through which members\n"
          "(operators, service providers) publish and receive signed fs38 events.\n"
          "A member is its client certificate: the trust registry maps the certificate's\n"
          "SHA-256 fingerprint (cert_sha256) to the member's issuer; unknown or revoked\n"
          "certificates are refused during the TLS handshake.\n\n"
          "  -c, --config FILE  hub.yaml (see etc/hub.yaml; relative paths in it are taken\n"
          "                     from the file's folder). Required keys: tls.cert, tls.key,\n"
          "                     tls.ca, registry. Store: sqlite:PATH (default) or\n"
          "                     postgresql://user@host:port/db.\n"
          "      --check        load the config, registry, certificates and store (running\n"
          "                     migrations), print what would be served, and exit\n"
          "  -h, --help         this text\n\n"
          "API (docs/hub.md): POST /v1/events (publish a batch of JWS), GET /v1/events\n"
          "(pull by cursor), GET /v1/stream (server-sent events), GET /v1/sightings,\n"
          "GET /v1/snapshot (NDJSON), GET /v1/registry, GET /health, GET /metrics.\n\n"
          "Example:\n"
          "  fs38 hub --config /etc/fs38/hub.yaml\n"
          "  curl --cert member.crt --key member.key --cacert ca.crt https://hub:8443/health\n\n"
          "SIGINT/SIGTERM stop the hub; every acknowledged event is already durable.\n"
          "SIGHUP reloads the trust registry: a member marked revoked (or removed) can no\n"
          "longer connect, its open connections get 403 on their next request and are\n"
          "closed, its stream followers are dropped, and events signed by a revoked key\n"
          "are refused. A registry file that does not validate is not loaded: the\n"
          "previous one stays in force and the reason is logged.\n"
          "Exit codes: 0 stopped cleanly, 2 usage, config or startup error.\n",
          out);
}

int cmd_hub(int argc, char **argv) {
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"check", no_argument, NULL, 'C'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *config = NULL;
    bool check = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'C': check = true; break;
        case 'h': hub_usage(stdout); return cli_stdout_done("fs38 hub");
        default: hub_usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "fs38 hub: unexpected argument '%s'\n", argv[optind]);
        return EXIT_USAGE;
    }
    if (!config) {
        fprintf(stderr, "fs38 hub: --config is required (see fs38 hub --help)\n");
        return EXIT_USAGE;
    }
    /* SIGHUP (systemctl reload) while the hub starts -- a store migration,
     * NATS electing its leader: seconds -- took the default action and
     * killed it (exit 129, nothing logged). Held until the reload handler is
     * in place, then served as a reload; the threads started meanwhile keep
     * it blocked, so it reaches the event loop's thread. */
    sigset_t hup;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &hup, NULL);
    hub_config cfg;
    fs_err e;
    if (hub_config_load(config, &cfg, &e) != FS_OK) {
        fprintf(stderr, "fs38 hub: %s\n", e.msg);
        return EXIT_USAGE;
    }
    hub_server *s = NULL;
    bool in_use = false;
    if ((check ? hub_server_check(&cfg, &s, &in_use, &e) : hub_server_new(&cfg, &s, &e)) != FS_OK) {
        fprintf(stderr, "fs38 hub: %s\n", e.msg);
        hub_server_free(s);
        return EXIT_USAGE;
    }
    const char *store = !strncmp(cfg.store_url, "sqlite:", 7) ? cfg.store_url : "postgresql";
    if (check) {
        fprintf(stderr, "fs38 hub: config OK: node %s would listen on %s:%u%s (mutual TLS), store %s, %u verifying threads\n",
                cfg.node, cfg.listen_host, in_use ? cfg.listen_port : hub_server_port(s),
                in_use ? " (in use now: by the running hub?)" : "", store, cfg.workers);
        hub_server_free(s);
        return EXIT_DONE;
    }
    fprintf(stderr, "fs38 hub: node %s listening on %s:%u (mutual TLS), store %s, %u verifying threads\n",
            cfg.node, cfg.listen_host, hub_server_port(s), store, cfg.workers);
    hub_server_set_log(s, hub_log_line, NULL);
    hub_server_handle_signals(s);
    pthread_sigmask(SIG_UNBLOCK, &hup, NULL);
    int rc = EXIT_DONE;
    if (hub_server_run(s, &e) != FS_OK) {
        fprintf(stderr, "fs38 hub: %s\n", e.msg);
        rc = EXIT_USAGE;
    }
    hub_server_free(s);
    fprintf(stderr, "fs38 hub: stopped\n");
    return rc;
}

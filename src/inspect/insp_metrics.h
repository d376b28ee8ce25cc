/*
 * insp_metrics.h -- `fs38 inspect --metrics ADDR:PORT`: the Prometheus
 * endpoint of a live sensor.
 *
 * Owns: the Prometheus text (format 0.0.4) of a run's figures
 * (insp_metrics_text: the families docs/operations.md lists), and a
 * libmicrohttpd server (its own thread) on ADDR:PORT that answers GET /metrics
 * with the text last published (insp_metrics_publish), 404 to any other path
 * and 405 to any other method. Bounded: 32 connections at once, 16 KiB for a
 * request's line and headers, no body read, 5 s idle. Label values are
 * fs38's own names, never traffic.
 * Must not touch: the pipeline's state (the server only sees the text it is
 * given; the text is written from an insp_stats copy), printing.
 */
#ifndef FS_INSP_METRICS_H
#define FS_INSP_METRICS_H

#include <stddef.h>

#include "insp.h"

/* What the text needs beside insp_stats: what only the caller knows. */
typedef struct insp_metrics_extra {
    const uint64_t *opened_by_rule; /* R__COUNT incidents opened (live open reports), or NULL */
    bool indicators;                /* --indicators given: the two below are served */
    uint32_t indicator_events;
    uint64_t indicator_reloads;
} insp_metrics_extra;

/* The figures as exposition text into out[cap]; its length, 0 when cap was
 * too small (nothing to publish). */
size_t insp_metrics_text(const insp_stats *s, const insp_metrics_extra *x, double secs, char *out, size_t cap);

typedef struct insp_metrics insp_metrics;

/* "ADDR:PORT", "[::1]:PORT" or ":PORT" (every IPv4 address); port 0 takes a
 * free one (insp_metrics_port). Until the first publish /metrics answers
 * 503. FS_ERR_USAGE for a bad spec, FS_ERR_IO when it cannot listen. */
fs_code insp_metrics_start(const char *spec, insp_metrics **out, fs_err *e);
/* The port it listens on. */
unsigned insp_metrics_port(const insp_metrics *m);
/* Replace the text /metrics answers with (copied); thread-safe. false when
 * there was no memory for it (the previous text stays). */
bool insp_metrics_publish(insp_metrics *m, const char *text, size_t len);
/* Stop the thread, close the socket, free. NULL is fine. */
void insp_metrics_stop(insp_metrics *m);

#endif

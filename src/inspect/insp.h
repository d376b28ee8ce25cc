/*
 * insp.h -- the inspection pipeline: frames in, events and statistics out.
 *
 * Owns: wiring sources (files, stdin, live interfaces, a HEP socket, raw
 * message files) through the capture decoder into the detection engine, the
 * optional worker threads (--workers N: each owns a decoder and an engine,
 * frames are sharded by address so a flow and a client always land on the
 * same worker), serialising event callbacks, and merging statistics.
 * Must not touch: printing or argument parsing (src/cli), SIP grammar,
 * detection logic. Errors are returned in an fs_err.
 *
 * Threading: with workers <= 1 everything runs on the caller's thread. With
 * N > 1 the caller's thread reads frames, runs worker 0 itself and hands
 * the other workers' frames in batches to their threads; the event callback
 * is then called from several threads, one call at a time (a mutex is held
 * around it).
 */
#ifndef FS_INSP_H
#define FS_INSP_H

#include <signal.h>

#include "../capture/cap.h"
#include "../config/cfg.h"
#include "../detect/det.h"
#include "../events/ev.h"

#define INSP_MAX_WORKERS 16

typedef void (*insp_event_fn)(void *user, const ev_event *ev, bool final);
/* Called from the reading thread now and then (about every 64k frames). */
typedef void (*insp_progress_fn)(void *user, uint64_t offset, uint64_t size, uint64_t frames);
/* Live and HEP: called from the reading thread twice a second, whatever the
 * traffic, holding what serialises on_event calls, so it may touch what
 * on_event writes to (a SIGHUP's reopen of the events file on a quiet link). */
typedef void (*insp_tick_fn)(void *user);

typedef struct insp_options {
    const fs38_config *cfg;
    unsigned workers;            /* 0 or 1: single-threaded */
    bool live;                   /* report incidents as they open (det_engine_set_live) */
    insp_event_fn on_event;
    insp_progress_fn on_progress; /* optional */
    insp_tick_fn on_tick;        /* optional */
    void *user;
    volatile sig_atomic_t *stop; /* optional: set by a signal handler to stop reading */
    uint64_t max_packets;        /* 0 = unlimited */
    uint64_t duration_us;        /* live/HEP: stop after this long (0 = until stopped) */
    const det_indicators *indicators; /* shared indicators for INTEL-001 (NULL = none) */
    const uint64_t *seed;        /* hash seed for a reproducible run (NULL = random) */
    const char *file_bpf;        /* BPF filter for capture files (NULL = every frame) */
    /* optional: each message that counted toward a reported incident
     * (det_engine_set_evidence), at most evidence_per_incident of each
     * (0: all); called like on_event, one call at a time */
    det_evidence_fn on_evidence;
    uint32_t evidence_per_incident;
    size_t evidence_lookback;    /* with on_evidence: bytes of recent messages each worker keeps so
                                    that an incident's earlier messages come too (0: none) */
} insp_options;

/* Merged figures of every worker. */
typedef struct insp_stats {
    cap_stats cap;
    det_stats det;
    det_memory mem;              /* summed over workers */
    size_t decoder_memory;       /* summed cap_decoder_memory at the end */
    size_t lookback_memory;      /* the workers' look backs (evidence_lookback) */
    uint64_t frames_read;        /* frames handed to decoders (all sources) */
    uint64_t bytes_read;         /* captured bytes of those frames */
    unsigned workers;
    uint64_t seed;               /* the hash seed this run used (insp_options.seed) */
    uint64_t worker_messages[INSP_MAX_WORKERS]; /* SIP messages each worker parsed: the balance */
    char hep_error[CAP_ERROR_LEN]; /* why a bad HEP packet was refused (the first worker's first) */
    /* live and HEP: what was lost before fs38 read it (the kernel's buffer
     * was full: fs38 did not keep up), and what the interface dropped */
    uint64_t kernel_dropped, if_dropped;
    cap_hep_listen_stats hep;    /* --hep: its TCP connections */
    /* IMS AKA registrations whose ESP keys were learned (cfg ims_aka_keys),
     * and the SAs they gave (four each, a renewed one counted again) */
    uint64_t ims_aka_agreements, esp_sas_learned;
} insp_stats;

typedef struct insp insp;

insp *insp_new(const insp_options *o, fs_err *e);
/* Stops workers (if still running) and frees everything. */
void insp_free(insp *in);

/* A pcap/pcapng file ("-" = stdin). *frames receives how many frames were
 * read from it (those insp_options.file_bpf passed over too: the file was
 * read up to a break even when none passed). FS_ERR_FORMAT/IO when
 * the file broke or could not be opened: frames read before the break were
 * processed and stay valid; FS_ERR_USAGE when the filter does not compile. */
fs_code insp_run_file(insp *in, const char *path, uint64_t *frames, fs_err *e);
/* Live capture until stop, duration or max_packets. */
fs_code insp_run_live(insp *in, const char *iface, const char *bpf, fs_err *e);
/* HEP over UDP and TCP, or TLS, on "[udp:|tcp:|tls:]addr:port" ("[::1]:9060"
 * for IPv6; cap_hep_listen) until stop/duration/max, then what the sockets
 * still hold. */
fs_code insp_run_hep(insp *in, const char *listen, fs_err *e);
/* One file holding one SIP message ("-": stdin), inspected as a UDP datagram. */
fs_code insp_run_raw(insp *in, const char *path, fs_err *e);

/* End of input: flush decoders, close every incident (events are emitted),
 * join workers. Call once, before insp_get_stats. */
void insp_finish(insp *in);
/* The merged figures. After insp_finish, final. During a live or HEP run,
 * from the reading thread (in on_tick): the reader's figures now, and every
 * worker with a thread of its own as of its last tick (at most about half a
 * second behind, plus what waits in its queue). */
void insp_get_stats(insp *in, insp_stats *out);
/* The ESP SAs learned from IMS AKA registrations so far, in Wireshark's
 * esp_sa format, to f (nothing with capture.ims_aka_keys off); false when
 * f reports an error. */
bool insp_write_learned_sas(insp *in, FILE *f);
/* A live run: match traffic against ind from now on (INTEL-001), every
 * worker at its next record (the cache `fs38 pull` keeps was rewritten).
 * From on_tick (the reading thread): the workers are handed it when on_tick
 * returns and event_lock is let go. The set given before must stay until
 * insp_indicators_switched says every worker has left it. */
void insp_set_indicators(insp *in, const det_indicators *ind);
bool insp_indicators_switched(insp *in);
/* Busiest sources across workers (det_talker_before order), each one's
 * figures added up over every worker that counted it. */
int insp_top_talkers(insp *in, det_talker *out, int n);

#endif

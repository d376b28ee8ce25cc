/*
 * det_lookback.c -- the last messages a worker processed, kept for
 * --pcap-out so that an incident's frames begin with the first message its
 * window counted, not with the one that crossed its threshold.
 *
 * Owns: a ring of message copies (bytes) and a ring of their records
 * (time, addresses, the incidents' keys whose windows counted them, their
 * call). Both overwrite their oldest: nothing is evicted by hand, and a
 * record whose bytes were overwritten since is skipped. Nothing is
 * allocated per message: a message costs one copy, made once the engine
 * is done with it (det_lookback_add); the tags its detectors gave it wait
 * in the ring until then.
 * Must not touch: incidents, events, the evidence callback (det_engine.c
 * asks for an incident's earlier messages and hands them on).
 */
#include "det_internal.h"

#include <stdlib.h>
#include <string.h>

#define LB_TAGS 6                       /* incident windows one message counts toward, kept */
#define LB_REC_PER_BYTES 256            /* one record per this many bytes of ring */
#define LB_SLACK_US (2 * FS_USEC)       /* capture time may step back this much between messages */
#define LB_CALL_SLACK_US (120 * FS_USEC) /* a counted call's INVITE before its window (Wangiri's CANCEL) */
#define LB_MAX_CALLS 128                /* calls whose whole flow one incident's look back writes */
#define LB_OLDER_RUN 64                 /* records before the window in a row that end the walk back */

typedef struct lb_rec {
    uint64_t pos;      /* where its bytes start, counted from the ring's first byte ever */
    uint64_t ts_us, frame_no, call_key, leg;
    uint64_t tag[LB_TAGS]; /* incident keys whose windows counted it */
    fs_endpoint src, dst;
    uint32_t len;
    uint8_t transport, ntags;
    uint8_t written;   /* bit i: tag[i]'s incident has it already */
    bool from_hep;
    bool handed;       /* handed over already (for some incident): not again, one frame per message */
} lb_rec;

struct det_lookback {
    uint8_t *bytes;
    uint64_t nbytes, next_pos; /* next_pos: bytes written so far */
    lb_rec *recs;
    uint64_t nrecs, next_rec;  /* next_rec: records written so far */
    uint64_t tag[LB_TAGS];     /* the message being processed: its tags so far */
    uint8_t ntags, written;
    uint8_t *scratch;          /* a record's bytes made contiguous, to hand on */
};

det_lookback *det_lookback_new(size_t bytes) {
    det_lookback *lb = calloc(1, sizeof *lb);
    if (!lb) return NULL;
    lb->nbytes = bytes < 65536 ? 65536 : bytes;
    lb->nrecs = lb->nbytes / LB_REC_PER_BYTES;
    lb->bytes = malloc(lb->nbytes);
    lb->recs = calloc(lb->nrecs, sizeof *lb->recs);
    lb->scratch = malloc(DET_LOOKBACK_MAX_MESSAGE);
    if (!lb->bytes || !lb->recs || !lb->scratch) {
        det_lookback_free(lb);
        return NULL;
    }
    return lb;
}

void det_lookback_free(det_lookback *lb) {
    if (!lb) return;
    free(lb->bytes);
    free(lb->recs);
    free(lb->scratch);
    free(lb);
}

size_t det_lookback_memory(const det_lookback *lb) {
    return lb ? sizeof *lb + lb->nbytes + lb->nrecs * sizeof(lb_rec) + DET_LOOKBACK_MAX_MESSAGE : 0;
}

void det_lookback_tag(det_lookback *lb, uint64_t incident_key) {
    for (unsigned i = 0; i < lb->ntags; i++)
        if (lb->tag[i] == incident_key) return;
    if (lb->ntags < LB_TAGS) lb->tag[lb->ntags++] = incident_key;
}

/* The tag's index among tags, or -1. */
static int tag_index(const uint64_t *tags, unsigned n, uint64_t incident_key) {
    for (unsigned i = 0; i < n; i++)
        if (tags[i] == incident_key) return (int)i;
    return -1;
}

void det_lookback_written(det_lookback *lb, uint64_t incident_key) {
    int i = tag_index(lb->tag, lb->ntags, incident_key);
    if (i >= 0) lb->written |= (uint8_t)(1u << i);
}

/* Of len bytes at ring position pos, how many lie before the ring's end
 * (the rest wrap to its start). */
static uint64_t bytes_before_end(const det_lookback *lb, uint64_t pos, uint32_t len) {
    uint64_t room = lb->nbytes - pos % lb->nbytes;
    return room < len ? room : len;
}

void det_lookback_add(det_lookback *lb, const cap_payload *p, uint64_t ts_us, uint64_t call_key, uint64_t leg,
                      bool handed) {
    uint8_t ntags = lb->ntags, written = lb->written;
    lb->ntags = lb->written = 0;
    if (p->len > DET_LOOKBACK_MAX_MESSAGE || p->len > lb->nbytes / 4) return;
    lb_rec *r = &lb->recs[lb->next_rec++ % lb->nrecs];
    r->pos = lb->next_pos;
    r->len = p->len;
    r->ts_us = ts_us;
    r->frame_no = p->frame_no;
    r->call_key = call_key;
    r->leg = leg;
    memcpy(r->tag, lb->tag, sizeof r->tag);
    r->ntags = ntags;
    r->written = written;
    r->handed = handed;
    r->src = p->src;
    r->dst = p->dst;
    r->transport = p->transport;
    r->from_hep = p->from_hep;
    uint64_t first = bytes_before_end(lb, lb->next_pos, p->len);
    memcpy(lb->bytes + lb->next_pos % lb->nbytes, p->data, first);
    memcpy(lb->bytes, p->data + first, p->len - first);
    lb->next_pos += p->len;
}

/* Record number n, if it is still whole (neither it nor its bytes
 * overwritten). */
static lb_rec *rec_at(det_lookback *lb, uint64_t n) {
    if (n >= lb->next_rec || lb->next_rec - n > lb->nrecs) return NULL;
    lb_rec *r = &lb->recs[n % lb->nrecs];
    return lb->next_pos - r->pos > lb->nbytes ? NULL : r;
}

static bool has_call(const uint64_t *calls, unsigned n, uint64_t key) {
    for (unsigned i = 0; i < n; i++)
        if (calls[i] == key) return true;
    return false;
}

/* Was r counted toward the incident (its window, since since_us), and not
 * handed on for it yet? */
static bool counted(const lb_rec *r, uint64_t incident_key, uint64_t since_us) {
    int i = tag_index(r->tag, r->ntags, incident_key);
    return i >= 0 && !(r->written >> i & 1) && r->ts_us >= since_us;
}

uint32_t det_lookback_each(det_lookback *lb, uint64_t incident_key, uint64_t since_us, bool with_calls,
                           uint64_t leg, uint32_t budget, det_lookback_fn fn, det_lookback_call_fn on_call,
                           void *user) {
    if (!budget || !lb->next_rec) return 0;
    /* back from the newest record to the first one before the window (less
     * a slack: times are not always in order; a call's INVITE precedes the
     * CANCEL a Wangiri window counts), past a few older ones: one message
     * stamped earlier than its neighbours (another HEP sender's clock, a
     * stray) must not hide the window's messages before it */
    uint64_t slack = with_calls ? LB_CALL_SLACK_US : LB_SLACK_US;
    uint64_t from = since_us > slack ? since_us - slack : 0;
    uint64_t oldest = lb->next_rec > lb->nrecs ? lb->next_rec - lb->nrecs : 0, lo = lb->next_rec;
    unsigned older = 0;
    for (uint64_t n = lb->next_rec; n > oldest && older < LB_OLDER_RUN; n--) {
        const lb_rec *r = &lb->recs[(n - 1) % lb->nrecs];
        if (lb->next_pos - r->pos > lb->nbytes) break;
        if (r->ts_us < from) {
            older++;
        } else {
            older = 0;
            lo = n - 1;
        }
    }
    /* the call legs of the first `budget` messages counted, for their flows */
    uint64_t calls[LB_MAX_CALLS];
    unsigned ncalls = 0;
    uint32_t take = 0;
    if (with_calls && leg && tag_index(lb->tag, lb->ntags, incident_key) >= 0)
        calls[ncalls++] = leg; /* the call that crossed: its start came before */
    for (uint64_t n = lo; n < lb->next_rec && take < budget; n++) {
        const lb_rec *r = rec_at(lb, n);
        if (!r || !counted(r, incident_key, since_us)) continue;
        take++;
        if (with_calls && r->call_key && ncalls < LB_MAX_CALLS && !has_call(calls, ncalls, r->leg)) {
            calls[ncalls++] = r->leg;
            if (on_call) on_call(user, r->call_key);
        }
    }
    /* oldest first: those counted, and every message of their calls; not
     * one already handed over (it has its frame, naming the incident it
     * was handed over for first) */
    uint32_t handed = 0, counted_handed = 0;
    for (uint64_t n = lo; n < lb->next_rec && handed < budget; n++) {
        lb_rec *r = rec_at(lb, n);
        if (!r) continue;
        bool is_counted = counted_handed < take && counted(r, incident_key, since_us);
        bool in_call = !is_counted && ncalls && r->call_key && has_call(calls, ncalls, r->leg);
        if (!is_counted && !in_call) continue;
        if (is_counted) {
            r->written |= (uint8_t)(1u << tag_index(r->tag, r->ntags, incident_key));
            counted_handed++;
        }
        if (r->handed) continue;
        r->handed = true;
        uint64_t first = bytes_before_end(lb, r->pos, r->len);
        memcpy(lb->scratch, lb->bytes + r->pos % lb->nbytes, first);
        memcpy(lb->scratch + first, lb->bytes, r->len - first);
        cap_payload p = {.data = lb->scratch, .len = r->len, .src = r->src, .dst = r->dst,
                         .transport = r->transport, .from_hep = r->from_hep, .ts_us = r->ts_us,
                         .frame_no = r->frame_no};
        fn(user, &p, in_call);
        handed++;
    }
    return handed;
}

/*
 * cap_tcp.c -- TCP stream reassembly and SIP message framing.
 *
 * Owns: the flow table (one entry per direction of a connection, keyed by
 * src/dst address and port), in-order delivery with a small hold queue for
 * future segments, retransmission/overlap trimming, gap handling with resync
 * to the next SIP start line, framing by Content-Length (cap_frame.c) and
 * emitting each complete message once; SIP over WebSocket (RFC 7118): after
 * a direction's opening handshake for SIP (on any port), its frames are read
 * by cap_ws.c, each WebSocket message one SIP message (transport ws), and a
 * gap resyncs on the next frame that starts like SIP. Also the bounds: max_tcp_flows (LRU
 * eviction), tcp_idle_s, max_flow_bytes per direction, max_tcp_bytes overall.
 * Must not touch: IP/link decoding, UDP, what is in a HEP packet, SIP semantics.
 *
 * Data path: an in-order segment arriving on an empty buffer is framed in
 * place (no copy); only the unfinished tail of a message is copied into the
 * flow's buffer. Sequence numbers are compared with 32-bit serial arithmetic,
 * so wraparound needs no special case.
 *
 * Gaps: a segment beyond next_seq is held (max_flow_bytes per direction,
 * each hold's header counted, and at most TCP_HOLD_MAX holds). When that is
 * full, when the oldest hold waited TCP_GAP_WAIT_US of capture time, on idle
 * expiry and at finish, the missing bytes are given up: the partial message
 * is dropped (tcp_gaps), and the stream resumes at the first held byte in
 * resync mode, which discards up to the next SIP start line followed by a
 * header line. The range given up is remembered (one per direction): late
 * bytes there that frame as whole messages are still emitted, once. The
 * peer's ACKs steer this (gap_held_open): a gap the receiver still waits on
 * is not given up, and one given up resumes at its ACK when that is nearer.
 * An RST ends a direction only at the next byte expected, as a receiver
 * checks it (rst_acceptable; from a side whose direction is not read, the
 * byte its peer's last ACK expects).
 *
 * Framing state (cap_frame_scan) is kept per direction for the unfinished
 * message, so however it is cut into segments each byte is read about once.
 *
 * Closed: after FIN (once every byte before it arrived) or RST a direction
 * moves to the closed list, buffers freed, for TCP_CLOSED_KEEP_US; data at or
 * below its end is a retransmission there (its SYN too), bytes after its end
 * are dropped (a receiver takes none after FIN or RST), a new SYN or data
 * well past the end opens it again. Closed directions count against max_tcp_flows and go first.
 *
 * HEP v3 over TCP (a HEP port, cap_config.hep_ports): a direction that
 * opens with a SYN or with bytes that start a HEP v3 packet (or, picked up
 * mid-stream, that hold one's start: read from there) is cut into
 * packets by their total length (cap_hep_frame), each handed to the HEP
 * callback (cap_tcp_set_hep); bytes that do not go on with "HEP3" go to it
 * once as they are (a bad packet, named there), then the stream resyncs on
 * the next "HEP3", as after a gap. One opened with a SYN whose first bytes
 * start like SIP (the heuristic) is SIP over TCP instead.
 *
 * Heuristic flows (no SIP port): tracked when the first data starts like a
 * SIP start line, or cannot tell yet (at most TCP_PENDING_MAX of those: they
 * are dropped as soon as their bytes are not SIP).
 *
 * The flow hash is keyed with the run's seed (cap_tcp_set_seed).
 */
#include "cap.h"

#include <assert.h>
#include <stdlib.h>
#include <zlib.h>

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

#define TCP_HOLD_MAX 256                /* future segments held per direction (and
                                         * max_flow_bytes of them, headers counted) */
#define TCP_GAP_WAIT_US (2 * FS_USEC)   /* capture time a gap may stay open */
#define TCP_RESYNC_KEEP 4096            /* undecided resync candidate kept */
#define TCP_CLOSED_KEEP_US (30 * FS_USEC) /* a closed direction is remembered */
#define TCP_PENDING_MAX 1024            /* heuristic flows not yet known to be SIP */
#define TCP_MIN_BUF 2048u
#define TCP_POOL_MAX 1024               /* idle flow structs kept for reuse */
#define TCP_FAR_BEHIND (1u << 30)       /* a seq this far back is a new stream */
#define TCP_EVICT_LOOK 8                /* least recently used flows looked at for one
                                         * that holds nothing, to evict */

typedef struct tcp_hold {
    struct tcp_hold *next; /* sorted by seq relative to next_seq */
    uint32_t seq, len;
    uint64_t ts_us, frame_no;
    uint8_t data[];
} tcp_hold;

typedef struct tcp_buf {
    uint8_t *data;
    uint32_t len, cap;
} tcp_buf;

typedef struct tcp_flow {
    struct tcp_flow *hnext;
    struct tcp_flow *lru_prev, *lru_next; /* least recently used first */
    struct tcp_flow *gap_prev, *gap_next; /* flows with holds, oldest hold first */
    bool in_gap_list;
    fs_endpoint src, dst;
    uint64_t hash;
    uint32_t next_seq; /* closed: the end of what the direction sent */
    uint32_t fin_seq;
    bool fin;
    uint64_t fin_ts; /* when the FIN was first seen */
    bool closed;   /* FIN/RST seen: on the closed list, no buffers; data at or
                    * below next_seq is a retransmission */
    bool pending;  /* heuristic port, not yet known to start like SIP */
    uint32_t pending_no; /* which pending flow it was (pend_ring) */
    uint32_t isn;  /* the SYN's sequence number, when syn_seen */
    bool syn_seen;
    uint32_t lost_seq, lost_len; /* the last gap given up: bytes never seen */
    uint32_t acked;      /* the peer's last cumulative ACK of this direction, when acked_seen */
    bool acked_seen;
    uint64_t acked_ts;   /* when the peer sent it */
    uint32_t ack_out;    /* the last cumulative ACK this direction sent: the next byte it
                          * expects of the other, when ack_out_seen */
    bool ack_out_seen;
    cap_frame_scan scan; /* framing state of the unfinished message */
    cap_ws_scan ws_scan; /* WebSocket: the frames of the unfinished message walked so far */
    bool resync;   /* discard bytes until a line that starts a SIP message (WebSocket:
                    * a frame whose payload does) */
    bool ws;       /* after a WebSocket handshake for SIP: frames, not SIP text */
    bool ws_deflate; /* ... whose handshake named permessage-deflate (RFC 7692) */
    z_stream *ws_z;  /* its compressed messages' window, made with the first (ws_inflater) */
    bool ws_more;  /* WebSocket: the frames left of a message too long, skipped */
    bool hep;      /* on a HEP port, opened as HEP v3: packets, not SIP text */
    bool mid_line; /* resync: the next byte does not start a line */
    bool line_unsure; /* resync: the next byte may start a line or be inside one (picked up
                       * mid-stream, or after a gap): a start line there needs a known method */
    uint64_t skip; /* bytes of an oversize message still to discard */
    tcp_buf buf;   /* unfinished message (TLS: unfinished record), data[0, len) */
    tcp_buf plain; /* TLS: the unfinished message of the decrypted bytes */
    cap_tls_dir *tls; /* began with a TLS hello: records, read by cap_tls.c */
    tcp_hold *holds;
    uint32_t nholds, hold_bytes;
    uint64_t last_ts, hold_since;
} tcp_flow;

struct cap_tcp_table {
    uint32_t max_flows, max_flow_bytes, max_msg;
    uint64_t max_bytes, idle_us;
    bool heuristic;
    cap_stats *st;
    cap_emit_fn emit;
    void *user;
    tcp_flow **buckets; /* allocated with the first flow */
    uint32_t mask;
    tcp_flow *lru_head, *lru_tail;
    tcp_flow *gap_head, *gap_tail;
    tcp_flow *closed_head, *closed_tail; /* closed directions, oldest first */
    tcp_flow *pool;
    uint32_t nflows, npool; /* nflows: open directions */
    uint32_t nclosed, npending;
    /* the last TCP_PENDING_MAX flows that became pending, oldest at
     * pend_next % TCP_PENDING_MAX: when they are all still pending, the
     * oldest makes room (never-deciding flows cannot hold the slots) */
    struct {
        tcp_flow *f;
        uint32_t no;
    } pend_ring[TCP_PENDING_MAX];
    uint32_t pend_next;
    uint64_t seed;
    uint64_t bytes; /* buffers + held segments */
    const fs_encap *encap; /* the segment being read's path (cap_tcp_segment), else NULL */
    uint8_t *ws_out;       /* a WebSocket message unmasked (max_msg bytes, from the first) */
    uint8_t *ws_plain;     /* ... inflated (max_msg + 1 bytes, from the first compressed one) */
    cap_tls_keys *tls_keys;
    cap_tls_ctx *tlsx;     /* made with the first TLS direction */
    cap_tls_hello_fn tls_hello; /* told each ServerHello (cap_decoder_set_tls_hello) */
    void *tls_hello_user;
    cap_tcp_hep_fn hep;    /* each HEP packet off a HEP port's stream (cap_tcp_set_hep) */
    void *hep_user;
};

/* ---- table ------------------------------------------------------------------ */

cap_tcp_table *cap_tcp_new(const cap_config *cfg, cap_stats *st, cap_emit_fn emit, void *user,
                           fs_err *e) {
    cap_tcp_table *t = calloc(1, sizeof *t);
    if (!t) {
        fs_fail(e, FS_ERR_NOMEM, "out of memory for the TCP flow table");
        return NULL;
    }
    t->max_flows = cfg->max_tcp_flows ? cfg->max_tcp_flows : 1;
    t->max_flow_bytes = cfg->max_flow_bytes ? cfg->max_flow_bytes : 1;
    t->max_msg = cfg->sip.max_message ? cfg->sip.max_message : 65535;
    if (t->max_msg > t->max_flow_bytes) t->max_msg = t->max_flow_bytes;
    /* a WebSocket message of max_msg bytes is held whole with its frame
     * header (limits.max_flow_bytes may equal max_message) */
    if (t->max_flow_bytes - t->max_msg < CAP_WS_MAX_HEADER) t->max_flow_bytes = t->max_msg + CAP_WS_MAX_HEADER;
    t->max_bytes = cfg->max_tcp_bytes;
    t->idle_us = (uint64_t)cfg->tcp_idle_s * FS_USEC;
    t->heuristic = cfg->heuristic;
    t->tls_keys = cfg->tls_keys;
    t->st = st;
    t->emit = emit;
    t->user = user;
    return t;
}

void cap_tcp_set_tls_hello(cap_tcp_table *t, cap_tls_hello_fn fn, void *user) {
    t->tls_hello = fn;
    t->tls_hello_user = user;
}

void cap_tcp_set_hep(cap_tcp_table *t, cap_tcp_hep_fn fn, void *user) {
    t->hep = fn;
    t->hep_user = user;
}

void cap_tcp_set_seed(cap_tcp_table *t, uint64_t seed) {
    assert(t->nflows == 0 && t->nclosed == 0);
    t->seed = seed;
}

/* Keyed with the run's seed (cap_decoder_set_seed): a capture cannot be made
 * to put its flows in one bucket without knowing it. */
static uint64_t flow_hash(const cap_tcp_table *t, const fs_endpoint *src, const fs_endpoint *dst) {
    uint8_t b[38];
    memcpy(b, src->addr.ip, 16);
    memcpy(b + 16, dst->addr.ip, 16);
    memcpy(b + 32, &src->port, 2);
    memcpy(b + 34, &dst->port, 2);
    b[36] = src->addr.family;
    b[37] = dst->addr.family;
    return fs_hash_bytes(b, sizeof b, t->seed ^ 0x746370ULL);
}

static bool endpoint_eq(const fs_endpoint *a, const fs_endpoint *b) {
    return a->port == b->port && fs_addr_eq(&a->addr, &b->addr);
}

static tcp_flow *flow_find(cap_tcp_table *t, const fs_endpoint *src, const fs_endpoint *dst,
                           uint64_t h) {
    if (!t->buckets) return NULL;
    for (tcp_flow *f = t->buckets[h & t->mask]; f; f = f->hnext)
        if (f->hash == h && endpoint_eq(&f->src, src) && endpoint_eq(&f->dst, dst)) return f;
    return NULL;
}

static void account(cap_tcp_table *t, int64_t delta) {
    assert(delta >= 0 || t->bytes >= (uint64_t)-delta);
    t->bytes = (uint64_t)((int64_t)t->bytes + delta);
    if (t->bytes > t->st->tcp_bytes_buffered_peak) t->st->tcp_bytes_buffered_peak = t->bytes;
}

static void gap_list_remove(cap_tcp_table *t, tcp_flow *f) {
    if (!f->in_gap_list) return;
    if (f->gap_prev) f->gap_prev->gap_next = f->gap_next;
    else t->gap_head = f->gap_next;
    if (f->gap_next) f->gap_next->gap_prev = f->gap_prev;
    else t->gap_tail = f->gap_prev;
    f->gap_prev = f->gap_next = NULL;
    f->in_gap_list = false;
}

static void gap_list_append(cap_tcp_table *t, tcp_flow *f, uint64_t now) {
    gap_list_remove(t, f);
    f->hold_since = now;
    f->gap_prev = t->gap_tail;
    if (t->gap_tail) t->gap_tail->gap_next = f;
    else t->gap_head = f;
    t->gap_tail = f;
    f->in_gap_list = true;
}

/* Unlink f from the list its lru links are on (the LRU or the closed list). */
static void links_remove(tcp_flow **head, tcp_flow **tail, tcp_flow *f) {
    if (f->lru_prev) f->lru_prev->lru_next = f->lru_next;
    else *head = f->lru_next;
    if (f->lru_next) f->lru_next->lru_prev = f->lru_prev;
    else *tail = f->lru_prev;
    f->lru_prev = f->lru_next = NULL;
}

static void lru_remove(cap_tcp_table *t, tcp_flow *f) { links_remove(&t->lru_head, &t->lru_tail, f); }

static void lru_append(cap_tcp_table *t, tcp_flow *f) {
    f->lru_prev = t->lru_tail;
    f->lru_next = NULL;
    if (t->lru_tail) t->lru_tail->lru_next = f;
    else t->lru_head = f;
    t->lru_tail = f;
}

static void hold_free(cap_tcp_table *t, tcp_flow *f, tcp_hold *h) {
    assert(f->nholds > 0 && f->hold_bytes >= h->len);
    f->nholds--;
    f->hold_bytes -= h->len;
    account(t, -(int64_t)(sizeof *h + h->len));
    free(h);
}

/* Give up every held segment of f (its bytes counted as dropped). */
static void holds_drop(cap_tcp_table *t, tcp_flow *f) {
    while (f->holds) {
        tcp_hold *h = f->holds;
        f->holds = h->next;
        t->st->tcp_bytes_dropped += h->len;
        hold_free(t, f, h);
    }
}

/* Drop the unfinished message (and TLS record), counting its bytes. */
static void buffer_drop(cap_tcp_table *t, tcp_flow *f) {
    t->st->tcp_bytes_dropped += f->buf.len + f->plain.len;
    f->buf.len = f->plain.len = 0;
    memset(&f->scan, 0, sizeof f->scan);
    memset(&f->ws_scan, 0, sizeof f->ws_scan);
}

static void buf_free(cap_tcp_table *t, tcp_buf *b) {
    account(t, -(int64_t)b->cap);
    free(b->data);
    b->data = NULL;
    b->cap = 0;
}

static void tls_end(cap_tcp_table *t, tcp_flow *f) {
    if (!f->tls) return;
    cap_tls_end(t->tlsx, f->tls);
    cap_tls_dir_free(f->tls);
    f->tls = NULL;
    account(t, -(int64_t)cap_tls_dir_size());
}

/* A WebSocket direction's inflate state: zlib's (at most 7 KiB) and its
 * 32 KiB window, counted in the budget as one block. */
#define WS_INFLATER_BYTES (sizeof(z_stream) + 40 * 1024)

static void ws_inflater_end(cap_tcp_table *t, tcp_flow *f) {
    if (!f->ws_z) return;
    inflateEnd(f->ws_z);
    free(f->ws_z);
    f->ws_z = NULL;
    account(t, -(int64_t)WS_INFLATER_BYTES);
}

/* Everything the direction holds but its holds: buffers, TLS and inflate state. */
static void buffer_release(cap_tcp_table *t, tcp_flow *f) {
    buffer_drop(t, f);
    buf_free(t, &f->buf);
    buf_free(t, &f->plain);
    tls_end(t, f);
    ws_inflater_end(t, f);
}

static void flow_pool(cap_tcp_table *t, tcp_flow *f) {
    if (t->npool < TCP_POOL_MAX) {
        f->hnext = t->pool;
        t->pool = f;
        t->npool++;
    } else {
        free(f);
    }
}

/* The closed list reuses the LRU links (a flow is on one of the two). */
static void closed_remove(cap_tcp_table *t, tcp_flow *f) { links_remove(&t->closed_head, &t->closed_tail, f); }

/* Free everything a flow holds and unlink it; the struct goes to the pool. */
/* f is no longer pending (SIP, not SIP, closed or destroyed): its slot in
 * pend_ring, if still its own, is cleared, so that the ring never points
 * to a flow that was freed (or pooled and taken by another) since. */
static void pending_end(cap_tcp_table *t, tcp_flow *f) {
    uint32_t slot = f->pending_no % TCP_PENDING_MAX;
    if (t->pend_ring[slot].f == f && t->pend_ring[slot].no == f->pending_no) t->pend_ring[slot].f = NULL;
    assert(t->npending > 0);
    t->npending--;
    f->pending = false;
}

static void flow_destroy(cap_tcp_table *t, tcp_flow *f) {
    tcp_flow **pp = &t->buckets[f->hash & t->mask];
    while (*pp != f) {
        assert(*pp);
        pp = &(*pp)->hnext;
    }
    *pp = f->hnext;
    if (f->closed) {
        closed_remove(t, f);
        assert(t->nclosed > 0);
        t->nclosed--;
        f->hnext = NULL;
        flow_pool(t, f);
        return;
    }
    if (f->pending) pending_end(t, f);
    lru_remove(t, f);
    gap_list_remove(t, f);
    holds_drop(t, f);
    buffer_release(t, f);
    assert(t->nflows > 0);
    t->nflows--;
    t->st->tcp_flows_live = t->nflows;
    flow_pool(t, f);
}

static tcp_flow *flow_create(cap_tcp_table *t, const cap_tcp_seg *s, uint64_t h);
static bool make_room(cap_tcp_table *t, tcp_flow *f, uint64_t more);

/* ---- framing ---------------------------------------------------------------- */

static void emit_msg(cap_tcp_table *t, const tcp_flow *f, const uint8_t *p, uint32_t n, bool oversized,
                     uint64_t ts, uint64_t frame_no) {
    cap_payload pl = {.data = p,
                      .len = n,
                      .src = f->src,
                      .dst = f->dst,
                      .transport = f->tls ? (f->ws ? CAP_T_WSS : CAP_T_TLS) : (f->ws ? CAP_T_WS : CAP_T_TCP),
                      .from_hep = false,
                      .ts_us = ts,
                      .frame_no = frame_no,
                      .oversized = oversized,
                      .encap = t->encap};
    t->st->sip_payloads++;
    t->emit(t->user, &pl);
}

/* A message the framer gives up on still reaches the detectors, so that it
 * raises its malformed/oversized event rather than vanish: its header
 * block when the framer found its end within max_msg (header_end, 0 none:
 * a garbage Content-Length), else its first max_msg bytes, marked oversized. */
static void emit_unframed(cap_tcp_table *t, const tcp_flow *f, const uint8_t *p, size_t avail, size_t header_end,
                          uint64_t ts, uint64_t frame_no) {
    size_t n = avail < t->max_msg ? avail : t->max_msg;
    bool whole = header_end && header_end <= n;
    emit_msg(t, f, p, (uint32_t)(whole ? header_end : n), !whole, ts, frame_no);
}

/* Bytes of a compressed WebSocket direction were lost: the messages after
 * may refer back to them (context takeover), so the window starts empty.
 * A reference into it then fails (zlib checks the distance against what
 * it holds) instead of reading other bytes. */
static void ws_context_lost(tcp_flow *f) {
    if (f->ws_z) inflateReset(f->ws_z);
}

static void start_resync(cap_tcp_table *t, tcp_flow *f) {
    if (!f->resync) t->st->tcp_resyncs++;
    f->resync = true;
    memset(&f->scan, 0, sizeof f->scan);
    memset(&f->ws_scan, 0, sizeof f->ws_scan);
    ws_context_lost(f);
}

/* The direction src -> dst answered its peer's WebSocket handshake with
 * another subprotocol than sip (the peer offered several): the peer's
 * direction, read as WebSocket frames for SIP since its GET, is not SIP; it
 * is read on as the answer's direction is (resync: on a port that is not a
 * SIP port, that one is not even tracked), so its frames raise nothing. */
static void ws_peer_not_sip(cap_tcp_table *t, const fs_endpoint *src, const fs_endpoint *dst) {
    tcp_flow *r = flow_find(t, dst, src, flow_hash(t, dst, src));
    if (!r || !r->ws) return;
    r->ws = r->ws_deflate = r->ws_more = false;
    ws_inflater_end(t, r);
    start_resync(t, r);
    r->mid_line = true;
}

/* Resync: find the next line start that looks like a SIP start line. Returns
 * the offset to continue at; f->resync is cleared when one was found. */
static size_t resync_scan(cap_tcp_table *t, tcp_flow *f, const uint8_t *p, size_t len) {
    size_t i = 0;
    while (i < len) {
        if (f->mid_line) {
            const uint8_t *nl = memchr(p + i, '\n', len - i);
            if (!nl) break;
            i = (size_t)(nl - p) + 1;
            f->mid_line = false;
            continue;
        }
        int r = cap_sip_resync_start(p + i, len - i);
        /* "ITE sip:bob@x SIP/2.0" is the end of an INVITE's line, not a method */
        if (r == 1 && i == 0 && f->line_unsure && !cap_sip_known_start(p, len)) r = 0;
        bool handshake = false; /* what is kept may be a handshake's header block */
        if (r != 1) { /* or the opening handshake of SIP over WebSocket */
            size_t hl;
            int w = cap_ws_handshake(p + i, len - i, &hl);
            handshake = w < 0;
            if (w == 1 || (w < 0 && r == 0)) r = w;
            else if (w == 0 && cap_ws_answer_not_sip(p + i, len - i)) ws_peer_not_sip(t, &f->src, &f->dst);
        }
        if (r == 1) {
            f->resync = f->line_unsure = false;
            t->st->tcp_bytes_dropped += i;
            return i;
        }
        if (r < 0) { /* unterminated, might still become one: keep it */
            if (len - i > (handshake ? CAP_WS_MAX_HANDSHAKE : TCP_RESYNC_KEEP)) break;
            f->line_unsure = f->line_unsure && i == 0;
            t->st->tcp_bytes_dropped += i;
            return i;
        }
        f->mid_line = true;
    }
    f->line_unsure = false;
    f->mid_line = i < len || f->mid_line;
    t->st->tcp_bytes_dropped += len;
    return len;
}

/* WebSocket resync: the next final text or binary frame whose payload
 * starts like a SIP message (cap_ws_resync_start). Returns the offset to
 * continue at; f->resync is cleared when one was found. */
static int ws_resync_deflated(cap_tcp_table *t, tcp_flow *f, const uint8_t *p, size_t len);

static size_t ws_resync_scan(cap_tcp_table *t, tcp_flow *f, const uint8_t *p, size_t len) {
    for (size_t i = 0; i < len; i++) {
        int r = cap_ws_resync_start(p + i, len - i);
        if (r == 0 && f->ws_deflate) r = ws_resync_deflated(t, f, p + i, len - i);
        if (r == 0) continue;
        if (r == 1) {
            f->resync = false;
            f->ws_more = false;
        }
        t->st->tcp_bytes_dropped += i;
        return i;
    }
    t->st->tcp_bytes_dropped += len;
    return len;
}

/* f's inflate state, made with its first compressed message within the
 * budget; NULL when it cannot be. */
static z_stream *ws_inflater(cap_tcp_table *t, tcp_flow *f) {
    if (f->ws_z) return f->ws_z;
    if (!make_room(t, f, WS_INFLATER_BYTES) || !(f->ws_z = calloc(1, sizeof *f->ws_z))) return NULL;
    if (inflateInit2(f->ws_z, -MAX_WBITS) != Z_OK) { /* raw DEFLATE, a 32 KiB window */
        free(f->ws_z);
        f->ws_z = NULL;
        return NULL;
    }
    account(t, (int64_t)WS_INFLATER_BYTES);
    return f->ws_z;
}

/* n bytes at in through z into what is left of its output; false on a
 * zlib error. A message that ends the DEFLATE stream (BFINAL, RFC 7692
 * 7.2.3.3) ends it: the stream starts over, *ended is set, and a later
 * reference back fails. */
static bool ws_inflate_part(z_stream *z, const uint8_t *in, size_t n, bool *ended) {
    z->next_in = (Bytef *)(uintptr_t)in;
    z->avail_in = (uInt)n;
    while (z->avail_in && z->avail_out) {
        int rc = inflate(z, Z_SYNC_FLUSH);
        if (rc == Z_STREAM_END) {
            inflateReset(z);
            *ended = true;
            return true; /* what follows the final block is not read */
        }
        if (rc != Z_OK) return rc == Z_BUF_ERROR; /* BUF_ERROR: no progress possible, not an error */
    }
    return true;
}

/* Where a compressed direction resumes after a gap: a final compressed
 * frame whose first bytes inflate, from an empty window, to a SIP start
 * line. A sender without context takeover compresses each message alone,
 * so its next one is read; with it, one that refers back past the gap
 * fails here and is passed over. 1 / 0 / -1 as cap_ws_resync_start. */
static int ws_resync_deflated(cap_tcp_table *t, tcp_flow *f, const uint8_t *p, size_t len) {
    uint8_t head[256], out[256];
    size_t n = 0;
    int r = cap_ws_resync_deflated(p, len, head, sizeof head, &n);
    z_stream *z = r == 1 ? ws_inflater(t, f) : NULL;
    if (!z) return r == 1 ? 0 : r;
    inflateReset(z);
    z->next_in = head;
    z->avail_in = (uInt)n;
    z->next_out = out;
    z->avail_out = sizeof out;
    int rc = inflate(z, Z_SYNC_FLUSH);
    size_t got = sizeof out - z->avail_out;
    inflateReset(z); /* ws_step inflates the whole message from the start */
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) return 0;
    return cap_sip_start_line(out, got) == 1;
}

/* A compressed message (permessage-deflate, RFC 7692 7.2.2): the payload
 * in ws_out with the 4 octets 00 00 ff ff its sender took off, inflated
 * through the direction's window (with context takeover the messages
 * before it are its dictionary). At most max_msg bytes are emitted; a
 * longer one is emitted cut, marked oversized, and its window dropped,
 * so that a decompression bomb costs max_msg bytes of work. head: the n
 * bytes are only the first of a payload longer than max_msg; what they
 * inflate to is emitted cut, marked oversized, as an uncompressed message
 * too long is, and the window dropped (the rest of the message is not
 * read). Ones that cannot be read (a capture begun mid-connection,
 * corrupt data, no memory) are counted and the window starts over. */
static void ws_emit_inflated(cap_tcp_table *t, tcp_flow *f, size_t n, bool head, uint64_t ts, uint64_t frame_no) {
    static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
    z_stream *z = ws_inflater(t, f);
    if (!t->ws_plain) t->ws_plain = malloc((size_t)t->max_msg + 1);
    if (!z || !t->ws_plain) {
        t->st->ws_inflate_failed++;
        t->st->tcp_bytes_dropped += n;
        return;
    }
    z->next_out = t->ws_plain;
    z->avail_out = t->max_msg + 1;
    /* the tail after a final block is not read either: fed to the stream
     * started over, it would begin a stored block there that swallows the
     * next message */
    bool ended = false;
    bool ok = ws_inflate_part(z, t->ws_out, n, &ended) &&
              (ended || head || ws_inflate_part(z, tail, sizeof tail, &ended));
    size_t out = (size_t)t->max_msg + 1 - z->avail_out;
    if (!ok) {
        t->st->ws_inflate_failed++;
        t->st->tcp_bytes_dropped += n;
        inflateReset(z);
        return;
    }
    t->st->ws_inflated++;
    bool cut = head || out > t->max_msg;
    if (cut) {
        if (out > t->max_msg) out = t->max_msg;
        inflateReset(z);
    }
    if (out == 0) return; /* an empty message, as an uncompressed one is passed over */
    emit_msg(t, f, t->ws_plain, (uint32_t)out, cut, ts, frame_no);
}

/* One WebSocket message (emitted) or control frame at the front of p:
 * the bytes consumed, 0 to wait for more. Bytes that are not WebSocket
 * frames put the direction in resync (0 too). */
static size_t ws_step(cap_tcp_table *t, tcp_flow *f, const uint8_t *p, size_t len, uint64_t ts, uint64_t frame_no) {
    if (!t->ws_out && !(t->ws_out = malloc(t->max_msg))) {
        t->st->tcp_bytes_dropped += len;
        return len;
    }
    cap_ws_read r;
    switch (cap_ws_message_scan(p, len, f->ws_more ? 0 : t->max_msg, f->ws_more, f->ws_deflate, t->ws_out, &r,
                                &f->ws_scan)) {
    case CAP_WS_MESSAGE:
        if (f->ws_more) t->st->tcp_bytes_dropped += r.used; /* the last frame of one too long */
        else if (r.compressed) ws_emit_inflated(t, f, r.out_len, false, ts, frame_no);
        else if (r.out_len) emit_msg(t, f, t->ws_out, (uint32_t)r.out_len, false, ts, frame_no);
        f->ws_more = false;
        return r.used;
    case CAP_WS_CONTROL:
        return r.used;
    case CAP_WS_INCOMPLETE:
        return 0;
    case CAP_WS_TOO_BIG: /* its first bytes, marked oversized; the rest skipped */
        if (r.compressed) { /* deflated longer than max_msg: its first bytes inflated, the window dropped */
            if (r.out_len) ws_emit_inflated(t, f, r.out_len, true, ts, frame_no);
            else t->st->tcp_bytes_dropped += r.used;
            ws_context_lost(f);
        } else if (!f->ws_more && r.out_len) {
            emit_msg(t, f, t->ws_out, (uint32_t)r.out_len, true, ts, frame_no);
        } else {
            t->st->tcp_bytes_dropped += r.used;
        }
        f->skip = r.skip;
        f->ws_more = r.more;
        return r.used;
    case CAP_WS_BAD:
    default:
        start_resync(t, f);
        return 0;
    }
}

/* Emit every complete message at the front of p; returns bytes consumed
 * (emitted, skipped or discarded). What remains is an unfinished message
 * shorter than max_msg, or a short line being resynced. */
static size_t frame_messages(cap_tcp_table *t, tcp_flow *f, const uint8_t *p, size_t len,
                             uint64_t ts, uint64_t frame_no) {
    size_t pos = 0;
    while (pos < len) {
        if (f->skip) {
            size_t n = f->skip < len - pos ? (size_t)f->skip : len - pos;
            f->skip -= n;
            pos += n;
            t->st->tcp_bytes_dropped += n;
            continue;
        }
        if (f->resync) {
            pos += f->ws ? ws_resync_scan(t, f, p + pos, len - pos) : resync_scan(t, f, p + pos, len - pos);
            if (f->resync) return pos;
        }
        if (f->ws) {
            size_t used = ws_step(t, f, p + pos, len - pos, ts, frame_no);
            pos += used;
            if (used || f->resync) continue;
            return pos;
        }
        int start = 1;
        if (f->scan.pos == 0) { /* else the start line was read already */
            size_t run = pos;
            while (pos < len && (p[pos] == '\r' || p[pos] == '\n')) pos++; /* keep-alives */
            t->st->keepalives += pos > run;
            if (pos == len) break;
            start = cap_sip_start_line(p + pos, len - pos);
            if (start <= 0) { /* or the opening handshake of SIP over WebSocket */
                size_t hl;
                int w = cap_ws_handshake(p + pos, len - pos, &hl);
                if (w > 0) {
                    f->ws = true;
                    f->ws_deflate = cap_ws_deflate(p + pos, hl);
                    pos += hl;
                    continue;
                }
                if (w < 0) return pos;
                if (cap_ws_answer_not_sip(p + pos, len - pos)) ws_peer_not_sip(t, &f->src, &f->dst);
            }
            if (start < 0) return pos;
        }
        uint64_t ml = 0;
        cap_frame_status fs =
            start == 0 ? CAP_FRAME_BAD : cap_sip_frame_scan(p + pos, len - pos, t->max_msg, &ml, &f->scan);
        size_t header_end = f->scan.header_end; /* where the header block ended, 0 not seen */
        if (fs != CAP_FRAME_INCOMPLETE) memset(&f->scan, 0, sizeof f->scan);
        switch (fs) {
        case CAP_FRAME_OK:
            assert(ml > 0 && ml <= len - pos);
            emit_msg(t, f, p + pos, (uint32_t)ml, false, ts, frame_no);
            pos += (size_t)ml;
            break;
        case CAP_FRAME_INCOMPLETE:
            return pos;
        case CAP_FRAME_TOO_BIG:
            emit_unframed(t, f, p + pos, len - pos, 0, ts, frame_no);
            start_resync(t, f);
            f->resync = false; /* the length is known: skip exactly the message */
            f->skip = ml;
            break;
        case CAP_FRAME_BAD:
            /* a SIP start line whose message cannot be framed (not other
             * protocols' bytes: TLS on 5061 is not a malformed message) */
            if (start == 1) emit_unframed(t, f, p + pos, len - pos, header_end, ts, frame_no);
            start_resync(t, f);
            f->mid_line = true; /* never resync on the line that just failed */
            break;
        }
    }
    return pos;
}

/* HEP v3 over TCP: hand out every whole packet at the front of p; returns
 * bytes consumed. Bytes that do not start a packet go out once as they are,
 * up to the next "HEP3" (the decoder counts them as a bad packet, saying
 * what they are), and the stream resyncs there; a resync keeps the last 3
 * bytes, which may be the start of the magic. */
static size_t hep_packets(cap_tcp_table *t, tcp_flow *f, const uint8_t *p, size_t len, uint64_t ts,
                          uint64_t frame_no) {
    size_t pos = 0;
    while (pos < len) {
        if (f->resync) {
            const uint8_t *m = memmem(p + pos, len - pos, "HEP3", 4);
            size_t skip = m ? (size_t)(m - (p + pos)) : len - pos > 3 ? len - pos - 3 : 0;
            t->st->tcp_bytes_dropped += skip;
            pos += skip;
            if (!m) return pos;
            f->resync = false;
        }
        long n = cap_hep_frame(p + pos, len - pos);
        if (n == 0) return pos;
        if (n < 0) {
            const uint8_t *next = len - pos > 1 ? memmem(p + pos + 1, len - pos - 1, "HEP3", 4) : NULL;
            size_t bad = next ? (size_t)(next - (p + pos)) : len - pos > 3 ? len - pos - 3 : 1;
            t->hep(t->hep_user, p + pos, bad, ts, frame_no);
            pos += bad;
            if (!next) start_resync(t, f);
            continue;
        }
        t->hep(t->hep_user, p + pos, (size_t)n, ts, frame_no);
        pos += (size_t)n;
    }
    return pos;
}

/* Room for `more` bytes within the global budget, evicting least recently
 * used flows other than f; false when they are all gone and it still does
 * not fit. */
static bool make_room(cap_tcp_table *t, tcp_flow *f, uint64_t more) {
    while (t->bytes + more > t->max_bytes) {
        tcp_flow *victim = t->lru_head != f ? t->lru_head : f->lru_next;
        if (!victim) return false;
        t->st->tcp_flows_evicted++;
        flow_destroy(t, victim);
    }
    return true;
}

/* Grow buffer b of f to hold `need` bytes within the global budget. */
static bool buffer_reserve(cap_tcp_table *t, tcp_flow *f, tcp_buf *b, uint32_t need) {
    if (need <= b->cap) return true;
    uint32_t ncap = b->cap ? b->cap : TCP_MIN_BUF;
    while (ncap < need) ncap = ncap > UINT32_MAX / 2 ? need : ncap * 2;
    if (ncap > t->max_flow_bytes) ncap = t->max_flow_bytes;
    if (ncap < need) return false;
    uint64_t grow = ncap - b->cap;
    if (!make_room(t, f, grow)) return false;
    uint8_t *nb = realloc(b->data, ncap);
    if (!nb) return false;
    b->data = nb;
    b->cap = ncap;
    account(t, (int64_t)grow);
    return true;
}

/* What reads a direction's in-order bytes: SIP framing, or TLS records. */
typedef size_t (*consume_fn)(cap_tcp_table *t, tcp_flow *f, const uint8_t *p, size_t len, uint64_t ts,
                             uint64_t frame_no);

/* The bytes of b could not be kept: SIP text resyncs; TLS records, which
 * cannot be resynced, end the direction's reading. */
static void overflow(cap_tcp_table *t, tcp_flow *f, tcp_buf *b) {
    t->st->tcp_bytes_dropped += b->len;
    b->len = 0;
    if (f->tls && b == &f->buf) {
        cap_tls_lost(t->tlsx, f->tls);
        return;
    }
    memset(&f->scan, 0, sizeof f->scan);
    start_resync(t, f);
    f->mid_line = true;
}

/* Bytes in order through fn, b keeping the unfinished tail. */
static void consume(cap_tcp_table *t, tcp_flow *f, tcp_buf *b, const uint8_t *p, uint32_t n, uint64_t ts,
                    uint64_t frame_no, consume_fn fn) {
    while (n > 0) {
        if (b->len == 0) { /* fast path: read in place */
            size_t used = fn(t, f, p, n, ts, frame_no);
            p += used;
            n -= (uint32_t)used;
            if (n == 0) break;
            /* n can exceed max_flow_bytes when the limit is smaller than an
             * undecided start line: buffer_reserve then refuses it. */
            if (!buffer_reserve(t, f, b, n)) {
                t->st->tcp_bytes_dropped += n;
                overflow(t, f, b);
                break;
            }
            memcpy(b->data, p, n);
            b->len = n;
            break;
        }
        uint32_t room = t->max_flow_bytes - b->len;
        uint32_t take = n < room ? n : room;
        if (!buffer_reserve(t, f, b, b->len + take)) {
            overflow(t, f, b);
            continue;
        }
        memcpy(b->data + b->len, p, take);
        b->len += take;
        p += take;
        n -= take;
        size_t used = fn(t, f, b->data, b->len, ts, frame_no);
        if (used == 0 && b->len == t->max_flow_bytes) { /* SIP: framing bounds it; TLS: a record
                                                          * longer than max_flow_bytes */
            overflow(t, f, b);
            continue;
        }
        memmove(b->data, b->data + used, b->len - used);
        b->len -= (uint32_t)used;
    }
    /* An idle flow should not pin a big buffer. */
    if (b->len == 0 && b->cap > 4 * TCP_MIN_BUF) buf_free(t, b);
}

/* ---- TLS -------------------------------------------------------------------- */

typedef struct tls_call {
    cap_tcp_table *t;
    tcp_flow *f;
    uint64_t ts, frame_no;
} tls_call;

static void tls_plain(void *c, const uint8_t *p, size_t n) {
    tls_call *k = c;
    consume(k->t, k->f, &k->f->plain, p, (uint32_t)n, k->ts, k->frame_no, frame_messages);
}

static cap_tls_dir *tls_peer(void *c) {
    tls_call *k = c;
    tcp_flow *r = flow_find(k->t, &k->f->dst, &k->f->src, flow_hash(k->t, &k->f->dst, &k->f->src));
    return r && !r->closed ? r->tls : NULL;
}

/* The ServerHello of this direction (its sender is the server), or the
 * certificate of its sender, server or client. */
static void tls_handshake(void *c, uint16_t version, uint16_t suite, const uint8_t *cert, size_t cert_len,
                          bool by_client) {
    tls_call *k = c;
    cap_tls_hello h = {.server = by_client ? k->f->dst : k->f->src, .client = by_client ? k->f->src : k->f->dst,
                       .version = version, .suite = suite, .ts_us = k->ts, .frame_no = k->frame_no,
                       .cert = cert, .cert_len = (uint32_t)cert_len, .client_cert = by_client};
    k->t->tls_hello(k->t->tls_hello_user, &h);
}

static size_t tls_records(cap_tcp_table *t, tcp_flow *f, const uint8_t *p, size_t len, uint64_t ts,
                          uint64_t frame_no) {
    tls_call k = {t, f, ts, frame_no};
    /* a record kept waiting for its keys stays well short of what overflows the direction */
    size_t max_hold = t->max_flow_bytes / 2 < CAP_TLS_MAX_RECORD ? t->max_flow_bytes / 2 : CAP_TLS_MAX_RECORD;
    cap_tls_ops ops = {.out = tls_plain, .peer = tls_peer, .handshake = t->tls_hello ? tls_handshake : NULL,
                       .max_hold = max_hold,
                       .ctx = &k};
    return cap_tls_records(t->tlsx, f->tls, p, len, &ops);
}

/* A direction whose first bytes are a TLS hello: read as TLS records. */
static void tls_begin(cap_tcp_table *t, tcp_flow *f, bool heuristic) {
    if (!t->tlsx && !(t->tlsx = cap_tls_ctx_new(t->tls_keys, t->st))) return;
    if (!make_room(t, f, cap_tls_dir_size()) || !(f->tls = cap_tls_dir_new(heuristic))) return;
    account(t, (int64_t)cap_tls_dir_size());
}

/* A direction's first bytes on a SIP port: TLS when they are a hello, or
 * an alert answering the other direction's ClientHello (a server that
 * refuses the handshake: no suite or version in common, as a TLS scanner
 * probing the port meets), or, picked up mid-stream, a record (its hellos
 * missed: counted, not read; SIP text never starts with a byte of 20-23).
 * A first segment too short to tell (under 6 bytes) that goes on like a
 * hello is taken as one: a client may cut its ClientHello anywhere, and
 * cap_tls_records keeps the bytes until the record is whole (one that is
 * no hello then is given up). */
static void tls_check(cap_tcp_table *t, tcp_flow *f, const uint8_t *p, uint32_t n) {
    int start = cap_tls_hello_start(p, n);
    bool hello = start == 1 || (start < 0 && f->syn_seen);
    tls_call k = {t, f, 0, 0};
    bool refusal = !hello && n >= 1 && p[0] == 21 && cap_tls_record_start(p, n) != 0 && tls_peer(&k) != NULL;
    if (!hello && !refusal && (f->syn_seen || cap_tls_record_start(p, n) != 1)) return;
    tls_begin(t, f, false);
    if (f->tls && !hello && !refusal) cap_tls_midstream(t->tlsx, f->tls);
}

/* In-order bytes [seq == next_seq]: frame them, keep the unfinished tail. */
static void deliver(cap_tcp_table *t, tcp_flow *f, const uint8_t *p, uint32_t n, uint64_t ts,
                    uint64_t frame_no) {
    bool first = f->next_seq == f->isn + (f->syn_seen ? 1 : 0);
    f->next_seq += n;
    /* a connection on a HEP port taken as HEP from its SYN whose first bytes
     * are a SIP start line, not "HEP3": SIP over TCP from or to that port,
     * read as SIP, as a datagram there is (the port cannot hide it) */
    if (first && f->hep && f->syn_seen && t->heuristic && cap_hep_frame(p, n) < 0 && cap_sip_start_line(p, n) == 1)
        f->hep = false;
    if (first && !f->tls && !f->hep) tls_check(t, f, p, n);
    consume(t, f, &f->buf, p, n, ts, frame_no, f->hep ? hep_packets : f->tls ? tls_records : frame_messages);
}

/* Deliver held segments that are now in order. filled: the segment at ts,
 * frame_no filled the hole before them, so it completes their messages
 * (Wireshark shows them there too); else (a hole given up) each is read at
 * its own frame. */
static void drain_holds(cap_tcp_table *t, tcp_flow *f, bool filled, uint64_t ts, uint64_t frame_no) {
    while (f->holds) {
        tcp_hold *h = f->holds;
        int32_t diff = (int32_t)(h->seq - f->next_seq);
        if (diff > 0) break;
        f->holds = h->next;
        uint32_t dup = (uint32_t)-(int64_t)diff;
        if (dup < h->len)
            deliver(t, f, h->data + dup, h->len - dup, filled ? ts : h->ts_us, filled ? frame_no : h->frame_no);
        else t->st->tcp_retransmits++;
        hold_free(t, f, h);
    }
    if (!f->holds) gap_list_remove(t, f);
}

/* Whether the receiver, after the first held segment reached it, still
 * acknowledged exactly the bytes read here: it is waiting for the same
 * missing bytes and did not take the held ones (a segment out of its window,
 * which it drops: RFC 793 3.3, answered with an ACK). Giving the gap up
 * would follow a stream the receiver does not read, and take everything it
 * does read for retransmissions: so the gap stays open, as the receiver's
 * does. Without its ACKs (one side captured, or none since the hold) the gap
 * is given up as before. */
static bool gap_held_open(const tcp_flow *f) {
    return f->holds && f->acked_seen && f->acked == f->next_seq && f->acked_ts >= f->holds->ts_us;
}

/* Give up on the missing bytes before the first held segment. They are
 * remembered (lost_seq, lost_len: one range, the last) for late_data. */
static void resolve_gap(cap_tcp_table *t, tcp_flow *f, uint64_t now) {
    assert(f->holds);
    t->st->tcp_gaps++;
    if (f->tls) cap_tls_lost(t->tlsx, f->tls);
    buffer_drop(t, f);
    f->skip = 0;
    start_resync(t, f);
    f->mid_line = false; /* segments usually start at message boundaries */
    f->line_unsure = true; /* ...but not always */
    uint32_t to = f->holds->seq;
    if (f->acked_seen && (int32_t)(f->acked - f->next_seq) > 0 && (int32_t)(to - f->acked) > 0)
        to = f->acked; /* the receiver had the bytes up to there: its stream goes on at its ACK */
    f->lost_seq = f->next_seq;
    f->lost_len = to - f->next_seq;
    f->next_seq = to;
    drain_holds(t, f, false, 0, 0);
    if (f->holds) gap_list_append(t, f, now);
}

/* Nothing held, but the FIN is beyond next_seq: the bytes before it are
 * given up as a hole's are, and the direction ends at its FIN (fin_check). */
static void resolve_fin_gap(cap_tcp_table *t, tcp_flow *f) {
    gap_list_remove(t, f);
    if ((int32_t)(f->fin_seq - f->next_seq) <= 0) return; /* read up to it meanwhile */
    t->st->tcp_gaps++;
    if (f->tls) cap_tls_lost(t->tlsx, f->tls);
    buffer_drop(t, f);
    f->skip = 0;
    f->lost_seq = f->next_seq;
    f->lost_len = f->fin_seq - f->next_seq;
    f->next_seq = f->fin_seq;
}

/* A gap waited TCP_GAP_WAIT_US: given up, unless the receiver holds it open
 * (then it waits again; before a FIN alone, its ACKs since still ask for the
 * first byte missing). */
static void gap_timeout(cap_tcp_table *t, tcp_flow *f, uint64_t now) {
    bool fin_open = !f->holds && f->acked_seen && f->acked == f->next_seq && f->acked_ts >= f->fin_ts;
    if (gap_held_open(f) || fin_open) gap_list_append(t, f, now);
    else if (f->holds) resolve_gap(t, f, now);
    else resolve_fin_gap(t, f);
}

/* A segment behind next_seq that starts inside the gap given up last: its
 * bytes were never seen, so the whole SIP messages it starts with are
 * emitted now, late rather than never (a retransmission after a long RTO or
 * after more segments than could be held). Whatever does not frame as whole
 * messages from its first byte stays lost. The range shrinks so that no byte
 * is emitted twice. */
static void late_data(cap_tcp_table *t, tcp_flow *f, uint32_t seq, const uint8_t *p, uint32_t n,
                      uint64_t ts, uint64_t frame_no) {
    uint32_t off = seq - f->lost_seq;
    if (!f->lost_len || off >= f->lost_len || f->ws || f->tls || f->hep) return; /* frames, records,
                                                                                 * packets: not from any byte */
    if (n > f->lost_len - off) n = f->lost_len - off;
    size_t pos = 0, end = 0;
    while (pos < n) {
        while (pos < n && (p[pos] == '\r' || p[pos] == '\n')) pos++;
        if (pos == n || cap_sip_resync_start(p + pos, n - pos) != 1) break;
        uint64_t ml = 0;
        if (cap_sip_frame(p + pos, n - pos, t->max_msg, &ml) != CAP_FRAME_OK) break;
        emit_msg(t, f, p + pos, (uint32_t)ml, false, ts, frame_no);
        t->st->tcp_gap_recovered++;
        pos += (size_t)ml;
        end = pos;
    }
    if (!end) return;
    if (off == 0) {
        f->lost_seq += (uint32_t)end;
        f->lost_len -= (uint32_t)end;
    } else {
        f->lost_len = off; /* what follows is forgotten */
    }
}

/* Hold a segment that starts beyond next_seq. */
static void hold_segment(cap_tcp_table *t, tcp_flow *f, uint32_t seq, const uint8_t *p,
                         uint32_t n, uint64_t ts, uint64_t frame_no) {
    tcp_hold **pp = &f->holds;
    uint32_t rel = seq - f->next_seq;
    while (*pp && (*pp)->seq - f->next_seq < rel) pp = &(*pp)->next;
    if (*pp && (*pp)->seq == seq && (*pp)->len >= n) {
        t->st->tcp_retransmits++;
        return;
    }
    if (!make_room(t, f, sizeof(tcp_hold) + n)) {
        t->st->tcp_bytes_dropped += n;
        return;
    }
    tcp_hold *h = malloc(sizeof *h + n);
    if (!h) {
        t->st->tcp_bytes_dropped += n;
        return;
    }
    h->seq = seq;
    h->len = n;
    h->ts_us = ts;
    h->frame_no = frame_no;
    memcpy(h->data, p, n);
    h->next = *pp;
    *pp = h;
    t->st->tcp_out_of_order++; /* held: not a copy of a held one, nor dropped */
    f->nholds++;
    f->hold_bytes += n;
    account(t, (int64_t)(sizeof *h + n));
    if (!f->in_gap_list) gap_list_append(t, f, ts);
}

/* The hold budget of a direction: max_flow_bytes of held data, each hold's
 * header counted, and TCP_HOLD_MAX holds (a sorted list: the insert walk). */
static bool hold_full(const cap_tcp_table *t, const tcp_flow *f, uint32_t n) {
    uint64_t use = (uint64_t)f->hold_bytes + (uint64_t)(f->nholds + 1) * sizeof(tcp_hold) + n;
    return f->nholds >= TCP_HOLD_MAX || use > t->max_flow_bytes;
}

/* Whether the receiver's last ACK asks for the next byte of an unfinished
 * message: it is reading this stream, in the middle of that message, and
 * drops a segment far from its window rather than taking it for another
 * stream; so must we, or one such segment hides the message. A new stream
 * on the tuple shows in the receiver's ACKs (note_ack takes those too). */
static bool reading_here(const tcp_flow *f) {
    bool unfinished = f->buf.len || f->scan.pos || f->skip || f->holds;
    return unfinished && f->acked_seen && f->acked == f->next_seq;
}

/* The holds are full while the receiver holds the gap open (gap_held_open):
 * as its out-of-order queue does when pruned, the farthest held bytes give
 * way to a nearer segment (at seq, n bytes), so that segments far out of
 * the window cannot keep the nearer ones out. */
static void hold_prune(cap_tcp_table *t, tcp_flow *f, uint32_t seq, uint32_t n) {
    while (f->holds && hold_full(t, f, n)) {
        tcp_hold **pp = &f->holds;
        while ((*pp)->next) pp = &(*pp)->next;
        tcp_hold *h = *pp;
        if (h->seq - f->next_seq <= seq - f->next_seq) break; /* seq is the farthest */
        *pp = NULL;
        t->st->tcp_bytes_dropped += h->len;
        hold_free(t, f, h);
    }
    if (!f->holds) gap_list_remove(t, f);
}

static void flow_data(cap_tcp_table *t, tcp_flow *f, uint32_t seq, const uint8_t *p, uint32_t n,
                      uint64_t ts, uint64_t frame_no) {
    int32_t diff = (int32_t)(seq - f->next_seq);
    if (diff < 0 && (uint32_t)-(int64_t)diff >= TCP_FAR_BEHIND && reading_here(f)) {
        /* out of the receiver's window: it drops it, and reads on */
        t->st->tcp_bytes_dropped += n;
        return;
    }
    if (diff < 0 && (uint32_t)-(int64_t)diff >= TCP_FAR_BEHIND) {
        /* Not a retransmission but a different stream on the same tuple. */
        t->st->tcp_gaps++;
        if (f->tls) cap_tls_lost(t->tlsx, f->tls);
        while (f->holds) resolve_gap(t, f, ts);
        buffer_drop(t, f);
        start_resync(t, f);
        f->mid_line = false;
        f->line_unsure = true;
        f->next_seq = seq;
        f->lost_len = 0;
        f->acked_seen = false; /* the ACKs seen were of the other stream */
        diff = 0;
    }
    if (diff < 0) {
        uint32_t dup = (uint32_t)-(int64_t)diff;
        t->st->tcp_retransmits++;
        if (f->lost_len) late_data(t, f, seq, p, dup < n ? dup : n, ts, frame_no);
        if (dup >= n) return;
        p += dup;
        n -= dup;
        seq += dup;
        diff = 0;
    }
    if (diff > 0) {
        while (f->holds && hold_full(t, f, n) && !gap_held_open(f)) {
            resolve_gap(t, f, ts);
            diff = (int32_t)(seq - f->next_seq);
            if (diff <= 0) break;
        }
        if (diff > 0) {
            if ((uint64_t)n + sizeof(tcp_hold) > t->max_flow_bytes) { /* could never be held */
                t->st->tcp_bytes_dropped += n;
                return;
            }
            if (f->holds && hold_full(t, f, n)) hold_prune(t, f, seq, n);
            if (f->holds && hold_full(t, f, n)) { /* the gap held open, and seq the farthest */
                t->st->tcp_bytes_dropped += n;
                return;
            }
            hold_segment(t, f, seq, p, n, ts, frame_no);
            return;
        }
        flow_data(t, f, seq, p, n, ts, frame_no); /* now in order or behind */
        return;
    }
    deliver(t, f, p, n, ts, frame_no);
    drain_holds(t, f, true, ts, frame_no);
}

/* A direction ended by FIN or RST stays on the closed list, without buffers,
 * for TCP_CLOSED_KEEP_US: a retransmission of what it sent is then known as
 * one, not taken for a new stream. */
static void flow_retire(cap_tcp_table *t, tcp_flow *f, uint64_t now) {
    assert(!f->closed && !f->holds);
    if (f->pending) pending_end(t, f);
    buffer_release(t, f);
    lru_remove(t, f);
    gap_list_remove(t, f);
    assert(t->nflows > 0);
    t->nflows--;
    t->st->tcp_flows_live = t->nflows;
    f->closed = true;
    f->skip = 0;
    f->lost_len = 0;
    f->last_ts = now;
    f->lru_prev = t->closed_tail;
    f->lru_next = NULL;
    if (t->closed_tail) t->closed_tail->lru_next = f;
    else t->closed_head = f;
    t->closed_tail = f;
    t->nclosed++;
}

/* A closed direction sends again (a new connection on the same tuple). */
static void flow_reopen(cap_tcp_table *t, tcp_flow *f) {
    assert(f->closed);
    closed_remove(t, f);
    t->nclosed--;
    f->closed = false;
    lru_append(t, f);
    t->nflows++;
    t->st->tcp_flows_live = t->nflows;
    if (t->nflows > t->st->tcp_flows_peak) t->st->tcp_flows_peak = t->nflows;
}

/* Flush what can still be framed (skip every gap), then free the flow, or
 * with keep (FIN, RST) retire it to the closed list. */
static void flow_close(cap_tcp_table *t, tcp_flow *f, uint64_t now, bool keep) {
    if (f->closed) return;
    while (f->holds) resolve_gap(t, f, now);
    if (keep) flow_retire(t, f, now);
    else flow_destroy(t, f);
}

/* Every byte before the direction's FIN arrived or was given up: it ends.
 * A FIN past bytes never seen, with nothing held after them (the hole at
 * the end), waits for them on the gap list as a held segment does. */
static void fin_check(cap_tcp_table *t, tcp_flow *f, uint64_t now) {
    if (!f->fin || f->holds) return;
    if (f->next_seq == f->fin_seq) flow_close(t, f, now, true);
    else if (!f->in_gap_list && (int32_t)(f->fin_seq - f->next_seq) > 0 &&
             f->fin_seq - f->next_seq <= t->max_flow_bytes) /* as far as a hold may be */
        gap_list_append(t, f, now);
}

static void flow_touch(cap_tcp_table *t, tcp_flow *f, uint64_t ts) {
    if (ts > f->last_ts) f->last_ts = ts;
    if (t->lru_tail != f) {
        lru_remove(t, f);
        lru_append(t, f);
    }
}

/* Whether losing f loses more than its place in the stream: a message half
 * read or held segments (a new flow there resyncs past them), or TLS (which
 * cannot resync). */
static bool flow_unfinished(const tcp_flow *f) {
    return f->buf.len || f->plain.len || f->scan.pos || f->skip || f->holds || f->tls;
}

/* The flow evicted to make room in the table: the least recently used of
 * the first TCP_EVICT_LOOK that holds nothing unfinished, else the least
 * recently used; so a flood of new flows that carry nothing (SYNs) pushes
 * out others like them, not a message half read. */
static tcp_flow *evict_pick(const cap_tcp_table *t) {
    tcp_flow *f = t->lru_head;
    for (int i = 0; f && i < TCP_EVICT_LOOK; i++, f = f->lru_next)
        if (!flow_unfinished(f)) return f;
    return t->lru_head;
}

static tcp_flow *flow_create(cap_tcp_table *t, const cap_tcp_seg *s, uint64_t h) {
    if (!t->buckets) {
        uint32_t nb = 64;
        while (nb < t->max_flows && nb < (1u << 20)) nb <<= 1;
        t->buckets = calloc(nb, sizeof *t->buckets);
        if (!t->buckets) return NULL;
        t->mask = nb - 1;
    }
    /* closed directions make room first: they hold no data */
    while (t->nflows + t->nclosed >= t->max_flows && t->closed_head) flow_destroy(t, t->closed_head);
    while (t->nflows >= t->max_flows && t->lru_head) {
        t->st->tcp_flows_evicted++;
        flow_destroy(t, evict_pick(t));
    }
    tcp_flow *f = t->pool;
    if (f) {
        t->pool = f->hnext;
        t->npool--;
    } else if (!(f = malloc(sizeof *f))) {
        return NULL;
    }
    memset(f, 0, sizeof *f);
    f->src = s->src;
    f->dst = s->dst;
    f->hash = h;
    f->last_ts = s->ts_us;
    f->hnext = t->buckets[h & t->mask];
    t->buckets[h & t->mask] = f;
    lru_append(t, f);
    t->nflows++;
    t->st->tcp_flows_live = t->nflows;
    if (t->nflows > t->st->tcp_flows_peak) t->st->tcp_flows_peak = t->nflows;
    return f;
}

/* Start (or restart) a direction at seq: after a SYN the stream starts at a
 * message boundary; picked up mid-stream it must resync first. */
static void flow_start(cap_tcp_table *t, tcp_flow *f, uint32_t seq, bool syn) {
    holds_drop(t, f);
    gap_list_remove(t, f);
    buffer_drop(t, f);
    f->next_seq = syn ? seq + 1 : seq;
    f->isn = seq;
    f->syn_seen = syn;
    f->resync = !syn;
    f->mid_line = false;
    f->line_unsure = !syn;
    f->skip = 0;
    f->fin = false;
    f->lost_len = 0;
    f->acked_seen = false;
    f->ack_out_seen = false;
    f->ws = f->ws_more = f->ws_deflate = false;
    tls_end(t, f);
    ws_inflater_end(t, f);
}

/* Close the direction opposite to s (an RST closes both). */
static void close_reverse(cap_tcp_table *t, const cap_tcp_seg *s) {
    fs_endpoint rs = s->dst, rd = s->src;
    tcp_flow *r = flow_find(t, &rs, &rd, flow_hash(t, &rs, &rd));
    if (r) flow_close(t, r, s->ts_us, true);
}

/* A segment for a closed direction. Returns true when it was consumed here
 * (a retransmission, a bare FIN/RST, bytes after its end); false when the
 * direction was reopened for it (a new SYN, or data well past its end). */
static bool closed_segment(cap_tcp_table *t, tcp_flow *f, const cap_tcp_seg *s) {
    bool syn = (s->flags & TCP_SYN) != 0;
    uint32_t span = f->next_seq - f->isn;
    if (syn && (uint32_t)(s->seq + 1 - f->isn) <= span && span < TCP_FAR_BEHIND) {
        /* the SYN that opened what was closed, again (a capture of both
         * sides of a tap or of two interfaces has each packet twice, the
         * copy late), or, picked up without it, the SYN before its first
         * byte: a new connection on the tuple starts past the old end
         * (RFC 1122 4.2.2.13) */
        t->st->tcp_retransmits++;
        return true;
    }
    if (!syn) {
        /* at the end of what it sent (after its FIN, one more), as rst_acceptable */
        if ((s->flags & TCP_RST) && (uint32_t)(s->seq - f->next_seq) <= 1) close_reverse(t, s);
        if (s->len == 0) return true;
        int32_t past = (int32_t)(s->seq + s->len - f->next_seq); /* bytes beyond the end */
        int32_t behind = (int32_t)(f->next_seq - s->seq);
        bool near = behind > 0 && (uint32_t)behind < TCP_FAR_BEHIND;
        if (past <= 0 && (near || behind == 0)) {
            t->st->tcp_retransmits++;
            return true;
        }
        if (s->flags & TCP_RST) return true;
        if (near || behind == 0 || behind == -1) {
            /* bytes after its end (its FIN's number, or the next), in the
             * closed connection's numbers: not a new stream (that starts at
             * an ISN of its own), and its receiver takes nothing after its
             * FIN or RST (Linux: dropped, or the connection reset); read,
             * they would be messages no end system saw, put there by
             * whoever can add a segment (an insertion) */
            t->st->tcp_retransmits += near;
            t->st->tcp_bytes_dropped += behind < 0 ? s->len : (uint32_t)past;
            return true;
        }
    }
    flow_reopen(t, f);
    flow_start(t, f, s->seq, syn);
    return false;
}

/* Whether a heuristic flow has shown it starts like SIP (then it is an
 * ordinary flow), that it does not (then it is dropped), or neither yet. */
static bool pending_decided(cap_tcp_table *t, tcp_flow *f) {
    if (f->tls) { /* TLS: SIP for fs38 once its keys are found */
        if (cap_tls_keyed(f->tls)) {
            cap_tls_confirm(t->tlsx, f->tls);
            pending_end(t, f);
            return true;
        }
        if (!cap_tls_opaque(f->tls)) return true;
        flow_destroy(t, f);
        return false;
    }
    if (!f->resync) { /* a start line was found: SIP */
        pending_end(t, f);
        return true;
    }
    if (f->buf.len == 0 && !f->holds) { /* nothing kept that might start one */
        flow_destroy(t, f);
        return false;
    }
    return true;
}

/* All TCP_PENDING_MAX slots taken: the flow that became pending longest ago
 * goes, if it still is (else nothing: the caller does not track). A slot
 * points only to a flow still pending (pending_end clears it). */
static void pending_make_room(cap_tcp_table *t) {
    uint32_t slot = t->pend_next % TCP_PENDING_MAX;
    tcp_flow *old = t->pend_ring[slot].f;
    if (old && old->pending && !old->closed && old->pending_no == t->pend_ring[slot].no) {
        t->st->tcp_flows_evicted++; /* by the limit on undecided flows */
        flow_destroy(t, old);
    }
    t->pend_ring[slot].f = NULL;
}

static void segment(cap_tcp_table *t, const cap_tcp_seg *s, unsigned ports);

/* Whether an RST ends the direction f (seq: the RST's sequence number). As
 * the receiver does (RFC 5961 3.2, Linux tcp_validate_incoming), only one at
 * the next byte expected; with a gap open the receiver may have had the
 * missing bytes (unless its ACKs say it has not), so up to the end of the
 * last held one (one more after a FIN). Any other RST is ignored there, and
 * so here: else one RST with a made-up number, sent in the middle of a
 * message, hides that message. */
static bool rst_acceptable(const tcp_flow *f, uint32_t seq) {
    uint32_t last = f->next_seq;
    for (const tcp_hold *h = gap_held_open(f) ? NULL : f->holds; h; h = h->next)
        if ((int32_t)(h->seq + h->len - last) > 0) last = h->seq + h->len;
    if (f->fin) last++;
    return (uint32_t)(seq - f->next_seq) <= (uint32_t)(last - f->next_seq);
}

/* A SYN for a direction picked up without one, whose first byte (seq + 1)
 * is one the direction already read from: its own SYN, which the capture
 * put after the first data (merged or multi-queue captures), not a new
 * connection: restarting would drop the message being read. */
static bool syn_late(const tcp_flow *f, uint32_t seq) {
    return !f->syn_seen && (uint32_t)(seq + 1 - f->isn) <= (uint32_t)(f->next_seq - f->isn);
}

/* A segment of an untracked flow on a port that is not a SIP port that
 * opens TLS: a ClientHello, or a ServerHello (the ClientHello it answers,
 * or that one's last segment, may come after it: directions captured
 * apart; cap_tls links the two then). One too short to tell (under 6 bytes
 * that go on like a hello: a client may cut its ClientHello anywhere) is
 * taken as either: the flow is pending until the hello is whole, and
 * dropped if it was none or has no keys. */
static bool tls_heuristic(const cap_tcp_seg *s) {
    if (s->len == 0) return false; /* a SYN or an ACK: every connection would be pending */
    return cap_tls_hello_start(s->data, s->len) != 0;
}

/* Messages the segment completes carry its path (its VLAN tags and
 * tunnels); those a timeout releases have none. */
void cap_tcp_segment(cap_tcp_table *t, const cap_tcp_seg *s, unsigned ports) {
    t->encap = s->encap;
    segment(t, s, ports);
    t->encap = NULL;
}

/* The ACK in s acknowledges the bytes of the opposite direction. */
static void note_ack(cap_tcp_table *t, const cap_tcp_seg *s) {
    tcp_flow *r = flow_find(t, &s->dst, &s->src, flow_hash(t, &s->dst, &s->src));
    if (!r || r->closed) return;
    int32_t d = (int32_t)(s->ack - r->acked);
    /* an older ACK (reordered) is not taken; one far off acknowledges another stream */
    if (r->acked_seen && d < 0 && (uint32_t)-(int64_t)d < TCP_FAR_BEHIND) return;
    r->acked = s->ack;
    r->acked_seen = true;
    r->acked_ts = s->ts_us;
}

/* Whether the n bytes at p, which do not start a HEP v3 packet, hold the
 * start of one: "HEP3", a total length, and a first chunk that fits in it
 * (the bytes before may be any: the end of a packet's payload, a SIP line
 * among them, when the capture began inside one). */
static bool hep_start_inside(const uint8_t *p, size_t n) {
    const uint8_t *m = n > 12 ? memmem(p + 1, n - 1, "HEP3", 4) : NULL;
    if (!m || n - (size_t)(m - p) < 12) return false;
    uint32_t total = (uint32_t)m[4] << 8 | m[5], chunk = (uint32_t)m[10] << 8 | m[11];
    return total >= 12 && chunk >= 6 && chunk <= total - 6;
}

static void segment(cap_tcp_table *t, const cap_tcp_seg *s, unsigned ports) {
    bool sip_port = ports & CAP_TCP_SIP_PORT;
    t->st->tcp_segments++;
    if ((s->flags & (TCP_ACK | TCP_RST)) == TCP_ACK) note_ack(t, s);
    uint64_t h = flow_hash(t, &s->src, &s->dst);
    tcp_flow *f = flow_find(t, &s->src, &s->dst, h);
    bool syn = (s->flags & TCP_SYN) != 0;
    if (f && f->closed && closed_segment(t, f, s)) return;
    if (!f) {
        if (s->flags & TCP_RST) { /* a reset from a side that never sent data */
            /* taken as the receiver takes it (RFC 5961 3.2): at the next byte
             * it expects, which its last ACK named (after a FIN not
             * acknowledged, one more) */
            tcp_flow *r = flow_find(t, &s->dst, &s->src, flow_hash(t, &s->dst, &s->src));
            if (!r || !r->ack_out_seen || (uint32_t)(s->seq - r->ack_out) <= 1) close_reverse(t, s);
            return;
        }
        /* HEP v3 on a HEP port: from its SYN, or data that starts a packet,
         * or data that holds one's start (a capture begun after the sender
         * connected: its segments need not begin where packets do): read
         * from the first "HEP3", as after a gap. Not data that starts like
         * SIP: that is SIP over TCP from or to the port. */
        bool hep_port = (ports & CAP_TCP_HEP_PORT) && !sip_port && t->hep;
        bool hep = hep_port && (s->len > 0 ? cap_hep_frame(s->data, s->len) >= 0 : syn);
        bool hep_inside = hep_port && !hep && !syn && hep_start_inside(s->data, s->len);
        hep = hep || hep_inside;
        int start = hep ? 1 : 0;
        if (!hep && !sip_port && t->heuristic && s->len > 0) start = cap_sip_start_line(s->data, s->len);
        if (start == 0 && !sip_port && t->heuristic && s->len > 0) { /* SIP over WebSocket, on any port */
            size_t hl;
            start = cap_ws_handshake(s->data, s->len, &hl);
            if (start == 0 && cap_ws_answer_not_sip(s->data, s->len)) ws_peer_not_sip(t, &s->src, &s->dst);
        }
        /* with a key log, TLS on any port: pending until its keys are found */
        bool tls = start == 0 && !sip_port && t->heuristic && t->tls_keys && tls_heuristic(s);
        if (tls) start = -1;
        /* undecided (a segment shorter than a start line): tracked, a bounded
         * number of them, until its bytes tell */
        if (start < 0 && t->npending == TCP_PENDING_MAX) pending_make_room(t);
        bool pending = start < 0 && t->npending < TCP_PENDING_MAX;
        bool track = sip_port ? (syn || s->len > 0) : (start == 1 || pending);
        if (!track || !(f = flow_create(t, s, h))) return;
        flow_start(t, f, s->seq, syn);
        if (!syn) {
            /* picked up mid-stream: the bytes just before were never seen
             * here, so a segment that carries them (one the sender sent
             * first but that arrived after this one) is not a retransmission:
             * the whole messages it starts with are emitted (late_data) */
            f->lost_seq = s->seq - t->max_flow_bytes;
            f->lost_len = t->max_flow_bytes;
        }
        f->hep = hep; /* mid-stream: resyncing (flow_start), at the first "HEP3" here */
        if (tls) {
            tls_begin(t, f, true);
            f->resync = !f->tls; /* no room for it: its bytes are not SIP */
        }
        if (pending) {
            f->pending = true;
            f->pending_no = t->pend_next;
            t->pend_ring[t->pend_next % TCP_PENDING_MAX].f = f;
            t->pend_ring[t->pend_next % TCP_PENDING_MAX].no = t->pend_next;
            t->pend_next++;
            t->npending++;
        }
    } else if (syn && syn_late(f, s->seq)) {
        /* this stream's own SYN, captured after its first data: noted */
        f->syn_seen = true;
        f->isn = s->seq;
    } else if (syn && f->next_seq != s->seq + 1 && !(f->syn_seen && f->isn == s->seq)) {
        /* a new connection on the same tuple; the same SYN again (lost
         * SYN-ACK, data on the SYN as TCP Fast Open sends it) is not */
        flow_start(t, f, s->seq, true);
    }
    flow_touch(t, f, s->ts_us);
    if ((s->flags & (TCP_ACK | TCP_RST)) == TCP_ACK) {
        f->ack_out = s->ack;
        f->ack_out_seen = true;
    }
    uint32_t seq = syn ? s->seq + 1 : s->seq;
    bool rst = (s->flags & TCP_RST) && rst_acceptable(f, seq); /* before its own bytes move next_seq */
    if (s->len > 0) flow_data(t, f, seq, s->data, s->len, s->ts_us, s->frame_no);
    if (f->pending && !pending_decided(t, f)) return;
    if (f->in_gap_list && s->ts_us > f->hold_since + TCP_GAP_WAIT_US) gap_timeout(t, f, s->ts_us);
    if (rst) {
        flow_close(t, f, s->ts_us, true);
        close_reverse(t, s);
        return;
    }
    if (s->flags & TCP_FIN) {
        if (!f->fin) f->fin_ts = s->ts_us;
        f->fin = true;
        f->fin_seq = seq + s->len;
    }
    fin_check(t, f, s->ts_us);
}

void cap_tcp_expire(cap_tcp_table *t, uint64_t now_us) {
    while (t->gap_head && t->gap_head->hold_since + TCP_GAP_WAIT_US < now_us) {
        tcp_flow *f = t->gap_head;
        gap_timeout(t, f, now_us);
        fin_check(t, f, now_us); /* a FIN held behind the hole given up */
    }
    while (t->lru_head && t->lru_head->last_ts + t->idle_us < now_us)
        flow_close(t, t->lru_head, now_us, false);
    while (t->closed_head && t->closed_head->last_ts + TCP_CLOSED_KEEP_US < now_us)
        flow_destroy(t, t->closed_head);
}

void cap_tcp_finish(cap_tcp_table *t) {
    while (t->lru_head) flow_close(t, t->lru_head, t->lru_head->last_ts, false);
    while (t->closed_head) flow_destroy(t, t->closed_head);
}

size_t cap_tcp_memory(const cap_tcp_table *t) {
    size_t n = sizeof *t + (size_t)t->bytes;
    if (t->buckets) n += ((size_t)t->mask + 1) * sizeof *t->buckets;
    n += ((size_t)t->nflows + t->nclosed + t->npool) * sizeof(tcp_flow);
    if (t->ws_out) n += t->max_msg;
    if (t->ws_plain) n += (size_t)t->max_msg + 1;
    if (t->tlsx) n += cap_tls_ctx_size();
    return n;
}

uint32_t cap_tcp_chain_max(const cap_tcp_table *t) {
    uint32_t best = 0;
    for (uint32_t i = 0; t->buckets && i <= t->mask; i++) {
        uint32_t n = 0;
        for (const tcp_flow *f = t->buckets[i]; f; f = f->hnext) n++;
        if (n > best) best = n;
    }
    return best;
}

void cap_tcp_free(cap_tcp_table *t) {
    if (!t) return;
    while (t->lru_head) flow_destroy(t, t->lru_head);
    while (t->closed_head) flow_destroy(t, t->closed_head);
    while (t->pool) {
        tcp_flow *f = t->pool;
        t->pool = f->hnext;
        free(f);
    }
    free(t->buckets);
    free(t->ws_out);
    free(t->ws_plain);
    cap_tls_ctx_free(t->tlsx);
    free(t);
}

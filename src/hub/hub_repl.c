/*
 * hub_repl.c -- the hub's replicated log: NATS JetStream through libnats.
 *
 * Owns: the NATS connection and JetStream context of one hub node, the
 * stream (created when missing), publishing verified events with their
 * dedupe id and waiting for the replicated PubAcks, this node's durable
 * pull consumer and the applier loop that moves the log into the node's
 * hub_store in order, and the ring of applied verdicts hub_repl_await reads.
 * Must not touch: signature checks and policy (the server's, before
 * publishing), SQL (hub_store_apply), printing.
 *
 * Ordering: the stream's sequences are contiguous and the applier applies
 * them strictly in order (`expected` = last applied + 1). A message below
 * `expected` was applied before (acknowledged again, skipped); one above it
 * means a delivery went missing (an unacknowledged batch waiting for its
 * ack timeout): the consumer is re-created at `expected` and the fetch is
 * dropped. When the log no longer holds `expected` (deleted, discarded),
 * the re-created consumer's first message is accepted wherever it is. The consumer is also re-created on start whenever it is not
 * exactly at the store's position, so its position can never run ahead of
 * what the store holds.
 */
#include <errno.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../exchange/xc.h"
#include "hub_repl.h"

#define HDR_PUBLISHER "Fs38-Publisher"
#define HDR_RECEIVED "Fs38-Received-Ms"
#define HDR_MSGID "Nats-Msg-Id"
#define OPEN_RETRY_MS 20000     /* JetStream not ready yet (cluster electing) */
#define FETCH_WAIT_MS 250
#define STORE_RETRY_MS 500

typedef struct ring_entry {
    uint64_t seq;          /* 0 = empty */
    int64_t store_seq;     /* -1: passed over, no longer in the log */
    int64_t held_version;
    uint8_t verdict;       /* hub_verdict */
} ring_entry;

struct hub_repl {
    natsConnection *nc;
    jsCtx *js;
    char stream[HUB_REPL_MAX_STREAM + 1];
    char node[HUB_REPL_MAX_NODE_ID + 1];
    int replicas;

    /* applier state (its thread only) */
    natsSubscription *sub;
    uint64_t expected;     /* next stream sequence to apply; 0 = not started */
    bool gap_ok;           /* after a consumer reset: accept the first seq as it comes */

    /* shared with hub_repl_await */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t applied;      /* highest sequence applied */
    char past_log[200];    /* set: the store is past the log's end (the log was reset) */
    char apply_error[200]; /* why the applier's last step failed ("" after one that worked) */
    ring_entry *ring;      /* HUB_REPL_VERDICT_RING entries */
};

/* ---- small helpers ---------------------------------------------------------- */

static fs_code nats_fail(fs_err *e, const char *what, natsStatus s, jsErrCode jerr) {
    const char *last = nats_GetLastError(NULL);
    if (jerr)
        return fs_fail(e, FS_ERR_IO, "nats: %s: %s (JetStream error %d)%s%s", what,
                       natsStatus_GetText(s), (int)jerr, last ? ": " : "", last ? last : "");
    return fs_fail(e, FS_ERR_IO, "nats: %s: %s%s%s", what, natsStatus_GetText(s),
                   last ? ": " : "", last ? last : "");
}

static bool name_ok(const char *s, size_t max) {
    size_t n = strnlen(s, max + 1);
    if (n == 0 || n > max) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {}
}

fs_code hub_repl_subject(fs_str issuer, char *buf, size_t n, fs_err *e) {
    size_t pre = sizeof HUB_REPL_SUBJECT_PREFIX - 1;
    if (issuer.len == 0 || issuer.len > HUB_MAX_ID)
        return fs_fail(e, FS_ERR_FORMAT, "issuer: %u bytes, want 1..%d", (unsigned)issuer.len,
                       HUB_MAX_ID);
    if (n < pre + issuer.len + 1) return fs_fail(e, FS_ERR_LIMIT, "subject: buffer too small");
    memcpy(buf, HUB_REPL_SUBJECT_PREFIX, pre);
    for (size_t i = 0; i < issuer.len; i++) {
        char c = issuer.p[i];
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == ':' || c == '_' || c == '-';
        buf[pre + i] = keep ? c : '_';
    }
    buf[pre + issuer.len] = '\0';
    return FS_OK;
}

/* ---- open / close ---------------------------------------------------------------- */

static fs_code split_urls(const char *urls, char *copy, size_t cap, const char **list, int *n,
                          fs_err *e) {
    size_t len = strnlen(urls, cap);
    if (len == 0) return fs_fail(e, FS_ERR_CONFIG, "nats: no server URL");
    if (len >= cap) return fs_fail(e, FS_ERR_CONFIG, "nats: server list longer than %zu bytes", cap - 1);
    memcpy(copy, urls, len + 1);
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ", ", &save); tok;
         tok = strtok_r(NULL, ", ", &save)) {
        if (*n == HUB_REPL_MAX_URLS)
            return fs_fail(e, FS_ERR_CONFIG, "nats: more than %d server URLs", HUB_REPL_MAX_URLS);
        if (strncmp(tok, "nats://", 7) != 0 && strncmp(tok, "tls://", 6) != 0)
            return fs_fail(e, FS_ERR_CONFIG, "nats: server URL '%.100s' is not nats://HOST:PORT",
                           tok);
        list[(*n)++] = tok;
    }
    return *n ? FS_OK : fs_fail(e, FS_ERR_CONFIG, "nats: no server URL");
}

static fs_code connect_nats(hub_repl *r, const char *urls, const char *tls_ca, fs_err *e) {
    char copy[4096];
    const char *list[HUB_REPL_MAX_URLS];
    int n = 0;
    fs_code rc = split_urls(urls, copy, sizeof copy, list, &n, e);
    if (rc != FS_OK) return rc;
    natsOptions *o = NULL;
    char name[HUB_REPL_MAX_NODE_ID + 16];
    snprintf(name, sizeof name, "fs38-hub-%s", r->node);
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK) s = natsOptions_SetServers(o, list, n);
    if (s == NATS_OK && tls_ca && *tls_ca) {
        s = natsOptions_SetSecure(o, true);
        if (s == NATS_OK) s = natsOptions_LoadCATrustedCertificates(o, tls_ca);
        if (s != NATS_OK) {
            natsOptions_Destroy(o);
            return nats_fail(e, "replication.tls_ca", s, 0);
        }
    }
    if (s == NATS_OK) s = natsOptions_SetNoRandomize(o, true); /* first URL = local server */
    if (s == NATS_OK) s = natsOptions_SetName(o, name);
    if (s == NATS_OK) s = natsOptions_SetTimeout(o, 2000);
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(o, -1);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(o, 250);
    if (s == NATS_OK) s = natsConnection_Connect(&r->nc, o);
    natsOptions_Destroy(o);
    if (s != NATS_OK) return nats_fail(e, "connect", s, 0);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 5000;
    s = natsConnection_JetStream(&r->js, r->nc, &jo);
    return s == NATS_OK ? FS_OK : nats_fail(e, "JetStream context", s, 0);
}

/* Finds or creates the stream. Retries while JetStream is still electing
 * its meta leader (a cluster just started). */
static fs_code ensure_stream(hub_repl *r, int replicas, fs_err *e) {
    int64_t deadline = mono_ms() + OPEN_RETRY_MS;
    for (;;) {
        jsStreamInfo *si = NULL;
        jsErrCode jerr = 0;
        natsStatus s = js_GetStreamInfo(&si, r->js, r->stream, NULL, &jerr);
        if (s == NATS_OK) {
            r->replicas = (int)si->Config->Replicas;
            if (r->replicas < 1) r->replicas = 1;
            jsStreamInfo_Destroy(si);
            return FS_OK;
        }
        if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
            const char *subjects[] = {HUB_REPL_SUBJECT_PREFIX ">"};
            jsStreamConfig cfg;
            jsStreamConfig_Init(&cfg);
            cfg.Name = r->stream;
            cfg.Description = "fs38 hub: replicated log of signed events";
            cfg.Subjects = subjects;
            cfg.SubjectsLen = 1;
            cfg.Storage = js_FileStorage;
            cfg.Retention = js_LimitsPolicy;
            cfg.Replicas = replicas;
            cfg.Duplicates = (int64_t)HUB_REPL_DUP_WINDOW_S * 1000000000LL;
            cfg.MaxMsgSize = HUB_MAX_SIGNED + 4096;
            cfg.Discard = js_DiscardNew; /* never drop the log of record silently */
            jerr = 0;
            s = js_AddStream(&si, r->js, &cfg, NULL, &jerr);
            if (s == NATS_OK) {
                r->replicas = replicas;
                jsStreamInfo_Destroy(si);
                return FS_OK;
            }
        }
        if (mono_ms() > deadline) {
            char what[128];
            snprintf(what, sizeof what, "stream %s (R%d)", r->stream, replicas);
            return nats_fail(e, what, s, jerr);
        }
        sleep_ms(250);
    }
}

fs_code hub_repl_open(const char *urls, const char *stream, const char *node_id, int replicas,
                      hub_repl **out, fs_err *e) {
    return hub_repl_open_tls(urls, stream, node_id, replicas, NULL, out, e);
}

fs_code hub_repl_open_tls(const char *urls, const char *stream, const char *node_id, int replicas,
                          const char *tls_ca, hub_repl **out, fs_err *e) {
    *out = NULL;
    if (!stream) stream = HUB_REPL_DEFAULT_STREAM;
    if (!urls) return fs_fail(e, FS_ERR_CONFIG, "nats: no server URL");
    if (!name_ok(stream, HUB_REPL_MAX_STREAM))
        return fs_fail(e, FS_ERR_CONFIG, "nats: stream name must be 1..%d of [A-Za-z0-9_-]",
                       HUB_REPL_MAX_STREAM);
    if (!node_id || !name_ok(node_id, HUB_REPL_MAX_NODE_ID))
        return fs_fail(e, FS_ERR_CONFIG, "nats: node id must be 1..%d of [A-Za-z0-9_-]",
                       HUB_REPL_MAX_NODE_ID);
    if (replicas < 1 || replicas > 5)
        return fs_fail(e, FS_ERR_CONFIG, "nats: replicas %d outside 1..5", replicas);
    hub_repl *r = calloc(1, sizeof *r);
    if (r) r->ring = calloc(HUB_REPL_VERDICT_RING, sizeof *r->ring);
    if (!r || !r->ring) {
        if (r) free(r);
        return fs_fail(e, FS_ERR_NOMEM, "nats: out of memory");
    }
    snprintf(r->stream, sizeof r->stream, "%s", stream);
    snprintf(r->node, sizeof r->node, "%s", node_id);
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    fs_code rc = connect_nats(r, urls, tls_ca, e);
    if (rc == FS_OK) rc = ensure_stream(r, replicas, e);
    if (rc != FS_OK) {
        hub_repl_close(r);
        return rc;
    }
    *out = r;
    return FS_OK;
}

void hub_repl_close(hub_repl *r) {
    if (!r) return;
    if (r->sub) natsSubscription_Destroy(r->sub);
    if (r->js) jsCtx_Destroy(r->js);
    if (r->nc) {
        natsConnection_Close(r->nc);
        natsConnection_Destroy(r->nc);
    }
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r->ring);
    free(r);
}

int hub_repl_replicas(const hub_repl *r) { return r->replicas; }

fs_code hub_repl_log_last_seq(hub_repl *r, uint64_t *seq, fs_err *e) {
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, r->js, r->stream, NULL, &jerr);
    if (s != NATS_OK) return nats_fail(e, "stream info", s, jerr);
    *seq = si->State.LastSeq;
    jsStreamInfo_Destroy(si);
    return FS_OK;
}

/* ---- publish ------------------------------------------------------------------------ */

typedef struct pub_slot {
    const natsMsg *msg;
    size_t i;
} pub_slot;

typedef struct pub_batch {
    pthread_mutex_t mu;
    pub_slot *slots;   /* sorted by msg pointer */
    size_t n;
    uint64_t *seqs;
    hub_repl_verdict *v;
    bool *answered;
    char refused[200];  /* JetStream's answer to the first item it refused */
} pub_batch;

static int slot_cmp(const void *a, const void *b) {
    uintptr_t x = (uintptr_t)((const pub_slot *)a)->msg, y = (uintptr_t)((const pub_slot *)b)->msg;
    return x < y ? -1 : x > y;
}

/* libnats thread: one PubAck (or failure) for one message of the batch. */
static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure) {
    (void)js;
    pub_batch *b = closure;
    pub_slot key = {msg, 0};
    pub_slot *hit = bsearch(&key, b->slots, b->n, sizeof key, slot_cmp);
    if (!hit) {
        natsMsg_Destroy(msg);
        return;
    }
    pthread_mutex_lock(&b->mu);
    size_t i = hit->i;
    b->answered[i] = true;
    if (pa && !pae) {
        b->seqs[i] = pa->Sequence;
        b->v[i] = pa->Duplicate ? HUB_REPL_DUPLICATE : HUB_REPL_LOGGED;
    } else {
        b->seqs[i] = 0;
        b->v[i] = HUB_REPL_ERROR;
        if (pae && !b->refused[0])
            snprintf(b->refused, sizeof b->refused, "%.150s (JetStream error %d)",
                     pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err), (int)pae->ErrCode);
    }
    pthread_mutex_unlock(&b->mu);
    natsMsg_Destroy(msg); /* ours again once its answer is in */
}

static natsStatus make_msg(const hub_item *it, int64_t now_ms, natsMsg **m, fs_err *e) {
    char subj[sizeof HUB_REPL_SUBJECT_PREFIX + HUB_MAX_ID + 1];
    char id[2 * HUB_MAX_ID + 32], pub[HUB_MAX_ID + 1], recv[24];
    if (hub_repl_subject(it->issuer, subj, sizeof subj, e) != FS_OK) return NATS_INVALID_ARG;
    if (it->event_id.len == 0 || it->event_id.len > HUB_MAX_ID || it->publisher.len == 0 ||
        it->publisher.len > HUB_MAX_ID || !it->signed_jws.p || it->signed_jws.len == 0 ||
        it->signed_jws.len > HUB_MAX_SIGNED || memchr(it->issuer.p, 0, it->issuer.len) ||
        memchr(it->event_id.p, 0, it->event_id.len) || memchr(it->publisher.p, 0, it->publisher.len)) {
        fs_fail(e, FS_ERR_FORMAT, "item: issuer, event_id, publisher or signed bytes out of bounds");
        return NATS_INVALID_ARG;
    }
    snprintf(id, sizeof id, "%.*s/%.*s/%lld", (int)it->issuer.len, it->issuer.p,
             (int)it->event_id.len, it->event_id.p, (long long)it->version);
    snprintf(pub, sizeof pub, "%.*s", (int)it->publisher.len, it->publisher.p);
    snprintf(recv, sizeof recv, "%lld", (long long)now_ms);
    natsStatus s = natsMsg_Create(m, subj, NULL, it->signed_jws.p, (int)it->signed_jws.len);
    if (s == NATS_OK) s = natsMsgHeader_Set(*m, HDR_MSGID, id);
    if (s == NATS_OK) s = natsMsgHeader_Set(*m, HDR_PUBLISHER, pub);
    if (s == NATS_OK) s = natsMsgHeader_Set(*m, HDR_RECEIVED, recv);
    if (s != NATS_OK) nats_fail(e, "build message", s, 0);
    return s;
}

fs_code hub_repl_publish_batch(hub_repl *r, const hub_item *items, size_t n, int64_t now_ms,
                               uint64_t *seqs, hub_repl_verdict *verdicts, fs_err *e) {
    if (n > HUB_MAX_BATCH)
        return fs_fail(e, FS_ERR_LIMIT, "publish: %zu items, limit %d", n, HUB_MAX_BATCH);
    for (size_t i = 0; i < n; i++) seqs[i] = 0, verdicts[i] = HUB_REPL_ERROR;
    if (n == 0) return FS_OK;
    pub_batch b = {.n = n, .seqs = seqs, .v = verdicts};
    natsMsg **msgs = calloc(n, sizeof *msgs);
    b.slots = calloc(n, sizeof *b.slots);
    b.answered = calloc(n, sizeof *b.answered);
    if (!msgs || !b.slots || !b.answered) {
        free(msgs), free(b.slots), free(b.answered);
        return fs_fail(e, FS_ERR_NOMEM, "publish: out of memory for %zu items", n);
    }
    pthread_mutex_init(&b.mu, NULL);
    fs_code rc = FS_OK;
    natsStatus s = NATS_OK;
    /* Every message exists before the first is sent, so no two share an address. */
    for (size_t i = 0; i < n && rc == FS_OK; i++) {
        if (make_msg(&items[i], now_ms, &msgs[i], e) != NATS_OK) {
            char m[sizeof e->msg];
            snprintf(m, sizeof m, "%s", e ? e->msg : "");
            rc = fs_fail(e, FS_ERR_FORMAT, "publish: item %zu: %s", i, m);
        }
        b.slots[i] = (pub_slot){msgs[i], i};
    }
    jsCtx *js = NULL;
    if (rc == FS_OK) {
        qsort(b.slots, n, sizeof *b.slots, slot_cmp);
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.Wait = HUB_REPL_PUBLISH_WAIT_MS;
        jo.PublishAsync.AckHandler = on_ack;
        jo.PublishAsync.AckHandlerClosure = &b;
        jo.PublishAsync.MaxPending = 4096;
        jo.PublishAsync.StallWait = HUB_REPL_PUBLISH_WAIT_MS;
        s = natsConnection_JetStream(&js, r->nc, &jo);
        if (s != NATS_OK) rc = nats_fail(e, "JetStream context", s, 0);
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = HUB_REPL_PUBLISH_WAIT_MS;
    po.ExpectStream = r->stream;
    size_t sent = 0;
    for (; rc == FS_OK && sent < n; sent++) {
        s = js_PublishMsgAsync(js, &msgs[sent], &po);
        if (s != NATS_OK) rc = nats_fail(e, "publish", s, 0);
    }
    if (js && sent > 0) {
        jsPubOptions wo;
        jsPubOptions_Init(&wo);
        wo.MaxWait = HUB_REPL_PUBLISH_WAIT_MS;
        s = js_PublishAsyncComplete(js, &wo);
        if (s != NATS_OK) {
            /* Take back what was never acknowledged: those items are ERROR. */
            natsMsgList pending = {0};
            if (js_PublishAsyncGetPendingList(&pending, js) == NATS_OK) natsMsgList_Destroy(&pending);
            if (rc == FS_OK) rc = nats_fail(e, "waiting for PubAcks", s, 0);
            /* An answer whose handler was already running when the wait ran
             * out is still counted pending (libnats counts it off once the
             * handler returns) and its handler writes into b: wait for those.
             * Nothing else is pending now and on_ack only takes b.mu for a
             * moment, so this returns at once; the bound only guards against
             * a library that counts otherwise hanging the publisher. */
            js_PublishAsyncComplete(js, &wo);
        }
    }
    if (js) jsCtx_Destroy(js);
    for (size_t i = 0; i < n; i++) natsMsg_Destroy(msgs[i]); /* NULL for those sent */
    pthread_mutex_lock(&b.mu);
    size_t refused = 0, first = n;
    for (size_t i = 0; i < n; i++) {
        if (!b.answered[i]) seqs[i] = 0, verdicts[i] = HUB_REPL_ERROR;
        if (verdicts[i] == HUB_REPL_ERROR && refused++ == 0) first = i;
    }
    if (rc == FS_OK && refused) /* say why, though every item got its answer */
        fs_fail(e, FS_ERR_IO, "publish: %zu of %zu items not logged, item %zu: %s", refused, n, first,
                b.refused[0] ? b.refused : "no PubAck");
    pthread_mutex_unlock(&b.mu);
    pthread_mutex_destroy(&b.mu);
    free(msgs), free(b.slots), free(b.answered);
    return rc;
}

/* ---- await ---------------------------------------------------------------------------- */

uint64_t hub_repl_applied_seq(hub_repl *r) {
    pthread_mutex_lock(&r->mu);
    uint64_t a = r->applied;
    pthread_mutex_unlock(&r->mu);
    return a;
}

fs_code hub_repl_await(hub_repl *r, const uint64_t *seqs, size_t n, int timeout_ms,
                       hub_result *res, bool *forgotten, fs_err *e) {
    uint64_t want = 0;
    for (size_t i = 0; i < n; i++)
        if (seqs[i] > want) want = seqs[i];
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) dl.tv_sec++, dl.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&r->mu);
    int w = 0;
    while (r->applied < want && !r->past_log[0] && w != ETIMEDOUT)
        w = pthread_cond_timedwait(&r->cv, &r->mu, &dl);
    if (r->past_log[0]) { /* `applied` counts a log that no longer exists */
        char why[sizeof r->past_log];
        memcpy(why, r->past_log, sizeof why);
        pthread_mutex_unlock(&r->mu);
        return fs_fail(e, FS_ERR_IO, "%s", why);
    }
    if (r->applied < want) {
        uint64_t got = r->applied;
        char why[sizeof r->apply_error];
        memcpy(why, r->apply_error, sizeof why);
        pthread_mutex_unlock(&r->mu);
        return fs_fail(e, FS_ERR_IO, "replication: applied through %llu, waited %d ms for %llu%s%s",
                       (unsigned long long)got, timeout_ms, (unsigned long long)want,
                       why[0] ? "; the applier is retrying: " : "", why);
    }
    for (size_t i = 0; i < n; i++) {
        hub_result *o = &res[i];
        memset(o, 0, sizeof *o);
        if (forgotten) forgotten[i] = false;
        if (seqs[i] == 0) {
            o->verdict = HUB_INVALID;
            snprintf(o->error, sizeof o->error, "not in the replicated log");
            continue;
        }
        const ring_entry *x = &r->ring[seqs[i] % HUB_REPL_VERDICT_RING];
        if (x->seq != seqs[i]) { /* older than the ring, or than this run: it was applied */
            o->verdict = HUB_STORED;
            o->seq = (int64_t)seqs[i];
            if (forgotten) forgotten[i] = true;
            continue;
        }
        if (x->store_seq < 0) { /* removed from the log before it was applied here */
            o->verdict = HUB_INVALID;
            snprintf(o->error, sizeof o->error,
                     "removed from the replicated log before this node applied it");
            continue;
        }
        o->verdict = (hub_verdict)x->verdict;
        o->seq = x->store_seq;
        o->held_version = x->held_version;
        if (o->verdict != HUB_STORED)
            snprintf(o->error, sizeof o->error, "%s (held version %lld)",
                     hub_verdict_name(o->verdict), (long long)o->held_version);
    }
    pthread_mutex_unlock(&r->mu);
    return FS_OK;
}

static void ring_put(hub_repl *r, uint64_t seq, const hub_result *res) {
    ring_entry *x = &r->ring[seq % HUB_REPL_VERDICT_RING];
    x->seq = seq;
    x->verdict = (uint8_t)res->verdict;
    x->store_seq = res->seq;
    x->held_version = res->held_version;
}

/* ---- the logged event -> the store's item ----------------------------------------------- */

static fs_str cstr(const char *s) { return s ? fs_str_make(s, strlen(s)) : FS_STR_NULL; }

/* Fills it from ev; obs/aud hold n_obs_cap/n_aud_cap entries. */
static fs_code item_from_event(const xc_event *ev, fs_str jws, fs_str publisher, hub_item *it,
                               hub_observable *obs, size_t obs_cap, fs_str *aud,
                               size_t aud_cap, fs_err *e) {
    memset(it, 0, sizeof *it);
    it->issuer = cstr(ev->issuer);
    it->event_id = cstr(ev->event_id);
    it->version = ev->version;
    it->status = ev->status && strcmp(ev->status, "revoked") == 0 ? HUB_REVOKED : HUB_ACTIVE;
    it->event_type = cstr(ev->event_type);
    it->created_ms = ev->created_ms;
    it->valid_until_ms = ev->valid_until_ms;
    it->tlp = cstr(ev->tlp);
    it->signed_jws = jws;
    it->publisher = publisher;
    size_t no = xc_event_nobs(ev);
    if (no > obs_cap) return fs_fail(e, FS_ERR_LIMIT, "observables: %zu, room for %zu", no, obs_cap);
    for (size_t i = 0; i < no; i++) {
        xc_observable o;
        if (!xc_event_observable(ev, i, &o))
            return fs_fail(e, FS_ERR_FORMAT, "observables[%zu]: unreadable", i);
        obs[i] = (hub_observable){cstr(o.kind), cstr(o.value), cstr(o.role)};
    }
    it->obs = obs;
    it->n_obs = no;
    size_t na = ev->audience && json_is_array(ev->audience) ? json_array_size(ev->audience) : 0;
    if (na > aud_cap) return fs_fail(e, FS_ERR_LIMIT, "audience: %zu, room for %zu", na, aud_cap);
    for (size_t i = 0; i < na; i++) {
        const json_t *m = json_array_get(ev->audience, i);
        if (!json_is_string(m)) return fs_fail(e, FS_ERR_FORMAT, "handling.audience[%zu]: not a string", i);
        aud[i] = fs_str_make(json_string_value(m), json_string_length(m));
    }
    it->audience = aud;
    it->n_audience = na;
    return FS_OK;
}

/* Decodes the payload segment of a JWS compact and parses the event. */
static fs_code parse_jws_payload(fs_str jws, xc_event *ev, fs_err *e) {
    const char *p = jws.p, *end = jws.p + jws.len;
    const char *d1 = memchr(p, '.', jws.len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', (size_t)(end - d1 - 1)) : NULL;
    if (!d1 || !d2) return fs_fail(e, FS_ERR_FORMAT, "logged event: not a JWS compact");
    size_t cap = XC_EVENT_MAX_BYTES, len = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) return fs_fail(e, FS_ERR_NOMEM, "logged event: out of memory");
    fs_code rc = FS_OK;
    if (!xc_b64_decode(d1 + 1, (size_t)(d2 - d1 - 1), buf, cap, &len))
        rc = fs_fail(e, FS_ERR_FORMAT, "logged event: payload is not base64url of an event");
    if (rc == FS_OK) rc = xc_event_parse((const char *)buf, len, ev, NULL, e);
    free(buf);
    return rc;
}

fs_code hub_repl_item_from_jws(fs_str jws, fs_str publisher, struct xc_event *ev, hub_item *it,
                               hub_observable *obs, fs_str *aud, fs_err *e) {
    memset(ev, 0, sizeof *ev);
    fs_code rc = parse_jws_payload(jws, ev, e);
    if (rc == FS_OK)
        rc = item_from_event(ev, jws, publisher, it, obs, HUB_MAX_OBS, aud, HUB_MAX_AUDIENCE, e);
    if (rc != FS_OK) xc_event_free(ev);
    return rc;
}

/* ---- the applier ------------------------------------------------------------------------ */

hub_sighting hub_repl_sighting_of(const xc_event *ev, fs_str publisher, int64_t event_seq) {
    json_t *evd = json_object_get(ev->root, "evidence");
    json_int_t count = json_integer_value(json_object_get(evd, "count"));
    json_t *note = json_object_get(json_object_get(evd, "details"), "note");
    return (hub_sighting){
        .reporter = publisher,
        .ref_issuer = fs_str_make(ev->ref_issuer, strlen(ev->ref_issuer)),
        .ref_event_id = fs_str_make(ev->ref_event_id, strlen(ev->ref_event_id)),
        .kind = strcmp(ev->event_type, "SIGHTING") ? HUB_FALSE_POSITIVE : HUB_SIGHTING,
        .at_ms = ev->last_seen_ms > 0 ? ev->last_seen_ms : ev->created_ms,
        .count = count >= 1 ? count : 1,
        .note = json_is_string(note) && json_string_length(note) <= HUB_MAX_NOTE
                    ? fs_str_make(json_string_value(note), json_string_length(note))
                    : FS_STR_NULL,
        .event_seq = event_seq};
}


/* One fetched message made ready for hub_store_apply. */
typedef struct apply_slot {
    uint64_t seq;
    bool ok;              /* parsed; else verdict INVALID without a store row */
    xc_event ev;
    hub_observable *obs;
    fs_str *aud;
    hub_item item;
    char publisher[HUB_MAX_ID + 1];
    int64_t received_ms;
    char error[160];
} apply_slot;

static void slot_free(apply_slot *s) {
    if (s->ok) xc_event_free(&s->ev);
    free(s->obs);
    free(s->aud);
    memset(s, 0, sizeof *s);
}

static void slot_prepare(natsMsg *m, uint64_t seq, apply_slot *s) {
    memset(s, 0, sizeof *s);
    s->seq = seq;
    const char *v = NULL;
    fs_err pe = {0};
    if (natsMsgHeader_Get(m, HDR_PUBLISHER, &v) != NATS_OK || !v || !*v ||
        strlen(v) > HUB_MAX_ID) {
        snprintf(s->error, sizeof s->error, "logged message has no %s header", HDR_PUBLISHER);
        return;
    }
    snprintf(s->publisher, sizeof s->publisher, "%s", v);
    v = NULL;
    if (natsMsgHeader_Get(m, HDR_RECEIVED, &v) == NATS_OK && v) s->received_ms = strtoll(v, NULL, 10);
    if (s->received_ms < 0) s->received_ms = 0;
    fs_str jws = fs_str_make(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
    if (jws.len == 0 || jws.len > HUB_MAX_SIGNED) {
        snprintf(s->error, sizeof s->error, "logged message: %u bytes", (unsigned)jws.len);
        return;
    }
    if (parse_jws_payload(jws, &s->ev, &pe) != FS_OK) {
        snprintf(s->error, sizeof s->error, "%.159s", pe.msg);
        return;
    }
    s->ok = true;
    size_t no = xc_event_nobs(&s->ev);
    size_t na = s->ev.audience && json_is_array(s->ev.audience) ? json_array_size(s->ev.audience) : 0;
    s->obs = calloc(no ? no : 1, sizeof *s->obs);
    s->aud = calloc(na ? na : 1, sizeof *s->aud);
    if (!s->obs || !s->aud ||
        item_from_event(&s->ev, jws, cstr(s->publisher), &s->item, s->obs, no, s->aud, na, &pe) != FS_OK) {
        snprintf(s->error, sizeof s->error, "%.159s", s->obs && s->aud ? pe.msg : "out of memory");
        xc_event_free(&s->ev);
        s->ok = false;
    }
}

/* True when stream sequence seq is no longer in the log (deleted by an
 * operator, or discarded by a limit): a gap before the next message is then
 * a hole in the stream, not a delivery still owed to this consumer. */
static bool logged_seq_gone(hub_repl *r, uint64_t seq) {
    natsMsg *m = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetMsg(&m, r->js, r->stream, seq, NULL, &jerr);
    if (s == NATS_OK) natsMsg_Destroy(m);
    return s == NATS_NOT_FOUND || jerr == JSNoMessageFoundErr;
}

static fs_code drop_sub(hub_repl *r) {
    if (r->sub) natsSubscription_Destroy(r->sub);
    r->sub = NULL;
    return FS_OK;
}

/* (Re)creates this node's durable consumer at start_seq and binds to it.
 * Keeps an existing one only when it sits exactly at start_seq with
 * nothing in flight. */
static fs_code bind_consumer(hub_repl *r, uint64_t start_seq, fs_err *e) {
    drop_sub(r);
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetConsumerInfo(&ci, r->js, r->stream, r->node, NULL, &jerr);
    bool keep = false;
    if (s == NATS_OK) {
        keep = ci->AckFloor.Stream + 1 == start_seq && ci->Delivered.Stream == ci->AckFloor.Stream &&
               ci->Config && ci->Config->AckPolicy == js_AckAll;
        jsConsumerInfo_Destroy(ci);
        if (!keep) {
            jerr = 0;
            s = js_DeleteConsumer(r->js, r->stream, r->node, NULL, &jerr);
            if (s != NATS_OK && s != NATS_NOT_FOUND) return nats_fail(e, "delete consumer", s, jerr);
        }
    } else if (s != NATS_NOT_FOUND && jerr != JSConsumerNotFoundErr) {
        return nats_fail(e, "consumer info", s, jerr);
    }
    if (!keep) {
        jsConsumerConfig cc;
        jsConsumerConfig_Init(&cc);
        cc.Durable = r->node;
        cc.Description = "fs38 hub node applier";
        cc.DeliverPolicy = js_DeliverByStartSequence;
        cc.OptStartSeq = start_seq;
        cc.AckPolicy = js_AckAll;
        cc.AckWait = 30LL * 1000000000LL;
        cc.MaxAckPending = 4 * HUB_REPL_APPLY_BATCH;
        cc.FilterSubject = HUB_REPL_SUBJECT_PREFIX ">";
        jerr = 0;
        s = js_AddConsumer(&ci, r->js, r->stream, &cc, NULL, &jerr);
        if (s != NATS_OK && jerr == JSConsumerNameExistErr) {
            /* An older copy surfaced (a server rejoining): replace it. */
            js_DeleteConsumer(r->js, r->stream, r->node, NULL, NULL);
            jerr = 0;
            s = js_AddConsumer(&ci, r->js, r->stream, &cc, NULL, &jerr);
        }
        if (s != NATS_OK) return nats_fail(e, "create consumer", s, jerr);
        jsConsumerInfo_Destroy(ci);
    }
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = r->stream;
    so.Consumer = r->node;
    jerr = 0;
    s = js_PullSubscribe(&r->sub, r->js, HUB_REPL_SUBJECT_PREFIX ">", r->node, NULL, &so, &jerr);
    if (s != NATS_OK) return nats_fail(e, "bind consumer", s, jerr);
    r->expected = start_seq;
    r->gap_ok = !keep;
    return FS_OK;
}

/* Sets why this node must not apply the log (its store was built from
 * another one) and fails with FS_ERR_CONFIG; hub_repl_await fails at once. */
static fs_code refuse_log(hub_repl *r, fs_err *e, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&r->mu);
    vsnprintf(r->past_log, sizeof r->past_log, fmt, ap);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    va_end(ap);
    return fs_fail(e, FS_ERR_CONFIG, "%s", r->past_log);
}

/* Whether the log's message at `seq` is the event the store holds at seq
 * (the store's last row): if it is another one, the log was lost and
 * created again since, and has grown past the store. A message no longer
 * in the log (deleted) proves nothing either way. */
static fs_code check_same_log(hub_repl *r, hub_store *store, int64_t seq, fs_err *e) {
    natsMsg *m = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetMsg(&m, r->js, r->stream, (uint64_t)seq, NULL, &jerr);
    if (s == NATS_NOT_FOUND || jerr == JSNoMessageFoundErr) return FS_OK;
    if (s != NATS_OK) return nats_fail(e, "read the log at the store's last seq", s, jerr);
    hub_observable obs[HUB_MAX_OBS];
    fs_str aud[HUB_MAX_AUDIENCE];
    const char *pub = NULL;
    xc_event ev;
    hub_item it;
    hub_result res = {0};
    fs_err pe = {0};
    bool same = false;
    fs_str jws = fs_str_make(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
    if (natsMsgHeader_Get(m, HDR_PUBLISHER, &pub) == NATS_OK && pub &&
        hub_repl_item_from_jws(jws, cstr(pub), &ev, &it, obs, aud, &pe) == FS_OK) {
        fs_code rc = hub_judge(store, &it, 1, &res, &pe);
        xc_event_free(&ev);
        if (rc != FS_OK) {
            natsMsg_Destroy(m);
            return fs_fail(e, rc, "%s", pe.msg);
        }
        same = res.verdict == HUB_DUPLICATE && res.seq == seq;
    }
    natsMsg_Destroy(m);
    if (same) return FS_OK;
    return refuse_log(r, e, "replication: the log's seq %lld is not the event this node's store "
                      "holds at %lld: the log %s was reset; start the node on an empty store",
                      (long long)seq, (long long)seq, r->stream);
}

static fs_code start_applier(hub_repl *r, hub_store *store, fs_err *e) {
    int64_t last = 0;
    uint64_t log_last = 0;
    fs_code rc = hub_store_last_seq(store, &last, e);
    if (rc == FS_OK) rc = hub_repl_log_last_seq(r, &log_last, e);
    if (rc != FS_OK) return rc;
    /* A stream's last sequence never goes down (deletes and purges keep it):
     * a store past it was built from another log, lost and created again.
     * Its sequences would be taken for ones applied here. */
    if ((uint64_t)last > log_last)
        return refuse_log(r, e, "replication: this node's store holds seq %lld, past the end of log "
                          "%s (seq %llu): the log was reset; start the node on an empty store",
                          (long long)last, r->stream, (unsigned long long)log_last);
    if (last > 0 && (rc = check_same_log(r, store, last, e)) != FS_OK) return rc;
    pthread_mutex_lock(&r->mu);
    r->past_log[0] = '\0';
    if ((uint64_t)last > r->applied) r->applied = (uint64_t)last;
    pthread_mutex_unlock(&r->mu);
    return bind_consumer(r, (uint64_t)last + 1, e);
}

/* Applies the in-order slots [0, k): one store transaction, then verdicts,
 * callbacks, waiters. [hole_from, hole_to) were passed over (no longer in
 * the log): their waiters are told so, not that they were stored. */
static fs_code apply_slots(hub_repl *r, hub_store *store, apply_slot *sl, size_t k,
                           uint64_t hole_from, uint64_t hole_to, hub_repl_event_fn fn, void *ctx,
                           fs_err *e) {
    hub_item *items = malloc((k ? k : 1) * sizeof *items);
    int64_t *seqs = malloc((k ? k : 1) * sizeof *seqs);
    int64_t *recv = malloc((k ? k : 1) * sizeof *recv);
    hub_result *res = calloc(k ? k : 1, sizeof *res);
    size_t *from = malloc((k ? k : 1) * sizeof *from);
    hub_sighting *sight = calloc(k ? k : 1, sizeof *sight); /* zeroed: none */
    fs_code rc = FS_OK;
    if (!items || !seqs || !recv || !res || !from || !sight)
        rc = fs_fail(e, FS_ERR_NOMEM, "apply: out of memory");
    size_t m = 0;
    for (size_t i = 0; rc == FS_OK && i < k; i++) {
        if (!sl[i].ok) continue;
        items[m] = sl[i].item;
        seqs[m] = (int64_t)sl[i].seq;
        recv[m] = sl[i].received_ms;
        if (sl[i].ev.ref_issuer && sl[i].ev.ref_event_id &&
            (fs_str_eq_cstr(items[m].event_type, "SIGHTING") || fs_str_eq_cstr(items[m].event_type, "FALSE_POSITIVE")))
            sight[m] = hub_repl_sighting_of(&sl[i].ev, items[m].publisher, 0);
        from[m++] = i;
    }
    if (rc == FS_OK && m) rc = hub_store_apply(store, items, seqs, recv, m, sight, res, e);
    if (rc == FS_OK) {
        pthread_mutex_lock(&r->mu);
        if (hole_to > hole_from + HUB_REPL_VERDICT_RING) hole_from = hole_to - HUB_REPL_VERDICT_RING;
        for (uint64_t h = hole_from; h < hole_to; h++) {
            hub_result gone = {.verdict = HUB_INVALID, .seq = -1};
            ring_put(r, h, &gone);
        }
        size_t j = 0;
        for (size_t i = 0; i < k; i++) {
            hub_result bad = {.verdict = HUB_INVALID};
            ring_put(r, sl[i].seq, j < m && from[j] == i ? &res[j++] : &bad);
        }
        if (k && sl[k - 1].seq > r->applied) r->applied = sl[k - 1].seq;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
        for (size_t x = 0; fn && x < m; x++)
            if (res[x].verdict == HUB_STORED) {
                hub_repl_applied a = {res[x].seq, &items[x]};
                fn(ctx, store, &a);
            }
    }
    free(items), free(seqs), free(recv), free(res), free(from), free(sight);
    return rc;
}

fs_code hub_repl_apply_once(hub_repl *r, hub_store *store, hub_repl_event_fn fn, void *ctx,
                            int wait_ms, size_t *applied, fs_err *e) {
    *applied = 0;
    fs_code rc;
    if (!r->sub && (rc = start_applier(r, store, e)) != FS_OK) return rc;
    natsMsgList list = {0};
    jsErrCode jerr = 0;
    natsStatus s = natsSubscription_Fetch(&list, r->sub, HUB_REPL_APPLY_BATCH, wait_ms, &jerr);
    if (s == NATS_TIMEOUT && list.Count == 0) return FS_OK;
    if (s != NATS_OK && list.Count == 0) {
        /* The consumer may have been lost with its server: bind again next time. */
        drop_sub(r);
        return nats_fail(e, "fetch", s, jerr);
    }
    apply_slot *sl = calloc((size_t)list.Count, sizeof *sl);
    if (!sl) {
        natsMsgList_Destroy(&list);
        return fs_fail(e, FS_ERR_NOMEM, "apply: out of memory");
    }
    size_t k = 0;
    natsMsg *last_ack = NULL;
    bool reset = false;
    uint64_t hole_from = 0, hole_to = 0; /* passed over: no longer in the log */
    for (int i = 0; i < list.Count; i++) {
        natsMsg *m = list.Msgs[i];
        jsMsgMetaData *md = NULL;
        if (natsMsg_GetMetaData(&md, m) != NATS_OK) continue;
        uint64_t seq = md->Sequence.Stream;
        jsMsgMetaData_Destroy(md);
        if (seq < r->expected) { /* applied before: re-delivery */
            last_ack = m;
            continue;
        }
        if (seq > r->expected && !r->gap_ok) { /* a delivery went missing */
            reset = true;
            break;
        }
        if (seq > r->expected) hole_from = r->expected, hole_to = seq;
        r->gap_ok = false;
        slot_prepare(m, seq, &sl[k++]);
        r->expected = seq + 1;
        last_ack = m;
    }
    rc = FS_OK;
    if (!reset || k > 0) rc = apply_slots(r, store, sl, k, hole_from, hole_to, fn, ctx, e);
    if (rc == FS_OK && last_ack) natsMsg_Ack(last_ack, NULL); /* AckAll: everything up to it */
    if (rc == FS_OK) *applied = k;
    for (size_t i = 0; i < k; i++) slot_free(&sl[i]);
    free(sl);
    natsMsgList_Destroy(&list);
    /* A hole at `expected` that the log no longer holds can never be filled:
     * the consumer re-created there starts at the next message that exists. */
    bool gone = reset && rc == FS_OK && logged_seq_gone(r, r->expected);
    if (rc != FS_OK || reset) {
        /* Not applied (or a hole): start the consumer again where the store is. */
        fs_err be;
        uint64_t restart = r->expected;
        if (rc != FS_OK) {
            int64_t last = 0;
            if (hub_store_last_seq(store, &last, &be) == FS_OK) restart = (uint64_t)last + 1;
            else drop_sub(r);
        }
        if (r->sub && bind_consumer(r, restart, &be) != FS_OK) drop_sub(r);
        if (reset && rc == FS_OK) r->gap_ok = gone; /* a missed delivery is filled, not skipped */
    }
    return rc;
}

fs_code hub_repl_run_applier(hub_repl *r, hub_store *store, hub_repl_event_fn fn, void *ctx,
                             const atomic_int *stop, fs_err *e) {
    fs_code rc = start_applier(r, store, e);
    if (rc == FS_ERR_CONFIG) return rc; /* e.g. the store's schema is not migrated */
    while (!atomic_load(stop)) {
        size_t n = 0;
        fs_err le = {0};
        rc = hub_repl_apply_once(r, store, fn, ctx, FETCH_WAIT_MS, &n, &le);
        if (rc == FS_ERR_CONFIG) {
            if (e) *e = le;
            return rc;
        }
        /* Kept for hub_repl_await: a publisher waiting in vain is told why. */
        pthread_mutex_lock(&r->mu);
        if (rc == FS_OK) r->apply_error[0] = '\0';
        else snprintf(r->apply_error, sizeof r->apply_error, "%.199s", le.msg);
        pthread_mutex_unlock(&r->mu);
        if (rc != FS_OK) sleep_ms(STORE_RETRY_MS); /* store or server away: retry */
    }
    return FS_OK;
}

/*
 * ev.h -- the fs38 security event (../shared/spec/events.md, version 1.0).
 *
 * Owns: the in-memory event a detector fills, its NDJSON serialisation
 * (through jansson), UUIDv7 event ids. Must not touch: detection logic,
 * files (the caller hands a FILE* or a callback), signing (the exchange does).
 *
 * Strings are fixed-size and truncated with a visible marker, so an event is
 * plain data of bounded size and never references the packet it came from.
 */
#ifndef FS_EV_H
#define FS_EV_H

#include <stdio.h>

#include "../core/fs_core.h"
#include "../detect/rules.h"

#define EV_MAX_OBSERVABLES 6
#define EV_MAX_DETAILS 12

typedef struct ev_observable {
    char kind[16];   /* ip, cidr, e164, e164_range, sip_uri, sip_domain, sip_user_agent, ... */
    char value[128];
    char role[12];   /* source, destination, caller, callee, victim, tool, target */
} ev_observable;

/* One representative message. Empty strings are omitted from the JSON. */
typedef struct ev_sample {
    char method[24];
    uint16_t status;
    char request_uri[160];
    char from[160];
    char to[160];
    char pai[160];
    char call_id[128];
    char user_agent[96];
    char src[56];
    char dst[56];
    char transport[8];
    uint64_t ts_us;
    fs_encap encap; /* VLAN tags and tunnels it came through: "x-encap", when any */
    const char *input;  /* the capture file it is in ("x-capture"), NULL: live, HEP */
    uint64_t frame_no;  /* its frame there (1-based), 0: not known */
} ev_sample;

typedef enum ev_detail_kind { EV_D_INT, EV_D_REAL, EV_D_STR } ev_detail_kind;

typedef struct ev_detail {
    char key[32];
    uint8_t kind;    /* ev_detail_kind */
    int64_t i;
    double r;
    char s[120];
} ev_detail;

typedef struct ev_event {
    char event_id[40];
    uint32_t version;
    bool revoked;
    char issuer[69]; /* XC_ISSUER_MAX + 1: "org:" and a 64-character name */
    uint64_t created_us, first_us, last_us, valid_until_us;
    det_rule_id rule;
    det_event_type event_type;
    det_domain domain;
    det_severity severity;
    uint8_t confidence;
    det_action action;
    char scope[65]; /* the format's 64 characters: INTEL-001 passes a shared event's on */
    uint32_t ttl_s;
    char tlp[16];
    uint64_t count;
    double window_s;
    uint8_t nobs;
    ev_observable obs[EV_MAX_OBSERVABLES];
    ev_sample sample;
    uint8_t ndetails;
    ev_detail details[EV_MAX_DETAILS];
    uint64_t incident_key; /* the detector's key for (rule, entity); not serialised.
                              Workers sharing a seed give one incident one key. */
    bool has_sources_sketch; /* sources_sketch holds this share's distinct senders */
    uint64_t sources_sketch[8]; /* a det_sketch of the senders SIP-FLOOD-002's distinct_sources
                                   counts, so that the workers' shares of one incident merge into
                                   the senders of both, not the sum (a sender whose requests two
                                   workers read counted twice); not serialised */
    bool unchanged;        /* live mode, final report: nothing changed since the open
                              report, so it is counted but not written again; not
                              serialised */
} ev_event;

/* Copy untrusted bytes into a fixed buffer as valid UTF-8: invalid sequences
 * become '?', control characters other than TAB become ' ', and truncation
 * never splits a character. Always NUL terminates (n >= 1). */
void ev_copy_text(char *dst, size_t n, fs_str src);

/* UUIDv7 from a millisecond timestamp and libsodium randomness. */
void ev_uuid7(uint64_t ts_us, char out[40]);

/* Observables and details; silently ignored when the array is full
 * (a detector never needs more than it declared). Setting an existing
 * detail key overwrites it. */
void ev_add_observable(ev_event *ev, const char *kind, const char *value, const char *role);
/* Whether v is what an e164/e164_range observable may hold: '+' and 1-15
 * digits (ev_add_observable refuses anything else for those kinds). */
bool ev_e164_ok(const char *v);
void ev_set_int(ev_event *ev, const char *key, int64_t v);
void ev_set_real(ev_event *ev, const char *key, double v);
void ev_set_str(ev_event *ev, const char *key, const char *v);
/* A set of names in one string detail ("HEADER_SYNTAX,NOT_SIP"): item added
 * if not there, the list kept sorted, and, when the detail is full, the
 * first that fit in that order: the same set whatever order the items came
 * in, or the workers that saw them (ev_list_merge adds b's list to a's). */
void ev_list_add(ev_event *ev, const char *key, const char *item);
void ev_list_merge(ev_event *a, const ev_event *b, const char *key);
/* A peak (the highest rate, the most distinct targets seen): set key to v
 * when it is not there yet or holds less; one lookup where ev_get_detail
 * and ev_set_* took two, on every message an open incident counts. */
void ev_set_int_max(ev_event *ev, const char *key, int64_t v);
void ev_set_real_max(ev_event *ev, const char *key, double v);
const ev_detail *ev_get_detail(const ev_event *ev, const char *key);
/* An event naming its source as a network (a `cidr` source observable:
 * an IPv6 source grouped by its /64) also names, as its `ip` source, the
 * address of its sample's end that lies in the network (the sender of a
 * request, the destination of a response): call this after the sample changed (a
 * later request became it, or an earlier share's when workers' reports of
 * one incident are merged) so that the two agree. Other events: no change. */
void ev_source_ip_follows_sample(ev_event *ev);

/* Serialise as one line of compact JSON plus '\n' into buf (NUL terminated).
 * Returns the length, or 0 if buf was too small or jansson failed. */
size_t ev_to_json(const ev_event *ev, char *buf, size_t n);
/* Write one NDJSON line; FS_ERR_IO on a write error. */
fs_code ev_write(const ev_event *ev, FILE *out, fs_err *e);

#endif

/*
 * cap.h -- capture sources and the packet decoder.
 *
 * Owns: reading frames (pcap/pcapng files, stdin, live interfaces, through
 * libpcap; pcapng files libpcap refuses, through cap_pcapng.c), decoding
 * link layers (Ethernet, 802.1Q/QinQ, Linux SLL/SLL2, raw IP, BSD loopback,
 * PPP, Cisco HDLC, Linux NFLOG),
 * IPv4/IPv6 with fragment reassembly, UDP, TCP stream reassembly with SIP
 * framing by Content-Length (or WebSocket frames), SCTP, and HEP v3. What comes out is
 * a cap_payload: exactly one SIP message candidate (a UDP datagram, a framed
 * TCP message, or a HEP payload) with its endpoints and capture timestamp.
 * Must not touch: SIP semantics beyond framing, detection, output.
 *
 * Every table here is bounded (flows, fragments, bytes buffered) with
 * timeouts and eviction, so a hostile capture cannot exhaust memory.
 */
#ifndef FS_CAP_H
#define FS_CAP_H

#include "../core/fs_core.h"
#include "../sip/sip.h"

#include <stdio.h>

typedef enum cap_transport {
    CAP_T_UDP = 0,
    CAP_T_TCP,
    CAP_T_TLS,
    CAP_T_SCTP,
    CAP_T_WS,
    CAP_T_WSS
} cap_transport;
#define CAP_TRANSPORTS 6

const char *cap_transport_name(cap_transport t); /* "udp", "tcp", ... */

/* One SIP message candidate. data is valid only during the callback. */
typedef struct cap_payload {
    const uint8_t *data;
    uint32_t len;
    fs_endpoint src, dst;
    uint8_t transport;  /* cap_transport */
    bool from_hep;      /* came out of a HEP v3 envelope */
    uint64_t ts_us;     /* capture time */
    uint64_t frame_no;  /* 1-based frame number in the source (0 for HEP socket) */
    bool oversized;     /* TCP: only the first bytes of a message too long to take whole
                         * (over limits.max_message, or no end of headers within it) */
    const fs_encap *encap; /* the VLAN tags and tunnels the (last) packet of it came
                            * through, outermost first; NULL: none, or not known (HEP,
                            * TCP bytes released by a timeout) */
} cap_payload;

typedef void (*cap_emit_fn)(void *user, const cap_payload *p);

/* A TLS connection on a SIP port whose ServerHello was read: the version
 * and cipher suite its server chose (SIP-INFO-004 judges them); told again
 * with each side's certificate as it is read (SIP-INFO-006): the server's,
 * and the client's when the server asked for one (mutual TLS). TLS 1.2 and
 * older show them in the clear; TLS 1.3 with the key log's handshake
 * secrets. Data valid only during the callback. */
typedef struct cap_tls_hello {
    fs_endpoint server, client;
    uint16_t version;   /* 0x0300 SSL 3.0, 0x0301 TLS 1.0 ... 0x0304 TLS 1.3 */
    uint16_t suite;     /* IANA cipher suite number */
    uint64_t ts_us;     /* capture time */
    uint64_t frame_no;
    const uint8_t *cert; /* a certificate, DER: the sender's own; NULL: this is the ServerHello */
    uint32_t cert_len;
    bool client_cert;    /* cert is the client's (mutual TLS), not the server's */
} cap_tls_hello;
typedef void (*cap_tls_hello_fn)(void *user, const cap_tls_hello *h);

#define CAP_MAX_PORTS 16

typedef struct cap_tls_keys cap_tls_keys;
typedef struct cap_esp_sas cap_esp_sas;
typedef struct cap_esp_keyring cap_esp_keyring;

typedef struct cap_config {
    uint16_t sip_ports[CAP_MAX_PORTS]; /* default 5060, 5061, 5080 */
    uint8_t nports;
    bool heuristic;              /* look for SIP on any other UDP/TCP port too (default on) */
    uint16_t hep_ports[4];       /* UDP and TCP ports whose payload is HEP (default 9060) */
    uint8_t nhep_ports;
    char hep_auth_key[256];      /* HEP packets must carry this auth key (chunk 0x0e: Kamailio
                                  * siptrace auth_key, heplify -hp); "": none asked */
    uint32_t live_buffer_mb;     /* -i: the kernel's capture ring, MiB (default 32; 1-2047) */
    uint32_t max_tcp_flows;      /* default 65536 */
    uint32_t max_flow_bytes;     /* per-flow reassembly buffer (default 256 KiB) */
    uint64_t max_tcp_bytes;      /* all flows together (default 256 MiB) */
    uint32_t tcp_idle_s;         /* default 300 */
    uint32_t max_frag_sets;      /* IP datagrams being reassembled (default 8192) */
    uint32_t max_frag_bytes;     /* all fragment sets together (default 64 MiB) */
    uint32_t frag_timeout_s;     /* default 30; IPv6 fragments twice that */
    sip_limits sip;              /* framing uses max_message */
    uint8_t client_prefix6;      /* shard IPv6 clients by this network (fs_addr_source_net), as
                                  * the detector counts them: state.ipv6_source_prefix (default
                                  * 64, set by the config loader; 128 = per address) */
    const cap_esp_sas *esp_sas;  /* ESP security associations (cap_esp_sas_load), shared by
                                  * the workers; NULL: only NULL-encrypted ESP is read */
    cap_esp_keyring *esp_keyring; /* SAs learned from the traffic (IMS AKA), shared by the
                                   * workers, tried after esp_sas; NULL: none */
    cap_tls_keys *tls_keys;      /* TLS session keys (cap_tls_keys_open), shared by the
                                  * workers; NULL: TLS is recognised, not decrypted */
} cap_config;

void cap_config_default(cap_config *c);

#define CAP_TLS_VERSIONS 5 /* SSL 3.0 (0x0300) .. TLS 1.3 (0x0304) */

typedef struct cap_stats {
    uint64_t frames, bytes;
    uint64_t not_ip, bad_ip, truncated;        /* frames we could not decode */
    uint64_t tunneled;                          /* frames opened out of an encapsulation (cap_tunnel.c) */
    uint64_t ip_fragments, ip_reassembled, frag_dropped;
    uint64_t udp, tcp_segments;
    uint64_t sctp_packets, sctp_fragmented;     /* SCTP; DATA chunks holding part of a user message */
    uint64_t sctp_reassembled, sctp_dropped;    /* user messages put back together; parts given up */
    uint64_t sctp_retransmits;                  /* DATA chunks whose TSN was read lately: not read again */
    uint64_t esp_packets, esp_null;             /* ESP (IP 50, UDP 4500); those read as NULL-encrypted */
    uint64_t esp_decrypted, esp_failed;         /* read with an SA's keys (--esp-sa); with an SA but
                                                 * not read: integrity check failed, or the
                                                 * plaintext is not ESP's (a wrong key) */
    uint64_t esp_replayed;                      /* verified, but a sequence number read before: not read */
    uint64_t tcp_retransmits, tcp_out_of_order, tcp_gaps, tcp_resyncs;
    uint64_t tcp_flows_evicted, tcp_bytes_dropped;
    uint64_t tcp_gap_recovered;                 /* messages from a given-up gap's late bytes */
    uint64_t keepalives;                        /* CRLF keep-alives passed over here (a UDP datagram or
                                                 * HEP payload of them, a run between TCP messages):
                                                 * not parsed, added to the detectors' keepalives */
    uint64_t ws_inflated, ws_inflate_failed;    /* WebSocket messages compressed (permessage-deflate):
                                                 * read; not read (no window: a capture begun
                                                 * mid-connection or bytes lost; corrupt) */
    uint64_t tls_handshakes, tls_records;       /* TLS ClientHellos; application records decrypted */
    uint64_t tls_versions[CAP_TLS_VERSIONS];    /* ServerHellos on SIP ports by the version chosen:
                                                 * index version - 0x0300 (cap_tls_version_name) */
    uint64_t tls_no_key, tls_unsupported, tls_failed; /* TLS directions not read: keys not in the
                                                 * log (or no ClientHello seen), a version
                                                 * or suite not read, records that stopped
                                                 * opening */
    uint64_t tls_certs;                         /* certificates read (SIP ports): servers', and
                                                 * clients' on mutual TLS */
    uint64_t tls_certs_unread;                  /* TLS 1.3 servers' certificates not read: the
                                                 * key log lacks the handshake secret */
    uint64_t hep_packets, hep_bad;
    uint64_t hep_ignored;                       /* valid HEP, not SIP (proto type != 1) */
    uint64_t hep_time_untrusted;                /* HEP timestamp too far from the capture time: not used */
    uint64_t hep_v1v2;                          /* HEP packets read that were v1 or v2 (not v3) */
    uint64_t hep_compressed;                    /* HEP packets whose payload was compressed (chunk 0x10), inflated */
    uint64_t sip_payloads;                      /* emitted */
    uint32_t tcp_flows_live, tcp_flows_peak;
    uint64_t tcp_bytes_buffered_peak, frag_bytes_peak;
} cap_stats;

typedef struct cap_decoder cap_decoder;

cap_decoder *cap_decoder_new(const cap_config *cfg, cap_emit_fn emit, void *user, fs_err *e);
void cap_decoder_free(cap_decoder *d);
/* The key of the hash of the TCP flow and IP fragment tables. Random
 * (cap_decoder_new) unless set, before the first frame, to repeat a run
 * exactly (fs38 inspect --seed): traffic cannot aim at one bucket. */
void cap_decoder_set_seed(cap_decoder *d, uint64_t seed);
/* fn learns the version and cipher suite of each TLS connection on a SIP
 * port as its ServerHello is read (cap_tls_hello); NULL: off (default). */
void cap_decoder_set_tls_hello(cap_decoder *d, cap_tls_hello_fn fn, void *user);

/* IPv6 extension headers the decoder (and the sharding peek) walk through. */
#define CAP_MAX_IP6_EXT 16

/* ---- encapsulations (cap_tunnel.c) ---- */
#define CAP_ETH_IPV4 0x0800
#define CAP_ETH_IPV6 0x86dd
#define CAP_ETH_FRAME 0x6558 /* a whole Ethernet frame (GRE's Transparent Ethernet Bridging) */
#define CAP_MAX_VLAN_TAGS 8 /* stacked tags walked through (the decoder and the sharding peek) */
#define CAP_PORT_VXLAN 4789
#define CAP_PORT_GENEVE 6081
#define CAP_PORT_GTPU 2152
#define CAP_PORT_L2TP 1701
/* A UDP destination port an encapsulation is read on (unless it is one of
 * the SIP ports). */
static inline bool cap_tunnel_port(uint16_t port) {
    return port == CAP_PORT_VXLAN || port == CAP_PORT_GENEVE || port == CAP_PORT_GTPU || port == CAP_PORT_L2TP;
}
/* The port a UDP datagram from sport to dport is opened as a tunnel by, or
 * 0: its destination's, and for L2TP its source's too -- the LNS answers to
 * the port the LAC sent from, which may be any (RFC 2661 8.1; a NAT between
 * them picks one). */
static inline uint16_t cap_tunnel_udp_port(uint16_t sport, uint16_t dport) {
    if (cap_tunnel_port(dport)) return dport;
    return sport == CAP_PORT_L2TP ? CAP_PORT_L2TP : 0;
}
/* Tunnels inside tunnels the decoder (and the sharding peek) open; one
 * more is counted as bad_ip. */
#define CAP_MAX_ENCAP 4
/* What follows one encapsulation header at p (n bytes): the EtherType of
 * the inner packet (CAP_ETH_FRAME: an Ethernet frame), which starts *off
 * bytes in; 0 when p is not that encapsulation or is cut short. When it is
 * opened and l is not NULL, l->kind, has_id and id say what it was (the
 * caller fills the outer addresses).
 * By EtherType: MPLS (0x8847/0x8848), PPPoE session (0x8864). By IP
 * protocol: IP in IP (4, 41), GRE (47; ERSPAN I-III inside; version 1,
 * PPTP's, with PPP inside). By UDP destination port: VXLAN, Geneve, GTP-U,
 * L2TPv2 (1701). */
uint16_t cap_tunnel_ethertype(uint16_t type, const uint8_t *p, uint32_t n, uint32_t *off, fs_layer *l);
uint16_t cap_tunnel_ipproto(uint8_t proto, const uint8_t *p, uint32_t n, uint32_t *off, fs_layer *l);
uint16_t cap_tunnel_udp(uint16_t dport, const uint8_t *p, uint32_t n, uint32_t *off, fs_layer *l);
/* An ESP packet at p (n bytes) between src and dst (alen bytes each) read as
 * NULL-encrypted (RFC 2410, integrity only: VoLTE's Gm): the next header
 * (17, 6: the transport in clear, with the outer addresses; 4, 41: an inner
 * IP packet), whose bytes start at p + 8 and are *len long; 0 when no
 * reading of it checks out (encrypted, or not ESP). l as above. */
/* Link types with no Ethernet header (by their DLT_* numbers): what starts
 * *off bytes into a frame of that type (p, n bytes), *len bytes long, as an
 * EtherType; 0 when it is not a packet (keepalives, control protocols) or
 * is cut short. */
#define CAP_DLT_PPP 9
#define CAP_DLT_PPP_SERIAL 50
#define CAP_DLT_C_HDLC 104
#define CAP_DLT_NFLOG 239
bool cap_link_known(int dlt);
uint16_t cap_link_inner(int dlt, const uint8_t *p, uint32_t n, uint32_t *off, uint32_t *len);
#define CAP_PORT_NATT 4500 /* UDP-encapsulated ESP (RFC 3948) */
uint8_t cap_esp_open(const uint8_t *src, const uint8_t *dst, uint32_t alen, const uint8_t *p, uint32_t n,
                     uint32_t *len, fs_layer *l);

/* Whether cap_decode_frame reads link type dlt (a capture's DLT_* number). */
bool cap_dlt_supported(int dlt);
/* Decode one frame of link type dlt (a libpcap DLT_* value). */
void cap_decode_frame(cap_decoder *d, int dlt, const uint8_t *frame, uint32_t caplen,
                      uint64_t ts_us, uint64_t frame_no);
/* The same for a packet that came through outer (VLAN tags, tunnels; NULL:
 * none) before it was taken out of them, and was reassembled from fragments
 * if reassembled (cap_defrag): its messages carry that path, and it counts
 * as one of the CAP_MAX_FRAG_NEST datagrams fragments may be nested in. */
void cap_decode_frame_in(cap_decoder *d, const fs_encap *outer, bool reassembled, int dlt,
                         const uint8_t *frame, uint32_t caplen, uint64_t ts_us, uint64_t frame_no);
/* Decode one HEP datagram (from --hep): each packet in it, one after the
 * other (bytes after the last that are not one are a bad HEP packet too;
 * e says why the first one was refused), or one HEP v1/v2 packet. ts_us is the receive time. The
 * HEP packet's own timestamp (set by the sender) is used only from
 * CAP_HEP_MAX_SKEW_US before it to CAP_HEP_MAX_AHEAD_US after it: a sender
 * must not move the engine's clock. */
#define CAP_HEP_MAX_SKEW_US (60ULL * 1000000ULL)
#define CAP_HEP_MAX_AHEAD_US (1000000ULL)
fs_code cap_decode_hep(cap_decoder *d, const uint8_t *buf, size_t len, uint64_t ts_us, fs_err *e);
/* The same for a packet off a TCP connection (HEP v3 only: v1/v2 carry no
 * length to cut a stream by). */
fs_code cap_decode_hep_stream(cap_decoder *d, const uint8_t *buf, size_t len, uint64_t ts_us, fs_err *e);
/* now_us is the current capture time: drop fragment sets older than
 * frag_timeout_s, TCP directions idle longer than tcp_idle_s, and resolve TCP
 * gaps that waited too long (called as capture time advances). */
void cap_decoder_expire(cap_decoder *d, uint64_t now_us);
/* End of input: deliver what is still buffered and complete, free the rest. */
void cap_decoder_finish(cap_decoder *d);
const cap_stats *cap_decoder_stats(const cap_decoder *d);
#define CAP_ERROR_LEN 160
/* Why the first bad HEP packet was refused ("" if none was). */
const char *cap_decoder_hep_error(const cap_decoder *d);
/* Bytes of memory the decoder holds right now (tables + buffers). */
size_t cap_decoder_memory(const cap_decoder *d);
/* The longest hash chain of the TCP flow and of the fragment table (tests:
 * the tables' spread). */
void cap_decoder_chains(const cap_decoder *d, uint32_t *tcp_max, uint32_t *frag_max);

/* Which worker a frame belongs to (cap_shard.c): a hash of the client
 * address (the side whose port is not a SIP port; between two SIP ports,
 * the sender of a request; an IPv6 one's client_prefix6 network), or of both addresses when that cannot be told
 * (IP fragments, other traffic). The same for every frame of a TCP
 * connection, a fragmented datagram, and a UA's dialogs with its proxy.
 * 0 when the frame cannot be decoded that far. */
uint64_t cap_shard_key(const cap_config *c, int dlt, const uint8_t *frame, uint32_t caplen);
/* cap_shard_key, and in the same look *payload (with *payload_len): the
 * payload of a frame that holds one whole UDP datagram (not an IP fragment,
 * not cut short), or the data of a TCP segment as far as the frame holds it
 * (it may start or end inside a message: no reassembly here), or the first
 * whole message of an SCTP packet's DATA chunks, else NULL;
 * and its packet's addresses and ports in *src and *dst (optional; set
 * with it). */
uint64_t cap_shard_peek(const cap_config *c, int dlt, const uint8_t *frame, uint32_t caplen,
                        const uint8_t **payload, uint32_t *payload_len, fs_endpoint *src, fs_endpoint *dst);

/* With several workers the reader reassembles IP fragments before it shards
 * (cap_shard.c): a datagram then goes where its unfragmented packets go,
 * its client's worker. Bounded by cfg's fragment limits and timeout. */
typedef struct cap_defrag cap_defrag;
cap_defrag *cap_defrag_new(const cap_config *cfg, uint64_t seed);
void cap_defrag_free(cap_defrag *r);
/* 0: not an IP fragment (shard the frame as it is); 1: a fragment, taken;
 * 2: it completed a datagram, now *out (*out_len bytes): one unfragmented
 * IP packet, link type CAP_DLT_RAW, valid until the next call, and
 * *out_path the VLAN tags and tunnels its last fragment came through (NULL:
 * none), for cap_decode_frame_in. */
#define CAP_DLT_RAW 101
#define CAP_DEFRAG_MAX_PACKET (40u + 65535u) /* the most *out_len can be */
int cap_defrag_frame(cap_defrag *r, int dlt, const uint8_t *frame, uint32_t caplen, uint64_t ts_us,
                     const uint8_t **out, uint32_t *out_len, const fs_encap **out_path);
/* Counters of the frames it took (frames, bytes, ip_fragments,
 * ip_reassembled, frag_dropped, bad_ip, frag_bytes_peak; tunneled, and the
 * UDP and NULL-encrypted ESP layers it took fragments out of: udp,
 * esp_packets, esp_null): to be added to the workers' (bytes is kept so
 * that the sum is right). */
const cap_stats *cap_defrag_stats(const cap_defrag *r);
size_t cap_defrag_memory(const cap_defrag *r);
/* The end of input: datagrams still incomplete are dropped and counted
 * (frag_dropped), as cap_decoder_finish does with one worker. */
void cap_defrag_finish(cap_defrag *r);

/* ---- sources (libpcap) --------------------------------------------------- */

typedef struct cap_source cap_source;

/* path "-" reads stdin. Both pcap and pcapng, either gzip-compressed or not
 * (cap_gzip.c; other compressions are refused, naming them); a pcapng whose
 * interfaces differ in link type only from an uncompressed regular file
 * (cap_mixed). */
fs_code cap_open_file(const char *path, cap_source **out, fs_err *e);
/* Only frames matching the BPF expression (tcpdump syntax) are handed over
 * from now on. FS_ERR_USAGE naming the expression when it does not compile
 * for the source's link type. */
fs_code cap_set_filter(cap_source *s, const char *bpf, fs_err *e);
/* Whether bpf compiles for one of the link types fs38 reads: false, it can
 * suit no capture (a syntax error); true, a file it failed on has a link
 * type it does not suit ("ether host" on raw IP or NFLOG), and the next
 * file may well take it. */
bool cap_filter_suits_a_link(const char *bpf);
/* The kernel ring a live capture fills while fs38 is busy
 * (capture.live_buffer_mb), MiB. In immediate mode (TPACKET_V2) every slot is
 * as big as the snaplen allows (64 KiB on lo), so libpcap's 2 MiB default
 * held 16 packets on lo; packed blocks (TPACKET_V3, handed over when full or
 * after 100 ms) and 32 MiB hold ~100k SIP messages of 250 bytes (~50k on lo,
 * which rings every packet twice): a stall of fs38 (an fsync, a burst)
 * loses nothing. A busy link (10 Gb/s) wants more. */
#define CAP_LIVE_BUFFER_MB 32u
#define CAP_LIVE_BUFFER_MB_MAX 2047u /* pcap_set_buffer_size takes an int */

/* Live capture; bpf may be NULL (then "udp or tcp", widened to also pass
 * VLAN-tagged frames and IPv6 fragments); buffer_mb: the kernel's ring
 * (0: CAP_LIVE_BUFFER_MB). */
fs_code cap_open_live(const char *iface, const char *bpf, uint32_t buffer_mb, cap_source **out, fs_err *e);

typedef enum cap_next_status { CAP_NEXT_FRAME = 1, CAP_NEXT_END = 0, CAP_NEXT_ERROR = -1,
                               CAP_NEXT_TIMEOUT = 2 } cap_next_status;

/* Next frame. On CAP_NEXT_ERROR e says what broke and at which frame; frames
 * delivered before stay valid results. TIMEOUT only for live sources. */
cap_next_status cap_next(cap_source *s, const uint8_t **frame, uint32_t *caplen, uint64_t *ts_us,
                         fs_err *e);
/* The link type of the first interface (of the only one, but in a pcapng
 * read by fs38's own reader, see cap_mixed). */
int cap_datalink(const cap_source *s);
/* The link type of the frame cap_next returned last: in a pcapng whose
 * interfaces differ, each frame has its interface's. */
int cap_frame_dlt(const cap_source *s);
/* A pcapng file libpcap refuses (interfaces of different link types or
 * snaplens, sections of different byte orders), read by fs38's own reader
 * (cap_pcapng.c). With a BPF filter, it is compiled for each link type met;
 * one it does not compile for ends the read with FS_ERR_USAGE. */
bool cap_mixed(const cap_source *s);
/* A frame of a link type cap_decode reads was met (with libpcap: the file's
 * one link type is such). A pcapng whose first interface is of another is
 * read by the own reader, in case one described later is. */
bool cap_saw_decodable(const cap_source *s);
/* libpcap's name of a link type ("EN10MB"), "unknown" if it has none. */
const char *cap_dlt_name(int dlt);
/* Frames read so far, those a --bpf filter passed over included: a file's
 * frame numbers, as tcpdump and tshark number them. */
uint64_t cap_frames_read(const cap_source *s);
/* For progress: bytes consumed so far and the file size (0 if unknown). */
uint64_t cap_offset(const cap_source *s);
uint64_t cap_size(const cap_source *s);
void cap_break(cap_source *s); /* from a signal handler: stop a live capture */
/* A live capture's losses so far (pcap_stats): packets the kernel dropped
 * because its buffer was full (fs38 did not keep up), and packets the
 * interface or driver dropped. false for files or when libpcap cannot say.
 * libpcap's counters are 32 bits: called at least once per 2^32 drops (each
 * tick), the sums here do not wrap. */
bool cap_live_drops(cap_source *s, uint64_t *kernel, uint64_t *iface);
/* The filter cap_open_live uses when bpf is NULL (for --help and tests). */
const char *cap_default_bpf(void);
void cap_close(cap_source *s);

/* ---- compressed capture files (cap_gzip.c) -------------------------------- */

/* "gzip", "zstd", "xz", "bzip2" or "lz4" when a file's first n bytes (4
 * suffice) are that compression's magic number, else NULL. */
const char *cap_compression(const uint8_t *b, size_t n);
typedef struct cap_gz cap_gz;
/* A stream reading descriptor fd: first the nprefix (<= 8) bytes already
 * read from it, then what follows; gunzipped when gzip. fclose frees it
 * (and closes fd when own_fd). NULL when out of memory. *gz: for the two
 * calls below, valid until fclose. A classic pcap read through it has the
 * snapshot length of its file header made 0 ("none"; libpcap then takes
 * its maximum for the link type), a pcapng that of each interface (a
 * Simple Packet Block's packet length then no more than what it holds):
 * libpcap would cut every record to it, or refuse a pcapng record longer,
 * where a writer that wrote a smaller one than its records (dpkt's 1500
 * and a GRO'd TCP segment) meant nothing, and tshark reads them whole. */
FILE *cap_gz_fopen(int fd, bool own_fd, const uint8_t *prefix, size_t nprefix, bool gzip, cap_gz **gz);
/* Bytes taken from the descriptor so far (for progress). */
uint64_t cap_gz_consumed(const cap_gz *gz);
/* What broke the compressed stream (corrupt, truncated, a read error), or
 * NULL while nothing did. */
const char *cap_gz_error(const cap_gz *gz);
/* The pcapng read through it has a section in the other byte order than
 * its first one's (`cat le.pcapng be.pcapng`), which libpcap misreads:
 * *at, where that section starts. */
bool cap_gz_order_changes(const cap_gz *gz, uint64_t *at);

/* ---- HEP v3 -------------------------------------------------------------- */

typedef struct cap_hep {
    fs_endpoint src, dst;
    uint8_t ip_proto;       /* 17 UDP, 6 TCP, 132 SCTP, 22 Kamailio's TLS/WS/WSS */
    uint8_t proto_type;     /* 1 = SIP */
    uint8_t version;        /* 3, or 1/2 (cap_hep_parse_datagram) */
    uint64_t ts_us;         /* 0 if absent */
    uint32_t capture_id;
    const uint8_t *payload; /* points into the HEP buffer (or a cap_hep_inflater's once inflated) */
    uint32_t payload_len;
    bool compressed;        /* payload is chunk 0x10's, still compressed: cap_hep_inflate */
    uint32_t total;         /* the packet's length (its header's total length) */
    const uint8_t *auth_key; /* chunk 0x0e, NULL if absent; points into the HEP buffer */
    uint16_t auth_key_len;
} cap_hep;

/* Parse the HEP v3 packet buf starts with (len may go on past it: the
 * packet's own total length is out->total); FS_ERR_FORMAT with a reason if
 * malformed. */
fs_code cap_hep_parse(const uint8_t *buf, size_t len, cap_hep *out, fs_err *e);
/* The same for the first packet of a UDP datagram, which may also be HEP
 * v1/v2 (no length of its own: out->total is len). */
fs_code cap_hep_parse_datagram(const uint8_t *buf, size_t len, cap_hep *out, fs_err *e);
/* cap_shard_key for the message a HEP packet carries (its inner addresses:
 * the client's, as for frames). */
uint64_t cap_shard_key_hep(const cap_config *c, const cap_hep *h);

/* Where the first HEP v3 packet of a stream ends: its length when buf holds
 * all of it, 0 when more bytes are needed, -1 when buf does not start a
 * HEP v3 packet ("HEP3" and a total length of at least 6). */
long cap_hep_frame(const uint8_t *buf, size_t len);

/* Compressed payloads (chunk 0x10: zlib, or gzip). A cap_hep_inflater is
 * one decoder's buffer for them: CAP_HEP_MAX_INFLATED bytes, the largest
 * SIP message a UDP datagram can hold, plus zlib's state. */
#define CAP_HEP_MAX_INFLATED 65536
typedef struct cap_hep_inflater cap_hep_inflater;
cap_hep_inflater *cap_hep_inflater_new(void); /* NULL when out of memory */
void cap_hep_inflater_free(cap_hep_inflater *x);
size_t cap_hep_inflater_memory(const cap_hep_inflater *x);
/* With h->compressed: h's payload inflated into x, where h->payload then
 * points (until the next call); FS_ERR_FORMAT for data that is not zlib or
 * gzip, cut short or followed by bytes, FS_ERR_LIMIT past
 * CAP_HEP_MAX_INFLATED bytes. Nothing to do (FS_OK) without. */
fs_code cap_hep_inflate(cap_hep_inflater *x, cap_hep *h, fs_err *e);

/* The --hep listener (cap_hep_listen.c): UDP and TCP on one port. */
typedef struct cap_hep_listener cap_hep_listener;
/* A HEP sender (the proxy or agent mirroring to --hep) and what it sent:
 * UDP datagrams, packets off its TCP/TLS connections. */
#define CAP_HEP_SENDERS 32
typedef struct cap_hep_sender {
    fs_addr addr;
    uint64_t udp, tcp;
} cap_hep_sender;
typedef struct cap_hep_listen_stats {
    uint64_t udp_dropped;      /* datagrams the socket dropped: its buffer was full */
    uint64_t tcp_connections;  /* accepted */
    uint64_t tcp_refused;      /* closed at once: every slot busy and none idle */
    uint64_t tcp_evicted;      /* idle ones closed to make room for a new one */
    uint64_t tcp_broken;       /* closed because the stream did not go on with HEP3 */
    uint64_t tcp_bytes;        /* read off connections */
    uint64_t tls_handshakes;   /* tls: completed */
    uint64_t tls_failed;       /* tls: failed (no client certificate, not TLS, ...) */
    char tls_error[160];       /* why the first one failed */
    cap_hep_sender senders[CAP_HEP_SENDERS]; /* the first CAP_HEP_SENDERS senders, in arrival order */
    unsigned nsenders;
    uint64_t senders_other;    /* datagrams and packets of senders past those */
} cap_hep_listen_stats;
/* tls:ADDR:PORT: the certificate (chain) and key fs38 presents, PEM; and,
 * if set, the CAs a sender's certificate must come from (else none is asked). */
typedef struct cap_hep_tls {
    const char *cert, *key, *client_ca;
} cap_hep_tls;
/* Called with each UDP datagram and each whole packet off a TCP connection
 * (stream: HEP v3 only); pkt is valid during the call only. */
typedef void (*cap_hep_deliver)(void *user, const uint8_t *pkt, size_t len, bool stream);

/* What a --hep spec asks for: CAP_HEP_UDP | CAP_HEP_TCP without a prefix,
 * one of them with udp: or tcp:, TCP | TLS with tls:; *addr (if addr) is
 * set to the ADDR:PORT after the prefix. */
enum { CAP_HEP_UDP = 1, CAP_HEP_TCP = 2, CAP_HEP_TLS = 4 };
unsigned cap_hep_spec(const char *spec, const char **addr);
/* Listen on "[udp:|tcp:|tls:]ADDR:PORT" (UDP and TCP unless one is named;
 * tls: TLS over TCP with tls's files; "[::1]:9060" for IPv6, ":9060" any
 * IPv4): FS_ERR_USAGE for a bad spec or tls: without a certificate,
 * FS_ERR_CONFIG for files OpenSSL refuses, FS_ERR_IO naming the transport
 * that could not bind. */
fs_code cap_hep_listen(const char *spec, const cap_hep_tls *tls, cap_hep_listener **out, fs_err *e);
/* Wait up to timeout_ms for traffic, then hand out what arrived; returns how
 * many datagrams and packets were handed out. now_us stamps connections'
 * activity (idle ones give way to new ones). */
unsigned cap_hep_listen_poll(cap_hep_listener *l, int timeout_ms, uint64_t now_us, cap_hep_deliver deliver,
                             void *user);
/* At the end of a run: stop accepting, then hand out what the sockets
 * already hold (TCP acknowledged it to its sender; UDP took it in) until
 * they are empty or budget_us has passed; returns how many were handed out. */
unsigned cap_hep_listen_drain(cap_hep_listener *l, uint64_t now_us, uint64_t budget_us, cap_hep_deliver deliver,
                              void *user);
void cap_hep_listen_get_stats(cap_hep_listener *l, cap_hep_listen_stats *out);
/* Close everything; bytes of packets cut short go to deliver (if given)
 * first, to be counted as bad HEP. */
void cap_hep_listen_close(cap_hep_listener *l, cap_hep_deliver deliver, void *user);

/* ---- internal: shared by the src/capture files only, not for callers ---- *
 * A TCP "flow" in the tables and counters above is one direction of a
 * connection: each direction is reassembled and framed on its own.          */

/* cap_frame.c: SIP framing on a byte stream, without the full parser. */
typedef enum cap_frame_status {
    CAP_FRAME_OK = 0,     /* *msg_len bytes form one message */
    CAP_FRAME_INCOMPLETE, /* need more bytes */
    CAP_FRAME_BAD,        /* not framable here (garbage Content-Length, no end of headers) */
    CAP_FRAME_TOO_BIG     /* well framed but *msg_len > max_msg: skip it */
} cap_frame_status;
#define CAP_FRAME_MAX_CL (16u << 20) /* a larger Content-Length is garbage */
cap_frame_status cap_sip_frame(const uint8_t *buf, size_t len, size_t max_msg, uint64_t *msg_len);
/* cap_sip_frame that resumes where the last call on the same message
 * stopped: s starts zeroed for each message, and each call's buf holds the
 * previous call's bytes and maybe more. Each byte is read about once however
 * the message is cut into segments. Same results as cap_sip_frame. */
typedef struct cap_frame_scan {
    uint32_t pos;        /* start of the next line to read */
    uint32_t searched;   /* no line end in [pos, searched) */
    uint32_t field;      /* start of a header field not yet judged (0: none) */
    uint32_t header_end; /* end of the blank line, 0 until seen */
    uint64_t cl;
    bool have_cl;
    bool bad_cl; /* a garbage Content-Length: BAD once the header block is whole (or max_msg) */
} cap_frame_scan;
cap_frame_status cap_sip_frame_scan(const uint8_t *buf, size_t len, size_t max_msg, uint64_t *msg_len,
                                    cap_frame_scan *s);
/* 1: buf starts with something that looks like a SIP start line; 0: it does
 * not; -1: too few bytes to tell (only when the first line is unterminated). */
int cap_sip_start_line(const uint8_t *buf, size_t len);
/* Whether a UDP payload on CAP_PORT_NATT (plen bytes) is taken for ESP: not
 * IKE (4 zero bytes, the non-ESP marker), not a NAT keepalive (one byte),
 * an SPI outside the reserved 1-255 (RFC 4303 2.1), and not a SIP message
 * from a UA that uses the port for SIP. */
/* RFC 1071 (cap_tunnel.c): n bytes added to a one's complement sum, and the
 * sum folded to 16 bits (0xffff over data that carries its checksum: valid;
 * its complement is the checksum to write). */
uint32_t cap_csum_add(uint32_t sum, const uint8_t *p, uint32_t n);
uint16_t cap_csum_fold(uint32_t sum);

/* RFC 8200 4.5 (RFC 7112): whether the first fragment of an IPv6 datagram
 * -- the n bytes at p after its fragment header, whose next header is nh --
 * ends before its upper-layer header does. Its receiver discards such a
 * fragment (alone), so it must not fill the datagram here either. Linux
 * (ipv6frag_thdr_truncated) checks only a chain it can walk: a fragment
 * ending before an extension header's first two bytes is kept, and the
 * datagram read, so here too. */
static inline bool cap_ip6_first_fragment_short(uint8_t nh, const uint8_t *p, uint32_t n) {
    uint32_t o = 0;
    for (int i = 0; i < CAP_MAX_IP6_EXT && (nh == 0 || nh == 43 || nh == 60 || nh == 51); i++) {
        if (o + 2 > n) return false;
        uint32_t hl = nh == 51 ? ((uint32_t)p[o + 1] + 2) * 4 : ((uint32_t)p[o + 1] + 1) * 8;
        nh = p[o];
        o += hl;
    }
    if (nh == 59) return false; /* no next header */
    uint32_t need = nh == 6 ? 20 : nh == 17 ? 8 : nh == 58 ? 8 : 1; /* TCP, UDP, ICMPv6 headers */
    return o + need > n;
}

static inline bool cap_natt_is_esp(const uint8_t *pl, uint32_t plen) {
    if (plen < 8) return false;
    uint32_t spi = (uint32_t)pl[0] << 24 | (uint32_t)pl[1] << 16 | (uint32_t)pl[2] << 8 | pl[3];
    return spi >= 256 && cap_sip_start_line(pl, plen) != 1;
}

/* Where a TCP stream resyncs after a gap: a start line (cap_sip_start_line)
 * whose next line starts a header field (token, then ':'), so that a
 * status line in a body (message/sipfrag) is not taken for a message.
 * 1 / 0 / -1 as cap_sip_start_line (-1 also while the next line is short). */
int cap_sip_resync_start(const uint8_t *buf, size_t len);
/* Whether buf starts with "SIP/2.0 " or one of RFC 3261's and its
 * extensions' methods (sip_method_lookup) and a space: where a stream was
 * picked up, a start line must be one of those ("ITE sip:" is the end of a
 * line cut inside its method). */
bool cap_sip_known_start(const uint8_t *buf, size_t len);
/* "", "\r\n" and "\r\n\r\n": keep-alives, never emitted. */
bool cap_sip_keepalive(const uint8_t *buf, size_t len);

/* cap_ws.c: SIP over WebSocket (RFC 7118, RFC 6455 frames). */
#define CAP_WS_MAX_HEADER 14 /* a frame header: 2 bytes, a 64-bit length, a mask key */
/* A longer header block is not an opening handshake we read: 32 KiB, what a
 * common front server (nginx: 4 buffers of 8 KiB) takes, so that a client's
 * cookies, or padding, do not hide its SIP from us while the server reads it. */
#define CAP_WS_MAX_HANDSHAKE 32768
/* 1: buf starts with the opening handshake of a WebSocket for SIP: a GET
 * with "Upgrade: websocket", or the "HTTP/1.1 101" answer, naming the sip
 * subprotocol (Sec-WebSocket-Protocol); its header block is *hdr_len bytes.
 * 0: it does not. -1: it may, its header block is not all in buf yet. */
int cap_ws_handshake(const uint8_t *buf, size_t len, size_t *hdr_len);
/* buf starts with a whole "HTTP/1.1 101" answer that names another
 * subprotocol than sip: the peer's GET, which may have offered sip among
 * others, was switched to that one, so the peer's frames are not SIP. */
bool cap_ws_answer_not_sip(const uint8_t *buf, size_t len);
/* Does the handshake block [handshake, + hdr_len) (cap_ws_handshake's)
 * name permessage-deflate (RFC 7692): offered, in a GET; agreed, in a 101? */
bool cap_ws_deflate(const uint8_t *handshake, size_t hdr_len);
typedef enum cap_ws_status {
    CAP_WS_MESSAGE,    /* a whole message: out[0, out_len), used bytes of buf */
    CAP_WS_CONTROL,    /* a ping, pong or close frame at the front: used bytes */
    CAP_WS_INCOMPLETE, /* not all of the message in buf yet */
    CAP_WS_BAD,        /* not WebSocket frames */
    CAP_WS_TOO_BIG     /* longer than max_msg: out holds its first out_len bytes (max_msg,
                        * or fewer when buf, max_msg bytes long already, has no more
                        * of them: INCOMPLETE till then); used bytes of buf read, skip more bytes of
                        * the frame cut to come, and more: frames of it follow */
} cap_ws_status;
typedef struct cap_ws_read {
    size_t out_len, used;
    uint64_t skip;
    bool more;
    bool compressed; /* permessage-deflate: out holds the deflated payload */
} cap_ws_read;
/* One WebSocket message at the front of buf: its data frames (a text or
 * binary one, continuations up to FIN; with continuing, continuations of a
 * message begun before), unmasked into out (max_msg bytes), control frames
 * between them passed over. */
cap_ws_status cap_ws_message(const uint8_t *buf, size_t len, size_t max_msg, bool continuing, uint8_t *out,
                             cap_ws_read *r);
/* The same, resumable: sc (zeroed to start a message) remembers the whole
 * frames of a message found INCOMPLETE, so that the next call on the same
 * bytes and more walks on from there; any other result zeroes it. */
typedef struct cap_ws_scan {
    size_t pos, total;
    bool compressed;
} cap_ws_scan;
/* deflate: the direction's handshake named permessage-deflate, so a
 * message's first frame may set RSV1 (r->compressed; without it RSV1 is
 * CAP_WS_BAD). */
cap_ws_status cap_ws_message_scan(const uint8_t *buf, size_t len, size_t max_msg, bool continuing, bool deflate,
                                  uint8_t *out, cap_ws_read *r, cap_ws_scan *sc);
/* 1: buf starts a final text or binary frame whose payload starts like a
 * SIP start line (where a WebSocket stream resyncs after a gap); 0: it does
 * not; -1: too few bytes to tell. */
int cap_ws_resync_start(const uint8_t *buf, size_t len);
/* The same for a compressed direction (permessage-deflate): 1 when buf
 * starts a final text or binary frame with RSV1 set, head then holding the
 * first min(cap, payload) bytes of its payload unmasked (*n of them), for
 * the caller to inflate; 0 when it does not; -1: too few bytes yet. */
int cap_ws_resync_deflated(const uint8_t *buf, size_t len, uint8_t *head, size_t cap, size_t *n);

/* cap_tls.c: SIP over TLS read with the session keys of an NSS key log. */
/* "SSL 3.0" .. "TLS 1.3" for a ServerHello's version 0x0300 .. 0x0304, else NULL. */
const char *cap_tls_version_name(uint16_t version);
/* Load the key log at path. With follow (a live capture, whose endpoints
 * write the keys as sessions open) it is read on when a session is not in
 * it and the file grew; without, a session not in it has no keys. FS_ERR_IO
 * naming the file when it cannot be read. */
fs_code cap_tls_keys_open(const char *path, bool follow, cap_tls_keys **out, fs_err *e);
void cap_tls_keys_free(cap_tls_keys *k);
typedef struct cap_tls_keys_summary {
    uint32_t sessions;   /* client randoms with a secret */
    uint32_t bad_lines;  /* lines that are not key log lines */
    long first_bad_line; /* 1-based, when bad_lines */
    uint32_t dropped;    /* sessions past the bound (2^20) */
} cap_tls_keys_summary;
void cap_tls_keys_info(cap_tls_keys *k, cap_tls_keys_summary *s);
/* Following: read what was appended since (a lookup that misses does too). */
void cap_tls_keys_refresh(cap_tls_keys *k);
/* The largest TLS record read (header, 2^14 bytes, 2048 of expansion). */
#define CAP_TLS_MAX_RECORD (5 + 16384 + 2048)
typedef struct cap_tls_ctx cap_tls_ctx; /* one per decoder: cipher, scratch */
typedef struct cap_tls_dir cap_tls_dir; /* one direction of a TLS connection */
cap_tls_ctx *cap_tls_ctx_new(cap_tls_keys *keys, cap_stats *st);
void cap_tls_ctx_free(cap_tls_ctx *x);
/* heuristic: on a port that is not a SIP port; neither counted nor kept
 * unless its keys are found (cap_tls_keyed, then cap_tls_confirm). */
cap_tls_dir *cap_tls_dir_new(bool heuristic);
bool cap_tls_keyed(const cap_tls_dir *d);
void cap_tls_confirm(cap_tls_ctx *x, cap_tls_dir *d);
void cap_tls_dir_free(cap_tls_dir *d);
size_t cap_tls_dir_size(void);
size_t cap_tls_ctx_size(void); /* a reader's buffers: a record's plaintext, certificates gathered */
/* 1: p starts a TLS handshake record with a ClientHello or ServerHello;
 * 0: it does not; -1: too few bytes to tell. */
int cap_tls_hello_start(const uint8_t *p, size_t n);
typedef struct cap_tls_ops {
    void (*out)(void *ctx, const uint8_t *plain, size_t n); /* decrypted application data */
    cap_tls_dir *(*peer)(void *ctx); /* the other direction's, or NULL */
    /* a ServerHello read on a SIP port (keys or not): the version and
     * cipher suite the server chose (cert NULL); then the certificate of
     * this direction's sender, DER, when it is read (by_client: the
     * client's, on mutual TLS); NULL: not wanted */
    void (*handshake)(void *ctx, uint16_t version, uint16_t suite, const uint8_t *cert, size_t cert_len,
                      bool by_client);
    /* bytes the caller can keep unconsumed while a TLS 1.3 handshake
     * record waits for its session to appear in a followed key log (live:
     * the endpoint writes it a moment after fs38 reads the record); 0:
     * never wait */
    size_t max_hold;
    void *ctx;
} cap_tls_ops;
/* Read the whole records at the front of p (n bytes): returns the bytes
 * consumed; the rest is the start of a record (at most CAP_TLS_MAX_RECORD
 * bytes in all), to be offered again with what follows. A direction passed
 * over consumes everything. */
size_t cap_tls_records(cap_tls_ctx *x, cap_tls_dir *d, const uint8_t *p, size_t n, const cap_tls_ops *ops);
/* 1: p starts a TLS record header (a type 20-23, version 3.x, a length TLS
 * allows); 0: it does not; -1: too few bytes to tell. */
int cap_tls_record_start(const uint8_t *p, size_t n);
/* A direction picked up in the middle of a TLS connection (its hellos not
 * captured): counted as without keys, its records passed over. */
void cap_tls_midstream(cap_tls_ctx *x, cap_tls_dir *d);
/* A gap in the direction's bytes: it can no longer be read. */
void cap_tls_lost(cap_tls_ctx *x, cap_tls_dir *d);
bool cap_tls_opaque(const cap_tls_dir *d);
/* The direction ends (closed, evicted, the end of input): one whose
 * records waited for keys that never came is counted as without keys. */
void cap_tls_end(cap_tls_ctx *x, cap_tls_dir *d);

/* cap_frag.c: IPv4/IPv6 fragment reassembly. */
typedef struct cap_frag_table cap_frag_table;
typedef struct cap_frag_key {
    fs_addr src, dst;
    uint32_t id;
    uint8_t proto; /* IPv4: protocol (part of the key); IPv6: 0 */
} cap_frag_key;
/* The most of max_frag_bytes one datagram being reassembled can take: its
 * 65,535 bytes, the received ranges of the worst disorder and bookkeeping
 * (cap_frag.c checks it). A table given less cannot complete every
 * datagram (one over 32 KiB needs its whole 65,535-byte buffer). */
#define CAP_FRAG_DATAGRAM_BYTES (2u * 65536u + 1024u)
cap_frag_table *cap_frag_new(const cap_config *cfg, cap_stats *st);
void cap_frag_set_seed(cap_frag_table *t, uint64_t seed); /* table empty */
void cap_frag_free(cap_frag_table *t);
/* Datagrams reassembled inside each other: an outer packet fragmented on
 * its way, and a packet already fragmented before it entered the outer one's
 * tunnel (a GRE or IPsec link whose MTU is smaller than the traffic it
 * carries). A fragment inside a third is refused (bad_ip). */
#define CAP_MAX_FRAG_NEST 2
/* Add one fragment: off/n in bytes of the fragmentable part, proto is the
 * next protocol carried by this fragment (used from the offset 0 one). true
 * when the datagram is now complete: out, out_len and out_proto describe it
 * until the matching cap_frag_release(). Fragments may be added while a
 * completed datagram is held: up to CAP_MAX_FRAG_NEST are held at once, and
 * released last first. */
bool cap_frag_add(cap_frag_table *t, const cap_frag_key *k, uint32_t off, bool more,
                  const uint8_t *p, uint32_t n, uint8_t proto, uint64_t ts_us,
                  const uint8_t **out, uint32_t *out_len, uint8_t *out_proto);
void cap_frag_release(cap_frag_table *t); /* the datagram completed last */
void cap_frag_expire(cap_frag_table *t, uint64_t now_us);
size_t cap_frag_memory(const cap_frag_table *t);
uint32_t cap_frag_chain_max(const cap_frag_table *t);

/* cap_sctp.c: SCTP user messages split over DATA chunks. */
typedef struct cap_sctp_table cap_sctp_table;
typedef struct cap_sctp_chunk {
    fs_endpoint src, dst;
    uint32_t vtag;          /* the packet's verification tag */
    uint32_t tsn;           /* I-DATA (RFC 8260): the fragment sequence number */
    uint64_t msg;           /* 0 for DATA; I-DATA: which message (stream, U flag, message
                             * ID), whose fragments are numbered from 0 by FSN, as it
                             * may interleave with other messages' in TSN order */
    uint8_t flags;          /* the DATA chunk's: 2 B(eginning), 1 E(nd) */
    const uint8_t *data;    /* the user data */
    uint32_t len;
    uint64_t ts_us;
} cap_sctp_chunk;
enum {
    CAP_SCTP_IGNORED = 0, /* not held (known_only, or given up: counted) */
    CAP_SCTP_HELD,        /* held (or a retransmission, or the skipped tail of an oversized message) */
    CAP_SCTP_MESSAGE,     /* it completed a user message: *msg, *len */
    CAP_SCTP_OVERSIZED    /* a message outgrew max_message: *msg, *len are its first bytes */
};
#define CAP_SCTP_MAX_BYTES (4u << 20) /* parts held, or max_frag_bytes when lower */
cap_sctp_table *cap_sctp_new(const cap_config *cfg, cap_stats *st);
void cap_sctp_set_seed(cap_sctp_table *t, uint64_t seed); /* table empty */
void cap_sctp_free(cap_sctp_table *t);
/* Add one DATA chunk that is not a whole user message (not both B and E).
 * known_only: hold it only if it is a B or its direction holds fragments
 * already (a port that is not a SIP port: the B told it is SIP). *msg is
 * valid until the next call. */
int cap_sctp_add(cap_sctp_table *t, const cap_sctp_chunk *c, bool known_only, const uint8_t **msg, uint32_t *len);
/* Give up directions whose first fragment is older than frag_timeout_s
 * (UINT64_MAX: all of them, at the end of input). */
void cap_sctp_expire(cap_sctp_table *t, uint64_t now_us);
/* Whether the DATA (or I-DATA) chunk of TSN tsn in the direction of sport,
 * dport and vtag was seen lately (a retransmission, on any of a multi-homed
 * association's paths, or a frame captured twice); if not, it is noted. The
 * last few thousand chunks are remembered, nothing is allocated per chunk. */
bool cap_sctp_repeat(cap_sctp_table *t, uint16_t sport, uint16_t dport, uint32_t vtag, uint32_t tsn);
size_t cap_sctp_memory(const cap_sctp_table *t);

/* cap_tcp.c: TCP reassembly per direction + framing. */
typedef struct cap_tcp_table cap_tcp_table;
typedef struct cap_tcp_seg {
    fs_endpoint src, dst;
    uint32_t seq;
    uint32_t ack;  /* the acknowledgment number, with ACK (0x10) in flags */
    uint8_t flags; /* TCP flags byte: FIN 0x01, SYN 0x02, RST 0x04, ACK 0x10 */
    const uint8_t *data;
    uint32_t len;
    uint64_t ts_us, frame_no;
    const fs_encap *encap; /* its VLAN tags and tunnels (NULL: none) */
} cap_tcp_seg;
cap_tcp_table *cap_tcp_new(const cap_config *cfg, cap_stats *st, cap_emit_fn emit, void *user,
                           fs_err *e);
void cap_tcp_free(cap_tcp_table *t);
void cap_tcp_set_seed(cap_tcp_table *t, uint64_t seed); /* no flow yet */
void cap_tcp_set_tls_hello(cap_tcp_table *t, cap_tls_hello_fn fn, void *user);
/* Each HEP v3 packet off the stream of a HEP port (or bytes there that are
 * not one, to be counted as bad); pkt is valid during the call only. */
typedef void (*cap_tcp_hep_fn)(void *user, const uint8_t *pkt, size_t len, uint64_t ts_us, uint64_t frame_no);
void cap_tcp_set_hep(cap_tcp_table *t, cap_tcp_hep_fn fn, void *user);
/* ports: CAP_TCP_SIP_PORT when either port is a SIP port (track even without
 * a SIP-looking payload), CAP_TCP_HEP_PORT when either is a HEP port (with
 * cap_tcp_set_hep: read HEP v3 when the stream starts like it). */
enum { CAP_TCP_SIP_PORT = 1, CAP_TCP_HEP_PORT = 2 };
void cap_tcp_segment(cap_tcp_table *t, const cap_tcp_seg *s, unsigned ports);
void cap_tcp_expire(cap_tcp_table *t, uint64_t now_us);
void cap_tcp_finish(cap_tcp_table *t);
size_t cap_tcp_memory(const cap_tcp_table *t);
uint32_t cap_tcp_chain_max(const cap_tcp_table *t);

/* ---- ESP decrypted with the SAs' keys (cap_esp.c) -------------------------------
 * Security associations in Wireshark's esp_sa format, read-only once loaded
 * (several decoders may share them), and per decoder a scratch with the
 * cipher context and the plaintext. */
typedef struct cap_esp_scratch cap_esp_scratch;
#define CAP_ESP_MAX_PLAIN 65536u
typedef enum cap_esp_status {
    CAP_ESP_OK,          /* decrypted (and its integrity checked when the SA has a key for it) */
    CAP_ESP_NO_SA,       /* no SA for (src, dst, SPI): not ours to read */
    CAP_ESP_AUTH_FAILED, /* the HMAC or the GCM tag does not match: not read */
    CAP_ESP_BAD,         /* too short, not whole blocks, bad padding (a wrong key): not read */
    CAP_ESP_REPLAYED     /* verified, but its sequence number was read before (RFC 4303 3.4.3): not read */
} cap_esp_status;
/* NULL and e set (naming the line and the field) when the file is wrong. */
cap_esp_sas *cap_esp_sas_load(const char *path, fs_err *e);
cap_esp_sas *cap_esp_sas_parse(const char *buf, size_t len, const char *name, fs_err *e);
void cap_esp_sas_free(cap_esp_sas *s);
uint32_t cap_esp_sas_count(const cap_esp_sas *s);
/* For the SAs of s (which must outlive it; NULL: learned ones only);
 * NULL: out of memory. */
cap_esp_scratch *cap_esp_scratch_new(const cap_esp_sas *s);
void cap_esp_scratch_free(cap_esp_scratch *x);
/* The ESP packet p (n bytes, from the SPI on) between src and dst (4 or 16
 * bytes as family says): with its SA in s, else in k (either may be NULL),
 * *plain (in x, valid until the next call) holds *len bytes of payload
 * whose protocol is *next; *spi its SPI. x must be a scratch made for s
 * (else CAP_ESP_NO_SA). */
cap_esp_status cap_esp_decrypt(const cap_esp_sas *s, cap_esp_keyring *k, cap_esp_scratch *x, uint8_t family,
                               const uint8_t *src, const uint8_t *dst, const uint8_t *p, uint32_t n,
                               const uint8_t **plain, uint32_t *len, uint8_t *next, uint32_t *spi);

/* SAs learned while reading (VoLTE's IMS AKA hands its keys and SPIs over
 * in SIP: src/inspect/insp_aka.c): bounded (the oldest makes room),
 * thread-safe, tried by the decoders after the loaded ones. One SA is
 * (family, src, dst, SPI) with transport-mode ESP's algorithms of 3GPP TS
 * 33.203: HMAC-MD5-96 or HMAC-SHA-1-96, with NULL, AES-CBC (128) or
 * 3DES-CBC encryption. */
typedef enum cap_esp_cipher { CAP_ESP_CIPHER_NULL, CAP_ESP_CIPHER_AES_CBC, CAP_ESP_CIPHER_3DES_CBC } cap_esp_cipher;
typedef enum cap_esp_integ { CAP_ESP_INTEG_HMAC_MD5_96, CAP_ESP_INTEG_HMAC_SHA1_96 } cap_esp_integ;
typedef struct cap_esp_key {
    uint8_t family;            /* 4 or 6 */
    uint8_t src[16], dst[16];
    uint32_t spi;
    cap_esp_cipher cipher;
    uint8_t cipher_key[24], cipher_key_len;
    cap_esp_integ integ;
    uint8_t integ_key[20], integ_key_len;
} cap_esp_key;
/* At most max_sas SAs (0: 16384, at most 65536; ~300 bytes each, taken as
 * they are learned); NULL and e set on failure. */
cap_esp_keyring *cap_esp_keyring_new(uint32_t max_sas, fs_err *e);
void cap_esp_keyring_free(cap_esp_keyring *k); /* after every decoder using it */
/* Adds or replaces the SA of (family, src, dst, SPI), learned from traffic
 * captured at learned_at_us; an SA learned from later traffic is not
 * replaced (false; also when the key is not one the keyring takes). */
bool cap_esp_keyring_add(cap_esp_keyring *k, const cap_esp_key *key, uint64_t learned_at_us);
uint64_t cap_esp_keyring_added(cap_esp_keyring *k);
size_t cap_esp_keyring_memory(cap_esp_keyring *k); /* of the SAs it holds */
/* Its SAs, oldest first, one line each in Wireshark's esp_sa format (what
 * --esp-sa reads back); false when f reports an error. */
bool cap_esp_keyring_write(cap_esp_keyring *k, FILE *f);

/* ---- pcapng output (cap_pcapng_out.c) ------------------------------------------
 * SIP messages written as synthetic Ethernet/IP/UDP|TCP|SCTP frames with
 * their addresses, ports and capture times, and pcapng comments. */
typedef struct cap_png_out cap_png_out;
#define CAP_PNG_OUT_MAX_PAYLOAD 65480u /* a longer message is cut (and a comment says so) */
#define CAP_PNG_OUT_MAX_COMMENTS 48u   /* comments one frame keeps: the caller's, then up to 3 notes */
/* Writes the file's header blocks to f (which the caller opens and closes);
 * app names the writing program (shb_userappl). */
cap_png_out *cap_png_out_new(FILE *f, const char *app, fs_err *e);
/* One message as one frame with the given comments (the first
 * CAP_PNG_OUT_MAX_COMMENTS - 3, each at most 512 bytes, kept), written whole or not at all. false and e set on a
 * write error. */
bool cap_png_out_message(cap_png_out *o, const cap_payload *p, const char *const *comments, unsigned ncomments,
                         fs_err *e);
uint64_t cap_png_out_frames(const cap_png_out *o);
void cap_png_out_free(cap_png_out *o);

/* cap_pcapng.c: fs38's own pcapng reader, for the files libpcap refuses
 * (interfaces of different link types or snapshot lengths, sections of
 * different byte orders); cap_source.c decides when. */
#define CAP_PNG_MAX_BLOCK (16u << 20) /* a larger block is an error */
#define CAP_PNG_MAX_FRAME 262144u     /* frames are cut to this, as libpcap cuts them */
typedef struct cap_png cap_png;
typedef struct cap_png_frame {
    const uint8_t *data; /* valid until the next call */
    uint32_t caplen, len; /* bytes here; bytes on the wire */
    uint64_t ts_us;       /* 0 for a Simple Packet Block (it has none) */
    int dlt;              /* the link type of the packet's interface */
    uint32_t ifid;
} cap_png_frame;
/* Whether the interfaces described before the first packet disagree on link
 * type or snaplen (then libpcap refuses the file). *first_dlt, *first_snaplen:
 * the first one's. f is read from its start and put back there. */
bool cap_png_mixed(FILE *f, int *first_dlt, uint32_t *first_snaplen);
/* A reader of f, which must be at offset 0 and stays the caller's. NULL when
 * out of memory. */
cap_png *cap_png_new(FILE *f);
/* 1: *out is the next frame; 0: end of file; -1: error (cap_png_error). */
int cap_png_next(cap_png *r, cap_png_frame *out);
/* Read on to offset `to` (a block boundary), taking section headers and
 * interfaces but passing packets over: to continue where libpcap stopped.
 * 1, or -1 (cap_png_error). */
int cap_png_skip_to(cap_png *r, uint64_t to);
const char *cap_png_error(const cap_png *r); /* what broke and at which offset */
uint64_t cap_png_offset(const cap_png *r);   /* bytes consumed */
void cap_png_free(cap_png *r);

#endif

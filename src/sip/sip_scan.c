/*
 * sip_scan.c -- sip_span: the run of octets of one character set, sixteen
 * at a time.
 *
 * Owns: the SSSE3 set test the fast paths of sip_parse and sip_validate use
 * to walk names, hosts, URIs and parameter values, its portable fallback,
 * and the token and Call-ID sets. Nothing else: no parsing state, no policy.
 *
 * How: an ASCII octet c is in a set when hi[c >> 4] & lo[c & 15] is not 0
 * (one bit per high nibble, so any set of ASCII octets can be written this
 * way); octets >= 0x80 are all in or all out. Two PSHUFB look-ups classify
 * sixteen octets; the first octet outside is a count of trailing zeros. The
 * tables are generated from the class tables (sip_ctype, uri_class) and
 * tests/unit/test_sip.c checks all 256 octets of every set against them.
 * SSSE3 is chosen at run time (every x86-64 CPU since 2006 has it); other
 * CPUs and compilers take the byte loop over the class table.
 */
#include <assert.h>

#include "sip.h"

#ifdef SIP_SPAN_SSSE3
#include <tmmintrin.h>
#endif

/* RFC 3261 token: sip_ctype & SIP_CC_TOKEN. */
const sip_charset sip_cs_token = {
    {0x3a, 0x3f, 0x3e, 0x3e, 0x3e, 0x3f, 0x3e, 0x3f, 0x3e, 0x3e, 0x3d, 0x15, 0x14, 0x15, 0x35, 0x1c},
    {0x40, 0x80, 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
    sip_ctype, SIP_CC_TOKEN, false};

/* A Call-ID octet other than '@': sip_ctype & SIP_CC_CALLID. RFC 3261's
 * word is narrower (no '=', '#', '$' ...); this set keeps out only what no
 * Call-ID generator writes by design (whitespace, CTL, a second '@'). */
const sip_charset sip_cs_callid = {
    {0x3a, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x1f},
    {0x40, 0x80, 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
    sip_ctype, SIP_CC_CALLID, true};

#ifdef SIP_SPAN_SSSE3
/* Caller: e - floor >= 16 and the CPU has SSSE3. The block holding the last octets is loaded at e - 16
 * (it may start before p, never before floor) and its bits below p dropped. */
__attribute__((target("ssse3"))) const char *sip_span_ssse3(const char *floor, const char *p, const char *e,
                                                            const sip_charset *cs) {
    const __m128i lo = _mm_loadu_si128((const __m128i *)cs->lo);
    const __m128i hi = _mm_loadu_si128((const __m128i *)cs->hi);
    const __m128i nib = _mm_set1_epi8(0x0f), zero = _mm_setzero_si128();
    assert(floor <= p && p <= e && e - floor >= 16);
    (void)floor;
    for (;;) {
        const char *b = e - p >= 16 ? p : e - 16;
        __m128i x = _mm_loadu_si128((const __m128i *)b);
        __m128i in = _mm_and_si128(_mm_shuffle_epi8(lo, _mm_and_si128(x, nib)),
                                   _mm_shuffle_epi8(hi, _mm_and_si128(_mm_srli_epi16(x, 4), nib)));
        unsigned out = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(in, zero));
        if (cs->high) out &= ~(unsigned)_mm_movemask_epi8(x); /* octets >= 0x80 */
        out >>= (unsigned)(p - b);
        if (out) return p + __builtin_ctz(out);
        if (e - p <= 16) return e;
        p += 16;
    }
}
#endif


/*
 * fuzz_esp_sa.c -- libFuzzer harness for the ESP SA file reader and ESP
 * decryption (cap_esp.c).
 *
 * Input: an SA file (Wireshark's esp_sa format or `ip xfrm state`'s, with
 * extended sequence numbers too), then optionally a NUL byte
 * and an ESP packet (from the SPI on). The text is parsed; whether or not
 * it parses, the packet is decrypted with the SAs it gave (when it did) and
 * with those of tests/data/capture/esp_sa.keys (when run from the
 * repository, as scripts/fuzz.sh does), between the addresses those SAs
 * name, so mutated packets reach every cipher and check. Invariants (abort
 * = finding): parsing fails only with a message naming the file and a line;
 * a packet read gives a plaintext no longer than the packet.
 *
 *   ./fuzz_esp_sa -max_total_time=60 fuzz/corpus/esp_sa
 */
#include "capture/cap.h"
#include "repo_esp_sa.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void try_packet(const cap_esp_sas *s, cap_esp_scratch *x, const uint8_t *p, size_t n) {
    static const struct { uint8_t family; const char *src, *dst; } pairs[] = {
        {4, "10.47.0.1", "10.47.0.100"}, {4, "10.47.0.100", "10.47.0.1"}, {6, "2001:db8:47::1", "2001:db8:47::100"},
        {4, "10.47.0.3", "10.47.0.100"}, {4, "198.18.47.1", "198.18.47.2"}, {4, "10.47.0.6", "10.47.0.100"},
        {4, "10.47.0.8", "10.47.0.100"}, {6, "::1", "::2"},
        /* esp_esn.xfrm's (extended sequence numbers; seeds esn_pkt_*) */
        {4, "10.49.0.1", "10.49.0.100"}, {4, "198.18.49.1", "198.18.49.2"}, {4, "10.49.0.3", "10.49.0.100"},
        {6, "2001:db8:49::1", "2001:db8:49::100"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
        fs_addr a, b;
        if (!fs_addr_parse(pairs[i].src, &a) || !fs_addr_parse(pairs[i].dst, &b)) abort();
        const uint8_t *plain = NULL;
        uint32_t len = 0, spi = 0;
        uint8_t next = 0;
        cap_esp_status st = cap_esp_decrypt(s, NULL, x, pairs[i].family, a.ip, b.ip, p, (uint32_t)n, &plain, &len, &next, &spi);
        if (st == CAP_ESP_OK && (!plain || len > n)) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static cap_esp_scratch *repo_x; /* kept: the repository's SAs are too */
    if (repo_esp_sas() && !repo_x && !(repo_x = cap_esp_scratch_new(repo_esp_sas()))) abort();
    const uint8_t *nul = memchr(data, 0, size);
    size_t text = nul ? (size_t)(nul - data) : size;
    fs_err e = {0};
    cap_esp_sas *s = cap_esp_sas_parse((const char *)data, text, "fuzz.keys", &e);
    if (!s && strncmp(e.msg, "fuzz.keys", 9) != 0) abort();
    if (nul) {
        const uint8_t *p = nul + 1;
        size_t n = size - text - 1;
        if (s) {
            cap_esp_scratch *x = cap_esp_scratch_new(s);
            if (!x) abort();
            try_packet(s, x, p, n);
            if (repo_x) try_packet(s, repo_x, p, n); /* a scratch of another set: refused */
            cap_esp_scratch_free(x);
        }
        if (repo_x) try_packet(repo_esp_sas(), repo_x, p, n);
    }
    cap_esp_sas_free(s);
    return 0;
}

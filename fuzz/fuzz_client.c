/*
 * fuzz_client.c -- libFuzzer harness for what a hub (or anyone pretending to
 * be one) sends the fs38 clients, and for the indicator cache.
 *
 * Every input goes through: the HTTP response parser (status, headers,
 * Content-Length / chunked / until-close bodies) and the server-sent events
 * reader, each with the input delivered in one piece and in small pieces so
 * line and chunk boundaries fall everywhere; the indicator cache loader
 * of `fs38 inspect --indicators` (det_indicators, the same xc_event_parse
 * per line as cl_cache_load).
 * Nothing may crash, leak or read out of bounds; the two deliveries must
 * agree on the outcome.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/cl.h"
#include "detect/det.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static volatile size_t sink;

static void on_sse(void *user, const cl_sse *ev) {
    (void)user;
    sink += ev->len + strlen(ev->id);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    if (sodium_init() < 0) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 20) return 0;
    const char *buf = (const char *)data;
    fs_err e = {0};
    cl_response r1, r2;
    fs_code a = cl_response_parse(buf, size, 0, 1 << 20, &r1, &e);
    fs_code b = cl_response_parse(buf, size, 7, 1 << 20, &r2, &e);
    if ((a == FS_OK) != (b == FS_OK)) abort();
    if (a == FS_OK && b == FS_OK && (r1.status != r2.status || r1.len != r2.len || memcmp(r1.body, r2.body, r1.len)))
        abort();
    if (a == FS_OK) cl_response_free(&r1);
    if (b == FS_OK) cl_response_free(&r2);
    long n1 = cl_stream_parse(buf, size, 0, on_sse, NULL, &e);
    long n2 = cl_stream_parse(buf, size, 5, on_sse, NULL, &e);
    if (n1 != n2) abort();

    char *copy = malloc(size + 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    det_indicators *ind = det_indicators_parse(copy, size, "fuzz", 0, &e);
    det_indicators_info info;
    det_indicators_get_info(ind, &info);
    sink += info.events;
    det_indicators_free(ind);
    free(copy);
    return 0;
}

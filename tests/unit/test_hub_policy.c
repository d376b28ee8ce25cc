/*
 * test_hub_policy.c -- the hub's policy decisions and its config file:
 * time window and expiry, push visibility (TLP red / audience, fail closed),
 * token buckets, the JSON depth pre-scan, hub.yaml parsing and its errors.
 */
#include <sodium.h>
#include <stdlib.h>
#include <unistd.h>

#include "../check.h"
#include "hub/hub_server.h"

#define S(lit) FS_STR_LIT(lit)
/* C strings compared as slices (check.h's CHECK_EQ_STR takes fs_str). */
#define CHECK_CSTR(a, b)                                                             \
    do {                                                                             \
        const char *ca_ = (a);                                                       \
        CHECK_EQ_STR(fs_str_make(ca_, strlen(ca_)), (b));                            \
    } while (0)

static void test_time(void) {
    int64_t now = 1700000000000;
    CHECK_EQ_INT(hub_policy_time(now, now + 1000, now, 86400, 300), HUB_TIME_OK);
    CHECK_EQ_INT(hub_policy_time(now - 86400 * 1000LL, now + 1000, now, 86400, 300), HUB_TIME_OK);
    CHECK_EQ_INT(hub_policy_time(now - 86400 * 1000LL - 1, now + 1000, now, 86400, 300), HUB_TIME_TOO_OLD);
    CHECK_EQ_INT(hub_policy_time(now + 300 * 1000, now + 400000, now, 86400, 300), HUB_TIME_OK);
    CHECK_EQ_INT(hub_policy_time(now + 300 * 1000 + 1, now + 400000, now, 86400, 300), HUB_TIME_TOO_NEW);
    CHECK_EQ_INT(hub_policy_time(now, now - 1, now, 86400, 300), HUB_TIME_EXPIRED);
    CHECK_EQ_INT(hub_policy_time(now, now, now, 86400, 300), HUB_TIME_OK); /* valid through its last ms */
    /* expiry wins over the window: an old, expired event is "expired" */
    CHECK_EQ_INT(hub_policy_time(now - 90000000, now - 1, now, 86400, 300), HUB_TIME_EXPIRED);
    CHECK_CSTR(hub_time_code(HUB_TIME_TOO_OLD), "too_old");
    CHECK_CSTR(hub_time_code(HUB_TIME_TOO_NEW), "too_new");
    CHECK_CSTR(hub_time_code(HUB_TIME_EXPIRED), "expired");
}

static void test_visible(void) {
    int64_t now = 1000, later = 2000;
    fs_str aud[] = {S("org:208-01"), S("org:fraudlab")};
    fs_str iss = S("org:234-15");
    CHECK(hub_policy_visible(S("amber"), iss, NULL, 0, S("org:999-99"), later, now));
    CHECK(hub_policy_visible(S("clear"), iss, NULL, 0, S("org:999-99"), later, now));
    CHECK(hub_policy_visible(S("amber+strict"), iss, NULL, 0, S("org:999-99"), later, now));
    CHECK(hub_policy_visible(S("red"), iss, aud, 2, S("org:208-01"), later, now));
    CHECK(hub_policy_visible(S("red"), iss, aud, 2, S("org:fraudlab"), later, now));
    CHECK(hub_policy_visible(S("red"), iss, aud, 2, S("org:234-15"), later, now)); /* its issuer */
    CHECK(!hub_policy_visible(S("red"), iss, aud, 2, S("org:999-99"), later, now));
    CHECK(!hub_policy_visible(S("red"), iss, NULL, 0, S("org:208-01"), later, now));
    /* a prefix of an audience member is not the member */
    CHECK(!hub_policy_visible(S("red"), iss, aud, 2, S("org:208-0"), later, now));
    /* unknown TLP: fail closed (only the issuer) */
    CHECK(!hub_policy_visible(S("white"), iss, NULL, 0, S("org:208-01"), later, now));
    CHECK(hub_policy_visible(S("white"), iss, NULL, 0, iss, later, now));
    /* expired: nobody */
    CHECK(!hub_policy_visible(S("clear"), iss, NULL, 0, S("org:208-01"), now - 1, now));
    CHECK(!hub_policy_visible(S("clear"), iss, NULL, 0, FS_STR_NULL, later, now));
}

static void test_bucket(void) {
    hub_bucket b = {0, 0};
    uint32_t retry = 99;
    int64_t t = 1000000;
    CHECK(hub_bucket_take(&b, 100, 200, 150, t, &retry)); /* starts full */
    CHECK(hub_bucket_take(&b, 100, 200, 50, t, &retry));
    CHECK(!hub_bucket_take(&b, 100, 200, 50, t, &retry));
    CHECK_EQ_INT(retry, 1);
    CHECK(!hub_bucket_take(&b, 100, 200, 50, t + 400, &retry)); /* 40 tokens: not yet */
    CHECK(hub_bucket_take(&b, 100, 200, 50, t + 500, &retry));  /* 50 */
    CHECK(!hub_bucket_take(&b, 100, 200, 200, t + 500, &retry));
    CHECK_EQ_INT(retry, 2);
    CHECK(!hub_bucket_take(&b, 100, 200, 201, t + 100000, &retry)); /* never fits */
    CHECK_EQ_INT(retry, 0);
    CHECK(hub_bucket_take(&b, 100, 200, 200, t + 100000, &retry)); /* refilled, capped at burst */
    CHECK(!hub_bucket_take(&b, 100, 200, 1, t + 100000, &retry));
    CHECK(hub_bucket_take(&b, 0, 0, 1e9, t, &retry)); /* rate 0 = unlimited */
    /* clock going backwards neither refills nor breaks */
    CHECK(!hub_bucket_take(&b, 100, 200, 1, t, &retry));
    /* ... and the refill goes on from the new time: stepped back 100 s, the
     * bucket is full again 2 s later, as Retry-After said (it stayed empty
     * until the clock passed t + 100000 again) */
    CHECK(!hub_bucket_take(&b, 100, 200, 200, t + 1, &retry));
    CHECK_EQ_INT(retry, 2);
    CHECK(hub_bucket_take(&b, 100, 200, 200, t + 2001, &retry));
    /* a rate hub.yaml takes (rate.events_per_s: 0.0000001): the wait, 1e11 s, does
     * not fit Retry-After's 32 bits; it was cast as it was (1215752192 s here, or
     * whatever the conversion gave) instead of the longest one said */
    hub_bucket slow = {0, 0};
    CHECK(hub_bucket_take(&slow, 1e-7, 10000, 10000, t, &retry));
    CHECK(!hub_bucket_take(&slow, 1e-7, 10000, 10000, t, &retry));
    CHECK_MSG(retry == UINT32_MAX, "retry %u s for 1e11 s", retry);

    hub_limiter *l = hub_limiter_new(10, 20);
    CHECK(l != NULL);
    CHECK(hub_limiter_take(l, "org:234-15", 20, t, &retry));
    CHECK(!hub_limiter_take(l, "org:234-15", 1, t, &retry));
    CHECK(hub_limiter_take(l, "org:208-01", 20, t, &retry)); /* buckets are per member */
    CHECK(hub_limiter_take(l, "org:234-15", 10, t + 1000, &retry));
    hub_limiter_free(l);
}

static void test_depth(void) {
    const char *ok = "{\"events\":[\"a\",\"b\"]}";
    CHECK(hub_json_depth_ok(ok, strlen(ok), 2));
    CHECK(!hub_json_depth_ok(ok, strlen(ok), 1));
    const char *deep = "{\"events\":[[[[[\"x\"]]]]]}";
    CHECK(!hub_json_depth_ok(deep, strlen(deep), 4));
    /* brackets inside strings, escaped quotes, do not count */
    const char *str = "{\"e\":[\"[[[[{{{{\\\"[[[[\"]}";
    CHECK(hub_json_depth_ok(str, strlen(str), 2));
    /* a long run of openers is refused without recursion */
    static char many[100001];
    memset(many, '[', sizeof many - 1);
    CHECK(!hub_json_depth_ok(many, sizeof many - 1, 4));
}

static void test_config(void) {
    hub_config c;
    fs_err e;
    const char *good = "listen: \"[::1]:9443\"\nnode: n1\ntls:\n  cert: hub.crt\n  key: /k/hub.key\n"
                       "  ca: ca.crt\nregistry: reg.json\nstore: sqlite:data/hub.db\n"
                       "limits:\n  max_body: 2048\n  max_batch: 10\n"
                       "rate:\n  events_per_s: 5\n  burst: 10\nwindow:\n  past_s: 60\n  future_s: 0\n"
                       "workers: 3\n";
    CHECK_EQ_INT(hub_config_parse(good, strlen(good), "t.yaml", "/etc/fs38", &c, &e), FS_OK);
    CHECK_CSTR(c.listen_host, "::1");
    CHECK_EQ_INT(c.listen_port, 9443);
    CHECK_CSTR(c.tls_cert, "/etc/fs38/hub.crt");
    CHECK_CSTR(c.tls_key, "/k/hub.key");
    CHECK_CSTR(c.store_url, "sqlite:/etc/fs38/data/hub.db");
    CHECK_EQ_INT(c.max_body, 2048);
    CHECK_EQ_INT(c.window_future_s, 0);
    CHECK_EQ_INT(c.workers, 3);
    CHECK_EQ_INT(c.timeout_s, 30); /* default kept */

    const char *pg = "tls: {cert: a, key: b, ca: c}\nregistry: r\nstore: postgresql://u@127.0.0.1:5/db\n";
    CHECK_EQ_INT(hub_config_parse(pg, strlen(pg), "t.yaml", NULL, &c, &e), FS_OK);
    CHECK_CSTR(c.store_url, "postgresql://u@127.0.0.1:5/db");
    const char *nostore = "tls: {cert: a, key: b, ca: c}\nregistry: r\n"; /* the default store is beside the file */
    CHECK_EQ_INT(hub_config_parse(nostore, strlen(nostore), "t.yaml", "/etc/fs38", &c, &e), FS_OK);
    CHECK_CSTR(c.store_url, "sqlite:/etc/fs38/hub.db");

    struct {
        const char *text, *want;
    } bad[] = {
        {"tls: {cert: a, key: b, ca: c}\nregistry: r\nlimits:\n  max_bdy: 5\n", "t.yaml:4:3: limits.max_bdy: unknown key"},
        {"tls: {cert: a, key: b, ca: c}\nregistry: r\nlisten: nope\n", "t.yaml:3:9: listen:"},
        {"tls: {cert: a, key: b, ca: c}\nregistry: r\nlisten: \"1.2.3.4:70000\"\n", "listen:"},
        /* an IPv6 address without brackets is not split at its last colon (host ":", port 1) */
        {"tls: {cert: a, key: b, ca: c}\nregistry: r\nlisten: \"::1\"\n", "t.yaml:3:9: listen: '::1': an IPv6 address goes in brackets"},
        {"tls: {cert: a, key: b, ca: c}\nregistry: r\nlisten: \"2001:db8::1:8443\"\n", "goes in brackets"},
        {"tls: {cert: a, key: b, ca: c}\nregistry: r\nlisten: \"[::1:8443\"\n", "goes in brackets"},
        {"tls: {cert: a, key: b, ca: c}\nregistry: r\nstore: \"mysql://x\"\n", "t.yaml:3:8: store:"},
        /* accepted, then the hub could not start: "schema at version 0 ... run the migration" */
        {"tls: {cert: a, key: b, ca: c}\nregistry: r\nstore: \"sqlite::memory:\"\n", "t.yaml:3:8: store: sqlite::memory: cannot"},
        {"tls: {cert: a, key: b, ca: c}\nregistry: r\nlimits:\n  max_batch: 0\n", "limits.max_batch: '0' is not an integer in 1..10000"},
        {"tls: {cert: a, key: b, ca: c}\nregistry: r\nworkers: [1]\n", "workers: expected a single value"},
        {"tls: {cert: a, key: b}\nregistry: r\n", "tls.cert, tls.key and tls.ca are required"},
        {"tls: {cert: a, key: b, ca: c}\n", "registry"},
        {"tls: {cert: a, key: b, ca: c}\nregistry: r\nregistry: s\n", "registry: key given twice"},
        {"tls: {cert: a, key: b, ca: c}\nregistry: r\nrate: {burst: 5}\n", "rate.burst"},
        {"tls: [\n", "YAML syntax"},
        {"", "empty file"},
        /* values strtod takes but a config must not: NaN passes every range compare */
        {"tls: {cert: a, key: b, ca: c}\nregistry: r\nrate: {events_per_s: nan}\n", "rate.events_per_s: 'nan' is not a decimal number"},
        {"tls: {cert: a, key: b, ca: c}\nregistry: r\nrate: {events_per_s: 0x10}\n", "'0x10' is not a decimal number"},
        {"tls: {cert: a, key: b, ca: c}\nregistry: r\nnode: \"a\\0b\"\n", "t.yaml:3:7: node: a NUL character"},
        /* refused before libyaml builds a document of them */
        {"tls: {cert: a, key: b, ca: c}\nregistry: r\n---\nworkers: 2\n", "t.yaml:3:1: a second YAML document"},
        {"tls: &t {cert: a, key: b, ca: c}\nregistry: r\n", "t.yaml:1:6: an anchor or a tag"},
        {"limits: [[[[[[[[1]]]]]]]]\n", "nested deeper than the schema"},
        /* control characters in a quoted value or key are not echoed raw (terminal escapes) */
        {"workers: \"\\e[2J\"\n", "t.yaml:1:10: workers: '?[2J' is not an integer"},
        {"\"\\e[2J\": 1\n", "t.yaml:1:1: ?[2J: unknown key"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fs_code rc = hub_config_parse(bad[i].text, strlen(bad[i].text), "t.yaml", NULL, &c, &e);
        CHECK_MSG(rc != FS_OK, "bad config %zu accepted", i);
        CHECK_MSG(rc != FS_OK && strstr(e.msg, bad[i].want), "config %zu: '%s' lacks '%s'", i, e.msg,
                  bad[i].want);
    }
    /* sections left empty (their keys commented out, or ~) are sections without keys */
    static const char empty_sections[] = "tls: {cert: a, key: b, ca: c}\nregistry: r\nlimits:\n#  max_body: 5\n"
                                         "rate: ~\nreplication: ~\n";
    CHECK_MSG(hub_config_parse(empty_sections, sizeof empty_sections - 1, "t.yaml", NULL, &c, &e) == FS_OK, "%s",
              e.msg);
    CHECK_EQ_INT(c.max_body, 16u << 20);
    /* a folder named by mistake: the message says so, not just "read error" */
    char dir[] = "/tmp/fs38-hubcfg-XXXXXX";
    if (mkdtemp(dir)) {
        CHECK_EQ_INT(hub_config_load(dir, &c, &e), FS_ERR_IO);
        CHECK_MSG(strstr(e.msg, dir) && strstr(e.msg, "Is a directory"), "folder: %s", e.msg);
        rmdir(dir);
    }
}

int main(void) {
    if (sodium_init() < 0) return 1;
    test_time();
    test_visible();
    test_bucket();
    test_depth();
    test_config();
    return check_done("test_hub_policy");
}

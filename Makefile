# fs38 -- build, test, run, fuzz, bench.
#
#   make run     set up what is missing, build, inspect the shipped examples
#   make test    set up, build with ASan+UBSan, run every test
#   make fuzz    libFuzzer harnesses, FUZZ_SECONDS each (default 60)
#   make fuzz-cov  the same, then the lines/branches each harness reached
#   make bench   throughput/memory figures against the anchors (not a test)
#
# Sources are found by folder: src/<module>/*.c make libfs38 (except src/cli),
# tests/unit/test_*.c are one program each, fuzz/fuzz_*.c one harness each.

CC      ?= cc
PKGS    := libpcap zlib jansson yaml-0.1 libsodium sqlite3 libpq openssl libevent libevent_openssl libevent_pthreads libnats libmicrohttpd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lpcap -lz -ljansson -lyaml -lsodium -lsqlite3 -lpq -lssl -lcrypto -levent -levent_openssl -levent_pthreads -lnats -lmicrohttpd)

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
BASE    := -std=c11 -D_GNU_SOURCE -g $(WARN) $(PKG_CFLAGS) -Isrc -DFS38_ETC_DIR='"$(CURDIR)/etc"'
# release: asserts off (they guard internal invariants; the ASan tests and the
# fuzzers keep them on)
REL_CFLAGS  := $(BASE) -O2 -DNDEBUG
ASAN_FLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
ASAN_CFLAGS := $(BASE) -O1 $(ASAN_FLAGS)
LDLIBS  := $(PKG_LIBS) -lpthread -lm

LIB_SRC  := $(filter-out src/cli/%,$(wildcard src/*/*.c))
CLI_SRC  := $(wildcard src/cli/*.c)
TEST_SRC := $(wildcard tests/unit/test_*.c)
FUZZ_SRC := $(wildcard fuzz/fuzz_*.c)
HDRS     := $(wildcard src/*/*.h) tests/check.h $(wildcard tests/unit/*.h)

REL  := build/release
ASAN := build/asan

.PHONY: all run run-only test test-only fuzz fuzz-only fuzz-cov bench bench-only setup clean examples
all: $(REL)/fs38

setup:
	@scripts/setup.sh

# ---- release build (profile-guided) ----------------------------------------
# Each release object is compiled twice: first instrumented (build/pgo), then
# -- once that fs38 has inspected the training traffic of
# scripts/pgo-train.sh (test and generated captures, never the bench's:
# neither its captures nor the examples its parser corpus is made of) -- with the branch and call counts it left (-fprofile-use):
# 10-15 % faster inspection than plain -O2. Functions the training never runs
# are compiled as without a profile. `make PGO=0` builds plain -O2 (so does
# CC=clang).
PGO_DIR := build/pgo
# the profile steps below are gcc's (clang's need llvm-profdata): plain -O2 there
ifneq ($(shell $(CC) --version 2>/dev/null | grep -ci clang),0)
PGO := 0
endif
ifeq ($(PGO),0)
$(REL)/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(REL_CFLAGS) -c $< -o $@
else
PGO_GEN := -fprofile-generate -fprofile-update=prefer-atomic
PGO_USE := -fprofile-use -fprofile-partial-training -fprofile-correction -Wno-missing-profile
# -dumpbase: the counts (.gcda) land where the release object's compile looks
# for them, and a static function gets the same profile id in both compiles
$(PGO_DIR)/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@) $(dir $(REL)/obj/$*)
	$(CC) $(REL_CFLAGS) $(PGO_GEN) -dumpbase $(REL)/obj/$* -c $< -o $@
$(PGO_DIR)/fs38: $(LIB_SRC:%.c=$(PGO_DIR)/obj/%.o) $(CLI_SRC:%.c=$(PGO_DIR)/obj/%.o)
	$(CC) $(REL_CFLAGS) $(PGO_GEN) -o $@ $^ $(LDLIBS)
$(PGO_DIR)/trained: $(PGO_DIR)/fs38 $(REL)/gen_pcap scripts/pgo-train.sh
	@find $(REL)/obj -name '*.gcda' -delete
	@scripts/pgo-train.sh $(PGO_DIR) $(REL)/gen_pcap || \
		echo "pgo: the training run failed; the release build goes on without a profile"
	@touch $@
$(REL)/obj/%.o: %.c $(HDRS) $(PGO_DIR)/trained
	@mkdir -p $(dir $@)
	$(CC) $(REL_CFLAGS) $(PGO_USE) -c $< -o $@
endif
$(REL)/libfs38.a: $(LIB_SRC:%.c=$(REL)/obj/%.o)
	@rm -f $@; ar rcs $@ $^
$(REL)/fs38: $(CLI_SRC:%.c=$(REL)/obj/%.o) $(REL)/libfs38.a
	$(CC) $(REL_CFLAGS) -o $@ $^ $(LDLIBS)

# ---- sanitizer build (what the tests run) ------------------------------
$(ASAN)/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) -c $< -o $@
$(ASAN)/libfs38.a: $(LIB_SRC:%.c=$(ASAN)/obj/%.o)
	@rm -f $@; ar rcs $@ $^
$(ASAN)/fs38: $(CLI_SRC:%.c=$(ASAN)/obj/%.o) $(ASAN)/libfs38.a
	$(CC) $(ASAN_CFLAGS) -o $@ $^ $(LDLIBS)
$(ASAN)/tests/%: tests/unit/%.c $(ASAN)/libfs38.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) -o $@ $< $(ASAN)/libfs38.a $(LDLIBS)

TEST_BINS := $(TEST_SRC:tests/unit/%.c=$(ASAN)/tests/%)

# the deterministic capture generator (bench data, CLI test data)
$(ASAN)/gen_pcap $(REL)/gen_pcap: bench/gen_pcap.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -o $@ $<

# Targets that may install packages re-enter make afterwards, so pkg-config
# flags are computed once the libraries are there (a fresh machine).
run: setup
	@$(MAKE) --no-print-directory run-only
run-only: $(REL)/fs38
	$(REL)/fs38 inspect --config examples/site.yaml examples/*.pcap

test: setup
	@$(MAKE) --no-print-directory test-only
test-only: $(ASAN)/fs38 $(TEST_BINS) $(ASAN)/gen_pcap
	@tests/run.sh $(ASAN)

# ---- fuzzing (clang libFuzzer) --------------------------------------------
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Isrc $(PKG_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined
FUZZ := build/fuzz
$(FUZZ)/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -c $< -o $@
$(FUZZ)/libfs38.a: $(LIB_SRC:%.c=$(FUZZ)/obj/%.o)
	@rm -f $@; ar rcs $@ $^
$(FUZZ)/%: fuzz/%.c $(FUZZ)/libfs38.a
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ)/libfs38.a $(LDLIBS)
fuzz: setup
	@$(MAKE) --no-print-directory fuzz-only
fuzz-only: $(FUZZ_SRC:fuzz/%.c=$(FUZZ)/%)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh $(FUZZ)

# Coverage of the harnesses (clang source-based coverage, no sanitizers):
# make fuzz-cov fuzzes as make fuzz-only does (FUZZ_SECONDS=0: the seeds
# alone), keeps the corpora, runs them once through build/fuzzcov/fuzz_X and
# prints the lines/branches reached of the files each harness is for.
FUZZCOV_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O0 -Isrc $(PKG_CFLAGS) -fsanitize=fuzzer-no-link \
                  -fprofile-instr-generate -fcoverage-mapping
FUZZCOV := build/fuzzcov
$(FUZZCOV)/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	clang $(FUZZCOV_CFLAGS) -c $< -o $@
$(FUZZCOV)/libfs38.a: $(LIB_SRC:%.c=$(FUZZCOV)/obj/%.o)
	@rm -f $@; ar rcs $@ $^
$(FUZZCOV)/%: fuzz/%.c $(FUZZCOV)/libfs38.a
	clang $(FUZZCOV_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZCOV)/libfs38.a $(LDLIBS)
fuzz-cov: $(FUZZ_SRC:fuzz/%.c=$(FUZZ)/%) $(FUZZ_SRC:fuzz/%.c=$(FUZZCOV)/%)
	@FUZZ_KEEP=$(FUZZCOV)/corpora FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh $(FUZZ)
	@scripts/fuzz-cov.sh $(FUZZCOV) $(FUZZCOV)/corpora

# ---- benchmarks ---------------------------------------------------------
bench: setup
	@$(MAKE) --no-print-directory bench-only
bench-only: $(REL)/fs38 $(REL)/libfs38.a
	@scripts/bench.sh $(REL)

examples: $(REL)/fs38
	@examples/generate.sh

clean:
	rm -rf build

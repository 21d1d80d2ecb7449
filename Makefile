# mailtap — plain Makefile, one static library per folder.
#
#   make            build ./mailtap
#   make test       unit tests + golden tests (+ corpus check when ../shared/corpus exists)
#   make check      `make test`, then the suite again under ASan+UBSan, then a
#                   10-second smoke run of every libFuzzer target
#   make fuzz       every fuzz target for FUZZ_TIME seconds (default 60)
#   make bench      throughput and memory benchmark (bench/README.md)
#   make demo       analyse the bundled captures in tests/pcaps and print the report
#   make install    PREFIX=/usr/local DESTDIR=
#   make clean
#
# SAN=1 builds everything into build-san/ with -fsanitize=address,undefined.
# -Werror is on when CI is set in the environment (CI=true in .ci/run).

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
PKGS     = libpcap libndpi sqlite3 libssl libcrypto
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN    = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
          -Wpointer-arith -Wcast-qual -Wsign-compare -Wformat=2
ifneq ($(CI),)
WARN   += -Werror
endif
HARDEN  = -fstack-protector-strong -fPIE -D_FORTIFY_SOURCE=2
OPT    ?= -O2 -g

ifeq ($(FUZZ),1)
# libFuzzer targets (clang): make fuzz / make fuzz-smoke
CC      = clang
BUILD   = build-fuzz
SANFL   = -fsanitize=address,undefined,fuzzer-no-link -fno-omit-frame-pointer -fno-sanitize-recover=undefined
HARDEN  = -fPIE
OPT     = -O1 -g
MAILTAP_BIN = $(BUILD)/mailtap
else ifeq ($(SAN),1)
BUILD   = build-san
SANFL   = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
HARDEN  = -fPIE
OPT     = -O1 -g
MAILTAP_BIN = $(BUILD)/mailtap
else
BUILD   = build
SANFL   =
MAILTAP_BIN = mailtap
endif

CPPFLAGS += -I. -D_GNU_SOURCE
CFLAGS  += -std=c11 -pthread $(OPT) $(WARN) $(HARDEN) $(SANFL) $(PKG_CFLAGS) -MMD -MP
LDFLAGS += -pie -Wl,-z,relro,-z,now $(SANFL)
LDLIBS  += $(PKG_LIBS) -lm -pthread

.DEFAULT_GOAL := all
MODULES = capture dissect store reports
LIBS    = $(foreach m,$(MODULES),$(BUILD)/lib$(m).a)
# link order: users before providers
LINKLIBS = $(BUILD)/libreports.a $(BUILD)/libstore.a $(BUILD)/libcapture.a $(BUILD)/libdissect.a

define module_rules
$(1)_SRC := $$(wildcard $(1)/*.c)
$(1)_OBJ := $$(patsubst %.c,$(BUILD)/%.o,$$($(1)_SRC))
$(BUILD)/lib$(1).a: $$($(1)_OBJ)
	@mkdir -p $$(@D)
	$$(AR) rcs $$@ $$^
endef
$(foreach m,$(MODULES),$(eval $(call module_rules,$(m))))

MAIN_OBJ = $(BUILD)/main.o $(BUILD)/events.o

UNIT_SRC  = $(wildcard tests/unit/test_*.c)
UNIT_BIN  = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

.PHONY: all test unit golden corpus check demo install clean bench fuzz fuzz-smoke
all: $(MAILTAP_BIN)

$(MAILTAP_BIN): $(MAIN_OBJ) $(LIBS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(MAIN_OBJ) $(LINKLIBS) $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# Fixtures shared by several unit tests (tests/unit/fix_*.c) go into an
# archive, so that each test binary takes only the ones it uses.
UNITFIX_OBJ = $(patsubst %.c,$(BUILD)/%.o,$(wildcard tests/unit/fix_*.c))
$(BUILD)/libunitfix.a: $(UNITFIX_OBJ)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

# A unit test links only the library it tests (and what that one needs), so
# each module's tests build while the others are being worked on.
TESTLINK = $(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(filter %.a,$^) $(LDLIBS) -lcmocka
$(BUILD)/tests/test_capture_%: tests/unit/test_capture_%.c $(BUILD)/libunitfix.a $(BUILD)/libcapture.a
	@mkdir -p $(@D)
	$(TESTLINK)
$(BUILD)/tests/test_dissect_%: tests/unit/test_dissect_%.c $(BUILD)/libunitfix.a $(BUILD)/libdissect.a
	@mkdir -p $(@D)
	$(TESTLINK)
$(BUILD)/tests/test_store_%: tests/unit/test_store_%.c $(BUILD)/libunitfix.a $(BUILD)/libstore.a $(BUILD)/libdissect.a
	@mkdir -p $(@D)
	$(TESTLINK)
$(BUILD)/tests/test_reports_%: tests/unit/test_reports_%.c $(BUILD)/libunitfix.a $(BUILD)/libreports.a $(BUILD)/libstore.a $(BUILD)/libdissect.a
	@mkdir -p $(@D)
	$(TESTLINK)

unit: $(UNIT_BIN)
	@sh tests/run_unit.sh $(UNIT_BIN)

golden: $(MAILTAP_BIN)
	@sh tests/golden/run.sh ./$(MAILTAP_BIN)

corpus: $(MAILTAP_BIN)
	@sh tests/corpus/check.sh ./$(MAILTAP_BIN)

test: $(MAILTAP_BIN) $(UNIT_BIN)
	@sh tests/run_all.sh ./$(MAILTAP_BIN) $(UNIT_BIN)

check: test
	$(MAKE) SAN=1 test
	$(MAKE) fuzz-smoke

demo: $(MAILTAP_BIN)
	@rm -f demo.db demo.db-wal demo.db-shm
	./$(MAILTAP_BIN) analyze -q -d demo.db tests/pcaps/*.pcap tests/pcaps/*.pcapng
	./$(MAILTAP_BIN) report -d demo.db

# Throughput and memory benchmark on generated captures (bench/README.md).
# BENCH_SCALE=small for a quick run; the captures stay in bench/out/.
bench: $(MAILTAP_BIN)
	@bash bench/run.sh ./$(MAILTAP_BIN)

# Fuzzing: every parser has a libFuzzer target (tests/fuzz/fuzz_*.c), seeded
# from tests/pcaps and tests/fuzz/seeds.  FUZZ_TIME seconds per target.
FUZZ_TIME ?= 60
FUZZ_SRC   = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN   = $(patsubst tests/fuzz/%.c,build-fuzz/%,$(FUZZ_SRC))
build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(LIBS)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fsanitize=fuzzer $(LDFLAGS) -o $@ $< $(LINKLIBS) $(LDLIBS)
fuzz:
	$(MAKE) FUZZ=1 fuzz-bins
	sh tests/fuzz/run.sh $(FUZZ_TIME) $(FUZZ_BIN)
fuzz-smoke:
	$(MAKE) FUZZ=1 fuzz-bins
	sh tests/fuzz/run.sh 10 $(FUZZ_BIN)
fuzz-bins: $(FUZZ_BIN)

install: $(MAILTAP_BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(MAILTAP_BIN) $(DESTDIR)$(PREFIX)/bin/mailtap
	install -m 0644 mailtap.1 $(DESTDIR)$(PREFIX)/share/man/man1/mailtap.1

clean:
	rm -rf build build-san build-fuzz mailtap demo.db demo.db-wal demo.db-shm

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

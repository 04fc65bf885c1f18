# dropcap — one plain GNU Makefile. Objects go to build/.
#   make            build build/dropcap: libev, mbedTLS, libcap linked in, needs only glibc
#   make TLS=openssl  the same server on OpenSSL 3 (TLS 1.3): build/openssl/dropcap
#   make LINK=shared  the same, linked against the shared libraries (for distributions)
#   make run        install what is missing, build, make a demo site and certificate, serve it
#   make test       install what is missing, build, run every test suite
#   make lint       clang-format, cppcheck, shellcheck, include fences
#   make fuzz       libFuzzer drivers of the parsers (FUZZ_SECONDS each)
#   make stress     tests/hostile at full size (3,000 slow-header and 1,000 slow-read clients,
#                   5,000 idle TLS connections, ...): a normal client's latency and RSS, a table
#   make deb / rpm  packages in build/ (see install/install.mk)
#   make install    PREFIX=/usr/local DESTDIR= (see install/install.mk)

VERSION := 0.1.0
CC ?= gcc
ifeq ($(origin CC),default)
CC := gcc
endif
PYTHON ?= /usr/bin/python3

WARN := -Wall -Wextra -Wpedantic -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes
HARDEN := -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE -fstack-clash-protection -fcf-protection
CPPFLAGS += -D_GNU_SOURCE -DDROPCAP_VERSION='"$(VERSION)"'
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 $(WARN) $(HARDEN) -MMD -MP
LDFLAGS += -pie -Wl,-z,relro -Wl,-z,now -Wl,--as-needed
# The libraries dropcap links, besides libc. LINK=static (the default) links these from their .a
# files into a PIE, so build/dropcap needs only glibc (scripts/glibc-needs says which);
# LINK=shared links their .so files (distributions; make deb uses build/shared/dropcap).
# TLS=mbedtls (the default: mbedTLS 2.28, TLS 1.2, server/tls.c) or TLS=openssl (OpenSSL 3,
# TLS 1.3 and 1.2, server/tls_openssl.c): one of the two implements server/tls.h. The OpenSSL
# build lives in build/openssl/ (build/openssl/dropcap, build/openssl/san/dropcap), beside
# the default one in build/.
TLS ?= mbedtls
ifeq ($(TLS),mbedtls)
TLS_LIBS := mbedtls mbedx509 mbedcrypto
TLS_OMIT := tls_openssl tls_openssl_tickets
B := build
else ifeq ($(TLS),openssl)
TLS_LIBS := ssl crypto
TLS_OMIT := tls
B := build/openssl
else
$(error TLS=$(TLS): use TLS=mbedtls (the default) or TLS=openssl)
endif
LINK_LIBS := ev $(TLS_LIBS) nghttp2 cap seccomp inih
LINK ?= static
libs_shared := $(LINK_LIBS:%=-l%)
libs_static := -Wl,-Bstatic $(libs_shared) -Wl,-Bdynamic
ifeq ($(filter static shared,$(LINK)),)
$(error LINK=$(LINK): use LINK=static (the default, one portable file) or LINK=shared)
endif
LIBS := $(libs_$(LINK))
ifneq ($(CI),)
CFLAGS += -Werror
endif

# Modules with libc only (the pure ones, and procstatus, log, logsink, notify, fcache, file and
# rules, which open files with openat2): the unit tests link them.
PURE := http_parse http_response uri range httpdate mime procstatus log logsink notify autoindex \
	fcache file rules jsonesc site conffile
SRCS := $(filter-out $(TLS_OMIT:%=server/%.c),$(wildcard server/*.c))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)

# The sanitizer build (ASan + UBSan, any report is fatal) lives in build/san/.
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# It is also the test build: the sandbox's test hooks (sandbox.c) exist only there.
SAN_DEFS := -DDROPCAP_TEST_HOOKS

# $(call objs,DIR): the objects of the server in DIR
objs = $(SRCS:server/%.c=$(1)/%.o)
OBJS := $(call objs,$(B))
SAN_OBJS := $(call objs,$(B)/san)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=build/san/tests/%)

all: $(B)/dropcap

$(B)/dropcap: $(OBJS) $(B)/link-mode
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(OBJS) $(LIBS)
	@echo "$@: $(LINK_LIBS) linked $(LINK); needs glibc $$(scripts/glibc-needs $@) or later"

# The same objects linked against the shared libraries, whatever LINK says: the .deb's binary.
$(B)/shared/dropcap: $(OBJS) | $(B)/shared
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(OBJS) $(libs_shared)

# Rewritten only when LINK changes, so that switching LINK relinks build/dropcap.
$(B)/link-mode: FORCE | $(B)
	@echo $(LINK) | cmp -s - $@ || echo $(LINK) >$@
FORCE:

$(B)/san/dropcap: $(SAN_OBJS) $(B)/link-mode
	$(CC) $(CFLAGS) $(SAN_FLAGS) $(LDFLAGS) -o $@ $(SAN_OBJS) $(LIBS)

build/%.o: server/%.c | build
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

build/san/%.o: server/%.c | build/san/tests
	$(CC) $(CPPFLAGS) $(SAN_DEFS) -U_FORTIFY_SOURCE $(CFLAGS) $(SAN_FLAGS) -c -o $@ $<

# The OpenSSL build's objects (the pattern with the shorter stem wins over build/%.o).
build/openssl/%.o: server/%.c | build/openssl
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

build/openssl/san/%.o: server/%.c | build/openssl/san
	$(CC) $(CPPFLAGS) $(SAN_DEFS) -U_FORTIFY_SOURCE $(CFLAGS) $(SAN_FLAGS) -c -o $@ $<

# Unit tests run under the sanitizers, linked with the pure objects only.
build/san/tests/%: tests/unit/%.c $(PURE:%=build/san/%.o) | build/san/tests
	$(CC) $(CPPFLAGS) -U_FORTIFY_SOURCE $(CFLAGS) $(SAN_FLAGS) -Iserver -o $@ $< \
		$(PURE:%=build/san/%.o) -lcmocka -linih

build build/san/tests build/shared build/openssl build/openssl/san build/openssl/shared:
	mkdir -p $@

deps:
	@scripts/deps.sh build

test-deps:
	@scripts/deps.sh test

# Each suite prints its runner's closing line; make stops at the first failing one.
# 1. unit tests (cmocka, sanitizers on)  2. every pytest suite against the release binary
# 3. the black-box suite again against the sanitizer build: any ASan/UBSan report fails it.
# 4. (default build only) the OpenSSL build through the black-box, privilege and sandbox suites
#    and testssl.sh: make test-openssl.
# 5. each libFuzzer driver over its seed corpus (past crashes included), then TEST_FUZZ_SECONDS.
# 0. first of all, make lint.
# make test TLS=openssl runs 1-3 and 5 on the OpenSSL build, every suite but tests/install (whose
# packages carry the default build).
TEST_FUZZ_SECONDS ?= 10
TEST_SUITES_mbedtls := tests
TEST_SUITES_openssl := tests/blackbox tests/priv tests/hostile
# The binary under test, and its test build (the sandbox's hooks) for tests/priv.
TEST_BINS = DROPCAP_BIN=$(CURDIR)/$(1)/dropcap DROPCAP_SAN_BIN=$(CURDIR)/$(1)/san/dropcap
test: test-deps
	@scripts/lint.sh
	$(MAKE) --no-print-directory all $(B)/san/dropcap $(UNIT_BINS)
	@scripts/run-unit-tests.sh $(UNIT_BINS)
	$(call TEST_BINS,$(B)) $(PYTHON) -m pytest -p no:cacheprovider $(TEST_SUITES_$(TLS))
	DROPCAP_BIN=$(CURDIR)/$(B)/san/dropcap DROPCAP_SANITIZED=1 \
		$(PYTHON) -m pytest -p no:cacheprovider tests/blackbox
ifeq ($(TLS),mbedtls)
	$(MAKE) --no-print-directory test-openssl
endif
	FUZZ_SECONDS=$(TEST_FUZZ_SECONDS) tests/fuzz/run.sh

# make test's pass over the OpenSSL build: its release binary through the black-box suite (TLS
# tests included), the privilege and sandbox tests (with its test build) and testssl.sh.
test-openssl:
	$(MAKE) --no-print-directory TLS=openssl build/openssl/dropcap build/openssl/san/dropcap
	$(call TEST_BINS,build/openssl) $(PYTHON) -m pytest -p no:cacheprovider tests/blackbox \
		tests/priv tests/hostile/test_testssl.py

unit: $(UNIT_BINS)
	@scripts/run-unit-tests.sh $(UNIT_BINS)

run: deps
	@$(MAKE) --no-print-directory all
	@DEMO_BIN=$(CURDIR)/$(B)/dropcap scripts/run-demo.sh

lint:
	@scripts/lint.sh

# The hostile-client scenarios of make test (tests/hostile) at the sizes of issue 8, with longer
# windows; prints a table of the normal client's median/worst latency and the server's RSS.
stress: test-deps
	$(MAKE) --no-print-directory all
	DROPCAP_STRESS=1 DROPCAP_BIN=$(CURDIR)/$(B)/dropcap $(PYTHON) -m pytest -p no:cacheprovider \
		-rxX tests/hostile/test_hostile.py

# libFuzzer drivers of the pure modules, FUZZ_SECONDS each (default 20); see tests/fuzz/README.md
fuzz:
	@tests/fuzz/run.sh

clean:
	rm -rf build

-include install/install.mk
-include $(OBJS:.o=.d) $(SAN_OBJS:.o=.d) $(UNIT_BINS:=.d)

.PHONY: all deps test-deps test test-openssl unit run lint fuzz stress clean FORCE

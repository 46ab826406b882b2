# SPDX-License-Identifier: GPL-2.0-or-later
# pve-ontap: ONTAP snapshots, clones and NVMe/TCP for Proxmox VE.

VERSION := 0.1.0
BUILDDIR ?= build
PREFIX ?= /usr
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/pve-ontap
UNITDIR ?= /lib/systemd/system
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions
DESTDIR ?=

CC ?= cc
PYTHON ?= /usr/bin/python3
WARN := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror
# gcc: no stack frame over 16 KiB (the largest today is ~13 KiB; big records live on the
# heap). clang has no -Wstack-usage: the probe leaves it out there.
# Product objects only (test programs keep big fixtures on their stacks); ASan/UBSan builds
# (check-sanitize) set it empty, their redzones make every frame larger.
STACK_WARN := $(shell $(CC) -Werror -Wstack-usage=1 -x c -c -o /dev/null /dev/null 2>/dev/null && \
	echo -Wstack-usage=16384)
CFLAGS ?= -O2 -g
CPPFLAGS += -std=c11 -D_GNU_SOURCE -DPVE_ONTAP_VERSION='"$(VERSION)"' \
	-Ilib -Ipolicies -Ihooks -Iwatcher -Icli
# libcurl and OpenSSL are dlopen()ed on the first HTTP request (lib/net/netlib.h): not linked.
LDLIBS += -lyaml -linotifytools
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# lib/ has one folder per layer (HACKING.md "Layout"; tests/layers/check.py enforces it).
SRC_DIRS := $(sort $(dir $(wildcard lib/*/*.c))) policies hooks watcher cli
SRCS := $(sort $(wildcard $(addsuffix /*.c,$(patsubst %/,%,$(SRC_DIRS)))))
OBJS := $(SRCS:%.c=$(BUILDDIR)/%.o)
CORE_OBJS := $(filter-out $(BUILDDIR)/cli/main.o,$(OBJS))
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILDDIR)/tests/%)
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
# Small programs that drive one client module against the simulators (pytest calls them).
DRIVER_SRCS := $(sort $(wildcard tests/drivers/*.c))
DRIVER_BINS := $(DRIVER_SRCS:tests/drivers/%.c=$(BUILDDIR)/drivers/%)

.PHONY: all deps check check-unit check-integration check-sanitize check-valgrind demo \
	install clean fuzz deb bench lint

all: $(BUILDDIR)/pve-ontap pve-ontap $(BUILDDIR)/pve-ontap.8

# The manual page: version and date of this build. The date is SOURCE_DATE_EPOCH's
# (dpkg-buildpackage sets it from debian/changelog: reproducible), else the last commit's,
# else today's.
MANDATE ?= $(shell if [ -n "$$SOURCE_DATE_EPOCH" ]; then date -u -d "@$$SOURCE_DATE_EPOCH" +%F; \
	else git log -1 --format=%cs 2>/dev/null | grep . || date -u +%F; fi)

$(BUILDDIR)/pve-ontap.8: install/pve-ontap.8.in Makefile
	@mkdir -p $(dir $@)
	sed -e 's/@VERSION@/$(VERSION)/g' -e 's/@DATE@/$(MANDATE)/g' $< >$@.tmp
	mv $@.tmp $@

$(BUILDDIR)/pve-ontap: $(OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(OBJS) $(LDLIBS)

pve-ontap: $(BUILDDIR)/pve-ontap
	cp $< $@

$(BUILDDIR)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(STACK_WARN) -MMD -MP -c -o $@ $<

# Unit tests link against an archive so each pulls in only the objects it needs.
$(BUILDDIR)/libpveontap.a: $(CORE_OBJS)
	rm -f $@
	ar rcs $@ $^

$(BUILDDIR)/tests/%: tests/unit/%.c $(BUILDDIR)/libpveontap.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -Wno-missing-prototypes -o $@ $< \
		$(BUILDDIR)/libpveontap.a $(LDFLAGS) $(LDLIBS) -lcmocka

$(BUILDDIR)/drivers/%: tests/drivers/%.c $(BUILDDIR)/libpveontap.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -Wno-missing-prototypes -o $@ $< \
		$(BUILDDIR)/libpveontap.a $(LDFLAGS) $(LDLIBS)

deps:
	@install/deps.sh

# The README's test command: installs what it needs, builds with gcc and clang, runs every
# test tier and prints one summary line "N passed, N failed".
check: deps
	$(MAKE) all
	$(MAKE) BUILDDIR=build-clang CC=clang all
	$(MAKE) unit-bins
	tests/run-all.sh $(BUILDDIR)

unit-bins: $(UNIT_BINS) $(DRIVER_BINS)

check-unit: all unit-bins
	tests/run-all.sh --unit-only $(BUILDDIR)

check-integration: all unit-bins
	tests/run-all.sh --integration-only $(BUILDDIR)

check-sanitize: deps
	$(MAKE) BUILDDIR=build-san CFLAGS="-O1 -g $(SAN_FLAGS)" LDFLAGS="$(SAN_FLAGS)" STACK_WARN= all unit-bins
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		tests/run-all.sh build-san

check-valgrind: deps all unit-bins
	PVE_ONTAP_VALGRIND=1 tests/run-all.sh $(BUILDDIR)

demo: deps all
	$(PYTHON) tests/demo.py --bin $(BUILDDIR)/pve-ontap

bench: all
	@for b in bench/*.sh bench/*.py; do [ -e "$$b" ] || continue; echo "== $$b"; \
		case "$$b" in *.py) $(PYTHON) "$$b" --bin $(BUILDDIR)/pve-ontap ;; \
		*) sh "$$b" $(BUILDDIR)/pve-ontap ;; esac; done

# Each libFuzzer target (tests/fuzz/fuzz_*.c) for FUZZ_SECONDS; FUZZ_TARGETS="json queue"
# limits the run to some of them. Builds into build-fuzz/ with clang.
FUZZ_SECONDS ?= 30
FUZZ_TARGETS ?=
fuzz: deps
	tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

lint:
	shellcheck install/*.sh tests/*.sh tests/fuzz/*.sh .ci/run

install: all $(BUILDDIR)/pve-ontap.8
	install -D -m 0755 $(BUILDDIR)/pve-ontap $(DESTDIR)$(SBINDIR)/pve-ontap
	install -D -m 0644 install/pve-ontap-watch.service $(DESTDIR)$(UNITDIR)/pve-ontap-watch.service
	install -D -m 0644 install/pve-ontap.bash-completion $(DESTDIR)$(COMPLETIONDIR)/pve-ontap
	install -D -m 0644 $(BUILDDIR)/pve-ontap.8 $(DESTDIR)$(MANDIR)/man8/pve-ontap.8
	install -d $(DESTDIR)$(DOCDIR)/examples/policies
	install -m 0644 install/config.example.yaml $(DESTDIR)$(DOCDIR)/examples/config.yaml
	install -m 0644 policies/examples/*.yaml $(DESTDIR)$(DOCDIR)/examples/policies/

deb:
	install/build-deb.sh

clean:
	rm -rf build build-clang build-san build-fuzz pve-ontap

-include $(OBJS:.o=.d)

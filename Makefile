# dcmfs - a deduplicating DICOM storage filesystem.  Plain GNU make.
#
#   make            build everything into build/
#   make check      install missing packages, build, run every test
#   make check-distributed  the mount tests with every store in PostgreSQL + Ceph (not in make check)
#   make demo       install missing packages, build, import sample DICOM, mount it
#   make deps       install the Debian packages building, testing and the demo need
#   make bench      benchmarks (numbers, not pass/fail)
#   make bench-scale  the scale benchmark, BENCH_SCALE_N instances (default 1M)
#   make check SANITIZE=1   the same tests under AddressSanitizer + UBSan
#   make install    programs, man pages and systemd units under PREFIX (/usr/local)
#   make deb        a binary Debian package (build/dcmfs_*.deb)
#   make fuzz       libFuzzer targets (clang), FUZZ_SECONDS each (default 60)
#   make torture    kill -9 and corruption harness for TORTURE_SECONDS (default 600)

SHELL := /bin/bash
CC ?= cc
CXX ?= c++
BUILD ?= build
ifeq ($(SANITIZE),1)
BUILD := build/sanitize
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif

DEBIAN_PACKAGES := build-essential pkg-config libfuse3-dev fuse3 libxxhash-dev \
	libzstd-dev libsqlite3-dev zlib1g-dev libgdcm-dev libgdcm-tools dcmtk \
	python3 python3-pydicom libcmocka-dev rsync perl util-linux procps \
	iproute2 time sqlite3 attr python3-xxhash python3-zstandard libjson-c-dev libssl-dev \
	python3-numpy libsystemd-dev systemd man-db dpkg-dev lintian gnuplot-nox \
	postgresql-15 libpq-dev ceph-mon ceph-osd ceph-common librados-dev
DEBIAN_PACKAGES += samba smbclient gcc-multilib
# dcmfs-gencorpus --wsi encodes JPEG tiles with libjpeg-turbo; its tests decode them with PIL
DEBIAN_PACKAGES += libjpeg62-turbo-dev python3-pil

PKGS := fuse3 libzstd sqlite3 zlib libxxhash json-c
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
	-Iindex $(PKG_CFLAGS) $(SANFLAGS) -MMD -MP
LDFLAGS += $(SANFLAGS)
LDLIBS += $(PKG_LIBS) -lpthread -lm

# De-identified shares (index/deid*.{c,cc}): GDCM behind one C++ shim, and
# OpenSSL's HMAC-SHA256 for the keyed names.  Debian 12's libgdcm-dev has
# no pkg-config file: its headers are in /usr/include/gdcm-3.0.
GDCM_CFLAGS ?= -I/usr/include/gdcm-3.0
GDCM_LIBS ?= -lgdcmMSFF -lgdcmDSED -lgdcmDICT -lgdcmCommon
CXXFLAGS ?= -O2 -g
CXXFLAGS += -std=c++14 -Wall -Wextra -Werror -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
	-Iindex $(GDCM_CFLAGS) $(SANFLAGS) -MMD -MP
LDLIBS += $(GDCM_LIBS) -lcrypto -lstdc++
# A store's data in a RADOS pool (index/datastore_rados.c): librados-dev
LDLIBS += -lrados
# A store's catalogue in PostgreSQL (index/catalog_pg.c): libpq-dev
$(BUILD)/index/catalog_pg.o $(BUILD)/index/netlock.o: CFLAGS += -I$(shell pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)
$(BUILD)/tests/unit/test_catalog_pg.o $(BUILD)/tests/unit/test_netlock.o: CFLAGS += -I$(shell pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)
LDLIBS += -lpq

INDEX_SRC := $(wildcard index/*.c)
INDEX_CXX_SRC := $(wildcard index/*.cc)
INDEX_OBJ := $(INDEX_SRC:%.c=$(BUILD)/%.o) $(INDEX_CXX_SRC:%.cc=$(BUILD)/%.o)
LIB := $(BUILD)/libdcmfs.a

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

TOOLS := $(BUILD)/dcmfsctl
FS := $(BUILD)/dcmfs
EXTRA_TOOLS := $(patsubst tools/%.c,$(BUILD)/%,$(filter-out tools/dcmfsctl.c,$(wildcard tools/dcmfs-*.c))) \
	$(BUILD)/dcmfs-gencorpus
# die() and the allocators that die, shared by the tools (tools/cli.h)
CLI_OBJ := $(BUILD)/tools/cli.o
GENCORPUS_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tools/gencorpus/*.c))

# Test programs the system tests run (tests/tools/*.c, one file each).
TEST_TOOLS := $(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(wildcard tests/tools/*.c))

all: $(LIB) $(TOOLS) $(EXTRA_TOOLS) $(if $(wildcard fs/*.c),$(FS)) $(UNIT_BIN) $(TEST_TOOLS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(LIB): $(INDEX_OBJ)
	@rm -f $@
	ar rcs $@ $^

# dcmfsctl: its main file and one file per family of subcommands
CTL_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tools/dcmfsctl*.c))
# the one JSON writer of every --json (tools/json_out.h)
CTL_OBJ += $(BUILD)/tools/json_out.o

# dcmfsctl loads GDCM only when it de-identifies (tools/deid_gdcm_lazy.c):
# loading it costs every start some 20 ms.  The shim is its own shared
# object, which calls back deid_uid; --as-needed drops the unused GDCM libraries.
CTL_OBJ += $(BUILD)/tools/deid_gdcm_lazy.o
DEID_SHIM := $(BUILD)/dcmfs-deid-gdcm.so
$(BUILD)/index/deid_gdcm.pic.o: index/deid_gdcm.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -fPIC -c $< -o $@
$(DEID_SHIM): $(BUILD)/index/deid_gdcm.pic.o
	$(CXX) $(LDFLAGS) -shared -o $@ $^ $(GDCM_LIBS)
	chmod go-w $@   # the loader refuses a shim others may write

all: $(DEID_SHIM)
$(BUILD)/dcmfsctl: $(CTL_OBJ) $(CLI_OBJ) $(LIB) | $(DEID_SHIM)
	$(CC) $(LDFLAGS) -Wl,--export-dynamic-symbol=deid_uid -o $@ $^ -Wl,--as-needed $(LDLIBS) -ldl

$(BUILD)/dcmfs-gencorpus: $(GENCORPUS_OBJ) $(CLI_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -ljpeg

$(BUILD)/dcmfs-%: $(BUILD)/tools/dcmfs-%.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# the daemon tells systemd when the mount is ready (sd_notify)
$(FS): $(patsubst %.c,$(BUILD)/%.o,$(wildcard fs/*.c)) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lsystemd

# Unit tests find sample data beside the source tree, wherever they run from.
$(BUILD)/tests/unit/%.o: CFLAGS += -DDCMFS_TOP='"$(abspath .)"'

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# The JSON writer's test links the writer itself (it lives in tools/).
$(BUILD)/tests/test_json_out: $(BUILD)/tools/json_out.o $(CLI_OBJ)

$(TEST_TOOLS): $(BUILD)/tests/tools/%: $(BUILD)/tests/tools/%.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# LD_PRELOAD shims the system tests put under a program (tests/shims/*.c).
TEST_SHIMS := $(patsubst tests/shims/%.c,$(BUILD)/tests/shims/%.so,$(wildcard tests/shims/*.c))
all: $(TEST_SHIMS)
$(TEST_SHIMS): $(BUILD)/tests/shims/%.so: tests/shims/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -I/usr/include/postgresql -fPIC -shared -o $@ $< -ldl

# dcmfs-codecbench -R: reference codecs (tools/codecbench/), CharLS and OpenJPH
DEBIAN_PACKAGES += libcharls-dev libopenjph-dev
CODECBENCH_OBJ := $(patsubst %,$(BUILD)/%.o,$(basename $(wildcard tools/codecbench/*.c tools/codecbench/*.cc)))
$(BUILD)/dcmfs-codecbench: $(BUILD)/tools/dcmfs-codecbench.o $(CODECBENCH_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcharls -lopenjph

# The servers' probe links the PostgreSQL and Ceph client libraries (issue 13).
$(BUILD)/tests/tools/dcmfs-servers-probe.o: CFLAGS += -I$(shell pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)
$(BUILD)/tests/tools/dcmfs-servers-probe: LDLIBS += -lpq -lrados

# Install what is missing (apt-get update first: a fresh machine's lists may be empty).
deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "make deps: need root to install:$$missing" >&2; exit 1; fi; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

check: deps
	$(MAKE) all
	BUILD=$(BUILD) tests/run-unit $(UNIT_BIN)
	BUILD=$(abspath $(BUILD)) prove -v tests/system/

# The mount tests with every store they make distributed: one PostgreSQL and
# one Ceph for the run (tests/run-distributed; SCALING.md).  Long: not in check.
check-distributed: deps
	$(MAKE) all
	BUILD=$(abspath $(BUILD)) tests/run-distributed -v

bench: deps
	$(MAKE) all
	BUILD=$(abspath $(BUILD)) tools/bench.sh

# the scale benchmark of issue 12 (hours at 10M; see BENCHMARKS.md, Scale):
# BENCH_SCALE_N, BENCH_SCALE_CORPUS, BENCH_SCALE_DIR (tools/bench/scale.sh)
bench-scale: deps
	$(MAKE) all
	BUILD=$(abspath $(BUILD)) tools/bench/scale.sh

demo: deps
	$(MAKE) all
	BUILD=$(abspath $(BUILD)) tools/demo.sh

# ---- fuzzing (clang + libFuzzer; not part of make check) ----
# The index/ sources are compiled again with clang and the sanitizers into
# build/fuzz; corpora are seeded there at run time, never in the repository.
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
FUZZ_DIR := build/fuzz
FUZZ_FLAGS := -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=undefined -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
	-Iindex $(PKG_CFLAGS) -Wno-unknown-attributes -Wno-ignored-attributes
# deid.c needs the C++ shim and GDCM: not part of what the fuzzers link.
FUZZ_OBJ := $(patsubst index/%.c,$(FUZZ_DIR)/obj/%.o,$(filter-out index/deid.c,$(INDEX_SRC)))
FUZZ_TARGETS := $(FUZZ_DIR)/fuzz_dicom $(FUZZ_DIR)/fuzz_codec $(FUZZ_DIR)/fuzz_record

$(FUZZ_DIR)/obj/%.o: index/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS) -lpthread -lm

$(FUZZ_DIR)/codec-seeds: tests/fuzz/codec_seeds.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIB) $(LDLIBS)

fuzz-build: $(FUZZ_TARGETS) $(FUZZ_DIR)/codec-seeds

# clang and its libFuzzer runtime are needed by make fuzz only, not by make check.
FUZZ_PACKAGES := clang libclang-rt-14-dev
fuzz-deps:
	@missing=""; for p in $(FUZZ_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "make fuzz: need root to install:$$missing" >&2; exit 1; fi; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

fuzz: deps fuzz-deps
	$(MAKE) all
	$(MAKE) fuzz-build
	tests/fuzz/run-fuzz.sh $(abspath $(FUZZ_DIR)) $(FUZZ_SECONDS)

# ---- crash and corruption harness (a short run is in make check: t0300) ----
TORTURE_SECONDS ?= 600
torture: deps
	$(MAKE) all
	BUILD=$(abspath $(BUILD)) tests/torture/torture.sh --seconds $(TORTURE_SECONDS)

PREFIX ?= /usr/local
DESTDIR ?=
UNITDIR ?= /etc/systemd/system
SYSCONFDIR ?= /etc
# Installs the programs, the man pages, the systemd units (with their paths
# pointing to PREFIX), the storescp front door and example configuration in
# SYSCONFDIR/dcmfs (kept when there); mount.fuse3 finds dcmfs in
# $(PREFIX)/bin for fstab.  make deb installs with PREFIX=/usr.
INSTALLED_BIN := dcmfs dcmfsctl dcmfs-scan
INSTALLED_UNITS := dcmfs@.service dcmfs-storescp@.service
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man8 \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(PREFIX)/lib/dcmfs $(DESTDIR)$(SYSCONFDIR)/dcmfs
	install -m 0755 $(addprefix $(BUILD)/,$(INSTALLED_BIN)) $(DESTDIR)$(PREFIX)/bin/
	install -m 0755 tools/dcmfs-extract.py $(DESTDIR)$(PREFIX)/bin/dcmfs-extract
	install -m 0755 packaging/dcmfs-storescp $(DESTDIR)$(PREFIX)/lib/dcmfs/
	install -m 0644 $(DEID_SHIM) $(DESTDIR)$(PREFIX)/lib/dcmfs/
	install -m 0644 packaging/dcmfs.8 packaging/dcmfsctl.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	for u in $(INSTALLED_UNITS); do \
		sed -e 's|/usr/bin/|$(PREFIX)/bin/|' -e 's|/usr/lib/dcmfs/|$(PREFIX)/lib/dcmfs/|' \
			-e 's|/etc/dcmfs/|$(SYSCONFDIR)/dcmfs/|' packaging/$$u >$(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	for f in packaging/etc/*; do \
		[ -e $(DESTDIR)$(SYSCONFDIR)/dcmfs/$${f##*/} ] || \
			install -m 0644 $$f $(DESTDIR)$(SYSCONFDIR)/dcmfs/ || exit 1; \
	done

# Configuration in SYSCONFDIR/dcmfs stays: it may have been edited.
uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(INSTALLED_BIN) dcmfs-extract) \
		$(DESTDIR)$(PREFIX)/lib/dcmfs/dcmfs-storescp $(DESTDIR)$(PREFIX)/lib/dcmfs/dcmfs-deid-gdcm.so \
		$(DESTDIR)$(PREFIX)/share/man/man8/dcmfs.8 $(DESTDIR)$(PREFIX)/share/man/man8/dcmfsctl.8 \
		$(addprefix $(DESTDIR)$(UNITDIR)/,$(INSTALLED_UNITS))
	-rmdir $(DESTDIR)$(PREFIX)/lib/dcmfs 2>/dev/null

# A binary Debian package, build/dcmfs_<version>_<arch>.deb (packaging/debian/build-deb).
deb: all
	packaging/debian/build-deb $(BUILD)

clean:
	rm -rf build

.PHONY: all deps check check-distributed bench bench-scale demo clean install uninstall deb fuzz fuzz-build fuzz-deps torture
.SECONDARY:
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

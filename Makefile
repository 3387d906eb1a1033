# honeytrap-rs: build, test and install.
#
#   make                 release build (cargo build --release --locked)
#   make test            formatting, lints, every test, each fuzz target for TEST_FUZZ_SECONDS
#                        (10) and the full stress run (root); a test that cannot run here (not
#                        root, a server or cargo-fuzz missing) says SKIP and passes, or fails
#                        with HONEYTRAP_REQUIRE_ALL_TESTS=1 (CI)
#   make fuzz            the fuzz targets of tests/fuzz, FUZZ_SECONDS (20) each
#   make bench           capture benchmarks of the release binary (root; prints a Markdown
#                        table and writes target/bench-capture.md)
#   make stress          the release binary under floods, kills, a full disk and hostile
#                        servers, asserting it survives and loses nothing (root; writes
#                        target/stress.md); STRESS=short for a shortened form
#   make install         install under $(PREFIX); DESTDIR for staging; never overwrites an
#                        existing honeytrap.conf or ports.conf
#   make uninstall       remove what install put there (configuration files are kept)
#   make FEATURES=postgres  cargo features to build with, space-separated (default: none
#                        beyond the crate's defaults; postgres adds the submitPostgres output
#                        and its PostgreSQL client); make test always tests every feature
#   make STREAM_MON=pcap default connection monitor of the binary, nfq when not given (like the
#                        C honeytrap's configure --with-stream-mon); -i, -a, -p and the monitor
#                        key still choose at run time

PREFIX        ?= /usr/local
SBINDIR       ?= $(PREFIX)/sbin
MANDIR        ?= $(PREFIX)/share/man
DATADIR       ?= $(PREFIX)/share
SYSCONFDIR    ?= $(PREFIX)/etc
LOCALSTATEDIR ?= $(PREFIX)/var
LOGDIR        ?= $(LOCALSTATEDIR)/log
RUNDIR        ?= $(LOCALSTATEDIR)/run
DESTDIR       ?=
# Default monitor compiled into the binary (read by cli.rs through HONEYTRAP_STREAM_MON).
STREAM_MON    ?= nfq
override STREAM_MON := $(if $(strip $(STREAM_MON)),$(strip $(STREAM_MON)),nfq)
ifneq ($(filter-out nfq pcap,$(STREAM_MON))$(words $(STREAM_MON)),1)
$(error STREAM_MON must be nfq or pcap, not '$(STREAM_MON)')
endif
# Exported for every cargo run (build, lint, test), so that the tests check the binary that
# is built and cargo does not rebuild for a changed environment.
export HONEYTRAP_STREAM_MON := $(STREAM_MON)

CARGO   ?= cargo
# Optional parts compiled in (Cargo.toml [features]); every cargo run below uses the same set.
FEATURES ?=
CARGO_FEATURES = $(if $(strip $(FEATURES)),--features "$(strip $(FEATURES))")
INSTALL ?= install
# The binary to install and the target that makes it (tests install a debug build: BUILD=).
BIN     ?= target/release/honeytrap
BUILD   ?= build
CONFDIR  = $(SYSCONFDIR)/honeytrap
SHAREDIR = $(DATADIR)/honeytrap
STATEDIR = $(LOCALSTATEDIR)/lib/honeytrap

SUBST = sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	-e 's|@LOCALSTATEDIR@|$(LOCALSTATEDIR)|g' -e 's|@DATADIR@|$(DATADIR)|g' -e 's|@LOGDIR@|$(LOGDIR)|g' -e 's|@RUNDIR@|$(RUNDIR)|g'

.PHONY: all build test lint fuzz bench stress install uninstall clean

all: build

build:
	HONEYTRAP_STREAM_MON=$(STREAM_MON) $(CARGO) build --release --locked $(CARGO_FEATURES)

# Clippy on every feature, then on the default features alone and on none, so that code
# behind a feature switch is checked both ways.
lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets --all-features -- -D warnings
	$(CARGO) clippy --locked --all-targets -- -D warnings
	$(CARGO) clippy --locked --all-targets --no-default-features -- -D warnings

# The fuzz targets run shorter here than in `make fuzz`: they guard against regressions, and
# the stress run (about 4 minutes) fits the time a test run may take.
TEST_FUZZ_SECONDS ?= 10
test: lint
	$(CARGO) test --locked --all-features -- --test-threads=2
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(TEST_FUZZ_SECONDS)
	$(MAKE) --no-print-directory stress STRESS=full

# Every fuzz target of tests/fuzz for FUZZ_SECONDS each (cargo-fuzz, libFuzzer with address
# sanitizer; RUSTC_BOOTSTRAP lets the stable toolchain take the sanitizer flags). Each starts
# from its committed seeds (tests/fuzz/corpus/<target>, read only) and keeps what it finds in
# target/fuzz-corpus/<target>. A crash fails with the libFuzzer report; without cargo-fuzz
# this says SKIP and does nothing, or fails with HONEYTRAP_REQUIRE_ALL_TESTS=1 (as every test
# that would skip).
FUZZ_SECONDS ?= 20
FUZZ_TARGETS  = config detect link nfnetlink extract url decode_base64 decode_unicode decode_vnc \
	json ftp_replies tftp_packets http_replies
fuzz:
	@if $(CARGO) fuzz --version >/dev/null 2>&1; then \
		for t in $(FUZZ_TARGETS); do \
			mkdir -p target/fuzz-corpus/$$t; \
			RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run --fuzz-dir tests/fuzz $$t \
				target/fuzz-corpus/$$t tests/fuzz/corpus/$$t -- \
				-max_total_time=$(FUZZ_SECONDS) >target/fuzz-$$t.log 2>&1 || \
				{ tail -n 60 target/fuzz-$$t.log; echo "fuzz $$t: FAILED (target/fuzz-$$t.log)"; exit 1; }; \
			echo "fuzz $$t: $$(grep -o 'Done [0-9]* runs in [0-9]* second(s)' target/fuzz-$$t.log)"; \
		done; \
	else \
		case "$$HONEYTRAP_REQUIRE_ALL_TESTS" in \
		""|0) echo "SKIP fuzz: cargo-fuzz is not installed (cargo install cargo-fuzz; .ci/run does)";; \
		*) echo "fuzz: FAILED: cargo-fuzz is not installed (HONEYTRAP_REQUIRE_ALL_TESTS is set: nothing may skip)"; \
			exit 1;; \
		esac; \
	fi

# Needs root (network namespaces, iptables); says so and does nothing otherwise. Results are
# printed as a Markdown table and written to target/bench-capture.md.
bench: build
	$(CARGO) bench --locked $(CARGO_FEATURES) --bench capture

# Needs root (namespaces, iptables, a tmpfs mount); without it says why and exits 0 (1 under
# HONEYTRAP_REQUIRE_ALL_TESTS=1). Exits 1 when an assertion fails; the table of results is
# printed and written to target/stress.md. STRESS=full (default) or short.
STRESS ?= full
stress: build
	@case "$(STRESS)" in full|short) ;; *) echo "STRESS must be full or short, not '$(STRESS)'"; exit 2 ;; esac
	HT_STRESS=$(STRESS) $(CARGO) bench --locked $(CARGO_FEATURES) --bench stress

install: $(BUILD)
	$(INSTALL) -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(CONFDIR)/responses $(DESTDIR)$(SHAREDIR) \
		$(DESTDIR)$(STATEDIR)/attacks $(DESTDIR)$(STATEDIR)/downloads $(DESTDIR)$(LOGDIR)/honeytrap
	$(INSTALL) -m 0755 $(BIN) $(DESTDIR)$(SBINDIR)/honeytrap
	$(INSTALL) -m 0644 man/honeytrap.8 $(DESTDIR)$(MANDIR)/man8/honeytrap.8
	$(INSTALL) -m 0644 man/honeytrap.conf.5 $(DESTDIR)$(MANDIR)/man5/honeytrap.conf.5
	for f in contrib/responses/*_tcp contrib/responses/*_udp; do \
		[ -f "$$f" ] && $(INSTALL) -m 0644 "$$f" $(DESTDIR)$(CONFDIR)/responses/ ; done; true
	for f in honeytrap.conf ports.conf; do \
		$(SUBST) contrib/$$f.dist > $(DESTDIR)$(CONFDIR)/$$f.dist && chmod 0644 $(DESTDIR)$(CONFDIR)/$$f.dist; \
		[ -e $(DESTDIR)$(CONFDIR)/$$f ] || $(INSTALL) -m 0644 $(DESTDIR)$(CONFDIR)/$$f.dist $(DESTDIR)$(CONFDIR)/$$f; \
	done
	for f in honeytrap.init honeytrap.service honeytrap.logrotate honeytrap.sysusers honeytrap.tmpfiles; do \
		[ -f contrib/$$f ] && $(SUBST) contrib/$$f > $(DESTDIR)$(SHAREDIR)/$$f ; done; true
	chmod 0755 $(DESTDIR)$(SHAREDIR)/honeytrap.init 2>/dev/null || true
	$(INSTALL) -m 0644 contrib/honeytrap.sql $(DESTDIR)$(SHAREDIR)/honeytrap.sql

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/honeytrap $(DESTDIR)$(MANDIR)/man8/honeytrap.8 $(DESTDIR)$(MANDIR)/man5/honeytrap.conf.5
	rm -f $(DESTDIR)$(CONFDIR)/honeytrap.conf.dist $(DESTDIR)$(CONFDIR)/ports.conf.dist
	rm -rf $(DESTDIR)$(CONFDIR)/responses $(DESTDIR)$(SHAREDIR)
	-rmdir $(DESTDIR)$(STATEDIR)/attacks $(DESTDIR)$(STATEDIR)/downloads $(DESTDIR)$(STATEDIR) 2>/dev/null
	@echo "Kept $(DESTDIR)$(CONFDIR)/honeytrap.conf and ports.conf, if present."

clean:
	$(CARGO) clean

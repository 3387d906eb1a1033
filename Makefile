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
#   make install         install the binary `make` built under $(PREFIX) (DESTDIR for staging):
#                        never builds, never overwrites an existing honeytrap.conf,
#                        ports.conf or edited response, creates every directory the
#                        configuration names and, as root without DESTDIR, gives those the
#                        daemon writes to RUN_USER
#   make install-tpot    the same in T-Pot's layout (/opt/honeytrap, var/attacks, var/log,
#                        pid directory /tmp/honeytrap, user honeytrap); build it with
#                        `make PREFIX=/opt/honeytrap` first; uninstall-tpot removes it
#   make uninstall       remove the files install put there that nobody changed since (its
#                        install-manifest), then its directories that are empty
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
# honeytrap's own directories below those: logs, pid file, saved attacks and downloads.
HT_LOGDIR     ?= $(LOGDIR)/honeytrap
HT_RUNDIR     ?= $(RUNDIR)/honeytrap
HT_STATEDIR   ?= $(LOCALSTATEDIR)/lib/honeytrap
# The user and group of the installed configuration (`user`, `group`): owners of the
# directories the daemon writes to, when installing as root without DESTDIR.
RUN_USER      ?= nobody
RUN_GROUP     ?= nogroup
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
# The configuration file the binary reads when no -C is given (DEFAULT_CONFIG_FILE in
# src/config/mod.rs): $(SYSCONFDIR)/honeytrap/honeytrap.conf, as with autoconf's sysconfdir.
# Exported like HONEYTRAP_STREAM_MON; a plain `cargo build` keeps /etc/honeytrap/honeytrap.conf.
export HONEYTRAP_CONFIG_FILE := $(SYSCONFDIR)/honeytrap/honeytrap.conf

CARGO   ?= cargo
# Optional parts compiled in (Cargo.toml [features]); every cargo run below uses the same set.
FEATURES ?=
CARGO_FEATURES = $(if $(strip $(FEATURES)),--features "$(strip $(FEATURES))")
# Further flags of `make build` (the install test builds with --no-default-features).
CARGO_FLAGS ?=
# The cargo profile and target directory of `make build`, and the binary it makes there,
# which `make install` installs.
PROFILE    ?= release
TARGET_DIR ?= target
BIN        ?= $(TARGET_DIR)/$(if $(filter dev test,$(PROFILE)),debug,$(PROFILE))/honeytrap

.PHONY: all build test lint fuzz bench stress install install-tpot uninstall uninstall-tpot clean

all: build

# Beside the binary, the default configuration path it was built with: `make install`
# refuses a binary built for another SYSCONFDIR.
build:
	$(CARGO) build --locked --profile $(PROFILE) --target-dir $(TARGET_DIR) $(CARGO_FEATURES) $(CARGO_FLAGS)
	printf '%s\n' '$(HONEYTRAP_CONFIG_FILE)' >$(BIN).config-path

# Clippy on every feature, then on the default features alone and on none, so that code
# behind a feature switch is checked both ways.
lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets --all-features -- -D warnings
	$(CARGO) clippy --locked --all-targets -- -D warnings
	$(CARGO) clippy --locked --all-targets --no-default-features -- -D warnings

# The fuzz targets run shorter here than in `make fuzz`: they guard against regressions, and
# the stress run (about 4 minutes) fits the time a test run may take.
TEST_FUZZ_SECONDS ?= 8
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
	json ftp_replies tftp_packets http_replies replay analysis shellcode
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

# install and uninstall: contrib/install.sh, with every directory of the layout.
INSTALL_ENV = DESTDIR='$(DESTDIR)' BIN='$(BIN)' SBINDIR='$(SBINDIR)' MANDIR='$(MANDIR)' \
	DATADIR='$(DATADIR)' SYSCONFDIR='$(SYSCONFDIR)' LOCALSTATEDIR='$(LOCALSTATEDIR)' \
	LOGDIR='$(LOGDIR)' RUNDIR='$(RUNDIR)' HT_LOGDIR='$(HT_LOGDIR)' HT_RUNDIR='$(HT_RUNDIR)' \
	HT_STATEDIR='$(HT_STATEDIR)' RUN_USER='$(RUN_USER)' RUN_GROUP='$(RUN_GROUP)'

install:
	@$(INSTALL_ENV) sh contrib/install.sh install

uninstall:
	@$(INSTALL_ENV) sh contrib/install.sh uninstall

# T-Pot's layout: prefix /opt/honeytrap, configuration in etc/honeytrap, attacks and
# downloads in var/attacks and var/downloads, every log in var/log, the pid directory
# /tmp/honeytrap (T-Pot passes -P /tmp/honeytrap/honeytrap.pid), user and group honeytrap.
TPOT_PREFIX ?= /opt/honeytrap
TPOT_PIDDIR ?= /tmp/honeytrap
TPOT_USER   ?= honeytrap
TPOT_GROUP  ?= honeytrap
TPOT_LAYOUT  = PREFIX='$(TPOT_PREFIX)' HT_LOGDIR='$(TPOT_PREFIX)/var/log' \
	HT_STATEDIR='$(TPOT_PREFIX)/var' HT_RUNDIR='$(TPOT_PIDDIR)' \
	RUN_USER='$(TPOT_USER)' RUN_GROUP='$(TPOT_GROUP)'

install-tpot:
	@$(MAKE) --no-print-directory install $(TPOT_LAYOUT)

uninstall-tpot:
	@$(MAKE) --no-print-directory uninstall $(TPOT_LAYOUT)

clean:
	$(CARGO) clean

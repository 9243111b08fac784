# Every target installs the Debian packages it needs first, so each works on a fresh machine.
SWIFT ?= swift
DEBS := libmnl-dev libnftnl-dev libsodium-dev libsqlite3-dev libssl-dev pkg-config \
        wireguard-go wireguard-tools nftables iproute2 iputils-ping socat ncat \
        python3 python3-cryptography python3-venv hyperfine iperf3 haproxy openssl curl wrk procps util-linux jq \
        qemu-system-x86 busybox-static cpio xz-utils linux-image-amd64 postgresql \
        systemd binutils
# Release binaries for the VM (test-kernel, bench-kernel) and the benchmarks: the Swift runtime
# linked in, so only the C libraries and libc travel into the VM's initramfs.
RELEASE := $(SWIFT) build -c release --static-swift-stdlib
# Every module a target imports must be declared in Package.swift (checked on each debug build).
IMPORT_CHECK := --explicit-target-dependency-import-check error
# Everything swift-format keeps in shape (.swift-format); `make test` fails on any finding.
FORMAT_PATHS := Package.swift Sources Tests netns-tests/NetnsTests

.PHONY: deps build test test-api lint test-kernel bench-kernel release package test-package demo bench format clean

deps:
	@missing=$$(for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: deps
	$(SWIFT) build $(IMPORT_CHECK)

# The kernel WireGuard path runs in a VM (qemu and Debian's kernel, both from `make deps`).
# When it cannot run, the reason is printed and `make test` fails, unless SKIP_KERNEL_TEST=1.
# The store's and controller's tests run on SQLite and on a throwaway PostgreSQL started for them
# (netns-tests/lib/postgres.sh); without one they fail unless OVERLAY_SKIP_POSTGRES=1. The
# PostgreSQL run is a second invocation: its blocking store calls would otherwise hold the test
# process's few cooperative threads and stall every timing-sensitive test beside them. Tests run
# one at a time for the same reason: the long, blocking ones (fuzzers, the authorization matrix)
# held both cooperative threads of a 2-core machine for 20 s and broke the deadline tests.
# test-package comes before test-kernel: its release build of the agent is the one the VM takes.
test: deps lint
	$(SWIFT) build --build-tests $(IMPORT_CHECK)
	OVERLAY_SKIP_POSTGRES=1 $(SWIFT) test --skip-build --no-parallel
	netns-tests/lib/postgres.sh run $(SWIFT) test --skip-build --no-parallel --filter 'OverlayControllerTests|ReplicaTests'
	examples/systemd/verify.sh
	netns-tests/api-fuzz.sh
	netns-tests/run-all.sh
	$(MAKE) --no-print-directory test-package
	@if reason=$$(netns-tests/vm/run.sh check); then $(MAKE) --no-print-directory test-kernel; \
	elif [ "$${SKIP_KERNEL_TEST:-0}" = 1 ]; then echo "$$reason (accepted: SKIP_KERNEL_TEST=1)"; \
	else echo "$$reason"; echo "make test: FAILED: the kernel path was not tested (set SKIP_KERNEL_TEST=1 to accept the skip)"; exit 1; fi

# The API fuzzed from docs/api.yaml by schemathesis (from PyPI, into .build-venv) against a live
# overlayd on loopback: no 5xx, nothing outside the description, no database change on a refusal.
test-api: deps
	$(SWIFT) build --product overlayd $(IMPORT_CHECK)
	$(SWIFT) build --product overlayctl $(IMPORT_CHECK)
	netns-tests/api-fuzz.sh

release: deps
	$(RELEASE) --product overlay-agent
	$(RELEASE) --product overlay-bench
	$(RELEASE) --product overlayctl

# The Debian package (.build/package/overlay_VERSION_ARCH.deb): the three programs built like
# `release`, the systemd units, the docs. test-package unpacks it and runs the programs from there.
package: deps
	$(RELEASE) --product overlayd
	$(RELEASE) --product overlayctl
	$(RELEASE) --product overlay-agent
	packaging/build-deb.sh

test-package: package
	packaging/test-deb.sh "$$(ls -t .build/package/overlay_*.deb | head -n1)"

# Debian's kernel under qemu (TCG): two nodes' agents with --wireguard kernel and auto.
# The console is kept in .build-vm/console-test.log. Only the agent goes into the VM, so only it
# is built for release; the plans are written on the host by the debug overlayctl.
test-kernel: deps
	$(RELEASE) --product overlay-agent
	$(SWIFT) build --product overlayctl $(IMPORT_CHECK)
	CTL=.build/debug/overlayctl netns-tests/vm/run.sh test

# overlay-bench wg in kernel mode inside the VM (software emulation: only the ratios count).
bench-kernel: release
	netns-tests/vm/run.sh bench

# The operator's session (plans, topology, apply), then live overlays in simulated nodes (root).
demo: build
	examples/demo.sh
	examples/live-demo.sh

bench: deps
	$(RELEASE) --product overlay-bench
	$(RELEASE) --product overlayd
	.build/release/overlay-bench all
	@if [ "$$(id -u)" = 0 ]; then netns-tests/lib/postgres.sh run .build/release/overlay-bench replicas; \
	else echo "overlay-bench replicas: skipped (needs root for a throwaway PostgreSQL)"; fi
	$(SWIFT) build
	@if [ "$$(id -u)" = 0 ]; then netns-tests/bench-convergence.sh && netns-tests/bench-gateway.sh; \
	else echo "bench-convergence, bench-gateway: skipped (need root)"; fi
	@if [ "$$(id -u)" = 0 ]; then netns-tests/bench-throughput.sh; else echo "bench-throughput: skipped (need root)"; fi

# Rewrites the sources in the committed style.
format:
	$(SWIFT) format format --in-place --recursive --parallel $(FORMAT_PATHS)

# Checks it without changing anything (part of `make test`).
lint:
	$(SWIFT) format lint --strict --recursive --parallel $(FORMAT_PATHS)

clean:
	rm -rf .build .build-vm

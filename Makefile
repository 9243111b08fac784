# Every target installs the Debian packages it needs first, so each works on a fresh machine.
SWIFT ?= swift
DEBS := libmnl-dev libnftnl-dev libsodium-dev libsqlite3-dev pkg-config \
        wireguard-go wireguard-tools nftables iproute2 iputils-ping socat ncat \
        python3 python3-cryptography hyperfine iperf3 haproxy procps util-linux jq

.PHONY: deps build test unit-test netns-test demo bench format clean

deps:
	@missing=$$(for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: deps
	$(SWIFT) build

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	netns-tests/run-all.sh

# The operator's session (plans, topology, apply), then live overlays in simulated nodes (root).
demo: build
	examples/demo.sh
	examples/live-demo.sh

bench: deps
	$(SWIFT) build -c release --product overlay-bench
	$(SWIFT) build -c release --product overlayd
	.build/release/overlay-bench all

clean:
	rm -rf .build

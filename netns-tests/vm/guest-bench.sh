#!/bin/sh
# In the guest: WireGuard peer programming on the kernel's WireGuard, library against `wg setconf`
# (overlay-bench wg, kernel mode). Software emulation: only the ratios mean anything.
export WG_BENCH_BACKEND=kernel WG_BENCH_RUNS=${WG_BENCH_RUNS:-5}
if overlay-bench wg; then echo "PASS: kernel WireGuard benchmark ran"; else echo "FAIL: kernel WireGuard benchmark"; fi

#!/usr/bin/env bash
# Installs what sr6 needs that is missing: the one list of the project's
# Debian packages, grouped by what needs them. `make demo`, `make test`,
# `make bench-lab` and .ci/run call it before anything else.
#
#   scripts/setup.sh demo|test|bench|gen ...   (several groups may be given)
#
# With everything installed it is a fast no-op (one dpkg-query call, no
# network). Otherwise, as root, it runs `apt-get update` once and one
# `apt-get install` of exactly the missing packages. Not root, or no
# apt-get: it exits non-zero and prints the command to run.
#
# It runs only bash builtins besides id, dpkg-query and apt-get, so that a
# test can stub those three on PATH (internal/testutil/setup_test.go).
set -euo pipefail

# What each group needs, and why (docs/testing.md has the same table).
#   demo:  ip (iproute2) for namespaces, nft for loss, tcpdump for `sr6 lab
#          capture`, ping and tcpdump in scripts/demo.sh.
#   test:  the demo's, plus FRR for `routing: isis`, iperf3 for the rate and
#          loss-overhead tests, etcd for the shared-store tests, procps
#          (sysctl, ps), and make and git for `make test` itself (lint lists
#          files with git).
#   bench: Mininet, the reference `make bench-lab` compares sr6 with.
#   gen:   protoc for `make proto`; clang, llvm (llvm-strip) and libbpf
#          headers for `make bpf` (bpf2go). The generated files are
#          committed: nothing else needs these.
demo_packages=(iproute2 iputils-ping tcpdump nftables)
test_packages=("${demo_packages[@]}" frr iperf3 etcd-server procps make git)
bench_packages=(mininet)
gen_packages=(protobuf-compiler clang llvm libbpf-dev)

usage() {
	echo "usage: $0 demo|test|bench|gen ..." >&2
	exit 2
}

[ "$#" -gt 0 ] || usage
wanted=()
hint=()
for group in "$@"; do
	case "$group" in
	demo) wanted+=("${demo_packages[@]}") hint+=("make demo") ;;
	test) wanted+=("${test_packages[@]}") hint+=("make test") ;;
	bench) wanted+=("${bench_packages[@]}") hint+=("make bench-lab") ;;
	gen) wanted+=("${gen_packages[@]}") hint+=("make proto bpf") ;;
	*)
		echo "setup: unknown group $group; allowed: demo, test, bench, gen" >&2
		usage
		;;
	esac
done

# Go is not a Debian package here (go.mod wants a newer one than Debian
# ships): it must be on PATH, or where the official tarball puts it.
if ! command -v go >/dev/null 2>&1; then
	if [ -x /usr/local/go/bin/go ]; then
		export PATH="/usr/local/go/bin:$PATH"
	else
		echo "setup: Go is not installed: install the Go release go.mod names into /usr/local/go (or put its bin/ on PATH)" >&2
		exit 1
	fi
fi

# dpkg-query prints one line per installed-or-known package and nothing
# (but an error) for the ones it has never heard of.
declare -A installed=()
if command -v dpkg-query >/dev/null 2>&1; then
	while read -r pkg want ok state; do
		if [ "$ok" = ok ] && [ "$state" = installed ] && [ "$want" = install -o "$want" = hold ]; then
			installed[$pkg]=1
		fi
	done < <(dpkg-query -W -f='${Package} ${Status}\n' "${wanted[@]}" 2>/dev/null || true)
fi

missing=()
declare -A seen=()
for pkg in "${wanted[@]}"; do
	[ -z "${seen[$pkg]:-}" ] || continue
	seen[$pkg]=1
	[ -n "${installed[$pkg]:-}" ] || missing+=("$pkg")
done
[ "${#missing[@]}" -gt 0 ] || exit 0

install_cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
	echo "setup: sr6 needs these Debian packages, which are missing: ${missing[*]}" >&2
	echo "setup: this machine has no apt-get (or dpkg-query): install them with its package manager, then run ${hint[*]} again" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "setup: sr6 needs these Debian packages, which are missing: ${missing[*]}" >&2
	echo "setup: installing them needs root; run:" >&2
	echo "  sudo apt-get update && sudo $install_cmd" >&2
	echo "setup: or run the whole step as root: sudo ${hint[0]}" >&2
	exit 1
fi

echo "== setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Another apt run (a developer's, an unattended upgrade) may hold the lock:
# wait for it rather than fail.
apt-get -q -o DPkg::Lock::Timeout=300 update
apt-get -q -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${missing[@]}"

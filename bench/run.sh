#!/usr/bin/env bash
# The load benchmark: widgetgate against bare Caddy and nginx (see BENCHMARKS.md).
#
#   bench/run.sh smoke [flags]   # seconds; CI runs it (make bench-smoke)
#   bench/run.sh full  [flags]   # the whole measurement (make bench-load), ~35 minutes
#
# It installs wrk and nginx from Debian's apt when they are missing, builds
# the upstream and the driver, finds Vault with scripts/vault.sh, and runs
# bench/cmd/loadbench. Flags after the
# mode go to loadbench (`go run ./bench/cmd/loadbench -h` lists them).
# bin/widgetgate must exist (make build). loadbench pins itself, wrk and
# Vault on the first CPU it may use and the upstream and proxies on the
# second; with one CPU it runs unpinned and says so.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-smoke}
shift || true

# apt_install installs the Debian packages that are missing (as root, or
# through sudo when it is there). Same as .ci/run.
apt_install() {
	local missing=()
	for pkg in "$@"; do
		dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	local sudo=""
	[ "$(id -u)" -ne 0 ] && sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

apt_install wrk
# nginx-light is Debian 12's small build (it has the upstream keep-alive
# module); any installed nginx flavour will do.
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
	if apt-cache show nginx-light >/dev/null 2>&1; then apt_install nginx-light; else apt_install nginx; fi
fi

if [ ! -x bin/widgetgate ]; then
	echo "bench/run.sh: bin/widgetgate is missing: run make build first" >&2
	exit 1
fi
vault_bin=$(scripts/vault.sh)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/upstream" ./bench/upstream
go build -o "$tmp/loadbench" ./bench/cmd/loadbench
# Measure a private copy: a `make build` elsewhere (tests, another
# engineer) must not swap the binary between the phases of one run.
cp bin/widgetgate "$tmp/widgetgate"

BENCH_COMMAND="bench/run.sh $mode $*" "$tmp/loadbench" -mode "$mode" -widgetgate "$tmp/widgetgate" -upstream "$tmp/upstream" -vault "$vault_bin" "$@"

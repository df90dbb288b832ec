#!/usr/bin/env bash
# Prints the path of a Vault binary for the demo and the tests, building it
# once when none is found. Order: $VAULT_BIN; `vault` on PATH if >= 1.15;
# the cache ~/.cache/widgetgate/vault-<version>/vault; else build it there
# from the pinned tools module (tools/vault). The first build downloads
# ~4 GB of modules and takes 15-20 minutes on a 2-core machine; later runs
# reuse the cached binary.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
version=$(awk '$1 == "github.com/hashicorp/vault" && $2 ~ /^v/ {print $2; exit}' "$here/tools/vault/go.mod")
cache="${XDG_CACHE_HOME:-$HOME/.cache}/widgetgate/vault-$version"

if [ -n "${VAULT_BIN:-}" ]; then
	echo "$VAULT_BIN"
	exit 0
fi
if command -v vault >/dev/null 2>&1; then
	v=$(vault version 2>/dev/null | sed -n 's/^Vault v\([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
	if [ -n "$v" ] && [ "$(echo "$v" | awk '{print ($1 > 1 || ($1 == 1 && $2 >= 15))}')" = 1 ]; then
		command -v vault
		exit 0
	fi
fi
if [ -x "$cache/vault" ]; then
	echo "$cache/vault"
	exit 0
fi
echo "building Vault $version into $cache (first time only: 15-20 minutes on 2 cores)..." >&2
mkdir -p "$cache"
(cd "$here/tools/vault" && go build -trimpath -o "$cache/vault.tmp" github.com/hashicorp/vault) >&2
mv "$cache/vault.tmp" "$cache/vault"
echo "$cache/vault"

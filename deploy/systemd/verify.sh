#!/usr/bin/env bash
# make deploy-check's systemd step: systemd-analyze verify on both units
# (their binaries pointed at this machine's), which must print nothing
# (it exits 0 even on an unknown key or system call group), and
# systemd-analyze security --offline, which must rate them 2.0 or better
# (0 is best, 10 worst; --threshold counts tenths; they are 1.4 and 1.4
# as shipped).
# systemd-analyze is in Debian's systemd package. Without it this step is
# SKIPPED, loudly, and never reported as passing.
#   WIDGETGATE_BIN  the widgetgate binary (default: bin/widgetgate)
#   VAULT_BIN       the Vault binary (default: scripts/vault.sh's)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "deploy-check: SKIPPED: systemd-analyze is not installed (Debian package systemd);" >&2
	echo "deploy-check: SKIPPED: deploy/systemd/*.service were NOT verified." >&2
	exit 0
fi
widgetgate=${WIDGETGATE_BIN:-$repo/bin/widgetgate}
vault=${VAULT_BIN:-$("$repo/scripts/vault.sh")}
for bin in "$widgetgate" "$vault"; do
	[ -x "$bin" ] || { echo "verify.sh: $bin is not an executable" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for unit in widgetgate.service widgetgate-vault-agent.service; do
	sed -e "s|/usr/local/bin/widgetgate|$widgetgate|g" -e "s|/usr/bin/vault|$vault|g" "$here/$unit" >"$tmp/$unit"
done
cd "$tmp"
out=$(systemd-analyze verify --man=no widgetgate.service widgetgate-vault-agent.service 2>&1) || { echo "$out" >&2; exit 1; }
if [ -n "$out" ]; then
	echo "systemd-analyze verify found problems:" >&2
	echo "$out" >&2
	exit 1
fi
for unit in widgetgate.service widgetgate-vault-agent.service; do
	if ! sec=$(systemd-analyze security --offline=yes --threshold=20 "$unit" 2>&1); then
		echo "$sec" >&2
		echo "systemd-analyze security: $unit is rated worse than 2.0" >&2
		exit 1
	fi
	echo "deploy-check: $(grep -a 'Overall exposure' <<<"$sec" | sed 's/^→ //')"
done
echo "deploy-check: systemd-analyze verify: deploy/systemd/*.service OK ($(systemd-analyze --version | head -1))"

#!/usr/bin/env bash
# The Vault side of a widgetgate deployment, for the security team: the KV
# version 2 mount, widgetgate's policy (widgetgate.hcl), and how widgetgate
# logs in:
#
#   setup.sh kubernetes   the Kubernetes auth method and a role bound to
#                         widgetgate's service account (deploy/kubernetes)
#   setup.sh approle      an AppRole for Vault Agent on a host, with its
#                         role id and a secret id written to $OUT_DIR
#                         (deploy/systemd)
#
# Run it with a Vault token allowed to manage mounts, auth methods and
# policies (VAULT_ADDR, VAULT_TOKEN, VAULT_CACERT as usual). It is safe to
# run again: each step is skipped or rewritten in place (approle: a new
# secret id each run). deploy/kubernetes/README.md explains every step;
# tools/deploycheck (make deploy-check) runs both modes against a Vault dev
# server and logs in with the result.
#
# Settings (environment; the defaults match deploy/kubernetes and deploy/systemd):
#   KV_MOUNT            KV v2 mount, the Caddyfile's vault { mount }    (secret)
#   POLICY_FILE         the policy                                     (widgetgate.hcl next to this script)
#   ROLE                role name; Caddyfile vault { kubernetes { role } } (widgetgate)
# kubernetes:
#   K8S_AUTH_MOUNT      path of the Kubernetes auth method             (kubernetes)
#   K8S_HOST            the API server as Vault reaches it             (https://kubernetes.default.svc:443)
#   K8S_CA_CERT         file with the API server's CA                  (unset: Vault's own pod CA, when Vault runs in the cluster)
#   K8S_TOKEN_REVIEWER_JWT_FILE  Vault outside the cluster: a token of a service account bound to system:auth-delegator
#   NAMESPACE           widgetgate's namespace                         (widgetgate)
#   SERVICE_ACCOUNT     widgetgate's service account                   (widgetgate)
# approle:
#   APPROLE_MOUNT       path of the AppRole auth method                (approle)
#   OUT_DIR             where role-id and secret-id are written (0600) (./widgetgate-approle)
#   SECRET_ID_CIDRS     comma-separated CIDRs the secret id and tokens are bound to (unset: any)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mode=${1:-}
: "${KV_MOUNT:=secret}"
: "${POLICY_FILE:=$here/widgetgate.hcl}"
: "${ROLE:=widgetgate}"
: "${K8S_AUTH_MOUNT:=kubernetes}"
: "${K8S_HOST:=https://kubernetes.default.svc:443}"
: "${NAMESPACE:=widgetgate}"
: "${SERVICE_ACCOUNT:=widgetgate}"
: "${APPROLE_MOUNT:=approle}"
: "${OUT_DIR:=./widgetgate-approle}"
vault=${VAULT:-vault}
case "$mode" in
kubernetes | approle) ;;
*) echo "usage: $0 kubernetes|approle" >&2; exit 2 ;;
esac

# 1. The KV version 2 mount. An existing version 1 mount there is an error:
#    widgetgate needs versions for its check-and-set writes. (Lists are read
#    into a variable first: grep -q stopping early would fail the pipe.)
mounts=$("$vault" secrets list -format=json)
if ! grep -q "\"$KV_MOUNT/\"" <<<"$mounts"; then
	"$vault" secrets enable -path="$KV_MOUNT" -version=2 kv
else
	options=$("$vault" read -field=options "sys/mounts/$KV_MOUNT/tune" 2>/dev/null || true)
	case "$options" in
	*"version:2"*) ;;
	*) echo "setup.sh: $KV_MOUNT/ is mounted but is not KV version 2 (options: $options)" >&2; exit 1 ;;
	esac
fi

# 2. The policy: what widgetgate may read, write, list and delete.
"$vault" policy write widgetgate "$POLICY_FILE"

# 3. The login. Either way widgetgate's tokens carry only the policy
#    widgetgate (and Vault's default one), live 1 h and are renewed up to
#    24 h, after which a new login (widgetgate's, or Vault Agent's) follows.
auths=$("$vault" auth list -format=json)
if [ "$mode" = kubernetes ]; then
	# Vault checks each login's service account token with the API server's
	# TokenReview. Inside the cluster it uses its own pod's token and CA (its
	# service account needs the ClusterRole system:auth-delegator, which
	# Vault's Helm chart grants).
	if ! grep -q "\"$K8S_AUTH_MOUNT/\"" <<<"$auths"; then
		"$vault" auth enable -path="$K8S_AUTH_MOUNT" kubernetes
	fi
	config=(kubernetes_host="$K8S_HOST")
	if [ -n "${K8S_CA_CERT:-}" ]; then
		config+=(kubernetes_ca_cert=@"$K8S_CA_CERT")
	fi
	if [ -n "${K8S_TOKEN_REVIEWER_JWT_FILE:-}" ]; then
		config+=(token_reviewer_jwt=@"$K8S_TOKEN_REVIEWER_JWT_FILE" disable_local_ca_jwt=true)
	fi
	"$vault" write "auth/$K8S_AUTH_MOUNT/config" "${config[@]}"
	# Only the service account widgetgate of namespace widgetgate, and only
	# with a token issued for the audience "vault" (the pod's projected
	# token): an ordinary API token of that account is refused.
	"$vault" write "auth/$K8S_AUTH_MOUNT/role/$ROLE" \
		bound_service_account_names="$SERVICE_ACCOUNT" \
		bound_service_account_namespaces="$NAMESPACE" \
		audience=vault \
		token_policies=widgetgate \
		token_ttl=1h \
		token_max_ttl=24h
	echo "setup.sh: $KV_MOUNT/ (KV v2), policy widgetgate, auth/$K8S_AUTH_MOUNT role $ROLE for $NAMESPACE/$SERVICE_ACCOUNT"
else
	if ! grep -q "\"$APPROLE_MOUNT/\"" <<<"$auths"; then
		"$vault" auth enable -path="$APPROLE_MOUNT" approle
	fi
	bind=()
	if [ -n "${SECRET_ID_CIDRS:-}" ]; then
		bind=(secret_id_bound_cidrs="$SECRET_ID_CIDRS" token_bound_cidrs="$SECRET_ID_CIDRS")
	fi
	# The secret id does not expire and may be used any number of times:
	# Vault Agent logs in with it again whenever its token reaches its max
	# TTL. Rotate it by running this script again (a new secret id) and
	# destroying the old accessor (see deploy/systemd/README.md).
	"$vault" write "auth/$APPROLE_MOUNT/role/$ROLE" \
		token_policies=widgetgate \
		token_ttl=1h \
		token_max_ttl=24h \
		secret_id_ttl=0 \
		secret_id_num_uses=0 \
		"${bind[@]}"
	mkdir -p "$OUT_DIR"
	(umask 077
		"$vault" read -field=role_id "auth/$APPROLE_MOUNT/role/$ROLE/role-id" >"$OUT_DIR/role-id"
		"$vault" write -f -field=secret_id "auth/$APPROLE_MOUNT/role/$ROLE/secret-id" >"$OUT_DIR/secret-id")
	echo "setup.sh: $KV_MOUNT/ (KV v2), policy widgetgate, auth/$APPROLE_MOUNT role $ROLE; role-id and secret-id in $OUT_DIR"
fi

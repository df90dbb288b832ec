# widgetgate's Vault policy: vault policy write widgetgate widgetgate.hcl
#
# For the KV version 2 mount "secret" and the prefix "widgetgate" (the
# Caddyfile's vault { mount secret; prefix widgetgate }): change both words
# everywhere if yours differ. Each rule names the code that needs it
# (caddymodule/internal/vaultstore). KV v2 needs these capabilities:
#   read          GET    secret/data/<path>      (a read, with its version)
#   create        PUT    secret/data/<path>      when the secret does not exist yet
#   update        PUT    secret/data/<path>      when it exists (check-and-set writes too)
#   list          LIST   secret/metadata/<dir>/  (Vault adds the trailing slash)
#   delete        DELETE secret/metadata/<path>  (the secret with all its versions)
# Nothing else is used: no soft delete, undelete or destroy, nothing outside
# the prefix, no sys/ path (readiness's sys/health needs no token). Token
# renewal and lookup come from Vault's "default" policy, which roles attach
# unless told otherwise (token_no_default_policy).
# tools/deploycheck checks every rule against a real Vault: each operation
# widgetgate makes is allowed, and the ones it never makes are refused.

# Passports: read by calls and by the refresher; created by the admin API
# (check-and-set 0); rewritten with check-and-set by refresh, connect,
# disconnect and pasted credentials; listed by the refresher's scan and the
# admin API; deleted (all versions) by the admin API.
path "secret/data/widgetgate/passports/+" {
  capabilities = ["create", "read", "update"]
}
path "secret/metadata/widgetgate/passports/" {
  capabilities = ["list"]
}
path "secret/metadata/widgetgate/passports/+" {
  capabilities = ["delete"]
}

# Bindings (instance -> authKey -> passport): read by calls and by the
# readiness probe (binding "widgetgate-readiness-probe", which need not
# exist); written by the admin API (PUT api/bindings/{instance}); listed
# by it. widgetgate never deletes bindings (vault kv delete does, by hand).
path "secret/data/widgetgate/bindings/+" {
  capabilities = ["create", "read", "update"]
}
path "secret/metadata/widgetgate/bindings/" {
  capabilities = ["list"]
}

# Instance configurations (<instance>/<widgetId>): read by the context
# route, written and reset (deleted) by the admin API, which lists the
# instance folders.
path "secret/data/widgetgate/config/+/+" {
  capabilities = ["create", "read", "update"]
}
path "secret/metadata/widgetgate/config/" {
  capabilities = ["list"]
}
path "secret/metadata/widgetgate/config/+/+" {
  capabilities = ["delete"]
}

# Refresh leases: one per passport, only ever written with check-and-set
# (create the first time, update after). Never listed or deleted.
path "secret/data/widgetgate/leases/+" {
  capabilities = ["create", "read", "update"]
}

# OAuth connect flows: a state is created (check-and-set 0) when the flow
# starts, claimed at the callback (check-and-set on its version), then
# deleted. They may reach any replica.
path "secret/data/widgetgate/oauth-states/+" {
  capabilities = ["create", "read", "update"]
}
path "secret/metadata/widgetgate/oauth-states/+" {
  capabilities = ["delete"]
}

# Provider client credentials (client_id, client_secret): read to refresh
# and to connect. "create" only for importing a client secret found in a
# widget package (check-and-set 0: never over one already stored); without
# "update", such an import over an existing secret is refused by Vault
# (403) instead of by check-and-set, and widgetgate logs that it could not
# import it. Drop "create" if your packages never bundle a secret.
path "secret/data/widgetgate/providers/+" {
  capabilities = ["create", "read"]
}

# The HS256 caller-context secrets (current, previous): read every cache_ttl.
path "secret/data/widgetgate/context-keys" {
  capabilities = ["read"]
}

# The admin API's bearer token (widgetgate_admin token_vault): read.
path "secret/data/widgetgate/admin" {
  capabilities = ["read"]
}

# The key operator webhooks are signed with (webhooks { ... }): read.
path "secret/data/widgetgate/webhook" {
  capabilities = ["read"]
}

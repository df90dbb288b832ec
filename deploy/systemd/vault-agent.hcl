# /etc/widgetgate/vault-agent.hcl: Vault Agent for widgetgate, run by
# widgetgate-vault-agent.service. It logs in with an AppRole (deploy/vault/
# setup.sh approle makes it and writes role-id and secret-id), keeps the
# token renewed, logs in again when it reaches its max TTL, and writes it to
# the sink widgetgate's token_file reads. tools/deploycheck runs this file
# (paths moved to a temporary folder) against a Vault dev server.

# Where Vault is; VAULT_ADDR in the unit's environment overrides it.
vault {
  address = "https://vault.internal:8200"
  # ca_cert = "/etc/widgetgate/vault-ca.pem"
}

auto_auth {
  method "approle" {
    mount_path = "auth/approle"
    config = {
      # systemd credentials (LoadCredential= in the unit): copies of
      # /etc/widgetgate/agent/{role-id,secret-id} that only this service
      # can read, on a read-only file system.
      role_id_file_path                   = "/run/credentials/widgetgate-vault-agent.service/role-id"
      secret_id_file_path                 = "/run/credentials/widgetgate-vault-agent.service/secret-id"
      remove_secret_id_file_after_reading = false
    }
  }

  # The token, as plain text (widgetgate reads a bare token: no response
  # wrapping, no encryption), written to a temporary file and renamed, so
  # widgetgate never reads half of it. Group widgetgate-token (the unit's
  # Group=), mode 0640.
  sink "file" {
    config = {
      path = "/run/widgetgate-agent/token"
      mode = 0640
    }
  }
}

# Nothing else: no listener, no cache, no templates. widgetgate reads the
# token and talks to Vault itself.

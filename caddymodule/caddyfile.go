package caddymodule

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("widgetgate", parseGlobalOption)
	httpcaddyfile.RegisterHandlerDirective("widgetgate", parseHandlerDirective)
	// The handler answers everything under its route, so it sits where
	// other terminal handlers do.
	httpcaddyfile.RegisterDirectiveOrder("widgetgate", httpcaddyfile.Before, "reverse_proxy")
}

// parseGlobalOption sets up the widgetgate app:
//
//	{
//		widgetgate {
//			widgets_dir <path>
//			widgets_poll_interval <duration>
//			allow_http_upstreams
//			cache_ttl <duration>
//			cache_max_instances <n>
//			cache_max_passports <n>
//			token_expiry_skew <duration>
//			bind [<instance>] <authKey> <passportId>   # JSON: static_bindings[instance][authKey] = passportId
//			vault {
//				address <url>
//				token <token>
//				token_file <path>
//				namespace <namespace>
//				ca_cert <path>
//				tls_server_name <name>
//				mount <mount>
//				prefix <prefix>
//				timeout <duration>
//				max_connections <n>
//				approle {
//					mount <mount>
//					role_id <id> | role_id_file <path>
//					secret_id_file <path>
//					secret_id_wrapped
//				}
//				kubernetes {
//					mount <mount>
//					role <role>
//					token_file <path>
//				}
//			}
//			context_keys {
//				hmac_vault
//				public_key_files <pem>...
//			}
//			refresh {
//				disabled
//				scan_interval <duration>
//				concurrency <n>
//				lease_ttl <duration>
//				token_timeout <duration>
//				answer_timeout <duration>
//				default_lifetime <duration>
//				reconnect_backoff <duration>
//				forced_interval <duration>
//			}
//			upstream {
//				dial_timeout <duration>
//				response_header_timeout <duration>
//				timeout <duration>
//				idle_timeout <duration>
//				max_idle_conns_per_host <n>
//				ca_cert <path>
//				egress_allow <cidr|host>...
//				compression
//			}
//			response_cache {
//				ttl <duration>                           # every GET API; default 0: not cached
//				override <widgetId> <apiName> <duration> # JSON: overrides[] = {widget, api, ttl}
//				max_bytes <size>
//				max_entry_bytes <size>
//				stale_if_error <duration>
//			}
//			webhooks {
//				urls <url>...
//				retry_for <duration>
//			}
//			rate_limits {
//				max_retry_after <duration>
//				queue_timeout <duration>
//				concurrency <provider> <n>               # JSON: concurrency[provider] = n
//			}
//		}
//	}
func parseGlobalOption(d *caddyfile.Dispenser, _ any) (any, error) {
	app := new(App)
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "widgetgate", Value: caddyconfig.JSON(app, nil)}, nil
}

// UnmarshalCaddyfile sets up the app from Caddyfile tokens.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the option name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "widgets_dir":
			err = oneArg(d, &a.WidgetsDir)
		case "allow_http_upstreams":
			if d.NextArg() {
				return d.ArgErr()
			}
			a.AllowHTTPUpstreams = true
		case "cache_ttl":
			err = durationArg(d, &a.CacheTTL)
		case "cache_max_instances":
			err = intArg(d, &a.CacheMaxInstances)
		case "cache_max_passports":
			err = intArg(d, &a.CacheMaxPassports)
		case "token_expiry_skew":
			err = durationArg(d, &a.TokenExpirySkew)
		case "bind":
			args := d.RemainingArgs()
			instance := "*"
			switch len(args) {
			case 2:
			case 3:
				instance, args = args[0], args[1:]
			default:
				return d.Errf("bind takes [<instance>] <authKey> <passportId>")
			}
			if a.StaticBindings == nil {
				a.StaticBindings = map[string]map[string]string{}
			}
			if a.StaticBindings[instance] == nil {
				a.StaticBindings[instance] = map[string]string{}
			}
			a.StaticBindings[instance][args[0]] = args[1]
		case "vault":
			err = a.Vault.unmarshal(d)
		case "upstream":
			err = a.Upstream.unmarshal(d)
		case "refresh":
			err = a.Refresh.unmarshal(d)
		case "context_keys":
			err = a.ContextKeys.unmarshal(d)
		case "response_cache":
			err = a.ResponseCache.unmarshal(d)
		case "rate_limits":
			err = a.RateLimits.unmarshal(d)
		case "webhooks":
			if a.Webhooks == nil {
				a.Webhooks = new(WebhooksConfig)
			}
			err = a.Webhooks.unmarshal(d)
		case "widgets_poll_interval":
			err = durationArg(d, &a.WidgetsPollInterval)
		default:
			return d.Errf("unrecognized widgetgate option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (v *VaultConfig) unmarshal(d *caddyfile.Dispenser) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "address":
			err = oneArg(d, &v.Address)
		case "token":
			err = oneArg(d, &v.Token)
		case "token_file":
			err = oneArg(d, &v.TokenFile)
		case "namespace":
			err = oneArg(d, &v.Namespace)
		case "ca_cert":
			err = oneArg(d, &v.CACert)
		case "tls_server_name":
			err = oneArg(d, &v.TLSServerName)
		case "mount":
			err = oneArg(d, &v.Mount)
		case "prefix":
			err = oneArg(d, &v.Prefix)
		case "timeout":
			err = durationArg(d, &v.Timeout)
		case "max_connections":
			err = intArg(d, &v.MaxConnections)
		case "approle":
			v.AppRole = new(AppRoleConfig)
			err = v.AppRole.unmarshal(d)
		case "kubernetes":
			v.Kubernetes = new(KubernetesConfig)
			err = v.Kubernetes.unmarshal(d)
		default:
			return d.Errf("unrecognized vault option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *ContextKeysConfig) unmarshal(d *caddyfile.Dispenser) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "hmac_vault":
			if d.NextArg() {
				return d.ArgErr()
			}
			c.HMACVault = true
		case "public_key_files":
			files := d.RemainingArgs()
			if len(files) == 0 {
				return d.ArgErr()
			}
			c.PublicKeyFiles = append(c.PublicKeyFiles, files...)
		case "public_key_file":
			return renamed(d, "public_key_files")
		default:
			return d.Errf("unrecognized context_keys option %q", d.Val())
		}
	}
	return nil
}

func (c *AppRoleConfig) unmarshal(d *caddyfile.Dispenser) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "mount":
			err = oneArg(d, &c.Mount)
		case "role_id":
			err = oneArg(d, &c.RoleID)
		case "role_id_file":
			err = oneArg(d, &c.RoleIDFile)
		case "secret_id_file":
			err = oneArg(d, &c.SecretIDFile)
		case "secret_id_wrapped":
			if d.NextArg() {
				return d.ArgErr()
			}
			c.SecretIDWrapped = true
		default:
			return d.Errf("unrecognized approle option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *KubernetesConfig) unmarshal(d *caddyfile.Dispenser) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "mount":
			err = oneArg(d, &c.Mount)
		case "role":
			err = oneArg(d, &c.Role)
		case "token_file":
			err = oneArg(d, &c.TokenFile)
		default:
			return d.Errf("unrecognized kubernetes option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (w *WebhooksConfig) unmarshal(d *caddyfile.Dispenser) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "urls":
			urls := d.RemainingArgs()
			if len(urls) == 0 {
				return d.ArgErr()
			}
			w.URLs = append(w.URLs, urls...)
		case "retry_for":
			err = durationArg(d, &w.RetryFor)
		default:
			return d.Errf("unrecognized webhooks option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *RefreshConfig) unmarshal(d *caddyfile.Dispenser) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "disabled":
			if d.NextArg() {
				return d.ArgErr()
			}
			r.Disabled = true
		case "scan_interval":
			err = durationArg(d, &r.ScanInterval)
		case "concurrency":
			err = intArg(d, &r.Concurrency)
		case "lease_ttl":
			err = durationArg(d, &r.LeaseTTL)
		case "token_timeout":
			err = durationArg(d, &r.TokenTimeout)
		case "answer_timeout":
			err = durationArg(d, &r.AnswerTimeout)
		case "default_lifetime":
			err = durationArg(d, &r.DefaultLifetime)
		case "reconnect_backoff":
			err = durationArg(d, &r.ReconnectBackoff)
		case "forced_interval":
			err = durationArg(d, &r.ForcedInterval)
		default:
			return d.Errf("unrecognized refresh option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *ResponseCacheConfig) unmarshal(d *caddyfile.Dispenser) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "ttl":
			err = durationArg(d, &c.TTL)
		case "override":
			args := d.RemainingArgs()
			if len(args) != 3 {
				return d.Errf("override takes <widgetId> <apiName> <duration>")
			}
			ttl, perr := caddy.ParseDuration(args[2])
			if perr != nil || ttl < 0 {
				return d.Errf("override %s %s: want a duration such as 30s or 0, got %q", args[0], args[1], args[2])
			}
			c.Overrides = append(c.Overrides, TTLOverride{Widget: args[0], API: args[1], TTL: caddy.Duration(ttl)})
		case "max_bytes":
			err = sizeArg64(d, &c.MaxBytes)
		case "max_entry_bytes":
			err = sizeArg64(d, &c.MaxEntryBytes)
		case "stale_if_error":
			err = durationArg(d, &c.StaleIfError)
		default:
			return d.Errf("unrecognized response_cache option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *RateLimitsConfig) unmarshal(d *caddyfile.Dispenser) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "max_retry_after":
			err = durationArg(d, &r.MaxRetryAfter)
		case "queue_timeout":
			err = durationArg(d, &r.QueueTimeout)
		case "concurrency":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.Errf("concurrency takes <provider> <n>")
			}
			n, perr := strconv.Atoi(args[1])
			if perr != nil || n <= 0 {
				return d.Errf("concurrency %s: want a positive integer, got %q", args[0], args[1])
			}
			if r.Concurrency == nil {
				r.Concurrency = map[string]int{}
			}
			r.Concurrency[args[0]] = n
		default:
			return d.Errf("unrecognized rate_limits option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (u *UpstreamConfig) unmarshal(d *caddyfile.Dispenser) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "dial_timeout":
			err = durationArg(d, &u.DialTimeout)
		case "response_header_timeout":
			err = durationArg(d, &u.ResponseHeaderTimeout)
		case "timeout":
			err = durationArg(d, &u.Timeout)
		case "idle_timeout":
			err = durationArg(d, &u.IdleTimeout)
		case "max_idle_conns_per_host":
			err = intArg(d, &u.MaxIdleConnsPerHost)
		case "ca_cert":
			err = oneArg(d, &u.CACert)
		case "egress_allow":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			u.EgressAllow = append(u.EgressAllow, args...)
		case "compression":
			if d.NextArg() {
				return d.ArgErr()
			}
			u.Compression = true
		default:
			return d.Errf("unrecognized upstream option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// parseHandlerDirective sets up the handler:
//
//	widgetgate {
//		instance_header <name>
//		user_header <name>
//		max_request_bytes <size>
//		max_response_bytes <size>
//		max_params <n>
//		max_param_name_bytes <n>
//		max_param_value_bytes <size>
//		caller_context headers|signed
//		context_header <name>
//		context_audience <aud>
//		allowed_origins <origin>...
//	}
func parseHandlerDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	handler := new(Handler)
	err := handler.UnmarshalCaddyfile(h.Dispenser)
	return handler, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "instance_header":
			err = oneArg(d, &h.InstanceHeader)
		case "user_header":
			err = oneArg(d, &h.UserHeader)
		case "max_request_bytes":
			err = sizeArg(d, &h.MaxRequestBytes)
		case "max_response_bytes":
			var n int
			err = sizeArg(d, &n)
			h.MaxResponseBytes = int64(n)
		case "max_params":
			err = intArg(d, &h.MaxParams)
		case "max_param_name_bytes":
			err = intArg(d, &h.MaxParamNameBytes)
		case "max_param_value_bytes":
			err = sizeArg(d, &h.MaxParamValueBytes)
		case "max_request_size", "max_response_size", "max_param_name", "max_param_value":
			return renamed(d, map[string]string{"max_request_size": "max_request_bytes", "max_response_size": "max_response_bytes",
				"max_param_name": "max_param_name_bytes", "max_param_value": "max_param_value_bytes"}[d.Val()])
		case "caller_context":
			err = oneArg(d, &h.CallerContext)
		case "context_header":
			err = oneArg(d, &h.ContextHeader)
		case "context_audience":
			err = oneArg(d, &h.ContextAudience)
		case "allowed_origins":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.AllowedOrigins = append(h.AllowedOrigins, args...)
		default:
			return d.Errf("unrecognized widgetgate handler option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// renamed refuses an option's old name, saying the new one: each option
// now has its JSON field's name.
func renamed(d *caddyfile.Dispenser, now string) error {
	return d.Errf("%s was renamed to %s (the name of its JSON field)", d.Val(), now)
}

func oneArg(d *caddyfile.Dispenser, dst *string) error {
	if !d.AllArgs(dst) {
		return d.ArgErr()
	}
	return nil
}

// parsedArg reads the one argument of the current option with parse; the
// error names the option and what it wants.
func parsedArg[T any](d *caddyfile.Dispenser, dst *T, want string, parse func(string) (T, bool)) error {
	opt := d.Val()
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
	}
	v, ok := parse(s)
	if !ok {
		return d.Errf("%s: want %s, got %q", opt, want, s)
	}
	*dst = v
	return nil
}

func durationArg(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	return parsedArg(d, dst, "a duration such as 30s or 5m", func(s string) (caddy.Duration, bool) {
		dur, err := caddy.ParseDuration(s)
		return caddy.Duration(dur), err == nil
	})
}

func intArg(d *caddyfile.Dispenser, dst *int) error {
	return parsedArg(d, dst, "a positive integer", func(s string) (int, bool) {
		n, err := strconv.Atoi(s)
		return n, err == nil && n > 0
	})
}

func sizeArg(d *caddyfile.Dispenser, dst *int) error {
	return parsedArg(d, dst, "a size such as 64KiB or 10MiB", func(s string) (int, bool) {
		n, err := humanize.ParseBytes(s)
		return int(n), err == nil && n > 0 && n <= 1<<40
	})
}

func sizeArg64(d *caddyfile.Dispenser, dst *int64) error {
	var n int
	if err := sizeArg(d, &n); err != nil {
		return err
	}
	*dst = int64(n)
	return nil
}

// Interface guards
var (
	_ caddyfile.Unmarshaler = (*App)(nil)
	_ caddyfile.Unmarshaler = (*Handler)(nil)
)

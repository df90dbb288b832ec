// Package widgetgate registers widgetgate's Caddy modules (the "widgetgate"
// app and the "http.handlers.widgetgate" handler). Import it for its side
// effects, or build Caddy with
//
//	xcaddy build --with github.com/widgetgate/widgetgate
package widgetgate

import (
	// The modules live in caddymodule; this root package exists so that the
	// module path itself is importable, which is what xcaddy's --with does.
	_ "github.com/widgetgate/widgetgate/caddymodule"
)

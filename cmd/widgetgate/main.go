// Command widgetgate is Caddy with the standard modules and widgetgate's:
// what `xcaddy build --with github.com/widgetgate/widgetgate` produces
// (see xcaddy.json), built with plain `go build`.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/widgetgate/widgetgate"
)

func main() { caddycmd.Main() }

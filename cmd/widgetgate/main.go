// Command widgetgate is Caddy with the standard modules and widgetgate's.
// It is what xcaddy would build from xcaddy.json; building it with plain
// "go build" needs no xcaddy.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/widgetgate/widgetgate/caddymodule"
)

func main() { caddycmd.Main() }

// Package browserkit serves what a browser gets from the sidecar besides
// calls: the browser kit's script, widget pages with the kit injected and
// sandboxed, and the CORS policy for widget host pages on other origins.
package browserkit

import (
	"github.com/widgetgate/widgetgate/caddymodule/internal/schema"
)

// Pages finds a loaded widget, whose page is served (as *schema.Catalog does).
type Pages interface {
	Widget(id string) (*schema.Widget, bool)
}

// Server answers the kit's static routes and applies the CORS policy.
type Server struct {
	// Script is the browser kit, served as …/widgetgate.js.
	Script []byte
	// Pages gives widget pages, served as …/widgets/{id}/widget.html.
	Pages Pages
	// AllowedOrigins are the widget host pages (scheme://host[:port]) that
	// may call from a browser (CORS) and frame widget pages.
	AllowedOrigins []string
	// AllowHeaders are the request headers a preflight allows.
	AllowHeaders string
}

// Interface guards
var _ Pages = (*schema.Catalog)(nil)

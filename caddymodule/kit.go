package caddymodule

import (
	_ "embed"
)

// widgetgateJS is the browser kit: in a widget's iframe it provides
// window.appspace.widgetApi; in the host page it mounts widgets and
// bridges their calls. Embedded so hosts need no npm install; served by
// internal/browserkit.
//
//go:embed assets/widgetgate.js
var widgetgateJS []byte

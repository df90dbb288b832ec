package browserkit

import "bytes"

// kitScriptTag is injected into every widget.html served, so a widget
// written against the widget developer guide runs unchanged.
const kitScriptTag = `<script src="../../widgetgate.js" data-widgetgate-role="widget"></script>`

// InjectKit puts the kit's script tag first in <head> (or first in the
// document), so it runs before the widget's own scripts.
func InjectKit(page []byte) []byte {
	lower := bytes.ToLower(page)
	at := 0
	if i := bytes.Index(lower, []byte("<head")); i >= 0 {
		if j := bytes.IndexByte(page[i:], '>'); j >= 0 {
			at = i + j + 1
		}
	} else if i := bytes.Index(lower, []byte("<html")); i >= 0 {
		if j := bytes.IndexByte(page[i:], '>'); j >= 0 {
			at = i + j + 1
		}
	}
	out := make([]byte, 0, len(page)+len(kitScriptTag))
	out = append(out, page[:at]...)
	out = append(out, kitScriptTag...)
	return append(out, page[at:]...)
}

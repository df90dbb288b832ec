package e2e

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// The operator page's configuration form, as TestAdminBrowser drives it
// (admin.test.mjs, step 15): boardWidget is bound to the instance the page
// binds, and admin.test.mjs relies on the field names, types and defaults
// of boardSchema.
const boardWidget = "lobby-board"

// boardSchema declares a field of each type, a group of two, a required
// text with a length bound, a number with a range, a type widgetgate does
// not know, and labels, descriptions and options holding markup (shown as
// text on the page, never as elements).
const boardSchema = `{"authentications": [], "authenticatedApis": [], "configuration": {"fields": [
  {"name": "title", "type": "text", "label": "Headline", "description": "Shown at the top of the board.", "default": "Welcome",
   "validation": {"required": true, "maxLength": 24}},
  {"name": "rows", "type": "number", "label": "Rows", "default": 4, "validation": {"min": 1, "max": 12}},
  {"name": "compact", "type": "boolean", "label": "Compact layout", "default": false},
  {"name": "room", "type": "select", "label": "Room", "default": "north",
   "options": [{"label": "North wing", "value": "north"}, {"label": "South <b>wing</b>", "value": "south"}]},
  {"name": "accent", "type": "colorPicker", "label": "Accent colour", "group": "Look & feel", "default": "#1a73e8"},
  {"name": "footer", "type": "textbox", "label": "Footer <img src=x onerror=alert(1)>", "group": "Look & feel",
   "description": "<b>Markup</b> is shown as text <script>window.__pwned = 1</script>", "placeholder": "e.g. opening hours"},
  {"name": "opens", "type": "time", "label": "Opens at", "group": "Schedule"},
  {"name": "since", "type": "date", "label": "Shown since", "group": "Schedule"},
  {"name": "link", "type": "url", "label": "More information"},
  {"name": "gauge", "type": "dial", "label": "Gauge style"}
]}}`

// boardSaved is what the page saves once the refused values are fixed
// (admin.test.mjs): numbers as numbers, booleans as booleans, the fields
// left empty (since, link) not at all.
var boardSaved = map[string]any{
	"title": "Lobby news", "rows": json.Number("6"), "compact": true, "room": "south", "accent": "#ff8800",
	"footer": "Open <b>9–17</b>", "opens": "08:30", "gauge": "needle",
}

// boardDefaults is the configuration the widget sees while nothing is set.
var boardDefaults = map[string]any{
	"title": "Welcome", "rows": 4.0, "compact": false, "room": "north", "accent": "#1a73e8",
	"footer": nil, "opens": nil, "since": nil, "link": nil, "gauge": nil,
}

// followConfigForm answers the pauses admin.test.mjs makes in its
// configuration scenario ("READY config-<stage>" on stages), checking
// Vault and what the widget sees at each, then calls resume. It returns
// once the script's output ends (done), with the stages seen.
//
//	start    nothing configured yet: Vault's configuration folder is noted
//	refused  the page's save was refused: that folder is unchanged
//	saved    the page saved: Vault holds the values with their JSON types,
//	         and the widget sees them
//	reset    the page reset to defaults: nothing stored, the widget sees
//	         the defaults
func followConfigForm(t *testing.T, e *env, instance string, stages <-chan string, done <-chan struct{}, resume func()) []string {
	t.Helper()
	var seen []string
	var before map[string]string
	path := "widgetgate/config/" + instance + "/" + boardWidget
	for {
		select {
		case <-done:
			return seen
		case stage := <-stages:
			seen = append(seen, stage)
			switch stage {
			case "start":
				before = vaultTree(t, e, "widgetgate/config/")
				if _, ok := before[path]; ok {
					t.Errorf("%s is in Vault before the page configured anything", path)
				}
			case "refused":
				if after := vaultTree(t, e, "widgetgate/config/"); !reflect.DeepEqual(before, after) {
					t.Errorf("a save the page was refused changed Vault:\nbefore %v\nafter  %v", before, after)
				}
			case "saved":
				rec, err := e.vault.Client.KVv2("secret").Get(context.Background(), path)
				if err != nil {
					t.Errorf("the configuration saved on the page is not in Vault: %v", err)
					break
				}
				raw, _ := rec.Data["values"].(string)
				got := map[string]any{}
				dec := json.NewDecoder(strings.NewReader(raw))
				dec.UseNumber()
				if err := dec.Decode(&got); err != nil || !reflect.DeepEqual(got, boardSaved) {
					t.Errorf("Vault holds the values %s (%v), want %v", raw, err, boardSaved)
				}
				want := map[string]any{"since": nil, "link": nil}
				for k, v := range boardSaved {
					want[k] = v
				}
				want["rows"] = 6.0
				checkWidgetConfiguration(t, e, instance, want)
			case "reset":
				if _, ok := vaultTree(t, e, "widgetgate/config/")[path]; ok {
					t.Errorf("%s is still in Vault after Reset to defaults", path)
				}
				checkWidgetConfiguration(t, e, instance, boardDefaults)
			default:
				t.Errorf("admin.test.mjs paused at an unknown configuration stage %q", stage)
			}
			resume()
		}
	}
}

// checkWidgetConfiguration checks the configuration boardWidget sees in
// instance, through the widget's own context route.
func checkWidgetConfiguration(t *testing.T, e *env, instance string, want map[string]any) {
	t.Helper()
	r := e.call(t, "GET", "/sidecar/widgets/"+boardWidget+"/context", "", "X-Widget-Instance", instance)
	cfg, _ := r.json["configuration"].(map[string]any)
	got := map[string]any{}
	for name, v := range cfg {
		m, _ := v.(map[string]any)
		got[name] = m["value"]
	}
	if r.status != 200 || !reflect.DeepEqual(got, want) {
		t.Errorf("the widget sees the configuration %d %s, want %v", r.status, r.raw, want)
	}
}

package lint

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Exit statuses of Main.
const (
	ExitClean  = 0 // no error (warnings are fine)
	ExitErrors = 1 // some package has an error
	ExitUsage  = 2 // bad arguments: none, an unknown flag, a path that does not exist
)

// Usage is the command's synopsis.
const Usage = "[--json] <package folder|package.zip|widgets folder>..."

// Help is the command's description.
const Help = `Checks widget packages with the rules widgetgate applies when it loads
them, and reports every error, not only the first, one per line as
"<file>: <field>: <message>", then warnings as
"<file>: <field>: warning: <message>". It needs no Vault and no Caddyfile.

An argument is a package (a folder holding schema.json, widget.html or
passport/, or a .zip) or a folder of packages, like widgets_dir. All
packages of one run are checked as one widgets_dir: two with one widget id,
or bundling different passports of one name, are errors.

Plain http and IP-address hosts are warnings, as only the operator can
allow them (allow_http_upstreams, egress_allow).

  --json   print one JSON document instead:
           {"packages": [{"path", "widget", "errors": [{"file", "field",
           "message"}], "warnings": [...]}]}

Exit status: 0 no error (warnings are fine), 1 errors, 2 usage error.`

// Main runs "widgetgate lint" with args (the arguments after "lint") and
// returns the exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	var (
		asJSON bool
		paths  []string
	)
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "lint: "+format+"\n", a...)
		fmt.Fprintf(stderr, "usage: widgetgate lint %s\n", Usage)
		return ExitUsage
	}
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--":
			paths = append(paths, args[i+1:]...)
			i = len(args)
		case a == "--json" || a == "-json":
			asJSON = true
		case a == "-h" || a == "--help" || a == "-help":
			fmt.Fprintf(stdout, "usage: widgetgate lint %s\n\n%s\n", Usage, Help)
			return ExitClean
		case strings.HasPrefix(a, "-") && a != "-":
			return usage("unknown flag %s", a)
		default:
			paths = append(paths, a)
		}
	}
	if len(paths) == 0 {
		return usage("no package to check")
	}
	reports, err := Lint(paths)
	if err != nil {
		return usage("%v", err)
	}
	if asJSON {
		if err := WriteJSON(stdout, reports); err != nil {
			fmt.Fprintf(stderr, "lint: %v\n", err)
			return ExitErrors
		}
	} else {
		WriteText(stdout, reports)
	}
	for _, r := range reports {
		if len(r.Errors) > 0 {
			return ExitErrors
		}
	}
	return ExitClean
}

// JSONOutput is the document --json prints.
type JSONOutput struct {
	Packages []Report `json:"packages"`
}

// WriteJSON prints reports as one JSONOutput document.
func WriteJSON(w io.Writer, reports []Report) error {
	if reports == nil {
		reports = []Report{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(JSONOutput{Packages: reports})
}

// WriteText prints each package's errors, then its warnings, one a line,
// and a count at the end.
func WriteText(w io.Writer, reports []Report) {
	var nerr, nwarn int
	for _, r := range reports {
		for _, f := range r.Errors {
			fmt.Fprintln(w, f)
		}
		for _, f := range r.Warnings {
			f.Message = "warning: " + f.Message
			fmt.Fprintln(w, f)
		}
		nerr += len(r.Errors)
		nwarn += len(r.Warnings)
	}
	fmt.Fprintf(w, "%s checked: %s, %s\n", plural(len(reports), "package"), plural(nerr, "error"), plural(nwarn, "warning"))
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

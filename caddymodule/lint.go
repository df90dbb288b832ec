package caddymodule

import (
	"os"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/widgetgate/widgetgate/caddymodule/internal/lint"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "lint",
		Usage: lint.Usage,
		Short: "Checks widget packages and reports every error (for widget developers)",
		Long:  lint.Help,
		CobraFunc: func(cmd *cobra.Command) {
			// lint parses its own flags: a usage error must exit 2 and
			// errors found 1 without a log line, which caddycmd's
			// wrapper and cobra's flag errors cannot do.
			cmd.DisableFlagParsing = true
			cmd.RunE = func(cmd *cobra.Command, args []string) error {
				if code := lint.Main(args, cmd.OutOrStdout(), cmd.ErrOrStderr()); code != 0 {
					os.Exit(code)
				}
				return nil
			}
		},
	})
}

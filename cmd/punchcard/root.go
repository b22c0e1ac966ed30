package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/user"
	"strings"

	"github.com/spf13/cobra"

	"github.com/punchcard-loyalty/punchcard/platform/app"
	"github.com/punchcard-loyalty/punchcard/platform/audit"
	"github.com/punchcard-loyalty/punchcard/platform/config"
)

func newRoot(cfg *config.Config, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "punchcard",
		Short:         "Punchcard: a multi-tenant loyalty and promotions engine",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.PersistentFlags().StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "data directory for the embedded database (PUNCHCARD_DATA_DIR)")
	root.AddCommand(
		serveCmd(cfg, stdout, stderr),
		migrateCmd(cfg, stdout),
		tenantCmd(cfg, stdout),
		keyCmd(cfg, stdout),
		auditCmd(cfg, stdout),
		policyCmd(stdout),
		versionCmd(stdout),
	)
	return root
}

// args wraps a cobra argument validator so that its failures exit with status 2.
func args(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := v(cmd, a); err != nil {
			return usageError{fmt.Errorf("%s: %w", cmd.CommandPath(), err)}
		}
		return nil
	}
}

func isCobraUsage(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "unknown flag") ||
		strings.HasPrefix(msg, "unknown shorthand flag") || strings.Contains(msg, "required flag(s)")
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// withApp builds the application for a command-line operation (migrating first, so
// the commands work on a fresh database), runs fn as the CLI actor, and closes it.
func withApp(ctx context.Context, cfg *config.Config, fn func(ctx context.Context, a *app.App) error) error {
	a, err := app.New(ctx, *cfg, app.Options{Stderr: io.Discard, Migrate: true})
	if err != nil {
		return err
	}
	defer a.Close(context.WithoutCancel(ctx))
	name := "cli"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	return fn(audit.WithActor(ctx, audit.Actor{Type: audit.ActorCLI, ID: name}), a)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	return enc.Encode(v)
}

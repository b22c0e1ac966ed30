package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/punchcard-loyalty/punchcard/platform/app"
	"github.com/punchcard-loyalty/punchcard/platform/audit"
	"github.com/punchcard-loyalty/punchcard/platform/buildinfo"
	"github.com/punchcard-loyalty/punchcard/platform/config"
	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/httpapi"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
	"github.com/punchcard-loyalty/punchcard/tenants"
)

func serveCmd(cfg *config.Config, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the API and run the background workers",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := app.New(cmd.Context(), *cfg, app.Options{Stdout: stdout, Stderr: stderr, Migrate: !cfg.NoMigrate})
			if err != nil {
				return err
			}
			app.TuneRuntime(*cfg) // validated by New
			defer a.Close(context.WithoutCancel(cmd.Context()))
			return a.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address (PUNCHCARD_ADDR)")
	cmd.Flags().BoolVar(&cfg.NoMigrate, "no-migrate", cfg.NoMigrate, "do not apply migrations on start")
	return cmd
}

func migrateCmd(cfg *config.Config, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending database migrations and exit",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.Validate(); err != nil {
				return err
			}
			res, err := db.Migrate(cmd.Context(), db.Options{URL: cfg.DatabaseURL, MigrationURL: cfg.MigrationDatabaseURL, DataDir: cfg.DataDir})
			if err != nil {
				return err
			}
			return printJSON(stdout, res)
		},
	}
}

func tenantCmd(cfg *config.Config, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "tenant", Short: "Create, list, suspend and activate tenants"}
	var in tenants.NewTenant
	create := &cobra.Command{
		Use:   "create <slug>",
		Short: "Create a tenant and print it with its first admin key (secret shown once)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			in.Slug = a[0]
			return withApp(cmd.Context(), cfg, func(ctx context.Context, app *app.App) error {
				created, err := app.Tenants.CreateTenant(ctx, in)
				if err != nil {
					return err
				}
				return printJSON(stdout, map[string]any{"tenant": httpapi.ToTenantBody(created.Tenant), "api_key": created.APIKey})
			})
		},
	}
	create.Flags().StringVar(&in.Name, "name", "", "display name (default: the slug)")
	create.Flags().StringVar(&in.Currency, "currency", "EUR", "ISO 4217 currency of the tenant's amounts")
	create.Flags().StringVar(&in.Timezone, "timezone", "UTC", "IANA time zone for schedules")

	list := &cobra.Command{
		Use:   "list",
		Short: "List tenants as JSON",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withApp(cmd.Context(), cfg, func(ctx context.Context, app *app.App) error {
				out := []any{}
				after := ""
				for {
					ts, err := app.Tenants.ListTenants(ctx, after, 100)
					if err != nil {
						return err
					}
					for _, t := range ts {
						out = append(out, httpapi.ToTenantBody(t))
					}
					if len(ts) < 100 {
						return printJSON(stdout, map[string]any{"tenants": out})
					}
					after = ts[len(ts)-1].ID
				}
			})
		},
	}
	status := func(use, short, to string) *cobra.Command {
		return &cobra.Command{
			Use: use + " <slug>", Short: short, Args: args(cobra.ExactArgs(1)),
			RunE: func(cmd *cobra.Command, a []string) error {
				return withApp(cmd.Context(), cfg, func(ctx context.Context, app *app.App) error {
					t, err := app.Tenants.SetStatus(ctx, a[0], to)
					if err != nil {
						return err
					}
					return printJSON(stdout, map[string]any{"tenant": httpapi.ToTenantBody(t)})
				})
			},
		}
	}
	cmd.AddCommand(create, list,
		status("suspend", "Suspend a tenant: every call with its keys gets 403", tenants.StatusSuspended),
		status("activate", "Reactivate a suspended tenant", tenants.StatusActive))
	return cmd
}

func keyCmd(cfg *config.Config, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Create and revoke API keys"}
	var role, name string
	create := &cobra.Command{
		Use:   "create <slug>",
		Short: "Create an API key for a tenant and print it (secret shown once)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			r, err := tenants.ParseRole(role)
			if err != nil {
				return usageError{err}
			}
			return withApp(cmd.Context(), cfg, func(ctx context.Context, app *app.App) error {
				k, err := app.Tenants.CreateKey(ctx, a[0], r, name)
				if err != nil {
					return err
				}
				return printJSON(stdout, map[string]any{"api_key": k})
			})
		},
	}
	create.Flags().StringVar(&role, "role", "admin", "admin, marketer, support, auditor, developer or pos")
	create.Flags().StringVar(&name, "name", "", "a label for the key")
	revoke := &cobra.Command{
		Use:   "revoke <key id>",
		Short: "Revoke an API key",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			return withApp(cmd.Context(), cfg, func(ctx context.Context, app *app.App) error {
				k, err := app.Tenants.RevokeKeyByID(ctx, a[0])
				if err != nil {
					return err
				}
				return printJSON(stdout, map[string]any{"api_key": k})
			})
		},
	}
	cmd.AddCommand(create, revoke)
	return cmd
}

func auditCmd(cfg *config.Config, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Verify and export a tenant's audit log"}
	verify := &cobra.Command{
		Use:   "verify <slug>",
		Short: "Recompute the tenant's audit hash chain; exit 1 when it is broken",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			return withApp(cmd.Context(), cfg, func(ctx context.Context, app *app.App) error {
				t, err := app.Tenants.TenantBySlug(ctx, a[0])
				if err != nil {
					return err
				}
				v, err := app.Audit.Verify(ctx, t.ID)
				if err != nil {
					return err
				}
				if err := printJSON(stdout, v); err != nil {
					return err
				}
				if !v.Valid {
					return exitError{code: 1, msg: "audit chain of " + a[0] + " is broken at event " + v.FirstInvalidEvent + ": " + v.Reason}
				}
				return nil
			})
		},
	}
	var from, to string
	export := &cobra.Command{
		Use:   "export <slug>",
		Short: "Write the tenant's audit events as NDJSON, oldest first",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			var f audit.Filter
			for _, p := range []struct {
				flag string
				v    string
				t    *time.Time
			}{{"from", from, &f.From}, {"to", to, &f.To}} {
				if p.v == "" {
					continue
				}
				t, err := time.Parse(time.RFC3339Nano, p.v)
				if err != nil {
					return usageError{problem.Invalidf(p.flag, "--%s: %q is not an RFC 3339 time", p.flag, p.v)}
				}
				*p.t = t
			}
			return withApp(cmd.Context(), cfg, func(ctx context.Context, app *app.App) error {
				t, err := app.Tenants.TenantBySlug(ctx, a[0])
				if err != nil {
					return err
				}
				w := bufio.NewWriter(stdout)
				enc := json.NewEncoder(w)
				if err := app.Audit.Export(ctx, t.ID, f, func(e *audit.Event) error { return enc.Encode(httpapi.AuditEventBody(e)) }); err != nil {
					return err
				}
				return w.Flush()
			})
		},
	}
	export.Flags().StringVar(&from, "from", "", "only events at or after this RFC 3339 time")
	export.Flags().StringVar(&to, "to", "", "only events before this RFC 3339 time")
	cmd.AddCommand(verify, export)
	return cmd
}

func versionCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  args(cobra.NoArgs),
		RunE: func(_ *cobra.Command, _ []string) error {
			return printJSON(stdout, map[string]string{"version": buildinfo.String(), "go": runtime.Version()})
		},
	}
}

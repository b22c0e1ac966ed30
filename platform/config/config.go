// Package config holds Punchcard's process configuration: one typed struct filled
// from PUNCHCARD_* environment variables with defaults, overridden by command-line
// flags, and validated before anything starts. Telemetry reads the standard OTEL_*
// variables itself.
package config

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// Config is everything a Punchcard process is configured with.
type Config struct {
	Addr                 string        `env:"ADDR" envDefault:"127.0.0.1:8080"`
	DataDir              string        `env:"DATA_DIR" envDefault:"./punchcard-data"`
	DatabaseURL          string        `env:"DATABASE_URL"`
	MigrationDatabaseURL string        `env:"MIGRATION_DATABASE_URL"`
	PluginDir            string        `env:"PLUGIN_DIR"`
	OperatorToken        string        `env:"OPERATOR_TOKEN"`
	LogLevel             string        `env:"LOG_LEVEL" envDefault:"info"`
	RateLimit            float64       `env:"RATE_LIMIT" envDefault:"100"`
	RateBurst            int           `env:"RATE_BURST" envDefault:"200"`
	BodyLimit            int64         `env:"BODY_LIMIT" envDefault:"1048576"`
	TrustedProxies       []string      `env:"TRUSTED_PROXIES"`
	ShutdownTimeout      time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"15s"`
	AuditSealInterval    time.Duration `env:"AUDIT_SEAL_INTERVAL" envDefault:"1s"`
	PolicyTimeout        time.Duration `env:"POLICY_TIMEOUT" envDefault:"25ms"`
	PolicyCacheBytes     int64         `env:"POLICY_CACHE_BYTES" envDefault:"536870912"`
	PolicyMemoEntries    int           `env:"POLICY_MEMO_ENTRIES" envDefault:"100000"`
	GCPercent            int           `env:"GC_PERCENT" envDefault:"400"`
	GCMinHeap            int64         `env:"GC_MIN_HEAP" envDefault:"268435456"`
	MemoryLimit          int64         `env:"MEMORY_LIMIT"`
	NoMigrate            bool          `env:"NO_MIGRATE"`
}

// FromEnv reads the configuration from the environment (PUNCHCARD_ prefix).
func FromEnv() (Config, error) {
	var c Config
	if err := env.ParseWithOptions(&c, env.Options{Prefix: "PUNCHCARD_"}); err != nil {
		return Config{}, fmt.Errorf("read configuration: %s", nameVariables(err.Error()))
	}
	return c, nil
}

// nameVariables rewrites the Go field names in a parse error as the environment
// variables a user sets.
func nameVariables(msg string) string {
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		f := t.Field(i)
		if tag := f.Tag.Get("env"); tag != "" {
			msg = strings.ReplaceAll(msg, `field "`+f.Name+`"`, "PUNCHCARD_"+tag)
		}
	}
	return msg
}

// Postgres reports whether the configuration names a PostgreSQL database.
func (c Config) Postgres() bool {
	return strings.HasPrefix(c.DatabaseURL, "postgres://") || strings.HasPrefix(c.DatabaseURL, "postgresql://")
}

// Validate checks the configuration, naming the first bad setting.
func (c Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("PUNCHCARD_ADDR (--addr) must not be empty"))
	}
	if c.DatabaseURL != "" && !c.Postgres() && !strings.HasPrefix(c.DatabaseURL, "sqlite:") && !strings.HasPrefix(c.DatabaseURL, "file:") {
		errs = append(errs, errors.New("PUNCHCARD_DATABASE_URL must be a postgres:// URL or a sqlite:/file: path"))
	}
	if c.RateLimit < 0 {
		errs = append(errs, errors.New("PUNCHCARD_RATE_LIMIT must be >= 0 (0 disables the limit)"))
	}
	if c.RateBurst < 0 {
		errs = append(errs, errors.New("PUNCHCARD_RATE_BURST must be >= 0"))
	}
	if c.BodyLimit < 1024 {
		errs = append(errs, errors.New("PUNCHCARD_BODY_LIMIT must be at least 1024 bytes"))
	}
	for _, p := range c.TrustedProxies {
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			errs = append(errs, fmt.Errorf("PUNCHCARD_TRUSTED_PROXIES: %q is neither an IP address nor a CIDR range", p))
		}
	}
	if c.OperatorToken != "" && len(c.OperatorToken) < 16 {
		errs = append(errs, errors.New("PUNCHCARD_OPERATOR_TOKEN must be at least 16 characters"))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("PUNCHCARD_SHUTDOWN_TIMEOUT must be positive"))
	}
	if c.AuditSealInterval <= 0 {
		errs = append(errs, errors.New("PUNCHCARD_AUDIT_SEAL_INTERVAL must be positive"))
	}
	if c.PolicyTimeout <= 0 || c.PolicyTimeout > 10*time.Second {
		errs = append(errs, errors.New("PUNCHCARD_POLICY_TIMEOUT must be positive and at most 10s"))
	}
	if c.PolicyCacheBytes < 16<<20 {
		errs = append(errs, errors.New("PUNCHCARD_POLICY_CACHE_BYTES must be at least 16777216 (16 MiB)"))
	}
	if c.PolicyMemoEntries < 0 {
		errs = append(errs, errors.New("PUNCHCARD_POLICY_MEMO_ENTRIES must be >= 0 (0 memoizes no decision)"))
	}
	if c.GCPercent < 1 {
		errs = append(errs, errors.New("PUNCHCARD_GC_PERCENT must be positive"))
	}
	if c.GCMinHeap < 0 {
		errs = append(errs, errors.New("PUNCHCARD_GC_MIN_HEAP must be >= 0 (0: no floor)"))
	}
	if c.MemoryLimit != 0 && c.MemoryLimit < 64<<20 {
		errs = append(errs, errors.New("PUNCHCARD_MEMORY_LIMIT must be 0 (derived) or at least 67108864 (64 MiB)"))
	}
	return errors.Join(errs...)
}

// PolicyMemo is policies.Options.MemoEntries for PolicyMemoEntries: the setting's
// 0 turns the memo off, which the option says with a negative value (its 0
// means the default).
func (c Config) PolicyMemo() int {
	if c.PolicyMemoEntries == 0 {
		return -1
	}
	return c.PolicyMemoEntries
}

// SoftMemoryLimit is the Go runtime's soft memory limit for a server: the
// configured one, or else room for a full policy cache twice over plus 512 MiB.
func (c Config) SoftMemoryLimit() int64 {
	if c.MemoryLimit > 0 {
		return c.MemoryLimit
	}
	return 2*c.PolicyCacheBytes + 512<<20
}

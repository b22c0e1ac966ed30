package config

import (
	"strings"
	"testing"
	"time"
)

func TestFromEnvDefaultsAndOverrides(t *testing.T) {
	t.Setenv("PUNCHCARD_ADDR", "0.0.0.0:9000")
	t.Setenv("PUNCHCARD_RATE_LIMIT", "12.5")
	c, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "0.0.0.0:9000" || c.RateLimit != 12.5 || c.DataDir != "./punchcard-data" || c.BodyLimit != 1<<20 {
		t.Fatalf("unexpected config %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateNamesTheSetting(t *testing.T) {
	base, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"bad url", func(c *Config) { c.DatabaseURL = "mysql://x" }, "PUNCHCARD_DATABASE_URL"},
		{"negative rate", func(c *Config) { c.RateLimit = -1 }, "PUNCHCARD_RATE_LIMIT"},
		{"tiny body", func(c *Config) { c.BodyLimit = 10 }, "PUNCHCARD_BODY_LIMIT"},
		{"short token", func(c *Config) { c.OperatorToken = "abc" }, "PUNCHCARD_OPERATOR_TOKEN"},
		{"empty addr", func(c *Config) { c.Addr = "" }, "PUNCHCARD_ADDR"},
		{"slow policies", func(c *Config) { c.PolicyTimeout = time.Minute }, "PUNCHCARD_POLICY_TIMEOUT"},
		{"tiny policy cache", func(c *Config) { c.PolicyCacheBytes = 1024 }, "PUNCHCARD_POLICY_CACHE_BYTES"},
		{"negative memo", func(c *Config) { c.PolicyMemoEntries = -1 }, "PUNCHCARD_POLICY_MEMO_ENTRIES"},
		{"negative heap floor", func(c *Config) { c.GCMinHeap = -1 }, "PUNCHCARD_GC_MIN_HEAP"},
		{"bad proxy", func(c *Config) { c.TrustedProxies = []string{"10.0.0.0/8", "gateway"} }, "PUNCHCARD_TRUSTED_PROXIES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.mutate(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

func TestPolicyMemo(t *testing.T) {
	for setting, want := range map[int]int{100_000: 100_000, 1: 1, 0: -1} {
		if got := (Config{PolicyMemoEntries: setting}).PolicyMemo(); got != want {
			t.Errorf("PUNCHCARD_POLICY_MEMO_ENTRIES=%d: MemoEntries %d, want %d", setting, got, want)
		}
	}
}

func TestTrustedProxiesFromEnv(t *testing.T) {
	t.Setenv("PUNCHCARD_TRUSTED_PROXIES", "10.0.0.0/8,192.0.2.1")
	c, err := FromEnv()
	if err != nil || len(c.TrustedProxies) != 2 || c.TrustedProxies[1] != "192.0.2.1" || c.Validate() != nil {
		t.Fatalf("FromEnv() = %q, %v; Validate() = %v; want two valid proxies", c.TrustedProxies, err, c.Validate())
	}
}

func TestFromEnvRejectsBadNumbers(t *testing.T) {
	t.Setenv("PUNCHCARD_RATE_BURST", "lots")
	if _, err := FromEnv(); err == nil || !strings.Contains(err.Error(), "RATE_BURST") {
		t.Fatalf("FromEnv() = %v, want an error naming RATE_BURST", err)
	}
}

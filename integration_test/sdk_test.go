package integration_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var npmOnce struct {
	sync.Once
	err error
}

// sdkDir returns integration_test/sdk with its node modules installed (npm ci, from
// the committed lock file, the first time).
func sdkDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("sdk")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node is required under CI=true to run Voucherify's JavaScript SDK")
		}
		t.Skip("node is not installed")
	}
	npmOnce.Do(func() {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "@voucherify", "sdk")); err == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			npmOnce.err = err
			t.Logf("npm ci: %s", out)
		}
	})
	if npmOnce.err != nil {
		t.Fatalf("install the SDK: %v", npmOnce.err)
	}
	return dir
}

// A real client: Voucherify's official JavaScript SDK, pointed at Punchcard, creates
// campaigns, validates, redeems and rolls back stacked vouchers without changes.
func TestVoucherifyJavaScriptSDK(t *testing.T) {
	dir := sdkDir(t)
	forEachBackend(t, func(t *testing.T, s *server) {
		tn := s.newTenant(t)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "node", "voucherify.mjs")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PUNCHCARD_URL="+s.base, "PUNCHCARD_APP_ID="+tn.KeyID, "PUNCHCARD_APP_TOKEN="+tn.Secret)
		out, err := cmd.Output()
		if err != nil {
			var stderr string
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("the SDK run failed: %v\n%s%s", err, out, stderr)
		}
		var seen struct {
			Campaigns         []string `json:"campaigns"`
			ValidatedDiscount int64    `json:"validated_discount"`
			ParentRedemption  string   `json:"parent_redemption"`
			ParentRollback    string   `json:"parent_rollback"`
			Refusal           string   `json:"refusal"`
		}
		if err := json.Unmarshal([]byte(strings.TrimSpace(string(out))), &seen); err != nil {
			t.Fatalf("SDK output %q: %v", out, err)
		}
		// What the SDK did is what Punchcard holds: the redemption is rolled back and
		// the campaigns' counters are back to zero.
		for _, id := range seen.Campaigns {
			var c struct {
				Usage struct {
					Redemptions int64 `json:"redemptions"`
				} `json:"usage"`
			}
			s.do(t, "GET", "/v1/campaigns/"+id, tn.bearer(), nil).decode(t, &c)
			if c.Usage.Redemptions != 0 {
				t.Fatalf("campaign %s shows %d redemptions after the rollback", id, c.Usage.Redemptions)
			}
		}
		if n := auditCount(t, s, tn, "redemption.rolled_back"); n != 1 || seen.ValidatedDiscount != 2500 || seen.Refusal != "resource_not_found" {
			t.Fatalf("rollbacks audited %d, SDK saw %+v", n, seen)
		}
	})
}

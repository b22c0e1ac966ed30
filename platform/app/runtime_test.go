package app_test

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/punchcard-loyalty/punchcard/platform/app"
	"github.com/punchcard-loyalty/punchcard/platform/config"
)

func TestTuneRuntime(t *testing.T) {
	restore := func() {
		debug.SetGCPercent(100)
		debug.SetMemoryLimit(math.MaxInt64)
	}
	t.Cleanup(restore)
	cfg := config.Config{GCPercent: 250, PolicyCacheBytes: 64 << 20}

	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	app.TuneRuntime(cfg)
	if got := debug.SetGCPercent(100); got != 250 {
		t.Errorf("GC percent = %d, want 250", got)
	}
	if got, want := debug.SetMemoryLimit(math.MaxInt64), int64(128<<20+512<<20); got != want {
		t.Errorf("memory limit = %d, want %d", got, want)
	}

	// The Go runtime's own settings win.
	restore()
	t.Setenv("GOGC", "100")
	t.Setenv("GOMEMLIMIT", "1GiB")
	app.TuneRuntime(cfg)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set, GC percent = %d, want 100", got)
	}
	if got := debug.SetMemoryLimit(math.MaxInt64); got != math.MaxInt64 {
		t.Errorf("with GOMEMLIMIT set, memory limit = %d, want unchanged", got)
	}

	cfg.MemoryLimit = 3 << 30
	if got := cfg.SoftMemoryLimit(); got != 3<<30 {
		t.Errorf("configured limit = %d, want %d", got, int64(3<<30))
	}
}

package app_test

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/punchcard-loyalty/punchcard/platform/app"
	"github.com/punchcard-loyalty/punchcard/platform/config"
)

func TestTuneRuntime(t *testing.T) {
	restore := func() {
		t.Setenv("GOGC", "100") // switches the heap floor off
		app.TuneRuntime(config.Config{PolicyCacheBytes: 64 << 20})
		debug.SetGCPercent(100)
		debug.SetMemoryLimit(math.MaxInt64)
	}
	t.Cleanup(restore)
	cfg := config.Config{GCPercent: 250, PolicyCacheBytes: 64 << 20}

	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	app.TuneRuntime(cfg)
	if got := debug.SetGCPercent(250); got != 250 {
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

// TestHeapFloor: with a floor far above this test binary's live heap, every
// collection leaves the GC percentage raised so that the next one starts near the
// floor; switched off, the percentage stays where it is set.
func TestHeapFloor(t *testing.T) {
	t.Cleanup(func() {
		t.Setenv("GOGC", "100")
		app.TuneRuntime(config.Config{PolicyCacheBytes: 64 << 20})
		debug.SetGCPercent(100)
		debug.SetMemoryLimit(math.MaxInt64)
	})
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	// The live heap of a test binary is far below these floors, so after a
	// collection the percentage aims the next one at the floor:
	// live × (1 + percent/100) ≈ floor.
	for _, c := range []struct {
		name                 string
		minHeap, policyCache int64
		wantFloor            int64
	}{
		{"floor", 1 << 30, 1 << 30, 1 << 30},
		// Above half the memory limit (2 × 64 MiB + 512 MiB): lowered to it.
		{"floor above half the limit", 8 << 30, 64 << 20, (128<<20 + 512<<20) / 2},
	} {
		app.TuneRuntime(config.Config{GCPercent: 100, GCMinHeap: c.minHeap, PolicyCacheBytes: c.policyCache})
		// The floor adjusts after a collection, on the runtime's cleanup goroutine.
		var got int64
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			debug.SetGCPercent(100)
			runtime.GC()
			time.Sleep(10 * time.Millisecond)
			if got = readMetric("/gc/gogc:percent"); got > 100 {
				break
			}
		}
		if got <= 100 {
			t.Fatalf("%s: after collections GC percent = %d, want it raised above 100", c.name, got)
		}
		live := readMetric("/gc/heap/live:bytes")
		if goal := float64(live) * (1 + float64(got)/100); goal < float64(c.wantFloor)/2 || goal > 2*float64(c.wantFloor) {
			t.Errorf("%s: GC percent %d with %d bytes live aims at %.0f bytes, want about %d", c.name, got, live, goal, c.wantFloor)
		}
	}

	// Off: a setting made afterwards stays through collections (after one that
	// lets an adjustment already under way finish).
	t.Setenv("GOGC", "100")
	app.TuneRuntime(config.Config{PolicyCacheBytes: 64 << 20})
	runtime.GC()
	time.Sleep(10 * time.Millisecond)
	debug.SetGCPercent(150)
	for range 3 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if got := readMetric("/gc/gogc:percent"); got != 150 {
		t.Errorf("floor off: GC percent = %d after collections, want 150 kept", got)
	}
}

func readMetric(name string) int64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

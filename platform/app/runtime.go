package app

import (
	"os"
	"runtime/debug"

	"github.com/punchcard-loyalty/punchcard/platform/config"
)

// TuneRuntime sets the garbage collector for serving: a server allocates a
// short-lived input document, policy evaluation and response per request over a
// small live heap, where Go's default (collect at 100 % growth) spends a large
// share of the CPU collecting. PUNCHCARD_GC_PERCENT (400) trades memory for
// that CPU, and a soft memory limit (PUNCHCARD_MEMORY_LIMIT, by default twice
// the policy cache plus 512 MiB) bounds the trade: near the limit the collector
// runs as often as it must. GOGC and GOMEMLIMIT, when set, win. cfg must be
// valid (New validates it).
func TuneRuntime(cfg config.Config) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(cfg.GCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(cfg.SoftMemoryLimit())
	}
}

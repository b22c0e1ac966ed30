package app

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"

	"github.com/punchcard-loyalty/punchcard/platform/config"
)

// TuneRuntime sets the garbage collector for serving: a server allocates a
// short-lived input document, policy evaluation and response per request over a
// small live heap, where Go's default (collect at 100 % growth) spends a large
// share of the CPU collecting. PUNCHCARD_GC_PERCENT (400) trades memory for
// that CPU, and a soft memory limit (PUNCHCARD_MEMORY_LIMIT, by default twice
// the policy cache plus 512 MiB) bounds the trade: near the limit the collector
// runs as often as it must.
//
// A percentage alone is not enough: a live heap of a few MiB grown by 400 % is
// still collected several times a second under load, and each cycle (its
// stop-the-world phases, its mark assists, a quarter of the CPUs marking) delays
// the requests in flight, which is most of a server's p99. So the heap also has a
// floor, PUNCHCARD_GC_MIN_HEAP: after each collection the percentage is raised so
// that the next one starts no sooner than the floor, and falls back to
// PUNCHCARD_GC_PERCENT once the live heap outgrows it. Marking costs what is
// live, not the heap's size, so the floor costs memory, not CPU.
//
// The floor is at most half the memory limit. GOGC and GOMEMLIMIT, when set, win
// (GOGC switches the floor off). cfg must be valid (New validates it).
// TuneRuntime may be called again; the last call's settings hold.
func TuneRuntime(cfg config.Config) {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(cfg.SoftMemoryLimit())
	}
	if os.Getenv("GOGC") == "" {
		// Half the memory limit at most: a floor near the limit would leave the
		// limit, not the percentage, deciding every collection.
		limit := debug.SetMemoryLimit(-1) // reads it
		heapFloor.set(cfg.GCPercent, min(cfg.GCMinHeap, limit/2))
		debug.SetGCPercent(cfg.GCPercent)
		heapFloor.adjust()
	} else {
		heapFloor.set(0, 0)
	}
}

// heapFloor is the process's heap floor: the runtime has one garbage collector.
var heapFloor floor

// floor keeps the collector's next target at or above minHeap by setting the GC
// percentage after every collection. Its settings are atomics because the
// runtime's cleanup goroutine reads them.
type floor struct {
	percent atomic.Int64 // the configured percentage; 0: no floor
	minHeap atomic.Int64 // bytes
	arm     sync.Once
}

func (f *floor) set(percent int, minHeap int64) {
	if minHeap <= 0 {
		percent = 0
	}
	f.percent.Store(int64(percent))
	f.minHeap.Store(minHeap)
	if percent > 0 {
		f.arm.Do(f.afterNextGC)
	}
}

// afterNextGC has adjust run after the next collection, and again after each
// one: a cleanup runs once its object is found unreachable, and the object is
// garbage as soon as it is made.
func (f *floor) afterNextGC() {
	runtime.AddCleanup(new([64]byte), func(f *floor) {
		f.adjust()
		f.afterNextGC()
	}, f)
}

// adjust sets the percentage for the heap the last collection left live. It does
// nothing while the floor is off, so settings made after it was switched off
// stay.
func (f *floor) adjust() {
	percent, minHeap := f.percent.Load(), f.minHeap.Load()
	if percent == 0 {
		return
	}
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	var live int64
	if s[0].Value.Kind() == metrics.KindUint64 {
		live = int64(s[0].Value.Uint64())
	}
	debug.SetGCPercent(floorPercent(live, percent, minHeap))
}

// maxFloorPercent bounds the raised percentage (a live heap of 1 MiB against a
// floor of 10 GiB); the memory limit bounds the heap in any case.
const maxFloorPercent = 1_000_000

// floorPercent is the GC percentage that has the next collection start when the
// heap reaches minHeap bytes, given live bytes left by the last one, and never
// below percent. Before the first collection there is no measure of what is live
// (the start-up heap is mostly garbage), so percent holds until then.
func floorPercent(live, percent, minHeap int64) int {
	if live <= 0 {
		return int(percent)
	}
	p := (minHeap - live) * 100 / live
	return int(min(max(p, percent), maxFloorPercent))
}

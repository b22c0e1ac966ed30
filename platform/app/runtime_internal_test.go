package app

import "testing"

func TestFloorPercent(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live, percent, minHeap int64
		want                   int
	}{
		{live: 4 * mib, percent: 400, minHeap: 256 * mib, want: 6300},    // 4 MiB × 64 = 256 MiB
		{live: 100 * mib, percent: 400, minHeap: 256 * mib, want: 400},   // the percentage already reaches past the floor
		{live: 300 * mib, percent: 400, minHeap: 256 * mib, want: 400},   // live above the floor
		{live: 0, percent: 100, minHeap: 256 * mib, want: 100},           // no collection yet
		{live: 1, percent: 100, minHeap: 1 << 40, want: maxFloorPercent}, // bounded
		{live: 64 * mib, percent: 100, minHeap: 128 * mib, want: 100},    // exactly doubling
		{live: 32 * mib, percent: 100, minHeap: 128*mib + 1, want: 300},  // rounds down
	} {
		if got := floorPercent(c.live, c.percent, c.minHeap); got != c.want {
			t.Errorf("floorPercent(%d, %d, %d) = %d, want %d", c.live, c.percent, c.minHeap, got, c.want)
		}
	}
}

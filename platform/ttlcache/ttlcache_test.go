package ttlcache

import (
	"errors"
	"maps"
	"testing"
	"time"
)

func TestGetPutExpire(t *testing.T) {
	c := New[string, int](50*time.Millisecond, 10)
	clk := withClock(c)
	if _, ok := c.Get("a"); ok {
		t.Fatal("empty cache has a")
	}
	c.Put("a", 1)
	if v, ok := c.Get("a"); !ok || v != 1 {
		t.Fatalf("a = %d, %v; want 1", v, ok)
	}
	clk.advance(50 * time.Millisecond)
	if _, ok := c.Get("a"); ok {
		t.Fatal("a outlived its TTL")
	}
}

func TestLoad(t *testing.T) {
	c := New[string, int](time.Hour, 10)
	calls := 0
	load := func() (int, error) { calls++; return calls, nil }
	for range 3 {
		if v, err := c.Load("a", load); err != nil || v != 1 {
			t.Fatalf("Load = %d, %v; want the first load's 1", v, err)
		}
	}
	if _, err := c.Load("b", func() (int, error) { return 0, errors.New("down") }); err == nil {
		t.Fatal("a failed load gave no error")
	}
	if _, ok := c.Get("b"); ok {
		t.Fatal("a failed load was kept")
	}

	// A value read while its entry was deleted may predate the change: not kept.
	v, _ := c.Load("c", func() (int, error) { c.Delete("c"); return 7, nil })
	if v != 7 {
		t.Fatalf("Load returned %d, want 7", v)
	}
	if _, ok := c.Get("c"); ok {
		t.Fatal("a load that raced a deletion was kept")
	}
}

func TestDeleteAndUpdateFunc(t *testing.T) {
	c := New[string, int](time.Hour, 10)
	for i, k := range []string{"a", "b", "c"} {
		c.Put(k, i)
	}
	c.DeleteFunc(func(k string, v int) bool { return v == 1 })
	if _, ok := c.Get("b"); ok {
		t.Fatal("DeleteFunc kept b")
	}
	c.UpdateFunc(func(k string, v int) (int, bool) { return v + 10, k == "c" })
	if a, _ := c.Get("a"); a != 0 {
		t.Fatalf("a = %d, want 0 (untouched)", a)
	}
	if v, _ := c.Get("c"); v != 12 {
		t.Fatalf("c = %d, want 12", v)
	}
}

func TestBounded(t *testing.T) {
	c := New[int, int](time.Hour, 3)
	for i := range 10 {
		c.Put(i, i)
		if n := len(c.entries); n > 3 {
			t.Fatalf("%d entries, bound 3", n)
		}
	}
	if v, ok := c.Get(9); !ok || v != 9 {
		t.Fatal("the latest entry was dropped")
	}
}

// clock is a settable time for a cache's now.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

// withClock makes c read the time from the clock it returns.
func withClock[K comparable, V any](c *Cache[K, V]) *clock {
	clk := &clock{t: time.Now()}
	c.now = clk.now
	return clk
}

// wantHeld fails unless c holds fresh the keys want marks true, and not
// those it marks false.
func wantHeld[K comparable, V any](t *testing.T, c *Cache[K, V], want map[K]bool) {
	t.Helper()
	got := map[K]bool{}
	for k := range want {
		_, got[k] = c.Get(k)
	}
	if !maps.Equal(got, want) {
		t.Fatalf("held %v; want %v", got, want)
	}
}

// checkOrder fails unless c's list holds exactly its map's entries, by expiry.
func checkOrder[K comparable, V any](t *testing.T, c *Cache[K, V]) {
	t.Helper()
	n := 0
	for e := c.order.next; e != &c.order; e = e.next {
		if c.entries[e.key] != e {
			t.Fatalf("listed entry %v is not the map's", e.key)
		}
		if e.next != &c.order && e.next.expires.Before(e.expires) {
			t.Fatalf("%v expires after the next entry, %v", e.key, e.next.key)
		}
		n++
	}
	if n != len(c.entries) {
		t.Fatalf("%d entries listed, %d in the map", n, len(c.entries))
	}
}

func TestFullEvictsOnlyTheOldest(t *testing.T) {
	c := New[string, int](time.Hour, 3)
	clk := withClock(c)
	for i, k := range []string{"a", "b", "c"} {
		c.Put(k, i)
		clk.advance(time.Second)
	}
	c.Put("d", 3)
	wantHeld(t, c, map[string]bool{"a": false, "b": true, "c": true, "d": true})
	checkOrder(t, c)
}

func TestExpiredDroppedFirst(t *testing.T) {
	c := New[string, int](10*time.Second, 3)
	clk := withClock(c)
	c.Put("a", 0)
	clk.advance(time.Second)
	c.Put("b", 1)
	// a has expired and b has not: storing c drops a, though the cache is not full.
	clk.advance(9500 * time.Millisecond)
	c.Put("c", 2)
	if n := len(c.entries); n != 2 {
		t.Fatalf("%d entries after a store past a's expiry, want 2 (b and c)", n)
	}
	// With a gone, d fits beside b and c: no live entry is evicted.
	c.Put("d", 3)
	wantHeld(t, c, map[string]bool{"a": false, "b": true, "c": true, "d": true})
	checkOrder(t, c)
}

func TestRePutRefreshesPlace(t *testing.T) {
	c := New[string, int](time.Hour, 3)
	clk := withClock(c)
	for i, k := range []string{"a", "b", "c"} {
		c.Put(k, i)
		clk.advance(time.Second)
	}
	c.Put("a", 10) // a is now the newest: b is the oldest
	clk.advance(time.Second)
	c.Put("d", 3)
	wantHeld(t, c, map[string]bool{"a": true, "b": false, "c": true, "d": true})
	if v, _ := c.Get("a"); v != 10 {
		t.Fatalf("a = %d, want the re-stored 10", v)
	}
	// a lives an hour from its re-store, past its first store's expiry.
	clk.advance(time.Hour - 3*time.Second)
	if _, ok := c.Get("a"); !ok {
		t.Fatal("a expired an hour after its first store, not its last")
	}
	checkOrder(t, c)
}

func TestLoadTakesItsPlaceByExpiry(t *testing.T) {
	c := New[string, int](time.Hour, 3)
	clk := withClock(c)
	c.Put("a", 0)
	clk.advance(time.Second)
	// l's value is read before b and c are stored, so it expires before them:
	// storing it in the full cache evicts a, and it is the next to go.
	c.Load("l", func() (int, error) {
		clk.advance(time.Second)
		c.Put("b", 1)
		clk.advance(time.Second)
		c.Put("c", 2)
		return 9, nil
	})
	wantHeld(t, c, map[string]bool{"a": false, "l": true, "b": true, "c": true})
	checkOrder(t, c)
	clk.advance(time.Second)
	c.Put("d", 3)
	wantHeld(t, c, map[string]bool{"l": false, "b": true, "c": true, "d": true})
	checkOrder(t, c)
}

func TestDeletesKeepTheOrder(t *testing.T) {
	c := New[int, int](time.Hour, 4)
	clk := withClock(c)
	for i := range 4 {
		c.Put(i, i)
		clk.advance(time.Second)
	}
	c.Delete(0)
	c.DeleteFunc(func(k, _ int) bool { return k == 2 })
	checkOrder(t, c)
	for i := 4; i < 7; i++ {
		c.Put(i, i)
		clk.advance(time.Second)
	}
	// 1 and 3 were the oldest left, then 4, 5, 6: the bound of 4 evicted 1.
	wantHeld(t, c, map[int]bool{1: false, 3: true, 4: true, 5: true, 6: true})
	checkOrder(t, c)
}

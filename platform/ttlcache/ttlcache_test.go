package ttlcache

import (
	"errors"
	"testing"
	"time"
)

func TestGetPutExpire(t *testing.T) {
	c := New[string, int](50*time.Millisecond, 10)
	if _, ok := c.Get("a"); ok {
		t.Fatal("empty cache has a")
	}
	c.Put("a", 1)
	if v, ok := c.Get("a"); !ok || v != 1 {
		t.Fatalf("a = %d, %v; want 1", v, ok)
	}
	time.Sleep(80 * time.Millisecond)
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

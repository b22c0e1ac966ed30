package redemption

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/punchcard-loyalty/punchcard/platform/campaigns"
)

// TestNextBatchReadsEveryCandidateOnce drives nextBatch over two sorted lists
// the way candidates reads them (from the cursor, at most n, or one moment
// whole), and checks that the batches together hold every candidate once, newest
// first, whatever the ties and the batch size.
func TestNextBatchReadsEveryCandidateOnce(t *testing.T) {
	base := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	// Moments with ties within and across the lists, one tie longer than most n.
	vouchers := []int{9, 9, 8, 7, 7, 7, 5, 3, 3, 1}
	tiers := []int{9, 8, 8, 8, 6, 4, 4, 4, 4, 4, 4, 3, 2}
	mk := func(prefix string, moments []int) []candidate {
		var cs []candidate
		for i, m := range moments {
			cs = append(cs, candidate{RedeemableRef{Object: prefix, ID: fmt.Sprintf("%s%d", prefix, i)}, base.Add(time.Duration(m) * time.Second)})
		}
		return cs
	}
	lists := [][]candidate{mk("v", vouchers), mk("t", tiers)}
	var reads int
	r := func(c cursor, moment *time.Time, n int) ([][]candidate, error) {
		reads++
		var out [][]candidate
		for _, l := range lists {
			var got []candidate
			for _, x := range l {
				switch {
				case moment != nil && !x.at.Equal(*moment):
				case moment == nil && c.at != nil && (x.at.After(*c.at) || (!c.inclusive && x.at.Equal(*c.at))):
				case len(got) < n:
					got = append(got, x)
				}
			}
			out = append(out, got)
		}
		return out, nil
	}
	for n := 1; n <= 14; n++ {
		var (
			c    cursor
			seen []string
			prev *time.Time
		)
		reads = 0
		for {
			if reads > 100 {
				t.Fatalf("n=%d: no end after 100 reads", n)
			}
			batch, next, exhausted, err := nextBatch(r, n, c)
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range batch {
				if prev != nil && x.at.After(*prev) {
					t.Fatalf("n=%d: %s at %v after an older one", n, x.ref.ID, x.at)
				}
				at := x.at
				prev = &at
				seen = append(seen, x.ref.ID)
			}
			if exhausted {
				break
			}
			c = next
		}
		sorted := slices.Clone(seen)
		slices.Sort(sorted)
		if len(slices.Compact(sorted)) != len(seen) {
			t.Fatalf("n=%d: a candidate repeated: %v", n, seen)
		}
		if want := len(vouchers) + len(tiers); len(seen) != want {
			t.Fatalf("n=%d: %d candidates in the batches, want %d: %v", n, len(seen), want, seen)
		}
	}
}

// The cursor a page hands on, as starting_after: after an inclusive cursor at t,
// the next page starts with what was created at t.
func TestCursorStartingAfter(t *testing.T) {
	at := time.Date(2026, 12, 3, 10, 0, 0, 5000, time.UTC)
	if got := (cursor{at: &at}).startingAfter(); !got.Equal(at) {
		t.Errorf("exclusive cursor: starting_after %v, want %v", got, at)
	}
	if got := (cursor{at: &at, inclusive: true}).startingAfter(); !got.Equal(at.Add(time.Microsecond)) {
		t.Errorf("inclusive cursor: starting_after %v, want a microsecond later", got)
	}
	if (cursor{}).startingAfter() != nil {
		t.Error("the newest cursor has a starting_after")
	}
}

func TestPageCutKeepsMomentsTogether(t *testing.T) {
	base := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	outcomes := func(moments ...int) []Outcome {
		var os []Outcome
		for _, m := range moments {
			os = append(os, Outcome{Tier: &campaigns.Tier{CreatedAt: base.Add(time.Duration(m) * time.Second)}})
		}
		return os
	}
	for _, c := range []struct {
		moments []int
		limit   int
		want    int
	}{
		{[]int{5, 4, 3}, 2, 2},       // no tie at the cut
		{[]int{5, 4, 4, 3}, 2, 1},    // the tie moves to the next page
		{[]int{4, 4, 4, 3}, 2, 3},    // a tie filling the page from its start comes whole
		{[]int{5, 4}, 5, 2},          // fewer than the limit
		{[]int{5, 5, 4, 4, 4}, 4, 2}, // the tie at the cut goes, the one before stays
	} {
		if got := pageCut(outcomes(c.moments...), c.limit); got != c.want {
			t.Errorf("pageCut(%v, %d) = %d, want %d", c.moments, c.limit, got, c.want)
		}
	}
}

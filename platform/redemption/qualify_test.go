package redemption

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/punchcard-loyalty/punchcard/platform/campaigns"
)

// TestBatchOfPagesWithoutGapsOrRepeats drives batchOf over two sorted lists the
// way candidates reads them (each from the cursor, at most n), and checks that the
// batches together hold every candidate once, newest first, whatever the ties.
func TestBatchOfPagesWithoutGapsOrRepeats(t *testing.T) {
	base := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	// Moments with ties within and across the lists.
	vouchers := []int{9, 9, 8, 7, 7, 7, 5, 3, 3, 1}
	tiers := []int{9, 8, 8, 8, 6, 3, 2}
	mk := func(prefix string, moments []int) []candidate {
		var cs []candidate
		for i, m := range moments {
			cs = append(cs, candidate{RedeemableRef{Object: prefix, ID: fmt.Sprintf("%s%d", prefix, i)}, base.Add(time.Duration(m) * time.Second)})
		}
		return cs
	}
	all := [][]candidate{mk("v", vouchers), mk("t", tiers)}
	read := func(l []candidate, c cursor, n int) []candidate {
		var out []candidate
		for _, x := range l {
			if c.at != nil && (x.at.After(*c.at) || (!c.inclusive && x.at.Equal(*c.at))) {
				continue
			}
			if len(out) < n {
				out = append(out, x)
			}
		}
		return out
	}
	for n := 1; n <= 12; n++ {
		var (
			c    cursor
			seen []string
			prev *time.Time
		)
		for round := 0; ; round++ {
			if round > 100 {
				t.Fatalf("n=%d: no end after 100 batches", n)
			}
			batch, next, exhausted := batchOf([][]candidate{read(all[0], c, n), read(all[1], c, n)}, n, c)
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
		// With n ≥ the largest tie group (3) nothing may be missed or repeated.
		want := len(vouchers) + len(tiers)
		sorted := slices.Clone(seen)
		slices.Sort(sorted)
		if len(slices.Compact(sorted)) != len(seen) {
			t.Fatalf("n=%d: a candidate repeated: %v", n, seen)
		}
		if n >= 3 && len(seen) != want {
			t.Fatalf("n=%d: %d candidates in the batches, want %d: %v", n, len(seen), want, seen)
		}
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

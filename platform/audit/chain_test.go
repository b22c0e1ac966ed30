package audit

import (
	"encoding/json"
	"testing"
	"time"
)

func TestChainHashIsStableAcrossStorageForms(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.UTC)
	a := &Event{TenantID: "ten_1", ID: "evt_1", OccurredAt: at, ActorType: "api_key", ActorID: "key_1",
		Action: "customer.updated", ResourceType: "customer", ResourceID: "cust_1", Outcome: "success",
		After: json.RawMessage(`{"changed":["name","email"],"n":12345678901234567}`)}
	b := *a
	// PostgreSQL's jsonb reorders keys and spaces; SQLite returns times in another zone.
	b.After = json.RawMessage(`{ "n": 12345678901234567, "changed": ["name", "email"] }`)
	b.OccurredAt = at.Truncate(time.Microsecond).In(time.FixedZone("CET", 3600))
	ha, err := chainHash("prev", a)
	if err != nil {
		t.Fatal(err)
	}
	hb, err := chainHash("prev", &b)
	if err != nil {
		t.Fatal(err)
	}
	if ha != hb {
		t.Fatalf("equal events hash differently: %s vs %s", ha, hb)
	}
	tests := []struct {
		name   string
		mutate func(e *Event)
		prev   string
	}{
		{"other previous hash", func(*Event) {}, "other"},
		{"edited action", func(e *Event) { e.Action = "customer.deleted" }, "prev"},
		{"edited actor", func(e *Event) { e.ActorID = "key_2" }, "prev"},
		{"edited state", func(e *Event) { e.After = json.RawMessage(`{"changed":["name"],"n":12345678901234567}`) }, "prev"},
		{"edited number", func(e *Event) { e.After = json.RawMessage(`{"changed":["name","email"],"n":12345678901234568}`) }, "prev"},
		{"edited time", func(e *Event) { e.OccurredAt = e.OccurredAt.Add(time.Microsecond) }, "prev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := *a
			tt.mutate(&c)
			h, err := chainHash(tt.prev, &c)
			if err != nil {
				t.Fatal(err)
			}
			if h == ha {
				t.Fatal("a change did not change the hash")
			}
		})
	}
}

func TestMarshalStateDropsNullAndCanonicalises(t *testing.T) {
	got, err := marshalState(map[string]any{"b": 1, "a": []string{"x"}})
	if err != nil || string(got) != `{"a":["x"],"b":1}` {
		t.Fatalf("marshalState = %s, %v", got, err)
	}
	if got, err := marshalState(nil); err != nil || got != nil {
		t.Fatalf("marshalState(nil) = %s, %v", got, err)
	}
}

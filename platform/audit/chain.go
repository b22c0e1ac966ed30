package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// canonicalJSON re-encodes a JSON document with sorted object keys, no insignificant
// white space and numbers kept as written, so the same content hashes the same
// whichever database stored it (PostgreSQL's jsonb reorders keys).
func canonicalJSON(b []byte) (json.RawMessage, error) {
	if len(b) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("canonical json: %w", err)
	}
	out, err := json.Marshal(v) // maps marshal with sorted keys
	if err != nil {
		return nil, fmt.Errorf("canonical json: %w", err)
	}
	return out, nil
}

// canonicalEvent is the chained content of an event: every stored field, in a fixed
// order, with times in UTC at microsecond precision.
type canonicalEvent struct {
	TenantID     string          `json:"tenant_id"`
	ID           string          `json:"id"`
	OccurredAt   string          `json:"occurred_at"`
	ActorType    string          `json:"actor_type"`
	ActorID      string          `json:"actor_id"`
	Action       string          `json:"action"`
	ResourceType string          `json:"resource_type"`
	ResourceID   string          `json:"resource_id"`
	Outcome      string          `json:"outcome"`
	RequestID    string          `json:"request_id"`
	TraceID      string          `json:"trace_id"`
	Before       json.RawMessage `json:"before"`
	After        json.RawMessage `json:"after"`
}

// chainHash returns hex(SHA-256(prevHash ‖ canonical(ev))).
func chainHash(prevHash string, ev *Event) (string, error) {
	c := canonicalEvent{
		TenantID:     ev.TenantID,
		ID:           ev.ID,
		OccurredAt:   ev.OccurredAt.UTC().Truncate(time.Microsecond).Format("2006-01-02T15:04:05.000000Z"),
		ActorType:    ev.ActorType,
		ActorID:      ev.ActorID,
		Action:       ev.Action,
		ResourceType: ev.ResourceType,
		ResourceID:   ev.ResourceID,
		Outcome:      ev.Outcome,
		RequestID:    ev.RequestID,
		TraceID:      ev.TraceID,
	}
	var err error
	if c.Before, err = canonicalOrNull(ev.Before); err != nil {
		return "", err
	}
	if c.After, err = canonicalOrNull(ev.After); err != nil {
		return "", err
	}
	b, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encode event %s: %w", ev.ID, err)
	}
	h := sha256.New()
	h.Write([]byte(prevHash))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)), nil
}

func canonicalOrNull(b json.RawMessage) (json.RawMessage, error) {
	if len(b) == 0 || string(b) == "null" {
		return json.RawMessage("null"), nil
	}
	return canonicalJSON(b)
}

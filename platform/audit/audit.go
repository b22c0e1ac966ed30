// Package audit owns Punchcard's tamper-evident audit log. Every mutation records an
// Event inside its own database transaction; a sealer later chains each tenant's
// events with SHA-256 (hash = H(prev_hash ‖ canonical event)) in a separate table, so
// writers never wait for one another on the chain; Verify recomputes the chain and
// names the first event that does not match. Events hold opaque ids and field names,
// never personal data, so erasing a customer does not break the chain.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/ids"
	"github.com/punchcard-loyalty/punchcard/platform/telemetry"
)

// Actor types.
const (
	ActorAPIKey   = "api_key"
	ActorOperator = "operator"
	ActorCLI      = "cli"
	ActorSystem   = "system"
)

// Outcomes.
const (
	OutcomeSuccess = "success"
	OutcomeDenied  = "denied"
	OutcomeFailure = "failure"
)

// Actor is who performed a mutation.
type Actor struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

type actorKey struct{}

// WithActor returns ctx carrying the actor that audit events recorded under it name.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor in ctx, or the system actor.
func ActorFrom(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok {
		return a
	}
	return Actor{Type: ActorSystem, ID: "punchcard"}
}

// Entry is what a service says about one mutation. Before and After must not hold
// personal data: use ids, statuses, amounts and the names of changed fields.
type Entry struct {
	Action       string // "customer.created"
	ResourceType string // "customer"
	ResourceID   string
	Outcome      string // default OutcomeSuccess
	Before       any
	After        any
}

// Event is one stored audit event.
type Event struct {
	bun.BaseModel `bun:"table:audit_events,alias:e"`

	TenantID     string          `bun:"tenant_id,pk"`
	ID           string          `bun:"id,pk"`
	OccurredAt   time.Time       `bun:"occurred_at"`
	ActorType    string          `bun:"actor_type"`
	ActorID      string          `bun:"actor_id"`
	Action       string          `bun:"action"`
	ResourceType string          `bun:"resource_type"`
	ResourceID   string          `bun:"resource_id"`
	Outcome      string          `bun:"outcome"`
	RequestID    string          `bun:"request_id"`
	TraceID      string          `bun:"trace_id"`
	Before       json.RawMessage `bun:"before,type:jsonb,nullzero"`
	After        json.RawMessage `bun:"after,type:jsonb,nullzero"`

	// Seq and Hash are the event's place in the chain, zero until sealed.
	Seq  int64  `bun:"seq,scanonly"`
	Hash string `bun:"hash,scanonly"`
}

// Log records, seals, lists and verifies audit events.
type Log struct {
	db  *db.DB
	now func() time.Time
}

// New returns the audit log over d. now is the clock.
func New(d *db.DB, now func() time.Time) *Log {
	return &Log{db: d, now: now}
}

// Record writes one event for tenantID inside tx, the transaction of the mutation it
// describes, and queues it for sealing. The actor, request id and trace id come from
// ctx.
func (l *Log) Record(ctx context.Context, tx bun.IDB, tenantID string, e Entry) (*Event, error) {
	var b db.Batch
	ev, err := l.Add(ctx, tx, &b, tenantID, e)
	if err != nil {
		return nil, err
	}
	if _, err := l.db.Write(ctx, tx, &b); err != nil {
		return nil, fmt.Errorf("audit %s: %w", e.Action, err)
	}
	return ev, nil
}

// Add puts the inserts that record one event for tenantID, and queue it for
// sealing, into b, for a caller that writes them in tx together with its own
// (Record is Add and Write). The actor, request id and trace id come from ctx.
func (l *Log) Add(ctx context.Context, tx bun.IDB, b *db.Batch, tenantID string, e Entry) (*Event, error) {
	actor := ActorFrom(ctx)
	ev := &Event{
		TenantID:     tenantID,
		ID:           ids.New(ids.AuditEvent),
		OccurredAt:   l.now().UTC().Truncate(time.Microsecond),
		ActorType:    actor.Type,
		ActorID:      actor.ID,
		Action:       e.Action,
		ResourceType: e.ResourceType,
		ResourceID:   e.ResourceID,
		Outcome:      e.Outcome,
		RequestID:    telemetry.RequestID(ctx),
		TraceID:      telemetry.TraceID(ctx),
	}
	if ev.Outcome == "" {
		ev.Outcome = OutcomeSuccess
	}
	var err error
	if ev.Before, err = marshalState(e.Before); err != nil {
		return nil, fmt.Errorf("audit %s: before: %w", e.Action, err)
	}
	if ev.After, err = marshalState(e.After); err != nil {
		return nil, fmt.Errorf("audit %s: after: %w", e.Action, err)
	}
	b.Insert(tx.NewInsert().Model(ev), tx.NewInsert().Model(&pending{TenantID: tenantID, EventID: ev.ID}))
	return ev, nil
}

// RecordAlone writes one event in a transaction of its own, for outcomes whose
// mutation was refused and so has no transaction to join.
func (l *Log) RecordAlone(ctx context.Context, tenantID string, e Entry) error {
	return l.db.InTx(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		_, err := l.Record(ctx, tx, tenantID, e)
		return err
	})
}

func marshalState(v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	if raw, ok := v.(json.RawMessage); ok {
		return canonicalJSON(raw)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if string(b) == "null" {
		return nil, nil
	}
	return canonicalJSON(b)
}

type pending struct {
	bun.BaseModel `bun:"table:audit_pending"`
	TenantID      string `bun:"tenant_id,pk"`
	EventID       string `bun:"event_id,pk"`
}

type seal struct {
	bun.BaseModel `bun:"table:audit_seals"`
	TenantID      string    `bun:"tenant_id,pk"`
	Seq           int64     `bun:"seq,pk"`
	EventID       string    `bun:"event_id"`
	PrevHash      string    `bun:"prev_hash"`
	Hash          string    `bun:"hash"`
	SealedAt      time.Time `bun:"sealed_at"`
}

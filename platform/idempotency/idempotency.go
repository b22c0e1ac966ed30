// Package idempotency implements the Idempotency-Key contract of the API: the first
// request with a key runs and its reply is stored, in the same transaction as the
// change it made; a repeat with the same body gets the stored reply; a repeat with
// another body is refused (422 idempotency_key_reused); a repeat while the first is
// still running is refused (409 idempotency_key_in_use). Keys are per tenant and
// kept for Retention, then purged (PurgeAll, run hourly by serve).
package idempotency

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"

	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

const (
	// Retention is how long a stored reply is replayed.
	Retention = 24 * time.Hour
	// Lease is how long a first request may run before a retry may take its key
	// over (the first one crashed or timed out without an answer).
	Lease = 60 * time.Second
	// MaxKeyLength bounds a key.
	MaxKeyLength = 255
)

// Store keeps keys and replies.
type Store struct {
	db  *db.DB
	now func() time.Time
}

// New returns a store. now is the clock.
func New(d *db.DB, now func() time.Time) *Store { return &Store{db: d, now: now} }

type row struct {
	bun.BaseModel `bun:"table:idempotency_keys,alias:ik"`

	TenantID    string     `bun:"tenant_id,pk"`
	Key         string     `bun:"key,pk"`
	RequestHash string     `bun:"request_hash"`
	LockedUntil *time.Time `bun:"locked_until"`
	Status      *int       `bun:"status"`
	Body        []byte     `bun:"body"`
	CreatedAt   time.Time  `bun:"created_at"`
}

// Reply is a stored answer.
type Reply struct {
	Status int
	Body   []byte
}

// Ticket is a claimed key: the request runs and must end with Finish (in its own
// transaction), FinishAlone or Release.
type Ticket struct {
	store    *Store
	tenantID string
	key      string
}

// Hash fingerprints a request: its method, target (path and query string, which
// may carry arguments such as a rollback's reason) and body.
func Hash(method, target string, body []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s %s\n", method, target)
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// CheckKey validates an Idempotency-Key header value.
func CheckKey(key string) error {
	if key == "" || utf8.RuneCountInString(key) > MaxKeyLength || !utf8.ValidString(key) ||
		strings.ContainsFunc(key, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return problem.Invalidf("Idempotency-Key", "the Idempotency-Key header must be 1 to %d printable characters", MaxKeyLength)
	}
	return nil
}

// Begin claims key for a request with the given hash. It returns a ticket when the
// request should run, or the stored reply when it already ran.
func (s *Store) Begin(ctx context.Context, tenantID, key, hash string) (*Ticket, *Reply, error) {
	if err := CheckKey(key); err != nil {
		return nil, nil, err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	lease := now.Add(Lease)
	var (
		reply *Reply
		fresh bool
	)
	err := s.db.InTx(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewInsert().Model(&row{TenantID: tenantID, Key: key, RequestHash: hash, LockedUntil: &lease, CreatedAt: now}).
			On("CONFLICT (tenant_id, key) DO NOTHING").Exec(ctx)
		if err != nil {
			return fmt.Errorf("claim idempotency key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			fresh = true
			return nil
		}
		var r row
		if err := tx.NewSelect().Model(&r).Where("ik.tenant_id = ? AND ik.key = ?", tenantID, key).Scan(ctx); err != nil {
			return fmt.Errorf("read idempotency key: %w", err)
		}
		expired := now.Sub(r.CreatedAt) > Retention
		abandoned := r.Status == nil && r.LockedUntil != nil && !r.LockedUntil.After(now)
		switch {
		case expired || (abandoned && r.RequestHash == hash):
			// Take the key over: conditionally, so two retries cannot both win.
			res, err := tx.NewUpdate().Model(&r).
				Set("request_hash = ?", hash).Set("locked_until = ?", lease).Set("status = NULL").Set("body = NULL").Set("created_at = ?", now).
				Where("tenant_id = ? AND key = ? AND created_at = ?", tenantID, key, r.CreatedAt).
				Where("(status IS NOT NULL OR locked_until = ?)", r.LockedUntil).Exec(ctx)
			if err != nil {
				return fmt.Errorf("take over idempotency key: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 1 {
				fresh = true
				return nil
			}
			return inUse(key)
		case r.RequestHash != hash:
			return &problem.Error{Kind: problem.KindUnprocessable, Key: "idempotency_key_reused", Message: "Idempotency key reused",
				Details: fmt.Sprintf("Idempotency-Key %q was used with a different request; use a new key for a new request", key), Field: "Idempotency-Key"}
		case r.Status != nil:
			reply = &Reply{Status: *r.Status, Body: r.Body}
			return nil
		default:
			return inUse(key)
		}
	})
	if err != nil {
		return nil, nil, err
	}
	if !fresh {
		return nil, reply, nil
	}
	return &Ticket{store: s, tenantID: tenantID, key: key}, nil, nil
}

func inUse(key string) error {
	return &problem.Error{Kind: problem.KindConflict, Key: "idempotency_key_in_use", Message: "Idempotency key in use",
		Details: fmt.Sprintf("a request with Idempotency-Key %q is still running; retry when it has answered", key), Field: "Idempotency-Key"}
}

// Finish stores the reply in tx, the transaction of the change the request made.
func (t *Ticket) Finish(ctx context.Context, tx bun.IDB, status int, body []byte) error {
	if t == nil {
		return nil
	}
	_, err := tx.NewUpdate().Model((*row)(nil)).Set("status = ?", status).Set("body = ?", body).Set("locked_until = NULL").
		Where("tenant_id = ? AND key = ?", t.tenantID, t.key).Exec(ctx)
	if err != nil {
		return fmt.Errorf("store idempotent reply: %w", err)
	}
	return nil
}

// FinishAlone stores the reply of a request that changed nothing (a refusal), in a
// transaction of its own.
func (t *Ticket) FinishAlone(ctx context.Context, status int, body []byte) error {
	if t == nil {
		return nil
	}
	return t.store.db.InTx(ctx, t.tenantID, func(ctx context.Context, tx bun.Tx) error {
		return t.Finish(ctx, tx, status, body)
	})
}

// Release gives the key up when the request failed without an answer worth
// replaying (an internal error): a retry runs it again.
func (t *Ticket) Release(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.store.db.InTx(context.WithoutCancel(ctx), t.tenantID, func(ctx context.Context, tx bun.Tx) error {
		_, err := tx.NewDelete().Model((*row)(nil)).Where("tenant_id = ? AND key = ? AND status IS NULL", t.tenantID, t.key).Exec(ctx)
		return err
	})
}

// Purge deletes a tenant's replies older than Retention.
func (s *Store) Purge(ctx context.Context, tenantID string) (int64, error) {
	var n int64
	err := s.db.InTx(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewDelete().Model((*row)(nil)).Where("tenant_id = ? AND created_at < ?", tenantID, s.now().UTC().Add(-Retention)).Exec(ctx)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// PurgeAll purges every tenant's replies older than Retention (Purge), tenant
// by tenant, and returns how many it deleted. Stored replies hold what requests
// said about customers; they are kept no longer than the contract needs.
func (s *Store) PurgeAll(ctx context.Context) (int64, error) {
	var (
		total int64
		errs  []error
	)
	after := ""
	for {
		var tenants []string
		if err := s.db.InInstanceTx(ctx, "", func(ctx context.Context, tx bun.Tx) error {
			return tx.NewSelect().Table("tenants").Column("id").Where("id > ?", after).OrderExpr("id").Limit(500).Scan(ctx, &tenants)
		}); err != nil {
			return total, errors.Join(append(errs, fmt.Errorf("list tenants: %w", err))...)
		}
		for _, t := range tenants {
			// A tenant whose keys will not purge does not hold up the others'.
			n, err := s.Purge(ctx, t)
			if err != nil {
				errs = append(errs, fmt.Errorf("purge idempotency keys of %s: %w", t, err))
			}
			total += n
		}
		if len(tenants) < 500 {
			return total, errors.Join(errs...)
		}
		after = tenants[len(tenants)-1]
	}
}

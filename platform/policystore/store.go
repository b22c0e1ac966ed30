// Package policystore keeps each tenant's own policies: publishing a checked,
// immutable version of a kind (eligibility, stacking, fraud, segments),
// activating any earlier version (rollback), and the in-memory index of active
// versions that every node evaluates from. The index loads a tenant lazily on its
// first decision and is kept current by polling the database for activations, so
// a publish on one node reaches every node within PollInterval, with no restart.
// Every publish and activation is audited with the module diff.
package policystore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/uptrace/bun"
	"golang.org/x/sync/singleflight"

	"github.com/punchcard-loyalty/punchcard/platform/audit"
	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
	"github.com/punchcard-loyalty/punchcard/policies"
)

// PollInterval is how often serve asks the database for activations (Poll).
const PollInterval = 250 * time.Millisecond

// pollOverlap is how far back each poll looks before the previous one: an
// activation whose transaction began before a poll but committed after it still
// shows up in the next polls (applying one twice changes nothing).
const pollOverlap = 30 * time.Second

// MaxVersions bounds the versions a tenant may keep per kind: versions are
// immutable and never deleted, so this is what bounds their storage.
const MaxVersions = 1000

// Version is one immutable published policy version.
type Version struct {
	bun.BaseModel `bun:"table:policy_versions,alias:pv"`

	TenantID    string           `bun:"tenant_id,pk"`
	Kind        policies.Kind    `bun:"kind,pk"`
	Number      int              `bun:"version,pk"`
	Modules     policies.Modules `bun:"modules,type:jsonb"`
	Data        map[string]any   `bun:"data,type:jsonb,nullzero,json_use_number"`
	ReplaceBase bool             `bun:"replace_base"`
	Digest      string           `bun:"digest"`
	CreatedBy   string           `bun:"created_by"`
	CreatedAt   time.Time        `bun:"created_at"`
}

// Policy is the form the engine evaluates.
func (v *Version) Policy() policies.TenantPolicy {
	return policies.TenantPolicy{Version: strconv.Itoa(v.Number), Modules: v.Modules, Data: v.Data, ReplaceBase: v.ReplaceBase}
}

// active is the row naming a (tenant, kind)'s active version.
type active struct {
	bun.BaseModel `bun:"table:policy_active,alias:pa"`

	TenantID    string        `bun:"tenant_id,pk"`
	Kind        policies.Kind `bun:"kind,pk"`
	Number      int           `bun:"version"`
	ActivatedAt time.Time     `bun:"activated_at"`
}

// Draft is a policy to publish.
type Draft struct {
	Modules     policies.Modules
	Data        map[string]any
	ReplaceBase bool
}

// Listing is a kind's versions, newest first, and the active one (0: none, the
// base policies alone decide).
type Listing struct {
	Active   int
	Versions []*Version
}

// Checker compiles a draft exactly as the engine will; policies.Check is one.
type Checker func(ctx context.Context, kind policies.Kind, p policies.TenantPolicy) error

// Store publishes and activates policy versions and serves the active ones.
// It is safe for concurrent use.
type Store struct {
	db    *db.DB
	audit *audit.Log
	now   func() time.Time
	check Checker

	mu    sync.RWMutex
	index map[string]*tenantEntry // tenant id → its active versions
	loads singleflight.Group

	pollMu   sync.Mutex
	lastPoll time.Time // the database time the previous poll started
}

// tenantEntry is one tenant's active versions, by kind.
type tenantEntry struct {
	kinds map[policies.Kind]activeVersion
}

type activeVersion struct {
	number      int
	policy      policies.TenantPolicy
	activatedAt time.Time
}

// newer reports whether av is a later activation than cur.
func (av activeVersion) newer(cur activeVersion) bool {
	return av.activatedAt.After(cur.activatedAt) || (av.activatedAt.Equal(cur.activatedAt) && av.number != cur.number)
}

// New returns the store over d. check compiles drafts (policies.Check).
func New(d *db.DB, a *audit.Log, now func() time.Time, check Checker) *Store {
	return &Store{db: d, audit: a, now: now, check: check,
		index: make(map[string]*tenantEntry)}
}

// Active returns tenantID's active version of kind, or a zero TenantPolicy (the
// base policies alone) when it has none. It answers from memory after the
// tenant's first call; it is the engine's policies.Options.TenantModules.
func (s *Store) Active(ctx context.Context, tenantID string, kind policies.Kind) (policies.TenantPolicy, error) {
	s.mu.RLock()
	e, ok := s.index[tenantID]
	var p policies.TenantPolicy
	if ok {
		p = e.kinds[kind].policy
	}
	s.mu.RUnlock()
	if ok {
		return p, nil
	}
	if err := s.load(ctx, tenantID); err != nil {
		return policies.TenantPolicy{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.index[tenantID].kinds[kind].policy, nil
}

// load reads tenantID's active versions into the index; concurrent first calls
// for one tenant share one read.
func (s *Store) load(ctx context.Context, tenantID string) error {
	_, err, _ := s.loads.Do(tenantID, func() (any, error) {
		var rows []activeVersion
		var kinds []policies.Kind
		err := s.db.Read(context.WithoutCancel(ctx), tenantID, func(ctx context.Context, tx bun.Tx) error {
			var act []active
			if err := tx.NewSelect().Model(&act).Where("tenant_id = ?", tenantID).Scan(ctx); err != nil {
				return fmt.Errorf("load active policies: %w", err)
			}
			for _, a := range act {
				v, err := version(ctx, tx, tenantID, a.Kind, a.Number)
				if err != nil {
					return err
				}
				kinds = append(kinds, a.Kind)
				rows = append(rows, activeVersion{number: v.Number, policy: v.Policy(), activatedAt: a.ActivatedAt})
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		e := &tenantEntry{kinds: make(map[policies.Kind]activeVersion, len(rows))}
		for i, k := range kinds {
			e.kinds[k] = rows[i]
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if cur, ok := s.index[tenantID]; ok {
			// A poll or a publish got here first: keep whichever is newer per kind.
			for k, av := range e.kinds {
				if av.newer(cur.kinds[k]) {
					cur.kinds[k] = av
				}
			}
			return nil, nil
		}
		s.index[tenantID] = e
		return nil, nil
	})
	return err
}

// remember puts an activation into the index if the tenant is indexed and the
// activation is newer than what the index holds.
func (s *Store) remember(tenantID string, kind policies.Kind, av activeVersion) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.index[tenantID]
	if !ok {
		return // loaded fresh from the database on the tenant's next decision
	}
	if cur, ok := e.kinds[kind]; !ok || av.newer(cur) {
		e.kinds[kind] = av
	}
}

func version(ctx context.Context, tx bun.IDB, tenantID string, kind policies.Kind, n int) (*Version, error) {
	v := new(Version)
	err := tx.NewSelect().Model(v).
		Where("tenant_id = ?", tenantID).Where("kind = ?", kind).Where("version = ?", n).Scan(ctx)
	if db.IsNotFound(err) {
		return nil, problem.NotFound("policy_version", fmt.Sprintf("%s/%d", kind, n))
	}
	if err != nil {
		return nil, fmt.Errorf("load %s policy version %d: %w", kind, n, err)
	}
	return v, nil
}

// Publish checks d, stores it as the next version of kind and activates it. A
// draft that does not compile is refused with every problem located by file, row
// and column, and the active version stays as it was.
func (s *Store) Publish(ctx context.Context, tenantID string, kind policies.Kind, d Draft) (*Version, error) {
	if err := validKind(kind); err != nil {
		return nil, err
	}
	if d.Modules == nil {
		d.Modules = policies.Modules{}
	}
	if d.ReplaceBase && kind != policies.Stacking {
		return nil, problem.Invalidf("replace_base", "replace_base: only the stacking policy may replace the base policy, not %s", kind)
	}
	if err := policies.CheckData(kind, d.Data); err != nil {
		return nil, err
	}
	if err := s.check(ctx, kind, policies.TenantPolicy{Version: "draft", Modules: d.Modules, Data: d.Data, ReplaceBase: d.ReplaceBase}); err != nil {
		return nil, &problem.Error{Kind: problem.KindUnprocessable, Key: "policy_invalid", Message: "Policy does not compile",
			Details: fmt.Sprintf("the %s policy was not published and the active version is unchanged: %v", kind, firstLine(err)),
			Errors:  policies.Problems(err)}
	}
	digest, err := digestOf(d)
	if err != nil {
		return nil, err
	}
	v := &Version{TenantID: tenantID, Kind: kind, Modules: d.Modules, Data: d.Data, ReplaceBase: d.ReplaceBase,
		Digest: digest, CreatedBy: actorID(ctx), CreatedAt: s.now().UTC().Truncate(time.Microsecond)}
	return s.change(ctx, tenantID, kind, "policy.published", func(ctx context.Context, tx bun.Tx) (*Version, error) {
		var latest int
		if err := tx.NewSelect().Model((*Version)(nil)).ColumnExpr("coalesce(max(version), 0)").
			Where("tenant_id = ?", tenantID).Where("kind = ?", kind).Scan(ctx, &latest); err != nil {
			return nil, fmt.Errorf("publish %s policy: next version: %w", kind, err)
		}
		if latest >= MaxVersions {
			return nil, problem.Conflict("policy_versions_exhausted", fmt.Sprintf("the %s policy already has %d versions, the most a tenant may keep", kind, MaxVersions))
		}
		v.Number = latest + 1
		if _, err := tx.NewInsert().Model(v).Exec(ctx); err != nil {
			return nil, fmt.Errorf("publish %s policy: insert version: %w", kind, err)
		}
		return v, nil
	})
}

// Activate makes version n of kind the active one again (a rollback, or a
// roll forward to a later version).
func (s *Store) Activate(ctx context.Context, tenantID string, kind policies.Kind, n int) (*Version, error) {
	if err := validKind(kind); err != nil {
		return nil, err
	}
	return s.change(ctx, tenantID, kind, "policy.activated", func(ctx context.Context, tx bun.Tx) (*Version, error) {
		return version(ctx, tx, tenantID, kind, n)
	})
}

// change makes the version pick returns the active one of kind, in one
// transaction that holds the (tenant, kind) lock, audits action with the diff
// from the version it replaces, and puts it into this node's index.
func (s *Store) change(ctx context.Context, tenantID string, kind policies.Kind, action string, pick func(ctx context.Context, tx bun.Tx) (*Version, error)) (*Version, error) {
	var v *Version
	var activatedAt time.Time
	err := s.db.InTx(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		if err := s.lock(ctx, tx, tenantID, kind); err != nil {
			return err
		}
		prev, err := s.current(ctx, tx, tenantID, kind)
		if err != nil {
			return err
		}
		if v, err = pick(ctx, tx); err != nil {
			return err
		}
		if activatedAt, err = s.activate(ctx, tx, tenantID, kind, v.Number); err != nil {
			return err
		}
		return s.record(ctx, tx, tenantID, action, prev, v)
	})
	if err != nil {
		return nil, err
	}
	s.remember(tenantID, kind, activeVersion{number: v.Number, policy: v.Policy(), activatedAt: activatedAt})
	return v, nil
}

// lock serialises the publishes and activations of one (tenant, kind) until tx
// ends, so that each numbers its version after the previous one and audits the
// diff from the version it replaces. SQLite's writer lock already does.
func (s *Store) lock(ctx context.Context, tx bun.Tx, tenantID string, kind policies.Kind) error {
	if s.db.Dialect() != db.Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", "policy:"+tenantID+":"+string(kind)); err != nil {
		return fmt.Errorf("lock %s policy: %w", kind, err)
	}
	return nil
}

// current is the active version of kind, nil when there is none.
func (s *Store) current(ctx context.Context, tx bun.Tx, tenantID string, kind policies.Kind) (*Version, error) {
	n, err := activeNumber(ctx, tx, tenantID, kind)
	if err != nil || n == 0 {
		return nil, err
	}
	return version(ctx, tx, tenantID, kind, n)
}

// activeNumber is the number of kind's active version, 0 when there is none.
func activeNumber(ctx context.Context, tx bun.IDB, tenantID string, kind policies.Kind) (int, error) {
	var a active
	err := tx.NewSelect().Model(&a).Where("tenant_id = ?", tenantID).Where("kind = ?", kind).Scan(ctx)
	if err != nil && !db.IsNotFound(err) {
		return 0, fmt.Errorf("load active %s policy: %w", kind, err)
	}
	return a.Number, nil
}

// activate points kind at version n, stamped with the database's clock on
// PostgreSQL (which every node's poll compares with) and the host's wall clock on
// SQLite (one host; the injected clock may stand still in tests, and these stamps
// order activations).
func (s *Store) activate(ctx context.Context, tx bun.Tx, tenantID string, kind policies.Kind, n int) (time.Time, error) {
	a := &active{TenantID: tenantID, Kind: kind, Number: n, ActivatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	q := tx.NewInsert().Model(a).
		On("CONFLICT (tenant_id, kind) DO UPDATE").
		Set("version = EXCLUDED.version").
		Set("activated_at = EXCLUDED.activated_at")
	if s.db.Dialect() == db.Postgres {
		q = q.Value("activated_at", "clock_timestamp()").Returning("activated_at")
	}
	if _, err := q.Exec(ctx); err != nil {
		return time.Time{}, fmt.Errorf("activate %s policy version %d: %w", kind, n, err)
	}
	return a.ActivatedAt, nil
}

// List returns kind's versions, newest first, with the active one.
func (s *Store) List(ctx context.Context, tenantID string, kind policies.Kind) (Listing, error) {
	if err := validKind(kind); err != nil {
		return Listing{}, err
	}
	var l Listing
	err := s.db.Read(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		if err := tx.NewSelect().Model(&l.Versions).Where("tenant_id = ?", tenantID).Where("kind = ?", kind).
			OrderExpr("version DESC").Scan(ctx); err != nil {
			return fmt.Errorf("list %s policy versions: %w", kind, err)
		}
		var err error
		l.Active, err = activeNumber(ctx, tx, tenantID, kind)
		return err
	})
	return l, err
}

// Get returns version n of kind and whether it is the active one.
func (s *Store) Get(ctx context.Context, tenantID string, kind policies.Kind, n int) (v *Version, isActive bool, err error) {
	if err := validKind(kind); err != nil {
		return nil, false, err
	}
	err = s.db.Read(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		if v, err = version(ctx, tx, tenantID, kind, n); err != nil {
			return err
		}
		a, err := activeNumber(ctx, tx, tenantID, kind)
		isActive = a == n
		return err
	})
	return v, isActive, err
}

// Poll applies the activations made since the previous poll (less pollOverlap)
// to the tenants this node holds.
func (s *Store) Poll(ctx context.Context) error {
	s.pollMu.Lock()
	defer s.pollMu.Unlock()
	var changed []active
	var started time.Time
	err := s.db.ReadInstance(ctx, func(ctx context.Context, tx bun.Tx) error {
		started = time.Now().UTC()
		if s.db.Dialect() == db.Postgres {
			if err := tx.NewRaw("SELECT clock_timestamp()").Scan(ctx, &started); err != nil {
				return fmt.Errorf("poll policy activations: clock: %w", err)
			}
		}
		q := tx.NewSelect().Model(&changed)
		if !s.lastPoll.IsZero() {
			q = q.Where("activated_at > ?", s.lastPoll.Add(-pollOverlap))
		}
		if err := q.Scan(ctx); err != nil {
			return fmt.Errorf("poll policy activations: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.lastPoll = started
	for _, a := range changed {
		if !s.stale(a) {
			continue
		}
		var v *Version
		err := s.db.Read(ctx, a.TenantID, func(ctx context.Context, tx bun.Tx) error {
			var err error
			v, err = version(ctx, tx, a.TenantID, a.Kind, a.Number)
			return err
		})
		if err != nil {
			return err
		}
		s.remember(a.TenantID, a.Kind, activeVersion{number: v.Number, policy: v.Policy(), activatedAt: a.ActivatedAt})
	}
	return nil
}

// stale reports whether a is an activation of an indexed tenant that the index
// does not hold yet.
func (s *Store) stale(a active) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.index[a.TenantID]
	if !ok {
		return false
	}
	cur, ok := e.kinds[a.Kind]
	return !ok || (activeVersion{number: a.Number, activatedAt: a.ActivatedAt}).newer(cur)
}

// record audits a publish or activation with the module diff from prev (nil:
// the base policies alone) to v.
func (s *Store) record(ctx context.Context, tx bun.Tx, tenantID, action string, prev, v *Version) error {
	after := map[string]any{"kind": v.Kind, "version": v.Number, "digest": v.Digest,
		"modules": slices.Sorted(maps.Keys(v.Modules)), "replace_base": v.ReplaceBase,
		"diff": Diff(prev, v)}
	var before any
	if prev != nil {
		before = map[string]any{"kind": prev.Kind, "version": prev.Number, "digest": prev.Digest}
	}
	_, err := s.audit.Record(ctx, tx, tenantID, audit.Entry{Action: action, ResourceType: "policy",
		ResourceID: string(v.Kind), Before: before, After: after})
	return err
}

// digestOf is the SHA-256 of a draft's canonical JSON (encoding/json sorts map keys).
func digestOf(d Draft) (string, error) {
	b, err := json.Marshal(map[string]any{"modules": d.Modules, "data": d.Data, "replace_base": d.ReplaceBase})
	if err != nil {
		return "", problem.Invalidf("data", "data: %v", err)
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

func validKind(kind policies.Kind) error {
	if !kind.Valid() {
		return problem.NotFound("policy", string(kind))
	}
	return nil
}

func actorID(ctx context.Context) string {
	a := audit.ActorFrom(ctx)
	return a.Type + ":" + a.ID
}

// firstLine is the first line of err's text, for a one-line summary.
func firstLine(err error) string {
	msg := err.Error()
	var p *problem.Error
	if errors.As(err, &p) {
		msg = p.Details
	}
	for i, r := range msg {
		if r == '\n' {
			return msg[:i]
		}
	}
	return msg
}

package customers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"

	"github.com/punchcard-loyalty/punchcard/platform/audit"
	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/ids"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

// ResourceType names customers in errors and audit events.
const ResourceType = "customer"

// maxConsentsPerCustomer bounds the consents one customer may hold, so that reading
// them back is bounded too.
const maxConsentsPerCustomer = 1000

// unsubscribed is Voucherify's consents key that withdraws every consent at once.
const unsubscribed = "unsubscribed"

// Service manages customers.
type Service struct {
	db      *db.DB
	audit   *audit.Log
	now     func() time.Time
	erasers []eraser
}

// Eraser removes a customer's personal data that another package keeps (the
// request metadata of their redemptions, say) in the erasure's transaction, and
// says how many rows it changed.
type Eraser func(ctx context.Context, tx bun.Tx, tenantID, customerID string) (int64, error)

type eraser struct {
	name string
	fn   Eraser
}

// ErasesWith makes Erase run fn too, reporting its count under name in the
// audit event. Packages that keep personal data about customers register one.
func (s *Service) ErasesWith(name string, fn Eraser) { s.erasers = append(s.erasers, eraser{name, fn}) }

// NewService returns the customer service. now is the clock.
func NewService(d *db.DB, a *audit.Log, now func() time.Time) *Service {
	return &Service{db: d, audit: a, now: now}
}

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Upsert creates a customer or updates an existing one, as POST /v1/customers does
// in Voucherify: in.ID names a customer that must exist; otherwise a source_id that
// exists selects that customer; otherwise a new customer is created. created
// reports which happened.
func (s *Service) Upsert(ctx context.Context, tenantID string, in Input) (c Customer, created bool, err error) {
	now := s.clock()
	if in, err = in.normalize(now); err != nil {
		return Customer{}, false, err
	}
	c, created, err = s.upsert(ctx, tenantID, in, now)
	if errors.Is(err, errSourceIDTaken) && in.ID == "" && in.SourceID.Value != nil {
		// A concurrent request created the same source_id between the lookup and
		// the insert; the lookup now finds it and this becomes an update.
		c, created, err = s.upsert(ctx, tenantID, in, now)
	}
	return c, created, sourceIDConflict(err)
}

func (s *Service) upsert(ctx context.Context, tenantID string, in Input, now time.Time) (c Customer, created bool, err error) {
	err = s.db.InTx(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		var err error
		switch {
		case in.ID != "":
			c, err = selectCustomer(ctx, tx, tenantID, "id", in.ID)
			if db.IsNotFound(err) {
				return problem.NotFound(ResourceType, in.ID)
			}
		case in.SourceID.Value != nil:
			c, err = selectCustomer(ctx, tx, tenantID, "source_id", *in.SourceID.Value)
			if db.IsNotFound(err) {
				created, err = true, nil
			}
		default:
			created = true
		}
		if err != nil {
			return err
		}
		if created {
			c, err = s.create(ctx, tx, tenantID, in, now)
		} else {
			c, err = amend(ctx, tx, s.audit, tenantID, c, in, now)
		}
		return err
	})
	return c, created, err
}

func (s *Service) create(ctx context.Context, tx bun.Tx, tenantID string, in Input, now time.Time) (Customer, error) {
	c := Customer{ID: ids.New(ids.Customer), CreatedAt: now, UpdatedAt: now}
	changed := in.ApplyTo(&c)
	if err := insertCustomer(ctx, tx, tenantID, &c); err != nil {
		return Customer{}, err
	}
	return c, record(ctx, s.audit, tx, tenantID, "customer.created", c.ID, map[string]any{"changed": nonNil(changed)})
}

// Ensure returns the tenant's customer with sourceID, creating it in tx when
// there is none: a redemption that names a new customer by source_id creates
// it, as Voucherify does, with the profile the request gives (a normalized
// Input: see CheckProfile); an existing customer gets the profile's fields as
// Amend gives them. created reports whether it created the customer; the
// creation is audited in tx as customer.created, like POST /v1/customers.
// Transactions creating the same source_id at once end with one customer: the
// insert does nothing on a conflict (on PostgreSQL after waiting for the other
// insert's transaction) and the customer is then read.
func Ensure(ctx context.Context, tx bun.Tx, log *audit.Log, tenantID, sourceID string, profile Input, now time.Time) (c Customer, created bool, err error) {
	c = Customer{TenantID: tenantID, ID: ids.New(ids.Customer), SourceID: sourceID, CreatedAt: now, UpdatedAt: now}
	changed := append([]string{"source_id"}, profile.ApplyTo(&c)...)
	res, err := tx.NewInsert().Model(&c).On("CONFLICT (tenant_id, source_id) DO NOTHING").Exec(ctx)
	if err != nil {
		return Customer{}, false, fmt.Errorf("insert customer: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return Customer{}, false, err
	}
	if n == 0 {
		c, err = selectCustomer(ctx, tx, tenantID, "source_id", sourceID)
		if err != nil {
			return Customer{}, false, err
		}
		c, err = amend(ctx, tx, log, tenantID, c, profile, now)
		return c, false, err
	}
	return c, true, record(ctx, log, tx, tenantID, "customer.created", c.ID, map[string]any{"changed": changed})
}

// Amend gives the tenant's customer id the fields profile sets (a normalized
// Input: see CheckProfile) in tx, as a redemption that carries customer data
// does in Voucherify, and returns the customer. Only the columns that change are
// written, so fields the request does not name keep what a concurrent update
// gives them; a change is audited as customer.updated, like PUT /v1/customers.
func Amend(ctx context.Context, tx bun.Tx, log *audit.Log, tenantID, id string, profile Input, now time.Time) (Customer, error) {
	c, err := selectCustomer(ctx, tx, tenantID, "id", id)
	if err != nil {
		return Customer{}, err
	}
	return amend(ctx, tx, log, tenantID, c, profile, now)
}

// amend applies profile to c and saves the fields it changes, audited as
// customer.updated, unless nothing changes: the update of PUT /v1/customers and
// of a redemption's customer data.
func amend(ctx context.Context, tx bun.Tx, log *audit.Log, tenantID string, c Customer, profile Input, now time.Time) (Customer, error) {
	changed := profile.ApplyTo(&c)
	if len(changed) == 0 {
		return c, nil
	}
	c.UpdatedAt = now
	if err := updateCustomer(ctx, tx, tenantID, &c, changed); err != nil {
		return Customer{}, err
	}
	return c, record(ctx, log, tx, tenantID, "customer.updated", c.ID, map[string]any{"changed": changed})
}

// Get returns the customer with the given id or, failing that, source_id.
func (s *Service) Get(ctx context.Context, tenantID, idOrSourceID string) (Customer, error) {
	var c Customer
	err := s.db.Read(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		var err error
		c, err = find(ctx, tx, tenantID, idOrSourceID)
		return err
	})
	return c, err
}

// Update changes the customer with the given id or source_id. in.ID is ignored;
// in.SourceID, when present, changes the source_id.
func (s *Service) Update(ctx context.Context, tenantID, idOrSourceID string, in Input) (Customer, error) {
	now := s.clock()
	in, err := in.normalize(now)
	if err != nil {
		return Customer{}, err
	}
	var c Customer
	err = s.db.InTx(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		found, err := find(ctx, tx, tenantID, idOrSourceID)
		if err != nil {
			return err
		}
		c, err = amend(ctx, tx, s.audit, tenantID, found, in, now)
		return err
	})
	return c, sourceIDConflict(err)
}

// Delete removes the customer and its consents, as Voucherify's DELETE does.
// Records elsewhere that name the customer keep its opaque id.
func (s *Service) Delete(ctx context.Context, tenantID, idOrSourceID string) error {
	return s.db.InTx(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		c, err := find(ctx, tx, tenantID, idOrSourceID)
		if err != nil {
			return err
		}
		consents, err := s.remove(ctx, tx, tenantID, c.ID)
		if err != nil {
			return err
		}
		return s.record(ctx, tx, tenantID, "customer.deleted", c.ID, map[string]any{"consents": consents})
	})
}

// Erase permanently deletes the customer's personal data (GDPR's right to
// erasure): every row that holds it is deleted in one transaction, while ledgers,
// redemptions and the audit log keep only the opaque customer id (the erasers
// registered with ErasesWith scrub what other packages keep). Every table that
// gains personal data about customers must be erased here.
func (s *Service) Erase(ctx context.Context, tenantID, idOrSourceID string) (Deletion, error) {
	now := s.clock()
	var d Deletion
	err := s.db.InTx(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		c, err := find(ctx, tx, tenantID, idOrSourceID)
		if err != nil {
			return err
		}
		consents, err := s.remove(ctx, tx, tenantID, c.ID)
		if err != nil {
			return err
		}
		scrubbed := map[string]int64{}
		for _, e := range s.erasers {
			n, err := e.fn(ctx, tx, tenantID, c.ID)
			if err != nil {
				return fmt.Errorf("erase %s: %w", e.name, err)
			}
			scrubbed[e.name] = n
		}
		d = Deletion{
			ID: ids.New(ids.Deletion), CreatedAt: now, CustomerID: c.ID, Status: DeletionDone,
			Counts: DeletionCounts{Customer: 1, Consents: consents},
		}
		return s.record(ctx, tx, tenantID, "customer.erased", c.ID, map[string]any{
			"deletion_id": d.ID, "deleted": map[string]int64{"customer": 1, "consents": consents}, "scrubbed": scrubbed,
		})
	})
	return d, err
}

// remove deletes the customer row and its consents and returns how many consents
// there were.
func (s *Service) remove(ctx context.Context, tx bun.Tx, tenantID, customerID string) (int64, error) {
	consents, err := deleteConsents(ctx, tx, tenantID, customerID)
	if err != nil {
		return 0, err
	}
	if _, err := deleteCustomer(ctx, tx, tenantID, customerID); err != nil {
		return 0, err
	}
	return consents, nil
}

// SetConsents grants (true) or withdraws (false) the customer's consents by consent
// id and returns the customer's id and all of its consents. Voucherify's key
// "unsubscribed" set to true first withdraws every consent the customer has.
func (s *Service) SetConsents(ctx context.Context, tenantID, idOrSourceID string, consents map[string]bool) (customerID string, all map[string]bool, err error) {
	if len(consents) > MaxConsentsPerPut {
		return "", nil, problem.Invalidf("consents", "at most %d consents may be set at once", MaxConsentsPerPut)
	}
	now := s.clock()
	var granted, withdrawn []string
	rows := make([]consent, 0, len(consents))
	for id, ok := range consents {
		switch {
		case id == unsubscribed:
			continue
		case id == "":
			return "", nil, problem.Invalid("consents", "consent ids must not be empty")
		case utf8.RuneCountInString(id) > MaxConsentID:
			return "", nil, problem.Invalidf("consents", "consent ids must be at most %d characters", MaxConsentID)
		case strings.ContainsRune(id, 0):
			return "", nil, errNUL("consents")
		}
		if ok {
			granted = append(granted, id)
		} else {
			withdrawn = append(withdrawn, id)
		}
		rows = append(rows, consent{ConsentID: id, Granted: ok, UpdatedAt: now})
	}
	slices.Sort(granted)
	slices.Sort(withdrawn)
	// Rows in key order, so that concurrent updates of one customer's consents lock
	// them in the same order.
	slices.SortFunc(rows, func(a, b consent) int { return strings.Compare(a.ConsentID, b.ConsentID) })
	err = s.db.InTx(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		c, err := find(ctx, tx, tenantID, idOrSourceID)
		if err != nil {
			return err
		}
		customerID = c.ID
		for i := range rows {
			rows[i].CustomerID = c.ID
		}
		if consents[unsubscribed] {
			if err := withdrawConsents(ctx, tx, tenantID, c.ID, now); err != nil {
				return err
			}
		}
		if err := upsertConsents(ctx, tx, tenantID, rows); err != nil {
			return err
		}
		n, err := countConsents(ctx, tx, tenantID, c.ID)
		if err != nil {
			return err
		}
		if n > maxConsentsPerCustomer {
			return problem.Invalidf("consents", "a customer may hold at most %d consents", maxConsentsPerCustomer)
		}
		if all, err = selectConsents(ctx, tx, tenantID, c.ID); err != nil {
			return err
		}
		return s.record(ctx, tx, tenantID, "customer.consents_updated", c.ID, map[string]any{
			"granted": nonNil(granted), "withdrawn": nonNil(withdrawn), "unsubscribed": consents[unsubscribed],
		})
	})
	if err != nil {
		return "", nil, err
	}
	return customerID, all, nil
}

// Find returns the customer with the given id, else the one with the given
// source_id, in tx, or nil when there is none. The promotions engine uses it inside
// its own read transaction.
func Find(ctx context.Context, tx bun.IDB, tenantID, id, sourceID string) (*Customer, error) {
	for _, l := range Lookups(id, sourceID) {
		c, err := selectCustomer(ctx, tx, tenantID, l.Column, l.Value)
		if db.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &c, nil
	}
	return nil, nil
}

// Lookup is one way of finding a customer: the column (id or source_id) and the
// value it must hold.
type Lookup struct{ Column, Value string }

// Lookups are the ways Find tries, in order, to find the customer named by id or
// sourceID: each value that has the form of a customer id as an id, then as a
// source_id.
func Lookups(id, sourceID string) []Lookup {
	var out []Lookup
	for _, ref := range []string{id, sourceID} {
		if ref == "" {
			continue
		}
		if ids.HasPrefix(ref, ids.Customer) {
			out = append(out, Lookup{"id", ref})
		}
		out = append(out, Lookup{"source_id", ref})
	}
	return out
}

// find loads the customer named by an id (cust_…) or, failing that, a source_id.
// Another tenant's customer is not found, like a missing one.
func find(ctx context.Context, tx bun.IDB, tenantID, idOrSourceID string) (Customer, error) {
	c, err := Find(ctx, tx, tenantID, idOrSourceID, "")
	if err != nil {
		return Customer{}, err
	}
	if c == nil {
		return Customer{}, problem.NotFound(ResourceType, idOrSourceID)
	}
	return *c, nil
}

// record writes the audit event of a mutation in its transaction. after holds ids,
// counts and field names only: never a customer's personal data.
func (s *Service) record(ctx context.Context, tx bun.Tx, tenantID, action, customerID string, after map[string]any) error {
	return record(ctx, s.audit, tx, tenantID, action, customerID, after)
}

func record(ctx context.Context, log *audit.Log, tx bun.Tx, tenantID, action, customerID string, after map[string]any) error {
	_, err := log.Record(ctx, tx, tenantID, audit.Entry{
		Action: action, ResourceType: ResourceType, ResourceID: customerID, After: after,
	})
	return err
}

func sourceIDConflict(err error) error {
	if errors.Is(err, errSourceIDTaken) {
		return problem.Conflict("duplicate_source_id", "another customer already has this source_id")
	}
	return err
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

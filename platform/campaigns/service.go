package campaigns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/punchcard-loyalty/punchcard/platform/audit"
	"github.com/punchcard-loyalty/punchcard/platform/db"
	"github.com/punchcard-loyalty/punchcard/platform/ids"
	"github.com/punchcard-loyalty/punchcard/platform/jobs"
	"github.com/punchcard-loyalty/punchcard/platform/metadata"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

// Id prefixes of this package's objects.
const (
	idCampaign = "camp"
	idVoucher  = "v"
)

// MaxPage is the largest page of a list.
const MaxPage = 100

// generationRounds bounds the retries of code generation when random codes collide
// with existing ones; with a code space codeSpaceFactor times the request, more
// than a few rounds means something else is wrong.
const generationRounds = 8

// Service manages campaigns and vouchers.
type Service struct {
	db    *db.DB
	audit *audit.Log
	now   func() time.Time
	jobs  *jobs.Queue
}

// ActionGenerate is the asynchronous action that generates a campaign's codes.
const ActionGenerate = "CAMPAIGN.VOUCHERS_GENERATE"

// generation is the payload of ActionGenerate.
type generation struct {
	CampaignID string `json:"campaign_id"`
	Count      int64  `json:"count"`
	// Add: the codes are added to an existing campaign (vouchers_count grows);
	// otherwise they are the campaign's first, counted at its creation.
	Add bool `json:"add"`
}

// UseJobs lets the service generate and import large numbers of codes
// asynchronously on q.
func (s *Service) UseJobs(q *jobs.Queue) {
	s.jobs = q
	q.Handle(ActionGenerate, s.runGeneration)
	q.Handle(ActionImport, s.runImport)
}

// NewService returns the campaign service. now is the clock.
func NewService(d *db.DB, a *audit.Log, now func() time.Time) *Service {
	return &Service{db: d, audit: a, now: now}
}

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Create validates in, stores the campaign and generates its vouchers_count
// vouchers, all in one transaction with its audit event.
func (s *Service) Create(ctx context.Context, tenantID string, in CampaignInput) (Campaign, error) {
	c, err := in.campaign()
	if err != nil {
		return Campaign{}, err
	}
	var tiers []Tier
	if c.CampaignType == TypePromotion {
		if tiers, err = in.Promotion.tiers(); err != nil {
			return Campaign{}, err
		}
	}
	if c.VouchersCount > MaxSyncGeneration {
		if s.jobs == nil {
			return Campaign{}, problem.Invalidf("vouchers_count", "vouchers_count must be at most %d on this server", MaxSyncGeneration)
		}
		c.GenerationStatus = GenerationInProgress
	}
	now := s.clock()
	c.TenantID, c.ID, c.CreatedAt, c.UpdatedAt = tenantID, ids.New(idCampaign), now, now
	err = s.db.InTx(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(&c).Exec(ctx); err != nil {
			if db.IsUniqueViolation(err) {
				return problem.Conflict("duplicate_found", fmt.Sprintf("a campaign named %q already exists", c.Name))
			}
			return fmt.Errorf("insert campaign: %w", err)
		}
		if len(tiers) > 0 {
			if err := insertTiers(ctx, tx, &c, tiers, now); err != nil {
				return err
			}
			c.Tiers = tiers
		}
		after := map[string]any{"campaign_type": c.CampaignType, "vouchers_count": c.VouchersCount, "tiers": len(tiers)}
		if c.VouchersCount > MaxSyncGeneration {
			id, err := s.jobs.Enqueue(ctx, tx, tenantID, ActionGenerate, generation{CampaignID: c.ID, Count: c.VouchersCount})
			if err != nil {
				return err
			}
			after["async_action_id"] = id
		} else if err := s.generate(ctx, tx, &c, c.VouchersCount, now); err != nil {
			return err
		}
		return s.record(ctx, tx, tenantID, "campaign.created", ResourceCampaign, c.ID, after)
	})
	return c, err
}

// AddVouchersAsync enqueues the generation of count more codes for the campaign
// and returns the asynchronous action's id.
func (s *Service) AddVouchersAsync(ctx context.Context, tenantID, idOrName string, count int64) (string, error) {
	if s.jobs == nil {
		return "", problem.Invalidf("vouchers_count", "vouchers_count must be at most %d on this server", MaxSyncGeneration)
	}
	if count < 1 || count > MaxAsyncGeneration {
		return "", problem.Invalidf("vouchers_count", "vouchers_count must be between 1 and %d", MaxAsyncGeneration)
	}
	var id string
	err := s.db.InTx(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		c, err := findCampaign(ctx, tx, tenantID, idOrName)
		if err != nil {
			return err
		}
		if err := c.Voucher.CodeConfig.checkCapacity("voucher.code_config", c.VouchersCount+count); err != nil {
			return err
		}
		if id, err = s.jobs.Enqueue(ctx, tx, tenantID, ActionGenerate, generation{CampaignID: c.ID, Count: count, Add: true}); err != nil {
			return err
		}
		return s.record(ctx, tx, tenantID, "campaign.vouchers_requested", ResourceCampaign, c.ID, map[string]any{"count": count, "async_action_id": id})
	})
	return id, err
}

// runGeneration generates a campaign's codes in committed batches, resuming from
// the action's progress after a crash. The generation of a new campaign's codes
// ends its vouchers_generation_status: DONE, or FAILED when it fails (not when
// its node stops or another worker takes it over: the action goes on there).
// Codes added later have their own action's status only.
func (s *Service) runGeneration(ctx context.Context, a jobs.Action, step jobs.Step) (any, error) {
	var g generation
	if err := json.Unmarshal(a.Payload, &g); err != nil {
		return nil, err
	}
	res, err := s.generateAll(ctx, a, g, step)
	if err != nil && !g.Add && ctx.Err() == nil && !errors.Is(err, jobs.ErrLeaseLost) {
		if ferr := s.db.InTx(context.WithoutCancel(ctx), a.TenantID, func(ctx context.Context, tx bun.Tx) error {
			// The campaign counted the codes it asked for; it has those made
			// before the failure. Its row is locked first, so that the count,
			// a statement of its own, sees every batch committed before.
			if s.db.Dialect() == db.Postgres {
				if err := tx.NewSelect().Model((*Campaign)(nil)).Column("cp.id").Where("cp.tenant_id = ? AND cp.id = ?", a.TenantID, g.CampaignID).
					For("UPDATE").Scan(ctx, new(string)); err != nil && !db.IsNotFound(err) {
					return err
				}
			}
			_, err := tx.NewUpdate().Model((*Campaign)(nil)).Set("vouchers_generation_status = ?", GenerationFailed).Set("updated_at = ?", s.clock()).
				Set("vouchers_count = (SELECT count(*) FROM vouchers AS v WHERE v.tenant_id = ? AND v.campaign_id = ?)", a.TenantID, g.CampaignID).
				Where("tenant_id = ? AND id = ? AND vouchers_generation_status = ?", a.TenantID, g.CampaignID, GenerationInProgress).Exec(ctx)
			return err
		}); ferr != nil {
			return nil, errors.Join(err, ferr)
		}
	}
	return res, err
}

func (s *Service) generateAll(ctx context.Context, a jobs.Action, g generation, step jobs.Step) (any, error) {
	done := a.Progress
	for done < g.Count {
		batch := min(g.Count-done, 1000)
		err := step(ctx, func(ctx context.Context, tx bun.Tx) (int64, error) {
			c, err := findCampaign(ctx, tx, a.TenantID, g.CampaignID)
			if err != nil {
				return 0, err
			}
			now := s.clock()
			if err := s.generate(ctx, tx, &c, batch, now); err != nil {
				return 0, err
			}
			if g.Add {
				if _, err := tx.NewUpdate().Model((*Campaign)(nil)).Set("vouchers_count = vouchers_count + ?", batch).Set("updated_at = ?", now).
					Where("tenant_id = ? AND id = ?", a.TenantID, c.ID).Exec(ctx); err != nil {
					return 0, err
				}
			}
			return done + batch, nil
		})
		if err != nil {
			return nil, err
		}
		done += batch
	}
	// The end is a step too: a worker that lost the action to another records
	// nothing.
	err := step(ctx, func(ctx context.Context, tx bun.Tx) (int64, error) {
		if !g.Add {
			if _, err := tx.NewUpdate().Model((*Campaign)(nil)).Set("vouchers_generation_status = ?", GenerationDone).Set("updated_at = ?", s.clock()).
				Where("tenant_id = ? AND id = ?", a.TenantID, g.CampaignID).Exec(ctx); err != nil {
				return 0, err
			}
		}
		return g.Count, s.record(ctx, tx, a.TenantID, "campaign.vouchers_generated", ResourceCampaign, g.CampaignID, map[string]any{"count": g.Count, "async_action_id": a.ID})
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"campaign_id": g.CampaignID, "count": g.Count}, nil
}

// AddVouchers generates count more vouchers for the campaign and returns them.
func (s *Service) AddVouchers(ctx context.Context, tenantID, idOrName string, count int64) ([]Voucher, error) {
	if count < 1 || count > MaxSyncGeneration {
		return nil, problem.Invalidf("vouchers_count", "vouchers_count must be between 1 and %d", MaxSyncGeneration)
	}
	var out []Voucher
	err := s.db.InTx(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		c, err := findCampaign(ctx, tx, tenantID, idOrName)
		if err != nil {
			return err
		}
		if err := c.Voucher.CodeConfig.checkCapacity("voucher.code_config", c.VouchersCount+count); err != nil {
			return err
		}
		now := s.clock()
		before := c.VouchersCount
		if err := s.generate(ctx, tx, &c, count, now); err != nil {
			return err
		}
		if _, err := tx.NewUpdate().Model((*Campaign)(nil)).
			Set("vouchers_count = vouchers_count + ?", count).Set("updated_at = ?", now).
			Where("tenant_id = ? AND id = ?", tenantID, c.ID).Exec(ctx); err != nil {
			return fmt.Errorf("count vouchers: %w", err)
		}
		if err := tx.NewSelect().Model(&out).Where("v.tenant_id = ? AND v.campaign_id = ?", tenantID, c.ID).
			OrderExpr("v.id DESC").Limit(count).Scan(ctx); err != nil {
			return fmt.Errorf("load vouchers: %w", err)
		}
		return s.record(ctx, tx, tenantID, "campaign.vouchers_added", ResourceCampaign, c.ID, map[string]any{
			"added": count, "vouchers_count": before + count,
		})
	})
	return out, err
}

// generate inserts count vouchers with random codes for c. Codes that collide with
// existing ones are skipped by the database and made again.
func (s *Service) generate(ctx context.Context, tx bun.IDB, c *Campaign, count int64, now time.Time) error {
	for round := 0; count > 0; round++ {
		if round == generationRounds {
			return fmt.Errorf("generate codes for campaign %s: codes keep colliding", c.ID)
		}
		batch := make([]Voucher, 0, min(count, 1000))
		seen := make(map[string]bool, cap(batch))
		for int64(len(batch)) < min(count, 1000) {
			code := c.Voucher.CodeConfig.generate()
			if seen[code] {
				continue
			}
			seen[code] = true
			batch = append(batch, c.voucher(code, now))
		}
		res, err := tx.NewInsert().Model(&batch).On("CONFLICT (tenant_id, code) DO NOTHING").Exec(ctx)
		if err != nil {
			return fmt.Errorf("insert vouchers: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("insert vouchers: %w", err)
		}
		if n > 0 {
			round = -1 // progress: the retry budget counts consecutive fruitless rounds
		}
		count -= n
	}
	return nil
}

// voucher is a new voucher of the campaign with the given code.
func (c *Campaign) voucher(code string, now time.Time) Voucher {
	v := Voucher{
		TenantID: c.TenantID, ID: ids.New(idVoucher), Code: code, CampaignID: c.ID, Category: c.Category,
		Type: c.Voucher.Type, Discount: c.Voucher.Discount, Active: true,
		StartDate: c.StartDate, ExpirationDate: c.ExpirationDate, CreatedAt: now, UpdatedAt: now,
	}
	if r := c.Voucher.Redemption; r != nil {
		v.RedemptionQuantity = r.Quantity
	}
	if g := c.Voucher.Gift; g != nil {
		v.GiftAmount, v.GiftBalance, v.GiftEffect = g.Amount, g.Amount, g.Effect
	}
	return v
}

// Get returns the campaign with the given id or name.
func (s *Service) Get(ctx context.Context, tenantID, idOrName string) (Campaign, error) {
	var c Campaign
	err := s.db.Read(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		var err error
		if c, err = findCampaign(ctx, tx, tenantID, idOrName); err != nil || c.CampaignType != TypePromotion {
			return err
		}
		return tx.NewSelect().Model(&c.Tiers).Where("pt.tenant_id = ? AND pt.campaign_id = ?", tenantID, c.ID).OrderExpr("pt.hierarchy, pt.id").Scan(ctx)
	})
	return c, err
}

// MaxPageNumber is the last page a list serves by number (Voucherify's page);
// starting_after pages on past it.
const MaxPageNumber = 99

// Paging is one page of a list: its size, its number (1-based, 0 for the first)
// or the id of the last object of the previous page. Lists are newest first.
type Paging struct {
	Limit         int
	Page          int
	StartingAfter string
}

// Page is one page of a list, how many objects match in all (Voucherify's
// total) and whether more follow the page.
type Page[T any] struct {
	Items []T
	Total int
	More  bool
}

// listPage reads one page of T's rows in tx, newest first by col (the object
// id), as p asks, and counts every row where selects.
func listPage[T any](ctx context.Context, tx bun.IDB, p Paging, col string, where func(*bun.SelectQuery) *bun.SelectQuery) (Page[T], error) {
	limit := pageSize(p.Limit)
	var rows []T
	q := where(tx.NewSelect().Model(&rows)).OrderExpr(col + " DESC").Limit(int64(limit) + 1)
	if p.StartingAfter != "" {
		q = q.Where(col+" < ?", p.StartingAfter)
	}
	if p.Page > 1 {
		q = q.Offset(int64((p.Page - 1) * limit))
	}
	if err := q.Scan(ctx); err != nil {
		return Page[T]{}, err
	}
	n, err := where(tx.NewSelect().Model((*T)(nil))).Count(ctx)
	if err != nil {
		return Page[T]{}, err
	}
	return Page[T]{Items: rows[:min(len(rows), limit)], Total: int(n), More: len(rows) > limit}, nil
}

// CampaignFilter selects campaigns.
type CampaignFilter struct {
	Paging
	Type string // campaign_type; empty for every type
}

// List returns a page of the tenant's campaigns, newest first.
func (s *Service) List(ctx context.Context, tenantID string, f CampaignFilter) (Page[Campaign], error) {
	var out Page[Campaign]
	err := s.db.Read(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		var err error
		out, err = listPage[Campaign](ctx, tx, f.Paging, "cp.id", func(q *bun.SelectQuery) *bun.SelectQuery {
			q = q.Where("cp.tenant_id = ?", tenantID)
			if f.Type != "" {
				q = q.Where("cp.campaign_type = ?", f.Type)
			}
			return q
		})
		return err
	})
	if err != nil {
		return Page[Campaign]{}, fmt.Errorf("list campaigns: %w", err)
	}
	return out, nil
}

// SetActive enables or disables the campaign: the kill switch. Validations and
// redemptions read the flag in their own transaction, so the change holds from
// the next request on every node.
func (s *Service) SetActive(ctx context.Context, tenantID, idOrName string, active bool) (Campaign, error) {
	return toggle(ctx, s, tenantID, ResourceCampaign, active,
		func(ctx context.Context, tx bun.IDB) (Campaign, error) {
			return findCampaign(ctx, tx, tenantID, idOrName)
		},
		func(c *Campaign) (*bool, *time.Time, string) { return &c.Active, &c.UpdatedAt, c.ID })
}

// Voucher returns the voucher with the given code.
func (s *Service) Voucher(ctx context.Context, tenantID, code string) (Voucher, error) {
	var v Voucher
	err := s.db.Read(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		var err error
		v, err = findVoucher(ctx, tx, tenantID, code)
		return err
	})
	return v, err
}

// VoucherFilter selects vouchers.
type VoucherFilter struct {
	Paging
	Campaign string // a campaign's id or name; empty for every voucher
	Customer string // the holder's id or source_id
	Category string
}

// ListVouchers returns a page of the tenant's vouchers, newest first. A campaign
// that does not exist is a 404.
func (s *Service) ListVouchers(ctx context.Context, tenantID string, f VoucherFilter) (Page[Voucher], error) {
	var out Page[Voucher]
	err := s.db.Read(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		campaignID := ""
		if f.Campaign != "" {
			c, err := findCampaign(ctx, tx, tenantID, f.Campaign)
			if err != nil {
				return err
			}
			campaignID = c.ID
		}
		var err error
		out, err = listPage[Voucher](ctx, tx, f.Paging, "v.id", func(q *bun.SelectQuery) *bun.SelectQuery {
			q = q.Where("v.tenant_id = ?", tenantID)
			if campaignID != "" {
				q = q.Where("v.campaign_id = ?", campaignID)
			}
			if f.Category != "" {
				q = q.Where("v.category = ?", f.Category)
			}
			if f.Customer != "" {
				q = q.Where("(v.holder_id = ? OR v.holder_id IN (SELECT cu.id FROM customers AS cu WHERE cu.tenant_id = ? AND cu.source_id = ?))",
					f.Customer, tenantID, f.Customer)
			}
			return q
		})
		return err
	})
	if err != nil {
		return Page[Voucher]{}, err
	}
	return out, nil
}

// VoucherInput is the body of POST /v1/vouchers: a standalone voucher, with its own
// code or one generated from code_config.
type VoucherInput struct {
	Code           string         `json:"code,omitempty"`
	Type           string         `json:"type" jsonschema:"enum=DISCOUNT_VOUCHER,enum=GIFT_VOUCHER"`
	Discount       *Discount      `json:"discount,omitempty"`
	Gift           *Gift          `json:"gift,omitempty"`
	Redemption     *Redemption    `json:"redemption,omitempty"`
	CodeConfig     *CodeConfig    `json:"code_config,omitempty"`
	Category       string         `json:"category,omitempty"`
	StartDate      *time.Time     `json:"start_date,omitempty"`
	ExpirationDate *time.Time     `json:"expiration_date,omitempty"`
	Metadata       map[string]any `json:"metadata,omitempty"`
	// Active false creates the voucher disabled (POST /v1/vouchers/{code}/enable
	// turns it on).
	Active *bool `json:"active,omitempty"`

	// Voucherify fields Punchcard does not take on a standalone voucher: sent
	// with a value, they are refused (see notSupported).
	Campaign          json.RawMessage `json:"campaign,omitempty" jsonschema:"-"`
	CampaignID        json.RawMessage `json:"campaign_id,omitempty" jsonschema:"-"`
	ValidityTimeframe json.RawMessage `json:"validity_timeframe,omitempty" jsonschema:"-"`
	ValidityDayOfWeek json.RawMessage `json:"validity_day_of_week,omitempty" jsonschema:"-"`
	ValidityHours     json.RawMessage `json:"validity_hours,omitempty" jsonschema:"-"`
}

// voucher checks a standalone voucher field by field (field names prefixed with
// prefix, e.g. "vouchers[3]."), without its code when none is given.
func (in VoucherInput) voucher(tenantID string, now time.Time, prefix string) (Voucher, error) {
	const inCampaign = "a campaign's codes are added with POST /v1/campaigns/{id}/vouchers"
	const schedule = "a standalone voucher has no schedule of its own; create the code in a campaign that has one (" + inCampaign + ")"
	if err := refuseUnsupported(prefix,
		notSupported{"campaign", in.Campaign, inCampaign}, notSupported{"campaign_id", in.CampaignID, inCampaign},
		notSupported{"validity_timeframe", in.ValidityTimeframe, schedule},
		notSupported{"validity_day_of_week", in.ValidityDayOfWeek, schedule}, notSupported{"validity_hours", in.ValidityHours, schedule}); err != nil {
		return Voucher{}, err
	}
	v := Voucher{
		TenantID: tenantID, ID: ids.New(idVoucher), Code: in.Code, Category: in.Category, Type: in.Type,
		Active: in.Active == nil || *in.Active, StartDate: utc(in.StartDate), ExpirationDate: utc(in.ExpirationDate),
		Metadata: in.Metadata, CreatedAt: now, UpdatedAt: now,
	}
	switch in.Type {
	case VoucherDiscount:
		if in.Discount == nil {
			return Voucher{}, problem.Invalidf(prefix+"discount", "%sdiscount is required for a DISCOUNT_VOUCHER", prefix)
		}
		d := *in.Discount
		if err := d.normalize(prefix + "discount"); err != nil {
			return Voucher{}, err
		}
		v.Discount = &d
	case VoucherGift:
		g := in.Gift
		if g != nil {
			c := *g
			g = &c
		}
		if err := g.normalize(prefix + "gift"); err != nil {
			return Voucher{}, err
		}
		v.GiftAmount, v.GiftBalance, v.GiftEffect = g.Amount, g.Amount, g.Effect
	case "":
		return Voucher{}, problem.Invalidf(prefix+"type", "%stype is required", prefix)
	default:
		return Voucher{}, problem.Invalidf(prefix+"type", "%stype must be DISCOUNT_VOUCHER or GIFT_VOUCHER", prefix)
	}
	if in.Redemption != nil && in.Redemption.Quantity != nil {
		if *in.Redemption.Quantity < 1 {
			return Voucher{}, problem.Invalidf(prefix+"redemption.quantity", "%sredemption.quantity must be at least 1, or null for no limit", prefix)
		}
		v.RedemptionQuantity = in.Redemption.Quantity
	}
	if v.StartDate != nil && v.ExpirationDate != nil && !v.ExpirationDate.After(*v.StartDate) {
		return Voucher{}, problem.Invalidf(prefix+"expiration_date", "%sexpiration_date must be after start_date", prefix)
	}
	if err := metadata.Check(prefix+"metadata", v.Metadata); err != nil {
		return Voucher{}, err
	}
	if v.Code != "" {
		if err := checkCode(prefix+"code", v.Code); err != nil {
			return Voucher{}, err
		}
	}
	return v, nil
}

// CreateVoucher stores a standalone voucher.
func (s *Service) CreateVoucher(ctx context.Context, tenantID string, in VoucherInput) (Voucher, error) {
	v, err := in.voucher(tenantID, s.clock(), "")
	if err != nil {
		return Voucher{}, err
	}
	var cfg CodeConfig
	if v.Code == "" {
		if in.CodeConfig != nil {
			cfg = *in.CodeConfig
		}
		if err := cfg.normalize("code_config"); err != nil {
			return Voucher{}, err
		}
		v.Code = cfg.generate()
	}
	err = s.db.InTx(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		// A taken code inserts nothing (a failed statement would abort the
		// transaction on PostgreSQL): a given one is a conflict, a generated
		// one is drawn again.
		for round := 0; ; round++ {
			res, err := tx.NewInsert().Model(&v).On("CONFLICT (tenant_id, code) DO NOTHING").Exec(ctx)
			if err != nil {
				return fmt.Errorf("insert voucher: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 1 {
				break
			}
			if in.Code != "" {
				return problem.Conflict("duplicate_found", fmt.Sprintf("a voucher with code %q already exists", v.Code))
			}
			if round == generationRounds {
				return problem.Conflict("code_config_exhausted", fmt.Sprintf("%d codes drawn from code_config were all taken: widen its charset or length", round+1))
			}
			v.Code = cfg.generate()
		}
		return s.record(ctx, tx, tenantID, "voucher.created", ResourceVoucher, v.ID, map[string]any{"type": v.Type})
	})
	return v, err
}

// SetVoucherActive enables or disables one voucher.
func (s *Service) SetVoucherActive(ctx context.Context, tenantID, code string, active bool) (Voucher, error) {
	return toggle(ctx, s, tenantID, ResourceVoucher, active,
		func(ctx context.Context, tx bun.IDB) (Voucher, error) { return findVoucher(ctx, tx, tenantID, code) },
		func(v *Voucher) (*bool, *time.Time, string) { return &v.Active, &v.UpdatedAt, v.ID })
}

// toggle enables or disables one row: it finds the row in a transaction and,
// when the flag changes, stores it with updated_at and audits
// <resource>.enabled or <resource>.disabled. flag exposes the row's active flag,
// updated_at and id.
func toggle[T any](ctx context.Context, s *Service, tenantID, resource string, active bool,
	find func(ctx context.Context, tx bun.IDB) (T, error), flag func(*T) (*bool, *time.Time, string)) (T, error) {
	var row T
	err := s.db.InTx(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		var err error
		if row, err = find(ctx, tx); err != nil {
			return err
		}
		on, updatedAt, id := flag(&row)
		if *on == active {
			return nil
		}
		*on, *updatedAt = active, s.clock()
		if _, err := tx.NewUpdate().Model(&row).Column("active", "updated_at").Where("tenant_id = ? AND id = ?", tenantID, id).Exec(ctx); err != nil {
			return fmt.Errorf("update %s: %w", resource, err)
		}
		action := resource + ".disabled"
		if active {
			action = resource + ".enabled"
		}
		return s.record(ctx, tx, tenantID, action, resource, id, nil)
	})
	return row, err
}

func (s *Service) record(ctx context.Context, tx bun.IDB, tenantID, action, resourceType, id string, after map[string]any) error {
	_, err := s.audit.Record(ctx, tx, tenantID, audit.Entry{Action: action, ResourceType: resourceType, ResourceID: id, After: after})
	return err
}

func findCampaign(ctx context.Context, tx bun.IDB, tenantID, idOrName string) (Campaign, error) {
	var c Campaign
	q := tx.NewSelect().Model(&c).Where("cp.tenant_id = ?", tenantID)
	if ids.HasPrefix(idOrName, idCampaign) {
		q = q.Where("cp.id = ?", idOrName)
	} else {
		q = q.Where("cp.name = ?", idOrName)
	}
	err := q.Scan(ctx)
	if db.IsNotFound(err) {
		return Campaign{}, problem.NotFound(ResourceCampaign, idOrName)
	}
	if err != nil {
		return Campaign{}, fmt.Errorf("load campaign: %w", err)
	}
	return c, nil
}

func findVoucher(ctx context.Context, tx bun.IDB, tenantID, code string) (Voucher, error) {
	var v Voucher
	err := tx.NewSelect().Model(&v).Where("v.tenant_id = ? AND v.code = ?", tenantID, code).Scan(ctx)
	if db.IsNotFound(err) {
		return Voucher{}, problem.NotFound(ResourceVoucher, code)
	}
	if err != nil {
		return Voucher{}, fmt.Errorf("load voucher: %w", err)
	}
	return v, nil
}

func pageSize(limit int) int {
	if limit <= 0 {
		return 10
	}
	return min(limit, MaxPage)
}

// Publish assigns a voucher to a customer (its holder), after which only that
// customer may redeem it: the voucher with the given code, or else the next
// unassigned active voucher of the given campaign.
func (s *Service) Publish(ctx context.Context, tenantID, customerID, code, campaign string) (Voucher, error) {
	switch {
	case customerID == "":
		return Voucher{}, problem.Invalid("customer", "customer (id or source_id of an existing customer) is required")
	case code == "" && campaign == "":
		return Voucher{}, problem.Invalid("voucher", "voucher (a code) or campaign (an id or name) is required")
	case code != "" && campaign != "":
		return Voucher{}, problem.Invalid("campaign", "send voucher or campaign, not both")
	}
	var v Voucher
	err := s.db.InTx(ctx, tenantID, func(ctx context.Context, tx bun.Tx) error {
		var err error
		if code != "" {
			if v, err = findVoucher(ctx, tx, tenantID, code); err != nil {
				return err
			}
			if v.HolderID == customerID {
				return nil
			}
			if v.HolderID != "" {
				return problem.Conflict("voucher_already_assigned", fmt.Sprintf("voucher %s is assigned to another customer", code))
			}
		} else {
			c, err := findCampaign(ctx, tx, tenantID, campaign)
			if err != nil {
				return err
			}
			q := tx.NewSelect().Model(&v).Where("v.tenant_id = ? AND v.campaign_id = ? AND v.holder_id IS NULL AND v.active", tenantID, c.ID).
				OrderExpr("v.id").Limit(1)
			if s.db.Dialect() == db.Postgres {
				q = q.For("UPDATE SKIP LOCKED")
			}
			if err := q.Scan(ctx); err != nil {
				if db.IsNotFound(err) {
					return &problem.Error{Kind: problem.KindInvalid, Key: "no_voucher_available", Message: "No voucher available",
						Details: fmt.Sprintf("campaign %s has no unassigned active voucher left", campaign), Field: "campaign"}
				}
				return fmt.Errorf("pick a voucher: %w", err)
			}
		}
		v.HolderID, v.UpdatedAt = customerID, s.clock()
		res, err := tx.NewUpdate().Model(&v).Column("holder_id", "updated_at").
			Where("tenant_id = ? AND id = ? AND holder_id IS NULL", tenantID, v.ID).Exec(ctx)
		if err != nil {
			return fmt.Errorf("assign voucher: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return problem.Conflict("voucher_already_assigned", fmt.Sprintf("voucher %s was assigned to another customer meanwhile", v.Code))
		}
		return s.record(ctx, tx, tenantID, "voucher.assigned", ResourceVoucher, v.ID, map[string]any{"holder_id": customerID})
	})
	return v, err
}

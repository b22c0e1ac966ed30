package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/punchcard-loyalty/punchcard/platform/campaigns"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
	"github.com/punchcard-loyalty/punchcard/tenants"
)

// campaignResponse is Voucherify's Campaign object with Punchcard's limits, rules and
// running totals. Features Punchcard does not have (referral settings, access
// settings, category objects) are reported empty.
type campaignResponse struct {
	ID                       string                   `json:"id"`
	Name                     string                   `json:"name"`
	Description              string                   `json:"description,omitempty"`
	CampaignType             string                   `json:"campaign_type" jsonschema:"enum=DISCOUNT_COUPONS,enum=GIFT_VOUCHERS"`
	Type                     string                   `json:"type" jsonschema:"enum=AUTO_UPDATE,enum=STATIC"`
	Voucher                  *campaignVoucher         `json:"voucher,omitempty" jsonschema:"description=absent for PROMOTION campaigns"`
	AutoJoin                 bool                     `json:"auto_join"`
	JoinOnce                 bool                     `json:"join_once"`
	UseVoucherMetadataSchema bool                     `json:"use_voucher_metadata_schema"`
	ValidityDayOfWeek        []int                    `json:"validity_day_of_week,omitempty"`
	ValidityHours            *campaigns.ValidityHours `json:"validity_hours,omitempty"`
	VouchersCount            int64                    `json:"vouchers_count"`
	StartDate                *time.Time               `json:"start_date,omitempty"`
	ExpirationDate           *time.Time               `json:"expiration_date,omitempty"`
	Active                   bool                     `json:"active"`
	Metadata                 map[string]any           `json:"metadata"`
	CreatedAt                time.Time                `json:"created_at"`
	UpdatedAt                time.Time                `json:"updated_at"`
	Category                 string                   `json:"category,omitempty"`
	CreationStatus           string                   `json:"creation_status" jsonschema:"enum=DONE,enum=IN_PROGRESS,enum=FAILED,description=IN_PROGRESS while the codes of a campaign created with more than 10,000 are generated"`
	VouchersGenerationStatus string                   `json:"vouchers_generation_status"`
	Protected                bool                     `json:"protected"`
	CategoryID               *string                  `json:"category_id" jsonschema:"nullable"`
	Categories               []any                    `json:"categories"`
	Object                   string                   `json:"object" jsonschema:"enum=campaign"`
	Promotion                *promotionBody           `json:"promotion,omitempty"`
	Limits                   campaigns.Limits         `json:"limits"`
	Rules                    campaigns.Rules          `json:"rules"`
	Usage                    campaignUsage            `json:"usage"`
}

// campaignVoucher is Voucherify's campaign voucher object.
type campaignVoucher struct {
	Type           string               `json:"type"`
	Discount       *campaigns.Discount  `json:"discount,omitempty"`
	Gift           *giftBody            `json:"gift,omitempty"`
	Redemption     redemptionQuantity   `json:"redemption"`
	CodeConfig     campaigns.CodeConfig `json:"code_config"`
	IsReferralCode bool                 `json:"is_referral_code"`
}

type redemptionQuantity struct {
	Quantity *int64 `json:"quantity" jsonschema:"nullable"`
}

// campaignUsage is how much of the campaign's limits is used (Punchcard).
type campaignUsage struct {
	Redemptions    int64 `json:"redemptions"`
	DiscountAmount int64 `json:"discount_amount"`
	OrderAmount    int64 `json:"order_amount"`
}

type campaignList struct {
	Object    string             `json:"object" jsonschema:"enum=list"`
	DataRef   string             `json:"data_ref" jsonschema:"enum=campaigns"`
	Campaigns []campaignResponse `json:"campaigns"`
	Total     int                `json:"total" jsonschema:"description=campaigns the filter matches in all"`
	HasMore   bool               `json:"has_more"`
}

// giftBody is Voucherify's gift object. Amounts are minor units.
type giftBody struct {
	Amount           int64  `json:"amount"`
	SubtractedAmount int64  `json:"subtracted_amount"`
	Balance          int64  `json:"balance"`
	Effect           string `json:"effect,omitempty"`
}

func toCampaignResponse(c campaigns.Campaign) campaignResponse {
	r := campaignResponse{
		ID: c.ID, Name: c.Name, Description: c.Description, CampaignType: c.CampaignType, Type: c.Type,
		Voucher: &campaignVoucher{
			Type: c.Voucher.Type, Discount: c.Voucher.Discount, CodeConfig: c.Voucher.CodeConfig,
		},
		ValidityDayOfWeek: c.ValidityDayOfWeek, ValidityHours: c.ValidityHours, VouchersCount: c.VouchersCount,
		StartDate: c.StartDate, ExpirationDate: c.ExpirationDate, Active: c.Active, Metadata: c.Metadata,
		CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC(), Category: c.Category,
		CreationStatus: c.GenerationStatus, VouchersGenerationStatus: c.GenerationStatus, Categories: []any{}, Object: "campaign",
		Limits: c.Limits, Rules: c.Rules,
		Usage: campaignUsage{Redemptions: c.Redemptions, DiscountAmount: c.DiscountTotal, OrderAmount: c.OrderTotal},
	}
	if r.Metadata == nil {
		r.Metadata = map[string]any{}
	}
	if q := c.Voucher.Redemption; q != nil {
		r.Voucher.Redemption.Quantity = q.Quantity
	}
	if g := c.Voucher.Gift; g != nil {
		r.Voucher.Gift = &giftBody{Amount: g.Amount, Balance: g.Amount, Effect: g.Effect}
	}
	if c.CampaignType == campaigns.TypePromotion {
		r.Voucher = nil
		r.Promotion = &promotionBody{Object: "list", DataRef: "tiers", Tiers: []tierBody{}}
		for _, t := range c.Tiers {
			r.Promotion.Tiers = append(r.Promotion.Tiers, toTierBody(t))
		}
		r.Promotion.Total = len(r.Promotion.Tiers)
	}
	return r
}

// promotionBody is Voucherify's promotion object of a campaign: its tiers.
type promotionBody struct {
	Object  string     `json:"object" jsonschema:"enum=list"`
	DataRef string     `json:"data_ref" jsonschema:"enum=tiers"`
	Tiers   []tierBody `json:"tiers"`
	Total   int        `json:"total"`
	HasMore bool       `json:"has_more"`
}

// tierBody is Voucherify's promotion tier object with Punchcard's rules.
type tierBody struct {
	ID                string                   `json:"id"`
	CreatedAt         time.Time                `json:"created_at"`
	UpdatedAt         time.Time                `json:"updated_at"`
	Name              string                   `json:"name"`
	Banner            string                   `json:"banner,omitempty"`
	Action            tierAction               `json:"action"`
	Metadata          map[string]any           `json:"metadata"`
	Hierarchy         int                      `json:"hierarchy"`
	PromotionID       string                   `json:"promotion_id"`
	CampaignID        string                   `json:"campaign_id"`
	Active            bool                     `json:"active"`
	StartDate         *time.Time               `json:"start_date,omitempty"`
	ExpirationDate    *time.Time               `json:"expiration_date,omitempty"`
	ValidityDayOfWeek []int                    `json:"validity_day_of_week,omitempty"`
	ValidityHours     *campaigns.ValidityHours `json:"validity_hours,omitempty"`
	Category          string                   `json:"category,omitempty"`
	Rules             campaigns.Rules          `json:"rules"`
	Object            string                   `json:"object" jsonschema:"enum=promotion_tier"`
}

type tierAction struct {
	Discount campaigns.Discount `json:"discount"`
}

func toTierBody(t campaigns.Tier) tierBody {
	b := tierBody{ID: t.ID, CreatedAt: t.CreatedAt.UTC(), UpdatedAt: t.UpdatedAt.UTC(), Name: t.Name, Banner: t.Banner,
		Action: tierAction{Discount: t.Discount}, Metadata: t.Metadata, Hierarchy: t.Hierarchy, PromotionID: t.CampaignID,
		CampaignID: t.CampaignID, Active: t.Active, StartDate: t.StartDate, ExpirationDate: t.ExpirationDate,
		ValidityDayOfWeek: t.ValidityDayOfWeek, ValidityHours: t.ValidityHours, Category: t.Category, Rules: t.Rules, Object: "promotion_tier"}
	if b.Metadata == nil {
		b.Metadata = map[string]any{}
	}
	return b
}

type tierList struct {
	Object  string     `json:"object" jsonschema:"enum=list"`
	DataRef string     `json:"data_ref" jsonschema:"enum=tiers"`
	Tiers   []tierBody `json:"tiers"`
	HasMore bool       `json:"has_more"`
}

func (s *Server) getTier(c *gin.Context) error {
	t, err := s.Campaigns.Tier(c.Request.Context(), principal(c).Tenant.ID, c.Param("id"))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, toTierBody(t))
	return nil
}

func (s *Server) listTiers(c *gin.Context) error {
	ts, err := s.Campaigns.Tiers(c.Request.Context(), principal(c).Tenant.ID, c.Param("id"))
	if err != nil {
		return err
	}
	out := tierList{Object: "list", DataRef: "tiers", Tiers: make([]tierBody, 0, len(ts))}
	for _, t := range ts {
		out.Tiers = append(out.Tiers, toTierBody(t))
	}
	c.JSON(http.StatusOK, out)
	return nil
}

func (s *Server) setTierActive(active bool) handlerFunc {
	return func(c *gin.Context) error {
		t, err := s.Campaigns.SetTierActive(c.Request.Context(), principal(c).Tenant.ID, c.Param("id"), active)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, toTierBody(t))
		return nil
	}
}

// voucherResponse is Voucherify's Voucher object.
type voucherResponse struct {
	ID             string              `json:"id"`
	Code           string              `json:"code"`
	Campaign       string              `json:"campaign,omitempty" jsonschema:"description=the campaign's name; absent for a standalone voucher"`
	CampaignID     string              `json:"campaign_id,omitempty"`
	Category       string              `json:"category,omitempty"`
	Type           string              `json:"type" jsonschema:"enum=DISCOUNT_VOUCHER,enum=GIFT_VOUCHER"`
	Discount       *campaigns.Discount `json:"discount,omitempty"`
	Gift           *giftBody           `json:"gift,omitempty"`
	StartDate      *time.Time          `json:"start_date,omitempty"`
	ExpirationDate *time.Time          `json:"expiration_date,omitempty"`
	Active         bool                `json:"active"`
	Metadata       map[string]any      `json:"metadata"`
	IsReferralCode bool                `json:"is_referral_code"`
	HolderID       string              `json:"holder_id,omitempty"`
	CreatedAt      time.Time           `json:"created_at"`
	UpdatedAt      time.Time           `json:"updated_at"`
	Redemption     voucherRedemption   `json:"redemption"`
	Object         string              `json:"object" jsonschema:"enum=voucher"`
}

type voucherRedemption struct {
	Quantity         *int64 `json:"quantity,omitempty" jsonschema:"description=absent: no limit"`
	RedeemedQuantity int64  `json:"redeemed_quantity"`
	Object           string `json:"object" jsonschema:"enum=list"`
}

type voucherList struct {
	Object   string            `json:"object" jsonschema:"enum=list"`
	DataRef  string            `json:"data_ref" jsonschema:"enum=vouchers"`
	Vouchers []voucherResponse `json:"vouchers"`
	Total    int               `json:"total" jsonschema:"description=vouchers the filter matches in all"`
	HasMore  bool              `json:"has_more"`
}

func toVoucherResponse(v campaigns.Voucher, campaignName string) voucherResponse {
	r := voucherResponse{
		ID: v.ID, Code: v.Code, Campaign: campaignName, CampaignID: v.CampaignID,
		Category: v.Category, Type: v.Type, Discount: v.Discount, StartDate: v.StartDate,
		ExpirationDate: v.ExpirationDate, Active: v.Active, Metadata: v.Metadata, HolderID: v.HolderID,
		CreatedAt: v.CreatedAt.UTC(), UpdatedAt: v.UpdatedAt.UTC(),
		Redemption: voucherRedemption{Quantity: v.RedemptionQuantity, RedeemedQuantity: v.RedeemedQuantity, Object: "list"},
		Object:     "voucher",
	}
	if r.Metadata == nil {
		r.Metadata = map[string]any{}
	}
	if v.Type == campaigns.VoucherGift {
		r.Gift = &giftBody{Amount: v.GiftAmount, SubtractedAmount: v.GiftAmount - v.GiftBalance, Balance: v.GiftBalance, Effect: v.GiftEffect}
	}
	return r
}

var (
	campaignWrite = []tenants.Role{tenants.RoleMarketer, tenants.RoleDeveloper}
	campaignRead  = []tenants.Role{tenants.RoleMarketer, tenants.RoleDeveloper, tenants.RoleSupport}
	pageParams    = []param{{"limit", "integer", "page size, 1 to 100 (default 10)"}, {"page", "integer", "page number, 1 to 99 (default 1)"}, {"starting_after", "string", "the id of the last object of the previous page"}}
)

// createCampaign, createVoucher, addVouchers and importVouchers create value:
// they run under the request's Idempotency-Key (Server.idempotentAfterCommit).
func (s *Server) createCampaign(c *gin.Context) (int, any, error) {
	var in campaigns.CampaignInput
	if err := decodeJSON(c, &in); err != nil {
		return 0, nil, err
	}
	cp, err := s.Campaigns.Create(c.Request.Context(), principal(c).Tenant.ID, in)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toCampaignResponse(cp), nil
}

func (s *Server) getCampaign(c *gin.Context) error {
	cp, err := s.Campaigns.Get(c.Request.Context(), principal(c).Tenant.ID, c.Param("id"))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, toCampaignResponse(cp))
	return nil
}

func (s *Server) listCampaigns(c *gin.Context) error {
	paging, err := queryPaging(c)
	if err != nil {
		return err
	}
	f := campaigns.CampaignFilter{Paging: paging, Type: c.Query("campaign_type")}
	switch f.Type { // Voucherify's campaign types
	case "", "DISCOUNT_COUPONS", "PROMOTION", "GIFT_VOUCHERS", "REFERRAL_PROGRAM", "LOYALTY_PROGRAM":
	default:
		return problem.Invalid("campaign_type", "campaign_type must be DISCOUNT_COUPONS, PROMOTION, GIFT_VOUCHERS, REFERRAL_PROGRAM or LOYALTY_PROGRAM")
	}
	l, err := s.Campaigns.List(c.Request.Context(), principal(c).Tenant.ID, f)
	if err != nil {
		return err
	}
	out := campaignList{Object: "list", DataRef: "campaigns", Campaigns: make([]campaignResponse, 0, len(l.Items)), Total: l.Total, HasMore: l.More}
	for _, cp := range l.Items {
		out.Campaigns = append(out.Campaigns, toCampaignResponse(cp))
	}
	c.JSON(http.StatusOK, out)
	return nil
}

// queryPaging reads the paging of a Voucherify-shaped list: limit (default 10),
// page and starting_after.
func queryPaging(c *gin.Context) (campaigns.Paging, error) {
	limit, err := queryLimit(c, campaigns.MaxPage)
	if err != nil {
		return campaigns.Paging{}, err
	}
	if c.Query("limit") == "" {
		limit = 10
	}
	page, err := queryPage(c, campaigns.MaxPageNumber)
	if err != nil {
		return campaigns.Paging{}, err
	}
	return campaigns.Paging{Limit: limit, Page: page, StartingAfter: c.Query("starting_after")}, nil
}

// setCampaignActive is the kill switch: Voucherify answers enable and disable with
// an empty object.
func (s *Server) setCampaignActive(active bool) handlerFunc {
	return func(c *gin.Context) error {
		if _, err := s.Campaigns.SetActive(c.Request.Context(), principal(c).Tenant.ID, c.Param("id"), active); err != nil {
			return err
		}
		c.JSON(http.StatusOK, struct{}{})
		return nil
	}
}

// voucherOut renders a voucher with its campaign's name.
func (s *Server) voucherOut(c *gin.Context, v campaigns.Voucher) (voucherResponse, error) {
	name := ""
	if v.CampaignID != "" {
		cp, err := s.Campaigns.Get(c.Request.Context(), principal(c).Tenant.ID, v.CampaignID)
		if err != nil {
			return voucherResponse{}, err
		}
		name = cp.Name
	}
	return toVoucherResponse(v, name), nil
}

func (s *Server) renderVoucher(c *gin.Context, v campaigns.Voucher, err error) error {
	if err != nil {
		return err
	}
	out, err := s.voucherOut(c, v)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, out)
	return nil
}

func (s *Server) createVoucher(c *gin.Context) (int, any, error) {
	var in campaigns.VoucherInput
	if err := decodeJSON(c, &in); err != nil {
		return 0, nil, err
	}
	// POST /v1/vouchers/{code}: the path names the code; a body that names
	// another is a contradiction.
	if code := c.Param("code"); code != "" {
		if in.Code != "" && in.Code != code {
			return 0, nil, problem.Invalidf("code", "code %q in the body is not the code %q in the path", in.Code, code)
		}
		in.Code = code
	}
	v, err := s.Campaigns.CreateVoucher(c.Request.Context(), principal(c).Tenant.ID, in)
	if err != nil {
		return 0, nil, err
	}
	out, err := s.voucherOut(c, v)
	return http.StatusOK, out, err
}

func (s *Server) getVoucher(c *gin.Context) error {
	v, err := s.Campaigns.Voucher(c.Request.Context(), principal(c).Tenant.ID, c.Param("code"))
	return s.renderVoucher(c, v, err)
}

func (s *Server) setVoucherActive(active bool) handlerFunc {
	return func(c *gin.Context) error {
		v, err := s.Campaigns.SetVoucherActive(c.Request.Context(), principal(c).Tenant.ID, c.Param("code"), active)
		return s.renderVoucher(c, v, err)
	}
}

func (s *Server) listVouchers(c *gin.Context) error {
	paging, err := queryPaging(c)
	if err != nil {
		return err
	}
	// Voucherify's other list parameters are refused, not ignored: a client
	// asking for one code must not read every voucher as that code.
	for name := range c.Request.URL.Query() {
		switch {
		case name == "code":
			return problem.Invalid(name, "code: read one voucher with GET /v1/vouchers/{code}")
		case name == "order" && c.Query(name) == "-created_at": // the order served
		case name == "ids", name == "order", strings.HasPrefix(name, "filters["),
			strings.HasPrefix(name, "created_at["), strings.HasPrefix(name, "updated_at["):
			return problem.Invalidf(name, "%s: Punchcard lists vouchers by campaign, campaign_id, customer and category, newest first", name)
		}
	}
	f := campaigns.VoucherFilter{Paging: paging, Campaign: c.Query("campaign_id"), Customer: c.Query("customer"), Category: c.Query("category")}
	if name := c.Query("campaign"); name != "" {
		if f.Campaign != "" && f.Campaign != name {
			return problem.Invalid("campaign", "campaign and campaign_id name different campaigns")
		}
		f.Campaign = name
	}
	tenantID := principal(c).Tenant.ID
	l, err := s.Campaigns.ListVouchers(c.Request.Context(), tenantID, f)
	if err != nil {
		return err
	}
	out := voucherList{Object: "list", DataRef: "vouchers", Vouchers: make([]voucherResponse, 0, len(l.Items)), Total: l.Total, HasMore: l.More}
	names := map[string]string{}
	for _, v := range l.Items {
		if _, ok := names[v.CampaignID]; !ok && v.CampaignID != "" {
			cp, err := s.Campaigns.Get(c.Request.Context(), tenantID, v.CampaignID)
			if err != nil {
				return err
			}
			names[v.CampaignID] = cp.Name
		}
		out.Vouchers = append(out.Vouchers, toVoucherResponse(v, names[v.CampaignID]))
	}
	c.JSON(http.StatusOK, out)
	return nil
}

type addVouchersRequest struct {
	VouchersCount int64 `json:"vouchers_count,omitempty" jsonschema:"description=how many codes to add (also accepted as ?vouchers_count=); default 1"`

	// Voucherify lets this request override the campaign's voucher template
	// for the codes it adds; Punchcard does not, and refuses these fields
	// rather than add codes that differ from what the client asked for.
	Category       json.RawMessage `json:"category,omitempty" jsonschema:"description=not supported: the codes take the campaign's voucher template"`
	CategoryID     json.RawMessage `json:"category_id,omitempty" jsonschema:"description=not supported"`
	StartDate      json.RawMessage `json:"start_date,omitempty" jsonschema:"description=not supported"`
	ExpirationDate json.RawMessage `json:"expiration_date,omitempty" jsonschema:"description=not supported"`
	Active         json.RawMessage `json:"active,omitempty" jsonschema:"description=not supported"`
	Redemption     json.RawMessage `json:"redemption,omitempty" jsonschema:"description=not supported"`
	Metadata       json.RawMessage `json:"metadata,omitempty" jsonschema:"description=not supported"`
	AdditionalInfo json.RawMessage `json:"additional_info,omitempty" jsonschema:"description=not supported"`
	CodeConfig     json.RawMessage `json:"code_config,omitempty" jsonschema:"description=not supported"`
}

// unsupported is the first template override of r, by its JSON name, or "".
// A field sent as null overrides nothing.
func (r addVouchersRequest) unsupported() string {
	for _, f := range []struct {
		name  string
		value json.RawMessage
	}{{"category", r.Category}, {"category_id", r.CategoryID}, {"start_date", r.StartDate}, {"expiration_date", r.ExpirationDate},
		{"active", r.Active}, {"redemption", r.Redemption}, {"metadata", r.Metadata}, {"additional_info", r.AdditionalInfo}, {"code_config", r.CodeConfig}} {
		if campaigns.Sent(f.value) {
			return f.name
		}
	}
	return ""
}

// asyncActionRef is Voucherify's AsyncActions reply.
type asyncActionRef struct {
	AsyncActionID string `json:"async_action_id"`
}

// addVouchers adds codes to a campaign: one at once (the voucher is the reply),
// more as an asynchronous action (202 and its id), as Voucherify does.
func (s *Server) addVouchers(c *gin.Context) (int, any, error) {
	var req addVouchersRequest
	if c.Request.ContentLength != 0 {
		if err := decodeJSON(c, &req); err != nil {
			return 0, nil, err
		}
		if f := req.unsupported(); f != "" {
			return 0, nil, problem.Invalidf(f, "%s: Punchcard adds codes as the campaign's voucher template makes them; change the campaign's voucher (or create standalone vouchers) instead", f)
		}
	}
	if v, ok := c.GetQuery("vouchers_count"); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return 0, nil, problem.Invalid("vouchers_count", "vouchers_count must be a positive integer")
		}
		req.VouchersCount = n
	}
	if req.VouchersCount == 0 {
		req.VouchersCount = 1 // none asked for: one, as Voucherify adds
	}
	tenantID := principal(c).Tenant.ID
	if req.VouchersCount == 1 {
		// The campaign's name for the reply is read before the code is added:
		// a read failing after it would release the Idempotency-Key, and a
		// retry add another code.
		cp, err := s.Campaigns.Get(c.Request.Context(), tenantID, c.Param("id"))
		if err != nil {
			return 0, nil, err
		}
		vs, err := s.Campaigns.AddVouchers(c.Request.Context(), tenantID, cp.ID, 1)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, toVoucherResponse(vs[0], cp.Name), nil
	}
	id, err := s.Campaigns.AddVouchersAsync(c.Request.Context(), tenantID, c.Param("id"), req.VouchersCount)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, asyncActionRef{AsyncActionID: id}, nil
}

// asyncActionBody is Voucherify's async action object.
type asyncActionBody struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Status    string          `json:"status" jsonschema:"enum=ENQUEUED,enum=IN_PROGRESS,enum=DONE,enum=FAILED"`
	Progress  int64           `json:"progress" jsonschema:"description=units of work done (codes generated)"`
	Result    json.RawMessage `json:"result,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
	Object    string          `json:"object" jsonschema:"enum=async_action"`
}

func (s *Server) getAsyncAction(c *gin.Context) error {
	a, err := s.Jobs.Get(c.Request.Context(), principal(c).Tenant.ID, c.Param("id"))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, asyncActionBody{ID: a.ID, Type: a.Type, Status: a.Status, Progress: a.Progress, Result: a.Result,
		CreatedAt: a.CreatedAt.UTC(), UpdatedAt: a.UpdatedAt.UTC(), Object: "async_action"})
	return nil
}

// publicationRequest is Voucherify's create-publication body: a customer and either
// a voucher code or a campaign to take the next free code from.
type publicationRequest struct {
	Customer *struct {
		ID       string `json:"id,omitempty"`
		SourceID string `json:"source_id,omitempty"`
	} `json:"customer"`
	Voucher  string `json:"voucher,omitempty" jsonschema:"description=the code to assign"`
	Campaign *struct {
		ID   string `json:"id,omitempty"`
		Name string `json:"name,omitempty"`
	} `json:"campaign,omitempty"`
	Metadata map[string]any `json:"metadata,omitempty"`
}

// publicationBody is Voucherify's publication object.
type publicationBody struct {
	ID         string          `json:"id"`
	Object     string          `json:"object" jsonschema:"enum=publication"`
	CreatedAt  time.Time       `json:"created_at"`
	CustomerID string          `json:"customer_id"`
	Metadata   map[string]any  `json:"metadata"`
	Channel    string          `json:"channel"`
	Result     string          `json:"result" jsonschema:"enum=SUCCESS"`
	VouchersID []string        `json:"vouchers_id"`
	Voucher    voucherResponse `json:"voucher"`
}

func (s *Server) publish(c *gin.Context) error {
	var req publicationRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Customer == nil || (req.Customer.ID == "" && req.Customer.SourceID == "") {
		return problem.Invalid("customer", "customer (id or source_id of an existing customer) is required")
	}
	tenantID := principal(c).Tenant.ID
	ref := req.Customer.ID
	if ref == "" {
		ref = req.Customer.SourceID
	}
	cust, err := s.Customers.Get(c.Request.Context(), tenantID, ref)
	if err != nil {
		return err
	}
	campaign := ""
	if req.Campaign != nil {
		campaign = req.Campaign.ID
		if campaign == "" {
			campaign = req.Campaign.Name
		}
	}
	v, err := s.Campaigns.Publish(c.Request.Context(), tenantID, cust.ID, req.Voucher, campaign)
	if err != nil {
		return err
	}
	out, err := s.voucherOut(c, v)
	if err != nil {
		return err
	}
	md := req.Metadata
	if md == nil {
		md = map[string]any{}
	}
	c.JSON(http.StatusOK, publicationBody{ID: "pub_" + strings.TrimPrefix(v.ID, "v_"), Object: "publication", CreatedAt: v.UpdatedAt.UTC(),
		CustomerID: cust.ID, Metadata: md, Channel: "API", Result: "SUCCESS", VouchersID: []string{v.ID}, Voucher: out})
	return nil
}

// importVouchers enqueues the import of standalone vouchers (Voucherify's
// POST /v1/vouchers/import: an array of vouchers, answered 202 with the action).
func (s *Server) importVouchers(c *gin.Context) (int, any, error) {
	var in []campaigns.VoucherInput
	if err := decodeJSON(c, &in); err != nil {
		return 0, nil, err
	}
	id, err := s.Campaigns.ImportVouchers(c.Request.Context(), principal(c).Tenant.ID, in)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, asyncActionRef{AsyncActionID: id}, nil
}

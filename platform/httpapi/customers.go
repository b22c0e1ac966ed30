package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/punchcard-loyalty/punchcard/platform/customers"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

// customerRequest is the body of POST /v1/customers (Voucherify's Customer) and of
// PUT /v1/customers/{id} (its CustomerBase). A field that is absent is left alone,
// null or "" clears it.
type customerRequest struct {
	ID       string                  `json:"id,omitempty" jsonschema:"description=POST only: an existing customer to update; 404 if there is none"`
	SourceID customers.Field[string] `json:"source_id,omitempty" jsonschema:"nullable,maxLength=255,description=Your own unique key for the customer (a CRM id or an email address). POST updates the customer that has it."`
	customers.Profile
}

func (r customerRequest) input() customers.Input {
	in := r.Profile.Input()
	in.ID, in.SourceID = r.ID, r.SourceID
	return in
}

// customerResponse is Voucherify's CustomerWithSummaryLoyaltyReferrals. Fields
// without a value are left out; address is null when there is none.
type customerResponse struct {
	ID             string             `json:"id"`
	SourceID       string             `json:"source_id,omitempty"`
	Name           string             `json:"name,omitempty"`
	Description    string             `json:"description,omitempty"`
	Email          string             `json:"email,omitempty"`
	Phone          string             `json:"phone,omitempty"`
	Birthdate      string             `json:"birthdate,omitempty" jsonschema:"format=date"`
	Address        *customers.Address `json:"address" jsonschema:"nullable"`
	Metadata       map[string]any     `json:"metadata"`
	Summary        customerSummary    `json:"summary"`
	Loyalty        customerLoyalty    `json:"loyalty"`
	Referrals      customerReferrals  `json:"referrals"`
	SystemMetadata map[string]any     `json:"system_metadata"`
	CreatedAt      time.Time          `json:"created_at"`
	UpdatedAt      time.Time          `json:"updated_at"`
	Object         string             `json:"object" jsonschema:"enum=customer"`
}

// customerSummary is Voucherify's CustomerSummary. Amounts are in minor units.
type customerSummary struct {
	Redemptions customerRedemptionsSummary `json:"redemptions"`
	Orders      customerOrdersSummary      `json:"orders"`
}

type customerRedemptionsSummary struct {
	TotalRedeemed          int64                      `json:"total_redeemed"`
	TotalFailed            int64                      `json:"total_failed"`
	TotalSucceeded         int64                      `json:"total_succeeded"`
	TotalRolledBack        int64                      `json:"total_rolled_back"`
	TotalRollbackFailed    int64                      `json:"total_rollback_failed"`
	TotalRollbackSucceeded int64                      `json:"total_rollback_succeeded"`
	Gift                   customerGiftSummary        `json:"gift"`
	LoyaltyCard            customerLoyaltyCardSummary `json:"loyalty_card"`
}

type customerGiftSummary struct {
	RedeemedAmount int64 `json:"redeemed_amount"`
	AmountToGo     int64 `json:"amount_to_go"`
}

type customerLoyaltyCardSummary struct {
	RedeemedPoints int64 `json:"redeemed_points"`
	PointsToGo     int64 `json:"points_to_go"`
}

type customerOrdersSummary struct {
	TotalAmount     int64      `json:"total_amount"`
	TotalCount      int64      `json:"total_count"`
	AverageAmount   int64      `json:"average_amount"`
	LastOrderAmount int64      `json:"last_order_amount"`
	LastOrderDate   *time.Time `json:"last_order_date,omitempty"`
}

// customerLoyalty is Voucherify's CustomerLoyalty.
type customerLoyalty struct {
	Points            int64                                  `json:"points"`
	ReferredCustomers int64                                  `json:"referred_customers"`
	Campaigns         map[string]customerLoyaltyCampaignBody `json:"campaigns"`
}

type customerLoyaltyCampaignBody struct {
	Points            int64  `json:"points"`
	LoyaltyTier       string `json:"loyalty_tier,omitempty"`
	ReferredCustomers int64  `json:"referred_customers"`
}

// customerReferrals is Voucherify's CustomerReferrals.
type customerReferrals struct {
	Total     int64                      `json:"total"`
	Campaigns []customerReferralCampaign `json:"campaigns"`
}

type customerReferralCampaign struct {
	CampaignID        string    `json:"campaign_id"`
	ReferrerID        string    `json:"referrer_id"`
	RelatedObjectID   string    `json:"related_object_id"`
	RelatedObjectType string    `json:"related_object_type"`
	Date              time.Time `json:"date"`
}

// customerList is Voucherify's CustomersListResponseBody.
type customerList struct {
	Object    string             `json:"object" jsonschema:"enum=list"`
	DataRef   string             `json:"data_ref" jsonschema:"enum=customers"`
	Customers []customerResponse `json:"customers"`
	Total     int64              `json:"total" jsonschema:"description=Customers matching the filters; paging aside"`
	HasMore   bool               `json:"has_more"`
}

// consentsRequest maps consent ids to granted (true) or withdrawn (false).
// "unsubscribed": true withdraws every consent first.
type consentsRequest map[string]bool

// UnmarshalJSON names the consent whose value is not a boolean.
func (r *consentsRequest) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	out := make(consentsRequest, len(raw))
	for id, v := range raw {
		var granted bool
		if err := json.Unmarshal(v, &granted); err != nil {
			return &fieldError{field: id, msg: "expected true or false"}
		}
		out[id] = granted
	}
	*r = out
	return nil
}

type consentsResponse struct {
	Object     string          `json:"object" jsonschema:"enum=consents"`
	CustomerID string          `json:"customer_id"`
	Consents   map[string]bool `json:"consents"`
}

// deletionResponse is Voucherify's CustomersPermanentDeletionCreateResponseBody.
type deletionResponse struct {
	ID              string           `json:"id"`
	CreatedAt       time.Time        `json:"created_at"`
	RelatedObjectID string           `json:"related_object_id"`
	RelatedObject   string           `json:"related_object" jsonschema:"enum=customer"`
	Status          string           `json:"status" jsonschema:"enum=DONE"`
	DataJSON        deletionDataJSON `json:"data_json"`
	// Object keeps Voucherify's spelling, which its clients compare against.
	Object string `json:"object" jsonschema:"enum=pernament_deletion"`
}

// deletionDataJSON counts what a permanent deletion removed. consents is
// Punchcard's addition.
type deletionDataJSON struct {
	Events         int64 `json:"events"`
	CustomerEvents int64 `json:"customer_events"`
	DailyEvents    int64 `json:"daily_events"`
	Segments       int64 `json:"segments"`
	Orders         int64 `json:"orders"`
	OrderEvents    int64 `json:"order_events"`
	Customer       int64 `json:"customer"`
	Consents       int64 `json:"consents"`
}

var customerListParams = []param{
	{"limit", "integer", "page size, 1 to 100 (default 10)"},
	{"page", "integer", "page number, 1 to 99 (default 1)"},
	{"starting_after", "string", "a customer id (the page starts after it, in the list's order) or an RFC 3339 time on the order column: before it for a descending order, after it for an ascending one"},
	{"segment", "string", "a segment name of the tenant's segments policy: only its members (starting_after must then be a customer id)"},
	{"email", "string", "exact email address"},
	{"city", "string", "exact address.city"},
	{"name", "string", "exact name"},
	{"order", "string", "created_at, -created_at (default), updated_at, -updated_at, source_id or -source_id"},
	{"created_at[before]", "string", "RFC 3339 time or YYYY-MM-DD, exclusive"},
	{"created_at[after]", "string", "RFC 3339 time or YYYY-MM-DD, exclusive"},
	{"updated_at[before]", "string", "RFC 3339 time or YYYY-MM-DD, exclusive"},
	{"updated_at[after]", "string", "RFC 3339 time or YYYY-MM-DD, exclusive"},
}

func toCustomerResponse(c customers.Customer) customerResponse {
	md := c.Metadata
	if md == nil {
		md = map[string]any{}
	}
	return customerResponse{
		ID: c.ID, SourceID: c.SourceID, Name: c.Name, Description: c.Description, Email: c.Email,
		Phone: c.Phone, Birthdate: c.Birthdate, Address: c.Address, Metadata: md,
		Loyalty:        customerLoyalty{Campaigns: map[string]customerLoyaltyCampaignBody{}},
		Referrals:      customerReferrals{Campaigns: []customerReferralCampaign{}},
		SystemMetadata: map[string]any{},
		CreatedAt:      c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC(),
		Object: "customer",
	}
}

// customerListFilter reads the list's query parameters; a bad one is a 400 that
// names it.
func customerListFilter(c *gin.Context) (customers.ListFilter, error) {
	if _, ok := c.GetQuery("segment_id"); ok {
		// Answering with every customer would look like a filtered list.
		return customers.ListFilter{}, problem.Invalid("segment_id", "segment_id: segments are named by the segments policy; filter with segment=<name>")
	}
	f := customers.ListFilter{
		StartingAfter: c.Query("starting_after"),
		Email:         c.Query("email"), City: c.Query("city"), Name: c.Query("name"),
		Order: c.Query("order"),
	}
	for _, p := range []struct {
		name string
		dst  *int
	}{{"limit", &f.Limit}, {"page", &f.Page}} {
		if v, ok := c.GetQuery(p.name); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				return f, problem.Invalidf(p.name, "%s must be an integer", p.name)
			}
			if n == 0 {
				// 0 would mean "the default" to the service; to a caller it is out of range.
				n = -1
			}
			*p.dst = n
		}
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{
		{"created_at[before]", &f.CreatedBefore}, {"created_at[after]", &f.CreatedAfter},
		{"updated_at[before]", &f.UpdatedBefore}, {"updated_at[after]", &f.UpdatedAfter},
	} {
		v := c.Query(p.name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			if t, err = time.Parse(time.DateOnly, v); err != nil {
				return f, problem.Invalidf(p.name, "%s must be an RFC 3339 time such as 2026-01-31T23:00:00Z or a date such as 2026-01-31", p.name)
			}
		}
		*p.dst = t
	}
	return f, nil
}

func (s *Server) upsertCustomer(c *gin.Context) error {
	var req customerRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	cust, _, err := s.Customers.Upsert(c.Request.Context(), principal(c).Tenant.ID, req.input())
	if err != nil {
		return err
	}
	// Voucherify answers 200 whether the customer was created or updated.
	c.JSON(http.StatusOK, toCustomerResponse(cust))
	return nil
}

func (s *Server) listCustomers(c *gin.Context) error {
	f, err := customerListFilter(c)
	if err != nil {
		return err
	}
	var page []customers.Customer
	var total int64
	var hasMore bool
	if segment, ok := c.GetQuery("segment"); ok {
		page, total, hasMore, err = s.Redemptions.CustomersInSegment(c.Request.Context(), tenantOf(c), s.Customers, segment, f)
	} else {
		page, total, hasMore, err = s.Customers.List(c.Request.Context(), principal(c).Tenant.ID, f)
	}
	if err != nil {
		return err
	}
	out := customerList{Object: "list", DataRef: "customers", Customers: make([]customerResponse, 0, len(page)), Total: total, HasMore: hasMore}
	for _, cust := range page {
		out.Customers = append(out.Customers, toCustomerResponse(cust))
	}
	c.JSON(http.StatusOK, out)
	return nil
}

func (s *Server) getCustomer(c *gin.Context) error {
	cust, err := s.Customers.Get(c.Request.Context(), principal(c).Tenant.ID, c.Param("id"))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, toCustomerResponse(cust))
	return nil
}

func (s *Server) updateCustomer(c *gin.Context) error {
	var req customerRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	cust, err := s.Customers.Update(c.Request.Context(), principal(c).Tenant.ID, c.Param("id"), req.input())
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, toCustomerResponse(cust))
	return nil
}

func (s *Server) deleteCustomer(c *gin.Context) error {
	if err := s.Customers.Delete(c.Request.Context(), principal(c).Tenant.ID, c.Param("id")); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

func (s *Server) eraseCustomer(c *gin.Context) error {
	d, err := s.Customers.Erase(c.Request.Context(), principal(c).Tenant.ID, c.Param("id"))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, deletionResponse{
		ID: d.ID, CreatedAt: d.CreatedAt.UTC(), RelatedObjectID: d.CustomerID, RelatedObject: "customer",
		Status: d.Status, Object: "pernament_deletion",
		DataJSON: deletionDataJSON{
			Events: d.Counts.Events, CustomerEvents: d.Counts.CustomerEvents, DailyEvents: d.Counts.DailyEvents,
			Segments: d.Counts.Segments, Orders: d.Counts.Orders, OrderEvents: d.Counts.OrderEvents,
			Customer: d.Counts.Customer, Consents: d.Counts.Consents,
		},
	})
	return nil
}

func (s *Server) updateConsents(c *gin.Context) error {
	var req consentsRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	id, consents, err := s.Customers.SetConsents(c.Request.Context(), principal(c).Tenant.ID, c.Param("id"), req)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, consentsResponse{Object: "consents", CustomerID: id, Consents: consents})
	return nil
}

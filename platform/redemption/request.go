package redemption

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/punchcard-loyalty/punchcard/platform/customers"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

// Redeemable objects a request may name.
const (
	ObjectVoucher       = "voucher"
	ObjectPromotionTier = "promotion_tier"
)

// Statuses of a redeemable in a validation or redemption.
const (
	StatusApplicable   = "APPLICABLE"
	StatusInapplicable = "INAPPLICABLE"
	StatusSkipped      = "SKIPPED"
)

// Request is the body of POST /v1/validations and /v1/redemptions, Voucherify's
// stackable request.
type Request struct {
	Redeemables []RedeemableRef `json:"redeemables"`
	Order       *Order          `json:"order,omitempty"`
	Customer    *CustomerRef    `json:"customer,omitempty"`
	Metadata    map[string]any  `json:"metadata,omitempty" jsonschema:"description=Punchcard reads metadata.channel: online (default), pos, mobile, …"`
}

// RedeemableRef names one redeemable: a voucher code, with the gift card credits to
// use for a gift voucher.
type RedeemableRef struct {
	Object string      `json:"object" jsonschema:"enum=voucher,enum=promotion_tier"`
	ID     string      `json:"id" jsonschema:"description=the voucher code or the promotion tier id"`
	Gift   *GiftCredit `json:"gift,omitempty"`
}

// GiftCredit is how much of a gift card to use (minor units); absent: as much as
// the order needs.
type GiftCredit struct {
	Credits int64 `json:"credits"`
}

// CustomerRef names the customer by id or source_id, and may carry the
// customer's data, as Voucherify's customer object of a redemption does: a
// redemption writes the fields it sets to the customer (creating a new one with
// them), and the decisions of a validation, redemption or qualification read the
// customer with them, so that a validation and the redemption after it decide
// alike. Fields a request leaves out keep their stored values.
type CustomerRef struct {
	ID       string `json:"id,omitempty"`
	SourceID string `json:"source_id,omitempty"`
	customers.Profile

	profile customers.Input // the fields above, normalized by check
}

// check refuses an id or source_id no customer can have and a profile field
// POST /v1/customers would refuse, naming the field under "customer.", and
// normalizes the profile. now is the current time (a birthdate may not lie
// after it).
func (c *CustomerRef) check(now time.Time) error {
	// A redemption creates the customer a new source_id names: it must be
	// one POST /v1/customers would accept.
	if c.SourceID != "" {
		if err := customers.CheckSourceID("customer.source_id", c.SourceID); err != nil {
			return err
		}
	}
	if utf8.RuneCountInString(c.ID) > customers.MaxSourceID || strings.ContainsRune(c.ID, 0) {
		return problem.Invalid("customer.id", "customer.id is not a customer id")
	}
	var err error
	c.profile, err = customers.CheckProfile("customer.", c.Profile, now)
	return err
}

// applyProfile writes the request's customer data to c, a copy of the stored
// customer, and returns the names of the fields it changes.
func (c *CustomerRef) applyProfile(to *customers.Customer) []string { return c.profile.ApplyTo(to) }

// channel is the request's sales channel, metadata.channel, "online" by default.
func (r *Request) channel() string { return channelOf(r.Metadata) }

func channelOf(metadata map[string]any) string {
	if c, ok := metadata["channel"].(string); ok && c != "" {
		return c
	}
	return "online"
}

// tooManyRedeemables refuses a request over the stacking rules' redeemables_limit.
func tooManyRedeemables(sent, limit int) error {
	return &problem.Error{Kind: problem.KindInvalid, Key: "too_many_redeemables", Message: "Too many redeemables",
		Details: fmt.Sprintf("redeemables: %d sent, the stacking rules allow at most %d", sent, limit), Field: "redeemables"}
}

// check validates the shape of the request with at most limit redeemables (the
// tenant's redeemables_limit is checked once the stacking rules are read).
func (r *Request) check(limit int, now time.Time) error {
	switch {
	case len(r.Redeemables) == 0:
		return problem.Invalid("redeemables", "redeemables must name at least one redeemable")
	case len(r.Redeemables) > limit:
		return tooManyRedeemables(len(r.Redeemables), limit)
	}
	seen := map[string]bool{}
	for i, ref := range r.Redeemables {
		f := fmt.Sprintf("redeemables[%d]", i)
		switch {
		case ref.Object == "":
			return problem.Invalidf(f+".object", "%s.object is required", f)
		case ref.Object != ObjectVoucher && ref.Object != ObjectPromotionTier:
			return problem.Invalidf(f+".object", "%s.object %q is not supported; send voucher or promotion_tier", f, ref.Object)
		case ref.Object == ObjectPromotionTier && ref.Gift != nil:
			return problem.Invalidf(f+".gift", "%s.gift applies to gift card vouchers only", f)
		case strings.TrimSpace(ref.ID) == "":
			return problem.Invalidf(f+".id", "%s.id (the code) is required", f)
		case utf8.RuneCountInString(ref.ID) > 200 || strings.ContainsRune(ref.ID, 0):
			return problem.Invalidf(f+".id", "%s.id is not a code", f)
		case ref.Gift != nil && (ref.Gift.Credits < 0 || ref.Gift.Credits > MaxAmount):
			return problem.Invalidf(f+".gift.credits", "%s.gift.credits must be between 0 and %d (minor units)", f, MaxAmount)
		case seen[ref.Object+" "+ref.ID]:
			e := problem.Invalidf(f+".id", "%s names %s twice", f, ref.ID)
			e.Key = "duplicated_redeemables" // Voucherify's key
			return e
		}
		seen[ref.Object+" "+ref.ID] = true
	}
	if r.Order == nil {
		r.Order = &Order{}
	}
	return checkCustomer(&r.Customer, now)
}

// checkCustomer checks a request's customer object (see CustomerRef.check), and
// drops one that names no customer and carries no data.
func checkCustomer(c **CustomerRef, now time.Time) error {
	ref := *c
	switch {
	case ref == nil:
		return nil
	case ref.ID == "" && ref.SourceID == "":
		if !ref.Profile.Empty() {
			return problem.Invalid("customer.source_id", "customer.source_id (or customer.id) is required to send customer data")
		}
		*c = nil
		return nil
	}
	return ref.check(now)
}

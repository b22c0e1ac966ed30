// Package campaigns owns what a tenant offers: campaigns of discount coupons and gift
// cards with their schedule, structured eligibility rules and limits, and their
// vouchers (generated from the campaign's code_config, or standalone), each of which
// can be enabled, disabled and assigned to a customer. Disabling a campaign is the
// kill switch: the flag lives in the database, which every node reads on every
// validation, so it takes effect on the next request everywhere.
//
// Shapes follow Voucherify's v1 API; money is int64 minor units of the tenant's
// currency; percentages are exact hundredths (Percent).
package campaigns

import (
	"time"

	"github.com/uptrace/bun"
)

// Campaign types this package serves.
const (
	TypeDiscountCoupons = "DISCOUNT_COUPONS"
	TypeGiftVouchers    = "GIFT_VOUCHERS"
)

// Voucher types.
const (
	VoucherDiscount = "DISCOUNT_VOUCHER"
	VoucherGift     = "GIFT_VOUCHER"
)

// Generation statuses, Voucherify's vouchers_generation_status.
const (
	GenerationDone       = "DONE"
	GenerationInProgress = "IN_PROGRESS"
	GenerationFailed     = "FAILED"
)

// ResourceCampaign and ResourceVoucher name the resources in the audit log.
const (
	ResourceCampaign = "campaign"
	ResourceVoucher  = "voucher"
)

// Campaign is one campaign of a tenant. Counters (redemptions and the running
// totals) are changed only by conditional updates in the redemption transaction.
type Campaign struct {
	bun.BaseModel `bun:"table:campaigns,alias:cp"`

	TenantID          string          `bun:"tenant_id,pk"`
	ID                string          `bun:"id,pk"`
	Name              string          `bun:"name"`
	Description       string          `bun:"description,nullzero"`
	CampaignType      string          `bun:"campaign_type"`
	Type              string          `bun:"type"` // AUTO_UPDATE or STATIC
	Category          string          `bun:"category,nullzero"`
	Active            bool            `bun:"active"`
	StartDate         *time.Time      `bun:"start_date"`
	ExpirationDate    *time.Time      `bun:"expiration_date"`
	ValidityDayOfWeek []int           `bun:"validity_day_of_week,type:jsonb,nullzero"`
	ValidityHours     *ValidityHours  `bun:"validity_hours,type:jsonb,nullzero"`
	Voucher           VoucherTemplate `bun:"voucher,type:jsonb"`
	Limits            Limits          `bun:"limits,type:jsonb"`
	Rules             Rules           `bun:"rules,type:jsonb"`
	Metadata          map[string]any  `bun:"metadata,type:jsonb,nullzero,json_use_number"`
	VouchersCount     int64           `bun:"vouchers_count"`
	GenerationStatus  string          `bun:"vouchers_generation_status"`
	Redemptions       int64           `bun:"redemptions_count"`
	DiscountTotal     int64           `bun:"discount_total"`
	OrderTotal        int64           `bun:"order_total"`
	CreatedAt         time.Time       `bun:"created_at"`
	UpdatedAt         time.Time       `bun:"updated_at"`

	// Tiers are a PROMOTION campaign's tiers, when loaded.
	Tiers []Tier `bun:"-"`
}

// VoucherTemplate is the campaign's voucher object: what each of its vouchers
// grants and how its codes look.
type VoucherTemplate struct {
	Type       string      `json:"type"`
	Discount   *Discount   `json:"discount,omitempty"`
	Gift       *Gift       `json:"gift,omitempty"`
	Redemption *Redemption `json:"redemption,omitempty"`
	CodeConfig CodeConfig  `json:"code_config"`
}

// Gift is a gift card's value: the amount loaded, in minor units, and how it is
// applied.
type Gift struct {
	Amount int64  `json:"amount"`
	Effect string `json:"effect,omitempty" jsonschema:"enum=APPLY_TO_ORDER,enum=APPLY_TO_ITEMS"`
}

// Redemption is Voucherify's voucher redemption object: how many times each voucher
// may be redeemed (nil: without limit).
type Redemption struct {
	Quantity *int64 `json:"quantity"`
}

// ValidityHours is Voucherify's validity_hours: daily windows in the tenant's time
// zone.
type ValidityHours struct {
	Daily []DailyWindow `json:"daily"`
}

// DailyWindow is one window: from start_time to expiration_time ("HH:MM", local
// time) on the given days of the week (0 = Sunday … 6 = Saturday, as Voucherify).
type DailyWindow struct {
	StartTime      string `json:"start_time"`
	ExpirationTime string `json:"expiration_time"`
	DaysOfWeek     []int  `json:"days_of_week"`
}

// Limits are Punchcard's campaign caps. Nil means no cap. Amounts are minor units.
type Limits struct {
	TotalRedemptions    *int64 `json:"total_redemptions,omitempty"`
	TotalDiscountAmount *int64 `json:"total_discount_amount,omitempty"`
	TotalOrderAmount    *int64 `json:"total_order_amount,omitempty"`
	PerCustomer         *int64 `json:"per_customer,omitempty"`
	PerCustomerPerDay   *int64 `json:"per_customer_per_day,omitempty"`
	PerCustomerPerMonth *int64 `json:"per_customer_per_month,omitempty"`
	PerDay              *int64 `json:"per_day,omitempty"`
	PerMonth            *int64 `json:"per_month,omitempty"`
}

// Rules are the structured eligibility rules that the base eligibility policy reads.
// Empty fields do not restrict.
type Rules struct {
	MinOrderAmount *int64         `json:"min_order_amount,omitempty"`
	Segments       []string       `json:"segments,omitempty"`
	Channels       []string       `json:"channels,omitempty"`
	Countries      []string       `json:"countries,omitempty"`
	Products       *ProductRules  `json:"products,omitempty"`
	Metadata       map[string]any `json:"metadata,omitempty"`
}

// ProductRules restrict a campaign to orders with (or without) some products,
// named by product or SKU id.
type ProductRules struct {
	Included []string `json:"included,omitempty"`
	Excluded []string `json:"excluded,omitempty"`
}

// Voucher is one code: generated for a campaign or standalone.
type Voucher struct {
	bun.BaseModel `bun:"table:vouchers,alias:v"`

	TenantID           string         `bun:"tenant_id,pk"`
	ID                 string         `bun:"id,pk"`
	Code               string         `bun:"code"`
	CampaignID         string         `bun:"campaign_id,nullzero"`
	Category           string         `bun:"category,nullzero"`
	Type               string         `bun:"type"`
	Discount           *Discount      `bun:"discount,type:jsonb,nullzero"`
	GiftAmount         int64          `bun:"gift_amount"`
	GiftBalance        int64          `bun:"gift_balance"`
	GiftEffect         string         `bun:"gift_effect,nullzero"`
	RedemptionQuantity *int64         `bun:"redemption_quantity"`
	RedeemedQuantity   int64          `bun:"redeemed_quantity"`
	Active             bool           `bun:"active"`
	HolderID           string         `bun:"holder_id,nullzero"`
	StartDate          *time.Time     `bun:"start_date"`
	ExpirationDate     *time.Time     `bun:"expiration_date"`
	Metadata           map[string]any `bun:"metadata,type:jsonb,nullzero,json_use_number"`
	CreatedAt          time.Time      `bun:"created_at"`
	UpdatedAt          time.Time      `bun:"updated_at"`
}

# Package punchcard.eligibility is the base eligibility policy. It is evaluated once
# per redeemable and turns the structured rules stored on the campaign and voucher
# (state, schedule, holder, order and customer rules, channels, metadata, quantity
# and limits) into denials. A field that is absent or null means "no restriction".
# Each element of deny is {"code", "message", "rule"}; the code reaches the API as
# the redeemable's error key.
package punchcard.eligibility

# Campaign and voucher state.

deny contains reason("campaign_disabled", "The campaign is disabled.", "campaign.active") if {
	input.redeemable.campaign.active == false
}

deny contains reason("voucher_disabled", "The voucher is disabled.", "voucher.active") if {
	input.redeemable.active == false
}

# Gift cards: the credits a request asks for must be on the card, and a card with
# nothing left pays for nothing (it is not redeemed for nothing, using up its
# redemption quantity).

deny contains reason("gift_amount_exceeded", "The gift card's balance is lower than the credits requested.", "voucher.gift.balance") if {
	input.redeemable.gift.credits > input.redeemable.gift.balance
}

deny contains reason("gift_amount_exceeded", "The gift card has no balance left.", "voucher.gift.balance") if {
	input.redeemable.gift.balance <= 0
}

# Schedule: start and expiration dates of the campaign and of the voucher itself.

deny contains reason("voucher_not_active", "The campaign has not started yet.", "schedule.start_date") if {
	now_ns < date_ns(input.redeemable.campaign.start_date)
}

deny contains reason("voucher_expired", "The campaign has expired.", "schedule.expiration_date") if {
	now_ns >= date_ns(input.redeemable.campaign.expiration_date)
}

deny contains reason("voucher_not_active", "The voucher is not active yet.", "voucher.start_date") if {
	now_ns < date_ns(input.redeemable.start_date)
}

deny contains reason("voucher_expired", "The voucher has expired.", "voucher.expiration_date") if {
	now_ns >= date_ns(input.redeemable.expiration_date)
}

# Schedule: days of the week and daily hours, in the tenant's timezone. Campaigns
# store days Voucherify style (0 = Sunday … 6 = Saturday); input.local.weekday is
# ISO (1 = Monday … 7 = Sunday).

deny contains reason("not_valid_today", "The campaign is not valid on this day of the week.", "schedule.validity_day_of_week") if {
	days := input.redeemable.campaign.validity_day_of_week
	is_array(days)
	count(days) > 0
	not local_day in days
	not carried_over(days)
}

# carried_over is true past midnight inside a daily window that began the day
# before, on an allowed day: that time belongs to the day the window began.
carried_over(days) if {
	previous := (local_day + 6) % 7
	previous in days
	some window in input.redeemable.campaign.validity_hours.daily
	clock_minutes(window.start_time) > clock_minutes(window.expiration_time)
	window_on_day(window, previous)
	local_minute < clock_minutes(window.expiration_time)
}

deny contains reason("not_valid_today", "The campaign is not valid at this time of day.", "schedule.validity_hours") if {
	windows := input.redeemable.campaign.validity_hours.daily
	is_array(windows)
	count(windows) > 0
	not in_some_window(windows)
}

# Holder: a voucher assigned to a customer is only valid for that customer.

deny contains reason("customer_mismatch", "The voucher is assigned to another customer.", "voucher.holder_id") if {
	holder := input.redeemable.holder_id
	is_string(holder)
	holder != ""
	not input.customer.id == holder
}

# Order rules: not judged in a qualification of scenario AUDIENCE_ONLY, which
# asks what the customer's profile makes available, whatever the order. (Last in
# each body, so that a campaign without the rule never evaluates it.)

judges_order if not input.scenario == "AUDIENCE_ONLY"

deny contains reason("order_rules_violated", sprintf("The order amount is below the minimum of %v.", [minimum]), "rules.min_order_amount") if {
	minimum := campaign_rules.min_order_amount
	is_number(minimum)
	order_amount < minimum
	judges_order
}

deny contains reason("order_rules_violated", "The order contains none of the products the campaign applies to.", "rules.products.included") if {
	included := campaign_rules.products.included
	is_array(included)
	count(included) > 0
	not some_item_listed(included)
	judges_order
}

deny contains reason("order_rules_violated", "Every product in the order is excluded from the campaign.", "rules.products.excluded") if {
	excluded := campaign_rules.products.excluded
	is_array(excluded)
	count(excluded) > 0
	count(order_items) > 0
	every item in order_items {
		item_listed(item, excluded)
	}
	judges_order
}

# Customer rules.

deny contains reason("customer_rules_violated", "The customer is not in any segment the campaign applies to.", "rules.segments") if {
	segments := campaign_rules.segments
	is_array(segments)
	count(segments) > 0
	not customer_in_segment(segments)
}

deny contains reason("customer_rules_violated", "The campaign is not available in the customer's country.", "rules.countries") if {
	countries := campaign_rules.countries
	is_array(countries)
	count(countries) > 0
	not customer_country_listed(countries)
}

# Channel rules.

deny contains reason("channel_not_allowed", sprintf("The campaign is not available on channel %q.", [channel]), "rules.channels") if {
	channels := campaign_rules.channels
	is_array(channels)
	count(channels) > 0
	not channel in channels
}

# Metadata rules: each key must match the order metadata, else the customer
# metadata; the wanted value is either one value or a list of accepted values.

deny contains reason("metadata_rules_violated", sprintf("The metadata %q does not match the campaign rules.", [key]), concat(".", ["rules.metadata", key])) if {
	some key, wanted in campaign_rules.metadata
	not metadata_matches(key, wanted)
}

# Voucher quantity.

deny contains reason("quantity_exceeded", "The voucher has been redeemed the maximum number of times.", "voucher.quantity") if {
	quantity := input.redeemable.quantity
	is_number(quantity)
	usage("voucher_redemptions") >= quantity
}

# Campaign limits: each limit is compared with the usage Go counted before this
# redemption, so reaching the limit denies the next one.

limit_usage := {
	"total_redemptions": "campaign_redemptions",
	"total_discount_amount": "campaign_discount_amount",
	"total_order_amount": "campaign_order_amount",
	"per_customer": "customer_redemptions",
	"per_customer_per_day": "customer_redemptions_today",
	"per_customer_per_month": "customer_redemptions_this_month",
	"per_day": "campaign_redemptions_today",
	"per_month": "campaign_redemptions_this_month",
}

limit_messages := {
	"total_redemptions": "The campaign has reached its total number of redemptions.",
	"total_discount_amount": "The campaign has reached its total discount budget.",
	"total_order_amount": "The campaign has reached its total order amount.",
	"per_customer": "The customer has reached the redemption limit for this campaign.",
	"per_customer_per_day": "The customer has reached today's redemption limit for this campaign.",
	"per_customer_per_month": "The customer has reached this month's redemption limit for this campaign.",
	"per_day": "The campaign has reached today's redemption limit.",
	"per_month": "The campaign has reached this month's redemption limit.",
}

deny contains reason("limit_exceeded", limit_messages[name], concat(".", ["limits", name])) if {
	some name, field in limit_usage
	limit := input.redeemable.campaign.limits[name]
	is_number(limit)
	usage(field) >= limit
}

# Budgets: a redemption may not take the campaign past its total order amount
# with this order, nor past its discount budget with this discount. Go judges a
# redeemable of a budgeted campaign once more once its discount is known, with
# input.redeemable.discount_amount: the discount it would give, with those its
# campaign's other redeemables of the request gave before it.

deny contains reason("limit_exceeded", "The campaign's total order amount has less left than this order.", "limits.total_order_amount") if {
	limit := input.redeemable.campaign.limits.total_order_amount
	is_number(limit)
	usage("campaign_order_amount") < limit
	usage("campaign_order_amount") + order_amount > limit
	judges_order
}

deny contains reason("limit_exceeded", "The campaign's discount budget has less left than this discount.", "limits.total_discount_amount") if {
	limit := input.redeemable.campaign.limits.total_discount_amount
	is_number(limit)
	discount := input.redeemable.discount_amount
	is_number(discount)
	usage("campaign_discount_amount") + discount > limit
}

# A per-customer limit counts a customer's redemptions: a campaign with one
# refuses a request that names no customer, or names one by an id the tenant
# does not know. A new source_id names a new customer (input.customer.id is
# empty, nothing redeemed yet), whom the redemption creates. Voucherify's key.

deny contains reason("missing_customer", "This campaign limits redemptions per customer: name the customer.", concat(".", ["limits", name])) if {
	some name in {"per_customer", "per_customer_per_day", "per_customer_per_month"}
	is_number(input.redeemable.campaign.limits[name])
	not identified_customer
}

identified_customer if {
	is_string(input.customer.id)
	input.customer.id != ""
}

identified_customer if {
	is_string(input.customer.source_id)
	input.customer.source_id != ""
}

# Helpers.

reason(code, message, rule) := {"code": code, "message": message, "rule": rule}

campaign_rules := rules if {
	rules := input.redeemable.campaign.rules
	is_object(rules)
} else := {}

now_ns := time.parse_rfc3339_ns(input.now)

# date_ns is undefined for absent, null or malformed dates, which means "no restriction".
date_ns(value) := time.parse_rfc3339_ns(value) if is_string(value)

# local_day is today's day in the tenant's timezone, 0 = Sunday … 6 = Saturday.
local_day := input.local.weekday % 7

local_minute := (input.local.hour * 60) + input.local.minute

clock_minutes(value) := (to_number(parts[0]) * 60) + to_number(parts[1]) if {
	parts := split(value, ":")
	count(parts) >= 2
}

# window_days are the days a window applies on; none means every day.
window_days(window) := days if {
	days := window.days_of_week
	is_array(days)
} else := []

window_on_day(window, _) if count(window_days(window)) == 0

window_on_day(window, day) if day in window_days(window)

# in_some_window is true when local time falls inside one of the daily windows.
# The expiration time is exclusive; a window whose expiration is before its start
# runs past midnight and belongs to the day it starts on.
in_some_window(windows) if {
	some window in windows
	start := clock_minutes(window.start_time)
	end := clock_minutes(window.expiration_time)
	start <= end
	window_on_day(window, local_day)
	local_minute >= start
	local_minute < end
}

in_some_window(windows) if {
	some window in windows
	start := clock_minutes(window.start_time)
	end := clock_minutes(window.expiration_time)
	start > end
	window_on_day(window, local_day)
	local_minute >= start
}

in_some_window(windows) if {
	some window in windows
	start := clock_minutes(window.start_time)
	end := clock_minutes(window.expiration_time)
	start > end
	window_on_day(window, (local_day + 6) % 7)
	local_minute < end
}

order_amount := amount if {
	amount := input.order.amount
	is_number(amount)
} else := 0

order_items := items if {
	items := input.order.items
	is_array(items)
} else := []

item_listed(item, ids) if item.product_id in ids

item_listed(item, ids) if item.sku_id in ids

some_item_listed(ids) if {
	some item in order_items
	item_listed(item, ids)
}

customer_in_segment(segments) if {
	some segment in input.customer.segments
	segment in segments
}

customer_country_listed(countries) if {
	country := upper(input.customer.address.country)
	some listed in countries
	upper(listed) == country
}

channel := c if {
	c := input.channel
	is_string(c)
} else := "online"

metadata_value(key) := value if {
	value := input.order.metadata[key]
} else := input.customer.metadata[key]

# metadata_matches takes the key, not the value, so that a key missing from both
# metadata leaves it undefined and the deny above fires.
metadata_matches(key, wanted) if {
	is_array(wanted)
	metadata_value(key) in wanted
}

metadata_matches(key, wanted) if {
	not is_array(wanted)
	metadata_value(key) == wanted
}

usage(field) := n if {
	n := input.redeemable.usage[field]
	is_number(n)
} else := 0

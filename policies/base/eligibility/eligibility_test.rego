package punchcard.eligibility_test

import data.punchcard.eligibility

# A Friday evening order at 18:30 in the tenant's timezone, by a gold customer in
# the Netherlands, for two lattes, against an active campaign with no rules.
base_input := {
	"now": "2026-11-20T17:30:00Z",
	"local": {"date": "2026-11-20", "weekday": 5, "hour": 18, "minute": 30},
	"channel": "online",
	"customer": {
		"id": "cust_01",
		"source_id": "alice",
		"address": {"country": "NL", "city": "Amsterdam"},
		"metadata": {"favorite_drink": "coffee"},
		"segments": ["loyalty_members"],
		"tier": "gold",
		"stats": {"orders_count": 12, "total_spent": 48000, "redemptions_count": 3},
	},
	"order": {
		"amount": 5000,
		"items": [{
			"sku_id": "sku_latte_large",
			"product_id": "prod_latte",
			"quantity": 2,
			"price": 2500,
			"amount": 5000,
			"metadata": {},
		}],
		"metadata": {"store": "ams-centraal"},
	},
	"redeemable": {
		"object": "voucher",
		"id": "v_01",
		"active": true,
		"campaign": {
			"id": "camp_01",
			"name": "Autumn coffee",
			"type": "DISCOUNT_COUPONS",
			"category": "general_discount",
			"metadata": {},
			"active": true,
		},
		"discount": {"type": "PERCENT", "percent_off": 15},
		"usage": {
			"campaign_redemptions": 0,
			"customer_redemptions": 0,
			"customer_redemptions_today": 0,
			"voucher_redemptions": 0,
		},
	},
}

# with_campaign merges fields into the campaign of the base input.
with_campaign(fields) := object.union(base_input, {"redeemable": {"campaign": fields}})

with_rules(rules) := with_campaign({"rules": rules})

with_limits(limits, usage) := object.union(base_input, {"redeemable": {"campaign": {"limits": limits}, "usage": usage}})

at_local(weekday, hour, minute) := object.union(base_input, {"local": {"weekday": weekday, "hour": hour, "minute": minute}})

# fired summarizes a deny set as "code rule" strings.
fired(deny) := {sprintf("%s %s", [r.code, r.rule]) | some r in deny}

denies(inp) := d if {
	d := fired(eligibility.deny) with input as inp
}

test_base_input_allowed if {
	denies(base_input) == set()
}

test_every_reason_has_code_message_and_rule if {
	some r in eligibility.deny with input as with_campaign({"active": false, "rules": {"min_order_amount": 999999}})
	is_string(r.code)
	is_string(r.message)
	r.message != ""
	is_string(r.rule)
}

# State.

test_campaign_disabled if {
	denies(with_campaign({"active": false})) == {"campaign_disabled campaign.active"}
}

test_voucher_disabled if {
	denies(object.union(base_input, {"redeemable": {"active": false}})) == {"voucher_disabled voucher.active"}
}

test_absent_active_flags_allowed if {
	inp := json.remove(base_input, ["redeemable/active", "redeemable/campaign/active"])
	denies(inp) == set()
}

# Start and expiration dates.

test_campaign_not_started if {
	denies(with_campaign({"start_date": "2026-12-01T00:00:00Z"})) == {"voucher_not_active schedule.start_date"}
}

test_campaign_started if {
	denies(with_campaign({"start_date": "2026-11-01T00:00:00Z"})) == set()
}

test_campaign_expired if {
	denies(with_campaign({"expiration_date": "2026-11-20T17:00:00Z"})) == {"voucher_expired schedule.expiration_date"}
}

test_campaign_not_expired if {
	denies(with_campaign({"start_date": "2026-11-01T00:00:00Z", "expiration_date": "2026-11-30T23:59:59Z"})) == set()
}

test_null_dates_are_no_restriction if {
	denies(with_campaign({"start_date": null, "expiration_date": null})) == set()
}

test_voucher_dates if {
	denies(object.union(base_input, {"redeemable": {"start_date": "2027-01-01T00:00:00Z"}})) == {"voucher_not_active voucher.start_date"}
	denies(object.union(base_input, {"redeemable": {"expiration_date": "2026-01-01T00:00:00Z"}})) == {"voucher_expired voucher.expiration_date"}
}

# Days of the week (0 = Sunday in the campaign, 7 = Sunday in input.local).

test_valid_on_friday if {
	denies(with_campaign({"validity_day_of_week": [5, 6]})) == set()
}

test_not_valid_on_friday if {
	denies(with_campaign({"validity_day_of_week": [1, 2, 3]})) == {"not_valid_today schedule.validity_day_of_week"}
}

test_sunday_maps_to_zero if {
	sunday := object.union(with_campaign({"validity_day_of_week": [0]}), {"local": {"weekday": 7}})
	denies(sunday) == set()
	monday := object.union(with_campaign({"validity_day_of_week": [0]}), {"local": {"weekday": 1}})
	denies(monday) == {"not_valid_today schedule.validity_day_of_week"}
}

test_empty_days_are_no_restriction if {
	denies(with_campaign({"validity_day_of_week": []})) == set()
}

# Happy hour: Fridays 17:00–19:00.

happy_hour := {"validity_hours": {"daily": [{"start_time": "17:00", "expiration_time": "19:00", "days_of_week": [5]}]}}

happy_hour_denies(weekday, hour, minute) := denies(object.union(at_local(weekday, hour, minute), {"redeemable": {"campaign": happy_hour}}))

test_happy_hour_allows_friday_evening if {
	happy_hour_denies(5, 17, 0) == set()
	happy_hour_denies(5, 18, 30) == set()
	happy_hour_denies(5, 18, 59) == set()
}

test_happy_hour_denies_outside_hours if {
	happy_hour_denies(5, 16, 59) == {"not_valid_today schedule.validity_hours"}
	happy_hour_denies(5, 19, 0) == {"not_valid_today schedule.validity_hours"}
}

test_happy_hour_denies_other_days if {
	happy_hour_denies(4, 18, 0) == {"not_valid_today schedule.validity_hours"}
	happy_hour_denies(6, 18, 0) == {"not_valid_today schedule.validity_hours"}
}

test_window_without_days_applies_every_day if {
	every_day := {"validity_hours": {"daily": [{"start_time": "08:00", "expiration_time": "11:30"}]}}
	denies(object.union(at_local(2, 9, 15), {"redeemable": {"campaign": every_day}})) == set()
	denies(object.union(at_local(2, 11, 30), {"redeemable": {"campaign": every_day}})) == {"not_valid_today schedule.validity_hours"}
}

test_window_past_midnight if {
	late := {"validity_hours": {"daily": [{"start_time": "22:00", "expiration_time": "02:00", "days_of_week": [5]}]}}
	denies(object.union(at_local(5, 23, 0), {"redeemable": {"campaign": late}})) == set()
	denies(object.union(at_local(6, 1, 30), {"redeemable": {"campaign": late}})) == set()
	denies(object.union(at_local(6, 23, 0), {"redeemable": {"campaign": late}})) == {"not_valid_today schedule.validity_hours"}
	denies(object.union(at_local(5, 1, 30), {"redeemable": {"campaign": late}})) == {"not_valid_today schedule.validity_hours"}
}

# Past midnight, a Friday night window belongs to Friday: a campaign valid on
# Fridays only is valid in it on Saturday at 01:30, and not after it ends.
test_window_past_midnight_on_its_day if {
	late := {"validity_day_of_week": [5], "validity_hours": {"daily": [{"start_time": "22:00", "expiration_time": "02:00", "days_of_week": [5]}]}}
	denies(object.union(at_local(5, 23, 0), {"redeemable": {"campaign": late}})) == set()
	denies(object.union(at_local(6, 1, 30), {"redeemable": {"campaign": late}})) == set()
	denies(object.union(at_local(6, 2, 30), {"redeemable": {"campaign": late}})) == {"not_valid_today schedule.validity_day_of_week", "not_valid_today schedule.validity_hours"}
}

test_second_window_matches if {
	two := {"validity_hours": {"daily": [
		{"start_time": "07:00", "expiration_time": "09:00", "days_of_week": [1, 2, 3, 4, 5]},
		{"start_time": "17:00", "expiration_time": "19:00", "days_of_week": [5]},
	]}}
	denies(object.union(at_local(5, 18, 0), {"redeemable": {"campaign": two}})) == set()
}

# Holder.

test_holder_matches if {
	denies(object.union(base_input, {"redeemable": {"holder_id": "cust_01"}})) == set()
}

test_holder_mismatch if {
	denies(object.union(base_input, {"redeemable": {"holder_id": "cust_02"}})) == {"customer_mismatch voucher.holder_id"}
}

test_holder_without_customer if {
	inp := object.union(json.remove(base_input, ["customer"]), {"redeemable": {"holder_id": "cust_01"}})
	denies(inp) == {"customer_mismatch voucher.holder_id"}
	denies(object.union(inp, {"customer": null})) == {"customer_mismatch voucher.holder_id"}
}

# Order rules.

test_min_order_amount if {
	denies(with_rules({"min_order_amount": 5000})) == set()
	denies(with_rules({"min_order_amount": 5001})) == {"order_rules_violated rules.min_order_amount"}
}

test_min_order_amount_without_order if {
	denies(json.remove(with_rules({"min_order_amount": 100}), ["order"])) == {"order_rules_violated rules.min_order_amount"}
}

test_audience_only_ignores_the_order if {
	audience := {"scenario": "AUDIENCE_ONLY"}
	denies(object.union(with_rules({"min_order_amount": 5001}), audience)) == set()
	denies(object.union(with_rules({"products": {"included": ["prod_croissant"]}}), audience)) == set()
	denies(object.union(with_rules({"products": {"excluded": ["prod_latte"]}}), audience)) == set()
	denies(object.union(with_rules({"min_order_amount": 5001}), {"scenario": "ALL"})) == {"order_rules_violated rules.min_order_amount"}

	# The customer is still judged.
	denies(object.union(with_rules({"countries": ["FR"]}), audience)) == {"customer_rules_violated rules.countries"}
}

test_included_products if {
	denies(with_rules({"products": {"included": ["prod_latte", "prod_cappuccino"]}})) == set()
	denies(with_rules({"products": {"included": ["sku_latte_large"]}})) == set()
	denies(with_rules({"products": {"included": ["prod_croissant"]}})) == {"order_rules_violated rules.products.included"}
}

test_excluded_products if {
	denies(with_rules({"products": {"excluded": ["prod_latte"]}})) == {"order_rules_violated rules.products.excluded"}
	denies(with_rules({"products": {"excluded": ["prod_croissant"]}})) == set()
}

test_excluded_products_with_another_item if {
	inp := object.union(with_rules({"products": {"excluded": ["prod_latte"]}}), {"order": {"items": [
		{"sku_id": "sku_latte_large", "product_id": "prod_latte", "quantity": 2, "price": 2500, "amount": 5000},
		{"sku_id": "sku_croissant", "product_id": "prod_croissant", "quantity": 1, "price": 300, "amount": 300},
	]}})
	denies(inp) == set()
}

# Customer rules.

test_segments if {
	denies(with_rules({"segments": ["vip", "loyalty_members"]})) == set()
	denies(with_rules({"segments": ["vip"]})) == {"customer_rules_violated rules.segments"}
}

test_segments_without_customer if {
	denies(json.remove(with_rules({"segments": ["loyalty_members"]}), ["customer"])) == {"customer_rules_violated rules.segments"}
}

test_countries if {
	denies(with_rules({"countries": ["nl", "BE"]})) == set()
	denies(with_rules({"countries": ["DE"]})) == {"customer_rules_violated rules.countries"}
}

# Channels.

test_channels if {
	denies(with_rules({"channels": ["online", "mobile"]})) == set()
	denies(with_rules({"channels": ["pos"]})) == {"channel_not_allowed rules.channels"}
}

test_channel_defaults_to_online if {
	denies(json.remove(with_rules({"channels": ["online"]}), ["channel"])) == set()
}

# Metadata rules.

test_metadata_matches_order if {
	denies(with_rules({"metadata": {"store": "ams-centraal"}})) == set()
	denies(with_rules({"metadata": {"store": ["ams-zuid", "ams-centraal"]}})) == set()
}

test_metadata_falls_back_to_customer if {
	denies(with_rules({"metadata": {"favorite_drink": "coffee"}})) == set()
}

test_metadata_mismatch if {
	denies(with_rules({"metadata": {"store": "rotterdam"}})) == {"metadata_rules_violated rules.metadata.store"}
	denies(with_rules({"metadata": {"loyalty_card": "yes"}})) == {"metadata_rules_violated rules.metadata.loyalty_card"}
}

# Gift cards.

test_gift_credits_within_balance if {
	denies(object.union(base_input, {"redeemable": {"gift": {"amount": 10000, "balance": 4000}}})) == set()
	denies(object.union(base_input, {"redeemable": {"gift": {"amount": 10000, "balance": 4000, "credits": 4000}}})) == set()
	denies(object.union(base_input, {"redeemable": {"gift": {"amount": 10000, "balance": 4000, "credits": 4001}}})) == {"gift_amount_exceeded voucher.gift.balance"}
}

test_empty_gift_card if {
	denies(object.union(base_input, {"redeemable": {"gift": {"amount": 10000, "balance": 1}}})) == set()
	denies(object.union(base_input, {"redeemable": {"gift": {"amount": 10000, "balance": 0}}})) == {"gift_amount_exceeded voucher.gift.balance"}
}

# Voucher quantity.

test_quantity if {
	denies(object.union(base_input, {"redeemable": {"quantity": 3, "usage": {"voucher_redemptions": 2}}})) == set()
	denies(object.union(base_input, {"redeemable": {"quantity": 3, "usage": {"voucher_redemptions": 3}}})) == {"quantity_exceeded voucher.quantity"}
}

# Limits.

test_first_500_customers if {
	denies(with_limits({"total_redemptions": 500}, {"campaign_redemptions": 499})) == set()
	denies(with_limits({"total_redemptions": 500}, {"campaign_redemptions": 500})) == {"limit_exceeded limits.total_redemptions"}
}

test_per_customer if {
	denies(with_limits({"per_customer": 1}, {"customer_redemptions": 0})) == set()
	denies(with_limits({"per_customer": 1}, {"customer_redemptions": 1})) == {"limit_exceeded limits.per_customer"}
}

test_per_customer_limits_need_a_customer if {
	anonymous := json.remove(with_limits({"per_customer": 1}, {}), ["customer"])
	denies(anonymous) == {"missing_customer limits.per_customer"}
	unknown := object.union(with_limits({"per_customer_per_day": 1, "total_redemptions": 10}, {}), {"customer": null})
	denies(unknown) == {"missing_customer limits.per_customer_per_day"}
	denies(json.remove(with_limits({"total_redemptions": 10}, {}), ["customer"])) == set()
	nameless := object.union(with_limits({"per_customer": 1}, {}), {"customer": {"id": "", "source_id": ""}})
	denies(nameless) == {"missing_customer limits.per_customer"}
}

test_per_customer_limits_take_a_new_customer if {
	new := object.union(with_limits({"per_customer": 1}, {"customer_redemptions": 0}), {"customer": {"id": "", "source_id": "new-42"}})
	denies(new) == set()
}

test_per_customer_per_day if {
	denies(with_limits({"per_customer_per_day": 2}, {"customer_redemptions_today": 1})) == set()
	denies(with_limits({"per_customer_per_day": 2}, {"customer_redemptions_today": 2})) == {"limit_exceeded limits.per_customer_per_day"}
}

test_per_customer_per_month if {
	denies(with_limits({"per_customer_per_month": 4}, {"customer_redemptions_this_month": 3})) == set()
	denies(with_limits({"per_customer_per_month": 4}, {"customer_redemptions_this_month": 4})) == {"limit_exceeded limits.per_customer_per_month"}
}

test_per_day_and_per_month if {
	denies(with_limits({"per_day": 100, "per_month": 1000}, {"campaign_redemptions_today": 99, "campaign_redemptions_this_month": 999})) == set()
	denies(with_limits({"per_day": 100}, {"campaign_redemptions_today": 100})) == {"limit_exceeded limits.per_day"}
	denies(with_limits({"per_month": 1000}, {"campaign_redemptions_this_month": 1000})) == {"limit_exceeded limits.per_month"}
}

test_budget_limits if {
	order := {"order": {"amount": 1000}}
	denies(object.union(with_limits({"total_discount_amount": 100000, "total_order_amount": 500000}, {"campaign_discount_amount": 99999, "campaign_order_amount": 499000}), order)) == set()
	denies(with_limits({"total_discount_amount": 100000}, {"campaign_discount_amount": 100000})) == {"limit_exceeded limits.total_discount_amount"}
	denies(with_limits({"total_order_amount": 500000}, {"campaign_order_amount": 600000})) == {"limit_exceeded limits.total_order_amount"}
}

# A budget with less left than this order, or than this discount (known once Go
# has calculated it), refuses the redemption, as its guard would.
test_budget_left if {
	order := {"order": {"amount": 1000}}
	denies(object.union(with_limits({"total_order_amount": 500000}, {"campaign_order_amount": 499001}), order)) == {"limit_exceeded limits.total_order_amount"}
	budget := with_limits({"total_discount_amount": 500}, {"campaign_discount_amount": 300})
	denies(budget) == set()
	denies(object.union(budget, {"redeemable": {"discount_amount": 200}})) == set()
	denies(object.union(budget, {"redeemable": {"discount_amount": 201}})) == {"limit_exceeded limits.total_discount_amount"}
}

test_missing_usage_counts_as_zero if {
	inp := json.remove(with_limits({"total_redemptions": 1, "per_customer": 1}, {}), ["redeemable/usage"])
	denies(inp) == set()
}

test_null_limits_are_no_restriction if {
	denies(with_limits({"total_redemptions": null, "per_customer": null}, {"campaign_redemptions": 10})) == set()
}

# Several rules at once.

test_several_denials if {
	inp := object.union(with_rules({"min_order_amount": 10000, "channels": ["pos"]}), {"redeemable": {"campaign": {"active": false}}})
	denies(inp) == {
		"campaign_disabled campaign.active",
		"order_rules_violated rules.min_order_amount",
		"channel_not_allowed rules.channels",
	}
}

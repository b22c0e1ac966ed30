package punchcard.fraud_test

import data.punchcard.fraud

base_input := {
	"redeemables": [{"object": "voucher", "id": "SUMMER15"}],
	"request": {"ip": "203.0.113.7", "user_agent": "PunchcardPOS/2.1"},
	"velocity": {
		"customer_redemptions_last_hour": 1,
		"customer_validations_last_minute": 2,
		"failed_validations_last_10m": 0,
	},
	"settings": {"fraud": {}},
}

with_velocity(velocity) := object.union(base_input, {"velocity": velocity})

with_settings(settings) := object.union(base_input, {"settings": {"fraud": settings}})

# fired summarizes a reason set as "code rule" strings.
fired(reasons) := {sprintf("%s %s", [r.code, r.rule]) | some r in reasons}

denies(inp) := d if {
	d := fired(fraud.deny) with input as inp
}

reviews(inp) := r if {
	r := fired(fraud.review) with input as inp
}

score(inp) := s if {
	s := fraud.risk_score with input as inp
}

test_ordinary_request_allowed if {
	denies(base_input) == set()
	reviews(base_input) == set()
	score(base_input) == 5
}

test_empty_input_allowed if {
	fired(fraud.deny) with input as {} == set()
	fraud.risk_score with input as {} == 0
}

# Redemptions per customer per hour (default 20).

test_redemptions_per_hour if {
	denies(with_velocity({"customer_redemptions_last_hour": 20})) == {"velocity_exceeded fraud.max_redemptions_per_customer_per_hour"}
	reviews(with_velocity({"customer_redemptions_last_hour": 16})) == {"velocity_exceeded fraud.max_redemptions_per_customer_per_hour"}
	denies(with_velocity({"customer_redemptions_last_hour": 16})) == set()
	reviews(with_velocity({"customer_redemptions_last_hour": 15})) == set()
}

test_redemptions_per_hour_setting if {
	inp := object.union(with_settings({"max_redemptions_per_customer_per_hour": 5}), {"velocity": {"customer_redemptions_last_hour": 5}})
	denies(inp) == {"velocity_exceeded fraud.max_redemptions_per_customer_per_hour"}
	score(inp) == 100
}

# Validations per customer per minute (default 60).

test_validations_per_minute if {
	denies(with_velocity({"customer_validations_last_minute": 60})) == {"velocity_exceeded fraud.max_validations_per_customer_per_minute"}
	reviews(with_velocity({"customer_validations_last_minute": 48})) == {"velocity_exceeded fraud.max_validations_per_customer_per_minute"}
	denies(with_velocity({"customer_validations_last_minute": 59})) == set()
}

# Failed validations in the last 10 minutes (default 30).

test_failed_validations if {
	denies(with_velocity({"failed_validations_last_10m": 30})) == {"too_many_failed_validations fraud.max_failed_validations_per_10m"}
	reviews(with_velocity({"failed_validations_last_10m": 24})) == {"too_many_failed_validations fraud.max_failed_validations_per_10m"}
	denies(with_velocity({"failed_validations_last_10m": 29})) == set()
	score(with_velocity({"failed_validations_last_10m": 24})) == 80
}

# Redeemables per request (default 30).

test_too_many_redeemables if {
	many := object.union(base_input, {"redeemables": [{"object": "voucher", "id": sprintf("V%d", [n])} | some n in numbers.range(1, 31)]})
	denies(many) == {"too_many_redeemables fraud.max_redeemables_per_request"}
}

test_redeemables_at_limit if {
	inp := object.union(with_settings({"max_redeemables_per_request": 2}), {"redeemables": [{"id": "A"}, {"id": "B"}]})
	denies(inp) == set()
	reviews(inp) == {"too_many_redeemables fraud.max_redeemables_per_request"}
	denies(object.union(inp, {"redeemables": [{"id": "A"}, {"id": "B"}, {"id": "C"}]})) == {"too_many_redeemables fraud.max_redeemables_per_request"}
}

# Settings.

test_zero_threshold_switches_check_off if {
	inp := object.union(with_settings({"max_failed_validations_per_10m": 0}), {"velocity": {"failed_validations_last_10m": 500}})
	denies(inp) == set()
}

test_null_threshold_uses_default if {
	inp := object.union(with_settings({"max_failed_validations_per_10m": null}), {"velocity": {"failed_validations_last_10m": 30}})
	denies(inp) == {"too_many_failed_validations fraud.max_failed_validations_per_10m"}
}

test_risk_score_capped if {
	score(with_velocity({"customer_redemptions_last_hour": 400})) == 100
}

test_risk_score_follows_nearest_threshold if {
	score(with_velocity({"customer_redemptions_last_hour": 10, "customer_validations_last_minute": 3})) == 50
}

# Package punchcard.fraud is the base fraud policy, evaluated once per validation
# or redemption request before any redeemable is looked at. Go counts the
# customer's recent activity (input.velocity); the thresholds come from the
# tenant's settings (input.settings.fraud: the thresholds in the data document of
# its fraud policy). A request at or over a threshold is denied; one at 80% or
# more of a threshold is flagged for review. risk_score (0–100) is how close the
# request comes to its nearest threshold. A threshold of zero or less switches
# that check off.
package punchcard.fraud

defaults := {
	"max_redemptions_per_customer_per_hour": 20,
	"max_validations_per_customer_per_minute": 60,
	"max_failed_validations_per_10m": 30,
	"max_redeemables_per_request": 30,
}

# A request is flagged for review from 80 % of a threshold: observed * 5 >=
# limit * 4, in integers (OPA computes integer arithmetic natively, fractions
# in arbitrary precision, at many times the cost).

# checks maps each threshold to the observed value, the reason code and the message.
checks := {
	"max_redemptions_per_customer_per_hour": {
		"observed": velocity("customer_redemptions_last_hour"),
		"code": "velocity_exceeded",
		"message": "The customer has made too many redemptions in the last hour.",
	},
	"max_validations_per_customer_per_minute": {
		"observed": velocity("customer_validations_last_minute"),
		"code": "velocity_exceeded",
		"message": "The customer has made too many validations in the last minute.",
	},
	"max_failed_validations_per_10m": {
		"observed": velocity("failed_validations_last_10m"),
		"code": "too_many_failed_validations",
		"message": "Too many validations have failed in the last 10 minutes.",
	},
}

deny contains reason(check.code, check.message, concat(".", ["fraud", name])) if {
	some name, check in checks
	limit := threshold(name)
	check.observed >= limit
}

review contains reason(check.code, sprintf("Close to the limit: %s", [check.message]), concat(".", ["fraud", name])) if {
	some name, check in checks
	limit := threshold(name)
	check.observed < limit
	check.observed * 5 >= limit * 4
}

deny contains reason("too_many_redeemables", sprintf("No more than %v redeemables can be used in one request.", [limit]), "fraud.max_redeemables_per_request") if {
	limit := threshold("max_redeemables_per_request")
	requested > limit
}

review contains reason("too_many_redeemables", sprintf("Close to the limit of %v redeemables in one request.", [limit]), "fraud.max_redeemables_per_request") if {
	limit := threshold("max_redeemables_per_request")
	requested <= limit
	requested * 5 >= limit * 4
}

default risk_score := 0

risk_score := min([100, max(percents)]) if {
	count(percents) > 0
}

# percents are how close the request comes to each threshold, in percent.
percents contains percent(check.observed, limit) if {
	some name, check in checks
	limit := threshold(name)
}

percents contains percent(requested, limit) if {
	limit := threshold("max_redeemables_per_request")
}

# Helpers.

reason(code, message, rule) := {"code": code, "message": message, "rule": rule}

# threshold is the tenant's setting for name, or the default when it is absent or
# null; it is undefined when the check is switched off.
threshold(name) := limit if {
	limit := configured(name)
	is_number(limit)
	limit > 0
}

configured(name) := value if {
	value := input.settings.fraud[name]
	value != null
} else := defaults[name]

velocity(name) := n if {
	n := input.velocity[name]
	is_number(n)
} else := 0

# percent is round(100 * observed / limit). On integers it is
# floor((200 * observed + limit) / (2 * limit)), an exact division.
percent(observed, limit) := (n - (n % d)) / d if {
	round(observed) == observed
	round(limit) == limit
	n := (200 * observed) + limit
	d := 2 * limit
} else := round((observed * 100) / limit)

requested := n if {
	is_array(input.redeemables)
	n := count(input.redeemables)
} else := 0

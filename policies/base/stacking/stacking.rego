# Package punchcard.stacking is the base stacking policy. Go asks it once per
# applicable redeemable, in application order: may input.candidate join the
# redeemables in input.applied under the tenant's stacking settings
# (input.stacking, Voucherify stacking-rule fields)? Go resolves each redeemable's
# category and whether it is exclusive before asking. Each element of deny is
# {"code", "message", "rule"}.
package punchcard.stacking

defaults := {
	"redeemables_limit": 30,
	"applicable_redeemables_limit": 5,
	"applicable_redeemables_per_category_limit": 1,
	"applicable_exclusive_redeemables_limit": 1,
	"applicable_exclusive_redeemables_per_category_limit": 1,
	"exclusive_categories": [],
	"joint_categories": [],
	"incompatible_categories": [],
}

# Limits.

deny contains reason("applicable_redeemables_limit_exceeded", sprintf("No more than %v redeemables can be applied together.", [limit]), "stacking.applicable_redeemables_limit") if {
	limit := setting("applicable_redeemables_limit")
	count(applied) >= limit
}

deny contains reason("applicable_redeemables_limit_exceeded", sprintf("No more than %v redeemables can be used in one request.", [limit]), "stacking.redeemables_limit") if {
	limit := setting("redeemables_limit")
	count(applied) >= limit
}

deny contains reason("applicable_redeemables_per_category_limit_exceeded", sprintf("No more than %v redeemables of category %q can be applied together.", [limit, category]), "stacking.applicable_redeemables_per_category_limit") if {
	category := input.candidate.category
	is_string(category)
	category != ""
	limit := setting("applicable_redeemables_per_category_limit")
	count([other | some other in applied; other.category == category]) >= limit
}

# Exclusive categories: an exclusive redeemable is applied alone, or only with
# other exclusive ones up to applicable_exclusive_redeemables_limit (and
# applicable_exclusive_redeemables_per_category_limit of one category). Joint
# categories are applied regardless of exclusivity, as in Voucherify.

deny contains reason("exclusion_rules_not_met", "An exclusive redeemable cannot be combined with other redeemables.", "stacking.exclusive_categories") if {
	exclusive(input.candidate)
	not joint(input.candidate)
	some other in applied
	not exclusive(other)
	not joint(other)
}

deny contains reason("exclusion_rules_not_met", "This redeemable cannot be combined with an exclusive redeemable already applied.", "stacking.exclusive_categories") if {
	not exclusive(input.candidate)
	not joint(input.candidate)
	some other in applied
	exclusive(other)
	not joint(other)
}

deny contains reason("applicable_exclusive_redeemables_limit_exceeded", sprintf("No more than %v exclusive redeemables can be combined.", [limit]), "stacking.applicable_exclusive_redeemables_limit") if {
	exclusive(input.candidate)
	limit := setting("applicable_exclusive_redeemables_limit")
	count([other | some other in applied; exclusive(other)]) >= limit
}

deny contains reason("applicable_exclusive_redeemables_per_category_limit_exceeded", sprintf("No more than %v exclusive redeemables of category %q can be combined.", [limit, category]), "stacking.applicable_exclusive_redeemables_per_category_limit") if {
	exclusive(input.candidate)
	category := input.candidate.category
	is_string(category)
	category != ""
	limit := setting("applicable_exclusive_redeemables_per_category_limit")
	count([other | some other in applied; exclusive(other); other.category == category]) >= limit
}

# Incompatible categories (a Punchcard extension): each group lists categories of
# which redeemables may not be combined with one another, e.g.
# [["general_discount", "loyalty_member"]].

deny contains reason("exclusion_rules_not_met", sprintf("A %q redeemable cannot be combined with a %q redeemable.", [candidate_category, other_category]), "stacking.incompatible_categories") if {
	some group in setting("incompatible_categories")
	candidate_category := input.candidate.category
	candidate_category in group
	some other in applied
	other_category := other.category
	other_category != candidate_category
	other_category in group
}

# Helpers.

reason(code, message, rule) := {"code": code, "message": message, "rule": rule}

# setting is the tenant's value for name, or the Voucherify default when it is absent or null.
setting(name) := value if {
	value := input.stacking[name]
	value != null
} else := defaults[name]

applied := a if {
	a := input.applied
	is_array(a)
} else := []

exclusive(redeemable) if redeemable.exclusive == true

exclusive(redeemable) if redeemable.category in setting("exclusive_categories")

joint(redeemable) if redeemable.category in setting("joint_categories")

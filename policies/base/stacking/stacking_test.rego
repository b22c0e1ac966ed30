package punchcard.stacking_test

import data.punchcard.stacking

general := {"object": "voucher", "id": "v_general15", "category": "general_discount", "exclusive": false, "campaign": {"id": "camp_general", "name": "15% off everything"}}

loyalty := {"object": "voucher", "id": "v_loyalty20", "category": "loyalty_member", "exclusive": false, "campaign": {"id": "camp_loyalty", "name": "20% for members"}}

free_delivery := {"object": "promotion_tier", "id": "promo_delivery", "category": "delivery", "exclusive": false, "campaign": {"id": "camp_delivery", "name": "Free delivery"}}

voucher(n) := {"object": "voucher", "id": sprintf("v_%d", [n]), "category": sprintf("misc-%d", [n]), "exclusive": false}

# fired summarizes a deny set as "code rule" strings.
fired(deny) := {sprintf("%s %s", [r.code, r.rule]) | some r in deny}

denies(candidate, applied, settings) := d if {
	d := fired(stacking.deny) with input as {"candidate": candidate, "applied": applied, "stacking": settings}
}

test_first_redeemable_allowed if {
	denies(general, [], {}) == set()
}

test_missing_applied_and_settings if {
	fired(stacking.deny) with input as {"candidate": general} == set()
}

test_default_settings_combine_two if {
	denies(loyalty, [general], {}) == set()
}

# Limits.

test_applicable_redeemables_limit_default if {
	denies(voucher(5), [voucher(1), voucher(2), voucher(3), voucher(4)], {}) == set()
	denies(voucher(6), [voucher(1), voucher(2), voucher(3), voucher(4), voucher(5)], {}) == {"applicable_redeemables_limit_exceeded stacking.applicable_redeemables_limit"}
}

test_applicable_redeemables_limit_setting if {
	denies(voucher(2), [voucher(1)], {"applicable_redeemables_limit": 2}) == set()
	denies(voucher(3), [voucher(1), voucher(2)], {"applicable_redeemables_limit": 2}) == {"applicable_redeemables_limit_exceeded stacking.applicable_redeemables_limit"}
}

test_null_setting_uses_default if {
	denies(voucher(2), [voucher(1)], {"applicable_redeemables_limit": null}) == set()
}

test_redeemables_limit if {
	denies(voucher(3), [voucher(1), voucher(2)], {"redeemables_limit": 2, "applicable_redeemables_limit": 10}) == {"applicable_redeemables_limit_exceeded stacking.redeemables_limit"}
}

# The 15% general discount cannot be combined with the 20% loyalty-member discount.

test_general_and_loyalty_exclusive_categories if {
	settings := {"exclusive_categories": ["general_discount", "loyalty_member"]}
	denies(loyalty, [general], settings) == {"applicable_exclusive_redeemables_limit_exceeded stacking.applicable_exclusive_redeemables_limit"}
	denies(general, [loyalty], settings) == {"applicable_exclusive_redeemables_limit_exceeded stacking.applicable_exclusive_redeemables_limit"}
	denies(loyalty, [], settings) == set()
}

test_general_and_loyalty_incompatible_pair if {
	settings := {"incompatible_categories": [["general_discount", "loyalty_member"]]}
	denies(loyalty, [general], settings) == {"exclusion_rules_not_met stacking.incompatible_categories"}
	denies(general, [loyalty], settings) == {"exclusion_rules_not_met stacking.incompatible_categories"}

	# Either still combines with free delivery.
	denies(free_delivery, [general], settings) == set()
	denies(loyalty, [free_delivery], settings) == set()
}

test_incompatible_pair_same_category_combines if {
	settings := {"incompatible_categories": [["general_discount", "loyalty_member"]], "applicable_redeemables_per_category_limit": 2}
	other_general := object.union(general, {"id": "v_general10"})
	denies(other_general, [general], settings) == set()
}

# Exclusive categories.

test_exclusive_candidate_after_others if {
	denies(general, [free_delivery], {"exclusive_categories": ["general_discount"]}) == {"exclusion_rules_not_met stacking.exclusive_categories"}
}

test_candidate_after_exclusive if {
	denies(free_delivery, [general], {"exclusive_categories": ["general_discount"]}) == {"exclusion_rules_not_met stacking.exclusive_categories"}
}

test_exclusive_flag_resolved_by_go if {
	exclusive_general := object.union(general, {"exclusive": true})
	denies(free_delivery, [exclusive_general], {}) == {"exclusion_rules_not_met stacking.exclusive_categories"}
}

test_exclusive_limit_allows_two if {
	settings := {"exclusive_categories": ["general_discount", "loyalty_member"], "applicable_exclusive_redeemables_limit": 2}
	denies(loyalty, [general], settings) == set()
}

# Joint categories: applied regardless of exclusivity.

test_joint_ignores_exclusivity if {
	settings := {"exclusive_categories": ["general_discount"], "joint_categories": ["delivery"]}
	denies(free_delivery, [general], settings) == set()
	denies(general, [free_delivery], settings) == set()
}

test_exclusive_still_alone_without_joint if {
	settings := {"exclusive_categories": ["general_discount"], "joint_categories": ["delivery"]}
	denies(loyalty, [general, free_delivery], settings) == {"exclusion_rules_not_met stacking.exclusive_categories"}
}

# Per-category limits.

test_per_category_limit_default_one if {
	second := object.union(general, {"id": "v_general10"})
	denies(second, [general], {}) == {"applicable_redeemables_per_category_limit_exceeded stacking.applicable_redeemables_per_category_limit"}
	denies(second, [general], {"applicable_redeemables_per_category_limit": 2}) == set()
}

test_uncategorised_redeemables_are_not_counted_together if {
	a := object.union(general, {"id": "v_a", "category": ""})
	b := object.union(general, {"id": "v_b", "category": ""})
	denies(b, [a], {}) == set()
}

test_exclusive_per_category_limit if {
	settings := {"exclusive_categories": ["general_discount"], "applicable_exclusive_redeemables_limit": 3, "applicable_redeemables_per_category_limit": 3}
	second := object.union(general, {"id": "v_general10"})
	denies(second, [general], settings) == {"applicable_exclusive_redeemables_per_category_limit_exceeded stacking.applicable_exclusive_redeemables_per_category_limit"}
	denies(second, [general], object.union(settings, {"applicable_exclusive_redeemables_per_category_limit": 2})) == set()
}

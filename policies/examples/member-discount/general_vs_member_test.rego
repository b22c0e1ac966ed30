package punchcard.stacking_test

import data.punchcard.stacking

redeemable(family) := {"campaign": {"metadata": {"discount_family": family}}, "category": ""}

codes(candidate, applied) := found if {
	found := {d.code | some d in stacking.deny} with input as {
		"candidate": candidate,
		"applied": applied,
		"stacking": {},
	}
}

test_member_after_general if "not_with_member_discount" in codes(redeemable("member"), [redeemable("general")])

test_general_after_member if "not_with_member_discount" in codes(redeemable("general"), [redeemable("member")])

test_general_alone if not "not_with_member_discount" in codes(redeemable("general"), [])

test_member_with_another if not "not_with_member_discount" in codes(redeemable("member"), [redeemable("seasonal")])

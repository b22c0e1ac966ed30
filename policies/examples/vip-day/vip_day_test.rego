package punchcard.eligibility_test

import data.punchcard.eligibility

vip_codes(customer, date) := found if {
	found := {d.code | some d in eligibility.deny} with input as {
		"customer": customer,
		"local": {"date": date},
		"redeemable": {"campaign": {"metadata": {"vip_day": "2026-12-24"}}},
	}
}

test_vip_on_the_day if not "vip_day_only" in vip_codes({"segments": ["vip"]}, "2026-12-24")

test_vip_the_day_after if "vip_day_only" in vip_codes({"segments": ["vip"]}, "2026-12-25")

test_not_vip_on_the_day if "vip_day_only" in vip_codes({"segments": []}, "2026-12-24")

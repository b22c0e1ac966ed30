package punchcard.eligibility_test

import data.punchcard.eligibility

online_codes(channel) := found if {
	found := {d.code | some d in eligibility.deny} with input as {
		"channel": channel,
		"redeemable": {"campaign": {"metadata": {"online_only": true}}},
	}
}

test_in_store_refused if "online_only" in online_codes("pos")

test_online_allowed if not "online_only" in online_codes("online")

package punchcard.eligibility_test

import data.punchcard.eligibility

rain_codes(metadata) := found if {
	found := {d.code | some d in eligibility.deny} with input as {
		"metadata": metadata,
		"redeemable": {"campaign": {"metadata": {"weather": "rain"}}},
	}
}

test_raining if not "not_raining" in rain_codes({"weather": {"precipitation": 1.2}})

test_dry if "not_raining" in rain_codes({"weather": {"precipitation": 0}})

test_plugin_failed if "not_raining" in rain_codes({})

package punchcard.eligibility_test

import data.punchcard.eligibility

campaign := {"metadata": {"program": "germany_mondays"}}

codes(customer, weekday) := found if {
	found := {d.code | some d in eligibility.deny} with input as {
		"customer": customer,
		"local": {"weekday": weekday},
		"redeemable": {"campaign": campaign},
	}
}

test_german_customer_on_monday if not "germany_mondays_only" in codes({"address": {"country": "DE"}}, 1)

test_german_customer_on_tuesday if "germany_mondays_only" in codes({"address": {"country": "DE"}}, 2)

test_french_customer_on_monday if "germany_mondays_only" in codes({"address": {"country": "FR"}}, 1)

test_no_customer if "germany_mondays_only" in codes(null, 1)

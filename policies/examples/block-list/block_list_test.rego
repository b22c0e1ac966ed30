package punchcard.eligibility_test

import data.punchcard.eligibility

blocked_codes(source_id) := found if {
	found := {d.code | some d in eligibility.deny} with input as {"customer": {"source_id": source_id}}
		with data.tenant.blocked_customers as ["fraudster-1"]
}

test_blocked_customer if "customer_blocked" in blocked_codes("fraudster-1")

test_other_customer if not "customer_blocked" in blocked_codes("regular-2")

package punchcard.segments_test

import data.punchcard.segments

test_base_has_no_members if {
	count(segments.member) == 0 with input as {"customer": {"id": "cust_01", "stats": {"total_spent": 1000000}}}
}

test_base_has_no_members_without_customer if {
	count(segments.member) == 0 with input as {"customer": null}
}

# A voucher valid for customers in Germany on Mondays only. The campaign is
# marked by its metadata (program = "germany_mondays"); every other campaign is
# left alone.
package punchcard.eligibility

deny contains {
	"code": "germany_mondays_only",
	"message": "This voucher is valid for customers in Germany on Mondays.",
	"rule": "tenant.germany_mondays",
} if {
	input.redeemable.campaign.metadata.program == "germany_mondays"
	not german_customer_on_monday
}

german_customer_on_monday if {
	upper(input.customer.address.country) in {"DE", "DEU", "GERMANY"}
	input.local.weekday == 1 # in the tenant's time zone
}

# An offer for VIP customers on one given day: the campaign's metadata names
# the day (vip_day = "2026-12-24") in the tenant's time zone.
package punchcard.eligibility

deny contains {
	"code": "vip_day_only",
	"message": "This offer is for VIP customers on its day.",
	"rule": "tenant.vip_day",
} if {
	day := input.redeemable.campaign.metadata.vip_day
	not vip_on(day)
}

vip_on(day) if {
	"vip" in input.customer.segments
	input.local.date == day
}

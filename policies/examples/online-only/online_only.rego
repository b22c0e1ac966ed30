# In-store redemptions refused for online-only codes: a campaign marked
# online_only in its metadata is refused on the pos channel (the request's
# metadata.channel).
package punchcard.eligibility

deny contains {
	"code": "online_only",
	"message": "This code can only be used online.",
	"rule": "tenant.online_only",
} if {
	input.redeemable.campaign.metadata.online_only == true
	input.channel == "pos"
}

# No 15% general discount together with the 20% loyalty-member discount: the
# two campaigns are marked by metadata (discount_family = "general" and
# "member"). Whichever comes second in the application order is skipped.
package punchcard.stacking

deny contains {
	"code": "not_with_member_discount",
	"message": "The general discount cannot be combined with the loyalty-member discount.",
	"rule": "tenant.general_vs_member",
} if {
	families := {input.candidate.campaign.metadata.discount_family} | {f | some a in input.applied; f := a.campaign.metadata.discount_family}
	"general" in families
	"member" in families
}

# A block list of customers kept as a data document: publish the list as the
# version's "data" ({"blocked_customers": ["src-1", …]}) and update it by
# publishing again, without touching the Rego.
package punchcard.eligibility

deny contains {
	"code": "customer_blocked",
	"message": "This customer may not use vouchers.",
	"rule": "tenant.block_list",
} if {
	input.customer.source_id in data.tenant.blocked_customers
}

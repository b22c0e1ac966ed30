# Package punchcard.segments decides which of the tenant's segments a customer
# (input.customer, with input.tenant, input.now and input.local) belongs to:
# member is the set of segment names. The base policy puts nobody in any
# segment; a tenant's modules add rules such as
#
#	member contains "big_spenders" if input.customer.stats.total_spent >= 100000
package punchcard.segments

# member is the set of segment names the customer belongs to: none in the base.
member contains name if {
	some name in set()
}

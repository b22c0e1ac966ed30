# Segments: who is a VIP. Members are computed for every request of this
# tenant and read by eligibility as input.customer.segments (and by
# GET /v1/customers?segment=vip).
package punchcard.segments

member contains "vip" if input.customer.metadata.vip == true

member contains "vip" if input.customer.stats.total_spent >= 500000 # 5,000.00 in minor units

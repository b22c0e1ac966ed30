# An offer only when it rains. The weather plugin adds input.metadata.weather
# ({"precipitation": mm, "weather_code": WMO code, …}); when it fails,
# input.metadata_errors.weather says why and this policy refuses (fail closed).
package punchcard.eligibility

deny contains {
	"code": "not_raining",
	"message": "This offer is only valid while it rains.",
	"rule": "tenant.rain",
} if {
	input.redeemable.campaign.metadata.weather == "rain"
	not raining
}

raining if input.metadata.weather.precipitation > 0

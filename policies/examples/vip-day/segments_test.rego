package punchcard.segments_test

import data.punchcard.segments

test_vip_by_metadata if "vip" in segments.member with input as {"customer": {"metadata": {"vip": true}}}

test_vip_by_spend if "vip" in segments.member with input as {"customer": {"metadata": {}, "stats": {"total_spent": 750000}}}

test_not_vip if not "vip" in segments.member with input as {"customer": {"metadata": {}, "stats": {"total_spent": 100}}}

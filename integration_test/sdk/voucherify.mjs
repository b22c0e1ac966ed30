// Runs Voucherify's official JavaScript SDK against Punchcard: create campaigns,
// list their codes, validate, redeem and roll back stacked vouchers. The only
// change from a Voucherify integration is apiUrl. Exits non-zero on the first
// surprise; prints one JSON line with what it saw.
import sdk from '@voucherify/sdk'

const { VoucherifyServerSide } = sdk

const client = VoucherifyServerSide({
  applicationId: process.env.PUNCHCARD_APP_ID,
  secretKey: process.env.PUNCHCARD_APP_TOKEN,
  apiUrl: process.env.PUNCHCARD_URL,
})

function check(cond, what, value) {
  if (!cond) {
    console.error(`unexpected ${what}: ${JSON.stringify(value)}`)
    process.exit(1)
  }
}

const percent = await client.campaigns.create({
  name: 'SDK ten percent',
  campaign_type: 'DISCOUNT_COUPONS',
  type: 'AUTO_UPDATE',
  vouchers_count: 2,
  voucher: { type: 'DISCOUNT_VOUCHER', discount: { type: 'PERCENT', percent_off: 10 } },
})
check(percent.id && percent.object === 'campaign', 'campaign', percent)
const amount = await client.campaigns.create({
  name: 'SDK five off',
  campaign_type: 'DISCOUNT_COUPONS',
  vouchers_count: 1,
  voucher: { type: 'DISCOUNT_VOUCHER', discount: { type: 'AMOUNT', amount_off: 500 } },
})
const fetched = await client.campaigns.get(percent.id)
check(fetched.name === 'SDK ten percent', 'campaign get', fetched)

const percentCodes = (await client.vouchers.list({ campaign_id: percent.id })).vouchers.map((v) => v.code)
const amountCodes = (await client.vouchers.list({ campaign_id: amount.id })).vouchers.map((v) => v.code)
check(percentCodes.length === 2 && amountCodes.length === 1, 'voucher lists', { percentCodes, amountCodes })
const voucher = await client.vouchers.get(percentCodes[0])
check(voucher.code === percentCodes[0] && voucher.discount.percent_off === 10, 'voucher get', voucher)

const gift = await client.vouchers.create({ code: 'SDK-GIFT', type: 'GIFT_VOUCHER', gift: { amount: 5000 } })
check(gift.code === 'SDK-GIFT' && gift.gift.balance === 5000, 'voucher create', gift)

const request = {
  redeemables: [
    { object: 'voucher', id: percentCodes[0] },
    { object: 'voucher', id: amountCodes[0] },
  ],
  order: { amount: 20000, items: [{ product_id: 'prod_1', quantity: 2, price: 10000 }] },
  metadata: { channel: 'online' },
}
const validation = await client.validations.validateStackable(request)
check(validation.valid === true, 'validation', validation)
check(validation.redeemables.every((r) => r.status === 'APPLICABLE'), 'redeemable statuses', validation.redeemables)
check(validation.order.total_discount_amount === 2000 + 500, 'validated discount', validation.order)

const redemption = await client.redemptions.redeemStackable(request)
check(redemption.parent_redemption && redemption.redemptions.length === 2, 'redemption', redemption)
check(redemption.order.total_amount === 20000 - 2500, 'redeemed total', redemption.order)

const rollback = await client.redemptions.rollbackStackable(redemption.parent_redemption.id)
check(rollback.parent_rollback && rollback.rollbacks.length === 2, 'rollback', rollback)

let refused = null
try {
  await client.redemptions.redeemStackable({ redeemables: [{ object: 'voucher', id: 'NO-SUCH-CODE' }], order: { amount: 100 } })
} catch (err) {
  refused = err
}
check(refused && refused.code === 400 && refused.key === 'resource_not_found', 'refusal', refused)

console.log(JSON.stringify({
  campaigns: [percent.id, amount.id],
  validated_discount: validation.order.total_discount_amount,
  parent_redemption: redemption.parent_redemption.id,
  parent_rollback: rollback.parent_rollback.id,
  refusal: refused.key,
}))

-- The API key (or user) that made a redemption or rollback, shown back as
-- Voucherify's channel.channel_id when the record is read later.
ALTER TABLE redemptions ADD COLUMN actor_id TEXT;

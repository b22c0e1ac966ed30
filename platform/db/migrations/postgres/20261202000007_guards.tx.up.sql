-- punchcard_require ends a batch of guarded writes (db.Batch) whose statement
-- carries its transaction's COMMIT: it raises when one of the guards changed no
-- row, so the COMMIT that follows in the same round trip never runs and the
-- transaction rolls back whole. The error names the first such guard, counting
-- from 0, in its DETAIL.
CREATE FUNCTION punchcard_require(VARIADIC counts bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. coalesce(array_length(counts, 1), 0) LOOP
        IF counts[i] = 0 THEN
            RAISE EXCEPTION 'punchcard: guard % changed no row', i - 1
                USING ERRCODE = 'PC001', DETAIL = (i - 1)::text;
        END IF;
    END LOOP;
END
$$;

--bun:split
GRANT EXECUTE ON FUNCTION punchcard_require(bigint[]) TO punchcard_serving;

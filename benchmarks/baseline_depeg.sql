-- Hand-written DuckDB SQL of the de-peg (kind = "full") rule: the benchmark baseline.
--
-- Reads the views users, accounts, collateral_liquidations and reference_prices
-- (created over the dataset's Parquet files by bench_depeg.py); parameters ($name) come
-- from the programme file, read with tomllib (no code shared with the engine).
--
-- 1. reference: each listed asset's row at $reference_at, adjusted by the policy's
--    redemption weight w (default 0) and floor f (default none):
--        max(f, (1 − w)·market + w·rate·underlying), rounded half up to 12 places.
--    Exact: w has at most 6 places, so w·rate·underlying is DECIMAL(38, 30) (DuckDB
--    raises on overflow: prices up to $10^8 per unit fit); round() on decimals is
--    half away from zero, and since f has at most 12 places the floor can be applied
--    after the rounding. w = 0 takes the market price as it is.
-- 2. per event of a listed product and (upper-cased) asset with
--    $window_start <= ts < $window_end: max(0, reference − liquidation_price) × quantity,
--    exact in DECIMAL(38, 24), rounded half up to cents once.
-- 3. per user: the number of counted events and the sum of their cents; the amount is
--    the sum capped by $ceiling_cents (NULL: no ceiling); eligible when above zero.
--
-- The first statement builds the temp table `reference` (bench_depeg.py checks that
-- every listed asset has one row); the last returns the per-user table.

CREATE OR REPLACE TEMP TABLE reference AS
WITH
listed AS (SELECT unnest($assets) AS asset),
adjustment AS (
    SELECT a.asset, CAST(a.weight AS DECIMAL(7, 6)) AS w, CAST(a.floor AS DECIMAL(38, 12)) AS f
    FROM (SELECT unnest($adjustments) AS a)
),
market AS (
    SELECT
        upper(asset) AS asset,
        count(*) AS rows_at,
        any_value(CAST(market_usd AS DECIMAL(38, 12))) AS m,
        any_value(CAST(redemption_rate AS DECIMAL(38, 12))) AS r,
        any_value(CAST(underlying_usd AS DECIMAL(38, 12))) AS u
    FROM reference_prices
    WHERE "at" = $reference_at
    GROUP BY ALL
),
blended AS (                       -- rounded once: round(max(f, x)) = max(f, round(x))
    SELECT
        l.asset,
        p.rows_at,
        j.f,
        CASE
            WHEN coalesce(j.w, 0) = 0 THEN p.m
            ELSE CAST(round((1 - j.w) * p.m + j.w * p.r * p.u, 12) AS DECIMAL(38, 12))
        END AS price
    FROM listed AS l
    LEFT JOIN market AS p ON p.asset = l.asset
    LEFT JOIN adjustment AS j ON j.asset = l.asset
)
SELECT asset, rows_at, CASE WHEN f > price THEN f ELSE price END AS reference_usd
FROM blended;

WITH
counted AS (
    SELECT
        a.user_id,
        greatest(r.reference_usd - c.liquidation_price, 0) * c.quantity AS loss_usd
    FROM collateral_liquidations AS c
    JOIN reference AS r ON r.asset = upper(c.asset)
    JOIN accounts AS a ON a.account_id = c.account_id
    WHERE list_contains($products, c.product)
      AND c.ts >= $window_start AND c.ts < $window_end
),
losses AS (
    SELECT
        user_id,
        count(*) AS events,
        CAST(sum(CAST(round(loss_usd, 2) * 100 AS BIGINT)) AS BIGINT) AS loss_cents
    FROM counted
    GROUP BY user_id
),
paid AS (
    SELECT user_id, events, loss_cents, least(loss_cents, coalesce($ceiling_cents, loss_cents))
        AS amount_cents
    FROM losses
)
SELECT
    p.user_id,
    p.events,
    p.loss_cents,
    p.amount_cents,
    p.amount_cents > 0 AS eligible,
    u.user_type,
    CAST(u.vip_tier AS BIGINT) AS vip_tier,
    u.email,
    u.locale
FROM paid AS p
LEFT JOIN users AS u ON u.user_id = p.user_id
ORDER BY p.user_id

-- Hand-written DuckDB SQL of the programme's eligibility rules: the benchmark baseline.
--
-- Reads the views users, accounts, balances, prices, liquidations, prior_compensation
-- (created over the dataset's Parquet files by baseline_sql.py); parameters ($name)
-- come from the programme file (rules.py). Money: each fill's or balance row's USD
-- value is rounded half-up to int64 micro-dollars, summed exactly, and each user's
-- total rounded half-up to cents once (cents_half_up, exact for every int64).

CREATE OR REPLACE TEMP MACRO cents_half_up(m) AS
    ((m + 5000) - (((m + 5000) % 10000) + 10000) % 10000) // 10000;

CREATE OR REPLACE TEMP MACRO micros_half_up(usd) AS
    CAST(floor(usd * 1000000 + 0.5) AS BIGINT);

WITH
incidents AS (
    SELECT unnest($incident_starts) AS starts, unnest($incident_ends) AS ends
),
minute_prices AS (
    SELECT asset, date_trunc('minute', minute) AS minute, CAST(usd AS DOUBLE) AS usd
    FROM prices
),
counted AS (                       -- forced liquidations of listed products in the window
    SELECT
        a.user_id,
        l.ts,
        l.margin_asset,
        date_trunc('minute', l.ts) AS minute,
        CAST(l.clearance_fee AS DOUBLE) - CAST(l.realized_pnl AS DOUBLE) AS loss_units
    FROM liquidations AS l
    JOIN accounts AS a ON a.account_id = l.account_id
    WHERE l.kind = 'liquidation'
      AND list_contains($products, l.product)
      AND l.ts >= $window_start AND l.ts < $window_end
),
priced_fills AS (                  -- price at the fill's minute, else the latest earlier one
    SELECT
        c.*,
        CASE WHEN p.minute >= c.minute - $staleness THEN p.usd END AS usd
    FROM counted AS c
    ASOF LEFT JOIN minute_prices AS p
        ON p.asset = c.margin_asset AND p.minute <= c.minute
),
priced AS (
    SELECT
        f.user_id,
        micros_half_up(f.loss_units * f.usd) AS micros,
        EXISTS (
            SELECT 1 FROM incidents AS i WHERE f.ts >= i.starts AND f.ts < i.ends
        ) AS in_incident,
        f.usd IS NULL AS unpriced
    FROM priced_fills AS f
),
losses AS (
    SELECT
        user_id,
        count(*) AS fills,
        CAST(sum(micros) AS BIGINT) AS loss_micros,
        CAST(sum(CASE WHEN in_incident THEN micros ELSE 0 END) AS BIGINT) AS incident_micros,
        count(*) FILTER (WHERE unpriced) AS unpriced_fills
    FROM priced
    GROUP BY user_id
),
snapshot_prices AS (
    SELECT asset, arg_max(usd, minute) AS usd
    FROM minute_prices
    WHERE minute <= $snapshot_minute AND minute >= $snapshot_minute - $staleness
    GROUP BY asset
),
net AS (                           -- net assets at the snapshot, liquidated users only
    SELECT
        a.user_id,
        CAST(sum(micros_half_up(
            (CAST(b.balance AS DOUBLE) - CAST(b.liability AS DOUBLE)
             + CAST(b.unrealized_pnl AS DOUBLE)) * p.usd
        )) AS BIGINT) AS net_micros,
        count(*) FILTER (WHERE p.usd IS NULL) AS unpriced_balances
    FROM balances AS b
    JOIN accounts AS a ON a.account_id = b.account_id
    LEFT JOIN snapshot_prices AS p ON p.asset = b.asset
    WHERE a.user_id IN (SELECT user_id FROM losses)
    GROUP BY a.user_id
),
compensated AS (
    SELECT DISTINCT user_id
    FROM prior_compensation
    WHERE list_contains($excluding, program_id)
),
cents AS (
    SELECT
        l.user_id,
        l.fills,
        greatest(cents_half_up(l.loss_micros), 0) AS loss_cents,
        cents_half_up(coalesce(n.net_micros, 0)) AS net_assets_cents,
        greatest(cents_half_up(l.incident_micros), 0) AS incident_cents,
        u.user_type,
        CAST(u.vip_tier AS BIGINT) AS vip_tier,
        ($snapshot_s - CAST(epoch(u.registered_at) AS BIGINT)) AS age_s,
        c.user_id IS NOT NULL AS already_compensated,
        l.unpriced_fills,
        coalesce(n.unpriced_balances, 0) AS unpriced_balances
    FROM losses AS l
    LEFT JOIN net AS n ON n.user_id = l.user_id
    LEFT JOIN users AS u ON u.user_id = l.user_id
    LEFT JOIN compensated AS c ON c.user_id = l.user_id
),
verdicts AS (
    SELECT
        *,
        least(incident_cents, loss_cents) AS incident_loss_cents,
        CASE WHEN net_assets_cents > 0
            THEN CAST(loss_cents AS DOUBLE) / CAST(net_assets_cents AS DOUBLE) END AS loss_ratio,
        greatest((age_s - ((age_s % 86400) + 86400) % 86400) // 86400, 0) AS account_age_days,
        loss_cents >= $min_loss_cents AS passes_min_loss,
        net_assets_cents <= 0
            OR loss_cents * $ratio_den >= net_assets_cents * $ratio_num AS passes_min_ratio,
        NOT already_compensated AS passes_not_compensated
    FROM cents
),
weighed AS (
    SELECT
        *,
        coalesce(least(loss_ratio, 1.0), 1.0) AS loss_ratio_capped,
        passes_min_loss AND passes_min_ratio AND passes_not_compensated AS eligible,
        CAST(loss_cents AS DOUBLE) / 100 AS loss_usd,
        CAST(incident_loss_cents AS DOUBLE) / 100 AS incident_loss_usd
    FROM verdicts
)
SELECT
    user_id, fills, loss_cents, net_assets_cents, incident_loss_cents,
    loss_ratio, loss_ratio_capped, user_type, vip_tier, account_age_days,
    passes_min_loss, passes_min_ratio, passes_not_compensated, eligible,
    CASE WHEN eligible THEN
        sqrt(loss_usd) * (0.5 + 0.5 * loss_ratio_capped)
        * (1 + 0.5 * least(CASE WHEN loss_usd = 0 THEN 0 ELSE incident_loss_usd / loss_usd END, 1))
    END AS weight,
    unpriced_fills, unpriced_balances
FROM weighed
ORDER BY user_id;

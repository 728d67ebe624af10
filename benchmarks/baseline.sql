-- Hand-written DuckDB SQL of the programme's eligibility rules: the benchmark baseline.
--
-- Reads the views users, accounts, balances, prices, liquidations, prior_compensation
-- (created over the dataset's Parquet files by baseline_sql.py); parameters ($name)
-- come from the programme file (rules.py). Money, as the data contract says: amounts
-- and prices are decimals with 12 places (a float: its value to 12 places), each
-- fill's or balance row's USD value is their exact product rounded half away from zero
-- to int64 micro-dollars, summed exactly, and each user's total rounded half away
-- from zero to cents once (cents_half_away).
-- Minutes are integer epoch minutes (epoch_us // 60e6: exact, and far cheaper than
-- date_trunc on TIMESTAMPTZ). Prices: a grid of every asset × window minute is priced
-- once with an ASOF join (latest price at or before the minute, kept if within the
-- staleness limit); fills then find their price by an equi-join on (asset, minute).

CREATE OR REPLACE TEMP MACRO as_dec(x) AS       -- a float's value to 12 places (data.md)
    CAST(CAST(floor(x) AS BIGINT) AS DECIMAL(38, 12))
    + round(CAST(round((x - floor(x)) * 1e12) AS DECIMAL(38, 12))
            * CAST(0.000000000001 AS DECIMAL(38, 12)), 12);

CREATE OR REPLACE TEMP MACRO micros_half_away(usd) AS
    CAST(round(usd, 6) * 1000000 AS BIGINT);

CREATE OR REPLACE TEMP MACRO cents_half_away(m) AS
    CASE WHEN m >= 0 THEN (m + 5000) // 10000 ELSE -((5000 - m) // 10000) END;

WITH
minute_prices AS (
    SELECT asset, epoch_us(minute) // 60000000 AS m, as_dec(usd) AS usd
    FROM prices
),
grid_prices AS (                   -- each asset's price at each minute of the window
    SELECT g.asset, g.m, p.usd
    FROM (
        SELECT a.asset, r.m
        FROM (SELECT DISTINCT asset FROM minute_prices) AS a,
             range($first_minute, $end_minute) AS r(m)
    ) AS g
    ASOF JOIN minute_prices AS p ON p.asset = g.asset AND p.m <= g.m
    WHERE g.m - p.m <= $staleness_minutes
),
counted AS (                       -- forced liquidations of listed products in the window
    SELECT
        a.user_id,
        l.margin_asset,
        epoch_us(l.ts) // 60000000 AS m,
        as_dec(l.clearance_fee) - as_dec(l.realized_pnl) AS loss_units,
        list_bool_or(list_transform($incidents, i -> l.ts >= i.starts AND l.ts < i.ends))
            AS in_incident
    FROM liquidations AS l
    JOIN accounts AS a ON a.account_id = l.account_id
    WHERE l.kind = 'liquidation'
      AND list_contains($products, l.product)
      AND l.ts >= $window_start AND l.ts < $window_end
),
priced AS (
    SELECT
        c.user_id,
        c.in_incident,
        micros_half_away(c.loss_units * p.usd) AS micros,
        p.usd IS NULL AS unpriced
    FROM counted AS c
    LEFT JOIN grid_prices AS p ON p.asset = c.margin_asset AND p.m = c.m
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
    SELECT asset, arg_max(usd, m) AS usd
    FROM minute_prices
    WHERE m <= $snapshot_minute AND m >= $snapshot_minute - $staleness_minutes
    GROUP BY asset
),
liquidated_accounts AS (
    SELECT account_id, user_id
    FROM accounts
    WHERE user_id IN (SELECT user_id FROM losses)
),
net AS (                           -- net assets at the snapshot, liquidated users only
    SELECT
        a.user_id,
        CAST(sum(micros_half_away(
            (as_dec(b.balance) - as_dec(b.liability) + as_dec(b.unrealized_pnl)) * p.usd
        )) AS BIGINT) AS net_micros,
        count(*) FILTER (WHERE p.usd IS NULL) AS unpriced_balances
    FROM balances AS b
    JOIN liquidated_accounts AS a ON a.account_id = b.account_id
    LEFT JOIN snapshot_prices AS p ON p.asset = b.asset
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
        greatest(cents_half_away(l.loss_micros), 0) AS loss_cents,
        cents_half_away(coalesce(n.net_micros, 0)) AS net_assets_cents,
        greatest(cents_half_away(l.incident_micros), 0) AS incident_cents,
        u.user_type,
        CAST(u.vip_tier AS BIGINT) AS vip_tier,
        $snapshot_s - CAST(epoch(u.registered_at) AS BIGINT) AS age_s,
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

-- Hand-written DuckDB SQL of the dataset contract's checks (docs/data.md): the baseline
-- for the engine's `validate` stage, so that "engine end to end" can be set against a
-- hand-written pipeline doing the same work. Each statement returns one row of counts of
-- violations; every count must be 0. Views as in baseline.sql (baseline_sql.py).
-- Not shared with the engine: written from the contract's text, not from its code.

SELECT
    count(*) - count(user_id) AS user_id_null,
    count(user_id) - count(DISTINCT user_id) AS user_id_dupes,
    count(*) FILTER (user_type IS NULL OR user_type NOT IN ('retail', 'vip', 'institutional')) AS user_type_bad,
    count(*) FILTER (vip_tier IS NULL OR vip_tier < 0) AS vip_tier_bad,
    count(*) - count(registered_at) AS registered_at_null
FROM users;

SELECT
    count(*) - count(account_id) AS account_id_null,
    count(account_id) - count(DISTINCT account_id) AS account_id_dupes,
    count(*) - count(user_id) AS user_id_null,
    count(*) FILTER (kind IS NULL OR kind NOT IN ('master', 'sub')) AS kind_bad
FROM accounts;

SELECT
    count(*) FILTER (account_id IS NULL OR asset IS NULL) AS key_null,
    count(*) FILTER (wallet IS NULL OR wallet NOT IN ('spot', 'funding', 'earn', 'usdm_futures',
        'coinm_futures', 'cross_margin', 'isolated_margin', 'portfolio_margin')) AS wallet_bad,
    count(*) FILTER (balance IS NULL OR isnan(balance) OR isinf(balance) OR balance < 0) AS balance_bad,
    count(*) FILTER (liability IS NULL OR isnan(liability) OR isinf(liability) OR liability < 0) AS liability_bad,
    count(*) FILTER (unrealized_pnl IS NULL OR isnan(unrealized_pnl) OR isinf(unrealized_pnl)) AS pnl_bad
FROM balances;

SELECT
    count(*) FILTER (asset IS NULL OR minute IS NULL) AS key_null,
    count(*) FILTER (usd IS NULL OR isnan(usd) OR isinf(usd) OR usd <= 0) AS usd_bad
FROM prices;

SELECT
    count(*) - count(fill_id) AS fill_id_null,
    count(fill_id) - count(DISTINCT fill_id) AS fill_id_dupes,
    count(*) FILTER (account_id IS NULL OR symbol IS NULL OR ts IS NULL OR margin_asset IS NULL) AS null_bad,
    count(*) FILTER (product IS NULL OR product NOT IN ('usdm_futures', 'coinm_futures',
        'cross_margin', 'isolated_margin', 'portfolio_margin')) AS product_bad,
    count(*) FILTER (kind IS NULL OR kind NOT IN ('liquidation', 'adl')) AS kind_bad,
    count(*) FILTER (realized_pnl IS NULL OR isnan(realized_pnl) OR isinf(realized_pnl)) AS pnl_bad,
    count(*) FILTER (clearance_fee IS NULL OR isnan(clearance_fee) OR isinf(clearance_fee)
        OR clearance_fee < 0) AS fee_bad
FROM liquidations;

SELECT
    count(*) FILTER (user_id IS NULL OR program_id IS NULL OR paid_at IS NULL) AS null_bad,
    count(*) FILTER (amount_usd IS NULL OR isnan(amount_usd) OR isinf(amount_usd)
        OR amount_usd < 0) AS amount_bad
FROM prior_compensation;

SELECT count(*) AS balance_key_dupes FROM (
    SELECT 1 FROM balances GROUP BY account_id, wallet, asset HAVING count(*) > 1
);

SELECT count(*) AS price_key_dupes FROM (
    SELECT 1 FROM prices GROUP BY asset, minute HAVING count(*) > 1
);

SELECT count(*) AS accounts_orphans FROM accounts AS c ANTI JOIN users AS p USING (user_id);

SELECT count(*) AS balances_orphans FROM balances AS c ANTI JOIN accounts AS p USING (account_id);

SELECT count(*) AS fills_orphans FROM liquidations AS c ANTI JOIN accounts AS p USING (account_id);

-- marketData pages walk (observed_at, id) and its cursors compare (observed_at, id). With only
-- observed_at indexed, a page read every row sharing the newest timestamp and sorted them (a run's
-- quotes often share one: CoinPaprika's last_updated, a CSV's daily date): a page of 100 joined
-- and sorted 2,751 rows, 13 ms of database time, where the composite index reads 101 rows.
-- The composite serves everything observed_at alone did.
CREATE INDEX "market_observation_observed_at_id_idx" ON "market_observation"("observed_at", "id");
DROP INDEX "market_observation_observed_at_idx";

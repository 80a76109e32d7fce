-- Fewer indexes on ballot_reports: every report lands at a random place in each index keyed by
-- participant, and at 1.26 million reports each transaction rewrote thousands of index pages.
-- `ballot_reports_participant` duplicated `ballot_reports_one_counted` (every lookup by
-- participant is for their counted report, or also names the photo hash, which has its own
-- index); `ballot_reports_counted` served the per-station crowd counts, which now come from
-- `crowd_report_counts` (0004), and a station's counted reports are found through
-- `ballot_reports_station`.
DROP INDEX ballot_reports_participant;
DROP INDEX ballot_reports_counted;

-- The counters' covering index held `reported` and `verified`, so every counted report moved
-- an index entry as well as updating its row. Keyed by election and station only, the index
-- is left alone when a count changes; the crowd counts read 25,000 rows through it instead.
DROP INDEX crowd_report_counts_election;
CREATE INDEX crowd_report_counts_election
    ON crowd_report_counts (election_id, station_id, option_id);

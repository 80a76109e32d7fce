-- Fewer indexes on ballot_reports: every report lands at a random place in each index keyed by
-- participant, and at 1.26 million reports each transaction rewrote thousands of index pages.
-- `ballot_reports_participant` duplicated `ballot_reports_one_counted` (every lookup by
-- participant is for their counted report, or also names the photo hash, which has its own
-- index); `ballot_reports_counted` served the per-station crowd counts, which now come from
-- `crowd_report_counts` (0004), and a station's counted reports are found through
-- `ballot_reports_station`.
DROP INDEX ballot_reports_participant;
DROP INDEX ballot_reports_counted;

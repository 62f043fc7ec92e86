-- The benchmark's baseline: lossledger's reconciliation (lossledger/reconcile.py) as plain DuckDB
-- SQL over the published observations.
--
-- Input:  a view `published_observations` over <warehouse>/observations (bench.stages makes it).
-- Output: tables `baseline_daily_totals` and `baseline_discrepancies` (bench.stages writes them
--         to hive-partitioned Parquet, as lossledger publishes).
--
-- Same rules, per (date, category): a source's newest event speaks for it (older differing values
-- are revisions); the value most sources give wins, ties go to the best source kind
-- (official > api > ticker > history), then to the latest event; deltas are implied from the
-- day before and compared with the stated ones; a missing day right before a stated delta is
-- inferred; disagreeing sources are conflicts, classified stale / typo / other.
-- Left out: overrides (the benchmark's log has no decisions) and "latest received" (the
-- published observations carry no received_at; the event's seq orders the same way).

CREATE OR REPLACE TEMP TABLE obs AS
SELECT event_id, seq, source, source_kind, date, category, total, stated_delta,
       CASE source_kind WHEN 'official' THEN 0 WHEN 'api' THEN 1 WHEN 'ticker' THEN 2
                        WHEN 'history' THEN 3 ELSE 4 END AS rank
FROM published_observations
WHERE NOT retracted AND total IS NOT NULL;

-- One vote per (date, category, source): the observation of the source's newest event.
CREATE OR REPLACE TEMP TABLE votes AS
SELECT * FROM obs
QUALIFY row_number() OVER (PARTITION BY date, category, source ORDER BY seq DESC) = 1;

CREATE OR REPLACE TEMP TABLE revisions AS
SELECT o.date, o.category, 'revision' AS kind, o.source, v.total AS expected,
       o.total AS observed,
       format('revised from {} to {} (event {} superseded by {})',
              o.total, v.total, o.event_id, v.event_id) AS detail,
       list_sort(list_distinct([o.event_id, v.event_id])) AS event_ids,
       greatest(o.seq, v.seq) AS seq
FROM obs o JOIN votes v USING (date, category, source)
WHERE o.seq < v.seq AND o.total <> v.total;

-- One row per value some source states, described by its best source.
CREATE OR REPLACE TEMP TABLE candidates AS
SELECT date, category, total,
       count(*) AS n_agree,
       min(rank) AS lead_rank,
       arg_min(source_kind, rank * 1e12 - seq) AS lead_kind,
       arg_min(source, rank * 1e12 - seq) AS lead_source,
       arg_min(stated_delta, rank * 1e12 - seq) AS lead_stated_delta,
       arg_min(seq, rank * 1e12 - seq) AS lead_seq,
       list_sort(list(source)) AS sources,
       list_sort(list(event_id)) AS event_ids,
       max(seq) AS seq
FROM votes
GROUP BY date, category, total;

CREATE OR REPLACE TEMP TABLE chosen AS
SELECT date, category, total, lead_stated_delta AS stated_delta,
       CASE WHEN n_sources = 1 THEN 'single_source'
            WHEN n_values = 1 THEN 'confirmed'
            WHEN n_agree > runner_n THEN 'majority'
            ELSE 'priority' END AS status,
       CASE WHEN n_sources = 1 THEN 'chosen as the only source'
            WHEN n_values = 1 THEN format('confirmed by {} sources', n_sources)
            WHEN n_agree > runner_n THEN
                format('chosen by majority ({} of {} sources)', n_agree, n_sources)
            WHEN lead_rank < runner_rank THEN format('chosen by priority ({})', lead_kind)
            ELSE format('chosen by latest received ({})', lead_source) END AS rule,
       n_sources, lead_source AS chosen_source, sources, event_ids, seq
FROM (
    SELECT *,
           sum(n_agree) OVER cell AS n_sources,
           count(*) OVER cell AS n_values,
           lead(n_agree) OVER ranked AS runner_n,
           lead(lead_rank) OVER ranked AS runner_rank,
           row_number() OVER ranked AS pick
    FROM candidates
    WINDOW cell AS (PARTITION BY date, category),
           ranked AS (PARTITION BY date, category
                      ORDER BY n_agree DESC, lead_rank, lead_seq DESC, total)
)
WHERE pick = 1;

-- Along each category: the previous reported day.
CREATE OR REPLACE TEMP TABLE chosen_along AS
SELECT *,
       lag(date) OVER along AS prev_date,
       lag(total) OVER along AS prev_total,
       lag(event_ids) OVER along AS prev_event_ids,
       lag(seq) OVER along AS prev_seq
FROM chosen
WINDOW along AS (PARTITION BY category ORDER BY date);

-- A missing day right before a stated delta: its total is inferred from that delta.
CREATE OR REPLACE TEMP TABLE inferred AS
SELECT date - 1 AS date, category, total - stated_delta AS total, NULL::BIGINT AS stated_delta,
       'inferred' AS status, NULL::VARCHAR AS rule, 0::BIGINT AS n_sources,
       NULL::VARCHAR AS chosen_source, []::VARCHAR[] AS sources, event_ids, seq
FROM chosen_along
WHERE prev_date < date - 1 AND stated_delta IS NOT NULL;

CREATE OR REPLACE TEMP TABLE series AS
SELECT * EXCLUDE (prev_date, prev_total, prev_event_ids, prev_seq),
       CASE WHEN day_before THEN prev_date END AS prev_date,
       CASE WHEN day_before THEN prev_total END AS prev_total,
       CASE WHEN day_before THEN prev_event_ids END AS prev_event_ids,
       CASE WHEN day_before THEN prev_seq END AS prev_seq,
       CASE WHEN day_before THEN total - prev_total END AS delta
FROM (
    SELECT *, coalesce(lag(date) OVER along = date - 1, false) AS day_before,
           lag(date) OVER along AS prev_date,
           lag(total) OVER along AS prev_total,
           lag(event_ids) OVER along AS prev_event_ids,
           lag(seq) OVER along AS prev_seq
    FROM (SELECT * FROM chosen UNION ALL BY NAME SELECT * FROM inferred)
    WINDOW along AS (PARTITION BY category ORDER BY date)
);

CREATE OR REPLACE TEMP TABLE baseline_daily_totals AS
SELECT date, category, total, delta, stated_delta, status, n_sources, event_ids, sources, seq
FROM series;

-- Disagreeing sources, with their likely cause.
CREATE OR REPLACE TEMP TABLE conflicts AS
SELECT v.date, v.category, v.source, v.event_id, v.seq, v.total AS observed,
       c.total AS expected, c.rule, c.event_ids AS chosen_event_ids, c.seq AS chosen_seq,
       (SELECT max(s.date) FROM series s
        WHERE s.category = v.category AND s.total = v.total
          AND s.date BETWEEN v.date - 3 AND v.date - 1) AS stale_date,
       v.total::VARCHAR AS o, c.total::VARCHAR AS e
FROM votes v JOIN chosen c USING (date, category)
WHERE v.total <> c.total;

CREATE OR REPLACE TEMP TABLE source_conflicts AS
SELECT date, category, 'source_conflict' AS kind, source, expected, observed,
       format('{}; {}',
              CASE WHEN stale_date IS NOT NULL THEN format('stale: equals {} total', stale_date)
                   WHEN slip IS NOT NULL THEN format('typo: {} ({} vs {})', slip, observed, expected)
                   ELSE format('other: differs by {}', signed_difference) END,
              rule) AS detail,
       list_sort(list_distinct(list_prepend(event_id, chosen_event_ids))) AS event_ids,
       greatest(seq, chosen_seq) AS seq
FROM (
    SELECT *,
           CASE WHEN observed - expected >= 0 THEN format('+{}', observed - expected)
                ELSE (observed - expected)::VARCHAR END AS signed_difference,
           CASE WHEN length(o) <> length(e) THEN NULL
                WHEN differing = 1 THEN 'one digit changed'
                WHEN differing = 2 AND swapped THEN 'adjacent digits swapped' END AS slip
    FROM (
        SELECT *,
               list_sum(list_transform(range(1, length(o) + 1),
                                       lambda i: (o[i] <> e[i])::INT)) AS differing,
               list_bool_or(list_transform(range(1, length(o)),
                                           lambda i: o[i] <> e[i] AND o[i] = e[i + 1]
                                                     AND o[i + 1] = e[i])) AS swapped
        FROM conflicts
    )
);

CREATE OR REPLACE TEMP TABLE baseline_discrepancies AS
SELECT * FROM source_conflicts
UNION ALL BY NAME SELECT * FROM revisions
UNION ALL BY NAME
SELECT date, category, 'delta_mismatch' AS kind, chosen_source AS source, delta AS expected,
       stated_delta AS observed,
       format('stated {} but totals imply {} ({} on {} to {})', stated_delta, delta,
              prev_total, prev_date, total) AS detail,
       list_sort(list_distinct(list_concat(event_ids, prev_event_ids))) AS event_ids,
       greatest(seq, prev_seq) AS seq
FROM series
WHERE stated_delta IS NOT NULL AND delta IS NOT NULL AND stated_delta <> delta
UNION ALL BY NAME
SELECT date, category, 'restatement' AS kind, chosen_source AS source, prev_total AS expected,
       total AS observed,
       format('total fell from {} on {} to {} ({})', prev_total, prev_date, total, delta) AS detail,
       list_sort(list_distinct(list_concat(event_ids, prev_event_ids))) AS event_ids,
       greatest(seq, prev_seq) AS seq
FROM series
WHERE delta < 0
UNION ALL BY NAME
SELECT missing::DATE AS date, category, 'gap' AS kind, NULL AS source, NULL::BIGINT AS expected,
       NULL::BIGINT AS observed,
       CASE WHEN missing::DATE = date - 1 AND stated_delta IS NOT NULL
            THEN format('inferred from {} stated delta', date) ELSE 'no report' END AS detail,
       event_ids, seq
FROM (
    SELECT *, unnest(generate_series(prev_date + 1, date - 1, INTERVAL 1 DAY)) AS missing
    FROM chosen_along
    WHERE prev_date < date - 1
);

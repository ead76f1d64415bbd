WITH peer AS (
  SELECT * FROM pg_stat_replication WHERE application_name = %(peer)s ORDER BY backend_start DESC LIMIT 1
), receiver AS (
  SELECT * FROM pg_stat_wal_receiver LIMIT 1
)
SELECT
  pg_is_in_recovery() AS in_recovery,
  CASE WHEN pg_is_in_recovery()
    THEN coalesce((SELECT received_tli FROM receiver), (SELECT timeline_id FROM pg_control_checkpoint()))
    ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int
  END AS timeline,
  (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text AS lsn,
  coalesce((SELECT sync_state FROM peer), 'none') AS sync_state,
  CASE WHEN pg_is_in_recovery()
    THEN coalesce((SELECT status = 'streaming' FROM receiver), false)
    ELSE coalesce((SELECT state = 'streaming' FROM peer), false)
  END AS streaming,
  CASE WHEN pg_is_in_recovery()
    THEN coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)::bigint
    ELSE (SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) FROM peer)::bigint
  END AS lag_bytes,
  CASE WHEN pg_is_in_recovery()
    THEN CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
      ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END
    ELSE (SELECT coalesce(extract(epoch FROM replay_lag), 0) FROM peer)
  END::float8 AS lag_seconds,
  current_setting('synchronous_standby_names') AS synchronous_standby_names

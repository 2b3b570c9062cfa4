//! The diesel schema, shared by both backends (written by hand: the column
//! types are the common subset, ids and times are `BigInt`).

diesel::table! {
    /// Projects: one creator's campaign and its ad spend.
    projects (id) {
        id -> BigInt,
        name -> Text,
        status -> Text,
        created_at_ms -> BigInt,
        updated_at_ms -> BigInt,
        status_reason -> Nullable<Text>,
        scheduled_from_ms -> Nullable<BigInt>,
        schedule_paused -> Bool,
        full_interval_ms -> Nullable<BigInt>,
        poll_interval_ms -> Nullable<BigInt>,
        ended_at_ms -> Nullable<BigInt>,
        monitors -> Nullable<Text>,
        reporting_currency -> Nullable<Text>,
        labels -> Nullable<Text>,
        external_key -> Nullable<Text>,
    }
}

diesel::table! {
    /// Where a project's numbers come from: one row per platform reference.
    sources (id) {
        id -> BigInt,
        project_id -> BigInt,
        platform -> Text,
        external_ref -> Text,
        options -> Text,
        secret -> Nullable<Text>,
        created_at_ms -> BigInt,
        campaign_state -> Nullable<Text>,
        campaign_phase -> Nullable<Text>,
        campaign_started_ms -> Nullable<BigInt>,
        deadline_ms -> Nullable<BigInt>,
        campaign_seen_at_ms -> Nullable<BigInt>,
        currency -> Nullable<Text>,
    }
}

diesel::table! {
    /// Observations, unique on (project, metric, platform, ts); `ts` is epoch seconds.
    points (project_id, metric, platform, ts) {
        project_id -> BigInt,
        metric -> Text,
        platform -> Text,
        ts -> BigInt,
        value -> Double,
    }
}

diesel::table! {
    /// Hourly rollups of points older than the retention period.
    points_hourly (project_id, metric, platform, hour_ts) {
        project_id -> BigInt,
        metric -> Text,
        platform -> Text,
        hour_ts -> BigInt,
        last_ts -> BigInt,
        last_value -> Double,
        min_value -> Double,
        max_value -> Double,
        sum_value -> Double,
        count -> BigInt,
    }
}

diesel::table! {
    /// A per-connection temporary table (PostgreSQL only) that COPY fills
    /// before `INSERT … SELECT … ON CONFLICT DO NOTHING` moves new rows into
    /// `points`: COPY itself has no ON CONFLICT. Created on first use.
    points_staging (project_id, metric, platform, ts) {
        project_id -> BigInt,
        metric -> Text,
        platform -> Text,
        ts -> BigInt,
        value -> Double,
    }
}

diesel::table! {
    /// Scrape runs with their outcome and log.
    runs (id) {
        id -> BigInt,
        project_id -> BigInt,
        kind -> Text,
        triggered_by -> Text,
        status -> Text,
        started_at_ms -> BigInt,
        finished_at_ms -> Nullable<BigInt>,
        error -> Nullable<Text>,
        points_written -> BigInt,
        log -> Text,
        error_kind -> Nullable<Text>,
        node -> Text,
        fetch_started_at_ms -> Nullable<BigInt>,
        recovered_at_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// The series dictionary: one id per (project, metric, platform) kept
    /// in chunks.
    series (id) {
        id -> BigInt,
        project_id -> BigInt,
        metric -> Text,
        platform -> Text,
    }
}

diesel::table! {
    /// Closed chunks: one series' points from `start_ts` to `end_ts` as one
    /// encoded block, with their aggregates.
    chunks (series_id, start_ts) {
        series_id -> BigInt,
        start_ts -> BigInt,
        end_ts -> BigInt,
        count -> BigInt,
        first_value -> Double,
        last_value -> Double,
        min_value -> Double,
        max_value -> Double,
        sum_value -> Double,
        block -> Binary,
    }
}

diesel::table! {
    /// Spans of time when a project, a platform (or host) or a node stood
    /// still: why a series has no point.
    timeline (id) {
        id -> BigInt,
        project_id -> Nullable<BigInt>,
        platform -> Nullable<Text>,
        host -> Nullable<Text>,
        node -> Nullable<Text>,
        cause -> Text,
        detail -> Text,
        started_ms -> BigInt,
        ended_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// The generic sources' cookie jars, sealed.
    cookie_jars (jar) {
        jar -> Text,
        sealed -> Text,
        updated_at_ms -> BigInt,
    }
}

diesel::table! {
    /// The answers the generic sources' fetches brought back, compressed.
    responses (id) {
        id -> BigInt,
        project_id -> BigInt,
        platform -> Text,
        external_ref -> Text,
        run_id -> Nullable<BigInt>,
        kind -> Text,
        fetched_at_ms -> BigInt,
        page -> Integer,
        status -> Integer,
        url -> Text,
        headers -> Text,
        body -> Binary,
        body_bytes -> BigInt,
        stored_bytes -> BigInt,
        outcome -> Text,
        error -> Nullable<Text>,
        metric -> Nullable<Text>,
        proposals -> Nullable<Text>,
        recovered_at_ms -> Nullable<BigInt>,
    }
}

diesel::joinable!(chunks -> series (series_id));
diesel::allow_tables_to_appear_in_same_query!(chunks, series);

diesel::joinable!(sources -> projects (project_id));
diesel::joinable!(runs -> projects (project_id));
diesel::allow_tables_to_appear_in_same_query!(projects, sources, points, points_hourly, runs);
// The capacity check groups sources by platform and their project's interval.
diesel::allow_columns_to_appear_in_same_group_by_clause!(
    sources::platform,
    sources::campaign_phase,
    projects::full_interval_ms,
    projects::poll_interval_ms
);

diesel::table! {
    /// Webhook endpoints and the events they receive.
    webhooks (id) {
        id -> BigInt,
        url -> Text,
        secret -> Text,
        events -> Text,
        description -> Text,
        active -> Bool,
        created_at_ms -> BigInt,
    }
}

diesel::table! {
    /// The webhook outbox and delivery log.
    webhook_deliveries (id) {
        id -> BigInt,
        webhook_id -> BigInt,
        event -> Text,
        project_id -> Nullable<BigInt>,
        payload -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at_ms -> BigInt,
        last_attempt_at_ms -> Nullable<BigInt>,
        last_status_code -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        delivered_at_ms -> Nullable<BigInt>,
        created_at_ms -> BigInt,
    }
}

diesel::joinable!(webhook_deliveries -> webhooks (webhook_id));
diesel::allow_tables_to_appear_in_same_query!(webhooks, webhook_deliveries);

diesel::table! {
    /// Per-project read tokens (only their SHA-256 is kept).
    project_tokens (id) {
        id -> BigInt,
        project_id -> BigInt,
        name -> Text,
        token_hash -> Text,
        prefix -> Text,
        created_at_ms -> BigInt,
        last_used_at_ms -> Nullable<BigInt>,
        revoked_at_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// Admin UI sessions (only a hash of the cookie's id is kept).
    sessions (id_hash) {
        id_hash -> Text,
        csrf -> Text,
        created_at_ms -> BigInt,
        expires_at_ms -> BigInt,
        user_name -> Nullable<Text>,
    }
}

diesel::table! {
    /// The nodes running on this database, with their heartbeats.
    nodes (name) {
        name -> Text,
        instance -> Text,
        version -> Text,
        started_at_ms -> BigInt,
        heartbeat_at_ms -> BigInt,
        stopped_at_ms -> Nullable<BigInt>,
        following -> Nullable<Text>,
    }
}

diesel::table! {
    /// Which node process owns which project (cluster mode).
    leases (project_id) {
        project_id -> BigInt,
        node -> Text,
        instance -> Text,
        acquired_at_ms -> BigInt,
    }
}

diesel::table! {
    /// Requests for the node that owns a project, and their outcomes.
    commands (id) {
        id -> BigInt,
        node -> Text,
        project_id -> BigInt,
        kind -> Text,
        run_id -> Nullable<BigInt>,
        created_at_ms -> BigInt,
        done_at_ms -> Nullable<BigInt>,
        outcome -> Nullable<Text>,
        instance -> Nullable<Text>,
    }
}

diesel::joinable!(leases -> projects (project_id));
diesel::allow_tables_to_appear_in_same_query!(leases, projects);
diesel::allow_tables_to_appear_in_same_query!(leases, nodes);
diesel::allow_tables_to_appear_in_same_query!(leases, sources);

diesel::table! {
    /// Alerts raised by the monitors on the numbers, open until they recover.
    monitor_alerts (id) {
        id -> BigInt,
        project_id -> BigInt,
        source_id -> BigInt,
        platform -> Text,
        monitor -> Text,
        metric -> Text,
        threshold -> Text,
        level -> Nullable<Double>,
        value -> Nullable<Double>,
        detail -> Text,
        fired_at_ms -> BigInt,
        recovered_at_ms -> Nullable<BigInt>,
        recovered_value -> Nullable<Double>,
        recovered_detail -> Nullable<Text>,
    }
}

diesel::table! {
    /// The other projects a read token reads besides its own.
    token_projects (token_id, project_id) {
        token_id -> BigInt,
        project_id -> BigInt,
    }
}

diesel::table! {
    /// Who changed what, when and from where.
    audit_log (id) {
        id -> BigInt,
        at_ms -> BigInt,
        actor -> Text,
        role -> Text,
        action -> Text,
        path -> Text,
        status -> Integer,
        projects -> Text,
        detail -> Nullable<Text>,
        remote -> Nullable<Text>,
    }
}

diesel::table! {
    /// People who use the admin UI, with their roles.
    users (name) {
        name -> Text,
        role -> Text,
        password_hash -> Text,
        created_at_ms -> BigInt,
    }
}

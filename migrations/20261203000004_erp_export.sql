-- The ERP export, written by the `erp_export` projector (rebuildable), and
-- the reconciliation reports, written by the API when the ERP acknowledges
-- a day (kept across rebuilds; the ledger holds each outcome as an event).

-- Each order as the export needs it (no personal data), to price changes,
-- shipments and returns.
create table erp_order (
    order_id text primary key,
    state jsonb not null
);

-- One row per business fact.
create table erp_record (
    event_id uuid primary key,
    position bigint not null,
    -- The business day of the event's recorded_at, in the business time zone.
    business_day date not null,
    record_type text not null,
    order_id text not null,
    currency text not null,
    amount_minor bigint not null,
    quantity bigint not null,
    location_id text,
    lines jsonb not null,
    recorded_at timestamptz not null,
    -- The export that carries it: its own day's, or a later one's correction
    -- section when it arrived after its day was closed. Null until then.
    export_day date
);

create index erp_record_by_export on erp_record (export_day, position);
create index erp_record_waiting on erp_record (business_day) where export_day is null;

-- Closed business days: the export of each is fixed at this position.
create table erp_day (
    business_day date primary key,
    timezone text not null,
    closed_position bigint not null,
    closed_at timestamptz not null
);

-- The latest reconciliation report per day.
create table erp_reconciliation (
    business_day date primary key,
    position bigint not null,
    received_at timestamptz not null,
    report jsonb not null
);

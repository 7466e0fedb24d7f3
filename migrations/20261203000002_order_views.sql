-- Read models of orders, all written by the `order_views` projector.
-- Every column is derived from events, so a rebuild from position 0 gives the
-- same rows; nothing here is the system of record.

-- "Where is my order?": one row per order with its current state.
create table order_tracking (
    order_id text primary key,
    customer_id text not null,
    channel text not null,
    status text not null,
    version bigint not null,
    position bigint not null,
    currency text not null,
    total_minor bigint not null,
    tracking_token text not null unique,
    placed_at timestamptz not null,
    updated_at timestamptz not null,
    -- The order folded from its events (domain `Order`), for lines,
    -- shipments and the address.
    state jsonb not null
);

-- One human-readable row per event.
create table order_timeline (
    event_id uuid primary key,
    order_id text not null,
    version bigint not null,
    position bigint not null,
    event_type text not null,
    occurred_at timestamptz not null,
    recorded_at timestamptz not null,
    actor text not null,
    summary text not null,
    unique (order_id, version)
);

-- A customer's orders, newest first.
create table customer_order (
    customer_id text not null,
    order_id text not null,
    placed_at timestamptz not null,
    status text not null,
    currency text not null,
    total_minor bigint not null,
    updated_at timestamptz not null,
    primary key (customer_id, order_id)
);

create index customer_order_newest on customer_order (customer_id, placed_at desc, order_id desc);

-- Locations and inventory, written by the `stock_views` projector, and the
-- routing process's own state, written by the `router` process. The views
-- are derived from events and can be rebuilt; the routing state is rebuilt
-- by the router itself as it re-reads the stream from its checkpoint.

-- One row per store or warehouse, with its current profile.
create table location (
    location_id text primary key,
    kind text not null,
    status text not null,
    version bigint not null,
    position bigint not null,
    updated_at timestamptz not null,
    -- The domain `LocationProfile`.
    profile jsonb not null
);

-- Stock per location and SKU. Available is on hand minus reserved.
create table inventory (
    location_id text not null,
    sku text not null,
    on_hand bigint not null,
    reserved bigint not null,
    incoming bigint not null,
    version bigint not null,
    position bigint not null,
    updated_at timestamptz not null,
    -- Scheduled deliveries not yet received: {"<incoming_id>": quantity}.
    incoming_detail jsonb not null,
    primary key (location_id, sku)
);

create index inventory_by_sku on inventory (sku, location_id);

-- Lines waiting for stock, in order of placement.
create table routing_backorder (
    order_id text not null,
    sku text not null,
    quantity integer not null,
    placed_position bigint not null,
    primary key (order_id, sku)
);

create index routing_backorder_queue on routing_backorder (sku, placed_position, order_id);

-- Orders routed to each location per local day, against its daily capacity.
create table routing_capacity (
    location_id text not null,
    day date not null,
    used integer not null,
    primary key (location_id, day)
);

-- The timeline is stored in segments: one row per order and projector batch,
-- holding that batch's events of the order as parallel arrays (entry i has
-- version first_version + i). Catching up, a batch touches each order with
-- several events, and a row per event made PostgreSQL maintain one b-tree
-- entry per event: over half of a timeline row's cost. A segment pays it
-- once per order and batch. Following a live stream, a segment usually holds
-- one event. Readers unnest the arrays; the entries, not the rows, are what
-- a rebuild reproduces, since batch boundaries differ between runs.
create table order_timeline_segment (
    order_id text collate "C" not null,
    first_version bigint not null,
    event_ids uuid[] not null,
    positions bigint[] not null,
    event_types text[] not null,
    occurred_at timestamptz[] not null,
    recorded_at timestamptz[] not null,
    actors text[] not null,
    summaries text[] not null,
    primary key (order_id, first_version)
);

insert into order_timeline_segment
select order_id, version, array[event_id], array[position], array[event_type],
    array[occurred_at], array[recorded_at], array[actor], array[summary]
from order_timeline;

drop table order_timeline;
alter table order_timeline_segment rename to order_timeline;
alter index order_timeline_segment_pkey rename to order_timeline_pkey;

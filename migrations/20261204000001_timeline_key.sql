-- The timeline is read by order and version, never by event id, and an
-- event applied twice already breaks the (order_id, version) key. The event
-- id's own unique index only made every insert maintain a second b-tree
-- (catch-up writes one timeline row per event), so the order and version
-- become the primary key and the event id an ordinary column. On a large
-- live table this rebuilds the key's index once, under a lock.
alter table order_timeline
    drop constraint order_timeline_pkey,
    drop constraint order_timeline_order_id_version_key,
    add primary key (order_id, version);

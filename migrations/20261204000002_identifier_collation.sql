-- Identifiers (order, customer, location ids, SKUs, tracking tokens) are
-- ASCII tokens that the ledger validates; they are compared for equality and
-- ordered only to make pages and exports deterministic. Under the database's
-- default collation (a libc locale such as C.UTF-8) every b-tree comparison
-- on them went through strcoll, and an index's order could change with a
-- glibc upgrade. The "C" collation compares bytes: cheaper on every insert
-- and lookup, and the same order on every machine. Each statement rewrites
-- its table and indexes once, under a lock.

alter table order_tracking
    alter column order_id type text collate "C",
    alter column customer_id type text collate "C",
    alter column tracking_token type text collate "C";

alter table order_timeline
    alter column order_id type text collate "C";

alter table customer_order
    alter column customer_id type text collate "C",
    alter column order_id type text collate "C";

alter table location
    alter column location_id type text collate "C";

alter table inventory
    alter column location_id type text collate "C",
    alter column sku type text collate "C";

alter table routing_backorder
    alter column order_id type text collate "C",
    alter column sku type text collate "C";

alter table routing_capacity
    alter column location_id type text collate "C";

alter table erp_order
    alter column order_id type text collate "C";

-- A customer's orders, newest first, are read from `order_tracking` through
-- an index instead of a table of their own. `customer_order` copied six
-- tracking columns, so every change to an order also wrote a row there, with
-- two index entries, in the same transaction, only to keep the copy in step.
-- An index costs one entry per row version of the tracking row and cannot
-- drift from it.
create index order_tracking_by_customer
    on order_tracking (customer_id, placed_at desc, order_id desc);

drop table customer_order;

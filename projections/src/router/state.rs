//! The router's own state in PostgreSQL, written in the batch's transaction:
//! the backorder queue and the orders counted against each location's daily
//! capacity.

use crate::ProjectionError;
use ordo_domain::{LocationId, Order, OrderId, OrderStatus, Sku};
use sqlx::PgConnection;
use std::collections::BTreeMap;

/// Every SKU with a waiting line.
pub(super) async fn backordered_skus(tx: &mut PgConnection) -> Result<Vec<Sku>, ProjectionError> {
    let skus: Vec<String> = sqlx::query_scalar("select distinct sku from routing_backorder")
        .fetch_all(&mut *tx)
        .await
        .map_err(ProjectionError::database("read backordered skus"))?;
    Ok(skus.iter().filter_map(|s| Sku::parse(s).ok()).collect())
}

/// The next waiting orders for `sku` after `after`, in order of placement.
pub(super) async fn backorder_queue(
    tx: &mut PgConnection,
    sku: &Sku,
    after: Option<(u64, OrderId)>,
) -> Result<Vec<(OrderId, u64)>, ProjectionError> {
    let (after_position, after_order) =
        after.map_or((-1, String::new()), |(p, o)| (p as i64, o.to_string()));
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "select order_id, placed_position from routing_backorder
         where sku = $1 and (placed_position, order_id) > ($2, $3)
         order by placed_position, order_id
         limit 100",
    )
    .bind(sku.as_str())
    .bind(after_position)
    .bind(after_order)
    .fetch_all(&mut *tx)
    .await
    .map_err(ProjectionError::database("read backorder queue"))?;
    Ok(rows
        .into_iter()
        .filter_map(|(order, position)| Some((OrderId::parse(&order).ok()?, position as u64)))
        .collect())
}

/// Makes the queue hold exactly the order's backordered lines, keeping the
/// order's place in it (`position` places an order not queued before).
pub(super) async fn sync_backorders(
    tx: &mut PgConnection,
    order_id: &OrderId,
    order: &Order,
    position: u64,
) -> Result<(), ProjectionError> {
    let queued: Option<i64> = sqlx::query_scalar(
        "delete from routing_backorder where order_id = $1 returning placed_position",
    )
    .bind(order_id.as_str())
    .fetch_all(&mut *tx)
    .await
    .map_err(ProjectionError::database("clear backorders"))?
    .into_iter()
    .min();
    let Some(placed) = order.placed.as_ref() else {
        return Ok(());
    };
    if order.status() == OrderStatus::Cancelled || placed.backordered.is_empty() {
        return Ok(());
    }
    let skus: Vec<&str> = placed.backordered.iter().map(|l| l.sku.as_str()).collect();
    let quantities: Vec<i32> = placed
        .backordered
        .iter()
        .map(|l| l.quantity.get() as i32)
        .collect();
    sqlx::query(
        "insert into routing_backorder (order_id, sku, quantity, placed_position)
         select $1, sku, quantity, $4 from unnest($2::text[], $3::int4[]) as l(sku, quantity)",
    )
    .bind(order_id.as_str())
    .bind(&skus)
    .bind(&quantities)
    .bind(queued.unwrap_or(position as i64))
    .execute(&mut *tx)
    .await
    .map_err(ProjectionError::database("queue backorders"))?;
    Ok(())
}

/// Counts one more order for `location` on its local `day`.
pub(super) async fn count_order(
    tx: &mut PgConnection,
    location: &LocationId,
    day: time::Date,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "insert into routing_capacity (location_id, day, used) values ($1, $2, 1)
         on conflict (location_id, day) do update set used = routing_capacity.used + 1",
    )
    .bind(location.as_str())
    .bind(day)
    .execute(&mut *tx)
    .await
    .map_err(ProjectionError::database("count capacity"))?;
    Ok(())
}

/// Orders counted so far for each location on its given local day.
pub(super) async fn capacity_used(
    tx: &mut PgConnection,
    days: &BTreeMap<LocationId, time::Date>,
) -> Result<BTreeMap<LocationId, u32>, ProjectionError> {
    let ids: Vec<&str> = days.keys().map(LocationId::as_str).collect();
    let dates: Vec<time::Date> = days.values().copied().collect();
    let rows: Vec<(String, i32)> = sqlx::query_as(
        "select c.location_id, c.used from routing_capacity c
         join unnest($1::text[], $2::date[]) as d(location_id, day)
           on c.location_id = d.location_id and c.day = d.day",
    )
    .bind(&ids)
    .bind(&dates)
    .fetch_all(&mut *tx)
    .await
    .map_err(ProjectionError::database("read capacity"))?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, used)| Some((LocationId::parse(&id).ok()?, used.max(0) as u32)))
        .collect())
}

//! Order commands run straight against a repository, for tests that need
//! what the HTTP API does not offer (a skewed clock, an injected fault).

use ordo_domain::order::{PlaceOrder, PricedLine};
use ordo_domain::{decide, Order, OrderCommand, OrderId};
use ordo_ledger::{Actor, ActorKind, CommandContext, Executed, Repository};

/// A channel's command context, now.
pub fn context() -> CommandContext {
    let actor = Actor {
        kind: ActorKind::Channel,
        id: "test".into(),
    };
    CommandContext::new(actor, time::OffsetDateTime::now_utc())
}

/// Places order `id` for customer `c-audit`: one unit of SKU `A` at 100.
pub fn place(id: &str) -> OrderCommand {
    place_lines(id, vec![line("A", 1, 100)])
}

/// Places order `id` in EUR with the given lines.
pub fn place_lines(id: &str, lines: Vec<PricedLine>) -> OrderCommand {
    let mut errors = ordo_domain::FieldErrors::new();
    let raw = ordo_domain::address::RawAddress {
        name: "Ada Lovelace".into(),
        line1: "1 Road".into(),
        postal_code: "1000".into(),
        city: "Brussels".into(),
        country: "BE".into(),
        ..Default::default()
    };
    OrderCommand::Place(PlaceOrder {
        order_id: OrderId::parse(id).expect("valid order id"),
        customer_id: ordo_domain::CustomerId::parse("c-audit").expect("valid customer"),
        channel: ordo_domain::ChannelId::parse("web").expect("valid channel"),
        currency: ordo_domain::Currency::parse("EUR").expect("valid currency"),
        lines,
        shipping_address: ordo_domain::Address::parse(raw, "", &mut errors).expect("valid address"),
        tracking_token: "0123456789abcdef0123456789abcdef".into(),
    })
}

pub fn line(sku: &str, quantity: i64, price: i64) -> PricedLine {
    PricedLine {
        sku: ordo_domain::Sku::parse(sku).expect("valid sku"),
        quantity: ordo_domain::Quantity::parse(quantity).expect("valid quantity"),
        unit_price_minor: price,
    }
}

/// Runs `command` on order `id`; panics if it is refused.
pub async fn run(orders: &Repository<Order>, id: &str, command: OrderCommand) -> Executed<Order> {
    let context = context();
    let now = context.now;
    orders
        .execute(id, &context, |order| decide(order, command.clone(), now))
        .await
        .expect("command accepted")
}

//! Request bodies of the order commands, and their parsing into domain
//! commands with every wrong field named.

use ordo_domain::address::RawAddress;
use ordo_domain::field::parse_text;
use ordo_domain::money::parse_unit_price;
use ordo_domain::order::{
    CancelOrder, DeliverShipment, ItemLine, ModifyOrder, PickOrder, PlaceOrder, PricedLine,
    ReturnItems, ShipOrder,
};
use ordo_domain::{Address, ChannelId, Currency, CustomerId, FieldErrors, LocationId, OrderId};
use ordo_domain::{Quantity, ReturnId, ShipmentId, Sku};
use serde::Deserialize;
use utoipa::ToSchema;

/// `POST /v1/orders`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceOrderRequest {
    /// Optional: without it Ordo derives one from the `Idempotency-Key`, or
    /// makes a new one.
    pub order_id: Option<String>,
    pub customer_id: String,
    pub channel: String,
    /// ISO 4217, upper case.
    pub currency: String,
    pub lines: Vec<LineRequest>,
    pub shipping_address: AddressRequest,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineRequest {
    pub sku: String,
    pub quantity: i64,
    /// Price of one item in the currency's minor unit (cents).
    pub unit_price_minor: i64,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressRequest {
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub postal_code: String,
    pub city: String,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// For the carrier's notifications.
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// `PATCH /v1/orders/{id}`: replaces the given parts.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModifyOrderRequest {
    pub lines: Option<Vec<LineRequest>>,
    pub shipping_address: Option<AddressRequest>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelOrderRequest {
    pub reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PickOrderRequest {
    pub location_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipmentRequest {
    pub shipment_id: String,
    pub location_id: String,
    pub carrier: String,
    pub tracking_number: String,
    pub lines: Vec<ItemRequest>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemRequest {
    pub sku: String,
    pub quantity: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryRequest {
    pub shipment_id: String,
    /// RFC 3339, e.g. `2026-11-27T14:03:00Z`.
    pub delivered_at: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnRequest {
    pub return_id: String,
    pub lines: Vec<ItemRequest>,
    pub reason: String,
}

/// The longest carrier name, tracking number or reason we accept.
const MAX_SHORT_TEXT: usize = 64;
const MAX_REASON: usize = 500;

impl PlaceOrderRequest {
    /// Parses everything but the order id, which the handler settles.
    pub fn parse(
        self,
        order_id: OrderId,
        tracking_token: String,
    ) -> Result<PlaceOrder, FieldErrors> {
        let mut errors = FieldErrors::new();
        let customer_id = errors.check("/customer_id", CustomerId::parse(&self.customer_id));
        let channel = errors.check("/channel", ChannelId::parse(&self.channel));
        let currency = errors.check("/currency", Currency::parse(&self.currency));
        let lines = parse_lines(&self.lines, &mut errors);
        let address = Address::parse(
            raw_address(self.shipping_address),
            "/shipping_address",
            &mut errors,
        );
        let command = match (customer_id, channel, currency, lines, address) {
            (Some(customer_id), Some(channel), Some(currency), Some(lines), Some(address)) => {
                Some(PlaceOrder {
                    order_id,
                    customer_id,
                    channel,
                    currency,
                    lines,
                    shipping_address: address,
                    tracking_token,
                })
            }
            _ => None,
        };
        errors.finish(command)
    }
}

impl ModifyOrderRequest {
    pub fn parse(self) -> Result<ModifyOrder, FieldErrors> {
        let mut errors = FieldErrors::new();
        if self.lines.is_none() && self.shipping_address.is_none() {
            errors.push("/", "give lines, shipping_address, or both");
        }
        let lines = self
            .lines
            .as_deref()
            .map(|lines| parse_lines(lines, &mut errors));
        let address = self
            .shipping_address
            .map(|a| Address::parse(raw_address(a), "/shipping_address", &mut errors));
        let command = ModifyOrder {
            lines: lines.flatten(),
            shipping_address: address.flatten(),
        };
        errors.finish(Some(command))
    }
}

impl CancelOrderRequest {
    pub fn parse(self) -> Result<CancelOrder, FieldErrors> {
        let mut errors = FieldErrors::new();
        let reason = errors.check("/reason", parse_text(&self.reason, MAX_REASON));
        errors.finish(reason.map(|reason| CancelOrder { reason }))
    }
}

impl PickOrderRequest {
    pub fn parse(self) -> Result<PickOrder, FieldErrors> {
        let mut errors = FieldErrors::new();
        let location_id = match &self.location_id {
            Some(raw) => errors
                .check("/location_id", LocationId::parse(raw))
                .map(Some),
            None => Some(None),
        };
        errors.finish(location_id.map(|location_id| PickOrder { location_id }))
    }
}

impl ShipmentRequest {
    pub fn parse(self) -> Result<ShipOrder, FieldErrors> {
        let mut errors = FieldErrors::new();
        let shipment_id = errors.check("/shipment_id", ShipmentId::parse(&self.shipment_id));
        let location_id = errors.check("/location_id", LocationId::parse(&self.location_id));
        let carrier = errors.check("/carrier", parse_text(&self.carrier, MAX_SHORT_TEXT));
        let tracking_number = errors.check(
            "/tracking_number",
            parse_text(&self.tracking_number, MAX_SHORT_TEXT),
        );
        let lines = parse_items(&self.lines, &mut errors);
        let command = match (shipment_id, location_id, carrier, tracking_number, lines) {
            (
                Some(shipment_id),
                Some(location_id),
                Some(carrier),
                Some(tracking_number),
                Some(lines),
            ) => Some(ShipOrder {
                shipment_id,
                location_id,
                carrier,
                tracking_number,
                lines,
            }),
            _ => None,
        };
        errors.finish(command)
    }
}

impl DeliveryRequest {
    pub fn parse(self) -> Result<DeliverShipment, FieldErrors> {
        let mut errors = FieldErrors::new();
        let shipment_id = errors.check("/shipment_id", ShipmentId::parse(&self.shipment_id));
        let delivered_at = errors.check(
            "/delivered_at",
            time::OffsetDateTime::parse(
                &self.delivered_at,
                &time::format_description::well_known::Rfc3339,
            )
            .map_err(|_| "must be an RFC 3339 timestamp, such as 2026-11-27T14:03:00Z"),
        );
        let command = match (shipment_id, delivered_at) {
            (Some(shipment_id), Some(delivered_at)) => Some(DeliverShipment {
                shipment_id,
                delivered_at: delivered_at.to_offset(time::UtcOffset::UTC),
            }),
            _ => None,
        };
        errors.finish(command)
    }
}

impl ReturnRequest {
    pub fn parse(self) -> Result<ReturnItems, FieldErrors> {
        let mut errors = FieldErrors::new();
        let return_id = errors.check("/return_id", ReturnId::parse(&self.return_id));
        let reason = errors.check("/reason", parse_text(&self.reason, MAX_REASON));
        let lines = parse_items(&self.lines, &mut errors);
        let command = match (return_id, reason, lines) {
            (Some(return_id), Some(reason), Some(lines)) => Some(ReturnItems {
                return_id,
                lines,
                reason,
            }),
            _ => None,
        };
        errors.finish(command)
    }
}

fn parse_lines(lines: &[LineRequest], errors: &mut FieldErrors) -> Option<Vec<PricedLine>> {
    let before = errors.iter().count();
    let mut parsed = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let sku = errors.check(&format!("/lines/{i}/sku"), Sku::parse(&line.sku));
        let quantity = errors.check(
            &format!("/lines/{i}/quantity"),
            Quantity::parse(line.quantity),
        );
        let price = errors.check(
            &format!("/lines/{i}/unit_price_minor"),
            parse_unit_price(line.unit_price_minor),
        );
        if let (Some(sku), Some(quantity), Some(unit_price_minor)) = (sku, quantity, price) {
            parsed.push(PricedLine {
                sku,
                quantity,
                unit_price_minor,
            });
        }
    }
    (errors.iter().count() == before).then_some(parsed)
}

fn parse_items(items: &[ItemRequest], errors: &mut FieldErrors) -> Option<Vec<ItemLine>> {
    let before = errors.iter().count();
    let mut parsed = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let sku = errors.check(&format!("/lines/{i}/sku"), Sku::parse(&item.sku));
        let quantity = errors.check(
            &format!("/lines/{i}/quantity"),
            Quantity::parse(item.quantity),
        );
        if let (Some(sku), Some(quantity)) = (sku, quantity) {
            parsed.push(ItemLine { sku, quantity });
        }
    }
    (errors.iter().count() == before).then_some(parsed)
}

fn raw_address(request: AddressRequest) -> RawAddress {
    RawAddress {
        name: request.name,
        line1: request.line1,
        line2: request.line2,
        postal_code: request.postal_code,
        city: request.city,
        country: request.country,
        latitude: request.latitude,
        longitude: request.longitude,
        email: request.email,
        phone: request.phone,
    }
}

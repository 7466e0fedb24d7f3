//! The customer aggregate: only what Ordo must remember about a customer
//! itself, which is when their personal data was erased.

use crate::CustomerId;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A customer's history in Ordo.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub version: u64,
    /// The ids of the data keys destroyed so far (`None` when the key was
    /// gone before its erasure could be recorded).
    pub erased_keys: Vec<Option<String>>,
}

/// Record that a customer's personal data was erased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EraseCustomer {
    pub customer_id: CustomerId,
    pub reason: String,
    /// The id of the data key that was destroyed, when known.
    pub key_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum CustomerEvent {
    /// The customer's data key was destroyed: their personal data in the
    /// ledger can no longer be read. Holds no personal data itself.
    CustomerErased {
        customer_id: CustomerId,
        reason: String,
        key_id: Option<String>,
    },
}

/// Erasing needs no rule beyond idempotency, so nothing can fail; the type
/// exists so the ledger's command loop has an error to carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerError {}

impl fmt::Display for CustomerError {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {}
    }
}

impl std::error::Error for CustomerError {}

impl Customer {
    pub fn is_erased(&self) -> bool {
        !self.erased_keys.is_empty()
    }
}

/// Records an erasure once per destroyed key. A repeated erasure of a key
/// already recorded (or of a customer erased before, when the key id is not
/// known) changes nothing.
pub fn decide_customer(
    customer: &Customer,
    command: EraseCustomer,
) -> Result<Vec<CustomerEvent>, CustomerError> {
    let is_recorded = match &command.key_id {
        Some(key_id) => customer
            .erased_keys
            .iter()
            .any(|k| k.as_deref() == Some(key_id)),
        None => customer.is_erased(),
    };
    if is_recorded {
        return Ok(Vec::new());
    }
    Ok(vec![CustomerEvent::CustomerErased {
        customer_id: command.customer_id,
        reason: command.reason,
        key_id: command.key_id,
    }])
}

/// Applies one customer event.
pub fn evolve_customer(mut customer: Customer, event: &CustomerEvent) -> Customer {
    customer.version += 1;
    match event {
        CustomerEvent::CustomerErased { key_id, .. } => customer.erased_keys.push(key_id.clone()),
    }
    customer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn erase(key_id: Option<&str>) -> EraseCustomer {
        EraseCustomer {
            customer_id: CustomerId::parse("c-1").unwrap(),
            reason: "GDPR Art. 17 request".into(),
            key_id: key_id.map(str::to_owned),
        }
    }

    #[test]
    fn erasing_a_key_is_recorded_once() {
        let events = decide_customer(&Customer::default(), erase(Some("k1"))).unwrap();
        let customer = events.iter().fold(Customer::default(), evolve_customer);
        assert_eq!(decide_customer(&customer, erase(Some("k1"))), Ok(vec![]));
        assert_eq!(decide_customer(&customer, erase(None)), Ok(vec![]));
        assert_eq!(
            decide_customer(&customer, erase(Some("k2"))).unwrap().len(),
            1
        );
    }
}

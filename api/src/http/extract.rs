//! Request extractors: the caller, JSON bodies with field-level errors, and
//! the command headers (`Idempotency-Key`, `If-Match`).

use super::{ApiError, AppState};
use crate::auth::{Caller, Role};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, HeaderMap, Method};
use ordo_ledger::envelope::write_canonical;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The largest request body we accept. A real order with 200 lines fits
/// comfortably; anything bigger is a mistake or an attack.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or(ApiError::Unauthenticated)?;
        let token = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthenticated)?;
        state
            .tokens
            .authenticate(token.trim())
            .ok_or(ApiError::Unauthenticated)
    }
}

impl Caller {
    /// Fails with 403 unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden {
                role: self.role.as_str(),
            })
        }
    }
}

/// A JSON body parsed into `T`, with the digest of the request it came in.
pub struct JsonBody<T> {
    pub value: T,
    /// SHA-256 over method, path and the body's canonical JSON: two requests
    /// with the same digest are the same request, whatever their key order.
    pub digest: String,
}

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|m| m.trim() == "application/json")
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let (method, path) = (request.method().clone(), request.uri().path().to_owned());
        let bytes = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(|_| ApiError::BodyTooLarge {
                limit: MAX_BODY_BYTES,
            })?;
        let json: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
        let digest = request_digest(&state.digest_secret, &method, &path, &json);
        let value = serde_path_to_error::deserialize(json).map_err(|error| {
            let mut path = json_pointer(error.path());
            let message = without_values(&error.into_inner().to_string());
            // serde names a missing field in its message and points at the
            // object that lacks it; we point at the field itself.
            if let Some(field) = missing_field(&message) {
                path = format!("{}/{field}", path.trim_end_matches('/'));
            }
            ApiError::field(&path, message)
        })?;
        Ok(Self { value, digest })
    }
}

/// Drops the quoted value from serde's messages (`invalid type: string
/// "Ada", expected i64`): a misplaced value may be personal data, and error
/// answers end up in logs.
fn without_values(message: &str) -> String {
    let Some(start) = message.find(" \"") else {
        return message.to_owned();
    };
    let Some(end) = message[start + 2..].find('"') else {
        return message.to_owned();
    };
    format!("{}{}", &message[..start], &message[start + 2 + end + 1..])
}

fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// A keyed digest (the secret first, then the request), so that the digest
/// stored in the ledger cannot be used to guess a request's personal data.
fn request_digest(
    secret: &[u8; 32],
    method: &Method,
    path: &str,
    body: &serde_json::Value,
) -> String {
    let mut canonical = String::new();
    write_canonical(body, &mut canonical);
    let mut hasher = Sha256::new();
    hasher.update(secret);
    hasher.update(format!("{method} {path}\n{canonical}").as_bytes());
    hex::encode(hasher.finalize())
}

/// Turns serde's path (`lines[0].quantity`) into a JSON pointer
/// (`/lines/0/quantity`).
fn json_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
            Segment::Map { key } => {
                pointer.push('/');
                pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
            }
            Segment::Enum { variant } => pointer.push_str(&format!("/{variant}")),
            Segment::Unknown => {}
        }
    }
    if pointer.is_empty() {
        "/".to_owned()
    } else {
        pointer
    }
}

/// The headers every command may carry.
#[derive(Debug, Clone, Default)]
pub struct CommandHeaders {
    /// The client's `Idempotency-Key`, as sent.
    pub idempotency_key: Option<String>,
    /// The version named by `If-Match`.
    pub if_match: Option<u64>,
}

impl<S: Send + Sync> FromRequestParts<S> for CommandHeaders {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Self::parse(&parts.headers)
    }
}

impl CommandHeaders {
    fn parse(headers: &HeaderMap) -> Result<Self, ApiError> {
        let mut errors = ordo_domain::FieldErrors::new();
        let idempotency_key = match headers.get("idempotency-key") {
            None => None,
            Some(value) => match value.to_str() {
                Ok(key)
                    if (1..=255).contains(&key.len())
                        && key.bytes().all(|b| b.is_ascii_graphic()) =>
                {
                    Some(key.to_owned())
                }
                _ => {
                    errors.push(
                        "/headers/Idempotency-Key",
                        "must be 1 to 255 visible ASCII characters",
                    );
                    None
                }
            },
        };
        let if_match = match headers.get(header::IF_MATCH) {
            None => None,
            Some(value) => {
                let parsed = value.to_str().ok().and_then(|v| {
                    v.trim()
                        .strip_prefix('"')?
                        .strip_suffix('"')?
                        .parse::<u64>()
                        .ok()
                });
                if parsed.is_none() {
                    errors.push(
                        "/headers/If-Match",
                        "must be a quoted version, such as \"3\"",
                    );
                }
                parsed
            }
        };
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors.into_vec()));
        }
        Ok(Self {
            idempotency_key,
            if_match,
        })
    }
}

/// `?min_position=N`: answer only once the read model has reached N.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Consistency {
    /// Wait (up to 5 s) until the read model has applied this position.
    pub min_position: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_are_dropped_from_messages() {
        let message = "invalid type: string \"Ada Lovelace\", expected i64";
        assert_eq!(
            without_values(message),
            "invalid type: string, expected i64"
        );
        assert_eq!(
            without_values("missing field `lines`"),
            "missing field `lines`"
        );
    }

    #[test]
    fn serde_paths_become_json_pointers() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Line {
            quantity: i64,
        }
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Body {
            lines: Vec<Line>,
        }
        let json = serde_json::json!({"lines": [{"quantity": 1}, {"quantity": "x"}]});
        let error = serde_path_to_error::deserialize::<_, Body>(json).unwrap_err();
        assert_eq!(json_pointer(error.path()), "/lines/1/quantity");
    }
}

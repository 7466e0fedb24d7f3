//! Bearer tokens and roles.
//!
//! A tokens file holds one `<role> <token>` pair per line, `#` starts a
//! comment. We keep only the SHA-256 of each token, and name the caller by its
//! role and a short prefix of that digest, so neither logs nor events ever
//! carry a token.

use anyhow::{bail, Context as _};
use ordo_ledger::{Actor, ActorKind};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;

/// What a caller may do (DESIGN.md, "HTTP API").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Channel,
    Store,
    Erp,
    Auditor,
    Operator,
}

impl Role {
    pub fn parse(raw: &str) -> Option<Role> {
        match raw {
            "channel" => Some(Self::Channel),
            "store" => Some(Self::Store),
            "erp" => Some(Self::Erp),
            "auditor" => Some(Self::Auditor),
            "operator" => Some(Self::Operator),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Channel => "channel",
            Self::Store => "store",
            Self::Erp => "erp",
            Self::Auditor => "auditor",
            Self::Operator => "operator",
        }
    }

    fn actor_kind(self) -> ActorKind {
        match self {
            Self::Channel => ActorKind::Channel,
            Self::Store => ActorKind::Store,
            Self::Erp => ActorKind::Erp,
            Self::Auditor => ActorKind::Auditor,
            Self::Operator => ActorKind::Operator,
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub role: Role,
    /// Non-secret and stable: `<role>-<first 12 hex digits of the token's SHA-256>`.
    pub id: String,
}

impl Caller {
    pub fn actor(&self) -> Actor {
        Actor {
            kind: self.role.actor_kind(),
            id: self.id.clone(),
        }
    }
}

/// The accepted tokens, by digest.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    by_digest: HashMap<[u8; 32], Caller>,
}

/// The tokens `serve --dev` accepts when no tokens file is given.
pub const DEV_TOKENS: &[(&str, &str)] = &[
    ("channel", "dev-channel-token"),
    ("store", "dev-store-token"),
    ("erp", "dev-erp-token"),
    ("auditor", "dev-auditor-token"),
    ("operator", "dev-operator-token"),
];

impl Tokens {
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (Role, &'a str)>) -> Self {
        let mut tokens = Self::default();
        for (role, token) in pairs {
            tokens.insert(role, &SecretString::from(token.to_owned()));
        }
        tokens
    }

    pub fn dev() -> Self {
        Self::from_pairs(
            DEV_TOKENS
                .iter()
                .filter_map(|(role, token)| Some((Role::parse(role)?, *token))),
        )
    }

    /// Reads a tokens file; any malformed line fails the start with its number.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("read tokens file {}", path.display()))?;
        let mut tokens = Self::default();
        for (index, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut parts = line.split_whitespace();
            let (Some(role), Some(token), None) = (parts.next(), parts.next(), parts.next()) else {
                bail!(
                    "tokens file {} line {}: expected `<role> <token>`",
                    path.display(),
                    index + 1
                );
            };
            let Some(role) = Role::parse(role) else {
                bail!(
                    "tokens file {} line {}: unknown role {role:?}",
                    path.display(),
                    index + 1
                );
            };
            if token.len() < 16 {
                bail!(
                    "tokens file {} line {}: tokens need at least 16 characters",
                    path.display(),
                    index + 1
                );
            }
            tokens.insert(role, &SecretString::from(token.to_owned()));
        }
        if tokens.by_digest.is_empty() {
            bail!("tokens file {} holds no tokens", path.display());
        }
        Ok(tokens)
    }

    fn insert(&mut self, role: Role, token: &SecretString) {
        let digest: [u8; 32] = Sha256::digest(token.expose_secret().as_bytes()).into();
        let id = format!("{}-{}", role.as_str(), &hex::encode(digest)[..12]);
        self.by_digest.insert(digest, Caller { role, id });
    }

    /// The caller a bearer token belongs to.
    pub fn authenticate(&self, token: &str) -> Option<Caller> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.by_digest.get(&digest).cloned()
    }
}

//! Ordo's HTTP API and the `ordo` binary's subcommands.
//!
//! - [`app`]: startup wiring; one function per subcommand (`serve`,
//!   `migrate`), each taking its listener and shutdown signal.
//! - [`bench`]: `ordo bench`, Ordo's figures beside the raw servers'.
//! - [`cli`]: the command line of the `ordo` binary.
//! - [`config`]: typed configuration from `ORDO_*` variables.
//! - [`audit`]: `ordo verify` and `ordo replay`.
//! - [`auth`]: bearer tokens and roles.
//! - [`demo`]: demo orders for `serve --demo`.
//! - [`export`]: the ERP export files and manifest (`ordo export erp`).
//! - [`http`]: the axum router, extractors, problem+json errors and the
//!   resources (orders, tracking, health, OpenAPI).
//! - [`telemetry`]: the tracing subscriber.
//! - [`output`]: the one module that prints to standard output.

pub mod app;
pub mod audit;
pub mod auth;
pub mod bench;
pub mod cli;
pub mod config;
pub mod demo;
pub mod export;
pub mod http;
pub mod output;
pub mod telemetry;

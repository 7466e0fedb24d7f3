#![allow(clippy::unwrap_used)] // tests state their expectations by panicking
//! End-to-end tests against real NATS and PostgreSQL, one binary so the
//! workspace links once.

mod e2e {
    mod audit;
    mod bad_input;
    mod bench;
    mod export;
    mod kill;
    mod orders;
    mod personal;
    mod projector;
    mod rebuild;
    mod routing;
}

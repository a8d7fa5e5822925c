//! Canopy's integration tests: one binary (matklad, "Delete Cargo
//! Integration Tests"). Every test drives a real server over HTTP, or the
//! real `canopy` binary, and asserts what a user would see.

mod accounts;
mod admin_figures;
mod balls;
mod bill_vouchers;
mod browser;
mod campaigns;
mod challenges;
mod checkins;
mod cli;
mod concurrency;
mod consent;
mod coplanting;
mod edge;
mod energy_events;
mod faults;
mod friends;
mod game_properties;
mod harness;
mod ingestion;
mod leaderboards;
mod ledger;
mod medals;
mod meters;
mod methodologies;
mod openadr;
mod openadr_subscriptions;
mod openapi;
mod partner_hardening;
mod partners;
mod process;
mod properties;
mod redemption;
mod redemption_properties;
mod reports;
mod scale_out;
mod schemathesis;
mod settlement;
mod vouchers;
mod web;
mod web_admin;
mod web_connections;
mod web_friends;
mod web_history;
mod webpage;

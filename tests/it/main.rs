//! Integration tests: one binary, one module per capability. They start the real daemon on a free
//! port with a temporary data directory.

mod alert_messages;
mod alerting;
mod alertmanager_risks;
mod api;
mod browser;
mod check;
mod cli;
mod code_map;
mod dashboard;
mod delivery;
mod demo;
mod docs;
mod durability;
mod email_screens;
mod feedback;
mod harness;
mod heartbeat;
mod helpers;
mod monitoring;
mod notify;
mod plans;
mod probes;
mod reload;
mod reports;
mod review;
mod rules;
mod runbook;
mod smtp;
mod status_page;
mod store_trouble;
mod storms;
mod targets;
mod updates;

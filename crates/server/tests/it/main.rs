//! Integration tests: the real server, started in this process on a free loopback port with its own data
//! directory, driven over HTTPS. One test binary for the whole crate keeps linking cheap.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod attack_directory;
mod attack_escalation;
mod attack_flows;
mod attack_lockout;
mod attack_objects;
mod attack_review;
mod attack_transport;
mod audit_log;
mod authorization;
mod certificates;
mod events;
mod firewall;
mod full_backup;
mod graph_tools;
mod harness;
mod keys;
mod lifecycle;
mod limits;
mod managed_hsm;
mod managed_hsm_arm;
mod management;
mod metrics;
mod portal;
mod provisioning;
mod resource_manager;
mod security;
mod security_domain;
mod storage;
mod test_controls;
mod token_service;
mod tools_signin;
mod vault;

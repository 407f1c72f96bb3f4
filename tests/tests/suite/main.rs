//! The end-to-end suite: one test binary (one link on 2 cores), one module per area.

#[macro_use]
mod both_stores;

mod admin_cli;
mod bad_input;
mod connections;
mod console;
mod console_team;
mod disk_full;
mod failover;
mod flows;
mod h5;
mod limits;
mod multi_instance;
mod redis_tls;
mod sessions;
mod store_contract;
mod team;
mod wechat;

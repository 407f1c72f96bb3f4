//! The end-to-end suite: one test binary (one link on 2 cores), one module per area.

mod bad_input;
mod connections;
mod console;
mod flows;
mod h5;
mod multi_instance;
mod store_contract;
mod wechat;

//! Console clients from many loopback addresses. The server allows each address 120 new scenes a
//! minute (and a Redis store remembers that across server restarts), so the benchmark, which creates
//! tens of thousands, spreads them over addresses 127.1.x.y, each used for at most
//! [`SCENES_PER_ADDRESS`] scenes and never twice in one run.

use std::net::{IpAddr, Ipv4Addr};

use reqwest::Client;

use crate::api;
use crate::error::BenchError;

/// Below the server's limit of 120 a minute, with room for the odd retry.
pub const SCENES_PER_ADDRESS: usize = 100;
/// Addresses 127.1.0.1 to 127.1.255.250.
const ADDRESSES: u32 = 256 * 250;

#[derive(Default)]
pub struct Consoles {
    next_address: u32,
}

impl Consoles {
    /// One client per `SCENES_PER_ADDRESS` scenes, each from an address not used before.
    pub fn clients_for(&mut self, scenes: usize) -> Result<Vec<Client>, BenchError> {
        (0..scenes.div_ceil(SCENES_PER_ADDRESS))
            .map(|_| self.next_client())
            .collect()
    }

    /// A client from an address not used before.
    pub fn next_client(&mut self) -> Result<Client, BenchError> {
        let index = self.next_address;
        if index >= ADDRESSES {
            return Err(BenchError::OutOfAddresses { count: ADDRESSES });
        }
        self.next_address += 1;
        // Both parts fit a byte: index / 250 < 256 and index % 250 + 1 <= 250.
        let (high, low) = ((index / 250) as u8, (index % 250 + 1) as u8);
        let address = Ipv4Addr::new(127, 1, high, low);
        api::client(Some(IpAddr::V4(address)))
    }
}

//! `faultline cleanup`: reclaim what dead runs left on this machine and
//! on their SSH nodes (see `node::reclaim`).

use anyhow::Result;

pub fn run() -> Result<u8> {
    let done = crate::node::reclaim::cleanup(true)?;
    if done.is_empty() {
        println!("nothing to clean up");
    }
    for line in done {
        println!("{line}");
    }
    Ok(0)
}

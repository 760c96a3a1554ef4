//! The command line the example servers share: `[ADDRESS] [PORT] ...`.

use std::net::IpAddr;

/// Reads `[ADDRESS] [PORT]` from the front of `args`: `127.0.0.1` and
/// `default_port` when missing. Exits with a message on a bad value.
pub fn address_and_port(
    args: &mut impl Iterator<Item = String>,
    default_port: u16,
) -> (IpAddr, u16) {
    let address = args.next().map_or(IpAddr::from([127, 0, 0, 1]), |text| {
        text.parse()
            .unwrap_or_else(|_| exit(&format!("ADDRESS must be an IP address, not {text:?}")))
    });
    let port = args.next().map_or(default_port, |text| {
        text.parse().unwrap_or_else(|_| {
            exit(&format!(
                "PORT must be a number from 0 to 65535, not {text:?}"
            ))
        })
    });
    (address, port)
}

fn exit(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(2);
}

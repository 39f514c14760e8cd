//! The "null relay": the least work any user-space proxy hop can do. Each accepted connection
//! gets a connection to the target and two blocking threads, each of which only reads from one
//! socket and writes what it read to the other (no HTTP parsing, no event loop, no timers).
//! `bench/run.sh` puts it in its tables as the floor for one hop on this machine: what a proxy
//! costs before it does anything a proxy is for.

use crate::setup::Error;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread;

/// Read buffer per direction, as large as harp's streaming buffers.
const BUF: usize = 64 * 1024;

/// Listens on 127.0.0.1:0, prints `READY http://<addr>`, relays to `to` until killed.
pub fn run(to: SocketAddr) -> Result<(), Error> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    println!("READY http://{}", listener.local_addr()?);
    for client in listener.incoming() {
        let Ok(client) = client else { continue };
        thread::spawn(move || serve(client, to));
    }
    Ok(())
}

fn serve(client: TcpStream, to: SocketAddr) {
    let Ok(upstream) = TcpStream::connect(to) else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (Ok(client2), Ok(upstream2)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let up = thread::spawn(move || copy(client, upstream));
    copy(upstream2, client2);
    let _ = up.join();
}

/// Copies until end of stream or an error, then half-closes the destination.
fn copy(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0u8; BUF];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

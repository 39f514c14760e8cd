//! A keep-alive HTTP/1.1 client connection (hyper's), for scenarios that need per-request
//! control: which cookie each request carries, and each request's own latency.

use crate::setup::Error;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use tokio::net::TcpStream;

pub struct Conn {
    addr: SocketAddr,
    send: SendRequest<Empty<Bytes>>,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Result<Self, Error> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(Conn { addr, send })
    }

    /// GET `path` with extra headers; the status, after reading the whole body.
    pub async fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> Result<u16, Error> {
        let mut req = http::Request::get(path).header("host", self.addr.to_string());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send.ready().await?;
        let resp = self.send.send_request(req.body(Empty::new())?).await?;
        let status = resp.status().as_u16();
        resp.into_body().collect().await?;
        Ok(status)
    }
}

//! Authentication the way Meilisearch does it, plus the admin key for
//! `/_miroir/*`. Keys are compared in constant time.

use miroir_io::{Request, Response};
use subtle::ConstantTimeEq;

/// How a client request is presented to the nodes.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientAuth<'a> {
    /// The client holds the master key (or none is configured): Miroir talks
    /// to the nodes with the node master key.
    Master,
    /// Any other key: an API key or tenant token created through Miroir with
    /// the same value on every node. It is forwarded unchanged and the nodes
    /// enforce its rights.
    Forward(&'a [u8]),
}

pub fn keys_equal(given: &[u8], expected: &[u8]) -> bool {
    given.ct_eq(expected).into()
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer_token<'a>(req: &Request<'a>) -> Option<&'a [u8]> {
    let value = req.header("authorization")?;
    let rest = value
        .strip_prefix(b"Bearer ")
        .or_else(|| value.strip_prefix(b"bearer "))?;
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

pub fn missing_authorization() -> Response {
    Response::error(
        401,
        "missing_authorization_header",
        "auth",
        "The Authorization header is missing. It must use the bearer authorization method.",
    )
}

pub fn invalid_api_key() -> Response {
    Response::error(
        403,
        "invalid_api_key",
        "auth",
        "The provided API key is invalid.",
    )
}

/// Client routes: open without a master key; with one, a bearer token is
/// required (401 without), and anything but the master key is forwarded.
pub fn client<'a>(req: &Request<'a>, master_key: &str) -> Result<ClientAuth<'a>, Response> {
    if master_key.is_empty() {
        return Ok(ClientAuth::Master);
    }
    let token = bearer_token(req).ok_or_else(missing_authorization)?;
    if keys_equal(token, master_key.as_bytes()) {
        Ok(ClientAuth::Master)
    } else {
        Ok(ClientAuth::Forward(token))
    }
}

/// `/_miroir/*`: the admin key as a bearer token or in `X-Admin-Key`.
pub fn admin(req: &Request<'_>, admin_key: &str) -> Result<(), Response> {
    if admin_key.is_empty() {
        return Ok(());
    }
    let token = req
        .header("x-admin-key")
        .map(<[u8]>::trim_ascii)
        .or_else(|| bearer_token(req))
        .ok_or_else(missing_authorization)?;
    if keys_equal(token, admin_key.as_bytes()) {
        Ok(())
    } else {
        Err(invalid_api_key())
    }
}

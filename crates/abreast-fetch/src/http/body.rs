//! Reading a response body within limits: decompression by Content-Encoding, a cap on the
//! decoded size, an early stop at the end of `<head>`, and counting without keeping when
//! nothing is extracted.
//!
//! Both HTTP stacks (blocking and async) push the raw bytes they read into a [`BodySink`]. The
//! sink decodes gzip, deflate, brotli and zstd as a stream into a buffer that refuses to grow
//! past the cap, so a compression bomb stops after `max_bytes` of output, having cost only that.
//! The same code serves every mode, so every mode keeps the same bytes of the same page.
//!
//! A body that needs no decoding and comes whole in one piece of the async client's read
//! buffer (most pages of tens of kilobytes) is kept as that piece ([`BodyBytes::Shared`]), not
//! copied: the piece is already the whole body, so a copy would only spend CPU and memory
//! bandwidth on every page. With head-only, so is a first piece that holds the end of the head,
//! which is all the body needed.
//!
//! Body buffers are recycled: [`recycle`] takes back a buffer whose page has been extracted,
//! and the next sink starts from it. Without this, every page of a run allocates a fresh
//! buffer of its size that the allocator hands back to the kernel when it is freed, so each
//! 64 KiB page paid sixteen page faults. The spares are bounded (at most [`SPARE_BYTES`] in all,
//! none over [`SPARE_LARGEST`]) and freed when a run ends.

use std::io::{self, Write};
use std::sync::Mutex;

use crate::page::{Body, BodyBytes, Extraction};

/// Bytes of spare body buffers kept for reuse, at most.
pub const SPARE_BYTES: usize = 2 * 1024 * 1024;

/// The largest buffer kept for reuse; a larger one is freed.
pub const SPARE_LARGEST: usize = 1024 * 1024;

/// The capacity a sink's buffer starts with (or its cap, if that is smaller).
const FIRST_CAPACITY: usize = 64 * 1024;

/// Empty body buffers kept for reuse, and the sum of their capacities.
#[derive(Debug)]
struct Spares {
    buffers: Vec<Vec<u8>>,
    bytes: usize,
}

impl Spares {
    /// Keeps `buffer`, emptied, if it is of a reusable size and there is room for it.
    fn put(&mut self, mut buffer: Vec<u8>) {
        let capacity = buffer.capacity();
        if (FIRST_CAPACITY..=SPARE_LARGEST).contains(&capacity)
            && self.bytes + capacity <= SPARE_BYTES
        {
            buffer.clear();
            self.bytes += capacity;
            self.buffers.push(buffer);
        }
    }

    /// A kept buffer, if there is one.
    fn take(&mut self) -> Option<Vec<u8>> {
        let buffer = self.buffers.pop()?;
        self.bytes -= buffer.capacity();
        Some(buffer)
    }
}

/// The process's spare body buffers.
static SPARES: Mutex<Spares> = Mutex::new(Spares {
    buffers: Vec::new(),
    bytes: 0,
});

/// Hands back a body's buffer once its page has been extracted, so a later body reuses it.
pub fn recycle(buffer: Vec<u8>) {
    SPARES.lock().unwrap_or_else(|p| p.into_inner()).put(buffer);
}

/// Frees the spare buffers when dropped. A run holds one from its start, so the spares go on
/// every way out of it: kept between runs, a few spares would pin the allocator's heaps at the
/// size of the run's busiest moment.
#[derive(Debug)]
pub(crate) struct SparesFreedAtEnd;

impl Drop for SparesFreedAtEnd {
    fn drop(&mut self) {
        free_spares();
    }
}

/// Frees the spare buffers.
fn free_spares() {
    let buffers = {
        let mut spares = SPARES.lock().unwrap_or_else(|p| p.into_inner());
        spares.bytes = 0;
        std::mem::take(&mut spares.buffers)
    };
    drop(buffers); // freed outside the lock
}

/// An empty buffer for a body capped at `max_bytes`: a spare if there is one, else a new one.
fn body_buffer(max_bytes: usize) -> Vec<u8> {
    let first = max_bytes.min(FIRST_CAPACITY);
    let spare = (first == FIRST_CAPACITY)
        .then(|| SPARES.lock().unwrap_or_else(|p| p.into_inner()).take())
        .flatten();
    spare.unwrap_or_else(|| Vec::with_capacity(first))
}

/// A Content-Encoding the sink can decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// No encoding (`identity`, or no header).
    Identity,
    /// `gzip` / `x-gzip`.
    Gzip,
    /// `deflate` (zlib-wrapped, as HTTP specifies).
    Deflate,
    /// `br`.
    Brotli,
    /// `zstd`.
    Zstd,
}

impl Encoding {
    /// The encoding named by a Content-Encoding header value; an error names what is unknown.
    /// A chain of encodings (`gzip, br`) is not supported: servers do not send one unasked.
    pub fn from_header(value: Option<&str>) -> Result<Encoding, UnsupportedEncoding> {
        let Some(value) = value else {
            return Ok(Encoding::Identity);
        };
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "identity" => Ok(Encoding::Identity),
            "gzip" | "x-gzip" => Ok(Encoding::Gzip),
            "deflate" => Ok(Encoding::Deflate),
            "br" => Ok(Encoding::Brotli),
            "zstd" => Ok(Encoding::Zstd),
            other => Err(UnsupportedEncoding(other.to_owned())),
        }
    }
}

/// A Content-Encoding the sink cannot decode (the record's error is of kind `decode`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unsupported Content-Encoding {0:?} (abreast decodes gzip, deflate, br and zstd, and asks for no other)"
)]
pub struct UnsupportedEncoding(pub String);

/// The Accept-Encoding header both HTTP stacks send.
pub const ACCEPT_ENCODING: &str = "gzip, deflate, br, zstd";

/// A buffer that refuses bytes past its cap, remembering that it did; with `keep` false it
/// only counts them.
#[derive(Debug)]
struct CappedBuffer {
    bytes: Vec<u8>,
    /// Bytes taken, kept or not.
    length: usize,
    keep: bool,
    cap: usize,
    full: bool,
}

impl Write for CappedBuffer {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = self.cap - self.length;
        if room == 0 && !data.is_empty() {
            self.full = true;
            return Err(io::Error::other("body cap reached"));
        }
        let taken = data.len().min(room);
        if self.keep {
            if self.bytes.capacity() == 0 {
                self.bytes = body_buffer(self.cap);
            }
            self.bytes.extend_from_slice(&data[..taken]);
        }
        self.length += taken;
        if taken < data.len() {
            self.full = true;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The decoder chain in front of the buffer.
enum Decoder {
    Identity(CappedBuffer),
    Gzip(Box<flate2::write::GzDecoder<CappedBuffer>>),
    Deflate(Box<flate2::write::ZlibDecoder<CappedBuffer>>),
    Brotli(Box<brotli::DecompressorWriter<CappedBuffer>>),
    Zstd(Box<zstd::stream::write::Decoder<'static, CappedBuffer>>),
}

impl Decoder {
    fn buffer(&self) -> &CappedBuffer {
        match self {
            Decoder::Identity(buffer) => buffer,
            Decoder::Gzip(decoder) => decoder.get_ref(),
            Decoder::Deflate(decoder) => decoder.get_ref(),
            Decoder::Brotli(decoder) => decoder.get_ref(),
            Decoder::Zstd(decoder) => decoder.get_ref(),
        }
    }

    fn buffer_mut(&mut self) -> &mut CappedBuffer {
        match self {
            Decoder::Identity(buffer) => buffer,
            Decoder::Gzip(decoder) => decoder.get_mut(),
            Decoder::Deflate(decoder) => decoder.get_mut(),
            Decoder::Brotli(decoder) => decoder.get_mut(),
            Decoder::Zstd(decoder) => decoder.get_mut(),
        }
    }

    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Decoder::Identity(buffer) => buffer.write_all(data),
            Decoder::Gzip(decoder) => decoder.write_all(data),
            Decoder::Deflate(decoder) => decoder.write_all(data),
            Decoder::Brotli(decoder) => decoder.write_all(data),
            Decoder::Zstd(decoder) => decoder.write_all(data),
        }
    }

    fn finish(self) -> io::Result<CappedBuffer> {
        match self {
            Decoder::Identity(buffer) => Ok(buffer),
            Decoder::Gzip(decoder) => decoder.finish(),
            Decoder::Deflate(decoder) => decoder.finish(),
            Decoder::Brotli(decoder) => decoder
                .into_inner()
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "truncated brotli stream")),
            Decoder::Zstd(mut decoder) => {
                decoder.flush()?;
                Ok(decoder.into_inner())
            }
        }
    }
}

/// Whether the caller should keep reading the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep reading.
    More,
    /// Stop: the cap is reached, or (with head-only) the head is complete.
    Enough,
}

/// After `--head-only` has what it needs, the rest of a body is read and dropped when it is at
/// most this many raw bytes, so its connection serves the next request; a longer rest (known
/// from Content-Length, or not ended within this many bytes) closes the connection instead.
///
/// Closing costs a new connection for the next request to that host: a TCP handshake (and a TLS
/// one for https), a round trip or three. Reading a rest of this size costs less than that on
/// loopback (where a 64 KiB page's rest is read in microseconds), and far less across a network,
/// where one round trip carries hundreds of kilobytes; a body of megabytes is still cut short.
pub const HEAD_ONLY_DRAIN: u64 = 256 * 1024;

/// Whether the rest of a body, `remaining` raw bytes where its length is known, is read to keep
/// the connection (see [`HEAD_ONLY_DRAIN`]).
pub(crate) fn worth_draining(remaining: Option<u64>) -> bool {
    remaining.is_none_or(|remaining| remaining <= HEAD_ONLY_DRAIN)
}

/// Whether `bytes` contain `</head` or `<body` (ASCII case-insensitive): where a head-only
/// read stops.
fn ends_head(bytes: &[u8]) -> bool {
    bytes.windows(6).any(|window| {
        window.eq_ignore_ascii_case(b"</head") || window[..5].eq_ignore_ascii_case(b"<body")
    })
}

/// Where a response's raw bytes go: see the [module docs](self).
pub struct BodySink {
    decoder: Decoder,
    /// The body so far when it came as one piece that needs no decoding (see
    /// [`BodySink::push_shared`]); the decoder's buffer is then empty.
    whole: Option<bytes::Bytes>,
    head_only: bool,
    /// How far the search for the end of `<head>` has got.
    head_scan: usize,
    head_done: bool,
}

impl std::fmt::Debug for BodySink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodySink")
            .field("decoded", &self.decoder.buffer().length)
            .field("cap", &self.decoder.buffer().cap)
            .finish_non_exhaustive()
    }
}

impl BodySink {
    /// A sink decoding `encoding`, reading at most `max_bytes` decoded bytes; with
    /// [`Extraction::HeadOnly`] it asks to stop once the document's `<head>` is complete, and
    /// with [`Extraction::Off`] it counts the bytes without keeping them.
    pub fn new(encoding: Encoding, max_bytes: usize, extraction: Extraction) -> BodySink {
        let keep = extraction != Extraction::Off;
        let buffer = CappedBuffer {
            // Made (or taken from the spares) at the first byte kept.
            bytes: Vec::new(),
            length: 0,
            keep,
            cap: max_bytes,
            full: false,
        };
        let decoder = match encoding {
            Encoding::Identity => Decoder::Identity(buffer),
            Encoding::Gzip => Decoder::Gzip(Box::new(flate2::write::GzDecoder::new(buffer))),
            Encoding::Deflate => {
                Decoder::Deflate(Box::new(flate2::write::ZlibDecoder::new(buffer)))
            }
            Encoding::Brotli => {
                Decoder::Brotli(Box::new(brotli::DecompressorWriter::new(buffer, 16 * 1024)))
            }
            Encoding::Zstd => match zstd::stream::write::Decoder::new(buffer) {
                Ok(decoder) => Decoder::Zstd(Box::new(decoder)),
                // Creating a zstd context only fails when memory is exhausted.
                Err(_) => panic!("could not allocate a zstd decoder"),
            },
        };
        BodySink {
            decoder,
            whole: None,
            head_only: extraction == Extraction::HeadOnly,
            head_scan: 0,
            head_done: false,
        }
    }

    /// [`push`](Self::push) for a piece of the HTTP client's read buffer: where the body needs
    /// no decoding and this is its first piece, it is kept as it is, not copied. Most bodies of
    /// up to tens of kilobytes come in one piece; a second one copies the first into a buffer.
    /// With head-only, a first piece that holds the end of the head is kept as it is too, and is
    /// all the body the sink asks for.
    pub fn push_shared(&mut self, raw: bytes::Bytes) -> Result<Flow, String> {
        let buffer = self.decoder.buffer();
        let whole_piece = matches!(self.decoder, Decoder::Identity(_))
            && buffer.keep
            && buffer.length == 0
            && self.whole.is_none()
            && raw.len() < buffer.cap;
        if whole_piece {
            let mut enough = false;
            if self.head_only {
                enough = ends_head(&raw);
                // Searched already: copied in with a next piece, it is not searched again.
                self.head_scan = raw.len();
            }
            self.whole = Some(raw);
            return Ok(if enough { Flow::Enough } else { Flow::More });
        }
        if let Some(first) = self.whole.take() {
            self.push(&first)?;
        }
        self.push(&raw)
    }

    /// Takes the next raw bytes of the body. An error means the encoding is corrupt.
    pub fn push(&mut self, raw: &[u8]) -> Result<Flow, String> {
        if let Err(error) = self.decoder.write_all(raw)
            && !self.decoder.buffer().full
        {
            return Err(format!("could not decode the body: {error}"));
        }
        if self.decoder.buffer().full {
            return Ok(Flow::Enough);
        }
        if self.head_only && self.head_complete() {
            return Ok(Flow::Enough);
        }
        Ok(Flow::More)
    }

    /// True once the decoded bytes contain `</head` or `<body` (ASCII case-insensitive).
    fn head_complete(&mut self) -> bool {
        let bytes = &self.decoder.buffer().bytes;
        // Re-scan a few bytes of the previous chunk so a marker split across chunks is found.
        let from = self.head_scan.saturating_sub(6);
        let found = ends_head(&bytes[from..]);
        self.head_scan = bytes.len();
        self.head_done |= found;
        found
    }

    /// Ends the body. `complete` says whether the transport delivered it all; a corrupt tail of
    /// a complete body is an error, while a stopped one is simply truncated.
    pub fn finish(mut self, complete: bool) -> Result<Body, String> {
        if let Some(whole) = self.whole.take() {
            return Ok(Body {
                length: whole.len(),
                bytes: BodyBytes::Shared(whole),
                truncated: !complete,
            });
        }
        let full = self.decoder.buffer().full;
        if full || self.head_done || !complete {
            // Stopped early: keep what was decoded; the decoder's end state does not matter.
            let buffer = self.decoder.buffer_mut();
            return Ok(Body {
                bytes: BodyBytes::Owned(std::mem::take(&mut buffer.bytes)),
                length: buffer.length,
                truncated: full || !complete,
            });
        }
        let buffer = self
            .decoder
            .finish()
            .map_err(|error| format!("could not decode the end of the body: {error}"))?;
        Ok(Body {
            truncated: buffer.full,
            length: buffer.length,
            bytes: BodyBytes::Owned(buffer.bytes),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spares_keep_reusable_buffers_up_to_their_bound() {
        let mut spares = Spares {
            buffers: Vec::new(),
            bytes: 0,
        };
        spares.put(Vec::with_capacity(FIRST_CAPACITY / 2)); // too small to serve a page
        spares.put(Vec::with_capacity(SPARE_LARGEST + 1)); // too large to keep
        assert!(spares.take().is_none());
        let mut used = Vec::with_capacity(FIRST_CAPACITY);
        used.extend_from_slice(b"<html>");
        spares.put(used);
        let reused = spares.take().expect("the buffer was kept");
        assert!(reused.is_empty() && reused.capacity() >= FIRST_CAPACITY);
        for _ in 0..2 * SPARE_BYTES / SPARE_LARGEST {
            spares.put(Vec::with_capacity(SPARE_LARGEST));
        }
        assert!(spares.bytes <= SPARE_BYTES);
        assert_eq!(spares.buffers.len(), SPARE_BYTES / SPARE_LARGEST);
        while spares.take().is_some() {}
        assert_eq!(spares.bytes, 0);
    }

    fn compress(encoding: Encoding, data: &[u8]) -> Vec<u8> {
        match encoding {
            Encoding::Identity => data.to_vec(),
            Encoding::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Encoding::Deflate => {
                let mut e =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Encoding::Brotli => {
                let mut out = Vec::new();
                {
                    let mut e = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
                    e.write_all(data).unwrap();
                }
                out
            }
            Encoding::Zstd => zstd::encode_all(data, 3).unwrap(),
        }
    }

    const ALL: [Encoding; 5] = [
        Encoding::Identity,
        Encoding::Gzip,
        Encoding::Deflate,
        Encoding::Brotli,
        Encoding::Zstd,
    ];

    fn feed(sink: &mut BodySink, raw: &[u8]) -> Flow {
        for chunk in raw.chunks(1000) {
            if sink.push(chunk).unwrap() == Flow::Enough {
                return Flow::Enough;
            }
        }
        Flow::More
    }

    /// A page of 50 KB, its head first.
    fn long_page() -> Vec<u8> {
        let mut page = b"<html><head><title>t</title></head><body>".to_vec();
        page.resize(page.len() + 50_000, b'x');
        page
    }

    #[test]
    fn every_encoding_round_trips() {
        let page = long_page();
        for encoding in ALL {
            let mut sink = BodySink::new(encoding, 1 << 20, Extraction::Full);
            assert_eq!(feed(&mut sink, &compress(encoding, &page)), Flow::More);
            let body = sink.finish(true).unwrap();
            assert_eq!(*body.bytes, page[..], "{encoding:?}");
            assert_eq!(body.length, page.len());
            assert!(!body.truncated);
        }
    }

    #[test]
    fn a_compression_bomb_stops_at_the_cap() {
        let zeros = vec![0u8; 64 << 20];
        for encoding in ALL {
            let bomb = compress(encoding, &zeros);
            let mut sink = BodySink::new(encoding, 100_000, Extraction::Full);
            assert_eq!(feed(&mut sink, &bomb), Flow::Enough, "{encoding:?}");
            let body = sink.finish(true).unwrap();
            assert_eq!(body.bytes.len(), 100_000, "{encoding:?}");
            assert!(body.truncated);
        }
    }

    #[test]
    fn without_extraction_bodies_are_decoded_and_counted_but_not_kept() {
        let page = long_page();
        for encoding in ALL {
            let mut sink = BodySink::new(encoding, 1 << 20, Extraction::Off);
            assert_eq!(feed(&mut sink, &compress(encoding, &page)), Flow::More);
            let body = sink.finish(true).unwrap();
            assert!(
                matches!(&body.bytes, BodyBytes::Owned(bytes) if bytes.capacity() == 0),
                "{encoding:?}"
            );
            assert_eq!(body.length, page.len(), "{encoding:?}");
            assert!(!body.truncated);
            // The cap and the check of the encoding still apply.
            let mut sink = BodySink::new(encoding, 1000, Extraction::Off);
            assert_eq!(feed(&mut sink, &compress(encoding, &page)), Flow::Enough);
            let body = sink.finish(true).unwrap();
            assert_eq!((body.length, body.truncated), (1000, true), "{encoding:?}");
        }
    }

    /// Asserts that `body` is `piece` itself, not a copy of it.
    fn assert_kept_without_a_copy(body: &Body, piece: &bytes::Bytes) {
        match &body.bytes {
            BodyBytes::Shared(kept) => assert_eq!(kept.as_ptr(), piece.as_ptr(), "not copied"),
            BodyBytes::Owned(_) => panic!("a piece kept whole was copied"),
        }
    }

    #[test]
    fn a_body_in_one_piece_is_kept_without_a_copy_and_two_pieces_are_joined() {
        let page = bytes::Bytes::from(b"<html><title>t</title>".repeat(100));
        let mut sink = BodySink::new(Encoding::Identity, 1 << 20, Extraction::Full);
        assert_eq!(sink.push_shared(page.clone()).unwrap(), Flow::More);
        let body = sink.finish(true).unwrap();
        assert_kept_without_a_copy(&body, &page);
        assert_eq!((body.length, body.truncated), (page.len(), false));

        let (first, second) = (page.slice(..1000), page.slice(1000..));
        let mut sink = BodySink::new(Encoding::Identity, 1 << 20, Extraction::Full);
        sink.push_shared(first).unwrap();
        sink.push_shared(second).unwrap();
        let body = sink.finish(true).unwrap();
        assert!(matches!(body.bytes, BodyBytes::Owned(_)));
        assert_eq!((*body.bytes == page[..], body.length), (true, page.len()));

        // A piece at or over the cap is cut as before; encoded or uncounted bodies take the
        // copying path.
        let mut sink = BodySink::new(Encoding::Identity, 100, Extraction::Full);
        assert_eq!(sink.push_shared(page.clone()).unwrap(), Flow::Enough);
        let body = sink.finish(true).unwrap();
        assert_eq!((body.bytes.len(), body.truncated), (100, true));
        for (encoding, extraction) in [
            (Encoding::Gzip, Extraction::Full),
            (Encoding::Identity, Extraction::Off),
        ] {
            let mut sink = BodySink::new(encoding, 1 << 20, extraction);
            sink.push_shared(compress(encoding, &page).into()).unwrap();
            let body = sink.finish(true).unwrap();
            assert!(matches!(body.bytes, BodyBytes::Owned(_)), "{encoding:?}");
            assert_eq!(body.length, page.len(), "{encoding:?} {extraction:?}");
        }
    }

    #[test]
    fn head_only_keeps_a_first_piece_that_ends_the_head_without_a_copy() {
        let page = bytes::Bytes::from_static(b"<html><head><title>t</title></head><body>rest");
        let mut sink = BodySink::new(Encoding::Identity, 1 << 20, Extraction::HeadOnly);
        assert_eq!(sink.push_shared(page.clone()).unwrap(), Flow::Enough);
        let body = sink.finish(false).unwrap();
        assert_kept_without_a_copy(&body, &page);
        assert_eq!((body.length, body.truncated), (page.len(), true));

        // A first piece without the end of the head is joined to the next, which has it, or
        // has the rest of a `</head` the first piece began.
        for split in [20, 30] {
            let (first, second) = (page.slice(..split), page.slice(split..));
            let mut sink = BodySink::new(Encoding::Identity, 1 << 20, Extraction::HeadOnly);
            assert_eq!(sink.push_shared(first).unwrap(), Flow::More, "{split}");
            assert_eq!(sink.push_shared(second).unwrap(), Flow::Enough, "{split}");
            let body = sink.finish(false).unwrap();
            assert!(matches!(body.bytes, BodyBytes::Owned(_)));
            assert_eq!((&*body.bytes, body.truncated), (&page[..], true));
        }

        // A page with no end of head is read whole, as without head-only.
        let headless = bytes::Bytes::from_static(b"<title>t</title><p>text");
        let mut sink = BodySink::new(Encoding::Identity, 1 << 20, Extraction::HeadOnly);
        assert_eq!(sink.push_shared(headless.clone()).unwrap(), Flow::More);
        let body = sink.finish(true).unwrap();
        assert_eq!((&*body.bytes, body.truncated), (&headless[..], false));
    }

    #[test]
    fn head_only_stops_at_the_end_of_head_even_across_chunks() {
        let page = b"<html><head><title>t</title></HE".to_vec();
        let mut sink = BodySink::new(Encoding::Identity, 1 << 20, Extraction::HeadOnly);
        assert_eq!(sink.push(&page).unwrap(), Flow::More);
        assert_eq!(sink.push(b"AD><body>rest").unwrap(), Flow::Enough);
        let body = sink.finish(false).unwrap();
        assert!(body.truncated);
    }

    #[test]
    fn corrupt_data_is_a_decode_error() {
        // Whether the bytes are kept or only counted.
        for extraction in [Extraction::Full, Extraction::Off] {
            let mut sink = BodySink::new(Encoding::Gzip, 1 << 20, extraction);
            let outcome = sink
                .push(b"this is not gzip at all, not even close")
                .and_then(|_| sink.finish(true).map(|_| Flow::More));
            assert!(outcome.unwrap_err().contains("decode"), "{extraction:?}");
        }
    }

    #[test]
    fn unknown_encodings_are_named() {
        assert_eq!(Encoding::from_header(Some(" GZIP ")), Ok(Encoding::Gzip));
        let error = Encoding::from_header(Some("compress")).unwrap_err();
        assert_eq!(error, UnsupportedEncoding("compress".into()));
        assert!(error.to_string().contains("\"compress\""), "{error}");
    }
}

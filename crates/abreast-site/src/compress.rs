//! Content codings (gzip, br, zstd, deflate) for `/fault/compressed` (a normal page, properly
//! compressed) and `/fault/bomb` (a small body that inflates to gigabytes of zeros). Bombs are
//! expensive to make, so each is computed once, off the async workers, and kept in a small cache.

use std::io::{self, Write};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::OnceCell;

/// An HTTP content coding the site can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentEncoding {
    /// `gzip` (RFC 1952).
    Gzip,
    /// `br`, Brotli (RFC 7932).
    Brotli,
    /// `zstd`, Zstandard (RFC 8878).
    Zstd,
    /// `deflate`: the zlib format (RFC 1950), as HTTP defines it.
    Deflate,
}

impl ContentEncoding {
    /// Every coding, in the order the docs list them.
    pub const ALL: [ContentEncoding; 4] = [Self::Gzip, Self::Brotli, Self::Zstd, Self::Deflate];

    /// The token in `Content-Encoding` and in the routes' `encoding=` parameter.
    pub fn token(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Brotli => "br",
            Self::Zstd => "zstd",
            Self::Deflate => "deflate",
        }
    }

    /// Compresses `data` with a moderate level, as a web server would.
    pub fn compress(self, data: &[u8]) -> Vec<u8> {
        let mut encoder = self.encoder(Vec::new(), Level::Normal);
        encoder
            .write_all(data)
            .expect("writing to a Vec cannot fail");
        encoder.finish().expect("finishing into a Vec cannot fail")
    }

    /// Compresses `size` zero bytes, streaming them through the encoder a mebibyte at a time
    /// so that only the compressed result is ever held.
    pub fn compress_zeros(self, size: u64) -> Vec<u8> {
        const CHUNK: usize = 1 << 20;
        let zeros = vec![0u8; CHUNK];
        let mut encoder = self.encoder(Vec::new(), Level::Best);
        let mut left = size;
        while left > 0 {
            let step = left.min(CHUNK as u64) as usize;
            encoder
                .write_all(&zeros[..step])
                .expect("writing to a Vec cannot fail");
            left -= step as u64;
        }
        encoder.finish().expect("finishing into a Vec cannot fail")
    }

    fn encoder(self, sink: Vec<u8>, level: Level) -> Encoder {
        let best = matches!(level, Level::Best);
        match self {
            Self::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(
                sink,
                if best {
                    flate2::Compression::best()
                } else {
                    flate2::Compression::default()
                },
            )),
            Self::Deflate => Encoder::Deflate(flate2::write::ZlibEncoder::new(
                sink,
                if best {
                    flate2::Compression::best()
                } else {
                    flate2::Compression::default()
                },
            )),
            Self::Brotli => Encoder::Brotli(Box::new(brotli::CompressorWriter::new(
                sink,
                64 * 1024,
                if best { 9 } else { 5 },
                22,
            ))),
            Self::Zstd => Encoder::Zstd(
                zstd::stream::write::Encoder::new(sink, if best { 19 } else { 3 })
                    .expect("zstd accepts levels 3 and 19"),
            ),
        }
    }
}

impl FromStr for ContentEncoding {
    type Err = crate::UnknownName;

    fn from_str(token: &str) -> Result<Self, Self::Err> {
        match token {
            "gzip" => Ok(Self::Gzip),
            "br" | "brotli" => Ok(Self::Brotli),
            "zstd" => Ok(Self::Zstd),
            "deflate" => Ok(Self::Deflate),
            other => Err(crate::UnknownName {
                what: "encoding",
                name: other.to_owned(),
                choices: "gzip, br, zstd or deflate".to_owned(),
            }),
        }
    }
}

enum Level {
    Normal,
    Best,
}

/// One streaming encoder of any coding, writing into a `Vec`.
enum Encoder {
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Deflate(flate2::write::ZlibEncoder<Vec<u8>>),
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

impl Encoder {
    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Self::Gzip(encoder) => encoder.write_all(data),
            Self::Deflate(encoder) => encoder.write_all(data),
            Self::Brotli(encoder) => encoder.write_all(data),
            Self::Zstd(encoder) => encoder.write_all(data),
        }
    }

    fn finish(self) -> io::Result<Vec<u8>> {
        match self {
            Self::Gzip(encoder) => encoder.finish(),
            Self::Deflate(encoder) => encoder.finish(),
            Self::Brotli(mut encoder) => {
                encoder.flush()?;
                Ok(encoder.into_inner())
            }
            Self::Zstd(encoder) => encoder.finish(),
        }
    }
}

/// How many different bombs (coding, size) the cache keeps; the oldest finished one is
/// dropped to make room.
const BOMB_CACHE_ENTRIES: usize = 8;

/// Compressed bombs, computed once per (coding, size) and shared.
#[derive(Debug, Default)]
pub(crate) struct BombCache {
    entries: Mutex<Vec<BombEntry>>,
}

type BombEntry = ((ContentEncoding, u64), Arc<OnceCell<Bytes>>);

impl BombCache {
    /// The bomb that inflates to `size` zeros, computing it on the blocking pool the first time.
    pub(crate) async fn get(&self, encoding: ContentEncoding, size: u64) -> Bytes {
        let cell = {
            let mut entries = self.entries.lock().expect("bomb cache lock poisoned");
            match entries.iter().find(|(key, _)| *key == (encoding, size)) {
                Some((_, cell)) => Arc::clone(cell),
                None => {
                    if entries.len() >= BOMB_CACHE_ENTRIES
                        && let Some(oldest) =
                            entries.iter().position(|(_, cell)| cell.initialized())
                    {
                        entries.remove(oldest);
                    }
                    let cell = Arc::new(OnceCell::new());
                    entries.push(((encoding, size), Arc::clone(&cell)));
                    cell
                }
            }
        };
        cell.get_or_init(|| async move {
            tokio::task::spawn_blocking(move || Bytes::from(encoding.compress_zeros(size)))
                .await
                .expect("compressing zeros does not panic")
        })
        .await
        .clone()
    }
}

#[cfg(test)]
impl BombCache {
    fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn inflate(encoding: ContentEncoding, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match encoding {
            ContentEncoding::Gzip => flate2::read::GzDecoder::new(data)
                .read_to_end(&mut out)
                .unwrap(),
            ContentEncoding::Deflate => flate2::read::ZlibDecoder::new(data)
                .read_to_end(&mut out)
                .unwrap(),
            ContentEncoding::Brotli => brotli::Decompressor::new(data, 4096)
                .read_to_end(&mut out)
                .unwrap(),
            ContentEncoding::Zstd => zstd::stream::read::Decoder::new(data)
                .unwrap()
                .read_to_end(&mut out)
                .unwrap(),
        };
        out
    }

    #[test]
    fn every_coding_round_trips() {
        let text = b"<html><head><title>x</title></head></html>".repeat(100);
        for encoding in ContentEncoding::ALL {
            let packed = encoding.compress(&text);
            assert!(packed.len() < text.len() / 4, "{encoding:?}");
            assert_eq!(inflate(encoding, &packed), text, "{encoding:?}");
            assert_eq!(
                encoding.token().parse::<ContentEncoding>().unwrap(),
                encoding
            );
        }
    }

    #[test]
    fn bombs_are_small_and_inflate_to_zeros() {
        let size = 8 << 20;
        for encoding in ContentEncoding::ALL {
            let bomb = encoding.compress_zeros(size);
            assert!(
                bomb.len() < (size / 500) as usize,
                "{encoding:?}: {}",
                bomb.len()
            );
            let inflated = inflate(encoding, &bomb);
            assert_eq!(inflated.len() as u64, size);
            assert!(inflated.iter().all(|&byte| byte == 0));
        }
    }

    #[tokio::test]
    async fn the_cache_is_bounded_and_reuses() {
        let cache = BombCache::default();
        let first = cache.get(ContentEncoding::Zstd, 1 << 20).await;
        let again = cache.get(ContentEncoding::Zstd, 1 << 20).await;
        assert_eq!(first.as_ptr(), again.as_ptr());
        for size in 0..20 {
            cache.get(ContentEncoding::Zstd, size).await;
        }
        assert!(cache.len() <= BOMB_CACHE_ENTRIES);
    }
}

//! The wire protocol between a pool and its workers: length-prefixed records on a Unix socket.
//!
//! Arguments and results are postcard-encoded by the typed side; this module only frames the
//! bytes, so a 100 MB value costs one copy into the socket and one out. All integers are little
//! endian.
//!
//! ```text
//! parent -> worker   INIT  u8=1, u32 task or u32::MAX, u64 len, bytes      (once, first)
//!                    RUN   u8=2, u32 task, u32 count, count x (u64 len, bytes)
//!                    EXIT  u8=3                                            (then the worker exits 0)
//! worker -> parent   HELLO u64 MAGIC, u64 build hash                       (once, first)
//!                    ITEM  an outcome (below), one per argument of a RUN, in order
//!                    END   u8=255, u64 nanoseconds the RUN took            (after its items)
//! outcome            u8=0 u64 len, bytes | u8=1 str message, u8 has_location, [str location]
//!                    | u8=2 str message (argument codec) | u8=3 str message (result codec)
//!                    | u8=4 str type name, str message (a fallible task's error)
//! str                u32 len, UTF-8 bytes
//! ```
//! The reply to INIT is one outcome (an empty value when the initializer ran, or there is none).

use std::io::{self, Read, Write};

use super::registry::ItemOutcome;

/// Opens every worker's HELLO, so a stray process on the socket is noticed at once.
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"abreast1");
/// "no initializer" in an INIT record.
pub(crate) const NO_TASK: u32 = u32::MAX;

pub(crate) const INIT: u8 = 1;
pub(crate) const RUN: u8 = 2;
pub(crate) const EXIT: u8 = 3;
pub(crate) const END: u8 = 255;

pub(crate) const VALUE: u8 = 0;
const PANICKED: u8 = 1;
const ARGUMENT_CODEC: u8 = 2;
const RESULT_CODEC: u8 = 3;
const FAILED: u8 = 4;

/// Refuses lengths this process cannot hold, instead of trying to allocate them.
fn length(raw: u64) -> io::Result<usize> {
    usize::try_from(raw).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {raw} bytes is too large for this platform"),
        )
    })
}

pub(crate) fn read_u8(reader: &mut impl Read) -> io::Result<u8> {
    let mut bytes = [0; 1];
    reader.read_exact(&mut bytes)?;
    Ok(bytes[0])
}

pub(crate) fn read_u32(reader: &mut impl Read) -> io::Result<u32> {
    let mut bytes = [0; 4];
    reader.read_exact(&mut bytes)?;
    Ok(u32::from_le_bytes(bytes))
}

pub(crate) fn read_u64(reader: &mut impl Read) -> io::Result<u64> {
    let mut bytes = [0; 8];
    reader.read_exact(&mut bytes)?;
    Ok(u64::from_le_bytes(bytes))
}

/// Reads a u64 length and that many bytes.
pub(crate) fn read_bytes(reader: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    read_bytes_into(reader, &mut bytes)?;
    Ok(bytes)
}

/// Values up to this size are read with one `read_exact` into a zeroed buffer; larger ones
/// without zeroing first (growing as they arrive, never beyond the announced length).
const SMALL_VALUE: usize = 64 * 1024;

/// Reads a u64 length and that many bytes into `buffer` (replacing what it held).
pub(crate) fn read_bytes_into(reader: &mut impl Read, buffer: &mut Vec<u8>) -> io::Result<()> {
    let len = length(read_u64(reader)?)?;
    buffer.clear();
    if len <= SMALL_VALUE {
        buffer.resize(len, 0);
        return reader.read_exact(buffer);
    }
    buffer.try_reserve_exact(len).map_err(io::Error::other)?;
    reader.take(len as u64).read_to_end(buffer)?;
    if buffer.len() != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

fn read_str(reader: &mut impl Read) -> io::Result<String> {
    let len = read_u32(reader)? as usize;
    let mut bytes = vec![0; len];
    reader.read_exact(&mut bytes)?;
    String::from_utf8(bytes).map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))
}

pub(crate) fn write_bytes(writer: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    writer.write_all(&(bytes.len() as u64).to_le_bytes())?;
    writer.write_all(bytes)
}

fn write_str(writer: &mut impl Write, text: &str) -> io::Result<()> {
    let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
    writer.write_all(&len.to_le_bytes())?;
    writer.write_all(&text.as_bytes()[..len as usize])
}

/// Writes one item's outcome.
pub(crate) fn write_outcome(writer: &mut impl Write, outcome: &ItemOutcome) -> io::Result<()> {
    match outcome {
        ItemOutcome::Value(bytes) => {
            writer.write_all(&[VALUE])?;
            write_bytes(writer, bytes)
        }
        ItemOutcome::Panicked { message, location } => {
            writer.write_all(&[PANICKED])?;
            write_str(writer, message)?;
            match location {
                Some(location) => {
                    writer.write_all(&[1])?;
                    write_str(writer, location)
                }
                None => writer.write_all(&[0]),
            }
        }
        ItemOutcome::ArgumentCodec(message) => {
            writer.write_all(&[ARGUMENT_CODEC])?;
            write_str(writer, message)
        }
        ItemOutcome::ResultCodec(message) => {
            writer.write_all(&[RESULT_CODEC])?;
            write_str(writer, message)
        }
        ItemOutcome::Failed { type_name, message } => {
            writer.write_all(&[FAILED])?;
            write_str(writer, type_name)?;
            write_str(writer, message)
        }
    }
}

/// Reads the rest of an outcome whose tag byte was already read.
pub(crate) fn read_outcome_after_tag(reader: &mut impl Read, tag: u8) -> io::Result<ItemOutcome> {
    Ok(match tag {
        VALUE => ItemOutcome::Value(read_bytes(reader)?),
        PANICKED => {
            let message = read_str(reader)?;
            let location = match read_u8(reader)? {
                0 => None,
                _ => Some(read_str(reader)?),
            };
            ItemOutcome::Panicked { message, location }
        }
        ARGUMENT_CODEC => ItemOutcome::ArgumentCodec(read_str(reader)?),
        RESULT_CODEC => ItemOutcome::ResultCodec(read_str(reader)?),
        FAILED => ItemOutcome::Failed {
            type_name: read_str(reader)?,
            message: read_str(reader)?,
        },
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unknown outcome tag {other} from worker"),
            ));
        }
    })
}

/// Reads one outcome.
pub(crate) fn read_outcome(reader: &mut impl Read) -> io::Result<ItemOutcome> {
    let tag = read_u8(reader)?;
    read_outcome_after_tag(reader, tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_round_trip() {
        let outcomes = [
            ItemOutcome::Value(vec![1, 2, 3]),
            ItemOutcome::Panicked {
                message: "boom".into(),
                location: Some("a.rs:1:2".into()),
            },
            ItemOutcome::Panicked {
                message: String::new(),
                location: None,
            },
            ItemOutcome::ArgumentCodec("bad arg".into()),
            ItemOutcome::ResultCodec("bad result".into()),
            ItemOutcome::Failed {
                type_name: "std::io::Error".into(),
                message: "no such page".into(),
            },
        ];
        let mut buffer = Vec::new();
        for outcome in &outcomes {
            write_outcome(&mut buffer, outcome).unwrap();
        }
        let mut reader = buffer.as_slice();
        for outcome in &outcomes {
            let back = read_outcome(&mut reader).unwrap();
            assert_eq!(format!("{back:?}"), format!("{outcome:?}"));
        }
        assert!(reader.is_empty());
        assert!(read_outcome(&mut [9u8].as_slice()).is_err());
    }
}

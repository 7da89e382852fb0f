//! Writing records as JSON lines or CSV, and reading back what an earlier run wrote
//! (`--resume`).
//!
//! Each record is formatted into one whole line before it is written, and the writer is
//! flushed whenever no further record is waiting, so a crash or Ctrl-C leaves only whole lines
//! behind. A resumed file whose last line was cut anyway is trimmed back to its last newline.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::Path;

use crate::record::Record;

/// The output format (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// One JSON object per line (the default).
    #[default]
    Jsonl,
    /// Comma-separated values with a header row; nested fields are JSON text.
    Csv,
}

/// The CSV columns, in order: the record's plain fields, its lists and maps as JSON text, the
/// preview as flat `preview_*` columns, then the page's other lists and maps as JSON text. Every
/// key of a JSON record has its column (the error's two, and the preview's, flattened).
pub const CSV_COLUMNS: [&str; 40] = [
    "url",
    "final_url",
    "status",
    "ok",
    "error_kind",
    "error_message",
    "elapsed_ms",
    "attempts",
    "bytes",
    "truncated",
    "content_type",
    "http_version",
    "charset",
    "title",
    "lang",
    "canonical",
    "description",
    "meta",
    "og",
    "twitter",
    "preview_title",
    "preview_description",
    "preview_image",
    "preview_url",
    "preview_site_name",
    "preview_type",
    "preview_author",
    "preview_published",
    "preview_modified",
    "preview_lang",
    "preview_locale",
    "preview_icon",
    "json_ld",
    "json_ld_errors",
    "icons",
    "feeds",
    "alternates",
    "oembed",
    "robots",
    "capped",
];

/// Writes records to a byte sink in one format.
pub struct RecordWriter<W: Write> {
    out: W,
    format: Format,
    line: Vec<u8>,
}

impl<W: Write> std::fmt::Debug for RecordWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordWriter")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl<W: Write> RecordWriter<W> {
    /// A writer; with `header` (CSV only) the column names are written first.
    pub fn new(mut out: W, format: Format, header: bool) -> io::Result<Self> {
        if format == Format::Csv && header {
            let mut line = Vec::new();
            write_csv_row(&mut line, CSV_COLUMNS.iter().map(|c| c.to_string()))?;
            out.write_all(&line)?;
        }
        Ok(RecordWriter {
            out,
            format,
            line: Vec::with_capacity(4096),
        })
    }

    /// Writes one record as one whole line.
    pub fn write(&mut self, record: &Record) -> io::Result<()> {
        self.line.clear();
        match self.format {
            Format::Jsonl => {
                serde_json::to_writer(&mut self.line, record)?;
                self.line.push(b'\n');
            }
            Format::Csv => write_csv_row(&mut self.line, csv_fields(record))?,
        }
        self.out.write_all(&self.line)
    }

    /// Flushes what was written.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn csv_fields(record: &Record) -> impl Iterator<Item = String> {
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    [
        record.url.clone(),
        text(&record.final_url),
        record.status.map(|s| s.to_string()).unwrap_or_default(),
        record.ok.to_string(),
        record
            .error
            .as_ref()
            .map(|e| e.kind.as_str().to_owned())
            .unwrap_or_default(),
        record
            .error
            .as_ref()
            .map(|e| e.message.clone())
            .unwrap_or_default(),
        record.elapsed_ms.to_string(),
        record.attempts.to_string(),
        record.bytes.to_string(),
        record.truncated.to_string(),
        text(&record.content_type),
        text(&record.http_version),
        record.page.charset.clone(),
        text(&record.page.title),
        text(&record.page.lang),
        text(&record.page.canonical),
        text(&record.page.description),
        json_text(&record.page.meta),
        json_text(&record.page.og),
        json_text(&record.page.twitter),
        text(&record.page.preview.title),
        text(&record.page.preview.description),
        text(&record.page.preview.image),
        text(&record.page.preview.url),
        text(&record.page.preview.site_name),
        text(&record.page.preview.kind),
        text(&record.page.preview.author),
        text(&record.page.preview.published),
        text(&record.page.preview.modified),
        text(&record.page.preview.lang),
        text(&record.page.preview.locale),
        text(&record.page.preview.icon),
        json_text(&record.page.json_ld),
        json_text(&record.page.json_ld_errors),
        json_text(&record.page.icons),
        json_text(&record.page.feeds),
        json_text(&record.page.alternates),
        json_text(&record.page.oembed),
        json_text(&record.page.robots),
        json_text(&record.page.capped),
    ]
    .into_iter()
}

fn write_csv_row(out: &mut Vec<u8>, fields: impl Iterator<Item = String>) -> io::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(fields.collect::<Vec<_>>())?;
    writer.flush()
}

/// The resume ledger: how many times each URL already has a record in an earlier run's output
/// (`--resume`). A run given one ([`RunOptions::done`](crate::RunOptions::done)) skips as many
/// occurrences of each URL in its input, so nothing is fetched twice and nothing is missed.
#[derive(Debug, Default, Clone)]
pub struct ResumeLedger {
    counts: HashMap<String, u32>,
}

impl ResumeLedger {
    /// Counts one more record of `url` as done.
    pub fn add(&mut self, url: impl Into<String>) {
        *self.counts.entry(url.into()).or_default() += 1;
    }

    /// True (and counted off) if `url` has a record left to match: skip this input line.
    pub fn take(&mut self, url: &str) -> bool {
        match self.counts.get_mut(url) {
            Some(count) if *count > 0 => {
                *count -= 1;
                true
            }
            _ => false,
        }
    }

    /// URL records read.
    pub fn len(&self) -> usize {
        self.counts.values().map(|&c| c as usize).sum()
    }

    /// True if nothing was read.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An output file opened to resume a run: see [`open_for_resume`].
#[derive(Debug)]
pub struct Resumed {
    /// The file, positioned at its end for appending (a line cut by a crash was trimmed).
    pub file: File,
    /// The URLs it already has records for.
    pub ledger: ResumeLedger,
    /// True if the file is empty, so a CSV header is still to be written.
    pub needs_header: bool,
}

/// Opens `path` for a resumed run: reads the URLs it already has records for, trims a cut last
/// line, and returns the file positioned for appending. A missing file is created.
pub fn open_for_resume(path: &Path, format: Format) -> io::Result<Resumed> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    let mut ledger = ResumeLedger::default();
    let mut whole_length = 0u64;
    {
        let mut reader = BufReader::new(&mut file);
        let mut line = Vec::new();
        let mut first = true;
        loop {
            line.clear();
            let read = reader.read_until(b'\n', &mut line)?;
            if read == 0 || line.last() != Some(&b'\n') {
                break; // the end, or a line cut by a crash: trimmed below
            }
            whole_length += read as u64;
            let url = match format {
                Format::Jsonl => serde_json::from_slice::<serde_json::Value>(&line)
                    .ok()
                    .and_then(|v| v.get("url")?.as_str().map(str::to_owned)),
                Format::Csv => {
                    let mut reader = csv::ReaderBuilder::new()
                        .has_headers(false)
                        .from_reader(line.as_slice());
                    let url = reader
                        .records()
                        .next()
                        .and_then(Result::ok)
                        .and_then(|r| r.get(0).map(str::to_owned));
                    if first && url.as_deref() == Some("url") {
                        first = false;
                        continue;
                    }
                    url
                }
            };
            first = false;
            if let Some(url) = url {
                ledger.add(url);
            }
        }
    }
    file.set_len(whole_length)?;
    file.seek(SeekFrom::End(0))?;
    Ok(Resumed {
        file,
        ledger,
        needs_header: whole_length == 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ErrorInfo, ErrorKind};

    fn record(url: &str) -> Record {
        let mut record = Record::failed(
            url,
            ErrorInfo::new(ErrorKind::Connect, "refused, \"quoted\""),
        );
        record.page.title = Some("a, b".into());
        record
    }

    #[test]
    fn every_key_of_a_json_record_has_its_csv_column() {
        let json = serde_json::to_value(record("http://a.test/")).unwrap();
        for key in json.as_object().unwrap().keys() {
            let flattened: Vec<String> = match key.as_str() {
                "error" => vec!["error_kind".into(), "error_message".into()],
                "preview" => json["preview"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(|field| format!("preview_{field}"))
                    .collect(),
                _ => vec![key.clone()],
            };
            for column in flattened {
                assert!(
                    CSV_COLUMNS.contains(&column.as_str()),
                    "no CSV column {column}"
                );
            }
        }
    }

    #[test]
    fn jsonl_and_csv_lines_round_trip() {
        let mut out = Vec::new();
        let mut writer = RecordWriter::new(&mut out, Format::Jsonl, true).unwrap();
        writer.write(&record("http://a.test/")).unwrap();
        let line = String::from_utf8(out).unwrap();
        assert!(line.ends_with('\n') && line.lines().count() == 1);
        let back: Record = serde_json::from_str(&line).unwrap();
        assert_eq!(back, record("http://a.test/"));

        let mut out = Vec::new();
        let mut writer = RecordWriter::new(&mut out, Format::Csv, true).unwrap();
        writer.write(&record("http://a.test/")).unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(reader.headers().unwrap().len(), CSV_COLUMNS.len());
        let row = reader.records().next().unwrap().unwrap();
        assert_eq!(&row[0], "http://a.test/");
        assert_eq!(&row[4], "connect");
        assert_eq!(&row[5], "refused, \"quoted\"");
        assert_eq!(&row[13], "a, b"); // title, after content_type, http_version, charset
    }

    #[test]
    fn resume_counts_urls_and_trims_a_cut_line() {
        let dir = std::env::temp_dir().join(format!("abreast-resume-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.jsonl");
        let mut text = String::new();
        for url in ["http://a.test/", "http://b.test/", "http://a.test/"] {
            text.push_str(&serde_json::to_string(&record(url)).unwrap());
            text.push('\n');
        }
        let whole = text.len() as u64;
        text.push_str("{\"url\":\"http://c.te");
        std::fs::write(&path, &text).unwrap();
        let Resumed {
            file,
            ledger: mut done,
            needs_header,
        } = open_for_resume(&path, Format::Jsonl).unwrap();
        assert!(!needs_header);
        assert_eq!(
            file.metadata().unwrap().len(),
            whole,
            "the cut line is trimmed"
        );
        assert_eq!(done.len(), 3);
        assert!(done.take("http://a.test/") && done.take("http://a.test/"));
        assert!(!done.take("http://a.test/"), "only as often as it was done");
        assert!(!done.take("http://c.test/"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

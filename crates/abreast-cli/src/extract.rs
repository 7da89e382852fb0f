//! `abreast extract`: the records of pages already on disk, without fetching. The same records,
//! formats and exit codes as `abreast fetch`, extracted on a thread pool in input order.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use abreast::threads::ThreadPool;
use abreast_fetch::{ErrorInfo, ErrorKind, Record, RecordWriter, Summary, extract_record};
use abreast_meta::Extractor;
use anyhow::{Context as _, bail};
use clap::Args;

use crate::fetch::{FormatArg, parse_size};

/// Arguments of `abreast extract`.
#[derive(Debug, Args)]
pub struct ExtractArgs {
    /// HTML files, directories (every file under them, in name order), or `-` for one page on
    /// standard input.
    #[arg(required = true, value_name = "PATH")]
    inputs: Vec<PathBuf>,
    /// The address of the pages: relative URLs resolve against it (after any `<base href>`), and
    /// it is each record's `final_url`.
    #[arg(long, value_name = "URL", conflicts_with = "url_list", value_parser = page_address)]
    url: Option<String>,
    /// A file of `PATH<TAB>URL` lines giving each page its own address (a page not listed has
    /// none: its relative URLs stay as written).
    #[arg(long, value_name = "FILE")]
    url_list: Option<PathBuf>,
    /// The Content-Type the pages were served with (its charset decides their encoding).
    #[arg(long, value_name = "TYPE")]
    content_type: Option<String>,
    /// Write records to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Jsonl)]
    format: FormatArg,
    /// Extraction threads; default one per CPU.
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=4096))]
    jobs: Option<u64>,
    /// Bytes of each page read at most; a longer page is cut and marked truncated.
    #[arg(long, value_name = "SIZE", default_value = "10MiB", value_parser = parse_size)]
    max_bytes: u64,
    /// Read each page only up to the end of its `<head>`.
    #[arg(long)]
    head_only: bool,
}

/// One page to extract: how the record names it, and its address.
#[derive(Debug)]
struct Page {
    path: PathBuf,
    url: Option<String>,
}

/// Runs `abreast extract`.
pub fn run(args: &ExtractArgs) -> anyhow::Result<ExitCode> {
    let urls = match &args.url_list {
        Some(list) => read_url_list(list)?,
        None => Vec::new(),
    };
    let mut pages = Vec::new();
    for input in &args.inputs {
        if input.as_os_str() == "-" {
            if args.inputs.len() > 1 {
                bail!("`-` reads one page from standard input: give it alone");
            }
            pages.push(input.clone());
        } else if input.is_dir() {
            files_under(input, &mut pages)
                .with_context(|| format!("could not list the directory {}", input.display()))?;
        } else {
            pages.push(input.clone());
        }
    }
    let pages = pages.into_iter().map(|path| {
        let url = args.url.clone().or_else(|| {
            urls.iter()
                .find(|(listed, _)| *listed == path)
                .map(|(_, url)| url.clone())
        });
        Page { path, url }
    });
    let out: Box<dyn Write> = match &args.output {
        None => Box::new(std::io::stdout().lock()),
        Some(path) => Box::new(
            File::create(path)
                .with_context(|| format!("could not create the output {}", path.display()))?,
        ),
    };
    let mut writer = RecordWriter::new(BufWriter::new(out), args.format.into(), true)
        .context("could not write the output")?;
    let max_bytes = usize::try_from(args.max_bytes).unwrap_or(usize::MAX);
    let extractor = Extractor::new()
        .head_only(args.head_only)
        .max_bytes(max_bytes);
    let content_type = args.content_type.clone();
    let mut builder = ThreadPool::builder().thread_name(|i| format!("abreast-extract-{i}"));
    if let Some(jobs) = args.jobs {
        builder = builder.num_threads(jobs as usize);
    }
    let pool = builder
        .build()
        .context("could not start the extraction threads")?;
    let extract_one = move |page: Page| {
        let line = page.path.display().to_string();
        match read_page(&page.path, max_bytes) {
            Ok((bytes, truncated)) => extract_record(
                line,
                bytes,
                truncated,
                content_type.clone(),
                page.url,
                &extractor,
            ),
            Err(error) => Record::failed(
                line,
                ErrorInfo::new(ErrorKind::Read, format!("could not read the page: {error}")),
            ),
        }
    };
    let mut summary = Summary::default();
    let started = std::time::Instant::now();
    for record in pool.map(extract_one, pages) {
        let record = record.context("an extraction task failed")?;
        writer
            .write(&record)
            .context("could not write the output")?;
        summary.count(&record);
    }
    writer.flush().context("could not write the output")?;
    summary.finish(started.elapsed());
    eprintln!("abreast extract: {summary}");
    Ok(if summary.failures() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The bytes of the page at `path` (standard input for `-`), at most `max_bytes` of them, and
/// whether it was longer.
fn read_page(path: &Path, max_bytes: usize) -> std::io::Result<(Vec<u8>, bool)> {
    let mut bytes = Vec::new();
    let limit = u64::try_from(max_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    if path.as_os_str() == "-" {
        std::io::stdin()
            .lock()
            .take(limit)
            .read_to_end(&mut bytes)?;
    } else {
        File::open(path)?.take(limit).read_to_end(&mut bytes)?;
    }
    let truncated = bytes.len() > max_bytes;
    bytes.truncate(max_bytes);
    Ok((bytes, truncated))
}

/// Every file under `dir`, in name order, depth first.
fn files_under(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries = std::fs::read_dir(dir)?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<Vec<_>, _>>()?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files_under(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

/// The `PATH<TAB>URL` lines of `list`.
fn read_url_list(list: &Path) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let text = std::fs::read_to_string(list)
        .with_context(|| format!("could not read the URL list {}", list.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|(number, line)| {
            let (path, url) = line.split_once('\t').with_context(|| {
                format!(
                    "{}:{}: expected PATH<TAB>URL, got {line:?}",
                    list.display(),
                    number + 1
                )
            })?;
            let url = page_address(url.trim())
                .map_err(|why| anyhow::anyhow!("{}:{}: {why}", list.display(), number + 1))?;
            Ok((PathBuf::from(path), url))
        })
        .collect()
}

/// A page's address: an absolute URL (relative ones would have nothing to resolve against).
fn page_address(text: &str) -> Result<String, String> {
    match url::Url::parse(text) {
        Ok(_) => Ok(text.to_owned()),
        Err(error) => Err(format!(
            "{text:?} is not an absolute URL ({error}); give the page's address, e.g. \
             https://example.com/a"
        )),
    }
}

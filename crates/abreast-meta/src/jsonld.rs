//! JSON-LD blocks parsed the way real pages need: a tolerant clean-up pass
//! (comment and CDATA wrappers, `//` and `/* */` comments, trailing commas,
//! `;` between or after values, raw control characters in strings) and then
//! serde_json, which reads several top-level values in a row and refuses
//! nesting deeper than 128. A block written with HTML references
//! (`&quot;`) is tried once more with them decoded. Valid JSON takes the
//! fast path: serde_json alone, no clean-up.

use serde_json::Value;

/// What a parsed value may cost per JSON node (a `Value` in a growing
/// `Vec`, or a map entry with its key and its share of a B-tree node), on
/// top of the text's own bytes. Used to bound a block's memory before it
/// is parsed.
const NODE_COST: usize = 128;

/// The memory a block of `text` may take once parsed, an upper bound: its
/// bytes, and [`NODE_COST`] for each byte that can start or separate a node
/// (`,` `:` `[` `{`), plus one.
pub(crate) fn parsed_bound(text: &[u8]) -> usize {
    let nodes = text
        .iter()
        .filter(|&&byte| matches!(byte, b',' | b':' | b'[' | b'{'))
        .count()
        + 1;
    text.len().saturating_add(nodes.saturating_mul(NODE_COST))
}

/// The deepest nesting serde_json reads; deeper blocks are left out.
pub(crate) const MAX_DEPTH: usize = 128;

/// The reason given for a block nested deeper than [`MAX_DEPTH`].
pub(crate) const TOO_DEEP: &str = "recursion limit exceeded: nested deeper than 128 levels";

/// Whether `text` nests arrays and objects deeper than [`MAX_DEPTH`]
/// (brackets in strings not counted): one linear pass, no allocation.
pub(crate) fn too_deep(text: &[u8]) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in text {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// What a parsed value holds on the heap, about: each node, strings and
/// keys. Depth is at most serde_json's 128, so recursion is bounded.
pub(crate) fn value_cost(value: &Value) -> usize {
    let node = 2 * size_of::<Value>();
    match value {
        Value::String(text) => node + text.len(),
        Value::Array(items) => node + items.iter().map(value_cost).sum::<usize>(),
        Value::Object(map) => {
            node + map
                .iter()
                .map(|(key, item)| 2 * size_of::<String>() + key.len() + value_cost(item))
                .sum::<usize>()
        }
        _ => node,
    }
}

/// Parses one block: its top-level values in order, or why it does not
/// parse.
pub(crate) fn parse_block(text: &str) -> Result<Vec<Value>, String> {
    let trimmed = strip_wrappers(text);
    if trimmed.is_empty() {
        return Err("empty block".to_owned());
    }
    // Nearly every block is one valid value.
    if let Ok(value) = serde_json::from_str::<Value>(trimmed) {
        return Ok(vec![value]);
    }
    let first = parse_cleaned(trimmed);
    match first {
        Err(_) if trimmed.contains('&') => {
            let unescaped = htmlize::unescape(trimmed);
            parse_cleaned(strip_wrappers(&unescaped)).map_err(|_| first.unwrap_err())
        }
        result => result,
    }
}

/// Cleans `text` up and reads every top-level value in it.
fn parse_cleaned(text: &str) -> Result<Vec<Value>, String> {
    let cleaned = clean(text);
    let mut values = Vec::new();
    for value in serde_json::Deserializer::from_str(&cleaned).into_iter::<Value>() {
        values.push(value.map_err(|error| error.to_string())?);
    }
    if values.is_empty() {
        return Err("no JSON value in the block".to_owned());
    }
    Ok(values)
}

/// `text` without surrounding whitespace, `<!-- … -->` and
/// `<![CDATA[ … ]]>` wrappers (in any nesting, each end optional).
fn strip_wrappers(text: &str) -> &str {
    let mut text = text.trim_matches(is_json_space);
    loop {
        let before = text.len();
        for (open, close) in [("<!--", "-->"), ("<![CDATA[", "]]>")] {
            if let Some(rest) = text.strip_prefix(open) {
                text = rest.trim_matches(is_json_space);
            }
            if let Some(rest) = text.strip_suffix(close) {
                text = rest.trim_matches(is_json_space);
            }
        }
        if text.len() == before {
            return text;
        }
    }
}

fn is_json_space(char: char) -> bool {
    matches!(char, ' ' | '\t' | '\n' | '\r' | '\u{FEFF}')
}

/// One pass over `text` outside strings: comments dropped, `;` at the top
/// level made a space, a comma before `]` or `}` dropped; inside strings,
/// raw control characters escaped. Linear, with no recursion, whatever the
/// nesting.
fn clean(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len() + 16);
    // Where in `out` the last comma outside strings is, while only
    // whitespace follows it.
    let mut pending_comma: Option<usize> = None;
    let mut depth: usize = 0;
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        match byte {
            b'"' => {
                pending_comma = None;
                out.push(b'"');
                at += 1;
                while at < bytes.len() {
                    let byte = bytes[at];
                    at += 1;
                    match byte {
                        b'\\' => match bytes.get(at) {
                            // A backslash before a raw control character
                            // escapes nothing JSON knows: the character is
                            // kept, escaped.
                            Some(&next) if next < 0x20 => {
                                push_control(&mut out, next);
                                at += 1;
                            }
                            Some(&next) => {
                                out.push(b'\\');
                                out.push(next);
                                at += 1;
                            }
                            None => out.push(b'\\'),
                        },
                        b'"' => {
                            out.push(b'"');
                            break;
                        }
                        0x00..=0x1F => push_control(&mut out, byte),
                        _ => out.push(byte),
                    }
                }
                continue;
            }
            b'/' if bytes.get(at + 1) == Some(&b'/') => {
                at = memchr::memchr(b'\n', &bytes[at..]).map_or(bytes.len(), |end| at + end);
                continue;
            }
            b'/' if bytes.get(at + 1) == Some(&b'*') => {
                at = memchr::memmem::find(&bytes[at + 2..], b"*/")
                    .map_or(bytes.len(), |end| at + 2 + end + 2);
                out.push(b' ');
                continue;
            }
            b';' if depth == 0 => {
                out.push(b' ');
                at += 1;
                continue;
            }
            b',' => {
                pending_comma = Some(out.len());
                out.push(b',');
            }
            b']' | b'}' => {
                if let Some(comma) = pending_comma.take() {
                    out[comma] = b' ';
                }
                depth = depth.saturating_sub(1);
                out.push(byte);
            }
            b'[' | b'{' => {
                pending_comma = None;
                depth += 1;
                out.push(byte);
            }
            b' ' | b'\t' | b'\n' | b'\r' => out.push(byte),
            _ => {
                pending_comma = None;
                out.push(byte);
            }
        }
        at += 1;
    }
    // Only ASCII bytes were added or replaced at ASCII positions.
    String::from_utf8(out)
        .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
}

/// A raw control character as a JSON escape.
fn push_control(out: &mut Vec<u8>, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(b"\\u00");
    out.push(HEX[usize::from(byte >> 4)]);
    out.push(HEX[usize::from(byte & 0xF)]);
}

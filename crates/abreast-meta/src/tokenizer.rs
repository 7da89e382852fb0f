//! A byte-level HTML tokenizer made for finding metadata fast: it follows
//! the HTML Standard's tokenizer states wherever they decide where a tag
//! starts and ends, and the tree builder's feedback wherever it changes how
//! the following bytes are read, and jumps over everything else: from one
//! `<`, `>` or quote to the next through the index of `specials.rs`, and
//! with `memchr` inside comments and raw text.
//!
//! What it follows:
//!
//! * the data state, tag open, end tag open, and markup declarations:
//!   comments (`<!-->`, `--!>` and all), DOCTYPEs, CDATA sections (only in
//!   foreign content), bogus comments (`<?…>`, `</ …>`, `<!…>`);
//! * every attribute state, so a `>` inside a quoted value does not end a
//!   tag, `<meta ="x>">` ends at the first `>`, and a tag cut by the end of
//!   the input is dropped, as the standard says;
//! * RCDATA (`title`, `textarea`), RAWTEXT (`style`, `xmp`, `iframe`,
//!   `noembed`, `noframes`, `noscript` as a browser with scripting on reads
//!   it), PLAINTEXT, and script data with its escaped and double-escaped
//!   states (`<script><!--<script></script>` does not end the script);
//! * the namespace feedback of the tree builder: `<svg>` and `<math>` enter
//!   foreign content, where no start tag switches to raw text and CDATA is
//!   allowed; breakout tags (`<p>`, `<meta>`, `<font color>`…), `</p>`,
//!   `</br>` and the closing tag leave it; the integration points
//!   (`foreignObject`, `desc`, `title`, `mi`…, `annotation-xml` with an HTML
//!   encoding) hold HTML;
//! * template contents: only `</template>` ends a `<template>`.
//!
//! This is the same simulation lol_html makes (the earlier engine; its
//! extractor is kept as the test oracle, see `differential.rs`), except in
//! three places where lol_html departs from the browser and this follows
//! the browser: template contents as above, `<svg/>` and `<math/>` (which do
//! not enter foreign content), and which titles are the document's (those
//! created in the HTML namespace). (A fourth difference is the extractor's:
//! a U+FEFF at the start of an attribute value is kept as text.)
//!
//! Memory: the tokenizer allocates nothing per byte; its stacks (namespaces,
//! templates) and the attributes of one tag are bounded by a budget, and
//! reaching it ends tokenizing with [`End::MemoryLimit`].

use std::ops::ControlFlow;
use std::ops::Range;

use memchr::{memchr, memchr2, memmem};

use crate::page::End;
use crate::specials::Specials;

/// The elements whose names the tokenizer or the extractor acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Meta,
    Title,
    Html,
    Head,
    Link,
    Script,
    Template,
    /// `base`: its `href` is the document's base URL.
    Base,
    /// `basefont`, `bgsound`: allowed in the head, nothing more.
    HeadOther,
    Style,
    Noscript,
    Noframes,
    Textarea,
    Xmp,
    Iframe,
    Noembed,
    Plaintext,
    Svg,
    Math,
    Font,
    /// `mi`, `mo`, `mn`, `ms`, `mtext`: MathML text integration points.
    MathText,
    AnnotationXml,
    /// `foreignObject`, `desc`: SVG HTML integration points (with `title`).
    SvgHtml,
    P,
    Br,
    /// The other start tags that leave foreign content (`b`, `div`, `body`…).
    Breakout,
    Other,
}

impl Kind {
    /// The kind of a tag named `name` (as written, any case). Names of up
    /// to 8 bytes, nearly all of them, are compared as one `u64`, padded
    /// with zeros: with no NUL in the name, that is one word per name.
    ///
    /// The name is `input[name]`; the eight bytes from its start are read in
    /// one load where the input has them.
    #[inline(always)]
    fn of(input: &[u8], name: Range<usize>) -> Kind {
        let length = name.len();
        if length > 8 {
            return Kind::of_long(&input[name]);
        }
        let word = match input.get(name.start..name.start + 8) {
            Some(eight) => u64::from_le_bytes(eight.try_into().unwrap_or_default()),
            None => {
                let mut word = [0u8; 8];
                word[..length].copy_from_slice(&input[name]);
                u64::from_le_bytes(word)
            }
        };
        const ONES: u64 = 0x0101_0101_0101_0101;
        // The name's bytes (an empty name keeps none).
        let mask = u64::MAX.checked_shr(64 - 8 * length as u32).unwrap_or(0);
        let word = word & mask;
        // A NUL in the name: none of ours.
        let padded = word | !mask;
        if padded.wrapping_sub(ONES) & !padded & (ONES * 0x80) != 0 {
            return Kind::Other;
        }
        match ascii_lowercase(word) {
            META => Kind::Meta,
            TITLE => Kind::Title,
            HTML => Kind::Html,
            HEAD => Kind::Head,
            LINK => Kind::Link,
            SCRIPT => Kind::Script,
            TEMPLATE => Kind::Template,
            BASE => Kind::Base,
            BASEFONT | BGSOUND => Kind::HeadOther,
            STYLE => Kind::Style,
            NOSCRIPT => Kind::Noscript,
            NOFRAMES => Kind::Noframes,
            TEXTAREA => Kind::Textarea,
            XMP => Kind::Xmp,
            IFRAME => Kind::Iframe,
            NOEMBED => Kind::Noembed,
            SVG => Kind::Svg,
            MATH => Kind::Math,
            FONT => Kind::Font,
            MI | MO | MN | MS | MTEXT => Kind::MathText,
            DESC => Kind::SvgHtml,
            P => Kind::P,
            BR => Kind::Br,
            B | BIG | BODY | CENTER | CODE | DD | DIV | DL | DT | EM | EMBED | H1 | H2 | H3
            | H4 | H5 | H6 | HR | I | IMG | LI | LISTING | MENU | NOBR | OL | PRE | RUBY | S
            | SMALL | SPAN | STRONG | STRIKE | SUB | SUP | TABLE | TT | U | UL | VAR => {
                Kind::Breakout
            }
            _ => Kind::Other,
        }
    }

    /// [`Kind::of`] for names longer than 8 bytes.
    #[cold]
    fn of_long(name: &[u8]) -> Kind {
        let is = |known: &[u8]| name.eq_ignore_ascii_case(known);
        if is(b"plaintext") {
            Kind::Plaintext
        } else if is(b"annotation-xml") {
            Kind::AnnotationXml
        } else if is(b"foreignobject") {
            Kind::SvgHtml
        } else if is(b"blockquote") {
            Kind::Breakout
        } else {
            Kind::Other
        }
    }

    /// Whether this start tag, in foreign content, leaves it (`<font>` only
    /// with `color`, `face` or `size`, which the caller checks).
    fn breaks_out(self) -> bool {
        matches!(
            self,
            Kind::Meta | Kind::Head | Kind::P | Kind::Br | Kind::Breakout
        )
    }

    /// Whether the tree builder keeps this start tag in the head.
    pub(crate) fn stays_in_head(self) -> bool {
        matches!(
            self,
            Kind::Html
                | Kind::Head
                | Kind::Base
                | Kind::HeadOther
                | Kind::Link
                | Kind::Meta
                | Kind::Title
                | Kind::Noscript
                | Kind::Noframes
                | Kind::Style
                | Kind::Script
                | Kind::Template
        )
    }

    /// Whether the extractor reads this element's attributes (or the
    /// namespace feedback needs them), so the tokenizer records them.
    fn needs_attributes(self) -> bool {
        matches!(
            self,
            Kind::Meta
                | Kind::Link
                | Kind::Html
                | Kind::Script
                | Kind::Base
                | Kind::Font
                | Kind::AnnotationXml
        )
    }

    /// Whether the extractor reads something from this element.
    fn carries_metadata(self) -> bool {
        matches!(
            self,
            Kind::Meta | Kind::Title | Kind::Html | Kind::Link | Kind::Script | Kind::Base
        )
    }

    /// Whether the namespace feedback needs to know if the start tag was
    /// self-closing (`<svg/>`).
    fn needs_self_closing(self) -> bool {
        matches!(
            self,
            Kind::Svg
                | Kind::Math
                | Kind::SvgHtml
                | Kind::Title
                | Kind::MathText
                | Kind::AnnotationXml
        )
    }
}

/// A name of up to 8 bytes as the `u64` [`Kind::of`] compares.
const fn packed(name: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    let mut at = 0;
    while at < name.len() {
        word[at] = name[at];
        at += 1;
    }
    u64::from_le_bytes(word)
}

/// ASCII uppercase letters of the eight bytes of `word` made lowercase, the
/// other bytes left alone.
fn ascii_lowercase(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    // Per byte, with the high bit kept out of the arithmetic: at least 'A'
    // sets bit 7 of `from_a`, past 'Z' sets bit 7 of `past_z`.
    let low = word & (ONES * 0x7F);
    let from_a = low + ONES * (0x80 - u64::from(b'A'));
    let past_z = low + ONES * (0x80 - u64::from(b'Z') - 1);
    let upper = from_a & !past_z & !word & (ONES * 0x80);
    word | (upper >> 2)
}

macro_rules! packed_names {
    ($($constant:ident = $name:literal),* $(,)?) => {
        $(const $constant: u64 = packed($name);)*
    };
}

packed_names! {
    META = b"meta", TITLE = b"title", HTML = b"html", HEAD = b"head", LINK = b"link", SCRIPT = b"script", TEMPLATE = b"template", BASE = b"base", BASEFONT = b"basefont", BGSOUND = b"bgsound", STYLE = b"style", NOSCRIPT = b"noscript", NOFRAMES = b"noframes", TEXTAREA = b"textarea", XMP = b"xmp", IFRAME = b"iframe", NOEMBED = b"noembed", SVG = b"svg", MATH = b"math", FONT = b"font", MI = b"mi", MO = b"mo", MN = b"mn", MS = b"ms", MTEXT = b"mtext", DESC = b"desc", P = b"p", BR = b"br", B = b"b", BIG = b"big", BODY = b"body", CENTER = b"center", CODE = b"code", DD = b"dd", DIV = b"div", DL = b"dl", DT = b"dt", EM = b"em", EMBED = b"embed", H1 = b"h1", H2 = b"h2", H3 = b"h3", H4 = b"h4", H5 = b"h5", H6 = b"h6", HR = b"hr", I = b"i", IMG = b"img", LI = b"li", LISTING = b"listing", MENU = b"menu", NOBR = b"nobr", OL = b"ol", PRE = b"pre", RUBY = b"ruby", S = b"s", SMALL = b"small", SPAN = b"span", STRONG = b"strong", STRIKE = b"strike", SUB = b"sub", SUP = b"sup", TABLE = b"table", TT = b"tt", U = b"u", UL = b"ul", VAR = b"var",
}

/// How the text after a start tag is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TextMode {
    Rcdata,
    Rawtext,
    ScriptData,
    Plaintext,
}

/// The namespace of the current node, as far as tokenizing cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Namespace {
    Html,
    Svg,
    MathMl,
}

/// One attribute of a start tag, as byte ranges of the input: its name as
/// written and its raw value (empty when it has none).
#[derive(Clone, Debug)]
pub(crate) struct Attribute {
    pub(crate) name: Range<usize>,
    pub(crate) value: Range<usize>,
}

/// A start tag, as the tokenizer hands it to the [`Sink`].
pub(crate) struct StartTag<'a> {
    pub(crate) kind: Kind,
    /// Whether the element is created in the HTML namespace.
    pub(crate) html: bool,
    /// Whether it is inside template contents (not part of the document).
    pub(crate) in_template: bool,
    /// Its attributes in source order, recorded only for the kinds that
    /// need them; duplicates included.
    pub(crate) attributes: &'a [Attribute],
    /// The input the ranges index.
    pub(crate) input: &'a [u8],
}

impl StartTag<'_> {
    /// The raw value of the first attribute named `name` (lowercase).
    pub(crate) fn attribute(&self, name: &str) -> Option<&[u8]> {
        first_attribute(self.input, self.attributes, name)
    }
}

/// The raw value of the first of `attributes` (ranges of `input`) named
/// `name` (lowercase), if any.
fn first_attribute<'a>(input: &'a [u8], attributes: &[Attribute], name: &str) -> Option<&'a [u8]> {
    attributes
        .iter()
        .find(|attribute| input[attribute.name.clone()].eq_ignore_ascii_case(name.as_bytes()))
        .map(|attribute| &input[attribute.value.clone()])
}

/// What the sink wants after a start tag.
pub(crate) enum Reply {
    Continue,
    /// Hand me this element's text (RCDATA or script data) in one piece.
    TakeText,
    /// Stop tokenizing; the sink knows why.
    Stop(End),
}

/// Receives what the tokenizer finds.
pub(crate) trait Sink {
    /// Whether the sink wants every start tag; if not, [`Sink::start_tag`]
    /// sees only the elements that carry metadata (`meta`, `title`, `html`,
    /// `link`, `script`, `base`): that saves a call per tag. Asked at each
    /// start tag.
    fn wants_everything(&self) -> bool;

    /// Whether the sink wants the data text; if not, [`Sink::data`] is
    /// never called. Asked once, when tokenizing starts.
    fn wants_data(&self) -> bool;

    /// A start tag.
    fn start_tag(&mut self, tag: &StartTag<'_>) -> Reply;

    /// The raw text of the element whose start tag answered
    /// [`Reply::TakeText`], up to its end tag or the end of the input.
    fn text(&mut self, text: &[u8]) -> ControlFlow<End>;

    /// Text in the data state (between tags, outside raw-text elements),
    /// with whether it is inside template contents.
    fn data(&mut self, text: &[u8], in_template: bool) -> ControlFlow<End>;
}

/// Tokenizes `input` (ASCII-compatible bytes) into `sink`, with `budget`
/// bytes for the tokenizer's own stacks and attribute lists. Returns how
/// far it got.
pub(crate) fn tokenize(input: &[u8], budget: usize, sink: &mut impl Sink) -> End {
    let mut tokenizer = Tokenizer {
        input,
        specials: Specials::new(input),
        namespaces: vec![Namespace::Html],
        templates: Vec::new(),
        foreign_templates: 0,
        attributes: Vec::new(),
        max_depth: budget / (4 * size_of::<usize>()),
        max_attributes: budget / (4 * size_of::<Attribute>()),
    };
    match tokenizer.run(sink) {
        ControlFlow::Continue(()) => End::Complete,
        ControlFlow::Break(end) => end,
    }
}

/// The tokenizer's state between tags.
struct Tokenizer<'a> {
    input: &'a [u8],
    /// Where the next `<`, `>` or quote is.
    specials: Specials<'a>,
    /// The namespace stack of the tree builder simulation; never empty.
    namespaces: Vec<Namespace>,
    /// One entry per open `<template>`: the namespace stack's length when it
    /// opened, which nothing inside it may pop below.
    templates: Vec<usize>,
    /// `<template>` elements open in foreign content (SVG or MathML ones,
    /// with no template contents), which a `</template>` there closes
    /// before any HTML template; reset when HTML content resumes.
    foreign_templates: usize,
    /// The attributes of the current start tag (reused).
    attributes: Vec<Attribute>,
    /// Bounds on the stacks and the attribute list, from the budget.
    max_depth: usize,
    max_attributes: usize,
}

/// Whether `byte` is whitespace to the tokenizer (CR counts: the input
/// stream turns it into LF).
const fn is_space(byte: u8) -> bool {
    matches!(byte, b'\t' | b'\n' | b'\x0C' | b'\r' | b' ')
}

/// Whether `byte` ends a tag name.
fn ends_tag_name(byte: u8) -> bool {
    is_space(byte) || byte == b'/' || byte == b'>'
}

/// Where a tag ended: just past its `>`, and whether it was `/>`.
struct TagEnd {
    next: usize,
    self_closing: bool,
}

impl Tokenizer<'_> {
    fn current(&self) -> Namespace {
        *self.namespaces.last().unwrap_or(&Namespace::Html)
    }

    fn run(&mut self, sink: &mut impl Sink) -> ControlFlow<End> {
        let input = self.input;
        let wants_data = sink.wants_data();
        // Start of the data text not yet handed to the sink, and where to
        // look for the next `<`.
        let mut text_start = 0;
        let mut at = 0;
        while let Some(open) = self.specials.next_of(at, b'<') {
            let next = match input.get(open + 1) {
                Some(byte) if byte.is_ascii_alphabetic() => Markup::StartTag,
                Some(b'/') => match input.get(open + 2) {
                    Some(byte) if byte.is_ascii_alphabetic() => Markup::EndTag,
                    Some(b'>') => Markup::Skip(open + 3),
                    Some(_) => Markup::Bogus(open + 2),
                    None => Markup::Text,
                },
                Some(b'!') => Markup::Declaration,
                Some(b'?') => Markup::Bogus(open + 1),
                _ => Markup::Text,
            };
            if matches!(next, Markup::Text) {
                // A `<` that starts nothing is text; the data run goes on.
                at = open + 1;
                continue;
            }
            if wants_data && text_start < open {
                sink.data(&input[text_start..open], !self.templates.is_empty())?;
            }
            let resume = match next {
                Markup::StartTag => self.start_tag(open + 1, sink)?,
                Markup::EndTag => self.end_tag(open + 2)?,
                Markup::Skip(next) => next,
                Markup::Bogus(from) => self.past(from, b'>')?,
                Markup::Declaration => self.declaration(open + 2)?,
                Markup::Text => unreachable!("handled above"),
            };
            text_start = resume;
            at = resume;
        }
        if wants_data && text_start < input.len() {
            sink.data(&input[text_start..], !self.templates.is_empty())?;
        }
        ControlFlow::Continue(())
    }

    /// A start tag whose name begins at `from`; returns where data resumes.
    fn start_tag(&mut self, from: usize, sink: &mut impl Sink) -> ControlFlow<End, usize> {
        let input = self.input;
        let name_end = scan_while(input, from, |byte| !ends_tag_name(byte));
        let kind = Kind::of(input, from..name_end);
        self.attributes.clear();
        let end = if kind.needs_attributes() {
            self.attributes_until_end::<true>(name_end)?
        } else if kind.needs_self_closing() {
            self.attributes_until_end::<false>(name_end)?
        } else {
            self.skip_tag(name_end)?
        };
        let in_template = !self.templates.is_empty();
        let (html, mode) = self.start_tag_feedback(kind, end.self_closing)?;
        let tag = StartTag {
            kind,
            html,
            in_template,
            attributes: &self.attributes,
            input,
        };
        let reply = if kind.carries_metadata() || sink.wants_everything() {
            sink.start_tag(&tag)
        } else {
            Reply::Continue
        };
        let take_text = match reply {
            Reply::Continue => false,
            Reply::TakeText => true,
            Reply::Stop(why) => return ControlFlow::Break(why),
        };
        let Some(mode) = mode else {
            return ControlFlow::Continue(end.next);
        };
        let (text_end, resume) = match mode {
            TextMode::Plaintext => (input.len(), None),
            TextMode::ScriptData => self.script_data_end(end.next),
            TextMode::Rcdata | TextMode::Rawtext => {
                let name = &input[from..name_end];
                self.raw_text_end(end.next, name)
            }
        };
        if take_text {
            sink.text(&input[end.next..text_end])?;
        }
        match resume {
            // The end tag of the raw-text element: its attributes, then its
            // feedback like any end tag's.
            Some(after_name) => {
                let end = self.skip_tag(after_name)?;
                self.end_tag_feedback(kind);
                ControlFlow::Continue(end.next)
            }
            None => ControlFlow::Break(End::Complete),
        }
    }

    /// An end tag whose name begins at `from`.
    fn end_tag(&mut self, from: usize) -> ControlFlow<End, usize> {
        let name_end = scan_while(self.input, from, |byte| !ends_tag_name(byte));
        let end = self.skip_tag(name_end)?;
        // In HTML content outside templates, no end tag changes anything.
        if self.namespaces.len() > 1 || !self.templates.is_empty() {
            let kind = Kind::of(self.input, from..name_end);
            self.end_tag_feedback(kind);
        }
        ControlFlow::Continue(end.next)
    }

    /// After `<!`: a comment, a DOCTYPE, a CDATA section or a bogus comment.
    fn declaration(&mut self, from: usize) -> ControlFlow<End, usize> {
        let input = self.input;
        let rest = &input[from..];
        if rest.starts_with(b"--") {
            return comment_end(input, from + 2);
        }
        if rest.starts_with(b"[CDATA[") && self.current() != Namespace::Html {
            let from = from + b"[CDATA[".len();
            return match memmem::find(&input[from..], b"]]>") {
                Some(found) => ControlFlow::Continue(from + found + 3),
                None => ControlFlow::Break(End::Complete),
            };
        }
        // A DOCTYPE ends at the first `>` whatever its quotes hold, as a
        // bogus comment does.
        self.past(from, b'>')
    }

    /// Just past the first `byte` (a special one) at or after `from`; the
    /// end of the input ends tokenizing.
    fn past(&mut self, from: usize, byte: u8) -> ControlFlow<End, usize> {
        match self.specials.next_of(from, byte) {
            Some(found) => ControlFlow::Continue(found + 1),
            None => ControlFlow::Break(End::Complete),
        }
    }

    /// Runs the attribute states from `from` (just after the tag name) to
    /// the tag's `>`, without recording anything: it jumps from special byte
    /// to special byte, and reads the bytes between them only to learn
    /// whether a quote opens a value. Whether the tag was self-closing is
    /// not worked out (`false`).
    #[inline(always)]
    fn skip_tag(&mut self, from: usize) -> ControlFlow<End, TagEnd> {
        let input = self.input;
        let mut state = AttributeState::BeforeName;
        // The bytes before `read` have been through `state`.
        let mut read = from;
        loop {
            let Some(special) = self.specials.next(read) else {
                return ControlFlow::Break(End::Complete);
            };
            let byte = input[special];
            if byte == b'>' {
                // In every state but a quoted value, `>` ends the tag.
                return ControlFlow::Continue(TagEnd {
                    next: special + 1,
                    self_closing: false,
                });
            }
            state = state.after_all(&input[read..special]);
            if state == AttributeState::BeforeValue && byte != b'<' {
                let Some(close) = self.specials.next_of(special + 1, byte) else {
                    return ControlFlow::Break(End::Complete);
                };
                state = AttributeState::BeforeName;
                read = close + 1;
            } else {
                state = state.after(byte);
                read = special + 1;
            }
        }
    }

    /// Runs the attribute states from `from` (just after the tag name) to
    /// the tag's `>`, recording the attributes when `RECORD`. The end of
    /// the input inside a tag drops the tag: that ends tokenizing.
    fn attributes_until_end<const RECORD: bool>(
        &mut self,
        mut at: usize,
    ) -> ControlFlow<End, TagEnd> {
        let input = self.input;
        let eof = ControlFlow::Break(End::Complete);
        loop {
            // Before attribute name (also after a quoted value, and what
            // the self-closing start tag state falls back to).
            let Some(&byte) = input.get(at) else {
                return eof;
            };
            match byte {
                byte if is_space(byte) => {
                    at += 1;
                    continue;
                }
                b'/' => match input.get(at + 1) {
                    Some(b'>') => {
                        return ControlFlow::Continue(TagEnd {
                            next: at + 2,
                            self_closing: true,
                        });
                    }
                    Some(_) => {
                        at += 1;
                        continue;
                    }
                    None => return eof,
                },
                b'>' => {
                    return ControlFlow::Continue(TagEnd {
                        next: at + 1,
                        self_closing: false,
                    });
                }
                _ => {}
            }
            // Attribute name: its first character may be `=`.
            let name_start = at;
            at = scan_while(input, at + 1, |byte| !ends_tag_name(byte) && byte != b'=');
            let name = name_start..at;
            // After attribute name.
            at = scan_while(input, at, is_space);
            let value = if input.get(at) == Some(&b'=') {
                // Before attribute value.
                at = scan_while(input, at + 1, is_space);
                match input.get(at) {
                    None => return eof,
                    Some(&quote @ (b'"' | b'\'')) => {
                        let Some(length) = memchr(quote, &input[at + 1..]) else {
                            return eof;
                        };
                        let value = at + 1..at + 1 + length;
                        at = value.end + 1;
                        value
                    }
                    // A missing value: the `>` ends the tag, next round.
                    Some(b'>') => at..at,
                    Some(_) => {
                        let start = at;
                        at = scan_while(input, at, |byte| !is_space(byte) && byte != b'>');
                        start..at
                    }
                }
            } else {
                at..at
            };
            if RECORD {
                if self.attributes.len() >= self.max_attributes {
                    return ControlFlow::Break(End::MemoryLimit);
                }
                self.attributes.push(Attribute { name, value });
            }
        }
    }

    /// The tree builder's feedback on a start tag: whether the element is
    /// created in the HTML namespace, and how the text after it is read.
    fn start_tag_feedback(
        &mut self,
        kind: Kind,
        self_closing: bool,
    ) -> ControlFlow<End, (bool, Option<TextMode>)> {
        let current = self.current();
        match kind {
            Kind::Svg | Kind::Math => {
                let namespace = if kind == Kind::Svg {
                    Namespace::Svg
                } else {
                    Namespace::MathMl
                };
                if !self_closing {
                    self.enter(namespace)?;
                }
                return ControlFlow::Continue((false, None));
            }
            _ if current != Namespace::Html => {}
            Kind::Template => {
                if self.templates.len() >= self.max_depth {
                    return ControlFlow::Break(End::MemoryLimit);
                }
                self.templates.push(self.namespaces.len());
                return ControlFlow::Continue((true, None));
            }
            _ => {
                let mode = match kind {
                    Kind::Title | Kind::Textarea => Some(TextMode::Rcdata),
                    Kind::Script => Some(TextMode::ScriptData),
                    Kind::Plaintext => Some(TextMode::Plaintext),
                    Kind::Style
                    | Kind::Xmp
                    | Kind::Iframe
                    | Kind::Noembed
                    | Kind::Noframes
                    | Kind::Noscript => Some(TextMode::Rawtext),
                    _ => None,
                };
                return ControlFlow::Continue((true, mode));
            }
        }
        self.foreign_start_tag(kind, self_closing, current)
    }

    /// [`Tokenizer::start_tag_feedback`] in foreign content (SVG or MathML),
    /// kept out of line: most pages have none.
    #[inline(never)]
    fn foreign_start_tag(
        &mut self,
        kind: Kind,
        self_closing: bool,
        current: Namespace,
    ) -> ControlFlow<End, (bool, Option<TextMode>)> {
        if kind == Kind::Template && !self_closing {
            self.foreign_templates += 1;
        }
        let breaks_out = kind.breaks_out()
            || kind == Kind::Font
                && ["color", "face", "size"]
                    .iter()
                    .any(|name| self.attribute_value(name).is_some());
        if breaks_out {
            self.leave();
            return ControlFlow::Continue((self.current() == Namespace::Html, None));
        }
        let enters_html = !self_closing
            && match (current, kind) {
                (Namespace::Svg, Kind::SvgHtml | Kind::Title) => true,
                (Namespace::MathMl, Kind::MathText) => true,
                (Namespace::MathMl, Kind::AnnotationXml) => {
                    self.attribute_value("encoding").is_some_and(|encoding| {
                        encoding.eq_ignore_ascii_case(b"text/html")
                            || encoding.eq_ignore_ascii_case(b"application/xhtml+xml")
                    })
                }
                _ => false,
            };
        if enters_html {
            self.enter(Namespace::Html)?;
        }
        ControlFlow::Continue((false, None))
    }

    /// The tree builder's feedback on an end tag.
    #[inline(never)]
    fn end_tag_feedback(&mut self, kind: Kind) {
        if kind == Kind::Template {
            if self.current() != Namespace::Html && self.foreign_templates > 0 {
                self.foreign_templates -= 1;
            } else if let Some(depth) = self.templates.pop() {
                self.namespaces.truncate(depth);
                self.foreign_templates = 0;
            }
            return;
        }
        let current = self.current();
        let leaves = if current == Namespace::Html {
            // Leaving an integration point.
            let parent = self
                .namespaces
                .len()
                .checked_sub(2)
                .map(|at| self.namespaces[at]);
            matches!(
                (parent, kind),
                (
                    Some(Namespace::MathMl),
                    Kind::MathText | Kind::AnnotationXml
                ) | (Some(Namespace::Svg), Kind::SvgHtml | Kind::Title)
            )
        } else {
            matches!(
                (current, kind),
                (Namespace::Svg, Kind::Svg)
                    | (Namespace::MathMl, Kind::Math)
                    | (_, Kind::P | Kind::Br)
            )
        };
        if leaves {
            self.leave();
        }
    }

    fn enter(&mut self, namespace: Namespace) -> ControlFlow<End> {
        if self.namespaces.len() >= self.max_depth {
            return ControlFlow::Break(End::MemoryLimit);
        }
        self.namespaces.push(namespace);
        ControlFlow::Continue(())
    }

    /// Pops one namespace, never the root's nor below an open template's.
    fn leave(&mut self) {
        let floor = self.templates.last().copied().unwrap_or(1).max(1);
        if self.namespaces.len() > floor {
            self.namespaces.pop();
        }
        if self.current() == Namespace::Html {
            self.foreign_templates = 0;
        }
    }

    fn attribute_value(&self, name: &str) -> Option<&[u8]> {
        first_attribute(self.input, &self.attributes, name)
    }

    /// The end of RCDATA or RAWTEXT text starting at `from`, for the
    /// element named `name`: where its end tag opens, and where the end
    /// tag's name ends (`None` when the text runs to the end of the input).
    fn raw_text_end(&self, from: usize, name: &[u8]) -> (usize, Option<usize>) {
        let input = self.input;
        let mut at = from;
        while let Some(found) = memchr(b'<', &input[at..]) {
            let open = at + found;
            if let Some(after_name) = appropriate_end_tag(input, open, name) {
                return (open, Some(after_name));
            }
            at = open + 1;
        }
        (input.len(), None)
    }

    /// The end of script data starting at `from`, through the escaped and
    /// double-escaped states: where `</script` opens, and where its name
    /// ends (`None` when the script runs to the end of the input).
    fn script_data_end(&self, from: usize) -> (usize, Option<usize>) {
        let input = self.input;
        let mut at = from;
        loop {
            // Script data: only `</script` and `<!--` matter.
            let Some(found) = memchr(b'<', &input[at..]) else {
                return (input.len(), None);
            };
            let open = at + found;
            if let Some(after_name) = appropriate_end_tag(input, open, b"script") {
                return (open, Some(after_name));
            }
            if !input[open + 1..].starts_with(b"!--") {
                at = open + 1;
                continue;
            }
            // Escaped, just after `<!--` (so in the dash-dash state).
            at = open + 4;
            let mut double = false;
            let mut dash_dash = true;
            loop {
                if dash_dash && input.get(at) == Some(&b'>') {
                    // `-->` goes back to script data, from either state.
                    at += 1;
                    break;
                }
                let Some(found) = memchr2(b'<', b'-', &input[at..]) else {
                    return (input.len(), None);
                };
                let special = at + found;
                if input[special] == b'-' {
                    let run_end = scan_while(input, special, |byte| byte == b'-');
                    dash_dash = run_end - special >= 2 || (special == at && dash_dash);
                    at = run_end;
                    continue;
                }
                dash_dash = false;
                at = special + 1;
                if double {
                    // Double escaped: `</script` followed by a delimiter
                    // returns to escaped; the delimiter is consumed.
                    if input.get(at) == Some(&b'/')
                        && let Some(after_name) = script_word_end(input, at + 1)
                    {
                        double = false;
                        at = after_name + 1;
                    }
                } else if let Some(after_name) = appropriate_end_tag(input, special, b"script") {
                    return (special, Some(after_name));
                } else if input.get(at).is_some_and(u8::is_ascii_alphabetic) {
                    // A run of letters: `script` and a delimiter start
                    // double escaping; otherwise the byte after the letters
                    // is read again in the escaped state.
                    match script_word_end(input, at) {
                        Some(after_name) => {
                            double = true;
                            at = after_name + 1;
                        }
                        None => at = scan_while(input, at, |byte| byte.is_ascii_alphabetic()),
                    }
                }
            }
        }
    }
}

/// The attribute states of the tokenizer, as far as they decide whether
/// a quote opens a value. The self-closing start tag state and the state
/// after a quoted value behave as `BeforeName` for every byte but `>`, and
/// the attribute name state as the state after a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AttributeState {
    BeforeName,
    /// In an attribute's name, or after it.
    Name,
    BeforeValue,
    Unquoted,
}

impl AttributeState {
    /// The state after the bytes of `run` (none of them `>` or a quote
    /// opening a value), through a table: one load per byte, no branch.
    fn after_all(self, run: &[u8]) -> AttributeState {
        static TRANSITIONS: [[AttributeState; 256]; 4] = {
            let mut table = [[AttributeState::BeforeName; 256]; 4];
            let states = [
                AttributeState::BeforeName,
                AttributeState::Name,
                AttributeState::BeforeValue,
                AttributeState::Unquoted,
            ];
            let mut state = 0;
            while state < states.len() {
                let mut byte = 0;
                while byte < 256 {
                    table[states[state] as usize][byte] = states[state].after(byte as u8);
                    byte += 1;
                }
                state += 1;
            }
            table
        };
        run.iter().fold(self, |state, &byte| {
            TRANSITIONS[state as usize][usize::from(byte)]
        })
    }

    /// The state after `byte` (not `>`, and not a quote opening a value).
    const fn after(self, byte: u8) -> AttributeState {
        use AttributeState::*;
        let space = is_space(byte);
        match self {
            BeforeName if space || byte == b'/' => BeforeName,
            BeforeName => Name,
            Name if byte == b'/' => BeforeName,
            Name if byte == b'=' => BeforeValue,
            Name => Name,
            BeforeValue if space => BeforeValue,
            BeforeValue => Unquoted,
            Unquoted if space => BeforeName,
            Unquoted => Unquoted,
        }
    }
}

/// What a `<` opens.
enum Markup {
    StartTag,
    EndTag,
    /// Nothing (`</>`): data resumes here.
    Skip(usize),
    /// A bogus comment whose text starts here.
    Bogus(usize),
    /// `<!`.
    Declaration,
    /// Nothing: the `<` is text.
    Text,
}

/// The first position at or after `at` whose byte fails `keep`.
fn scan_while(input: &[u8], at: usize, keep: impl Fn(u8) -> bool) -> usize {
    input[at.min(input.len())..]
        .iter()
        .position(|&byte| !keep(byte))
        .map_or(input.len(), |found| at + found)
}

/// The end of a comment whose text starts at `from` (just after `<!--`):
/// `>` or `->` right away, else the first `-->` or `--!>`.
fn comment_end(input: &[u8], from: usize) -> ControlFlow<End, usize> {
    let rest = &input[from..];
    if rest.starts_with(b">") {
        return ControlFlow::Continue(from + 1);
    }
    if rest.starts_with(b"->") {
        return ControlFlow::Continue(from + 2);
    }
    let mut at = from;
    loop {
        let Some(found) = memmem::find(&input[at..], b"--") else {
            return ControlFlow::Break(End::Complete);
        };
        let after = at + found + 2;
        match input.get(after) {
            Some(b'>') => return ControlFlow::Continue(after + 1),
            Some(b'!') if input.get(after + 1) == Some(&b'>') => {
                return ControlFlow::Continue(after + 2);
            }
            // `---`: the next pair starts one dash on.
            Some(b'-') => at = after - 1,
            _ => at = after,
        }
    }
}

/// If an end tag for `name` (any case) opens at `open` (`</name` then
/// whitespace, `/` or `>`), where its name ends.
fn appropriate_end_tag(input: &[u8], open: usize, name: &[u8]) -> Option<usize> {
    let after_name = open + 2 + name.len();
    let written = input.get(open + 2..after_name)?;
    let delimited = input
        .get(after_name)
        .is_some_and(|&byte| ends_tag_name(byte));
    (input[open + 1] == b'/' && delimited && written.eq_ignore_ascii_case(name))
        .then_some(after_name)
}

/// If the letters at `from` are `script` (any case) followed by whitespace,
/// `/` or `>`, where they end (at the delimiter).
fn script_word_end(input: &[u8], from: usize) -> Option<usize> {
    let end = from + b"script".len();
    let word = input.get(from..end)?;
    let delimited = input.get(end).is_some_and(|&byte| ends_tag_name(byte));
    (delimited && word.eq_ignore_ascii_case(b"script")).then_some(end)
}

//! Pages in legacy encodings (`/fault/encoding/NAME`) and a page of invalid bytes
//! (`/fault/invalid-bytes`): the cases where an extractor must find the right charset (from the
//! header, from a `<meta charset>`, or by sniffing) or replace bad bytes instead of failing.
//! Each page's expected title and description are public, so tests compare decoded results.

use std::str::FromStr;

use encoding_rs::Encoding;

/// A character encoding that `/fault/encoding/NAME` serves pages in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LegacyEncoding {
    /// Shift_JIS (Japanese).
    ShiftJis,
    /// EUC-JP (Japanese).
    EucJp,
    /// GB18030 (Chinese).
    Gb18030,
    /// Big5 (traditional Chinese).
    Big5,
    /// EUC-KR (Korean).
    EucKr,
    /// windows-1251 (Cyrillic).
    Windows1251,
    /// windows-1252 (Western European; what `ISO-8859-1` means on the web).
    Windows1252,
    /// UTF-16, little-endian, with a byte-order mark.
    Utf16LeBom,
    /// UTF-16, big-endian, with a byte-order mark.
    Utf16BeBom,
}

impl LegacyEncoding {
    /// Every encoding served.
    pub const ALL: [LegacyEncoding; 9] = [
        Self::ShiftJis,
        Self::EucJp,
        Self::Gb18030,
        Self::Big5,
        Self::EucKr,
        Self::Windows1251,
        Self::Windows1252,
        Self::Utf16LeBom,
        Self::Utf16BeBom,
    ];

    /// The `NAME` in `/fault/encoding/NAME`.
    pub fn path_name(self) -> &'static str {
        match self {
            Self::ShiftJis => "shift_jis",
            Self::EucJp => "euc-jp",
            Self::Gb18030 => "gb18030",
            Self::Big5 => "big5",
            Self::EucKr => "euc-kr",
            Self::Windows1251 => "windows-1251",
            Self::Windows1252 => "windows-1252",
            Self::Utf16LeBom => "utf-16le-bom",
            Self::Utf16BeBom => "utf-16be-bom",
        }
    }

    /// The encoding as `encoding_rs` knows it (decode with it to check a page).
    pub fn encoding(self) -> &'static Encoding {
        match self {
            Self::ShiftJis => encoding_rs::SHIFT_JIS,
            Self::EucJp => encoding_rs::EUC_JP,
            Self::Gb18030 => encoding_rs::GB18030,
            Self::Big5 => encoding_rs::BIG5,
            Self::EucKr => encoding_rs::EUC_KR,
            Self::Windows1251 => encoding_rs::WINDOWS_1251,
            Self::Windows1252 => encoding_rs::WINDOWS_1252,
            Self::Utf16LeBom => encoding_rs::UTF_16LE,
            Self::Utf16BeBom => encoding_rs::UTF_16BE,
        }
    }

    /// The page's `<title>`, in Unicode.
    pub fn title(self) -> &'static str {
        match self {
            Self::ShiftJis | Self::EucJp => "日本語のページ",
            Self::Gb18030 => "中文页面",
            Self::Big5 => "繁體中文頁面",
            Self::EucKr => "한국어 페이지",
            Self::Windows1251 => "Русская страница",
            Self::Windows1252 => "Café crème brûlée",
            Self::Utf16LeBom | Self::Utf16BeBom => "Ünïcödé 日本語 Русский",
        }
    }

    /// The page's `<meta name="description">`, in Unicode.
    pub fn description(self) -> &'static str {
        match self {
            Self::ShiftJis | Self::EucJp => {
                "文字コードを正しく判定できるかを確かめるための試験ページです。"
            }
            Self::Gb18030 => "这是一个用于测试字符编码识别是否正确的页面。",
            Self::Big5 => "這是一個用於測試字元編碼識別是否正確的頁面。",
            Self::EucKr => "문자 인코딩을 올바르게 판별하는지 확인하기 위한 시험 페이지입니다.",
            Self::Windows1251 => "Страница для проверки правильного определения кодировки.",
            Self::Windows1252 => {
                "Une page à l'ancienne, déclarée ou devinée, où «é» doit rester é."
            }
            Self::Utf16LeBom | Self::Utf16BeBom => {
                "Eine Seite in UTF-16 mit BOM: 日本語、Русский, Ελληνικά."
            }
        }
    }

    /// The charset label the page declares (in its header or meta, as asked).
    pub fn label(self) -> &'static str {
        match self {
            Self::Utf16LeBom => "utf-16le",
            Self::Utf16BeBom => "utf-16be",
            other => other.encoding().name(),
        }
    }

    /// Longer running text in the page's language, so that sniffing without a declaration has
    /// something to go on.
    fn body_text(self) -> &'static str {
        match self {
            Self::ShiftJis | Self::EucJp => {
                "これは日本語で書かれた段落です。文字コードの宣言がなくても、十分な量の文章があれば、\
                 ブラウザは正しい文字コードを推測できるはずです。ひらがな、カタカナ、漢字を含みます。"
            }
            Self::Gb18030 => {
                "这是一段用中文写的文字。即使没有声明字符编码，只要文字足够多，浏览器也应该能够猜出正确的编码。\
                 我们在这里多写几句话，以便检测器有足够的依据。"
            }
            Self::Big5 => {
                "這是一段用繁體中文寫的文字。即使沒有宣告字元編碼，只要文字足夠多，瀏覽器也應該能夠猜出正確的編碼。\
                 我們在這裡多寫幾句話，以便偵測器有足夠的依據。"
            }
            Self::EucKr => {
                "이것은 한국어로 쓴 문단입니다. 문자 인코딩 선언이 없어도 글이 충분히 길면 브라우저는 \
                 올바른 인코딩을 추측할 수 있어야 합니다. 그래서 여기에 몇 문장을 더 씁니다."
            }
            Self::Windows1251 => {
                "Это абзац, написанный по-русски. Даже без объявления кодировки браузер должен \
                 угадать правильную кодировку, если текста достаточно. Поэтому здесь ещё несколько предложений."
            }
            Self::Windows1252 => {
                "Voilà un paragraphe écrit en français, où les accents — é, è, à, ç, ô — doivent \
                 survivre au décodage, même sans déclaration de jeu de caractères. Ça marche?"
            }
            Self::Utf16LeBom | Self::Utf16BeBom => {
                "The byte-order mark decides: UTF-16 pages start with FF FE or FE FF, and that \
                 wins over any declaration. Ünïcödé text: 日本語のテキスト, русский текст."
            }
        }
    }
}

impl FromStr for LegacyEncoding {
    type Err = crate::UnknownName;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|encoding| encoding.path_name() == name)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|e| e.path_name()).collect();
                crate::UnknownName {
                    what: "encoding",
                    name: name.to_owned(),
                    choices: format!("one of {}", names.join(", ")),
                }
            })
    }
}

/// Where a page declares its charset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Declaration {
    /// In the `Content-Type` header only (`declare=header`, the default).
    #[default]
    Header,
    /// In a `<meta charset>` tag only (`declare=meta`).
    Meta,
    /// Nowhere: the reader must sniff (`declare=none`).
    None,
}

impl FromStr for Declaration {
    type Err = crate::UnknownName;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "header" => Ok(Self::Header),
            "meta" => Ok(Self::Meta),
            "none" => Ok(Self::None),
            other => Err(crate::UnknownName {
                what: "declaration",
                name: other.to_owned(),
                choices: "header, meta or none".to_owned(),
            }),
        }
    }
}

/// A page as bytes on the wire, with the `Content-Type` to send it under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPage {
    /// The `Content-Type` header value.
    pub content_type: String,
    /// The body bytes.
    pub body: Vec<u8>,
}

/// The page that `/fault/encoding/NAME?declare=...` serves.
///
/// ```
/// use abreast_site::{Declaration, LegacyEncoding, legacy_page};
/// let page = legacy_page(LegacyEncoding::ShiftJis, Declaration::Meta);
/// assert_eq!(page.content_type, "text/html");
/// let (text, _, had_errors) = LegacyEncoding::ShiftJis.encoding().decode(&page.body);
/// assert!(!had_errors);
/// assert!(text.contains("<title>日本語のページ</title>"));
/// ```
pub fn legacy_page(encoding: LegacyEncoding, declaration: Declaration) -> EncodedPage {
    let meta = match declaration {
        Declaration::Meta => format!("<meta charset=\"{}\">\n", encoding.label()),
        Declaration::Header | Declaration::None => String::new(),
    };
    let html = format!(
        "<!DOCTYPE html>\n<html>\n<head>\n{meta}<title>{title}</title>\n\
         <meta name=\"description\" content=\"{description}\">\n\
         <meta property=\"og:title\" content=\"{title}\">\n</head>\n<body>\n<h1>{title}</h1>\n\
         <p>{text}</p>\n</body>\n</html>\n",
        title = encoding.title(),
        description = encoding.description(),
        text = encoding.body_text(),
    );
    let body = match encoding {
        LegacyEncoding::Utf16LeBom => std::iter::once(0xFEFF)
            .chain(html.encode_utf16())
            .flat_map(u16::to_le_bytes)
            .collect(),
        LegacyEncoding::Utf16BeBom => std::iter::once(0xFEFF)
            .chain(html.encode_utf16())
            .flat_map(u16::to_be_bytes)
            .collect(),
        other => {
            let (bytes, _, had_errors) = other.encoding().encode(&html);
            debug_assert!(!had_errors, "{other:?} cannot encode its own sample text");
            bytes.into_owned()
        }
    };
    let content_type = match declaration {
        Declaration::Header => format!("text/html; charset={}", encoding.label()),
        Declaration::Meta | Declaration::None => "text/html".to_owned(),
    };
    EncodedPage { content_type, body }
}

/// The title of `/fault/invalid-bytes` as a correct reader decodes it: each invalid sequence
/// becomes U+FFFD REPLACEMENT CHARACTER.
pub const INVALID_BYTES_TITLE: &str = "Bad \u{FFFD}\u{FFFD} bytes \u{FFFD}( here";

/// The page `/fault/invalid-bytes` serves: declared UTF-8 in both the header and a meta tag, with
/// invalid UTF-8 in its title (decoding to [`INVALID_BYTES_TITLE`]), its description and body.
pub fn invalid_bytes_page() -> EncodedPage {
    let mut body = Vec::new();
    body.extend_from_slice(
        b"<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>Bad ",
    );
    body.extend_from_slice(b"\xFF\xFE bytes \xC3( here</title>\n");
    body.extend_from_slice(
        b"<meta name=\"description\" content=\"cut short: \xE6\x97 and a lone \x80\">\n",
    );
    body.extend_from_slice(
        b"</head>\n<body>\n<p>Overlong \xC0\xAF, surrogate \xED\xA0\x80, end \xF0\x9F</p>\n",
    );
    body.extend_from_slice(b"</body>\n</html>\n");
    EncodedPage {
        content_type: "text/html; charset=utf-8".to_owned(),
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_encoding_round_trips_with_every_declaration() {
        for encoding in LegacyEncoding::ALL {
            for declaration in [Declaration::Header, Declaration::Meta, Declaration::None] {
                let page = legacy_page(encoding, declaration);
                let (text, _, had_errors) = encoding.encoding().decode(&page.body);
                assert!(!had_errors, "{encoding:?}");
                assert!(text.contains(&format!("<title>{}</title>", encoding.title())));
                assert!(text.contains(encoding.description()));
                assert_eq!(
                    page.content_type.contains("charset="),
                    declaration == Declaration::Header
                );
                assert_eq!(
                    text.contains("<meta charset="),
                    declaration == Declaration::Meta
                );
                assert_eq!(encoding.path_name().parse::<LegacyEncoding>(), Ok(encoding));
            }
        }
    }

    #[test]
    fn legacy_pages_are_not_utf8() {
        for encoding in LegacyEncoding::ALL {
            let page = legacy_page(encoding, Declaration::None);
            assert!(std::str::from_utf8(&page.body).is_err(), "{encoding:?}");
        }
    }

    #[test]
    fn invalid_bytes_decode_to_the_documented_title() {
        let page = invalid_bytes_page();
        assert!(std::str::from_utf8(&page.body).is_err());
        let text = String::from_utf8_lossy(&page.body);
        assert!(
            text.contains(&format!("<title>{INVALID_BYTES_TITLE}</title>")),
            "{text}"
        );
    }
}

//! Text-encoding detection for the text formats: UTF-8, UTF-8 with a byte-order
//! mark, and CP949/EUC-KR (common in Korean Excel exports). The encoding is
//! detected from the first 64 KiB, never configured.

use encoding_rs_io::DecodeReaderBytesBuilder;
use serde::Serialize;
use std::io::{self, BufRead, BufReader, Cursor, Read};

const SNIFF_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TextEncoding {
    Utf8,
    Utf8Bom,
    Cp949,
}

/// Detects the encoding and returns a reader of UTF-8 bytes (BOM removed).
///
/// Rule: a BOM means UTF-8; otherwise a head that is valid UTF-8 (a character
/// cut at the sniff boundary allowed) is UTF-8; otherwise a head that decodes
/// cleanly as CP949 is CP949; otherwise UTF-8, and the invalid bytes are
/// reported record by record as `invalid_encoding`.
pub fn utf8_reader<R: Read + Send + 'static>(
    mut input: R,
) -> io::Result<(TextEncoding, Box<dyn BufRead + Send>)> {
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    (&mut input)
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)?;
    if let Some(rest) = head.strip_prefix(b"\xEF\xBB\xBF") {
        let rest = rest.to_vec();
        return Ok((
            TextEncoding::Utf8Bom,
            Box::new(BufReader::with_capacity(
                256 * 1024,
                Cursor::new(rest).chain(input),
            )),
        ));
    }
    let encoding = detect(&head, head.len() == SNIFF_BYTES);
    let joined = Cursor::new(head).chain(input);
    Ok(match encoding {
        TextEncoding::Cp949 => {
            let decoder = DecodeReaderBytesBuilder::new()
                .encoding(Some(encoding_rs::EUC_KR))
                .build(joined);
            (
                TextEncoding::Cp949,
                Box::new(BufReader::with_capacity(256 * 1024, decoder)),
            )
        }
        other => (
            other,
            Box::new(BufReader::with_capacity(256 * 1024, joined)),
        ),
    })
}

fn detect(head: &[u8], maybe_cut: bool) -> TextEncoding {
    match std::str::from_utf8(head) {
        Ok(_) => return TextEncoding::Utf8,
        // A multi-byte character cut by the sniff window is still UTF-8.
        Err(e) if e.error_len().is_none() && maybe_cut => return TextEncoding::Utf8,
        Err(_) => {}
    }
    // Judge CP949 on whole lines so a cut double-byte character does not count.
    let whole = match memchr::memrchr(b'\n', head) {
        Some(i) if maybe_cut => &head[..i],
        _ => head,
    };
    let (_, had_errors) = encoding_rs::EUC_KR.decode_without_bom_handling(whole);
    if had_errors {
        TextEncoding::Utf8
    } else {
        TextEncoding::Cp949
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: Vec<u8>) -> (TextEncoding, String) {
        let (enc, mut r) = utf8_reader(Cursor::new(bytes)).unwrap();
        let mut bytes = Vec::new();
        r.read_to_end(&mut bytes).unwrap();
        (enc, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[test]
    fn utf8_bom_and_cp949_all_come_out_as_the_same_text() {
        let text = "주문번호,주문금액\nO000000001,12000\n";
        assert_eq!(
            decode(text.as_bytes().to_vec()),
            (TextEncoding::Utf8, text.to_string())
        );
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(text.as_bytes());
        assert_eq!(decode(bom), (TextEncoding::Utf8Bom, text.to_string()));
        let (cp949, _, _) = encoding_rs::EUC_KR.encode(text);
        assert_ne!(cp949.as_ref(), text.as_bytes());
        assert_eq!(
            decode(cp949.into_owned()),
            (TextEncoding::Cp949, text.to_string())
        );
    }

    #[test]
    fn binary_noise_in_utf8_text_keeps_utf8() {
        let mut bytes = "주문번호,주문금액\n".as_bytes().to_vec();
        bytes.extend_from_slice(b"\xff\xfe\x00garbage\n");
        assert_eq!(decode(bytes).0, TextEncoding::Utf8);
    }
}

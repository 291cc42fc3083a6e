//! Hostile and broken input: every case gives a clear error, never a panic,
//! and the good records of the same file are still read.

use baedal::datagen::FileNames;
use baedal::model::Record;
use baedal::readers::{self, ErrorKind, RecordError, SourceFormat};
use std::path::Path;
use std::process::Command;

fn read_bytes(format: SourceFormat, bytes: Vec<u8>) -> (Vec<Record>, Vec<RecordError>) {
    let (mut good, mut bad) = (Vec::new(), Vec::new());
    for r in readers::read(Path::new("input"), format, std::io::Cursor::new(bytes)) {
        match r {
            Ok(rec) => good.push(rec),
            Err(e) => bad.push(e),
        }
    }
    (good, bad)
}

fn kinds(errors: &[RecordError]) -> Vec<ErrorKind> {
    errors.iter().map(|e| e.kind).collect()
}

fn sample(dir: &Path) -> std::path::PathBuf {
    baedal::datagen::generate(
        &baedal::datagen::Options {
            seed: 9,
            scale: 0.01,
            out: dir.to_path_buf(),
            names: baedal::datagen::FileNames::Canonical,
        },
        &|| {},
    )
    .unwrap();
    dir.to_path_buf()
}

fn readable(format: SourceFormat, bytes: &[u8]) -> usize {
    read_bytes(format, bytes.to_vec()).0.len()
}

#[test]
fn truncated_files_keep_their_complete_records_and_report_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let dir = sample(dir.path());
    for (name, format) in FileNames::Canonical.files() {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let whole = readable(format, &bytes);
        let half = bytes[..bytes.len() / 2 + 7].to_vec();
        let (good, bad) = read_bytes(format, half);
        assert!(
            good.len() as f64 > whole as f64 * 0.3,
            "{name}: {} of {whole} read from the first half",
            good.len()
        );
        assert!(good.len() < whole, "{name}");
        let last = bad
            .last()
            .unwrap_or_else(|| panic!("{name}: the cut is reported"));
        assert!(
            matches!(
                last.kind,
                ErrorKind::Truncated
                    | ErrorKind::WrongFieldCount
                    | ErrorKind::UnterminatedQuote
                    | ErrorKind::InvalidValue
            ),
            "{name}: {last}"
        );
    }
}

#[test]
fn invalid_utf8_costs_only_its_record() {
    let dir = tempfile::tempdir().unwrap();
    let dir = sample(dir.path());
    // The three order files (the pickle's mixed records are tested below).
    let orders = FileNames::Canonical
        .files()
        .into_iter()
        .filter(|(name, _)| name.starts_with("orders."));
    for (name, format) in orders {
        let mut bytes = std::fs::read(dir.join(name)).unwrap();
        let whole = read_bytes(format, bytes.clone());
        // Corrupt one byte of a Korean name in the middle of the file.
        let middle = bytes.len() / 2;
        let at = middle
            + bytes[middle..]
                .iter()
                .position(|b| *b >= 0xEA && *b <= 0xED)
                .unwrap();
        bytes[at + 1] = 0xFF;
        let (good, bad) = read_bytes(format, bytes);
        assert_eq!(
            good.len() + 1,
            whole.0.len(),
            "{name}: exactly one record lost"
        );
        assert_eq!(bad.len(), whole.1.len() + 1, "{name}");
        assert!(
            kinds(&bad).contains(&ErrorKind::InvalidEncoding)
                || kinds(&bad).contains(&ErrorKind::Syntax),
            "{name}: {bad:?}"
        );
    }
}

#[test]
fn cp949_and_bom_csv_files_read_like_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let dir = sample(dir.path());
    let text = std::fs::read_to_string(dir.join("orders.csv")).unwrap();
    let utf8 = read_bytes(SourceFormat::Csv, text.clone().into_bytes());
    let (cp949, _, lossy) = encoding_rs::EUC_KR.encode(&text);
    assert!(!lossy);
    let from_cp949 = read_bytes(SourceFormat::Csv, cp949.into_owned());
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(text.as_bytes());
    let from_bom = read_bytes(SourceFormat::Csv, bom);
    assert_eq!(utf8.0, from_cp949.0);
    assert_eq!(utf8.0, from_bom.0);
    assert_eq!(kinds(&utf8.1), kinds(&from_cp949.1));
}

#[test]
fn the_billion_laughs_expands_nothing() {
    let mut doc =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n");
    for i in 1..=9 {
        let prev = if i == 1 {
            "lol".to_string()
        } else {
            format!("lol{}", i - 1)
        };
        doc.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">\n",
            format!("&{prev};").repeat(10)
        ));
    }
    doc.push_str("]>\n<orders>\n");
    let order = |id: u32, name: &str| {
        format!(
            "<order id=\"O{id:09}\" status=\"DELIVERED\"><orderTime>2024-03-01 12:00:00</orderTime><customer id=\"C000001\"><name>{name}</name></customer><restaurant id=\"R00001\"/></order>\n"
        )
    };
    doc.push_str(&order(1, "김*수"));
    doc.push_str(&order(2, "&lol9;"));
    doc.push_str(&order(3, "이*영"));
    doc.push_str("</orders>\n");
    let (good, bad) = read_bytes(SourceFormat::Xml, doc.into_bytes());
    assert_eq!(good.len(), 2);
    assert_eq!(kinds(&bad), [ErrorKind::Refused, ErrorKind::Refused]);
    assert!(bad[0].reason.contains("DOCTYPE"), "{}", bad[0]);
    assert!(bad[1].reason.contains("lol9"), "{}", bad[1]);
}

/// Runs the Python `script`, which writes a pickle to `path`, and reads it.
fn pickled_by_python(script: &str, path: &Path) -> (Vec<Record>, Vec<RecordError>) {
    let status = Command::new("python3")
        .arg("-c")
        .arg(script)
        .status()
        .expect("python3 runs");
    assert!(status.success(), "{script}");
    read_bytes(SourceFormat::Pickle, std::fs::read(path).unwrap())
}

#[test]
fn a_pickle_that_would_call_os_system_is_refused_and_nothing_runs() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned");
    for protocol in 2..=5 {
        let path = dir.path().join(format!("evil{protocol}.pickle"));
        let script = format!(
            r#"
import os, pickle
class Evil:
    def __reduce__(self):
        return (os.system, ("touch {marker}",))
good = {{"kind": "review", "source": "app", "payload": {{"review_id": "V1", "order_id": "O000000001", "customer_id": "C000001",
        "restaurant_id": "R00001", "rating": 5, "text": "맛있어요", "created_at": "2024-03-01T12:00:00+09:00"}}}}
with open("{path}", "wb") as f:
    pickle.dump([good, {{"kind": "review", "source": "app", "payload": Evil()}}, good], f, protocol={protocol})
"#,
            marker = marker.display(),
            path = path.display()
        );
        let (good, bad) = pickled_by_python(&script, &path);
        assert_eq!(
            good.len(),
            2,
            "protocol {protocol}: the plain elements are read"
        );
        assert_eq!(kinds(&bad), [ErrorKind::Refused], "protocol {protocol}");
        assert!(
            bad[0].reason.contains("system"),
            "protocol {protocol}: {}",
            bad[0]
        );
        assert!(!marker.exists(), "the pickle's code ran");
    }
    // A pickle that is nothing but an object is one clear error.
    let path = dir.path().join("object.pickle");
    let script = format!("import pickle, collections\npickle.dump(collections.OrderedDict(a=1), open('{}', 'wb'), protocol=4)", path.display());
    let (good, bad) = pickled_by_python(&script, &path);
    assert!(good.is_empty());
    assert_eq!(kinds(&bad), [ErrorKind::Refused]);
}

#[test]
fn cpython_pickles_with_memo_and_shared_objects_read_correctly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("memo.pickle");
    let script = format!(
        r#"
import pickle
shared = {{"review_id": "V1", "order_id": "O000000001", "restaurant_id": "R00001", "rating": 4, "text": "좋아요", "created_at": "2024-03-01T12:00:00+09:00"}}
records = [{{"kind": "review", "source": "app", "payload": shared}} for _ in range(2500)]
pickle.dump(records, open("{}", "wb"), protocol=2)
"#,
        path.display()
    );
    let (good, bad) = pickled_by_python(&script, &path);
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(good.len(), 2500);
    assert!(good
        .iter()
        .all(|r| matches!(r, Record::Review(v) if v.rating == 4 && v.text == "좋아요")));
}

#[test]
fn empty_files_are_one_clear_error_in_every_format() {
    for format in [
        SourceFormat::Csv,
        SourceFormat::JsonOrders,
        SourceFormat::JsonMessages,
        SourceFormat::Xml,
        SourceFormat::Log,
        SourceFormat::Pickle,
    ] {
        let (good, bad) = read_bytes(format, Vec::new());
        assert!(good.is_empty());
        assert_eq!(kinds(&bad), [ErrorKind::Truncated], "{format:?}");
        assert!(bad[0].reason.contains("empty"), "{format:?}: {}", bad[0]);
    }
}

#[test]
fn a_ten_megabyte_line_is_rejected_without_losing_its_neighbours() {
    let dir = tempfile::tempdir().unwrap();
    let dir = sample(dir.path());
    let huge = "가".repeat(10 * 1024 * 1024 / 3);
    for (name, format) in [
        ("orders.csv", SourceFormat::Csv),
        ("system.log", SourceFormat::Log),
    ] {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let whole = read_bytes(format, bytes.clone());
        let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
        lines.insert(5, huge.as_bytes());
        let (good, bad) = read_bytes(format, lines.join(&b'\n'));
        assert_eq!(good.len(), whole.0.len(), "{name}");
        assert_eq!(bad.len(), whole.1.len() + 1, "{name}");
        assert!(
            kinds(&bad).contains(&ErrorKind::TooLong),
            "{name}: {:?}",
            kinds(&bad)
        );
    }
    // JSON and XML are not line-based: a whole file on one 10 MB line reads normally...
    let json = std::fs::read_to_string(dir.join("orders.json")).unwrap();
    let whole = read_bytes(SourceFormat::JsonOrders, json.clone().into_bytes());
    let mut one_line = json.replace('\n', "");
    while one_line.len() < 10 * 1024 * 1024 {
        one_line = one_line.replacen(
            '[',
            &format!("[{},", &json[2..json.find("},\n{").unwrap() + 1]),
            1,
        );
        if one_line.len() < 1_000_000 {
            continue;
        }
        break;
    }
    let (good, _) = read_bytes(SourceFormat::JsonOrders, one_line.into_bytes());
    assert!(good.len() > whole.0.len());
    // ...but a single 10 MB element is refused and the next is read.
    let element = format!(
        "[{{\"orderId\": \"{huge}\"}}, {}]",
        &json[2..json.find("},\n{").unwrap() + 1]
    );
    let (good, bad) = read_bytes(SourceFormat::JsonOrders, element.into_bytes());
    assert_eq!((good.len(), kinds(&bad)), (1, vec![ErrorKind::TooLong]));
    let xml = format!(
        "<orders><order id=\"O1\"><note>{huge}</note></order>{}</orders>",
        {
            let x = std::fs::read_to_string(dir.join("orders.xml")).unwrap();
            let start = x.find("<order ").unwrap();
            x[start..start + x[start..].find("</order>").unwrap() + 8].to_string()
        }
    );
    let (good, bad) = read_bytes(SourceFormat::Xml, xml.into_bytes());
    assert_eq!((good.len(), kinds(&bad)), (1, vec![ErrorKind::TooLong]));
}

#[test]
fn garbage_in_every_format_never_panics() {
    let mut seed = 0x1234_5678_u64;
    for len in [1usize, 2, 7, 100, 4096, 100_000] {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        for format in [
            SourceFormat::Csv,
            SourceFormat::JsonOrders,
            SourceFormat::Xml,
            SourceFormat::Log,
            SourceFormat::Pickle,
        ] {
            let mut prefixed = match format {
                SourceFormat::Pickle => vec![0x80, 4, 0x95, 0, 0, 0, 0, 0, 0, 0, 0, b']', b'('],
                SourceFormat::JsonOrders => b"[{".to_vec(),
                SourceFormat::Xml => b"<orders><order id=\"".to_vec(),
                _ => b"order_id,order_time\n".to_vec(),
            };
            prefixed.extend_from_slice(&bytes);
            let (_, bad) = read_bytes(format, prefixed);
            assert!(!bad.is_empty(), "{format:?}: garbage must be reported");
        }
    }
}

//! Python's own `csv`, `json`, `xml.etree.ElementTree` and `pickle` modules
//! read what `baedal datagen` writes.

use baedal::datagen::{self, FileNames, Options};
use std::process::Command;

const CHECK: &str = r#"
import csv, json, pickle, sys, xml.etree.ElementTree as ET
d = sys.argv[1]
summary = json.load(open(f"{d}/defect-summary.json", encoding="utf-8"))
files = summary["files"]
out = {}
with open(f"{d}/orders.csv", newline="", encoding="utf-8") as f:
    rows = list(csv.reader(f))
out["csv_header"] = rows[0]
# Python's csv lets an unterminated quote swallow what follows; count the rows it sees whole.
out["csv_whole_rows"] = sum(1 for r in rows[1:] if len(r) == 29)
out["json_orders"] = len(json.load(open(f"{d}/orders.json", encoding="utf-8")))
out["json_messages"] = len(json.load(open(f"{d}/messages.json", encoding="utf-8")))
root = ET.parse(f"{d}/orders.xml").getroot()
out["xml_root"] = root.tag
out["xml_orders"] = len(root.findall("order"))
with open(f"{d}/unified.pickle", "rb") as f:
    data = pickle.load(f)
out["pickle_is_list_of_dicts"] = isinstance(data, list) and all(isinstance(x, dict) for x in data)
out["pickle_records"] = len(data)
out["pickle_kinds"] = sorted({x["kind"] for x in data})
print(json.dumps(out, ensure_ascii=False))
"#;

#[test]
fn pythons_standard_modules_read_every_generated_file() {
    let dir = tempfile::tempdir().unwrap();
    let summary = datagen::generate(
        &Options {
            seed: 21,
            scale: 0.03,
            out: dir.path().to_path_buf(),
            names: FileNames::Canonical,
        },
        &|| {},
    )
    .unwrap();
    let output = Command::new("python3")
        .arg("-c")
        .arg(CHECK)
        .arg(dir.path())
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let records = |name: &str| summary.files[name].records;
    assert_eq!(
        got["csv_header"],
        serde_json::json!(baedal::model::ORDER_COLUMNS)
    );
    let csv = &summary.files["orders.csv"];
    let whole = got["csv_whole_rows"].as_u64().unwrap();
    assert!(whole <= csv.records - csv.rejects.get("wrong_field_count").copied().unwrap_or(0));
    assert!(
        whole as f64 >= 0.5 * csv.records as f64,
        "python read {whole} whole CSV rows of {}",
        csv.records
    );
    assert_eq!(got["json_orders"], records("orders.json"));
    assert_eq!(got["json_messages"], records("messages.json"));
    assert_eq!(got["xml_root"], "orders");
    assert_eq!(got["xml_orders"], records("orders.xml"));
    assert_eq!(got["pickle_is_list_of_dicts"], true);
    assert_eq!(got["pickle_records"], records("unified.pickle"));
    assert_eq!(
        got["pickle_records"], 3000,
        "pickle.load gives the stated count (100,000 × 0.03)"
    );
    assert_eq!(
        got["pickle_kinds"],
        serde_json::json!(["event", "message", "order", "review"])
    );
}

//! Python's own `csv`, `json`, `xml.etree.ElementTree` and `pickle` modules
//! read what `baedal datagen` writes.

use baedal::datagen::{self, FileNames, Options};
use std::process::Command;

/// Runs a Python script on a directory; a failure fails the test with its stderr.
fn python(script: &str, dir: &std::path::Path) -> std::process::Output {
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(dir)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

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
    let output = python(CHECK, dir.path());
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

const PICKLES_AS_PYTHON_USERS_WRITE_THEM: &str = r#"
import datetime as dt, decimal, pickle, sys
d = sys.argv[1]
KST = dt.timezone(dt.timedelta(hours=9))
orders = [
    {"order_id": "O000000001", "order_time": dt.datetime(2024, 3, 1, 12, 30, 15),
     "updated_at": dt.datetime(2024, 3, 1, 13, 0, 0, 250000, tzinfo=KST),
     "customer_id": "C000001", "restaurant_id": "R00001", "category": "카페·디저트",
     "order_amount": decimal.Decimal("12000"), "delivery_fee": decimal.Decimal("3000.00"),
     "distance_km": decimal.Decimal("2.35"), "order_status": "DELIVERED"},
    {"order_id": "O000000002", "order_time": dt.date(2024, 3, 2),
     "updated_at": dt.datetime(2024, 3, 2, 1, 0, tzinfo=dt.timezone.utc),
     "customer_id": "C000002", "restaurant_id": "R00002", "category": "café",
     "order_amount": 9000, "order_status": "CANCELLED"},
]
for protocol in range(0, pickle.HIGHEST_PROTOCOL + 1):
    with open(f"{d}/flat-{protocol}.pkl", "wb") as f:
        pickle.dump(orders, f, protocol=protocol)
    with open(f"{d}/wrapped-{protocol}.pkl", "wb") as f:
        pickle.dump([{"kind": "order", "source": "app", "payload": o} for o in orders], f, protocol=protocol)
print(pickle.HIGHEST_PROTOCOL)
"#;

#[test]
fn pickles_of_datetimes_decimals_and_latin1_text_read_in_every_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let output = python(PICKLES_AS_PYTHON_USERS_WRITE_THEM, dir.path());
    let highest: u32 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap();
    for protocol in 0..=highest {
        for shape in ["flat", "wrapped"] {
            let file = dir.path().join(format!("{shape}-{protocol}.pkl"));
            let out = Command::new(env!("CARGO_BIN_EXE_baedal"))
                .arg("records")
                .arg(&file)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            let orders: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| serde_json::from_str(l.split_once('\t').unwrap().1).unwrap())
                .collect();
            let what = format!("{shape}, protocol {protocol}: {stderr}");
            assert_eq!(orders.len(), 2, "{what}");
            let (a, b) = (&orders[0], &orders[1]);
            assert_eq!(a["order_id"], "O000000001", "{what}");
            // A naive datetime is KST, as everywhere in the data.
            assert_eq!(a["order_time"], "2024-03-01T12:30:15+09:00", "{what}");
            assert_eq!(a["updated_at"], "2024-03-01T13:00:00.250+09:00", "{what}");
            assert_eq!(a["category"], "카페·디저트", "{what}");
            assert_eq!(a["order_amount"], 12000, "{what}");
            assert_eq!(a["delivery_fee"], 3000, "{what}");
            assert_eq!(a["distance_km"], 2.35, "{what}");
            // A date is its midnight, KST; an aware datetime keeps its instant.
            assert_eq!(b["order_time"], "2024-03-02T00:00:00+09:00", "{what}");
            assert_eq!(b["updated_at"], "2024-03-02T10:00:00+09:00", "{what}");
            assert_eq!(b["category"], "café", "{what}");
        }
    }
}

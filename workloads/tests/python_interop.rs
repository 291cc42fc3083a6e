//! Python's own `csv`, `json`, `xml.etree.ElementTree` and `pickle` modules
//! read what `baedal datagen` writes.

mod common;

use baedal::datagen::{self, FileNames, Options};
use std::process::Command;

/// Runs a Python script on a directory; a failure fails the test with its stderr.
fn python(script: &str, dir: &std::path::Path) -> std::process::Output {
    python_of(std::path::Path::new("python3"), script, dir)
}

/// [`python`] with the given interpreter.
fn python_of(
    interpreter: &std::path::Path,
    script: &str,
    dir: &std::path::Path,
) -> std::process::Output {
    let output = Command::new(interpreter)
        .arg("-c")
        .arg(script)
        .arg(dir)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{} failed: {}",
        interpreter.display(),
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

/// What `baedal records FILE` reads: each record as JSON, and what it says
/// on stderr (the records it refused).
fn records(file: &std::path::Path) -> (Vec<serde_json::Value>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_baedal"))
        .arg("records")
        .arg(file)
        .output()
        .unwrap();
    let records = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l.split_once('\t').unwrap().1).unwrap())
        .collect();
    (records, String::from_utf8_lossy(&out.stderr).into_owned())
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
            let (orders, stderr) = records(&file);
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

/// Builds a typed DataFrame from the orders baedal read (`orders.jsonl`),
/// pickles it as `DataFrame.to_pickle` does in several protocols and
/// layouts, and writes, per pickle, what `pandas.read_pickle` loads back.
const DATA_FRAMES_AS_PANDAS_WRITES_THEM: &str = r#"
import json, math, sys
import numpy as np, pandas as pd
d = sys.argv[1]
rows = [json.loads(line) for line in open(f"{d}/orders.jsonl", encoding="utf-8")]
df = pd.DataFrame(rows).drop(columns=["kind", "items"])
for c in ("order_time", "updated_at"):
    # Naive datetime64 columns hold KST wall-clock times.
    df[c] = pd.to_datetime(df[c], utc=True).dt.tz_convert("Asia/Seoul").dt.tz_localize(None)
df["item_count"] = df["item_count"].astype("int32")
df["discount_amount"] = df["discount_amount"].astype("int16")
df["delivery_fee"] = df["delivery_fee"].astype("uint32")
df["store_lat"] = df["store_lat"].astype("float32")
df["weather"] = df["weather"].astype("string")
df["is_large"] = df["order_amount"] > 30000
frames = {
    "plain": df,
    "indexed": df.set_index("order_id"),
    "reordered": df[list(reversed(df.columns))],
}
v = pd.__version__
def plain(x):
    if x is None or x is pd.NaT or (isinstance(x, float) and math.isnan(x)):
        return None
    if isinstance(x, pd.Timestamp):
        return x.isoformat() + "+09:00"
    if isinstance(x, np.generic):
        return plain(x.item())
    return x
for name, frame in frames.items():
    for protocol in (0, 2, 4, 5):
        path = f"{d}/{name}-pandas-{v}-protocol-{protocol}.pkl"
        frame.to_pickle(path, protocol=protocol)
        back = pd.read_pickle(path).reset_index()
        expected = [{k: plain(x) for k, x in r.items() if k != "index"} for r in back.to_dict("records")]
        with open(path + ".expected.json", "w", encoding="utf-8") as f:
            json.dump(expected, f, ensure_ascii=False)
"#;

/// The Python interpreters of the pandas versions scripts/setup.sh installs.
fn pandas_pythons() -> Vec<std::path::PathBuf> {
    let tools = common::tools_dir();
    let mut pythons: Vec<_> = std::fs::read_dir(&tools)
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with("pandas-"))
                .map(|e| e.path().join("bin/python"))
                .collect()
        })
        .unwrap_or_default();
    pythons.sort();
    assert!(
        pythons.len() >= 3,
        "three pandas environments under {} (scripts/setup.sh makes them), found {pythons:?}",
        tools.display()
    );
    pythons
}

/// Whether baedal's cell and pandas's are the same value: equal text or
/// numbers, or the same instant.
fn same_cell(ours: &serde_json::Value, theirs: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (ours, theirs) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::String(a), Value::String(b)) => {
            a == b
                || matches!(
                    (chrono::DateTime::parse_from_rfc3339(a), chrono::DateTime::parse_from_rfc3339(b)),
                    (Ok(x), Ok(y)) if x == y
                )
        }
        (a, b) => a == b,
    }
}

#[test]
fn data_frames_pickled_by_three_pandas_versions_read_cell_for_cell_as_pandas_loads_them() {
    let dir = tempfile::tempdir().unwrap();
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/sample/orders.csv");
    let orders: String = records(&sample)
        .0
        .iter()
        .map(|order| format!("{order}\n"))
        .collect();
    std::fs::write(dir.path().join("orders.jsonl"), &orders).unwrap();
    let order_count = orders.lines().count();
    assert!(order_count > 500, "the sample's orders: {order_count}");

    let pythons = pandas_pythons();
    for python in &pythons {
        python_of(python, DATA_FRAMES_AS_PANDAS_WRITES_THEM, dir.path());
    }

    let mut pickles: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pkl"))
        .collect();
    pickles.sort();
    assert_eq!(pickles.len(), pythons.len() * 3 * 4, "{pickles:?}");
    for pickle in pickles {
        let what = pickle.file_name().unwrap().to_string_lossy().into_owned();
        let expected: Vec<serde_json::Map<String, serde_json::Value>> = serde_json::from_str(
            &std::fs::read_to_string(format!("{}.expected.json", pickle.display())).unwrap(),
        )
        .unwrap();
        let (ours, stderr) = records(&pickle);
        assert_eq!(ours.len(), order_count, "{what}: {stderr}");
        assert_eq!(expected.len(), order_count, "{what}");
        for (row, (ours, theirs)) in ours.iter().zip(&expected).enumerate() {
            let mut compared = 0;
            for (column, cell) in theirs {
                if let Some(our_cell) = ours.get(column) {
                    compared += 1;
                    assert!(
                        same_cell(our_cell, cell),
                        "{what}, row {row}, {column}: baedal read {our_cell}, pandas loads {cell}"
                    );
                }
            }
            assert!(
                compared >= 28,
                "{what}, row {row}: only {compared} columns compared"
            );
        }
    }
}

#[test]
fn data_frame_columns_this_reader_does_not_read_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
import sys, pandas as pd
d = sys.argv[1]
df = pd.DataFrame({"order_id": ["O1", "O2"], "order_status": ["DELIVERED", "CANCELLED"]})
df.assign(category=pd.Categorical(["치킨", "피자"])).to_pickle(f"{d}/categorical.pkl")
df.assign(order_time=pd.to_datetime(["2024-01-01", "2024-01-02"]).tz_localize("UTC")).to_pickle(f"{d}/aware.pkl")
df.assign(order_amount=pd.array([1, None], dtype="Int64")).to_pickle(f"{d}/nullable.pkl")
pd.DataFrame(index=pd.RangeIndex(10**15)).to_pickle(f"{d}/no-columns.pkl")
"#;
    python_of(&pandas_pythons().pop().unwrap(), script, dir.path());
    // A quadrillion rows and no column: one error, not a quadrillion.
    let (rows, stderr) = records(&dir.path().join("no-columns.pkl"));
    assert!(
        rows.is_empty() && stderr.contains("no columns") && stderr.lines().count() == 1,
        "{stderr}"
    );
    for (file, named) in [
        ("categorical.pkl", "Categorical"),
        ("aware.pkl", "DatetimeTZDtype"),
        ("nullable.pkl", "IntegerArray"),
    ] {
        let (rows, stderr) = records(&dir.path().join(file));
        assert!(
            rows.is_empty(),
            "{file}: no rows of a frame that is not read whole"
        );
        assert!(
            stderr.contains("refused") && stderr.contains(named),
            "{file}: the refusal names {named}: {stderr}"
        );
    }
}

//! `baedal profile`: the guide's first phase (결측값, 이상치, 중복값, 기본 통계)
//! over a directory of dataset files, in one streaming pass per file.
//!
//! Quantiles come from a deterministic reservoir of up to [`RESERVOIR`] values
//! per column: exact up to that many records, a uniform sample above.

use crate::columns::ORDER_COLUMN_TABLE;
use crate::datagen::rng::Rng;
use crate::model::{kst, Order, Record, SourceTime};
use crate::readers::{self, ErrorKind, RecordError, SourceFormat};
use chrono::{Datelike, Timelike};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::Path;

/// Values kept per numeric column for quantiles.
pub const RESERVOIR: usize = 200_000;
/// Rejected records kept as examples per file.
const EXAMPLES: usize = 5;

#[derive(Debug, Clone, Serialize)]
pub struct NumericStats {
    pub count: u64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub p25: f64,
    pub p50: f64,
    pub p75: f64,
    pub p95: f64,
}

#[derive(Default)]
struct NumericColumn {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    sample: Vec<f64>,
    rng: Option<Rng>,
}

impl NumericColumn {
    fn add(&mut self, v: f64) {
        if self.count == 0 {
            self.min = v;
            self.max = v;
        }
        self.count += 1;
        self.sum += v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        if self.sample.len() < RESERVOIR {
            self.sample.push(v);
        } else {
            let rng = self.rng.get_or_insert_with(|| Rng::keyed(0, 0, 0));
            let j = rng.below(self.count) as usize;
            if j < RESERVOIR {
                self.sample[j] = v;
            }
        }
    }

    fn stats(&mut self) -> NumericStats {
        self.sample.sort_by(f64::total_cmp);
        let q = |p: f64| {
            if self.sample.is_empty() {
                return f64::NAN;
            }
            let pos = p * (self.sample.len() - 1) as f64;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            self.sample[lo] + (self.sample[hi] - self.sample[lo]) * (pos - lo as f64)
        };
        NumericStats {
            count: self.count,
            min: self.min,
            max: self.max,
            mean: if self.count == 0 {
                f64::NAN
            } else {
                self.sum / self.count as f64
            },
            p25: q(0.25),
            p50: q(0.5),
            p75: q(0.75),
            p95: q(0.95),
        }
    }
}

/// The profile of one file.
#[derive(Debug, Clone, Serialize)]
pub struct FileProfile {
    pub file: String,
    pub format: SourceFormat,
    pub records_read: u64,
    pub records_rejected: u64,
    /// Rejected records by reason class.
    pub rejects: BTreeMap<ErrorKind, u64>,
    /// The first few rejected records, with position and reason.
    pub reject_examples: Vec<RecordError>,
    /// Records read, by kind (a pickle mixes kinds).
    pub kinds: BTreeMap<String, u64>,
    /// Records identical to an earlier record of the file.
    pub exact_duplicates: u64,
    /// Orders whose id appeared earlier in the file with other content.
    pub repeated_order_ids: u64,
    /// Empty values per column (orders: the CSV columns).
    pub missing_values: BTreeMap<String, u64>,
    /// Orders carrying each kind of impossible value.
    pub impossible_values: BTreeMap<String, u64>,
    /// Timestamp layouts seen, per column.
    pub date_formats: BTreeMap<String, BTreeMap<String, u64>>,
    pub numeric: BTreeMap<String, NumericStats>,
    /// Orders by hour of day (KST), 0–23.
    pub orders_by_hour: Vec<u64>,
    /// Orders by weekday, Monday first.
    pub orders_by_weekday: Vec<u64>,
}

/// The profile of a dataset directory.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub directory: String,
    pub files: Vec<FileProfile>,
    /// Distinct order ids over all order files (CSV, JSON, XML, pickle orders).
    pub distinct_order_ids: u64,
    /// Order ids found in more than one file (re-exports).
    pub order_ids_in_several_files: u64,
}

struct Collector {
    profile: FileProfile,
    fingerprints: HashSet<u64>,
    order_ids: HashSet<String>,
    numeric: BTreeMap<String, NumericColumn>,
}

const NUMERIC_COLUMNS: [&str; 8] = [
    "order_amount",
    "discount_amount",
    "delivery_fee",
    "item_count",
    "distance_km",
    "estimated_delivery_min",
    "actual_delivery_min",
    "rating",
];

fn fingerprint(record: &Record) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    match serde_json::to_vec(record) {
        Ok(bytes) => bytes.hash(&mut h),
        Err(_) => format!("{record:?}").hash(&mut h),
    }
    h.finish()
}

impl Collector {
    fn new(file: &Path, format: SourceFormat) -> Self {
        Collector {
            profile: FileProfile {
                file: file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                format,
                records_read: 0,
                records_rejected: 0,
                rejects: BTreeMap::new(),
                reject_examples: Vec::new(),
                kinds: BTreeMap::new(),
                exact_duplicates: 0,
                repeated_order_ids: 0,
                missing_values: BTreeMap::new(),
                impossible_values: BTreeMap::new(),
                date_formats: BTreeMap::new(),
                numeric: BTreeMap::new(),
                orders_by_hour: vec![0; 24],
                orders_by_weekday: vec![0; 7],
            },
            fingerprints: HashSet::new(),
            order_ids: HashSet::new(),
            numeric: BTreeMap::new(),
        }
    }

    fn reject(&mut self, e: RecordError) {
        self.profile.records_rejected += 1;
        *self.profile.rejects.entry(e.kind).or_default() += 1;
        if self.profile.reject_examples.len() < EXAMPLES {
            self.profile.reject_examples.push(e);
        }
    }

    fn date(&mut self, column: &str, t: &SourceTime) {
        *self
            .profile
            .date_formats
            .entry(column.to_string())
            .or_default()
            .entry(t.format.as_str().to_string())
            .or_default() += 1;
    }

    fn missing(&mut self, column: &str) {
        *self
            .profile
            .missing_values
            .entry(column.to_string())
            .or_default() += 1;
    }

    fn record(&mut self, record: Record) {
        self.profile.records_read += 1;
        *self
            .profile
            .kinds
            .entry(record.kind().to_string())
            .or_default() += 1;
        if !self.fingerprints.insert(fingerprint(&record)) {
            self.profile.exact_duplicates += 1;
            return; // a copy adds nothing to the statistics
        }
        match &record {
            Record::Order(o) => self.order(o),
            Record::Conversation(c) => {
                self.date("started_at", &c.started_at);
                if c.rider_id.is_none() {
                    self.missing("rider_id");
                }
            }
            Record::LogEvent(e) => {
                self.date("timestamp", &e.timestamp);
                if e.order_id.is_none() {
                    self.missing("order_id");
                }
            }
            Record::Review(r) => {
                self.date("created_at", &r.created_at);
                if r.order_id.is_none() {
                    self.missing("order_id");
                }
            }
        }
    }

    fn order(&mut self, o: &Order) {
        if !self.order_ids.insert(o.order_id.to_string()) {
            self.profile.repeated_order_ids += 1;
        }
        for column in &ORDER_COLUMN_TABLE {
            if (column.value)(o).is_missing() {
                self.missing(column.name);
            }
        }
        for v in o.impossible_values() {
            *self
                .profile
                .impossible_values
                .entry(v.as_str().to_string())
                .or_default() += 1;
        }
        self.date("order_time", &o.order_time);
        if let Some(t) = &o.updated_at {
            self.date("updated_at", t);
        }
        for column in NUMERIC_COLUMNS {
            if let Some(v) = o.cell(column).and_then(|c| c.number()) {
                self.numeric.entry(column.to_string()).or_default().add(v);
            }
        }
        let local = o.order_time.at.with_timezone(&kst());
        self.profile.orders_by_hour[local.hour() as usize] += 1;
        self.profile.orders_by_weekday[local.weekday().num_days_from_monday() as usize] += 1;
    }

    fn finish(mut self) -> (FileProfile, HashSet<String>) {
        self.profile.numeric = self
            .numeric
            .iter_mut()
            .map(|(k, c)| (k.clone(), c.stats()))
            .collect();
        (self.profile, self.order_ids)
    }
}

/// Profiles one file.
pub fn profile_file(
    path: &Path,
    format: SourceFormat,
) -> std::io::Result<(FileProfile, HashSet<String>)> {
    let mut collector = Collector::new(path, format);
    for result in readers::open(path, format)? {
        match result {
            Ok(record) => collector.record(record),
            Err(e) => collector.reject(e),
        }
    }
    Ok(collector.finish())
}

/// Profiles every dataset file in `dir`.
pub fn profile_dir(dir: &Path) -> std::io::Result<Profile> {
    let mut files = Vec::new();
    let mut seen_in: HashMap<String, u32> = HashMap::new();
    let listing = readers::dataset_files(dir)?;
    listing.report_unrecognised();
    for (path, format) in listing.files {
        let (profile, ids) = profile_file(&path, format)?;
        for id in ids {
            *seen_in.entry(id).or_default() += 1;
        }
        files.push(profile);
    }
    Ok(Profile {
        directory: dir.display().to_string(),
        files,
        distinct_order_ids: seen_in.len() as u64,
        order_ids_in_several_files: seen_in.values().filter(|n| **n > 1).count() as u64,
    })
}

/// The profile as the readable report printed by `baedal profile`.
pub fn render(profile: &Profile) -> String {
    use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
    let new_table = |header: &[&str]| {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED)
            .set_header(header.iter().map(Cell::new));
        t
    };
    let right = |v: String| Cell::new(v).set_alignment(CellAlignment::Right);
    let mut out = format!(
        "데이터 품질 프로파일 (data-quality profile): {}\n\n",
        profile.directory
    );

    let mut t = new_table(&[
        "file",
        "format",
        "read",
        "rejected",
        "duplicates",
        "impossible",
        "kinds",
    ]);
    for f in &profile.files {
        let kinds: Vec<String> = f.kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
        t.add_row(vec![
            Cell::new(&f.file),
            Cell::new(f.format.as_str()),
            right(f.records_read.to_string()),
            right(f.records_rejected.to_string()),
            right(f.exact_duplicates.to_string()),
            right(f.impossible_values.values().sum::<u64>().to_string()),
            Cell::new(kinds.join(", ")),
        ]);
    }
    out.push_str(&format!("기록 수 (records per file)\n{t}\n"));
    out.push_str(&format!(
        "distinct order ids across order files: {}, found in more than one file (re-exports): {}\n\n",
        profile.distinct_order_ids, profile.order_ids_in_several_files
    ));

    let mut t = new_table(&["file", "reason", "count", "example"]);
    for f in &profile.files {
        for (kind, n) in &f.rejects {
            let example = f
                .reject_examples
                .iter()
                .find(|e| e.kind == *kind)
                .map(|e| format!("{}: {}", e.position, e.reason))
                .unwrap_or_default();
            t.add_row(vec![
                Cell::new(&f.file),
                Cell::new(kind.as_str()),
                right(n.to_string()),
                Cell::new(example),
            ]);
        }
    }
    out.push_str(&format!("거부된 기록 (rejected records)\n{t}\n\n"));

    let mut t = new_table(&["file", "column", "missing", "%"]);
    for f in &profile.files {
        for (column, n) in &f.missing_values {
            let pct = 100.0 * *n as f64 / f.records_read.max(1) as f64;
            t.add_row(vec![
                Cell::new(&f.file),
                Cell::new(column),
                right(n.to_string()),
                right(format!("{pct:.2}")),
            ]);
        }
    }
    out.push_str(&format!("결측값 (missing values)\n{t}\n\n"));

    let mut t = new_table(&["file", "impossible value", "orders"]);
    for f in &profile.files {
        for (kind, n) in &f.impossible_values {
            t.add_row(vec![
                Cell::new(&f.file),
                Cell::new(kind),
                right(n.to_string()),
            ]);
        }
    }
    out.push_str(&format!("이상치 (impossible values)\n{t}\n\n"));

    let mut t = new_table(&["file", "column", "layout", "count"]);
    for f in &profile.files {
        for (column, layouts) in &f.date_formats {
            for (layout, n) in layouts {
                t.add_row(vec![
                    Cell::new(&f.file),
                    Cell::new(column),
                    Cell::new(layout),
                    right(n.to_string()),
                ]);
            }
        }
    }
    out.push_str(&format!("날짜 형식 (date-format variants)\n{t}\n\n"));

    let mut t = new_table(&[
        "file", "column", "count", "min", "p25", "median", "mean", "p75", "p95", "max",
    ]);
    for f in &profile.files {
        for (column, s) in &f.numeric {
            let n = |v: f64| right(format!("{v:.2}"));
            t.add_row(vec![
                Cell::new(&f.file),
                Cell::new(column),
                right(s.count.to_string()),
                n(s.min),
                n(s.p25),
                n(s.p50),
                n(s.mean),
                n(s.p75),
                n(s.p95),
                n(s.max),
            ]);
        }
    }
    out.push_str(&format!("기본 통계 (numeric columns)\n{t}\n\n"));

    let mut by_hour = vec![0u64; 24];
    let mut by_weekday = vec![0u64; 7];
    for f in &profile.files {
        by_hour
            .iter_mut()
            .zip(&f.orders_by_hour)
            .for_each(|(a, b)| *a += b);
        by_weekday
            .iter_mut()
            .zip(&f.orders_by_weekday)
            .for_each(|(a, b)| *a += b);
    }
    let bars = |counts: &[u64], labels: &[String]| {
        let max = counts.iter().copied().max().unwrap_or(0).max(1);
        let mut s = String::new();
        for (label, n) in labels.iter().zip(counts) {
            let width = (*n as f64 / max as f64 * 40.0).round() as usize;
            s.push_str(&format!("  {label:>3} {:<40} {n}\n", "█".repeat(width)));
        }
        s
    };
    let hours: Vec<String> = (0..24).map(|h| format!("{h:02}")).collect();
    let days: Vec<String> = ["월", "화", "수", "목", "금", "토", "일"]
        .iter()
        .map(|d| d.to_string())
        .collect();
    out.push_str(&format!(
        "시간대별 주문 (orders by hour, all order files)\n{}\n",
        bars(&by_hour, &hours)
    ));
    out.push_str(&format!(
        "요일별 주문 (orders by weekday)\n{}",
        bars(&by_weekday, &days)
    ));
    out
}

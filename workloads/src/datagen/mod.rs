//! `baedal datagen`: the deterministic generator of the six dataset files of
//! DATA.md, plus `defect-summary.json`, the record of every defect it put in.
//!
//! Same seed and scale, byte-identical files. Output is streamed record by
//! record: memory does not grow with the scale factor beyond the restaurant
//! table (1,500 × scale entries).

mod files;
pub mod pickle_writer;
pub mod rng;
pub mod tables;
pub mod world;

pub use files::{csv_fields, log_line, order_doc, order_xml};

use crate::model::{ImpossibleValue, TimeFormat};
use crate::readers::{ErrorKind, SourceFormat};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use world::World;

/// The name of the defect summary written beside the data files.
pub const SUMMARY_FILE: &str = "defect-summary.json";

/// What one file holds and which defects were injected into it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FileDefects {
    /// The reader format (`csv`, `json_orders`, …).
    pub format: String,
    /// Records written, duplicates and unreadable records included.
    pub records: u64,
    /// Distinct orders the file was generated from (order files only).
    pub orders: u64,
    /// Records a reader must reject, by [`ErrorKind`] name.
    pub rejects: BTreeMap<String, u64>,
    /// Extra exact copies of earlier records.
    pub duplicates: u64,
    /// Values blanked, by column.
    pub missing_values: BTreeMap<String, u64>,
    /// Impossible values put in, by [`ImpossibleValue`] name.
    pub impossible_values: BTreeMap<String, u64>,
    /// Order times written in a non-standard layout, by layout.
    pub date_variants: BTreeMap<String, u64>,
    /// Later re-exports of CSV orders (same id, later `updated_at`).
    pub reexports: u64,
    /// Events followed by a multi-line stack trace (logs; readable).
    pub stack_traces: u64,
}

impl FileDefects {
    fn new(format: &str) -> Self {
        FileDefects {
            format: format.to_string(),
            ..Default::default()
        }
    }

    fn count_reject(&mut self, kind: ErrorKind) {
        *self.rejects.entry(kind.as_str().to_string()).or_default() += 1;
    }

    fn count_missing(&mut self, column: &str) {
        *self.missing_values.entry(column.to_string()).or_default() += 1;
    }

    fn count_impossible(&mut self, kind: ImpossibleValue) {
        *self
            .impossible_values
            .entry(kind.as_str().to_string())
            .or_default() += 1;
    }

    fn count_date_variant(&mut self, format: TimeFormat) {
        *self
            .date_variants
            .entry(format.as_str().to_string())
            .or_default() += 1;
    }

    /// Records a reader must reject, all classes together.
    pub fn rejected(&self) -> u64 {
        self.rejects.values().sum()
    }
}

/// `defect-summary.json`: the generator's account of what it wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DefectSummary {
    pub generator: String,
    pub seed: u64,
    pub scale: f64,
    /// By file name.
    pub files: BTreeMap<String, FileDefects>,
}

impl DefectSummary {
    /// Records written, in every file (rejected ones included).
    pub fn records(&self) -> u64 {
        self.files.values().map(|f| f.records).sum()
    }

    /// Records a reader must reject, in every file.
    pub fn rejected(&self) -> u64 {
        self.files.values().map(FileDefects::rejected).sum()
    }

    pub fn load(dir: &Path) -> io::Result<DefectSummary> {
        let text = std::fs::read(dir.join(SUMMARY_FILE))?;
        serde_json::from_slice(&text).map_err(io::Error::other)
    }
}

/// File names: DATA.md's canonical ones, or the guide's Korean ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FileNames {
    Canonical,
    Guide,
}

impl FileNames {
    /// Each generated file's name and the reader it is written for, in the
    /// order the generator writes them.
    pub fn files(self) -> [(&'static str, SourceFormat); 6] {
        use SourceFormat::{Csv, JsonMessages, JsonOrders, Log, Pickle, Xml};
        match self {
            FileNames::Canonical => [
                ("orders.csv", Csv),
                ("orders.json", JsonOrders),
                ("orders.xml", Xml),
                ("messages.json", JsonMessages),
                ("system.log", Log),
                ("unified.pickle", Pickle),
            ],
            FileNames::Guide => [
                ("배달의민족_가명데이터_10만건.csv", Csv),
                ("배달의민족_JSON_데이터_25000건.json", JsonOrders),
                ("배달의민족_XML_데이터_25000건.xml", Xml),
                ("배달의민족_메시지_데이터_25000건.json", JsonMessages),
                ("배달의민족_로그_데이터_25000건.log", Log),
                ("배달의민족_통합_비정형데이터_10만건.pickle", Pickle),
            ],
        }
    }
}

/// Generator settings.
#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    /// 1.0 = DATA.md's record counts.
    pub scale: f64,
    pub out: PathBuf,
    pub names: FileNames,
}

/// Records the generator will write at this scale (for progress display).
pub fn planned_records(scale: f64) -> u64 {
    let c = world::Counts::for_scale(scale);
    c.csv_orders + c.json_orders + c.xml_orders + c.conversations + c.log_events + c.unified
}

/// Writes the six files and the summary. `tick` is called once per record.
pub fn generate(options: &Options, tick: &dyn Fn()) -> io::Result<DefectSummary> {
    if !(options.scale > 0.0 && options.scale.is_finite()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("scale must be a positive number, got {}", options.scale),
        ));
    }
    std::fs::create_dir_all(&options.out)?;
    let world = World::new(options.seed, options.scale);
    type Writer = fn(&World, &mut BufWriter<File>, &dyn Fn()) -> io::Result<FileDefects>;
    let writers: [Writer; 6] = [
        files::write_csv,
        files::write_json,
        files::write_xml,
        files::write_messages,
        files::write_log,
        files::write_pickle,
    ];
    let mut files = BTreeMap::new();
    for ((name, _), write) in options.names.files().into_iter().zip(writers) {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(options.out.join(name))?);
        files.insert(name.to_string(), write(&world, &mut out, tick)?);
        out.flush()?;
    }

    let summary = DefectSummary {
        generator: format!("baedal datagen {}", env!("CARGO_PKG_VERSION")),
        seed: options.seed,
        scale: options.scale,
        files,
    };
    let mut text = serde_json::to_vec_pretty(&summary).map_err(io::Error::other)?;
    text.push(b'\n');
    std::fs::write(options.out.join(SUMMARY_FILE), text)?;
    Ok(summary)
}

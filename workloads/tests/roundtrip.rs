//! Generate → read → compare with the generator's own defect summary.

use baedal::datagen::{self, DefectSummary, FileNames, Options};
use baedal::profile;
use baedal::readers::{self, SourceFormat};
use std::collections::BTreeMap;
use std::path::Path;

fn generate(dir: &Path, seed: u64, scale: f64, names: FileNames) -> DefectSummary {
    datagen::generate(
        &Options {
            seed,
            scale,
            out: dir.to_path_buf(),
            names,
        },
        &|| {},
    )
    .expect("datagen")
}

#[test]
fn every_record_written_is_read_or_rejected_and_rejects_match_the_summary_by_class() {
    let dir = tempfile::tempdir().unwrap();
    let summary = generate(dir.path(), 7, 0.05, FileNames::Canonical);
    let listing = readers::dataset_files(dir.path()).unwrap();
    let files = listing.files;
    assert_eq!(
        files.len(),
        6,
        "six dataset files, the summary is not one: {files:?}"
    );
    let mut total_rejects = 0;
    for (path, format) in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let expected = &summary.files[&name];
        assert_eq!(
            format.as_str(),
            expected.format,
            "{name} detected as {format:?}"
        );
        let mut read = 0u64;
        let mut rejects: BTreeMap<String, u64> = BTreeMap::new();
        for result in readers::open(&path, format).unwrap() {
            match result {
                Ok(_) => read += 1,
                Err(e) => {
                    assert!(!e.reason.is_empty());
                    assert_eq!(e.file.as_ref(), path.as_path());
                    *rejects.entry(e.kind.as_str().to_string()).or_default() += 1;
                }
            }
        }
        let rejected: u64 = rejects.values().sum();
        assert_eq!(
            read + rejected,
            expected.records,
            "{name}: read {read} + rejected {rejected}"
        );
        assert_eq!(rejects, expected.rejects, "{name}: rejects by class");
        total_rejects += rejected;
    }
    assert!(
        total_rejects >= 10,
        "the scale must be large enough to carry defects of every file"
    );
}

#[test]
fn the_profile_finds_exactly_the_injected_duplicates_impossible_values_and_date_variants() {
    let dir = tempfile::tempdir().unwrap();
    let summary = generate(dir.path(), 11, 0.05, FileNames::Canonical);
    let profile = profile::profile_dir(dir.path()).unwrap();
    for f in profile.files.iter().filter(|f| {
        matches!(
            f.format,
            SourceFormat::Csv | SourceFormat::JsonOrders | SourceFormat::Xml
        )
    }) {
        let expected = &summary.files[&f.file];
        assert_eq!(
            f.exact_duplicates, expected.duplicates,
            "{}: duplicates",
            f.file
        );
        assert_eq!(
            f.impossible_values, expected.impossible_values,
            "{}: impossible values",
            f.file
        );
        for column in ["district", "customer_lat"] {
            assert_eq!(
                f.missing_values.get(column),
                expected.missing_values.get(column),
                "{}: missing {column}",
                f.file
            );
        }
        let variants: BTreeMap<String, u64> = f.date_formats["order_time"]
            .iter()
            .filter(|(layout, _)| !matches!(layout.as_str(), "YYYY-MM-DD HH:MM:SS" | "RFC 3339"))
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        assert_eq!(
            variants, expected.date_variants,
            "{}: date variants",
            f.file
        );
        let rejected: BTreeMap<String, u64> = f
            .rejects
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), *v))
            .collect();
        assert_eq!(rejected, expected.rejects);
        assert_eq!(
            f.orders_by_hour.iter().sum::<u64>(),
            f.records_read - f.exact_duplicates
        );
    }
    let reexports: u64 = summary.files.values().map(|f| f.reexports).sum();
    assert!(profile.order_ids_in_several_files > 0 && reexports > 0);
}

#[test]
fn the_same_seed_gives_byte_identical_files_and_another_seed_does_not() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    generate(a.path(), 3, 0.02, FileNames::Canonical);
    generate(b.path(), 3, 0.02, FileNames::Canonical);
    generate(c.path(), 4, 0.02, FileNames::Canonical);
    let mut names: Vec<_> = std::fs::read_dir(a.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names.len(), 7);
    for name in &names {
        let x = std::fs::read(a.path().join(name)).unwrap();
        let y = std::fs::read(b.path().join(name)).unwrap();
        assert!(
            x == y,
            "{name:?} differs between two runs with the same seed"
        );
        if name != "defect-summary.json" {
            assert_ne!(
                x,
                std::fs::read(c.path().join(name)).unwrap(),
                "{name:?} is the same for another seed"
            );
        }
    }
}

#[test]
fn the_guides_korean_file_names_are_recognised_by_content() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), 5, 0.01, FileNames::Guide);
    // Each file is read as the generator says it wrote it.
    let mut detected: Vec<(String, SourceFormat)> = readers::dataset_files(dir.path())
        .unwrap()
        .files
        .into_iter()
        .map(|(path, f)| (path.file_name().unwrap().to_string_lossy().into_owned(), f))
        .collect();
    let mut written: Vec<(String, SourceFormat)> = FileNames::Guide
        .files()
        .into_iter()
        .map(|(name, f)| (name.to_string(), f))
        .collect();
    detected.sort();
    written.sort();
    assert_eq!(detected, written);
    // Without an extension the content alone decides.
    for (from, to) in [
        ("배달의민족_XML_데이터_25000건.xml", "a"),
        ("배달의민족_통합_비정형데이터_10만건.pickle", "b"),
        ("배달의민족_로그_데이터_25000건.log", "c"),
    ] {
        std::fs::rename(dir.path().join(from), dir.path().join(to)).unwrap();
    }
    let sniffed: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|n| readers::detect_format(&dir.path().join(n)).unwrap())
        .collect();
    assert_eq!(
        sniffed,
        [
            Some(SourceFormat::Xml),
            Some(SourceFormat::Pickle),
            Some(SourceFormat::Log)
        ]
    );
}

#[test]
fn the_data_shows_the_patterns_the_analytics_look_for() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), 1, 0.1, FileNames::Canonical);
    let orders: Vec<_> = readers::open(&dir.path().join("orders.csv"), SourceFormat::Csv)
        .unwrap()
        .filter_map(|r| match r {
            Ok(baedal::model::Record::Order(o)) => Some(o),
            _ => None,
        })
        .collect();
    let by_hour = |h: std::ops::RangeInclusive<u32>| {
        orders
            .iter()
            .filter(|o| h.contains(&chrono::Timelike::hour(&o.order_time.at)))
            .count() as f64
            / (h.end() - h.start() + 1) as f64
    };
    assert!(by_hour(18..=20) > 2.0 * by_hour(14..=16), "dinner peak");
    assert!(by_hour(11..=13) > 1.5 * by_hour(8..=10), "lunch peak");
    assert!(by_hour(11..=13) > 5.0 * by_hour(3..=5), "night trough");
    let mean_minutes = |weather: &str| {
        let v: Vec<f64> = orders
            .iter()
            .filter(|o| o.weather.as_deref() == Some(weather) && o.impossible_values().is_empty())
            .filter_map(|o| o.actual_delivery_min)
            .map(|m| m as f64)
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    assert!(
        mean_minutes("비") > mean_minutes("맑음") + 3.0,
        "rain slows delivery"
    );
    let mut per_customer: BTreeMap<&str, usize> = BTreeMap::new();
    orders
        .iter()
        .for_each(|o| *per_customer.entry(&o.customer_id).or_default() += 1);
    let mut counts: Vec<usize> = per_customer.into_values().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let top = counts.iter().take(counts.len() / 5).sum::<usize>() as f64 / orders.len() as f64;
    assert!(
        (0.45..0.75).contains(&top),
        "top 20% of customers place {top:.2} of orders"
    );
}

#[test]
fn the_committed_sample_is_what_the_generator_writes_today() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/sample");
    let fresh = tempfile::tempdir().unwrap();
    generate(fresh.path(), 42, 0.01, FileNames::Canonical);
    for entry in std::fs::read_dir(fresh.path()).unwrap() {
        let name = entry.unwrap().file_name();
        let committed = std::fs::read(sample.join(&name)).unwrap_or_default();
        assert!(
            committed == std::fs::read(fresh.path().join(&name)).unwrap(),
            "data/sample/{name:?} is stale: run `baedal datagen --seed 42 --scale 0.01 --out data/sample`"
        );
    }
}

#[test]
fn csv_defects_stay_detectable_across_seeds() {
    for seed in 100..104 {
        let dir = tempfile::tempdir().unwrap();
        let summary = generate(dir.path(), seed, 0.03, FileNames::Canonical);
        let mut rejects: BTreeMap<String, u64> = BTreeMap::new();
        let mut read = 0;
        for r in readers::open(&dir.path().join("orders.csv"), SourceFormat::Csv).unwrap() {
            match r {
                Ok(_) => read += 1,
                Err(e) => *rejects.entry(e.kind.as_str().to_string()).or_default() += 1,
            }
        }
        let csv = &summary.files["orders.csv"];
        assert_eq!(rejects, csv.rejects, "seed {seed}");
        assert_eq!(read + csv.rejected(), csv.records, "seed {seed}");
    }
}

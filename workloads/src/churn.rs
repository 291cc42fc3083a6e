//! Churn prediction: a logistic regression (`linfa-logistic`) on what each
//! customer did before a cutoff, the label from the window after it.
//!
//! - **Label**: no revenue order in the [`WINDOW_DAYS`] days after the cutoff
//!   (the guide's churn: no order in the last 30 days).
//! - **Features**, from the revenue orders before the cutoff only: days
//!   since the last order, orders, spend, days since the first order, orders
//!   in the last 30 and the last 90 days, and the days since the last order
//!   over the customer's mean gap between orders (all but the last on a log
//!   scale); and two from a BG/NBD model ([`crate::clv::BgNbd`]): the
//!   probability that the customer is still alive, and the orders expected
//!   in the next 30 days. BG/NBD pools what all customers' histories say
//!   about purchase rates and dropouts, which one customer's counts alone
//!   cannot. One BG/NBD fit, to every customer's orders before the
//!   validation cutoff, describes the training and the validation rows
//!   (nothing after the validation cutoff is seen; the training rows'
//!   population parameters come from a later history than their own
//!   cutoffs); serving uses a fit at `t`. The features are standardised
//!   with the training rows' means and deviations.
//! - **Time split**: with `t` the reference time (the last order + 1 day),
//!   the model validates at the cutoff `t − 30 days` (whose window ends at
//!   `t`) and trains at the cutoffs 30, 60 and 90 days before that, whose
//!   windows all end before the validation cutoff: nothing of the validation
//!   window is seen in training. The validation AUC is reported.
//! - **Serving**: the validated model scores each customer at `t` (its
//!   BG/NBD features from a fit at `t`): the probability of no order in the
//!   next 30 days. It is not refitted with the validation cutoff's rows, so
//!   the AUC reported is the AUC of the model that answers.

use crate::clv::{self, BgNbd, ClvError};
use chrono::{DateTime, Duration, Utc};
use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};
use serde::Serialize;
use std::collections::BTreeMap;

/// The label's window: churned = no order in this many days after the
/// cutoff, a month ([`crate::rules::MONTH_DAYS`]).
pub const WINDOW_DAYS: i64 = crate::rules::MONTH_DAYS as i64;
/// The training cutoffs, in windows before the validation cutoff.
const TRAINING_CUTOFFS: i64 = 3;
/// Features from the customer's own orders, then from BG/NBD.
const OWN_FEATURES: usize = 7;
const POOLED_FEATURES: usize = 2;
const FEATURES: [&str; OWN_FEATURES + POOLED_FEATURES] = [
    "log days since the last order",
    "log orders",
    "log spend",
    "log days since the first order",
    "log orders in the last 30 days",
    "log orders in the last 90 days",
    "days since the last order / mean gap",
    "log BG/NBD probability of being alive",
    "log(1 + BG/NBD expected orders in the next 30 days)",
];
/// The features of one customer at one cutoff, in the order of [`FEATURES`].
type Row = [f64; FEATURES.len()];
/// The features computed from the customer's own orders alone.
type OwnFeatures = [f64; OWN_FEATURES];

/// One revenue order of a customer: when, and its amount.
pub type Purchase = (DateTime<Utc>, f64);

/// What the fitted model says: how good it is, and each customer's probability.
#[derive(Debug, Clone, PartialEq)]
pub struct ChurnModel {
    pub summary: ChurnSummary,
    /// Each customer's probability of no order in the next 30 days.
    pub probabilities: BTreeMap<String, f64>,
}

/// The model, its validation and its coefficients.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChurnSummary {
    pub model: &'static str,
    /// Area under the ROC curve on the validation cutoff (time-split).
    pub validation_auc: f64,
    /// Churn rate at the validation cutoff, for reading the AUC.
    pub validation_churn_rate: f64,
    pub training_rows: usize,
    pub validation_rows: usize,
    /// The features, in the order of the coefficients.
    pub features: Vec<&'static str>,
    /// Coefficients on the standardised features (positive: more churn).
    pub coefficients: Vec<f64>,
}

/// Why no model could be fitted.
#[derive(Debug, thiserror::Error)]
pub enum ChurnError {
    #[error("too little history: {0}")]
    TooLittle(String),
    #[error("the logistic regression failed: {0}")]
    Fit(String),
    #[error("the BG/NBD fit at {at}, which two features come from, failed: {why}")]
    Pooled { at: DateTime<Utc>, why: String },
}

/// Fits, validates and applies the model to `customers`' revenue orders,
/// with `reference` the reference time.
pub fn fit(
    customers: &BTreeMap<String, Vec<Purchase>>,
    reference: DateTime<Utc>,
) -> Result<ChurnModel, ChurnError> {
    let classifier = Classifier::train(customers, reference)?;
    classifier.score(customers, reference, &bgnbd_at(customers, reference)?)
}

/// The classifier trained and validated, before it scores anyone. Scoring
/// needs BG/NBD fitted at the reference time, which the CLV step fits too:
/// the ETL trains this while it fits CLV, then scores with CLV's fit.
pub struct Classifier {
    summary: ChurnSummary,
    scale: Scale,
    model: Fitted,
}

impl Classifier {
    /// Trains on the training cutoffs and validates at the validation
    /// cutoff. The validated model is the one that scores: the AUC it
    /// reports is the served model's.
    pub fn train(
        customers: &BTreeMap<String, Vec<Purchase>>,
        reference: DateTime<Utc>,
    ) -> Result<Classifier, ChurnError> {
        let window = Duration::days(WINDOW_DAYS);
        let validation_cutoff = reference - window;
        // One BG/NBD fit, on the history before the validation cutoff,
        // describes the training and the validation rows: nothing after that
        // cutoff is seen, at a quarter of the cost of a fit per cutoff.
        let pooled = bgnbd_at(customers, validation_cutoff)?;
        let training_cutoffs: Vec<DateTime<Utc>> = (1..=TRAINING_CUTOFFS)
            .map(|k| validation_cutoff - window * k as i32)
            .collect();
        let training = Examples::at(customers, &training_cutoffs, &pooled);
        let scale = Scale::of(&training.x)?;
        let training_rows = training.x.len();
        let model = regression(&scale, training)?;
        let validation = Examples::at(customers, &[validation_cutoff], &pooled);
        let validation_rows = validation.x.len();
        let scores = probabilities(&model, &scale, validation.x)?;
        let validation_auc = auc(&scores, &validation.churned);
        let churned = validation.churned.iter().filter(|c| **c).count();
        Ok(Classifier {
            summary: ChurnSummary {
                model: "logistic regression (linfa) on recency, frequency, spend, tenure, recent activity and BG/NBD's alive probability and expected orders",
                validation_auc,
                validation_churn_rate: churned as f64 / validation_rows.max(1) as f64,
                training_rows,
                validation_rows,
                features: FEATURES.to_vec(),
                coefficients: churn_coefficients(&model),
            },
            scale,
            model,
        })
    }

    /// Each customer's probability of no order in the 30 days after
    /// `reference`, with `bgnbd` fitted to every customer's orders before it.
    pub fn score(
        self,
        customers: &BTreeMap<String, Vec<Purchase>>,
        reference: DateTime<Utc>,
        bgnbd: &BgNbd,
    ) -> Result<ChurnModel, ChurnError> {
        let mut ids = Vec::with_capacity(customers.len());
        let mut x = Vec::with_capacity(customers.len());
        for (id, orders) in customers {
            if let Some(row) = row(orders, reference, bgnbd) {
                ids.push(id.clone());
                x.push(row);
            }
        }
        let probabilities = ids
            .into_iter()
            .zip(probabilities(&self.model, &self.scale, x)?)
            .collect();
        Ok(ChurnModel {
            summary: self.summary,
            probabilities,
        })
    }
}

/// Labelled rows: each customer with an order before a cutoff, described
/// at that cutoff, and whether they then placed no order in the window
/// after it (meaningful only for a cutoff at least a window before the
/// data's end). The rows are counted before they are built, so that the
/// one allocation holding them is the size of the data: at scale 20 the
/// training rows are over a million.
struct Examples {
    x: Vec<Row>,
    churned: Vec<bool>,
}

impl Examples {
    fn at(
        customers: &BTreeMap<String, Vec<Purchase>>,
        cutoffs: &[DateTime<Utc>],
        bgnbd: &BgNbd,
    ) -> Examples {
        let window = Duration::days(WINDOW_DAYS);
        let rows: usize = cutoffs
            .iter()
            .map(|cutoff| {
                customers
                    .values()
                    .filter(|orders| orders.iter().any(|(at, _)| at < cutoff))
                    .count()
            })
            .sum();
        let mut examples = Examples {
            x: Vec::with_capacity(rows),
            churned: Vec::with_capacity(rows),
        };
        for &cutoff in cutoffs {
            for orders in customers.values() {
                let Some(row) = row(orders, cutoff, bgnbd) else {
                    continue;
                };
                examples.x.push(row);
                examples.churned.push(
                    !orders
                        .iter()
                        .any(|(at, _)| *at >= cutoff && *at < cutoff + window),
                );
            }
        }
        examples
    }
}

/// One customer's features at `cutoff`, from their own orders and from
/// `bgnbd`; `None` when no order precedes the cutoff.
fn row(orders: &[Purchase], cutoff: DateTime<Utc>, bgnbd: &BgNbd) -> Option<Row> {
    let own = features(orders, cutoff)?;
    let summary = clv::summarise(orders, cutoff)?;
    let mut row = [0.0; FEATURES.len()];
    row[..OWN_FEATURES].copy_from_slice(&own);
    row[OWN_FEATURES..].copy_from_slice(&pooled_features(bgnbd, &summary));
    Some(row)
}

/// BG/NBD fitted to every customer's orders before `cutoff`.
fn bgnbd_at(
    customers: &BTreeMap<String, Vec<Purchase>>,
    cutoff: DateTime<Utc>,
) -> Result<BgNbd, ChurnError> {
    let summaries: Vec<clv::Summary> = customers
        .values()
        .filter_map(|orders| clv::summarise(orders, cutoff))
        .collect();
    BgNbd::fit(&summaries).map_err(|e| match e {
        ClvError::TooLittle(why) => ChurnError::TooLittle(format!("BG/NBD at {cutoff}: {why}")),
        ClvError::Fit(why) => ChurnError::Pooled { at: cutoff, why },
    })
}

/// What BG/NBD says of one customer: the log
/// probability of being alive and the log of 1 + the expected orders in the
/// label's window.
fn pooled_features(bgnbd: &BgNbd, summary: &clv::Summary) -> [f64; POOLED_FEATURES] {
    let alive = bgnbd.probability_alive(summary).max(1e-9);
    let expected = bgnbd.expected_orders(summary, WINDOW_DAYS as f64).max(0.0);
    [alive.ln(), expected.ln_1p()]
}

/// A customer's features at `cutoff`, from the orders before it (`None`
/// when there are none).
fn features(orders: &[Purchase], cutoff: DateTime<Utc>) -> Option<OwnFeatures> {
    let days = |d: Duration| d.num_seconds() as f64 / 86_400.0;
    let before: Vec<&Purchase> = orders.iter().filter(|(at, _)| *at < cutoff).collect();
    let first = before.iter().map(|(at, _)| *at).min()?;
    let last = before.iter().map(|(at, _)| *at).max()?;
    let n = before.len() as f64;
    let spend: f64 = before.iter().map(|(_, amount)| amount.max(0.0)).sum();
    let recent = |d: i64| {
        before
            .iter()
            .filter(|(at, _)| *at >= cutoff - Duration::days(d))
            .count() as f64
    };
    let since = days(cutoff - last);
    let tenure = days(cutoff - first);
    let gap = if n > 1.0 {
        days(last - first) / (n - 1.0)
    } else {
        tenure.max(1.0)
    };
    Some([
        since.ln_1p(),
        n.ln_1p(),
        spend.ln_1p(),
        tenure.ln_1p(),
        recent(30).ln_1p(),
        recent(90).ln_1p(),
        (since / gap.max(1.0)).min(20.0),
    ])
}

/// Standardisation by the training rows' means and deviations.
struct Scale {
    mean: Row,
    deviation: Row,
}

impl Scale {
    fn of(x: &[Row]) -> Result<Scale, ChurnError> {
        if x.len() < 20 {
            return Err(ChurnError::TooLittle(format!(
                "{} customer rows to train on",
                x.len()
            )));
        }
        let n = x.len() as f64;
        let mut mean = [0.0; FEATURES.len()];
        let mut deviation = [0.0; FEATURES.len()];
        for j in 0..FEATURES.len() {
            mean[j] = x.iter().map(|r| r[j]).sum::<f64>() / n;
            let var = x.iter().map(|r| (r[j] - mean[j]).powi(2)).sum::<f64>() / n;
            deviation[j] = var.sqrt().max(1e-9);
        }
        Ok(Scale { mean, deviation })
    }

    /// The rows as a matrix, standardised in place: the rows' own memory
    /// becomes the matrix, with no copy.
    fn matrix(&self, x: Vec<Row>) -> Result<Array2<f64>, ChurnError> {
        let rows = x.len();
        let mut flat = x.into_flattened();
        for row in flat.chunks_exact_mut(FEATURES.len()) {
            for (j, value) in row.iter_mut().enumerate() {
                *value = (*value - self.mean[j]) / self.deviation[j];
            }
        }
        Array2::from_shape_vec((rows, FEATURES.len()), flat)
            .map_err(|e| ChurnError::Fit(format!("{rows} rows of features: {e}")))
    }
}

type Fitted = linfa_logistic::FittedLogisticRegression<f64, bool>;

fn regression(scale: &Scale, examples: Examples) -> Result<Fitted, ChurnError> {
    let y = examples.churned;
    if !y.iter().any(|c| *c) || y.iter().all(|c| *c) {
        return Err(ChurnError::TooLittle(
            "the training rows are all of one label".into(),
        ));
    }
    let data = Dataset::new(scale.matrix(examples.x)?, Array1::from(y));
    LogisticRegression::default()
        .alpha(1e-3)
        .max_iterations(200)
        .fit(&data)
        .map_err(|e| ChurnError::Fit(e.to_string()))
}

/// The probability of the label `true` (churned) for each row. linfa's
/// probabilities are of its "positive" class, which is the more frequent
/// label of the training rows, whichever that is.
fn probabilities(model: &Fitted, scale: &Scale, x: Vec<Row>) -> Result<Vec<f64>, ChurnError> {
    if x.is_empty() {
        return Ok(Vec::new());
    }
    let positive = model.predict_probabilities(&scale.matrix(x)?);
    Ok(if model.labels().pos.class {
        positive.to_vec()
    } else {
        positive.iter().map(|p| 1.0 - p).collect()
    })
}

/// The coefficients, signed so that a positive one means more churn.
fn churn_coefficients(model: &Fitted) -> Vec<f64> {
    let sign = if model.labels().pos.class { 1.0 } else { -1.0 };
    model.params().iter().map(|c| sign * c).collect()
}

/// The area under the ROC curve: the chance that a churned row scores above
/// a retained one (ties count half).
pub fn auc(scores: &[f64], labels: &[bool]) -> f64 {
    let mut pairs: Vec<(f64, bool)> = scores.iter().copied().zip(labels.iter().copied()).collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let positives = labels.iter().filter(|l| **l).count() as f64;
    let negatives = labels.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return 0.5;
    }
    // Mann–Whitney U from the ranks, tied scores sharing their mean rank.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < pairs.len() {
        let mut j = i;
        while j < pairs.len() && pairs[j].0 == pairs[i].0 {
            j += 1;
        }
        let mean_rank = (i + j + 1) as f64 / 2.0;
        rank_sum += pairs[i..j].iter().filter(|p| p.1).count() as f64 * mean_rank;
        i = j;
    }
    (rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_ordered_pairs_and_halves_ties() {
        assert_eq!(
            auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]),
            0.75
        );
        assert_eq!(auc(&[0.5, 0.5], &[false, true]), 0.5);
        assert_eq!(auc(&[0.9, 0.1], &[true, false]), 1.0);
    }

    #[test]
    fn probabilities_are_of_churn_whichever_label_is_more_frequent() {
        let x: Vec<Row> = (0..100)
            .map(|i| {
                let mut row = [0.0; FEATURES.len()];
                row[0] = i as f64 / 10.0;
                row
            })
            .collect();
        for split in [30, 70] {
            let y: Vec<bool> = (0..100).map(|i| i >= split).collect();
            let scale = Scale::of(&x).unwrap();
            let examples = Examples {
                x: x.clone(),
                churned: y.clone(),
            };
            let model = regression(&scale, examples).unwrap();
            let p = probabilities(&model, &scale, x.clone()).unwrap();
            assert!(
                p[0] < 0.1 && p[99] > 0.9,
                "split {split}: {} {}",
                p[0],
                p[99]
            );
            assert!(churn_coefficients(&model)[0] > 0.0, "split {split}");
            assert!(auc(&p, &y) > 0.99);
        }
    }

    #[test]
    fn features_see_only_the_orders_before_the_cutoff() {
        let at = |d: i64| DateTime::<Utc>::from_timestamp(d * 86_400, 0).unwrap();
        let orders = vec![(at(0), 100.0), (at(10), 200.0), (at(40), 50.0)];
        let f = features(&orders, at(20)).unwrap();
        assert!(
            (f[0] - 10f64.ln_1p()).abs() < 1e-9,
            "10 days since the last"
        );
        assert!((f[1] - 2f64.ln_1p()).abs() < 1e-9, "two orders before");
        assert!((f[2] - 300f64.ln_1p()).abs() < 1e-9);
        assert!((f[6] - 1.0).abs() < 1e-9, "10 days since / 10-day gap");
        assert!(features(&orders, at(0)).is_none());
    }
}

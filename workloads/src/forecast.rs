//! Demand forecasting: hourly orders with daily and weekly seasonality.
//!
//! The model decomposes the square root of the counts (which steadies their
//! variance) by MSTL, multiple seasonal-trend decomposition by LOESS
//! (`stlrs`), with periods of 24 and 168 hours and long seasonal windows
//! ([`SEASONAL_WINDOW`] cycles: the weekly profile is stable, the days are
//! noisy). The deseasonalised series (trend plus remainder) is forecast by
//! simple exponential smoothing, ETS(A,N,N), whose smoothing weight is the
//! one of [`ALPHAS`] with the smallest horizon-ahead error on the training
//! data itself; the seasonal components repeat their last cycle. The
//! prediction interval ([`LEVEL`]) is the spread of those in-sample
//! horizon-ahead errors (their 2.5% and 97.5% quantiles) around the point.
//! Everything is squared back; nothing goes below zero. A daily series (a
//! restaurant's orders) uses the same model with a period of 7 days.
//!
//! [`backtest`] measures a model the way it is used: from several origins in
//! the last weeks of the data (rolling origin), each forecast only from the
//! hours before it, against seasonal naive (the same hour a week earlier).
//! `scripts/bench-models.sh` adds statsmodels' additive Holt-Winters.

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

/// Hours in a day and in a week: the two seasonal periods.
pub const DAY: usize = 24;
pub const WEEK: usize = 7 * DAY;
/// The coverage of the prediction intervals.
pub const LEVEL: f64 = 0.95;
/// The coverage of the interval an hour must fall outside to be an anomaly
/// ([`anomalies`]): wider than [`LEVEL`], so that about one hour in a
/// hundred of an ordinary series is flagged by chance, not one in twenty.
pub const ANOMALY_LEVEL: f64 = 0.99;
/// The history each day's anomaly forecast is fitted on, in weeks: enough
/// for both seasons, and a fit short enough to judge four weeks of days at
/// once.
pub const ANOMALY_HISTORY_WEEKS: usize = 8;
/// The seasonal LOESS window, in cycles (odd).
pub const SEASONAL_WINDOW: usize = 101;
/// The smoothing weights the level may take: from a mean of months (0.002
/// an hour) to one of about a day (0.1).
pub const ALPHAS: [f64; 6] = [0.002, 0.005, 0.01, 0.02, 0.05, 0.1];

/// What a forecast cannot be made from.
#[derive(Debug, thiserror::Error)]
pub enum ForecastError {
    #[error("{have} points of history, the model needs at least {need}")]
    TooShort { have: usize, need: usize },
    #[error("the model could not be fitted: {0}")]
    Model(String),
}

/// Point forecasts and their prediction interval ([`LEVEL`]).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Forecast {
    pub point: Vec<f64>,
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
}

/// Forecasts the next `horizon` hours of an hourly series.
pub fn hourly(history: &[f64], horizon: usize) -> Result<Forecast, ForecastError> {
    decomposed(history, &[DAY, WEEK], horizon, LEVEL)
}

/// Forecasts the next `horizon` days of a daily series (weekly seasonality).
pub fn daily(history: &[f64], horizon: usize) -> Result<Forecast, ForecastError> {
    decomposed(history, &[7], horizon, LEVEL)
}

/// An hour outside the [`ANOMALY_LEVEL`] interval of its forecast.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Anomaly {
    /// The hour's index in the series.
    pub index: usize,
    pub actual: f64,
    pub expected: f64,
    pub lower: f64,
    pub upper: f64,
}

/// The hours among the last `days` days of an hourly series that starts at
/// a midnight whose value falls outside the [`ANOMALY_LEVEL`] interval of
/// the forecast made at the start of their day from the
/// [`ANOMALY_HISTORY_WEEKS`] weeks before it (the model of [`hourly`]);
/// only hours `judged` says yes to count. Days with too little history
/// before them are not judged.
pub fn anomalies(
    series: &[f64],
    days: usize,
    judged: impl Fn(usize) -> bool,
) -> Result<Vec<Anomaly>, ForecastError> {
    let last_start = series.len().saturating_sub(1) / DAY * DAY;
    let first_start = last_start.saturating_sub(days.saturating_sub(1) * DAY);
    let mut found = Vec::new();
    for start in (first_start..=last_start).step_by(DAY) {
        if start < 2 * WEEK + DAY {
            continue;
        }
        let history = &series[start.saturating_sub(ANOMALY_HISTORY_WEEKS * WEEK)..start];
        let forecast = decomposed(history, &[DAY, WEEK], DAY, ANOMALY_LEVEL)?;
        for (h, &actual) in series[start..].iter().take(DAY).enumerate() {
            let (lower, upper) = (forecast.lower[h], forecast.upper[h]);
            if judged(start + h) && (actual < lower || actual > upper) {
                found.push(Anomaly {
                    index: start + h,
                    actual,
                    expected: forecast.point[h],
                    lower,
                    upper,
                });
            }
        }
    }
    Ok(found)
}

fn decomposed(
    history: &[f64],
    periods: &[usize],
    horizon: usize,
    coverage: f64,
) -> Result<Forecast, ForecastError> {
    let longest = periods.iter().copied().max().unwrap_or(1);
    let need = 2 * longest + horizon;
    if history.len() < need {
        return Err(ForecastError::TooShort {
            have: history.len(),
            need,
        });
    }
    let roots: Vec<f32> = history.iter().map(|v| v.max(0.0).sqrt() as f32).collect();
    let mut params = stlrs::MstlParams::new();
    params.seasonal_lengths(&vec![SEASONAL_WINDOW; periods.len()]);
    let fit = params
        .fit(&roots, periods)
        .map_err(|e| ForecastError::Model(e.to_string()))?;
    let adjusted: Vec<f64> = fit
        .trend()
        .iter()
        .zip(fit.remainder())
        .map(|(t, r)| f64::from(t + r))
        .collect();
    // The weight with the smallest mean absolute error (the first of equals).
    let mut best: Option<(f64, Smoothed)> = None;
    for alpha in ALPHAS {
        let candidate = Smoothed::of(&adjusted, alpha);
        let error = candidate.mean_abs_error(&adjusted, horizon);
        if best.as_ref().is_none_or(|(e, _)| error < *e) {
            best = Some((error, candidate));
        }
    }
    let (_, best) = best.ok_or_else(|| ForecastError::Model("no smoothing weight".into()))?;
    let level = best.level();
    let (low, high) = quantiles(best.errors(&adjusted, horizon), (1.0 - coverage) / 2.0);
    let seasonal: Vec<f64> = (0..horizon)
        .map(|h| {
            periods
                .iter()
                .zip(fit.seasonal())
                .map(|(p, component)| f64::from(component[component.len() - p + h % p]))
                .sum()
        })
        .collect();
    let squared = |shift: f64| -> Vec<f64> {
        seasonal
            .iter()
            .map(|s| (level + s + shift).max(0.0).powi(2))
            .collect()
    };
    Ok(Forecast {
        point: squared(0.0),
        lower: squared(low.min(0.0)),
        upper: squared(high.max(0.0)),
    })
}

/// Simple exponential smoothing of a series: the level after each point.
struct Smoothed {
    levels: Vec<f64>,
}

impl Smoothed {
    fn of(series: &[f64], alpha: f64) -> Smoothed {
        let mut level = series.first().copied().unwrap_or(0.0);
        let levels = series
            .iter()
            .map(|v| {
                level += alpha * (v - level);
                level
            })
            .collect();
        Smoothed { levels }
    }

    /// The final level: the forecast of every point after the series.
    fn level(&self) -> f64 {
        self.levels.last().copied().unwrap_or(0.0)
    }

    /// The errors of each level as a forecast of the `horizon` points of
    /// `series` after it, over the second half of the series.
    fn error_iter<'a>(
        &'a self,
        series: &'a [f64],
        horizon: usize,
    ) -> impl Iterator<Item = f64> + 'a {
        (series.len() / 2..series.len().saturating_sub(horizon)).flat_map(move |t| {
            series[t + 1..=t + horizon]
                .iter()
                .map(move |v| v - self.levels[t])
        })
    }

    fn errors(&self, series: &[f64], horizon: usize) -> Vec<f64> {
        self.error_iter(series, horizon).collect()
    }

    fn mean_abs_error(&self, series: &[f64], horizon: usize) -> f64 {
        let (sum, n) = self
            .error_iter(series, horizon)
            .fold((0.0, 0usize), |(sum, n), e| (sum + e.abs(), n + 1));
        sum / n.max(1) as f64
    }
}

/// The `q` and `1 − q` quantiles (the values at those ranks of the sorted
/// errors, found without sorting them all).
fn quantiles(mut v: Vec<f64>, q: f64) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    let rank = |p: f64| ((v.len() - 1) as f64 * p).round() as usize;
    let (low, high) = (rank(q), rank(1.0 - q));
    let mut at = |k: usize| *v.select_nth_unstable_by(k, f64::total_cmp).1;
    (at(low), at(high))
}

/// Seasonal naive: each hour as it was `period` hours earlier.
pub fn seasonal_naive(history: &[f64], period: usize, horizon: usize) -> Vec<f64> {
    let start = history.len().saturating_sub(period);
    (0..horizon)
        .map(|h| history.get(start + h % period).copied().unwrap_or(0.0))
        .collect()
}

/// Forecast errors over a backtest's holdouts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Errors {
    /// Mean absolute percentage error of daily totals (days with orders).
    pub daily_mape: f64,
    /// Mean absolute percentage error of hours with orders.
    pub hourly_mape: f64,
    /// Mean absolute error over the in-sample error of seasonal naive
    /// (period 168): below 1 beats last week's same hour.
    pub mase: f64,
}

/// A rolling-origin backtest of the model and of seasonal naive.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Backtest {
    /// Holdout weeks: origins at 1, 2, … weeks before the end of the data,
    /// each forecasting the week after it.
    pub weeks: usize,
    pub model: Errors,
    pub seasonal_naive: Errors,
}

/// Holdout weeks of the demand forecast's backtest, which the ETL runs
/// after each batch run and stores in `model_fits` as [`BACKTEST_FIT`].
pub const BACKTEST_WEEKS: usize = 4;
/// The `model_fits.model` of the demand forecast's backtest.
pub const BACKTEST_FIT: &str = "demand_backtest";

/// Orders per hour from the first day's 00:00 to the last day's 23:00 (KST),
/// hours without orders as zero, from rows of (KST hour, orders); and the
/// first day.
pub fn hourly_series(rows: &[(NaiveDateTime, i64)]) -> (Option<NaiveDate>, Vec<f64>) {
    let (Some(first), Some(last)) = (
        rows.iter().map(|r| r.0.date()).min(),
        rows.iter().map(|r| r.0.date()).max(),
    ) else {
        return (None, Vec::new());
    };
    let start = first.and_hms_opt(0, 0, 0).unwrap_or_default();
    let hours = ((last - first).num_days() as usize + 1) * DAY;
    let mut series = vec![0.0; hours];
    for (hour, n) in rows {
        if let Some(slot) = series.get_mut((*hour - start).num_hours() as usize) {
            *slot += *n as f64;
        }
    }
    (Some(first), series)
}

/// Backtests [`hourly`] over the last `weeks` weeks of `history`.
pub fn backtest(history: &[f64], weeks: usize) -> Result<Backtest, ForecastError> {
    backtest_with(history, weeks, |train| Ok(hourly(train, WEEK)?.point))
}

/// Backtests any hourly model (`train` → the next [`WEEK`] hours).
pub fn backtest_with(
    history: &[f64],
    weeks: usize,
    model: impl Fn(&[f64]) -> Result<Vec<f64>, ForecastError>,
) -> Result<Backtest, ForecastError> {
    let need = (weeks + 2) * WEEK;
    if history.len() < need {
        return Err(ForecastError::TooShort {
            have: history.len(),
            need,
        });
    }
    let (mut ours, mut naive) = (Tally::default(), Tally::default());
    for w in (1..=weeks).rev() {
        let origin = history.len() - w * WEEK;
        let (train, actual) = (&history[..origin], &history[origin..origin + WEEK]);
        let scale = naive_scale(train);
        ours.add(&model(train)?, actual, scale);
        naive.add(&seasonal_naive(train, WEEK, WEEK), actual, scale);
    }
    Ok(Backtest {
        weeks,
        model: ours.errors(),
        seasonal_naive: naive.errors(),
    })
}

/// The in-sample mean absolute error of seasonal naive (MASE's scale).
fn naive_scale(train: &[f64]) -> f64 {
    let n = train.len().saturating_sub(WEEK);
    if n == 0 {
        return 1.0;
    }
    let total: f64 = (WEEK..train.len())
        .map(|t| (train[t] - train[t - WEEK]).abs())
        .sum();
    (total / n as f64).max(f64::EPSILON)
}

#[derive(Default)]
struct Tally {
    daily: Vec<f64>,
    hourly: Vec<f64>,
    scaled: Vec<f64>,
}

impl Tally {
    fn add(&mut self, predicted: &[f64], actual: &[f64], scale: f64) {
        for (p, a) in predicted.iter().zip(actual) {
            if *a > 0.0 {
                self.hourly.push((p - a).abs() / a);
            }
            self.scaled.push((p - a).abs() / scale);
        }
        for (p, a) in predicted.chunks(DAY).zip(actual.chunks(DAY)) {
            let (p, a): (f64, f64) = (p.iter().sum(), a.iter().sum());
            if a > 0.0 {
                self.daily.push((p - a).abs() / a);
            }
        }
    }

    fn errors(&self) -> Errors {
        let mean = |v: &[f64]| {
            if v.is_empty() {
                0.0
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            }
        };
        Errors {
            daily_mape: mean(&self.daily),
            hourly_mape: mean(&self.hourly),
            mase: mean(&self.scaled),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Orders with a daily and a weekly shape, a slow trend and noise.
    fn seasonal_series(weeks: usize) -> Vec<f64> {
        let mut state = 7u64;
        (0..weeks * WEEK)
            .map(|t| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let noise = ((state >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 4.0;
                let hour = (t % DAY) as f64;
                let day = (t / DAY) % 7;
                let daily = 10.0 * (1.0 + (std::f64::consts::TAU * (hour - 6.0) / 24.0).sin());
                let weekly = if day >= 5 { 8.0 } else { 0.0 };
                (20.0 + t as f64 * 0.002 + daily + weekly + noise).max(0.0)
            })
            .collect()
    }

    #[test]
    fn a_spike_and_an_outage_are_anomalies_and_ordinary_hours_mostly_are_not() {
        let mut series = seasonal_series(6);
        let n = series.len();
        let (spike, outage) = (n - 30, n - 10);
        series[spike] += 60.0;
        series[outage] = 0.0;
        let found = anomalies(&series, 3, |_| true).unwrap();
        let at: Vec<usize> = found.iter().map(|a| a.index).collect();
        assert!(at.contains(&spike) && at.contains(&outage), "{at:?}");
        assert!(
            found.len() <= 5,
            "{} of 72 ordinary hours flagged: {found:?}",
            found.len()
        );
        let high = found.iter().find(|a| a.index == spike).unwrap();
        assert!(high.actual > high.upper && high.expected < high.upper);
        // Hours not judged are never flagged.
        assert!(anomalies(&series, 3, |i| i != spike)
            .unwrap()
            .iter()
            .all(|a| a.index != spike));
        // Too little history: nothing judged, no error.
        assert!(anomalies(&series[..2 * WEEK], 3, |_| true)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn the_model_beats_seasonal_naive_on_a_seasonal_series_and_its_interval_holds_the_point() {
        let series = seasonal_series(10);
        let b = backtest(&series, 3).unwrap();
        assert!(b.model.mase < b.seasonal_naive.mase, "{b:?}");
        assert!(b.model.daily_mape < 0.05, "{b:?}");
        let f = hourly(&series, 48).unwrap();
        assert_eq!(f.point.len(), 48);
        for ((l, p), u) in f.lower.iter().zip(&f.point).zip(&f.upper) {
            assert!(0.0 <= *l && l <= p && p <= u, "{l} {p} {u}");
        }
    }

    #[test]
    fn short_histories_are_refused_with_what_is_needed() {
        let e = hourly(&[1.0; 100], 24).unwrap_err();
        assert!(e.to_string().contains("at least 360"), "{e}");
        assert!(backtest(&seasonal_series(3), 3).is_err());
        assert_eq!(seasonal_naive(&[1.0, 2.0, 3.0], 2, 3), [2.0, 3.0, 2.0]);
    }
}

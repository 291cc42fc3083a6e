//! Customer lifetime value from two probabilistic models, fitted by maximum
//! likelihood: the models of Python's `lifetimes`, whose parameters a test
//! (`tests/models_oracle.rs`) matches within 1% on the same input.
//!
//! - **BG/NBD** (Fader, Hardie & Lee, "Counting your customers the easy
//!   way", 2005) for the purchase process: while alive, a customer orders at
//!   a rate drawn from Gamma(r, α); after each order they drop out with a
//!   probability drawn from Beta(a, b).
//! - **Gamma-Gamma** (Fader, Hardie & Lee, "RFM and CLV", 2005) for spend:
//!   each customer's order values scatter around a mean drawn from a gamma
//!   mixture with parameters p, q, v.
//!
//! Each customer is summarised ([`Summary`]) from their revenue orders:
//! `x` = repeat orders (orders after the first; two orders at one time are
//! two), `t_x` = days from the first order to the last, `T` = days from the
//! first order to the reference time, and the mean value of the repeat
//! orders. Time is in days; money is fitted in thousands of KRW
//! ([`MONEY_UNIT_KRW`]): in raw KRW the Gamma-Gamma likelihood is so flat
//! that optimisers stop at degenerate fits.
//!
//! CLV ([`lifetime_value`]) is the expected revenue of the next
//! [`HORIZON_MONTHS`] months of 30 days, month by month: expected orders
//! in the month × expected value per order, discounted at the monthly rate
//! (the formula of `lifetimes.utils.customer_lifetime_value`).
//!
//! Both are fitted on the parameters' logarithms with `argmin`: BG/NBD by
//! L-BFGS on its analytic gradient (digamma terms from `special`), with
//! Nelder-Mead as the fallback should it not converge; Gamma-Gamma, whose
//! likelihood costs a tenth as much, by Nelder-Mead, restarted from its own
//! result until it stops improving. The likelihoods group their
//! gamma-function terms by `x`, which is all they depend on.

use crate::churn::Purchase;
use argmin::core::{CostFunction, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::neldermead::NelderMead;
use argmin::solver::quasinewton::LBFGS;
use chrono::{DateTime, Utc};
use ndarray::Array1;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Money is fitted in this many KRW.
pub const MONEY_UNIT_KRW: f64 = 1000.0;
/// CLV's horizon, in months.
pub const HORIZON_MONTHS: u32 = 12;
/// A month, in days ([`crate::rules::MONTH_DAYS`]).
pub const MONTH_DAYS: f64 = crate::rules::MONTH_DAYS as f64;

/// What the models know of one customer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// `x`: orders after the first.
    pub repeat_orders: u32,
    /// `t_x`: days from the first order to the last.
    pub recency_days: f64,
    /// `T`: days from the first order to the reference time.
    pub age_days: f64,
    /// The mean value of the repeat orders, in KRW (0 without any).
    pub mean_repeat_value: f64,
}

/// Summarises one customer's revenue orders at `reference`; `None` without
/// an order before it.
pub fn summarise(purchases: &[Purchase], reference: DateTime<Utc>) -> Option<Summary> {
    let mut before: Vec<&Purchase> = purchases.iter().filter(|(at, _)| *at < reference).collect();
    before.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let (first, last) = (before.first()?.0, before.last()?.0);
    let repeat = &before[1..];
    let days = |d: chrono::Duration| d.num_milliseconds() as f64 / 86_400_000.0;
    Some(Summary {
        repeat_orders: u32::try_from(repeat.len()).unwrap_or(u32::MAX),
        recency_days: days(last - first),
        age_days: days(reference - first),
        mean_repeat_value: if repeat.is_empty() {
            0.0
        } else {
            repeat.iter().map(|(_, v)| v).sum::<f64>() / repeat.len() as f64
        },
    })
}

/// Summarises every customer.
pub fn summarise_all(
    customers: &BTreeMap<String, Vec<Purchase>>,
    reference: DateTime<Utc>,
) -> BTreeMap<String, Summary> {
    customers
        .iter()
        .filter_map(|(id, p)| Some((id.clone(), summarise(p, reference)?)))
        .collect()
}

/// Why a model could not be fitted.
#[derive(Debug, thiserror::Error)]
pub enum ClvError {
    #[error("too little history: {0}")]
    TooLittle(String),
    #[error("the maximum-likelihood fit failed: {0}")]
    Fit(String),
}

/// The fitted BG/NBD model (time in days).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgNbd {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

/// The fitted Gamma-Gamma model (`v` in thousands of KRW).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GammaGamma {
    pub p: f64,
    pub q: f64,
    pub v: f64,
}

fn ln_gamma(x: f64) -> f64 {
    libm::lgamma(x)
}

/// BG/NBD's mean negative log-likelihood over `customers` (each: the index
/// of its `x` in `by_x`, x, t_x and T) and its gradient, both in the
/// parameters' logarithms `[ln r, ln α, ln a, ln b]`.
///
/// Per customer, ln L = A(x) + ln(e^a₃ + e^a₄) with
/// A(x) = ln Γ(r+x) − ln Γ(r) + r ln α + ln Γ(a+b) + ln Γ(b+x) − ln Γ(b) − ln Γ(a+b+x),
/// a₃ = −(r+x) ln(α+T) and, for x > 0, a₄ = ln a − ln(b+x−1) − (r+x) ln(α+t_x).
/// A(x) and its derivatives (digamma terms) depend on x only and are
/// computed once per distinct x.
fn bgnbd_cost(by_x: &[u32], customers: &[ScaledCustomer], log: &[f64]) -> Evaluated {
    use special::Gamma;
    let [r, alpha, a, b] = [log[0].exp(), log[1].exp(), log[2].exp(), log[3].exp()];
    let (ln_alpha, ln_a) = (alpha.ln(), a.ln());
    let (psi_r, psi_b, psi_ab) = (r.digamma(), b.digamma(), (a + b).digamma());
    let ln_gamma_shared = ln_gamma(a + b) - ln_gamma(r) - ln_gamma(b);
    struct PerX {
        value: f64,
        d_r: f64,
        d_a: f64,
        d_b: f64,
        drop_out: f64,
        /// −1/(b+x−1): the drop-out term's derivative in b.
        drop_out_d_b: f64,
    }
    let per_x: Vec<PerX> = by_x
        .iter()
        .map(|&x| {
            let xf = f64::from(x);
            let psi_abx = (a + b + xf).digamma();
            PerX {
                value: ln_gamma(r + xf) + r * ln_alpha + ln_gamma(b + xf) - ln_gamma(a + b + xf)
                    + ln_gamma_shared,
                d_r: (r + xf).digamma() - psi_r + ln_alpha,
                d_a: psi_ab - psi_abx,
                d_b: psi_ab + (b + xf).digamma() - psi_b - psi_abx,
                drop_out: if x > 0 {
                    ln_a - (b + xf - 1.0).ln()
                } else {
                    f64::NEG_INFINITY
                },
                drop_out_d_b: if x > 0 { -1.0 / (b + xf - 1.0) } else { 0.0 },
            }
        })
        .collect();
    let (mut total, mut d) = (0.0, [0.0; 4]);
    for &(at, x, t_x, t) in customers {
        let px = &per_x[at];
        let (ln_t, rx) = ((alpha + t).ln(), r + x);
        let a3 = -rx * ln_t;
        // The weight of the drop-out term in ln(e^a₃ + e^a₄), and the sum.
        let (ln_sum, w4, ln_tx) = if x > 0.0 {
            let ln_tx = (alpha + t_x).ln();
            let a4 = px.drop_out - rx * ln_tx;
            let (big, small) = if a3 >= a4 { (a3, a4) } else { (a4, a3) };
            let e = (small - big).exp();
            let w_small = e / (1.0 + e);
            let w4 = if a4 > a3 { 1.0 - w_small } else { w_small };
            (big + e.ln_1p(), w4, ln_tx)
        } else {
            (a3, 0.0, 0.0)
        };
        let w3 = 1.0 - w4;
        total += px.value + ln_sum;
        d[0] += px.d_r - w3 * ln_t - w4 * ln_tx;
        d[1] += r / alpha - rx * (w3 / (alpha + t) + w4 / (alpha + t_x));
        d[2] += px.d_a + w4 / a;
        d[3] += px.d_b + w4 * px.drop_out_d_b;
    }
    let n = customers.len() as f64;
    // d/d ln p = p · d/dp; the cost is the negated mean.
    let gradient = [
        -d[0] * r / n,
        -d[1] * alpha / n,
        -d[2] * a / n,
        -d[3] * b / n,
    ];
    (-total / n, gradient)
}

/// The distinct values of x (whose likelihood terms are shared), and each
/// customer as [`bgnbd_cost`] takes them, with times divided by `scale`.
fn scaled_customers(customers: &[Summary], scale: f64) -> (Vec<u32>, Vec<ScaledCustomer>) {
    let by_x: Vec<u32> = distinct_x(customers.iter().map(|c| c.repeat_orders))
        .into_iter()
        .collect();
    let scaled = customers
        .iter()
        .map(|c| {
            let at = by_x.partition_point(|&x| x < c.repeat_orders);
            let x = f64::from(c.repeat_orders);
            (at, x, c.recency_days / scale, c.age_days / scale)
        })
        .collect();
    (by_x, scaled)
}

impl BgNbd {
    /// Fits the model to `customers` by maximum likelihood.
    pub fn fit(customers: &[Summary]) -> Result<BgNbd, ClvError> {
        if customers.iter().filter(|c| c.repeat_orders > 0).count() < 10 {
            return Err(ClvError::TooLittle(
                "fewer than 10 customers with a repeat order".into(),
            ));
        }
        // Times scaled so that the oldest customer is 1 (as `lifetimes` does):
        // the optimiser then starts near the answer whatever the unit.
        let scale = customers.iter().map(|c| c.age_days).fold(0.0, f64::max);
        if scale <= 0.0 || !scale.is_finite() {
            return Err(ClvError::TooLittle(
                "no customer older than a day's fraction".into(),
            ));
        }
        let (by_x, scaled) = scaled_customers(customers, scale);
        let cost = |log: &[f64]| bgnbd_cost(&by_x, &scaled, log);
        let log = minimise_smooth(&cost, &[0.1; 4])?;
        Ok(BgNbd {
            r: log[0].exp(),
            alpha: log[1].exp() * scale,
            a: log[2].exp(),
            b: log[3].exp(),
        })
    }

    /// The probability that the customer is still alive (can still order).
    pub fn probability_alive(&self, c: &Summary) -> f64 {
        if c.repeat_orders == 0 {
            return 1.0;
        }
        let x = f64::from(c.repeat_orders);
        let log_ratio = (self.r + x)
            * ((self.alpha + c.age_days) / (self.alpha + c.recency_days)).ln()
            + (self.a / (self.b + x - 1.0)).ln();
        1.0 / (1.0 + log_ratio.exp())
    }

    /// The expected number of orders in the `days` after the reference time.
    pub fn expected_orders(&self, c: &Summary, days: f64) -> f64 {
        if days <= 0.0 {
            return 0.0;
        }
        let BgNbd { r, alpha, a, b } = *self;
        let x = f64::from(c.repeat_orders);
        let t = c.age_days;
        let z = days / (alpha + t + days);
        // 2F1(r+x, b+x; a+b+x−1; z) by Euler's transformation, whose series
        // has small parameters whatever x is:
        // = (1−z)^(a−1−r−x) · 2F1(a+b−1−r, a−1; a+b+x−1; z).
        // It is negative when a+b+x−1 is (a first order with a + b < 1), so
        // the product is taken by the logarithms of its size and its sign.
        let series = hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z);
        let ln_size = series.abs().ln()
            + (a - 1.0 - r - x) * (1.0 - z).ln()
            + (r + x) * ((alpha + t) / (alpha + t + days)).ln();
        let first = (a + b + x - 1.0) / (a - 1.0);
        let second = 1.0 - series.signum() * ln_size.exp();
        let alive_odds = if c.repeat_orders > 0 {
            a / (b + x - 1.0) * ((alpha + t) / (alpha + c.recency_days)).powf(r + x)
        } else {
            0.0
        };
        first * second / (1.0 + alive_odds)
    }
}

impl GammaGamma {
    /// Fits the model to the customers with a repeat order (values in KRW).
    pub fn fit(customers: &[Summary]) -> Result<GammaGamma, ClvError> {
        let repeaters: Vec<(u32, f64)> = customers
            .iter()
            .filter(|c| c.repeat_orders > 0 && c.mean_repeat_value > 0.0)
            .map(|c| (c.repeat_orders, c.mean_repeat_value / MONEY_UNIT_KRW))
            .collect();
        if repeaters.len() < 10 {
            return Err(ClvError::TooLittle(
                "fewer than 10 customers with a paid repeat order".into(),
            ));
        }
        let by_x: Vec<u32> = distinct_x(repeaters.iter().map(|(x, _)| *x))
            .into_iter()
            .collect();
        // Per customer: the index of x among the distinct values, x, m and ln m.
        let terms: Vec<(usize, f64, f64, f64)> = repeaters
            .iter()
            .map(|&(x, m)| (by_x.partition_point(|&v| v < x), f64::from(x), m, m.ln()))
            .collect();
        let n = repeaters.len() as f64;
        let cost = |log: &[f64]| {
            let [p, q, v] = [log[0].exp(), log[1].exp(), log[2].exp()];
            let per_x: Vec<f64> = by_x
                .iter()
                .map(|&x| {
                    let xf = f64::from(x);
                    ln_gamma(p * xf + q) - ln_gamma(p * xf) - ln_gamma(q)
                        + q * v.ln()
                        + p * xf * xf.ln()
                })
                .collect();
            let mut total = 0.0;
            for &(at, x, m, ln_m) in &terms {
                total += per_x[at] + (p * x - 1.0) * ln_m - (p * x + q) * (x * m + v).ln();
            }
            -total / n
        };
        let log = minimise(&cost, &[0.1; 3])?;
        let fitted = GammaGamma {
            p: log[0].exp(),
            q: log[1].exp(),
            v: log[2].exp(),
        };
        // The population's mean order value, p·v/(q − 1), exists only for q > 1.
        if fitted.q <= 1.0 {
            return Err(ClvError::Fit(format!(
                "q = {:.3}: the spend distribution has no mean",
                fitted.q
            )));
        }
        Ok(fitted)
    }

    /// The expected value of the customer's future orders, in KRW: their own
    /// mean shrunk toward the population's.
    pub fn expected_value(&self, c: &Summary) -> f64 {
        let GammaGamma { p, q, v } = *self;
        let x = f64::from(c.repeat_orders);
        let m = c.mean_repeat_value / MONEY_UNIT_KRW;
        p * (v + x * m) / (p * x + q - 1.0) * MONEY_UNIT_KRW
    }
}

/// Expected revenue (KRW) of the next [`HORIZON_MONTHS`] months, each month
/// discounted at `monthly_discount`.
pub fn lifetime_value(
    orders: &BgNbd,
    value: &GammaGamma,
    c: &Summary,
    monthly_discount: f64,
) -> f64 {
    let per_order = value.expected_value(c);
    let mut before = 0.0;
    let mut total = 0.0;
    for month in 1..=HORIZON_MONTHS {
        let cumulative = orders.expected_orders(c, f64::from(month) * MONTH_DAYS);
        total += per_order * (cumulative - before) / (1.0 + monthly_discount).powi(month as i32);
        before = cumulative;
    }
    total
}

/// The distinct values of `x`.
fn distinct_x(xs: impl Iterator<Item = u32>) -> std::collections::BTreeSet<u32> {
    xs.collect()
}

/// The Gauss hypergeometric function 2F1(a, b; c; z) for 0 ≤ z < 1, by its
/// series.
fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    let (mut term, mut sum) = (1.0, 1.0);
    for n in 0..200_000 {
        let n = f64::from(n);
        term *= (a + n) * (b + n) / ((c + n) * (n + 1.0)) * z;
        sum += term;
        if term.abs() <= f64::EPSILON * sum.abs() {
            break;
        }
    }
    sum
}

struct Objective<'a>(&'a dyn Fn(&[f64]) -> f64);

impl CostFunction for Objective<'_> {
    type Param = Array1<f64>;
    type Output = f64;

    fn cost(&self, p: &Array1<f64>) -> Result<f64, argmin::core::Error> {
        let value = (self.0)(&p.to_vec());
        // The simplex treats an impossible point as the worst.
        Ok(if value.is_finite() { value } else { f64::MAX })
    }
}

/// One customer as the BG/NBD likelihood sees them: the index of their x
/// among the distinct values, x, t_x and T (times scaled).
type ScaledCustomer = (usize, f64, f64, f64);

/// A cost and its gradient at a point of four parameters.
type Evaluated = (f64, [f64; 4]);

/// A cost with its gradient, for argmin: the last point's answer is kept,
/// since L-BFGS asks for the cost and then the gradient at each point.
struct Smooth<'a> {
    cost_and_gradient: &'a dyn Fn(&[f64]) -> Evaluated,
    last: std::cell::RefCell<Option<(Vec<f64>, Evaluated)>>,
}

impl Smooth<'_> {
    fn at(&self, p: &Array1<f64>) -> Evaluated {
        let point = p.to_vec();
        if let Some((at, evaluated)) = &*self.last.borrow() {
            if *at == point {
                return *evaluated;
            }
        }
        let evaluated = (self.cost_and_gradient)(&point);
        *self.last.borrow_mut() = Some((point, evaluated));
        evaluated
    }
}

impl CostFunction for Smooth<'_> {
    type Param = Array1<f64>;
    type Output = f64;

    fn cost(&self, p: &Array1<f64>) -> Result<f64, argmin::core::Error> {
        Ok(self.at(p).0)
    }
}

impl Gradient for Smooth<'_> {
    type Param = Array1<f64>;
    type Gradient = Array1<f64>;

    fn gradient(&self, p: &Array1<f64>) -> Result<Array1<f64>, argmin::core::Error> {
        Ok(Array1::from(self.at(p).1.to_vec()))
    }
}

/// How small every component of the gradient (of the mean negative
/// log-likelihood, in the parameters' logarithms) is at an accepted minimum.
const CONVERGED_GRADIENT: f64 = 1e-7;

/// Minimises a smooth four-parameter cost from `start` by L-BFGS on its
/// analytic gradient ([`converged_lbfgs`]: some 25 evaluations where
/// Nelder-Mead takes 500), or, when that does not converge (the line search
/// failed, say), by [`minimise`]'s simplex from the point it reached.
fn minimise_smooth(
    cost_and_gradient: &dyn Fn(&[f64]) -> Evaluated,
    start: &[f64],
) -> Result<Vec<f64>, ClvError> {
    match converged_lbfgs(cost_and_gradient, start) {
        Ok(found) => Ok(found),
        Err(reached) => {
            let cost = |p: &[f64]| cost_and_gradient(p).0;
            minimise(&cost, reached.as_deref().unwrap_or(start))
        }
    }
}

/// L-BFGS (More-Thuente line search) from `start`, until the gradient's
/// norm is below [`CONVERGED_GRADIENT`] (a tighter bound leaves the line
/// search hunting in the last digits of the cost, at ten times the
/// evaluations): the minimum, when every component of the gradient there
/// is below it; otherwise the finite point it reached, if any.
fn converged_lbfgs(
    cost_and_gradient: &dyn Fn(&[f64]) -> Evaluated,
    start: &[f64],
) -> Result<Vec<f64>, Option<Vec<f64>>> {
    let problem = Smooth {
        cost_and_gradient,
        last: std::cell::RefCell::new(None),
    };
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), 7)
        .with_tolerance_grad(CONVERGED_GRADIENT)
        .and_then(|s| s.with_tolerance_cost(0.0))
        .map_err(|_| None)?;
    let result = Executor::new(problem, solver)
        .configure(|s| s.param(Array1::from(start.to_vec())).max_iters(200))
        .run()
        .map_err(|_| None)?;
    let reached = result
        .state()
        .get_best_param()
        .map(|p| p.to_vec())
        .filter(|p| p.iter().all(|v| v.is_finite()))
        .ok_or(None)?;
    let (cost, gradient) = cost_and_gradient(&reached);
    if cost.is_finite() && gradient.iter().all(|g| g.abs() < CONVERGED_GRADIENT) {
        Ok(reached)
    } else {
        Err(Some(reached))
    }
}

/// Minimises `cost` from `start` by Nelder-Mead, restarted with a smaller
/// simplex from its own best point until a restart gains nothing.
fn minimise(cost: &dyn Fn(&[f64]) -> f64, start: &[f64]) -> Result<Vec<f64>, ClvError> {
    let fail = |e: argmin::core::Error| ClvError::Fit(e.to_string());
    let mut best = Array1::from(start.to_vec());
    let mut best_cost = f64::INFINITY;
    for step in [0.5, 0.1, 0.02, 0.005, 0.001] {
        let mut simplex = vec![best.clone()];
        for i in 0..best.len() {
            let mut vertex = best.clone();
            vertex[i] += step;
            simplex.push(vertex);
        }
        let solver = NelderMead::new(simplex)
            .with_sd_tolerance(1e-13)
            .map_err(fail)?;
        let result = Executor::new(Objective(cost), solver)
            .configure(|s| s.max_iters(4000))
            .run()
            .map_err(fail)?;
        let state = result.state();
        let found = state
            .get_best_param()
            .cloned()
            .ok_or_else(|| ClvError::Fit("the optimiser returned no point".into()))?;
        let found_cost = state.get_best_cost();
        let gained = best_cost - found_cost;
        if found_cost < best_cost {
            best = found;
            best_cost = found_cost;
        }
        if gained.abs() < 1e-12 {
            break;
        }
    }
    if best_cost >= f64::MAX || !best.iter().all(|v| v.is_finite()) {
        return Err(ClvError::Fit("no finite likelihood was found".into()));
    }
    Ok(best.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + day * 86_400, 0).unwrap()
    }

    #[test]
    fn a_summary_counts_repeat_orders_and_their_mean_value() {
        let s = summarise(
            &[(at(10), 9_000.0), (at(0), 5_000.0), (at(4), 7_000.0)],
            at(30),
        )
        .unwrap();
        assert_eq!(s.repeat_orders, 2);
        assert_eq!(s.recency_days, 10.0);
        assert_eq!(s.age_days, 30.0);
        assert_eq!(s.mean_repeat_value, 8_000.0);
        let one = summarise(&[(at(3), 5_000.0)], at(30)).unwrap();
        assert_eq!(
            (one.repeat_orders, one.recency_days, one.mean_repeat_value),
            (0, 0.0, 0.0)
        );
        assert!(summarise(&[(at(31), 5_000.0)], at(30)).is_none());
    }

    #[test]
    fn the_hypergeometric_series_matches_known_values() {
        // 2F1(1, 1; 2; z) = −ln(1−z)/z.
        let z: f64 = 0.9;
        assert!((hyp2f1(1.0, 1.0, 2.0, z) - (-(1.0 - z).ln() / z)).abs() < 1e-12);
        // 2F1(a, b; b; z) = (1−z)^−a.
        assert!((hyp2f1(0.7, 3.0, 3.0, 0.5) - 0.5f64.powf(-0.7)).abs() < 1e-12);
    }

    #[test]
    fn expected_orders_agree_with_the_untransformed_series_even_when_it_is_negative() {
        // a + b < 1: for a customer without repeat orders 2F1's third
        // parameter, a + b + x − 1, is negative, and so is the function.
        let model = BgNbd {
            r: 0.59,
            alpha: 15.6,
            a: 0.104,
            b: 0.717,
        };
        for (x, t) in [(0u32, 37.5), (0, 5.0), (1, 20.0), (4, 90.0)] {
            let c = Summary {
                repeat_orders: x,
                recency_days: t / 2.0,
                age_days: t,
                mean_repeat_value: 0.0,
            };
            let (xf, days) = (f64::from(x), 30.0);
            let z = days / (model.alpha + t + days);
            let direct = hyp2f1(model.r + xf, model.b + xf, model.a + model.b + xf - 1.0, z);
            let odds = if x > 0 {
                model.a / (model.b + xf - 1.0)
                    * ((model.alpha + t) / (model.alpha + c.recency_days)).powf(model.r + xf)
            } else {
                0.0
            };
            let want = (model.a + model.b + xf - 1.0) / (model.a - 1.0)
                * (1.0
                    - direct * ((model.alpha + t) / (model.alpha + t + days)).powf(model.r + xf))
                / (1.0 + odds);
            let got = model.expected_orders(&c, days);
            assert!(got.is_finite() && got > 0.0, "x {x}, T {t}: {got}");
            assert!(
                (got - want).abs() < 1e-9 * want.abs().max(1.0),
                "x {x}, T {t}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn expected_orders_grow_with_time_and_a_long_silence_lowers_them() {
        let model = BgNbd {
            r: 0.5,
            alpha: 20.0,
            a: 0.8,
            b: 3.0,
        };
        let recent = Summary {
            repeat_orders: 5,
            recency_days: 95.0,
            age_days: 100.0,
            mean_repeat_value: 20_000.0,
        };
        let silent = Summary {
            recency_days: 20.0,
            ..recent
        };
        let month = model.expected_orders(&recent, 30.0);
        let year = model.expected_orders(&recent, 360.0);
        assert!(month > 0.0 && year > month, "{month} {year}");
        assert!(model.expected_orders(&silent, 30.0) < month);
        assert!(model.probability_alive(&silent) < model.probability_alive(&recent));
        assert_eq!(model.expected_orders(&recent, 0.0), 0.0);
    }

    /// 2,000 customers of the BG/NBD process (times scaled to ≤ 1): rates
    /// exponentially distributed (Gamma with r = 1), drop-out chances spread
    /// over [0, 0.5), ages over (0.2, 1].
    fn simulated() -> (Vec<u32>, Vec<ScaledCustomer>) {
        use crate::datagen::rng::Rng;
        let customers: Vec<Summary> = (0..2_000)
            .map(|i| {
                let mut rng = Rng::keyed(7, 1, i);
                let rate = -(1.0 - rng.unit()).ln() * 20.0;
                let drop_out = rng.unit().powi(2) * 0.5;
                let age = 0.2 + 0.8 * rng.unit();
                let (mut t, mut x, mut t_x) = (0.0, 0, 0.0);
                loop {
                    t += -(1.0 - rng.unit()).ln() / rate;
                    if t > age {
                        break;
                    }
                    (x, t_x) = (x + 1, t);
                    if rng.chance(drop_out) {
                        break;
                    }
                }
                Summary {
                    repeat_orders: x,
                    recency_days: t_x,
                    age_days: age,
                    mean_repeat_value: 0.0,
                }
            })
            .collect();
        scaled_customers(&customers, 1.0)
    }

    #[test]
    fn the_bgnbd_gradient_is_the_slope_of_its_likelihood() {
        let (by_x, customers) = simulated();
        for point in [
            [0.1, 0.1, 0.1, 0.1],
            [-0.3, -2.5, -1.8, 1.6],
            [1.2, 0.8, 0.5, -0.7],
        ] {
            let (_, gradient) = bgnbd_cost(&by_x, &customers, &point);
            for i in 0..4 {
                let h = 1e-6;
                let (mut up, mut down) = (point, point);
                up[i] += h;
                down[i] -= h;
                let slope = (bgnbd_cost(&by_x, &customers, &up).0
                    - bgnbd_cost(&by_x, &customers, &down).0)
                    / (2.0 * h);
                assert!(
                    (gradient[i] - slope).abs() < 1e-6 * (1.0 + slope.abs()),
                    "at {point:?}, parameter {i}: gradient {} against slope {slope}",
                    gradient[i]
                );
            }
        }
    }

    #[test]
    fn l_bfgs_and_the_simplex_find_the_same_bgnbd_minimum() {
        let (by_x, customers) = simulated();
        let cost_and_gradient = |log: &[f64]| bgnbd_cost(&by_x, &customers, log);
        let cost = |log: &[f64]| cost_and_gradient(log).0;
        let smooth = converged_lbfgs(&cost_and_gradient, &[0.1; 4]).expect("L-BFGS converges");
        let simplex = minimise(&cost, &[0.1; 4]).unwrap();
        assert!(
            cost(&smooth) <= cost(&simplex) + 1e-9,
            "L-BFGS {} at {smooth:?}, simplex {} at {simplex:?}",
            cost(&smooth),
            cost(&simplex)
        );
        for (s, n) in smooth.iter().zip(&simplex) {
            assert!(
                (s.exp() / n.exp() - 1.0).abs() < 1e-3,
                "{smooth:?} against {simplex:?}"
            );
        }
    }
}

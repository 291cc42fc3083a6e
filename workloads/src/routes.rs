//! Delivery route suggestions (배달 경로 최적화): the orders of a time window
//! batched into rider routes by a vehicle-routing solver (`vrp-core`), and
//! what the batching saves against delivering them one by one.
//!
//! The model, written down once here:
//! - Every order is a pickup at its store and a drop at its customer, in
//!   that order, by the same rider. A rider carries at most [`MAX_BATCH`]
//!   orders at once.
//! - Food is ready [`PREP_MIN`] minutes after the order; it is picked up at
//!   most [`PICKUP_WAIT_MIN`] minutes after that, and delivered at most
//!   [`DELIVERY_WINDOW_MIN`] minutes after it is ready (a customer farther
//!   than that ride: as soon as a direct ride allows).
//! - Riders start at a store and end back at the store they started from
//!   (so the next pickup starts from where the last one did); each stop
//!   takes [`STOP_MIN`] minutes.
//! - Distances are road estimates: straight-line (haversine) km × the
//!   road factor ([`crate::rules::ROAD_FACTOR`], as in the generator's
//!   `distance_km`); riders ride at
//!   [`RIDER_KMH`].
//! - One by one: each order its own round trip, store → customer → store.
//!   That plan is feasible for the solver too, so the suggestion never
//!   costs more; when the solver finds nothing better within its limit the
//!   answer is the one-by-one plan itself (savings zero).
//! - Only nearby orders are batched: orders are first grouped by rides of at
//!   most [`BATCH_RADIUS_KM`] from a stop of one to the store of another,
//!   made in time and without waiting there longer than a delivery may
//!   take, at most [`MAX_GROUP`] orders a group ([`groups`]); each group is
//!   solved on its own, and no route mixes groups.
//!
//! The solver minimises unassigned orders, then total distance, from a
//! fixed random seed, for [`GENERATIONS_PER_ORDER`] generations an order
//! (at most [`GENERATIONS`]) and within the time limit given. When the time
//! limit ends a search, the plan depends on how busy the machine was.

use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vrp_core::models::common::TimeWindow;
use vrp_core::models::problem::JobIdDimension;
use vrp_core::prelude::*;
use vrp_core::rosomaxa::utils::{Parallelism, Quota, TimeQuota};

/// Orders a rider carries at once.
pub const MAX_BATCH: i32 = 3;
/// Minutes from the order to the food being ready.
pub const PREP_MIN: f64 = 15.0;
/// Minutes ready food may wait for its rider.
pub const PICKUP_WAIT_MIN: f64 = 20.0;
/// Minutes from ready to delivered, at most.
pub const DELIVERY_WINDOW_MIN: f64 = 45.0;
/// Minutes at each stop.
pub const STOP_MIN: f64 = 2.0;
/// A rider's speed, km/h.
pub const RIDER_KMH: f64 = 20.0;
/// Road km from a stop of one order to the store of another within which
/// the two are planned together ([`groups`]).
pub const BATCH_RADIUS_KM: f64 = 3.0;
/// Orders one group holds at most: a larger group is cut into runs of
/// about equal length of orders placed one after another. In the same time
/// the solver finds more in several small problems than in one large one:
/// on the twelve busiest 30-minute windows of a week at scale 1, with 2 s,
/// 285 of 3,532 km saved against 253–273 with groups of any size.
pub const MAX_GROUP: usize = 12;
/// The solver's generations for each order of a group ...
pub const GENERATIONS_PER_ORDER: usize = 25;
/// ... and at most.
pub const GENERATIONS: usize = 300;

/// The solver's generations for a group of `orders` orders.
fn generations_for(orders: usize) -> usize {
    (GENERATIONS_PER_ORDER * orders).min(GENERATIONS)
}

/// A place, in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    pub lat: f64,
    pub lng: f64,
}

impl Point {
    /// Road km to `other` ([`crate::rules::road_km`]).
    pub fn road_km(self, other: Point) -> f64 {
        crate::rules::road_km(self.lat, self.lng, other.lat, other.lng)
    }
}

/// One order to deliver.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteOrder {
    pub order_id: String,
    pub store: Point,
    pub customer: Point,
    /// Minutes from the window's start to the order.
    pub ordered_min: f64,
}

/// One stop of a rider's route.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stop {
    /// `start`, `pickup`, `drop` or `end`.
    pub kind: &'static str,
    pub order_id: Option<String>,
    pub at: Point,
    /// Minutes from the window's start when the rider gets there.
    pub arrival_min: f64,
}

/// One rider's route.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiderRoute {
    pub stops: Vec<Stop>,
    pub orders: usize,
    pub km: f64,
    pub minutes: f64,
}

/// A group's routes, one per rider.
type Routes = Vec<RiderRoute>;

/// Distance, riding time and riders of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Totals {
    pub km: f64,
    pub minutes: f64,
    pub riders: usize,
}

/// The suggestion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub routes: Vec<RiderRoute>,
    pub batched: Totals,
    pub one_by_one: Totals,
    /// `one_by_one − batched`, summed over the groups whose solver routes
    /// are used (each shorter and no slower than one by one): never negative.
    pub km_saved: f64,
    pub minutes_saved: f64,
    /// Whether the solver's routes are used (`false`: one by one).
    pub solved: bool,
}

/// Why no plan was made.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("the routing solver failed: {0}")]
    Solver(String),
}

fn minutes_for(km: f64) -> f64 {
    km / RIDER_KMH * 60.0
}

/// Minutes from ready to delivered, at most: [`DELIVERY_WINDOW_MIN`], or
/// for a customer too far for that, the direct ride (so that one by one is
/// always a feasible plan).
fn delivered_within(o: &RouteOrder) -> f64 {
    DELIVERY_WINDOW_MIN.max(STOP_MIN + minutes_for(o.store.road_km(o.customer)) + 1.0)
}

/// Each order on its own round trip.
fn one_by_one(orders: &[RouteOrder]) -> (Vec<RiderRoute>, Totals) {
    let routes: Vec<RiderRoute> = orders
        .iter()
        .map(|o| {
            let leg = o.store.road_km(o.customer);
            let ready = o.ordered_min + PREP_MIN;
            let stop = |kind, at, arrival_min, id: bool| Stop {
                kind,
                order_id: id.then(|| o.order_id.clone()),
                at,
                arrival_min,
            };
            RiderRoute {
                stops: vec![
                    stop("start", o.store, ready, false),
                    stop("pickup", o.store, ready, true),
                    stop(
                        "drop",
                        o.customer,
                        ready + STOP_MIN + minutes_for(leg),
                        true,
                    ),
                    stop(
                        "end",
                        o.store,
                        ready + 2.0 * STOP_MIN + minutes_for(2.0 * leg),
                        false,
                    ),
                ],
                orders: 1,
                km: 2.0 * leg,
                minutes: minutes_for(2.0 * leg) + 2.0 * STOP_MIN,
            }
        })
        .collect();
    let totals = totals_of(&routes);
    (routes, totals)
}

fn totals_of(routes: &[RiderRoute]) -> Totals {
    Totals {
        km: routes.iter().map(|r| r.km).sum(),
        minutes: routes.iter().map(|r| r.minutes).sum(),
        riders: routes.len(),
    }
}

/// Suggests routes for `orders`, the solver stopping after `limit`.
pub fn plan(orders: &[RouteOrder], limit: Duration) -> Result<Plan, RouteError> {
    plan_until(orders, Instant::now() + limit)
}

/// Suggests routes for `orders`, the solver stopping at `deadline`.
///
/// The orders are first split into groups ([`groups`]), and each group of
/// two or more is solved on its own, with what is left of the time: a few
/// small problems solve far faster than a window's worth at once. The
/// groups are shared out among one worker thread per CPU ([`solve_groups`]).
/// The solver stops on time, not after a fixed amount of work, so a plan
/// can differ from one request to the next when the machine is busy.
pub fn plan_until(orders: &[RouteOrder], deadline: Instant) -> Result<Plan, RouteError> {
    let (_, alone) = one_by_one(orders);
    let groups: Vec<Vec<RouteOrder>> = groups(orders)
        .into_iter()
        .map(|group| group.iter().map(|&i| orders[i].clone()).collect())
        .collect();
    let found = solve_groups(&groups, deadline)?;
    let mut routes = Vec::with_capacity(orders.len());
    let mut solved = false;
    // Summed per group, from the groups whose solver routes are used: a
    // difference of the plans' totals, summed in another order, can come
    // out a rounding error below zero when nothing was batched.
    let (mut km_saved, mut minutes_saved) = (0.0, 0.0);
    for (members, found) in groups.iter().zip(found) {
        let (single, single_totals) = one_by_one(members);
        match found.map(|batched| (totals_of(&batched), batched)) {
            // Used only when shorter and no slower than one by one.
            Some((totals, batched))
                if totals.km < single_totals.km && totals.minutes <= single_totals.minutes =>
            {
                solved = true;
                km_saved += single_totals.km - totals.km;
                minutes_saved += single_totals.minutes - totals.minutes;
                routes.extend(batched);
            }
            _ => routes.extend(single),
        }
    }
    let batched = totals_of(&routes);
    Ok(Plan {
        km_saved,
        minutes_saved,
        routes,
        batched,
        one_by_one: alone,
        solved,
    })
}

/// The solver's routes for each group of two or more orders (`None` for a
/// single order, or when the solver left an order out), in the groups'
/// order.
///
/// Workers, one per CPU, take the groups largest first; a group taken
/// after the deadline is left to one-by-one delivery. Each worker runs the
/// solver on a one-thread rayon pool of its own (and waits for it):
/// vrp-core's parallel loops are too fine-grained to gain from a shared
/// pool (its threads spend more time waking each other than working).
fn solve_groups(
    groups: &[Vec<RouteOrder>],
    deadline: Instant,
) -> Result<Vec<Option<Routes>>, RouteError> {
    let mut largest_first: Vec<usize> = (0..groups.len())
        .filter(|&g| groups[g].len() >= 2)
        .collect();
    largest_first.sort_by_key(|&g| std::cmp::Reverse(groups[g].len()));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(largest_first.len());
    // Each worker's answers, by group index.
    let worker = || -> Result<Vec<(usize, Option<Routes>)>, RouteError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .map_err(|e| RouteError::Solver(e.to_string()))?;
        let mut done = Vec::new();
        loop {
            let taken = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(&g) = largest_first.get(taken) else {
                return Ok(done);
            };
            let started = Instant::now();
            let left = deadline.saturating_duration_since(started);
            if left.is_zero() {
                done.push((g, None));
                continue;
            }
            let found = pool
                .install(|| solve(&groups[g], left))
                .map_err(|e| RouteError::Solver(e.to_string()))?;
            tracing::debug!(
                orders = groups[g].len(),
                ms = started.elapsed().as_millis() as u64,
                "route group solved"
            );
            done.push((g, found));
        }
    };
    let mut found: Vec<Option<Routes>> = vec![None; groups.len()];
    // Every worker is joined before the first failure is returned.
    let answers: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers).map(|_| scope.spawn(worker)).collect();
        handles.into_iter().map(|handle| handle.join()).collect()
    });
    for answer in answers {
        let done = answer.map_err(|_| RouteError::Solver("a routing worker panicked".into()))??;
        for (g, routes) in done {
            found[g] = routes;
        }
    }
    Ok(found)
}

/// The orders (indexes) split into groups planned apart: two orders are in
/// one group when a rider could ride from a stop of one to the store of the
/// other within [`BATCH_RADIUS_KM`], arriving in time for its pickup and at
/// most [`DELIVERY_WINDOW_MIN`] before its food is ready (no rider waits
/// longer than a delivery may take), or when they are linked through
/// others that could; a group of more than [`MAX_GROUP`] orders is cut
/// into runs of at most that many, by order time. Groups are in the order
/// of their first order.
fn groups(orders: &[RouteOrder]) -> Vec<Vec<usize>> {
    let ready = |o: &RouteOrder| o.ordered_min + PREP_MIN;
    let reaches = |a: &RouteOrder, b: &RouteOrder| {
        [a.store, a.customer].iter().any(|stop| {
            let km = stop.road_km(b.store);
            let arrival = ready(a) + STOP_MIN + minutes_for(km);
            km <= BATCH_RADIUS_KM
                && arrival <= ready(b) + PICKUP_WAIT_MIN
                && arrival >= ready(b) - DELIVERY_WINDOW_MIN
        })
    };
    let mut parent: Vec<usize> = (0..orders.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for i in 0..orders.len() {
        for j in i + 1..orders.len() {
            if reaches(&orders[i], &orders[j]) || reaches(&orders[j], &orders[i]) {
                let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                parent[a.max(b)] = a.min(b);
            }
        }
    }
    let mut by_root: Vec<Vec<usize>> = vec![Vec::new(); orders.len()];
    for i in 0..orders.len() {
        let r = root(&mut parent, i);
        by_root[r].push(i);
    }
    let mut groups = Vec::new();
    for mut group in by_root.into_iter().filter(|g| !g.is_empty()) {
        group.sort_by(|&a, &b| orders[a].ordered_min.total_cmp(&orders[b].ordered_min));
        // Runs of even length: 13 orders make 7 + 6, not 12 + 1.
        let runs = group.len().div_ceil(MAX_GROUP);
        groups.extend(
            group
                .chunks(group.len().div_ceil(runs))
                .map(<[usize]>::to_vec),
        );
    }
    groups.sort_by_key(|g| g.iter().min().copied());
    groups
}

/// Locations: order `i`'s store is `2i`, its customer `2i + 1`.
fn locations(orders: &[RouteOrder]) -> Vec<Point> {
    orders.iter().flat_map(|o| [o.store, o.customer]).collect()
}

/// The solver's progress messages, as debug log lines.
fn solver_log() -> InfoLogger {
    Arc::new(|msg: &str| tracing::debug!(solver = msg))
}

fn solve(orders: &[RouteOrder], limit: Duration) -> GenericResult<Option<Vec<RiderRoute>>> {
    let points = locations(orders);
    let n = points.len();
    let mut distances = Vec::with_capacity(n * n);
    for a in &points {
        for b in &points {
            distances.push(a.road_km(*b) * 1000.0);
        }
    }
    // Seconds, at the rider's speed.
    let durations: Vec<Float> = distances.iter().map(|m| m / (RIDER_KMH / 3.6)).collect();
    let transport: Arc<dyn TransportCost> =
        Arc::new(SimpleTransportCost::new(durations, distances)?);
    let minute = 60.0;
    let jobs = orders
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let ready = (o.ordered_min + PREP_MIN) * minute;
            MultiBuilder::default()
                .id(&o.order_id)
                .add_job(
                    SingleBuilder::default()
                        .demand(Demand::pudo_pickup(1))
                        .times(vec![TimeWindow::new(
                            ready,
                            ready + PICKUP_WAIT_MIN * minute,
                        )])?
                        .duration(STOP_MIN * minute)?
                        .location(2 * i)?
                        .build()?,
                )
                .add_job(
                    SingleBuilder::default()
                        .demand(Demand::pudo_delivery(1))
                        .times(vec![TimeWindow::new(
                            ready,
                            ready + delivered_within(o) * minute,
                        )])?
                        .duration(STOP_MIN * minute)?
                        .location(2 * i + 1)?
                        .build()?,
                )
                .build_as_job()
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Enough riders to deliver one by one, each starting at a store.
    let vehicles = orders
        .iter()
        .enumerate()
        .map(|(i, _)| {
            VehicleBuilder::default()
                .id(&format!("rider{i}"))
                .add_detail(
                    VehicleDetailBuilder::default()
                        .set_start_location(2 * i)
                        .set_start_time(0.0)
                        .set_end_location(2 * i)
                        .build()?,
                )
                .set_distance_cost(1.0)
                .capacity(SingleDimLoad::new(MAX_BATCH))
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let goal = GoalContextBuilder::with_features(&[
        MinimizeUnassignedBuilder::new("min-unassigned").build()?,
        TransportFeatureBuilder::new("min-distance")
            .set_transport_cost(transport.clone())
            .set_time_constrained(true)
            .build_minimize_distance()?,
        CapacityFeatureBuilder::<SingleDimLoad>::new("capacity").build()?,
    ])?
    .build()?;
    let problem = Arc::new(
        ProblemBuilder::default()
            .add_jobs(jobs.into_iter())
            .add_vehicles(vehicles.into_iter())
            .with_goal(goal)
            .with_transport_cost(transport)
            .with_logger(solver_log())
            .build()?,
    );
    let quota: Arc<dyn Quota> = Arc::new(TimeQuota::new(limit.as_secs_f64()));
    let environment = Arc::new(Environment::new(
        Arc::new(DefaultRandom::new_repeatable()),
        Some(quota),
        Parallelism::new_with_cpus(1),
        solver_log(),
        false,
    ));
    let config = VrpConfigBuilder::new(problem.clone())
        .set_environment(environment)
        .prebuild()?
        .with_max_generations(Some(generations_for(orders.len())))
        .build()?;
    let solution = Solver::new(problem, config).solve()?;
    if !solution.unassigned.is_empty() {
        return Ok(None);
    }
    let routes = solution
        .routes
        .iter()
        .map(|route| {
            let activities: Vec<_> = route.tour.all_activities().collect();
            let mut km = 0.0;
            let mut stops = Vec::with_capacity(activities.len());
            let mut previous: Option<usize> = None;
            let last = activities.len().saturating_sub(1);
            for (k, activity) in activities.iter().enumerate() {
                let location = activity.place.location;
                if let Some(p) = previous {
                    km += points[p].road_km(points[location]);
                }
                previous = Some(location);
                let order_id = activity
                    .retrieve_job()
                    .and_then(|job| job.dimens().get_job_id().cloned());
                let kind = match (&order_id, k) {
                    (None, 0) => "start",
                    (None, _) if k == last => "end",
                    // Stores have even locations ([`locations`]).
                    (Some(_), _) if location % 2 == 0 => "pickup",
                    (Some(_), _) => "drop",
                    (None, _) => "stop",
                };
                stops.push(Stop {
                    kind,
                    order_id,
                    at: points[location],
                    arrival_min: activity.schedule.arrival / minute,
                });
            }
            let orders_on = stops.iter().filter(|s| s.kind == "drop").count();
            RiderRoute {
                orders: orders_on,
                minutes: minutes_for(km) + 2.0 * STOP_MIN * orders_on as f64,
                km,
                stops,
            }
        })
        .collect();
    Ok(Some(routes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::ROAD_FACTOR;

    fn order(id: &str, store: (f64, f64), customer: (f64, f64), at: f64) -> RouteOrder {
        RouteOrder {
            order_id: id.into(),
            store: Point {
                lat: store.0,
                lng: store.1,
            },
            customer: Point {
                lat: customer.0,
                lng: customer.1,
            },
            ordered_min: at,
        }
    }

    /// The store of most tests, in Gangnam.
    const STORE: (f64, f64) = (37.50, 127.03);

    fn planned(orders: &[RouteOrder]) -> Plan {
        plan(orders, Duration::from_secs(5)).expect("a plan")
    }

    /// Orders dropped by the plan's riders.
    fn dropped(plan: &Plan) -> usize {
        plan.routes.iter().map(|r| r.orders).sum()
    }

    #[test]
    fn three_orders_from_one_store_to_one_street_ride_together_and_save_distance() {
        let orders = vec![
            order("O1", STORE, (37.520, 127.050), 0.0),
            order("O2", STORE, (37.521, 127.051), 2.0),
            order("O3", STORE, (37.522, 127.049), 4.0),
        ];
        let plan = planned(&orders);
        assert!(plan.solved);
        assert_eq!(plan.batched.riders, 1, "{plan:#?}");
        assert!(plan.km_saved > 0.5 * plan.one_by_one.km, "{plan:#?}");
        let route = &plan.routes[0];
        let kinds: Vec<&str> = route.stops.iter().map(|s| s.kind).collect();
        assert_eq!(kinds.first(), Some(&"start"));
        assert_eq!(kinds.last(), Some(&"end"));
        // Each order is picked up before it is dropped.
        for id in ["O1", "O2", "O3"] {
            let at = |kind| {
                route
                    .stops
                    .iter()
                    .position(|s| s.kind == kind && s.order_id.as_deref() == Some(id))
            };
            assert!(at("pickup") < at("drop"), "{id}: {kinds:?}");
        }
    }

    #[test]
    fn orders_no_rider_could_mix_are_planned_apart_and_near_ones_together() {
        let orders = vec![
            order("near-1", STORE, (37.505, 127.035), 0.0),
            // 60 km away.
            order("far", (37.95, 127.60), (37.951, 127.601), 1.0),
            order("near-2", STORE, (37.506, 127.034), 3.0),
            // The same street three hours later: no pickup waits that long.
            order("later", STORE, (37.505, 127.035), 180.0),
        ];
        assert_eq!(groups(&orders), vec![vec![0, 2], vec![1], vec![3]]);
        let plan = planned(&orders);
        let mut delivered: Vec<&str> = plan
            .routes
            .iter()
            .flat_map(|r| r.stops.iter())
            .filter(|s| s.kind == "drop")
            .filter_map(|s| s.order_id.as_deref())
            .collect();
        delivered.sort_unstable();
        assert_eq!(delivered, ["far", "later", "near-1", "near-2"]);
        assert_eq!(plan.batched.riders, 3, "{plan:#?}");
        assert!(plan.km_saved > 0.0, "{plan:#?}");
    }

    #[test]
    fn a_large_group_is_cut_into_even_runs_of_consecutive_orders() {
        // Two runs and a bit of orders of one street, one a minute, listed
        // latest first.
        let n = 2 * MAX_GROUP + 1;
        let orders: Vec<RouteOrder> = (0..n)
            .rev()
            .map(|i| order(&format!("O{i}"), STORE, (37.505, 127.035), i as f64))
            .collect();
        let groups = groups(&orders);
        assert_eq!(groups.len(), 3);
        for group in &groups {
            assert!(group.len() <= MAX_GROUP, "{groups:?}");
            // No short leftover run (12 + 12 + 1).
            assert!(group.len() >= MAX_GROUP / 2, "uneven runs: {groups:?}");
        }
        for group in &groups {
            let minutes: Vec<f64> = group.iter().map(|&i| orders[i].ordered_min).collect();
            let (first, last) = (minutes[0], minutes[minutes.len() - 1]);
            assert_eq!(last - first, (group.len() - 1) as f64, "{minutes:?}");
        }
        let mut all: Vec<usize> = groups.concat();
        all.sort_unstable();
        assert_eq!(all, (0..n).collect::<Vec<_>>());
    }

    #[test]
    fn orders_in_opposite_directions_are_not_batched_and_nothing_is_lost() {
        let orders = vec![
            order("O1", STORE, (37.55, 127.03), 0.0),
            order("O2", STORE, (37.45, 127.03), 0.0),
        ];
        let plan = planned(&orders);
        assert!(plan.km_saved >= 0.0);
        assert_eq!(dropped(&plan), 2);
    }

    #[test]
    fn a_customer_too_far_for_the_delivery_window_does_not_stop_the_others_riding_together() {
        let orders = vec![
            order("O1", STORE, (37.520, 127.050), 0.0),
            order("O2", STORE, (37.521, 127.051), 1.0),
            // About 30 road km: more than 45 minutes at 20 km/h.
            order("FAR", STORE, (37.66, 127.15), 2.0),
        ];
        let plan = planned(&orders);
        assert!(plan.solved, "{plan:#?}");
        assert_eq!(dropped(&plan), 3);
        assert!(plan.km_saved > 0.0, "{plan:#?}");
    }

    #[test]
    fn the_road_distance_is_the_haversine_times_the_road_factor() {
        // One degree of latitude is about 111.2 km.
        let km = Point {
            lat: 37.0,
            lng: 127.0,
        }
        .road_km(Point {
            lat: 38.0,
            lng: 127.0,
        });
        assert!((km / ROAD_FACTOR - 111.19).abs() < 0.05, "{km}");
    }
}

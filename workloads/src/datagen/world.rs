//! The synthetic world behind the dataset: restaurants, customers, weather,
//! order volume over time, and the orders themselves.
//!
//! Every order is a pure function of (seed, order number, position in its
//! file), so any order can be regenerated without keeping the others.

use super::rng::Rng;
use super::tables::{
    Category, District, CATEGORIES, DISTRICTS, GIVEN_LAST, PAYMENT_METHODS, PLATFORMS, SURNAMES,
};
use crate::model::{Order, OrderItem, OrderStatus, SourceTime};
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Timelike};

/// Decision streams (see [`Rng::keyed`]).
pub mod stream {
    pub const ORDER: u64 = 1;
    pub const TIME: u64 = 2;
    pub const WEATHER: u64 = 3;
    pub const DAY: u64 = 4;
    pub const CUSTOMER: u64 = 5;
    pub const RESTAURANT: u64 = 6;
    pub const DEFECT: u64 = 7;
    pub const JSON_DOC: u64 = 8;
    pub const XML_DOC: u64 = 9;
    pub const CONVERSATION: u64 = 10;
    pub const LOG: u64 = 11;
    pub const UNIFIED: u64 = 12;
}

pub const DAYS: usize = 182; // 2024-01-01 ..= 2024-06-30
const HOURS: usize = DAYS * 24;

/// How each hour of the day weighs in order volume: lunch and dinner peaks,
/// a late-night tail.
const HOUR_PROFILE: [f64; 24] = [
    0.55, 0.35, 0.2, 0.1, 0.06, 0.06, 0.1, 0.2, 0.35, 0.45, 0.7, 1.5, 1.9, 1.4, 0.8, 0.7, 0.8, 1.4,
    2.1, 2.3, 2.0, 1.5, 1.1, 0.85,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weather {
    Clear,
    Cloudy,
    Rain,
    Snow,
}

impl Weather {
    pub fn as_str(self) -> &'static str {
        match self {
            Weather::Clear => "맑음",
            Weather::Cloudy => "흐림",
            Weather::Rain => "비",
            Weather::Snow => "눈",
        }
    }
}

pub struct Restaurant {
    pub id: String,
    pub name: String,
    pub category: usize,
    pub district: usize,
    pub lat: f64,
    pub lng: f64,
    /// Persistently slow (and so lower rated).
    pub slow: bool,
    /// Rating offset of this kitchen.
    pub quality: f64,
    pub popularity: f64,
    /// Own-delivery fee (가게배달), KRW.
    pub own_fee: i64,
}

pub struct Customer {
    pub id: String,
    pub name: String,
    pub phone: String,
    pub district: usize,
    pub dong: usize,
    pub lat: f64,
    pub lng: f64,
    /// Day index after which the customer stops ordering, if they churn.
    pub churn_day: Option<usize>,
}

/// Record counts for one scale factor; DATA.md's table at scale 1.
#[derive(Debug, Clone, Copy)]
pub struct Counts {
    pub csv_orders: u64,
    pub json_orders: u64,
    pub xml_orders: u64,
    pub conversations: u64,
    pub log_events: u64,
    pub unified: u64,
    pub customers: u64,
    pub restaurants: u64,
    pub riders: u64,
}

impl Counts {
    pub fn for_scale(scale: f64) -> Counts {
        let n = |base: f64, min: u64| ((base * scale).round() as u64).max(min);
        Counts {
            csv_orders: n(100_000.0, 1),
            json_orders: n(25_000.0, 1),
            xml_orders: n(25_000.0, 1),
            conversations: n(25_000.0, 1),
            log_events: n(25_000.0, 1),
            unified: n(100_000.0, 1),
            customers: n(20_000.0, 50),
            restaurants: n(1_500.0, 40),
            riders: n(800.0, 20),
        }
    }
}

pub struct World {
    pub seed: u64,
    pub counts: Counts,
    pub restaurants: Vec<Restaurant>,
    /// Restaurant indexes per (district, category).
    by_place: Vec<Vec<Vec<u32>>>,
    by_category: Vec<Vec<u32>>,
    /// Cumulative order intensity at the end of each hour of the period.
    cumulative: Vec<f64>,
}

pub fn start_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 1, 1).expect("valid date")
}

pub use crate::rules::road_km;

fn round_to(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

fn weighted_by<T>(rng: &mut Rng, items: &[T], weight: impl Fn(&T) -> f64) -> usize {
    let weights: Vec<f64> = items.iter().map(weight).collect();
    rng.weighted(&weights)
}

impl World {
    pub fn new(seed: u64, scale: f64) -> World {
        let counts = Counts::for_scale(scale);
        let restaurants: Vec<Restaurant> = (0..counts.restaurants)
            .map(|r| make_restaurant(seed, r))
            .collect();
        let mut by_place = vec![vec![Vec::new(); CATEGORIES.len()]; DISTRICTS.len()];
        let mut by_category = vec![Vec::new(); CATEGORIES.len()];
        for (i, r) in restaurants.iter().enumerate() {
            by_place[r.district][r.category].push(i as u32);
            by_category[r.category].push(i as u32);
        }
        let mut world = World {
            seed,
            counts,
            restaurants,
            by_place,
            by_category,
            cumulative: Vec::with_capacity(HOURS),
        };
        let mut total = 0.0;
        for h in 0..HOURS {
            total += world.intensity(h / 24, h % 24);
            world.cumulative.push(total);
        }
        world
    }

    /// Relative order volume in one hour of one day.
    fn intensity(&self, day: usize, hour: usize) -> f64 {
        let date = start_date() + Duration::days(day as i64);
        let weekday = match date.weekday().num_days_from_monday() {
            4 => 1.15,
            5 => 1.3,
            6 => 1.25,
            _ => 1.0,
        };
        let weather = match self.weather(day, hour) {
            Weather::Rain => 1.15,
            Weather::Snow => 1.25,
            _ => 1.0,
        };
        let noise = Rng::keyed(self.seed, stream::DAY, day as u64)
            .normal(1.0, 0.08)
            .clamp(0.7, 1.3);
        let trend = 1.0 + 0.1 * day as f64 / DAYS as f64;
        HOUR_PROFILE[hour] * weekday * weather * noise * trend
    }

    /// Weather in a 3-hour block: wet days by season, rain or snow by month.
    pub fn weather(&self, day: usize, hour: usize) -> Weather {
        let month = (start_date() + Duration::days(day as i64)).month();
        let wet_day_p = match month {
            1 | 2 => 0.18,
            6 => 0.35,
            _ => 0.2,
        };
        let wet_day = Rng::keyed(self.seed, stream::WEATHER, day as u64).chance(wet_day_p);
        let mut rng = Rng::keyed(
            self.seed,
            stream::WEATHER,
            1_000_000 + (day * 8 + hour / 3) as u64,
        );
        let x = rng.unit();
        if wet_day && x < 0.7 {
            if month <= 2 && rng.chance(0.6) {
                Weather::Snow
            } else {
                Weather::Rain
            }
        } else if x < 0.75 {
            Weather::Clear
        } else {
            Weather::Cloudy
        }
    }

    /// The order time of the `k`-th of `n` orders of one file: the files'
    /// orders spread over the period with the intensity above.
    pub fn time_at(&self, source: u64, k: u64, n: u64) -> NaiveDateTime {
        let mut rng = Rng::keyed(self.seed, stream::TIME + 100 * source, k);
        let total = *self.cumulative.last().unwrap_or(&1.0);
        let target = (k as f64 + rng.unit()) / n.max(1) as f64 * total;
        let hour = self
            .cumulative
            .partition_point(|c| *c < target)
            .min(HOURS - 1);
        let base =
            start_date().and_hms_opt(0, 0, 0).expect("midnight") + Duration::hours(hour as i64);
        base + Duration::seconds(rng.below(3600) as i64)
    }

    pub fn customer(&self, c: u64) -> Customer {
        let mut rng = Rng::keyed(self.seed, stream::CUSTOMER, c);
        let district = weighted_by(&mut rng, DISTRICTS, |d| d.weight);
        let d = &DISTRICTS[district];
        let dong = rng.below(d.dongs.len() as u64) as usize;
        let surname = SURNAMES[weighted_by(&mut rng, SURNAMES, |s| s.1)].0;
        let given = rng.pick(GIVEN_LAST);
        let churn_day = rng
            .chance(0.18)
            .then(|| rng.range(30, DAYS as i64 - 10) as usize);
        Customer {
            id: format!("C{:06}", c + 1),
            name: format!("{surname}*{given}"),
            phone: format!("010-****-{:04}", rng.below(10_000)),
            district,
            dong,
            lat: round_to(d.lat + rng.normal(0.0, 0.01), 3),
            lng: round_to(d.lng + rng.normal(0.0, 0.012), 3),
            churn_day,
        }
    }

    /// A customer for an order at `day`: heavy-tailed (the top 20% place about
    /// 60% of orders), and never one who has already churned.
    fn pick_customer(&self, rng: &mut Rng, day: usize) -> Customer {
        let n = self.counts.customers;
        let mut last = None;
        for _ in 0..8 {
            let c = ((n as f64) * rng.unit().powf(3.15)) as u64;
            let customer = self.customer(c.min(n - 1));
            if customer.churn_day.is_none_or(|churn| day <= churn) {
                return customer;
            }
            last = Some(customer);
        }
        // Eight churned picks in a row (rare, late in the period): take the last.
        last.unwrap_or_else(|| self.customer(0))
    }

    fn pick_category(&self, rng: &mut Rng, hour: u32) -> usize {
        let late = hour >= 22 || hour <= 2;
        let lunch = (11..=13).contains(&hour);
        let afternoon = (14..=17).contains(&hour);
        weighted_by(rng, CATEGORIES, |c: &Category| {
            let mut w = c.weight;
            if late {
                w *= c.late_night;
            }
            if lunch && matches!(c.name, "한식" | "중식" | "분식") {
                w *= 1.5;
            }
            if afternoon && c.name == "카페·디저트" {
                w *= 2.5;
            }
            w
        })
    }

    fn pick_restaurant(&self, rng: &mut Rng, customer: &Customer, category: usize) -> &Restaurant {
        let local = &self.by_place[customer.district][category];
        if local.is_empty() || rng.chance(0.15) {
            // No such kitchen in the district (or a craving for a farther one):
            // the nearest of a few of the category anywhere.
            let pool = &self.by_category[category];
            if pool.is_empty() {
                return &self.restaurants[rng.below(self.restaurants.len() as u64) as usize];
            }
            let candidates: Vec<&Restaurant> = (0..3)
                .map(|_| &self.restaurants[*rng.pick(pool) as usize])
                .collect();
            let distance = |r: &Restaurant| road_km(r.lat, r.lng, customer.lat, customer.lng);
            return candidates
                .into_iter()
                .min_by(|a, b| distance(a).total_cmp(&distance(b)))
                .unwrap_or(&self.restaurants[0]);
        }
        let pool = local;
        // The more popular of two draws: a few restaurants get most orders.
        let a = &self.restaurants[*rng.pick(pool) as usize];
        let b = &self.restaurants[*rng.pick(pool) as usize];
        if a.popularity >= b.popularity {
            a
        } else {
            b
        }
    }

    /// Order number `id` (the 9 digits of its order id), the `k`-th of `n` in
    /// file `source`.
    pub fn order(&self, source: u64, id: u64, k: u64, n: u64) -> Order {
        let mut rng = Rng::keyed(self.seed, stream::ORDER, id);
        let time = self.time_at(source, k, n);
        let day = (time.date() - start_date()).num_days() as usize;
        let hour = time.hour();
        let weather = self.weather(day, hour as usize);
        let customer = self.pick_customer(&mut rng, day);
        let category_index = self.pick_category(&mut rng, hour);
        let restaurant = self.pick_restaurant(&mut rng, &customer, category_index);
        let category = &CATEGORIES[restaurant.category];

        let mut items: Vec<OrderItem> = Vec::new();
        let add = |items: &mut Vec<OrderItem>, name: &str, price: i64, qty: i64| match items
            .iter_mut()
            .find(|i| i.name == name)
        {
            Some(existing) => existing.quantity += qty,
            None => items.push(OrderItem {
                name: name.into(),
                quantity: qty,
                unit_price: price,
            }),
        };
        let mains = if rng.chance(0.25) { 2 } else { 1 };
        for _ in 0..mains {
            let m = rng.below(category.mains.len() as u64) as usize;
            let qty = match rng.unit() {
                x if x < 0.8 => 1,
                x if x < 0.97 => 2,
                _ => 3,
            };
            add(&mut items, category.mains[m].0, category.mains[m].1, qty);
            for &(main, side, p) in category.pairs {
                if main == m && rng.chance(p) {
                    let (name, price) = category.sides[side];
                    add(&mut items, name, price, 1);
                }
            }
        }
        if rng.chance(0.1) {
            let (name, price) = *rng.pick(category.sides);
            add(&mut items, name, price, 1);
        }
        let order_amount: i64 = items.iter().map(|i| i.quantity * i.unit_price).sum();
        let item_count: i64 = items.iter().map(|i| i.quantity).sum();
        let discount = if rng.chance(0.2) {
            (rng.range(2, 10) * 500).min(order_amount / 3 / 100 * 100)
        } else {
            0
        };
        let platform = PLATFORMS[weighted_by(&mut rng, PLATFORMS, |p| p.1)].0;
        let payment = PAYMENT_METHODS[weighted_by(&mut rng, PAYMENT_METHODS, |p| p.1)].0;
        let pickup = platform == "포장";

        let distance = round_to(
            road_km(restaurant.lat, restaurant.lng, customer.lat, customer.lng).max(0.2),
            2,
        );
        let fee = match platform {
            "포장" => 0,
            "가게배달" => restaurant.own_fee,
            _ => {
                let base = 3000 + 500 * ((distance - 1.5).max(0.0) as i64);
                let surcharge = match weather {
                    Weather::Rain => 500,
                    Weather::Snow => 1000,
                    _ => 0,
                };
                base.min(7000) + surcharge
            }
        };
        let estimated = (category.prep_min + 8.0 + 3.5 * distance).round() as i64;
        let peak = matches!(hour, 11..=13 | 18..=20);
        let delay = rng.normal(-3.0, 6.0)
            + match weather {
                Weather::Rain => 7.0,
                Weather::Snow => 15.0,
                _ => 0.0,
            }
            + if restaurant.slow { 14.0 } else { 0.0 }
            + if peak { 4.0 } else { 0.0 };
        let actual = ((estimated as f64 + delay).round() as i64).clamp(8, 170);

        let cancelled = rng.chance(0.04);
        let refunded = !cancelled && rng.chance(0.015);
        let status = if cancelled {
            OrderStatus::Cancelled
        } else if refunded {
            OrderStatus::Refunded
        } else if !pickup && actual > estimated + 20 {
            OrderStatus::Delayed
        } else {
            OrderStatus::Delivered
        };
        let rating = (!cancelled && rng.chance(0.35)).then(|| {
            let late = if pickup {
                0.0
            } else {
                (actual - estimated).max(0) as f64
            };
            let score = 4.6 - if restaurant.slow { 1.3 } else { 0.0 } - 0.06 * late
                + restaurant.quality
                + rng.normal(0.0, 0.6);
            (score.round() as i64).clamp(1, 5)
        });
        let rider = (!pickup && !cancelled)
            .then(|| format!("D{:05}", rng.below(self.counts.riders) + 1).into());
        let elapsed = if cancelled {
            rng.range(2, 10)
        } else if pickup {
            estimated.min(30)
        } else {
            actual + rng.range(1, 15)
        };
        let updated = time + Duration::minutes(elapsed) + Duration::seconds(rng.below(60) as i64);
        let d = &DISTRICTS[customer.district];

        Order {
            order_id: format!("O{id:09}").into(),
            order_time: SourceTime::from_naive_kst(time),
            updated_at: Some(SourceTime::from_naive_kst(updated)),
            customer_id: customer.id.into(),
            customer_name: Some(customer.name.into()),
            phone_number: Some(customer.phone.into()),
            restaurant_id: restaurant.id.as_str().into(),
            restaurant_name: Some(restaurant.name.as_str().into()),
            category: Some(category.name.into()),
            items,
            item_count: Some(item_count),
            order_amount: Some(order_amount),
            discount_amount: Some(discount),
            delivery_fee: Some(fee),
            payment_method: Some(payment.into()),
            platform: Some(platform.into()),
            district: Some(d.column().into()),
            delivery_address: Some(
                format!("{} {} {}", d.city, d.name, d.dongs[customer.dong]).into(),
            ),
            store_lat: Some(restaurant.lat),
            store_lng: Some(restaurant.lng),
            customer_lat: Some(customer.lat),
            customer_lng: Some(customer.lng),
            distance_km: (!pickup).then_some(distance),
            estimated_delivery_min: (!pickup).then_some(estimated),
            actual_delivery_min: (!pickup && !cancelled).then_some(actual),
            rider_id: rider,
            weather: Some(weather.as_str().into()),
            order_status: status,
            rating,
        }
    }
}

fn make_restaurant(seed: u64, r: u64) -> Restaurant {
    let mut rng = Rng::keyed(seed, stream::RESTAURANT, r);
    let category = weighted_by(&mut rng, CATEGORIES, |c| c.weight);
    let district = weighted_by(&mut rng, DISTRICTS, |d| d.weight);
    let d: &District = &DISTRICTS[district];
    let dong = rng.pick(d.dongs);
    let word = rng.pick(CATEGORIES[category].name_words);
    let prefix = rng.pick(super::tables::NAME_PREFIXES);
    // Some names carry a comma (quoted in the CSV), as real exports do.
    let separator = if rng.chance(0.1) { ", " } else { " " };
    Restaurant {
        id: format!("R{:05}", r + 1),
        name: format!("{prefix}{word}{separator}{}점", dong.trim_end_matches('동')),
        category,
        district,
        lat: round_to(d.lat + rng.normal(0.0, 0.008), 6),
        lng: round_to(d.lng + rng.normal(0.0, 0.01), 6),
        slow: rng.chance(0.08),
        quality: rng.normal(0.0, 0.3),
        popularity: (rng.normal(0.0, 0.8)).exp(),
        own_fee: rng.range(0, 8) * 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_are_pure_functions_of_their_number_and_position() {
        let world = World::new(42, 0.01);
        let a = world.order(0, 17, 16, world.counts.csv_orders);
        let b = world.order(0, 17, 16, world.counts.csv_orders);
        assert_eq!(a, b);
        assert_eq!(a.order_id, "O000000017");
        let amount: i64 = a.items.iter().map(|i| i.quantity * i.unit_price).sum();
        assert_eq!(a.order_amount, Some(amount));
        assert!(a.impossible_values().is_empty());
    }

    #[test]
    fn times_stay_in_the_first_half_of_2024_and_rise_with_position() {
        let world = World::new(7, 0.01);
        let n = 1000;
        let times: Vec<_> = (0..n).map(|k| world.time_at(0, k, n)).collect();
        assert!(times.iter().all(|t| t.date() >= start_date()
            && t.date() <= NaiveDate::from_ymd_opt(2024, 6, 30).unwrap()));
        assert!(times[0] < times[500] && times[500] < times[999]);
    }
}

//! Delivery route suggestions through the API, checked against the files:
//! the window's orders, each picked up and then dropped exactly once, and
//! the one-by-one distance recomputed from the orders' coordinates.

mod common;

use axum::http::StatusCode;
use baedal::api::{self, ApiContext};
use baedal::model::{kst, Order};
use baedal::rules::{delivery_ok, road_km};
use chrono::{Duration, NaiveDateTime};
use common::{canonical_orders, generated, get, runtime, Namespace, Reply};
use std::collections::BTreeSet;

/// The orders a route plan is made from (`rules::DELIVERY_OK` with both
/// places known), as the files have them.
fn deliverable(o: &Order) -> bool {
    delivery_ok(o)
        && o.store_lat.is_some()
        && o.store_lng.is_some()
        && o.customer_lat.is_some()
        && o.customer_lng.is_some()
}

#[test]
fn suggested_routes_deliver_every_order_of_the_window_once_and_save_against_one_by_one() {
    let ns = Namespace::new();
    let (dir, _) = generated(41, 0.05);
    ns.ingest(dir.path());
    ns.run(&["etl"]);
    let orders = canonical_orders(dir.path());
    let config = ns.config();
    runtime().block_on(async {
        let app = api::router(ApiContext::new(config).expect("api"));
        // The busiest 60 minutes of the last week, every district.
        let Reply {
            status,
            json: answer,
            ..
        } = get(&app, "/analytics/delivery-routes?minutes=60").await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let start = NaiveDateTime::parse_from_str(
            answer["start"].as_str().expect("start"),
            "%Y-%m-%dT%H:%M",
        )
        .expect("start format");
        let window: Vec<&Order> = orders
            .values()
            .filter(|o| deliverable(o))
            .filter(|o| {
                let at = o.order_time.at.with_timezone(&kst()).naive_local();
                at >= start && at < start + Duration::minutes(60)
            })
            .collect();
        let planned = answer["orders"].as_u64().expect("orders") as usize;
        assert_eq!(
            planned + answer["orders_left_out"].as_u64().expect("left out") as usize,
            window.len()
        );
        assert!(planned >= 3, "the busiest hour has a few orders: {answer}");

        let plan = &answer["plan"];
        let routes = plan["routes"].as_array().expect("routes");
        let mut picked = BTreeSet::new();
        let mut dropped = BTreeSet::new();
        let mut km = 0.0;
        for route in routes {
            let stops = route["stops"].as_array().expect("stops");
            assert_eq!(stops.first().expect("start")["kind"], "start");
            assert_eq!(stops.last().expect("end")["kind"], "end");
            for (i, stop) in stops.iter().enumerate() {
                let Some(id) = stop["order_id"].as_str() else {
                    continue;
                };
                match stop["kind"].as_str() {
                    Some("pickup") => assert!(picked.insert(id.to_string()), "{id} picked twice"),
                    Some("drop") => {
                        assert!(
                            picked.contains(id),
                            "{id} dropped before its pickup (stop {i})"
                        );
                        assert!(dropped.insert(id.to_string()), "{id} dropped twice");
                    }
                    other => panic!("a stop of kind {other:?} with an order"),
                }
            }
            let riding = route["orders"].as_u64().expect("orders") as usize;
            assert!(riding >= 1 && riding <= 3 * stops.len(), "{route}");
            km += route["km"].as_f64().expect("km");
        }
        assert_eq!(picked, dropped);
        assert_eq!(picked.len(), planned);
        assert!((km - plan["batched"]["km"].as_f64().expect("km")).abs() < 1e-6);
        // One by one, from the files: a round trip per planned order.
        let alone: f64 = window
            .iter()
            .filter(|o| picked.contains(o.order_id.as_str()))
            .map(|o| {
                let (s, c) = (
                    (o.store_lat.unwrap(), o.store_lng.unwrap()),
                    (o.customer_lat.unwrap(), o.customer_lng.unwrap()),
                );
                2.0 * road_km(s.0, s.1, c.0, c.1)
            })
            .sum();
        assert!(
            (alone - plan["one_by_one"]["km"].as_f64().expect("km")).abs() < 1e-6 * alone.max(1.0)
        );
        eprintln!(
            "{planned} orders: {} riders, {:.1} km batched vs {:.1} km one by one",
            plan["batched"]["riders"], km, alone
        );
        let saved = plan["km_saved"].as_f64().expect("saved");
        assert!(
            saved >= 0.0 && plan["minutes_saved"].as_f64() >= Some(0.0),
            "{plan}"
        );
        assert!((saved - (alone - km)).abs() < 1e-6 * alone.max(1.0));

        // One district's window: only that district's orders.
        let district = window[0].district.as_deref().expect("district").to_string();
        let uri = format!(
            "/analytics/delivery-routes?district={}&minutes=60&start={}",
            url_encode(&district),
            start.format("%Y-%m-%dT%H:%M")
        );
        let Reply {
            status, json: one, ..
        } = get(&app, &uri).await;
        assert_eq!(status, StatusCode::OK, "{one}");
        let theirs = window
            .iter()
            .filter(|o| o.district.as_deref() == Some(district.as_str()))
            .count();
        assert_eq!(
            one["orders"].as_u64().expect("orders") as usize
                + one["orders_left_out"].as_u64().expect("n") as usize,
            theirs
        );

        let Reply {
            status,
            json: unknown,
            ..
        } = get(&app, "/analytics/delivery-routes?district=nowhere").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{unknown}");
        let Reply {
            status, json: late, ..
        } = get(&app, "/analytics/delivery-routes?start=2024-02-30T12:00").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{late}");
    });
}

fn url_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

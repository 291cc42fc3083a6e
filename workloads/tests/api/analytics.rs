//! Each analytics route's numbers against an independent computation.

use super::*;

#[test]
fn order_trends_equal_the_files_by_hour_weekday_day_and_month() {
    on_loaded(|data, app| async move {
        // The busiest district, over March.
        let mut by_district: HashMap<&str, usize> = HashMap::new();
        for o in valid(&data.orders) {
            if let Some(d) = &o.district {
                *by_district.entry(d.as_str()).or_default() += 1;
            }
        }
        let district = by_district
            .iter()
            .max_by_key(|(d, n)| (**n, **d))
            .unwrap()
            .0;
        let (from, to) = (
            NaiveDate::from_ymd_opt(2024, 3, 1).unwrap(),
            NaiveDate::from_ymd_opt(2024, 3, 31).unwrap(),
        );
        let query = format!(
            "/analytics/order-trends?district={}&from={from}&to={to}",
            url_encode(district)
        );
        let reply = get_ok(&app, &query).await;
        let t = &reply.json;

        let chosen: Vec<&Order> = valid(&data.orders)
            .filter(|o| o.district.as_deref() == Some(district))
            .filter(|o| (from..=to).contains(&kst_day(o)))
            .collect();
        assert!(chosen.len() > 20, "enough orders to compare");
        assert_trends_of(t, &chosen);
        assert_eq!(t["by_month"].as_array().unwrap().len(), 1);
        assert_eq!(t["by_month"][0]["key"], "2024-03");

        // Only dates, and nothing: answered from the hourly mart, the same sums.
        let dated = get(
            &app,
            &format!("/analytics/order-trends?from={from}&to={to}"),
        )
        .await;
        let in_march: Vec<&Order> = valid(&data.orders)
            .filter(|o| (from..=to).contains(&kst_day(o)))
            .collect();
        assert_trends_of(&dated.json, &in_march);
        let everything = get(&app, "/analytics/order-trends").await;
        assert_trends_of(&everything.json, &valid(&data.orders).collect::<Vec<_>>());
        assert_eq!(everything.json["by_month"].as_array().unwrap().len(), 6);

        // The second identical request is served from Redis, unchanged.
        let again = get(&app, &query).await;
        assert_eq!(again.cache.as_deref(), Some("hit"));
        assert_eq!(again.json, reply.json);
        assert_eq!(reply.cache.as_deref(), Some("miss"));
    });
}

/// The trends answer `t` has the counts and revenue of `chosen`, by hour,
/// weekday and day.
fn assert_trends_of(t: &Value, chosen: &[&Order]) {
    assert_eq!(t["orders"], chosen.len() as i64);
    assert_eq!(t["revenue"], chosen.iter().map(|o| revenue(o)).sum::<i64>());
    let mut hours = [0i64; 24];
    let mut weekdays = [0i64; 7];
    let mut days: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for o in chosen {
        let t = o.order_time.at.with_timezone(&kst());
        hours[t.hour() as usize] += 1;
        weekdays[t.weekday().num_days_from_monday() as usize] += 1;
        let day = days.entry(t.date_naive().to_string()).or_default();
        day.0 += 1;
        day.1 += revenue(o);
    }
    let counts = |name: &str| -> Vec<i64> {
        t[name]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["orders"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(counts("by_hour"), hours.to_vec());
    assert_eq!(counts("by_weekday"), weekdays.to_vec());
    assert_eq!(t["by_weekday"][0]["label"], "월");
    let api_days: BTreeMap<String, (i64, i64)> = t["by_day"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["key"].as_str().unwrap().to_string(),
                (
                    b["orders"].as_i64().unwrap(),
                    b["revenue"].as_i64().unwrap(),
                ),
            )
        })
        .collect();
    assert_eq!(api_days, days);
}

#[test]
fn restaurant_ranking_equals_the_files() {
    on_loaded(|data, app| async move {
        let reply = get_ok(&app, "/analytics/restaurant-performance?limit=5").await;
        let mut per: HashMap<&str, (i64, i64, Vec<i64>)> = HashMap::new();
        for o in valid(&data.orders) {
            let r = per.entry(o.restaurant_id.as_str()).or_default();
            r.0 += 1;
            r.1 += revenue(o);
            r.2.extend(o.rating);
        }
        let mut ranked: Vec<(&str, i64)> = per.iter().map(|(id, r)| (*id, r.1)).collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        assert_eq!(reply.json["restaurants"], per.len() as i64);
        let ranking = reply.json["ranking"].as_array().unwrap();
        assert_eq!(ranking.len(), 5);
        for (i, row) in ranking.iter().enumerate() {
            let id = row["restaurant_id"].as_str().unwrap();
            assert_eq!(row["revenue"], ranked[i].1, "revenue of rank {}", i + 1);
            let (orders, _, ratings) = &per[id];
            assert_eq!(row["orders"], *orders);
            assert_eq!(row["rated_orders"], ratings.len() as i64);
            if !ratings.is_empty() {
                let mean = ratings.iter().sum::<i64>() as f64 / ratings.len() as f64;
                assert!(close(row["avg_rating"].as_f64().unwrap(), mean), "{row}");
            }
        }
        // Sorting by late rate: descending, and each rate as DATA.md defines it.
        let by_late = get(
            &app,
            "/analytics/restaurant-performance?sort=late_rate&limit=3",
        )
        .await;
        let rows = by_late.json["ranking"].as_array().unwrap();
        let worst = rows[0]["restaurant_id"].as_str().unwrap();
        let deliveries: Vec<&Order> = timed_deliveries(&data.orders)
            .filter(|o| o.restaurant_id.as_str() == worst)
            .collect();
        let late = deliveries
            .iter()
            .filter(|o| o.actual_delivery_min.unwrap() > o.estimated_delivery_min.unwrap() + 10)
            .count();
        assert!(close(
            rows[0]["late_rate"].as_f64().unwrap(),
            late as f64 / deliveries.len() as f64
        ));
        assert!(rows[0]["late_rate"].as_f64() >= rows[1]["late_rate"].as_f64());
    });
}

/// Per key, the latest of `orders`: the lowest order id among those placed
/// at the same instant.
fn latest_by<'a>(
    orders: impl Iterator<Item = &'a Order>,
    key: impl Fn(&Order) -> &str,
) -> HashMap<String, &'a Order> {
    let rank = |o: &Order| (o.order_time.at, std::cmp::Reverse(o.order_id.to_string()));
    let mut latest: HashMap<String, &Order> = HashMap::new();
    for o in orders {
        let held = latest.entry(key(o).to_string()).or_insert(o);
        if rank(o) > rank(held) {
            *held = o;
        }
    }
    latest
}

#[test]
fn names_and_places_are_those_of_the_latest_order() {
    on_loaded(|data, _| async move {
        let pool = data.ns.pool().await;
        type Customer = (String, Option<String>, Option<String>, Option<String>);
        let customers: Vec<(Customer, chrono::DateTime<chrono::Utc>)> = common::select(&pool, "SELECT (customer_id, customer_name, phone_number, district), last_order_at FROM customers").await;
        let latest = latest_by(data.orders.values(), |o| o.customer_id.as_str());
        assert_eq!(customers.len(), latest.len());
        for ((id, name, phone, district), last) in &customers {
            let o = latest[id.as_str()];
            let expected = (
                o.customer_name.as_deref(),
                o.phone_number.as_deref(),
                o.district.as_deref(),
            );
            assert_eq!(
                (name.as_deref(), phone.as_deref(), district.as_deref()),
                expected,
                "customer {id}"
            );
            assert_eq!(*last, o.order_time.at, "customer {id}");
        }

        type Restaurant = (String, Option<String>, Option<String>, Option<f64>);
        let restaurants: Vec<Restaurant> = common::select(
            &pool,
            "SELECT restaurant_id, restaurant_name, category, store_lat FROM restaurants",
        )
        .await;
        let latest = latest_by(data.orders.values(), |o| o.restaurant_id.as_str());
        assert_eq!(restaurants.len(), latest.len());
        for (id, name, category, lat) in &restaurants {
            let o = latest[id.as_str()];
            assert_eq!(
                (name.as_deref(), category.as_deref(), *lat),
                (
                    o.restaurant_name.as_deref(),
                    o.category.as_deref(),
                    o.store_lat
                ),
                "restaurant {id}"
            );
        }

        // The performance mart names a restaurant after its latest valid order.
        let performance: Vec<(String, Option<String>, Option<String>)> = common::select(
            &pool,
            "SELECT restaurant_id, restaurant_name, category FROM mart_restaurant_performance",
        )
        .await;
        let latest = latest_by(valid(&data.orders), |o| o.restaurant_id.as_str());
        assert_eq!(performance.len(), latest.len());
        for (id, name, category) in &performance {
            let o = latest[id.as_str()];
            assert_eq!(
                (name.as_deref(), category.as_deref()),
                (o.restaurant_name.as_deref(), o.category.as_deref()),
                "restaurant {id}"
            );
        }
    });
}

#[test]
fn delivery_optimization_equals_the_etl_mart_and_the_files() {
    on_loaded(|data, app| async move {
        let reply = get_ok(&app, "/analytics/delivery-optimization").await;
        // Without filters the API's buckets are the ETL's delivery mart.
        let pool = data.ns.pool().await;
        let mart: Vec<(String, String, i64, f64, f64)> = common::select(&pool, "SELECT dimension, bucket, orders, avg_delivery_min, late_rate FROM mart_delivery_stats ORDER BY 1, 2").await;
        let mut compared = 0;
        for (dimension, bucket, orders, avg, late) in &mart {
            let rows = reply.json[format!("by_{dimension}")].as_array().unwrap();
            let row = rows
                .iter()
                .find(|r| r["bucket"] == bucket.as_str())
                .unwrap();
            assert_eq!(row["orders"], *orders, "{dimension} {bucket}");
            assert!(close(row["avg_delivery_min"].as_f64().unwrap(), *avg));
            assert!(close(row["late_rate"].as_f64().unwrap(), *late));
            compared += 1;
        }
        assert!(
            compared > 30,
            "every distance band, district, hour and weather"
        );
        // Rain is slower than clear weather (the generator's pattern).
        let weather = |w: &str| {
            reply.json["by_weather"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["bucket"] == w)
                .unwrap()["avg_delivery_min"]
                .as_f64()
                .unwrap()
        };
        assert!(weather("비") > weather("맑음"));
        // The overall count, from the files.
        let deliveries = timed_deliveries(&data.orders).count();
        assert_eq!(reply.json["orders"], deliveries as i64);
        assert!(reply.json["fee_distance_correlation"].as_f64().unwrap() > 0.3);
    });
}

#[test]
fn menu_pairs_have_the_support_confidence_and_lift_of_the_files() {
    on_loaded(|data, app| async move {
        let reply = get_ok(&app, "/analytics/menu?limit=5").await;
        let baskets: Vec<BTreeSet<&str>> = valid(&data.orders)
            .filter(|o| o.order_status.counts_as_revenue() && !o.items.is_empty())
            .map(|o| o.items.iter().map(|i| i.name.as_str()).collect())
            .collect();
        let n = baskets.len() as f64;
        assert_eq!(reply.json["orders"], baskets.len() as i64);
        let has = |name: &str| baskets.iter().filter(|b| b.contains(name)).count() as f64;
        let top = &reply.json["top_items"][0];
        let most = baskets
            .iter()
            .flatten()
            .fold(HashMap::<&str, i64>::new(), |mut m, name| {
                *m.entry(name).or_default() += 1;
                m
            })
            .into_values()
            .max()
            .unwrap();
        assert_eq!(top["orders"], most);
        let pairs = reply.json["pairs"].as_array().unwrap();
        assert!(!pairs.is_empty());
        for pair in pairs {
            let (a, b) = (pair["a"].as_str().unwrap(), pair["b"].as_str().unwrap());
            let both = baskets
                .iter()
                .filter(|s| s.contains(a) && s.contains(b))
                .count() as f64;
            assert_eq!(pair["orders"].as_f64().unwrap(), both);
            assert!(close(pair["support"].as_f64().unwrap(), both / n));
            assert!(close(
                pair["confidence_a_to_b"].as_f64().unwrap(),
                both / has(a)
            ));
            assert!(close(
                pair["confidence_b_to_a"].as_f64().unwrap(),
                both / has(b)
            ));
            assert!(close(
                pair["lift"].as_f64().unwrap(),
                both * n / (has(a) * has(b))
            ));
        }
        // The common pairs the data is made with go together more than by chance.
        assert!(pairs[0]["lift"].as_f64().unwrap() > 1.0);
    });
}

#[test]
fn customer_segments_and_lifetime_value_follow_the_documented_rules() {
    on_loaded(|data, app| async move {
        let seg = &get_ok(&app, "/analytics/customer-segments").await.json;
        // Customers with a revenue order, from the files.
        let mut revenue_orders: HashMap<&str, Vec<&Order>> = HashMap::new();
        for o in valid(&data.orders).filter(|o| o.order_status.counts_as_revenue()) {
            revenue_orders
                .entry(o.customer_id.as_str())
                .or_default()
                .push(o);
        }
        assert_eq!(seg["customers"], revenue_orders.len() as i64);
        assert_eq!(seg["rules"].as_array().unwrap().len(), 8);
        let sizes: i64 = seg["segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["customers"].as_i64().unwrap())
            .sum();
        assert_eq!(sizes, revenue_orders.len() as i64);
        let grid: i64 = seg["rf_grid"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c[2].as_i64().unwrap())
            .sum();
        assert_eq!(grid, sizes);

        // One customer: frequency and monetary from the files; the segment
        // from the documented rule table applied to the returned scores.
        let (id, orders) = revenue_orders
            .iter()
            .max_by_key(|(id, o)| (o.len(), **id))
            .unwrap();
        let one = get(
            &app,
            &format!("/analytics/customer-segments?customer_id={id}"),
        )
        .await;
        let c = &one.json["customer"];
        assert_eq!(c["frequency"], orders.len() as i64);
        assert_eq!(
            c["monetary"],
            orders.iter().map(|o| revenue(o)).sum::<i64>()
        );
        let (r, f, m) = (
            c["r_score"].as_i64().unwrap(),
            c["f_score"].as_i64().unwrap(),
            c["m_score"].as_i64().unwrap(),
        );
        let expected = if r <= 2 && f >= 4 && m >= 4 {
            "Can't Lose"
        } else if r >= 4 && f >= 4 {
            "Champions"
        } else if r >= 3 && f >= 3 {
            "Loyal"
        } else if r >= 4 && f == 1 {
            "New"
        } else if r >= 3 {
            "Potential Loyalist"
        } else if f >= 3 {
            "At Risk"
        } else if r == 2 {
            "Hibernating"
        } else {
            "Lost"
        };
        assert_eq!(c["segment"], expected);
        assert_eq!(f, 5, "the most frequent customer is in the top quintile");

        // CLV = m × r / (1 + d − r), recomputed from the files.
        let clv = get_ok(
            &app,
            &format!("/analytics/customer-lifetime-value?customer_id={id}"),
        )
        .await;
        let reference =
            valid(&data.orders).map(|o| o.order_time.at).max().unwrap() + chrono::Duration::days(1);
        let active = |from: i64, to: i64| -> BTreeSet<&str> {
            revenue_orders
                .iter()
                .filter(|(_, os)| {
                    os.iter().any(|o| {
                        let age = reference - o.order_time.at;
                        age > chrono::Duration::days(from) && age <= chrono::Duration::days(to)
                    })
                })
                .map(|(id, _)| *id)
                .collect()
        };
        let (before, last) = (active(30, 60), active(0, 30));
        let retention = before.intersection(&last).count() as f64 / before.len() as f64;
        assert!(close(
            clv.json["monthly_retention"].as_f64().unwrap(),
            retention
        ));
        let first = orders.iter().map(|o| o.order_time.at).min().unwrap();
        let months = ((reference - first).num_seconds() as f64 / (30.0 * 86400.0)).max(1.0);
        let monthly = orders.iter().map(|o| revenue(o)).sum::<i64>() as f64 / months;
        let want = monthly * retention / (1.0 + 0.01 - retention);
        let got = clv.json["customer"]["simple_clv"].as_f64().unwrap();
        assert!((got - want).abs() < 1e-6 * want.max(1.0), "{got} vs {want}");

        // The BG/NBD and Gamma-Gamma CLV: the served parameters applied to
        // the customer's orders from the files give the served figure.
        let fit = &clv.json["fit"];
        let orders_model: BgNbd = serde_json::from_value(fit["bgnbd"].clone()).unwrap();
        let value_model: GammaGamma = serde_json::from_value(fit["gamma_gamma"].clone()).unwrap();
        let purchases: Vec<(chrono::DateTime<chrono::Utc>, f64)> = orders
            .iter()
            .map(|o| (o.order_time.at.to_utc(), revenue(o) as f64))
            .collect();
        let summary = clv::summarise(&purchases, reference.to_utc()).unwrap();
        let want = clv::lifetime_value(&orders_model, &value_model, &summary, 0.01);
        let got = clv.json["customer"]["clv"].as_f64().unwrap();
        assert!(
            want > 0.0 && (got - want).abs() < 1e-6 * want,
            "{got} vs {want}"
        );
        assert!(close(
            clv.json["customer"]["probability_alive"].as_f64().unwrap(),
            orders_model.probability_alive(&summary)
        ));
        let top: Vec<f64> = numbers(&clv.json["top"], "clv");
        assert!(
            top.len() > 1 && top.windows(2).all(|w| w[0] >= w[1]),
            "{top:?}"
        );

        for route in ["customer-segments", "customer-lifetime-value"] {
            let unknown = get(&app, &format!("/analytics/{route}?customer_id=C999999")).await;
            assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{route}");
            assert_eq!(unknown.json["error"], "not_found", "{route}");
            assert!(
                unknown.json["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("C999999")),
                "{route}: {}",
                unknown.json
            );
        }
    });
}

#[test]
fn customers_with_equal_rfm_values_get_equal_scores() {
    on_loaded(|data, _| async move {
        let pool = data.ns.pool().await;
        for (value, score) in [
            ("recency_days", "r_score"),
            ("frequency", "f_score"),
            ("monetary", "m_score"),
        ] {
            let split: Vec<(i64, i64)> = common::select(
                &pool,
                &format!(
                    "SELECT {value}::bigint, count(DISTINCT {score}) FROM mart_customer_rfm
                 GROUP BY {value} HAVING count(DISTINCT {score}) > 1"
                ),
            )
            .await;
            assert!(
                split.is_empty(),
                "{value}: equal values, several scores: {split:?}"
            );
            let (low, high): (i32, i32) = sqlx::query_as(&format!(
                "SELECT min({score}), max({score}) FROM mart_customer_rfm"
            ))
            .fetch_one(&pool)
            .await
            .unwrap();
            assert_eq!((low, high), (1, 5), "{score} spans 1–5");
        }
    });
}

#[test]
fn demand_forecast_and_churn_follow_their_documented_rules_on_the_files() {
    on_loaded(|data, app| async move {
        let f = &get_ok(&app, "/analytics/demand-forecast?days=3").await.json;
        let last = valid(&data.orders).map(kst_day).max().unwrap();
        assert_eq!(f["last_day"], last.to_string());
        assert_eq!(f["days"].as_array().unwrap().len(), 3);
        let days = f["days"].as_array().unwrap();
        for (i, day) in days.iter().enumerate() {
            assert_eq!(
                day["date"],
                (last + chrono::Duration::days(i as i64 + 1)).to_string()
            );
            let hours = |key: &str| -> Vec<f64> {
                day[key]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap())
                    .collect()
            };
            let (point, lower, upper) = (
                hours("by_hour"),
                hours("by_hour_lower"),
                hours("by_hour_upper"),
            );
            assert_eq!(point.len(), 24);
            assert!(close(day["orders"].as_f64().unwrap(), point.iter().sum()));
            for h in 0..24 {
                assert!(
                    0.0 <= lower[h] && lower[h] <= point[h] && point[h] <= upper[h],
                    "{day}"
                );
            }
        }
        // The backtest's seasonal naive, recomputed from the files: orders per
        // KST hour, origins 1–4 weeks before the end, each predicting the
        // week after it by the week before it.
        let first = valid(&data.orders).map(kst_day).min().unwrap();
        let hours = ((last - first).num_days() as usize + 1) * 24;
        let mut series = vec![0.0_f64; hours];
        for o in valid(&data.orders) {
            let kst = o
                .order_time
                .at
                .with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).unwrap());
            let day = (kst_day(o) - first).num_days() as usize;
            series[day * 24 + chrono::Timelike::hour(&kst) as usize] += 1.0;
        }
        let (mut scaled, mut daily) = (Vec::new(), Vec::new());
        for w in (1..=4).rev() {
            let origin = hours - w * 168;
            let train = &series[..origin];
            let scale = (168..origin)
                .map(|t| (train[t] - train[t - 168]).abs())
                .sum::<f64>()
                / (origin - 168) as f64;
            let naive = &train[origin - 168..];
            let actual = &series[origin..origin + 168];
            scaled.extend(naive.iter().zip(actual).map(|(p, a)| (p - a).abs() / scale));
            for d in 0..7 {
                let (p, a): (f64, f64) = (
                    naive[d * 24..(d + 1) * 24].iter().sum(),
                    actual[d * 24..(d + 1) * 24].iter().sum(),
                );
                if a > 0.0 {
                    daily.push((p - a).abs() / a);
                }
            }
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let backtest = &f["backtest"];
        assert_eq!(backtest["weeks"], 4);
        assert!(close(
            backtest["seasonal_naive"]["mase"].as_f64().unwrap(),
            mean(&scaled)
        ));
        assert!(close(
            backtest["seasonal_naive"]["daily_mape"].as_f64().unwrap(),
            mean(&daily)
        ));
        // The model does better than last week's same hour.
        let model = &backtest["model"];
        assert!(
            model["mase"].as_f64().unwrap() < backtest["seasonal_naive"]["mase"].as_f64().unwrap(),
            "{backtest}"
        );
        assert_eq!(f["backtest_mape"], model["daily_mape"]);
        // One restaurant's days: the busiest of the files.
        let mut per_restaurant: HashMap<&str, usize> = HashMap::new();
        for o in valid(&data.orders) {
            *per_restaurant.entry(o.restaurant_id.as_str()).or_default() += 1;
        }
        let (busiest, _) = per_restaurant
            .iter()
            .max_by_key(|(id, n)| (**n, *id))
            .unwrap();
        let r = get_ok(
            &app,
            &format!("/analytics/restaurant-forecast?restaurant_id={busiest}&days=7"),
        )
        .await;
        assert_eq!(r.json["last_day"], last.to_string());
        let rdays = r.json["days"].as_array().unwrap();
        assert_eq!(rdays.len(), 7, "{}", r.json);
        assert_eq!(
            rdays[0]["date"],
            (last + chrono::Duration::days(1)).to_string()
        );
        let mut total = 0.0;
        for d in rdays {
            let v = |k: &str| d[k].as_f64().unwrap();
            assert!(
                0.0 <= v("orders_lower")
                    && v("orders_lower") <= v("orders")
                    && v("orders") <= v("orders_upper")
            );
            assert!(
                0.0 <= v("revenue_lower")
                    && v("revenue_lower") <= v("revenue")
                    && v("revenue") <= v("revenue_upper")
            );
            total += v("orders");
        }
        assert!(close(total, r.json["total_orders"].as_f64().unwrap()));
        let unknown = get(&app, "/analytics/restaurant-forecast?restaurant_id=R99999").await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.json);
        let missing = get(&app, "/analytics/restaurant-forecast").await;
        assert_eq!(missing.status, StatusCode::BAD_REQUEST);

        let bad = get(&app, "/analytics/demand-forecast?days=0").await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);

        let churn = get_ok(&app, "/analytics/churn?limit=5").await;
        let reference =
            valid(&data.orders).map(|o| o.order_time.at).max().unwrap() + chrono::Duration::days(1);
        let mut times: HashMap<&str, Vec<chrono::DateTime<chrono::FixedOffset>>> = HashMap::new();
        for o in valid(&data.orders).filter(|o| o.order_status.counts_as_revenue()) {
            times
                .entry(o.customer_id.as_str())
                .or_default()
                .push(o.order_time.at);
        }
        let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
        for t in times.values() {
            let days = |d: chrono::Duration| d.num_milliseconds() as f64 / 86_400_000.0;
            let first = *t.iter().min().unwrap();
            let last = *t.iter().max().unwrap();
            let since = days(reference - last);
            let status = if t.len() == 1 {
                if since > 30.0 {
                    "churned"
                } else {
                    "one_time"
                }
            } else {
                let gap = days(last - first) / (t.len() - 1) as f64;
                if since > 30.0 && since > 3.0 * gap {
                    "churned"
                } else if since > 2.0 * gap {
                    "at_risk"
                } else {
                    "active"
                }
            };
            *counts.entry(status).or_default() += 1;
        }
        let api: BTreeMap<&str, i64> = churn.json["by_status"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["status"].as_str().unwrap(),
                    s["customers"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(api, counts);
        let risks: Vec<f64> = numbers(&churn.json["at_risk"], "risk");
        assert!(risks.windows(2).all(|w| w[0] >= w[1]) && risks.iter().all(|r| *r > 2.0));

        // The classifier: validated at 30 days before the reference time on
        // whether each customer ordered again in those 30 days.
        let p = &churn.json["prediction"];
        let cutoff = reference - chrono::Duration::days(30);
        let seen: Vec<_> = times
            .values()
            .filter(|t| t.iter().any(|at| *at < cutoff))
            .collect();
        let gone = seen
            .iter()
            .filter(|t| !t.iter().any(|at| *at >= cutoff && *at < reference))
            .count();
        assert_eq!(p["validation_rows"], seen.len());
        assert!(close(
            p["validation_churn_rate"].as_f64().unwrap(),
            gone as f64 / seen.len() as f64
        ));
        let auc = p["validation_auc"].as_f64().unwrap();
        assert!(auc > 0.6 && auc <= 1.0, "validation AUC {auc}");
        let likely: Vec<f64> = numbers(&p["most_likely"], "probability");
        assert!(!likely.is_empty() && likely.len() <= 5);
        assert!(
            likely.windows(2).all(|w| w[0] >= w[1])
                && likely.iter().all(|p| (0.0..=1.0).contains(p))
        );
    });
}

#[test]
fn alerts_use_the_configured_window_and_match_the_files() {
    on_loaded(|data, _| async move {
        let pool = data.ns.pool().await;
        for window in [30i64, 60] {
            let mut config = config(&data.ns);
            config.alerts.window_minutes = window;
            config.alerts.late_rate_threshold = 0.1;
            config.alerts.min_orders = 2;
            let alerts = baedal::etl::realtime::late_delivery_alerts(&config, &pool)
                .await
                .unwrap();
            // The same windows from the files: epoch-aligned, over the last
            // 24 hours of valid orders.
            let latest = valid(&data.orders).map(|o| o.order_time.at).max().unwrap();
            let since = latest - chrono::Duration::hours(24);
            let span = window * 60;
            let mut windows: std::collections::BTreeMap<i64, (i64, i64, i64)> = Default::default();
            for o in valid(&data.orders).filter(|o| o.order_time.at > since) {
                let start = o.order_time.at.timestamp().div_euclid(span) * span;
                let w = windows.entry(start).or_default();
                w.0 += 1;
                if baedal::rules::delivery_ok(o) {
                    w.1 += 1;
                    if o.actual_delivery_min.unwrap() > o.estimated_delivery_min.unwrap() + 10 {
                        w.2 += 1;
                    }
                }
            }
            let expected: Vec<(i64, i64)> = windows
                .iter()
                .filter(|(_, (orders, delivered, late))| {
                    *orders >= 2 && *delivered > 0 && *late as f64 / *delivered as f64 > 0.1
                })
                .map(|(start, (orders, _, _))| ((start + span) * 1000, *orders))
                .collect();
            let got: Vec<(i64, i64)> = alerts
                .iter()
                .map(|a| (a.id.trim_end_matches("-0").parse().unwrap(), a.orders))
                .collect();
            assert!(
                !expected.is_empty(),
                "window {window}: the data raises alerts"
            );
            assert_eq!(got, expected, "window {window}");
            assert!(alerts.iter().all(|a| a.window_minutes == window));
        }
    });
}

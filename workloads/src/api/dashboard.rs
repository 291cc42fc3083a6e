//! The dashboard: five pages (order trends, customers, restaurants,
//! delivery, real-time monitoring) with Korean labels, drawn in the browser
//! from the JSON routes by `dashboard/app.js` with the SVG charts of
//! `dashboard/charts.js`. Every asset is compiled into the binary and served
//! from here: the dashboard works with no internet access.

use super::{ApiContext, ApiError};
use axum::extract::Path;
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

/// (path segment, Korean title) of every page, in menu order.
pub const PAGES: [(&str, &str); 5] = [
    ("trends", "주문 트렌드"),
    ("customers", "고객 분석"),
    ("restaurants", "가게 성과"),
    ("delivery", "배달 최적화"),
    ("realtime", "실시간 모니터링"),
];

const APP_JS: &str = include_str!("../../dashboard/app.js");
const CHARTS_JS: &str = include_str!("../../dashboard/charts.js");
const STYLE_CSS: &str = include_str!("../../dashboard/style.css");

pub fn router() -> Router<ApiContext> {
    Router::new()
        .route(
            "/",
            get(|| async { Redirect::temporary("/dashboard/trends") }),
        )
        .route(
            "/dashboard/",
            get(|| async { Redirect::temporary("/dashboard/trends") }),
        )
        .route("/dashboard/{page}", get(page))
        .route("/dashboard/assets/{file}", get(asset))
}

async fn page(Path(name): Path<String>) -> Result<Html<String>, ApiError> {
    let Some((_, title)) = PAGES.iter().find(|(p, _)| *p == name) else {
        return Err(ApiError::NotFound(format!("no dashboard page {name:?}")));
    };
    let nav: String = PAGES
        .iter()
        .map(|(p, t)| {
            let current = if *p == name { " class=\"current\"" } else { "" };
            format!("<a href=\"/dashboard/{p}\"{current}>{t}</a>")
        })
        .collect();
    Ok(Html(format!(
        "<!doctype html>
<html lang=\"ko\">
<head>
<meta charset=\"utf-8\">
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">
<title>{title} · baedal 배달 분석</title>
<link rel=\"icon\" href=\"data:,\">
<link rel=\"stylesheet\" href=\"/dashboard/assets/style.css\">
</head>
<body>
<header><h1>baedal 배달 분석 · {title}</h1><nav>{nav}</nav></header>
<main id=\"app\" data-page=\"{name}\"></main>
<script type=\"module\" src=\"/dashboard/assets/app.js\"></script>
</body>
</html>"
    )))
}

async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "charts.js" => (CHARTS_JS, "text/javascript; charset=utf-8"),
        "style.css" => (STYLE_CSS, "text/css; charset=utf-8"),
        _ => return ApiError::NotFound(format!("no asset {file:?}")).into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

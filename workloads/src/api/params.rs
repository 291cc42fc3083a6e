//! Query parameters: parsed by hand so that every mistake (an unknown
//! parameter, a malformed or empty date, a huge limit) is a 400 with a JSON
//! error naming the parameter, and a district, category or platform that
//! does not occur in the data is a 404 naming it.

use super::{ApiContext, ApiError};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::BTreeMap;

/// The largest `limit` any endpoint accepts.
pub const MAX_LIMIT: i64 = 1000;

/// The values a choice parameter (`sort`) takes, each with what it means to
/// the query (an SQL `ORDER BY` list); the first is the default. The
/// handler and the OpenAPI document both read the one table.
pub type Choices = [(&'static str, &'static str)];

/// `sort` of `/analytics/restaurant-performance`.
pub const RESTAURANT_SORTS: &Choices = &[
    ("revenue", "rank, restaurant_id"),
    ("orders", "orders DESC, restaurant_id"),
    ("rating", "avg_rating DESC NULLS LAST, restaurant_id"),
    ("late_rate", "late_rate DESC NULLS LAST, restaurant_id"),
];

/// `sort` of `/analytics/menu`.
pub const MENU_SORTS: &Choices = &[
    ("support", "orders DESC, lift DESC, a, b"),
    ("lift", "lift DESC, orders DESC, a, b"),
];

/// The choices' names as a reader says them: "a (default), b or c".
pub fn describe_choices(choices: &Choices) -> String {
    let mut names = choice_names(choices);
    if let Some(first) = names.first_mut() {
        first.push_str(" (default)");
    }
    one_of(&names)
}

/// The choices' names, in order.
fn choice_names(choices: &Choices) -> Vec<String> {
    choices.iter().map(|(name, _)| name.to_string()).collect()
}

/// "a, b or c".
fn one_of(names: &[String]) -> String {
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((only, _)) => only.clone(),
        None => String::new(),
    }
}

/// The raw query string as name → value (sorted, so it is also a cache key).
#[derive(Debug, Clone, Default)]
pub struct Params(pub BTreeMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let mut map = BTreeMap::new();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if map.insert(name.to_string(), value.to_string()).is_some() {
                return Err(ApiError::BadRequest(format!(
                    "parameter {name:?} is given more than once"
                )));
            }
        }
        Ok(Params(map))
    }
}

impl Params {
    /// Refuses any parameter not in `allowed`.
    pub fn only(&self, allowed: &[&str]) -> Result<(), ApiError> {
        match self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(unknown) => Err(ApiError::BadRequest(format!(
                "unknown parameter {unknown:?}; this endpoint takes {}",
                if allowed.is_empty() {
                    "none".to_string()
                } else {
                    allowed.join(", ")
                }
            ))),
            None => Ok(()),
        }
    }

    /// A non-empty text value, if given (an empty one is taken as not given).
    pub fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// The value of a typed parameter (a date, a number, a choice), if
    /// given: given empty (`?to=`), it is a 400, as no such value exists.
    pub fn typed(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.0.get(name).map(|v| v.trim()) {
            Some("") => Err(ApiError::BadRequest(format!("{name} is empty"))),
            other => Ok(other),
        }
    }

    /// An id as the data writes them (letters, digits, `-` and `_`, at most
    /// 32 characters), if given; `what` and `like` (an example) name it in
    /// the error.
    pub fn id(&self, name: &str, what: &str, like: &str) -> Result<Option<String>, ApiError> {
        let Some(id) = self.typed(name)? else {
            return Ok(None);
        };
        if id.len() > 32
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ApiError::BadRequest(format!(
                "{name}={id:?} is not a {what} (like {like})"
            )));
        }
        Ok(Some(id.to_string()))
    }

    /// A whole number in `range`, or `default` when not given.
    pub fn integer(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<i64>,
        default: i64,
    ) -> Result<i64, ApiError> {
        self.in_range(name, range, default, "a whole number")
    }

    /// A number in `range`, or `default` when not given.
    pub fn number(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<f64>,
        default: f64,
    ) -> Result<f64, ApiError> {
        self.in_range(name, range, default, "a number")
    }

    fn in_range<T>(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<T>,
        default: T,
        what: &str,
    ) -> Result<T, ApiError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display,
    {
        let Some(v) = self.typed(name)? else {
            return Ok(default);
        };
        match v.parse::<T>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(ApiError::BadRequest(format!(
                "{name}={v:?} must be {what} from {} to {}",
                range.start(),
                range.end()
            ))),
        }
    }

    /// The choice parameter `name`'s value and what it means (see
    /// [`Choices`]): the first choice when not given.
    pub fn choice(
        &self,
        name: &str,
        choices: &Choices,
    ) -> Result<(&'static str, &'static str), ApiError> {
        let given = self.typed(name)?;
        let chosen = match given {
            None => choices.first(),
            Some(value) => choices.iter().find(|(choice, _)| *choice == value),
        };
        chosen.copied().ok_or_else(|| {
            ApiError::BadRequest(format!(
                "{name}={:?}: use {}",
                given.unwrap_or_default(),
                one_of(&choice_names(choices))
            ))
        })
    }

    /// A `YYYY-MM-DD` date, if given.
    pub fn date(&self, name: &str) -> Result<Option<NaiveDate>, ApiError> {
        self.typed(name)?
            .map(|v| {
                NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
                    ApiError::BadRequest(format!("{name}={v:?} is not a date (YYYY-MM-DD)"))
                })
            })
            .transpose()
    }

    /// `limit`, 1..=[`MAX_LIMIT`], or `default`.
    pub fn limit(&self, default: i64) -> Result<i64, ApiError> {
        self.integer("limit", 1..=MAX_LIMIT, default)
    }

    /// One of `choices`, or `default` when not given.
    pub fn one_of<'a>(
        &self,
        name: &str,
        choices: &[&'a str],
        default: &'a str,
    ) -> Result<&'a str, ApiError> {
        let Some(v) = self.typed(name)? else {
            return Ok(default);
        };
        choices.iter().find(|c| **c == v).copied().ok_or_else(|| {
            ApiError::BadRequest(format!(
                "{name}={v:?} must be one of {}",
                choices.join(", ")
            ))
        })
    }

    /// The query in a canonical form (sorted names), for cache keys.
    pub fn canonical(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.0.iter())
            .finish()
    }
}

/// The filters the order-based endpoints share: a date range in Korea
/// Standard Time (both ends inclusive), district, category and platform.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Filters {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub district: Option<String>,
    pub category: Option<String>,
    pub platform: Option<String>,
}

impl Filters {
    /// Whether nothing but dates filters: such answers can come from the
    /// hourly marts.
    pub fn dates_only(&self) -> bool {
        self.district.is_none() && self.category.is_none() && self.platform.is_none()
    }

    /// Whether nothing filters: such answers can come from the marts.
    pub fn is_empty(&self) -> bool {
        self.dates_only() && self.from.is_none() && self.to.is_none()
    }
}

/// The filter parameter names.
pub const FILTER_PARAMS: [&str; 5] = ["from", "to", "district", "category", "platform"];

/// The SQL condition of [`Filters`] on the `orders` table, binding $1..$5 in
/// the order of [`Filters::binds`]. Valid orders only.
pub const FILTER_SQL: &str = "is_valid
    AND ($1::date IS NULL OR order_time >= ($1::date::timestamp AT TIME ZONE 'Asia/Seoul'))
    AND ($2::date IS NULL OR order_time < (($2::date + 1)::timestamp AT TIME ZONE 'Asia/Seoul'))
    AND ($3::text IS NULL OR district = $3)
    AND ($4::text IS NULL OR category = $4)
    AND ($5::text IS NULL OR platform = $5)";

impl Filters {
    /// Parses and checks the filters: dates well-formed (a `from` after
    /// `to` selects no order), and each of district, category and platform
    /// one that occurs in the data (else 404: no such orders).
    pub async fn parse(ctx: &ApiContext, params: &Params) -> Result<Filters, ApiError> {
        let from = params.date("from")?;
        let to = params.date("to")?;
        let filters = Filters {
            from,
            to,
            district: params.text("district").map(str::to_string),
            category: params.text("category").map(str::to_string),
            platform: params.text("platform").map(str::to_string),
        };
        if filters.district.is_some() || filters.category.is_some() || filters.platform.is_some() {
            let known = super::dimensions::dimensions(ctx).await?;
            for (name, value, values) in [
                ("district", &filters.district, &known.districts),
                ("category", &filters.category, &known.categories),
                ("platform", &filters.platform, &known.platforms),
            ] {
                if let Some(v) = value {
                    if !values.contains(v) {
                        return Err(ApiError::NotFound(format!(
                            "unknown {name} {v:?}; see /analytics/dimensions for the known ones"
                        )));
                    }
                }
            }
        }
        Ok(filters)
    }

    /// Binds the filters to a query written with [`FILTER_SQL`].
    pub fn bind<'q, O>(
        &'q self,
        query: sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
        query
            .bind(self.from)
            .bind(self.to)
            .bind(self.district.as_deref())
            .bind(self.category.as_deref())
            .bind(self.platform.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn a_choice_not_given_is_the_first_and_an_unknown_one_names_them_all() {
        assert_eq!(
            params(&[]).choice("sort", MENU_SORTS).unwrap(),
            MENU_SORTS[0]
        );
        assert_eq!(
            params(&[("sort", "lift")])
                .choice("sort", MENU_SORTS)
                .unwrap()
                .0,
            "lift"
        );
        let refused = params(&[("sort", "price")])
            .choice("sort", RESTAURANT_SORTS)
            .unwrap_err();
        assert_eq!(
            refused.to_string(),
            "sort=\"price\": use revenue, orders, rating or late_rate"
        );
    }

    #[test]
    fn choices_are_described_with_their_default_first() {
        assert_eq!(
            describe_choices(RESTAURANT_SORTS),
            "revenue (default), orders, rating or late_rate"
        );
        assert_eq!(describe_choices(MENU_SORTS), "support (default) or lift");
    }
}

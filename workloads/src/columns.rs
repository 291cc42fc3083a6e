//! The order columns of DATA.md, in one table: each column's name (the
//! CSV's, in file order), its type in the clean `orders` table, whether an
//! order needs it, its value in an [`Order`], and the other header names
//! the readers accept. The readers' header mapping, the ETL's COPY row and
//! SQL column lists, the profile's missing values and the generator's CSV
//! fields come from it, and a test holds the `orders` migration to it.

use crate::model::{Order, OrderItem, SourceTime};

/// One order column.
#[derive(Debug, Clone, Copy)]
pub struct OrderColumn {
    pub name: &'static str,
    /// Its type in `orders`; `None` for `menu_items`, whose lines go to
    /// `order_items`.
    pub sql_type: Option<&'static str>,
    /// An order without it is rejected (`NOT NULL` in `orders`).
    pub required: bool,
    /// Other header names, as [`header_key`] folds them (English and Korean).
    pub aliases: &'static [&'static str],
    /// Its value in an order.
    pub value: fn(&Order) -> Cell<'_>,
}

/// Every order column, in the CSV's order.
#[rustfmt::skip]
pub const ORDER_COLUMN_TABLE: [OrderColumn; 29] = [
    //     name                      type in `orders`          required value                                          other header names
    column("order_id",               Some("text"),             true,    |o| Cell::Text(Some(&o.order_id)),             &["주문번호", "주문id", "주문아이디"]),
    column("order_time",             Some("timestamptz"),      true,    |o| Cell::Time(Some(&o.order_time)),           &["orderedat", "orderdate", "주문시간", "주문일시", "주문시각", "주문일자"]),
    column("updated_at",             Some("timestamptz"),      false,   |o| Cell::Time(o.updated_at.as_ref()),         &["updatetime", "수정시간", "수정일시", "변경일시", "최종수정일시"]),
    column("customer_id",            Some("text"),             true,    |o| Cell::Text(Some(&o.customer_id)),          &["고객id", "고객아이디", "고객번호"]),
    column("customer_name",          Some("text"),             false,   |o| Cell::Text(o.customer_name.as_deref()),    &["고객명", "고객이름", "주문자", "주문자명"]),
    column("phone_number",           Some("text"),             false,   |o| Cell::Text(o.phone_number.as_deref()),     &["phone", "전화번호", "연락처", "휴대폰번호"]),
    column("restaurant_id",          Some("text"),             true,    |o| Cell::Text(Some(&o.restaurant_id)),        &["storeid", "가게id", "매장id", "가게아이디", "가게번호"]),
    column("restaurant_name",        Some("text"),             false,   |o| Cell::Text(o.restaurant_name.as_deref()),  &["storename", "가게명", "가게이름", "매장명", "상호명"]),
    column("category",               Some("text"),             false,   |o| Cell::Text(o.category.as_deref()),         &["카테고리", "업종", "음식카테고리"]),
    column("menu_items",             None,                     false,   |o| Cell::Items(&o.items),                     &["menu", "items", "메뉴", "주문메뉴", "메뉴목록"]),
    column("item_count",             Some("integer"),          false,   |o| Cell::Integer(o.item_count),               &["수량", "메뉴수", "주문수량"]),
    column("order_amount",           Some("bigint"),           false,   |o| Cell::Integer(o.order_amount),             &["amount", "주문금액", "결제금액", "총주문금액"]),
    column("discount_amount",        Some("bigint"),           false,   |o| Cell::Integer(o.discount_amount),          &["discount", "할인금액", "할인"]),
    column("delivery_fee",           Some("bigint"),           false,   |o| Cell::Integer(o.delivery_fee),             &["배달료", "배달팁", "배달비"]),
    column("payment_method",         Some("text"),             false,   |o| Cell::Text(o.payment_method.as_deref()),   &["payment", "결제수단", "결제방법"]),
    column("platform",               Some("text"),             false,   |o| Cell::Text(o.platform.as_deref()),         &["플랫폼", "주문유형", "배달유형"]),
    column("district",               Some("text"),             false,   |o| Cell::Text(o.district.as_deref()),         &["구", "지역", "자치구", "시군구"]),
    column("delivery_address",       Some("text"),             false,   |o| Cell::Text(o.delivery_address.as_deref()), &["address", "배달주소", "주소"]),
    column("store_lat",              Some("double precision"), false,   |o| Cell::Number(o.store_lat),                 &["가게위도", "매장위도"]),
    column("store_lng",              Some("double precision"), false,   |o| Cell::Number(o.store_lng),                 &["storelon", "가게경도", "매장경도"]),
    column("customer_lat",           Some("double precision"), false,   |o| Cell::Number(o.customer_lat),              &["고객위도"]),
    column("customer_lng",           Some("double precision"), false,   |o| Cell::Number(o.customer_lng),              &["customerlon", "고객경도"]),
    column("distance_km",            Some("double precision"), false,   |o| Cell::Number(o.distance_km),               &["distance", "배달거리", "거리", "거리km", "배달거리km"]),
    column("estimated_delivery_min", Some("integer"),          false,   |o| Cell::Integer(o.estimated_delivery_min),   &["estimatedminutes", "예상배달시간", "예상소요시간", "예상배달시간분"]),
    column("actual_delivery_min",    Some("integer"),          false,   |o| Cell::Integer(o.actual_delivery_min),      &["actualminutes", "실제배달시간", "실제소요시간", "배달시간", "실제배달시간분"]),
    column("rider_id",               Some("text"),             false,   |o| Cell::Text(o.rider_id.as_deref()),         &["라이더id", "배달원id", "라이더아이디"]),
    column("weather",                Some("text"),             false,   |o| Cell::Text(o.weather.as_deref()),          &["날씨"]),
    column("order_status",           Some("text"),             true,    |o| Cell::Text(Some(o.order_status.as_str())), &["status", "주문상태", "상태", "배달상태"]),
    column("rating",                 Some("integer"),          false,   |o| Cell::Integer(o.rating),                   &["평점", "별점"]),
];

const fn column(
    name: &'static str,
    sql_type: Option<&'static str>,
    required: bool,
    value: fn(&Order) -> Cell<'_>,
    aliases: &'static [&'static str],
) -> OrderColumn {
    OrderColumn {
        name,
        sql_type,
        required,
        aliases,
        value,
    }
}

/// The column names, in [`ORDER_COLUMN_TABLE`] order.
pub const ORDER_COLUMNS: [&str; 29] = {
    let mut names = [""; 29];
    let mut i = 0;
    while i < names.len() {
        names[i] = ORDER_COLUMN_TABLE[i].name;
        i += 1;
    }
    names
};

/// The index of a column in [`ORDER_COLUMNS`], for use in constants:
/// `const { column_index("rating") }` fails to compile for an unknown name.
pub const fn column_index(name: &str) -> usize {
    let mut i = 0;
    while i < ORDER_COLUMNS.len() {
        let (a, b) = (ORDER_COLUMNS[i].as_bytes(), name.as_bytes());
        if a.len() == b.len() {
            let mut j = 0;
            while j < a.len() && a[j] == b[j] {
                j += 1;
            }
            if j == a.len() {
                return i;
            }
        }
        i += 1;
    }
    panic!("not an order column")
}

/// A header cell folded for comparison: trimmed, without a byte-order mark,
/// spaces, `_`, `-`, `(`, `)` or `.`, in lower case.
pub fn header_key(name: &str) -> String {
    name.trim()
        .trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-' | '(' | ')' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The column a header cell names (its name or an alias, any case or
/// spacing), as an index into [`ORDER_COLUMNS`].
pub fn column_of_header(name: &str) -> Option<usize> {
    let key = header_key(name);
    // A column name is lower-case snake case: folded, it only loses its `_`.
    // Compared without folding it again (flat JSON and pickle records look
    // every key up, record after record).
    let is_name = |column: &str| column.chars().filter(|c| *c != '_').eq(key.chars());
    ORDER_COLUMN_TABLE
        .iter()
        .position(|c| is_name(c.name) || c.aliases.contains(&key.as_str()))
}

/// The columns stored in `orders`, with their types, in table order.
pub fn stored_columns() -> impl Iterator<Item = (&'static OrderColumn, &'static str)> {
    ORDER_COLUMN_TABLE
        .iter()
        .filter_map(|c| c.sql_type.map(|t| (c, t)))
}

/// One order column's value, typed as the column table types it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    /// `text`.
    Text(Option<&'a str>),
    /// `integer` or `bigint`.
    Integer(Option<i64>),
    /// `double precision`.
    Number(Option<f64>),
    /// `timestamptz`.
    Time(Option<&'a SourceTime>),
    /// `menu_items`, whose lines go to `order_items`.
    Items(&'a [OrderItem]),
}

impl Cell<'_> {
    /// No value: none, blank text, or no items.
    pub fn is_missing(&self) -> bool {
        match self {
            Cell::Text(v) => v.is_none_or(|v| v.trim().is_empty()),
            Cell::Integer(v) => v.is_none(),
            Cell::Number(v) => v.is_none(),
            Cell::Time(v) => v.is_none(),
            Cell::Items(items) => items.is_empty(),
        }
    }

    /// The value as a number, for statistics (text, times and items have none).
    pub fn number(&self) -> Option<f64> {
        match self {
            Cell::Integer(v) => v.map(|v| v as f64),
            Cell::Number(v) => *v,
            _ => None,
        }
    }
}

impl Order {
    /// The value of the column named `name` in [`ORDER_COLUMN_TABLE`];
    /// `None` for a name that is not an order column.
    pub fn cell(&self, name: &str) -> Option<Cell<'_>> {
        ORDER_COLUMN_TABLE
            .iter()
            .find(|c| c.name == name)
            .map(|c| (c.value)(self))
    }
}

/// An order with only its required columns, as the CSV reader reads it.
#[cfg(test)]
pub(crate) fn minimal_order() -> Order {
    let csv = "order_id,order_time,customer_id,restaurant_id,order_status\nO1,2024-03-01 12:00:00,C1,R1,DELIVERED\n";
    let read = crate::readers::read(
        std::path::Path::new("o.csv"),
        crate::readers::SourceFormat::Csv,
        std::io::Cursor::new(csv.as_bytes().to_vec()),
    )
    .next();
    match read {
        Some(Ok(crate::model::Record::Order(order))) => order,
        other => panic!("{other:?}"),
    }
}

/// The columns of `orders` that follow the column table's stored ones
/// ([`stored_columns`]): the loader's own.
pub const LOADER_COLUMNS: [&str; 4] = ["flags", "is_valid", "source_topic", "loaded_at"];

#[cfg(test)]
mod tests {
    use super::*;

    /// Migration 0002 as written; `tests/pipeline.rs` checks the table
    /// every migration leaves on a real Postgres.
    #[test]
    fn the_orders_migration_has_these_columns_types_and_nullability() {
        let sql = include_str!("../contract/migrations/0002_clean_tables.sql");
        let start = sql.find("CREATE TABLE orders (").expect("orders table") + 21;
        let body = &sql[start..start + sql[start..].find(");").expect("end of table")];
        let migrated: Vec<(String, String, bool)> = body
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("--"))
            .map(|line| {
                let (name, rest) = line.split_once(char::is_whitespace).expect("a column");
                let rest = rest.trim().trim_end_matches(',');
                let sql_type = [
                    "double precision",
                    "timestamptz",
                    "integer",
                    "bigint",
                    "boolean",
                    "text[]",
                    "text",
                ]
                .into_iter()
                .find(|t| rest.starts_with(t))
                .unwrap_or(rest);
                (
                    name.to_string(),
                    sql_type.to_string(),
                    rest.contains("NOT NULL") || rest.contains("PRIMARY KEY"),
                )
            })
            .collect();
        let ours: Vec<(String, String, bool)> = stored_columns()
            .map(|(c, sql_type)| (c.name.to_string(), sql_type.to_string(), c.required))
            .collect();
        assert_eq!(migrated[..ours.len()], ours[..]);
        let rest: Vec<&str> = migrated[ours.len()..].iter().map(|c| &*c.0).collect();
        assert_eq!(rest, LOADER_COLUMNS);
    }

    #[test]
    fn names_and_aliases_name_one_column_each() {
        let mut seen = std::collections::HashMap::new();
        for (i, c) in ORDER_COLUMN_TABLE.iter().enumerate() {
            // What column_of_header relies on to compare names unfolded.
            assert_eq!(header_key(c.name), c.name.replace('_', ""), "{}", c.name);
            for key in
                std::iter::once(header_key(c.name)).chain(c.aliases.iter().map(|a| a.to_string()))
            {
                assert_eq!(header_key(&key), key, "{key} is not folded");
                if let Some(other) = seen.insert(key.clone(), i) {
                    assert_eq!(other, i, "{key} names two columns");
                }
            }
        }
        assert_eq!(column_of_header(" Order_ID "), Some(0));
        assert_eq!(
            column_of_header("주문금액"),
            Some(column_index("order_amount"))
        );
        assert_eq!(column_of_header("unknown"), None);
    }
    #[test]
    fn every_column_has_a_cell_of_its_type() {
        let order = minimal_order();
        for column in &ORDER_COLUMN_TABLE {
            let cell = order
                .cell(column.name)
                .unwrap_or_else(|| panic!("no cell for {}", column.name));
            let typed = matches!(
                (column.sql_type, cell),
                (Some("text"), Cell::Text(_))
                    | (Some("integer" | "bigint"), Cell::Integer(_))
                    | (Some("double precision"), Cell::Number(_))
                    | (Some("timestamptz"), Cell::Time(_))
                    | (None, Cell::Items(_))
            );
            assert!(
                typed,
                "{}: {:?} is not {:?}",
                column.name, cell, column.sql_type
            );
            // An order has every required column.
            assert!(!column.required || !cell.is_missing(), "{}", column.name);
        }
        assert_eq!(order.cell("no_such_column"), None);
    }
}

//! The order columns of DATA.md, in one table: each column's name (the
//! CSV's, in file order), its type in the clean `orders` table, whether an
//! order needs it, and the other header names the readers accept. The
//! readers' header mapping, the ETL's COPY row and SQL column lists come
//! from it, and a test holds the `orders` migration to it.

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
}

/// Every order column, in the CSV's order.
pub const ORDER_COLUMN_TABLE: [OrderColumn; 29] = [
    OrderColumn {
        name: "order_id",
        sql_type: Some("text"),
        required: true,
        aliases: &["주문번호", "주문id", "주문아이디"],
    },
    OrderColumn {
        name: "order_time",
        sql_type: Some("timestamptz"),
        required: true,
        aliases: &[
            "orderedat",
            "orderdate",
            "주문시간",
            "주문일시",
            "주문시각",
            "주문일자",
        ],
    },
    OrderColumn {
        name: "updated_at",
        sql_type: Some("timestamptz"),
        required: false,
        aliases: &[
            "updatetime",
            "수정시간",
            "수정일시",
            "변경일시",
            "최종수정일시",
        ],
    },
    OrderColumn {
        name: "customer_id",
        sql_type: Some("text"),
        required: true,
        aliases: &["고객id", "고객아이디", "고객번호"],
    },
    OrderColumn {
        name: "customer_name",
        sql_type: Some("text"),
        required: false,
        aliases: &["고객명", "고객이름", "주문자", "주문자명"],
    },
    OrderColumn {
        name: "phone_number",
        sql_type: Some("text"),
        required: false,
        aliases: &["phone", "전화번호", "연락처", "휴대폰번호"],
    },
    OrderColumn {
        name: "restaurant_id",
        sql_type: Some("text"),
        required: true,
        aliases: &["storeid", "가게id", "매장id", "가게아이디", "가게번호"],
    },
    OrderColumn {
        name: "restaurant_name",
        sql_type: Some("text"),
        required: false,
        aliases: &["storename", "가게명", "가게이름", "매장명", "상호명"],
    },
    OrderColumn {
        name: "category",
        sql_type: Some("text"),
        required: false,
        aliases: &["카테고리", "업종", "음식카테고리"],
    },
    OrderColumn {
        name: "menu_items",
        sql_type: None,
        required: false,
        aliases: &["menu", "items", "메뉴", "주문메뉴", "메뉴목록"],
    },
    OrderColumn {
        name: "item_count",
        sql_type: Some("integer"),
        required: false,
        aliases: &["수량", "메뉴수", "주문수량"],
    },
    OrderColumn {
        name: "order_amount",
        sql_type: Some("bigint"),
        required: false,
        aliases: &["amount", "주문금액", "결제금액", "총주문금액"],
    },
    OrderColumn {
        name: "discount_amount",
        sql_type: Some("bigint"),
        required: false,
        aliases: &["discount", "할인금액", "할인"],
    },
    OrderColumn {
        name: "delivery_fee",
        sql_type: Some("bigint"),
        required: false,
        aliases: &["배달료", "배달팁", "배달비"],
    },
    OrderColumn {
        name: "payment_method",
        sql_type: Some("text"),
        required: false,
        aliases: &["payment", "결제수단", "결제방법"],
    },
    OrderColumn {
        name: "platform",
        sql_type: Some("text"),
        required: false,
        aliases: &["플랫폼", "주문유형", "배달유형"],
    },
    OrderColumn {
        name: "district",
        sql_type: Some("text"),
        required: false,
        aliases: &["구", "지역", "자치구", "시군구"],
    },
    OrderColumn {
        name: "delivery_address",
        sql_type: Some("text"),
        required: false,
        aliases: &["address", "배달주소", "주소"],
    },
    OrderColumn {
        name: "store_lat",
        sql_type: Some("double precision"),
        required: false,
        aliases: &["가게위도", "매장위도"],
    },
    OrderColumn {
        name: "store_lng",
        sql_type: Some("double precision"),
        required: false,
        aliases: &["storelon", "가게경도", "매장경도"],
    },
    OrderColumn {
        name: "customer_lat",
        sql_type: Some("double precision"),
        required: false,
        aliases: &["고객위도"],
    },
    OrderColumn {
        name: "customer_lng",
        sql_type: Some("double precision"),
        required: false,
        aliases: &["customerlon", "고객경도"],
    },
    OrderColumn {
        name: "distance_km",
        sql_type: Some("double precision"),
        required: false,
        aliases: &["distance", "배달거리", "거리", "거리km", "배달거리km"],
    },
    OrderColumn {
        name: "estimated_delivery_min",
        sql_type: Some("integer"),
        required: false,
        aliases: &[
            "estimatedminutes",
            "예상배달시간",
            "예상소요시간",
            "예상배달시간분",
        ],
    },
    OrderColumn {
        name: "actual_delivery_min",
        sql_type: Some("integer"),
        required: false,
        aliases: &[
            "actualminutes",
            "실제배달시간",
            "실제소요시간",
            "배달시간",
            "실제배달시간분",
        ],
    },
    OrderColumn {
        name: "rider_id",
        sql_type: Some("text"),
        required: false,
        aliases: &["라이더id", "배달원id", "라이더아이디"],
    },
    OrderColumn {
        name: "weather",
        sql_type: Some("text"),
        required: false,
        aliases: &["날씨"],
    },
    OrderColumn {
        name: "order_status",
        sql_type: Some("text"),
        required: true,
        aliases: &["status", "주문상태", "상태", "배달상태"],
    },
    OrderColumn {
        name: "rating",
        sql_type: Some("integer"),
        required: false,
        aliases: &["평점", "별점"],
    },
];

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
pub fn stored_columns() -> impl Iterator<Item = (&'static str, &'static str)> {
    ORDER_COLUMN_TABLE
        .iter()
        .filter_map(|c| c.sql_type.map(|t| (c.name, t)))
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
        use Cell::{Integer, Items, Number, Text, Time};
        fn text(v: &Option<crate::model::Text>) -> Cell<'_> {
            Cell::Text(v.as_deref())
        }
        Some(match name {
            "order_id" => Text(Some(&self.order_id)),
            "order_time" => Time(Some(&self.order_time)),
            "updated_at" => Time(self.updated_at.as_ref()),
            "customer_id" => Text(Some(&self.customer_id)),
            "customer_name" => text(&self.customer_name),
            "phone_number" => text(&self.phone_number),
            "restaurant_id" => Text(Some(&self.restaurant_id)),
            "restaurant_name" => text(&self.restaurant_name),
            "category" => text(&self.category),
            "menu_items" => Items(&self.items),
            "item_count" => Integer(self.item_count),
            "order_amount" => Integer(self.order_amount),
            "discount_amount" => Integer(self.discount_amount),
            "delivery_fee" => Integer(self.delivery_fee),
            "payment_method" => text(&self.payment_method),
            "platform" => text(&self.platform),
            "district" => text(&self.district),
            "delivery_address" => text(&self.delivery_address),
            "store_lat" => Number(self.store_lat),
            "store_lng" => Number(self.store_lng),
            "customer_lat" => Number(self.customer_lat),
            "customer_lng" => Number(self.customer_lng),
            "distance_km" => Number(self.distance_km),
            "estimated_delivery_min" => Integer(self.estimated_delivery_min),
            "actual_delivery_min" => Integer(self.actual_delivery_min),
            "rider_id" => text(&self.rider_id),
            "weather" => text(&self.weather),
            "order_status" => Text(Some(self.order_status.as_str())),
            "rating" => Integer(self.rating),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let ours: Vec<(String, String, bool)> = ORDER_COLUMN_TABLE
            .iter()
            .filter_map(|c| {
                c.sql_type
                    .map(|t| (c.name.to_string(), t.to_string(), c.required))
            })
            .collect();
        // The migration's table is these columns, in this order, then the
        // loader's own: flags, is_valid, source_topic, loaded_at.
        assert_eq!(migrated[..ours.len()], ours[..]);
        let rest: Vec<&str> = migrated[ours.len()..]
            .iter()
            .map(|c| c.0.as_str())
            .collect();
        assert_eq!(rest, ["flags", "is_valid", "source_topic", "loaded_at"]);
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
        let csv = "order_id,order_time,customer_id,restaurant_id,order_status\nO1,2024-03-01 12:00:00,C1,R1,DELIVERED\n";
        let read = crate::readers::read(
            std::path::Path::new("o.csv"),
            crate::readers::SourceFormat::Csv,
            std::io::Cursor::new(csv.as_bytes().to_vec()),
        )
        .next();
        let Some(Ok(crate::model::Record::Order(order))) = read else {
            panic!("{read:?}")
        };
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

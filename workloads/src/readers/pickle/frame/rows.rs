//! A DataFrame's cells and rows: decoding a numpy array's cells by dtype,
//! and laying out the frame's blocks as named columns read row by row.

use super::{Array, Data, Labels, Part};
use crate::readers::pickle::{allowlist, Id, Node};
use crate::readers::ErrorKind;
use chrono::DateTime;
use serde_json::{Number, Value};

/// One cell: a plain value, or an object for the pickle machine to convert.
pub(in crate::readers::pickle) enum Cell {
    Value(Value),
    Object(Id),
}

impl Array {
    /// The number of cells (saturating: a hostile shape cannot overflow).
    pub(super) fn len(&self) -> usize {
        self.shape.iter().fold(1usize, |n, d| n.saturating_mul(*d))
    }

    fn item_size(&self) -> Option<usize> {
        self.dtype.code.get(1..)?.parse().ok()
    }

    /// Why this array's cells cannot be read, if they cannot.
    fn unreadable(&self) -> Option<String> {
        let dtype = &self.dtype;
        let kind = dtype.code.chars().next().unwrap_or('?');
        let size = self.item_size();
        let known = match kind {
            'i' | 'u' => matches!(size, Some(1 | 2 | 4 | 8)),
            'f' => matches!(size, Some(4 | 8)),
            'b' => size == Some(1),
            'M' => {
                size == Some(8) && matches!(dtype.unit.as_deref(), Some("s" | "ms" | "us" | "ns"))
            }
            'O' => true,
            _ => false,
        };
        if !known {
            let unit = dtype
                .unit
                .as_deref()
                .map(|u| format!("[{u}]"))
                .unwrap_or_default();
            return Some(format!(
                "a numpy column of dtype {}{unit}, which this reader does not read",
                dtype.code
            ));
        }
        let complete = match &self.data {
            Data::Objects(objects) => kind == 'O' && objects.len() == self.len(),
            Data::Raw(raw) => {
                kind != 'O' && Some(raw.len()) == size.map(|s| s.saturating_mul(self.len()))
            }
        };
        (!complete).then(|| {
            format!(
                "a numpy array of shape {:?} whose data does not fill it",
                self.shape
            )
        })
    }

    /// The cell at flat position `i` (numpy's element order).
    pub(super) fn cell(&self, i: usize) -> Option<Cell> {
        let raw = match &self.data {
            Data::Objects(objects) => return objects.get(i).copied().map(Cell::Object),
            Data::Raw(raw) => raw,
        };
        let size = self.item_size().filter(|s| (1..=8).contains(s))?;
        let bytes = raw.get(i.checked_mul(size)?..(i + 1).checked_mul(size)?)?;
        let mut word = [0u8; 8];
        if self.dtype.big_endian {
            word[8 - size..].copy_from_slice(bytes);
            word.reverse();
        } else {
            word[..size].copy_from_slice(bytes);
        }
        let sign_extended = |word: [u8; 8]| {
            let shift = 64 - 8 * size as u32;
            (i64::from_le_bytes(word) << shift) >> shift
        };
        let value = match self.dtype.code.as_bytes()[0] {
            b'b' => Value::Bool(bytes[0] != 0),
            b'i' => Value::from(sign_extended(word)),
            b'u' => Value::from(u64::from_le_bytes(word)),
            b'f' if size == 4 => float(f64::from(f32::from_le_bytes([
                word[0], word[1], word[2], word[3],
            ]))),
            b'f' => float(f64::from_le_bytes(word)),
            b'M' => datetime64(i64::from_le_bytes(word), self.dtype.unit.as_deref()?),
            _ => return None,
        };
        Some(Cell::Value(value))
    }
}

/// NaN is pandas' missing number.
fn float(f: f64) -> Value {
    Number::from_f64(f)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// A naive datetime64 (KST, as every naive time in the data); NaT is missing.
fn datetime64(ticks: i64, unit: &str) -> Value {
    if ticks == i64::MIN {
        return Value::Null;
    }
    let per_second: i64 = match unit {
        "s" => 1,
        "ms" => 1_000,
        "us" => 1_000_000,
        _ => 1_000_000_000,
    };
    let nanos = (ticks.rem_euclid(per_second) * (1_000_000_000 / per_second)) as u32;
    DateTime::from_timestamp(ticks.div_euclid(per_second), nanos)
        .and_then(|utc| allowlist::kst_text(utc.naive_utc()))
        .map(Value::String)
        .unwrap_or(Value::Null)
}

/// A row's cell under its column's name (`None`: the array has no such cell).
pub(in crate::readers::pickle) type NamedCell = (String, Option<Cell>);

/// The columns of a DataFrame, laid out for reading row by row.
pub(in crate::readers::pickle) struct FrameRows {
    columns: Vec<Column>,
    rows: usize,
    next: usize,
    /// The byte offset of the pickle's end, where its rows are reported.
    pub(in crate::readers::pickle) at: u64,
}

struct Column {
    name: String,
    /// The array holding the column and the column's row in it.
    array: Id,
    row: usize,
}

/// The ndarray behind a numpy or pandas array.
fn array_of(nodes: &[Node], id: Id) -> Result<(Id, &Array), (ErrorKind, String)> {
    match &nodes[id] {
        Node::Frame(Part::Array(array)) => Ok((id, array)),
        Node::Frame(Part::Backed(Some(inner))) => array_of(nodes, *inner),
        other => Err(not_read(other, "an array")),
    }
}

fn not_read(node: &Node, expected: &str) -> (ErrorKind, String) {
    match node {
        Node::Refused(what) => (ErrorKind::Refused, crate::readers::pickle::refused(what).1),
        Node::Invalid(why) => (ErrorKind::InvalidValue, why.clone()),
        _ => (ErrorKind::InvalidValue, format!("a DataFrame whose layout is not one this reader reads (no {expected} where pandas writes one)")),
    }
}

impl FrameRows {
    /// Lays out a DataFrame's columns, checking every block before a row is read.
    pub(in crate::readers::pickle) fn new(
        frame: Id,
        nodes: &[Node],
        at: u64,
    ) -> Result<Self, (ErrorKind, String)> {
        let Node::Frame(Part::DataFrame(Some(manager))) = &nodes[frame] else {
            return Err(not_read(&nodes[frame], "DataFrame"));
        };
        let Node::Frame(Part::Manager { blocks, axes }) = &nodes[*manager] else {
            return Err(not_read(&nodes[*manager], "block manager"));
        };
        let [column_axis, row_axis] = axes[..] else {
            return Err(not_read(&Node::None, "pair of axes"));
        };
        let names = index_labels(nodes, column_axis)?;
        let rows = match &nodes[row_axis] {
            Node::Frame(Part::Index {
                labels: Labels::Range(start, stop, step),
                ..
            }) => range_len(*start, *stop, *step),
            Node::Frame(Part::Index {
                labels: Labels::Values(values),
                ..
            }) => array_of(nodes, *values)?.1.len(),
            other => return Err(not_read(other, "row index")),
        };
        let mut columns = Vec::with_capacity(names.len());
        for block in blocks {
            let Node::Frame(Part::Block {
                values,
                columns: positions,
            }) = &nodes[*block]
            else {
                return Err(not_read(&nodes[*block], "block"));
            };
            let (array_id, array) = array_of(nodes, *values)?;
            if let Some(why) = array.unreadable() {
                return Err((ErrorKind::InvalidValue, why));
            }
            let fits = match array.shape[..] {
                [n] => positions.len() == 1 && n == rows,
                [k, n] => positions.len() == k && n == rows,
                _ => false,
            };
            if !fits {
                return Err((
                    ErrorKind::InvalidValue,
                    format!(
                        "a block of shape {:?} in a frame of {rows} rows",
                        array.shape
                    ),
                ));
            }
            for (row, position) in positions.iter().enumerate() {
                let name = names.get(*position).cloned().ok_or_else(|| {
                    (
                        ErrorKind::InvalidValue,
                        format!("a block placed at column {position} of {}", names.len()),
                    )
                })?;
                columns.push(Column {
                    name,
                    array: array_id,
                    row,
                });
            }
        }
        if let Node::Frame(Part::Index {
            name: Some(name),
            labels: Labels::Values(values),
        }) = &nodes[row_axis]
        {
            if let Node::Str(name) = &nodes[*name] {
                let (array, _) = array_of(nodes, *values)?;
                columns.push(Column {
                    name: name.clone(),
                    array,
                    row: 0,
                });
            }
        }
        if columns.is_empty() && rows > 0 {
            return Err((
                ErrorKind::InvalidValue,
                "a DataFrame with no columns".into(),
            ));
        }
        Ok(FrameRows {
            columns,
            rows,
            next: 0,
            at,
        })
    }

    /// The next row's cells, by column name, with the row's number.
    pub(in crate::readers::pickle) fn next_row(
        &mut self,
        nodes: &[Node],
    ) -> Option<(usize, Vec<NamedCell>)> {
        if self.next >= self.rows {
            return None;
        }
        let i = self.next;
        self.next += 1;
        let cells = self
            .columns
            .iter()
            .map(|column| {
                let cell = array_of(nodes, column.array).ok().and_then(|(_, array)| {
                    let flat = match array.shape[..] {
                        [k, _] if array.fortran => i * k + column.row,
                        [_, n] => column.row * n + i,
                        _ => i,
                    };
                    array.cell(flat)
                });
                (column.name.clone(), cell)
            })
            .collect();
        Some((i, cells))
    }
}

fn range_len(start: i64, stop: i64, step: i64) -> usize {
    if step == 0 {
        return 0;
    }
    let (start, stop, step) = (i128::from(start), i128::from(stop), i128::from(step));
    let span = if step > 0 { stop - start } else { start - stop };
    usize::try_from((span + step.abs() - 1) / step.abs()).unwrap_or(0)
}

/// The column names: an Index of text (or integers, written as text).
fn index_labels(nodes: &[Node], index: Id) -> Result<Vec<String>, (ErrorKind, String)> {
    match &nodes[index] {
        Node::Frame(Part::Index {
            labels: Labels::Range(start, stop, step),
            ..
        }) => Ok((0..range_len(*start, *stop, *step))
            .map(|i| (*start + i as i64 * *step).to_string())
            .collect()),
        Node::Frame(Part::Index {
            labels: Labels::Values(values),
            ..
        }) => {
            let (_, array) = array_of(nodes, *values)?;
            (0..array.len())
                .map(|i| match array.cell(i) {
                    Some(Cell::Object(id)) => match &nodes[id] {
                        Node::Str(s) => Ok(s.clone()),
                        Node::Int(n) => Ok(n.to_string()),
                        _ => Err((
                            ErrorKind::InvalidValue,
                            "a column name that is not text".into(),
                        )),
                    },
                    Some(Cell::Value(Value::Number(n))) => Ok(n.to_string()),
                    _ => Err((
                        ErrorKind::InvalidValue,
                        "a column name that is not text".into(),
                    )),
                })
                .collect()
        }
        other => Err(not_read(other, "column index")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Dtype;
    use super::*;

    fn array(code: &str, big_endian: bool, unit: Option<&str>, raw: Vec<u8>) -> Array {
        let dtype = Dtype {
            code: code.into(),
            big_endian,
            unit: unit.map(Into::into),
        };
        let size: usize = code[1..].parse().unwrap();
        Array {
            shape: vec![raw.len() / size],
            dtype,
            fortran: false,
            data: Data::Raw(raw),
        }
    }

    fn value(array: &Array, i: usize) -> Value {
        match array.cell(i) {
            Some(Cell::Value(v)) => v,
            _ => panic!("no value at {i}"),
        }
    }

    #[test]
    fn cells_decode_by_dtype_and_byte_order() {
        let shorts = array("i2", false, None, vec![0xfe, 0xff, 0x01, 0x00]);
        assert_eq!(value(&shorts, 0), Value::from(-2));
        assert_eq!(value(&shorts, 1), Value::from(1));
        let big = array("i4", true, None, vec![0xff, 0xff, 0xff, 0xfd]);
        assert_eq!(value(&big, 0), Value::from(-3));
        let unsigned = array("u1", false, None, vec![255]);
        assert_eq!(value(&unsigned, 0), Value::from(255));
        let floats = array(
            "f8",
            false,
            None,
            [f64::NAN, 2.5].map(f64::to_le_bytes).concat(),
        );
        assert_eq!(value(&floats, 0), Value::Null, "NaN is missing");
        assert_eq!(value(&floats, 1), Value::from(2.5));
        let seconds = 1_704_067_200_i64; // 2024-01-01T00:00:00Z
        let times = array(
            "M8",
            false,
            Some("ms"),
            [seconds * 1000 + 250, i64::MIN]
                .map(i64::to_le_bytes)
                .concat(),
        );
        assert_eq!(
            value(&times, 0),
            Value::from("2024-01-01T00:00:00.250+09:00"),
            "naive is KST"
        );
        assert_eq!(value(&times, 1), Value::Null, "NaT is missing");
        assert!(array("M8", false, Some("D"), vec![0; 8])
            .unreadable()
            .is_some());
        assert!(array("c8", false, None, vec![0; 8]).unreadable().is_some());
        assert!(
            array("i8", false, None, vec![0; 7]).unreadable().is_some(),
            "short data"
        );
        assert_eq!(range_len(0, 10, 3), 4);
        assert_eq!(range_len(i64::MIN, i64::MAX, i64::MAX), 3, "no overflow");
        let wide = array("i16", false, None, vec![0; 32]);
        assert!(
            wide.cell(0).is_none() && wide.unreadable().is_some(),
            "16-byte cells are not read"
        );
        assert_eq!(range_len(10, 0, -5), 2);
    }
}

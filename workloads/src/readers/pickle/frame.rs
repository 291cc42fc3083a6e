//! pandas `DataFrame.to_pickle()` files, read by interpreting the numpy and
//! pandas constructors such a file is made of (never importing them): numpy
//! dtypes and arrays, pandas blocks, the block manager, indexes and the
//! DataFrame itself, in the layout pandas 1.5 to 3.x write (numpy 1 and 2).
//! A frame's rows become elements, one plain dict of column → cell per row,
//! decoded one row at a time from the arrays.
//!
//! Columns read: numpy integer, unsigned, float and bool blocks; object
//! blocks (text, None, and the interpreted datetimes and Decimals); pandas'
//! Python-backed strings; naive datetime64 in any unit from seconds to
//! nanoseconds (naive times are KST, as everywhere in the data). NaN and NaT
//! are missing values. A named row index (`set_index("order_id")`) is read
//! as a column; a RangeIndex is not. Anything else (categoricals, tz-aware
//! or Arrow-backed columns, nullable extension arrays) stays refused, with
//! the name of what it would call.

use super::{allowlist, Id, Node};
use crate::readers::ErrorKind;
use chrono::DateTime;
use serde_json::{Number, Value};

/// What a DataFrame pickle is made of.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Constructor {
    Dtype,
    NdArray,
    Reconstruct,
    FromBuffer,
    Slice,
    UnpickleBlock,
    UnpickleBacked,
    BackedClass,
    StringDtype,
    BlockManager,
    NewIndex,
    IndexClass,
    RangeIndexClass,
    DataFrameClass,
    /// `copyreg._reconstructor(class, object, None)`: protocols 0 and 1's
    /// way to make an instance.
    Reconstructor,
    ObjectClass,
    /// `pandas.NA`, a missing value.
    Missing,
}

/// The constructors and classes interpreted, by `module.name` (numpy 2
/// moved `numpy.core` to `numpy._core`; pandas 3 pickles its classes by
/// their top-level names).
fn constructor(qualified: &str) -> Option<Constructor> {
    use Constructor::*;
    Some(match qualified {
        "numpy.dtype" => Dtype,
        "numpy.ndarray" => NdArray,
        "numpy.core.multiarray._reconstruct" | "numpy._core.multiarray._reconstruct" => Reconstruct,
        "numpy.core.numeric._frombuffer" | "numpy._core.numeric._frombuffer" => FromBuffer,
        "builtins.slice" | "__builtin__.slice" => Slice,
        "pandas._libs.internals._unpickle_block" => UnpickleBlock,
        "pandas._libs.arrays.__pyx_unpickle_NDArrayBacked" => UnpickleBacked,
        "pandas.core.arrays.datetimes.DatetimeArray"
        | "pandas.arrays.DatetimeArray"
        | "pandas.core.arrays.string_.StringArray"
        | "pandas.arrays.StringArray" => BackedClass,
        "pandas.core.arrays.string_.StringDtype" | "pandas.StringDtype" => StringDtype,
        "pandas.core.internals.managers.BlockManager" => BlockManager,
        "pandas.core.indexes.base._new_Index" => NewIndex,
        "pandas.core.indexes.base.Index" | "pandas.Index" => IndexClass,
        "pandas.core.indexes.range.RangeIndex" | "pandas.RangeIndex" => RangeIndexClass,
        "pandas.core.frame.DataFrame" | "pandas.DataFrame" => DataFrameClass,
        "copy_reg._reconstructor" | "copyreg._reconstructor" => Reconstructor,
        "__builtin__.object" | "builtins.object" => ObjectClass,
        "pandas._libs.missing.NA" | "pandas.NA" => Missing,
        _ => return None,
    })
}

/// Whether `module.name` is one of the interpreted numpy or pandas names.
pub(super) fn is_allowed(qualified: &str) -> bool {
    constructor(qualified).is_some()
}

/// Whether `module.name` is pandas' missing value, `pandas.NA`.
pub(super) fn is_missing(qualified: &str) -> bool {
    constructor(qualified) == Some(Constructor::Missing)
}

/// A new, empty instance of the class `module.name` (`NEWOBJ`, or
/// `copyreg._reconstructor` in protocols 0 and 1), whose state comes next.
pub(super) fn instance_of(qualified: &str) -> Option<Part> {
    match constructor(qualified)? {
        Constructor::DataFrameClass => Some(Part::DataFrame(None)),
        Constructor::StringDtype => Some(Part::StringDtype),
        _ => None,
    }
}

/// An interpreted numpy or pandas object.
#[derive(Debug)]
pub(in crate::readers) enum Part {
    Dtype(Dtype),
    /// `pandas.StringDtype("python")`: text held in an object array.
    StringDtype,
    Array(Array),
    /// `slice(start, stop, step)`: the columns a block holds.
    Slice(i64, i64, i64),
    /// A pandas array backed by an ndarray, which its state names.
    Backed(Option<Id>),
    Block {
        values: Id,
        columns: Vec<usize>,
    },
    Manager {
        blocks: Vec<Id>,
        axes: Vec<Id>,
    },
    Index {
        name: Option<Id>,
        labels: Labels,
    },
    DataFrame(Option<Id>),
}

#[derive(Debug, Clone)]
pub(in crate::readers) struct Dtype {
    /// numpy's type code: `i8`, `u2`, `f8`, `b1`, `M8`, `O8` …
    code: String,
    big_endian: bool,
    /// A datetime64's unit (`ns`, `us`, `ms`, `s`).
    unit: Option<String>,
}

#[derive(Debug)]
pub(in crate::readers) struct Array {
    dtype: Dtype,
    shape: Vec<usize>,
    fortran: bool,
    data: Data,
}

#[derive(Debug)]
enum Data {
    Raw(Vec<u8>),
    Objects(Vec<Id>),
}

#[derive(Debug)]
pub(in crate::readers) enum Labels {
    Range(i64, i64, i64),
    Values(Id),
}

fn int(node: &Node) -> Option<i64> {
    match node {
        Node::Int(i) => Some(*i),
        Node::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

fn items(node: &Node) -> Option<&[Id]> {
    match node {
        Node::Tuple(v) | Node::List(v) => Some(v),
        _ => None,
    }
}

fn dict_get(nodes: &[Node], dict: Id, key: &str) -> Option<Id> {
    let Node::Dict(pairs) = &nodes[dict] else {
        return None;
    };
    pairs
        .iter()
        .find(|(k, _)| matches!(&nodes[*k], Node::Str(s) if s == key))
        .map(|(_, v)| *v)
}

/// The first refusal among `ids`, passed on so that the error names it.
fn refusal(nodes: &[Node], ids: &[Id]) -> Option<Node> {
    ids.iter().find_map(|id| match &nodes[*id] {
        Node::Refused(what) => Some(Node::Refused(what.clone())),
        _ => None,
    })
}

/// Takes a bytes object's content (array data is large and read once).
fn take_bytes(nodes: &mut [Node], id: Id) -> Option<Vec<u8>> {
    match &mut nodes[id] {
        Node::Blob(bytes) => Some(std::mem::take(bytes)),
        _ => None,
    }
}

/// The value `qualified(*args)` builds, or `None` when `qualified` is not
/// a numpy or pandas name.
pub(super) fn call(
    qualified: &str,
    args: &[Id],
    nodes: &mut [Node],
) -> Option<Result<Node, String>> {
    let what = constructor(qualified)?;
    if let Some(refused) = refusal(nodes, args) {
        return Some(Ok(refused));
    }
    let wrong = || format!("{qualified} with arguments this reader does not interpret");
    let part = match what {
        Constructor::Dtype => match args.first().map(|a| &nodes[*a]) {
            Some(Node::Str(code)) => Some(Part::Dtype(Dtype {
                code: code.clone(),
                big_endian: false,
                unit: None,
            })),
            _ => None,
        },
        Constructor::Reconstruct => Some(Part::Array(Array {
            dtype: Dtype {
                code: "O8".into(),
                big_endian: false,
                unit: None,
            },
            shape: vec![0],
            fortran: false,
            data: Data::Raw(Vec::new()),
        })),
        Constructor::FromBuffer => from_buffer(args, nodes),
        Constructor::Slice => match args.iter().map(|a| &nodes[*a]).collect::<Vec<_>>()[..] {
            [start, stop, step] => match (int(start), int(stop)) {
                (Some(start), Some(stop)) => Some(Part::Slice(start, stop, int(step).unwrap_or(1))),
                _ => None,
            },
            _ => None,
        },
        Constructor::UnpickleBlock => unpickle_block(args, nodes),
        Constructor::UnpickleBacked => match args.first().map(|a| &nodes[*a]) {
            Some(Node::Global(class)) if constructor(class) == Some(Constructor::BackedClass) => {
                Some(Part::Backed(None))
            }
            _ => None,
        },
        Constructor::StringDtype => match args.first().map(|a| &nodes[*a]) {
            Some(Node::Str(storage)) if storage == "python" => Some(Part::StringDtype),
            Some(Node::Str(storage)) => return Some(Err(python_strings_only(storage))),
            _ => None,
        },
        Constructor::BlockManager => match args {
            [blocks, axes] => match (items(&nodes[*blocks]), items(&nodes[*axes])) {
                (Some(blocks), Some(axes)) => Some(Part::Manager {
                    blocks: blocks.to_vec(),
                    axes: axes.to_vec(),
                }),
                _ => None,
            },
            _ => None,
        },
        Constructor::NewIndex => new_index(args, nodes),
        Constructor::Reconstructor => match args.first().map(|a| &nodes[*a]) {
            Some(Node::Global(class)) => instance_of(class),
            _ => None,
        },
        Constructor::NdArray
        | Constructor::Missing
        | Constructor::ObjectClass
        | Constructor::BackedClass
        | Constructor::IndexClass
        | Constructor::RangeIndexClass
        | Constructor::DataFrameClass => None,
    };
    Some(part.map(Node::Frame).ok_or_else(wrong))
}

fn python_strings_only(storage: &str) -> String {
    format!("pandas strings stored in {storage}: only Python-backed strings are read")
}

/// `_frombuffer(buffer, dtype, shape, order)`: protocol 5's arrays.
fn from_buffer(args: &[Id], nodes: &mut [Node]) -> Option<Part> {
    let [buffer, dtype, shape, order] = *args else {
        return None;
    };
    let Node::Frame(Part::Dtype(dtype)) = &nodes[dtype] else {
        return None;
    };
    let dtype = dtype.clone();
    let shape = shape_of(nodes, shape)?;
    let fortran = matches!(&nodes[order], Node::Str(o) if o == "F");
    let data = take_bytes(nodes, buffer)?;
    Some(Part::Array(Array {
        dtype,
        shape,
        fortran,
        data: Data::Raw(data),
    }))
}

fn shape_of(nodes: &[Node], id: Id) -> Option<Vec<usize>> {
    items(&nodes[id])?
        .iter()
        .map(|d| int(&nodes[*d]).and_then(|d| usize::try_from(d).ok()))
        .collect()
}

/// `_unpickle_block(values, placement, ndim)`: a block and its columns.
fn unpickle_block(args: &[Id], nodes: &[Node]) -> Option<Part> {
    let [values, placement, ..] = *args else {
        return None;
    };
    let columns = match &nodes[placement] {
        Node::Frame(Part::Slice(start, stop, step)) if *step > 0 => (*start..*stop)
            .step_by(usize::try_from(*step).ok()?)
            .map(|c| usize::try_from(c).ok())
            .collect::<Option<Vec<_>>>()?,
        Node::Frame(Part::Array(array)) => (0..array.len())
            .map(|i| match array.cell(i) {
                Some(Cell::Value(Value::Number(n))) => n.as_u64().map(|c| c as usize),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?,
        _ => return None,
    };
    Some(Part::Block { values, columns })
}

/// `_new_Index(class, attributes)`: an Index or a RangeIndex.
fn new_index(args: &[Id], nodes: &[Node]) -> Option<Part> {
    let [class, attributes] = *args else {
        return None;
    };
    let Node::Global(class) = &nodes[class] else {
        return None;
    };
    let name = dict_get(nodes, attributes, "name");
    let labels = match constructor(class)? {
        Constructor::RangeIndexClass => {
            let get = |key| dict_get(nodes, attributes, key).and_then(|v| int(&nodes[v]));
            Labels::Range(get("start")?, get("stop")?, get("step").unwrap_or(1))
        }
        Constructor::IndexClass => Labels::Values(dict_get(nodes, attributes, "data")?),
        _ => return None,
    };
    Some(Part::Index { name, labels })
}

/// The state a `BUILD` opcode sets on an interpreted object: the object it
/// becomes, or why this state is not one it is interpreted for.
pub(super) fn build(target: Id, state: Id, nodes: &mut [Node]) -> Result<Node, String> {
    let fields = items(&nodes[state]).map(<[Id]>::to_vec).unwrap_or_default();
    if let Some(refused) = refusal(nodes, &[state]).or_else(|| refusal(nodes, &fields)) {
        return Ok(refused);
    }
    let Node::Frame(part) = &nodes[target] else {
        return Err("state set on something that is not a numpy or pandas object".into());
    };
    let built = match part {
        Part::Dtype(dtype) => dtype_state(dtype, &fields, nodes),
        Part::Array(_) => array_state(&fields, nodes),
        // (dtype, ndarray[, attributes]): the ndarray carries the dtype too.
        Part::Backed(None) => fields.get(1).map(|array| Part::Backed(Some(*array))),
        Part::DataFrame(None) => dict_get(nodes, state, "_mgr").map(|m| Part::DataFrame(Some(m))),
        // pandas 1.x sets a StringDtype's storage as its state.
        Part::StringDtype => match dict_get(nodes, state, "storage").map(|s| &nodes[s]) {
            Some(Node::Str(storage)) if storage == "python" => Some(Part::StringDtype),
            Some(Node::Str(storage)) => return Err(python_strings_only(storage)),
            _ => None,
        },
        _ => None,
    };
    built.map(Node::Frame).ok_or_else(|| {
        "the state of a numpy or pandas object this reader does not interpret".into()
    })
}

/// A dtype's state: `(version, byte order, subarray, names, fields,
/// itemsize, alignment, flags[, (metadata, datetime unit)])`.
fn dtype_state(dtype: &Dtype, fields: &[Id], nodes: &[Node]) -> Option<Part> {
    let order = fields.get(1).map(|o| &nodes[*o]);
    let unit = fields.get(8).and_then(|meta| {
        let [_, unit] = *items(&nodes[*meta])? else {
            return None;
        };
        let [unit, multiple, ..] = *items(&nodes[unit])? else {
            return None;
        };
        if int(&nodes[multiple]) != Some(1) {
            return Some(format!("{}×", int(&nodes[multiple]).unwrap_or(0)));
        }
        match &nodes[unit] {
            Node::Blob(b) => String::from_utf8(b.clone()).ok(),
            Node::Str(s) => Some(s.clone()),
            _ => None,
        }
    });
    Some(Part::Dtype(Dtype {
        code: dtype.code.clone(),
        big_endian: matches!(order, Some(Node::Str(o)) if o == ">"),
        unit,
    }))
}

/// An ndarray's state: `(version, shape, dtype, is_fortran, data)`, the
/// data as raw bytes, or as a list of objects for an object array.
fn array_state(fields: &[Id], nodes: &mut [Node]) -> Option<Part> {
    let [_, shape, dtype, fortran, data] = *fields else {
        return None;
    };
    let shape = shape_of(nodes, shape)?;
    let Node::Frame(Part::Dtype(dtype)) = &nodes[dtype] else {
        return None;
    };
    let dtype = dtype.clone();
    let fortran = int(&nodes[fortran]) == Some(1);
    let data = match &nodes[data] {
        Node::List(objects) => Data::Objects(objects.clone()),
        _ => Data::Raw(take_bytes(nodes, data)?),
    };
    Some(Part::Array(Array {
        dtype,
        shape,
        fortran,
        data,
    }))
}

/// One cell: a plain value, or an object for the pickle machine to convert.
pub(super) enum Cell {
    Value(Value),
    Object(Id),
}

impl Array {
    /// The number of cells (saturating: a hostile shape cannot overflow).
    fn len(&self) -> usize {
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
    fn cell(&self, i: usize) -> Option<Cell> {
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
pub(super) type NamedCell = (String, Option<Cell>);

/// The columns of a DataFrame, laid out for reading row by row.
pub(super) struct FrameRows {
    columns: Vec<Column>,
    rows: usize,
    next: usize,
    /// The byte offset of the pickle's end, where its rows are reported.
    pub(super) at: u64,
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
        Node::Refused(what) => (ErrorKind::Refused, super::refused(what).1),
        Node::Invalid(why) => (ErrorKind::InvalidValue, why.clone()),
        _ => (ErrorKind::InvalidValue, format!("a DataFrame whose layout is not one this reader reads (no {expected} where pandas writes one)")),
    }
}

impl FrameRows {
    /// Lays out a DataFrame's columns, checking every block before a row is read.
    pub(super) fn new(frame: Id, nodes: &[Node], at: u64) -> Result<Self, (ErrorKind, String)> {
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
    pub(super) fn next_row(&mut self, nodes: &[Node]) -> Option<(usize, Vec<NamedCell>)> {
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

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

use super::{Id, Node};
use serde_json::Value;

mod rows;
pub(super) use rows::{Cell, FrameRows};

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

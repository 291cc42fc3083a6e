//! The unified records from a Python pickle (protocols 0 to 5), read by a
//! small pickle machine of our own that only builds plain values.
//!
//! Nothing in a pickle is ever executed. The opcodes that would import or call
//! code (`GLOBAL`, `STACK_GLOBAL`, `REDUCE`, `BUILD`, `INST`, `OBJ`, `NEWOBJ`,
//! `NEWOBJ_EX`, `EXT*`, `PERSID`, out-of-band buffers) produce an inert
//! "refused" marker instead, so the element that contains one is rejected with
//! the name of what it tried to call, while the plain elements around it are
//! still read. The exceptions are the constructors a data pickle needs
//! (datetimes, dates, Decimals, [`allowlist`]) and those a pandas
//! DataFrame is made of ([`frame`]): they are interpreted from their
//! arguments, never imported.
//!
//! An element is the guide's `{kind, source, payload}` dict, or a plain dict
//! of order fields (what `DataFrame.to_dict("records")` gives).
//!
//! The top-level list is streamed: elements are handed out as the pickle
//! appends them (`APPENDS` batches of 1,000 in CPython), so a file written
//! without a memo (as `baedal datagen` writes) is read in constant memory. A
//! CPython-written pickle memoises every object, and since a later `GET` may
//! refer to any of them, those are kept until the end of the file.

use super::json::{order_from_object, value_error_kind};
use super::{ErrorKind, ErrorSink, Position, ReadResult, RecordError, MAX_RECORD_BYTES};
use crate::model::{Conversation, LogEvent, Record, Review};
use serde_json::{Map, Number, Value};
use std::collections::{HashMap, VecDeque};
use std::io::{self, BufRead, Read};
use std::path::Path;

mod allowlist;
mod frame;
mod opcodes;

/// The longest string or bytes object accepted: a DataFrame block's data
/// (32 M eight-byte cells). Objects are read as their bytes arrive, so a
/// corrupt or hostile length allocates no more than the file holds.
const MAX_OBJECT_BYTES: usize = 256 << 20;
/// Deepest nesting converted (also stops recursive structures).
const MAX_DEPTH: usize = 64;

type Id = usize;

#[derive(Debug)]
enum Node {
    None,
    Bool(bool),
    Int(i64),
    BigInt,
    Float(f64),
    Str(String),
    List(Vec<Id>),
    Tuple(Vec<Id>),
    Dict(Vec<(Id, Id)>),
    Set(Vec<Id>),
    /// Something that would import or call code; never acted on.
    Refused(String),
    /// An interpreted constructor ([`allowlist`]), as `module.name`.
    Global(String),
    /// A bytes object (a datetime's state, an array's data).
    Blob(Vec<u8>),
    /// A `datetime.timedelta`, in microseconds.
    Delta(i64),
    /// A `datetime.timezone`: its offset from UTC, in seconds.
    Tz(i32),
    /// An interpreted constructor called with arguments it does not take.
    Invalid(String),
    /// An interpreted numpy or pandas object ([`frame`]).
    Frame(frame::Part),
}

#[derive(Debug, Clone, Copy)]
enum Slot {
    Mark,
    /// A value and the byte offset of the opcode that created it.
    Value(Id, u64),
}

enum Fatal {
    Io(io::Error),
    Bad(ErrorKind, String),
}

impl From<io::Error> for Fatal {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            Fatal::Bad(
                ErrorKind::Truncated,
                "file ends in the middle of the pickle".into(),
            )
        } else {
            Fatal::Io(e)
        }
    }
}

fn bad<T>(kind: ErrorKind, reason: impl Into<String>) -> Result<T, Fatal> {
    Err(Fatal::Bad(kind, reason.into()))
}

/// Streaming reader of a pickled list of `{kind, source, payload}` dicts.
pub struct PickleReader<R> {
    input: R,
    offset: u64,
    errors: ErrorSink,
    nodes: Vec<Node>,
    stack: Vec<Slot>,
    memo: HashMap<u64, Id>,
    /// The top-level list whose appends are streamed out.
    top: Option<Id>,
    /// Arena length right after the top-level list was made: nodes past it
    /// can be dropped once nothing refers to them.
    watermark: usize,
    /// Elements (value id, start offset) ready to hand out.
    ready: VecDeque<(Value, u64, usize)>,
    failures: VecDeque<RecordError>,
    element_index: usize,
    done: bool,
    /// A pickled DataFrame, whose rows are handed out after its `STOP`.
    frame: Option<frame::FrameRows>,
}

impl<R: BufRead> PickleReader<R> {
    pub fn new(path: &Path, input: R) -> Self {
        PickleReader {
            input,
            offset: 0,
            errors: ErrorSink::new(path),
            nodes: Vec::new(),
            stack: Vec::new(),
            memo: HashMap::new(),
            top: None,
            watermark: 0,
            ready: VecDeque::new(),
            failures: VecDeque::new(),
            element_index: 0,
            done: false,
            frame: None,
        }
    }

    fn byte(&mut self) -> Result<u8, Fatal> {
        let mut b = [0u8; 1];
        self.input.read_exact(&mut b)?;
        self.offset += 1;
        Ok(b[0])
    }

    fn bytes(&mut self, n: usize) -> Result<Vec<u8>, Fatal> {
        if n > MAX_OBJECT_BYTES {
            return bad(
                ErrorKind::TooLong,
                format!("object of {n} bytes exceeds the {MAX_OBJECT_BYTES}-byte limit"),
            );
        }
        let mut v = Vec::with_capacity(n.min(MAX_RECORD_BYTES));
        (&mut self.input).take(n as u64).read_to_end(&mut v)?;
        if v.len() < n {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
        }
        self.offset += n as u64;
        Ok(v)
    }

    fn uint(&mut self, width: usize) -> Result<u64, Fatal> {
        let raw = self.bytes(width)?;
        let mut le = [0u8; 8];
        le[..width].copy_from_slice(&raw);
        Ok(u64::from_le_bytes(le))
    }

    fn line(&mut self) -> Result<String, Fatal> {
        String::from_utf8(self.line_bytes()?)
            .or_else(|_| bad(ErrorKind::InvalidEncoding, "text argument is not UTF-8"))
    }

    /// The bytes of an opcode's text argument, up to its newline.
    fn line_bytes(&mut self) -> Result<Vec<u8>, Fatal> {
        let mut buf = Vec::new();
        let n = std::io::Read::take(&mut self.input, MAX_RECORD_BYTES as u64)
            .read_until(b'\n', &mut buf)?;
        self.offset += n as u64;
        if buf.pop() != Some(b'\n') {
            return bad(
                ErrorKind::Truncated,
                "text argument of an opcode is not terminated",
            );
        }
        Ok(buf)
    }

    fn push(&mut self, node: Node, at: u64) {
        self.nodes.push(node);
        self.stack.push(Slot::Value(self.nodes.len() - 1, at));
    }

    fn pop(&mut self) -> Result<(Id, u64), Fatal> {
        match self.stack.pop() {
            Some(Slot::Value(id, at)) => Ok((id, at)),
            Some(Slot::Mark) => bad(ErrorKind::Syntax, "unexpected MARK on the stack"),
            None => bad(ErrorKind::Syntax, "stack underflow"),
        }
    }

    fn top_id(&self) -> Result<Id, Fatal> {
        match self.stack.last() {
            Some(Slot::Value(id, _)) => Ok(*id),
            _ => bad(ErrorKind::Syntax, "no value on the stack"),
        }
    }

    /// Pops everything above the topmost MARK (and the MARK).
    fn pop_mark(&mut self) -> Result<Vec<(Id, u64)>, Fatal> {
        let Some(mark) = self.stack.iter().rposition(|s| matches!(s, Slot::Mark)) else {
            return bad(ErrorKind::Syntax, "no MARK on the stack");
        };
        let items = self.stack.split_off(mark + 1);
        self.stack.pop();
        Ok(items
            .into_iter()
            .filter_map(|s| {
                if let Slot::Value(id, at) = s {
                    Some((id, at))
                } else {
                    None
                }
            })
            .collect())
    }

    fn refuse(&mut self, what: String, at: u64) {
        self.push(Node::Refused(what), at);
    }

    fn name_of(&self, id: Id) -> String {
        match &self.nodes[id] {
            Node::Str(s) | Node::Refused(s) | Node::Global(s) => s.clone(),
            _ => "?".into(),
        }
    }

    /// Appends to a list, streaming the top-level list's items out.
    fn append(&mut self, list: Id, items: Vec<(Id, u64)>) -> Result<(), Fatal> {
        if Some(list) == self.top {
            for (id, at) in items {
                self.emit(id, at);
            }
            self.reclaim();
            return Ok(());
        }
        match &mut self.nodes[list] {
            Node::List(v) => {
                v.extend(items.into_iter().map(|(id, _)| id));
                Ok(())
            }
            Node::Refused(_) => Ok(()),
            _ => bad(ErrorKind::Syntax, "APPEND to something that is not a list"),
        }
    }

    fn emit(&mut self, id: Id, at: u64) {
        let index = self.element_index;
        self.element_index += 1;
        match self.to_value(id, 0) {
            Ok(v) => self.ready.push_back((v, at, index)),
            Err((kind, reason)) => {
                let e = self.errors.error(
                    Position::Byte(at),
                    kind,
                    format!("element #{index}: {reason}"),
                );
                self.ready.push_back((Value::Null, at, usize::MAX));
                self.failures.push_back(e);
            }
        }
    }

    /// Drops the nodes of handed-out elements when nothing can refer to them.
    fn reclaim(&mut self) {
        let live = |id: &Id| *id >= self.watermark;
        if self.memo.values().any(live) {
            return;
        }
        if self
            .stack
            .iter()
            .any(|s| matches!(s, Slot::Value(id, _) if live(id)))
        {
            return;
        }
        self.nodes.truncate(self.watermark);
    }

    fn to_value(&self, id: Id, depth: usize) -> Result<Value, (ErrorKind, String)> {
        if depth > MAX_DEPTH {
            return Err((
                ErrorKind::InvalidValue,
                format!("nested deeper than {MAX_DEPTH} levels (or recursive)"),
            ));
        }
        Ok(match &self.nodes[id] {
            Node::None => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Int(i) => Value::Number((*i).into()),
            Node::Float(f) => Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Node::Str(s) => Value::String(s.clone()),
            Node::BigInt => {
                return Err((
                    ErrorKind::InvalidValue,
                    "integer too large for 64 bits".into(),
                ))
            }
            Node::Blob(_) => {
                return Err((
                    ErrorKind::InvalidValue,
                    "bytes value where text is expected".into(),
                ))
            }
            Node::Delta(_) | Node::Tz(_) => {
                return Err((
                    ErrorKind::InvalidValue,
                    "a time difference or zone where a value is expected".into(),
                ))
            }
            Node::Global(what) if frame::is_missing(what) => Value::Null,
            Node::Global(what) => {
                return Err((
                    ErrorKind::InvalidValue,
                    format!("the constructor {what} itself where a value is expected"),
                ))
            }
            Node::Invalid(why) => return Err((ErrorKind::InvalidValue, why.clone())),
            Node::Frame(_) => {
                return Err((
                    ErrorKind::InvalidValue,
                    "a numpy or pandas object where a value is expected".into(),
                ))
            }
            Node::List(v) | Node::Tuple(v) | Node::Set(v) => Value::Array(
                v.iter()
                    .map(|i| self.to_value(*i, depth + 1))
                    .collect::<Result<_, _>>()?,
            ),
            Node::Dict(pairs) => {
                let mut map = Map::new();
                for (k, v) in pairs {
                    let Node::Str(key) = &self.nodes[*k] else {
                        if let Node::Refused(what) = &self.nodes[*k] {
                            return Err(refused(what));
                        }
                        return Err((ErrorKind::InvalidValue, "dict key is not a string".into()));
                    };
                    map.insert(key.clone(), self.to_value(*v, depth + 1)?);
                }
                Value::Object(map)
            }
            Node::Refused(what) => return Err(refused(what)),
        })
    }

    /// Runs the machine until at least one element is ready or the pickle ends.
    fn run(&mut self) -> Result<(), Fatal> {
        while self.ready.is_empty() && !self.done {
            let at = self.offset;
            let op = self.byte()?;
            self.step(op, at)?;
        }
        Ok(())
    }

    /// The first list made at the bottom of the stack is the record list.
    fn adopt_top_list(&mut self) {
        if self.top.is_none() && self.stack.len() == 1 {
            if let Some(Slot::Value(id, _)) = self.stack.last() {
                self.top = Some(*id);
                self.watermark = self.nodes.len();
            }
        }
    }

    fn set_items(&mut self, pairs: Vec<(Id, Id)>) -> Result<(), Fatal> {
        let dict = self.top_id()?;
        match &mut self.nodes[dict] {
            Node::Dict(v) => {
                v.extend(pairs);
                Ok(())
            }
            Node::Refused(_) => Ok(()),
            _ => bad(ErrorKind::Syntax, "SETITEM on something that is not a dict"),
        }
    }

    fn memo_put(&mut self, key: u64) -> Result<(), Fatal> {
        let id = self.top_id()?;
        self.memo.insert(key, id);
        Ok(())
    }

    /// After a fatal error, hands out the complete elements of the batch being appended.
    fn salvage(&mut self) {
        let Some(top) = self.top else { return };
        let Some(list_pos) = self
            .stack
            .iter()
            .position(|s| matches!(s, Slot::Value(id, _) if *id == top))
        else {
            return;
        };
        if !matches!(self.stack.get(list_pos + 1), Some(Slot::Mark)) {
            return;
        }
        let items: Vec<(Id, u64)> = self.stack[list_pos + 2..]
            .iter()
            .map_while(|s| {
                if let Slot::Value(id, at) = s {
                    Some((*id, *at))
                } else {
                    None
                }
            })
            .collect();
        // The last item may still have been under construction; the ones below it are complete.
        let complete = items.len().saturating_sub(1);
        for (id, at) in items.into_iter().take(complete) {
            self.emit(id, at);
        }
    }

    fn record_of(&self, value: Value, at: u64, index: usize) -> ReadResult {
        let err = |kind, reason: String| {
            self.errors.error(
                Position::Byte(at),
                kind,
                format!("element #{index}: {reason}"),
            )
        };
        let Value::Object(mut map) = value else {
            return Err(err(ErrorKind::InvalidValue, "not a dict".into()));
        };
        // A plain dict of order fields (a DataFrame's `to_dict("records")`)
        // is an order; otherwise the guide's `{kind, source, payload}`.
        if !map.contains_key("kind") && !map.contains_key("payload") {
            return order_from_object(map)
                .map(Record::Order)
                .map_err(|(k, r)| err(k, r));
        }
        let kind = match map.get("kind") {
            Some(Value::String(k)) => k.clone(),
            _ => return Err(err(ErrorKind::MissingField, "no \"kind\"".into())),
        };
        let Some(payload) = map.remove("payload") else {
            return Err(err(ErrorKind::MissingField, "no \"payload\"".into()));
        };
        let serde_err = |e: serde_json::Error| {
            let class = value_error_kind(&e);
            err(class, format!("{class} payload: {e}"))
        };
        match kind.as_str() {
            "review" => serde_json::from_value::<Review>(payload)
                .map(Record::Review)
                .map_err(serde_err),
            "message" => serde_json::from_value::<Conversation>(payload)
                .map(Record::Conversation)
                .map_err(serde_err),
            "event" => serde_json::from_value::<LogEvent>(payload)
                .map(Record::LogEvent)
                .map_err(serde_err),
            "order" => {
                let Value::Object(fields) = payload else {
                    return Err(err(
                        ErrorKind::InvalidValue,
                        "order payload is not a dict".into(),
                    ));
                };
                order_from_object(fields)
                    .map(Record::Order)
                    .map_err(|(k, r)| err(k, r))
            }
            other => Err(err(
                ErrorKind::InvalidValue,
                format!("unknown kind {other:?}"),
            )),
        }
    }
}

impl<R: BufRead> PickleReader<R> {
    /// The next row of a pickled DataFrame, as the record its cells make.
    fn next_frame_row(&mut self) -> Option<ReadResult> {
        let frame = self.frame.as_mut()?;
        let at = frame.at;
        let (index, cells) = frame.next_row(&self.nodes)?;
        let mut fields = Map::new();
        for (name, cell) in cells {
            let value = match cell {
                Some(frame::Cell::Value(v)) => Ok(v),
                Some(frame::Cell::Object(id)) => self.to_value(id, 1),
                None => Err((ErrorKind::InvalidValue, "no cell in this row".into())),
            };
            match value {
                Ok(value) => {
                    fields.insert(name, value);
                }
                Err((kind, reason)) => {
                    let reason = format!("DataFrame row #{index}, column {name:?}: {reason}");
                    return Some(Err(self.errors.error(Position::Byte(at), kind, reason)));
                }
            }
        }
        Some(self.record_of(Value::Object(fields), at, index))
    }
}

fn refused(what: &str) -> (ErrorKind, String) {
    (
        ErrorKind::Refused,
        format!("would import or call {what}: refused, nothing in a pickle is executed"),
    )
}

fn pairs_of(items: Vec<(Id, u64)>) -> Result<Vec<(Id, Id)>, Fatal> {
    if items.len() % 2 != 0 {
        return bad(ErrorKind::Syntax, "odd number of items for a dict");
    }
    Ok(items.chunks(2).map(|kv| (kv[0].0, kv[1].0)).collect())
}

impl<R: BufRead> Iterator for PickleReader<R> {
    type Item = ReadResult;

    fn next(&mut self) -> Option<ReadResult> {
        loop {
            if let Some((value, at, index)) = self.ready.pop_front() {
                if index == usize::MAX {
                    if let Some(e) = self.failures.pop_front() {
                        return Some(Err(e));
                    }
                    continue;
                }
                return Some(self.record_of(value, at, index));
            }
            if let Some(e) = self.failures.pop_front() {
                return Some(Err(e));
            }
            if let Some(row) = self.next_frame_row() {
                return Some(row);
            }
            if self.done {
                return None;
            }
            if self.offset == 0 && self.input.fill_buf().map(|b| b.is_empty()).unwrap_or(false) {
                self.done = true;
                return Some(Err(self.errors.error(
                    Position::Byte(0),
                    ErrorKind::Truncated,
                    "empty file",
                )));
            }
            if let Err(fatal) = self.run() {
                let at = self.offset;
                self.done = true;
                self.salvage();
                let (kind, reason) = match fatal {
                    Fatal::Io(e) => (ErrorKind::Io, format!("read failed: {e}")),
                    Fatal::Bad(kind, reason) => (
                        kind,
                        format!("{reason}; the rest of the file cannot be read"),
                    ),
                };
                self.failures
                    .push_back(self.errors.error(Position::Byte(at), kind, reason));
            }
        }
    }
}

//! The pickle machine's opcodes: data opcodes build inert values; every
//! opcode that would import or call code builds a refusal, except the
//! constructors of [`super::allowlist`], which are interpreted.

use super::*;

impl<R: BufRead> PickleReader<R> {
    /// A class or function reference: an interpreted constructor, or a
    /// refusal naming it.
    fn global(&mut self, qualified: String, at: u64) {
        if allowlist::is_allowed(&qualified) || frame::is_allowed(&qualified) {
            self.push(Node::Global(qualified), at);
        } else {
            self.refuse(qualified, at);
        }
    }

    pub(super) fn step(&mut self, op: u8, at: u64) -> Result<(), Fatal> {
        match op {
            0x80 => {
                let proto = self.byte()?;
                if proto > 5 {
                    return bad(
                        ErrorKind::InvalidValue,
                        format!("unsupported pickle protocol {proto}"),
                    );
                }
            }
            0x95 => {
                self.uint(8)?; // FRAME: a length prefix; the data follows inline.
            }
            b'.' => {
                // STOP: a top value that was not streamed is unpacked here.
                let (id, _) = self.pop()?;
                self.done = true;
                if Some(id) != self.top {
                    match &self.nodes[id] {
                        Node::List(v) | Node::Tuple(v) => {
                            for i in v.clone() {
                                self.emit(i, at);
                            }
                        }
                        Node::Refused(what) => {
                            return Err(Fatal::Bad(ErrorKind::Refused, refused(what).1))
                        }
                        Node::Frame(_) => {
                            let rows = frame::FrameRows::new(id, &self.nodes, at)
                                .map_err(|(kind, reason)| Fatal::Bad(kind, reason))?;
                            self.frame = Some(rows);
                        }
                        _ => {
                            return bad(
                                ErrorKind::InvalidValue,
                                "the pickle holds no list of records",
                            )
                        }
                    }
                }
            }
            b'(' => self.stack.push(Slot::Mark),
            b'0' => {
                self.pop()?;
            }
            b'1' => {
                self.pop_mark()?;
            }
            b'2' => {
                let id = self.top_id()?;
                self.stack.push(Slot::Value(id, at));
            }
            b'N' => self.push(Node::None, at),
            0x88 => self.push(Node::Bool(true), at),
            0x89 => self.push(Node::Bool(false), at),
            b'I' => {
                let text = self.line()?;
                let node = match text.as_str() {
                    "01" => Node::Bool(true),
                    "00" => Node::Bool(false),
                    t => t
                        .parse()
                        .map(Node::Int)
                        .or_else(|_| bad(ErrorKind::Syntax, format!("INT {t:?}")))?,
                };
                self.push(node, at);
            }
            b'J' => {
                let v = self.uint(4)? as u32 as i32;
                self.push(Node::Int(v.into()), at);
            }
            b'K' => {
                let v = self.uint(1)?;
                self.push(Node::Int(v as i64), at);
            }
            b'M' => {
                let v = self.uint(2)?;
                self.push(Node::Int(v as i64), at);
            }
            b'L' => {
                let text = self.line()?;
                let node = text
                    .trim_end_matches('L')
                    .parse()
                    .map(Node::Int)
                    .unwrap_or(Node::BigInt);
                self.push(node, at);
            }
            0x8a | 0x8b => {
                let n = if op == 0x8a {
                    self.uint(1)?
                } else {
                    self.uint(4)?
                } as usize;
                let raw = self.bytes(n)?;
                self.push(long_from_le(&raw), at);
            }
            b'F' => {
                let text = self.line()?;
                let v = text
                    .trim()
                    .parse()
                    .or_else(|_| bad(ErrorKind::Syntax, format!("FLOAT {text:?}")))?;
                self.push(Node::Float(v), at);
            }
            b'G' => {
                let raw = self.bytes(8)?;
                let mut be = [0u8; 8];
                be.copy_from_slice(&raw);
                self.push(Node::Float(f64::from_be_bytes(be)), at);
            }
            // Text: BINUNICODE, SHORT_BINUNICODE, BINUNICODE8.
            b'X' | 0x8c | 0x8d => {
                let n = match op {
                    b'X' => self.uint(4)?,
                    0x8c => self.uint(1)?,
                    _ => self.uint(8)?,
                } as usize;
                let raw = self.bytes(n)?;
                let s = String::from_utf8(raw)
                    .or_else(|_| bad(ErrorKind::InvalidEncoding, "string is not UTF-8"))?;
                self.push(Node::Str(s), at);
            }
            // Protocol 0 text: raw-unicode-escape, where U+0080–U+00FF are
            // single Latin-1 bytes and the rest `\uXXXX` escapes.
            b'V' => {
                let latin1: String = self.line_bytes()?.into_iter().map(char::from).collect();
                self.push(Node::Str(unescape_raw_unicode(&latin1)), at);
            }
            b'S' => {
                let text = self.line()?;
                self.push(Node::Str(unquote_python_string(&text)), at);
            }
            // Python 2 byte strings: text when they are UTF-8.
            b'T' | b'U' => {
                let n = if op == b'T' {
                    self.uint(4)?
                } else {
                    self.uint(1)?
                } as usize;
                let raw = self.bytes(n)?;
                let node = String::from_utf8(raw)
                    .map(Node::Str)
                    .unwrap_or_else(|e| Node::Blob(e.into_bytes()));
                self.push(node, at);
            }
            b'B' | b'C' | 0x8e | 0x96 => {
                let n = match op {
                    b'B' => self.uint(4)?,
                    b'C' => self.uint(1)?,
                    _ => self.uint(8)?,
                } as usize;
                let data = self.bytes(n)?;
                self.push(Node::Blob(data), at);
            }
            b']' => {
                self.push(Node::List(Vec::new()), at);
                self.adopt_top_list();
            }
            b'l' => {
                let items = self.pop_mark()?;
                self.push(Node::List(items.into_iter().map(|(i, _)| i).collect()), at);
                self.adopt_top_list();
            }
            b')' => self.push(Node::Tuple(Vec::new()), at),
            b't' => {
                let items = self.pop_mark()?;
                self.push(Node::Tuple(items.into_iter().map(|(i, _)| i).collect()), at);
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.pop()?.0);
                }
                items.reverse();
                self.push(Node::Tuple(items), at);
            }
            b'}' => self.push(Node::Dict(Vec::new()), at),
            b'd' => {
                let items = self.pop_mark()?;
                let pairs = pairs_of(items)?;
                self.push(Node::Dict(pairs), at);
            }
            0x8f => self.push(Node::Set(Vec::new()), at),
            0x91 => {
                let items = self.pop_mark()?;
                self.push(Node::Set(items.into_iter().map(|(i, _)| i).collect()), at);
            }
            0x90 => {
                let items = self.pop_mark()?;
                let set = self.top_id()?;
                if let Node::Set(v) = &mut self.nodes[set] {
                    v.extend(items.into_iter().map(|(i, _)| i));
                }
            }
            b'a' => {
                let item = self.pop()?;
                let list = self.top_id()?;
                self.append(list, vec![item])?;
            }
            b'e' => {
                let items = self.pop_mark()?;
                let list = self.top_id()?;
                self.append(list, items)?;
            }
            b's' => {
                let value = self.pop()?.0;
                let key = self.pop()?.0;
                self.set_items(vec![(key, value)])?;
            }
            b'u' => {
                let items = self.pop_mark()?;
                let pairs = pairs_of(items)?;
                self.set_items(pairs)?;
            }
            b'p' => {
                let key = self
                    .line()?
                    .parse()
                    .or_else(|_| bad(ErrorKind::Syntax, "PUT key"))?;
                self.memo_put(key)?;
            }
            b'q' => {
                let key = self.uint(1)?;
                self.memo_put(key)?;
            }
            b'r' => {
                let key = self.uint(4)?;
                self.memo_put(key)?;
            }
            0x94 => {
                let key = self.memo.len() as u64;
                self.memo_put(key)?;
            }
            b'g' | b'h' | b'j' => {
                let key = match op {
                    b'g' => self
                        .line()?
                        .parse()
                        .or_else(|_| bad(ErrorKind::Syntax, "GET key"))?,
                    b'h' => self.uint(1)?,
                    _ => self.uint(4)?,
                };
                let Some(&id) = self.memo.get(&key) else {
                    return bad(
                        ErrorKind::Syntax,
                        format!("memo key {key} was never stored"),
                    );
                };
                self.stack.push(Slot::Value(id, at));
            }
            // Everything below would import or call code: inert markers only.
            b'c' => {
                let module = self.line()?;
                let name = self.line()?;
                self.global(format!("{module}.{name}"), at);
            }
            0x93 => {
                let name = self.pop()?.0;
                let module = self.pop()?.0;
                let what = format!("{}.{}", self.name_of(module), self.name_of(name));
                self.global(what, at);
            }
            b'i' => {
                let module = self.line()?;
                let name = self.line()?;
                self.pop_mark()?;
                self.refuse(format!("{module}.{name}"), at);
            }
            b'o' => {
                let items = self.pop_mark()?;
                let what = items
                    .first()
                    .map(|(id, _)| self.name_of(*id))
                    .unwrap_or_default();
                self.refuse(what, at);
            }
            b'R' => {
                let args = self.pop()?.0;
                let callable = self.pop()?.0;
                match (&self.nodes[callable], &self.nodes[args]) {
                    (Node::Global(what), Node::Tuple(items)) => {
                        let (what, items) = (what.clone(), items.clone());
                        let node = match frame::call(&what, &items, &mut self.nodes) {
                            Some(built) => built,
                            None => {
                                let values: Vec<&Node> =
                                    items.iter().map(|i| &self.nodes[*i]).collect();
                                allowlist::call(&what, &values)
                            }
                        };
                        self.push(node.unwrap_or_else(Node::Invalid), at);
                    }
                    _ => {
                        let what = format!("a call of {}", self.name_of(callable));
                        self.refuse(what, at);
                    }
                }
            }
            0x81 | 0x92 => {
                if op == 0x92 {
                    self.pop()?;
                }
                let args = self.pop()?.0;
                let class = self.pop()?.0;
                let no_args = matches!(&self.nodes[args], Node::Tuple(v) if v.is_empty());
                if let (Node::Global(class), true) = (&self.nodes[class], no_args) {
                    if let Some(instance) = frame::instance_of(class) {
                        self.push(Node::Frame(instance), at);
                        return Ok(());
                    }
                }
                let what = format!("an instance of {}", self.name_of(class));
                self.refuse(what, at);
            }
            b'b' => {
                let state = self.pop()?.0;
                let target = self.top_id()?;
                if matches!(self.nodes[target], Node::Frame(_)) {
                    self.nodes[target] =
                        frame::build(target, state, &mut self.nodes).unwrap_or_else(Node::Invalid);
                    return Ok(());
                }
                let (target, target_at) = self.pop()?;
                let what = format!("state set on {}", self.name_of(target));
                self.refuse(what, target_at);
            }
            0x82..=0x84 => {
                let code = self.uint(1 << (op - 0x82))?;
                self.refuse(format!("extension code {code}"), at);
            }
            b'P' => {
                let id = self.line()?;
                self.refuse(format!("persistent id {id:?}"), at);
            }
            b'Q' => {
                self.pop()?;
                self.refuse("a persistent id".into(), at);
            }
            0x97 => self.refuse("an out-of-band buffer".into(), at),
            0x98 => {}
            other => return bad(ErrorKind::Syntax, format!("unknown opcode 0x{other:02x}")),
        }
        Ok(())
    }
}

fn long_from_le(raw: &[u8]) -> Node {
    if raw.is_empty() {
        return Node::Int(0);
    }
    if raw.len() > 8 {
        return Node::BigInt;
    }
    let negative = raw[raw.len() - 1] & 0x80 != 0;
    let mut le = if negative { [0xffu8; 8] } else { [0u8; 8] };
    le[..raw.len()].copy_from_slice(raw);
    Node::Int(i64::from_le_bytes(le))
}

/// Python 2 `repr` of a str as written by protocol 0 (`'abc'`, with escapes).
fn unquote_python_string(text: &str) -> String {
    let inner = text.trim();
    let inner = inner
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
        .unwrap_or(inner);
    unescape_raw_unicode(inner)
}

/// Decodes `\uXXXX`, `\xNN`, `\n`, `\t`, `\\` escapes.
fn unescape_raw_unicode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(q @ ('\\' | '\'' | '"')) => out.push(q),
            Some(kind @ ('u' | 'x' | 'U')) => {
                let width = match kind {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = chars.by_ref().take(width).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) => out.push(ch),
                    None => {
                        out.push('\\');
                        out.push(kind);
                        out.push_str(&hex);
                    }
                }
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

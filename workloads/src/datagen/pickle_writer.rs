//! Writes plain values (the JSON data model) as a protocol-4 Python pickle,
//! the way `pickle.dump` lays out a list of dicts: `FRAME`d, the list filled
//! by `APPENDS` batches of 1,000, each dict by `SETITEMS`. No memo is written
//! (it is optional), so readers can stream the file in constant memory.

use serde_json::Value;
use std::io::{self, Write};

const FRAME_TARGET: usize = 64 * 1024;
const BATCH: usize = 1000;

pub struct PickleWriter<W: Write> {
    out: W,
    frame: Vec<u8>,
    in_batch: usize,
}

impl<W: Write> PickleWriter<W> {
    /// Starts the pickle: protocol 4 and the empty top-level list.
    pub fn new(mut out: W) -> io::Result<Self> {
        out.write_all(&[0x80, 4])?;
        let mut w = PickleWriter {
            out,
            frame: Vec::with_capacity(2 * FRAME_TARGET),
            in_batch: 0,
        };
        w.frame.push(b']');
        Ok(w)
    }

    /// Appends one element to the top-level list.
    pub fn push(&mut self, value: &Value) -> io::Result<()> {
        if self.in_batch == 0 {
            self.frame.push(b'(');
        }
        encode(value, &mut self.frame);
        self.in_batch += 1;
        if self.in_batch == BATCH {
            self.frame.push(b'e');
            self.in_batch = 0;
        }
        if self.frame.len() >= FRAME_TARGET {
            self.flush_frame()?;
        }
        Ok(())
    }

    fn flush_frame(&mut self) -> io::Result<()> {
        if self.frame.is_empty() {
            return Ok(());
        }
        self.out.write_all(&[0x95])?;
        self.out
            .write_all(&(self.frame.len() as u64).to_le_bytes())?;
        self.out.write_all(&self.frame)?;
        self.frame.clear();
        Ok(())
    }

    /// Closes the list and the pickle.
    pub fn finish(mut self) -> io::Result<W> {
        if self.in_batch > 0 {
            self.frame.push(b'e');
        }
        self.frame.push(b'.');
        self.flush_frame()?;
        self.out.flush()?;
        Ok(self.out)
    }
}

fn encode(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.push(b'N'),
        Value::Bool(true) => out.push(0x88),
        Value::Bool(false) => out.push(0x89),
        Value::Number(n) => match n.as_i64() {
            Some(i) => encode_int(i, out),
            None => {
                out.push(b'G');
                out.extend_from_slice(&n.as_f64().unwrap_or(0.0).to_be_bytes());
            }
        },
        Value::String(s) => {
            if s.len() < 256 {
                out.push(0x8c);
                out.push(s.len() as u8);
            } else {
                out.push(b'X');
                out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            }
            out.extend_from_slice(s.as_bytes());
        }
        Value::Array(items) => {
            out.push(b']');
            for chunk in items.chunks(BATCH) {
                out.push(b'(');
                chunk.iter().for_each(|v| encode(v, out));
                out.push(b'e');
            }
        }
        Value::Object(map) => {
            out.push(b'}');
            let pairs: Vec<_> = map.iter().collect();
            for chunk in pairs.chunks(BATCH) {
                out.push(b'(');
                for (k, v) in chunk {
                    encode(&Value::String((*k).clone()), out);
                    encode(v, out);
                }
                out.push(b'u');
            }
        }
    }
}

fn encode_int(i: i64, out: &mut Vec<u8>) {
    if (0..256).contains(&i) {
        out.push(b'K');
        out.push(i as u8);
    } else if (0..65536).contains(&i) {
        out.push(b'M');
        out.extend_from_slice(&(i as u16).to_le_bytes());
    } else if i32::try_from(i).is_ok() {
        out.push(b'J');
        out.extend_from_slice(&(i as i32).to_le_bytes());
    } else {
        // LONG1: minimal little-endian two's complement.
        let bytes = i.to_le_bytes();
        let mut n = 8;
        while n > 1 {
            let (last, prev) = (bytes[n - 1], bytes[n - 2]);
            if (last == 0 && prev & 0x80 == 0) || (last == 0xff && prev & 0x80 != 0) {
                n -= 1;
            } else {
                break;
            }
        }
        out.push(0x8a);
        out.push(n as u8);
        out.extend_from_slice(&bytes[..n]);
    }
}

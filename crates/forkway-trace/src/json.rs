//! Writing one Chrome trace event as a JSON line, by hand: the recorder formats into a reused
//! buffer and allocates nothing per event.

use std::io::Write;

/// An argument of an event (`args` in the Chrome format).
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    /// A number: a size, a count, an exit code, a task number.
    Int(i64),
    /// A word: an outcome (`"clean"`, `"owner died"`, `"timeout"`), a method name.
    Str(&'a str),
}

/// Appends `s` as a JSON string (quotes included).
pub(crate) fn push_str(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'"');
    for c in s.chars() {
        match c {
            '"' => buf.extend_from_slice(b"\\\""),
            '\\' => buf.extend_from_slice(b"\\\\"),
            '\n' => buf.extend_from_slice(b"\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(buf, "\\u{:04x}", c as u32);
            }
            c => {
                let mut tmp = [0u8; 4];
                buf.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
            }
        }
    }
    buf.push(b'"');
}

/// Microseconds with three decimals (the format's unit is the µs; we keep the ns).
fn push_us(buf: &mut Vec<u8>, ns: u64) {
    let _ = write!(buf, "{}.{:03}", ns / 1000, ns % 1000);
}

/// The fields of one event line.
pub(crate) struct Line<'a> {
    pub ph: char,
    pub cat: &'a str,
    pub name: &'a str,
    pub pid: u32,
    pub tid: u32,
    pub ts_ns: u64,
    pub dur_ns: Option<u64>,
    pub obj: u64,
    pub args: &'a [(&'a str, Arg<'a>)],
}

/// Appends `line` and a newline.
pub(crate) fn push_line(buf: &mut Vec<u8>, line: &Line<'_>) {
    let _ = write!(buf, "{{\"ph\":\"{}\",\"cat\":", line.ph);
    push_str(buf, line.cat);
    buf.extend_from_slice(b",\"name\":");
    push_str(buf, line.name);
    let _ = write!(buf, ",\"pid\":{},\"tid\":{},\"ts\":", line.pid, line.tid);
    push_us(buf, line.ts_ns);
    if let Some(dur) = line.dur_ns {
        buf.extend_from_slice(b",\"dur\":");
        push_us(buf, dur);
    }
    if line.ph == 'i' {
        // Instant events are drawn on their thread's track.
        buf.extend_from_slice(b",\"s\":\"t\"");
    }
    buf.extend_from_slice(b",\"args\":{");
    let mut first = true;
    if line.obj != 0 {
        let _ = write!(buf, "\"obj\":\"{:#x}\"", line.obj);
        first = false;
    }
    for (key, value) in line.args {
        if !first {
            buf.push(b',');
        }
        first = false;
        push_str(buf, key);
        buf.push(b':');
        match value {
            Arg::Int(n) => {
                let _ = write!(buf, "{n}");
            }
            Arg::Str(s) => push_str(buf, s),
        }
    }
    buf.extend_from_slice(b"}}\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_valid_json_with_the_format_fields() {
        let mut buf = Vec::new();
        push_line(
            &mut buf,
            &Line {
                ph: 'X',
                cat: "lock",
                name: "acquire \"q\"",
                pid: 7,
                tid: 8,
                ts_ns: 1_234_567,
                dur_ns: Some(42),
                obj: 0xabc,
                args: &[("outcome", Arg::Str("clean")), ("n", Arg::Int(-3))],
            },
        );
        let text = String::from_utf8(buf).expect("utf-8");
        assert!(text.ends_with('\n'));
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v["ts"], 1234.567);
        assert_eq!(v["dur"], 0.042);
        assert_eq!(v["name"], "acquire \"q\"");
        assert_eq!(v["args"]["obj"], "0xabc");
        assert_eq!(v["args"]["n"], -3);
    }
}

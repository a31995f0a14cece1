//! An SVG swimlane of a trace: one lane per process, time left to right.
//!
//! - a thin grey line is the process's life, from its `start` to its `exit`;
//! - orange spans are waits (for a lock, a message, a child, a barrier…), blue spans are locks
//!   held, green spans are queue puts and gets, purple spans are pool tasks, teal spans are
//!   manager calls;
//! - arrows go from a `put` to the `get` that took that message;
//! - marks: `exit` (a dot, red with the signal's name when killed), `kill`/`terminate` (a red
//!   triangle on the sender's lane), `owner died` (a red ring on the lane that recovered).
//!
//! The output depends only on the events, never on the clock or the machine, so it can be
//! snapshot-tested; every span has a `<title>` that a browser shows as a tooltip.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::merge::Event;

const LABEL_W: f64 = 170.0;
const PLOT_W: f64 = 760.0;
const LANE_H: f64 = 30.0;
const TOP: f64 = 36.0;

/// The signal names of the common exit codes `-N`.
fn signal_name(code: i64) -> String {
    match -code {
        1 => "SIGHUP".into(),
        2 => "SIGINT".into(),
        6 => "SIGABRT".into(),
        9 => "SIGKILL".into(),
        11 => "SIGSEGV".into(),
        15 => "SIGTERM".into(),
        n => format!("signal {n}"),
    }
}

fn colour(e: &Event) -> &'static str {
    match (e.cat.as_str(), e.name.as_str()) {
        (_, "lock held") => "#3a78c2",
        ("queue", "put" | "get") => "#3aa655",
        // A get that found nothing in time: it only waited.
        ("queue", "get (empty)") => "#f0a030",
        ("pool", _) => "#8e5cc2",
        ("manager", _) => "#2a9d8f",
        (_, n) if n.contains("wait") || n.contains("acquire") || n.contains("join") => "#f0a030",
        _ => "#9a9a9a",
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A duration for people: `850 µs`, `12.5 ms`, `1.20 s`.
fn human(us: f64) -> String {
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else if us < 1_000_000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else {
        format!("{:.2} s", us / 1_000_000.0)
    }
}

/// A tick step of 1, 2 or 5 × 10^k µs giving about 8 ticks over `span` µs.
fn tick_step(span: f64) -> f64 {
    let raw = (span / 8.0).max(1.0);
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag)
}

/// Locks acquired and never released: (pid, obj, when acquired). The last successful
/// acquires of a lock in a process that have no `lock held` span to close them.
fn open_holds(timed: &[&Event]) -> Vec<(u32, String, f64)> {
    let mut acquired: BTreeMap<(u32, String), Vec<f64>> = BTreeMap::new();
    let mut released: BTreeMap<(u32, String), usize> = BTreeMap::new();
    for e in timed.iter().filter(|e| e.ph == "X" && e.cat == "lock") {
        let Some(obj) = e.obj() else { continue };
        let key = (e.pid, obj.to_owned());
        match e.name.as_str() {
            "lock acquire" => {
                let outcome = e.args.get("outcome").and_then(|v| v.as_str());
                if matches!(outcome, Some("acquired" | "owner died")) {
                    acquired.entry(key).or_default().push(e.end());
                }
            }
            "lock held" => *released.entry(key).or_default() += 1,
            _ => {}
        }
    }
    let mut open = Vec::new();
    for ((pid, obj), mut times) in acquired {
        let closed = released.get(&(pid, obj.clone())).copied().unwrap_or(0);
        times.sort_by(f64::total_cmp);
        open.extend(times.into_iter().skip(closed).map(|t| (pid, obj.clone(), t)));
    }
    open
}

/// Draws `events` (a merged trace, in any order) with `title` on top.
pub fn render(events: &[Event], title: &str) -> String {
    let timed: Vec<&Event> = events.iter().filter(|e| e.ph != "M").collect();
    let mut names: BTreeMap<u32, String> = BTreeMap::new();
    for e in events.iter().filter(|e| e.ph == "M" && e.name == "process_name") {
        if let Some(n) = e.args.get("name").and_then(|v| v.as_str()) {
            names.insert(e.pid, n.to_owned());
        }
    }
    // Lanes: processes that have no `start` (the root) first, then in order of start (or of
    // first appearance), then by pid.
    let mut first: BTreeMap<u32, f64> = BTreeMap::new();
    for e in &timed {
        let f = first.entry(e.pid).or_insert(e.ts);
        *f = f.min(e.ts);
    }
    for pid in names.keys() {
        first.entry(*pid).or_insert(f64::MAX);
    }
    let started: BTreeMap<u32, f64> = timed
        .iter()
        .filter(|e| e.cat == "process" && e.name == "start")
        .map(|e| (e.pid, e.ts))
        .collect();
    let key = |pid: &u32| {
        (
            started.contains_key(pid),
            started.get(pid).copied().unwrap_or(first[pid]),
        )
    };
    let mut lanes: Vec<u32> = first.keys().copied().collect();
    lanes.sort_by(|a, b| {
        let (ka, kb) = (key(a), key(b));
        ka.0.cmp(&kb.0).then(ka.1.total_cmp(&kb.1)).then(a.cmp(b))
    });
    let lane_of: BTreeMap<u32, usize> = lanes.iter().enumerate().map(|(i, p)| (*p, i)).collect();

    let t0 = timed.iter().map(|e| e.ts).fold(f64::MAX, f64::min);
    let t1 = timed.iter().map(|e| e.end()).fold(f64::MIN, f64::max);
    let (t0, span) = if timed.is_empty() {
        (0.0, 1.0)
    } else {
        (t0, (t1 - t0).max(1.0))
    };
    let x = |t: f64| LABEL_W + (t - t0) / span * PLOT_W;
    let y = |pid: u32| TOP + lane_of.get(&pid).copied().unwrap_or(0) as f64 * LANE_H + LANE_H / 2.0;
    let height = TOP + lanes.len() as f64 * LANE_H + 70.0;
    // Room on the right for the last process's "killed (SIGTERM)".
    let width = LABEL_W + PLOT_W + 110.0;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="11">"#
    );
    s.push_str(
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"6\" markerHeight=\"6\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#2d6a3e\"/></marker></defs>\n",
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    let _ = writeln!(
        s,
        r#"<text x="10" y="20" font-size="13" font-weight="bold">{}</text>"#,
        escape(title)
    );

    // Lanes: stripes and labels.
    for (i, pid) in lanes.iter().enumerate() {
        let top = TOP + i as f64 * LANE_H;
        let fill = if i % 2 == 0 { "#f4f4f4" } else { "#ffffff" };
        let _ = writeln!(
            s,
            r#"<rect x="0" y="{top:.1}" width="{width:.0}" height="{LANE_H:.0}" fill="{fill}"/>"#
        );
        let label = names.get(pid).cloned().unwrap_or_else(|| format!("pid {pid}"));
        let _ = writeln!(
            s,
            r##"<text x="8" y="{:.1}">{} <tspan fill="#777777">{pid}</tspan></text>"##,
            top + LANE_H / 2.0 + 4.0,
            escape(&label)
        );
    }

    // Lifelines: from `start` (or the first event) to `exit` (or the last event).
    for pid in &lanes {
        let mine: Vec<&&Event> = timed.iter().filter(|e| e.pid == *pid).collect();
        if mine.is_empty() {
            continue;
        }
        let from = mine
            .iter()
            .find(|e| e.name == "start" && e.cat == "process")
            .map_or_else(|| mine.iter().map(|e| e.ts).fold(f64::MAX, f64::min), |e| e.ts);
        let to = mine
            .iter()
            .find(|e| e.name == "exit" && e.cat == "process")
            .or_else(|| mine.iter().find(|e| e.name == "reaped" && e.cat == "process"))
            .map_or_else(|| mine.iter().map(|e| e.end()).fold(f64::MIN, f64::max), |e| e.ts);
        let yy = y(*pid);
        let _ = writeln!(
            s,
            r##"<line x1="{:.1}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#b0b0b0" stroke-width="2"/>"##,
            x(from),
            x(to)
        );
    }

    // Spans, longest first so that short ones stay visible on top.
    let mut spans: Vec<&&Event> = timed.iter().filter(|e| e.ph == "X").collect();
    spans.sort_by(|a, b| {
        b.dur
            .unwrap_or(0.0)
            .total_cmp(&a.dur.unwrap_or(0.0))
            .then(a.ts.total_cmp(&b.ts))
            .then(a.pid.cmp(&b.pid))
    });
    for e in spans {
        let dur = e.dur.unwrap_or(0.0);
        let (x0, w) = (x(e.ts), (dur / span * PLOT_W).max(1.0));
        let h = if e.name == "lock held" { 16.0 } else { 12.0 };
        let mut tip = format!("{} ({}): {}", e.name, e.cat, human(dur));
        for (k, v) in &e.args {
            let _ = write!(
                tip,
                ", {k}={}",
                v.as_str().map_or_else(|| v.to_string(), str::to_owned)
            );
        }
        let _ = writeln!(
            s,
            r#"<rect x="{x0:.1}" y="{:.1}" width="{w:.1}" height="{h:.0}" fill="{}" fill-opacity="0.9"><title>{}</title></rect>"#,
            y(e.pid) - h / 2.0,
            colour(e),
            escape(&tip)
        );
        // A get that waited for its message: the wait, in the waiting colour.
        if let Some(wait) = e
            .args
            .get("wait_us")
            .and_then(|v| v.as_f64())
            .filter(|w| *w > 0.0)
        {
            let ww = (wait.min(dur) / span * PLOT_W).max(1.0);
            let _ = writeln!(
                s,
                r##"<rect x="{x0:.1}" y="{:.1}" width="{ww:.1}" height="{h:.0}" fill="#f0a030" fill-opacity="0.9"><title>{}</title></rect>"##,
                y(e.pid) - h / 2.0,
                escape(&format!("waited for a message: {}", human(wait)))
            );
        }
    }

    // Locks still held when their process ended (killed holding them): from the acquire to
    // the end of the lane, striped.
    for (pid, obj, from) in open_holds(&timed) {
        let to = timed
            .iter()
            .filter(|e| e.pid == pid)
            .map(|e| {
                if e.cat == "process" && (e.name == "exit" || e.name == "reaped") {
                    e.ts
                } else {
                    e.end()
                }
            })
            .fold(from, f64::max);
        let _ = writeln!(
            s,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="16" fill="#3a78c2" fill-opacity="0.45" stroke="#3a78c2" stroke-dasharray="3,2"><title>{}</title></rect>"##,
            x(from),
            y(pid) - 8.0,
            ((to - from) / span * PLOT_W).max(1.0),
            escape(&format!("lock {obj} still held when the process ended"))
        );
    }

    // Marks. A child's own `exit` is its end; the parent's `reaped` stands in for it when a
    // signal killed the child before it could say anything.
    let exited: std::collections::BTreeSet<u32> = timed
        .iter()
        .filter(|e| e.ph == "i" && e.cat == "process" && e.name == "exit")
        .map(|e| e.pid)
        .collect();
    for e in timed.iter().filter(|e| e.ph == "i") {
        let (xx, yy) = (x(e.ts), y(e.pid));
        match (e.cat.as_str(), e.name.as_str()) {
            ("process", "reaped") if exited.contains(&e.pid) => {}
            ("process", "exit" | "reaped") => {
                let code = e.args.get("code").and_then(|v| v.as_i64()).unwrap_or(0);
                let (fill, text) = if code < 0 {
                    ("#c0392b", format!("killed ({})", signal_name(code)))
                } else {
                    (
                        if code == 0 { "#333333" } else { "#c0392b" },
                        format!("exit {code}"),
                    )
                };
                let _ = writeln!(
                    s,
                    r#"<circle cx="{xx:.1}" cy="{yy:.1}" r="3.5" fill="{fill}"><title>{}</title></circle>"#,
                    escape(&text)
                );
                if code != 0 {
                    let _ = writeln!(
                        s,
                        r#"<text x="{:.1}" y="{:.1}" font-size="9" fill="{fill}">{}</text>"#,
                        xx + 5.0,
                        yy - 6.0,
                        escape(&text)
                    );
                }
            }
            ("process", "kill" | "terminate") => {
                let _ = writeln!(
                    s,
                    r##"<path d="M{:.1},{:.1} l5,9 l-10,0 z" fill="#c0392b"><title>{} pid {}</title></path>"##,
                    xx,
                    yy - 5.0,
                    e.name,
                    e.args.get("target").map_or_else(String::new, |v| v.to_string())
                );
            }
            (_, "owner died") => {
                let _ = writeln!(
                    s,
                    r##"<circle cx="{xx:.1}" cy="{yy:.1}" r="6" fill="none" stroke="#c0392b" stroke-width="2"><title>owner died: the previous holder was killed</title></circle>"##
                );
                let _ = writeln!(
                    s,
                    r##"<text x="{:.1}" y="{:.1}" font-size="9" fill="#c0392b">owner died</text>"##,
                    xx + 7.0,
                    yy - 7.0
                );
            }
            ("process", "start") => {
                let _ = writeln!(
                    s,
                    r##"<line x1="{xx:.1}" y1="{:.1}" x2="{xx:.1}" y2="{:.1}" stroke="#555555" stroke-width="1.5"/>"##,
                    yy - 6.0,
                    yy + 6.0
                );
            }
            _ => {
                let _ = writeln!(
                    s,
                    r##"<circle cx="{xx:.1}" cy="{yy:.1}" r="2" fill="#555555"><title>{}</title></circle>"##,
                    escape(&e.name)
                );
            }
        }
    }

    // Message arrows.
    let mut starts: BTreeMap<u64, &Event> = BTreeMap::new();
    for e in timed.iter().filter(|e| e.ph == "s") {
        if let Some(id) = e.id {
            starts.insert(id, e);
        }
    }
    for f in timed.iter().filter(|e| e.ph == "f") {
        let Some(from) = f.id.and_then(|id| starts.get(&id)) else {
            continue;
        };
        let (y0, y1) = (y(from.pid), y(f.pid));
        let dy = if y1 >= y0 { 6.0 } else { -6.0 };
        let _ = writeln!(
            s,
            r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#2d6a3e" stroke-width="1" marker-end="url(#arrow)"/>"##,
            x(from.ts),
            y0 + dy,
            x(f.ts),
            y1 - dy
        );
    }

    // Time axis.
    let axis_y = TOP + lanes.len() as f64 * LANE_H + 8.0;
    let _ = writeln!(
        s,
        r##"<line x1="{LABEL_W:.1}" y1="{axis_y:.1}" x2="{:.1}" y2="{axis_y:.1}" stroke="#333333"/>"##,
        LABEL_W + PLOT_W
    );
    let step = tick_step(span);
    let mut t = 0.0;
    while t <= span + step * 1e-9 {
        let xx = LABEL_W + t / span * PLOT_W;
        let _ = writeln!(
            s,
            r##"<line x1="{xx:.1}" y1="{axis_y:.1}" x2="{xx:.1}" y2="{:.1}" stroke="#333333"/><text x="{xx:.1}" y="{:.1}" text-anchor="middle" font-size="9">{}</text>"##,
            axis_y + 4.0,
            axis_y + 14.0,
            human(t)
        );
        t += step;
    }

    // Legend.
    let ly = axis_y + 36.0;
    let mut lx = LABEL_W;
    for (fill, text) in [
        ("#f0a030", "waiting"),
        ("#3a78c2", "lock held"),
        ("#3aa655", "put / get"),
        ("#8e5cc2", "pool task"),
        ("#2a9d8f", "manager call"),
    ] {
        let _ = writeln!(
            s,
            r#"<rect x="{lx:.1}" y="{:.1}" width="12" height="10" fill="{fill}"/><text x="{:.1}" y="{ly:.1}">{text}</text>"#,
            ly - 9.0,
            lx + 16.0
        );
        lx += 110.0;
    }
    let _ = writeln!(
        s,
        r##"<line x1="{lx:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#2d6a3e" marker-end="url(#arrow)"/><text x="{:.1}" y="{ly:.1}">message</text>"##,
        ly - 4.0,
        lx + 20.0,
        ly - 4.0,
        lx + 26.0
    );
    s.push_str("</svg>\n");
    s
}

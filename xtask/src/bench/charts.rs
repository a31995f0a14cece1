//! The SVG charts of `cargo xtask bench`: the ratios, the pool against one process per task,
//! and the curves, drawn by hand (no plotting crate for three charts).

use serde_json::Value;

/// Grouped bars, log scale: for N = 10, 100, 1000 tiny tasks, the time of a fresh pool against
/// one process per task, forkway and CPython. `None` until the pool bench has run.
pub(super) fn pool_vs_spawn_chart(json: &Value) -> Option<String> {
    const SIZES: [&str; 3] = ["10", "100", "1000"];
    const SERIES: [(&str, &str, &str); 4] = [
        ("forkway_pool", "forkway, Pool(2)", "#3a7d44"),
        ("forkway_spawn", "forkway, a process per task", "#9cc5a1"),
        ("cpython_pool", "CPython, Pool(2)", "#6b7fa8"),
        ("cpython_spawn", "CPython, a process per task", "#b8c4dc"),
    ];
    let median = |n: &str, c: &str| {
        json["medians"].as_array()?.iter().find_map(|m| {
            (m["workload"].as_str()? == format!("pool_vs_spawn_{n}") && m["contender"].as_str()? == c)
                .then(|| m["median_ns"].as_f64())
                .flatten()
        })
    };
    median("1000", "forkway_pool")?;
    let (left, top, plot_h, group_w, bar_w) = (70.0, 40.0, 260.0, 190.0, 36.0);
    let (lo, hi) = (5.0f64, 10.0f64); // 10^5 ns = 0.1 ms … 10^10 ns = 10 s
    let y = |ns: f64| top + plot_h * (1.0 - (ns.max(1e5).log10() - lo) / (hi - lo));
    let width = left + group_w * SIZES.len() as f64 + 20.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"20\" font-weight=\"bold\">N tiny tasks: a pool of 2 against a process per task (time, log scale)</text>\n",
        top + plot_h + 90.0
    );
    for (exp, label) in [
        (5, "0.1 ms"),
        (6, "1 ms"),
        (7, "10 ms"),
        (8, "100 ms"),
        (9, "1 s"),
        (10, "10 s"),
    ] {
        let ty = y(10f64.powi(exp));
        svg += &format!(
            "<line x1=\"{left}\" y1=\"{ty}\" x2=\"{}\" y2=\"{ty}\" stroke=\"#ddd\"/>\n\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{label}</text>\n",
            width - 20.0,
            left - 6.0,
            ty + 4.0
        );
    }
    for (g, n) in SIZES.iter().enumerate() {
        let gx = left + 10.0 + g as f64 * group_w;
        for (i, (contender, _, colour)) in SERIES.iter().enumerate() {
            let Some(ns) = median(n, contender) else { continue };
            let bx = gx + i as f64 * (bar_w + 4.0);
            let by = y(ns);
            svg += &format!(
                "<rect x=\"{bx}\" y=\"{by:.1}\" width=\"{bar_w}\" height=\"{:.1}\" fill=\"{colour}\"/>\n",
                top + plot_h - by
            );
        }
        svg += &format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">N = {n}</text>\n",
            gx + 2.0 * (bar_w + 4.0) - 2.0,
            top + plot_h + 16.0
        );
    }
    for (i, (_, label, colour)) in SERIES.iter().enumerate() {
        let ly = top + plot_h + 34.0 + (i / 2) as f64 * 18.0;
        let lx = left + (i % 2) as f64 * 260.0;
        svg += &format!(
            "<rect x=\"{lx}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{colour}\"/>\n\
             <text x=\"{}\" y=\"{}\">{label}</text>\n",
            ly - 10.0,
            lx + 18.0,
            ly
        );
    }
    Some(svg + "</svg>\n")
}

/// A horizontal bar chart of every measured ratio (log scale), target ratios marked.
pub(super) fn chart(ratios: &[Value]) -> String {
    let measured: Vec<(&str, f64, &str, Option<bool>)> = ratios
        .iter()
        .filter_map(|r| {
            Some((
                r["ratio"].as_str()?,
                r["value"].as_f64()?,
                r["target"].as_str().unwrap_or(""),
                r["met"].as_bool(),
            ))
        })
        .collect();
    let (left, width, bar_h, gap) = (420.0, 360.0, 18.0, 8.0);
    let height = 40.0 + measured.len() as f64 * (bar_h + gap);
    let max = measured.iter().map(|m| m.1).fold(1.0f64, f64::max).max(2.0);
    let x = |v: f64| left + width * (v.max(0.1).log10() + 1.0) / (max.log10() + 1.0);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"20\" font-weight=\"bold\">forkway ratios (log scale; 1× is the line)</text>\n",
        left + width + 90.0
    );
    let one = x(1.0);
    svg += &format!("<line x1=\"{one}\" y1=\"28\" x2=\"{one}\" y2=\"{height}\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>\n");
    for (i, (label, value, target, met)) in measured.iter().enumerate() {
        let y = 32.0 + i as f64 * (bar_h + gap);
        let colour = match met {
            Some(true) => "#3a7d44",
            Some(false) => "#b33a3a",
            None => "#6b7fa8",
        };
        let label = label.replace('&', "&amp;").replace('<', "&lt;");
        let target = target.replace('<', "&lt;").replace('>', "&gt;");
        svg += &format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{label}</text>\n\
             <rect x=\"{left}\" y=\"{y}\" width=\"{:.1}\" height=\"{bar_h}\" fill=\"{colour}\"/>\n\
             <text x=\"{:.1}\" y=\"{}\">{value:.2}× {target}</text>\n",
            left - 6.0,
            y + 13.0,
            (x(*value) - left).max(1.0),
            x(*value) + 4.0,
            y + 13.0
        );
    }
    svg + "</svg>\n"
}

/// A log-log line chart of one curve: every series a coloured line with its points.
pub(super) fn curve_chart(curve: &Value) -> Option<String> {
    // The same colour for the same kind of series in every chart: forkway green, CPython blue,
    // the floors grey, threads orange, a Rust peer purple.
    let colour_of = |name: &str, i: usize| {
        const OTHERS: [&str; 3] = ["#b33a3a", "#7a4ea3", "#2e8a8a"];
        let n = name.to_ascii_lowercase();
        if n.starts_with("forkway") {
            "#3a7d44"
        } else if n.starts_with("cpython") {
            "#6b7fa8"
        } else if n.contains("floor") {
            "#8a8a8a"
        } else if n.contains("thread") || n.contains("rayon") || n.contains("crossbeam") {
            "#c77c2e"
        } else if n.contains("iceoryx") || n.contains("peer") {
            "#7a4ea3"
        } else {
            OTHERS[i % OTHERS.len()]
        }
    };
    let series = curve["series"].as_object()?;
    let points: Vec<(&str, Vec<(f64, f64)>)> = series
        .iter()
        .map(|(name, pts)| {
            let pts = pts
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| Some((p[0].as_f64()?, p[1].as_f64()?)))
                .filter(|(x, y)| *x > 0.0 && *y >= 0.0 && y.is_finite())
                .collect();
            (name.as_str(), pts)
        })
        .collect();
    // A measured zero (no growth at all) has no place on a log axis: it is drawn on the axis
    // itself, one decade below the smallest value, and that tick reads "0".
    let positive: Vec<(f64, f64)> = points
        .iter()
        .flat_map(|(_, p)| p.iter().copied())
        .filter(|p| p.1 > 0.0)
        .collect();
    let zeros = points.iter().any(|(_, p)| p.iter().any(|q| q.1 == 0.0));
    if positive.len() < 2 {
        return None;
    }
    let lowest = positive.iter().map(|p| p.1).fold(f64::MAX, f64::min);
    let zero_at = 10f64.powf(lowest.log10().floor() - 1.0);
    let points: Vec<(&str, Vec<(f64, f64)>)> = points
        .into_iter()
        .map(|(name, pts)| {
            let pts = pts
                .into_iter()
                .map(|(x, y)| (x, if y == 0.0 { zero_at } else { y }))
                .collect();
            (name, pts)
        })
        .collect();
    let all: Vec<(f64, f64)> = points.iter().flat_map(|(_, p)| p.iter().copied()).collect();
    let decades = |lo: f64, hi: f64| {
        let lo = lo.log10().floor();
        let hi = hi.log10().ceil().max(lo + 1.0);
        (lo, hi)
    };
    let (x_lo, x_hi) = decades(
        all.iter().map(|p| p.0).fold(f64::MAX, f64::min),
        all.iter().map(|p| p.0).fold(0.0, f64::max),
    );
    let (y_lo, y_hi) = decades(
        all.iter().map(|p| p.1).fold(f64::MAX, f64::min),
        all.iter().map(|p| p.1).fold(0.0, f64::max),
    );
    let (left, top, w, h) = (80.0, 40.0, 520.0, 300.0);
    let x = |v: f64| left + w * (v.log10() - x_lo) / (x_hi - x_lo);
    let y = |v: f64| top + h * (1.0 - (v.log10() - y_lo) / (y_hi - y_lo));
    let esc = |t: &str| t.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let legend_h = 18.0 * points.len() as f64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"20\" font-weight=\"bold\">{}</text>\n",
        left + w + 30.0,
        top + h + 60.0 + legend_h,
        esc(curve["title"].as_str().unwrap_or(""))
    );
    let label = |e: f64| {
        let v = 10f64.powf(e);
        match e as i32 {
            e if e >= 9 => format!("1e{e}"),
            _ if v >= 1e6 => format!("{}M", v / 1e6),
            _ if v >= 1e3 => format!("{}k", v / 1e3),
            _ if v >= 1.0 => format!("{v}"),
            _ => format!("{v}"),
        }
    };
    let mut e = x_lo;
    while e <= x_hi {
        let px = x(10f64.powf(e));
        svg += &format!(
            "<line x1=\"{px:.1}\" y1=\"{top}\" x2=\"{px:.1}\" y2=\"{}\" stroke=\"#eee\"/>\n\
             <text x=\"{px:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
            top + h,
            top + h + 16.0,
            label(e)
        );
        e += 1.0;
    }
    if x_hi - x_lo <= 1.0 {
        // One decade (k = 1, 2, 4): a tick at each measured x as well.
        let mut xs: Vec<f64> = all.iter().map(|p| p.0).collect();
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        for v in xs.into_iter().filter(|v| v.log10().fract() != 0.0) {
            let px = x(v);
            svg += &format!(
                "<line x1=\"{px:.1}\" y1=\"{top}\" x2=\"{px:.1}\" y2=\"{}\" stroke=\"#f3f3f3\"/>\n\
                 <text x=\"{px:.1}\" y=\"{}\" text-anchor=\"middle\">{v}</text>\n",
                top + h,
                top + h + 16.0
            );
        }
    }
    let mut e = y_lo;
    while e <= y_hi {
        let py = y(10f64.powf(e));
        let text = if zeros && e == y_lo {
            "0".to_owned()
        } else {
            label(e)
        };
        svg += &format!(
            "<line x1=\"{left}\" y1=\"{py:.1}\" x2=\"{}\" y2=\"{py:.1}\" stroke=\"#eee\"/>\n\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
            left + w,
            left - 6.0,
            py + 4.0,
            text
        );
        e += 1.0;
    }
    svg += &format!(
        "<rect x=\"{left}\" y=\"{top}\" width=\"{w}\" height=\"{h}\" fill=\"none\" stroke=\"#999\"/>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{} (log)</text>\n\
         <text x=\"14\" y=\"{}\" transform=\"rotate(-90 14 {})\" text-anchor=\"middle\">{} (log)</text>\n",
        left + w / 2.0,
        top + h + 34.0,
        esc(curve["x"].as_str().unwrap_or("")),
        top + h / 2.0,
        top + h / 2.0,
        esc(curve["y"].as_str().unwrap_or(""))
    );
    for (i, (name, pts)) in points.iter().enumerate() {
        let colour = colour_of(name, i);
        // Two series of one kind (forkway's imap and map): the second one dashed.
        let dash = if points[..i]
            .iter()
            .enumerate()
            .any(|(j, (n, _))| colour_of(n, j) == colour)
        {
            " stroke-dasharray=\"6 4\""
        } else {
            ""
        };
        let path: Vec<String> = pts
            .iter()
            .map(|&(px, py)| format!("{:.1},{:.1}", x(px), y(py)))
            .collect();
        svg += &format!(
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"{dash}/>\n",
            path.join(" ")
        );
        for &(px, py) in pts {
            svg += &format!(
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{colour}\"/>\n",
                x(px),
                y(py)
            );
        }
        let ly = top + h + 56.0 + 18.0 * i as f64;
        svg += &format!(
            "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{colour}\" stroke-width=\"3\"{dash}/>\n\
             <text x=\"{}\" y=\"{ly}\">{}</text>\n",
            ly - 4.0,
            left + 24.0,
            ly - 4.0,
            left + 30.0,
            esc(name)
        );
    }
    Some(svg + "</svg>\n")
}

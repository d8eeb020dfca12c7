//! Tickets per bucket by category (stacked bars, left axis) with the p50
//! time to first handler reply (points joined by a line, right axis), as
//! SVG. Every bucket of the period gets its slot, empty ones too, so the
//! width of the chart is the period and not the days that had tickets.
//! Written by hand: SVG text needs no font metrics when the viewer lays
//! it out, so there is no font or system library to depend on. Pure:
//! figures in, text out.

use super::trends::BucketFigures;
use std::fmt::Write;

const PALETTE: [&str; 11] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac", "#86bcb6",
];
const REPLY: &str = "#222222";
const W: f64 = 960.0;
const H: f64 = 440.0;
const LEFT: f64 = 50.0;
const RIGHT: f64 = 260.0;
const TOP: f64 = 36.0;
const BOTTOM: f64 = 70.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Hours, with a scale that reads well: 1, 2, 5 × 10^n.
fn nice_hours(max_secs: i64) -> f64 {
    let h = (max_secs as f64 / 3600.0).max(1.0);
    let mut step = 1.0;
    loop {
        for m in [1.0, 2.0, 5.0] {
            if step * m >= h {
                return step * m;
            }
        }
        step *= 10.0;
    }
}

fn hours_label(h: f64) -> String {
    if h >= 48.0 {
        format!("{:.0} d", h / 24.0)
    } else {
        format!("{h:.0} h")
    }
}

/// `series`: one entry per bucket of the period, in order.
pub fn svg(series: &[BucketFigures], title: &str) -> String {
    let mut cats: Vec<&str> = series
        .iter()
        .flat_map(|b| b.by_category.keys().map(String::as_str))
        .collect();
    cats.sort_unstable();
    cats.dedup();
    let max = series.iter().map(|b| b.tickets).max().unwrap_or(0).max(1);
    let max_reply = series
        .iter()
        .filter_map(|b| b.first_reply_p50_secs)
        .max()
        .unwrap_or(0);
    let reply_top = nice_hours(max_reply);
    let slots = series.len().max(1);
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let bar = plot_w / slots as f64;
    let base = TOP + plot_h;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="20" font-size="14">{}</text>"#,
        esc(title)
    );
    let right = LEFT + plot_w;
    for tick in 0..=4 {
        let f = f64::from(tick) / 4.0;
        let y = base - plot_h * f;
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{right:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{:.0}</text><text x="{:.1}" y="{:.1}" fill="{REPLY}">{}</text>"##,
            LEFT - 4.0,
            y + 4.0,
            max as f64 * f,
            right + 4.0,
            y + 4.0,
            hours_label(reply_top * f)
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="end">tickets</text>"#,
        LEFT - 4.0,
        TOP - 8.0
    );
    let label_every = slots.div_ceil(20).max(1);
    let mut points = Vec::new();
    for (i, b) in series.iter().enumerate() {
        let x = LEFT + bar * i as f64;
        let _ = writeln!(
            s,
            r#"<g class="bucket" data-start="{}" data-tickets="{}"><title>{}: {} tickets, p50 first reply {}</title>"#,
            esc(&b.start),
            b.tickets,
            esc(&b.label),
            b.tickets,
            b.first_reply_p50_secs.map_or_else(
                || "none yet".to_string(),
                |v| format!("{:.1} h", v as f64 / 3600.0)
            ),
        );
        let mut y = base;
        for (ci, cat) in cats.iter().enumerate() {
            let n = b.by_category.get(*cat).copied().unwrap_or(0);
            if n == 0 {
                continue;
            }
            let h = plot_h * n as f64 / max as f64;
            y -= h;
            let _ = writeln!(
                s,
                r#"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{h:.1}" fill="{}"><title>{} {}: {n}</title></rect>"#,
                x + bar * 0.1,
                (bar * 0.8).max(1.0),
                PALETTE[ci % PALETTE.len()],
                esc(&b.label),
                esc(cat)
            );
        }
        s.push_str("</g>\n");
        points.push(b.first_reply_p50_secs.map(|v| {
            let y = base - plot_h * (v as f64 / 3600.0 / reply_top).min(1.0);
            (x + bar / 2.0, y, v)
        }));
        if i % label_every == 0 {
            let lx = x + bar / 2.0;
            let ly = base + 12.0;
            let _ = writeln!(
                s,
                r#"<text x="{lx:.1}" y="{ly:.1}" transform="rotate(45 {lx:.1} {ly:.1})">{}</text>"#,
                esc(&b.label)
            );
        }
    }
    // The line breaks where a bucket has no replied ticket: nothing is
    // drawn as a zero that was not measured.
    let mut path = String::new();
    let mut pen_down = false;
    for p in &points {
        match p {
            Some((x, y, _)) => {
                let _ = write!(path, "{}{x:.1},{y:.1} ", if pen_down { "L" } else { "M" });
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    if !path.is_empty() {
        let _ = writeln!(
            s,
            r#"<path class="reply-line" d="{}" fill="none" stroke="{REPLY}" stroke-width="1.5"/>"#,
            path.trim_end()
        );
    }
    for (b, p) in series.iter().zip(&points) {
        if let Some((x, y, v)) = p {
            let _ = writeln!(
                s,
                r#"<circle class="reply" data-start="{}" data-secs="{v}" cx="{x:.1}" cy="{y:.1}" r="3" fill="{REPLY}"/>"#,
                esc(&b.start)
            );
        }
    }
    let lx = W - RIGHT + 50.0;
    let _ = writeln!(
        s,
        r#"<line x1="{lx}" y1="{TOP}" x2="{}" y2="{TOP}" stroke="{REPLY}" stroke-width="1.5"/><text x="{}" y="{}">p50 time to first handler reply</text>"#,
        lx + 10.0,
        lx + 14.0,
        TOP + 4.0
    );
    for (ci, cat) in cats.iter().enumerate() {
        let y = TOP + 16.0 * (ci + 1) as f64;
        let _ = writeln!(
            s,
            r#"<rect x="{lx}" y="{y}" width="10" height="10" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            PALETTE[ci % PALETTE.len()],
            lx + 14.0,
            y + 9.0,
            esc(cat)
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(start: &str, cats: &[(&str, usize)], reply: Option<i64>) -> BucketFigures {
        BucketFigures {
            start: start.into(),
            label: start.into(),
            tickets: cats.iter().map(|c| c.1).sum(),
            by_category: cats.iter().map(|(c, n)| (c.to_string(), *n)).collect(),
            first_reply_p50_secs: reply,
            first_reply_none_yet: 0,
        }
    }

    #[test]
    fn a_slot_per_bucket_bars_per_category_and_escaped_text() {
        let series = vec![
            b("2026-11-01", &[("fraud", 2), ("vulnerable", 1)], Some(7200)),
            b("2026-11-02", &[], None),
            b("2026-11-03", &[("<x>", 1)], Some(3600)),
        ];
        let s = svg(&series, "Tickets & days");
        assert!(s.starts_with("<svg"));
        assert!(s.trim_end().ends_with("</svg>"));
        assert_eq!(s.matches(r#"<g class="bucket""#).count(), 3);
        assert_eq!(s.matches(r#"data-tickets="0""#).count(), 1);
        assert_eq!(s.matches("<rect x=").count(), 3 + 3, "bars and legend");
        assert_eq!(s.matches(r#"<circle class="reply""#).count(), 2);
        // The empty day breaks the line: two moves, no line between them.
        let line = s.lines().find(|l| l.contains("reply-line")).unwrap();
        assert_eq!(line.matches('M').count(), 2, "{line}");
        assert!(s.contains("Tickets &amp; days"));
        assert!(s.contains("&lt;x&gt;") && !s.contains("<x>"));
        assert!(svg(&[], "empty").contains("</svg>"));
    }

    #[test]
    fn reply_scale() {
        assert_eq!(nice_hours(0), 1.0);
        assert_eq!(nice_hours(3 * 3600), 5.0);
        assert_eq!(nice_hours(30 * 3600), 50.0);
        assert_eq!(hours_label(50.0), "2 d");
    }
}

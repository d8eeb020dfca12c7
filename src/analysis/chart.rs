//! Tickets per day by category as a stacked bar chart in SVG. Written by
//! hand: SVG text needs no font metrics when the viewer lays it out, so
//! there is no font or system library to depend on. Pure: figures in, text out.

use std::collections::BTreeMap;
use std::fmt::Write;

const PALETTE: [&str; 11] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac", "#86bcb6",
];
const W: f64 = 900.0;
const H: f64 = 420.0;
const LEFT: f64 = 50.0;
const RIGHT: f64 = 200.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 60.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `per_day`: day → category → tickets.
pub fn svg(per_day: &BTreeMap<String, BTreeMap<String, usize>>, title: &str) -> String {
    let mut cats: Vec<&str> = per_day
        .values()
        .flat_map(|m| m.keys().map(String::as_str))
        .collect();
    cats.sort_unstable();
    cats.dedup();
    let max = per_day
        .values()
        .map(|m| m.values().sum::<usize>())
        .max()
        .unwrap_or(0)
        .max(1);
    let days = per_day.len().max(1);
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let bar = plot_w / days as f64;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="18" font-size="14">{}</text>"#,
        esc(title)
    );
    for tick in 0..=4 {
        let v = max as f64 * f64::from(tick) / 4.0;
        let y = TOP + plot_h - plot_h * f64::from(tick) / 4.0;
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{v:.0}</text>"##,
            LEFT + plot_w,
            LEFT - 4.0,
            y + 4.0
        );
    }
    let label_every = (days / 15).max(1);
    for (i, (day, counts)) in per_day.iter().enumerate() {
        let x = LEFT + bar * i as f64;
        let mut y = TOP + plot_h;
        for (ci, cat) in cats.iter().enumerate() {
            let n = counts.get(*cat).copied().unwrap_or(0);
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
                esc(day),
                esc(cat)
            );
        }
        if i % label_every == 0 {
            let lx = x + bar / 2.0;
            let ly = TOP + plot_h + 12.0;
            let _ = writeln!(
                s,
                r#"<text x="{lx:.1}" y="{ly:.1}" transform="rotate(45 {lx:.1} {ly:.1})">{}</text>"#,
                esc(day)
            );
        }
    }
    for (ci, cat) in cats.iter().enumerate() {
        let y = TOP + 16.0 * ci as f64;
        let x = W - RIGHT + 16.0;
        let _ = writeln!(
            s,
            r#"<rect x="{x}" y="{y}" width="10" height="10" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            PALETTE[ci % PALETTE.len()],
            x + 14.0,
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

    #[test]
    fn bars_per_day_and_category_and_escaped_text() {
        let mut d = BTreeMap::new();
        d.insert(
            "2026-11-01".to_string(),
            BTreeMap::from([("fraud".to_string(), 2), ("vulnerable".to_string(), 1)]),
        );
        d.insert(
            "2026-11-02".to_string(),
            BTreeMap::from([("<x>".to_string(), 1)]),
        );
        let s = svg(&d, "Tickets & days");
        assert!(s.starts_with("<svg"));
        assert!(s.trim_end().ends_with("</svg>"));
        assert_eq!(s.matches("<title>").count(), 3);
        assert!(s.contains("Tickets &amp; days"));
        assert!(s.contains("&lt;x&gt;") && !s.contains("<x>"));
        assert!(svg(&BTreeMap::new(), "empty").contains("</svg>"));
    }
}

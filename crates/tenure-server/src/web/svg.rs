//! Charts drawn as SVG on the server: lines (with annotations), vertical bars, horizontal
//! bars, a waterfall and a heatmap. Each is an image with a title and a description for
//! screen readers (`role="img"`, `aria-labelledby`); pages put the numbers in a table beside
//! it as well. Colours come from classes in the stylesheet, so a theme changes them in one
//! place.

use std::fmt::Write;

use super::esc;

/// One line of a line chart.
pub struct Series {
    pub label: String,
    /// A stylesheet class: `s1` … `s4`.
    pub class: &'static str,
    /// (x, y) points; `None` breaks the line.
    pub points: Vec<(f64, Option<f64>)>,
}

/// A vertical marker at `x` with a short label (a release, a renewal).
pub struct Mark {
    pub x: f64,
    pub label: String,
}

const W: f64 = 640.0;
const H: f64 = 240.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 36.0;

fn open(id: &str, title: &str, desc: &str, height: f64) -> String {
    format!(
        "<svg class=\"chart\" viewBox=\"0 0 {W} {height}\" role=\"img\" \
         aria-labelledby=\"{id}-t {id}-d\" xmlns=\"http://www.w3.org/2000/svg\">\
         <title id=\"{id}-t\">{}</title><desc id=\"{id}-d\">{}</desc>",
        esc(title),
        esc(desc)
    )
}

/// Round tick values covering `lo..hi`.
pub fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if hi <= lo || hi.is_nan() || lo.is_nan() || !lo.is_finite() || !hi.is_finite() {
        return vec![lo];
    }
    let raw = (hi - lo) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let mut out = Vec::new();
    for k in first.. {
        // Multiples of the step, rounded to clear the binary fractions' noise.
        let t = ((k as f64 * step) * 1e9).round() / 1e9;
        if t > hi + step * 1e-9 || out.len() > 100 {
            break;
        }
        out.push(t);
    }
    out
}

/// A line chart. `x_labels` are (x, text) under the axis; `y_range` fixes the vertical scale
/// (default: the data's, padded); `y_fmt` writes a tick value.
#[allow(clippy::too_many_arguments)]
pub fn lines(
    id: &str,
    title: &str,
    desc: &str,
    series: &[Series],
    x_labels: &[(f64, String)],
    marks: &[Mark],
    y_range: Option<(f64, f64)>,
    y_fmt: &dyn Fn(f64) -> String,
) -> String {
    let xs = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .chain(x_labels.iter().map(|l| l.0));
    let (x0, x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    });
    let (x0, x1) = if x1 > x0 {
        (x0, x1)
    } else {
        (x0 - 1.0, x0 + 1.0)
    };
    let (y0, y1) = y_range.unwrap_or_else(|| {
        let ys = series
            .iter()
            .flat_map(|s| s.points.iter().filter_map(|p| p.1));
        let (a, b) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
            (a.min(y), b.max(y))
        });
        if a.is_finite() && b > a {
            let pad = (b - a) * 0.1;
            (a - pad, b + pad)
        } else if a.is_finite() {
            (a - 1.0, a + 1.0)
        } else {
            (0.0, 1.0)
        }
    });
    let sx = |x: f64| LEFT + (x - x0) / (x1 - x0) * (W - LEFT - RIGHT);
    let sy = |y: f64| TOP + (1.0 - (y - y0) / (y1 - y0)) * (H - TOP - BOTTOM);
    let mut out = open(id, title, desc, H);
    for t in ticks(y0, y1, 4) {
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            W - RIGHT,
            LEFT - 6.0,
            sy(t) + 4.0,
            esc(&y_fmt(t)),
            y = sy(t)
        );
    }
    for (x, label) in x_labels {
        let _ = write!(
            out,
            "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            sx(*x),
            H - BOTTOM + 16.0,
            esc(label)
        );
    }
    // Labels go on the first of three rows with room for them; a mark with no room keeps its
    // line and its tooltip.
    let mut row_end = [f64::NEG_INFINITY; 3];
    for m in marks {
        let x = sx(m.x);
        let text = truncate(&m.label, 18);
        let width = 5.5 * text.chars().count() as f64 + 6.0;
        let label = row_end.iter().position(|end| x > *end).map(|row| {
            row_end[row] = x + width;
            format!(
                "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                x + 3.0,
                TOP + 10.0 + row as f64 * 11.0,
                esc(&text)
            )
        });
        let _ = write!(
            out,
            "<g class=\"mark\"><line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{TOP}\" y2=\"{:.1}\"/>{}<title>{}</title></g>",
            H - BOTTOM,
            label.unwrap_or_default(),
            esc(&m.label)
        );
    }
    for s in series {
        let mut d = String::new();
        let mut pen = false;
        for (x, y) in &s.points {
            match y {
                Some(y) => {
                    let _ = write!(
                        d,
                        "{}{:.1},{:.1} ",
                        if pen { "L" } else { "M" },
                        sx(*x),
                        sy(*y)
                    );
                    pen = true;
                }
                None => pen = false,
            }
        }
        let _ = write!(
            out,
            "<path class=\"line {}\" d=\"{}\"><title>{}</title></path>",
            s.class,
            d.trim_end(),
            esc(&s.label)
        );
    }
    // Legend.
    let mut lx = LEFT;
    for s in series {
        let _ = write!(
            out,
            "<rect class=\"key {}\" x=\"{lx:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\"/>\
             <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            s.class,
            H - 12.0,
            lx + 14.0,
            H - 3.0,
            esc(&s.label)
        );
        lx += 24.0 + 7.0 * s.label.chars().count() as f64;
    }
    out.push_str("</svg>");
    out
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

/// Vertical bars: (label, value, class).
pub fn bars(id: &str, title: &str, desc: &str, bars: &[(String, f64, &'static str)]) -> String {
    let max = bars.iter().map(|b| b.1).fold(0.0, f64::max).max(1e-9);
    let n = bars.len().max(1) as f64;
    let slot = (W - LEFT - RIGHT) / n;
    let sy = |v: f64| TOP + (1.0 - v / max) * (H - TOP - BOTTOM);
    let mut out = open(id, title, desc, H);
    for t in ticks(0.0, max, 4) {
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            W - RIGHT,
            LEFT - 6.0,
            sy(t) + 4.0,
            super::thousands(t),
            y = sy(t)
        );
    }
    for (i, (label, v, class)) in bars.iter().enumerate() {
        let x = LEFT + i as f64 * slot + slot * 0.1;
        let y = sy(*v);
        let _ = write!(
            out,
            "<rect class=\"bar {class}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\">\
             <title>{}: {}</title></rect>\
             <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            slot * 0.8,
            (H - BOTTOM - y).max(0.0),
            esc(label),
            super::thousands(*v),
            x + slot * 0.4,
            H - BOTTOM + 16.0,
            esc(label)
        );
    }
    out.push_str("</svg>");
    out
}

/// One labelled horizontal bar from `x0` to `x1` in row `y` (of height `row`), its label
/// right-aligned before `label_w` and its value text after it.
struct RowBar<'a> {
    y: f64,
    row: f64,
    label_w: f64,
    x0: f64,
    x1: f64,
    class: &'a str,
    label: &'a str,
    text: &'a str,
}

fn row_bar(out: &mut String, b: RowBar<'_>) {
    let _ = write!(
        out,
        "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
         <rect class=\"bar {}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\">\
         <title>{}: {}</title></rect>\
         <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
        b.label_w - 6.0,
        b.y + b.row * 0.65,
        esc(&truncate(b.label, 28)),
        b.class,
        b.x0,
        b.y,
        (b.x1 - b.x0).max(1.0),
        b.row * 0.7,
        esc(b.label),
        esc(b.text),
        b.x1 + 4.0,
        b.y + b.row * 0.65,
        esc(b.text)
    );
}

/// A waterfall from `start` through signed steps (label, delta) to the end value.
pub fn waterfall(id: &str, title: &str, desc: &str, start: f64, steps: &[(String, f64)]) -> String {
    let mut level = start;
    let mut lo = start.min(0.0);
    let mut hi = start;
    for (_, d) in steps {
        level += d;
        lo = lo.min(level);
        hi = hi.max(level);
    }
    let end = level;
    let n = steps.len() as f64 + 2.0;
    let row = 22.0;
    let height = TOP + n * row + 24.0;
    let label_w = 190.0;
    let span = (hi - lo).max(1e-9);
    let sx = |v: f64| label_w + (v - lo) / span * (W - label_w - 60.0);
    let mut out = open(id, title, desc, height);
    let bar =
        |out: &mut String, i: usize, label: &str, a: f64, b: f64, class: &str, text: String| {
            row_bar(
                out,
                RowBar {
                    y: TOP + i as f64 * row,
                    row,
                    label_w,
                    x0: sx(a.min(b)),
                    x1: sx(a.max(b)),
                    class,
                    label,
                    text: &text,
                },
            );
        };
    bar(
        &mut out,
        0,
        "Baseline",
        0.0,
        start,
        "neutral",
        format!("{start:.1}"),
    );
    let mut level = start;
    for (i, (label, d)) in steps.iter().enumerate() {
        let class = if *d >= 0.0 { "up" } else { "down" };
        bar(
            &mut out,
            i + 1,
            label,
            level,
            level + d,
            class,
            format!("{d:+.1}"),
        );
        level += d;
    }
    bar(
        &mut out,
        steps.len() + 1,
        "Score",
        0.0,
        end,
        "total",
        format!("{end:.1}"),
    );
    out.push_str("</svg>");
    out
}

/// A heatmap of shares (0–1): rows of (label, cells), with column labels.
pub fn heatmap(
    id: &str,
    title: &str,
    desc: &str,
    columns: &[String],
    rows: &[(String, Vec<Option<f64>>)],
) -> String {
    let label_w = 90.0;
    let cell_h = 18.0;
    let cols = columns.len().max(1) as f64;
    let cell_w = ((W - label_w - 8.0) / cols).min(40.0);
    let height = TOP + 20.0 + rows.len() as f64 * cell_h + 8.0;
    let mut out = open(id, title, desc, height);
    for (j, c) in columns.iter().enumerate() {
        let _ = write!(
            out,
            "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            label_w + (j as f64 + 0.5) * cell_w,
            TOP + 10.0,
            esc(c)
        );
    }
    for (i, (label, cells)) in rows.iter().enumerate() {
        let y = TOP + 18.0 + i as f64 * cell_h;
        let _ = write!(
            out,
            "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            label_w - 6.0,
            y + cell_h * 0.7,
            esc(label)
        );
        for (j, v) in cells.iter().enumerate() {
            let Some(v) = v else { continue };
            // Nine steps of one hue, classed so that the stylesheet owns the colours.
            let step = ((v.clamp(0.0, 1.2) / 1.2) * 8.0).round() as u32;
            let _ = write!(
                out,
                "<rect class=\"heat h{step}\" x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\">\
                 <title>{} · {}: {:.0} %</title></rect>",
                label_w + j as f64 * cell_w,
                cell_w - 1.0,
                cell_h - 1.0,
                esc(label),
                esc(columns.get(j).map_or("", String::as_str)),
                v * 100.0
            );
        }
    }
    out.push_str("</svg>");
    out
}

/// Horizontal bars of signed values around zero: (label, value, text).
pub fn hbars(id: &str, title: &str, desc: &str, rows: &[(String, f64, String)]) -> String {
    let label_w = 200.0;
    let row = 20.0;
    let height = TOP + rows.len() as f64 * row + 8.0;
    let lo = rows.iter().map(|r| r.1).fold(0.0, f64::min);
    let hi = rows.iter().map(|r| r.1).fold(0.0, f64::max);
    let span = (hi - lo).max(1e-9);
    let sx = |v: f64| label_w + (v - lo) / span * (W - label_w - 130.0);
    let mut out = open(id, title, desc, height);
    for (i, (label, v, text)) in rows.iter().enumerate() {
        row_bar(
            &mut out,
            RowBar {
                y: TOP + i as f64 * row,
                row,
                label_w,
                x0: sx(0.0_f64.min(*v)),
                x1: sx(0.0_f64.max(*v)),
                class: if *v >= 0.0 { "up" } else { "down" },
                label,
                text,
            },
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crowded_marks_keep_their_lines_and_tooltips_but_not_every_label() {
        let marks: Vec<Mark> = (0..12)
            .map(|i| Mark {
                x: f64::from(i),
                label: format!("Release {i}"),
            })
            .collect();
        let svg = lines(
            "m",
            "t",
            "d",
            &[],
            &[(0.0, "a".into()), (100.0, "b".into())],
            &marks,
            Some((0.0, 1.0)),
            &|v| format!("{v}"),
        );
        let groups: Vec<&str> = svg.split("<g class=\"mark\">").skip(1).collect();
        assert_eq!(groups.len(), 12);
        assert!(groups.iter().all(|g| g.contains("<title>Release")));
        let labelled = groups.iter().filter(|g| g.contains("<text")).count();
        assert!((3..12).contains(&labelled), "{labelled} labels");
    }

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(ticks(0.0, 100.0, 4), vec![0.0, 25.0, 50.0, 75.0, 100.0]);
        assert_eq!(ticks(0.9, 1.2, 3), vec![0.9, 1.0, 1.1, 1.2]);
        assert_eq!(ticks(5.0, 5.0, 4), vec![5.0]);
    }

    #[test]
    fn charts_are_labelled_images_with_escaped_text() {
        let svg = lines(
            "c",
            "Health <trend>",
            "desc",
            &[Series {
                label: "health".into(),
                class: "s1",
                points: vec![
                    (0.0, Some(40.0)),
                    (1.0, None),
                    (2.0, Some(60.0)),
                    (3.0, Some(70.0)),
                ],
            }],
            &[(0.0, "Jan".into())],
            &[Mark {
                x: 2.0,
                label: "Release \"2.0\"".into(),
            }],
            Some((0.0, 100.0)),
            &|v| format!("{v:.0}"),
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("role=\"img\"") && svg.contains("aria-labelledby=\"c-t c-d\""));
        assert!(svg.contains("Health &lt;trend&gt;"));
        assert!(svg.contains("Release &quot;2.0&quot;"));
        // The gap breaks the line: two moves.
        let path = svg.split("class=\"line s1\" d=\"").nth(1).unwrap();
        let d = &path[..path.find('"').unwrap()];
        assert_eq!(d.matches('M').count(), 2, "{d}");
        let w = waterfall(
            "w",
            "t",
            "d",
            50.0,
            &[("a".into(), 10.0), ("b".into(), -25.0)],
        );
        assert!(w.contains("+10.0") && w.contains("-25.0"));
        assert!(w.contains(">35.0<"), "the end is start plus the steps");
        let h = heatmap(
            "h",
            "t",
            "d",
            &["M1".into()],
            &[("2024-01".into(), vec![Some(0.5)])],
        );
        assert!(h.contains("50 %"));
    }
}

//! The charts, drawn here as inline SVG: no script and no request, so a page opened from a
//! file under the strictest content security policy still draws them. Every bar carries its
//! numbers (`data-count`, a `<title>` tooltip), and the outcome of a stacked segment is told
//! by its fill pattern as well as its colour, so the charts read without colour.

use std::fmt::Write as _;

use conveyor_pool::Outcome;

use super::spread::Bucket;
use super::text::{count, duration, esc, instant, offset, width};
use super::timeline::Bars;

/// The throughput chart's width (its viewBox); the histograms, drawn side by side, are
/// narrower so that their text stays as large.
const W: f64 = 800.0;
const W_HALF: f64 = 520.0;
const H: f64 = 260.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 44.0;
/// The least height of a bar or segment that is not empty.
const MIN_H: f64 = 3.0;

/// Colour and pattern of each outcome, in [`Outcome::ALL`] order: (solid colour, light
/// colour, pattern drawn in the solid colour on the light one).
const LOOKS: [(&str, &str, &str); 5] = [
    ("#2e7d32", "#2e7d32", ""),
    ("#c62828", "#f6c9c6", "<path d='M0 6L6 0M-1 1L1 -1M5 7L7 5' stroke-width='2.2'/>"),
    ("#6a1b9a", "#e3cdef", "<path d='M0 0L6 6M6 0L0 6' stroke-width='1.4'/>"),
    ("#e65100", "#ffe0c2", "<circle cx='3' cy='3' r='1.6'/>"),
    ("#546e7a", "#e2e8eb", "<path d='M0 1.5H6M0 4.5H6' stroke-width='1.2'/>"),
];

/// The fill patterns, once per page (SVG `<defs>` are shared by every inline SVG).
pub(super) fn defs() -> String {
    let mut out = String::from(
        "<svg width='0' height='0' style='position:absolute' aria-hidden='true' focusable='false'><defs>",
    );
    for (outcome, (solid, light, mark)) in Outcome::ALL.iter().zip(LOOKS) {
        let _ = write!(
            out,
            "<pattern id='pat-{o}' width='6' height='6' patternUnits='userSpaceOnUse'>\
             <rect width='6' height='6' fill='{light}'/><g fill='{solid}' stroke='{solid}'>{mark}</g></pattern>",
            o = outcome.as_str()
        );
    }
    out.push_str("</defs></svg>");
    out
}

/// A legend swatch for `outcome`.
pub(super) fn swatch(outcome: Outcome) -> String {
    format!(
        "<svg class='swatch' width='14' height='14' aria-hidden='true'><rect x='0.5' y='0.5' width='13' height='13' \
         fill='url(#pat-{o})' stroke='#222'/></svg>",
        o = outcome.as_str()
    )
}

/// A round top for an axis whose largest value is `max`, and its step: (top, step), with
/// step 1, 2 or 5 × a power of ten and at most 5 steps.
fn axis(max: u64) -> (u64, u64) {
    let mut step = 1u64;
    loop {
        for m in [1, 2, 5] {
            let s = step.saturating_mul(m);
            if max.div_ceil(s) <= 5 {
                return (max.div_ceil(s).max(1) * s, s);
            }
        }
        step = step.saturating_mul(10);
    }
}

/// The frame of a chart: the `<svg>` start, the y axis with its grid lines and its label.
fn frame(out: &mut String, w: f64, id: &str, label: &str, y_label: &str, top: u64, step: u64) {
    let _ = write!(
        out,
        "<svg id='{id}' class='chart' viewBox='0 0 {w} {H}' role='img' aria-label='{label}' data-top='{top}'>"
    );
    let plot_h = H - TOP - BOTTOM;
    let mut tick = 0;
    while tick <= top {
        let y = TOP + plot_h - plot_h * tick as f64 / top as f64;
        let _ = write!(
            out,
            "<line class='grid' x1='{LEFT}' x2='{x2}' y1='{y:.1}' y2='{y:.1}'/>\
             <text class='tick' x='{tx}' y='{ty:.1}' text-anchor='end'>{t}</text>",
            x2 = w - RIGHT,
            tx = LEFT - 6.0,
            ty = y + 4.0,
            t = count(tick)
        );
        tick += step;
    }
    let _ = write!(
        out,
        "<text class='axis' transform='translate(14 {y}) rotate(-90)' text-anchor='middle'>{}</text>",
        esc(y_label),
        y = TOP + plot_h / 2.0
    );
}

/// Jobs finished per time bucket, stacked by outcome.
pub(super) fn throughput(bars: &Bars) -> String {
    let totals: Vec<u64> = bars.counts.iter().map(|c| c.iter().sum()).collect();
    let (top, step) = axis(totals.iter().copied().max().unwrap_or(0));
    let per = width(bars.width);
    let mut out = String::new();
    frame(
        &mut out,
        W,
        "chart-throughput",
        &format!("jobs finished per {per}, by outcome"),
        &format!("jobs / {per}"),
        top,
        step,
    );
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let n = bars.counts.len().max(1) as f64;
    let bw = plot_w / n;
    let gap = if bw > 4.0 { bw * 0.15 } else { 0.0 };
    for (i, (c, total)) in bars.counts.iter().zip(&totals).enumerate() {
        let start = bars.start + bars.width * i as i64;
        let x = LEFT + bw * i as f64 + gap / 2.0;
        let mut detail = Vec::new();
        let _ = write!(out, "<g class='bar' data-start='{}' data-total='{total}'>", esc(&instant(start)));
        let mut y = TOP + plot_h;
        for (o, &k) in Outcome::ALL.iter().zip(c) {
            if k == 0 {
                continue;
            }
            detail.push(format!("{} {}", count(k), o.as_str()));
            // A few jobs among thousands still show: every non-empty segment is at least
            // MIN_H tall (so a stack may pass its true height by a few units).
            let h = (plot_h * k as f64 / top as f64).max(MIN_H);
            y = (y - h).max(TOP - MIN_H * 5.0);
            let _ = write!(
                out,
                "<rect data-outcome='{o}' data-count='{k}' x='{x:.2}' y='{y:.2}' width='{w:.2}' height='{h:.2}' \
                 fill='url(#pat-{o})'/>",
                o = o.as_str(),
                w = (bw - gap).max(0.5)
            );
        }
        let _ = write!(
            out,
            "<title>{} (+{per}): {}</title></g>",
            instant(start),
            if detail.is_empty() { "none".to_owned() } else { detail.join(", ") }
        );
    }
    x_labels(&mut out, W, bars.counts.len(), |i| offset(bars.width * i as i64));
    let _ = write!(
        out,
        "<text class='axis' x='{x}' y='{y}' text-anchor='middle'>time since {}</text></svg>",
        esc(&instant(bars.start)),
        x = LEFT + plot_w / 2.0,
        y = H - 6.0
    );
    out
}

/// Labels under bar edges: about six, evenly spaced, the first at the left edge.
fn x_labels(out: &mut String, w: f64, n: usize, label: impl Fn(usize) -> String) {
    let plot_w = w - LEFT - RIGHT;
    let every = n.div_ceil(6).max(1);
    for i in (0..=n).step_by(every) {
        let x = LEFT + plot_w * i as f64 / n.max(1) as f64;
        let _ = write!(
            out,
            "<line class='axis-line' x1='{x:.1}' x2='{x:.1}' y1='{y1}' y2='{y2}'/>\
             <text class='tick' x='{x:.1}' y='{ty}' text-anchor='{anchor}'>{}</text>",
            esc(&label(i)),
            // The right-most label ends at its tick, so it is never cut off.
            anchor = if i == n && n > 1 { "end" } else { "middle" },
            y1 = H - BOTTOM,
            y2 = H - BOTTOM + 4.0,
            ty = H - BOTTOM + 16.0
        );
    }
}

/// A histogram of durations in log-scale buckets.
pub(super) fn histogram(id: &str, what: &str, buckets: &[Bucket]) -> String {
    let (top, step) = axis(buckets.iter().map(|b| b.count).max().unwrap_or(0));
    let mut out = String::new();
    frame(&mut out, W_HALF, id, &format!("{what}: jobs per duration bucket, log scale"), "jobs", top, step);
    let plot_w = W_HALF - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let bw = plot_w / buckets.len().max(1) as f64;
    for (i, b) in buckets.iter().enumerate() {
        let h = if b.count == 0 { 0.0 } else { (plot_h * b.count as f64 / top as f64).max(MIN_H) };
        let range = match b.high {
            Some(high) => format!("{} to {}", duration(b.low), duration(high)),
            None => format!("{} or more", duration(b.low)),
        };
        let _ = write!(
            out,
            "<rect class='hist' data-count='{c}' data-low-ns='{low}' x='{x:.2}' y='{y:.2}' width='{w:.2}' height='{h:.2}'>\
             <title>{range}: {n} jobs</title></rect>",
            c = b.count,
            low = b.low.as_nanos(),
            x = LEFT + bw * i as f64 + bw * 0.08,
            y = TOP + plot_h - h,
            w = bw * 0.84,
            n = count(b.count)
        );
    }
    let edge = |i: usize| match buckets.get(i) {
        Some(b) => duration(b.low),
        None => buckets.last().and_then(|b| b.high).map(duration).unwrap_or_default(),
    };
    x_labels(&mut out, W_HALF, buckets.len(), edge);
    let _ = write!(
        out,
        "<text class='axis' x='{x}' y='{y}' text-anchor='middle'>{} (log scale)</text></svg>",
        esc(what),
        x = LEFT + plot_w / 2.0,
        y = H - 6.0
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn axes_are_round() {
        assert_eq!(axis(0), (1, 1));
        assert_eq!(axis(3), (3, 1));
        assert_eq!(axis(7), (8, 2));
        assert_eq!(axis(42), (50, 10));
        assert_eq!(axis(99_999), (100_000, 20_000));
    }

    #[test]
    fn bars_carry_their_numbers() {
        let bars =
            Bars { start: 0, width: 1_000_000_000, counts: vec![[3, 1, 0, 0, 0], [0; 5], [2, 0, 0, 0, 4]] };
        let svg = throughput(&bars);
        assert_eq!(svg.matches("<g class='bar'").count(), 3);
        assert!(svg.contains("data-outcome='failed' data-count='1'"), "{svg}");
        assert!(svg.contains("data-outcome='cancelled' data-count='4'"), "{svg}");
        assert!(svg.contains("fill='url(#pat-succeeded)'"));
        assert!(svg.contains("jobs / 1 s"));
        let hist = histogram(
            "chart-run",
            "run time",
            &[Bucket { low: Duration::ZERO, high: Some(Duration::from_micros(1)), count: 9 }],
        );
        assert!(hist.contains("data-count='9'") && hist.contains("0 ns to 1 µs: 9 jobs"), "{hist}");
    }
}

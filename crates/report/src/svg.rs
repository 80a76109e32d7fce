//! A small SVG toolkit for the report: line/bar/step plots with axes, ticks, a legend and
//! labelled vertical markers, and a 2-D heat map with a logarithmic colour scale.
//!
//! Everything returned is a complete `<svg>` element, meant to be inlined into HTML. All text
//! is XML-escaped (option names come from data files); coordinates are rounded to 0.1 px so a
//! figure stays small. Colours: the Okabe–Ito palette for categories and a viridis-like
//! sequential scale for densities, both readable by colour-blind readers.

use std::fmt::Write as _;

/// The Okabe–Ito palette (Okabe & Ito 2008), distinguishable by colour-blind readers, without
/// yellow (poor contrast on white). Black is last: it is kept for markers.
pub const PALETTE: [&str; 7] = [
    "#0072B2", // blue
    "#D55E00", // vermillion
    "#009E73", // bluish green
    "#E69F00", // orange
    "#CC79A7", // reddish purple
    "#56B4E9", // sky blue
    "#000000", // black
];

/// Colour of the `i`-th category.
pub fn palette(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// Viridis (matplotlib), sampled at 0, 0.1, …, 1.
const VIRIDIS: [(u8, u8, u8); 11] = [
    (0x44, 0x01, 0x54),
    (0x48, 0x24, 0x75),
    (0x41, 0x44, 0x87),
    (0x35, 0x5f, 0x8d),
    (0x2a, 0x78, 0x8e),
    (0x21, 0x91, 0x8c),
    (0x22, 0xa8, 0x84),
    (0x44, 0xbf, 0x70),
    (0x7a, 0xd1, 0x51),
    (0xbd, 0xdf, 0x26),
    (0xfd, 0xe7, 0x25),
];

/// The viridis colour at `t` in [0, 1] (clamped), as `#rrggbb`.
pub fn viridis(t: f64) -> String {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let pos = t * (VIRIDIS.len() - 1) as f64;
    let i = (pos.floor() as usize).min(VIRIDIS.len() - 2);
    let f = pos - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let mix = |x: u8, y: u8| (f64::from(x) + (f64::from(y) - f64::from(x)) * f).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        mix(a.0, b.0),
        mix(a.1, b.1),
        mix(a.2, b.2)
    )
}

/// Escapes text for XML and HTML: element content and attribute values alike.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters other than tab/newline are not allowed in XML 1.0.
            c if c.is_control() && c != '\t' && c != '\n' && c != '\r' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate rounded to 0.1, without a trailing `.0` or a negative zero.
pub fn coord(x: f64) -> String {
    if !x.is_finite() {
        return "0".to_owned();
    }
    let r = (x * 10.0).round() / 10.0;
    if r == r.trunc() {
        let i = r as i64;
        format!("{i}")
    } else {
        format!("{r:.1}")
    }
}

/// A number for a tick label or a table: at most `decimals` decimals, trailing zeros dropped,
/// thousands separated by commas.
pub fn number(x: f64, decimals: usize) -> String {
    if x.is_nan() {
        return "n/a".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "∞" } else { "−∞" }.to_owned();
    }
    let s = format!("{:.*}", decimals, x.abs());
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i.to_owned(), f.trim_end_matches('0').to_owned()),
        None => (s, String::new()),
    };
    let mut grouped = String::new();
    for (k, ch) in int.chars().enumerate() {
        if k > 0 && (int.len() - k) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    let zero = grouped.chars().all(|c| c == '0' || c == ',') && frac.is_empty();
    let sign = if x < 0.0 && !zero { "−" } else { "" };
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{frac}")
    }
}

/// A short label for a large count: 1,500 → "1.5k", 2,000,000 → "2M".
pub fn short(x: f64) -> String {
    let a = x.abs();
    if a >= 1e9 {
        format!("{}G", number(x / 1e9, 1))
    } else if a >= 1e6 {
        format!("{}M", number(x / 1e6, 1))
    } else if a >= 1e4 {
        format!("{}k", number(x / 1e3, 1))
    } else {
        number(x, 3)
    }
}

/// "Nice" tick positions (steps of 1, 2 or 5 times a power of ten) covering [min, max].
pub fn ticks(min: f64, max: f64, target: usize) -> Vec<f64> {
    if !(min.is_finite() && max.is_finite()) || max <= min || target == 0 {
        return vec![min];
    }
    let raw = (max - min) / target as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let step = mag
        * if norm <= 1.0 {
            1.0
        } else if norm <= 2.0 {
            2.0
        } else if norm <= 5.0 {
            5.0
        } else {
            10.0
        };
    let first = (min / step).ceil() as i64;
    let last = (max / step + 1e-9).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// The upper end of a "nice" axis that holds `max` with a little headroom: the smallest of
/// 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 (times a power of ten) at or above `1.03 · max`.
pub fn nice_max(max: f64) -> f64 {
    if !(max.is_finite() && max > 0.0) {
        return 1.0;
    }
    let want = max * 1.03;
    let mag = 10f64.powf(want.log10().floor());
    [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|&v| v >= want * (1.0 - 1e-12))
        .unwrap_or(10.0 * mag)
}

/// Decimals needed to tell ticks `step` apart.
fn tick_decimals(ts: &[f64]) -> usize {
    if ts.len() < 2 {
        return 2;
    }
    let step = (ts[1] - ts[0]).abs();
    if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    }
}

fn tick_label(x: f64, decimals: usize) -> String {
    if x.abs() >= 1e4 {
        short(x)
    } else {
        number(x, decimals)
    }
}

/// One axis: its label and range in data units.
#[derive(Clone, Debug)]
pub struct Axis {
    pub label: String,
    pub min: f64,
    pub max: f64,
}

impl Axis {
    pub fn new(label: impl Into<String>, min: f64, max: f64) -> Self {
        Self {
            label: label.into(),
            min,
            max,
        }
    }

    fn span(&self) -> (f64, f64) {
        let (lo, hi) = (self.min, self.max);
        if !(lo.is_finite() && hi.is_finite()) {
            (0.0, 1.0)
        } else if hi > lo {
            (lo, hi)
        } else {
            (lo - 0.5, lo + 0.5)
        }
    }
}

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Filled bars between consecutive edges.
    Bars,
    /// An outline through the tops of the bars.
    Step,
    /// A dashed outline through the tops of the bars.
    DashedStep,
}

/// One layer of a [`Plot`].
#[derive(Clone, Debug)]
pub enum Layer {
    /// A histogram: `values[i]` covers `[edges[i], edges[i + 1])`.
    Histogram {
        label: String,
        color: &'static str,
        style: Style,
        edges: Vec<f64>,
        values: Vec<f64>,
    },
    /// A polyline through the points, in order.
    Line {
        label: String,
        color: &'static str,
        dashed: bool,
        points: Vec<(f64, f64)>,
    },
    /// Dots.
    Points {
        label: String,
        color: &'static str,
        radius: f64,
        points: Vec<(f64, f64)>,
    },
    /// The region between two curves, filled (e.g. the votes above what a model expects).
    Area {
        label: String,
        color: &'static str,
        upper: Vec<(f64, f64)>,
        lower: Vec<(f64, f64)>,
    },
    /// A vertical line across the plot at `x`, with a label at its top.
    Marker {
        label: String,
        color: &'static str,
        x: f64,
    },
}

impl Layer {
    /// A histogram over equal bins from `min` to `max`.
    pub fn histogram(
        label: impl Into<String>,
        color: &'static str,
        style: Style,
        min: f64,
        max: f64,
        values: Vec<f64>,
    ) -> Self {
        let n = values.len().max(1);
        let edges = (0..=n)
            .map(|i| min + (max - min) * i as f64 / n as f64)
            .collect();
        Layer::Histogram {
            label: label.into(),
            color,
            style,
            edges,
            values,
        }
    }

    pub fn line(
        label: impl Into<String>,
        color: &'static str,
        dashed: bool,
        points: Vec<(f64, f64)>,
    ) -> Self {
        Layer::Line {
            label: label.into(),
            color,
            dashed,
            points,
        }
    }

    pub fn points(
        label: impl Into<String>,
        color: &'static str,
        radius: f64,
        points: Vec<(f64, f64)>,
    ) -> Self {
        Layer::Points {
            label: label.into(),
            color,
            radius,
            points,
        }
    }

    pub fn marker(label: impl Into<String>, color: &'static str, x: f64) -> Self {
        Layer::Marker {
            label: label.into(),
            color,
            x,
        }
    }

    fn label(&self) -> &str {
        match self {
            Layer::Histogram { label, .. }
            | Layer::Line { label, .. }
            | Layer::Points { label, .. }
            | Layer::Area { label, .. }
            | Layer::Marker { label, .. } => label,
        }
    }

    /// The largest y value, for the automatic y range.
    fn y_max(&self) -> f64 {
        let m = match self {
            Layer::Histogram { values, .. } => values.iter().copied().fold(f64::NAN, f64::max),
            Layer::Line { points, .. }
            | Layer::Points { points, .. }
            | Layer::Area { upper: points, .. } => {
                points.iter().map(|p| p.1).fold(f64::NAN, f64::max)
            }
            Layer::Marker { .. } => f64::NAN,
        };
        if m.is_finite() { m } else { f64::NAN }
    }
}

/// Geometry of the plotting area inside an SVG of `width` × `height`.
#[derive(Clone, Copy, Debug)]
struct Frame {
    left: f64,
    top: f64,
    right: f64,
    bottom: f64,
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

impl Frame {
    fn px(&self, x: f64) -> f64 {
        self.left + (x - self.x0) / (self.x1 - self.x0) * (self.right - self.left)
    }
    fn py(&self, y: f64) -> f64 {
        self.bottom - (y - self.y0) / (self.y1 - self.y0) * (self.bottom - self.top)
    }
    fn clamp_x(&self, x: f64) -> f64 {
        x.clamp(self.left, self.right)
    }
    fn clamp_y(&self, y: f64) -> f64 {
        y.clamp(self.top, self.bottom)
    }
}

/// An x–y figure: histograms, lines, points and markers over shared axes.
#[derive(Clone, Debug)]
pub struct Plot {
    /// Unique in the page (ids of `<title>`/`<desc>` derive from it); `[a-z0-9-]`.
    pub id: String,
    pub title: String,
    /// A text description of what the figure shows, for screen readers.
    pub desc: String,
    /// A visible heading above the plot (for small multiples); empty for none.
    pub heading: String,
    pub width: f64,
    pub height: f64,
    pub x: Axis,
    /// With `y.max` not finite, the y range is chosen from the data.
    pub y: Axis,
    /// Tick positions on the x axis; automatic when `None`.
    pub x_ticks: Option<Vec<f64>>,
    pub layers: Vec<Layer>,
}

impl Plot {
    pub fn new(id: &str, title: impl Into<String>, desc: impl Into<String>) -> Self {
        Self {
            id: id.to_owned(),
            title: title.into(),
            desc: desc.into(),
            heading: String::new(),
            width: 900.0,
            height: 380.0,
            x: Axis::new("", 0.0, 100.0),
            y: Axis::new("", 0.0, f64::NAN),
            x_ticks: None,
            layers: Vec::new(),
        }
    }

    pub fn x(mut self, label: impl Into<String>, min: f64, max: f64) -> Self {
        self.x = Axis::new(label, min, max);
        self
    }

    /// The y axis from 0 to a range chosen from the data.
    pub fn y_auto(mut self, label: impl Into<String>) -> Self {
        self.y = Axis::new(label, 0.0, f64::NAN);
        self
    }

    pub fn y(mut self, label: impl Into<String>, min: f64, max: f64) -> Self {
        self.y = Axis::new(label, min, max);
        self
    }

    pub fn size(mut self, width: f64, height: f64) -> Self {
        self.width = width;
        self.height = height;
        self
    }

    /// Places the x ticks at exactly these values.
    pub fn x_ticks(mut self, ticks: Vec<f64>) -> Self {
        self.x_ticks = Some(ticks);
        self
    }

    pub fn heading(mut self, heading: impl Into<String>) -> Self {
        self.heading = heading.into();
        self
    }

    pub fn layer(mut self, layer: Layer) -> Self {
        self.layers.push(layer);
        self
    }

    /// The figure as one `<svg>` element.
    pub fn render(&self) -> String {
        let mut y = self.y.clone();
        if !y.max.is_finite() {
            let m = self
                .layers
                .iter()
                .map(Layer::y_max)
                .fold(f64::NAN, f64::max);
            y.max = nice_max(if m.is_finite() { m } else { 1.0 });
            if y.max <= y.min {
                y.max = y.min + 1.0;
            }
        }
        let legend: Vec<(&str, &'static str, LegendKind)> = self
            .layers
            .iter()
            .filter(|l| !l.label().is_empty() && !matches!(l, Layer::Marker { .. }))
            .map(|l| match l {
                Layer::Histogram {
                    label,
                    color,
                    style,
                    ..
                } => (
                    label.as_str(),
                    *color,
                    match style {
                        Style::Bars => LegendKind::Box,
                        Style::Step => LegendKind::Line,
                        Style::DashedStep => LegendKind::Dashed,
                    },
                ),
                Layer::Line {
                    label,
                    color,
                    dashed,
                    ..
                } => (
                    label.as_str(),
                    *color,
                    if *dashed {
                        LegendKind::Dashed
                    } else {
                        LegendKind::Line
                    },
                ),
                Layer::Points { label, color, .. } => (label.as_str(), *color, LegendKind::Dot),
                Layer::Area { label, color, .. } => (label.as_str(), *color, LegendKind::Box),
                Layer::Marker { label, color, .. } => (label.as_str(), *color, LegendKind::Line),
            })
            .collect();
        let legend_rows = legend_layout(&legend, self.width - 70.0);
        let markers = self
            .layers
            .iter()
            .filter(|l| matches!(l, Layer::Marker { .. }))
            .count();
        let head = if self.heading.is_empty() { 0.0 } else { 20.0 };
        let top = 12.0 + head + 18.0 * legend_rows.len() as f64 + 15.0 * markers.min(3) as f64;
        let (x0, x1) = self.x.span();
        let (y0, y1) = y.span();
        let f = Frame {
            left: 62.0,
            top,
            right: self.width - 16.0,
            bottom: self.height - 46.0,
            x0,
            x1,
            y0,
            y1,
        };
        let mut s = open_svg(&self.id, &self.title, &self.desc, self.width, self.height);
        draw_axes(&mut s, &f, &self.x.label, &y.label, self.x_ticks.as_deref());
        let _ = write!(
            s,
            r#"<svg x="{}" y="{}" width="{}" height="{}" viewBox="{} {} {} {}" overflow="hidden">"#,
            coord(f.left),
            coord(f.top),
            coord(f.right - f.left),
            coord(f.bottom - f.top),
            coord(f.left),
            coord(f.top),
            coord(f.right - f.left),
            coord(f.bottom - f.top),
        );
        for layer in &self.layers {
            draw_layer(&mut s, &f, layer);
        }
        s.push_str("</svg>");
        let mut marker_no = 0usize;
        for layer in &self.layers {
            if let Layer::Marker { label, color, x } = layer {
                draw_marker_label(&mut s, &f, label, color, *x, marker_no % 3);
                marker_no += 1;
            }
        }
        if !self.heading.is_empty() {
            let _ = write!(
                s,
                r#"<text x="{}" y="16" font-size="14" font-weight="600">{}</text>"#,
                coord(f.left),
                esc(&fit(&self.heading, self.width - f.left - 8.0, 14.0))
            );
        }
        draw_legend(&mut s, &legend, &legend_rows, 62.0, 14.0 + head);
        s.push_str("</svg>");
        s
    }
}

/// Longest legend entry in px.
const LEGEND_MAX: f64 = 320.0;

#[derive(Clone, Copy, Debug)]
enum LegendKind {
    Box,
    Line,
    Dashed,
    Dot,
}

/// Approximate width of `text` at `size` px in a sans-serif font.
fn text_width(text: &str, size: f64) -> f64 {
    text.chars()
        .map(|c| {
            if c.is_ascii() {
                if c.is_ascii_uppercase() { 0.68 } else { 0.56 }
            } else {
                // Cyrillic and other scripts run wider than Latin lower case.
                0.66
            }
        })
        .sum::<f64>()
        * size
}

/// `text` shortened with an ellipsis to fit `max` px at `size` px (the full text stays in the
/// figure's title, description and caption).
pub fn fit(text: &str, max: f64, size: f64) -> String {
    if text_width(text, size) <= max {
        return text.to_owned();
    }
    let mut out = String::new();
    let budget = max - text_width("…", size);
    for c in text.chars() {
        let mut next = out.clone();
        next.push(c);
        if text_width(&next, size) > budget {
            break;
        }
        out = next;
    }
    format!("{}…", out.trim_end())
}

/// Splits legend entries into rows no wider than `width`; returns index ranges.
fn legend_layout(
    entries: &[(&str, &'static str, LegendKind)],
    width: f64,
) -> Vec<std::ops::Range<usize>> {
    let mut rows = Vec::new();
    let mut start = 0;
    let mut used = 0.0;
    for (i, (label, _, _)) in entries.iter().enumerate() {
        let w = 30.0 + text_width(&fit(label, LEGEND_MAX, 12.0), 12.0) + 16.0;
        if i > start && used + w > width {
            rows.push(start..i);
            start = i;
            used = 0.0;
        }
        used += w;
    }
    if start < entries.len() {
        rows.push(start..entries.len());
    }
    rows
}

fn draw_legend(
    s: &mut String,
    entries: &[(&str, &'static str, LegendKind)],
    rows: &[std::ops::Range<usize>],
    left: f64,
    top: f64,
) {
    if entries.is_empty() {
        return;
    }
    s.push_str(r#"<g font-size="12">"#);
    for (r, range) in rows.iter().enumerate() {
        let y = top + 18.0 * r as f64;
        let mut x = left;
        for (label, color, kind) in &entries[range.clone()] {
            let (cy, ex) = (coord(y - 4.0), coord(x + 24.0));
            match kind {
                LegendKind::Box => {
                    let _ = write!(
                        s,
                        r#"<rect x="{}" y="{}" width="24" height="10" fill="{color}" fill-opacity="0.55" stroke="{color}"/>"#,
                        coord(x),
                        coord(y - 9.0)
                    );
                }
                LegendKind::Line | LegendKind::Dashed => {
                    let dash = if matches!(kind, LegendKind::Dashed) {
                        r#" stroke-dasharray="5 3""#
                    } else {
                        ""
                    };
                    let _ = write!(
                        s,
                        r#"<path d="M{} {cy}H{ex}" stroke="{color}" stroke-width="2.5"{dash}/>"#,
                        coord(x)
                    );
                }
                LegendKind::Dot => {
                    let _ = write!(
                        s,
                        r#"<circle cx="{}" cy="{cy}" r="4" fill="{color}"/>"#,
                        coord(x + 12.0)
                    );
                }
            }
            let label = fit(label, LEGEND_MAX, 12.0);
            let _ = write!(
                s,
                r#"<text x="{}" y="{}">{}</text>"#,
                coord(x + 30.0),
                coord(y),
                esc(&label)
            );
            x += 30.0 + text_width(&label, 12.0) + 16.0;
        }
    }
    s.push_str("</g>");
}

fn open_svg(id: &str, title: &str, desc: &str, width: f64, height: f64) -> String {
    let id = safe_id(id);
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-labelledby="{id}-t {id}-d" font-family="system-ui,-apple-system,'Segoe UI',Roboto,sans-serif" font-size="12" fill="#222"><title id="{id}-t">{}</title><desc id="{id}-d">{}</desc>"##,
        esc(title),
        esc(desc),
        w = coord(width),
        h = coord(height),
    );
    s
}

/// Keeps `[A-Za-z0-9_-]`, so an id never breaks out of its attribute.
fn safe_id(id: &str) -> String {
    let s: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if s.is_empty() { "fig".to_owned() } else { s }
}

fn draw_axes(s: &mut String, f: &Frame, x_label: &str, y_label: &str, x_ticks: Option<&[f64]>) {
    // Grid and ticks.
    let xt = match x_ticks {
        Some(t) => t
            .iter()
            .copied()
            .filter(|x| *x >= f.x0 && *x <= f.x1)
            .collect(),
        None => ticks(f.x0, f.x1, ((f.right - f.left) / 70.0).max(2.0) as usize),
    };
    let yt = ticks(f.y0, f.y1, ((f.bottom - f.top) / 45.0).max(2.0) as usize);
    let (xd, yd) = (tick_decimals(&xt), tick_decimals(&yt));
    let mut grid = String::new();
    for &y in &yt {
        let _ = write!(
            grid,
            "M{} {}H{}",
            coord(f.left),
            coord(f.py(y)),
            coord(f.right)
        );
    }
    let _ = write!(
        s,
        r##"<rect x="{}" y="{}" width="{}" height="{}" fill="#fff" stroke="none"/><path d="{grid}" stroke="#e3e3e3" fill="none"/>"##,
        coord(f.left),
        coord(f.top),
        coord(f.right - f.left),
        coord(f.bottom - f.top)
    );
    s.push_str(r##"<g font-size="11" fill="#444">"##);
    let mut marks = String::new();
    for &x in &xt {
        let px = f.px(x);
        let _ = write!(marks, "M{} {}v5", coord(px), coord(f.bottom));
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            coord(px),
            coord(f.bottom + 17.0),
            esc(&tick_label(x, xd))
        );
    }
    for &y in &yt {
        let py = f.py(y);
        let _ = write!(marks, "M{} {}h-5", coord(f.left), coord(py));
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            coord(f.left - 8.0),
            coord(py + 4.0),
            esc(&tick_label(y, yd))
        );
    }
    s.push_str("</g>");
    let _ = write!(
        s,
        r##"<path d="{marks}M{l} {t}V{b}H{r}" stroke="#555" fill="none"/>"##,
        l = coord(f.left),
        t = coord(f.top),
        b = coord(f.bottom),
        r = coord(f.right)
    );
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        coord((f.left + f.right) / 2.0),
        coord(f.bottom + 36.0),
        esc(&fit(x_label, f.right - f.left, 12.0))
    );
    let cy = (f.top + f.bottom) / 2.0;
    let _ = write!(
        s,
        r#"<text x="14" y="{}" text-anchor="middle" transform="rotate(-90 14 {})">{}</text>"#,
        coord(cy),
        coord(cy),
        esc(&fit(y_label, f.bottom - f.top + 30.0, 12.0))
    );
}

fn draw_layer(s: &mut String, f: &Frame, layer: &Layer) {
    match layer {
        Layer::Histogram {
            color,
            style,
            edges,
            values,
            ..
        } => {
            let n = values.len().min(edges.len().saturating_sub(1));
            if n == 0 {
                return;
            }
            let base = f.clamp_y(f.py(f.y0.max(0.0)));
            match style {
                Style::Bars => {
                    // One path: a rectangle per non-empty bin.
                    let mut d = String::new();
                    for i in 0..n {
                        let v = values[i];
                        if !(v.is_finite() && v > 0.0) {
                            continue;
                        }
                        let (a, b) = (f.px(edges[i]), f.px(edges[i + 1]));
                        let top = f.clamp_y(f.py(v));
                        let _ = write!(
                            d,
                            "M{} {}V{}H{}V{}z",
                            coord(a),
                            coord(base),
                            coord(top),
                            coord(b),
                            coord(base)
                        );
                    }
                    let _ = write!(
                        s,
                        r#"<path d="{d}" fill="{color}" fill-opacity="0.55" stroke="{color}" stroke-width="0.6"/>"#
                    );
                }
                Style::Step | Style::DashedStep => {
                    let mut d = format!("M{} {}", coord(f.px(edges[0])), coord(base));
                    let mut last_y = f64::NAN;
                    for i in 0..n {
                        let v = if values[i].is_finite() {
                            values[i]
                        } else {
                            0.0
                        };
                        let y = f.clamp_y(f.py(v));
                        if y != last_y {
                            let _ = write!(d, "V{}", coord(y));
                        }
                        let _ = write!(d, "H{}", coord(f.px(edges[i + 1])));
                        last_y = y;
                    }
                    let _ = write!(d, "V{}", coord(base));
                    let dash = if matches!(style, Style::DashedStep) {
                        r#" stroke-dasharray="6 4""#
                    } else {
                        ""
                    };
                    let _ = write!(
                        s,
                        r#"<path d="{d}" fill="none" stroke="{color}" stroke-width="1.8"{dash}/>"#
                    );
                }
            }
        }
        Layer::Line {
            color,
            dashed,
            points,
            ..
        } => {
            let mut d = String::new();
            let mut pen_down = false;
            for &(x, y) in points {
                if !(x.is_finite() && y.is_finite()) {
                    pen_down = false;
                    continue;
                }
                let _ = write!(
                    d,
                    "{}{} {}",
                    if pen_down { "L" } else { "M" },
                    coord(f.px(x)),
                    coord(f.py(y))
                );
                pen_down = true;
            }
            if d.is_empty() {
                return;
            }
            let dash = if *dashed {
                r#" stroke-dasharray="6 4""#
            } else {
                ""
            };
            let _ = write!(
                s,
                r#"<path d="{d}" fill="none" stroke="{color}" stroke-width="2" stroke-linejoin="round"{dash}/>"#
            );
        }
        Layer::Points {
            color,
            radius,
            points,
            ..
        } => {
            // Dots as zero-length round-capped strokes in one path: far smaller than circles.
            let mut d = String::new();
            for &(x, y) in points {
                if x.is_finite() && y.is_finite() {
                    let _ = write!(d, "M{} {}h0", coord(f.px(x)), coord(f.py(y)));
                }
            }
            let _ = write!(
                s,
                r#"<path d="{d}" stroke="{color}" stroke-width="{}" stroke-linecap="round" stroke-opacity="0.7"/>"#,
                coord(2.0 * radius)
            );
        }
        Layer::Area {
            color,
            upper,
            lower,
            ..
        } => {
            let pts: Vec<(f64, f64)> = upper
                .iter()
                .chain(lower.iter().rev())
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect();
            if pts.len() < 3 {
                return;
            }
            let mut d = String::new();
            for (i, (x, y)) in pts.iter().enumerate() {
                let _ = write!(
                    d,
                    "{}{} {}",
                    if i == 0 { "M" } else { "L" },
                    coord(f.px(*x)),
                    coord(f.py(*y))
                );
            }
            let _ = write!(
                s,
                r#"<path d="{d}z" fill="{color}" fill-opacity="0.35" stroke="none"/>"#
            );
        }
        Layer::Marker { color, x, .. } => {
            if !x.is_finite() {
                return;
            }
            let px = f.px(*x);
            let _ = write!(
                s,
                r#"<path d="M{} {}V{}" stroke="{color}" stroke-width="1.6" stroke-dasharray="4 3"/>"#,
                coord(px),
                coord(f.top),
                coord(f.bottom)
            );
        }
    }
}

/// A marker's label above the plot, staggered over `row` 0–2 so neighbours do not collide.
fn draw_marker_label(s: &mut String, f: &Frame, label: &str, color: &str, x: f64, row: usize) {
    if !x.is_finite() || label.is_empty() {
        return;
    }
    let px = f.clamp_x(f.px(x));
    let y = f.top - 4.0 - 15.0 * row as f64;
    let label = &fit(label, (f.right - f.left) * 0.6, 11.0);
    let w = text_width(label, 11.0);
    // Anchor so the text stays inside the figure.
    let anchor = if px + w / 2.0 > f.right + 12.0 {
        "end"
    } else if px - w / 2.0 < 4.0 {
        "start"
    } else {
        "middle"
    };
    let _ = write!(
        s,
        r#"<path d="M{} {}V{}" stroke="{color}" stroke-width="0.8"/><text x="{}" y="{}" text-anchor="{anchor}" font-size="11" fill="{color}">{}</text>"#,
        coord(px),
        coord(y + 2.0),
        coord(f.top),
        coord(px),
        coord(y - 1.0),
        esc(label)
    );
}

/// A 2-D histogram drawn as coloured cells on a logarithmic colour scale, with a colour legend.
///
/// `values[iy * nx + ix]` is the cell at column `ix` (from `x.min`) and row `iy` (from `y.min`,
/// drawn upwards). Empty cells (≤ 0) stay white. Cells are quantised to `levels` colours and
/// each colour is one `<path>` of horizontal runs in cell units, so a 100 × 100 map of a
/// 95,000-station election takes some tens of kilobytes.
#[derive(Clone, Debug)]
pub struct HeatMap {
    pub id: String,
    pub title: String,
    pub desc: String,
    /// Side of the square plotting area in px.
    pub size: f64,
    pub x: Axis,
    pub y: Axis,
    pub nx: usize,
    pub ny: usize,
    pub values: Vec<f64>,
    /// What a cell counts, for the colour legend (e.g. "stations per cell").
    pub legend: String,
    /// Vertical markers (label, colour, x).
    pub markers: Vec<(String, &'static str, f64)>,
    /// Number of colour steps.
    pub levels: usize,
}

impl HeatMap {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: &str,
        title: impl Into<String>,
        desc: impl Into<String>,
        x: Axis,
        y: Axis,
        nx: usize,
        ny: usize,
        values: Vec<f64>,
        legend: impl Into<String>,
    ) -> Self {
        Self {
            id: id.to_owned(),
            title: title.into(),
            desc: desc.into(),
            size: 540.0,
            x,
            y,
            nx,
            ny,
            values,
            legend: legend.into(),
            markers: Vec::new(),
            levels: 24,
        }
    }

    pub fn marker(mut self, label: impl Into<String>, color: &'static str, x: f64) -> Self {
        self.markers.push((label.into(), color, x));
        self
    }

    /// The colour level (0..levels) of `v`, or `None` for an empty cell.
    fn level(&self, v: f64, lo: f64, hi: f64) -> Option<usize> {
        if !(v.is_finite() && v > 0.0) {
            return None;
        }
        let levels = self.levels.max(2);
        let t = if hi > lo {
            (v.ln() - lo.ln()) / (hi.ln() - lo.ln())
        } else {
            1.0
        };
        Some(((t * levels as f64).floor() as usize).min(levels - 1))
    }

    pub fn render(&self) -> String {
        let (nx, ny) = (self.nx.max(1), self.ny.max(1));
        let levels = self.levels.max(2);
        let cells = &self.values[..self.values.len().min(nx * ny)];
        let positive = cells.iter().copied().filter(|v| v.is_finite() && *v > 0.0);
        let (lo, hi) = positive.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
        let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (1.0, 1.0) };
        let markers = self.markers.len().min(3);
        let top = 12.0 + 15.0 * markers as f64;
        let (x0, x1) = self.x.span();
        let (y0, y1) = self.y.span();
        let f = Frame {
            left: 62.0,
            top,
            right: 62.0 + self.size,
            bottom: top + self.size,
            x0,
            x1,
            y0,
            y1,
        };
        let width = f.right + 110.0;
        let height = f.bottom + 46.0;
        let mut s = open_svg(&self.id, &self.title, &self.desc, width, height);
        draw_axes(&mut s, &f, &self.x.label, &self.y.label, None);

        // Cells: one path per colour level, in cell units; row 0 at the bottom.
        let mut paths = vec![String::new(); levels];
        for iy in 0..ny {
            let row = ny - 1 - iy; // SVG y grows downwards
            let mut ix = 0;
            while ix < nx {
                let lvl = cells.get(iy * nx + ix).and_then(|&v| self.level(v, lo, hi));
                let Some(l) = lvl else {
                    ix += 1;
                    continue;
                };
                let start = ix;
                while ix < nx
                    && cells.get(iy * nx + ix).and_then(|&v| self.level(v, lo, hi)) == Some(l)
                {
                    ix += 1;
                }
                let run = ix - start;
                let _ = write!(paths[l], "M{start} {row}h{run}v1h-{run}z");
            }
        }
        let _ = write!(
            s,
            r#"<g transform="translate({} {}) scale({} {})" shape-rendering="crispEdges">"#,
            coord(f.left),
            coord(f.top),
            fmt_scale(self.size / nx as f64),
            fmt_scale(self.size / ny as f64)
        );
        for (l, d) in paths.iter().enumerate() {
            if !d.is_empty() {
                let _ = write!(
                    s,
                    r#"<path d="{d}" fill="{}"/>"#,
                    viridis(l as f64 / (levels - 1) as f64)
                );
            }
        }
        s.push_str("</g>");
        let _ = write!(
            s,
            r##"<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#555"/>"##,
            coord(f.left),
            coord(f.top),
            coord(self.size),
            coord(self.size)
        );
        for (k, (label, color, x)) in self.markers.iter().enumerate() {
            if !x.is_finite() {
                continue;
            }
            let px = f.px(*x);
            if px < f.left || px > f.right {
                continue;
            }
            let _ = write!(
                s,
                r#"<path d="M{} {}V{}" stroke="{color}" stroke-width="1.4" stroke-dasharray="4 3"/>"#,
                coord(px),
                coord(f.top),
                coord(f.bottom)
            );
            draw_marker_label(&mut s, &f, label, color, *x, k % 3);
        }

        // Colour legend: the quantised levels stacked, with log ticks.
        let lx = f.right + 18.0;
        let (ltop, lh) = (f.top + 20.0, self.size - 40.0);
        let step = lh / levels as f64;
        for l in 0..levels {
            let y = ltop + lh - step * (l + 1) as f64;
            let _ = write!(
                s,
                r#"<rect x="{}" y="{}" width="14" height="{}" fill="{}"/>"#,
                coord(lx),
                coord(y),
                coord(step + 0.3),
                viridis(l as f64 / (levels - 1) as f64)
            );
        }
        let _ = write!(
            s,
            r##"<rect x="{}" y="{}" width="14" height="{}" fill="none" stroke="#555"/>"##,
            coord(lx),
            coord(ltop),
            coord(lh)
        );
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" font-size="11">{}</text>"#,
            coord(lx - 4.0),
            coord(ltop - 8.0),
            esc(&self.legend)
        );
        s.push_str(r##"<g font-size="11" fill="#444">"##);
        for v in log_ticks(lo, hi) {
            let t = if hi > lo {
                (v.ln() - lo.ln()) / (hi.ln() - lo.ln())
            } else {
                0.5
            };
            let y = ltop + lh - t * lh;
            let _ = write!(
                s,
                r##"<path d="M{} {}h4" stroke="#555"/><text x="{}" y="{}">{}</text>"##,
                coord(lx + 14.0),
                coord(y),
                coord(lx + 21.0),
                coord(y + 4.0),
                esc(&short(v))
            );
        }
        s.push_str("</g></svg>");
        s
    }
}

fn fmt_scale(x: f64) -> String {
    let s = format!("{x:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_owned()
}

/// Powers of ten (and 3× when there are few) within [lo, hi]; at least the two ends.
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && hi >= lo) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let (a, b) = (lo.log10().ceil() as i32, hi.log10().floor() as i32);
    for e in a..=b {
        out.push(10f64.powi(e));
    }
    if out.len() < 3 {
        for e in (a - 1)..=b {
            let v = 3.0 * 10f64.powi(e);
            if v >= lo && v <= hi {
                out.push(v);
            }
        }
        out.sort_by(f64::total_cmp);
    }
    if out.is_empty() {
        out.push(lo);
        if hi > lo {
            out.push(hi);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(esc("Путин\u{0}"), "Путин\u{FFFD}");
    }

    #[test]
    fn numbers_are_compact() {
        assert_eq!(coord(12.0), "12");
        assert_eq!(coord(12.34), "12.3");
        assert_eq!(coord(-0.01), "0");
        assert_eq!(number(109_008_428.0, 0), "109,008,428");
        assert_eq!(number(67.5450, 3), "67.545");
        assert_eq!(number(-1708.8, 1), "−1,708.8");
        assert_eq!(number(-0.0001, 2), "0");
        assert_eq!(short(15_180_000.0), "15.2M");
        assert_eq!(short(20_000.0), "20k");
    }

    #[test]
    fn ticks_are_nice_and_cover_the_range() {
        assert_eq!(
            ticks(0.0, 100.0, 5),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        let t = ticks(0.0, 0.37, 4);
        assert_eq!(t.len(), 4);
        assert!((t[1] - 0.1).abs() < 1e-12);
        assert_eq!(nice_max(97.0), 100.0);
        assert_eq!(nice_max(98.0), 120.0);
        assert_eq!(nice_max(0.031), 0.04);
        assert_eq!(log_ticks(1.0, 2000.0), vec![1.0, 10.0, 100.0, 1000.0]);
    }

    #[test]
    fn long_labels_are_shortened_to_fit() {
        assert_eq!(fit("short", 100.0, 12.0), "short");
        let long = "Всероссийская политическая партия \"ЕДИНАЯ РОССИЯ\"";
        let f = fit(long, 120.0, 12.0);
        assert!(
            f.ends_with('…') && f.chars().count() < long.chars().count(),
            "{f}"
        );
        assert!(text_width(&f, 12.0) <= 120.0);
        let svg = Plot::new("l", long, long)
            .size(300.0, 200.0)
            .heading(long)
            .x(long, 0.0, 1.0)
            .y_auto(long)
            .render();
        // Visible texts are shortened; the title and description keep the whole name.
        assert_eq!(svg.matches("ЕДИНАЯ РОССИЯ").count(), 2, "{svg}");
    }

    #[test]
    fn viridis_ends() {
        assert_eq!(viridis(0.0), "#440154");
        assert_eq!(viridis(1.0), "#fde725");
        assert_eq!(viridis(f64::NAN), "#440154");
    }

    fn balanced(s: &str, tag: &str) -> bool {
        s.matches(&format!("<{tag}")).count() == s.matches(&format!("</{tag}>")).count()
    }

    #[test]
    fn plot_is_escaped_balanced_and_accessible() {
        let p = Plot::new("fig-x\"y", "A <b> title", "desc & more")
            .x("turnout, %", 0.0, 100.0)
            .y_auto("stations")
            .layer(Layer::histogram(
                "<script>alert(1)</script>",
                palette(0),
                Style::Bars,
                0.0,
                100.0,
                (0..100).map(f64::from).collect(),
            ))
            .layer(Layer::line(
                "null",
                palette(1),
                true,
                vec![(0.0, 1.0), (f64::NAN, 2.0), (50.0, 3.0)],
            ))
            .layer(Layer::marker("official turnout 67.5 %", "#000", 67.5));
        let svg = p.render();
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(svg.contains("A &lt;b&gt; title"));
        assert!(svg.contains(r#"aria-labelledby="fig-x-y-t fig-x-y-d""#));
        for tag in ["svg", "title", "desc", "text", "g"] {
            assert!(balanced(&svg, tag), "unbalanced <{tag}>");
        }
        assert!(svg.contains("official turnout 67.5 %"));
        assert!(svg.contains("stroke-dasharray"));
    }

    #[test]
    fn empty_and_degenerate_plots_render() {
        let svg = Plot::new("e", "empty", "nothing")
            .x("x", 5.0, 5.0)
            .y_auto("y")
            .layer(Layer::histogram(
                "",
                palette(0),
                Style::Step,
                0.0,
                1.0,
                vec![],
            ))
            .render();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn heat_map_is_compact_and_log_scaled() {
        // A dense 100 × 100 map with counts spanning 1..~10^4, as a 95,000-station election.
        let (nx, ny) = (100, 100);
        let values: Vec<f64> = (0..nx * ny)
            .map(|k| {
                let (x, y) = ((k % nx) as f64, (k / nx) as f64);
                let d = ((x - 60.0).powi(2) + (y - 55.0).powi(2)) / 200.0;
                (9000.0 * (-d).exp()).floor()
            })
            .collect();
        let hm = HeatMap::new(
            "fp",
            "fingerprint",
            "turnout against leader share",
            Axis::new("turnout, %", 0.0, 100.0),
            Axis::new("leader share, %", 0.0, 100.0),
            nx,
            ny,
            values,
            "stations",
        )
        .marker("official", "#000", 67.5);
        let svg = hm.render();
        assert!(svg.len() < 250_000, "{} bytes", svg.len());
        assert!(svg.contains(&viridis(0.0)) && svg.contains(&viridis(1.0)));
        assert!(svg.contains(">1k<") || svg.contains(">1,000<"));
        assert!(balanced(&svg, "svg"));
        // The densest cell (60, 55) is drawn in the top colour; row 55 from the bottom is
        // SVG row 44.
        let top = format!(r#"fill="{}""#, viridis(1.0));
        let path_top = svg
            .split("<path d=\"")
            .find(|p| p.contains(&top))
            .expect("a top-level path");
        assert!(path_top.contains(" 44h"), "{path_top}");
    }

    #[test]
    fn heat_map_level_is_logarithmic() {
        let hm = HeatMap::new(
            "h",
            "",
            "",
            Axis::new("", 0.0, 1.0),
            Axis::new("", 0.0, 1.0),
            1,
            1,
            vec![],
            "",
        );
        assert_eq!(hm.level(0.0, 1.0, 10_000.0), None);
        assert_eq!(hm.level(1.0, 1.0, 10_000.0), Some(0));
        assert_eq!(hm.level(100.0, 1.0, 10_000.0), Some(12));
        assert_eq!(hm.level(10_000.0, 1.0, 10_000.0), Some(23));
    }
}

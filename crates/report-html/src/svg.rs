//! Plain SVG, written as text: scales, axes, and markers whose shape (not only their
//! colour) says what they are, so that a chart reads in greyscale and in print.

use crate::markup::{esc, num};
use std::fmt::Write as _;

/// Maps a data interval onto a pixel interval, linearly or on a log10 scale.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    lo: f64,
    hi: f64,
    from: f64,
    to: f64,
    log: bool,
}

impl Scale {
    /// `[lo, hi]` onto `[from, to]`, widened to round numbers (and to a unit interval when
    /// `lo == hi`).
    pub fn linear(lo: f64, hi: f64, from: f64, to: f64) -> Self {
        let (lo, hi) = if hi > lo {
            (lo, hi)
        } else {
            (lo - 0.5, lo + 0.5)
        };
        let step = nice_step(hi - lo, 5);
        Scale {
            lo: (lo / step).floor() * step,
            hi: (hi / step).ceil() * step,
            from,
            to,
            log: false,
        }
    }

    /// `[lo, hi]` (positive) onto `[from, to]` on a log10 scale, widened to the nearest
    /// 1, 2 or 5 times a power of ten.
    pub fn log(lo: f64, hi: f64, from: f64, to: f64) -> Self {
        let lo = round_125(lo.max(f64::MIN_POSITIVE), f64::floor);
        let hi = round_125(hi.max(lo * 2.0), f64::ceil);
        Scale {
            lo: lo.log10(),
            hi: hi.log10(),
            from,
            to,
            log: true,
        }
    }

    /// The pixel of `x` (clamped into the scale's range).
    pub fn at(&self, x: f64) -> f64 {
        let x = if self.log {
            x.max(f64::MIN_POSITIVE).log10()
        } else {
            x
        };
        let t = ((x - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0);
        self.from + t * (self.to - self.from)
    }

    /// Round values along the scale, for ticks and grid lines.
    pub fn ticks(&self) -> Vec<f64> {
        if self.log {
            // Both ends, and each power of ten between them.
            let (lo, hi) = (10f64.powf(self.lo), 10f64.powf(self.hi));
            let mut ticks = vec![lo];
            ticks.extend(
                (self.lo.ceil() as i32..=self.hi.floor() as i32)
                    .map(|e| 10f64.powi(e))
                    .filter(|t| *t > lo * 1.01 && *t < hi / 1.01),
            );
            ticks.push(hi);
            return ticks;
        }
        let step = nice_step(self.hi - self.lo, 5);
        let mut ticks = Vec::new();
        let mut x = self.lo;
        while x <= self.hi + step / 2.0 {
            ticks.push(if x.abs() < step / 1e6 { 0.0 } else { x });
            x += step;
        }
        ticks
    }
}

/// The 1, 2 or 5 times a power of ten next to `x`, down (`f64::floor`) or up (`f64::ceil`).
fn round_125(x: f64, round: fn(f64) -> f64) -> f64 {
    let magnitude = 10f64.powf(x.log10().floor());
    let unit = x / magnitude;
    let steps = [1.0, 2.0, 5.0, 10.0];
    let pick = if round(0.5) == 0.0 {
        steps.iter().rev().find(|s| **s <= unit * 1.000_001)
    } else {
        steps.iter().find(|s| **s >= unit / 1.000_001)
    };
    magnitude * pick.copied().unwrap_or(1.0)
}

/// 1, 2 or 5 times a power of ten, giving about `n` steps over `span`.
fn nice_step(span: f64, n: usize) -> f64 {
    let raw = (span / n as f64).max(f64::MIN_POSITIVE);
    let magnitude = 10f64.powf(raw.log10().floor());
    let unit = raw / magnitude;
    magnitude
        * if unit <= 1.0 {
            1.0
        } else if unit <= 2.0 {
            2.0
        } else if unit <= 5.0 {
            5.0
        } else {
            10.0
        }
}

/// A tick label: `10k`, `2M` for large values, plain numbers otherwise.
pub fn tick_label(x: f64) -> String {
    match x {
        x if x >= 1e6 => format!("{}M", num(x / 1e6, 1)),
        x if x >= 1e4 => format!("{}k", num(x / 1e3, 1)),
        x => num(x, 2),
    }
}

/// The opening tag of a chart: scalable, labelled for screen readers.
pub fn open(width: f64, height: f64, label: &str) -> String {
    format!(
        "<svg class=\"chart\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" \
         height=\"{height}\" role=\"img\" aria-label=\"{}\" \
         xmlns=\"http://www.w3.org/2000/svg\">",
        esc(label)
    )
}

/// Text at (`x`, `y`); `anchor` is `start`, `middle` or `end`.
pub fn text(x: f64, y: f64, anchor: &str, class: &str, content: &str) -> String {
    format!(
        "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\" class=\"{class}\">{}</text>",
        esc(content)
    )
}

/// A vertical line at `x` from `top` to `bottom` (a reference value, a quantile).
pub fn vline(x: f64, top: f64, bottom: f64, class: &str) -> String {
    format!(
        "<line class=\"{class}\" x1=\"{x:.1}\" y1=\"{top:.1}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\"/>"
    )
}

/// A horizontal axis at `y` with a grid line per tick up to `top`, and its title.
pub fn x_axis(scale: &Scale, y: f64, top: f64, title: &str, unit: &str) -> String {
    let mut out = String::new();
    let (left, right) = (scale.from.min(scale.to), scale.from.max(scale.to));
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{left:.1}\" y1=\"{y:.1}\" x2=\"{right:.1}\" y2=\"{y:.1}\"/>"
    );
    for tick in scale.ticks() {
        let x = scale.at(tick);
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{x:.1}\" y1=\"{top:.1}\" x2=\"{x:.1}\" y2=\"{y:.1}\"/>"
        );
        out.push_str(&text(
            x,
            y + 14.0,
            "middle",
            "tick",
            &format!("{}{unit}", tick_label(tick)),
        ));
    }
    out.push_str(&text(
        (left + right) / 2.0,
        y + 30.0,
        "middle",
        "axis-title",
        title,
    ));
    out
}

/// Marker shapes: each series of a chart gets its own, so that colour is never the only cue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Circle,
    Square,
    Triangle,
    Diamond,
    /// An X: an outcome that never happened (a race real threads never hit).
    Cross,
}

/// A marker of `shape` centred at (`x`, `y`), radius `r`, with a hover title.
pub fn marker(shape: Shape, x: f64, y: f64, r: f64, class: &str, title: &str) -> String {
    let title = format!("<title>{}</title>", esc(title));
    match shape {
        Shape::Circle => format!(
            "<circle class=\"{class}\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{r:.1}\">{title}</circle>"
        ),
        Shape::Square => format!(
            "<rect class=\"{class}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\">{title}</rect>",
            x - r,
            y - r,
            2.0 * r,
            2.0 * r
        ),
        Shape::Triangle => format!(
            "<polygon class=\"{class}\" points=\"{x:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\">{title}</polygon>",
            y - r * 1.15,
            x - r * 1.1,
            y + r * 0.8,
            x + r * 1.1,
            y + r * 0.8
        ),
        Shape::Diamond => format!(
            "<polygon class=\"{class}\" points=\"{x:.1},{:.1} {:.1},{y:.1} {x:.1},{:.1} {:.1},{y:.1}\">{title}</polygon>",
            y - r * 1.2,
            x + r * 1.2,
            y + r * 1.2,
            x - r * 1.2
        ),
        Shape::Cross => format!(
            "<path class=\"{class} cross\" d=\"M{:.1},{:.1}L{:.1},{:.1}M{:.1},{:.1}L{:.1},{:.1}\">{title}</path>",
            x - r,
            y - r,
            x + r,
            y + r,
            x - r,
            y + r,
            x + r,
            y - r
        ),
    }
}

/// A legend entry: the marker, then its words.
pub fn legend(shape: Shape, x: f64, y: f64, class: &str, words: &str) -> String {
    format!(
        "{}{}",
        marker(shape, x, y, 5.0, class, words),
        text(x + 10.0, y + 4.0, "start", "legend", words)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_linear_scale_widens_to_round_numbers() {
        let scale = Scale::linear(3.0, 97.0, 0.0, 100.0);
        assert_eq!(scale.ticks(), vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!(scale.at(50.0), 50.0);
        assert_eq!(scale.at(-5.0), 0.0, "clamped");
    }

    #[test]
    fn a_log_scale_ticks_at_powers_of_ten() {
        let scale = Scale::log(3.0, 4000.0, 0.0, 400.0);
        let ticks: Vec<String> = scale.ticks().into_iter().map(tick_label).collect();
        assert_eq!(ticks, ["2", "10", "100", "1000", "5000"]);
        assert!((scale.at(100.0) - 200.0).abs() < 1e-9);
        assert_eq!(tick_label(10000.0), "10k");
        let decade = Scale::log(1.0, 1000.0, 0.0, 300.0);
        assert_eq!(decade.ticks(), vec![1.0, 10.0, 100.0, 1000.0]);
    }

    #[test]
    fn a_flat_interval_still_gets_a_scale() {
        let scale = Scale::linear(4.0, 4.0, 0.0, 10.0);
        let at = scale.at(4.0);
        assert!(at > 0.0 && at < 10.0, "{at}");
    }
}

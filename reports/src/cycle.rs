//! A dependency cycle drawn as SVG: transactions on a circle, clockwise in
//! cycle order, each edge an arrow labelled with its dependency (`ww`,
//! `wr`, `rw`, `process`, `realtime`) and coloured by it, so a reader sees
//! at a glance where the anti-dependencies are. Inline in report.html; no
//! scripts, no external fonts.

use std::f64::consts::PI;
use std::fmt::Write as _;

use checkers::txn::Step;

use crate::escape;

fn colour(dep: &str) -> &'static str {
    match dep {
        "ww" => "#1f5fa8",
        "wr" => "#2a8a3e",
        "rw" => "#c0392b",
        _ => "#7a5a00",
    }
}

/// The cycle `steps` (each step's `from` precedes its `to`, the last
/// returning to the first) as one `<svg>` element.
pub fn svg(steps: &[Step]) -> String {
    let n = steps.len().max(1);
    let r = (40.0 + 22.0 * n as f64).min(260.0);
    let (w, h) = (2.0 * r + 160.0, 2.0 * r + 90.0);
    let (cx, cy) = (w / 2.0, h / 2.0);
    let at = |i: usize| {
        let a = -PI / 2.0 + 2.0 * PI * i as f64 / n as f64;
        (cx + r * a.cos(), cy + r * a.sin())
    };
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg class=\"cycle\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{h:.0}\" \
         viewBox=\"0 0 {w:.0} {h:.0}\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    s.push_str("<defs>");
    for dep in ["ww", "wr", "rw", "process", "realtime"] {
        let _ = write!(
            s,
            "<marker id=\"arrow-{dep}\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" \
             markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"{}\"/></marker>",
            colour(dep)
        );
    }
    s.push_str("</defs>");
    let node_r = 17.0;
    for (i, step) in steps.iter().enumerate() {
        let (x1, y1) = at(i);
        let (x2, y2) = at((i + 1) % n);
        let (dx, dy) = (x2 - x1, y2 - y1);
        let len = (dx * dx + dy * dy).sqrt().max(1.0);
        let (ux, uy) = (dx / len, dy / len);
        // Bow each edge outwards so a two-transaction cycle shows two arrows.
        let (mx, my) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0);
        let (ox, oy) = (mx - cx, my - cy);
        let olen = (ox * ox + oy * oy).sqrt();
        let (nx, ny) = if olen < 1.0 {
            (-uy, ux)
        } else {
            (ox / olen, oy / olen)
        };
        let bow = 0.18 * len + 10.0;
        let (qx, qy) = (mx + nx * bow, my + ny * bow);
        let (sx, sy) = (x1 + ux * node_r, y1 + uy * node_r);
        let (ex, ey) = (x2 - ux * node_r, y2 - uy * node_r);
        let c = colour(&step.dep);
        let dep = escape(&step.dep);
        let _ = write!(
            s,
            "<path d=\"M{sx:.1},{sy:.1} Q{qx:.1},{qy:.1} {ex:.1},{ey:.1}\" fill=\"none\" stroke=\"{c}\" \
             stroke-width=\"2\" marker-end=\"url(#arrow-{dep})\"><title>{}</title></path>\
             <text x=\"{:.1}\" y=\"{:.1}\" fill=\"{c}\" text-anchor=\"middle\">{dep}</text>",
            escape(&step.why),
            mx + nx * (bow * 0.55 + 8.0),
            my + ny * (bow * 0.55 + 8.0) + 4.0,
        );
    }
    for (i, step) in steps.iter().enumerate() {
        let (x, y) = at(i);
        let _ = write!(
            s,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{node_r}\" fill=\"#fff\" stroke=\"#333\" stroke-width=\"1.5\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-weight=\"bold\">{}</text>",
            y + 4.0,
            escape(&step.from)
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(from: &str, to: &str, dep: &str) -> Step {
        Step {
            from: from.into(),
            to: to.into(),
            dep: dep.into(),
            why: format!("{from} < {to} because <reasons>"),
        }
    }

    #[test]
    fn draws_every_transaction_and_every_labelled_edge() {
        let s = svg(&[
            step("T1", "T2", "rw"),
            step("T2", "T3", "wr"),
            step("T3", "T1", "realtime"),
        ]);
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
        assert_eq!(s.matches("<circle").count(), 3);
        assert_eq!(s.matches("marker-end").count(), 3);
        for label in [">T1<", ">T2<", ">T3<", ">rw<", ">wr<", ">realtime<"] {
            assert!(s.contains(label), "{label} missing");
        }
        assert!(
            s.contains("&lt;reasons&gt;") && !s.contains("<reasons>"),
            "escaped"
        );
    }
}

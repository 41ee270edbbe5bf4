//! The page around the sections: inline CSS (screen and print) and the little inline
//! JavaScript the page has. Nothing is fetched: the page opens from disk, offline.
//!
//! The script only adds interaction (filters, toggles, opening every detail before
//! printing) and two things a test reads: `data-ready="1"` on `<html>` once it has run, and
//! `data-script-errors`, the count of script errors the page saw. With `#focus=ID` in the
//! address it shows that element alone and writes its size into `data-focus-width` /
//! `data-focus-height` (how the README's screenshots are cut out of the real report).

use crate::markup::esc;

const CSS: &str = r#"
:root { --proven: #1a7f37; --violated: #b42318; --inconclusive: #9a6700; --ink: #1f2328;
  --muted: #59636e; --line: #d1d9e0; --tint-proven: #e6f4ea; --tint-violated: #fdecea;
  --tint-inconclusive: #fff4d6; --accent: #0969da; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif;
  color: var(--ink); margin: 0 24px 48px; background: #fff; }
header.top { border-bottom: 2px solid var(--ink); padding: 16px 0 8px; margin-bottom: 8px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 32px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 16px; margin: 24px 0 6px; }
p.lead, p.note, .muted { color: var(--muted); }
p.lead { max-width: 62em; margin: 4px 0 12px; }
nav.toc a { margin-right: 14px; color: var(--accent); }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: 12.5px; }
a { color: var(--accent); }
table { border-collapse: collapse; margin: 6px 0 12px; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.missing { border: 1px dashed var(--muted); padding: 8px 12px; color: var(--muted); max-width: 62em; }
.controls { margin: 6px 0; color: var(--muted); }
.controls label { margin-right: 14px; }
/* verdicts: a shape and a word in every cell, colour only on top */
table.grid td.cell { text-align: center; min-width: 64px; padding: 2px 3px; }
.scroll { overflow-x: auto; max-width: 100%; }
table.grid td.cell a { display: block; color: inherit; text-decoration: none; padding: 2px; }
table.grid td.empty { background: repeating-linear-gradient(45deg, #fff, #fff 4px, #f3f4f6 4px, #f3f4f6 8px); }
table.grid th.variant { font-size: 12px; writing-mode: vertical-rl; transform: rotate(180deg);
  white-space: nowrap; vertical-align: bottom; padding: 6px 2px; }
.sym { font-weight: 700; font-size: 15px; }
.word { display: block; font-size: 11px; }
.inv { display: block; font-size: 10px; color: var(--muted); overflow-wrap: anywhere; }
.proven { color: var(--proven); } .violated { color: var(--violated); }
.inconclusive { color: var(--inconclusive); }
td.cell.proven { background: var(--tint-proven); }
td.cell.violated { background: var(--tint-violated); }
td.cell.inconclusive { background: var(--tint-inconclusive); }
td.cell.unexpected { outline: 3px double var(--ink); outline-offset: -4px; }
.flag { font-weight: 700; font-size: 10.5px; letter-spacing: .04em; }
table.grid.only-unexpected td.cell:not(.unexpected) { opacity: .25; }
table.grid.only-violated td.cell:not(.violated) { opacity: .25; }
/* swimlanes: one column per actor, one row per step */
.case { margin: 12px 0 28px; }
.case > p { max-width: 62em; }
.case h3 a.back { font-size: 12px; font-weight: 400; margin-left: 8px; }
table.swimlane { width: max-content; max-width: 100%; }
table.swimlane th.lane { min-width: 200px; text-align: center; }
table.swimlane th.lane .who { display: block; font-weight: 400; font-size: 11.5px; color: var(--muted); }
table.swimlane td { border: none; border-left: 2px solid #9aa5b1; padding: 4px 10px; }
table.swimlane td.stepno { border-left: none; text-align: right; color: var(--muted);
  font-variant-numeric: tabular-nums; }
table.swimlane tr { border-bottom: 1px dotted var(--line); }
table.swimlane td.act { background: #fff; }
table.swimlane td.act .ev { display: block; max-width: 34em; }
.badge { display: inline-block; font-size: 10px; font-weight: 700; letter-spacing: .04em;
  border: 1px solid currentColor; border-radius: 3px; padding: 0 4px; margin-right: 6px; }
.k-commit .badge { color: #0b5cad; } .k-effect .badge { color: #6f42c1; }
.k-call .badge, .k-return .badge { color: var(--muted); } .k-stale .badge { color: var(--inconclusive); }
.k-wait .badge, .k-panic .badge { color: var(--violated); }
td.act.k-commit { background: #eaf2fc; } td.act.k-effect { background: #f3ecfc; }
td.act.k-stale { background: var(--tint-inconclusive); }
tr.breach td.act { background: var(--tint-violated); box-shadow: inset 0 0 0 2px var(--violated); }
tr.breach td.stepno { color: var(--violated); font-weight: 700; }
.why { display: block; margin-top: 3px; color: var(--violated); font-weight: 600; }
.why::before { content: "\26A0  breaks: "; }
table.swimlane.hide-notes tr.k-note { display: none; }
.coverage { margin: 6px 0 18px; }
/* charts */
svg.chart { display: block; max-width: 100%; height: auto; margin: 4px 0 8px; overflow: visible; }
svg .axis { stroke: var(--ink); stroke-width: 1; }
svg .grid { stroke: #e5e9ee; stroke-width: 1; }
svg text { font: 11px system-ui, "DejaVu Sans", sans-serif; fill: var(--ink);
  paint-order: stroke; stroke: #fff; stroke-width: 3px; stroke-linejoin: round; }
svg text.tick, svg text.legend-note { fill: var(--muted); }
svg text.axis-title { font-weight: 600; }
svg text.label { font-size: 11.5px; }
svg .loom { fill: #0b5cad; stroke: #0b5cad; }
svg .threads { fill: #fff; stroke: #b35c00; stroke-width: 2; }
svg .never { fill: none; stroke: var(--violated); stroke-width: 2.5; }
svg .link { stroke: #9aa5b1; stroke-width: 2; stroke-dasharray: 3 3; }
svg .burst { fill: #0b5cad; fill-opacity: .45; stroke: none; }
svg .burst-anomalous { fill: var(--violated); stroke: var(--violated); }
svg .quantile { stroke: var(--ink); stroke-width: 1.5; }
svg .quantile.p90 { stroke-dasharray: 5 3; }
svg .req-ok { fill: #cfe3f7; stroke: #0b5cad; stroke-width: 1.5; }
svg .req-fail { fill: #f1f1f1; stroke: #59636e; stroke-width: 1.5; stroke-dasharray: 4 2; }
svg .req-info { fill: #fff4d6; stroke: var(--inconclusive); stroke-width: 1.5; stroke-dasharray: 1 2; }
svg .start { fill: var(--ink); }
svg .ratio { fill: #0b5cad; stroke: #0b5cad; }
svg .ir { fill: #fff; stroke: #6f42c1; stroke-width: 2; }
svg .whisker { stroke: #0b5cad; stroke-width: 2; }
svg .one { stroke: var(--ink); stroke-width: 1.5; stroke-dasharray: 6 3; }
svg .bar { fill: #cfe3f7; stroke: #0b5cad; }
svg .bar-events { fill: var(--tint-proven); stroke: var(--proven); }
figure { margin: 8px 0 20px; }
.figtitle { font-weight: 600; margin: 0 0 2px; }
figcaption { color: var(--muted); max-width: 62em; }
footer { margin-top: 40px; color: var(--muted); border-top: 1px solid var(--line); padding-top: 6px; }
/* #focus=ID: that element alone, for a screenshot */
html.focus-mode body { margin: 0; padding: 12px; width: max-content; background: #fff; }
html.focus-mode body > *:not(.focused), html.focus-mode .controls,
html.focus-mode a.back { display: none !important; }
@media print {
  body { margin: 0; font-size: 11px; }
  nav.toc, .controls, footer .script { display: none; }
  a { color: inherit; text-decoration: none; }
  h2 { break-before: page; } header.top + * h2, section:first-of-type h2 { break-before: auto; }
  .scroll { overflow: visible; }
  /* A4 holds about 700 CSS pixels: the grid and the lanes are scaled to fit */
  table.grid { zoom: .6; } table.swimlane { zoom: .8; }
  figure, table.grid tr, table.swimlane tr { break-inside: avoid; }
  td.cell, tr.breach td.act, td.act { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"#;

const SCRIPT: &str = r#"
(function () {
  var root = document.documentElement;
  var errors = 0;
  function tell() {
    root.setAttribute('data-script-errors', String(errors));
    var out = document.getElementById('script-status');
    if (out) { out.textContent = errors ? errors + ' script error(s) on this page' : 'page script: no errors'; }
  }
  window.addEventListener('error', function () { errors += 1; tell(); });
  function focusOn(id) {
    var el = document.getElementById(id);
    if (!el) { errors += 1; return; }
    var copy = el.cloneNode(true);
    copy.classList.add('focused');
    copy.removeAttribute('id');
    document.body.appendChild(copy);
    root.classList.add('focus-mode');
    var box = copy.getBoundingClientRect();
    root.setAttribute('data-focus-width', String(Math.ceil(box.right + 12)));
    root.setAttribute('data-focus-height', String(Math.ceil(box.bottom + 12)));
  }
  document.addEventListener('DOMContentLoaded', function () {
    var boxes = document.querySelectorAll('input[data-toggle]');
    for (var i = 0; i < boxes.length; i++) {
      boxes[i].addEventListener('change', function (event) {
        var box = event.target;
        var target = document.getElementById(box.getAttribute('data-target'));
        target.classList.toggle(box.getAttribute('data-toggle'), box.checked);
      });
    }
    window.addEventListener('beforeprint', function () {
      var all = document.querySelectorAll('details');
      for (var j = 0; j < all.length; j++) { all[j].open = true; }
    });
    var focus = /^#focus=([A-Za-z0-9_-]+)$/.exec(location.hash);
    if (focus) { focusOn(focus[1]); }
    root.setAttribute('data-ready', '1');
    tell();
  });
})();
"#;

/// The whole document: `title`, the header's `lead` (HTML), a table of contents and the
/// sections (HTML, each a `<section>` with an id), and a footer naming the sources.
pub fn document(title: &str, lead: &str, toc: &[(&str, &str)], body: &str, footer: &str) -> String {
    let nav: String = toc
        .iter()
        .map(|(id, name)| format!("<a href=\"#{id}\">{}</a>", esc(name)))
        .collect();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\" data-ready=\"0\" data-script-errors=\"0\">\n<head>\n\
         <meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{CSS}</style>\n<script>{SCRIPT}</script>\n</head>\n<body>\n\
         <header class=\"top\"><h1>{title}</h1>{lead}<nav class=\"toc\">{nav}</nav></header>\n\
         {body}\n<footer>{footer} <span class=\"script\" id=\"script-status\">page script did not run</span></footer>\n\
         </body>\n</html>\n",
        title = esc(title),
    )
}

/// A section's frame: its id, heading, what it shows (HTML) and its content.
pub fn section(id: &str, heading: &str, lead: &str, content: &str) -> String {
    format!(
        "<section id=\"{id}\" data-section=\"{id}\">\n<h2>{}</h2>\n<p class=\"lead\">{lead}</p>\n{content}\n</section>\n",
        esc(heading)
    )
}

/// What stands where a report is missing: which file, and the command that writes it.
pub fn missing(what: &str) -> String {
    format!(
        "<p class=\"missing\" data-missing=\"true\">Not in this report: {}</p>",
        esc(what)
    )
}

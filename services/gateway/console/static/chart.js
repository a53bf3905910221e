// A small SVG line chart: series of [x, y] points as polylines on shared axes, with the
// axis ranges as tick labels and a legend. Enough for loss curves; no library needed.
const NS = "http://www.w3.org/2000/svg";
const COLORS = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#db2777"];
const W = 560, H = 240, PAD = { left: 56, right: 16, top: 16, bottom: 40 };

function svg(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

const fmt = (v) => (Math.abs(v) >= 100 ? String(Math.round(v)) : String(Number(v.toPrecision(3))));

// series: [{name, points: [[x, y], …]}]; title doubles as the accessible name.
export function lineChart({ title, series, xLabel = "", yLabel = "" }) {
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", class: "chart" });
  root.append(svg("title", {}, title));
  const all = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (!all.length) {
    root.append(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "…"));
    return root;
  }
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  let [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  if (x0 === x1) x1 = x0 + 1;
  if (y0 === y1) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const px = (x) => PAD.left + ((x - x0) / (x1 - x0)) * (W - PAD.left - PAD.right);
  const py = (y) => H - PAD.bottom - ((y - y0) / (y1 - y0)) * (H - PAD.top - PAD.bottom);
  const axes = `M${PAD.left},${PAD.top} V${H - PAD.bottom} H${W - PAD.right}`;
  root.append(svg("path", { d: axes, class: "axis", fill: "none" }));
  const label = (x, y, text, anchor = "middle") =>
    root.append(svg("text", { x, y, "text-anchor": anchor, class: "tick" }, text));
  label(PAD.left - 6, py(y1) + 4, fmt(y1), "end");
  label(PAD.left - 6, py(y0) + 4, fmt(y0), "end");
  label(px(x0), H - PAD.bottom + 16, fmt(x0));
  label(px(x1), H - PAD.bottom + 16, fmt(x1));
  label((PAD.left + W - PAD.right) / 2, H - 6, xLabel);
  label(14, PAD.top - 4, yLabel, "start");
  series.forEach((s, i) => {
    const color = s.color || COLORS[i % COLORS.length];
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    root.append(
      svg("polyline", {
        points: pts.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(" "),
        fill: "none",
        stroke: color,
        "stroke-width": 2,
        "data-series": s.name,
      }),
    );
    // A lone point (one epoch so far) is invisible as a line: draw it as a dot too.
    if (pts.length === 1) root.append(svg("circle", { cx: px(pts[0][0]), cy: py(pts[0][1]), r: 3, fill: color }));
    const lx = W - PAD.right - 150, ly = PAD.top + 4 + i * 16;
    root.append(svg("rect", { x: lx, y: ly - 8, width: 10, height: 10, fill: color }));
    root.append(svg("text", { x: lx + 14, y: ly + 1, class: "legend" }, s.name));
  });
  return root;
}

// Redraws `box` with the chart; `data-points` counts the points drawn, so a test (or a
// person's devtools) can see a live curve grow.
export function drawChart(box, options) {
  box.dataset.points = String(options.series.reduce((n, s) => n + s.points.length, 0));
  box.replaceChildren(lineChart(options));
  return box;
}

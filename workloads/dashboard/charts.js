// baedal dashboard charts: small SVG bar, line and horizontal-bar charts,
// drawn with no library and no network access. Each drawn chart is an
// <svg class="chart" data-points="N">, which the browser test counts.
"use strict";

const SVG = "http://www.w3.org/2000/svg";

function el(name, attrs, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function niceMax(max) {
  if (!(max > 0)) return 1;
  const step = Math.pow(10, Math.floor(Math.log10(max)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * step >= max) return m * step;
  return 10 * step;
}

export function formatNumber(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  const a = Math.abs(v);
  if (a >= 1e8) return (v / 1e8).toFixed(1) + "억";
  if (a >= 1e4) return (v / 1e4).toFixed(1) + "만";
  if (Number.isInteger(v)) return v.toLocaleString("ko-KR");
  return v.toLocaleString("ko-KR", { maximumFractionDigits: 2 });
}

export function formatPercent(v) {
  return v === null || v === undefined ? "–" : (v * 100).toFixed(1) + "%";
}

function frame(container, title, n) {
  container.innerHTML = "";
  const h = document.createElement("h3");
  h.textContent = title;
  container.appendChild(h);
  const width = 640, height = 260;
  const svg = el("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": title, "data-points": String(n) }, container);
  return { svg, width, height, left: 64, right: 12, top: 10, bottom: 40 };
}

function axes(f, max, fmt) {
  const { svg, width, height, left, right, top, bottom } = f;
  for (let i = 0; i <= 4; i++) {
    const y = top + (height - top - bottom) * (1 - i / 4);
    el("line", { x1: left, x2: width - right, y1: y, y2: y, class: "grid" }, svg);
    const t = el("text", { x: left - 6, y: y + 4, "text-anchor": "end", class: "tick" }, svg);
    t.textContent = fmt(max * i / 4);
  }
}

function xLabels(f, labels, xOf) {
  const every = Math.max(1, Math.ceil(labels.length / 16));
  labels.forEach((label, i) => {
    if (i % every) return;
    const t = el("text", { x: xOf(i), y: f.height - f.bottom + 16, "text-anchor": "middle", class: "tick" }, f.svg);
    t.textContent = label;
  });
}

/** Vertical bars: data = [{label, value}]. */
export function barChart(container, title, data, fmt = formatNumber) {
  const f = frame(container, title, data.length);
  const max = niceMax(Math.max(0, ...data.map(d => d.value || 0)));
  axes(f, max, fmt);
  const plotW = f.width - f.left - f.right, plotH = f.height - f.top - f.bottom;
  const w = plotW / Math.max(1, data.length);
  data.forEach((d, i) => {
    const h = plotH * (d.value || 0) / max;
    const bar = el("rect", { x: f.left + i * w + w * 0.1, y: f.top + plotH - h, width: w * 0.8, height: h, class: "bar" }, f.svg);
    el("title", {}, bar).textContent = `${d.label}: ${fmt(d.value)}`;
  });
  xLabels(f, data.map(d => d.label), i => f.left + i * w + w / 2);
}

/** Lines: labels = [..], series = [{name, values}]; marks = [{index, series, note}]
 *  are circled (anomalies). */
export function lineChart(container, title, labels, series, fmt = formatNumber, marks = []) {
  const f = frame(container, title, labels.length);
  const max = niceMax(Math.max(0, ...series.flatMap(s => s.values.map(v => v || 0))));
  axes(f, max, fmt);
  const plotW = f.width - f.left - f.right, plotH = f.height - f.top - f.bottom;
  const xOf = i => f.left + (labels.length > 1 ? plotW * i / (labels.length - 1) : plotW / 2);
  series.forEach((s, k) => {
    const points = s.values.map((v, i) => `${xOf(i)},${f.top + plotH - plotH * (v || 0) / max}`).join(" ");
    el("polyline", { points, class: `line line-${k}` }, f.svg);
    const legend = el("text", { x: f.left + 8 + 140 * k, y: f.top + 12, class: `legend legend-${k}` }, f.svg);
    legend.textContent = s.name;
  });
  for (const m of marks) {
    const v = series[m.series || 0].values[m.index] || 0;
    const dot = el("circle", { cx: xOf(m.index), cy: f.top + plotH - plotH * v / max, r: 5, class: "mark" }, f.svg);
    el("title", {}, dot).textContent = m.note;
  }
  xLabels(f, labels, xOf);
}

/** Horizontal bars for rankings: data = [{label, value}]. */
export function rankChart(container, title, data, fmt = formatNumber) {
  container.innerHTML = "";
  const h = document.createElement("h3");
  h.textContent = title;
  container.appendChild(h);
  const row = 22, width = 640, left = 170, height = row * data.length + 10;
  const svg = el("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, "data-points": String(data.length),
    role: "img", "aria-label": title }, container);
  const max = niceMax(Math.max(0, ...data.map(d => d.value || 0)));
  data.forEach((d, i) => {
    const y = 5 + i * row;
    const label = el("text", { x: left - 6, y: y + 14, "text-anchor": "end", class: "tick" }, svg);
    label.textContent = d.label;
    const w = (width - left - 80) * (d.value || 0) / max;
    el("rect", { x: left, y: y + 2, width: w, height: row - 6, class: "bar" }, svg);
    const v = el("text", { x: left + w + 4, y: y + 14, class: "tick" }, svg);
    v.textContent = fmt(d.value);
  });
}

/** A plain table: columns = [{key, label, fmt}]. */
export function table(container, title, rows, columns) {
  container.innerHTML = "";
  const h = document.createElement("h3");
  h.textContent = title;
  container.appendChild(h);
  const t = document.createElement("table");
  const head = t.createTHead().insertRow();
  for (const c of columns) {
    const th = document.createElement("th");
    th.textContent = c.label;
    head.appendChild(th);
  }
  const body = t.createTBody();
  for (const r of rows) {
    const tr = body.insertRow();
    for (const c of columns) {
      const v = r[c.key];
      tr.insertCell().textContent = c.fmt ? c.fmt(v) : (v ?? "–");
    }
  }
  container.appendChild(t);
}

/** Rider routes over the places they visit, with no map tiles: routes =
 *  [{stops: [{kind, at: {lat, lng}, order_id}]}]. Stores are squares,
 *  customers circles; each route is one colour. */
export function routeMap(container, title, routes) {
  const stops = routes.flatMap(r => r.stops);
  const f = frame(container, title, stops.length);
  if (!stops.length) return;
  const lats = stops.map(s => s.at.lat), lngs = stops.map(s => s.at.lng);
  const [south, north] = [Math.min(...lats), Math.max(...lats)];
  const [west, east] = [Math.min(...lngs), Math.max(...lngs)];
  // Equirectangular: a degree of longitude is cos(latitude) of one of latitude.
  const shrink = Math.cos((south + north) / 2 * Math.PI / 180);
  const spanX = Math.max((east - west) * shrink, 1e-6), spanY = Math.max(north - south, 1e-6);
  const w = f.width - 40, h = f.height - 40;
  const scale = Math.min(w / spanX, h / spanY);
  const x = lng => 20 + (w - spanX * scale) / 2 + (lng - west) * shrink * scale;
  const y = lat => 20 + (h - spanY * scale) / 2 + (north - lat) * scale;
  const colours = ["#2ac1bc", "#f4a259", "#5b8def", "#d64545", "#8e6bd6", "#3aa35b", "#c77d2e", "#e05fa0"];
  routes.forEach((r, k) => {
    const colour = colours[k % colours.length];
    const points = r.stops.map(s => `${x(s.at.lng)},${y(s.at.lat)}`).join(" ");
    el("polyline", { points, class: "route", stroke: colour }, f.svg);
    for (const s of r.stops) {
      if (s.kind === "drop") {
        const dot = el("circle", { cx: x(s.at.lng), cy: y(s.at.lat), r: 4, fill: colour, class: "customer" }, f.svg);
        el("title", {}, dot).textContent = `${s.order_id} 도착 ${s.arrival_min.toFixed(0)}분`;
      } else if (s.kind === "pickup") {
        const box = el("rect", { x: x(s.at.lng) - 5, y: y(s.at.lat) - 5, width: 10, height: 10, class: "store" }, f.svg);
        el("title", {}, box).textContent = `${s.order_id} 픽업 ${s.arrival_min.toFixed(0)}분`;
      }
    }
  });
}

// baedal dashboard: one renderer per page, each drawing from the API's JSON.
"use strict";
import { barChart, lineChart, rankChart, routeMap, table, formatNumber, formatPercent } from "./charts.js";

const app = document.getElementById("app");
const page = app.dataset.page;

async function api(path) {
  const response = await fetch(path, { headers: { accept: "application/json" } });
  const body = await response.json();
  if (!response.ok) throw new Error(`${path}: ${body.message || response.status}`);
  return body;
}

function panel(id) {
  const div = document.createElement("section");
  div.className = "panel";
  div.id = id;
  app.appendChild(div);
  return div;
}

function kpis(items) {
  const div = document.createElement("div");
  div.className = "kpis";
  for (const [label, value] of items) {
    const k = document.createElement("div");
    k.className = "kpi";
    k.innerHTML = "<span></span><strong></strong>";
    k.querySelector("span").textContent = label;
    k.querySelector("strong").textContent = value;
    div.appendChild(k);
  }
  app.appendChild(div);
}

function escapeHtml(text) {
  const span = document.createElement("span");
  span.textContent = String(text);
  return span.innerHTML;
}

function showError(e) {
  const p = document.createElement("p");
  p.className = "error";
  p.textContent = `데이터를 불러오지 못했습니다: ${e.message}`;
  app.appendChild(p);
}

// --- filters (trends, restaurants, delivery) --------------------------------
async function filterBar(onChange) {
  const dims = await api("/analytics/dimensions");
  const form = document.createElement("form");
  form.className = "filters";
  const field = (label, input) => {
    const l = document.createElement("label");
    l.append(label + " ", input);
    form.appendChild(l);
  };
  for (const [name, label] of [["from", "시작일"], ["to", "종료일"]]) {
    const input = document.createElement("input");
    input.type = "date";
    input.name = name;
    field(label, input);
  }
  for (const [name, label, values] of [["district", "지역", dims.districts],
    ["category", "카테고리", dims.categories], ["platform", "플랫폼", dims.platforms]]) {
    const select = document.createElement("select");
    select.name = name;
    select.add(new Option("전체", ""));
    for (const v of values) select.add(new Option(v, v));
    field(label, select);
  }
  const button = document.createElement("button");
  button.type = "submit";
  button.textContent = "적용";
  form.appendChild(button);
  app.appendChild(form);
  const query = () => {
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) q.set(k, v);
    return q.toString();
  };
  form.addEventListener("submit", e => { e.preventDefault(); onChange(query()).catch(showError); });
  return query;
}

// --- pages ------------------------------------------------------------------
const pages = {
  async trends() {
    const query = await filterBar(draw);
    const [k, hour, weekday, day, month, anomalies] =
      ["kpi", "hour", "weekday", "day", "month", "anomalies"].map(panel);
    async function draw(q) {
      const t = await api(`/analytics/order-trends?${q}`);
      k.innerHTML = `<div class="kpis"><div class="kpi"><span>주문 수</span><strong>${formatNumber(t.orders)}</strong></div>
        <div class="kpi"><span>매출 (GMV)</span><strong>${formatNumber(t.revenue)}원</strong></div></div>`;
      barChart(hour, "시간대별 주문 수", t.by_hour.map(b => ({ label: b.label, value: b.orders })));
      barChart(weekday, "요일별 주문 수", t.by_weekday.map(b => ({ label: b.label, value: b.orders })));
      lineChart(day, "일별 주문 수와 매출(만원)", t.by_day.map(b => b.label), [
        { name: "주문 수", values: t.by_day.map(b => b.orders) },
        { name: "매출(만원)", values: t.by_day.map(b => b.revenue / 10000) },
      ]);
      barChart(month, "월별 매출", t.by_month.map(b => ({ label: b.label, value: b.revenue })));
    }
    // Anomalous hours of the last 7 days (the whole data, not the filters).
    const a = await api("/analytics/anomalies?days=7");
    const at = new Map(a.series.map((p, i) => [p.hour, i]));
    const names = { orders: "주문 수", late_rate: "지연율" };
    const marks = a.hours.map(h => ({
      index: at.get(h.hour.slice(0, 13) + ":00"), series: h.metric === "orders" ? 0 : 1,
      note: `${h.hour.slice(0, 13)}시 ${names[h.metric]} ${h.metric === "orders" ? h.actual : formatPercent(h.actual)}` +
        ` (예측 ${h.metric === "orders" ? h.expected.toFixed(1) : formatPercent(h.expected)})`,
    })).filter(m => m.index !== undefined);
    lineChart(anomalies, `최근 7일 시간별 주문 수와 지연율(×100), 이상 시간 ${a.hours.length}개 (예측 ${a.level * 100}% 구간 밖)`,
      a.series.map(p => p.hour.slice(11, 13) === "00" ? p.hour.slice(5, 10) : `${Number(p.hour.slice(11, 13))}시`), [
        { name: "주문 수", values: a.series.map(p => p.orders) },
        { name: "지연율(×100)", values: a.series.map(p => (p.late_rate ?? 0) * 100) },
      ], formatNumber, marks);
    await draw(query());
    const f = await api("/analytics/demand-forecast?days=7");
    barChart(panel("forecast"), `수요 예측: 향후 7일 주문 수 (MSTL 모델, 최근 4주 롤링 검증 일별 오차 ${formatPercent(f.backtest_mape)})`,
      f.days.map(d => ({ label: `${d.date.slice(5)} ${d.weekday}`, value: d.orders })));
  },

  async customers() {
    const [seg, clv] = await Promise.all([
      api("/analytics/customer-segments"),
      api("/analytics/customer-lifetime-value?limit=10"),
    ]);
    kpis([["고객 수", formatNumber(seg.customers)], ["월 유지율", formatPercent(clv.monthly_retention)],
      ["CLV 배수", clv.multiplier.toFixed(2)]]);
    rankChart(panel("segments"), "RFM 세그먼트별 고객 수", seg.segments.map(s => ({ label: s.segment, value: s.customers })));
    rankChart(panel("segment-revenue"), "세그먼트별 매출", seg.segments.map(s => ({ label: s.segment, value: s.revenue })));
    rankChart(panel("clv"), "세그먼트별 평균 CLV (원, BG/NBD·Gamma-Gamma, 향후 12개월)",
      clv.by_segment.map(s => ({ label: s.segment, value: s.avg_clv ?? s.avg_simple_clv })));
    table(panel("rules"), "세그먼트 규칙 (위에서부터 처음 맞는 규칙)", seg.rules, [
      { key: "segment", label: "세그먼트" }, { key: "rule", label: "규칙 (R, F, M = 1–5점)" }]);
    const churn = await api("/analytics/churn?limit=10");
    const names = { churned: "이탈", at_risk: "이탈 위험", one_time: "1회 고객", active: "활성" };
    rankChart(panel("churn"), `이탈 분석 (이탈률 ${formatPercent(churn.churn_rate)})`,
      churn.by_status.map(s => ({ label: names[s.status] || s.status, value: s.customers })));
    table(panel("at-risk"), "이탈 위험 고객 (평소 주문 간격 대비 경과)", churn.at_risk, [
      { key: "customer_id", label: "고객ID" }, { key: "orders", label: "주문 수", fmt: formatNumber },
      { key: "revenue", label: "매출", fmt: formatNumber },
      { key: "days_since_last_order", label: "마지막 주문 후(일)", fmt: v => v.toFixed(0) },
      { key: "mean_gap_days", label: "평균 간격(일)", fmt: v => v.toFixed(1) },
      { key: "risk", label: "위험도", fmt: v => v.toFixed(1) }]);
    table(panel("top-clv"), "CLV 상위 고객", clv.top, [
      { key: "customer_id", label: "고객ID" }, { key: "segment", label: "세그먼트" },
      { key: "orders", label: "주문 수", fmt: formatNumber },
      { key: "avg_order_value", label: "평균 주문액", fmt: formatNumber },
      { key: "probability_alive", label: "생존 확률", fmt: v => v == null ? "–" : formatPercent(v) },
      { key: "expected_orders", label: "12개월 예상 주문", fmt: v => v == null ? "–" : v.toFixed(1) },
      { key: "clv", label: "CLV (원)", fmt: v => v == null ? "–" : formatNumber(v) },
      { key: "simple_clv", label: "단순 CLV (원)", fmt: formatNumber }]);
  },

  async restaurants() {
    const query = await filterBar(draw);
    const [rank, slow, list] = ["rank", "slow", "list"].map(panel);
    async function draw(q) {
      const r = await api(`/analytics/restaurant-performance?limit=15&${q}`);
      rankChart(rank, `매출 상위 가게 (전체 ${formatNumber(r.restaurants)}곳)`,
        r.ranking.map(x => ({ label: x.restaurant_name || x.restaurant_id, value: x.revenue })));
      const late = await api(`/analytics/restaurant-performance?limit=10&sort=late_rate&${q}`);
      rankChart(slow, "지연 배달 비율이 높은 가게", late.ranking.map(x => ({ label: x.restaurant_name || x.restaurant_id, value: x.late_rate })), formatPercent);
      table(list, "가게 성과", r.ranking, [
        { key: "rank", label: "순위" }, { key: "restaurant_name", label: "가게" }, { key: "category", label: "카테고리" },
        { key: "orders", label: "주문 수", fmt: formatNumber }, { key: "revenue", label: "매출", fmt: formatNumber },
        { key: "avg_rating", label: "평균 평점", fmt: v => v == null ? "–" : v.toFixed(2) },
        { key: "late_rate", label: "지연율", fmt: formatPercent }]);
    }
    await draw(query());
    const menu = await api("/analytics/menu?limit=10");
    rankChart(panel("menu"), "인기 메뉴 (주문 수)", menu.top_items.map(i => ({ label: i.name, value: i.orders })));
    table(panel("pairs"), "함께 주문되는 메뉴 (장바구니 분석)", menu.pairs, [
      { key: "a", label: "메뉴 A" }, { key: "b", label: "메뉴 B" }, { key: "orders", label: "함께 주문", fmt: formatNumber },
      { key: "support", label: "지지도", fmt: formatPercent }, { key: "confidence_a_to_b", label: "신뢰도 A→B", fmt: formatPercent },
      { key: "lift", label: "향상도", fmt: v => v.toFixed(2) }]);
  },

  async delivery() {
    const query = await filterBar(draw);
    const [k, band, hour, weather, district] = ["kpi", "band", "hour", "weather", "district"].map(panel);
    async function draw(q) {
      const d = await api(`/analytics/delivery-optimization?${q}`);
      k.innerHTML = `<div class="kpis"><div class="kpi"><span>평균 배달 시간</span><strong>${formatNumber(d.avg_delivery_min)}분</strong></div>
        <div class="kpi"><span>지연율</span><strong>${formatPercent(d.late_rate)}</strong></div>
        <div class="kpi"><span>배달료-거리 상관</span><strong>${d.fee_distance_correlation == null ? "–" : d.fee_distance_correlation.toFixed(2)}</strong></div></div>`;
      barChart(band, "거리별 평균 배달 시간(분)", d.by_distance_band.map(r => ({ label: r.bucket, value: r.avg_delivery_min })));
      lineChart(hour, "시간대별 지연율", d.by_hour.map(r => `${Number(r.bucket)}시`), [{ name: "지연율(%)", values: d.by_hour.map(r => r.late_rate * 100) }]);
      barChart(weather, "날씨별 평균 배달 시간(분)", d.by_weather.map(r => ({ label: r.bucket, value: r.avg_delivery_min })));
      rankChart(district, "지역별 평균 배달 시간(분)", d.by_district.slice().sort((a, b) => b.avg_delivery_min - a.avg_delivery_min)
        .map(r => ({ label: r.bucket, value: r.avg_delivery_min })));
      const fee = panel("fee");
      barChart(fee, "거리별 평균 배달료(원)", d.by_distance_band.map(r => ({ label: r.bucket, value: r.avg_fee })));
    }
    await draw(query());
    // Route suggestions for the busiest hour of the last week (every district).
    const r = await api("/analytics/delivery-routes?minutes=60");
    const p = r.plan;
    if (p) {
      routeMap(panel("routes"), `배달 경로 제안: ${r.start.replace("T", " ")}부터 ${r.minutes}분, 주문 ${r.orders}건, ` +
        `라이더 ${p.batched.riders}명 (단독 배달 ${p.one_by_one.riders}명 대비 ${p.km_saved.toFixed(1)}km, ` +
        `${p.minutes_saved.toFixed(0)}분 절약)`, p.routes);
      table(panel("route-list"), "라이더별 경로 (픽업 → 배달 순서)", p.routes.map((route, i) => ({
        rider: i + 1, orders: route.orders, km: route.km, minutes: route.minutes,
        path: route.stops.filter(s => s.order_id).map(s => `${s.kind === "pickup" ? "픽업" : "배달"} ${s.order_id}`).join(" → "),
      })), [
        { key: "rider", label: "라이더" }, { key: "orders", label: "주문 수" },
        { key: "km", label: "거리(km)", fmt: v => v.toFixed(1) }, { key: "minutes", label: "시간(분)", fmt: v => v.toFixed(0) },
        { key: "path", label: "경로" }]);
    }
  },

  async realtime() {
    const [k, cat, board, alerts] = ["kpi", "categories", "leaderboard", "alerts"].map(panel);
    const stamp = document.createElement("p");
    stamp.className = "stamp";
    app.appendChild(stamp);
    async function draw() {
      const [s, a, l] = await Promise.all([api("/realtime/stats"), api("/realtime/alerts?limit=20"),
        api("/realtime/leaderboard?by=revenue&limit=10")]);
      k.innerHTML = `<div class="kpis">
        <div class="kpi"><span>기준일</span><strong>${escapeHtml(s.date ?? "–")}</strong></div>
        <div class="kpi"><span>오늘 주문</span><strong>${formatNumber(s.orders)}</strong></div>
        <div class="kpi"><span>오늘 매출</span><strong>${formatNumber(s.revenue)}원</strong></div>
        <div class="kpi"><span>진행 중 주문</span><strong>${formatNumber(s.active_orders)}</strong></div>
        <div class="kpi"><span>지연율</span><strong>${formatPercent(s.late_rate)}</strong></div></div>`;
      rankChart(cat, "카테고리별 오늘 주문", Object.entries(s.categories).sort((x, y) => y[1] - x[1])
        .map(([label, value]) => ({ label, value })));
      rankChart(board, "가게 매출 순위 (실시간)", l.restaurants.map(r => ({ label: r.restaurant_id, value: r.score })));
      table(alerts, "실시간 알림 (지연 배달 비율 초과)", a.alerts, [
        { key: "window_end", label: "시각" }, { key: "late_rate", label: "지연율", fmt: formatPercent },
        { key: "threshold", label: "기준", fmt: formatPercent }, { key: "orders", label: "배달 수", fmt: formatNumber }]);
      stamp.textContent = `출처: ${s.source} · ${new Date().toLocaleTimeString("ko-KR")} 갱신 (2초마다 자동 갱신)`;
    }
    await draw();
    setInterval(() => draw().catch(showError), 2000);
  },
};

(pages[page] || pages.trends)().then(() => { app.dataset.ready = "true"; }).catch(e => { showError(e); app.dataset.ready = "error"; });

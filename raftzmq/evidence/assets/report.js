// raftzmq run report: draws the data in #run-data (see raftzmq/evidence/html.py) as an interactive timeline.
// Only the visible window is drawn, and segments narrower than a pixel are merged, so a 30-minute chaos run
// costs about as much per frame as a 10-second one.
(function () {
  'use strict';
  const statusEl = document.getElementById('status');
  function setStatus(text) { statusEl.dataset.status = text; statusEl.textContent = text; }
  window.addEventListener('error', (e) => setStatus('error: ' + e.message));

  const D = JSON.parse(document.getElementById('run-data').textContent);
  const NS = 'http://www.w3.org/2000/svg';
  const ROLES = D.style.roles, MARKS = D.style.marks;
  const GROUP_COLORS = ['#1565c0', '#ef6c00', '#6a1b9a', '#2e7d32', '#ad1457', '#00838f'];
  const END = Math.max(D.t_end_ms, 0.001);
  const MIN_SPAN = 0.05;  // ms
  const LABEL_ROWS = 3;
  const L = { left: 78, right: 14, axis: 22, labels: LABEL_ROWS * 13, term: 18, net: 18, lane: 24, gap: 10,
    logTop: 24, log: 30, logGap: 14 };
  const LOGS = D.logs || null;  // the log lanes (evidence/logview.py), null for an election-only run
  const STEP_TIMES = new Map();  // each step list's times, computed once (binary searches on every render)
  const COMMITS_OF = {}, COMMIT_TIMES = {}, REPLACED_OF = {};  // node -> indexes into LOGS.commits / .replaced (and the commits' times), in time order
  if (LOGS) {
    LOGS.commits.forEach((c, k) => {
      (COMMITS_OF[c[1]] = COMMITS_OF[c[1]] || []).push(k); (COMMIT_TIMES[c[1]] = COMMIT_TIMES[c[1]] || []).push(c[0]);
    });
    LOGS.replaced.forEach((r, k) => { (REPLACED_OF[r[1]] = REPLACED_OF[r[1]] || []).push(k); });
  }
  const timesOf = (steps) => { let t = STEP_TIMES.get(steps); if (!t) { t = steps.map((s) => s[0]); STEP_TIMES.set(steps, t); } return t; };
  const MAX_ARROWS = 800;
  const tl = document.getElementById('timeline'), ov = document.getElementById('overview');
  const tip = document.getElementById('tooltip'), votesNote = document.getElementById('votes-note');
  const recTimes = D.records.map((r) => r[2]);
  const voteTimes = D.votes.map((v) => v[0]), markTimes = D.marks.map((m) => m.t);
  const laneOf = {}; D.nodes.forEach((n, i) => { laneOf[n] = i; });
  const opts = { votes: true, prevotes: false, labels: true };
  let win = [0, END], pending = false, lastRenderMs = 0, renders = 0;

  // ------------------------------------------------------------------------------------------ helpers
  function el(tag, attrs, parent, text) {
    const e = document.createElementNS(NS, tag);
    for (const k in attrs) if (attrs[k] !== null && attrs[k] !== undefined) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function h(tag, attrs, parent, text) {
    const e = document.createElement(tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function fmtT(ms) {
    if (ms === 0) return '0s';
    if (ms >= 60000) return Math.floor(ms / 60000) + 'm' + ((ms % 60000) / 1000).toFixed(1).padStart(4, '0') + 's';
    if (Math.abs(ms) >= 1000) return (ms / 1000).toFixed(3) + 's';
    return ms.toFixed(ms < 10 ? 3 : 1) + 'ms';
  }
  function niceStep(span, n) {
    const raw = span / n, p = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
    return 10 * p;
  }
  function tickText(ms, step) {  // seconds with as many decimals as the step needs; ms only below one second
    if (ms >= 1000 || step >= 1000) return (ms / 1000).toFixed(Math.max(0, -Math.floor(Math.log10(step / 1000) + 1e-9))) + 's';
    return ms.toFixed(Math.max(0, -Math.floor(Math.log10(step) + 1e-9))) + 'ms';
  }
  function firstEnding(arr, t, endOf) {  // index of the first item whose end >= t (arr sorted by start and end)
    let lo = 0, hi = arr.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (endOf(arr[mid]) < t) lo = mid + 1; else hi = mid; }
    return lo;
  }
  function firstAt(times, t) {
    let lo = 0, hi = times.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (times[mid] < t) lo = mid + 1; else hi = mid; }
    return lo;
  }
  function geometry() {
    const width = Math.max(400, tl.clientWidth || tl.parentNode.clientWidth || 1200);
    const labels = opts.labels ? L.labels : 0;
    const termY = L.axis + labels, netY = termY + L.term + 4, lanesY = netY + L.net + 10;
    const lanesEnd = lanesY + D.nodes.length * (L.lane + L.gap);
    const logsY = lanesEnd + L.logTop;
    const height = (LOGS ? logsY + D.nodes.length * (L.log + L.logGap) : lanesEnd) + 4;
    const plotW = width - L.left - L.right;
    const x = (t) => L.left + (t - win[0]) * plotW / (win[1] - win[0]);
    const y = (node) => lanesY + (laneOf[node] || 0) * (L.lane + L.gap);
    return { width, height, plotW, termY, netY, lanesY, lanesEnd, logsY, x, y, labelsY: L.axis };
  }

  // ------------------------------------------------------------------------------------------ drawing
  function drawAxis(g, G) {
    const step = niceStep(win[1] - win[0], Math.max(2, Math.floor(G.plotW / 110)));
    for (let t = Math.ceil(win[0] / step) * step; t <= win[1]; t += step) {
      const x = G.x(t);
      el('line', { x1: x, x2: x, y1: L.axis - 6, y2: G.height, stroke: '#eeeeee' }, g);
      el('text', { x: x, y: 14, 'text-anchor': 'middle', 'font-size': 11, class: 'tick' }, g, tickText(t, step));
    }
  }
  function drawTerms(g, G) {
    el('text', { x: L.left - 6, y: G.termY + 13, 'text-anchor': 'end', 'font-size': 11 }, g, 'term');
    const terms = D.terms;
    let lastX = -1;
    for (let i = firstEnding(terms, win[0], (t) => t[1]); i < terms.length && terms[i][0] <= win[1]; i++) {
      const [t0, t1, term, leaders] = terms[i];
      const x0 = Math.max(L.left, G.x(t0)), x1 = Math.min(G.width - L.right, G.x(t1));
      if (x1 < lastX + 1.5) continue;  // sub-pixel terms: one per pixel or two is enough
      lastX = Math.max(x1, x0 + 1);
      const bad = leaders.length > 1;
      const fill = bad ? '#ff1744' : leaders.length ? (term % 2 ? '#a5d6a7' : '#c8e6c9') : (term % 2 ? '#e0e0e0' : '#f5f5f5');
      el('rect', { x: x0, y: G.termY, width: Math.max(1, x1 - x0), height: L.term, fill: fill, class: 'term',
        'data-kind': 'term', 'data-i': i }, g);
      const full = 'T' + term + (leaders.length ? ' ▸ ' + leaders.join('/') : ''), short = 'T' + term;
      const label = x1 - x0 > full.length * 6.5 + 4 ? full : x1 - x0 > short.length * 6.5 + 4 ? short : null;
      if (label) el('text', { x: x0 + 3, y: G.termY + 13, 'font-size': 11, 'pointer-events': 'none', class: 'term-text' }, g, label);
    }
  }
  // Network states shorter than a pixel are folded into the one drawn before them (partition wins over loss/delay).
  function drawNet(g, G) {
    el('text', { x: L.left - 6, y: G.netY + 13, 'text-anchor': 'end', 'font-size': 11 }, g, 'network');
    const net = D.net;
    let drawnTo = -1, bandTo = -1;
    for (let i = firstEnding(net, win[0], (s) => s.t1); i < net.length && net[i].t0 <= win[1]; i++) {
      const s = net[i];
      const x1 = Math.min(G.width - L.right, G.x(s.t1));
      if (x1 <= drawnTo + 1) continue;
      const x0 = Math.max(L.left, G.x(s.t0), drawnTo), w = Math.max(1, x1 - x0);
      drawnTo = x0 + w;
      const color = s.partitioned ? MARKS.partition[0] : MARKS.net[0];
      el('rect', { x: x0, y: G.netY, width: w, height: L.net, fill: color, 'fill-opacity': 0.28, class: 'net-span',
        'data-kind': 'net', 'data-i': i }, g);
      if (w > s.label.length * 6 + 4) el('text', { x: x0 + 3, y: G.netY + 13, 'font-size': 10, 'pointer-events': 'none' }, g, s.label);
      if (!s.partitioned) continue;
      if (x1 > bandTo + 1) {
        const bx = Math.max(x0, bandTo);
        el('rect', { x: bx, y: G.lanesY - 4, width: Math.max(1, x1 - bx), height: G.lanesEnd - G.lanesY, fill: MARKS.partition[0],
          'fill-opacity': 0.06, 'pointer-events': 'none', class: 'partition-band' }, g);
        bandTo = x1;
      }
      if (w < 2) continue;  // groups are only readable where the span has some width
      const strip = (node, color, cls) => {
        if (laneOf[node] !== undefined) el('rect', { x: x0, y: G.y(node) - 4, width: w, height: 3, fill: color, class: cls, 'data-kind': 'net', 'data-i': i }, g);
      };
      if (s.groups && !s.views) s.groups.forEach((grp, gi) => grp.forEach((node) => strip(node, GROUP_COLORS[gi % GROUP_COLORS.length], 'group-strip')));
      else new Set(s.cuts.flat()).forEach((node) => strip(node, MARKS.partition[0], 'cut-strip'));
    }
  }
  function drawSegment(g, G, node, seg, idx, merged) {
    const [t0, t1, state, term] = seg;
    const x0 = Math.max(L.left, G.x(t0)), x1 = Math.min(G.width - L.right, G.x(t1)), y = G.y(node);
    const attrs = { x: x0, y: y, width: Math.max(1, x1 - x0), height: L.lane, class: 'seg ' + state + (merged ? ' merged' : ''),
      fill: state === 'paused' ? 'url(#hatch)' : ROLES[state][0], 'data-kind': 'seg', 'data-i': idx };
    if (state === 'down') { attrs.stroke = '#e53935'; attrs['stroke-dasharray'] = '3,2'; }
    if (state === 'stopped') attrs.stroke = '#9e9e9e';
    if (merged) attrs['data-merged'] = merged;
    el('rect', attrs, g);
    if (state === 'leader' && !merged) {
      const label = 't' + term;
      if (x1 - x0 > label.length * 7 + 4) el('text', { x: x0 + 3, y: y + 16, fill: '#fff', 'font-size': 12, 'pointer-events': 'none', class: 'term-label' }, g, label);
      else el('text', { x: (x0 + x1) / 2, y: y - 1, fill: '#2e7d32', 'font-size': 10, 'text-anchor': 'middle', 'pointer-events': 'none', class: 'term-label short' }, g, label);
    }
  }
  // Segments narrower than 3 pixels are gathered into one bucket drawn in the colour of the state that took most
  // of its time: the lane keeps its look at any zoom and the number of elements stays below ~2 per pixel.
  function drawLane(parent, G, node) {
    const segs = D.lanes[node] || [];
    const g = el('g', { class: 'lane', 'data-node': node }, parent);
    el('text', { x: L.left - 6, y: G.y(node) + 16, 'text-anchor': 'end', 'font-size': 12, class: 'lane-label' }, g, 'node ' + node);
    let bucket = null;
    const flush = () => {
      if (!bucket) return;
      let best = null;
      for (const s in bucket.time) if (best === null || bucket.time[s] > bucket.time[best]) best = s;
      drawSegment(g, G, node, [bucket.t0, bucket.t1, best, null], bucket.first, bucket.n);
      bucket = null;
    };
    for (let i = firstEnding(segs, win[0], (s) => s[1]); i < segs.length && segs[i][0] <= win[1]; i++) {
      const s = segs[i], w = G.x(s[1]) - G.x(s[0]);
      if (w >= 3) { flush(); drawSegment(g, G, node, s, i, 0); continue; }
      if (!bucket) bucket = { t0: s[0], t1: s[1], time: {}, n: 0, first: i };
      bucket.t1 = s[1]; bucket.n += 1;
      bucket.time[s[2]] = (bucket.time[s[2]] || 0) + (s[1] - s[0]);
      if (G.x(bucket.t1) - G.x(bucket.t0) >= 3) flush();
    }
    flush();
  }
  // A label never silently vanishes: it goes into the first of LABEL_ROWS rows with room, abbreviated (the full
  // text in its tooltip) if only that fits; a mark whose label fits nowhere joins the label that blocks it, which
  // then reads "... +N", lists them all on hover and zooms to them on click. (A joined label is not moved:
  // the rows only grow at their ends, so nothing placed later overlaps it.)
  function drawMarks(g, G) {
    const marks = D.marks, rowEnd = new Array(LABEL_ROWS).fill(-1e9), rowLast = new Array(LABEL_ROWS).fill(null);
    let i = firstAt(markTimes, win[0]);
    const lastX = {};
    const place = (x, text) => {
      const w = text.length * 6.2, anchor = x + w > G.width ? 'end' : 'start', start = anchor === 'end' ? x - w : x;
      const row = rowEnd.findIndex((end) => end < start);
      if (row < 0) return null;
      rowEnd[row] = start + w + 6;
      return { x: x, y: G.labelsY + row * 13 + 10, anchor: anchor, row: row };
    };
    const join = (k) => {  // the mark's label goes with the nearest label before it (the last placed in any row)
      let row = -1;
      rowLast.forEach((last, r) => { if (last && (row < 0 || last.x > rowLast[row].x)) row = r; });
      if (row < 0) return;
      const last = rowLast[row];
      last.marks.push(k);
      const text = last.text + ' +' + (last.marks.length - 1);
      last.el.textContent = text;
      last.el.setAttribute('data-kind', 'crowd'); last.el.setAttribute('data-marks', last.marks.join(','));
      last.el.classList.add('crowd');
      if (last.anchor === 'start') rowEnd[row] = Math.max(rowEnd[row], last.x + text.length * 6.2 + 6);
    };
    for (; i < marks.length && marks[i].t <= win[1]; i++) {
      const m = marks[i], x = G.x(m.t), color = MARKS[m.kind][0];
      const sameSpot = lastX[m.node] !== undefined && x - lastX[m.node] < 2;
      if (!sameSpot) {  // one line per node and pixel; the label of a hidden line still counts
        lastX[m.node] = x;
        const y0 = m.node ? G.y(m.node) - 5 : G.termY, y1 = m.node ? G.y(m.node) + L.lane + 5 : G.lanesEnd;  // (not over the log lanes)
        el('line', { x1: x, x2: x, y1: y0, y2: y1, stroke: color, 'stroke-width': 2.5, class: 'mark ' + m.kind,
          'data-kind': 'mark', 'data-i': i }, g);
      }
      if (!opts.labels) continue;
      const full = sameSpot ? null : place(x, m.label);
      const short = full || sameSpot || m.short === m.label ? null : place(x, m.short);
      const at = full || short;
      if (!at) { join(i); continue; }
      const text = full ? m.label : m.short;
      const e = el('text', { x: at.x, y: at.y, fill: color, 'font-size': 11, 'text-anchor': at.anchor,
        class: 'mark-label' + (full ? '' : ' short'), 'data-kind': 'mark', 'data-i': i }, g, text);
      rowLast[at.row] = { el: e, text: text, marks: [i], x: at.x, anchor: at.anchor };
    }
  }
  // A skewed node's lane carries a band (its factor as the label) while its timers run fast or slow.
  function drawSkews(g, G) {
    D.skews.forEach((s, i) => {
      if (s.t1 < win[0] || s.t0 > win[1] || laneOf[s.node] === undefined) return;
      const x0 = Math.max(L.left, G.x(s.t0)), x1 = Math.min(G.width - L.right, G.x(s.t1)), y = G.y(s.node);
      el('rect', { x: x0, y: y + L.lane - 6, width: Math.max(1, x1 - x0), height: 6, fill: D.style.skew[0],
        'fill-opacity': 0.75, class: 'skew-band', 'data-kind': 'skew', 'data-i': i }, g);
      const text = x1 - x0 > s.label.length * 6.5 + 4 ? s.label : null;
      if (text) el('text', { x: x1 - 3, y: y + L.lane - 8, 'text-anchor': 'end', 'font-size': 10, fill: D.style.skew[0],
        'font-weight': 'bold', 'pointer-events': 'none', class: 'skew-label' }, g, text);
    });
  }
  function drawVotes(g, G) {
    votesNote.textContent = '';
    if (!opts.votes && !opts.prevotes) return;
    const votes = D.votes;
    const from = firstAt(voteTimes, win[0]), to = firstAt(voteTimes, win[1] + 1e-9);
    const shown = [];
    for (let i = from; i < to; i++) if (votes[i][1] === 'vote' ? opts.votes : opts.prevotes) shown.push(i);
    if (shown.length > MAX_ARROWS) {
      votesNote.textContent = `${shown.length} votes in view: zoom in to see them`;
      return;
    }
    shown.forEach((vi) => {
      const [t, kind, voter, cand, , granted] = votes[vi];
      if (laneOf[voter] === undefined || laneOf[cand] === undefined) return;
      const x = G.x(t), ya = G.y(voter) + L.lane / 2, yb = G.y(cand) + L.lane / 2;
      const color = granted ? (kind === 'vote' ? '#1b5e20' : '#f9a825') : '#c62828';
      el('line', { x1: x, y1: ya, x2: x + 6, y2: yb + (yb > ya ? -6 : 6), stroke: color, 'stroke-width': 1.3,
        'stroke-dasharray': kind === 'prevote' ? '3,2' : null, 'marker-end': 'url(#arrow-' + (granted ? kind : 'denied') + ')',
        class: 'vote ' + kind + (granted ? ' granted' : ' denied'), 'data-kind': 'vote', 'data-i': vi }, g);
    });
  }
  // ------------------------------------------------------------------------------------------ log lanes
  // A step function [[t, value, rec], ...] as points in the window: the value before the window holds from its left
  // edge, steps within a pixel of the previous point only move it (the last point is the last value), and the
  // line runs on to the window's right edge (or the end of the run).
  function stepPoints(G, logY, node, steps) {
    const pts = [];
    let i = firstAt(timesOf(steps), win[0]);
    if (i > 0) pts.push([L.left, logY(node, steps[i - 1][1])]);
    for (; i < steps.length && steps[i][0] <= win[1]; i++) {
      const x = G.x(steps[i][0]), y = logY(node, steps[i][1]);
      if (pts.length && x - pts[pts.length - 1][0] < 1) { pts[pts.length - 1][1] = y; continue; }
      if (pts.length && y === pts[pts.length - 1][1]) continue;
      if (pts.length) pts.push([x, pts[pts.length - 1][1]]);
      pts.push([x, y]);
    }
    if (pts.length) pts.push([Math.min(G.x(Math.min(win[1], END)), G.width - L.right), pts[pts.length - 1][1]]);
    return pts;
  }
  function pathOf(pts) { return 'M' + pts.map((p) => p[0].toFixed(1) + ',' + p[1].toFixed(1)).join(' L'); }
  function valueAt(steps, t) {  // the step function's value at t (0 before its first step)
    const i = firstAt(timesOf(steps), t + 1e-9);
    return i > 0 ? steps[i - 1][1] : 0;
  }
  // The index scale of the log lanes: the lowest and highest index any lane shows in the window (one scale for
  // every node, so two lanes at one height hold logs of one length); zoomed in, the lanes keep their detail.
  function logScale() {
    let lo = Infinity, hi = -Infinity;
    const see = (steps) => {
      if (!steps.length) return;
      const from = firstAt(timesOf(steps), win[0]);
      const vals = steps.slice(from, firstAt(timesOf(steps), win[1] + 1e-9)).map((s) => s[1]);
      if (from > 0) vals.push(steps[from - 1][1]);
      vals.forEach((v) => { lo = Math.min(lo, v); hi = Math.max(hi, v); });
    };
    D.nodes.forEach((n) => { see(LOGS.growth[n] || []); see(LOGS.commit_line[n] || []); });
    if (lo === Infinity) { lo = 0; hi = LOGS.max_index; }
    if (hi <= lo) { lo = Math.max(0, hi - 1); hi = lo + 1; }
    return [lo, hi];
  }
  function drawLogs(g, G) {
    if (!LOGS) return;
    const S = LOGS.style, [lo, hi] = logScale();
    const logY = (node, index) => G.logsY + (laneOf[node] || 0) * (L.log + L.logGap) + L.log -
      (Math.max(lo, Math.min(hi, index)) - lo) * (L.log - 4) / (hi - lo);
    el('text', { x: L.left, y: G.logsY - 8, 'font-size': 11, fill: '#424242', class: 'log-title' }, g,
      `log: last index (area) and commit index (line, a dot per commit_advanced); every lane from index ${lo} (bottom) to ${hi} (top) in this window`);
    D.nodes.forEach((node) => {
      const y0 = logY(node, lo), yTop = logY(node, hi);
      el('text', { x: L.left - 6, y: y0 - 9, 'text-anchor': 'end', 'font-size': 12, class: 'log-label' }, g, 'log ' + node);
      el('rect', { x: L.left, y: y0 - L.log, width: G.plotW, height: L.log, fill: '#fafafa', stroke: '#e0e0e0',
        class: 'log-lane', 'data-node': node, 'data-y0': y0, 'data-ytop': yTop, 'data-lo': lo, 'data-hi': hi }, g);
      const growth = LOGS.growth[node] || [], commitLine = LOGS.commit_line[node] || [];
      const grown = stepPoints(G, logY, node, growth);
      if (grown.length) {
        el('path', { d: pathOf([[grown[0][0], y0], ...grown, [grown[grown.length - 1][0], y0]]) + ' Z', fill: S.growth[0],
          'fill-opacity': 0.55, class: 'log-area', 'pointer-events': 'none' }, g);
        el('path', { d: pathOf(grown), fill: 'none', stroke: '#1e88e5', 'stroke-width': 1.2, class: 'log-growth',
          'data-node': node, 'pointer-events': 'none' }, g);
      }
      const committed = stepPoints(G, logY, node, commitLine);
      if (committed.length) el('path', { d: pathOf(committed), fill: 'none', stroke: S.commit[0], 'stroke-width': 1.6,
        class: 'commit-line', 'data-node': node, 'pointer-events': 'none' }, g);
      let lastX = -1e9;
      const mine = COMMITS_OF[node] || [], times = COMMIT_TIMES[node] || [];
      for (let j = firstAt(times, win[0]); j < mine.length && times[j] <= win[1]; j++) {
        const k = mine[j], [t, , commit] = LOGS.commits[k];
        const x = G.x(t);
        if (x - lastX < 1.5) continue;  // one dot per node every 1.5 pixels
        lastX = x;
        el('circle', { cx: x, cy: logY(node, commit), r: 3, fill: S.commit[0], class: 'commit-mark', 'data-node': node,
          'data-commit': commit, 'data-kind': 'commit', 'data-i': k }, g);
      }
      (REPLACED_OF[node] || []).forEach((k) => {
        const [t, , first, oldLast] = LOGS.replaced[k];
        if (t < win[0] || t > win[1]) return;
        const x = G.x(t), top = logY(node, oldLast);
        el('rect', { x: x - 2.5, y: top, width: 5, height: Math.max(2, logY(node, first - 1) - top), fill: S.replaced[0],
          class: 'log-replaced', 'data-node': node, 'data-first': first, 'data-kind': 'replaced', 'data-i': k }, g);
      });
      const at = Math.min(win[1], END);
      el('text', { x: G.width - L.right, y: y0 - L.log - 4, 'text-anchor': 'end', 'font-size': 10, fill: S.commit[0],
        stroke: 'white', 'stroke-width': 3, 'paint-order': 'stroke', class: 'log-final', 'data-node': node }, g, `last ${valueAt(growth, at)} · commit ${valueAt(commitLine, at)} at ${fmtT(at)}`);
    });
  }
  function drawViolations(g, G) {
    D.verdict.violations.forEach((v, i) => {
      if (v.t === null || v.t < win[0] || v.t > win[1]) return;
      const x = G.x(v.t), y = laneOf[v.node] !== undefined ? G.y(v.node) : G.lanesY, color = MARKS.violation[0];
      el('line', { x1: x, x2: x, y1: G.termY, y2: G.height, stroke: color, 'stroke-width': 2, 'stroke-dasharray': '5,3', 'pointer-events': 'none' }, g);
      el('path', { d: `M${x - 8},${y - 2} L${x + 8},${y - 2} L${x},${y + 12} Z`, fill: color, class: 'violation',
        'data-kind': 'violation', 'data-i': i }, g);
    });
  }
  function defs(svg) {
    const d = el('defs', {}, svg);
    const p = el('pattern', { id: 'hatch', width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' }, d);
    el('rect', { width: 6, height: 6, fill: '#ede7f6' }, p);
    el('line', { x1: 0, y1: 0, x2: 0, y2: 6, stroke: ROLES.paused[0], 'stroke-width': 3 }, p);
    for (const [name, color] of [['vote', '#1b5e20'], ['prevote', '#f9a825'], ['denied', '#c62828']]) {
      const m = el('marker', { id: 'arrow-' + name, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 6, markerHeight: 6, orient: 'auto-start-reverse' }, d);
      el('path', { d: 'M0,0 L10,5 L0,10 Z', fill: color }, m);
    }
  }
  function render() {
    pending = false;
    const started = performance.now();
    const G = geometry();
    tl.replaceChildren();
    tl.setAttribute('width', G.width); tl.setAttribute('height', G.height);
    tl.setAttribute('viewBox', `0 0 ${G.width} ${G.height}`);
    defs(tl);
    const g = el('g', {});  // built detached, attached once
    const prof = {}, timed = (name, f) => { const t0 = performance.now(); f(); prof[name] = +(performance.now() - t0).toFixed(1); };
    timed('axis', () => drawAxis(g, G)); timed('terms', () => drawTerms(g, G)); timed('net', () => drawNet(g, G));
    timed('lanes', () => D.nodes.forEach((node) => drawLane(g, G, node)));
    timed('logs', () => drawLogs(g, G));
    timed('skews', () => drawSkews(g, G)); timed('marks', () => drawMarks(g, G)); timed('votes', () => drawVotes(g, G)); timed('violations', () => drawViolations(g, G));
    timed('attach', () => tl.appendChild(g));
    timed('overview', () => drawOverview(G));
    tl.dataset.profile = JSON.stringify(prof);
    document.getElementById('window').textContent = `${fmtT(win[0])} – ${fmtT(win[1])} (${fmtT(win[1] - win[0])} shown of ${fmtT(END)})`;
    tl.dataset.window = win[0] + ',' + win[1];
    tl.dataset.elements = g.childElementCount;
    lastRenderMs = performance.now() - started; renders += 1;
    tl.dataset.renderMs = lastRenderMs.toFixed(1); tl.dataset.renders = renders;
    history.replaceState(null, '', '#t=' + win[0].toFixed(3) + ',' + win[1].toFixed(3));
  }
  let overviewWidth = -1, overviewWindow = null;
  function drawOverview(G) {
    const w = G.width, x = (t) => L.left + t * (w - L.left - L.right) / END;
    if (overviewWidth === w) {  // the run does not change: only the window moves
      overviewWindow.setAttribute('x', x(win[0])); overviewWindow.setAttribute('width', Math.max(2, x(win[1]) - x(win[0])));
      return;
    }
    overviewWidth = w;
    ov.replaceChildren();
    ov.setAttribute('viewBox', `0 0 ${w} 34`); ov.setAttribute('width', w);
    el('text', { x: L.left - 6, y: 21, 'text-anchor': 'end', 'font-size': 11 }, ov, 'whole run');
    let last = -1;
    D.terms.forEach((t) => {
      if (!t[3].length) return;
      const x0 = x(t[0]); if (x0 - last < 1) return; last = x0;
      el('rect', { x: x0, y: 6, width: Math.max(1, x(t[1]) - x0), height: 10, fill: ROLES.leader[0] }, ov);
    });
    last = -1;
    D.marks.forEach((m) => {
      const xm = x(m.t); if (xm - last < 1) return; last = xm;
      el('line', { x1: xm, x2: xm, y1: 18, y2: 30, stroke: MARKS[m.kind][0] }, ov);
    });
    overviewWindow = el('rect', { x: x(win[0]), y: 1, width: Math.max(2, x(win[1]) - x(win[0])), height: 32, fill: '#1e88e5',
      'fill-opacity': 0.15, stroke: '#1e88e5', class: 'overview-window' }, ov);
  }
  function schedule() { if (!pending) { pending = true; requestAnimationFrame(render); } }

  // ------------------------------------------------------------------------------------------ navigation
  function setWindow(a, b) {
    let span = Math.min(END, Math.max(MIN_SPAN, b - a));
    let start = Math.max(0, Math.min(END - span, a));
    win = [start, start + span];
    schedule();
  }
  function zoomAt(t, factor) { setWindow(t - (t - win[0]) * factor, t + (win[1] - t) * factor); }
  function timeAt(px) { const G = geometry(); return win[0] + (px - L.left) * (win[1] - win[0]) / G.plotW; }
  function focus(t, node, recIdx) {
    const span = Math.min(win[1] - win[0], Math.max(200, END / 50));
    setWindow(t - span / 2, t + span / 2);
    showRecords(t, node, recIdx === undefined ? [] : [recIdx]);
  }
  tl.addEventListener('wheel', (e) => {
    e.preventDefault();
    const rect = tl.getBoundingClientRect();
    zoomAt(timeAt(e.clientX - rect.left), Math.exp(Math.max(-3, Math.min(3, e.deltaY * 0.002))));
  }, { passive: false });
  let drag = null;
  tl.addEventListener('pointerdown', (e) => { drag = { x: e.clientX, win: win.slice(), moved: false }; tl.setPointerCapture(e.pointerId); });
  tl.addEventListener('pointermove', (e) => {
    if (drag) {
      const dx = e.clientX - drag.x;
      if (Math.abs(dx) > 3) { drag.moved = true; tl.classList.add('dragging'); }
      if (drag.moved) { const dt = dx * (drag.win[1] - drag.win[0]) / geometry().plotW; setWindow(drag.win[0] - dt, drag.win[1] - dt); }
      return;
    }
    hover(e);
  });
  tl.addEventListener('pointerup', (e) => {
    tl.classList.remove('dragging');
    const wasDrag = drag && drag.moved; drag = null;
    if (!wasDrag) click(e);
  });
  tl.addEventListener('pointerleave', () => { tip.hidden = true; });
  ov.addEventListener('click', (e) => {
    const rect = ov.getBoundingClientRect(), w = rect.width;
    const t = (e.clientX - rect.left - L.left) * END / (w - L.left - L.right), span = win[1] - win[0];
    setWindow(t - span / 2, t + span / 2);
  });
  document.getElementById('zoom-in').onclick = () => zoomAt((win[0] + win[1]) / 2, 0.5);
  document.getElementById('zoom-out').onclick = () => zoomAt((win[0] + win[1]) / 2, 2);
  document.getElementById('zoom-reset').onclick = () => setWindow(0, END);
  document.getElementById('show-votes').onchange = (e) => { opts.votes = e.target.checked; schedule(); };
  document.getElementById('show-prevotes').onchange = (e) => { opts.prevotes = e.target.checked; schedule(); };
  document.getElementById('show-labels').onchange = (e) => { opts.labels = e.target.checked; schedule(); };
  document.addEventListener('keydown', (e) => {
    if (e.target.tagName === 'INPUT') return;
    const span = win[1] - win[0], mid = (win[0] + win[1]) / 2;
    if (e.key === '+' || e.key === '=') zoomAt(mid, 0.5);
    else if (e.key === '-') zoomAt(mid, 2);
    else if (e.key === '0') setWindow(0, END);
    else if (e.key === 'ArrowLeft') setWindow(win[0] - span / 4, win[1] - span / 4);
    else if (e.key === 'ArrowRight') setWindow(win[0] + span / 4, win[1] + span / 4);
  });
  window.addEventListener('resize', schedule);

  // ------------------------------------------------------------------------------------------ details
  function describe(target) {
    const kind = target.dataset.kind, i = +target.dataset.i;
    if (kind === 'seg') {
      const node = target.parentNode.dataset.node, s = D.lanes[node][i];
      if (target.dataset.merged) return `node ${node}: ${target.dataset.merged} short states here (${fmtT(s[0])}…); zoom in`;
      return `node ${node}: ${ROLES[s[2]][1]}, term ${s[3]}\n${fmtT(s[0])} – ${fmtT(s[1])} (${fmtT(s[1] - s[0])})` +
        (s[4] >= 0 ? '\nfrom: ' + recLine(s[4]) : '');
    }
    if (kind === 'term') { const t = D.terms[i]; return `term ${t[2]}: ${t[3].length ? 'leader ' + t[3].join(' and ') : 'no leader'}\n${fmtT(t[0])} – ${fmtT(t[1])}`; }
    if (kind === 'net') { const s = D.net[i]; return `network ${fmtT(s.t0)} – ${fmtT(s.t1)}\n${s.label}` + (s.groups && !s.views ? '\ngroups: ' + s.groups.map((g, k) => String.fromCharCode(65 + k) + '=' + g.join(',')).join('  ') : ''); }
    if (kind === 'mark') { const m = D.marks[i]; return `${m.label}\n${MARKS[m.kind][1]} at ${fmtT(m.t)}\n${m.detail}`; }
    if (kind === 'crowd') return target.dataset.marks.split(',').map((k) => `${fmtT(D.marks[+k].t)}  ${D.marks[+k].label}`).join('\n') + '\n(click to zoom in)';
    if (kind === 'skew') { const s = D.skews[i]; return `node ${s.node}: timers skewed ${s.label}\n${fmtT(s.t0)} – ${fmtT(s.t1)}`; }
    if (kind === 'vote') { const v = D.votes[i]; return `${v[1]} ${v[5] ? 'granted' : 'denied'} by node ${v[2]} to node ${v[3]} (term ${v[4]}) at ${fmtT(v[0])}`; }
    if (kind === 'violation') { const v = D.verdict.violations[i]; return `(${v.invariant}) ${v.name}: ${v.message}`; }
    if (kind === 'commit') { const c = LOGS.commits[i]; return `node ${c[1]} commits up to index ${c[2]} at ${fmtT(c[0])}`; }
    if (kind === 'replaced') { const r = LOGS.replaced[i]; return `node ${r[1]} replaced entries ${r[2]}${r[3] > r[2] ? '–' + r[3] : ''} (a conflicting suffix) at ${fmtT(r[0])}`; }
    return null;
  }
  function hover(e) {
    const text = e.target.dataset ? describe(e.target) : null;
    if (!text) { tip.hidden = true; return; }
    const box = tl.parentNode.getBoundingClientRect();
    tip.textContent = text; tip.hidden = false;
    tip.style.left = Math.min(e.clientX - box.left + 14, box.width - 300) + 'px';
    tip.style.top = (e.clientY - box.top + 14) + 'px';
  }
  function click(e) {
    // With the pointer captured (for dragging), e.target is the svg itself: ask what lies under the pointer.
    const t = document.elementFromPoint(e.clientX, e.clientY) || e.target;
    const kind = t.dataset && t.dataset.kind, i = +(t.dataset && t.dataset.i);
    const rect = tl.getBoundingClientRect(), at = timeAt(e.clientX - rect.left);
    if (kind === 'seg') { const node = t.parentNode.dataset.node; showRecords(at, +node, [D.lanes[node][i][4]]); }
    else if (kind === 'mark') showRecords(D.marks[i].t, D.marks[i].node || null, [D.marks[i].rec]);
    else if (kind === 'crowd') {
      // Zoom until the crowd's marks stand ~16 px apart on average: three rows then hold most of their labels.
      const ks = t.dataset.marks.split(',').map(Number), times = ks.map((k) => D.marks[k].t).sort((x, y) => x - y);
      const gap = times.length > 1 && times[times.length - 1] > times[0]
        ? (times[times.length - 1] - times[0]) / (times.length - 1) : (win[1] - win[0]) / 100;
      const span = Math.min(win[1] - win[0], Math.max(MIN_SPAN, gap * geometry().plotW / 16));
      setWindow(times[0] - span * 0.05, times[0] + span * 0.95); showRecords(times[0], null, ks.map((k) => D.marks[k].rec));
    }
    else if (kind === 'skew') showRecords(D.skews[i].t0, D.skews[i].node, [D.skews[i].rec]);
    else if (kind === 'vote') showRecords(D.votes[i][0], D.votes[i][2], [D.votes[i][6]]);
    else if (kind === 'net') showRecords(D.net[i].t0, null, [D.net[i].rec]);
    else if (kind === 'violation') showViolation(i);
    else if (kind === 'term') showRecords(D.terms[i][0], null, []);
    else if (kind === 'commit') showRecords(LOGS.commits[i][0], LOGS.commits[i][1], [LOGS.commits[i][3]]);
    else if (kind === 'replaced') showRecords(LOGS.replaced[i][0], LOGS.replaced[i][1], [LOGS.replaced[i][4]]);
  }
  function recLine(i) {
    const [file, line, t, rec] = D.records[i];
    const extra = Object.keys(rec).filter((k) => !['ts', 'mono_ns', 'event', 'by', 'node', 'term', 'incarnation', 'seq'].includes(k))
      .map((k) => k + '=' + JSON.stringify(rec[k])).join(' ');
    const who = rec.by === 'node' ? 'node ' + rec.node : rec.node ? 'sup→' + rec.node : 'supervisor';
    return `${fmtT(t).padStart(10)}  ${(D.files[file] + ':' + line).padEnd(22)} ${who.padEnd(10)} ` +
      `${rec.term !== undefined ? 't' + rec.term : ''}`.padEnd(6) + ` ${rec.event} ${extra}`;
  }
  // The records around time t (of one node and the supervisor's records about it, or all), highlighted ones first.
  function showRecords(t, node, highlight, bad) {
    const box = document.getElementById('records');
    box.replaceChildren();
    const keep = (r) => node === null || node === undefined || r[3].node === node || r[3].node === 0;
    const centre = firstAt(recTimes, t), picked = new Set(highlight.filter((i) => i >= 0));
    let before = 0, after = 0;
    for (let i = centre - 1; i >= 0 && before < 15; i--) if (keep(D.records[i])) { picked.add(i); before++; }
    for (let i = centre; i < D.records.length && after < 15; i++) if (keep(D.records[i])) { picked.add(i); after++; }
    const hl = new Set(highlight), badSet = new Set(bad || []);
    h('div', { class: 'hint' }, box, node ? `records of node ${node} (and the supervisor) around ${fmtT(t)}` : `records around ${fmtT(t)}`);
    [...picked].sort((a, b) => a - b).forEach((i) => {
      const row = h('div', { class: 'rec' + (hl.has(i) ? ' hl' : '') + (badSet.has(i) ? ' bad' : ''), 'data-rec': i, id: 'rec-' + i }, box, recLine(i));
      row.title = JSON.stringify(D.records[i][3]);
      row.onclick = () => { const span = win[1] - win[0]; setWindow(D.records[i][2] - span / 2, D.records[i][2] + span / 2); };
    });
    const first = box.querySelector('.hl');
    if (first) first.scrollIntoView({ block: 'nearest' });
  }
  function showViolation(i) {
    const v = D.verdict.violations[i];
    if (v.t !== null) { const span = Math.min(win[1] - win[0], Math.max(100, END / 100)); setWindow(v.t - span / 2, v.t + span / 2); }
    showRecords(v.t === null ? 0 : v.t, v.node, v.recs, v.recs);
    document.getElementById('timeline-box').scrollIntoView({ block: 'nearest' });
  }

  // ------------------------------------------------------------------------------------------ static parts
  function verdict() {
    const V = D.verdict, box = document.getElementById('verdict');
    const st = V.stats;
    const facts = `${st.records} records, nodes ${ranges(st.nodes)}, cluster size ${V.cluster_size} (${V.cluster_size_source}), max term ${st.max_term}`;
    if (V.ok) { box.className = 'banner ok'; box.textContent = `Checker: OK — no safety violations. ${facts}.`; return; }
    const nViolations = V.violations.length + V.suppressed;
    box.className = nViolations ? 'banner bad' : 'banner incomplete';
    h('strong', {}, box, nViolations ? `Checker: ${nViolations} SAFETY VIOLATION(S). `
      : 'Checker: INCOMPLETE EVIDENCE — records are missing, so there is no verdict. ');
    box.appendChild(document.createTextNode(facts + (V.withheld ? `. ${V.withheld} apparent violation(s) in the ` +
      'partial records are not reported: they may be artefacts of what is missing.' : '')));
    const ul = h('ul', {}, box);
    V.incomplete.forEach((gap) => {
      const li = h('li', { class: 'gap-item' }, ul, `missing (${gap.kind}): ${gap.message}`);
      if (gap.rec < 0) return;
      li.appendChild(document.createTextNode(' — at '));
      const a = h('a', { class: 'where', 'data-rec': gap.rec }, li, gap.where.split('/').pop());
      a.onclick = () => focus(D.records[gap.rec][2], D.records[gap.rec][3].node, gap.rec);
    });
    V.violations.forEach((v, i) => {
      const li = h('li', { class: 'violation-item' }, ul);
      h('a', { 'data-violation': i }, li, `(${v.invariant}) ${v.name}`).onclick = () => showViolation(i);
      li.appendChild(document.createTextNode(`: ${v.message} — at `));
      v.where.forEach((w, k) => {
        const recIdx = v.recs[k];
        const a = h('a', { class: 'where', 'data-rec': recIdx }, li, w.split('/').pop());
        a.onclick = () => { if (recIdx >= 0) focus(D.records[recIdx][2], D.records[recIdx][3].node, recIdx); };
        li.appendChild(document.createTextNode(' '));
      });
    });
  }
  function ranges(ids) {  // [1,2,3,5] -> "1–3,5"
    const out = [];
    ids.forEach((n, i) => {
      if (i && n === ids[i - 1] + 1) out[out.length - 1][1] = n; else out.push([n, n]);
    });
    return out.map(([a, b]) => (a === b ? String(a) : a + '–' + b)).join(',');
  }
  function summary() {
    const s = D.summary;
    const parts = [`${D.nodes.length} nodes`, `${fmtT(END)}`, `${s.elections_won} leaders elected`, `max term ${s.max_term}`,
      `${s.failovers} failovers` + (s.failover_median_s !== undefined ? ` (median ${(s.failover_median_s * 1000).toFixed(0)} ms, p90 ${(s.failover_p90_s * 1000).toFixed(0)} ms)` : '')];
    if (s.unresolved_failovers) parts.push(`${s.unresolved_failovers} never recovered`);
    document.getElementById('summary').textContent = parts.join(' · ');
  }
  function legend() {
    const box = document.getElementById('legend');
    const item = (swatch, text) => { const d = h('span', { class: 'item' }, box); d.appendChild(swatch); d.appendChild(document.createTextNode(text)); };
    const sw = (build) => { const s = document.createElementNS(NS, 'svg'); s.setAttribute('width', 14); s.setAttribute('height', 14); build(s); return s; };
    for (const state in ROLES) item(sw((s) => {
      if (state === 'paused') { defsHatch(s); }
      el('rect', { width: 14, height: 14, fill: state === 'paused' ? 'url(#hatch-legend)' : ROLES[state][0], stroke: state === 'down' ? '#e53935' : '#9e9e9e', 'stroke-dasharray': state === 'down' ? '3,2' : null }, s);
    }), ROLES[state][1]);
    for (const kind in MARKS) item(sw((s) => {
      if (kind === 'violation') el('path', { d: 'M0,1 L14,1 L7,13 Z', fill: MARKS[kind][0] }, s);
      else el('line', { x1: 7, x2: 7, y1: 0, y2: 14, stroke: MARKS[kind][0], 'stroke-width': 2.5 }, s);
    }), MARKS[kind][1]);
    item(sw((s) => el('rect', { y: 8, width: 14, height: 6, fill: D.style.skew[0], 'fill-opacity': 0.75 }, s)), D.style.skew[1]);
    item(sw((s) => el('text', { x: 0, y: 11, 'font-size': 10, 'font-weight': 'bold', fill: '#424242' }, s, '+3')), 'crowded labels: hover for them, click to zoom in');
    item(sw((s) => el('rect', { width: 14, height: 14, fill: MARKS.partition[0], 'fill-opacity': 0.28 }, s)), 'network: partitioned / links cut');
    item(sw((s) => el('rect', { width: 14, height: 14, fill: MARKS.net[0], 'fill-opacity': 0.28 }, s)), 'network: loss / delay');
    item(sw((s) => { el('rect', { y: 0, width: 14, height: 4, fill: GROUP_COLORS[0] }, s); el('rect', { y: 8, width: 14, height: 4, fill: GROUP_COLORS[1] }, s); }), 'strip above a lane: its partition group');
    item(sw((s) => el('rect', { y: 5, width: 14, height: 4, fill: MARKS.partition[0] }, s)), 'strip above a lane: it has a cut link');
    item(sw((s) => el('line', { x1: 1, y1: 2, x2: 13, y2: 12, stroke: '#1b5e20', 'stroke-width': 1.5 }, s)), 'vote granted (voter → candidate)');
    item(sw((s) => el('line', { x1: 1, y1: 2, x2: 13, y2: 12, stroke: '#f9a825', 'stroke-width': 1.5, 'stroke-dasharray': '3,2' }, s)), 'pre-vote granted');
    item(sw((s) => el('line', { x1: 1, y1: 2, x2: 13, y2: 12, stroke: '#c62828', 'stroke-width': 1.5 }, s)), 'vote / pre-vote denied');
    if (LOGS) {
      const S = LOGS.style;
      item(sw((s) => el('rect', { y: 5, width: 14, height: 9, fill: S.growth[0], stroke: '#1e88e5' }, s)), S.growth[1]);
      item(sw((s) => { el('path', { d: 'M0,10 L6,10 L6,4 L14,4', fill: 'none', stroke: S.commit[0], 'stroke-width': 1.6 }, s);
        el('circle', { cx: 6, cy: 4, r: 3, fill: S.commit[0] }, s); }), S.commit[1]);
      item(sw((s) => el('rect', { x: 5, y: 1, width: 5, height: 12, fill: S.replaced[0] }, s)), S.replaced[1]);
    }
  }
  function defsHatch(s) {
    const d = el('defs', {}, s);
    const p = el('pattern', { id: 'hatch-legend', width: 5, height: 5, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' }, d);
    el('rect', { width: 5, height: 5, fill: '#ede7f6' }, p);
    el('line', { x1: 0, y1: 0, x2: 0, y2: 5, stroke: ROLES.paused[0], 'stroke-width': 2.5 }, p);
  }
  function failoverTable() {
    const table = document.getElementById('failovers');
    const head = h('tr', {}, table);
    for (const c of ['#', 'lost at', 'cause', 'leader (term)', 'new leader (term)', 'took']) h('th', {}, head, c);
    D.failovers.forEach((f, i) => {
      const tr = h('tr', { class: 'fo' }, table);
      const end = f.seconds === null ? END : f.lost_ms + f.seconds * 1000;
      [String(i + 1), fmtT(f.lost_ms), f.cause, `${f.leader} (${f.term})`,
        f.new_leader === null ? '—' : `${f.new_leader} (${f.new_term})`,
        f.seconds === null ? 'never' : (f.seconds * 1000).toFixed(0) + ' ms'].forEach((c, k) => h('td', k === 2 ? { class: 'cause' } : {}, tr, c));
      tr.onclick = () => { const pad = Math.max(50, (end - f.lost_ms) * 0.3); setWindow(f.lost_ms - pad, end + pad); showRecords(f.lost_ms, null, []); };
    });
    if (!D.failovers.length) h('tr', {}, table).appendChild(h('td', { colspan: 6 }, null, 'no failovers in this run'));
  }
  function cdf() {
    const svg = document.getElementById('cdf'), W = 420, H = 260, l = 48, r = 12, t = 14, b = 36;
    const xs = D.failovers.filter((f) => f.seconds !== null).map((f) => f.seconds * 1000).sort((a, b2) => a - b2);
    el('text', { x: l, y: 10, 'font-size': 11 }, svg, 'CDF of failover time (n=' + xs.length + ')');
    if (!xs.length) return;
    const max = xs[xs.length - 1] || 1, step = niceStep(max, 5), top = Math.ceil(max / step) * step;
    const X = (v) => l + v * (W - l - r) / top, Y = (p) => H - b - p * (H - t - b);
    for (let v = 0; v <= top + 1e-9; v += step) {
      el('line', { x1: X(v), x2: X(v), y1: t, y2: H - b, stroke: '#eee' }, svg);
      el('text', { x: X(v), y: H - b + 14, 'text-anchor': 'middle', 'font-size': 10 }, svg, v.toFixed(0));
    }
    for (const p of [0, 0.5, 0.9, 1]) {
      el('line', { x1: l, x2: W - r, y1: Y(p), y2: Y(p), stroke: '#eee' }, svg);
      el('text', { x: l - 4, y: Y(p) + 3, 'text-anchor': 'end', 'font-size': 10 }, svg, p.toFixed(1));
    }
    el('text', { x: (l + W - r) / 2, y: H - 6, 'text-anchor': 'middle', 'font-size': 11 }, svg, 'ms from leader lost to new leader');
    let d = `M${X(0)},${Y(0)}`;
    xs.forEach((v, i) => { d += ` L${X(v)},${Y(i / xs.length)} L${X(v)},${Y((i + 1) / xs.length)}`; });
    el('path', { d: d, fill: 'none', stroke: '#1e88e5', 'stroke-width': 2, class: 'cdf-line' }, svg);
  }
  function initialWindow() {
    const m = /#t=([\d.]+),([\d.]+)/.exec(location.hash);
    if (m) setWindow(+m[1], +m[2]); else schedule();
  }

  verdict(); summary(); legend(); failoverTable(); cdf(); initialWindow();
  requestAnimationFrame(() => requestAnimationFrame(() => {
    if (statusEl.dataset.status === 'loading') setStatus('ok');
  }));
  window.raftzmqReport = { setWindow, zoomAt, get window() { return win.slice(); }, get lastRenderMs() { return lastRenderMs; }, data: D };
})();

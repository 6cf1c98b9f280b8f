/// The inline style sheet and chart-drawing script of ``ReportHTML`` (plain ES5 and SVG, no
/// libraries, so the report opens offline in any browser).
enum ReportAssets {
    static let css = #"""
    body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #222; margin: 0 24px 24px; background: #fff; }
    header h1 { font-size: 22px; margin: 18px 0 2px; }
    .subtitle { color: #555; margin: 0 0 8px; }
    h2 { font-size: 17px; margin: 22px 0 6px; border-bottom: 1px solid #ddd; padding-bottom: 3px; }
    .note { color: #444; max-width: 1140px; margin: 4px 0 8px; }
    .charts { display: flex; flex-wrap: wrap; gap: 12px; }
    figure.chart { margin: 0; width: 560px; }
    figure.chart svg { display: block; background: #fff; }
    .nodata { color: #888; font-style: italic; }
    table { border-collapse: collapse; margin: 6px 0; }
    td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
    th { background: #f3f3f3; }
    td:first-child, th:first-child { text-align: left; }
    ul.findings { list-style: none; padding: 0; max-width: 1140px; }
    ul.findings li { margin: 4px 0; padding: 5px 8px; border-left: 4px solid #999; background: #fafafa; }
    ul.findings li.error { border-color: #c62828; } ul.findings li.warning { border-color: #ef6c00; }
    ul.findings li.advice { border-color: #1565c0; } ul.findings li.info { border-color: #2e7d32; }
    .sev { font-weight: 600; margin-right: 6px; text-transform: uppercase; font-size: 11px; }
    .src { color: #666; margin-right: 6px; font-size: 12px; }
    footer { margin-top: 20px; color: #aaa; font-size: 11px; }
    #report-errors { color: #c62828; }
    code { font: 12px Menlo, Consolas, monospace; background: #f1f1f1; padding: 0 3px; border-radius: 3px; }
    """#

    static let script = #"""
    (function () {
      'use strict';
      var errors = document.getElementById('report-errors');
      function reportError(msg) {
        var li = document.createElement('li');
        li.textContent = 'script error: ' + msg;
        errors.appendChild(li);
      }
      window.addEventListener('error', function (e) { reportError(e.message + ' at ' + e.lineno + ':' + e.colno); });
      var NS = 'http://www.w3.org/2000/svg';
      function svg(tag, attrs, parent) {
        var e = document.createElementNS(NS, tag);
        for (var k in attrs) { if (attrs.hasOwnProperty(k)) { e.setAttribute(k, attrs[k]); } }
        if (parent) { parent.appendChild(e); }
        return e;
      }
      function node(tag, cls, text, parent) {
        var e = document.createElement(tag);
        if (cls) { e.className = cls; }
        if (text !== undefined && text !== null) { e.textContent = text; }
        if (parent) { parent.appendChild(e); }
        return e;
      }
      function num(v) { return typeof v === 'number' && isFinite(v); }
      function niceStep(range, count) {
        var raw = range / Math.max(count, 1);
        var mag = Math.pow(10, Math.floor(Math.log(raw) / Math.LN10));
        var f = raw / mag;
        return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
      }
      function ticks(lo, hi, count) {
        var step = niceStep(hi - lo, count), out = [];
        for (var v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) { out.push(Math.abs(v) < step * 1e-9 ? 0 : v); }
        return out;
      }
      function formatter(values) {
        // One notation per axis: exponents when the largest tick is tiny or huge.
        var big = 0;
        values.forEach(function (v) { big = Math.max(big, Math.abs(v)); });
        var exp = big >= 1e5 || (big > 0 && big < 1e-2);
        return function (v) {
          if (v === 0) { return '0'; }
          return exp ? v.toExponential(1) : String(parseFloat(v.toPrecision(4)));
        };
      }
      function plain(text) { return String(text).replace(/`/g, ''); }
      function rich(parent, text) {
        // `code` spans (layer paths, calls) in monospace; everything else as text.
        String(text).split('`').forEach(function (part, k) {
          if (part.length === 0) { return; }
          if (k % 2 === 1) { node('code', null, part, parent); } else { parent.appendChild(document.createTextNode(part)); }
        });
        return parent;
      }
      function extent(values) {
        var lo = Infinity, hi = -Infinity;
        for (var i = 0; i < values.length; i++) { if (num(values[i])) { lo = Math.min(lo, values[i]); hi = Math.max(hi, values[i]); } }
        return [lo, hi];
      }
      function drawChart(c, figure) {
        var W = 560, H = 300, L = 66, R = 14, T = 46, B = 42;
        var xs = [], ys = [], i, j;
        (c.series || []).forEach(function (s) {
          for (i = 0; i < s.x.length; i++) { if (num(s.x[i]) && num(s.y[i])) { xs.push(s.x[i]); ys.push(s.y[i]); } }
        });
        (c.bands || []).forEach(function (b) {
          for (i = 0; i < b.x.length; i++) {
            if (num(b.x[i])) { xs.push(b.x[i]); [b.low[i], b.median[i], b.high[i]].forEach(function (v) { if (num(v)) { ys.push(v); } }); }
          }
        });
        if (xs.length === 0) { node('p', 'nodata', plain(c.title) + ': no data recorded', figure); return null; }
        var xe = extent(xs), ye = extent(ys);
        if (c.includeZero) { ye[0] = Math.min(ye[0], 0); ye[1] = Math.max(ye[1], 0); }
        if (xe[0] === xe[1]) { xe = [xe[0] - 1, xe[1] + 1]; }
        if (ye[0] === ye[1]) { var d = Math.abs(ye[0]) * 0.1 || 1; ye = [ye[0] - d, ye[1] + d]; }
        var pad = (ye[1] - ye[0]) * 0.04; ye = [ye[0] - (c.includeZero && ye[0] === 0 ? 0 : pad), ye[1] + pad];
        var pw = W - L - R, ph = H - T - B;
        function sx(v) { return L + (v - xe[0]) / (xe[1] - xe[0]) * pw; }
        function sy(v) { return T + ph - (v - ye[0]) / (ye[1] - ye[0]) * ph; }
        var root = svg('svg', { width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': plain(c.title) }, figure);
        svg('text', { x: L, y: 16, 'font-size': 14, 'font-weight': 600, fill: '#222' }, root).textContent = plain(c.title);
        var clipId = 'clip-' + c.id.replace(/[^A-Za-z0-9_-]/g, '_');
        var defs = svg('defs', {}, root);
        svg('rect', { x: L, y: T, width: pw, height: ph }, svg('clipPath', { id: clipId }, defs));
        var plot = svg('rect', { x: L, y: T, width: pw, height: ph, fill: 'none', stroke: '#bbb', 'class': 'plot-area' }, root);
        var grid = svg('g', { stroke: '#eee' }, root), labels = svg('g', { 'font-size': 11, fill: '#444' }, root);
        var yt = ticks(ye[0], ye[1], 5), yf = formatter(yt), xt = ticks(xe[0], xe[1], 7), xf = formatter(xt);
        yt.forEach(function (v) {
          var y = sy(v);
          svg('line', { x1: L, x2: L + pw, y1: y, y2: y }, grid);
          svg('text', { x: L - 6, y: y + 4, 'text-anchor': 'end' }, labels).textContent = yf(v);
        });
        xt.forEach(function (v) {
          var x = sx(v);
          svg('line', { x1: x, x2: x, y1: T, y2: T + ph }, grid);
          svg('text', { x: x, y: T + ph + 15, 'text-anchor': 'middle' }, labels).textContent = xf(v);
        });
        svg('text', { x: L + pw / 2, y: H - 6, 'text-anchor': 'middle', 'font-size': 12, fill: '#333' }, root).textContent = c.xLabel;
        svg('text', { x: 14, y: T + ph / 2, 'text-anchor': 'middle', 'font-size': 12, fill: '#333',
                      transform: 'rotate(-90 14 ' + (T + ph / 2) + ')' }, root).textContent = c.yLabel;
        var layer = svg('g', { 'clip-path': 'url(#' + clipId + ')' }, root);
        function linePath(x, y, stepped) {
          var d = '', pen = false;
          for (var k = 0; k < x.length; k++) {
            if (!num(x[k]) || !num(y[k])) { pen = false; continue; }
            var px = sx(x[k]).toFixed(2), py = sy(y[k]).toFixed(2);
            if (!pen) { d += 'M' + px + ' ' + py; pen = true; }
            else if (stepped) { d += 'H' + px + 'V' + py; }
            else { d += 'L' + px + ' ' + py; }
          }
          return d;
        }
        // All shaded ranges first, then every median and line on top, so no band tints a line.
        (c.bands || []).forEach(function (b) {
          // One polygon per run of finite points: the 85th percentile forward, the 15th back.
          var start = 0;
          for (j = 0; j <= b.x.length; j++) {
            var ok = j < b.x.length && num(b.x[j]) && num(b.low[j]) && num(b.high[j]);
            if (ok) { continue; }
            if (j - start >= 1) {
              var d = '';
              for (i = start; i < j; i++) { d += (i === start ? 'M' : 'L') + sx(b.x[i]).toFixed(2) + ' ' + sy(b.high[i]).toFixed(2); }
              for (i = j - 1; i >= start; i--) { d += 'L' + sx(b.x[i]).toFixed(2) + ' ' + sy(b.low[i]).toFixed(2); }
              svg('path', { d: d + 'Z', fill: b.color, 'fill-opacity': 0.22, stroke: b.color, 'stroke-opacity': 0.5, 'stroke-width': 1 }, layer);
            }
            start = j + 1;
          }
        });
        (c.bands || []).forEach(function (b) {
          svg('path', { d: linePath(b.x, b.median, false), fill: 'none', stroke: b.color, 'stroke-width': 2.5 }, layer);
        });
        (c.series || []).forEach(function (s) {
          var attrs = { d: linePath(s.x, s.y, c.stepped), fill: 'none', stroke: s.color, 'stroke-width': 2.5, 'stroke-linejoin': 'round' };
          if (s.dashed) { attrs['stroke-dasharray'] = '7 4'; }
          svg('path', attrs, layer);
          if (s.x.length <= 40) {
            for (i = 0; i < s.x.length; i++) {
              if (num(s.x[i]) && num(s.y[i])) { svg('circle', { cx: sx(s.x[i]), cy: sy(s.y[i]), r: 2.5, fill: s.color }, layer); }
            }
          }
        });
        var legend = svg('g', { 'font-size': 12, fill: '#333' }, root), lx = L;
        (c.bands || []).map(function (b) { return { name: b.name + ' (15/50/85th pct)', color: b.color }; })
          .concat((c.series || []).map(function (s) { return { name: s.name, color: s.color }; }))
          .forEach(function (item) {
            svg('rect', { x: lx, y: 25, width: 14, height: 8, fill: item.color }, legend);
            var t = svg('text', { x: lx + 18, y: 33 }, legend);
            t.textContent = plain(item.name);
            lx += 26 + item.name.length * 6.6;
          });
        return plot;
      }
      function main() {
        var page = JSON.parse(document.getElementById('report-data').textContent);
        var root = document.getElementById('report'), plots = [];
        (page.sections || []).forEach(function (section) {
          rich(node('h2', null, null, root), section.title);
          if (section.note) { rich(node('p', 'note', null, root), section.note); }
          if (section.table && section.table.length > 0) {
            var table = node('table', null, null, root);
            section.table.forEach(function (row, r) {
              var tr = node('tr', null, null, table);
              row.forEach(function (cell) { rich(node(r === 0 ? 'th' : 'td', null, null, tr), cell); });
            });
          }
          if (section.charts && section.charts.length > 0) {
            var box = node('div', 'charts', null, root);
            section.charts.forEach(function (c) {
              var figure = node('figure', 'chart', null, box);
              figure.id = 'chart-' + c.id;
              var plot = drawChart(c, figure);
              if (plot) { plots.push({ figure: figure, plot: plot }); }
            });
          }
          if (section.findings && section.findings.length > 0) {
            var list = node('ul', 'findings', null, root);
            section.findings.forEach(function (f) {
              var li = node('li', f.severity, null, list);
              node('span', 'sev', f.severity, li);
              node('span', 'src', f.source, li);
              rich(node('span', 'text', null, li), f.text);
            });
          }
        });
        plots.forEach(function (p) {
          var r = p.plot.getBoundingClientRect();
          p.figure.setAttribute('data-plot-box', [Math.round(r.left + window.scrollX), Math.round(r.top + window.scrollY),
                                                  Math.round(r.width), Math.round(r.height)].join(','));
        });
        document.body.setAttribute('data-page-height', String(document.documentElement.scrollHeight));
        document.getElementById('report-status').textContent = 'charts-drawn:' + plots.length;
      }
      try { main(); } catch (e) { reportError(e && e.stack ? e.stack : String(e)); }
    }());
    """#
}

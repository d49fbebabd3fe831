// Latent-space explorer: runs the decoder described in #explorer-data on every pointer move.
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('explorer-data').textContent);
  var $ = function (id) { return document.getElementById(id); };

  function bytes(b64) {
    var s = atob(b64), u = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) u[i] = s.charCodeAt(i);
    return u;
  }
  // DataView reads little-endian explicitly, whatever the machine's byte order.
  function f32(b64) {
    var u = bytes(b64), dv = new DataView(u.buffer), a = new Float32Array(u.length >> 2);
    for (var i = 0; i < a.length; i++) a[i] = dv.getFloat32(4 * i, true);
    return a;
  }
  function u32(b64) {
    var u = bytes(b64), dv = new DataView(u.buffer), a = new Uint32Array(u.length >> 2);
    for (var i = 0; i < a.length; i++) a[i] = dv.getUint32(4 * i, true);
    return a;
  }
  function f16(b64) {
    var u = bytes(b64), dv = new DataView(u.buffer), a = new Float32Array(u.length >> 1);
    for (var i = 0; i < a.length; i++) {
      var h = dv.getUint16(2 * i, true), s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 31, m = h & 1023;
      a[i] = e === 0 ? s * m * Math.pow(2, -24) : e === 31 ? s * Infinity : s * (1 + m / 1024) * Math.pow(2, e - 15);
    }
    return a;
  }

  // ---- decoder: every buffer is allocated once, here ----
  var ACT = { identity: 0, relu: 1, tanh: 2, sigmoid: 3, leaky_relu: 4, elu: 5 };
  var layers = D.layers.map(function (L) {
    var o = { type: L.type, act: ACT[L.act], slope: L.slope };
    if (L.type === 'dense') { o.n = L.in_dim; o.m = L.out_dim; o.w = f32(L.w); o.b = f32(L.b); o.y = new Float32Array(L.out_dim); }
    if (L.type === 'convt') {
      o.cin = L.c_in; o.cout = L.c_out; o.k = L.k; o.s = L.s; o.p = L.p; o.ih = L.ih; o.iw = L.iw; o.oh = L.oh; o.ow = L.ow;
      o.w = f32(L.w); o.b = f32(L.b); o.y = new Float32Array(L.c_out * L.oh * L.ow);
    }
    return o;
  });
  function activate(y, a, slope) {
    var i, n = y.length;
    if (a === 1) for (i = 0; i < n; i++) { if (y[i] < 0) y[i] = 0; }
    else if (a === 2) for (i = 0; i < n; i++) y[i] = Math.tanh(y[i]);
    else if (a === 3) for (i = 0; i < n; i++) y[i] = 1 / (1 + Math.exp(-y[i]));
    else if (a === 4) for (i = 0; i < n; i++) { if (y[i] < 0) y[i] *= slope; }
    else if (a === 5) for (i = 0; i < n; i++) { if (y[i] < 0) y[i] = Math.expm1(y[i]); }
  }
  function dense(L, x) {
    var w = L.w, b = L.b, y = L.y, n = L.n, m = L.m, o, i, r, acc;
    for (o = 0, r = 0; o < m; o++, r += n) {
      acc = b[o];
      for (i = 0; i < n; i++) acc += w[r + i] * x[i];
      y[o] = acc;
    }
    activate(y, L.act, L.slope);
    return y;
  }
  // Scatter form of the transposed convolution (candle/PyTorch): no kernel flip.
  function convt(L, x) {
    var y = L.y, w = L.w, k = L.k, s = L.s, p = L.p, ih = L.ih, iw = L.iw, oh = L.oh, ow = L.ow, plane = oh * ow;
    var ci, co, iy, ix, ky, kx, oy, ox, v, wb, yb;
    for (co = 0; co < L.cout; co++) y.fill(L.b[co], co * plane, (co + 1) * plane);
    for (ci = 0; ci < L.cin; ci++) for (iy = 0; iy < ih; iy++) for (ix = 0; ix < iw; ix++) {
      v = x[(ci * ih + iy) * iw + ix];
      if (v === 0) continue;
      for (co = 0; co < L.cout; co++) {
        wb = (ci * L.cout + co) * k * k; yb = co * plane;
        for (ky = 0; ky < k; ky++) {
          oy = iy * s - p + ky;
          if (oy < 0 || oy >= oh) continue;
          for (kx = 0; kx < k; kx++) {
            ox = ix * s - p + kx;
            if (ox < 0 || ox >= ow) continue;
            y[yb + oy * ow + ox] += v * w[wb + ky * k + kx];
          }
        }
      }
    }
    activate(y, L.act, L.slope);
    return y;
  }
  var LD = D.latent_dim, K = D.conditional_classes || 0;
  var xin = new Float32Array(LD + K);
  var H = D.height, W = D.width, C = D.channels, HW = H * W, LOGITS = D.output === 'logits';
  // Decodes z (and the selected class) into `into`, display values in [0, 1].
  function decode(z, label, into) {
    xin.set(z);
    if (K) { xin.fill(0, LD); xin[LD + label] = 1; }
    var x = xin;
    for (var l = 0; l < layers.length; l++) {
      var L = layers[l];
      if (L.type === 'dense') x = dense(L, x); else if (L.type === 'convt') x = convt(L, x);
    }
    for (var i = 0; i < into.length; i++) {
      var v = LOGITS ? 1 / (1 + Math.exp(-x[i])) : x[i];
      into[i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
    return into;
  }

  // ---- painting images: nearest-neighbour upscale straight into ImageData ----
  function painter(canvas, scale) {
    canvas.width = W * scale; canvas.height = H * scale;
    var ctx = canvas.getContext('2d'), img = ctx.createImageData(W * scale, H * scale);
    var px = new Uint32Array(img.data.buffer), rowLen = W * scale;
    return function (p, dx, dy) {
      for (var y = 0; y < H; y++) {
        var base = y * scale * rowLen;
        for (var x = 0; x < W; x++) {
          var i = y * W + x, r, g, b;
          if (C === 3) { r = Math.round(p[i] * 255); g = Math.round(p[HW + i] * 255); b = Math.round(p[2 * HW + i] * 255); }
          else { r = g = b = Math.round(p[i] * 255); }
          var c = (0xff000000 | (b << 16) | (g << 8) | r) >>> 0;
          for (var k = 0; k < scale; k++) px[base + x * scale + k] = c;
        }
        for (var rep = 1; rep < scale; rep++) px.copyWithin(base + rep * rowLen, base, base + rowLen);
      }
      ctx.putImageData(img, dx || 0, dy || 0);
    };
  }
  var BIG = Math.max(1, Math.floor(280 / Math.max(H, W)));
  var paintBig = painter($('view'), BIG);
  var ANIM = Math.max(1, Math.floor(140 / Math.max(H, W)));
  var paintAnim = painter($('anim'), ANIM);

  // ---- points and the plane ----
  // Dimension i (0-based in the data and in z[]) is shown as z1, z2, ... like the course's z_1, z_2.
  function zname(i) { return 'z' + (i + 1); }
  var P = D.plane.px, lo = D.plane.lo, hi = D.plane.hi, dx = D.plane.dx, dy = D.plane.dy;
  var N = D.points.n, PD = D.points.d, pts = N ? f16(D.points.xs) : new Float32Array(0), labs = N ? u32(D.points.labels) : new Uint32Array(0);
  var names = D.class_names, NC = names.length;
  var TAB10 = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
  var colors = names.map(function (_, i) { return NC <= 10 ? TAB10[i] : 'hsl(' + Math.round(360 * i / NC) + ',65%,48%)'; });
  var hidden = new Uint8Array(NC);
  var base = $('points'), top = $('overlay');
  // Backing stores in device pixels, drawing in CSS pixels: at 1:1 a HiDPI screen upscales the
  // plane and blurs its points and labels. (The decoded images are pixelated on purpose.)
  var DPR = Math.max(1, window.devicePixelRatio || 1);
  [base, top].forEach(function (c) {
    c.width = Math.round(P * DPR); c.height = Math.round(P * DPR); c.style.width = P + 'px'; c.style.height = P + 'px';
    c.getContext('2d').setTransform(c.width / P, 0, 0, c.height / P, 0, 0);
  });
  $('legend').style.maxWidth = P + 'px'; $('plane').style.width = P + 'px'; $('plane').style.height = P + 'px';
  var bctx = base.getContext('2d'), octx = top.getContext('2d');
  function toPx(v) { return (v - lo) / (hi - lo) * P; }
  function toPy(v) { return (hi - v) / (hi - lo) * P; }
  function drawPoints() {
    bctx.fillStyle = '#fbfbfd'; bctx.fillRect(0, 0, P, P);
    bctx.lineWidth = 1;
    var step = Math.pow(10, Math.floor(Math.log10((hi - lo) / 4))); if ((hi - lo) / step > 10) step *= 2; if ((hi - lo) / step > 10) step *= 2.5;
    var ticks = [];
    for (var t = Math.ceil(lo / step) * step; t <= hi + 1e-9; t += step) {
      var a = Math.round(toPx(t)) + 0.5, b = Math.round(toPy(t)) + 0.5;
      bctx.strokeStyle = Math.abs(t) < 1e-9 ? '#d5d9e1' : '#eceef3';
      bctx.beginPath(); bctx.moveTo(a, 0); bctx.lineTo(a, P); bctx.moveTo(0, b); bctx.lineTo(P, b); bctx.stroke();
      if (t > lo + step / 4 && t < hi - step / 4) ticks.push([+t.toFixed(2) + '', a, b]);
    }
    bctx.globalAlpha = 0.7;
    for (var i = 0; i < N; i++) {
      var l = labs[i]; if (hidden[l]) continue;
      bctx.fillStyle = colors[l] || '#444';
      bctx.beginPath(); bctx.arc(toPx(pts[i * PD + dx]), toPy(pts[i * PD + dy]), 2.2, 0, 6.2832); bctx.fill();
    }
    bctx.globalAlpha = 1;
    // Labels over the points, dark grey on a halo of the background: under a dense cluster, or
    // light grey on near-white, they could not be read.
    bctx.font = '11px system-ui, sans-serif'; bctx.lineJoin = 'round'; bctx.lineWidth = 3;
    bctx.strokeStyle = 'rgba(251,251,253,0.85)'; bctx.fillStyle = '#4b5563';
    ticks.forEach(function (k) {
      bctx.strokeText(k[0], k[1] + 2, P - 3); bctx.fillText(k[0], k[1] + 2, P - 3);
      bctx.strokeText(k[0], 2, k[2] - 2); bctx.fillText(k[0], 2, k[2] - 2);
    });
    bctx.lineWidth = 1;
    bctx.fillStyle = '#6b7280'; bctx.font = '11px system-ui, sans-serif';
    bctx.fillText(zname(dx) + ' \u2192', P - 44, P - 16); bctx.save(); bctx.translate(14, 44); bctx.rotate(-Math.PI / 2); bctx.fillText(zname(dy) + ' \u2192', 0, 0); bctx.restore();
  }

  // ---- state ----
  var z = new Float32Array(LD), label = 0, out = new Float32Array(C * HW);
  var A = null, B = null, FR = D.frames, frames = [], animTimer = null, animIdx = 0;
  var hook = { ready: false, lastDecodeMs: NaN, decodeTimes: [], layout: { big: BIG, thumb: 0, gap: 0, frames: FR, width: W, height: H, channels: C, plane: P } };
  window.__explorer = hook;
  function fmt(v) { return (v >= 0 ? '\u2007' : '') + v.toFixed(3); }
  // The readout is a table in monospace: every entry padded to the widest (z1 and z20 line up)
  // and as many per line as fit under the decoded image, so 20 dimensions wrap into even rows.
  var ZW = zname(LD - 1).length + 7, ZCOLS = (function () {
    var c = document.createElement('canvas').getContext('2d');
    c.font = getComputedStyle($('zread')).font;
    var cw = c.measureText('0').width || 7.3;
    return Math.max(1, Math.min(LD, Math.floor((W * BIG + 2 * cw) / ((ZW + 2) * cw))));
  })();
  function showZ() {
    var s = '', line = [];
    for (var i = 0; i < LD; i++) {
      var e = zname(i) + '=' + fmt(z[i]);
      line.push(e + ' '.repeat(Math.max(0, ZW - e.length)));
      if (line.length === ZCOLS || i === LD - 1) { s += (s ? '\n' : '') + line.join('  ').replace(/\s+$/, ''); line = []; }
    }
    if (K) s += '\nclass=' + names[label];
    $('zread').textContent = s;
    for (i = 0; i < sliders.length; i++) if (sliders[i]) { sliders[i].value = z[i]; sliderVals[i].textContent = z[i].toFixed(2); }
  }
  var times = [];
  function render() {
    var t0 = performance.now();
    decode(z, label, out);
    paintBig(out);
    var ms = performance.now() - t0;
    hook.lastDecodeMs = ms; hook.decodeTimes.push(ms); times.push(ms); if (times.length > 60) times.shift();
    var sorted = times.slice().sort(function (a, b) { return a - b; });
    $('timing').textContent = 'decode + paint ' + ms.toFixed(2) + ' ms (median of last ' + sorted.length + ': ' + sorted[sorted.length >> 1].toFixed(2) + ' ms)';
    showZ();
  }
  function drawOverlay(cx, cy) {
    octx.clearRect(0, 0, P, P);
    if (A) mark(A, '#111', 'A');
    if (A && B) {
      octx.strokeStyle = '#111'; octx.setLineDash([4, 3]); octx.lineWidth = 1.5; octx.beginPath();
      octx.moveTo(toPx(A[dx]), toPy(A[dy])); octx.lineTo(toPx(B[dx]), toPy(B[dy])); octx.stroke(); octx.setLineDash([]);
      mark(B, '#111', 'B');
    }
    if (cx !== undefined) {
      octx.strokeStyle = 'rgba(37,99,235,.55)'; octx.lineWidth = 1; octx.beginPath();
      octx.moveTo(cx + 0.5, 0); octx.lineTo(cx + 0.5, P); octx.moveTo(0, cy + 0.5); octx.lineTo(P, cy + 0.5); octx.stroke();
      octx.fillStyle = '#2563eb'; octx.beginPath(); octx.arc(cx + 0.5, cy + 0.5, 3.5, 0, 6.2832); octx.fill();
    }
  }
  function mark(v, col, t) {
    var x = toPx(v[dx]), y = toPy(v[dy]);
    octx.fillStyle = '#fff'; octx.strokeStyle = col; octx.lineWidth = 2; octx.beginPath(); octx.arc(x, y, 6, 0, 6.2832); octx.fill(); octx.stroke();
    octx.fillStyle = col; octx.font = 'bold 11px system-ui, sans-serif'; octx.fillText(t, x + 8, y - 6);
  }
  // Pointer -> plane pixel -> z at that pixel's centre (so tests can hit exact z values).
  function pixelOf(e) {
    var r = top.getBoundingClientRect();
    var px = Math.floor((e.clientX - r.left) * P / r.width), py = Math.floor((e.clientY - r.top) * P / r.height);
    return [Math.min(P - 1, Math.max(0, px)), Math.min(P - 1, Math.max(0, py))];
  }
  function setFromPixel(px, py) {
    z[dx] = lo + (px + 0.5) * (hi - lo) / P;
    z[dy] = hi - (py + 0.5) * (hi - lo) / P;
  }
  top.addEventListener('pointermove', function (e) {
    var q = pixelOf(e); setFromPixel(q[0], q[1]); render(); drawOverlay(q[0], q[1]);
  });
  top.addEventListener('pointerleave', function () { drawOverlay(); });
  top.addEventListener('click', function (e) {
    var q = pixelOf(e); setFromPixel(q[0], q[1]);
    if (!A || B) { A = Float32Array.from(z); B = null; stopAnim(); clearStrip(); $('interp-note').textContent = 'A set: click a second point for B.'; }
    else { B = Float32Array.from(z); interpolate(); }
    render(); drawOverlay(q[0], q[1]);
  });

  // ---- interpolation ----
  var strip = $('strip'), THUMB = Math.max(1, Math.floor(56 / Math.max(H, W))), GAP = 4;
  hook.layout.thumb = THUMB; hook.layout.gap = GAP;
  strip.width = FR * W * THUMB + (FR - 1) * GAP; strip.height = H * THUMB;
  var sctx = strip.getContext('2d'), thumbCanvas = document.createElement('canvas'), paintT = painter(thumbCanvas, THUMB);
  function clearStrip() { sctx.clearRect(0, 0, strip.width, strip.height); frames = []; hook.interpFrames = []; }
  function interpolate() {
    frames = [];
    var zt = new Float32Array(LD);
    for (var f = 0; f < FR; f++) {
      var t = FR === 1 ? 0 : f / (FR - 1);
      for (var i = 0; i < LD; i++) zt[i] = A[i] + (B[i] - A[i]) * t;
      var img = decode(zt, label, new Float32Array(C * HW));
      frames.push(img);
      paintT(img); sctx.drawImage(thumbCanvas, f * (W * THUMB + GAP), 0);
    }
    hook.interpFrames = frames.map(function (a) { return Array.from(a); }); hook.ends = [Array.from(A), Array.from(B)];
    $('interp-note').textContent = 'A \u2192 B in ' + FR + ' steps (linear in z). Click again to start a new pair.';
    startAnim();
  }
  function stopAnim() { if (animTimer) clearInterval(animTimer); animTimer = null; }
  function startAnim() {
    stopAnim(); animIdx = 0;
    var seq = []; for (var i = 0; i < FR; i++) seq.push(i); for (i = FR - 2; i > 0; i--) seq.push(i);
    paintAnim(frames[0]);
    animTimer = setInterval(function () { animIdx = (animIdx + 1) % seq.length; paintAnim(frames[seq[animIdx]]); }, 110);
  }
  $('clear').addEventListener('click', function () { A = B = null; stopAnim(); clearStrip(); paintAnim(new Float32Array(C * HW)); drawOverlay(); $('interp-note').textContent = 'Click two points on the plane.'; });

  // ---- sliders, plane axes, class ----
  var sliders = [], sliderVals = [];
  if (LD > 2) {
    var box = $('sliders'), sx = $('dimx'), sy = $('dimy');
    for (var i = 0; i < LD; i++) {
      var lab = document.createElement('label'), s = document.createElement('input'), v = document.createElement('span');
      s.type = 'range'; s.min = lo; s.max = hi; s.step = (hi - lo) / 400; s.value = 0; s.dataset.dim = i;
      lab.appendChild(document.createTextNode(zname(i))); lab.appendChild(s); lab.appendChild(v); box.appendChild(lab);
      s.addEventListener('input', function (e) { var d = +e.target.dataset.dim; z[d] = +e.target.value; render(); drawOverlay(); });
      sliders.push(s); sliderVals.push(v);
      [sx, sy].forEach(function (sel) { var o = document.createElement('option'); o.value = i; o.textContent = zname(i); sel.appendChild(o); });
    }
    sx.value = dx; sy.value = dy;
    var onAxes = function () {
      var a = +sx.value, b = +sy.value;
      if (a === b) { (this === sx ? sy : sx).value = a === dx ? dy : dx; a = +sx.value; b = +sy.value; }
      setPlaneDims(a, b);
    };
    sx.addEventListener('change', onAxes); sy.addEventListener('change', onAxes);
  } else {
    $('dims-panel').style.display = 'none';
  }
  function markPlaneDims() { sliders.forEach(function (s, i) { s.parentNode.className = i === dx || i === dy ? 'plane-dim' : ''; }); }
  function setPlaneDims(a, b) {
    dx = a; dy = b; markPlaneDims(); drawPoints(); drawOverlay(); render();
    if (LD > 2) { $('dimx').value = a; $('dimy').value = b; }
  }
  if (K) {
    var cs = $('klass');
    for (var c = 0; c < K; c++) { var o = document.createElement('option'); o.value = c; o.textContent = names[c] !== undefined ? names[c] : String(c); cs.appendChild(o); }
    cs.addEventListener('change', function () { label = +cs.value; render(); if (A && B) interpolate(); });
  } else {
    $('class-ctl').style.display = 'none';
  }

  // ---- legend ----
  var counts = new Array(NC).fill(0); for (i = 0; i < N; i++) counts[labs[i]]++;
  names.forEach(function (nm, i) {
    var sp = document.createElement('span'), dot = document.createElement('i');
    dot.style.background = colors[i]; sp.appendChild(dot); sp.appendChild(document.createTextNode(nm + ' (' + counts[i] + ')'));
    sp.title = 'show / hide'; sp.addEventListener('click', function () { hidden[i] ^= 1; sp.className = hidden[i] ? 'off' : ''; drawPoints(); });
    $('legend').appendChild(sp);
  });

  // ---- test hook ----
  // Integer client coordinates inside plane pixel (px, py): click events carry integer
  // coordinates, so a fractional pixel centre could land in the neighbouring pixel.
  hook.pixelToClient = function (px, py) {
    var r = top.getBoundingClientRect(), sx = r.width / P, sy = r.height / P;
    var inside = function (a, s, k) { var v = Math.ceil(a + k * s + 1e-6); return v < a + (k + 1) * s ? v : a + (k + 0.5) * s; };
    return { x: inside(r.left, sx, px), y: inside(r.top, sy, py) };
  };
  hook.zToPixel = function (zx, zy) { return { px: Math.min(P - 1, Math.floor(toPx(zx))), py: Math.min(P - 1, Math.floor(toPy(zy))) }; };
  hook.z = function () { return Array.from(z); };
  hook.dpr = DPR;
  hook.decode = function (zz, l) { return Array.from(decode(Float32Array.from(zz), l || 0, new Float32Array(C * HW))); };
  hook.setClass = function (c) { if (K) { $('klass').value = c; label = c; render(); } };
  hook.setPlaneDims = setPlaneDims;
  hook.setSlider = function (d, v) { z[d] = v; render(); };

  markPlaneDims(); drawPoints(); drawOverlay(); render(); paintAnim(new Float32Array(C * HW));
  hook.decodeTimes = []; times = [];
  // Inside a notebook the page lives in an <iframe srcdoc>, same-origin: size the frame to fit.
  function fit() { try { var f = window.frameElement; if (f) f.style.height = Math.ceil(document.body.getBoundingClientRect().bottom + window.scrollY + 2) + 'px'; } catch (e) { /* cross-origin: keep the given height */ } }
  fit(); if (window.ResizeObserver) new ResizeObserver(fit).observe(document.body);
  hook.ready = true;
})();

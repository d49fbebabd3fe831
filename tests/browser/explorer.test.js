// Browser test of the latent-space explorer page (vae-core/src/explorer).
// Usage: node explorer.test.js FIXTURE_DIR [SCREENSHOT.png]
// FIXTURE_DIR comes from `cargo run -p vae-core --example explorer_fixture -- FIXTURE_DIR`:
// pages for known random decoders and what the Rust reference decoder says they must show.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const dir = path.resolve(process.argv[2] || '');
const shot = process.argv[3] || '/tmp/explorer.png';
const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
const TOL = 2; // max |difference| per 8-bit channel

let failures = 0;
function check(ok, msg) {
  if (ok) console.log('  ok   ' + msg);
  else { failures++; console.log('  FAIL ' + msg); }
}
const q = (p) => Math.round(Math.min(1, Math.max(0, p)) * 255);

// Reads an RGBA canvas and compares its red channel with `expected` (H*W values in [0,1])
// upscaled by `scale`, at offset (ox, oy). Returns the largest difference.
async function canvasDiff(frame, selector, expected, w, h, scale, ox = 0, oy = 0) {
  const data = await frame.evaluate(({ selector, ox, oy, cw, ch }) => {
    const c = document.querySelector(selector);
    return Array.from(c.getContext('2d').getImageData(ox, oy, cw, ch).data);
  }, { selector, ox, oy, cw: w * scale, ch: h * scale });
  let worst = 0;
  const cw = w * scale;
  for (let y = 0; y < h * scale; y++) {
    for (let x = 0; x < cw; x++) {
      const want = q(expected[Math.floor(y / scale) * w + Math.floor(x / scale)]);
      const i = 4 * (y * cw + x);
      worst = Math.max(worst, Math.abs(data[i] - want), Math.abs(data[i + 1] - want), Math.abs(data[i + 2] - want));
      if (data[i + 3] !== 255) worst = Math.max(worst, 255);
    }
  }
  return worst;
}

async function moveTo(page, frame, px, py, offset = { x: 0, y: 0 }) {
  const p = await frame.evaluate(([a, b]) => window.__explorer.pixelToClient(a, b), [px, py]);
  await page.mouse.move(offset.x + p.x, offset.y + p.y);
}

async function checkIframes(context, file, fr, what) {
  console.log(`two explorers in iframes: ${what}`);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto('file://' + file);
  const handles = await page.$$('iframe[srcdoc]');
  check(handles.length === 2, `${handles.length} explorer frames`);
  for (let k = 0; k < handles.length; k++) {
    const frame = await handles[k].contentFrame();
    await frame.waitForFunction(() => window.__explorer && window.__explorer.ready, null, { timeout: 20000 });
    await handles[k].scrollIntoViewIfNeeded();
    const box = await handles[k].boundingBox();
    const bottom = await frame.evaluate(() => document.body.getBoundingClientRect().bottom);
    check(box.height >= bottom && box.height <= bottom + 30, `frame ${k} sized itself to its content (${box.height}px for ${bottom}px)`);
    await moveTo(page, frame, fr.px, fr.py, box);
    const L = await frame.evaluate(() => window.__explorer.layout);
    const d = await canvasDiff(frame, '#view', fr.expected[k], L.width, L.height, L.big);
    check(d <= TOL, `frame ${k} decodes its own decoder: max pixel diff ${d}`);
  }
  check(errors.length === 0, 'no page errors' + (errors.length ? ': ' + errors.join(' | ') : ''));
  await page.close();
}

// A figure panel wider than its column must shrink into it: no figure may stick out on the right
// or scroll the page sideways, and every image and chart must keep its aspect ratio.
async function checkPanel(page, what) {
  const r = await page.evaluate(() => {
    const panel = document.querySelector('.vae-panel');
    if (!panel) return null;
    // The nearest ancestor that is narrower than the panel's natural width: the output column.
    const column = panel.parentElement.getBoundingClientRect();
    const figs = Array.from(panel.querySelectorAll('figure > img, figure > svg')).map((el) => {
      const b = el.getBoundingClientRect();
      const natural = el.tagName === 'IMG' ? el.naturalWidth / el.naturalHeight : el.viewBox.baseVal.width / el.viewBox.baseVal.height;
      return { right: b.right, width: b.width, aspect: b.width / b.height, natural };
    });
    const captions = Array.from(panel.querySelectorAll('figcaption')).map((c) => c.getBoundingClientRect().right);
    return { column: { left: column.left, right: column.right }, figs, captions,
      scroll: document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth };
  });
  if (!r) { check(false, `${what}: no .vae-panel found`); return; }
  const tooWide = r.figs.filter((f) => f.right > r.column.right + 0.5).length + r.captions.filter((x) => x > r.column.right + 0.5).length;
  check(r.figs.length === 3 && tooWide === 0 && r.scroll <= 0,
    `${what}: ${r.figs.length} figures fit a ${Math.round(r.column.right - r.column.left)} px column (widths ${r.figs.map((f) => Math.round(f.width)).join('/')} px, ${tooWide} sticking out, page scrolls ${r.scroll} px sideways)`);
  const worst = Math.max(...r.figs.map((f) => Math.abs(f.aspect / f.natural - 1)));
  check(worst < 0.02, `${what}: figures keep their aspect ratio (worst ${(100 * worst).toFixed(1)} %)`);
}

const median = (a) => { const s = a.slice().sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };

async function main() {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'explorer-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 1100 },
    deviceScaleFactor: 1,
  });
  // The page must never touch the network: fail any request that is not the file itself.
  const external = [];
  let inNotebookExport = false;
  await context.route('**/*', (route) => {
    const u = route.request().url();
    if (u.startsWith('file://') || u.startsWith('data:') || u === 'about:srcdoc') return route.continue();
    if (!inNotebookExport) external.push(u);
    return route.abort();
  });
  const summary = {};
  try {
    for (const c of manifest.cases) {
      console.log(`case ${c.name}: latent ${c.latent_dim}, ${c.bytes} bytes`);
      const page = await context.newPage();
      const errors = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
      await page.goto('file://' + path.join(dir, c.file));
      await page.waitForFunction(() => window.__explorer && window.__explorer.ready, null, { timeout: 20000 });
      const L = await page.evaluate(() => window.__explorer.layout);
      // Dimensions are named 1-based (z1, z2, ...), as in the course's formulas and figures.
      const names = await page.evaluate(() => ({
        zread: document.getElementById('zread').textContent,
        options: Array.from(document.querySelectorAll('#dimx option')).map((o) => o.textContent),
        sliders: Array.from(document.querySelectorAll('#sliders label')).map((l) => l.firstChild.textContent),
      }));
      const want = Array.from({ length: c.latent_dim }, (_, i) => 'z' + (i + 1));
      const zreadNames = names.zread.split(/\s+/).filter((s) => s.includes('=') && !s.startsWith('class=')).map((s) => s.split('=')[0]);
      check(JSON.stringify(zreadNames) === JSON.stringify(want), `z readout names the dimensions ${want[0]}..${want[want.length - 1]}: ${zreadNames.join(' ')}`);
      // The readout: every full line holds the same number of entries, and it fits in its panel.
      const zlayout = await page.evaluate(() => {
        const el = document.getElementById('zread');
        const textWidth = (node) => { const r = document.createRange(); r.selectNodeContents(node); return r.getBoundingClientRect().width; };
        const lines = el.textContent.split('\n').filter((l) => !l.startsWith('class='));
        // Rendered lines: a wrapped line adds a line box, a collapsed newline removes one.
        const rendered = Math.round(el.getBoundingClientRect().height / parseFloat(getComputedStyle(el).lineHeight));
        return { perLine: lines.map((l) => l.split('=').length - 1), width: Math.ceil(textWidth(el)), image: document.getElementById('view').clientWidth,
          textLines: el.textContent.split('\n').length, rendered };
      });
      const full = zlayout.perLine.slice(0, -1);
      check(full.every((k) => k === zlayout.perLine[0]) && zlayout.perLine[zlayout.perLine.length - 1] <= zlayout.perLine[0]
        && zlayout.width <= zlayout.image && zlayout.rendered === zlayout.textLines,
        `z readout in even rows (${zlayout.perLine.join('/')} per line; ${zlayout.rendered} lines shown for ${zlayout.textLines}), ${zlayout.width} px wide under a ${zlayout.image} px image`);
      if (c.latent_dim > 2) {
        check(JSON.stringify(names.options) === JSON.stringify(want) && JSON.stringify(names.sliders) === JSON.stringify(want),
          `axis selectors and sliders are named ${want[0]}..${want[want.length - 1]}`);
      }

      for (const p of c.probes) {
        if (p.label !== null) await page.selectOption('#klass', String(p.label));
        if (p.slider) await page.locator('#sliders input').nth(p.slider[0]).fill(String(p.slider[1]));
        await moveTo(page, page, p.px, p.py);
        const z = await page.evaluate(() => window.__explorer.z());
        const zerr = Math.max(...z.map((v, i) => Math.abs(v - p.z[i])));
        const d = await canvasDiff(page, '#view', p.expected, L.width, L.height, L.big);
        check(zerr < 1e-6 && d <= TOL, `pixel (${p.px},${p.py}) label ${p.label} slider ${JSON.stringify(p.slider)}: z err ${zerr.toExponential(1)}, max pixel diff ${d}`);
        if (p.slider) await page.locator('#sliders input').nth(p.slider[0]).fill('0');
      }

      // Interpolation: two clicks, then the strip must hold the decoded straight line.
      const it = c.interp;
      if (it.label !== null) await page.selectOption('#klass', String(it.label));
      await moveTo(page, page, it.a[0], it.a[1]); await page.mouse.down(); await page.mouse.up();
      await moveTo(page, page, it.b[0], it.b[1]); await page.mouse.down(); await page.mouse.up();
      const n = await page.evaluate(() => (window.__explorer.interpFrames || []).length);
      check(n === it.frames.length, `interpolation produced ${n} frames (want ${it.frames.length})`);
      let worst = 0;
      for (let f = 0; f < it.frames.length; f++) {
        worst = Math.max(worst, await canvasDiff(page, '#strip', it.frames[f], L.width, L.height, L.thumb, f * (L.width * L.thumb + L.gap), 0));
      }
      check(worst <= TOL, `interpolation strip matches the reference frames: max pixel diff ${worst}`);
      // The animation canvas must be cycling through those frames.
      const seen = new Set();
      for (let k = 0; k < 8; k++) {
        seen.add(await page.evaluate(() => document.getElementById('anim').toDataURL()));
        await page.waitForTimeout(60);
      }
      check(seen.size > 2, `interpolation animation is playing (${seen.size} distinct frames seen)`);

      if (c.perf) {
        // Pointer sweep: every move decodes and repaints; the page times decode + paint.
        await page.evaluate(() => { window.__explorer.decodeTimes = []; });
        for (let k = 0; k < 300; k++) {
          await moveTo(page, page, 20 + ((k * 7) % 400), 20 + ((k * 13) % 400));
        }
        const t = await page.evaluate(() => window.__explorer.decodeTimes);
        const s = t.slice().sort((a, b) => a - b);
        const res = { moves: t.length, median_ms: median(t), p95_ms: s[Math.floor(0.95 * s.length)], max_ms: s[s.length - 1] };
        summary[c.name] = res;
        console.log(`  decode+paint over ${res.moves} moves: median ${res.median_ms.toFixed(3)} ms, p95 ${res.p95_ms.toFixed(3)} ms, max ${res.max_ms.toFixed(3)} ms`);
        check(t.length >= 290 && res.median_ms <= 16, 'median decode+paint <= 16 ms');
        // A sweep of 5 plane dimension changes must redraw without errors.
        await page.selectOption('#dimx', '3'); await page.selectOption('#dimy', '7');
        const dims = await page.evaluate(() => [document.getElementById('dimx').value, document.getElementById('dimy').value]);
        check(dims[0] === '3' && dims[1] === '7', 'plane dimensions can be switched');
        await page.selectOption('#dimx', '0'); await page.selectOption('#dimy', '1');
        await moveTo(page, page, 150, 260);
        await page.screenshot({ path: shot, fullPage: true });
        console.log('  screenshot: ' + shot);
      }
      const footer = await page.textContent('footer');
      check(/page size \d+\.\d\d MB/.test(footer), `footer states the size: "${footer.trim()}"`);
      check(errors.length === 0, 'no page errors' + (errors.length ? ': ' + errors.join(' | ') : ''));
      await page.close();
    }

    // On a HiDPI screen the plane's canvases hold device pixels and are drawn at that resolution.
    {
      const c = manifest.cases[0];
      console.log('explorer at devicePixelRatio 2');
      const page = await context.newPage();
      const cdp = await context.newCDPSession(page);
      await cdp.send('Emulation.setDeviceMetricsOverride', { width: 1280, height: 1100, deviceScaleFactor: 2, mobile: false });
      await page.goto('file://' + path.join(dir, c.file));
      await page.waitForFunction(() => window.__explorer && window.__explorer.ready, null, { timeout: 20000 });
      const r = await page.evaluate(() => ['points', 'overlay'].map((id) => {
        const el = document.getElementById(id);
        return { id, w: el.width, h: el.height, css: el.getBoundingClientRect().width, dpr: window.devicePixelRatio };
      }));
      const P = (await page.evaluate(() => window.__explorer.layout)).plane;
      check(r.every((k) => k.dpr === 2 && k.w === 2 * P && k.h === 2 * P && Math.abs(k.css - P) < 0.5),
        `plane canvases have 2x backing stores at CSS size ${P}: ${r.map((k) => `${k.id} ${k.w}x${k.h} shown ${k.css}`).join(', ')}`);
      const p = c.probes.find((q) => q.label === null && !q.slider) || c.probes[0];
      if (p.label !== null) await page.selectOption('#klass', String(p.label));
      if (p.slider) await page.locator('#sliders input').nth(p.slider[0]).fill(String(p.slider[1]));
      await moveTo(page, page, p.px, p.py);
      const zerr = Math.max(...(await page.evaluate(() => window.__explorer.z())).map((v, i) => Math.abs(v - p.z[i])));
      check(zerr < 1e-6, `pointer still maps to the plane pixel at DPR 2: z err ${zerr.toExponential(1)}`);
      await page.close();
    }

    // A figure panel (vae_core::figures::Panel) wider than its column.
    if (manifest.panel) {
      console.log('figure panel in a 600 px column');
      const page = await context.newPage();
      await page.goto('file://' + path.join(dir, manifest.panel));
      await checkPanel(page, 'host page');
      await page.close();
    }

    // Two explorers on one page, each in an <iframe srcdoc>, as in a notebook output.
    await checkIframes(context, path.join(dir, manifest.iframes.file), manifest.iframes, 'host page');
    check(external.length === 0, 'no network requests from explorer pages' + (external.length ? ': ' + external.join(' ') : ''));
    // The same outputs after `jupyter nbconvert --to html` (the script runs it when available;
    // nbconvert's own template asks for CDN scripts, which are blocked and do not matter here).
    const nb = path.join(dir, 'notebook.html');
    inNotebookExport = true;
    if (fs.existsSync(nb)) {
      await checkIframes(context, nb, manifest.iframes, 'nbconvert HTML export');
      // A 1024 px window, the narrowest the figures were reviewed at.
      const page = await context.newPage();
      await page.setViewportSize({ width: 1024, height: 900 });
      await page.goto('file://' + nb);
      if (manifest.panel) await checkPanel(page, 'nbconvert HTML export at 1024 px');
      await page.close();
    } else console.log('(no notebook.html: nbconvert export not checked)');
  } finally {
    await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  const sizes = Object.fromEntries(manifest.cases.map((c) => [c.name, c.bytes]));
  console.log('sizes (bytes): ' + JSON.stringify(sizes));
  console.log('timing: ' + JSON.stringify(summary));
  if (failures) { console.log(`${failures} check(s) failed`); process.exit(1); }
  console.log('all explorer browser checks passed');
}

main().catch((e) => { console.error(e); process.exit(1); });

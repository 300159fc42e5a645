// Drives the real Chromium (the Debian package, never a downloaded browser)
// against a running hotpush origin: opens the dashboard, pushes through the API,
// checks that the page (the public view: it sends no token) shows nothing of the
// push while it is embargoed, then that it shows the publication and the
// retirement live (EventSource, no reload) within 1 s of the event, and the
// public advisory page.
//
// Started by tests/it/dashboard.rs. Input in the environment:
//   HOTPUSH_URL        the origin, e.g. http://[::1]:40123
//   HOTPUSH_TOKEN      a token of the push group
//   HOTPUSH_RPM        a signed RPM to push
//   HOTPUSH_ADVISORY   the advisory id to use
//   HOTPUSH_ARTIFACTS  where screenshots go
// Output: one JSON object on stdout ({ok, latencies_ms, ...}); progress on stderr.
// Exit 0 when every check passed.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const url = process.env.HOTPUSH_URL;
const token = process.env.HOTPUSH_TOKEN;
const rpm = process.env.HOTPUSH_RPM;
const advisory = process.env.HOTPUSH_ADVISORY;
const artifacts = process.env.HOTPUSH_ARTIFACTS;
const LIVE_MS_MAX = 1000;
const PUBLISH_WAIT_MS = 60000;
const SCRIPT_MS_MAX = 150000;

const log = (...a) => console.error('[browser]', ...a);
const result = { ok: false, latencies_ms: {}, screenshots: [], checks: [] };
const t = () => performance.now();

// Never outlive the test.
const guard = setTimeout(() => {
  result.error = `the browser test took longer than ${SCRIPT_MS_MAX} ms`;
  console.log(JSON.stringify(result));
  process.exit(3);
}, SCRIPT_MS_MAX);

// ---- our own view of /api/v1/events (with the token: every event), to time
// the page against ------------------------------------------------------------

const events = [];
const waiters = [];
const sse = new AbortController();

async function followEvents() {
  const resp = await fetch(`${url}/api/v1/events`, {
    signal: sse.signal,
    headers: { authorization: `Bearer ${token}` },
  });
  if (!resp.ok) throw new Error(`/api/v1/events answered ${resp.status}`);
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of resp.body) {
    buf += decoder.decode(chunk, { stream: true });
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n');
      if (!data) continue;
      const ev = { at: t(), ...JSON.parse(data) };
      events.push(ev);
      for (const w of waiters.slice()) if (w.match(ev)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(ev); }
    }
  }
}

function waitEvent(kind, pushId, timeoutMs) {
  const match = (e) => e.kind === kind && (pushId == null || e.push_id === pushId);
  const seen = events.find(match);
  if (seen) return Promise.resolve(seen);
  return new Promise((resolve, reject) => {
    const w = { match, resolve };
    waiters.push(w);
    setTimeout(() => {
      const i = waiters.indexOf(w);
      if (i >= 0) { waiters.splice(i, 1); reject(new Error(`no \`${kind}\` event within ${timeoutMs} ms`)); }
    }, timeoutMs);
  });
}

// ---- the API, as the security team's client uses it ----------------------

async function api(method, p, body, contentType) {
  const headers = { authorization: `Bearer ${token}` };
  if (contentType) headers['content-type'] = contentType;
  const resp = await fetch(`${url}${p}`, { method, headers, body });
  const text = await resp.text();
  if (!resp.ok) throw new Error(`${method} ${p} answered ${resp.status}: ${text}`);
  return JSON.parse(text);
}

// ---- checks ----------------------------------------------------------------

// Waits until `predicate` holds in the page and returns how long after the
// event it first held (0 when it already held).
async function liveWithin(page, name, ev, predicate, arg) {
  const remaining = Math.max(1, LIVE_MS_MAX - (t() - ev.at));
  try {
    await page.waitForFunction(predicate, arg, { polling: 20, timeout: remaining });
  } catch (e) {
    throw new Error(`${name}: the page did not show it within ${LIVE_MS_MAX} ms of the \`${ev.kind}\` event`);
  }
  const latency = Math.max(0, Math.round(t() - ev.at));
  result.latencies_ms[name] = latency;
  log(`${name}: shown ${latency} ms after the ${ev.kind} event`);
  return latency;
}

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  result.checks.push(what);
}

async function shot(page, name, fullPage = true) {
  const file = path.join(artifacts, name);
  await page.screenshot({ path: file, fullPage });
  result.screenshots.push(file);
}

// The dashboard as a browser without JavaScript shows it: the server's first
// paint alone (the advisory table's text).
let noScript = null;
async function firstPaintText() {
  if (!noScript) {
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
    });
    noScript = { browser, context: await browser.newContext({ javaScriptEnabled: false }) };
  }
  const page = await noScript.context.newPage();
  try {
    await page.goto(`${url}/`);
    return await page.evaluate(() => document.getElementById('advisories-section').innerText);
  } finally {
    await page.close();
  }
}

async function main() {
  fs.mkdirSync(artifacts, { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'hotpush-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
    viewport: { width: 1280, height: 900 },
  });
  try {
    const page = context.pages()[0] || (await context.newPage());
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));

    const following = followEvents().catch((e) => { if (!sse.signal.aborted) log('event stream ended:', e.message); });
    await page.goto(`${url}/`);
    await page.waitForFunction(() => document.querySelectorAll('#repos tbody tr').length > 0, null, { timeout: 10000 });
    await page.waitForFunction(() => document.getElementById('live').textContent === 'live', null, { timeout: 10000 });
    await page.evaluate(() => { window.__marker = 'still-here'; });
    // Give our own event stream the same head start as the page's.
    await new Promise((r) => setTimeout(r, 100));

    // The webhook counts (public types only) before the push: the embargoed
    // messages queued for the opted-in webhook must not move them.
    const hooksBefore = await (await fetch(`${url}/api/v1/webhooks/summary`)).json();

    // 1. Declare and upload: embargoed, so the page shows none of it.
    const summary = 'Heap over-read <img src=x onerror="window.__xss=1"> in the test package';
    const push = await api('POST', '/api/v1/pushes', JSON.stringify({
      advisory, severity: 'critical', cves: ['CVE-2026-0160'], summary,
      description: 'A bounds check was missing.\n\nRestart affected services.',
    }), 'application/json');
    await waitEvent('push-created', push.id, 5000);
    const pkg = await api('PUT', `/api/v1/pushes/${push.id}/packages/${path.basename(rpm)}`, fs.readFileSync(rpm), 'application/x-rpm');
    await waitEvent('package-uploaded', push.id, 5000);
    // A page loaded now, with everything the public API gives it, shows
    // neither the advisory, its CVE, nor the package; its page is a 404.
    const fresh = await context.newPage();
    await fresh.goto(`${url}/`);
    await fresh.waitForFunction(() => document.querySelectorAll('#repos tbody tr').length > 0, null, { timeout: 10000 });
    await fresh.waitForFunction(() => document.getElementById('live').textContent === 'live', null, { timeout: 10000 });
    const freshText = await fresh.evaluate(() => document.body.innerText);
    for (const secret of [advisory, 'CVE-2026-0160', pkg.nevra]) {
      check(!freshText.includes(secret), `the embargoed ${secret} is not on the dashboard`);
    }
    const hooksEmbargoed = await (await fetch(`${url}/api/v1/webhooks/summary`)).json();
    check(JSON.stringify(hooksEmbargoed) === JSON.stringify(hooksBefore),
      'the public webhook counts do not move for embargoed messages');
    const hidden = await fresh.goto(`${url}/advisory/${encodeURIComponent(advisory)}`);
    check(hidden.status() === 404, 'the embargoed advisory page is a 404');
    await shot(fresh, 'dashboard-embargoed.png');
    await fresh.close();
    check(!(await page.evaluate(() => document.body.innerText)).includes(advisory), 'the live page shows nothing of the embargoed push');
    const embargoedPaint = await firstPaintText();
    for (const secret of [advisory, 'CVE-2026-0160', pkg.nevra]) {
      check(!embargoedPaint.includes(secret), `the first paint (no JavaScript) shows nothing of the embargoed ${secret}`);
    }

    // 2. Submit: accepted, then published: the page shows it, checklist ticked.
    await api('POST', `/api/v1/pushes/${push.id}/submit`);
    await waitEvent('push-accepted', push.id, 5000);
    const published = await waitEvent('push-published', push.id, PUBLISH_WAIT_MS);
    await liveWithin(page, 'push-published', published, (adv) => {
      const box = document.getElementById('push');
      const step = document.querySelector('#checklist li[data-key="published"]');
      const row = [...document.querySelectorAll('#advisories tbody tr')].find((r) => r.cells[0].textContent === adv);
      return box.dataset.state === 'published' && step && step.dataset.state === 'done'
        && row && row.cells[2].textContent === 'live';
    }, advisory);
    const ticked = await page.$$eval('#checklist li', (lis) => lis.map((li) => [li.dataset.key, li.dataset.state]));
    result.checklist = ticked;
    const firstNotDone = ticked.findIndex(([, s]) => s !== 'done' && s !== 'manual');
    check(ticked.slice(0, 4).every(([, s]) => s === 'done'), 'declared, uploaded, accepted, published are ticked');
    check(firstNotDone < 0 || ticked.slice(firstNotDone).every(([, s]) => s !== 'done'), 'ticks form a prefix of the procedure');
    check(await page.evaluate(() => window.__marker) === 'still-here', 'the dashboard was never reloaded');
    // The webhooks table: one numbered row with counts, never the name or URL.
    await page.waitForFunction(() => {
      const row = document.querySelector('#webhooks tbody tr');
      return !document.getElementById('webhooks-section').hidden && row && row.cells[0].textContent === '#1'
        && Number(row.cells[1].textContent) + Number(row.cells[2].textContent) + Number(row.cells[3].textContent) > 0;
    }, null, { timeout: 5000 });
    const pageText = await page.evaluate(() => document.body.innerText);
    check(!pageText.includes('private-hook-name') && !pageText.includes('private-path'),
      'the dashboard never names a webhook or its URL');
    await shot(page, 'dashboard.png');
    // The first paint (no JavaScript at all) is the real public state.
    const paint = await firstPaintText();
    for (const shown of [advisory, 'CVE-2026-0160', pkg.nevra, 'live']) {
      check(paint.includes(shown), `the first paint (no JavaScript) shows ${shown}`);
    }
    check(!paint.includes('No advisories yet'), 'the first paint does not say "No advisories yet" while one is live');

    // Sortable: clicking the Job header sorts the activity table ascending, again descending.
    const jobIds = () => page.$$eval('#activity tbody tr', (rows) => rows.map((r) => Number(r.cells[0].textContent)));
    await page.click('#activity th[data-col="0"]');
    const asc = await jobIds();
    await page.click('#activity th[data-col="0"]');
    const desc = await jobIds();
    check(asc.length >= 2, 'the activity table lists the jobs');
    check(asc.every((v, i) => i === 0 || asc[i - 1] <= v), 'a header click sorts ascending');
    check(desc.every((v, i) => i === 0 || desc[i - 1] >= v), 'a second click sorts descending');

    // A phone: nothing wider than the screen but the tables' own scroll boxes.
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 1, `the dashboard fits a 390 px phone screen (overflow ${overflow} px)`);
    await shot(page, 'dashboard-phone.png');
    await page.setViewportSize({ width: 1280, height: 900 });

    // 4. The public advisory page, reached from the dashboard.
    await page.click(`#advisories a[href="/advisory/${encodeURIComponent(advisory)}"]`);
    await page.waitForURL(`**/advisory/${encodeURIComponent(advisory)}`);
    await page.waitForFunction(() => document.getElementById('announcement').textContent.length > 0, null, { timeout: 5000 });
    await page.waitForFunction(() => document.getElementById('live').textContent === 'live', null, { timeout: 5000 });
    const adv = await page.evaluate(() => ({
      summary: document.getElementById('advisory-summary').textContent,
      images: document.querySelectorAll('#advisory-summary img').length,
      xss: window.__xss,
      state: document.getElementById('advisory-state').textContent,
      cves: [...document.querySelectorAll('#advisory-cves a')].map((a) => [a.textContent, a.href]),
      packages: [...document.querySelectorAll('#advisory-packages li')].map((li) => li.textContent),
      command: document.getElementById('advisory-command').textContent,
      announcement: document.getElementById('announcement').textContent,
    }));
    result.advisory_page = { state: adv.state, cves: adv.cves, packages: adv.packages };
    check(adv.summary === summary && adv.images === 0 && adv.xss === undefined, 'markup in the summary is shown as text, not run');
    check(adv.state === 'live', 'the advisory page says live');
    check(adv.cves.length === 1 && adv.cves[0][0] === 'CVE-2026-0160' && adv.cves[0][1].includes('CVE-2026-0160'), 'the CVE links to its record');
    check(adv.packages.includes(pkg.nevra), 'the advisory page lists the package');
    check(adv.command === `dnf upgrade --refresh --advisory=${advisory}`, 'the advisory page shows the dnf command');
    check(adv.announcement.startsWith(`Subject: [SECURITY] ${advisory} Critical:`) && adv.announcement.includes(pkg.nevra), 'the announcement is shown');
    await page.evaluate(() => { window.__marker = 'advisory-page'; });
    await shot(page, 'advisory.png');

    // 5. Retire: the advisory page follows live too.
    await api('POST', `/api/v1/advisories/${encodeURIComponent(advisory)}/retire`);
    const retired = await waitEvent('advisory-retired', null, 5000);
    await liveWithin(page, 'advisory-retired', retired, () =>
      document.getElementById('advisory-state').textContent === 'retired');
    check(await page.evaluate(() => window.__marker) === 'advisory-page', 'the advisory page was never reloaded');
    await shot(page, 'advisory-retired.png');

    check(pageErrors.length === 0, `no script errors in the page (${pageErrors.join('; ')})`);
    result.ok = true;
    sse.abort();
    await following;
  } finally {
    sse.abort();
    await context.close();
    if (noScript) await noScript.browser.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().then(() => {
  clearTimeout(guard);
  console.log(JSON.stringify(result));
  process.exit(0);
}, (e) => {
  clearTimeout(guard);
  result.error = String(e && e.stack || e);
  console.log(JSON.stringify(result));
  process.exit(1);
});

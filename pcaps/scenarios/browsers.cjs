#!/usr/bin/env node
// Browser actors of make-scenario.sh: people browsing the shop (headless Chromium and Firefox
// ESR) and a headless-Chromium scraper, all driven by puppeteer-core.
//
//   NODE_PATH=<dir>/node_modules node browsers.cjs PLAN.json RESULTS_DIR
//
// Environment: SCENARIO_T0 (epoch seconds, start of the capture), SCENARIO_SHIM (the
// connect-bind.so LD_PRELOAD shim), CHROMIUM, FIREFOX (binaries; FIREFOX empty = none),
// SCENARIO_WORK (temp dir for the browser profiles).
//
// Each browser gets its own fresh profile and its own source address: the browser process is
// started with LD_PRELOAD=connect-bind.so SHIM_BIND_ADDR=<address> (the variables reach
// Chromium's network-service process and Firefox's parent process, which make the connections).
// Everything is bounded by T0 + duration; every step has its own timeout.
'use strict';
const fs = require('fs');
const path = require('path');
const puppeteer = require('puppeteer-core');

const [planPath, resultsDir] = process.argv.slice(2);
const plan = JSON.parse(fs.readFileSync(planPath, 'utf8'));
const T0 = parseFloat(process.env.SCENARIO_T0) * 1000;
const DEADLINE = T0 + plan.duration_s * 1000;
const SHIM = process.env.SCENARIO_SHIM;
const WORK = process.env.SCENARIO_WORK;
const BASE = 'https://' + plan.sni;
const SERVER_IP = plan.server.split(':')[0];
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const FIREFOX = process.env.FIREFOX || '';
const PUPPETEER_VERSION = require('puppeteer-core/package.json').version;

// small deterministic PRNG (mulberry32) seeded from a string
function rngFrom(str) {
  let h = 1779033703 ^ str.length;
  for (let i = 0; i < str.length; i++) {
    h = Math.imul(h ^ str.charCodeAt(i), 3432918353);
    h = (h << 13) | (h >>> 19);
  }
  let a = h >>> 0;
  const next = () => {
    a |= 0; a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    random: next,
    uniform: (lo, hi) => lo + (hi - lo) * next(),
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    choice: (xs) => xs[Math.floor(next() * xs.length)],
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const left = () => DEADLINE - Date.now();
class Deadline extends Error {}
function checkTime(marginMs = 0) {
  if (left() <= marginMs) throw new Deadline('deadline');
}
function withTimeout(p, ms, what) {
  let timer;
  return Promise.race([
    p,
    new Promise((_, rej) => { timer = setTimeout(() => rej(new Error('timeout: ' + what)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

function log(id, msg) {
  const t = ((Date.now() - T0) / 1000).toFixed(1);
  process.stderr.write(`[browsers +${t}s] ${id}: ${msg}\n`);
}

async function launch(actor, ip) {
  const dir = path.join(WORK, 'profiles', actor.id);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, 'home'), { recursive: true });
  const env = { ...process.env, HOME: path.join(dir, 'home'), LD_PRELOAD: SHIM, SHIM_BIND_ADDR: ip };
  delete env.NODE_PATH;
  if (actor.params.browser === 'firefox') {
    return puppeteer.launch({
      browser: 'firefox',
      executablePath: FIREFOX,
      headless: true,
      userDataDir: path.join(dir, 'profile'),
      acceptInsecureCerts: true,
      env,
      timeout: 60000,
      protocolTimeout: 60000,
      extraPrefsFirefox: {
        'network.trr.mode': 5, // no DNS over HTTPS: the namespace's /etc/hosts resolves shop.example
        'network.http.http3.enable': false,
        'network.process.enabled': false, // connections from the parent process (reached by LD_PRELOAD)
        'network.dns.disablePrefetch': true,
        'app.update.enabled': false,
      },
    });
  }
  return puppeteer.launch({
    browser: 'chrome',
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: path.join(dir, 'profile'),
    acceptInsecureCerts: true,
    env,
    timeout: 60000,
    protocolTimeout: 60000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--ignore-certificate-errors', `--host-resolver-rules=MAP ${plan.sni} ${SERVER_IP}`,
      '--window-size=1366,900'],
  });
}

function track(page, res) {
  page.on('request', (req) => {
    if (req.url().startsWith(BASE)) {
      res.requests += 1;
      if (res.first_at === null) res.first_at = Date.now() / 1000;
    }
  });
}

async function navigateByClick(page, selector) {
  await Promise.all([
    withTimeout(page.waitForNavigation({ waitUntil: 'load', timeout: 30000 }), 35000, 'navigation'),
    page.click(selector),
  ]);
}

// ---------------------------------------------------------------- a person browsing
async function human(actor, res) {
  const p = actor.params;
  const rng = rngFrom(`human-${plan.seed}-${actor.id}`);
  const browser = await launch(actor, actor.ips[0]);
  res.agent = `${p.browser === 'firefox' ? 'Firefox ESR' : 'Chromium'} ${(await browser.version()).split('/').pop()} (headless, puppeteer-core ${PUPPETEER_VERSION})`;
  log(actor.id, `launched ${res.agent} from ${actor.ips[0]}`);
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1366, height: 800 });
    track(page, res);

    const think = async (lo = p.think[0], hi = p.think[1]) => {
      const total = rng.uniform(lo, hi) * 1000;
      const end = Math.min(Date.now() + total, DEADLINE);
      if (p.scroll && rng.random() < 0.6) {
        await sleep(Math.min(total * 0.3, end - Date.now()));
        try { await page.mouse.wheel({ deltaY: rng.int(200, 900) }); } catch (_) { /* page busy */ }
      }
      await sleep(end - Date.now());
      checkTime(500);
    };
    const openProduct = async () => {
      checkTime(1000);
      const hrefs = await page.$$eval('a[href^="/products/"]', (as) => as.map((a) => a.getAttribute('href')));
      const href = rng.choice([...new Set(hrefs)]);
      await navigateByClick(page, `a[href="${href}"]`);
      res.pages += 1;
    };
    const typeHuman = async (selector, text) => {
      await page.click(selector);
      for (const ch of text) {
        await page.keyboard.type(ch);
        await sleep(rng.uniform(60, 260) + (rng.random() < 0.08 ? rng.uniform(300, 900) : 0));
      }
    };

    await withTimeout(page.goto(BASE + '/', { waitUntil: 'load', timeout: 30000 }), 35000, 'home');
    res.pages += 1;
    await think();
    for (let i = 0; i < p.products_before; i++) {
      await openProduct();
      await think();
    }
    // sign in
    checkTime(1000);
    await navigateByClick(page, '#login-link');
    res.pages += 1;
    await think(2, 6);
    const user = `${rng.choice(['jane', 'sam', 'alex', 'maria', 'li', 'tom'])}.${rng.choice(['doe', 'lee', 'meyer', 'costa'])}@mail.example`;
    const pw = rng.choice(['correct horse', 'Sunflower77', 'bluebird-42', 'Kx9!mPq2']);
    await typeHuman('#user', user);
    await sleep(rng.uniform(400, 1500));
    const attempt = async (password) => {
      await typeHuman('#password', password);
      await sleep(rng.uniform(300, 1200));
      const waitLogin = withTimeout(page.waitForResponse((r) => r.url().endsWith('/api/login'), { timeout: 15000 }), 16000, 'login');
      await page.click('#submit');
      const r = await waitLogin;
      res.logins += 1;
      return r.status();
    };
    let status = await attempt(p.typo ? pw.slice(0, -1) + 'x' : pw);
    if (p.typo) {
      await think(2, 6);
      await page.$eval('#password', (e) => { e.value = ''; });
      status = await attempt(pw);
    }
    res.notes.push(`login -> ${status}`);
    await think(2, 8);
    // browse again
    checkTime(1000);
    await navigateByClick(page, 'header a[href="/"]');
    res.pages += 1;
    await think();
    for (let i = 0; i < p.products_after; i++) {
      await openProduct();
      await think();
    }
    res.completed = true;
  } finally {
    // a person closes the tab, sometimes only at the end of the run
    if (res.completed && rng.random() < 0.4) await sleep(Math.min(left() - 2000, rng.uniform(5000, 30000)));
    await withTimeout(browser.close(), 15000, 'close').catch(() => {});
  }
}

// ---------------------------------------------------------------- headless scraper
async function scraper(actor, res) {
  const p = actor.params;
  const rng = rngFrom(`scraper-${plan.seed}-${actor.id}`);
  const browser = await launch(actor, actor.ips[0]);
  res.agent = `Chromium ${(await browser.version()).split('/').pop()} (headless, puppeteer-core ${PUPPETEER_VERSION}, no think time)`;
  log(actor.id, `launched ${res.agent} from ${actor.ips[0]}`);
  try {
    const page = await browser.newPage();
    track(page, res);
    let n = rng.int(1, 300);
    for (let i = 0; i < p.max_pages; i++) {
      checkTime(1500);
      await withTimeout(page.goto(`${BASE}/products/${n}`, { waitUntil: 'load', timeout: 20000 }), 25000, 'page');
      await page.$eval('h1', (e) => e.textContent); // "extract" the product
      res.pages += 1;
      n = (n % 300) + 1;
    }
    res.completed = true;
  } finally {
    await withTimeout(browser.close(), 15000, 'close').catch(() => {});
  }
}

async function runActor(actor) {
  const res = { actor: actor.id, kind: actor.kind, agent: null, ips: {}, requests: 0, pages: 0, logins: 0,
    first_at: null, completed: false, notes: [], error: null };
  const out = path.join(resultsDir, actor.id + '.json');
  const dump = () => {
    const ip = actor.ips[0];
    const doc = { actor: actor.id, kind: actor.kind, agent: res.agent, notes: res.notes,
      // request_events: requests the page issued as puppeteer saw them, memory-cache hits included
      // (nginx's count, in the labels' "requests", is what went over the wire)
      ips: { [ip]: { request_events: res.requests, first_at: res.first_at, pages: res.pages, logins: res.logins,
        completed: res.completed, error: res.error } } };
    fs.writeFileSync(out + '.tmp', JSON.stringify(doc, null, 1));
    fs.renameSync(out + '.tmp', out);
  };
  await sleep(T0 + actor.start * 1000 - Date.now());
  if (left() < 5000) { res.error = 'not started (too late)'; dump(); return; }
  try {
    if (actor.kind === 'scraper_headless') await scraper(actor, res);
    else await human(actor, res);
  } catch (e) {
    if (e instanceof Deadline) res.notes.push('stopped at the end of the run');
    else { res.error = String(e && e.message || e).slice(0, 300); log(actor.id, 'error: ' + res.error); }
  }
  dump();
  log(actor.id, `done: ${res.pages} pages, ${res.requests} requests, ${res.logins} logins${res.completed ? '' : ' (incomplete)'}`);
}

async function main() {
  fs.mkdirSync(resultsDir, { recursive: true });
  const actors = plan.actors.filter((a) => a.runner === 'browser');
  for (const a of actors) {
    if (a.params.browser === 'firefox' && !FIREFOX) {
      a.params.browser = 'chromium';
      a.kind = 'browse_chromium';
      a.notes = ['firefox-esr not available: ran Chromium instead'];
    }
  }
  await Promise.all(actors.map(runActor));
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });

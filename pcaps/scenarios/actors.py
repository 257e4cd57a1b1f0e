#!/usr/bin/env python3
"""Scenario planner and the non-browser actors of make-scenario.sh.

  actors.py plan NAME SEED DURATION PLAN.json      write the plan (actors, addresses, timings)
  actors.py run PLAN.json ACTOR_ID RESULTS_DIR     run one actor (in the client namespace)
  actors.py versions                               print the client versions (JSON)

The plan is fully determined by (NAME, SEED, DURATION); timings inside each actor come from
random.Random seeded with (SEED, actor id), so two seeds give different traffic.

Every actor is bounded: it stops at T0 + DURATION (T0 = env SCENARIO_T0, epoch seconds, set by
make-scenario.sh when the capture starts) and after a fixed maximum number of requests.
Targets: only SERVER (10.99.0.1:443 in the private server namespace); each actor binds its
sockets to its own source address(es) from the plan.

Results: RESULTS_DIR/ACTOR_ID.json = {"actor": id, "kind": .., "agent": .., "ips": {ip:
{"attempts": n, "ok": n, "errors": n, "first_at": epoch|None, "statuses": {code: n}}}, "notes": ..}
"""
import concurrent.futures
import json
import os
import random
import socket
import ssl
import subprocess
import sys
import threading
import time

SERVER_IP = "10.99.0.1"
SNI = "shop.example"
BASE = "https://%s" % SNI
N_PRODUCTS = 300

FIRST = "anna ben carla dmitri emma farid gina hugo ines jonas kim lena marco nina omar paula quinn rosa sven tara".split()
LAST = "smith garcia mueller rossi kowalski nguyen dubois silva jensen novak ivanova tanaka brown".split()
DOMAINS = "mail.example webmail.example inbox.example post.example".split()
PASSWORDS = ("123456 password qwerty123 letmein Summer2024! iloveyou dragon monkey1 football "
             "P@ssw0rd welcome1 shadow sunshine99 abc123 trustno1 Passw0rd! hunter2").split()


# ----------------------------------------------------------------------------- planning
def address_pool(rng, n):
    """n distinct addresses from 10.77.1.1 .. 10.77.8.254, shuffled (kinds are not contiguous)."""
    allv = ["10.77.%d.%d" % (a, b) for a in range(1, 9) for b in range(1, 255)]
    rng.shuffle(allv)
    return allv[:n]


def plan(name, seed, duration):
    rng = random.Random("plan-%s-%d" % (seed, duration))
    scale = min(1.0, duration / 150.0)
    small = duration < 90
    D = float(duration)
    actors = []

    def add(aid, kind, klass, runner, nips, start, **params):
        actors.append({"id": aid, "kind": kind, "class": klass, "runner": runner, "nips": nips,
                       "start": round(start, 2), "params": params})

    # ---- humans: headless Chromium and Firefox ESR driven like people (puppeteer-core)
    n_humans = max(1, round(rng.randint(12, 15) * scale)) if not small else rng.randint(2, 3)
    n_ff = max(1, round(n_humans * rng.uniform(0.3, 0.4))) if n_humans >= 2 else 0
    browsers = ["firefox"] * n_ff + ["chromium"] * (n_humans - n_ff)
    rng.shuffle(browsers)
    for i, b in enumerate(browsers):
        # staggered over the first ~45 % of the run so that most sessions get to the login
        # (short runs: the first 15 %, fewer pages and shorter pauses, still 2 s at least)
        start = 1.0 + (i + rng.random()) * ((0.45 if not small else 0.15) * D / n_humans)
        add("human-%02d" % (i + 1), "browse_%s" % b, "human", "browser", 1, start,
            browser=b, think=[2, 15] if not small else [2, 6],
            products_before=rng.randint(2, 6) if not small else 1, typo=rng.random() < 0.4,
            products_after=rng.randint(1, 3) if not small else 1, scroll=rng.random() < 0.7)

    # ---- good bots
    add("partner", "partner_poll", "good_bot", "python", 1, rng.uniform(0, 3), interval=5.0)
    add("health", "health_check", "good_bot", "python", 1, rng.uniform(0, 5), interval=10.0)

    # ---- bad bots
    fast_n = round(rng.randint(300, 340) * scale)
    add("stuffing-fast", "stuffing_fast", "bad_bot", "python", 1, rng.uniform(0.1, 0.35) * D,
        rate=round(rng.uniform(6, 12), 1), max_attempts=max(60, fast_n))
    n_dist = max(55, round(rng.randint(200, 230) * scale))
    add("stuffing-dist", "stuffing_distributed", "bad_bot", "python", n_dist, 2.0,
        attempts="1-3 per address (50/35/15 %)", workers=8)
    add("scraper-httpx", "scraper_httpx", "bad_bot", "python", 2 if not small else 1,
        rng.uniform(0.15, 0.5) * D, pages=N_PRODUCTS if not small else 60)
    add("scraper-curl", "scraper_curl", "bad_bot", "python", 1, rng.uniform(0.05, 0.4) * D,
        max_requests=round(rng.randint(60, 90) * scale), pause=[0.1, 0.4])
    add("scraper-headless", "scraper_headless", "bad_bot", "browser", 1, rng.uniform(0.1, 0.4) * D,
        browser="chromium", max_pages=round(rng.randint(60, 90) * scale))
    imp = ["login-keepalive", "login-new-conn", "scrape"] if not small else ["login-keepalive"]
    add("impersonator", "impersonator", "bad_bot", "python", len(imp), rng.uniform(0.1, 0.4) * D,
        modes=imp, target=rng.choice(["chrome", "chrome146", "chrome142"]),
        max_requests=round(rng.randint(100, 160) * scale), rate=round(rng.uniform(2, 5), 1))
    flood_n = round(rng.randint(90, 130) * scale)
    tools = ["openssl", "python-ssl"] if not small else ["python-ssl"]
    add("handshake-flood", "handshake_flood", "bad_bot", "python", len(tools), rng.uniform(0.2, 0.6) * D,
        tools=tools, handshakes=max(60, flood_n), workers=3)

    ips = address_pool(rng, sum(a["nips"] for a in actors))
    k = 0
    for a in actors:
        a["ips"] = ips[k:k + a["nips"]]
        k += a["nips"]
        del a["nips"]
    return {"scenario": name, "seed": seed, "duration_s": duration, "server": "%s:443" % SERVER_IP,
            "sni": SNI, "actors": actors}


# ----------------------------------------------------------------------------- running
class Stats:
    def __init__(self, actor, agent):
        self.actor = actor
        self.agent = agent
        self.lock = threading.Lock()
        self.ips = {}
        self.notes = []

    def _entry(self, ip):
        return self.ips.setdefault(ip, {"attempts": 0, "ok": 0, "errors": 0, "first_at": None, "statuses": {}})

    def set_ip(self, ip, **kw):
        """Per-address details (e.g. its own agent or mode) that override the actor's."""
        with self.lock:
            self._entry(ip).update(kw)

    def record(self, ip, ok, status=None, t=None):
        with self.lock:
            s = self._entry(ip)
            s["attempts"] += 1
            if ok:
                s["ok"] += 1
            else:
                s["errors"] += 1
            if s["first_at"] is None:
                s["first_at"] = t if t is not None else time.time()
            key = str(status)
            s["statuses"][key] = s["statuses"].get(key, 0) + 1

    def dump(self, path):
        with self.lock:
            doc = {"actor": self.actor["id"], "kind": self.actor["kind"], "agent": self.agent,
                   "ips": self.ips, "notes": self.notes}
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=1)
        os.replace(tmp, path)


def sleep_until(t, deadline):
    """Sleep until t; False if t is past the deadline."""
    if t >= deadline:
        return False
    d = t - time.time()
    if d > 0:
        time.sleep(d)
    return True


def credentials(rng):
    u = "%s.%s%d@%s" % (rng.choice(FIRST), rng.choice(LAST), rng.randint(1, 99), rng.choice(DOMAINS))
    return {"user": u, "password": rng.choice(PASSWORDS)}


def requests_session(ip, ca):
    import requests
    from requests.adapters import HTTPAdapter

    class SourceAdapter(HTTPAdapter):
        def init_poolmanager(self, *a, **kw):
            kw["source_address"] = (ip, 0)
            return super().init_poolmanager(*a, **kw)

    s = requests.Session()
    # trust_env off: REQUESTS_CA_BUNDLE in the environment would override s.verify, and no
    # proxy variable may ever send this traffic anywhere but the namespace's server
    s.trust_env = False
    s.mount("https://", SourceAdapter())
    s.verify = ca
    return s


def versions():
    import platform
    out = {"python": "CPython %s" % platform.python_version(), "openssl": ssl.OPENSSL_VERSION}
    try:
        import requests
        import urllib3
        out["requests"] = "python-requests %s (urllib3 %s, CPython %s, %s)" % (
            requests.__version__, urllib3.__version__, platform.python_version(), ssl.OPENSSL_VERSION)
    except ImportError:
        pass
    try:
        import httpx
        import httpcore
        out["httpx"] = "python-httpx %s (httpcore %s, CPython %s, %s)" % (
            httpx.__version__, httpcore.__version__, platform.python_version(), ssl.OPENSSL_VERSION)
    except ImportError:
        pass
    try:
        import curl_cffi
        w = str(getattr(curl_cffi, "__curl_version__", "?")).split()
        keep = [x for x in w if x.split("/")[0] in ("libcurl", "BoringSSL", "nghttp2")] or w
        out["curl_cffi"] = "curl_cffi %s (%s)" % (curl_cffi.__version__, ", ".join(keep))
    except ImportError:
        pass
    try:
        # "curl 7.88.1 (x86_64-pc-linux-gnu) libcurl/7.88.1 OpenSSL/3.0.19 zlib/... nghttp2/1.52.0 ..."
        w = subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout.split()
        keep = [x for x in w[3:] if x.split("/")[0] in ("libcurl", "OpenSSL", "nghttp2")]
        out["curl"] = "curl %s (%s)" % (w[1], ", ".join(keep))
    except (OSError, IndexError):
        pass
    try:
        w = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.split()
        out["openssl_cli"] = "%s %s" % (w[0], w[1])
    except (OSError, IndexError):
        pass
    return out


def run(plan_path, actor_id, results_dir):
    with open(plan_path) as f:
        pl = json.load(f)
    actor = next(a for a in pl["actors"] if a["id"] == actor_id)
    t0 = float(os.environ["SCENARIO_T0"])
    ca = os.environ["SCENARIO_CA"]
    deadline = t0 + pl["duration_s"]
    rng = random.Random("actor-%s-%s" % (pl["seed"], actor_id))
    out = os.path.join(results_dir, actor_id + ".json")
    v = versions()
    kind = actor["kind"]
    agent = {"partner_poll": v.get("requests"), "stuffing_fast": v.get("requests"),
             "stuffing_distributed": v.get("requests"), "scraper_httpx": v.get("httpx"),
             "health_check": v.get("curl"), "scraper_curl": v.get("curl"),
             "impersonator": "%s impersonate=%s" % (v.get("curl_cffi"), actor["params"].get("target")),
             "handshake_flood": None}[kind]
    st = Stats(actor, agent)
    st.dump(out)
    start = t0 + actor["start"]
    fn = globals()["actor_" + kind]
    stop = threading.Event()

    def periodic_dump():
        while not stop.wait(5):
            st.dump(out)

    threading.Thread(target=periodic_dump, daemon=True).start()
    try:
        if sleep_until(start, deadline):
            fn(actor, actor["params"], rng, st, start, deadline, ca, v)
    finally:
        stop.set()
        st.dump(out)
    tot = sum(s["attempts"] for s in st.ips.values())
    ok = sum(s["ok"] for s in st.ips.values())
    print("%s: %d attempts, %d ok, %d addresses" % (actor_id, tot, ok, len(st.ips)), file=sys.stderr)


# ---- good bots
def actor_partner_poll(actor, p, rng, st, start, deadline, ca, v):
    """Partner integration: GET /api/products?page=1 every 5 s on one keep-alive session."""
    ip = actor["ips"][0]
    s = requests_session(ip, ca)
    s.headers["Authorization"] = "Bearer partner-%08x" % rng.getrandbits(32)
    t = start
    while sleep_until(t, deadline):
        t1 = time.time()
        try:
            r = s.get(BASE + "/api/products?page=1", timeout=10)
            r.content
            st.record(ip, r.status_code == 200, r.status_code, t1)
        except Exception as e:  # noqa: BLE001 (record and go on, like a poller would)
            st.record(ip, False, type(e).__name__, t1)
        t += p["interval"] + rng.uniform(-0.05, 0.05)
    s.close()


def curl_cmd(ip, ca, url, extra=()):
    return ["curl", "-sS", "--noproxy", "*", "--interface", ip, "--cacert", ca, "--max-time", "10", "-o", "/dev/null",
            "-w", "%{http_code}", *extra, url]


def actor_health_check(actor, p, rng, st, start, deadline, ca, v):
    """Uptime monitor: `curl https://shop.example/health` every 10 s (new process, new connection)."""
    ip = actor["ips"][0]
    t = start
    while sleep_until(t, deadline):
        t1 = time.time()
        r = subprocess.run(curl_cmd(ip, ca, BASE + "/health"), capture_output=True, text=True, timeout=20)
        st.record(ip, r.returncode == 0 and r.stdout == "200", r.stdout or "rc%d" % r.returncode, t1)
        t += p["interval"]


# ---- bad bots
def login_attempt_requests(ip, ca, cred, ua=None):
    s = requests_session(ip, ca)
    if ua:
        s.headers["User-Agent"] = ua
    try:
        r = s.post(BASE + "/api/login", json=cred, timeout=10)
        r.content
        return r.status_code
    finally:
        s.close()


def actor_stuffing_fast(actor, p, rng, st, start, deadline, ca, v):
    """Credential stuffing from one address: a new session (TCP + TLS) per attempt, 5-20/s."""
    ip = actor["ips"][0]
    t = start
    n = 0
    while n < p["max_attempts"] and sleep_until(t, deadline):
        t1 = time.time()
        try:
            code = login_attempt_requests(ip, ca, credentials(rng))
            st.record(ip, code in (200, 401), code, t1)
        except Exception as e:  # noqa: BLE001
            st.record(ip, False, type(e).__name__, t1)
        n += 1
        t = max(t + rng.uniform(0.6, 1.4) / p["rate"], time.time() - 0.5)


def actor_stuffing_distributed(actor, p, rng, st, start, deadline, ca, v):
    """Low-and-slow stuffing: each of many addresses makes 1-3 attempts at random moments."""
    events = []
    span_end = deadline - 3
    for ip in actor["ips"]:
        k = rng.choices([1, 2, 3], weights=[50, 35, 15])[0]
        t = rng.uniform(start, span_end)
        for _ in range(k):
            events.append((t, ip, credentials(rng)))
            t += rng.uniform(8, 45)  # the next attempt of the same address, much later
    events = [e for e in events if e[0] < span_end]
    events.sort(key=lambda e: e[0])
    st.notes.append("%d attempts scheduled over %d addresses" % (len(events), len(actor["ips"])))

    def one(ip, cred):
        t1 = time.time()
        try:
            code = login_attempt_requests(ip, ca, cred)
            st.record(ip, code in (200, 401), code, t1)
        except Exception as e:  # noqa: BLE001
            st.record(ip, False, type(e).__name__, t1)

    with concurrent.futures.ThreadPoolExecutor(max_workers=p["workers"]) as ex:
        futs = []
        for t, ip, cred in events:
            if not sleep_until(t, deadline):
                break
            futs.append(ex.submit(one, ip, cred))
        concurrent.futures.wait(futs, timeout=max(1, deadline - time.time() + 10))


def actor_scraper_httpx(actor, p, rng, st, start, deadline, ca, v):
    """Catalogue scraper: httpx, keep-alive, no think time; address 1 walks /api/products?page=N,
    address 2 (if any) /products/N, both 1..pages (with one address it does both)."""
    import httpx
    ctx = ssl.create_default_context(cafile=ca)
    ips = actor["ips"]
    urls = [[] for _ in ips]
    for n in range(1, p["pages"] + 1):
        urls[0].append(BASE + "/api/products?page=%d" % n)
        urls[-1].append(BASE + "/products/%d" % n)

    def crawl(ip, todo):
        tr = httpx.HTTPTransport(local_address=ip, verify=ctx, retries=0)
        with httpx.Client(transport=tr, timeout=10, trust_env=False, headers={"User-Agent": "Mozilla/5.0 (compatible; shopbot/1.3)"}) as c:
            for u in todo:
                if time.time() >= deadline:
                    break
                t1 = time.time()
                try:
                    r = c.get(u)
                    st.record(ip, r.status_code == 200, r.status_code, t1)
                except Exception as e:  # noqa: BLE001
                    st.record(ip, False, type(e).__name__, t1)

    ths = []
    for i, ip in enumerate(ips):
        th = threading.Thread(target=crawl, args=(ip, urls[i]))
        th.start()
        ths.append(th)
        time.sleep(rng.uniform(0.5, 3))
    for th in ths:
        th.join()


def actor_scraper_curl(actor, p, rng, st, start, deadline, ca, v):
    """Shell-style scraper: `for n in ...; do curl https://shop.example/products/$n; sleep 0.x; done`
    (a new curl process, hence a new TCP + TLS connection, per request)."""
    ip = actor["ips"][0]
    first = rng.randint(1, N_PRODUCTS)
    pause = rng.uniform(*p["pause"])
    for i in range(p["max_requests"]):
        if time.time() >= deadline:
            break
        n = (first + i - 1) % N_PRODUCTS + 1
        t1 = time.time()
        r = subprocess.run(curl_cmd(ip, ca, BASE + "/products/%d" % n), capture_output=True, text=True, timeout=20)
        st.record(ip, r.returncode == 0 and r.stdout == "200", r.stdout or "rc%d" % r.returncode, t1)
        time.sleep(pause)


def actor_impersonator(actor, p, rng, st, start, deadline, ca, v):
    """curl_cffi with a Chrome TLS/HTTP2 fingerprint. Modes per address: login-keepalive (one
    session, many login POSTs), login-new-conn (new session per POST), scrape (one session,
    /products/N and /api/products?page=N)."""
    from curl_cffi import requests as creq
    target = p["target"]
    per = max(10, p["max_requests"] // len(actor["ips"]))

    def worker(ip, mode, wrng):
        sess = None
        t = time.time()
        for i in range(per):
            if not sleep_until(t, deadline):
                break
            t1 = time.time()
            try:
                if sess is None:
                    sess = creq.Session(impersonate=target, interface=ip, verify=ca, timeout=10, trust_env=False)
                if mode == "scrape":
                    n = wrng.randint(1, N_PRODUCTS)
                    url = BASE + ("/products/%d" % n if i % 2 == 0 else "/api/products?page=%d" % n)
                    r = sess.get(url)
                else:
                    r = sess.post(BASE + "/api/login", json=credentials(wrng))
                st.record(ip, r.status_code in (200, 401), r.status_code, t1)
            except Exception as e:  # noqa: BLE001
                st.record(ip, False, type(e).__name__, t1)
                if sess is not None:
                    sess.close()
                sess = None
            if mode == "login-new-conn" and sess is not None:
                sess.close()
                sess = None
            t = max(t + wrng.uniform(0.5, 1.5) / p["rate"], time.time() - 0.5)
        if sess is not None:
            sess.close()

    ths = []
    for ip, mode in zip(actor["ips"], p["modes"]):
        st.set_ip(ip, mode=mode)
        th = threading.Thread(target=worker, args=(ip, mode, random.Random(rng.random())))
        th.start()
        ths.append(th)
        time.sleep(rng.uniform(0.2, 4))
    for th in ths:
        th.join()


def actor_handshake_flood(actor, p, rng, st, start, deadline, ca, v):
    """TLS handshake flood: connect, full handshake, close, as fast as a few workers go.
    Address 1: `openssl s_client -connect ... </dev/null` (source address via the LD_PRELOAD
    shim); address 2: Python ssl in-process (bind, connect, handshake, close)."""
    shim = os.environ["SCENARIO_SHIM"]
    per = p["handshakes"]

    def flood_openssl(ip, count, counter):
        env = dict(os.environ, LD_PRELOAD=shim, SHIM_BIND_ADDR=ip)
        while time.time() < deadline:
            with counter["lock"]:
                if counter["n"] >= count:
                    return
                counter["n"] += 1
            t1 = time.time()
            try:
                r = subprocess.run(["openssl", "s_client", "-connect", "%s:443" % SERVER_IP, "-servername", SNI,
                                    "-brief"], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                   env=env, timeout=10)
                ok = r.returncode == 0 and "CONNECTION ESTABLISHED" in r.stderr
                st.record(ip, ok, "handshake" if ok else "rc%d" % r.returncode, t1)
            except subprocess.TimeoutExpired:
                st.record(ip, False, "timeout", t1)

    def flood_python(ip, count, counter):
        ctx = ssl.create_default_context(cafile=ca)
        while time.time() < deadline:
            with counter["lock"]:
                if counter["n"] >= count:
                    return
                counter["n"] += 1
            t1 = time.time()
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as raw:
                    raw.settimeout(10)
                    raw.bind((ip, 0))
                    raw.connect((SERVER_IP, 443))
                    with ctx.wrap_socket(raw, server_hostname=SNI) as tls:
                        tls.version()
                st.record(ip, True, "handshake", t1)
            except Exception as e:  # noqa: BLE001
                st.record(ip, False, type(e).__name__, t1)

    ths = []
    for ip, tool in zip(actor["ips"], p["tools"]):
        if tool == "openssl":
            st.set_ip(ip, agent="%s s_client" % v.get("openssl_cli"), tool=tool)
            fn = flood_openssl
        else:
            st.set_ip(ip, agent="Python ssl (%s, %s)" % (v.get("python"), ssl.OPENSSL_VERSION), tool=tool)
            fn = flood_python
        counter = {"n": 0, "lock": threading.Lock()}
        for _ in range(p["workers"]):
            th = threading.Thread(target=fn, args=(ip, per, counter))
            th.start()
            ths.append(th)
        time.sleep(rng.uniform(1, 6))
    for th in ths:
        th.join()


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "plan" and len(sys.argv) == 6:
        pl = plan(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        with open(sys.argv[5], "w") as f:
            json.dump(pl, f, indent=1)
    elif len(sys.argv) >= 2 and sys.argv[1] == "run" and len(sys.argv) == 5:
        run(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) == 2 and sys.argv[1] == "versions":
        print(json.dumps(versions(), indent=1))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Generate the static shop served by nginx for make-scenario.sh (stdlib only).

usage: site.py DIR

Deterministic (fixed seed): the same files every run, so that response sizes do not vary
between scenarios. Layout (nginx maps the URLs, see make-scenario.sh):

  /index.html               home page, ~15 KB, links to 24 products, references 6 assets
                          (css, js, banner, 3 thumbnails) + favicon + /api/account (XHR)
  /static/shop.css          ~12 KB stylesheet
  /static/shop.js           ~10 KB script (fetches /api/account on load)
  /static/img/*.png         banner 19 KB, logo 3 KB (unused), 8 product thumbnails 3-10 KB (noise PNGs)
  /products/N.html          N = 1..300, ~3 KB, css + js + one thumbnail, related-product links
  /login.html               login form; JS posts JSON to /api/login and shows the error
  /api/products/page-N.json N = 1..300, ~4 KB JSON (served for /api/products?page=N)
  /api/account.json         small JSON (served for /api/account)
  /favicon.ico              1 KB
"""
import json
import os
import random
import struct
import sys
import zlib

N_PRODUCTS = 300
WORDS = ("alpine bamboo cedar delta ember fjord granite harbor indigo juniper kelp lumen meadow "
         "nimbus onyx pebble quartz river saffron tundra umber velvet willow xenon yarrow zephyr "
         "classic deluxe compact travel organic wireless ceramic linen leather steel").split()
NOUNS = "kettle lamp backpack mug jacket blanket speaker notebook bottle scarf chair bowl".split()


def png(path, width, height, rng):
    """Noise PNG (RGB, incompressible): its size is ~ width*height*3 bytes."""
    raw = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(data)


def name(rng):
    return "%s %s %s" % (rng.choice(WORDS).title(), rng.choice(WORDS).title(), rng.choice(NOUNS))


def head(title):
    return ('<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            '<title>%s | shop.example</title>\n<link rel="stylesheet" href="/static/shop.css">\n'
            '<link rel="icon" href="/favicon.ico">\n<script src="/static/shop.js" defer></script>\n</head>\n' % title)


NAV = ('<header><strong>shop.example</strong>'
       '<nav><a href="/">Home</a> <a href="/products/1">Catalogue</a> <a id="login-link" href="/login">Sign in</a>'
       '</nav></header>\n')


def main():
    out = sys.argv[1]
    rng = random.Random(20240611)
    for d in ("static/img", "products", "api/products"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    products = [{"id": i, "name": name(rng), "price": round(rng.uniform(4, 400), 2),
                 "stock": rng.randint(0, 500), "rating": round(rng.uniform(1, 5), 1),
                 "thumb": "/static/img/p%d.png" % (i % 8)} for i in range(1, N_PRODUCTS + 1)]

    # images: logo 3 KB, banner 48 KB, 8 thumbnails 4..14 KB
    png(os.path.join(out, "static/img/logo.png"), 32, 32, rng)
    png(os.path.join(out, "static/img/banner.png"), 100, 64, rng)
    for t in range(8):
        side = 30 + t * 4
        png(os.path.join(out, "static/img/p%d.png" % t), side, side, rng)
    with open(os.path.join(out, "favicon.ico"), "wb") as f:
        f.write(rng.randbytes(1086))

    # css ~12 KB
    css = ["/* shop.example stylesheet */", "body{font-family:sans-serif;margin:0;color:#222}",
           "header{display:flex;gap:1em;padding:.5em;background:#f4f4f4}"]
    i = 0
    while sum(len(c) + 1 for c in css) < 12000:
        css.append(".c%d-%s{margin:%dpx %dpx;padding:%dpx;color:#%06x;border-radius:%dpx}" % (
            i, rng.choice(WORDS), rng.randint(0, 20), rng.randint(0, 20), rng.randint(0, 12),
            rng.randint(0, 0xFFFFFF), rng.randint(0, 8)))
        i += 1
    with open(os.path.join(out, "static/shop.css"), "w") as f:
        f.write("\n".join(css) + "\n")

    # js ~28 KB: a little real code + a blob of (poorly compressible) data, like bundled JS
    js = ["/* shop.example bundle */",
          "(function(){",
          "  fetch('/api/account',{credentials:'same-origin'}).then(function(r){return r.json();})",
          "    .then(function(a){var e=document.getElementById('account');if(e){e.textContent=a.authenticated?a.user:'guest';}})",
          "    .catch(function(){});",
          "})();"]
    blob = rng.randbytes(5000).hex()
    js.append("var __chunk='%s';" % blob)
    with open(os.path.join(out, "static/shop.js"), "w") as f:
        f.write("\n".join(js) + "\n")

    # home ~15 KB
    cards = []
    for p in products[:24]:
        cards.append('<article class="card"><a href="/products/%d"><img src="%s" alt="" width="64" height="64"'
                     ' loading="lazy"><h3>%s</h3></a><p class="price">$%.2f</p><p class="desc">%s</p></article>' % (
                         p["id"], "/static/img/p%d.png" % (p["id"] % 3),
                         p["name"], p["price"], " ".join(rng.choice(WORDS) for _ in range(60))))
    home = (head("Home") + "<body>\n" + NAV +
            '<main><img class="banner" src="/static/img/banner.png" alt="" width="800" height="200">\n'
            '<p>Signed in as <span id="account">...</span></p>\n<section class="grid">\n' +
            "\n".join(cards) + "\n</section></main>\n<footer>shop.example</footer>\n</body></html>\n")
    with open(os.path.join(out, "index.html"), "w") as f:
        f.write(home)

    # product pages ~5 KB
    for p in products:
        related = rng.sample(range(1, N_PRODUCTS + 1), 6)
        page = (head(p["name"]) + "<body>\n" + NAV +
                '<main><h1>%s</h1><img src="%s" alt="" width="200" height="200">\n'
                '<p class="price">$%.2f</p><p>%d in stock, rated %.1f</p>\n<p class="desc">%s</p>\n'
                '<button id="add">Add to cart</button>\n<h2>Related</h2><ul class="related">%s</ul></main>\n'
                '<footer>shop.example</footer></body></html>\n') % (
            p["name"], p["thumb"], p["price"], p["stock"], p["rating"],
            " ".join(rng.choice(WORDS) for _ in range(260)),
            "".join('<li><a href="/products/%d">%s</a></li>' % (r, products[r - 1]["name"]) for r in related))
        with open(os.path.join(out, "products/%d.html" % p["id"]), "w") as f:
            f.write(page)

    # login
    login = (head("Sign in") + "<body>\n" + NAV +
             '<main><h1>Sign in</h1>\n<form id="login" action="/api/login" method="post">\n'
             '<label>E-mail <input id="user" name="user" type="email" autocomplete="username"></label>\n'
             '<label>Password <input id="password" name="password" type="password" autocomplete="current-password"></label>\n'
             '<button id="submit" type="submit">Sign in</button>\n</form>\n<p id="msg" role="alert"></p></main>\n'
             "<script>\ndocument.getElementById('login').addEventListener('submit',function(ev){\n"
             "  ev.preventDefault();\n"
             "  var body=JSON.stringify({user:document.getElementById('user').value,password:document.getElementById('password').value});\n"
             "  fetch('/api/login',{method:'POST',headers:{'content-type':'application/json'},body:body})\n"
             "    .then(function(r){return r.json().then(function(j){document.getElementById('msg').textContent=r.status+' '+(j.error||'welcome');});})\n"
             "    .catch(function(e){document.getElementById('msg').textContent='error';});\n"
             "});\n</script>\n</body></html>\n")
    with open(os.path.join(out, "login.html"), "w") as f:
        f.write(login)

    # API: 25 products per page (~4 KB), pages 1..300 (wrapping around the catalogue)
    for n in range(1, N_PRODUCTS + 1):
        items = [dict(products[(n * 25 + k) % N_PRODUCTS], sku="SKU-%08X" % rng.getrandbits(32))
                 for k in range(25)]
        for it in items:
            it["tags"] = rng.sample(WORDS, 2)
        doc = {"page": n, "pages": N_PRODUCTS, "per_page": 25, "items": items}
        with open(os.path.join(out, "api/products/page-%d.json" % n), "w") as f:
            json.dump(doc, f, separators=(",", ":"))
    with open(os.path.join(out, "api/account.json"), "w") as f:
        json.dump({"authenticated": False, "user": None, "cart": [], "currency": "USD",
                   "csrf": rng.randbytes(16).hex()}, f, separators=(",", ":"))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Tiny Python HTTPS clients used by ../make-captures.sh (one per capture).

usage: python_clients.py requests|httpx|aiohttp BASE_URL CA_FILE

Each client does GET / then POST /api/login (which answers 401) on one connection.
Name resolution comes from the network namespace's hosts file.
"""
import json
import ssl
import sys

PYV = sys.version.split()[0]


def run_requests(base, ca):
    import requests
    with requests.Session() as s:
        r = s.get(base, verify=ca, timeout=10)
        print("GET / ->", r.status_code, len(r.content), "bytes")
        r = s.post(base + "api/login", json={"user": "alice", "password": "wrong"}, verify=ca, timeout=10)
        print("POST /api/login ->", r.status_code, r.text.strip())
    import urllib3
    print("version: Python %s, requests %s, urllib3 %s, %s" % (PYV, requests.__version__, urllib3.__version__,
                                                            ssl.OPENSSL_VERSION))


def run_httpx(base, ca):
    import httpx
    ctx = ssl.create_default_context(cafile=ca)
    with httpx.Client(verify=ctx, timeout=10) as c:
        r = c.get(base)
        print("GET / ->", r.status_code, r.http_version, len(r.content), "bytes")
        r = c.post(base + "api/login", json={"user": "alice", "password": "wrong"})
        print("POST /api/login ->", r.status_code, r.text.strip())
    import httpcore
    print("version: Python %s, httpx %s, httpcore %s, %s" % (PYV, httpx.__version__, httpcore.__version__,
                                                          ssl.OPENSSL_VERSION))


def run_aiohttp(base, ca):
    import asyncio
    import aiohttp

    async def main():
        ctx = ssl.create_default_context(cafile=ca)
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as s:
            async with s.get(base, ssl=ctx) as r:
                body = await r.read()
                print("GET / ->", r.status, len(body), "bytes")
            async with s.post(base + "api/login", data=json.dumps({"user": "alice", "password": "wrong"}),
                              headers={"content-type": "application/json"}, ssl=ctx) as r:
                print("POST /api/login ->", r.status, (await r.text()).strip())

    asyncio.run(main())
    print("version: Python %s, aiohttp %s, %s" % (PYV, aiohttp.__version__, ssl.OPENSSL_VERSION))


if __name__ == "__main__":
    which, base, ca = sys.argv[1], sys.argv[2], sys.argv[3]
    {"requests": run_requests, "httpx": run_httpx, "aiohttp": run_aiohttp}[which](base, ca)

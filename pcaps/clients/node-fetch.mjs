// Tiny Node.js (>= 18) global fetch() client used by ../make-captures.sh.
// Trust comes from NODE_EXTRA_CA_CERTS; name resolution from the namespace's hosts file.
const base = process.argv[2] || "https://shop.example:8443/";
const r1 = await fetch(base);
console.log(`GET / -> ${r1.status} (${(await r1.text()).length} bytes)`);
const r2 = await fetch(base + "api/login", {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ user: "alice", password: "wrong" }),
});
console.log(`POST /api/login -> ${r2.status} ${await r2.text()}`);
console.log(`version: node ${process.version} (fetch = undici ${process.versions.undici}), OpenSSL ${process.versions.openssl}`);

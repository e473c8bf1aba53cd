// Runs the browser suites in a real headless Chromium (Debian's, driven over the
// DevTools protocol with puppeteer-core; no browser download):
//
//   1. every case of every golden file through the package's browser entry;
//   2. the Client on a page served from one loopback port, submitting to a real
//      `fractal serve` on another (cross-origin: CORS preflight and headers).
//
// Also checks that the browser entry exports what its .d.ts declares, and every
// name the Node entry declares, and that the package's `exports` send the
// `browser` condition to it and Node to the addon.
//
// Env: FRACTAL (the server binary, default target/release/fractal), CHROMIUM
// (default /usr/bin/chromium).

import { spawn, execFileSync } from 'node:child_process'
import { createServer } from 'node:http'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import puppeteer from 'puppeteer-core'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const ROOT = path.resolve(HERE, '..', '..', '..')
const NODE_PKG = path.join(ROOT, 'bindings', 'node')
const PKG = path.join(NODE_PKG, 'browser')
const GOLDEN = path.join(ROOT, 'golden')
const FRACTAL = process.env.FRACTAL ?? path.join(ROOT, 'target', 'release', 'fractal')
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium'

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
}

function fail(message) {
  console.error(`test-web: ${message}`)
  process.exitCode = 1
}

/** The test page's origin: the package, the suites and golden/. */
function staticServer() {
  const roots = { '/pkg/': PKG, '/test/': HERE, '/golden/': GOLDEN }
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://x')
    let file
    if (url.pathname === '/') file = path.join(HERE, 'index.html')
    else if (url.pathname === '/golden/') {
      res.writeHead(200, { 'content-type': 'application/json' })
      return res.end(JSON.stringify(readdirSync(GOLDEN).filter((f) => f.endsWith('.json')).sort()))
    } else {
      for (const [prefix, dir] of Object.entries(roots)) {
        if (url.pathname.startsWith(prefix)) {
          const p = path.normalize(path.join(dir, decodeURIComponent(url.pathname.slice(prefix.length))))
          if (p.startsWith(dir + path.sep)) file = p
        }
      }
    }
    try {
      if (!file || !statSync(file).isFile()) throw new Error('no such file')
      res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' })
      res.end(readFileSync(file))
    } catch {
      res.writeHead(404).end()
    }
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}

/** `fractal serve` with tenants for the Client suite; resolves with its URL. */
function startFractal(dir, pageOrigin, keys) {
  const cors = `cors_origins = [${JSON.stringify(pageOrigin)}]`
  const config = `
listen = "127.0.0.1:0"
data_dir = ${JSON.stringify(path.join(dir, 'data'))}
[[tenants]]
id = "default"
${cors}
[[tenants]]
id = "open"
${cors}
[[tenants]]
id = "signed"
algorithm = "hmac"
keys = [${JSON.stringify(keys.hmacKey)}]
${cors}
[[tenants]]
id = "ed"
algorithm = "ed25519"
keys = [${JSON.stringify(keys.ed25519Public)}]
${cors}
[[tenants]]
id = "limited"
rate = 1
burst = 1
${cors}
[[tenants]]
id = "closed"
`
  const file = path.join(dir, 'config.toml')
  writeFileSync(file, config)
  const child = spawn(FRACTAL, ['serve', '--config', file], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, FRACTAL_LOG: 'warn' },
  })
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('exit', (code) => reject(new Error(`fractal serve exited with ${code}`)))
    createInterface({ input: child.stdout }).once('line', (line) => {
      const m = /http:\/\/\S+/.exec(line)
      if (!m) return reject(new Error(`fractal serve did not start: ${line}`))
      resolve({ child, url: m[0] })
    })
  })
}

/** A loopback port nothing listens on. */
async function deadPort() {
  const s = createServer()
  await new Promise((r) => s.listen(0, '127.0.0.1', r))
  const { port } = s.address()
  await new Promise((r) => s.close(r))
  return port
}

const declared = (dts, re) => new Set([...readFileSync(dts, 'utf8').matchAll(re)].map((m) => m[1]))

function checkExportsConditions() {
  const resolve = (conditions) =>
    execFileSync(
      process.execPath,
      [...conditions, '--input-type=module', '-e', "console.log(import.meta.resolve('@fractal-lba/client'))"],
      { cwd: NODE_PKG, encoding: 'utf8' },
    ).trim()
  const browser = resolve(['--conditions=browser'])
  const node = resolve([])
  if (!browser.endsWith('/bindings/node/browser/index.js')) fail(`the browser condition resolves to ${browser}`)
  if (!node.endsWith('/bindings/node/index.js')) fail(`Node resolves to ${node}`)
  console.log(`exports: browser → ${path.relative(ROOT, fileURLToPath(browser))}, node → ${path.relative(ROOT, fileURLToPath(node))}`)
}

function report(name, r) {
  for (const f of r.failed) console.error(`  FAIL ${name}: ${f.name}\n    ${f.message.split('\n').join('\n    ')}`)
  console.log(`${name}: ${r.passed} passed, ${r.failed.length} failed`)
  if (r.failed.length || r.passed === 0) fail(`${name} suite failed`)
}

const b64 = (b64url) => Buffer.from(b64url, 'base64url').toString('base64')

async function main() {
  checkExportsConditions()
  const wasm = readdirSync(PKG).find((f) => f.endsWith('.wasm'))
  console.log(`browser package: ${path.relative(ROOT, PKG)}/${wasm} (${statSync(path.join(PKG, wasm)).size} bytes)`)

  const dir = mkdtempSync(path.join(tmpdir(), 'fractal-web-'))
  const pages = await staticServer()
  const pageOrigin = `http://127.0.0.1:${pages.address().port}`
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const keys = {
    hmacKey: 'browser-tenant-secret',
    ed25519Seed: b64(privateKey.export({ format: 'jwk' }).d),
    ed25519Public: b64(publicKey.export({ format: 'jwk' }).x),
  }
  const fractal = await startFractal(dir, pageOrigin, keys)
  console.log(`page origin ${pageOrigin}, fractal serve ${fractal.url}`)
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Chromium's sandbox refuses to run as root (containers, CI).
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  })
  try {
    console.log(`browser: ${await browser.version()}`)
    const page = await browser.newPage()
    page.on('pageerror', (e) => fail(`page error: ${e.message}`))
    // The suites provoke 401s, 429s, CORS refusals and refused connections on
    // purpose: the page's console is shown only when something failed.
    const consoleErrors = []
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text())
    })
    await page.goto(`${pageOrigin}/`)
    await page.waitForFunction('typeof window.__run === "function"')
    const cfg = { baseUrl: fractal.url, ...keys, deadPort: await deadPort() }
    const out = await page.evaluate((c) => window.__run(c), cfg)

    const exported = new Set(out.exported)
    const own = declared(path.join(PKG, 'index.d.ts'), /^export declare (?:function|class|const) (\w+)/gm)
    const node = declared(path.join(NODE_PKG, 'index.d.ts'), /^export declare (?:function|class|const) (\w+)/gm)
    node.delete('__napiBindingTarget') // which napi artifact loaded: no meaning in a browser
    for (const name of own) if (!exported.has(name)) fail(`index.d.ts declares ${name}, the module does not export it`)
    for (const name of exported) if (!own.has(name)) fail(`the module exports ${name}, index.d.ts does not declare it`)
    for (const name of node) if (!exported.has(name)) fail(`the Node entry has ${name}, the browser entry does not`)
    console.log(`api: ${exported.size} exports, declared in index.d.ts; the Node entry's ${node.size} all present`)

    report('golden (browser)', out.golden)
    report('client (browser, cross-origin)', out.client)
    if (process.exitCode) for (const line of consoleErrors) console.error(`  [page console] ${line}`)
  } finally {
    await browser.close()
    fractal.child.removeAllListeners('exit')
    fractal.child.kill()
    pages.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})

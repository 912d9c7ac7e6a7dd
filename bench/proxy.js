#!/usr/bin/env node
// bench/proxy: what shadowdiff proxy costs the primary path, measured beside its baselines in
// one run. A fast local upstream answers a small JSON order; autocannon drives it directly,
// through a minimal node:http keep-alive proxy (the floor), through http-proxy with a
// keep-alive agent, through nginx's `mirror` where nginx is installed, and through shadowdiff
// proxy at 0% and 100% mirroring to a healthy candidate and at 100% to a slow (2 s), a slow
// and large (10 MB over 4.8 s), a refusing and a black-holed (accepts, never answers) candidate. Every server runs in its own
// process; each case is measured `--rounds` times, interleaved, and the median is reported.
// Then, at a fixed rate (--rate, default 2000 req/s), the proxy's own CPU per request at 0% and 100%.
// Then the primary's p99 at that rate behind the healthy and the slow large candidate.
// Usage: npm run build && node bench/proxy.js [--seconds 5] [--rounds 3] [--connections 50] [--rate 2000] [--only "slow large"]
'use strict';
const { fork, spawn, execFileSync } = require('node:child_process');
const { mkdtempSync, writeFileSync, existsSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');
const autocannon = require('autocannon');

const { arg } = require('./lib/args');
const { cpuSeconds, median } = require('./lib/measure');
const SECONDS = Number(arg('seconds', 5));
const ROUNDS = Number(arg('rounds', 3));
const CONNECTIONS = Number(arg('connections', 50));
const ROOT = resolve(__dirname, '..');
const children = [];

function role(name, port, upstream) {
  return new Promise((ok, fail) => {
    const child = fork(join(__dirname, 'lib/proxy-servers.js'), [name, String(port), upstream ?? ''], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(child);
    child.once('message', (m) => ok({ url: `http://127.0.0.1:${m.ready}`, pid: child.pid }));
    child.once('exit', (code) => fail(new Error(`${name} exited with ${code}`)));
  });
}

function shadowdiff(port, legacy, candidate, percent) {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/shadowdiff.js'), 'proxy', '--listen', `127.0.0.1:${port}`, '--legacy', legacy, '--candidate', candidate, '--sample', String(percent), '--log-level', 'warn'], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, SHADOWDIFF_SINK: '' },
    });
    children.push(child);
    child.stdout.on('data', (d) => (String(d).includes('shadowdiff proxy on') ? ok({ url: `http://127.0.0.1:${port}`, pid: child.pid }) : undefined));
    child.once('exit', (code) => fail(new Error(`shadowdiff proxy exited with ${code}`)));
  });
}

function nginx(port, upstream, mirror) {
  const bin = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
  if (!bin) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'bench-nginx-'));
  writeFileSync(
    join(dir, 'nginx.conf'),
    `worker_processes 1; daemon off; pid ${dir}/nginx.pid; error_log ${dir}/error.log;
events { worker_connections 4096; }
http { access_log off;
  upstream legacy { server ${new URL(upstream).host}; keepalive 256; }
  upstream candidate { server ${new URL(mirror ?? upstream).host}; keepalive 256; }
  server { listen 127.0.0.1:${port};
    location / { ${mirror ? 'mirror /mirror;' : ''} proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://legacy; }
    location = /mirror { internal; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header x-shadow-mode dry-run; proxy_pass http://candidate$request_uri; }
  } }`,
  );
  return new Promise((ok, fail) => {
    const child = spawn(bin, ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: 'inherit' });
    children.push(child);
    child.once('exit', (code) => fail(new Error(`nginx exited with ${code}`)));
    setTimeout(() => ok({ url: `http://127.0.0.1:${port}`, pid: undefined }), 500);
  });
}

function run(url, pid, rate) {
  const before = pid ? cpuSeconds(pid) : NaN;
  return new Promise((ok, fail) => {
    autocannon({ url: `${url}/orders/A-1`, connections: CONNECTIONS, duration: SECONDS, pipelining: 1, ...(rate ? { overallRate: rate } : {}) }, (err, r) => {
      if (err) return fail(err);
      r.cpuPerRequestUs = pid ? ((cpuSeconds(pid) - before) / r.requests.total) * 1e6 : NaN;
      ok(r);
    });
  });
}


async function main() {
  const upstreamProc = await role('upstream', 0);
  const upstream = upstreamProc.url;
  const healthy = (await role('upstream', 0)).url;
  const slow = (await role('slow', 0)).url;
  const hang = (await role('hang', 0)).url;
  const bigSlow = (await role('big-slow', 0)).url;
  const refused = 'http://127.0.0.1:1'; // nothing listens on port 1
  const cases = [
    ['direct to the upstream', upstreamProc],
    ['minimal node:http keep-alive proxy', await role('minimal', 0, upstream)],
    ['http-proxy, keep-alive agent', await role('http-proxy', 0, upstream)],
    ['shadowdiff 0% mirroring', await shadowdiff(18580, upstream, healthy, 0)],
    ['shadowdiff 100%, healthy candidate', await shadowdiff(18581, upstream, healthy, 100)],
    ['shadowdiff 100%, slow candidate (2 s)', await shadowdiff(18582, upstream, slow, 100)],
    ['shadowdiff 100%, slow large candidate (10 MB over 4.8 s)', await shadowdiff(18587, upstream, bigSlow, 100)],
    ['shadowdiff 100%, refusing candidate', await shadowdiff(18583, upstream, refused, 100)],
    ['shadowdiff 100%, black-holed candidate', await shadowdiff(18584, upstream, hang, 100)],
  ];
  // --only "slow large,refusing": just those cases, beside the baselines every ratio needs.
  const only = arg('only', '');
  if (only) {
    const keep = only.split(',').map((x) => x.trim()).filter(Boolean);
    const needed = ['minimal node:http keep-alive proxy', 'shadowdiff 0% mirroring', 'shadowdiff 100%, healthy candidate'];
    for (let i = cases.length - 1; i >= 0; i--) if (!needed.includes(cases[i][0]) && !keep.some((k) => cases[i][0].includes(k))) cases.splice(i, 1);
  }
  const plain = only ? undefined : await nginx(18585, upstream, undefined);
  if (plain) {
    cases.push(['nginx, no mirror', plain]);
    cases.push(['nginx mirror 100%, healthy candidate (native ceiling)', await nginx(18586, upstream, healthy)]);
  } else console.log('nginx not installed: its rows are skipped (apt-get install nginx-light to add them)');

  console.log(`bench/proxy: ${cases.length} cases × ${ROUNDS} rounds × ${SECONDS}s, ${CONNECTIONS} connections, GET of a ${'~300'}-byte JSON order`);
  const results = new Map(cases.map(([name]) => [name, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [name, proc] of cases) {
      const r = await run(proc.url, name.startsWith('direct') ? undefined : proc.pid);
      results.get(name).push({ rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, cpu: r.cpuPerRequestUs, errors: r.errors + r.non2xx + r.timeouts });
      console.log(`  round ${round} ${name}: ${Math.round(r.requests.average)} req/s, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms${r.errors + r.non2xx ? `, ${r.errors + r.non2xx} errors` : ''}`);
    }
  }
  const m = (name) => {
    const rs = results.get(name);
    return { rps: median(rs.map((r) => r.rps)), p50: median(rs.map((r) => r.p50)), p99: median(rs.map((r) => r.p99)), cpu: median(rs.map((r) => r.cpu)), errors: rs.reduce((a, r) => a + r.errors, 0) };
  };
  const floor = m('minimal node:http keep-alive proxy');
  const zero = m('shadowdiff 0% mirroring');
  const hundred = m('shadowdiff 100%, healthy candidate');
  console.log('\n| path | req/s | vs minimal proxy | p50 ms | p99 ms | proxy CPU µs/request | errors |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const [name] of cases) {
    const r = m(name);
    console.log(`| ${name} | ${Math.round(r.rps)} | ${(r.rps / floor.rps).toFixed(2)}× | ${r.p50} | ${r.p99} | ${Number.isNaN(r.cpu) ? '—' : Math.round(r.cpu)} | ${r.errors} |`);
  }
  console.log('(every process shares the same cores: a healthy candidate at 100% is a second upstream competing for them; proxy CPU per request is the figure that does not depend on that)');
  // At a fixed rate the machine is not saturated: what mirroring costs the proxy itself,
  // without the candidate's process competing for the same cores.
  const RATE = Number(arg('rate', 2000));
  const fixed = async (name) => {
    const proc = cases.find(([n]) => n === name)[1];
    const cpu = [];
    for (let round = 0; round < ROUNDS; round++) cpu.push((await run(proc.url, proc.pid, RATE)).cpuPerRequestUs);
    return median(cpu);
  };
  // The primary's tail at a steady rate, where a slow candidate's bursts show (a saturated run
  // hides them behind mirror-busy).
  const tail = async (name) => {
    const proc = cases.find(([n]) => n === name)?.[1];
    if (!proc) return undefined;
    const p99 = [];
    for (let round = 0; round < ROUNDS; round++) p99.push((await run(proc.url, proc.pid, RATE)).latency.p99);
    return median(p99);
  };
  const healthyTail = await tail('shadowdiff 100%, healthy candidate');
  const bigTail = await tail('shadowdiff 100%, slow large candidate (10 MB over 4.8 s)');
  if (bigTail !== undefined) console.log(`\nat a fixed ${RATE} req/s: primary p99 ${healthyTail} ms behind a healthy candidate, ${bigTail} ms behind the slow large one: ${(bigTail / healthyTail).toFixed(2)}×`);
  const cpu0 = await fixed('shadowdiff 0% mirroring');
  const cpu100 = await fixed('shadowdiff 100%, healthy candidate');
  console.log(`\nat a fixed ${RATE} req/s: proxy CPU per request ${Math.round(cpu0)} µs at 0%, ${Math.round(cpu100)} µs at 100% (healthy candidate): a mirror costs ${Math.round(cpu100 - cpu0)} µs, ${(cpu100 / cpu0).toFixed(2)}× the proxy's CPU`);
  console.log('\ngoals:');
  console.log(`  0% mirroring ≥ 1.0× the minimal keep-alive proxy → ${(zero.rps / floor.rps).toFixed(2)}×`);
  console.log(`  100% mirroring ≥ 0.9× shadowdiff's own 0% → ${(hundred.rps / zero.rps).toFixed(2)}×`);
  if (plain) {
    const a = m('nginx, no mirror');
    const b = m('nginx mirror 100%, healthy candidate (native ceiling)');
    console.log(`  (for scale: nginx mirroring 100% to the same healthy candidate keeps ${(b.rps / a.rps).toFixed(2)}× of its own unmirrored throughput)`);
  }
  for (const bad of ['slow candidate (2 s)', 'slow large candidate (10 MB over 4.8 s)', 'refusing candidate', 'black-holed candidate']) {
    if (!results.has(`shadowdiff 100%, ${bad}`)) continue; // left out by --only
    const r = m(`shadowdiff 100%, ${bad}`);
    console.log(`  ${bad}: ≥ 0.95× healthy throughput → ${(r.rps / hundred.rps).toFixed(2)}×; ≤ 2 ms added p99 → ${(r.p99 - hundred.p99).toFixed(1)} ms`);
  }
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const c of children) c.kill('SIGTERM');
  });

#!/usr/bin/env node
// Makes sure the services the integration tests need are answering: RabbitMQ on 5672 with its
// management API on 15672 (consumer discovery reads it), a MongoDB-wire server on 27017 and
// Redis on 6379. Starts whichever is not already listening — RabbitMQ from the
// OS package; MongoDB as a real mongod, else FerretDB v1.24.2 (built once from the Go module
// proxy and cached), else `docker compose up -d` where a Docker engine runs — and fails with
// a message naming what to start when it cannot. Run by `npm test` (pretest) and by CI.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const AMQP_URL = process.env.TEST_AMQP_URL || 'amqp://guest:guest@127.0.0.1:5672';
const MONGODB_URL = process.env.TEST_MONGODB_URL || 'mongodb://127.0.0.1:27017';
const REDIS_URL = process.env.TEST_REDIS_URL || 'redis://127.0.0.1:6379';
const AMQP_MANAGEMENT_URL = process.env.TEST_AMQP_MANAGEMENT_URL || 'http://guest:guest@127.0.0.1:15672';
const FERRETDB_VERSION = 'v1.24.2';
const CACHE = process.env.SHADOWDIFF_CACHE_DIR || path.join(os.homedir(), '.cache', 'shadowdiff');
const FERRETDB_BIN = path.join(CACHE, 'bin', `ferretdb-${FERRETDB_VERSION}`);
const ROOT = path.resolve(__dirname, '..');

const log = (msg) => process.stderr.write(`[services] ${msg}\n`);

function which(cmd) {
  for (const dir of (process.env.PATH || '').split(path.delimiter).concat(['/usr/sbin', '/usr/local/sbin', '/usr/local/go/bin'])) {
    const p = path.join(dir, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {}
  }
  return undefined;
}

function dockerEngine() {
  return which('docker') && spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 10000 }).status === 0;
}

function isLocal(url) {
  const host = new URL(url).hostname;
  return host === '127.0.0.1' || host === 'localhost' || host === '::1';
}

async function amqpReady() {
  const amqp = require('amqplib');
  try {
    const conn = await amqp.connect(AMQP_URL, { timeout: 2000 });
    await conn.close();
    return true;
  } catch {
    return false;
  }
}

async function mongoReady() {
  const { MongoClient } = require('mongodb');
  const client = new MongoClient(MONGODB_URL, { serverSelectionTimeoutMS: 2000, connectTimeoutMS: 2000 });
  try {
    await client.connect();
    await client.db('admin').command({ ping: 1 });
    return true;
  } catch {
    return false;
  } finally {
    await client.close().catch(() => {});
  }
}

async function waitFor(check, seconds) {
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return false;
}

// The last resort on a machine with a Docker engine: the service from docker-compose.yml.
async function composeUp(service, ready, problems) {
  if (!dockerEngine()) {
    problems.push('no Docker engine');
    return false;
  }
  spawnSync('docker', ['compose', 'up', '-d', service], { cwd: ROOT, stdio: 'inherit' });
  if (await waitFor(ready, 120)) {
    log(`${service} (docker compose) is up`);
    return true;
  }
  problems.push(`\`docker compose up -d ${service}\` did not bring it up`);
  return false;
}

function startDetached(bin, args, logFile) {
  const fd = fs.openSync(logFile, 'a');
  const child = spawn(bin, args, { detached: true, stdio: ['ignore', fd, fd] });
  child.unref();
  fs.closeSync(fd);
  log(`started ${path.basename(bin)} (pid ${child.pid}), log: ${logFile}`);
}

function buildFerretDb() {
  const go = which('go');
  if (!go) return false;
  log(`building FerretDB ${FERRETDB_VERSION} with Go (once; cached at ${FERRETDB_BIN}) …`);
  const dl = spawnSync(go, ['mod', 'download', '-json', `github.com/FerretDB/FerretDB@${FERRETDB_VERSION}`], {
    encoding: 'utf8',
    cwd: os.tmpdir(),
    env: { ...process.env, GOFLAGS: '-mod=mod' },
  });
  if (dl.status !== 0) {
    log(`go mod download failed:\n${dl.stderr}`);
    return false;
  }
  const src = JSON.parse(dl.stdout).Dir;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ferretdb-src-'));
  fs.cpSync(src, work, { recursive: true });
  spawnSync('chmod', ['-R', 'u+w', work]);
  // The module's embedded version file is empty; a binary built without it panics at start.
  fs.writeFileSync(path.join(work, 'build', 'version', 'version.txt'), `${FERRETDB_VERSION}\n`);
  fs.mkdirSync(path.dirname(FERRETDB_BIN), { recursive: true });
  const build = spawnSync(go, ['build', '-o', FERRETDB_BIN, './cmd/ferretdb'], { cwd: work, stdio: 'inherit' });
  fs.rmSync(work, { recursive: true, force: true });
  return build.status === 0 && fs.existsSync(FERRETDB_BIN);
}

async function ensureRabbit() {
  if (await amqpReady()) return log(`RabbitMQ answers at ${redact(AMQP_URL)}`);
  const problems = [];
  if (isLocal(AMQP_URL)) {
    const server = which('rabbitmq-server');
    if (server) {
      log('RabbitMQ is not answering; starting it with `rabbitmq-server -detached` …');
      spawnSync(server, ['-detached'], { stdio: 'inherit' });
      if (await waitFor(amqpReady, 120)) return log('RabbitMQ is up');
      problems.push('`rabbitmq-server -detached` ran but RabbitMQ did not answer within 120 s (see /var/log/rabbitmq)');
    } else problems.push('no rabbitmq-server on this machine');
    if (await composeUp('rabbitmq', amqpReady, problems)) return;
  }
  fail('RabbitMQ', AMQP_URL, problems, 'Install and start RabbitMQ (Debian: `apt-get install rabbitmq-server && rabbitmq-server -detached`), run `docker compose up -d rabbitmq`, or set TEST_AMQP_URL to a broker that runs.');
}

async function managementReady() {
  const u = new URL(AMQP_MANAGEMENT_URL);
  const auth = `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`;
  u.username = '';
  u.password = '';
  try {
    const res = await fetch(new URL('/api/overview', u), { headers: { authorization: auth }, signal: AbortSignal.timeout(3000) });
    return res.ok;
  } catch {
    return false;
  }
}

// `consumers discover` reads RabbitMQ's management HTTP API; Debian's broker ships the plugin off.
async function ensureRabbitManagement() {
  if (await managementReady()) return log(`RabbitMQ's management API answers at ${redact(AMQP_MANAGEMENT_URL)}`);
  const problems = [];
  if (isLocal(AMQP_MANAGEMENT_URL)) {
    const plugins = which('rabbitmq-plugins');
    if (plugins) {
      log('enabling the RabbitMQ management plugin (`rabbitmq-plugins enable rabbitmq_management`) …');
      spawnSync(plugins, ['enable', 'rabbitmq_management'], { stdio: 'inherit' });
      if (await waitFor(managementReady, 60)) return log("RabbitMQ's management API is up");
      problems.push('`rabbitmq-plugins enable rabbitmq_management` ran but the API did not answer within 60 s');
    } else problems.push('no rabbitmq-plugins on this machine');
  }
  fail("RabbitMQ's management API", AMQP_MANAGEMENT_URL, problems, 'Enable it with `rabbitmq-plugins enable rabbitmq_management` (docker compose\'s rabbitmq image has it), or set TEST_AMQP_MANAGEMENT_URL.');
}

async function redisReady() {
  const Redis = require('ioredis');
  const r = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 2000, retryStrategy: () => null });
  r.on('error', () => {});
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

// Redis holds the shared pre-state handoff in its contract and fault tests.
async function ensureRedis() {
  if (await redisReady()) return log(`Redis answers at ${redact(REDIS_URL)}`);
  const problems = [];
  if (isLocal(REDIS_URL)) {
    const server = which('redis-server');
    if (server) {
      const port = new URL(REDIS_URL).port || '6379';
      log('Redis is not answering; starting redis-server …');
      spawnSync(server, ['--daemonize', 'yes', '--bind', '127.0.0.1', '--port', port, '--save', '', '--appendonly', 'no'], { stdio: 'inherit' });
      if (await waitFor(redisReady, 30)) return log('Redis is up');
      problems.push('redis-server ran but Redis did not answer within 30 s');
    } else problems.push('no redis-server on this machine');
  }
  fail('Redis', REDIS_URL, problems, 'Install and start Redis (Debian: `apt-get install redis-server`, then `redis-server --daemonize yes --bind 127.0.0.1 --port 6379`), or set TEST_REDIS_URL.');
}

async function ensureMongo() {
  if (await mongoReady()) return log(`MongoDB-wire server answers at ${redact(MONGODB_URL)}`);
  const problems = [];
  if (isLocal(MONGODB_URL)) {
    const port = new URL(MONGODB_URL).port || '27017';
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowdiff-mongo-'));
    const mongod = which('mongod');
    if (mongod) {
      log('starting mongod …');
      spawnSync(mongod, ['--dbpath', dataDir, '--bind_ip', '127.0.0.1', '--port', port, '--fork', '--logpath', path.join(dataDir, 'mongod.log')], { stdio: 'inherit' });
      if (await waitFor(mongoReady, 60)) return log('mongod is up');
      problems.push('mongod did not answer within 60 s');
    } else problems.push('no mongod on this machine');

    if (fs.existsSync(FERRETDB_BIN) || buildFerretDb()) {
      startDetached(
        FERRETDB_BIN,
        [
          '--handler=sqlite',
          `--sqlite-url=file:${dataDir}/`,
          `--listen-addr=127.0.0.1:${port}`,
          `--state-dir=${dataDir}`,
          '--debug-addr=127.0.0.1:0',
          '--telemetry=disable',
          '--log-level=warn',
        ],
        path.join(dataDir, 'ferretdb.log'),
      );
      if (await waitFor(mongoReady, 60)) return log(`FerretDB ${FERRETDB_VERSION} is up (data in ${dataDir})`);
      problems.push(`FerretDB did not answer within 60 s (see ${path.join(dataDir, 'ferretdb.log')})`);
    } else problems.push(`no cached FerretDB at ${FERRETDB_BIN} and no Go toolchain to build it`);

    if (await composeUp('mongo', mongoReady, problems)) return;
  }
  fail('MongoDB', MONGODB_URL, problems, 'Start a MongoDB-compatible server on 127.0.0.1:27017 (`docker compose up -d mongo`, a local mongod, or FerretDB), install Go so this script can build FerretDB v1.24.2, or set TEST_MONGODB_URL.');
}

function redact(url) {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

function fail(service, url, problems, what) {
  process.stderr.write(`\n[services] ${service} is not reachable at ${redact(url)} and could not be started:\n`);
  for (const p of problems) process.stderr.write(`  - ${p}\n`);
  process.stderr.write(`[services] ${what}\n\n`);
  process.exit(1);
}

(async () => {
  await ensureRabbit();
  await ensureRabbitManagement();
  await ensureMongo();
  await ensureRedis();
})().catch((err) => {
  process.stderr.write(`[services] ${err.stack || err}\n`);
  process.exit(1);
});

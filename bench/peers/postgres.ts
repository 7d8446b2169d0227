// A private, throwaway PostgreSQL cluster for peer benchmarks.
//
// startPostgres() runs initdb into a fresh temporary directory, starts the server on a free
// loopback port with its Unix socket inside that directory, creates one database and returns its
// URL. stop() shuts the server down and deletes the directory. The system cluster (if any) is
// never touched: we only ever pass our own data directory to pg_ctl.
//
// PostgreSQL refuses to run as root, so when this process is root every server-side command runs
// as the `postgres` OS user through `runuser`.

import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type PostgresServer = { url: string; stop(): Promise<void> };
export type PostgresUnavailable = { unavailable: string };

const DATABASE = 'peer_bench';
const INSTALL_HINT = 'PostgreSQL is not installed: apt-get install postgresql';

/** Directory holding initdb/pg_ctl/createdb; PG_BIN overrides, else the newest Debian install, preferring 15. */
function findBinDir(): string | undefined {
  const candidates: string[] = [];
  if (process.env.PG_BIN) candidates.push(process.env.PG_BIN);
  candidates.push('/usr/lib/postgresql/15/bin');
  if (existsSync('/usr/lib/postgresql')) {
    const versions = readdirSync('/usr/lib/postgresql')
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    for (const v of versions) candidates.push(`/usr/lib/postgresql/${v}/bin`);
  }
  return candidates.find((dir) => ['initdb', 'pg_ctl', 'createdb'].every((b) => existsSync(join(dir, b))));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('could not obtain a free port'))));
    });
  });
}

function run(file: string, args: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(`${[file, ...args].join(' ')} failed: ${error.message}\n${stderr}`.trim()));
      } else {
        resolve(stdout);
      }
    });
  });
}

export async function startPostgres(): Promise<PostgresServer | PostgresUnavailable> {
  const binDir = findBinDir();
  if (binDir === undefined) return { unavailable: INSTALL_HINT };

  const asRoot = process.getuid?.() === 0;
  let uid = -1;
  let gid = -1;
  if (asRoot) {
    try {
      uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
      gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    } catch {
      return { unavailable: `${INSTALL_HINT} (no 'postgres' OS user to run the server as)` };
    }
  }
  // Command line for a PostgreSQL binary, as the postgres user when we are root.
  const pg = (bin: string, args: string[]): [string, string[]] =>
    asRoot ? ['runuser', ['-u', 'postgres', '--', join(binDir, bin), ...args]] : [join(binDir, bin), args];

  const dir = await mkdtemp(join(tmpdir(), 'peer-pg-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  let started = false;

  const stopServer = async (): Promise<void> => {
    if (started) {
      started = false;
      try {
        await run(...pg('pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', '-t', '30', 'stop']));
      } catch {
        killPostmaster(dataDir);
      }
    }
  };
  const removeDir = async (): Promise<void> => {
    await rm(dir, { recursive: true, force: true });
  };
  // Safety net: if the process exits without stop() (uncaught exception, process.exit), still
  // take the server down. Only synchronous work is possible in an 'exit' listener.
  const onExit = (): void => {
    if (!started) return;
    started = false;
    try {
      execFileSync(...pg('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', '-t', '10', 'stop']), { stdio: 'ignore' });
    } catch {
      killPostmaster(dataDir);
    }
    try {
      execFileSync('rm', ['-rf', dir], { stdio: 'ignore' });
    } catch {
      // best effort
    }
  };
  // pg_ctl detaches the server into its own session, so Ctrl-C does not reach it: on a
  // terminating signal, stop it, then let the signal take its default course unless someone
  // else handles it.
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const onSignal = (signal: NodeJS.Signals): void => {
    onExit();
    removeHooks();
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  const removeHooks = (): void => {
    process.removeListener('exit', onExit);
    for (const signal of signals) process.removeListener(signal, onSignal);
  };
  process.once('exit', onExit);
  for (const signal of signals) process.once(signal, onSignal);

  try {
    if (asRoot) await chown(dir, uid, gid);
    await run(...pg('initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']), 120_000);
    const port = await freePort();
    const serverOptions = [`-p ${port}`, `-c listen_addresses=127.0.0.1`, `-k ${dir}`].join(' ');
    started = true; // from here on a server may exist, so stopServer must try
    await run(...pg('pg_ctl', ['-D', dataDir, '-l', logFile, '-o', serverOptions, '-w', '-t', '60', 'start']), 90_000);
    await run(...pg('createdb', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', DATABASE]));
    const url = `postgresql://postgres@127.0.0.1:${port}/${DATABASE}`;
    let stopped = false;
    return {
      url,
      async stop() {
        if (stopped) return;
        stopped = true;
        try {
          await stopServer();
        } finally {
          removeHooks();
          await removeDir();
        }
      },
    };
  } catch (error) {
    let log = '';
    try {
      log = readFileSync(logFile, 'utf8').slice(-2000);
    } catch {
      // no log yet
    }
    await stopServer().catch(() => undefined);
    removeHooks();
    await removeDir().catch(() => undefined);
    if (log) (error as Error).message += `\nserver log:\n${log}`;
    throw error;
  }
}

/** Last resort when pg_ctl stop fails: SIGKILL the postmaster named in the data directory's pid file. */
function killPostmaster(dataDir: string): void {
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    if (Number.isInteger(pid) && pid > 0) process.kill(pid, 'SIGKILL');
  } catch {
    // no pid file or no such process: nothing left to stop
  }
}

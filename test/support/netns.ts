import { execFile, spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import * as net from 'node:net';
import { promisify } from 'node:util';

/**
 * Hosts for the fault tests, made of Linux network namespaces: each its own
 * network stack, joined to the machine's (the root namespace) by a veth pair
 * on a /30 of its own, sharing the machine's filesystem and process table.
 * The machine's Postgres, Redis and RabbitMQ listen on 127.0.0.1 only, so a
 * forwarder in this process listens on each link's root-side address and
 * pipes to 127.0.0.1: a host reaches the services only through its link, and
 * taking the link down cuts it off from all of them at once.
 */

const exec = promisify(execFile);

/** The service ports the hosts reach through their link. */
export const SERVICE_PORTS = [5432, 6379, 5672];

export interface NetHost {
  /** The namespace's name, also the host name its worker reports. */
  name: string;
  /** The link's end in the root namespace: the forwarders listen on its address. */
  rootDevice: string;
  rootAddress: string;
  /** The link's end in the namespace. */
  device: string;
  address: string;
}

export interface NetHosts {
  hosts: NetHost[];
  /**
   * The hosts' TCP retransmission backoff cap (ms) when it could be set
   * (net.ipv4.tcp_rto_max_ms, Linux >= 6.15), else null: Linux's 120 s.
   */
  rtoMaxMs: number | null;
  /** Takes the host's end of its link down: nothing passes either way (its routes go with it). */
  cut(h: NetHost): Promise<void>;
  /** Brings it up again, with the default route the cut removed. */
  restore(h: NetHost): Promise<void>;
  /** The command that runs a program on the host. */
  prefix(h: NetHost): string[];
  /** `url` as the host reaches it: through its link's forwarder instead of 127.0.0.1. */
  via(h: NetHost, url: string): string;
  /** Pids of the processes on the host. */
  pids(h: NetHost): Promise<number[]>;
  /** Kills what still runs on the hosts, closes the forwarders, removes the links and namespaces. */
  remove(): Promise<void>;
}

const ip = (...args: string[]) => exec('ip', args, { timeout: 10_000 });

/**
 * Null when this machine lets the test make network namespaces, else why not
 * (no iproute2, no CAP_SYS_ADMIN): tried with a namespace made and removed at once.
 */
export function netnsRefused(): string | null {
  const name = `wfs${randomBytes(3).toString('hex')}p`;
  const made = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8', timeout: 10_000 });
  if (made.error) return `\`ip netns add\` cannot run: ${made.error.message}`;
  if (made.status !== 0) return `\`ip netns add\` refused: ${made.stderr.trim()}`;
  spawnSync('ip', ['netns', 'del', name], { timeout: 10_000 });
  return null;
}

/** A TCP forwarder: accepts on address:port and pipes each connection to 127.0.0.1:port. */
async function forwarder(address: string, port: number): Promise<() => Promise<void>> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((inbound) => {
    const outbound = net.connect(port, '127.0.0.1');
    const pair = [inbound, outbound];
    const end = () => pair.forEach((s) => (s.destroy(), sockets.delete(s)));
    for (const s of pair) {
      sockets.add(s);
      // Postgres and Redis trade small messages: no Nagle delay on the relay.
      s.setNoDelay(true);
      s.on('error', end);
      s.on('close', end);
    }
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => resolve());
  });
  return () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      sockets.forEach((s) => s.destroy());
    });
}

/** A /24 of 10.213.0.0/16 with no address of this machine in it (other tests may use some). */
async function freeSubnet(): Promise<string> {
  const { stdout } = await ip('-4', '-o', 'addr', 'show');
  for (;;) {
    const prefix = `10.213.${randomInt(0, 256)}.`;
    if (!stdout.includes(` ${prefix}`)) return prefix;
  }
}

/**
 * Makes `count` hosts named wfs<6 hex><a, b, c...>, host k on
 * 10.213.X.(4k)/30 (.4k+1 the root side, .4k+2 the host), with their
 * forwarders to `ports`. Whatever was made is removed if a step fails.
 */
export async function makeNetHosts(
  count: number,
  opts: { ports?: number[]; rtoMaxMs?: number } = {},
): Promise<NetHosts> {
  const ports = opts.ports ?? SERVICE_PORTS;
  let rtoMaxMs: number | null = opts.rtoMaxMs ?? null;
  const run = randomBytes(3).toString('hex');
  const subnet = await freeSubnet();
  const hosts: NetHost[] = [];
  const made: Array<() => Promise<unknown>> = [];
  const remove = async () => {
    for (const undo of made.reverse()) await undo().catch(() => undefined);
    made.length = 0;
  };
  const pids = async (h: NetHost) =>
    (await ip('netns', 'pids', h.name).catch(() => ({ stdout: '' }))).stdout
      .split('\n')
      .filter(Boolean)
      .map(Number);
  try {
    for (let k = 0; k < count; k++) {
      const name = `wfs${run}${String.fromCharCode(97 + k)}`;
      const h: NetHost = {
        name,
        rootDevice: `${name}r`,
        rootAddress: `${subnet}${4 * k + 1}`,
        device: `${name}n`,
        address: `${subnet}${4 * k + 2}`,
      };
      await ip('netns', 'add', name);
      made.push(async () => {
        // A namespace with processes in it outlives its name: they go first.
        for (const pid of await pids(h)) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* gone */
          }
        }
        await ip('netns', 'del', name);
      });
      await ip(
        'link',
        'add',
        h.rootDevice,
        'type',
        'veth',
        'peer',
        'name',
        h.device,
        'netns',
        name,
      );
      // Deleting one end deletes the pair.
      made.push(() => ip('link', 'del', h.rootDevice));
      await ip('addr', 'add', `${h.rootAddress}/30`, 'dev', h.rootDevice);
      await ip('link', 'set', h.rootDevice, 'up');
      const inNs = (...args: string[]) => ip('-n', name, ...args);
      await inNs('addr', 'add', `${h.address}/30`, 'dev', h.device);
      await inNs('link', 'set', h.device, 'up');
      await inNs('link', 'set', 'lo', 'up');
      await inNs('route', 'add', 'default', 'via', h.rootAddress);
      if (rtoMaxMs !== null)
        await exec('ip', [
          'netns',
          'exec',
          name,
          'sysctl',
          '-qw',
          `net.ipv4.tcp_rto_max_ms=${rtoMaxMs}`,
        ]).catch(() => (rtoMaxMs = null));
      for (const port of ports) made.push(await forwarder(h.rootAddress, port));
      hosts.push(h);
    }
  } catch (e) {
    await remove();
    throw e;
  }
  return {
    hosts,
    rtoMaxMs,
    cut: async (h) => void (await ip('-n', h.name, 'link', 'set', h.device, 'down')),
    restore: async (h) => {
      await ip('-n', h.name, 'link', 'set', h.device, 'up');
      await ip('-n', h.name, 'route', 'replace', 'default', 'via', h.rootAddress);
    },
    prefix: (h) => ['ip', 'netns', 'exec', h.name],
    via: (h, url) => {
      const u = new URL(url);
      if (u.hostname !== '127.0.0.1' && u.hostname !== 'localhost')
        throw new Error(`${url}: only services on 127.0.0.1 are forwarded`);
      u.hostname = h.rootAddress;
      return u.toString();
    },
    pids,
    remove,
  };
}
